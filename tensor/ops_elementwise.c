/* Elementwise kernels: unary, binary (NumPy broadcasting), scalar, clamp,
 * where, copy, fill, axpy. Strided inputs are walked in place; rows whose
 * operands are all unit-stride (or a broadcast scalar) take vector loops. */
#include "tensor_internal.h"

#include "elementwise_rules.h"

#define OP_NAME_(E, name, reads) [CG_##E] = #name,
static const char *const unop_names[] = {CG_UNARY_OPS(OP_NAME_)};
static const char *const binop_names[] = {CG_BINARY_OPS(OP_NAME_)};
#undef OP_NAME_
_Static_assert(sizeof unop_names / sizeof unop_names[0] == CG_UNOP_COUNT, "unop_names");
_Static_assert(sizeof binop_names / sizeof binop_names[0] == CG_BINOP_COUNT, "binop_names");

const char *cg_unop_name(cg_unop op) { return (unsigned)op < CG_UNOP_COUNT ? unop_names[op] : "?"; }
const char *cg_binop_name(cg_binop op) { return (unsigned)op < CG_BINOP_COUNT ? binop_names[op] : "?"; }

#define PRAGMA_SIMD _Pragma("omp simd")

/* Row functions (cg_row_fn) of elementwise_rules.h's rows: a vector loop
 * when every operand is unit-stride (or a broadcast scalar for the right
 * operand of a binary op), else a strided loop; both compute each element
 * by the same expression, so its bits do not depend on the path. */

