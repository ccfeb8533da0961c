/* Differentiable reductions and (log_)softmax. */
#include "ops_internal.h"

static bool pack_axes(const char *op, const int *axes, int naxes, bool keepdim, axes_params *p) {
    memset(p, 0, sizeof *p);
    if (naxes < 0 || naxes > CG_MAX_DIMS || (naxes > 0 && !axes)) {
        cg_set_error(CG_ERR_VALUE, "%s: bad axes list (%d axes)", op, naxes);
        return false;
    }
    for (int i = 0; i < naxes; i++) p->axes[i] = axes[i];
    p->naxes = naxes;
    p->keepdim = keepdim;
    return true;
}

/* Which dims of x are reduced, the keepdim shape, and the reduced count. */
static int64_t reduced_dims(const cg_tensor *x, const axes_params *p, bool *red, int64_t *kshape) {
    for (int d = 0; d < CG_MAX_DIMS; d++) red[d] = p->naxes == 0;
    for (int i = 0; i < p->naxes; i++) red[p->axes[i] < 0 ? p->axes[i] + x->ndim : p->axes[i]] = true;
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++) {
        kshape[d] = red[d] ? 1 : x->shape[d];
        if (red[d]) count *= x->shape[d];
    }
    return count;
}

/* The output gradient with the reduced dims put back as size 1. */
static cg_tensor *g_keepdim(cg_tensor *g, const cg_tensor *x, const axes_params *p, int64_t *count) {
    bool red[CG_MAX_DIMS];
    int64_t ks[CG_MAX_DIMS];
    int64_t c = reduced_dims(x, p, red, ks);
    if (count) *count = c;
    return cg_k_reshape(g, ks, x->ndim);
}

#define REDUCE_FWD(NAME, RED)                                                                      \
    static int fwd_##NAME(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {             \
        (void)k;                                                                                   \
        const axes_params *p = cg_node_params(n);                                              \
        return (out[0] = cg_k_reduce(RED, in[0], p->axes, p->naxes, p->keepdim)) ? 1 : -1;         \
    }

REDUCE_FWD(sum, CG_SUM)
static cg_status bwd_sum(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    cg_tensor *x = cg_node_input(n, 0);
    cg_tensor *gk = g_keepdim(g[0], x, cg_node_params(n), NULL);
    return GIVE(0, gk ? cg_k_expand(gk, x->shape, x->ndim) : NULL);
}

REDUCE_FWD(mean, CG_MEAN)
static cg_status bwd_mean(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    cg_tensor *x = cg_node_input(n, 0);
    int64_t count;
    cg_tensor *gk = g_keepdim(g[0], x, cg_node_params(n), &count);
    gk = gk ? cg_k_scalar(CG_MUL, gk, count ? 1.0 / (double)count : NAN) : NULL;
    return GIVE(0, gk ? cg_k_expand(gk, x->shape, x->ndim) : NULL);
}

/* max/min: the gradient goes to the first position holding the extreme. */
static cg_status extreme_bwd(cg_node *n, cg_tensor *const *g, cg_grad_in *gin, bool is_max) {
    cg_tensor *x = cg_node_input(n, 0);
    bool red[CG_MAX_DIMS];
    int64_t ks[CG_MAX_DIMS];
    int64_t I = reduced_dims(x, cg_node_params(n), red, ks);
    int perm[CG_MAX_DIMS], inv[CG_MAX_DIMS], k = 0;
    for (int d = 0; d < x->ndim; d++)
        if (!red[d]) perm[k++] = d;
    for (int d = 0; d < x->ndim; d++)
        if (red[d]) perm[k++] = d;
    for (int d = 0; d < x->ndim; d++) inv[perm[d]] = d;
    int64_t O = I ? cg_numel(x) / I : 0;
    cg_tensor *xp = cg_k_permute(x, perm, x->ndim);
    cg_tensor *x2 = xp ? cg_k_reshape(xp, CG_SHAPE(O, I)) : NULL;
    cg_tensor *idx = x2 ? (is_max ? cg_k_argmax(x2, 1, true) : cg_k_argmin(x2, 1, true)) : NULL;
    cg_tensor *g2 = idx ? cg_k_reshape(g[0], CG_SHAPE(O, 1)) : NULL;
    cg_tensor *z = g2 ? cg_zeros(x->dtype, CG_SHAPE(O, I)) : NULL;
    z = z ? cg_k_scatter_add_(z, 1, idx, g2) : NULL;
    cg_tensor *zp = z ? cg_k_reshape(z, xp->shape, xp->ndim) : NULL;
    return GIVE(0, zp ? cg_k_permute(zp, inv, x->ndim) : NULL);
}

