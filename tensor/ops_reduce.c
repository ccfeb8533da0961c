/* Reductions over any set of axes, argmax/argmin, sum_to, (log_)softmax.
 * Each output element is reduced by one thread in a fixed order (float32
 * sums accumulate in double), so results do not depend on the thread count. */
#include "tensor_internal.h"

/* The public function names, which errors give; the op's own name follows "cg_". */
static const char *const red_fn[CG_REDOP_COUNT] = {"cg_sum", "cg_mean", "cg_max", "cg_min", "cg_prod", "cg_logsumexp"};
const char *cg_redop_name(cg_redop op) { return (unsigned)op < CG_REDOP_COUNT ? red_fn[op] + 3 : "?"; }

/* The input split into outer (kept) dims and inner (reduced) dims, each
 * coalesced. Outputs are numbered in row-major order of the kept dims. */
typedef struct {
    int nout, nin;
    int64_t oshape[CG_MAX_DIMS], ostr[CG_MAX_DIMS];
    int64_t ishape[CG_MAX_DIMS], istr[CG_MAX_DIMS];
    int64_t O, I;
} rplan;

static int coalesce(int n, int64_t *shape, int64_t *str) {
    int m = 0;
    for (int d = 0; d < n; d++) {
        if (shape[d] == 1) continue;
        if (m > 0 && str[m - 1] == str[d] * shape[d]) {
            shape[m - 1] *= shape[d];
            str[m - 1] = str[d];
        } else {
            shape[m] = shape[d];
            str[m] = str[d];
            m++;
        }
    }
    if (m == 0) {
        shape[0] = 1;
        str[0] = 0;
        m = 1;
    }
    return m;
}

static void make_plan(const cg_tensor *x, const bool *red, rplan *p) {
    p->nout = p->nin = 0;
    p->O = p->I = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (red[d]) {
            p->ishape[p->nin] = x->shape[d];
            p->istr[p->nin++] = x->strides[d];
            p->I *= x->shape[d];
        } else {
            p->oshape[p->nout] = x->shape[d];
            p->ostr[p->nout++] = x->strides[d];
            p->O *= x->shape[d];
        }
    }
    p->nout = coalesce(p->nout, p->oshape, p->ostr);
    p->nin = coalesce(p->nin, p->ishape, p->istr);
}

/* Element offset (in x) of output number o. */
static int64_t outer_offset(const rplan *p, int64_t o) {
    int64_t off = 0;
    for (int d = p->nout - 1; d >= 0; d--) {
        off += (o % p->oshape[d]) * p->ostr[d];
        o /= p->oshape[d];
    }
    return off;
}

