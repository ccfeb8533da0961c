/* Differentiable elementwise ops: unary, binary, scalar, clamp, where,
 * masked_fill, dtype conversion; and the non-differentiable comparisons. */
#include "autograd_internal.h"

#define OK_OR(expr) ((expr) ? CG_OK : cg_last_status())
#define BWD(name) static cg_status bwd_##name(cg_node *n, cg_tensor *const *g, const bool *ng, cg_tensor **gin)
#define UNUSED3 (void)n, (void)g, (void)ng, (void)gin

/* ------------------------------------------------------------------ unary */

#define UNARY_FWD(NAME, UNOP)                                                                      \
    static int fwd_##NAME(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {             \
        (void)n, (void)k;                                                                          \
        return (out[0] = cg_k_unary(UNOP, in[0])) ? 1 : -1;                                        \
    }

#define X_IN(n) cg_node_input(n, 0)
#define Y_OUT(n) cg_node_output(n, 0)

UNARY_FWD(neg, CG_NEG)
BWD(neg) { UNUSED3; return OK_OR(gin[0] = cg_k_unary(CG_NEG, g[0])); }

UNARY_FWD(exp, CG_EXP)
BWD(exp) { UNUSED3; return OK_OR(gin[0] = cg_k_binary(CG_MUL, g[0], Y_OUT(n))); }

UNARY_FWD(log, CG_LOG)
BWD(log) { UNUSED3; return OK_OR(gin[0] = cg_k_binary(CG_DIV, g[0], X_IN(n))); }

UNARY_FWD(sqrt, CG_SQRT)
BWD(sqrt) { /* g / (2 sqrt(x)) */
    UNUSED3;
    cg_tensor *h = cg_k_binary(CG_DIV, g[0], Y_OUT(n));
    return OK_OR(gin[0] = h ? cg_k_scalar_(CG_MUL, h, 0.5) : NULL);
}

UNARY_FWD(abs, CG_ABS)
BWD(abs) { UNUSED3; return OK_OR(gin[0] = cg_k_binary(CG_MUL, g[0], cg_k_unary(CG_SIGN, X_IN(n)))); }

UNARY_FWD(tanh, CG_TANH)
BWD(tanh) { UNUSED3; return OK_OR(gin[0] = cg_k_binary(CG_TANH_GRAD, g[0], Y_OUT(n))); }

UNARY_FWD(sigmoid, CG_SIGMOID)
BWD(sigmoid) { UNUSED3; return OK_OR(gin[0] = cg_k_binary(CG_SIGMOID_GRAD, g[0], Y_OUT(n))); }

UNARY_FWD(relu, CG_RELU)
BWD(relu) { UNUSED3; return OK_OR(gin[0] = cg_k_binary(CG_RELU_GRAD, g[0], Y_OUT(n))); }

UNARY_FWD(square, CG_SQUARE)
BWD(square) {
    UNUSED3;
    cg_tensor *h = cg_k_binary(CG_MUL, g[0], X_IN(n));
    return OK_OR(gin[0] = h ? cg_k_scalar_(CG_MUL, h, 2.0) : NULL);
}

#define OUTS CG_VERSION_OUTPUTS
const cg_op cg__op_neg = {"neg", 1, 1, 0, fwd_neg, bwd_neg, 0};
const cg_op cg__op_exp = {"exp", 1, 1, 0, fwd_exp, bwd_exp, OUTS};
const cg_op cg__op_log = {"log", 1, 1, 0, fwd_log, bwd_log, 1};
const cg_op cg__op_sqrt = {"sqrt", 1, 1, 0, fwd_sqrt, bwd_sqrt, OUTS};
const cg_op cg__op_abs = {"abs", 1, 1, 0, fwd_abs, bwd_abs, 1};
const cg_op cg__op_tanh = {"tanh", 1, 1, 0, fwd_tanh, bwd_tanh, OUTS};
const cg_op cg__op_sigmoid = {"sigmoid", 1, 1, 0, fwd_sigmoid, bwd_sigmoid, OUTS};
const cg_op cg__op_relu = {"relu", 1, 1, 0, fwd_relu, bwd_relu, OUTS};
const cg_op cg__op_square = {"square", 1, 1, 0, fwd_square, bwd_square, 1};

cg_tensor *cg_neg(cg_tensor *x) { return cg__apply1(&cg__op_neg, x, NULL); }
cg_tensor *cg_exp(cg_tensor *x) { return cg__apply1(&cg__op_exp, x, NULL); }
cg_tensor *cg_log(cg_tensor *x) { return cg__apply1(&cg__op_log, x, NULL); }
cg_tensor *cg_sqrt(cg_tensor *x) { return cg__apply1(&cg__op_sqrt, x, NULL); }
cg_tensor *cg_abs(cg_tensor *x) { return cg__apply1(&cg__op_abs, x, NULL); }
cg_tensor *cg_tanh(cg_tensor *x) { return cg__apply1(&cg__op_tanh, x, NULL); }
cg_tensor *cg_sigmoid(cg_tensor *x) { return cg__apply1(&cg__op_sigmoid, x, NULL); }
cg_tensor *cg_relu(cg_tensor *x) { return cg__apply1(&cg__op_relu, x, NULL); }
cg_tensor *cg_square(cg_tensor *x) { return cg__apply1(&cg__op_square, x, NULL); }