REDUCE_FWD(max, CG_MAX)
static cg_status bwd_max(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return extreme_bwd(n, g, gin, true);
}
REDUCE_FWD(min, CG_MIN)
static cg_status bwd_min(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return extreme_bwd(n, g, gin, false);
}

REDUCE_FWD(logsumexp, CG_LOGSUMEXP)
static cg_status bwd_logsumexp(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    cg_tensor *x = cg_node_input(n, 0);
    cg_tensor *yk = g_keepdim(cg_node_output(n, 0), x, cg_node_params(n), NULL);
    cg_tensor *gk = g_keepdim(g[0], x, cg_node_params(n), NULL);
    cg_tensor *e = yk && gk ? cg_k_unary_(CG_EXP, cg_k_binary(CG_SUB, x, yk)) : NULL;
    return GIVE(0, e ? cg_k_binary_(CG_MUL, e, gk) : NULL);
}

#define REDUCE_ROW(nm, reads_) CG_OP_ROW(nm, 1, 1, sizeof(axes_params), reads_)
const cg_op cg__op_sum = REDUCE_ROW(sum, 0);
const cg_op cg__op_mean = REDUCE_ROW(mean, 0);
const cg_op cg__op_max = REDUCE_ROW(max, CG_READS_INPUT(0));
const cg_op cg__op_min = REDUCE_ROW(min, CG_READS_INPUT(0));
const cg_op cg__op_logsumexp = REDUCE_ROW(logsumexp, CG_READS_INPUT(0) | CG_READS_OUTPUTS);

#define REDUCE_API(NAME)                                                                           \
    cg_tensor *cg_##NAME(cg_tensor *x, const int *axes, int naxes, bool keepdim) {                \
        axes_params p;                                                                         \
        if (!pack_axes("cg_" #NAME, axes, naxes, keepdim, &p)) return NULL;                        \
        return cg__apply1(&cg__op_##NAME, x, &p);                                                  \
    }
REDUCE_API(sum)
REDUCE_API(mean)
REDUCE_API(max)
REDUCE_API(min)
REDUCE_API(logsumexp)

/* ---------------------------------------------------------------- softmax */

#define AXIS_OF(n) (((const axis_params *)cg_node_params(n))->axis)

static int fwd_softmax(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_softmax(in[0], AXIS_OF(n))) ? 1 : -1;
}
static cg_status bwd_softmax(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng; /* y * (g - sum(g*y)) */
    cg_tensor *y = cg_node_output(n, 0);
    cg_tensor *gy = cg_k_binary(CG_MUL, g[0], y);
    cg_tensor *s = gy ? cg_k_reduce(CG_SUM, gy, (int[]){AXIS_OF(n)}, 1, true) : NULL;
    cg_tensor *d = s ? cg_k_binary(CG_SUB, g[0], s) : NULL;
    return GIVE(0, d ? cg_k_binary_(CG_MUL, d, y) : NULL);
}
static int fwd_log_softmax(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_log_softmax(in[0], AXIS_OF(n))) ? 1 : -1;
}
static cg_status bwd_log_softmax(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng; /* g - exp(y) * sum(g) */
    cg_tensor *y = cg_node_output(n, 0);
    cg_tensor *s = cg_k_reduce(CG_SUM, g[0], (int[]){AXIS_OF(n)}, 1, true);
    cg_tensor *p = s ? cg_k_unary(CG_EXP, y) : NULL;
    p = p ? cg_k_binary_(CG_MUL, p, s) : NULL;
    return GIVE(0, p ? cg_k_binary(CG_SUB, g[0], p) : NULL);
}

const cg_op cg__op_softmax = {.name = "softmax", .n_in = 1, .n_out = 1, .params_size = sizeof(axis_params),
                              .forward = fwd_softmax, .backward = bwd_softmax, .reads = CG_READS_OUTPUTS};
const cg_op cg__op_log_softmax = {.name = "log_softmax", .n_in = 1, .n_out = 1, .params_size = sizeof(axis_params),
                                  .forward = fwd_log_softmax, .backward = bwd_log_softmax, .reads = CG_READS_OUTPUTS};

cg_tensor *cg_softmax(cg_tensor *x, int axis) { return cg__apply1(&cg__op_softmax, x, &(axis_params){axis}); }
cg_tensor *cg_log_softmax(cg_tensor *x, int axis) { return cg__apply1(&cg__op_log_softmax, x, &(axis_params){axis}); }