/* Visit the reduced sub-space of one output as rows: fn(ptr_offset, n, stride). */
#define FOR_INNER_ROWS(p, BASEOFF, BODY)                                                            \
    do {                                                                                           \
        int64_t idx_[CG_MAX_DIMS] = {0};                                                           \
        int last_ = (p)->nin - 1;                                                                  \
        int64_t rows_ = (p)->I / (p)->ishape[last_];                                               \
        int64_t n = (p)->ishape[last_], s = (p)->istr[last_];                                      \
        for (int64_t r_ = 0; r_ < rows_; r_++) {                                                   \
            int64_t off = (BASEOFF);                                                               \
            for (int d_ = 0; d_ < last_; d_++) off += idx_[d_] * (p)->istr[d_];                    \
            BODY;                                                                                  \
            for (int d_ = last_ - 1; d_ >= 0; d_--) {                                              \
                if (++idx_[d_] < (p)->ishape[d_]) break;                                           \
                idx_[d_] = 0;                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Sum of n elements `s` apart, in double; unit stride uses 8 partial sums in
 * a fixed order (vectorizable, and the same result whatever the thread count). */
#define SUM_ROW(NAME, T)                                                                           \
    CG_HOT static double NAME(const T *x, int64_t n, int64_t s) {                                        \
        if (s == 1) {                                                                              \
            double a[8] = {0};                                                                     \
            int64_t i = 0;                                                                         \
            for (; i + 8 <= n; i += 8)                                                             \
                for (int k = 0; k < 8; k++) a[k] += x[i + k];                                      \
            double t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));         \
            for (; i < n; i++) t += x[i];                                                          \
            return t;                                                                              \
        }                                                                                          \
        double t = 0;                                                                              \
        for (int64_t i = 0; i < n; i++) t += x[i * s];                                             \
        return t;                                                                                  \
    }
SUM_ROW(sum_row_f32, float)
SUM_ROW(sum_row_f64, double)

static inline double elem(const char *base, cg_dtype dt, int64_t i) {
    switch (dt) {
    case CG_FLOAT32: return ((const float *)base)[i];
    case CG_FLOAT64: return ((const double *)base)[i];
    case CG_INT64: return (double)((const int64_t *)base)[i];
    }
    return 0;
}

/* Reduce one output (path A: walk its sub-space). */
static void reduce_one(const cg_tensor *x, const rplan *p, cg_redop op, int64_t o, char *out, cg_dtype odt) {
    const char *base = cg_data(x);
    int64_t boff = outer_offset(p, o);
    cg_dtype dt = x->dtype;
    if (op == CG_SUM || op == CG_MEAN) {
        if (dt == CG_INT64) {
            int64_t t = 0;
            FOR_INNER_ROWS(p, boff, {
                const int64_t *r = (const int64_t *)base + off;
                for (int64_t i = 0; i < n; i++) t += r[i * s];
            });
            ((int64_t *)out)[o] = t;
            return;
        }
        double t = 0;
        FOR_INNER_ROWS(p, boff, {
            t += dt == CG_FLOAT32 ? sum_row_f32((const float *)base + off, n, s)
                                  : sum_row_f64((const double *)base + off, n, s);
        });
        if (op == CG_MEAN) t = p->I ? t / (double)p->I : NAN;
        if (odt == CG_FLOAT32) ((float *)out)[o] = (float)t;
        else ((double *)out)[o] = t;
        return;
    }
    if (op == CG_PROD) {
        double t = 1;
        int64_t ti = 1;
        FOR_INNER_ROWS(p, boff, {
            for (int64_t i = 0; i < n; i++) {
                if (dt == CG_INT64) ti *= ((const int64_t *)base)[off + i * s];
                else t *= elem(base, dt, off + i * s);
            }
        });
        if (odt == CG_FLOAT32) ((float *)out)[o] = (float)t;
        else if (odt == CG_FLOAT64) ((double *)out)[o] = t;
        else ((int64_t *)out)[o] = ti;
        return;
    }
    /* max / min */
    bool is_max = op == CG_MAX;
    if (dt == CG_INT64) {
        int64_t best = ((const int64_t *)base)[boff];
        FOR_INNER_ROWS(p, boff, {
            const int64_t *r = (const int64_t *)base + off;
            for (int64_t i = 0; i < n; i++) {
                int64_t v = r[i * s];
                if (is_max ? v > best : v < best) best = v;
            }
        });
        ((int64_t *)out)[o] = best;
        return;
    }
    double best = elem(base, dt, boff);
    FOR_INNER_ROWS(p, boff, {
        for (int64_t i = 0; i < n; i++) {
            double v = elem(base, dt, off + i * s);
            if (v != v || (is_max ? v > best : v < best)) best = v;
            if (best != best) break;
        }
    });
    if (odt == CG_FLOAT32) ((float *)out)[o] = (float)best;
    else ((double *)out)[o] = best;
}

/* Path B for sums whose innermost input dim is kept: accumulate whole rows
 * into a double buffer, in input order. */
typedef struct {
    cg_dtype dt;
} accrow_ctx;

CG_HOT static void accum_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    const accrow_ctx *c = vctx;
    double *acc = (double *)p[0];
    if (c->dt == CG_FLOAT32) {
        const float *x = (const float *)p[1];
        if (s[0] == 1 && s[1] == 1) {
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) acc[i] += x[i];
        } else {
            for (int64_t i = 0; i < n; i++) acc[i * s[0]] += x[i * s[1]];
        }
    } else {
        const double *x = (const double *)p[1];
        for (int64_t i = 0; i < n; i++) acc[i * s[0]] += x[i * s[1]];
    }
}

/* acc[O] += x's elements, row by row in input order: acc viewed over x's
 * shape with stride 0 on the reduced dims. */
static void accumulate_rows(const cg_tensor *x, const bool *red, double *acc, int64_t O) {
    cg_tensor accv = *x;
    cg_storage st = {acc, (size_t)O * sizeof(double), 0, NULL, 0};
    accv.storage = &st;
    accv.offset = 0;
    accv.dtype = CG_FLOAT64;
    int64_t s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        if (red[d]) {
            accv.strides[d] = 0;
        } else {
            accv.strides[d] = s;
            s *= x->shape[d];
        }
    }
    const cg_tensor *ops[2] = {&accv, x};
    cg_iter it;
    cg__iter_init(&it, x->shape, x->ndim, ops, 2);
    accrow_ctx c = {x->dtype};
    /* serial: the accumulation order must not depend on threads */
    cg__iter_range(&it, 0, it.numel, accum_row, &c);
}