/* ----------------------------------------------------------------- binary */

#define BINARY_FWD(NAME, BINOP)                                                                    \
    static int fwd_##NAME(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {             \
        (void)n, (void)k;                                                                          \
        return (out[0] = cg_k_binary(BINOP, in[0], in[1])) ? 1 : -1;                               \
    }

BINARY_FWD(add, CG_ADD)
BWD(add) {
    UNUSED3;
    gin[0] = g[0];
    gin[1] = g[0];
    return CG_OK;
}

BINARY_FWD(sub, CG_SUB)
BWD(sub) {
    UNUSED3;
    gin[0] = g[0];
    if (ng[1] && !(gin[1] = cg_k_unary(CG_NEG, g[0]))) return cg_last_status();
    return CG_OK;
}

BINARY_FWD(mul, CG_MUL)
BWD(mul) {
    UNUSED3;
    if (ng[0] && !(gin[0] = cg_k_binary(CG_MUL, g[0], cg_node_input(n, 1)))) return cg_last_status();
    if (ng[1] && !(gin[1] = cg_k_binary(CG_MUL, g[0], cg_node_input(n, 0)))) return cg_last_status();
    return CG_OK;
}

BINARY_FWD(div, CG_DIV)
BWD(div) { /* d(a/b) = g/b, -g*y/b */
    UNUSED3;
    cg_tensor *b = cg_node_input(n, 1);
    cg_tensor *gb = cg_k_binary(CG_DIV, g[0], b);
    if (!gb) return cg_last_status();
    if (ng[0]) gin[0] = gb;
    if (ng[1] && !(gin[1] = cg_k_unary_(CG_NEG, cg_k_binary(CG_MUL, gb, Y_OUT(n))))) return cg_last_status();
    return CG_OK;
}

BINARY_FWD(pow, CG_POW)
BWD(pow) { /* d(a^b) = g*b*a^(b-1), g*y*log(a) */
    UNUSED3;
    cg_tensor *a = cg_node_input(n, 0), *b = cg_node_input(n, 1);
    if (ng[0]) {
        cg_tensor *bm1 = cg_k_scalar(CG_SUB, b, 1.0);
        cg_tensor *t = bm1 ? cg_k_binary(CG_POW, a, bm1) : NULL;
        t = t ? cg_k_binary_(CG_MUL, t, b) : NULL;
        /* t may be smaller than g (a or b broadcast): multiply into g's shape */
        if (!t || !(gin[0] = cg_k_binary(CG_MUL, g[0], t))) return cg_last_status();
    }
    if (ng[1]) {
        cg_tensor *t = cg_k_binary(CG_MUL, g[0], Y_OUT(n));
        if (!t || !(gin[1] = cg_k_binary(CG_MUL, t, cg_k_unary(CG_LOG, a)))) return cg_last_status();
    }
    return CG_OK;
}

/* maximum/minimum: the gradient goes to the larger (smaller) input, half to
 * each on ties (as in PyTorch). */
static cg_status extreme_backward(cg_node *n, cg_tensor *const *g, const bool *ng, cg_tensor **gin, cg_binop wins) {
    cg_tensor *a = cg_node_input(n, 0), *b = cg_node_input(n, 1);
    cg_tensor *tie = cg_k_binary(CG_EQ, a, b);
    cg_tensor *half = tie ? cg_k_scalar_(CG_MUL, tie, 0.5) : NULL;
    for (int i = 0; i < 2 && half; i++) {
        if (!ng[i]) continue;
        cg_tensor *w = i == 0 ? cg_k_binary(wins, a, b) : cg_k_binary(wins, b, a);
        w = w ? cg_k_binary_(CG_ADD, w, half) : NULL;
        if (!w || !(gin[i] = cg_k_binary(CG_MUL, g[0], w))) return cg_last_status();
    }
    return half ? CG_OK : cg_last_status();
}

BINARY_FWD(maximum, CG_MAXIMUM)
BWD(maximum) { return extreme_backward(n, g, ng, gin, CG_GT); }
BINARY_FWD(minimum, CG_MINIMUM)
BWD(minimum) { return extreme_backward(n, g, ng, gin, CG_LT); }

const cg_op cg__op_add = {"add", 2, 1, 0, fwd_add, bwd_add, 0};
const cg_op cg__op_sub = {"sub", 2, 1, 0, fwd_sub, bwd_sub, 0};
const cg_op cg__op_mul = {"mul", 2, 1, 0, fwd_mul, bwd_mul, 3};
const cg_op cg__op_div = {"div", 2, 1, 0, fwd_div, bwd_div, 2 | OUTS};
const cg_op cg__op_pow = {"pow", 2, 1, 0, fwd_pow, bwd_pow, 3 | OUTS};
const cg_op cg__op_maximum = {"maximum", 2, 1, 0, fwd_maximum, bwd_maximum, 3};
const cg_op cg__op_minimum = {"minimum", 2, 1, 0, fwd_minimum, bwd_minimum, 3};

