/* GEMM through BLIS. Operands go to bli_?gemm with their own row and column
 * strides, so a transposed or sliced view is read in place; only layouts
 * BLIS cannot take (negative, zero or fully general strides) are copied. */
#include "tensor_internal.h"

#include <blis.h>
#include <omp.h>
#include <stdatomic.h>
#include <time.h>

/* A program linked statically takes cpu.c (whose constructor picks BLIS's
 * sub-configuration before BLIS starts) wherever it takes GEMM. */
extern const char cg__cpu_setup_linked;
__attribute__((used)) static const char *const cpu_setup_ref = &cg__cpu_setup_linked;

typedef struct {
    const char *p;
    int64_t rs, cs;
} mat;

/* Can BLIS read an m x n matrix with these strides as it is? Adjusts the
 * stride of a size-1 dim, which is free to choose. */
static bool blis_ok(int64_t m, int64_t n, int64_t *rs, int64_t *cs) {
    if (m <= 1 && n <= 1) {
        *rs = *cs = 1;
        return true;
    }
    if (m <= 1) { /* one row: its row stride is free */
        if (*cs == 1) *rs = n;
        else if (*cs > 0) *rs = 1;
        else return false;
        return true;
    }
    if (n <= 1) { /* one column: its column stride is free */
        if (*rs == 1) *cs = m;
        else if (*rs > 0) *cs = 1;
        else return false;
        return true;
    }
    return (*cs == 1 && *rs >= n) || (*rs == 1 && *cs >= m);
}

static double gemm_flops(int64_t M, int64_t N, int64_t K) { return 2.0 * (double)M * (double)N * (double)K; }

/* ------------------------------------------------------------ profiling
 * (cg_gemm_trace_begin/end): records go to the caller's buffer through an
 * atomic index; times in nanoseconds. */
static atomic_bool g_tracing;
static cg_gemm_record *g_trace_buf;
static int64_t g_trace_cap;
static atomic_int_least64_t g_trace_n, g_trace_ns, g_trace_flops;

void cg_gemm_trace_begin(cg_gemm_record *buf, int64_t cap) {
    g_trace_buf = buf;
    g_trace_cap = buf && cap > 0 ? cap : 0;
    atomic_store(&g_trace_n, 0);
    atomic_store(&g_trace_ns, 0);
    atomic_store(&g_trace_flops, 0);
    atomic_store(&g_tracing, true);
}

cg_gemm_trace cg_gemm_trace_end(void) {
    atomic_store(&g_tracing, false);
    return (cg_gemm_trace){atomic_load(&g_trace_n), (double)atomic_load(&g_trace_flops),
                           1e-9 * (double)atomic_load(&g_trace_ns)};
}

static bool tracing(void) { return atomic_load_explicit(&g_tracing, memory_order_relaxed); }