/* acc[O] += each of I rows of x, in order. */
CG_HOT static void add_rows(double *acc, const float *xp, int64_t I, int64_t O) {
    for (int64_t i = 0; i < I; i++, xp += O) _Pragma("omp simd") for (int64_t k = 0; k < O; k++) acc[k] += xp[k];
}

static bool sum_by_rows(const cg_tensor *x, const bool *red, cg_tensor *out, bool mean, int64_t I) {
    int64_t O = cg_numel(out);
    double *acc = cg_scope_alloc((size_t)(O ? O : 1) * sizeof(double), true);
    if (!acc) return false;
    /* A contiguous x reduced over leading dims only (a bias gradient summed
     * over the batch) is I rows of O: add them in one loop, in the same
     * order as accumulate_rows. */
    int lead = 0;
    while (lead < x->ndim && red[lead]) lead++;
    bool rows = cg_is_contiguous(x) && x->dtype == CG_FLOAT32;
    for (int d = lead; d < x->ndim && rows; d++) rows = !red[d];
    if (rows) {
        add_rows(acc, cg_data(x), I, O);
    } else {
        accumulate_rows(x, red, acc, O);
    }
    double scale = mean ? (I ? 1.0 / (double)I : NAN) : 1.0;
    if (out->dtype == CG_FLOAT32) {
        float *o = cg_data(out);
        for (int64_t i = 0; i < O; i++) o[i] = (float)(mean ? acc[i] * scale : acc[i]);
    } else {
        double *o = cg_data(out);
        for (int64_t i = 0; i < O; i++) o[i] = mean ? acc[i] * scale : acc[i];
    }
    return true;
}

static bool parse_axes(const char *op, const cg_tensor *x, const int *axes, int naxes, bool *red) {
    for (int d = 0; d < CG_MAX_DIMS; d++) red[d] = false;
    if (!axes || naxes == 0) {
        for (int d = 0; d < x->ndim; d++) red[d] = true;
        return true;
    }
    for (int i = 0; i < naxes; i++) {
        int d = cg__axis(op, axes[i], x->ndim);
        if (d < 0) return false;
        if (red[d]) {
            cg_set_error(CG_ERR_SHAPE, "%s: axis %d is listed twice", op, axes[i]);
            return false;
        }
        red[d] = true;
    }
    return true;
}

static void out_shape(const cg_tensor *x, const bool *red, bool keepdim, int64_t *shape, int *nd) {
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!red[d]) shape[n++] = x->shape[d];
        else if (keepdim) shape[n++] = 1;
    }
    *nd = n;
}

static cg_tensor *logsumexp(const cg_tensor *x, const bool *red, const int *axes, int naxes, bool keepdim) {
    int64_t shape[CG_MAX_DIMS];
    int nd;
    out_shape(x, red, keepdim, shape, &nd);
    int64_t n = 1;
    for (int d = 0; d < x->ndim; d++)
        if (red[d]) n *= x->shape[d];
    if (n == 0) return cg_full(x->dtype, shape, nd, -INFINITY); /* log(0), like torch.logsumexp */
    cg_tensor *m = cg_k_reduce(CG_MAX, x, axes, naxes, true);
    if (!m) return NULL;
    /* an all -inf (or +inf) slice must not turn into inf - inf = NaN */
    cg_tensor *fin = cg_k_unary(CG_ABS, m);
    cg_tensor *isinf = fin ? cg_k_scalar(CG_EQ, fin, INFINITY) : NULL;
    cg_tensor *zero = isinf ? cg_zeros_like(m) : NULL;
    cg_tensor *ms = zero ? cg_k_where(isinf, zero, m) : NULL;
    cg_tensor *e = ms ? cg_k_unary_(CG_EXP, cg_k_binary(CG_SUB, x, ms)) : NULL;
    cg_tensor *s = e ? cg_k_reduce(CG_SUM, e, axes, naxes, true) : NULL;
    cg_tensor *r = s ? cg_k_binary_(CG_ADD, cg_k_unary_(CG_LOG, s), ms) : NULL;
    return r && !keepdim ? cg_k_reshape(r, shape, nd) : r;
}

