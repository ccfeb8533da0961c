/* Joining (concat, stack), splitting (chunk, split) and indexing
 * (index_select / index_add_, gather / scatter_add). */
#include "tensor_internal.h"

cg_tensor *cg_k_concat(const cg_tensor *const *ts, int n, int axis) {
    if (!ts || n <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_concat: needs at least one tensor");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!ts[i]) return cg__null_input("cg_concat");
    const cg_tensor *f = ts[0];
    int a = cg__axis("cg_concat", axis, f->ndim);
    if (a < 0) return NULL;
    int64_t shape[CG_MAX_DIMS];
    memcpy(shape, f->shape, sizeof shape);
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        const cg_tensor *t = ts[i];
        if (t->dtype != f->dtype) {
            cg_set_error(CG_ERR_DTYPE, "cg_concat: tensor %d is %s, tensor 0 is %s", i, cg_dtype_name(t->dtype),
                         cg_dtype_name(f->dtype));
            return NULL;
        }
        bool ok = t->ndim == f->ndim;
        for (int d = 0; ok && d < f->ndim; d++)
            if (d != a && t->shape[d] != f->shape[d]) ok = false;
        if (!ok) {
            cg_set_error(CG_ERR_SHAPE, "cg_concat: tensor %d has shape %s, tensor 0 has %s (axis %d may differ)", i,
                         cg_shape_str(t), cg_shape_str(f), axis);
            return NULL;
        }
        shape[a] += t->shape[a];
    }
    cg_tensor *out = cg__new(f->dtype, shape, f->ndim);
    if (!out) return NULL;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = ts[i]->shape[a];
        if (len == 0) continue;
        cg_tensor *dst = cg_k_slice(out, a, at, at + len, 1);
        if (!dst || !cg_k_copy_(dst, ts[i])) return NULL;
        at += len;
    }
    out->storage->version = 0;
    return out;
}

cg_tensor *cg_k_stack(const cg_tensor *const *ts, int n, int axis) {
    if (!ts || n <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_stack: needs at least one tensor");
        return NULL;
    }
    const cg_tensor **u = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)n, false);
    if (!u) return NULL;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return cg__null_input("cg_stack");
        if (!cg_same_shape(ts[i], ts[0])) {
            cg_set_error(CG_ERR_SHAPE, "cg_stack: tensor %d has shape %s, tensor 0 has %s", i, cg_shape_str(ts[i]),
                         cg_shape_str(ts[0]));
            return NULL;
        }
        if (!(u[i] = cg_k_unsqueeze(ts[i], axis))) return NULL;
    }
    return cg_k_concat(u, n, axis);
}

int cg_k_chunk(const cg_tensor *x, int n, int axis, cg_tensor **out) {
    if (!x || !out) {
        cg__null_input("cg_chunk");
        return -1;
    }
    if (n <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_chunk: number of chunks %d must be > 0", n);
        return -1;
    }
    int a = cg__axis("cg_chunk", axis, x->ndim);
    if (a < 0) return -1;
    int64_t len = x->shape[a];
    int64_t size = (len + n - 1) / n;
    if (len == 0) {
        for (int i = 0; i < n; i++)
            if (!(out[i] = cg_k_slice(x, a, 0, 0, 1))) return -1;
        return n;
    }
    int k = 0;
    for (int64_t at = 0; at < len; at += size, k++)
        if (!(out[k] = cg_k_slice(x, a, at, at + size, 1))) return -1;
    return k;
}

cg_status cg_k_split(const cg_tensor *x, const int64_t *sizes, int n, int axis, cg_tensor **out) {
    if (!x || !sizes || !out) {
        cg__null_input("cg_split");
        return CG_ERR_NULL;
    }
    int a = cg__axis("cg_split", axis, x->ndim);
    if (a < 0) return CG_ERR_INDEX;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0) return cg_set_error(CG_ERR_VALUE, "cg_split: size %lld is negative", (long long)sizes[i]);
        total += sizes[i];
    }
    if (total != x->shape[a])
        return cg_set_error(CG_ERR_SHAPE, "cg_split: sizes sum to %lld but axis %d of %s has %lld", (long long)total,
                            axis, cg_shape_str(x), (long long)x->shape[a]);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (!(out[i] = cg_k_slice(x, a, at, at + sizes[i], 1))) return cg_last_status();
        at += sizes[i];
    }
    return CG_OK;
}

