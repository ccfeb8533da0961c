/* Numerically delicate primitives: BCE with logits and softmax
 * cross-entropy (their backward reuses what the forward saved), dropout
 * (its mask is saved) and layer normalization. */
#include "ops_internal.h"
#include "vmath.h" /* exp and log1p with the same bits on every CPU */

typedef struct {
    cg_reduction red;
} red_params;
#define RED(n) (((const red_params *)cg_node_params(n))->red)

static const char *red_ok(cg_reduction r) {
    return (r == CG_REDUCTION_MEAN || r == CG_REDUCTION_SUM || r == CG_REDUCTION_NONE) ? NULL : "bad reduction";
}

/* Reduce per-element losses l (contiguous) as asked. */
static cg_tensor *reduce_loss(cg_tensor *l, cg_reduction red) {
    if (red == CG_REDUCTION_NONE) return l;
    return cg_k_reduce(red == CG_REDUCTION_MEAN ? CG_MEAN : CG_SUM, l, NULL, 0, false);
}

/* The output gradient scaled for the reduction: a scalar for mean/sum (to
 * broadcast), elementwise for none. */
static cg_tensor *scaled_gout(cg_tensor *g, cg_reduction red, int64_t count) {
    if (red == CG_REDUCTION_MEAN) return cg_k_scalar(CG_MUL, g, count ? 1.0 / (double)count : NAN);
    return g;
}

/* -------------------------------------------------------- bce_with_logits */

#define BCE_LOOP(T, EXP, LOG1P)                                                                    \
    do {                                                                                           \
        const T *x = cg_data(xc), *y = cg_data(yc);                                                \
        T *l = cg_data(loss), *s = cg_data(sig);                                                   \
        for (int64_t i = 0; i < m; i++) {                                                          \
            T xi = x[i], e = EXP(-(xi < 0 ? -xi : xi));                                            \
            l[i] = (xi > 0 ? xi : 0) - xi * y[i] + LOG1P(e);                                       \
            s[i] = xi >= 0 ? 1 / (1 + e) : e / (1 + e);                                            \
        }                                                                                          \
    } while (0)

static int fwd_bce(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    cg_tensor *x = in[0], *y = in[1];
    if (!cg_dtype_is_float(x->dtype) || x->dtype != y->dtype || !cg_same_shape(x, y)) {
        cg_set_error(CG_ERR_SHAPE, "cg_bce_with_logits: logits %s %s and targets %s %s need one float dtype and one shape",
                     cg_dtype_name(x->dtype), cg_shape_str(x), cg_dtype_name(y->dtype), cg_shape_str(y));
        return -1;
    }
    cg_tensor *xc = cg_k_contiguous(x), *yc = cg_k_contiguous(y);
    cg_tensor *loss = cg_empty_like(x), *sig = cg_empty_like(x);
    if (!xc || !yc || !loss || !sig) return -1;
    int64_t m = cg_numel(x);
    if (x->dtype == CG_FLOAT32) BCE_LOOP(float, cg_vexpf, cg_vlog1pf);
    else BCE_LOOP(double, cg_vexp, cg_vlog1p);
    cg_node_save(n, sig);
    return (out[0] = reduce_loss(loss, RED(n))) ? 1 : -1;
}

static cg_status bwd_bce(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    cg_tensor *x = cg_node_input(n, 0), *y = cg_node_input(n, 1);
    cg_tensor *gs = scaled_gout(g[0], RED(n), cg_numel(x));
    if (!gs) return cg_last_status();
    if (ng[0]) { /* (sigmoid(x) - y) * g */
        cg_tensor *d = cg_k_binary(CG_SUB, cg_node_saved(n, 0), y);
        if (!d || !(gin[0].t = cg_k_binary_(CG_MUL, d, gs))) return cg_last_status();
    }
    if (ng[1]) { /* -x * g */
        cg_tensor *d = cg_k_unary(CG_NEG, x);
        if (!d || !(gin[1].t = cg_k_binary_(CG_MUL, d, gs))) return cg_last_status();
    }
    return CG_OK;
}

cg_tensor *cg_bce_with_logits_ex(cg_tensor *logits, cg_tensor *targets, cg_reduction red) {
    if (red_ok(red)) {
        cg_set_error(CG_ERR_VALUE, "cg_bce_with_logits: unknown reduction %d", (int)red);
        return NULL;
    }
    return cg__apply2(&cg__op_bce_with_logits, logits, targets, &(red_params){red});
}
cg_tensor *cg_bce_with_logits(cg_tensor *logits, cg_tensor *targets) {
    return cg_bce_with_logits_ex(logits, targets, CG_REDUCTION_MEAN);
}

/* ---------------------------------------------------------- cross_entropy */