cg_tensor *cg_k_reduce(cg_redop op, const cg_tensor *x, const int *axes, int naxes, bool keepdim) {
    const char *opname = (unsigned)op < CG_REDOP_COUNT ? red_fn[op] : "cg_reduce";
    CG_CHECK_NULL1(opname, x);
    if ((unsigned)op >= CG_REDOP_COUNT) {
        cg_set_error(CG_ERR_VALUE, "cg_k_reduce: unknown reduction %d", (int)op);
        return NULL;
    }
    bool red[CG_MAX_DIMS];
    if (!parse_axes(opname, x, axes, naxes, red)) return NULL;
    if (x->dtype == CG_INT64 && (op == CG_MEAN || op == CG_LOGSUMEXP)) {
        cg_set_error(CG_ERR_DTYPE, "%s: needs a float tensor, got int64 %s; convert with cg_to_dtype", opname,
                     cg_shape_str(x));
        return NULL;
    }
    if (op == CG_LOGSUMEXP) return logsumexp(x, red, axes, naxes, keepdim);
    int64_t shape[CG_MAX_DIMS];
    int nd;
    out_shape(x, red, keepdim, shape, &nd);
    rplan p;
    make_plan(x, red, &p);
    if (p.I == 0 && (op == CG_MAX || op == CG_MIN)) {
        cg_set_error(CG_ERR_SHAPE, "%s: reducing an empty set (shape %s) has no identity", opname,
                     cg_shape_str(x));
        return NULL;
    }
    cg_tensor *out = cg__new(x->dtype, shape, nd);
    if (!out) return NULL;
    int64_t O = p.O;
    if (O == 0) return out;
    if (p.I == 0) {
        return cg_k_fill_(out, op == CG_PROD ? 1.0 : op == CG_MEAN ? NAN : 0.0);
    }
    bool last_kept = x->ndim > 0 && !red[x->ndim - 1] && x->shape[x->ndim - 1] > 1;
    if ((op == CG_SUM || op == CG_MEAN) && x->dtype != CG_INT64 && last_kept) {
        if (!sum_by_rows(x, red, out, op == CG_MEAN, p.I)) return NULL;
        return out;
    }
    char *o = cg_data(out);
    int nt = cg__threads_for(O * p.I);
    if (nt > 1 && O >= nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t i = 0; i < O; i++) reduce_one(x, &p, op, i, o, out->dtype);
    } else {
        for (int64_t i = 0; i < O; i++) reduce_one(x, &p, op, i, o, out->dtype);
    }
    return out;
}

/* ---------------------------------------------------------------- argmax */

static cg_tensor *arg_reduce(const char *name, const cg_tensor *x, int axis, bool keepdim, bool is_max) {
    CG_CHECK_NULL1(name, x);
    int a = cg__axis(name, axis, x->ndim);
    if (a < 0) return NULL;
    if (x->shape[a] == 0) {
        cg_set_error(CG_ERR_SHAPE, "%s: axis %d of shape %s is empty", name, axis, cg_shape_str(x));
        return NULL;
    }
    bool red[CG_MAX_DIMS] = {false};
    red[a] = true;
    int64_t shape[CG_MAX_DIMS];
    int nd;
    out_shape(x, red, keepdim, shape, &nd);
    cg_tensor *out = cg__new(CG_INT64, shape, nd);
    if (!out) return NULL;
    int64_t *o = cg_data(out);
    rplan p;
    make_plan(x, red, &p);
    int64_t n = x->shape[a], s = x->strides[a];
    const char *base = cg_data(x);
    for (int64_t i = 0; i < p.O; i++) {
        int64_t off = outer_offset(&p, i);
        double best = elem(base, x->dtype, off);
        int64_t bi = 0;
        for (int64_t k = 1; k < n && best == best; k++) {
            double v = elem(base, x->dtype, off + k * s);
            if (v != v || (is_max ? v > best : v < best)) {
                best = v;
                bi = k;
            }
        }
        o[i] = bi;
    }
    return out;
}

cg_tensor *cg_k_argmax(const cg_tensor *x, int axis, bool keepdim) {
    return arg_reduce("cg_argmax", x, axis, keepdim, true);
}
cg_tensor *cg_k_argmin(const cg_tensor *x, int axis, bool keepdim) {
    return arg_reduce("cg_argmin", x, axis, keepdim, false);
}

/* ---------------------------------------------------------------- sum_to */