/* ----------------------------------------------------------- index_select */

static bool check_index(const char *op, const cg_tensor *idx, int64_t limit, bool one_d) {
    if (idx->dtype != CG_INT64) {
        cg_set_error(CG_ERR_DTYPE, "%s: indices must be int64, got %s", op, cg_dtype_name(idx->dtype));
        return false;
    }
    if (one_d && idx->ndim > 1) {
        cg_set_error(CG_ERR_SHAPE, "%s: indices must be 1-D, got %s", op, cg_shape_str(idx));
        return false;
    }
    /* every value in [0, limit) */
    const cg_tensor *ops[1] = {idx};
    cg_iter it;
    cg__iter_init(&it, idx->shape, idx->ndim, ops, 1);
    int64_t n = it.numel, flat = 0;
    int64_t pos[CG_MAX_DIMS] = {0};
    const int64_t *base = cg_data(idx);
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < idx->ndim; d++) off += pos[d] * idx->strides[d];
        int64_t v = base[off];
        if (v < 0 || v >= limit) {
            cg_set_error(CG_ERR_INDEX, "%s: index %lld at position %lld is out of range [0, %lld)", op, (long long)v,
                         (long long)flat, (long long)limit);
            return false;
        }
        flat++;
        for (int d = idx->ndim - 1; d >= 0; d--) {
            if (++pos[d] < idx->shape[d]) break;
            pos[d] = 0;
        }
    }
    return true;
}

/* The ids of a 0-D or 1-D index tensor, read in a loop without a call per id. */
typedef struct {
    const int64_t *p;
    int64_t stride;
} ids;
static ids ids_of(const cg_tensor *idx) { return (ids){cg_data(idx), idx->ndim == 0 ? 0 : idx->strides[0]}; }
CG_INLINE int64_t id_at(ids v, int64_t i) { return v.p[i * v.stride]; }
static int64_t idx_at(const cg_tensor *idx, int64_t i) { return id_at(ids_of(idx), i); }

/* Rows picked at random from a table bigger than the caches wait on
 * memory one after another; fetching the row ROW_AHEAD places ahead while
 * this one is copied keeps several on their way. An embedding lookup of
 * 1280 of 10,000 rows of 128 floats, the table out of the caches, one
 * thread, best of 200: index_select 68 -> 59 us, index_add_ 46 -> 42 us.
 * Long rows stream well without it. */
#define ROW_AHEAD 8
CG_INLINE void prefetch_row(ids idx, int64_t i, int64_t n, const char *base, size_t bytes, int rw) {
    if (i >= n || bytes > 4096) return;
    const char *r = base + (size_t)id_at(idx, i) * bytes;
    for (size_t o = 0; o < bytes; o += 64) {
        if (rw) __builtin_prefetch(r + o, 1, 3);
        else __builtin_prefetch(r + o, 0, 3);
    }
}