static int64_t trace_clock(void) {
    if (!tracing()) return 0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Add the time since t0 (from trace_clock; 0: no trace then). */
static void trace_time(int64_t t0) {
    if (t0) atomic_fetch_add(&g_trace_ns, trace_clock() - t0);
}

/* ------------------------------------------------------ products: libxsmm
 *
 * A product under CG_GEMM_THREADED_FLOPS (a recurrent step's h @ U for a
 * batch of 32: [32,30]x[30,120]) costs BLIS more to set up than to compute,
 * and every BLIS call takes locks of its shared memory pools, which two
 * threads running a batch's shards side by side then wait on. libxsmm's
 * JIT kernels are plain calls: float32, alpha 1, beta 0 or 1, the result
 * and the right operand row-major with unit column stride, the left one
 * row-major or transposed (a backward's x^T @ g). A transposed right
 * operand (g @ W^T) it cannot take; within a backward it reads a row-major
 * copy (reuse_rowmajor_b below). Larger products run in tiles
 * (gemm_xsmm_tiled). Measured: bench/README.md.
 * CGRAD_XSMM=0 in the environment (read at the first product) leaves every
 * product to BLIS, as a build without libxsmm does. */
#ifdef CGRAD_HAVE_XSMM
#include <libxsmm.h>
#include <limits.h>
#include <stdlib.h>

static int g_xsmm; /* 0: not read yet, 1: on, -1: off */

static bool xsmm_on(void) {
    int s = __atomic_load_n(&g_xsmm, __ATOMIC_RELAXED);
    if (!s) {
        const char *e = getenv("CGRAD_XSMM");
        s = e && !strcmp(e, "0") ? -1 : 1;
        __atomic_store_n(&g_xsmm, s, __ATOMIC_RELAXED);
    }
    return s > 0;
}

/* Can libxsmm run row-major C = A B (+ C)? Column-major C^T = B^T A^T is
 * how it reads the same memory: A row-major, or A the transpose of a
 * row-major matrix (a backward's x^T @ g), which it reads as its B
 * transposed. Sets A's leading dimension and libxsmm's flags. */
static bool xsmm_layout(int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B, double beta, int64_t rsc,
                        int64_t csc, int64_t *lb, int *flags) {
    if (alpha != 1.0 || (beta != 0.0 && beta != 1.0) || B.cs != 1 || csc != 1 || M < 1 || N < 1 || K < 1 ||
        M > INT_MAX || N > INT_MAX || K > INT_MAX || B.rs < N || rsc < N || B.rs > INT_MAX || rsc > INT_MAX ||
        !xsmm_on())
        return false;
    if (A.cs == 1 && A.rs >= K) *lb = A.rs, *flags = LIBXSMM_GEMM_FLAG_NONE;
    else if (A.rs == 1 && A.cs >= M) *lb = A.cs, *flags = LIBXSMM_GEMM_FLAG_TRANS_B;
    else return false;
    return *lb <= INT_MAX;
}

/* The kernel for rows x cols of C (NULL: libxsmm has none). */
static libxsmm_smmfunction xsmm_kernel(int64_t rows, int64_t cols, int64_t K, mat B, int64_t lb, double beta,
                                       int64_t rsc, int flags) {
    libxsmm_blasint m = (libxsmm_blasint)cols, n = (libxsmm_blasint)rows, k = (libxsmm_blasint)K;
    libxsmm_blasint lda = (libxsmm_blasint)B.rs, ldb = (libxsmm_blasint)lb, ldc = (libxsmm_blasint)rsc;
    float al = 1.0f, be = (float)beta;
    return libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &al, &be, &flags, NULL);
}

/* A small product in one call. false: not done (BLIS does it). */
static bool gemm_xsmm(int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B, double beta, char *C, int64_t rsc,
                      int64_t csc) {
    int64_t lb;
    int flags;
    if (!xsmm_layout(M, N, K, alpha, A, B, beta, rsc, csc, &lb, &flags)) return false;
    libxsmm_smmfunction f = xsmm_kernel(M, N, K, B, lb, beta, rsc, flags);
    if (!f) return false;
    f((const float *)B.p, (const float *)A.p, (float *)C);
    return true;
}

/* A product of CG_GEMM_THREADED_FLOPS or more, in tiles of C of
 * XSMM_TILE_ROWS x XSMM_TILE_COLS (the last ones smaller) shared out over
 * `threads` threads (bench/README.md). The tiles depend on the shape
 * alone, so a product gives the same bits with any number of threads.
 * libxsmm does not block for the cache, and with long rows of A it falls
 * behind BLIS ([1024,4096] x [4096,1024] with A transposed: a third of
 * BLIS's rate): K up to XSMM_TILED_MAX_K, or for a transposed A (a weight
 * gradient x^T @ g over many rows) A up to XSMM_TILED_MAX_AT elements and
 * B up to XSMM_TILED_MAX_B. false: not done (BLIS does it). */
#define XSMM_TILE_ROWS 32
#define XSMM_TILE_COLS 64
#define XSMM_TILED_MAX_K 1024
#define XSMM_TILED_MAX_AT ((int64_t)1 << 19)
#define XSMM_TILED_MAX_B ((int64_t)1 << 21)
static bool gemm_xsmm_tiled(int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B, double beta, char *C,
                            int64_t rsc, int64_t csc, int threads) {
    int64_t lb;
    int flags;
    if (!xsmm_layout(M, N, K, alpha, A, B, beta, rsc, csc, &lb, &flags)) return false;
    bool trans = flags & LIBXSMM_GEMM_FLAG_TRANS_B;
    if (K > XSMM_TILED_MAX_K && !(trans && K * M <= XSMM_TILED_MAX_AT && K * N <= XSMM_TILED_MAX_B)) return false;
    /* the kernels of a full tile, the last row of tiles, the last column and the corner */
    int64_t R = XSMM_TILE_ROWS, Cw = XSMM_TILE_COLS, rr = M % R ? M % R : R, rc = N % Cw ? N % Cw : Cw;
    libxsmm_smmfunction f[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (!(f[i][j] = xsmm_kernel(i ? rr : (M < R ? M : R), j ? rc : (N < Cw ? N : Cw), K, B, lb, beta, rsc, flags)))
                return false;
    int64_t nr = (M + R - 1) / R, nc = (N + Cw - 1) / Cw, nt = nr * nc;
    /* tile t: row block t / nc, column block t % nc (a thread's tiles are
     * bands of rows: a band of A stays in cache while B is read) */
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && nt > 1)
    for (int64_t t = 0; t < nt; t++) {
        int64_t r0 = t / nc * R, c0 = t % nc * Cw;
        const float *a = (const float *)A.p + (trans ? r0 : r0 * lb);
        f[r0 + R >= M && M % R][c0 + Cw >= N && N % Cw]((const float *)B.p + c0, a, (float *)C + r0 * rsc + c0);
    }
    return true;
}

