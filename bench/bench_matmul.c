/* GFLOP/s of cg_k_matmul against a direct bli_sgemm call on the shapes of a
 * recurrent layer, with row-major operands and with one operand passed as a
 * cg_k_transpose view (BLIS gets the swapped strides in both cases), and
 * with A as a 3-D batch [32, M/32, K] times the matrix B (one GEMM as well).
 *
 *     bench_matmul [--threads N] [--time SECONDS]
 *
 * Each case is timed for about SECONDS per side, split into short rounds that
 * alternate ours / direct (in turn first) so machine noise hits both alike;
 * the table shows the best round of each side and their ratio. */
#include <cgrad/cgrad.h>

#include <blis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 100

typedef struct {
    int64_t m, k, n;
} shape3;

typedef enum { PLAIN, A_TRANSPOSED, B_TRANSPOSED, A_BATCHED, LAYOUT_COUNT } layout;
static const char *layout_names[] = {"A @ B", "A^T view @ B", "A @ B^T view", "A [32,M/32,K] @ B"};

typedef struct {
    shape3 s;
    layout lay;
    cg_tensor *a, *b;  /* the operands as cg_k_matmul sees them (views) */
    float *c;          /* output of the direct call */
    inc_t rsa, csa, rsb, csb;
} bench_case;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_ours(const bench_case *bc) {
    cg_scope *s = cg_scope_begin();
    cg_k_matmul(bc->a, bc->b);
    cg_scope_end(s);
}

static int g_threads = 1;

/* The same product straight through BLIS with g_threads threads. */
static void run_direct(const bench_case *bc) {
    float one = 1, zero = 0;
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(g_threads, &rntm);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, bc->s.m, bc->s.n, bc->s.k, &one, cg_data(bc->a), bc->rsa,
                 bc->csa, cg_data(bc->b), bc->rsb, bc->csb, &zero, bc->c, bc->s.n, 1, NULL, &rntm);
}

/* Seconds per call of fn over `iters` calls. */
static double time_per_call(void (*fn)(const bench_case *), const bench_case *bc, long iters) {
    double t0 = now();
    for (long i = 0; i < iters; i++) fn(bc);
    return (now() - t0) / (double)iters;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A [rows, cols] operand, stored transposed when `transposed`, returned as the
 * [rows, cols] view cg_k_matmul receives, with its BLIS strides. */
static cg_tensor *operand(cg_rng *r, int64_t rows, int64_t cols, bool transposed, inc_t *rs, inc_t *cs) {
    if (!transposed) {
        *rs = (inc_t)cols;
        *cs = 1;
        return cg_randn(r, CG_FLOAT32, CG_SHAPE(rows, cols));
    }
    *rs = 1;
    *cs = (inc_t)rows;
    return cg_k_transpose(cg_randn(r, CG_FLOAT32, CG_SHAPE(cols, rows)), 0, 1);
}

static void bench(shape3 s, layout lay, double seconds) {
    cg_rng r = cg_rng_seeded(1);
    bench_case bc = {.s = s, .lay = lay};
    bc.a = operand(&r, s.m, s.k, lay == A_TRANSPOSED, &bc.rsa, &bc.csa);
    bc.b = operand(&r, s.k, s.n, lay == B_TRANSPOSED, &bc.rsb, &bc.csb);
    if (lay == A_BATCHED) bc.a = cg_k_reshape(bc.a, CG_SHAPE(32, s.m / 32, s.k)); /* a batch of 32 */
    bc.c = cg_data(cg_empty(CG_FLOAT32, CG_SHAPE(s.m, s.n)));

    /* the two must agree before they are timed: in every bit when BLIS gets
     * the same operands, within rounding when cgrad copied B row-major (a
     * tall product with B transposed), which BLIS may sum in another order,
     * or when libxsmm runs the products */
    cg_scope *sc = cg_scope_begin();
    cg_tensor *ours = cg_k_matmul(bc.a, bc.b);
    run_direct(&bc);
    bool copied = (lay == B_TRANSPOSED && s.m >= 1024) || !strncmp(cg_build_info().small_gemm, "libxsmm", 7),
         agree = ours != NULL;
    const float *o = ours ? cg_data(ours) : NULL;
    for (int64_t i = 0; agree && i < s.m * s.n; i++)
        agree = copied ? fabsf(o[i] - bc.c[i]) <= 1e-4f * (1.0f + fabsf(bc.c[i])) : memcmp(o + i, bc.c + i, sizeof(float)) == 0;
    if (!agree) {
        fprintf(stderr, "bench_matmul: results differ for [%lld,%lld]x[%lld,%lld] (%s)\n", (long long)s.m,
                (long long)s.k, (long long)s.k, (long long)s.n, ours ? "values" : cg_last_error());
        exit(1);
    }
    cg_scope_end(sc);

    /* calibrate: iterations for one round of seconds / ROUNDS */
    double per = time_per_call(run_direct, &bc, 3);
    long iters = (long)(seconds / ROUNDS / (per > 1e-9 ? per : 1e-9));
    if (iters < 1) iters = 1;
    time_per_call(run_ours, &bc, iters / 4 + 1); /* warm up */
    double t_ours[ROUNDS], t_direct[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        if (i % 2) t_direct[i] = time_per_call(run_direct, &bc, iters);
        t_ours[i] = time_per_call(run_ours, &bc, iters);
        if (!(i % 2)) t_direct[i] = time_per_call(run_direct, &bc, iters);
    }
    qsort(t_ours, ROUNDS, sizeof(double), cmp_double);
    qsort(t_direct, ROUNDS, sizeof(double), cmp_double);
    double flop = 2.0 * (double)s.m * (double)s.k * (double)s.n;
    double g_ours = flop / t_ours[0] * 1e-9, g_direct = flop / t_direct[0] * 1e-9;
    char shape[64];
    snprintf(shape, sizeof shape, "[%lld,%lld]x[%lld,%lld]", (long long)s.m, (long long)s.k, (long long)s.k,
             (long long)s.n);
    printf("| %-22s | %-17s | %9.2f | %9.2f | %10.2f | %6.3f |\n", shape, layout_names[lay], t_ours[0] * 1e6,
           g_ours, g_direct, g_ours / g_direct);
}

int main(int argc, char **argv) {
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time") && i + 1 < argc) seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--time SECONDS]\n", argv[0]);
            return 2;
        }
    }
    if (g_threads < 1 || !(seconds > 0)) {
        fprintf(stderr, "bench_matmul: need --threads >= 1 and --time > 0\n");
        return 2;
    }
    cg_set_num_threads(g_threads);
    cg_build_info_print(stdout);
    printf("\ncg_k_matmul vs bli_sgemm, float32, %d thread%s, best of %d rounds of %.3f s per side\n\n", g_threads,
           g_threads > 1 ? "s" : "", ROUNDS, seconds / ROUNDS);
    printf("| %-22s | %-17s | %9s | %9s | %10s | %6s |\n", "shape", "layout", "ours us", "ours GF/s", "BLIS GF/s",
           "ratio");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------", "-------------------", "----------:", "----------:",
           "-----------:", "-------:");
    const shape3 shapes[] = {{32, 128, 512}, {2560, 128, 512}, {32, 30, 120}};
    for (int s = 0; s < 3; s++)
        for (int l = 0; l < LAYOUT_COUNT; l++) bench(shapes[s], (layout)l, seconds);
    cg_cleanup();
    return 0;
}