cg_tensor *cg_k_index_select(const cg_tensor *x, int axis, const cg_tensor *idx) {
    CG_CHECK_NULL2("cg_index_select", x, idx);
    int a = cg__axis("cg_index_select", axis, x->ndim);
    if (a < 0 || !check_index("cg_index_select", idx, x->shape[a], true)) return NULL;
    int64_t n = cg_numel(idx);
    int64_t shape[CG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = n;
    cg_tensor *out = cg__new(x->dtype, shape, x->ndim);
    if (!out) return NULL;
    if (n == 0 || cg_numel(out) == 0) return out;
    size_t es = cg_dtype_size(x->dtype);
    if (a == 0 && cg_is_contiguous(x)) {
        /* the embedding lookup: whole rows */
        int64_t row = cg_numel(x) / x->shape[0];
        const char *src = cg_data(x);
        char *dst = cg_data(out);
        int nt = cg__threads_for(n * row);
        ids v = ids_of(idx);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int64_t i = 0; i < n; i++) {
            prefetch_row(v, i + ROW_AHEAD, n, src, (size_t)row * es, 0);
            cg__copy_bytes(dst + (size_t)(i * row) * es, src + (size_t)(id_at(v, i) * row) * es, (size_t)row * es);
        }
        return out;
    }
    for (int64_t i = 0; i < n; i++) {
        cg_tensor *d = cg_k_select(out, a, i), *s = cg_k_select(x, a, idx_at(idx, i));
        if (!d || !s || !cg_k_copy_(d, s)) return NULL;
    }
    return out;
}

/* d[idx[i]] += s[i] for n rows of row floats each, fetching ahead. */
CG_HOT static void add_rows(float *d, const float *s, ids idx, int64_t n, int64_t row) {
    for (int64_t i = 0; i < n; i++) {
        prefetch_row(idx, i + ROW_AHEAD, n, (const char *)d, (size_t)row * sizeof(float), 1);
        float *dr = d + id_at(idx, i) * row;
        const float *sr = s + i * row;
        _Pragma("omp simd") for (int64_t k = 0; k < row; k++) dr[k] += sr[k];
    }
}

cg_tensor *cg_k_index_add_(cg_tensor *dst, int axis, const cg_tensor *idx, const cg_tensor *src) {
    if (!dst || !idx || !src) return cg__null_input("cg_index_add_");
    int a = cg__axis("cg_index_add_", axis, dst->ndim);
    if (a < 0 || !check_index("cg_index_add_", idx, dst->shape[a], true) || !cg__writable("cg_index_add_", dst))
        return NULL;
    int64_t n = cg_numel(idx);
    bool ok = src->ndim == dst->ndim && src->dtype == dst->dtype && src->shape[a] == n;
    for (int d = 0; ok && d < dst->ndim; d++)
        if (d != a && src->shape[d] != dst->shape[d]) ok = false;
    if (!ok) {
        cg_set_error(CG_ERR_SHAPE, "cg_index_add_: source %s %s does not fit destination %s %s with %lld indices on axis %d",
                     cg_dtype_name(src->dtype), cg_shape_str(src), cg_dtype_name(dst->dtype), cg_shape_str(dst),
                     (long long)n, axis);
        return NULL;
    }
    if (a == 0 && cg_is_contiguous(dst) && cg_is_contiguous(src) && dst->dtype == CG_FLOAT32) {
        int64_t row = dst->shape[0] ? cg_numel(dst) / dst->shape[0] : 0;
        add_rows(cg_data(dst), cg_data(src), ids_of(idx), n, row);
    } else {
        for (int64_t i = 0; i < n; i++) {
            cg_tensor *d = cg_k_select(dst, a, idx_at(idx, i)), *s = cg_k_select(src, a, i);
            if (!d || !s || !cg_k_binary_(CG_ADD, d, s)) return NULL;
        }
    }
    dst->storage->version++;
    return dst;
}

/* ------------------------------------------------------ gather / scatter */

static bool check_gather(const char *op, const cg_tensor *x, int a, const cg_tensor *idx, const cg_tensor *src) {
    if (src && (src->ndim != x->ndim || src->dtype != x->dtype)) {
        cg_set_error(CG_ERR_SHAPE, "%s: source %s %s must match destination %s %s in rank and dtype", op,
                     cg_dtype_name(src->dtype), cg_shape_str(src), cg_dtype_name(x->dtype), cg_shape_str(x));
        return false;
    }
    if (idx->ndim != x->ndim) {
        cg_set_error(CG_ERR_SHAPE, "%s: index %s must have the rank of %s", op, cg_shape_str(idx), cg_shape_str(x));
        return false;
    }
    for (int d = 0; d < x->ndim; d++) {
        if (d != a && idx->shape[d] > x->shape[d]) {
            cg_set_error(CG_ERR_SHAPE, "%s: index %s is larger than %s in dim %d", op, cg_shape_str(idx),
                         cg_shape_str(x), d);
            return false;
        }
        if (src && src->shape[d] < idx->shape[d]) {
            cg_set_error(CG_ERR_SHAPE, "%s: source %s is smaller than index %s in dim %d", op, cg_shape_str(src),
                         cg_shape_str(idx), d);
            return false;
        }
    }
    return check_index(op, idx, x->shape[a], false);
}