/* ------------------------------------- right operands read again in a pass
 * A backward reads each recurrent weight U through its transpose once a
 * step (g @ U^T): a column-major right operand, which libxsmm cannot take
 * and BLIS runs at half its row-major speed at these sizes. Within a pass
 * (cg_gemm_reuse_begin/end) the second product on this thread with the
 * same such operand — the same allocation (serial), unchanged (version),
 * the same view — copies it row-major once; it and the later ones read the
 * copy. Only float32 products libxsmm runs (K up to XSMM_TILED_MAX_K);
 * copies of up to 64 Ki elements, REUSE_SLOTS operands a thread, made in
 * the scope that was current when the pass began (the step's: its blocks
 * are reused, not malloc'd, from one step to the next) and not read after
 * the pass. */
#define REUSE_SLOTS 4
#define REUSE_MAX_ELEMS ((int64_t)1 << 16)

typedef struct {
    const cg_storage *st;
    uint64_t serial, version;
    const char *p;
    int64_t K, N, cs;
    float *copy; /* made at the second use */
} reuse_slot;

static _Thread_local int t_reuse_depth, t_reuse_next;
static _Thread_local reuse_slot t_reuse[REUSE_SLOTS];
static _Thread_local cg_scope *t_reuse_scope;

static void reuse_rowmajor_b(const cg_tensor *b, mat *B, int64_t K, int64_t N, const mat *A, double alpha,
                             double beta, int64_t csc) {
    if (!t_reuse_depth || b->dtype != CG_FLOAT32 || B->rs != 1 || B->cs < K || K < 2 || N < 2 || A->cs != 1 ||
        csc != 1 || alpha != 1.0 || (beta != 0.0 && beta != 1.0) || K * N > REUSE_MAX_ELEMS ||
        K > XSMM_TILED_MAX_K || B->cs > INT_MAX || !b->storage->serial || !xsmm_on())
        return;
    const cg_storage *st = b->storage;
    reuse_slot *r = NULL;
    for (int i = 0; i < REUSE_SLOTS && !r; i++) {
        reuse_slot *c = &t_reuse[i];
        if (c->st == st && c->serial == st->serial && c->version == st->version && c->p == B->p && c->K == K &&
            c->N == N && c->cs == B->cs)
            r = c;
    }
    if (!r) { /* the first use: remembered, in the slot used longest ago */
        r = &t_reuse[t_reuse_next];
        t_reuse_next = (t_reuse_next + 1) % REUSE_SLOTS;
        *r = (reuse_slot){st, st->serial, st->version, B->p, K, N, B->cs, NULL};
        return;
    }
    if (!r->copy) {
        if (!(r->copy = cg_arena_alloc(t_reuse_scope, sizeof(float) * (size_t)(K * N), false)))
            return; /* BLIS reads the operand as it is */
        /* B is K x N column-major (leading dimension cs); the copy is its
         * transpose, N x K column-major: libxsmm's transposition (five
         * times a tiled scalar loop's speed for LSTM(100)'s [400, 100]) */
        libxsmm_otrans(r->copy, B->p, sizeof(float), (libxsmm_blasint)K, (libxsmm_blasint)N, (libxsmm_blasint)B->cs,
                       (libxsmm_blasint)N);
    }
    *B = (mat){(const char *)r->copy, N, 1};
}
#endif

void cg_gemm_reuse_begin(void) {
#ifdef CGRAD_HAVE_XSMM
    if (t_reuse_depth++ == 0) {
        for (int i = 0; i < REUSE_SLOTS; i++) t_reuse[i] = (reuse_slot){0};
        t_reuse_scope = cg_scope_current();
    }
#endif
}

void cg_gemm_reuse_end(void) {
#ifdef CGRAD_HAVE_XSMM
    if (t_reuse_depth > 0 && --t_reuse_depth == 0) {
        for (int i = 0; i < REUSE_SLOTS; i++) t_reuse[i] = (reuse_slot){0};
        t_reuse_scope = NULL;
    }
#endif
}