static int fwd_ce(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    cg_tensor *x = in[0], *t = in[1];
    bool ok = x->ndim >= 1 && t->ndim == x->ndim - 1 && t->dtype == CG_INT64 && cg_dtype_is_float(x->dtype);
    for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == x->shape[d];
    if (!ok) {
        cg_set_error(CG_ERR_SHAPE,
                     "cg_cross_entropy: logits %s %s need int64 class ids of shape %s (the logits without the class "
                     "dim), got %s %s",
                     cg_dtype_name(x->dtype), cg_shape_str(x), cg_dims_str(x->shape, x->ndim > 0 ? x->ndim - 1 : 0),
                     cg_dtype_name(t->dtype), cg_shape_str(t));
        return -1;
    }
    int64_t C = x->shape[x->ndim - 1], N = cg_numel(t);
    cg_tensor *tc = cg_k_contiguous(t);
    cg_tensor *lsm = cg_k_log_softmax(x, -1);
    cg_tensor *loss = tc && lsm ? cg_empty(x->dtype, t->shape, t->ndim) : NULL;
    if (!loss) return -1;
    const int64_t *ti = cg_data(tc);
    for (int64_t i = 0; i < N; i++) {
        if (ti[i] < 0 || ti[i] >= C) {
            cg_set_error(CG_ERR_INDEX, "cg_cross_entropy: target %lld at position %lld is out of range [0, %lld)",
                         (long long)ti[i], (long long)i, (long long)C);
            return -1;
        }
        if (x->dtype == CG_FLOAT32) ((float *)cg_data(loss))[i] = -((const float *)cg_data(lsm))[i * C + ti[i]];
        else ((double *)cg_data(loss))[i] = -((const double *)cg_data(lsm))[i * C + ti[i]];
    }
    cg_node_save(n, lsm);
    return (out[0] = reduce_loss(loss, RED(n))) ? 1 : -1;
}

static cg_status bwd_ce(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    if (!ng[0]) return CG_OK;
    cg_tensor *t = cg_k_contiguous(cg_node_input(n, 1));
    cg_tensor *p = cg_k_unary(CG_EXP, cg_node_saved(n, 0)); /* softmax, contiguous */
    if (!t || !p) return cg_last_status();
    int64_t C = p->shape[p->ndim - 1], N = cg_numel(t);
    const int64_t *ti = cg_data(t);
    for (int64_t i = 0; i < N; i++) {
        if (p->dtype == CG_FLOAT32) ((float *)cg_data(p))[i * C + ti[i]] -= 1.0f;
        else ((double *)cg_data(p))[i * C + ti[i]] -= 1.0;
    }
    cg_tensor *gs = scaled_gout(g[0], RED(n), N);
    if (gs && RED(n) == CG_REDUCTION_NONE) gs = cg_k_unsqueeze(gs, -1);
    return GIVE(0, gs ? cg_k_binary_(CG_MUL, p, gs) : NULL);
}

cg_tensor *cg_cross_entropy_ex(cg_tensor *logits, const cg_tensor *targets, cg_reduction red) {
    if (red_ok(red)) {
        cg_set_error(CG_ERR_VALUE, "cg_cross_entropy: unknown reduction %d", (int)red);
        return NULL;
    }
    return cg__apply2(&cg__op_cross_entropy, logits, (cg_tensor *)targets, &(red_params){red});
}
cg_tensor *cg_cross_entropy(cg_tensor *logits, const cg_tensor *targets) {
    return cg_cross_entropy_ex(logits, targets, CG_REDUCTION_MEAN);
}

/* ---------------------------------------------------------------- dropout */

typedef struct {
    double p;
    cg_rng *rng;
} dropout_params;

static int fwd_dropout(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    const dropout_params *p = cg_node_params(n);
    cg_tensor *x = in[0];
    if (!cg_dtype_is_float(x->dtype)) {
        cg_set_error(CG_ERR_DTYPE, "cg_dropout: needs a float tensor, got %s", cg_dtype_name(x->dtype));
        return -1;
    }
    cg_tensor *mask = cg_bernoulli(p->rng, x->dtype, 1.0 - p->p, x->shape, x->ndim);
    if (!mask || !cg_k_scalar_(CG_MUL, mask, p->p < 1 ? 1.0 / (1.0 - p->p) : 0.0)) return -1;
    cg_node_save(n, mask);
    return (out[0] = cg_k_binary(CG_MUL, x, mask)) ? 1 : -1;
}
static cg_status bwd_dropout(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return GIVE(0, cg_k_binary(CG_MUL, g[0], cg_node_saved(n, 0)));
}
cg_tensor *cg_dropout(cg_tensor *x, double p, bool training, cg_rng *rng) {
    if (!x) return cg__ag_null("cg_dropout");
    if (!(p >= 0 && p <= 1)) {
        cg_set_error(CG_ERR_VALUE, "cg_dropout: p = %g is not in [0, 1]", p);
        return NULL;
    }
    if (!training || p == 0) return x;
    return cg__apply1(&cg__op_dropout, x, &(dropout_params){p, rng});
}

const cg_op cg__op_bce_with_logits = {.name = "bce_with_logits", .n_in = 2, .n_out = 1, .params_size = sizeof(red_params),
                                      .forward = fwd_bce, .backward = bwd_bce,
                                      .reads = CG_READS_INPUT(0) | CG_READS_INPUT(1)};