/* Walk every position of idx; call body with x offset (dim a from idx) and
 * position offsets into idx / other (other laid out with its own strides). */
static void walk_gather(const cg_tensor *x, int a, const cg_tensor *idx, const cg_tensor *other,
                        void (*body)(char *xp, char *op, size_t es), cg_tensor *mut_x) {
    int64_t n = cg_numel(idx);
    int64_t pos[CG_MAX_DIMS] = {0};
    const int64_t *ib = cg_data(idx);
    char *xb = cg_data(mut_x ? mut_x : x);
    char *ob = cg_data(other);
    size_t es = cg_dtype_size(x->dtype);
    for (int64_t k = 0; k < n; k++) {
        int64_t io = 0, xo = 0, oo = 0;
        for (int d = 0; d < idx->ndim; d++) {
            io += pos[d] * idx->strides[d];
            oo += pos[d] * other->strides[d];
            if (d != a) xo += pos[d] * x->strides[d];
        }
        xo += ib[io] * x->strides[a];
        body(xb + xo * (int64_t)es, ob + oo * (int64_t)es, es);
        for (int d = idx->ndim - 1; d >= 0; d--) {
            if (++pos[d] < idx->shape[d]) break;
            pos[d] = 0;
        }
    }
}

static void gather_body(char *xp, char *op, size_t es) { memcpy(op, xp, es); }

static _Thread_local cg_dtype g_scatter_dt; /* set before walking; the walk is serial */
static void scatter_body(char *xp, char *sp, size_t es) {
    (void)es;
    switch (g_scatter_dt) {
    case CG_FLOAT32: *(float *)xp += *(const float *)sp; break;
    case CG_FLOAT64: *(double *)xp += *(const double *)sp; break;
    case CG_INT64: *(int64_t *)xp += *(const int64_t *)sp; break;
    }
}

cg_tensor *cg_k_gather(const cg_tensor *x, int axis, const cg_tensor *idx) {
    CG_CHECK_NULL2("cg_gather", x, idx);
    int a = cg__axis("cg_gather", axis, x->ndim);
    if (a < 0 || !check_gather("cg_gather", x, a, idx, NULL)) return NULL;
    cg_tensor *out = cg__new(x->dtype, idx->shape, idx->ndim);
    if (!out) return NULL;
    walk_gather(x, a, idx, out, gather_body, NULL);
    return out;
}

cg_tensor *cg_k_scatter_add_(cg_tensor *dst, int axis, const cg_tensor *idx, const cg_tensor *src) {
    if (!dst || !idx || !src) return cg__null_input("cg_scatter_add_");
    int a = cg__axis("cg_scatter_add_", axis, dst->ndim);
    if (a < 0 || !check_gather("cg_scatter_add_", dst, a, idx, src) || !cg__writable("cg_scatter_add_", dst)) return NULL;
    g_scatter_dt = dst->dtype;
    walk_gather(dst, a, idx, (cg_tensor *)src, scatter_body, dst);
    dst->storage->version++;
    return dst;
}

cg_tensor *cg_k_scatter_add(const cg_tensor *x, int axis, const cg_tensor *idx, const cg_tensor *src) {
    CG_CHECK_NULL1("cg_scatter_add", x);
    cg_tensor *c = cg_clone(x);
    return c ? cg_k_scatter_add_(c, axis, idx, src) : NULL;
}
