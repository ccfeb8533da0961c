/* Initializers with Keras semantics. */
#include "nn_internal.h"

#include <stdlib.h>

static void fans(const cg_tensor *t, double *fan_in, double *fan_out) {
    if (t->ndim == 0) {
        *fan_in = *fan_out = 1;
    } else if (t->ndim == 1) {
        *fan_in = *fan_out = (double)t->shape[0];
    } else {
        double rf = 1;
        for (int d = 0; d < t->ndim - 2; d++) rf *= (double)t->shape[d];
        *fan_in = (double)t->shape[t->ndim - 2] * rf;
        *fan_out = (double)t->shape[t->ndim - 1] * rf;
    }
}

/* Orthonormal columns of a random normal m x k matrix (m >= k) by modified
 * Gram-Schmidt, run twice for accuracy. q is m x k, row-major. */
static void orthonormal_columns(double *q, int64_t m, int64_t k, cg_rng *rng) {
    for (int64_t i = 0; i < m * k; i++) q[i] = cg_rng_normal(rng);
    for (int64_t j = 0; j < k; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int64_t p = 0; p < j; p++) {
                double dot = 0;
                for (int64_t i = 0; i < m; i++) dot += q[i * k + p] * q[i * k + j];
                for (int64_t i = 0; i < m; i++) q[i * k + j] -= dot * q[i * k + p];
            }
        double nrm = 0;
        for (int64_t i = 0; i < m; i++) nrm += q[i * k + j] * q[i * k + j];
        nrm = sqrt(nrm);
        for (int64_t i = 0; i < m; i++) q[i * k + j] /= nrm;
    }
}

static cg_status orthogonal(cg_tensor *t, double gain, cg_rng *rng) {
    if (t->ndim < 2) return cg_set_error(CG_ERR_SHAPE, "cg_init_fill: orthogonal needs a 2-D or larger tensor, got %s", cg_shape_str(t));
    int64_t cols = t->shape[t->ndim - 1], rows = cg_numel(t) / (cols ? cols : 1);
    int64_t m = rows > cols ? rows : cols, k = rows > cols ? cols : rows;
    double *q = malloc(sizeof(double) * (size_t)(m * k > 0 ? m * k : 1));
    if (!q) return cg_set_error(CG_ERR_NOMEM, "cg_init_fill: out of memory");
    orthonormal_columns(q, m, k, rng);
    float *d = cg_data_f32(t);
    /* rows >= cols: t = q (rows x cols); else t = q^T (k x m = rows x cols) */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            d[r * cols + c] = (float)(gain * (rows >= cols ? q[r * k + c] : q[c * k + r]));
    free(q);
    return CG_OK;
}

cg_status cg_init_fill(cg_tensor *t, cg_init init, cg_rng *rng) {
    if (!t) return cg_set_error(CG_ERR_NULL, "cg_init_fill: tensor is NULL");
    if (t->dtype != CG_FLOAT32 || !cg_is_contiguous(t))
        return cg_set_error(CG_ERR_DTYPE, "cg_init_fill: needs a contiguous float32 tensor, got %s %s",
                            cg_dtype_name(t->dtype), cg_shape_str(t));
    if (!rng) rng = cg_default_rng();
    double fin, fout;
    fans(t, &fin, &fout);
    cg_tensor *v = NULL;
    cg_scope *s = cg_scope_begin(); /* random draws are temporary */
    cg_status st = CG_OK;
    switch (init.kind) {
    case CG_INIT_DEFAULT:
    case CG_INIT_ZEROS: cg_k_fill_(t, 0); break;
    case CG_INIT_ONES: cg_k_fill_(t, 1); break;
    case CG_INIT_ORTHOGONAL: st = orthogonal(t, init.a ? init.a : 1.0, rng); break;
    case CG_INIT_IDENTITY:
        if (t->ndim != 2) {
            st = cg_set_error(CG_ERR_SHAPE, "cg_init_fill: identity needs a 2-D tensor, got %s", cg_shape_str(t));
            break;
        }
        cg_k_fill_(t, 0);
        for (int64_t i = 0; i < t->shape[0] && i < t->shape[1]; i++)
            cg_data_f32(t)[i * t->shape[1] + i] = (float)(init.a ? init.a : 1.0);
        break;
    case CG_INIT_GLOROT_UNIFORM: {
        double lim = fin + fout > 0 ? sqrt(6.0 / (fin + fout)) : 0;
        v = cg_uniform(rng, CG_FLOAT32, -lim, lim, t->shape, t->ndim);
        break;
    }
    case CG_INIT_RANDOM_NORMAL: v = cg_normal(rng, CG_FLOAT32, 0, init.a, t->shape, t->ndim); break;
    case CG_INIT_UNIFORM: v = cg_uniform(rng, CG_FLOAT32, -init.a, init.a, t->shape, t->ndim); break;
    default: st = cg_set_error(CG_ERR_VALUE, "cg_init_fill: unknown initializer %d", (int)init.kind);
    }
    bool drawn = init.kind == CG_INIT_GLOROT_UNIFORM || init.kind == CG_INIT_RANDOM_NORMAL || init.kind == CG_INIT_UNIFORM;
    if (st == CG_OK && drawn && (!v || !cg_k_copy_(t, v))) st = cg_last_status();
    cg_scope_end(s);
    return st;
}
