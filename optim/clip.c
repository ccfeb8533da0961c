/* Gradient clipping by global norm and by value. */
#include "optim_internal.h"

#include <math.h>

#define NORM_CHUNKS 64 /* a tensor's sum of squares is split into this many fixed chunks */

/* Sum of squares with a chunking that does not depend on the thread count. */
static double sum_squares(const cg_tensor *g) {
    int64_t n = cg_numel(g), len = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
    bool f32 = g->dtype == CG_FLOAT32;
    const void *d = cg_data(g);
    double part[NORM_CHUNKS];
#pragma omp parallel for schedule(static) if (n >= OPTIM_GRAIN)
    for (int c = 0; c < NORM_CHUNKS; c++) {
        int64_t lo = c * len, hi = lo + len < n ? lo + len : n;
        double s = 0;
        if (f32)
            for (int64_t i = lo; i < hi; i++) s += (double)((const float *)d)[i] * ((const float *)d)[i];
        else
            for (int64_t i = lo; i < hi; i++) s += ((const double *)d)[i] * ((const double *)d)[i];
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < NORM_CHUNKS; c++) s += part[c];
    return s;
}

/* The gradients to clip: all must be contiguous float tensors. */
static bool check_grads(const char *fn, cg_tensor *const *params, int n) {
    if (!params && n > 0) return cg_set_error(CG_ERR_NULL, "%s: params is NULL", fn), false;
    for (int i = 0; i < n; i++) {
        const cg_tensor *g = params[i] ? cg_grad(params[i]) : NULL;
        if (!params[i]) return cg_set_error(CG_ERR_NULL, "%s: parameter %d is NULL", fn, i), false;
        if (g && (!cg_dtype_is_float(g->dtype) || !cg_is_contiguous(g)))
            return cg_set_error(CG_ERR_VALUE, "%s: the gradient of parameter %d %s is not a contiguous float tensor",
                                fn, i, cg_shape_str(g)),
                   false;
    }
    return true;
}

static void scale(cg_tensor *g, double s) {
    int64_t n = cg_numel(g);
    if (g->dtype == CG_FLOAT32) {
        float *d = cg_data_f32(g);
#pragma omp parallel for schedule(static) if (n >= OPTIM_GRAIN)
        for (int64_t i = 0; i < n; i++) d[i] = (float)(d[i] * s);
    } else {
        double *d = cg_data_f64(g);
#pragma omp parallel for schedule(static) if (n >= OPTIM_GRAIN)
        for (int64_t i = 0; i < n; i++) d[i] *= s;
    }
    g->storage->version++;
}

cg_status cg_clip_grad_norm(cg_tensor *const *params, int n, double max_norm, double *total_norm) {
    const char *fn = "cg_clip_grad_norm";
    if (!(max_norm >= 0)) return cg_set_error(CG_ERR_VALUE, "%s: max_norm = %g must be >= 0", fn, max_norm);
    if (!check_grads(fn, params, n)) return cg_last_status();
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (cg_grad(params[i])) ss += sum_squares(cg_grad(params[i]));
    double total = sqrt(ss);
    if (total_norm) *total_norm = total;
    if (!isfinite(total))
        return cg_set_error(CG_ERR_NUMERIC, "%s: the total gradient norm is %g; gradients left unchanged", fn, total);
    double coef = max_norm / (total + 1e-6);
    if (coef < 1)
        for (int i = 0; i < n; i++)
            if (cg_grad(params[i])) scale(cg_grad(params[i]), coef);
    return CG_OK;
}

cg_status cg_clip_grad_value(cg_tensor *const *params, int n, double clip_value) {
    const char *fn = "cg_clip_grad_value";
    if (!(clip_value >= 0)) return cg_set_error(CG_ERR_VALUE, "%s: clip_value = %g must be >= 0", fn, clip_value);
    if (!check_grads(fn, params, n)) return cg_last_status();
    for (int i = 0; i < n; i++) {
        cg_tensor *g = cg_grad(params[i]);
        if (!g) continue;
        int64_t m = cg_numel(g);
        if (g->dtype == CG_FLOAT32) {
            float *d = cg_data_f32(g), c = (float)clip_value;
#pragma omp parallel for schedule(static) if (m >= OPTIM_GRAIN)
            for (int64_t k = 0; k < m; k++) d[k] = d[k] > c ? c : d[k] < -c ? -c : d[k];
        } else {
            double *d = cg_data_f64(g), c = clip_value;
#pragma omp parallel for schedule(static) if (m >= OPTIM_GRAIN)
            for (int64_t k = 0; k < m; k++) d[k] = d[k] > c ? c : d[k] < -c ? -c : d[k];
        }
        g->storage->version++;
    }
    return CG_OK;
}