#ifdef CGRAD_HAVE_XSMM
const char *cg__small_gemm(void) {
    return xsmm_on() ? "libxsmm " LIBXSMM_VERSION " (float32 products; from 4 MFLOP in tiles, K up to 1024)"
                     : "BLIS (libxsmm turned off by CGRAD_XSMM=0)";
}
#else
const char *cg__small_gemm(void) { return "BLIS (built without libxsmm)"; }
#endif

/* threads: BLIS threads, or 0 to choose by size. */
static void gemm_raw(cg_dtype dt, int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B, double beta,
                     char *C, int64_t rsc, int64_t csc, int threads) {
    rntm_t rntm;
    bli_rntm_init(&rntm);
    if (!threads) /* (inside a parallel region, e.g. one shard of a batch, the thread is taken) */
        threads = gemm_flops(M, N, K) < CG_GEMM_THREADED_FLOPS || omp_in_parallel() ? 1 : cg_get_num_threads();
    bli_rntm_set_num_threads(threads, &rntm);
    if (tracing()) {
        int64_t i = atomic_fetch_add(&g_trace_n, 1);
        atomic_fetch_add(&g_trace_flops, 2 * M * N * K);
        if (i < g_trace_cap)
            g_trace_buf[i] = (cg_gemm_record){dt, M, N, K, A.rs, A.cs, B.rs, B.cs, rsc, csc, alpha, beta, threads};
    }
#ifdef CGRAD_HAVE_XSMM
    if (dt == CG_FLOAT32 && (gemm_flops(M, N, K) < CG_GEMM_THREADED_FLOPS
                                 ? gemm_xsmm(M, N, K, alpha, A, B, beta, C, rsc, csc)
                                 : gemm_xsmm_tiled(M, N, K, alpha, A, B, beta, C, rsc, csc, threads)))
        return;
#endif
    if (dt == CG_FLOAT32) {
        float al = (float)alpha, be = (float)beta;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &al, (float *)A.p,
                     (inc_t)A.rs, (inc_t)A.cs, (float *)B.p, (inc_t)B.rs, (inc_t)B.cs, &be, (float *)C, (inc_t)rsc,
                     (inc_t)csc, NULL, &rntm);
    } else {
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &alpha, (double *)A.p,
                     (inc_t)A.rs, (inc_t)A.cs, (double *)B.p, (inc_t)B.rs, (inc_t)B.cs, &beta, (double *)C, (inc_t)rsc,
                     (inc_t)csc, NULL, &rntm);
    }
}

/* A 2-D operand BLIS can read: the view itself, or a contiguous copy. */
static const cg_tensor *blis_operand(const cg_tensor *t, mat *m) {
    int64_t rs = t->strides[0], cs = t->strides[1];
    if (!blis_ok(t->shape[0], t->shape[1], &rs, &cs)) {
        t = cg_clone(t);
        if (!t) return NULL;
        rs = t->strides[0];
        cs = t->strides[1];
        blis_ok(t->shape[0], t->shape[1], &rs, &cs);
    }
    m->p = cg_data(t);
    m->rs = rs;
    m->cs = cs;
    return t;
}

/* A column-major right operand (a weight's transpose, as in a backward's
 * g @ W^T) with a row-major left one and result: BLIS's small-matrix path
 * runs this case up to twice as slow as all-row-major (1280 x 128 x 32:
 * 217 -> 124 us with the copy, one thread). Copying the operand row-major
 * costs ~2 ns an element, 100/M of the product's time at ~100 GFLOP/s, so
 * it is done for products of 1024 rows or more; below, the copy costs more
 * than it saves (32 x 30 x 90: 3.6 -> 8.4 us). B then points at the copy;
 * false if it could not be made. */
static bool rowmajor_b(const cg_tensor *b, mat *B, int64_t M, int64_t K, int64_t N, const mat *A, int64_t csc) {
    if (M < 1024 || B->rs != 1 || B->cs == 1 || K < 2 || N < 2 || A->cs != 1 || csc != 1) return true;
    cg_tensor *c = cg_clone(b);
    if (!c) return false;
    *B = (mat){cg_data(c), N, 1};
    return true;
}

static bool check_float_pair(const char *op, const cg_tensor *a, const cg_tensor *b) {
    if (a->dtype != b->dtype || !cg_dtype_is_float(a->dtype)) {
        cg_set_error(CG_ERR_DTYPE, "%s: needs two float tensors of one dtype, got %s %s and %s %s", op,
                     cg_dtype_name(a->dtype), cg_shape_str(a), cg_dtype_name(b->dtype), cg_shape_str(b));
        return false;
    }
    return true;
}

