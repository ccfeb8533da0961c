/* Differentiable elementwise ops: unary, binary, scalar, clamp, where,
 * masked_fill, dtype conversion; and the non-differentiable comparisons. */
#include "ops_internal.h"

/* ------------------------------------------- the elementwise families */
/* One row per op of CG_UNARY_OPS and CG_BINARY_OPS (tensor.h), sharing a
 * forward and a backward: the forward is the op's kernel, the backward its
 * derivative rule (cg_k_unary_grad, cg_k_binary_grad: elementwise_rules.h). */

static int fwd_unary(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_unary((cg_unop)cg_node_op(n)->code, in[0])) ? 1 : -1;
}
BWD(unary) {
    (void)ng;
    return GIVE(0, cg_k_unary_grad((cg_unop)cg_node_op(n)->code, g[0], X_IN(n), Y_OUT(n)));
}

static int fwd_binary(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_binary((cg_binop)cg_node_op(n)->code, in[0], in[1])) ? 1 : -1;
}
BWD(binary) {
    cg_binop op = (cg_binop)cg_node_op(n)->code;
    cg_tensor *a = cg_node_input(n, 0), *b = cg_node_input(n, 1), *y = Y_OUT(n);
    for (int i = 0; i < 2; i++) {
        if (!ng[i]) continue;
        if (op == CG_ADD || (op == CG_SUB && i == 0)) gin[i].t = g[0]; /* the rule is g itself: no copy */
        else if (!(gin[i].t = cg_k_binary_grad(op, i, g[0], a, b, y))) return cg_last_status();
    }
    return CG_OK;
}

/* What a rule reads, as the inputs and outputs the engine checks for
 * in-place changes. */
#define UNARY_READS_(r) (((r) & CG_READS_X ? CG_READS_INPUT(0) : 0) | ((r) & CG_READS_Y ? CG_READS_OUTPUTS : 0))
#define BINARY_READS_(r)                                                                           \
    (((r) & CG_READS_A ? CG_READS_INPUT(0) : 0) | ((r) & CG_READS_B ? CG_READS_INPUT(1) : 0) |      \
     ((r) & CG_READS_Y ? CG_READS_OUTPUTS : 0))
#define UNARY_ROW_(E, nm, r)                                                                       \
    [CG_##E] = {.name = #nm, .n_in = 1, .n_out = 1, .forward = fwd_unary, .backward = bwd_unary,    \
                .reads = UNARY_READS_(r), .code = CG_##E},
#define BINARY_ROW_(E, nm, r)                                                                      \
    [CG_##E] = {.name = #nm, .n_in = 2, .n_out = 1, .forward = fwd_binary,                         \
                .backward = (r) & CG_NO_DERIVATIVE ? NULL : bwd_binary, .reads = BINARY_READS_(r), .code = CG_##E},
const cg_op cg__unary_ops[CG_UNOP_COUNT] = {CG_UNARY_OPS(UNARY_ROW_)};
const cg_op cg__binary_ops[CG_BINOP_COUNT] = {CG_BINARY_OPS(BINARY_ROW_)};

cg_tensor *cg_unary(cg_unop op, cg_tensor *x) {
    if ((unsigned)op >= CG_UNOP_COUNT) {
        cg_set_error(CG_ERR_VALUE, "cg_unary: unknown unary op %d", (int)op);
        return NULL;
    }
    return cg__apply1(&cg__unary_ops[op], x, NULL);
}
#define UNARY_FN_(E, name, reads)                                                                  \
    cg_tensor *cg_##name(cg_tensor *x) { return cg__apply1(&cg__unary_ops[CG_##E], x, NULL); }
CG_UNARY_OPS(UNARY_FN_)

cg_tensor *cg_binary(cg_binop op, cg_tensor *a, cg_tensor *b) {
    if ((unsigned)op >= CG_BINOP_COUNT || !cg__binary_ops[op].backward) {
        cg_set_error(CG_ERR_VALUE, "cg_binary: %s is not a differentiable binary op", cg_binop_name(op));
        return NULL;
    }
    return cg__apply2(&cg__binary_ops[op], a, b, NULL);
}
cg_tensor *cg_add(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_ADD], a, b, NULL); }
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_SUB], a, b, NULL); }
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_MUL], a, b, NULL); }
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_DIV], a, b, NULL); }
cg_tensor *cg_pow(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_POW], a, b, NULL); }
cg_tensor *cg_maximum(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_MAXIMUM], a, b, NULL); }
cg_tensor *cg_minimum(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__binary_ops[CG_MINIMUM], a, b, NULL); }

