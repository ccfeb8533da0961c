/* Time series: sliding windows, scalers, and the lessons' synthetic data. */
#include "datasets_internal.h"

#include <math.h>
#include <stdlib.h>

/* A float64 copy of x (contiguous) or NULL with an error naming op. */
static cg_tensor *as_f64(const char *op, const cg_tensor *x) {
    if (!x) {
        cg_set_error(CG_ERR_NULL, "%s: input is NULL", op);
        return NULL;
    }
    if (!cg_dtype_is_float(x->dtype)) {
        cg_set_error(CG_ERR_DTYPE, "%s: expected a float tensor, got %s", op, cg_dtype_name(x->dtype));
        return NULL;
    }
    return cg_to_dtype(x, CG_FLOAT64);
}

/* t (float64) converted to dt; t itself when dt is float64. */
static cg_tensor *to(cg_tensor *t, cg_dtype dt) { return !t || dt == CG_FLOAT64 ? t : cg_to_dtype(t, dt); }

cg_status cg_timeseries_windows(const cg_tensor *series, int64_t steps, bool pad_tail, cg_tensor **x, cg_tensor **y) {
    const char *op = "cg_timeseries_windows";
    if (!x || !y) return cg_set_error(CG_ERR_NULL, "%s: x or y is NULL", op);
    *x = *y = NULL;
    cg_tensor *s = as_f64(op, series);
    if (!s) return cg_last_status();
    if (s->ndim < 1 || s->ndim > 2)
        return cg_set_error(CG_ERR_SHAPE, "%s: series %s must be [T] or [T, F]", op, cg_shape_str(s));
    int64_t T = s->shape[0], F = s->ndim == 2 ? s->shape[1] : 1, N = T + (pad_tail ? steps : 0) - steps;
    if (steps < 1 || T < 1 || N < 1)
        return cg_set_error(CG_ERR_VALUE, "%s: a series of length %lld gives no window of %lld steps%s", op,
                            (long long)T, (long long)steps, pad_tail ? " (with padding)" : "");
    cg_tensor *X = cg_empty(CG_FLOAT64, CG_SHAPE(N, steps, F)), *Y = cg_empty(CG_FLOAT64, CG_SHAPE(N, F));
    if (!X || !Y) return cg_last_status();
    const double *d = cg_data_f64(s);
    double *px = cg_data_f64(X), *py = cg_data_f64(Y);
#define AT(t, f) d[((t) < T ? (t) : T - 1) * F + (f)]
    for (int64_t i = 0; i < N; i++)
        for (int64_t f = 0; f < F; f++) {
            for (int64_t k = 0; k < steps; k++) px[(i * steps + k) * F + f] = AT(i + k, f);
            py[i * F + f] = AT(i + steps, f);
        }
#undef AT
    *x = to(X, series->dtype);
    *y = to(Y, series->dtype);
    return *x && *y ? CG_OK : cg_last_status();
}

/* ---------------------------------------------------------------- scalers */

struct cg_scaler {
    cg_scaler_kind kind;
    double lo, hi, clip_lo, clip_hi;
    bool clip;
    int64_t nf;
    double *shift, *scale; /* y = (x - shift) * scale + offset */
    double offset;
};

cg_scaler *cg_scaler_new(cg_scaler_kind kind, double lo, double hi) {
    if (kind != CG_SCALE_STANDARD && kind != CG_SCALE_MINMAX) {
        cg_set_error(CG_ERR_VALUE, "cg_scaler_new: unknown kind %d", (int)kind);
        return NULL;
    }
    if (kind == CG_SCALE_MINMAX && !(lo < hi)) {
        cg_set_error(CG_ERR_VALUE, "cg_scaler_new: min-max range [%g, %g] is empty", lo, hi);
        return NULL;
    }
    cg_scaler *s = calloc(1, sizeof *s);
    if (!s) return cg_set_error(CG_ERR_NOMEM, "cg_scaler_new: out of memory"), NULL;
    *s = (cg_scaler){.kind = kind, .lo = lo, .hi = hi, .offset = kind == CG_SCALE_MINMAX ? lo : 0};
    return s;
}

void cg_scaler_free(cg_scaler *s) {
    if (!s) return;
    free(s->shift);
    free(s->scale);
    free(s);
}

void cg_scaler_set_clip(cg_scaler *s, double lo, double hi) {
    if (!s) return;
    s->clip = true;
    s->clip_lo = lo;
    s->clip_hi = hi;
}

static int64_t features(const cg_tensor *x) { return x->ndim <= 1 ? 1 : x->shape[x->ndim - 1]; }

cg_status cg_scaler_fit(cg_scaler *s, const cg_tensor *x) {
    if (!s) return cg_set_error(CG_ERR_NULL, "cg_scaler_fit: scaler is NULL");
    cg_tensor *v = as_f64("cg_scaler_fit", x);
    if (!v) return cg_last_status();
    int64_t nf = features(v), rows = nf ? cg_numel(v) / nf : 0;
    if (rows == 0) return cg_set_error(CG_ERR_VALUE, "cg_scaler_fit: %s has no samples", cg_shape_str(v));
    double *shift = calloc((size_t)nf, sizeof *shift), *scale = calloc((size_t)nf, sizeof *scale);
    if (!shift || !scale) {
        free(shift), free(scale);
        return cg_set_error(CG_ERR_NOMEM, "cg_scaler_fit: out of memory");
    }
    const double *d = cg_data_f64(v);
    for (int64_t f = 0; f < nf; f++) {
        double a = 0, b = 0; /* mean and sum of squares, or min and max */
        if (s->kind == CG_SCALE_STANDARD) {
            for (int64_t r = 0; r < rows; r++) a += d[r * nf + f];
            a /= (double)rows;
            for (int64_t r = 0; r < rows; r++) b += (d[r * nf + f] - a) * (d[r * nf + f] - a);
            double sd = sqrt(b / (double)rows);
            shift[f] = a;
            scale[f] = sd > 0 ? 1.0 / sd : 1.0;
        } else {
            a = b = d[f];
            for (int64_t r = 1; r < rows; r++) a = fmin(a, d[r * nf + f]), b = fmax(b, d[r * nf + f]);
            shift[f] = a;
            scale[f] = b > a ? (s->hi - s->lo) / (b - a) : 1.0;
        }
    }
    free(s->shift), free(s->scale);
    s->shift = shift, s->scale = scale, s->nf = nf;
    return CG_OK;
}