static bool gemm_paired(cg_dtype dt, int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B, double beta,
                        char *C, int64_t rsc, int64_t csc);

/* out (2-D, BLIS-compatible strides) = beta*out + alpha*a@b */
static bool gemm2d(const cg_tensor *a, const cg_tensor *b, double alpha, double beta, cg_tensor *out) {
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (M == 0 || N == 0) return true;
    int64_t rsc = out->strides[0], csc = out->strides[1];
    blis_ok(M, N, &rsc, &csc);
    if (K == 0) {
        if (beta == 0) return cg_k_fill_(out, 0) != NULL;
        return cg_k_scalar_(CG_MUL, out, beta) != NULL;
    }
    mat A, B;
    if (!blis_operand(a, &A) || !blis_operand(b, &B) || !rowmajor_b(b, &B, M, K, N, &A, csc)) return false;
#ifdef CGRAD_HAVE_XSMM
    reuse_rowmajor_b(b, &B, K, N, &A, alpha, beta, csc);
#endif
    int64_t t0 = trace_clock();
    if (gemm_flops(M, N, K) >= CG_GEMM_THREADED_FLOPS ||
        !gemm_paired(a->dtype, M, N, K, alpha, A, B, beta, cg_data(out), rsc, csc))
        gemm_raw(a->dtype, M, N, K, alpha, A, B, beta, cg_data(out), rsc, csc, 0);
    trace_time(t0);
    return true;
}

/* Reshape the struct t (a copy) into a 2-D [rows, cols] view with these strides. */
static void as_2d(cg_tensor *t, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
    t->ndim = 2;
    t->shape[0] = rows, t->shape[1] = cols;
    t->strides[0] = rs, t->strides[1] = cs;
}

/* Do A's batch and row dims read as one dim of rows (stride *rs)? Then a
 * batch times a single matrix is one GEMM, not one small GEMM per item. */
static bool rows_fold(const cg_tensor *A, int64_t *rs) {
    bool seen = false;
    int64_t next = 0; /* the stride the next outer dim of size > 1 must have */
    *rs = 1;
    for (int d = A->ndim - 2; d >= 0; d--) {
        if (A->shape[d] == 1) continue;
        if (seen && A->strides[d] != next) return false;
        if (!seen) *rs = A->strides[d];
        seen = true;
        next = A->strides[d] * A->shape[d];
    }
    return true;
}

cg_tensor *cg_k_matmul(const cg_tensor *a, const cg_tensor *b) {
    CG_CHECK_NULL2("cg_matmul", a, b);
    if (!check_float_pair("cg_matmul", a, b)) return NULL;
    if (a->ndim == 0 || b->ndim == 0) {
        cg_set_error(CG_ERR_SHAPE, "cg_matmul: %s @ %s: both operands need at least 1 dim", cg_shape_str(a),
                     cg_shape_str(b));
        return NULL;
    }
    /* numpy.matmul promotion of 1-D operands */
    const cg_tensor *A = a->ndim == 1 ? cg_k_unsqueeze(a, 0) : a;
    const cg_tensor *B = b->ndim == 1 ? cg_k_unsqueeze(b, 1) : b;
    if (!A || !B) return NULL;
    int64_t M = A->shape[A->ndim - 2], K = A->shape[A->ndim - 1];
    int64_t K2 = B->shape[B->ndim - 2], N = B->shape[B->ndim - 1];
    if (K != K2) {
        cg_set_error(CG_ERR_SHAPE, "cg_matmul: %s @ %s: inner sizes %lld != %lld", cg_shape_str(a), cg_shape_str(b),
                     (long long)K, (long long)K2);
        return NULL;
    }
    int64_t bshape[CG_MAX_DIMS];
    int bnd;
    if (cg_broadcast_shape(A->shape, A->ndim - 2, B->shape, B->ndim - 2, bshape, &bnd) != CG_OK) {
        cg_set_error(CG_ERR_SHAPE, "cg_matmul: %s @ %s: batch dims do not broadcast", cg_shape_str(a),
                     cg_shape_str(b));
        return NULL;
    }
    if (bnd + 2 > CG_MAX_DIMS) {
        cg_set_error(CG_ERR_SHAPE, "cg_matmul: result would have more than %d dims", CG_MAX_DIMS);
        return NULL;
    }
    int64_t oshape[CG_MAX_DIMS];
    for (int i = 0; i < bnd; i++) oshape[i] = bshape[i];
    oshape[bnd] = M;
    oshape[bnd + 1] = N;
    cg_tensor *out = cg__new(a->dtype, oshape, bnd + 2);
    if (!out) return NULL;
    int64_t nb = 1;
    for (int i = 0; i < bnd; i++) nb *= bshape[i];
    int64_t rs;
    if (bnd == 0) {
        if (!gemm2d(A, B, 1.0, 0.0, out)) return NULL;
    } else if (nb > 0 && B->ndim == 2 && rows_fold(A, &rs)) {
        cg_tensor a2 = *A, o2 = *out;
        as_2d(&a2, nb * M, K, rs, A->strides[A->ndim - 1]);
        as_2d(&o2, nb * M, N, N, 1);
        if (!gemm2d(&a2, B, 1.0, 0.0, &o2)) return NULL;
    } else if (nb > 0) {
        /* views of one batch item each: batch strides 0 where broadcast */
        cg_tensor a2 = *A, b2 = *B, o2 = *out;
        as_2d(&a2, M, K, A->strides[A->ndim - 2], A->strides[A->ndim - 1]);
        as_2d(&b2, K, N, B->strides[B->ndim - 2], B->strides[B->ndim - 1]);
        as_2d(&o2, M, N, N, 1);
        for (int64_t i = 0; i < nb; i++) {
            int64_t rem = i, offa = A->offset, offb = B->offset;
            for (int d = bnd - 1; d >= 0; d--) {
                int64_t k = rem % bshape[d];
                rem /= bshape[d];
                int da = d - (bnd - (A->ndim - 2)), db = d - (bnd - (B->ndim - 2));
                if (da >= 0 && A->shape[da] != 1) offa += k * A->strides[da];
                if (db >= 0 && B->shape[db] != 1) offb += k * B->strides[db];
            }
            a2.offset = offa;
            b2.offset = offb;
            o2.offset = i * M * N;
            if (!gemm2d(&a2, &b2, 1.0, 0.0, &o2)) return NULL;
        }
    }
    if (a->ndim == 1 && b->ndim == 1) return cg_k_reshape(out, NULL, 0);
    if (a->ndim == 1) return cg_k_squeeze(out, -2);
    if (b->ndim == 1) return cg_k_squeeze(out, -1);
    return out;
}