/* ----------------------------------------------------------------- scalar */

typedef struct {
    double s;
} scalar_params;
#define S_OF(n) (((const scalar_params *)cg_node_params(n))->s)

static int fwd_add_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_scalar(CG_ADD, in[0], S_OF(n))) ? 1 : -1;
}
BWD(add_scalar) {
    UNUSED_BWD;
    gin[0].t = g[0];
    return CG_OK;
}
static int fwd_mul_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_scalar(CG_MUL, in[0], S_OF(n))) ? 1 : -1;
}
BWD(mul_scalar) { UNUSED_BWD; return GIVE(0, cg_k_scalar(CG_MUL, g[0], S_OF(n))); }
static int fwd_pow_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_scalar(CG_POW, in[0], S_OF(n))) ? 1 : -1;
}
BWD(pow_scalar) {
    UNUSED_BWD;
    double p = S_OF(n);
    cg_tensor *t = cg_k_scalar(CG_POW, X_IN(n), p - 1.0);
    t = t ? cg_k_scalar_(CG_MUL, t, p) : NULL;
    return GIVE(0, t ? cg_k_binary_(CG_MUL, t, g[0]) : NULL);
}
static int fwd_rsub_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_rscalar(CG_SUB, S_OF(n), in[0])) ? 1 : -1;
}
BWD(rsub_scalar) { UNUSED_BWD; return GIVE(0, cg_k_unary(CG_NEG, g[0])); }

#define SCALAR_ROW(nm, reads_) CG_OP_ROW(nm, 1, 1, sizeof(scalar_params), reads_)
const cg_op cg__op_add_scalar = SCALAR_ROW(add_scalar, 0);
const cg_op cg__op_mul_scalar = SCALAR_ROW(mul_scalar, 0);
const cg_op cg__op_pow_scalar = SCALAR_ROW(pow_scalar, CG_READS_INPUT(0));
const cg_op cg__op_rsub_scalar = SCALAR_ROW(rsub_scalar, 0);

cg_tensor *cg_add_scalar(cg_tensor *x, double s) { return cg__apply1(&cg__op_add_scalar, x, &(scalar_params){s}); }
cg_tensor *cg_mul_scalar(cg_tensor *x, double s) { return cg__apply1(&cg__op_mul_scalar, x, &(scalar_params){s}); }
cg_tensor *cg_pow_scalar(cg_tensor *x, double p) { return cg__apply1(&cg__op_pow_scalar, x, &(scalar_params){p}); }
cg_tensor *cg_rsub_scalar(double s, cg_tensor *x) { return cg__apply1(&cg__op_rsub_scalar, x, &(scalar_params){s}); }

/* ------------------------------------------------------------------ clamp */

typedef struct {
    double lo, hi;
} clamp_params;

static int fwd_clamp(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    const clamp_params *p = cg_node_params(n);
    return (out[0] = cg_k_clamp(in[0], p->lo, p->hi)) ? 1 : -1;
}
BWD(clamp) { /* passes where lo <= x <= hi */
    UNUSED_BWD;
    const clamp_params *p = cg_node_params(n);
    cg_tensor *lo = cg_k_scalar(CG_GE, X_IN(n), p->lo);
    cg_tensor *in = lo ? cg_k_binary_(CG_MUL, lo, cg_k_scalar(CG_LE, X_IN(n), p->hi)) : NULL;
    return GIVE(0, in ? cg_k_binary(CG_MUL, g[0], in) : NULL);
}
const cg_op cg__op_clamp = {.name = "clamp", .n_in = 1, .n_out = 1, .params_size = sizeof(clamp_params),
                            .forward = fwd_clamp, .backward = bwd_clamp, .reads = CG_READS_INPUT(0)};