const cg_op cg__op_cross_entropy = {.name = "cross_entropy", .n_in = 2, .n_out = 1, .params_size = sizeof(red_params),
                                    .forward = fwd_ce, .backward = bwd_ce, .reads = CG_READS_INPUT(1)};
const cg_op cg__op_dropout = {.name = "dropout", .n_in = 1, .n_out = 1, .params_size = sizeof(dropout_params),
                              .forward = fwd_dropout, .backward = bwd_dropout};

/* ------------------------------------------------------------ layer norm */

typedef struct {
    double eps;
} ln_params;

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dim
 * (biased variance, as Keras and PyTorch); keeps x_hat and 1/sqrt(var + eps). */
static int fwd_layer_norm(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    cg_tensor *x = in[0], *gamma = in[1], *beta = in[2];
    int64_t D = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || !cg_dtype_is_float(x->dtype) || gamma->dtype != x->dtype || beta->dtype != x->dtype ||
        gamma->ndim != 1 || beta->ndim != 1 || gamma->shape[0] != D || beta->shape[0] != D) {
        cg_set_error(CG_ERR_SHAPE, "cg_layer_norm: x %s %s needs gamma and beta [%lld] of its dtype, got %s %s and %s %s",
                     cg_dtype_name(x->dtype), cg_shape_str(x), (long long)D, cg_dtype_name(gamma->dtype),
                     cg_shape_str(gamma), cg_dtype_name(beta->dtype), cg_shape_str(beta));
        return -1;
    }
    const int last[1] = {-1};
    cg_tensor *mu = cg_k_reduce(CG_MEAN, x, last, 1, true);
    cg_tensor *xc = mu ? cg_k_binary(CG_SUB, x, mu) : NULL;
    cg_tensor *var = xc ? cg_k_reduce(CG_MEAN, cg_k_unary(CG_SQUARE, xc), last, 1, true) : NULL;
    cg_tensor *rstd = var ? cg_k_unary_(CG_RECIPROCAL, cg_k_unary_(CG_SQRT, cg_k_scalar_(CG_ADD, var, P(n, ln_params)->eps)))
                          : NULL;
    cg_tensor *xhat = rstd ? cg_k_binary_(CG_MUL, xc, rstd) : NULL;
    cg_tensor *y = xhat ? cg_k_binary(CG_MUL, xhat, gamma) : NULL;
    if (!y || !cg_k_binary_(CG_ADD, y, beta)) return -1;
    cg_node_save(n, xhat);
    cg_node_save(n, rstd);
    out[0] = y;
    return 1;
}

/* dx = rstd * (dxh - mean(dxh) - x_hat * mean(dxh * x_hat)), dxh = g * gamma;
 * dgamma = g * x_hat and dbeta = g, summed back to [D] by the engine. */
static cg_status bwd_layer_norm(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    cg_tensor *xhat = cg_node_saved(n, 0), *rstd = cg_node_saved(n, 1);
    if (ng[1] && !(gin[1].t = cg_k_binary(CG_MUL, g[0], xhat))) return cg_last_status();
    if (ng[2]) gin[2].t = g[0];
    if (!ng[0]) return CG_OK;
    const int last[1] = {-1};
    cg_tensor *dxh = cg_k_binary(CG_MUL, g[0], cg_node_input(n, 1));
    cg_tensor *m1 = dxh ? cg_k_reduce(CG_MEAN, dxh, last, 1, true) : NULL;
    cg_tensor *m2 = m1 ? cg_k_reduce(CG_MEAN, cg_k_binary(CG_MUL, dxh, xhat), last, 1, true) : NULL;
    cg_tensor *d = m2 ? cg_k_binary_(CG_SUB, dxh, m1) : NULL;
    d = d ? cg_k_binary_(CG_SUB, d, cg_k_binary(CG_MUL, xhat, m2)) : NULL;
    return GIVE(0, d ? cg_k_binary_(CG_MUL, d, rstd) : NULL);
}

const cg_op cg__op_layer_norm = {.name = "layer_norm", .n_in = 3, .n_out = 1, .params_size = sizeof(ln_params),
                                 .forward = fwd_layer_norm, .backward = bwd_layer_norm, .reads = CG_READS_INPUT(1)};

cg_tensor *cg_layer_norm(cg_tensor *x, cg_tensor *gamma, cg_tensor *beta, double eps) {
    if (!x) return cg__ag_null("cg_layer_norm");
    if (!(eps >= 0)) {
        cg_set_error(CG_ERR_VALUE, "cg_layer_norm: eps = %g must be >= 0", eps);
        return NULL;
    }
    int64_t D = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (!gamma) gamma = cg_ones(x->dtype, CG_SHAPE(D));
    if (!beta) beta = cg_zeros(x->dtype, CG_SHAPE(D));
    cg_tensor *in[3] = {x, gamma, beta};
    return gamma && beta ? cg_op_apply(&cg__op_layer_norm, in, 3, &(ln_params){eps}) : NULL;
}