static bool check_2d(const char *op, const cg_tensor *a, const cg_tensor *b) {
    if (a->ndim != 2 || b->ndim != 2) {
        cg_set_error(CG_ERR_SHAPE, "%s: %s @ %s: both operands must be 2-D", op, cg_shape_str(a), cg_shape_str(b));
        return false;
    }
    if (a->shape[1] != b->shape[0]) {
        cg_set_error(CG_ERR_SHAPE, "%s: %s @ %s: inner sizes %lld != %lld", op, cg_shape_str(a), cg_shape_str(b),
                     (long long)a->shape[1], (long long)b->shape[0]);
        return false;
    }
    return check_float_pair(op, a, b);
}

cg_tensor *cg_k_addmm(const cg_tensor *c, const cg_tensor *a, const cg_tensor *b, double beta, double alpha) {
    if (!c || !a || !b) return cg__null_input("cg_addmm");
    if (!check_2d("cg_addmm", a, b)) return NULL;
    if (c->dtype != a->dtype) {
        cg_set_error(CG_ERR_DTYPE, "cg_addmm: bias is %s but the operands are %s", cg_dtype_name(c->dtype),
                     cg_dtype_name(a->dtype));
        return NULL;
    }
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    cg_tensor *out = cg__new(a->dtype, shape, 2);
    if (!out) return NULL;
    if (beta != 0) {
        if (!cg_k_copy_(out, c)) {
            cg_set_error(CG_ERR_SHAPE, "cg_addmm: bias %s does not broadcast to the product's shape %s",
                         cg_shape_str(c), cg_shape_str(out));
            return NULL;
        }
    }
    return gemm2d(a, b, alpha, beta, out) ? out : NULL;
}

static bool check_dest(const char *op, const cg_tensor *out, const cg_tensor *a, const cg_tensor *b) {
    if (!check_2d(op, a, b)) return false;
    if (out->dtype != a->dtype || out->ndim != 2 || out->shape[0] != a->shape[0] || out->shape[1] != b->shape[1]) {
        cg_set_error(CG_ERR_SHAPE, "%s: destination %s %s does not fit %s @ %s", op, cg_dtype_name(out->dtype),
                     cg_shape_str(out), cg_shape_str(a), cg_shape_str(b));
        return false;
    }
    return true;
}