cg_tensor *cg_clamp(cg_tensor *x, double lo, double hi) {
    return cg__apply1(&cg__op_clamp, x, &(clamp_params){lo, hi});
}

/* ---------------------------------------------------------- where / mask */

static int fwd_where(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)n, (void)k;
    return (out[0] = cg_k_where(in[0], in[1], in[2])) ? 1 : -1;
}
BWD(where) {
    UNUSED_BWD;
    cg_tensor *cond = cg_node_input(n, 0);
    cg_tensor *zero = cg_scalar(g[0]->dtype, 0);
    if (!zero) return cg_last_status();
    if (ng[1] && !(gin[1].t = cg_k_where(cond, g[0], zero))) return cg_last_status();
    if (ng[2] && !(gin[2].t = cg_k_where(cond, zero, g[0]))) return cg_last_status();
    return CG_OK;
}
const cg_op cg__op_where = {.name = "where", .n_in = 3, .n_out = 1, .forward = fwd_where, .backward = bwd_where,
                            .reads = CG_READS_INPUT(0)};
cg_tensor *cg_where(const cg_tensor *cond, cg_tensor *a, cg_tensor *b) {
    cg_tensor *in[3] = {(cg_tensor *)cond, a, b};
    return cg_op_apply(&cg__op_where, in, 3, NULL);
}

static int fwd_masked_fill(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_masked_fill(in[0], in[1], S_OF(n))) ? 1 : -1;
}
BWD(masked_fill) {
    UNUSED_BWD;
    cg_tensor *zero = cg_scalar(g[0]->dtype, 0);
    return GIVE(0, zero ? cg_k_where(cg_node_input(n, 1), zero, g[0]) : NULL);
}
const cg_op cg__op_masked_fill = {.name = "masked_fill", .n_in = 2, .n_out = 1, .params_size = sizeof(scalar_params),
                                  .forward = fwd_masked_fill, .backward = bwd_masked_fill, .reads = CG_READS_INPUT(1)};
cg_tensor *cg_masked_fill(cg_tensor *x, const cg_tensor *mask, double value) {
    return cg__apply2(&cg__op_masked_fill, x, (cg_tensor *)mask, &(scalar_params){value});
}

/* ------------------------------------------------------------------- to */

typedef struct {
    cg_dtype dt;
} to_params;
static int fwd_to(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_to_dtype(in[0], ((const to_params *)cg_node_params(n))->dt)) ? 1 : -1;
}
BWD(to) { UNUSED_BWD; return GIVE(0, cg_to_dtype(g[0], X_IN(n)->dtype)); }
const cg_op cg__op_to = {.name = "to", .n_in = 1, .n_out = 1, .params_size = sizeof(to_params), .forward = fwd_to,
                         .backward = bwd_to};
cg_tensor *cg_to(cg_tensor *x, cg_dtype dt) {
    if (x && !cg_dtype_is_float(dt)) return cg_to_dtype(x, dt); /* int64 carries no gradient */
    return cg__apply1(&cg__op_to, x, &(to_params){dt});
}

/* ------------------------------------------------- not differentiable */

cg_tensor *cg_eq(const cg_tensor *a, const cg_tensor *b) { return cg_k_binary(CG_EQ, a, b); }
cg_tensor *cg_ne(const cg_tensor *a, const cg_tensor *b) { return cg_k_binary(CG_NE, a, b); }
cg_tensor *cg_lt(const cg_tensor *a, const cg_tensor *b) { return cg_k_binary(CG_LT, a, b); }
cg_tensor *cg_le(const cg_tensor *a, const cg_tensor *b) { return cg_k_binary(CG_LE, a, b); }
cg_tensor *cg_gt(const cg_tensor *a, const cg_tensor *b) { return cg_k_binary(CG_GT, a, b); }
cg_tensor *cg_ge(const cg_tensor *a, const cg_tensor *b) { return cg_k_binary(CG_GE, a, b); }
cg_tensor *cg_argmax(const cg_tensor *x, int axis, bool keepdim) { return cg_k_argmax(x, axis, keepdim); }
cg_tensor *cg_argmin(const cg_tensor *x, int axis, bool keepdim) { return cg_k_argmin(x, axis, keepdim); }
