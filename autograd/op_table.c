/* The op table: the built-in rows (the elementwise families, then the
 * named ops) and the ones users register. */
#include "autograd_internal.h"

#include <stdlib.h>


#define CG_LIST_OP(name) &cg__op_##name,
static const cg_op *const g_builtin[] = {CG_BUILTIN_OPS(CG_LIST_OP)};
#undef CG_LIST_OP
#define N_NAMED ((int)(sizeof g_builtin / sizeof g_builtin[0]))
/* the elementwise families: every unary op, and the binary ops with a derivative */
static int n_binary_rows(void) {
    int n = 0;
    for (int k = 0; k < CG_BINOP_COUNT; k++) n += cg__binary_ops[k].backward != NULL;
    return n;
}
#define N_BUILTIN (N_NAMED + CG_UNOP_COUNT + n_binary_rows())

typedef struct custom_op {
    cg_op op;
    struct custom_op *next;
} custom_op;
static custom_op *g_custom;
static int g_ncustom;

int cg_op_count(void) { return N_BUILTIN + g_ncustom; }

bool cg__builtin_op(const cg_op *op) {
    for (const custom_op *c = g_custom; c; c = c->next)
        if (&c->op == op) return false;
    return true;
}

const cg_op *cg_op_at(int i) {
    if (i < 0) return NULL;
    if (i < CG_UNOP_COUNT) return &cg__unary_ops[i];
    i -= CG_UNOP_COUNT;
    for (int k = 0; k < CG_BINOP_COUNT; k++)
        if (cg__binary_ops[k].backward && i-- == 0) return &cg__binary_ops[k];
    if (i < N_NAMED) return g_builtin[i];
    i -= N_NAMED;
    /* custom ops are kept newest first */
    int k = g_ncustom - 1 - i;
    for (custom_op *c = g_custom; c; c = c->next, k--)
        if (k == 0) return &c->op;
    return NULL;
}

const cg_op *cg_op_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < cg_op_count(); i++)
        if (strcmp(cg_op_at(i)->name, name) == 0) return cg_op_at(i);
    return NULL;
}

const cg_op *cg_op_register(const cg_op *def) {
    if (!def || !def->name || !def->forward) {
        cg_set_error(CG_ERR_NULL, "cg_op_register: an op needs a name and a forward");
        return NULL;
    }
    if (cg_op_find(def->name)) {
        cg_set_error(CG_ERR_VALUE, "cg_op_register: an op named '%s' already exists", def->name);
        return NULL;
    }
    if (def->n_out < 1 || def->n_out > CG_MAX_OUTPUTS || (def->n_in < 0 && def->n_in != CG_OP_VARIADIC)) {
        cg_set_error(CG_ERR_VALUE, "cg_op_register: '%s' has %d inputs and %d outputs", def->name, def->n_in, def->n_out);
        return NULL;
    }
    custom_op *c = calloc(1, sizeof *c);
    char *name = c ? malloc(strlen(def->name) + 1) : NULL;
    if (!name) {
        free(c);
        cg_set_error(CG_ERR_NOMEM, "cg_op_register: out of memory");
        return NULL;
    }
    strcpy(name, def->name);
    c->op = *def;
    c->op.name = name;
    c->next = g_custom;
    g_custom = c;
    g_ncustom++;
    cg__install_scope_hooks();
    return &c->op;
}