cg_tensor *cg_k_sum_to(const cg_tensor *g, const int64_t *shape, int ndim) {
    CG_CHECK_NULL1("cg_sum_to", g);
    if (ndim < 0 || (ndim > 0 && !shape)) {
        cg_set_error(CG_ERR_SHAPE, "cg_sum_to: bad target shape (NULL or rank %d)", ndim);
        return NULL;
    }
    if (ndim > g->ndim) {
        cg_set_error(CG_ERR_SHAPE, "cg_sum_to: cannot reduce %s to %s", cg_shape_str(g), cg_dims_str(shape, ndim));
        return NULL;
    }
    int axes[CG_MAX_DIMS], na = 0;
    int lead = g->ndim - ndim;
    for (int d = 0; d < g->ndim; d++) {
        if (d < lead) {
            axes[na++] = d;
            continue;
        }
        int64_t want = shape[d - lead];
        if (want == g->shape[d]) continue;
        if (want != 1) {
            cg_set_error(CG_ERR_SHAPE, "cg_sum_to: cannot reduce %s to %s", cg_shape_str(g),
                         cg_dims_str(shape, ndim));
            return NULL;
        }
        axes[na++] = d;
    }
    if (na == 0) return (cg_tensor *)g;
    cg_tensor *s = cg_k_reduce(CG_SUM, g, axes, na, true);
    return s ? cg_k_reshape(s, shape, ndim) : NULL;
}

/* --------------------------------------------------------------- softmax */

static cg_tensor *softmax_impl(const char *name, const cg_tensor *x, int axis, bool logsm) {
    CG_CHECK_NULL1(name, x);
    if (!cg_dtype_is_float(x->dtype)) {
        cg_set_error(CG_ERR_DTYPE, "%s: needs a float tensor, got %s", name, cg_dtype_name(x->dtype));
        return NULL;
    }
    int a = cg__axis(name, axis, x->ndim);
    if (a < 0) return NULL;
    cg_tensor *out = cg__new(x->dtype, x->shape, x->ndim);
    if (!out) return NULL;
    bool red[CG_MAX_DIMS] = {false};
    red[a] = true;
    rplan px, po;
    make_plan(x, red, &px);
    make_plan(out, red, &po);
    int64_t n = x->shape[a], sx = x->strides[a], so = out->strides[a];
    if (n == 0) return out;
    const char *xb = cg_data(x);
    char *ob = cg_data(out);
    int nt = cg__threads_for(px.O * n);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < px.O; i++) {
        int64_t xo = outer_offset(&px, i), oo = outer_offset(&po, i);
        if (x->dtype == CG_FLOAT32) {
            const float *xr = (const float *)xb + xo;
            float *orow = (float *)ob + oo;
            float m = -INFINITY;
            for (int64_t k = 0; k < n; k++) m = (xr[k * sx] > m || xr[k * sx] != xr[k * sx]) ? xr[k * sx] : m;
            if (isinf(m)) m = m > 0 ? m : 0; /* all -inf: keep -inf/NaN out of the shift */
            double sum = 0;
            for (int64_t k = 0; k < n; k++) sum += cg_vexpf(xr[k * sx] - m);
            float lse = (float)cg_vlog(sum);
            float inv = (float)(1.0 / sum);
            for (int64_t k = 0; k < n; k++)
                orow[k * so] = logsm ? xr[k * sx] - m - lse : cg_vexpf(xr[k * sx] - m) * inv;
        } else {
            const double *xr = (const double *)xb + xo;
            double *orow = (double *)ob + oo;
            double m = -INFINITY;
            for (int64_t k = 0; k < n; k++) m = (xr[k * sx] > m || xr[k * sx] != xr[k * sx]) ? xr[k * sx] : m;
            if (isinf(m)) m = m > 0 ? m : 0;
            double sum = 0;
            for (int64_t k = 0; k < n; k++) sum += cg_vexp(xr[k * sx] - m);
            double lse = cg_vlog(sum);
            for (int64_t k = 0; k < n; k++) orow[k * so] = logsm ? xr[k * sx] - m - lse : cg_vexp(xr[k * sx] - m) / sum;
        }
    }
    return out;
}

cg_tensor *cg_k_log_softmax(const cg_tensor *x, int axis) { return softmax_impl("cg_log_softmax", x, axis, true); }
cg_tensor *cg_k_softmax(const cg_tensor *x, int axis) { return softmax_impl("cg_softmax", x, axis, false); }