static cg_tensor *apply(const char *op, const cg_scaler *s, const cg_tensor *x, bool inverse) {
    if (!s) return cg_set_error(CG_ERR_NULL, "%s: scaler is NULL", op), NULL;
    if (!s->nf) return cg_set_error(CG_ERR_STATE, "%s: the scaler is not fitted", op), NULL;
    cg_tensor *v = as_f64(op, x);
    if (!v) return NULL;
    if (features(v) != s->nf) {
        cg_set_error(CG_ERR_SHAPE, "%s: %s has %lld feature(s), the scaler was fitted on %lld", op, cg_shape_str(v),
                     (long long)features(v), (long long)s->nf);
        return NULL;
    }
    double *d = cg_data_f64(v);
    for (int64_t i = 0, n = cg_numel(v); i < n; i++) {
        int64_t f = i % s->nf;
        if (inverse) {
            d[i] = (d[i] - s->offset) / s->scale[f] + s->shift[f];
        } else {
            d[i] = (d[i] - s->shift[f]) * s->scale[f] + s->offset;
            if (s->clip) d[i] = fmin(fmax(d[i], s->clip_lo), s->clip_hi);
        }
    }
    return to(v, x->dtype);
}

cg_tensor *cg_scaler_transform(const cg_scaler *s, const cg_tensor *x) { return apply("cg_scaler_transform", s, x, false); }
cg_tensor *cg_scaler_inverse(const cg_scaler *s, const cg_tensor *x) { return apply("cg_scaler_inverse", s, x, true); }

/* -------------------------------------------------------------- synthetic */

static bool float_and_size(const char *op, cg_dtype dt, int64_t n) {
    if (!cg_dtype_is_float(dt)) return cg_set_error(CG_ERR_DTYPE, "%s: dtype must be float", op), false;
    if (n < 0) return cg_set_error(CG_ERR_VALUE, "%s: n = %lld must be >= 0", op, (long long)n), false;
    return true;
}

cg_tensor *cg_noisy_sine(cg_rng *rng, cg_dtype dt, int64_t n) {
    if (!float_and_size("cg_noisy_sine", dt, n)) return NULL;
    cg_tensor *x = cg_rand(rng, CG_FLOAT64, &n, 1);
    if (!x) return NULL;
    double *d = cg_data_f64(x);
    for (int64_t t = 0; t < n; t++) d[t] = sin(0.02 * (double)t) + 2.0 * d[t];
    return to(x, dt);
}

cg_tensor *cg_counting_sequence(cg_dtype dt, int64_t n) {
    if (!float_and_size("cg_counting_sequence", dt, n)) return NULL;
    cg_tensor *x = cg_empty(CG_FLOAT64, &n, 1);
    if (!x) return NULL;
    double *d = cg_data_f64(x);
    for (int64_t i = 0; i < n; i++) d[i] = (double)i / (double)n;
    return to(x, dt);
}

cg_status cg_multiplication_problem(cg_rng *rng, cg_dtype dt, int64_t n, int64_t steps, cg_tensor **x, cg_tensor **y) {
    const char *op = "cg_multiplication_problem";
    if (!x || !y) return cg_set_error(CG_ERR_NULL, "%s: x or y is NULL", op);
    *x = *y = NULL;
    if (!float_and_size(op, dt, n)) return cg_last_status();
    if (steps < 2) return cg_set_error(CG_ERR_VALUE, "%s: steps = %lld must be >= 2", op, (long long)steps);
    if (!rng) rng = cg_default_rng();
    cg_tensor *v = cg_rand(rng, CG_FLOAT64, CG_SHAPE(n, steps)), *X = cg_zeros(CG_FLOAT64, CG_SHAPE(n, steps, 2)),
              *Y = cg_empty(CG_FLOAT64, CG_SHAPE(n, 1));
    if (!v || !X || !Y) return cg_last_status();
    const double *u = cg_data_f64(v);
    double *px = cg_data_f64(X), *py = cg_data_f64(Y);
    int64_t half = steps / 2;
    for (int64_t i = 0; i < n; i++) {
        int64_t a = (int64_t)(cg_rng_uniform(rng) * (double)half);
        int64_t b = half + (int64_t)(cg_rng_uniform(rng) * (double)(steps - half));
        for (int64_t t = 0; t < steps; t++) px[(i * steps + t) * 2] = u[i * steps + t];
        px[(i * steps + a) * 2 + 1] = 1.0;
        px[(i * steps + b) * 2 + 1] = 1.0;
        py[i] = u[i * steps + a] * u[i * steps + b];
    }
    *x = to(X, dt);
    *y = to(Y, dt);
    return *x && *y ? CG_OK : cg_last_status();
}
