/* The graph that produced a tensor as Graphviz DOT. */
#include "autograd_internal.h"

static _Thread_local uint32_t t_mark_epoch;


static void dot_leaf(FILE *f, const cg_tensor *t) {
    const char *name = cg_name(t);
    fprintf(f, "  t%p [shape=ellipse, style=filled, fillcolor=\"%s\", label=\"%s%s%s\\n%s\"];\n", (const void *)t,
            cg_requires_grad(t) ? "lightblue" : "white", name ? name : "", name ? "\\n" : "", cg_shape_str(t),
            cg_requires_grad(t) ? "requires_grad" : cg_dtype_name(t->dtype));
}

cg_status cg_write_dot(const cg_tensor *t, FILE *f) {
    if (!t || !f) return cg_set_error(CG_ERR_NULL, "cg_write_dot: NULL argument");
    fprintf(f, "digraph cgrad {\n  rankdir=BT;\n  node [fontname=\"monospace\", fontsize=10];\n");
    cg_node *root = t->autograd ? t->autograd->node : NULL;
    if (!root) {
        dot_leaf(f, t);
        fprintf(f, "}\n");
        return CG_OK;
    }
    uint32_t epoch = ++t_mark_epoch;
    root->mark = epoch;
    int64_t open = 1;
    for (cg_node *n = root; n && open > 0; n = n->prev) {
        if (n->mark != epoch) continue;
        open--;
        fprintf(f, "  n%llu [shape=box, style=filled, fillcolor=\"lightyellow\", label=\"%s",
                (unsigned long long)n->seq, n->op->name);
        for (int j = 0; j < n->n_out; j++) fprintf(f, "\\n%s", cg_shape_str(n->out[j]));
        fprintf(f, "\"];\n");
        for (int i = 0; i < n->n_in; i++) {
            cg_tensor *in = n->in[i];
            cg_node *p = in->autograd ? in->autograd->node : NULL;
            if (p) {
                if (p->mark != epoch) {
                    p->mark = epoch;
                    open++;
                }
                fprintf(f, "  n%llu -> n%llu;\n", (unsigned long long)p->seq, (unsigned long long)n->seq);
            } else {
                dot_leaf(f, in);
                fprintf(f, "  t%p -> n%llu;\n", (void *)in, (unsigned long long)n->seq);
            }
        }
    }
    fprintf(f, "}\n");
    return CG_OK;
}

cg_status cg_export_dot(const cg_tensor *t, const char *path) {
    if (!path) return cg_set_error(CG_ERR_NULL, "cg_export_dot: path is NULL");
    FILE *f = fopen(path, "w");
    if (!f) return cg_set_error(CG_ERR_IO, "cg_export_dot: cannot open %s for writing", path);
    cg_status st = cg_write_dot(t, f);
    if (fclose(f) != 0 && st == CG_OK) st = cg_set_error(CG_ERR_IO, "cg_export_dot: error writing %s", path);
    return st;
}