cg_tensor *cg_k_gemm_(cg_tensor *out, const cg_tensor *a, const cg_tensor *b, double alpha, double beta) {
    if (!out || !a || !b) return cg__null_input("cg_gemm_");
    if (!check_dest("cg_gemm_", out, a, b)) return NULL;
    int64_t rs = out->strides[0], cs = out->strides[1];
    if (blis_ok(out->shape[0], out->shape[1], &rs, &cs)) {
        if (!gemm2d(a, b, alpha, beta, out)) return NULL;
    } else {
        cg_tensor *tmp = cg_k_matmul(a, b);
        if (!tmp) return NULL;
        /* beta = 0 overwrites out (NaN included), as BLIS does */
        if (beta == 0 ? !cg_k_fill_(out, 0) : beta != 1 && !cg_k_scalar_(CG_MUL, out, beta)) return NULL;
        if (!cg_k_axpy_(out, alpha, tmp)) return NULL;
    }
    out->storage->version++;
    return out;
}

/* Products that may run side by side: BLIS-writable destinations, none
 * sharing storage with another job's destination or operands. */
static bool independent(const cg_gemm_job *jobs, int n) {
    for (int i = 0; i < n; i++) {
        int64_t rs = jobs[i].out->strides[0], cs = jobs[i].out->strides[1];
        if (!blis_ok(jobs[i].out->shape[0], jobs[i].out->shape[1], &rs, &cs)) return false;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            const cg_storage *o = jobs[i].out->storage;
            if (o == jobs[j].out->storage || o == jobs[j].a->storage || o == jobs[j].b->storage) return false;
        }
    }
    return true;
}

bool cg_k_gemm_many_(const cg_gemm_job *jobs, int n) {
    if (n < 0 || (n > 0 && !jobs)) return cg_set_error(CG_ERR_NULL, "cg_gemm_many_: no job array"), false;
    for (int i = 0; i < n; i++) {
        if (!jobs[i].out || !jobs[i].a || !jobs[i].b) return cg__null_input("cg_gemm_many_"), false;
        if (!check_dest("cg_gemm_many_", jobs[i].out, jobs[i].a, jobs[i].b)) return false;
    }
    int nt = cg_get_num_threads();
    /* Side by side only pays for products big enough to be threaded anyway:
     * a small one is quicker where its operands are in cache. */
    bool big = true;
    for (int i = 0; i < n && big; i++)
        big = gemm_flops(jobs[i].a->shape[0], jobs[i].b->shape[1], jobs[i].a->shape[1]) >= CG_GEMM_THREADED_FLOPS;
    if (n < 2 || nt < 2 || !big || omp_in_parallel() || !independent(jobs, n)) {
        for (int i = 0; i < n; i++)
            if (!cg_k_gemm_(jobs[i].out, jobs[i].a, jobs[i].b, jobs[i].alpha, jobs[i].beta)) return false;
        return true;
    }
    /* operands BLIS cannot read are copied here, on the calling thread */
    mat *A = cg__alloc(sizeof(mat) * (size_t)n * 2), *B = A ? A + n : NULL;
    if (!A) return false;
    for (int i = 0; i < n; i++) {
        const cg_gemm_job *j = &jobs[i];
        /* (rowmajor_b acts only where N >= 2 and M >= 1024, strides blis_ok leaves as they are) */
        if (!blis_operand(j->a, &A[i]) || !blis_operand(j->b, &B[i]) ||
            !rowmajor_b(j->b, &B[i], j->a->shape[0], j->a->shape[1], j->b->shape[1], &A[i], j->out->strides[1]))
            return false;
#ifdef CGRAD_HAVE_XSMM
        reuse_rowmajor_b(j->b, &B[i], j->a->shape[1], j->b->shape[1], &A[i], j->alpha, j->beta, j->out->strides[1]);
#endif
    }
    /* every product here has 4 MFLOP or more: no empty dim to special-case */
    int64_t t0 = trace_clock();
#pragma omp parallel for schedule(static, 1) num_threads(nt < n ? nt : n)
    for (int i = 0; i < n; i++) {
        const cg_gemm_job *j = &jobs[i];
        int64_t M = j->a->shape[0], K = j->a->shape[1], N = j->b->shape[1], rs = j->out->strides[0],
                cs = j->out->strides[1];
        blis_ok(M, N, &rs, &cs);
        gemm_raw(j->out->dtype, M, N, K, j->alpha, A[i], B[i], j->beta, cg_data(j->out), rs, cs, 1);
    }
    trace_time(t0);
    for (int i = 0; i < n; i++) jobs[i].out->storage->version++;
    return true;
}

/* ------------------------------------------------- products held back
 * With two or more threads, cg_k_gemm_async_ holds a product back on this
 * thread (a recurrent layer's weight-gradient rows): the next small product
 * this thread runs takes it along, the two side by side on two OpenMP
 * threads, one BLIS thread each, as the backward's per-step products are
 * too small to split. Held products run in the order they were held. */