cg_tensor *cg_add(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_add, a, b, NULL); }
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_sub, a, b, NULL); }
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_mul, a, b, NULL); }
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_div, a, b, NULL); }
cg_tensor *cg_pow(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_pow, a, b, NULL); }
cg_tensor *cg_maximum(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_maximum, a, b, NULL); }
cg_tensor *cg_minimum(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_minimum, a, b, NULL); }

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
    UNUSED3;
    gin[0] = g[0];
    return CG_OK;
}
static int fwd_mul_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_scalar(CG_MUL, in[0], S_OF(n))) ? 1 : -1;
}
BWD(mul_scalar) { UNUSED3; return OK_OR(gin[0] = cg_k_scalar(CG_MUL, g[0], S_OF(n))); }
static int fwd_pow_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_scalar(CG_POW, in[0], S_OF(n))) ? 1 : -1;
}
BWD(pow_scalar) {
    UNUSED3;
    double p = S_OF(n);
    cg_tensor *t = cg_k_scalar(CG_POW, X_IN(n), p - 1.0);
    t = t ? cg_k_scalar_(CG_MUL, t, p) : NULL;
    return OK_OR(gin[0] = t ? cg_k_binary_(CG_MUL, t, g[0]) : NULL);
}
static int fwd_rsub_scalar(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_rscalar(CG_SUB, S_OF(n), in[0])) ? 1 : -1;
}
BWD(rsub_scalar) { UNUSED3; return OK_OR(gin[0] = cg_k_unary(CG_NEG, g[0])); }

const cg_op cg__op_add_scalar = {"add_scalar", 1, 1, sizeof(scalar_params), fwd_add_scalar, bwd_add_scalar, 0};
const cg_op cg__op_mul_scalar = {"mul_scalar", 1, 1, sizeof(scalar_params), fwd_mul_scalar, bwd_mul_scalar, 0};
const cg_op cg__op_pow_scalar = {"pow_scalar", 1, 1, sizeof(scalar_params), fwd_pow_scalar, bwd_pow_scalar, 1};
const cg_op cg__op_rsub_scalar = {"rsub_scalar", 1, 1, sizeof(scalar_params), fwd_rsub_scalar, bwd_rsub_scalar, 0};

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
    UNUSED3;
    const clamp_params *p = cg_node_params(n);
    cg_tensor *lo = cg_k_scalar(CG_GE, X_IN(n), p->lo);
    cg_tensor *in = lo ? cg_k_binary_(CG_MUL, lo, cg_k_scalar(CG_LE, X_IN(n), p->hi)) : NULL;
    return OK_OR(gin[0] = in ? cg_k_binary(CG_MUL, g[0], in) : NULL);
}
const cg_op cg__op_clamp = {"clamp", 1, 1, sizeof(clamp_params), fwd_clamp, bwd_clamp, 1};
cg_tensor *cg_clamp(cg_tensor *x, double lo, double hi) {
    return cg__apply1(&cg__op_clamp, x, &(clamp_params){lo, hi});
}

/* ---------------------------------------------------------- where / mask */

static int fwd_where(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)n, (void)k;
    return (out[0] = cg_k_where(in[0], in[1], in[2])) ? 1 : -1;
}
BWD(where) {
    UNUSED3;
    cg_tensor *cond = cg_node_input(n, 0);
    cg_tensor *zero = cg_scalar(g[0]->dtype, 0);
    if (!zero) return cg_last_status();
    if (ng[1] && !(gin[1] = cg_k_where(cond, g[0], zero))) return cg_last_status();
    if (ng[2] && !(gin[2] = cg_k_where(cond, zero, g[0]))) return cg_last_status();
    return CG_OK;
}
const cg_op cg__op_where = {"where", 3, 1, 0, fwd_where, bwd_where, 1};
cg_tensor *cg_where(const cg_tensor *cond, cg_tensor *a, cg_tensor *b) {
    cg_tensor *in[3] = {(cg_tensor *)cond, a, b};
    return cg_op_apply(&cg__op_where, in, 3, NULL);
}

static int fwd_masked_fill(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_masked_fill(in[0], in[1], S_OF(n))) ? 1 : -1;
}
BWD(masked_fill) {
    UNUSED3;
    cg_tensor *zero = cg_scalar(g[0]->dtype, 0);
    return OK_OR(gin[0] = zero ? cg_k_where(cg_node_input(n, 1), zero, g[0]) : NULL);
}
const cg_op cg__op_masked_fill = {"masked_fill", 2, 1, sizeof(scalar_params), fwd_masked_fill, bwd_masked_fill, 2};
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
BWD(to) { UNUSED3; return OK_OR(gin[0] = cg_to_dtype(g[0], X_IN(n)->dtype)); }
const cg_op cg__op_to = {"to", 1, 1, sizeof(to_params), fwd_to, bwd_to, 0};
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
