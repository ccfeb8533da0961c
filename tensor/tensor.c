/* Tensor structs, creation, element access and dtype casts. */
#include "tensor_internal.h"

#include <stdlib.h>

size_t cg_dtype_size(cg_dtype dt) {
    switch (dt) {
    case CG_FLOAT32: return 4;
    case CG_FLOAT64: return 8;
    case CG_INT64: return 8;
    }
    return 0;
}

const char *cg_dtype_name(cg_dtype dt) {
    switch (dt) {
    case CG_FLOAT32: return "float32";
    case CG_FLOAT64: return "float64";
    case CG_INT64: return "int64";
    }
    return "?";
}

bool cg_dtype_is_float(cg_dtype dt) { return dt == CG_FLOAT32 || dt == CG_FLOAT64; }

static bool valid_dtype(cg_dtype dt) { return dt == CG_FLOAT32 || dt == CG_FLOAT64 || dt == CG_INT64; }

int64_t cg_numel(const cg_tensor *t) {
    if (!t) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

void cg__contig_strides(const int64_t *shape, int ndim, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

bool cg_is_contiguous(const cg_tensor *t) {
    if (!t) return false;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 0) return true;
        if (t->shape[i] != 1 && t->strides[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool cg_same_shape(const cg_tensor *a, const cg_tensor *b) {
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

void *cg_data(const cg_tensor *t) {
    if (!t) return NULL;
    return (char *)t->storage->data + t->offset * (int64_t)cg_dtype_size(t->dtype);
}

static void *typed_data(const cg_tensor *t, cg_dtype want) {
    if (!t) return cg__null_input("cg_data");
    if (t->dtype != want) {
        cg_set_error(CG_ERR_DTYPE, "cg_data_%s: tensor is %s", cg_dtype_name(want) + 0,
                     cg_dtype_name(t->dtype));
        return NULL;
    }
    return cg_data(t);
}
float *cg_data_f32(const cg_tensor *t) { return typed_data(t, CG_FLOAT32); }
double *cg_data_f64(const cg_tensor *t) { return typed_data(t, CG_FLOAT64); }
int64_t *cg_data_i64(const cg_tensor *t) { return typed_data(t, CG_INT64); }

/* ----------------------------------------------------------------- structs */

cg_tensor *cg__view_of(const cg_tensor *base) {
    cg_scope *s = cg_scope_current();
    cg_tensor *t = cg_arena_alloc(s, sizeof *t, false);
    if (!t) return NULL;
    *t = *base;
    t->scope = s;
    t->autograd = NULL;
    return t;
}

cg_tensor *cg__new(cg_dtype dt, const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    size_t bytes = (size_t)n * cg_dtype_size(dt);
    cg_scope *s = cg_scope_current();
    /* struct, storage and data in one bump when the data is small */
    size_t head = (sizeof(cg_tensor) + 63) / 64 * 64 + (sizeof(cg_storage) + 63) / 64 * 64;
    char *mem;
    char *data;
    uint64_t serial;
    void *reuse = cg__recycled(s, bytes, &serial);
    if (reuse) {
        mem = cg_arena_alloc(s, head, false);
        if (!mem) return NULL;
        data = reuse;
    } else if (bytes <= 4096) {
        mem = cg_arena_alloc(s, head + bytes, false);
        if (!mem) return NULL;
        data = mem + head;
    } else {
        mem = cg_arena_alloc(s, head, false);
        data = mem ? cg_arena_alloc(s, bytes, false) : NULL;
        if (!data) return NULL;
    }
    cg_tensor *t = (cg_tensor *)mem;
    cg_storage *st = (cg_storage *)(mem + (sizeof(cg_tensor) + 63) / 64 * 64);
    st->data = data;
    st->nbytes = bytes;
    st->version = 0;
    st->scope = s;
    st->serial = serial;
    memset(t, 0, sizeof *t);
    t->storage = st;
    t->offset = 0;
    t->ndim = ndim;
    t->dtype = dt;
    t->scope = s;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    cg__contig_strides(shape, ndim, t->strides);
    return t;
}

static bool check_shape(const char *op, const int64_t *shape, int ndim) {
    if (ndim < 0 || ndim > CG_MAX_DIMS) {
        cg_set_error(CG_ERR_SHAPE, "%s: %d dims (the limit is %d)", op, ndim, CG_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        cg_set_error(CG_ERR_NULL, "%s: shape is NULL but ndim is %d", op, ndim);
        return false;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            cg_set_error(CG_ERR_SHAPE, "%s: negative size %lld in shape %s", op,
                         (long long)shape[i], cg_dims_str(shape, ndim));
            return false;
        }
        if (shape[i] > 0 && n > INT64_MAX / 16 / shape[i]) {
            cg_set_error(CG_ERR_SHAPE, "%s: shape %s is too large", op, cg_dims_str(shape, ndim));
            return false;
        }
        n *= shape[i];
    }
    return true;
}

static bool check_dtype(const char *op, cg_dtype dt) {
    if (!valid_dtype(dt)) {
        cg_set_error(CG_ERR_DTYPE, "%s: unknown dtype %d", op, (int)dt);
        return false;
    }
    return true;
}

cg_tensor *cg_empty(cg_dtype dt, const int64_t *shape, int ndim) {
    if (!check_dtype("cg_empty", dt) || !check_shape("cg_empty", shape, ndim)) return NULL;
    return cg__new(dt, shape, ndim);
}

cg_tensor *cg_full(cg_dtype dt, const int64_t *shape, int ndim, double value) {
    if (!check_dtype("cg_full", dt) || !check_shape("cg_full", shape, ndim)) return NULL;
    cg_tensor *t = cg__new(dt, shape, ndim);
    return t ? cg_k_fill_(t, value) : NULL;
}

cg_tensor *cg_zeros(cg_dtype dt, const int64_t *shape, int ndim) {
    if (!check_dtype("cg_zeros", dt) || !check_shape("cg_zeros", shape, ndim)) return NULL;
    cg_tensor *t = cg__new(dt, shape, ndim);
    if (t) memset(t->storage->data, 0, t->storage->nbytes);
    return t;
}

cg_tensor *cg_ones(cg_dtype dt, const int64_t *shape, int ndim) { return cg_full(dt, shape, ndim, 1.0); }
cg_tensor *cg_scalar(cg_dtype dt, double v) { return cg_full(dt, NULL, 0, v); }

cg_tensor *cg_from_data(cg_dtype dt, const int64_t *shape, int ndim, const void *data) {
    if (!check_dtype("cg_from_data", dt) || !check_shape("cg_from_data", shape, ndim)) return NULL;
    cg_tensor *t = cg__new(dt, shape, ndim);
    if (!t) return NULL;
    if (t->storage->nbytes) {
        if (!data) {
            cg_set_error(CG_ERR_NULL, "cg_from_data: data is NULL for shape %s", cg_shape_str(t));
            return NULL;
        }
        cg__copy_bytes(t->storage->data, data, t->storage->nbytes);
    }
    return t;
}

cg_tensor *cg_empty_like(const cg_tensor *t) {
    CG_CHECK_NULL1("cg_empty_like", t);
    return cg__new(t->dtype, t->shape, t->ndim);
}
cg_tensor *cg_zeros_like(const cg_tensor *t) {
    CG_CHECK_NULL1("cg_zeros_like", t);
    return cg_zeros(t->dtype, t->shape, t->ndim);
}
cg_tensor *cg_ones_like(const cg_tensor *t) {
    CG_CHECK_NULL1("cg_ones_like", t);
    return cg_ones(t->dtype, t->shape, t->ndim);
}

/* double -> int64 without undefined behaviour: truncates toward zero,
 * saturates out of range, NaN becomes 0. */
static int64_t to_i64(double v) {
    if (isnan(v)) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static void store(void *p, cg_dtype dt, int64_t i, double v) {
    switch (dt) {
    case CG_FLOAT32: ((float *)p)[i] = (float)v; break;
    case CG_FLOAT64: ((double *)p)[i] = v; break;
    case CG_INT64: ((int64_t *)p)[i] = to_i64(v); break;
    }
}

cg_tensor *cg_arange(cg_dtype dt, double start, double stop, double step) {
    if (!check_dtype("cg_arange", dt)) return NULL;
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        cg_set_error(CG_ERR_VALUE, "cg_arange: start %g, stop %g, step %g: need finite values and step != 0",
                     start, stop, step);
        return NULL;
    }
    double nf = ceil((stop - start) / step);
    int64_t n = nf > 0 ? (int64_t)nf : 0;
    cg_tensor *t = cg__new(dt, &n, 1);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) store(t->storage->data, dt, i, start + (double)i * step);
    return t;
}

cg_tensor *cg_linspace(cg_dtype dt, double a, double b, int64_t n) {
    if (!check_dtype("cg_linspace", dt)) return NULL;
    if (n < 0) {
        cg_set_error(CG_ERR_VALUE, "cg_linspace: n = %lld must be >= 0", (long long)n);
        return NULL;
    }
    cg_tensor *t = cg__new(dt, &n, 1);
    if (!t) return NULL;
    double step = n > 1 ? (b - a) / (double)(n - 1) : 0;
    for (int64_t i = 0; i < n; i++) store(t->storage->data, dt, i, i == n - 1 && n > 1 ? b : a + (double)i * step);
    return t;
}

cg_tensor *cg_eye(cg_dtype dt, int64_t n) {
    if (n < 0) {
        cg_set_error(CG_ERR_VALUE, "cg_eye: n = %lld must be >= 0", (long long)n);
        return NULL;
    }
    cg_tensor *t = cg_zeros(dt, CG_SHAPE(n, n));
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) store(t->storage->data, dt, i * n + i, 1.0);
    return t;
}

/* ------------------------------------------------------------- element IO */

static double load(const void *p, cg_dtype dt) {
    switch (dt) {
    case CG_FLOAT32: return *(const float *)p;
    case CG_FLOAT64: return *(const double *)p;
    case CG_INT64: return (double)*(const int64_t *)p;
    }
    return NAN;
}

static void *elem_ptr(const char *op, const cg_tensor *t, const int64_t *idx) {
    if (!t) return cg__null_input(op);
    if (t->ndim > 0 && !idx) {
        cg_set_error(CG_ERR_NULL, "%s: index is NULL for a tensor of shape %s", op, cg_shape_str(t));
        return NULL;
    }
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        int64_t k = idx[i] < 0 ? idx[i] + t->shape[i] : idx[i];
        if (k < 0 || k >= t->shape[i]) {
            cg_set_error(CG_ERR_INDEX, "%s: index %lld is out of range for dim %d of shape %s", op,
                         (long long)idx[i], i, cg_shape_str(t));
            return NULL;
        }
        off += k * t->strides[i];
    }
    return (char *)t->storage->data + off * (int64_t)cg_dtype_size(t->dtype);
}

double cg_get(const cg_tensor *t, const int64_t *idx) {
    void *p = elem_ptr("cg_get", t, idx);
    return p ? load(p, t->dtype) : NAN;
}

cg_status cg_set(cg_tensor *t, const int64_t *idx, double v) {
    void *p = elem_ptr("cg_set", t, idx);
    if (!p) return cg_last_status();
    store(p, t->dtype, 0, v);
    t->storage->version++;
    return CG_OK;
}

double cg_item(const cg_tensor *t) {
    if (!t) {
        cg__null_input("cg_item");
        return NAN;
    }
    if (cg_numel(t) != 1) {
        cg_set_error(CG_ERR_SHAPE, "cg_item: tensor of shape %s has %lld elements, not 1",
                     cg_shape_str(t), (long long)cg_numel(t));
        return NAN;
    }
    return load(cg_data(t), t->dtype);
}

cg_status cg_copy_out(const cg_tensor *t, void *dst, size_t nbytes) {
    if (!t || !dst) {
        cg__null_input("cg_copy_out");
        return CG_ERR_NULL;
    }
    size_t need = (size_t)cg_numel(t) * cg_dtype_size(t->dtype);
    if (nbytes < need)
        return cg_set_error(CG_ERR_VALUE, "cg_copy_out: %zu bytes given, %zu needed for shape %s",
                            nbytes, need, cg_shape_str(t));
    if (cg_is_contiguous(t)) {
        if (need) cg__copy_bytes(dst, cg_data(t), need);
        return CG_OK;
    }
    /* a contiguous view over dst, on the stack: nothing is allocated */
    cg_storage st = {dst, need, 0, NULL, 0};
    cg_tensor d = *t;
    d.storage = &st;
    d.offset = 0;
    d.autograd = NULL;
    cg__contig_strides(t->shape, t->ndim, d.strides);
    return cg_k_copy_(&d, t) ? CG_OK : cg_last_status();
}

/* -------------------------------------------------------------- copies */

cg_tensor *cg_clone(const cg_tensor *t) {
    CG_CHECK_NULL1("cg_clone", t);
    cg_tensor *c = cg__new(t->dtype, t->shape, t->ndim);
    if (!c) return NULL;
    return cg_k_copy_(c, t);
}

cg_tensor *cg_k_contiguous(const cg_tensor *x) {
    CG_CHECK_NULL1("cg_contiguous", x);
    if (cg_is_contiguous(x)) return (cg_tensor *)x;
    return cg_clone(x);
}

typedef struct {
    cg_dtype from, to;
} cast_ctx;

static void cast_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    cast_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++) {
        const char *src = p[1] + i * s[1] * (int64_t)cg_dtype_size(c->from);
        char *dst = p[0] + i * s[0] * (int64_t)cg_dtype_size(c->to);
        if (c->from == CG_INT64 && c->to != CG_INT64) {
            store(dst, c->to, 0, (double)*(const int64_t *)src);
        } else if (c->to == CG_INT64) {
            double v = load(src, c->from);
            *(int64_t *)dst = c->from == CG_INT64 ? *(const int64_t *)src : to_i64(v);
        } else {
            store(dst, c->to, 0, load(src, c->from));
        }
    }
}

cg_tensor *cg_to_dtype(const cg_tensor *t, cg_dtype dt) {
    CG_CHECK_NULL1("cg_to_dtype", t);
    if (!check_dtype("cg_to_dtype", dt)) return NULL;
    if (t->dtype == dt) return cg_clone(t);
    cg_tensor *o = cg__new(dt, t->shape, t->ndim);
    if (!o) return NULL;
    const cg_tensor *ops[2] = {o, t};
    cg_iter it;
    cg__iter_init(&it, o->shape, o->ndim, ops, 2);
    cast_ctx c = {t->dtype, dt};
    cg__iter_run(&it, cast_row, &c);
    return o;
}