typedef struct {
    cg_dtype dt;
    int64_t M, N, K;
    double alpha;
    mat A, B;
    char *C;
    int64_t rsc, csc;
} held_gemm;

#define HELD_MAX 8
static _Thread_local held_gemm t_held[HELD_MAX];
static _Thread_local int t_held_first, t_held_n;

static void run_held(const held_gemm *h) {
    gemm_raw(h->dt, h->M, h->N, h->K, h->alpha, h->A, h->B, 1.0, h->C, h->rsc, h->csc, 1);
}

/* run_held where nothing runs beside it (timed for a trace) */
static void run_held_alone(const held_gemm *h) {
    int64_t t0 = trace_clock();
    run_held(h);
    trace_time(t0);
}

static held_gemm *pop_held(void) {
    if (!t_held_n) return NULL;
    held_gemm *h = &t_held[t_held_first];
    t_held_first = (t_held_first + 1) % HELD_MAX;
    t_held_n--;
    return h;
}

void cg_k_gemm_sync(void) {
    for (held_gemm *h; (h = pop_held());) run_held_alone(h);
}

/* Bytes [lo, hi) an m x n matrix with positive strides spans. */
typedef struct {
    const char *lo, *hi;
} span;
static span span_of(const char *p, int64_t m, int64_t n, int64_t rs, int64_t cs, size_t es) {
    return (span){p, p + (size_t)((m - 1) * rs + (n - 1) * cs + 1) * es};
}
static bool meet(span a, span b) { return a.lo < b.hi && b.lo < a.hi; }

/* Run this single-thread product with the oldest held one beside it, if
 * there is one, a second thread, and no memory one writes that the other
 * reads or writes; false if nothing was run. */
static bool gemm_paired(cg_dtype dt, int64_t M, int64_t N, int64_t K, double alpha, mat A, mat B, double beta,
                        char *C, int64_t rsc, int64_t csc) {
    if (!t_held_n || cg_get_num_threads() < 2 || omp_in_parallel()) return false;
    held_gemm *h = &t_held[t_held_first];
    size_t es = cg_dtype_size(dt), hs = cg_dtype_size(h->dt);
    span c = span_of(C, M, N, rsc, csc, es), hc = span_of(h->C, h->M, h->N, h->rsc, h->csc, hs);
    if (meet(c, hc) || meet(c, span_of(h->A.p, h->M, h->K, h->A.rs, h->A.cs, hs)) ||
        meet(c, span_of(h->B.p, h->K, h->N, h->B.rs, h->B.cs, hs)) ||
        meet(hc, span_of(A.p, M, K, A.rs, A.cs, es)) || meet(hc, span_of(B.p, K, N, B.rs, B.cs, es)))
        return false; /* the two touch the same memory: one after the other */
    pop_held();
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) {
            gemm_raw(dt, M, N, K, alpha, A, B, beta, C, rsc, csc, 1);
            if (omp_get_num_threads() == 1) run_held(h); /* the runtime gave one thread */
        } else {
            run_held(h);
        }
    }
    return true;
}

bool cg_k_gemm_async_(cg_tensor *out, const cg_tensor *a, const cg_tensor *b, double alpha) {
    if (!out || !a || !b) return cg__null_input("cg_gemm_async_"), false;
    if (!check_dest("cg_gemm_async_", out, a, b)) return false;
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    int64_t rsc = out->strides[0], csc = out->strides[1];
    int64_t rsa = a->strides[0], csa = a->strides[1], rsb = b->strides[0], csb = b->strides[1];
    if (M == 0 || N == 0 || K == 0) return true;
    if (!blis_ok(M, N, &rsc, &csc) || !blis_ok(M, K, &rsa, &csa) || !blis_ok(K, N, &rsb, &csb)) {
        cg_k_gemm_sync(); /* after the ones held before it */
        return cg_k_gemm_(out, a, b, alpha, 1.0) != NULL;
    }
    held_gemm h = {out->dtype, M, N, K, alpha, {cg_data(a), rsa, csa}, {cg_data(b), rsb, csb}, cg_data(out), rsc, csc};
    out->storage->version++;
    if (cg_get_num_threads() < 2 || omp_in_parallel()) { /* no second thread: now, while a and b are in cache */
        cg_k_gemm_sync();
        run_held_alone(&h);
        return true;
    }
    if (t_held_n == HELD_MAX) run_held_alone(pop_held());
    t_held[(t_held_first + t_held_n++) % HELD_MAX] = h;
    return true;
}