/* o = F(x) */
#define UN_ROW(NAME, TY, F)                                                                        \
    CG_HOT static void NAME(int64_t n, char **p, const int64_t *s, void *ctx) {                    \
        typedef TY T;                                                                              \
        (void)ctx;                                                                                 \
        T *o = (T *)p[0];                                                                          \
        const T *X = (const T *)p[1];                                                              \
        if (s[0] == 1 && s[1] == 1) {                                                              \
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) {                                          \
                T x = X[i];                                                                        \
                o[i] = (F);                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = X[i * s[1]];                                                                 \
                o[i * s[0]] = (F);                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

/* o = D(g, x, y) over operands out, g, x, y (x, y: g's pointer when unread) */
#define UN_GRAD_ROW(NAME, TY, D)                                                                   \
    CG_HOT static void NAME(int64_t n, char **p, const int64_t *s, void *ctx) {                    \
        typedef TY T;                                                                              \
        (void)ctx;                                                                                 \
        T *o = (T *)p[0];                                                                          \
        const T *G = (const T *)p[1], *X = (const T *)p[2], *Y = (const T *)p[3];                  \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {                                    \
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) {                                          \
                T g = G[i], x = X[i], y = Y[i];                                                    \
                (void)g, (void)x, (void)y;                                                         \
                o[i] = (D);                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T g = G[i * s[1]], x = X[i * s[2]], y = Y[i * s[3]];                               \
                (void)g, (void)x, (void)y;                                                         \
                o[i * s[0]] = (D);                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

#define UN_I64_0(E, F)
#define UN_I64_1(E, F) UN_ROW(un_i64_##E, int64_t, F)
#define UN_ROWS(E, I, F, D)                                                                        \
    UN_ROW(un_f32_##E, float, F)                                                                   \
    UN_ROW(un_f64_##E, double, F)                                                                  \
    UN_I64_##I(E, F)                                                                               \
    UN_GRAD_ROW(ung_f32_##E, float, D)                                                             \
    UN_GRAD_ROW(ung_f64_##E, double, D)
CG_UNARY_RULES(UN_ROWS)

#define I64_PTR_0(fn) NULL
#define I64_PTR_1(fn) fn
#define UN_ENTRY(E, I, F, D) [CG_##E] = {un_f32_##E, un_f64_##E, I64_PTR_##I(un_i64_##E)},
#define UN_GRAD_ENTRY(E, I, F, D) [CG_##E] = {ung_f32_##E, ung_f64_##E},
static const cg_row_fn un_rows[][3] = {CG_UNARY_RULES(UN_ENTRY)};
static const cg_row_fn un_grad_rows[][2] = {CG_UNARY_RULES(UN_GRAD_ENTRY)};
_Static_assert(sizeof un_rows / sizeof un_rows[0] == CG_UNOP_COUNT, "un_rows");
_Static_assert(sizeof un_grad_rows / sizeof un_grad_rows[0] == CG_UNOP_COUNT, "un_grad_rows");

/* o = F(a, b) */
#define BIN_ROW(NAME, TY, F)                                                                       \
    CG_HOT static void NAME(int64_t n, char **p, const int64_t *s, void *ctx) {                    \
        typedef TY T;                                                                              \
        (void)ctx;                                                                                 \
        T *o = (T *)p[0];                                                                          \
        const T *A = (const T *)p[1];                                                              \
        const T *B = (const T *)p[2];                                                              \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                                 \
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) {                                          \
                T a = A[i], b = B[i];                                                              \
                o[i] = (F);                                                                        \
            }                                                                                      \
        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                                          \
            const T b = B[0];                                                                      \
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) {                                          \
                T a = A[i];                                                                        \
                o[i] = (F);                                                                        \
            }                                                                                      \
        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {                                          \
            const T a = A[0];                                                                      \
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) {                                          \
                T b = B[i];                                                                        \
                o[i] = (F);                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T a = A[i * s[1]], b = B[i * s[2]];                                                \
                o[i * s[0]] = (F);                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

/* o = D(g, a, b, y) over operands out, g, a, b, y (y: g's pointer when unread) */
#define BIN_GRAD_ROW(NAME, TY, D)                                                                  \
    CG_HOT static void NAME(int64_t n, char **p, const int64_t *s, void *ctx) {                    \
        typedef TY T;                                                                              \
        (void)ctx;                                                                                 \
        T *o = (T *)p[0];                                                                          \
        const T *G = (const T *)p[1], *A = (const T *)p[2], *B = (const T *)p[3], *Y = (const T *)p[4]; \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1 && s[4] == 1) {                       \
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) {                                          \
                T g = G[i], a = A[i], b = B[i], y = Y[i];                                          \
                (void)g, (void)a, (void)b, (void)y;                                                \
                o[i] = (D);                                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T g = G[i * s[1]], a = A[i * s[2]], b = B[i * s[3]], y = Y[i * s[4]];              \
                (void)g, (void)a, (void)b, (void)y;                                                \
                o[i * s[0]] = (D);                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

#define BIN_I64_0(E, F)
#define BIN_I64_1(E, F) BIN_ROW(bin_i64_##E, int64_t, F)
#define BIN_ROWS(E, I, F, DA, DB)                                                                  \
    BIN_ROW(bin_f32_##E, float, F)                                                                 \
    BIN_ROW(bin_f64_##E, double, F)                                                                \
    BIN_I64_##I(E, F)                                                                              \
    BIN_GRAD_ROW(bga_f32_##E, float, DA)                                                           \
    BIN_GRAD_ROW(bga_f64_##E, double, DA)                                                          \
    BIN_GRAD_ROW(bgb_f32_##E, float, DB)                                                           \
    BIN_GRAD_ROW(bgb_f64_##E, double, DB)
CG_BINARY_RULES(BIN_ROWS)

#define BIN_ENTRY(E, I, F, DA, DB) [CG_##E] = {bin_f32_##E, bin_f64_##E, I64_PTR_##I(bin_i64_##E)},
#define BIN_GRAD_ENTRY(E, I, F, DA, DB) [CG_##E] = {{bga_f32_##E, bga_f64_##E}, {bgb_f32_##E, bgb_f64_##E}},
static const cg_row_fn bin_rows[][3] = {CG_BINARY_RULES(BIN_ENTRY)};
static const cg_row_fn bin_grad_rows[][2][2] = {CG_BINARY_RULES(BIN_GRAD_ENTRY)};
_Static_assert(sizeof bin_rows / sizeof bin_rows[0] == CG_BINOP_COUNT, "bin_rows");
_Static_assert(sizeof bin_grad_rows / sizeof bin_grad_rows[0] == CG_BINOP_COUNT, "bin_grad_rows");

/* ------------------------------------------------------------- helpers */

cg_status cg_broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out, int *nout) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) return CG_ERR_SHAPE;
        out[i] = da == 1 ? db : da;
    }
    *nout = n;
    return CG_OK;
}

/* May we write into t elementwise? (no two indices share one element) */
bool cg__writable(const char *op, const cg_tensor *t) {
    for (int d = 0; d < t->ndim; d++)
        if (t->strides[d] == 0 && t->shape[d] > 1) {
            cg_set_error(CG_ERR_VALUE,
                         "%s: cannot write in place into a broadcast (expanded) view of shape %s; "
                         "make it contiguous first",
                         op, cg_shape_str(t));
            return false;
        }
    return true;
}

static void run2(cg_tensor *out, const cg_tensor *a, cg_row_fn fn, void *ctx) {
    const cg_tensor *ops[2] = {out, a};
    cg_iter it;
    cg__iter_init(&it, out->shape, out->ndim, ops, 2);
    cg__iter_run(&it, fn, ctx);
}

static void run3(cg_tensor *out, const cg_tensor *a, const cg_tensor *b, cg_row_fn fn, void *ctx) {
    const cg_tensor *ops[3] = {out, a, b};
    cg_iter it;
    cg__iter_init(&it, out->shape, out->ndim, ops, 3);
    cg__iter_run(&it, fn, ctx);
}

/* NULL input to the op called `name`: "cg_exp: input is NULL". */
static void *null_op(const char *name) {
    char fn[32];
    snprintf(fn, sizeof fn, "cg_%s", name);
    return cg__null_input(fn);
}

/* ------------------------------------------------------------------ unary */

static cg_row_fn unary_fn(const char *name, cg_unop op, const cg_tensor *x) {
    if ((unsigned)op >= CG_UNOP_COUNT) {
        cg_set_error(CG_ERR_VALUE, "%s: unknown unary op %d", name, (int)op);
        return NULL;
    }
    cg_row_fn fn = un_rows[op][x->dtype];
    if (!fn)
        cg_set_error(CG_ERR_DTYPE, "cg_%s: not defined for %s (shape %s); convert with cg_to_dtype",
                     unop_names[op], cg_dtype_name(x->dtype), cg_shape_str(x));
    return fn;
}

cg_tensor *cg_k_unary(cg_unop op, const cg_tensor *x) {
    if (!x) return null_op(cg_unop_name(op));
    cg_row_fn fn = unary_fn("cg_k_unary", op, x);
    if (!fn) return NULL;
    cg_tensor *o = cg__new(x->dtype, x->shape, x->ndim);
    if (!o) return NULL;
    run2(o, x, fn, NULL);
    return o;
}

cg_tensor *cg_k_unary_(cg_unop op, cg_tensor *x) {
    if (!x) return null_op(cg_unop_name(op));
    cg_row_fn fn = unary_fn("cg_k_unary_", op, x);
    if (!fn || !cg__writable("cg_k_unary_", x)) return NULL;
    run2(x, x, fn, NULL);
    x->storage->version++;
    return x;
}

/* ----------------------------------------------------------------- binary */

static cg_row_fn binary_fn(cg_binop op, const cg_tensor *a, const cg_tensor *b) {
    if ((unsigned)op >= CG_BINOP_COUNT) {
        cg_set_error(CG_ERR_VALUE, "cg_k_binary: unknown binary op %d", (int)op);
        return NULL;
    }
    if (a->dtype != b->dtype) {
        cg_set_error(CG_ERR_DTYPE, "cg_%s: dtypes differ: %s %s and %s %s; convert one with cg_to_dtype",
                     binop_names[op], cg_dtype_name(a->dtype), cg_shape_str(a),
                     cg_dtype_name(b->dtype), cg_shape_str(b));
        return NULL;
    }
    cg_row_fn fn = bin_rows[op][a->dtype];
    if (!fn)
        cg_set_error(CG_ERR_DTYPE, "cg_%s: not defined for %s; convert with cg_to_dtype",
                     binop_names[op], cg_dtype_name(a->dtype));
    return fn;
}

cg_tensor *cg_k_binary(cg_binop op, const cg_tensor *a, const cg_tensor *b) {
    if (!a || !b) return null_op(cg_binop_name(op));
    cg_row_fn fn = binary_fn(op, a, b);
    if (!fn) return NULL;
    int64_t shape[CG_MAX_DIMS];
    int nd;
    if (cg_broadcast_shape(a->shape, a->ndim, b->shape, b->ndim, shape, &nd) != CG_OK) {
        cg_set_error(CG_ERR_SHAPE, "cg_%s: shapes %s and %s do not broadcast", binop_names[op],
                     cg_shape_str(a), cg_shape_str(b));
        return NULL;
    }
    cg_tensor *o = cg__new(a->dtype, shape, nd);
    if (!o) return NULL;
    run3(o, a, b, fn, NULL);
    return o;
}

static bool broadcasts_to(const cg_tensor *b, const cg_tensor *a) {
    if (b->ndim > a->ndim) return false;
    for (int i = 0; i < b->ndim; i++) {
        int64_t db = b->shape[b->ndim - 1 - i], da = a->shape[a->ndim - 1 - i];
        if (db != da && db != 1) return false;
    }
    return true;
}

cg_tensor *cg_k_binary_(cg_binop op, cg_tensor *a, const cg_tensor *b) {
    if (!a || !b) return null_op(cg_binop_name(op));
    cg_row_fn fn = binary_fn(op, a, b);
    if (!fn || !cg__writable("cg_k_binary_", a)) return NULL;
    if (!broadcasts_to(b, a)) {
        cg_set_error(CG_ERR_SHAPE, "cg_%s_: shape %s does not broadcast to %s (in-place result shape)",
                     binop_names[op], cg_shape_str(b), cg_shape_str(a));
        return NULL;
    }
    run3(a, a, b, fn, NULL);
    a->storage->version++;
    return a;
}

/* ------------------------------------------------------------ derivatives */

/* The gradient kernel's operands: out (g's shape and dtype), g, then the
 * values the rule reads (g's tensor in the places it does not read). */
static cg_tensor *run_grad(const char *fn, const char *opname, cg_row_fn row, const cg_tensor *g,
                           const cg_tensor *const *vals, const char *const *what, int nvals) {
    if (!cg_dtype_is_float(g->dtype)) {
        cg_set_error(CG_ERR_DTYPE, "%s (%s): the gradient is %s; derivatives are for float dtypes", fn, opname,
                     cg_dtype_name(g->dtype));
        return NULL;
    }
    for (int k = 0; k < nvals; k++)
        if (vals[k]->dtype != g->dtype) {
            cg_set_error(CG_ERR_DTYPE, "%s (%s): %s is %s, the gradient %s", fn, opname, what[k],
                         cg_dtype_name(vals[k]->dtype), cg_dtype_name(g->dtype));
            return NULL;
        }
    cg_tensor *o = cg__new(g->dtype, g->shape, g->ndim);
    if (!o) return NULL;
    const cg_tensor *ops[CG_ITER_MAX_OPS] = {o, g};
    for (int k = 0; k < nvals; k++) ops[2 + k] = vals[k];
    cg_iter it;
    if (!cg__iter_init(&it, g->shape, g->ndim, ops, 2 + nvals)) {
        cg_set_error(CG_ERR_SHAPE, "%s (%s): the values it reads do not broadcast to the gradient's shape %s", fn, opname,
                     cg_shape_str(g));
        return NULL;
    }
    cg__iter_run(&it, row, NULL);
    return o;
}

cg_tensor *cg_k_unary_grad(cg_unop op, const cg_tensor *g, const cg_tensor *x, const cg_tensor *y) {
    if ((unsigned)op >= CG_UNOP_COUNT) {
        cg_set_error(CG_ERR_VALUE, "cg_k_unary_grad: unknown unary op %d", (int)op);
        return NULL;
    }
    if (!g) return cg__null_input("cg_k_unary_grad");
    unsigned r = cg__unop_reads[op];
    if (((r & CG_READS_X) && !x) || ((r & CG_READS_Y) && !y)) {
        cg_set_error(CG_ERR_NULL, "cg_k_unary_grad: the derivative of %s reads its %s, which is NULL", unop_names[op],
                     (r & CG_READS_X) && !x ? "input" : "output");
        return NULL;
    }
    const cg_tensor *vals[2] = {r & CG_READS_X ? x : g, r & CG_READS_Y ? y : g};
    static const char *const what[2] = {"the input", "the output"};
    return run_grad("cg_k_unary_grad", unop_names[op], un_grad_rows[op][g->dtype == CG_FLOAT64], g, vals, what, 2);
}

cg_tensor *cg_k_binary_grad(cg_binop op, int which, const cg_tensor *g, const cg_tensor *a, const cg_tensor *b,
                            const cg_tensor *y) {
    if ((unsigned)op >= CG_BINOP_COUNT || (which != 0 && which != 1)) {
        cg_set_error(CG_ERR_VALUE, "cg_k_binary_grad: unknown binary op %d or operand %d", (int)op, which);
        return NULL;
    }
    if (!g) return cg__null_input("cg_k_binary_grad");
    unsigned r = cg__binop_reads[op];
    if (r & CG_NO_DERIVATIVE) {
        cg_set_error(CG_ERR_VALUE, "cg_k_binary_grad: %s has no derivative", binop_names[op]);
        return NULL;
    }
    if (((r & CG_READS_A) && !a) || ((r & CG_READS_B) && !b) || ((r & CG_READS_Y) && !y)) {
        cg_set_error(CG_ERR_NULL, "cg_k_binary_grad: the derivative of %s reads its %s, which is NULL", binop_names[op],
                     (r & CG_READS_A) && !a ? "left operand" : (r & CG_READS_B) && !b ? "right operand" : "output");
        return NULL;
    }
    const cg_tensor *vals[3] = {r & CG_READS_A ? a : g, r & CG_READS_B ? b : g, r & CG_READS_Y ? y : g};
    static const char *const what[3] = {"the left operand", "the right operand", "the output"};
    return run_grad("cg_k_binary_grad", binop_names[op], bin_grad_rows[op][which][g->dtype == CG_FLOAT64], g, vals,
                    what, 3);
}

cg_tensor *cg_k_scalar(cg_binop op, const cg_tensor *x, double s) {
    if (!x) return null_op(cg_binop_name(op));
    cg_tensor *c = cg_scalar(x->dtype, s);
    return c ? cg_k_binary(op, x, c) : NULL;
}

cg_tensor *cg_k_scalar_(cg_binop op, cg_tensor *x, double s) {
    if (!x) return null_op(cg_binop_name(op));
    cg_tensor *c = cg_scalar(x->dtype, s);
    return c ? cg_k_binary_(op, x, c) : NULL;
}

cg_tensor *cg_k_rscalar(cg_binop op, double s, const cg_tensor *x) {
    if (!x) return null_op(cg_binop_name(op));
    cg_tensor *c = cg_scalar(x->dtype, s);
    return c ? cg_k_binary(op, c, x) : NULL;
}

/* ------------------------------------------------------------------ clamp */

typedef struct {
    double lo, hi;
} clamp_ctx;

#define CLAMP_ROW(NAME, T)                                                                         \
    static void NAME(int64_t n, char **p, const int64_t *s, void *vctx) {                         \
        const clamp_ctx *c = vctx;                                                                 \
        const T lo = (T)c->lo, hi = (T)c->hi;                                                      \
        T *o = (T *)p[0];                                                                          \
        const T *X = (const T *)p[1];                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = X[i * s[1]];                                                                     \
            o[i * s[0]] = x < lo ? lo : (x > hi ? hi : x);                                         \
        }                                                                                          \
    }
CLAMP_ROW(clamp_f32, float)
CLAMP_ROW(clamp_f64, double)
CLAMP_ROW(clamp_i64, int64_t)

cg_tensor *cg_k_clamp(const cg_tensor *x, double lo, double hi) {
    CG_CHECK_NULL1("cg_clamp", x);
    if (isnan(lo) || isnan(hi) || lo > hi) {
        cg_set_error(CG_ERR_VALUE, "cg_clamp: bounds [%g, %g] are not an interval", lo, hi);
        return NULL;
    }
    cg_tensor *o = cg__new(x->dtype, x->shape, x->ndim);
    if (!o) return NULL;
    clamp_ctx c = {lo, hi};
    if (x->dtype == CG_INT64) {
        c.lo = lo < -9.2e18 ? -9.2e18 : lo;
        c.hi = hi > 9.2e18 ? 9.2e18 : hi;
    }
    static const cg_row_fn fns[3] = {clamp_f32, clamp_f64, clamp_i64};
    run2(o, x, fns[x->dtype], &c);
    return o;
}

/* ------------------------------------------------------------------ where */

static bool cond_at(const char *p, cg_dtype dt) {
    switch (dt) {
    case CG_FLOAT32: return *(const float *)p != 0;
    case CG_FLOAT64: return *(const double *)p != 0;
    case CG_INT64: return *(const int64_t *)p != 0;
    }
    return false;
}

typedef struct {
    cg_dtype cdt;
    size_t vsize;
} where_ctx;

static void where_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    const where_ctx *c = vctx;
    size_t cs = cg_dtype_size(c->cdt), vs = c->vsize;
    for (int64_t i = 0; i < n; i++) {
        const char *src = cond_at(p[1] + i * s[1] * (int64_t)cs, c->cdt) ? p[2] + i * s[2] * (int64_t)vs
                                                                          : p[3] + i * s[3] * (int64_t)vs;
        memcpy(p[0] + i * s[0] * (int64_t)vs, src, vs);
    }
}

cg_tensor *cg_k_where(const cg_tensor *cond, const cg_tensor *a, const cg_tensor *b) {
    if (!cond || !a || !b) return cg__null_input("cg_where");
    if (a->dtype != b->dtype) {
        cg_set_error(CG_ERR_DTYPE, "cg_where: value dtypes differ: %s and %s", cg_dtype_name(a->dtype),
                     cg_dtype_name(b->dtype));
        return NULL;
    }
    int64_t s1[CG_MAX_DIMS], s2[CG_MAX_DIMS];
    int n1, n2;
    if (cg_broadcast_shape(cond->shape, cond->ndim, a->shape, a->ndim, s1, &n1) != CG_OK ||
        cg_broadcast_shape(s1, n1, b->shape, b->ndim, s2, &n2) != CG_OK) {
        cg_set_error(CG_ERR_SHAPE, "cg_where: shapes %s (cond), %s and %s do not broadcast",
                     cg_shape_str(cond), cg_shape_str(a), cg_shape_str(b));
        return NULL;
    }
    cg_tensor *o = cg__new(a->dtype, s2, n2);
    if (!o) return NULL;
    const cg_tensor *ops[4] = {o, cond, a, b};
    cg_iter it;
    cg__iter_init(&it, o->shape, o->ndim, ops, 4);
    where_ctx c = {cond->dtype, cg_dtype_size(a->dtype)};
    cg__iter_run(&it, where_row, &c);
    return o;
}

cg_tensor *cg_k_masked_fill(const cg_tensor *x, const cg_tensor *mask, double value) {
    if (!x || !mask) return cg__null_input("cg_masked_fill");
    if (!broadcasts_to(mask, x)) {
        cg_set_error(CG_ERR_SHAPE, "cg_masked_fill: mask %s does not broadcast to %s",
                     cg_shape_str(mask), cg_shape_str(x));
        return NULL;
    }
    cg_tensor *v = cg_scalar(x->dtype, value);
    return v ? cg_k_where(mask, v, x) : NULL;
}

/* ------------------------------------------------------- copy, fill, axpy */

CG_HOT void cg__copy_bytes(void *restrict d, const void *restrict s, size_t n) {
    if (n < 2048) { /* below glibc's `rep movsb` threshold */
        memcpy(d, s, n);
        return;
    }
    cg__copy_vec(d, s, (int64_t)n);
}

static void copy_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    size_t es = *(const size_t *)vctx;
    if (s[0] == 1 && s[1] == 1) {
        cg__copy_bytes(p[0], p[1], (size_t)n * es);
        return;
    }
    if (es == 4) {
        float *o = (float *)p[0];
        const float *x = (const float *)p[1];
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = x[i * s[1]];
    } else {
        int64_t *o = (int64_t *)p[0];
        const int64_t *x = (const int64_t *)p[1];
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = x[i * s[1]];
    }
}

cg_tensor *cg_k_copy_(cg_tensor *dst, const cg_tensor *src) {
    CG_CHECK_NULL2("cg_copy_", dst, src);
    if (dst->dtype != src->dtype) {
        cg_set_error(CG_ERR_DTYPE, "cg_copy_: dtypes differ: destination %s, source %s",
                     cg_dtype_name(dst->dtype), cg_dtype_name(src->dtype));
        return NULL;
    }
    if (!broadcasts_to(src, dst)) {
        cg_set_error(CG_ERR_SHAPE, "cg_copy_: source %s does not broadcast to destination %s",
                     cg_shape_str(src), cg_shape_str(dst));
        return NULL;
    }
    if (!cg__writable("cg_copy_", dst)) return NULL;
    size_t es = cg_dtype_size(dst->dtype);
    run2(dst, src, copy_row, &es);
    dst->storage->version++;
    return dst;
}

typedef struct {
    cg_dtype dt;
    double v;
} fill_ctx;

static void fill_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    const fill_ctx *c = vctx;
    switch (c->dt) {
    case CG_FLOAT32: {
        float *o = (float *)p[0], v = (float)c->v;
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;
        break;
    }
    case CG_FLOAT64: {
        double *o = (double *)p[0];
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = c->v;
        break;
    }
    case CG_INT64: {
        int64_t *o = (int64_t *)p[0], v = (int64_t)c->v;
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;
        break;
    }
    }
}

cg_tensor *cg_k_fill_(cg_tensor *t, double value) {
    CG_CHECK_NULL1("cg_fill_", t);
    if (!cg__writable("cg_fill_", t)) return NULL;
    if (t->dtype == CG_INT64 && !(fabs(value) < 9.2e18)) {
        cg_set_error(CG_ERR_VALUE, "cg_fill_: %g does not fit int64", value);
        return NULL;
    }
    if (value == 0 && cg_is_contiguous(t)) {
        memset(cg_data(t), 0, (size_t)cg_numel(t) * cg_dtype_size(t->dtype));
    } else {
        const cg_tensor *ops[1] = {t};
        cg_iter it;
        cg__iter_init(&it, t->shape, t->ndim, ops, 1);
        fill_ctx c = {t->dtype, value};
        cg__iter_run(&it, fill_row, &c);
    }
    t->storage->version++;
    return t;
}

typedef struct {
    cg_dtype dt;
    double alpha;
} axpy_ctx;

CG_HOT static void axpy_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    const axpy_ctx *c = vctx;
    switch (c->dt) {
    case CG_FLOAT32: {
        float *y = (float *)p[0], a = (float)c->alpha;
        const float *x = (const float *)p[1];
        if (s[0] == 1 && s[1] == 1) {
            PRAGMA_SIMD for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
        } else {
            for (int64_t i = 0; i < n; i++) y[i * s[0]] += a * x[i * s[1]];
        }
        break;
    }
    case CG_FLOAT64: {
        double *y = (double *)p[0];
        const double *x = (const double *)p[1];
        for (int64_t i = 0; i < n; i++) y[i * s[0]] += c->alpha * x[i * s[1]];
        break;
    }
    case CG_INT64: {
        int64_t *y = (int64_t *)p[0], a = (int64_t)c->alpha;
        const int64_t *x = (const int64_t *)p[1];
        for (int64_t i = 0; i < n; i++) y[i * s[0]] += a * x[i * s[1]];
        break;
    }
    }
}

cg_tensor *cg_k_axpy_(cg_tensor *y, double alpha, const cg_tensor *x) {
    CG_CHECK_NULL2("cg_axpy_", y, x);
    if (y->dtype != x->dtype) {
        cg_set_error(CG_ERR_DTYPE, "cg_axpy_: dtypes differ: %s and %s", cg_dtype_name(y->dtype),
                     cg_dtype_name(x->dtype));
        return NULL;
    }
    if (!broadcasts_to(x, y)) {
        cg_set_error(CG_ERR_SHAPE, "cg_axpy_: %s does not broadcast to %s", cg_shape_str(x),
                     cg_shape_str(y));
        return NULL;
    }
    if (!cg__writable("cg_axpy_", y)) return NULL;
    axpy_ctx c = {y->dtype, alpha};
    run2(y, x, axpy_row, &c);
    y->storage->version++;
    return y;
}

typedef struct {
    cg_dtype dt;
    int found;
} nf_ctx;

static void nonfinite_row(int64_t n, char **p, const int64_t *s, void *vctx) {
    nf_ctx *c = vctx;
    int bad = 0;
    if (c->dt == CG_FLOAT32) {
        const float *x = (const float *)p[0];
        for (int64_t i = 0; i < n; i++) bad |= !isfinite(x[i * s[0]]);
    } else {
        const double *x = (const double *)p[0];
        for (int64_t i = 0; i < n; i++) bad |= !isfinite(x[i * s[0]]);
    }
    if (bad) {
#pragma omp atomic write
        c->found = 1;
    }
}

bool cg_k_has_nonfinite(const cg_tensor *t) {
    if (!t || t->dtype == CG_INT64) return false;
    const cg_tensor *ops[1] = {t};
    cg_iter it;
    cg__iter_init(&it, t->shape, t->ndim, ops, 1);
    nf_ctx c = {t->dtype, 0};
    cg__iter_run(&it, nonfinite_row, &c);
    return c.found != 0;
}
