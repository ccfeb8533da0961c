/* The same seed gives bit-identical weights after 200 training steps of the
 * lessons' imdb_simple_rnn and long_dependency (LSTM) models, with 1 and 2
 * threads and across runs; and a long run stays in constant memory.
 *
 * The "golden" case (ctest's test_determinism_golden, which sets
 * CGRAD_TEST_GOLDEN) trains small SimpleRNN, LSTM and GRU models with
 * BLIS's generic sub-configuration, whose kernels are the same code on every
 * x86-64 CPU, every product through BLIS (CGRAD_XSMM=0), and compares a
 * hash of the weights with the one this test printed when it was written: every build (portable, native, sanitized)
 * on every CPU must give those bits (docs/decisions.md, "Determinism"). */
#include "testlib.h"

#include <blis.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bool imdb;
    int steps;
} job;

/* Train from scratch; return a copy of every weight (caller frees). */
static float *train(const job *j, int threads, int64_t *count) {
    cg_set_num_threads(threads);
    cg_manual_seed(2024);
    cg_rng r = cg_rng_seeded(7);
    cg_module *m = cg_sequential_new(NULL);
    cg_tensor *x, *y;
    if (j->imdb) { /* Embedding(10000,128) -> SimpleRNN(32) -> Dense(1, sigmoid), maxlen 40 */
        cg_embedding_opts eo = {.rng = &r};
        cg_rnn_opts ro = {.rng = &r};
        cg_dense_opts d = {.activation = CG_ACT_SIGMOID, .rng = &r};
        cg_sequential_add(m, cg_embedding_new_ex(10000, 128, &eo));
        cg_sequential_add(m, cg_simple_rnn_new(128, 32, &ro));
        cg_sequential_add(m, cg_dense_new_ex(32, 1, &d));
        x = cg_randint(&r, CG_INT64, 1, 10000, CG_SHAPE(320, 40));
        y = cg_bernoulli(&r, CG_FLOAT32, 0.5, CG_SHAPE(320, 1));
    } else { /* LSTM(30) x2 -> Dense(1) on the multiplication problem */
        cg_rnn_opts a = {.return_sequences = true, .rng = &r}, b = {.rng = &r};
        cg_dense_opts d = {.rng = &r};
        cg_sequential_add(m, cg_lstm_new(2, 30, &a));
        cg_sequential_add(m, cg_lstm_new(30, 30, &b));
        cg_sequential_add(m, cg_dense_new_ex(30, 1, &d));
        ck_assert_int_eq(cg_multiplication_problem(&r, CG_FLOAT32, 320, 100, &x, &y), CG_OK);
    }
    cg_tensor *ps[16];
    int np = cg_module_parameters(m, ps, 16);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(ps, np, &ao);
    cg_batcher *b = cg_batcher_new(x, y, 32, true, 99, false);
    ck_assert_ptr_nonnull(b);
    cg_loss loss = j->imdb ? CG_LOSS_BINARY_CROSSENTROPY : CG_LOSS_MSE;
    for (int s = 0; s < j->steps; s++) {
        if (s % cg_batcher_len(b) == 0) cg_batcher_start_epoch(b, s / cg_batcher_len(b));
        cg_scope *sc = cg_scope_begin();
        cg_tensor *xb, *yb;
        ck_assert(cg_batcher_next(b, &xb, &yb));
        cg_optim_zero_grad(opt);
        cg_tensor *l = cg_loss_apply(loss, cg_module_forward(m, xb), yb);
        ck_assert_int_eq(cg_backward(l), CG_OK);
        ck_assert_int_eq(cg_optim_step(opt), CG_OK);
        cg_scope_end(sc);
    }
    *count = cg_module_param_count(m, false);
    float *w = malloc(sizeof(float) * (size_t)*count), *p = w;
    for (int i = 0; i < np; i++) {
        memcpy(p, cg_data_f32(ps[i]), sizeof(float) * (size_t)cg_numel(ps[i]));
        p += cg_numel(ps[i]);
    }
    cg_batcher_free(b);
    cg_optim_free(opt);
    cg_module_free(m);
    return w;
}

static void check_job(const job *j) {
    cg_scope *s = cg_scope_begin();
    int64_t n1, n2, n3;
    float *one = train(j, 1, &n1), *two = train(j, 2, &n2), *again = train(j, 2, &n3);
    ck_assert_int_eq(n1, n2);
    ck_assert_int_eq(n1, n3);
    ck_assert_msg(memcmp(one, two, sizeof(float) * (size_t)n1) == 0, "1 and 2 threads differ");
    ck_assert_msg(memcmp(two, again, sizeof(float) * (size_t)n1) == 0, "two runs differ");
    free(one);
    free(two);
    free(again);
    cg_scope_end(s);
}

/* The sanitizer build runs several times slower: it checks memory on 40
 * steps; the plain builds run the 200. */
#ifdef __SANITIZE_ADDRESS__
#define STEPS 40
#else
#define STEPS 200
#endif

START_TEST(imdb_simple_rnn_is_bitwise_reproducible) { check_job(&(job){true, STEPS}); }
END_TEST

START_TEST(long_dependency_lstm_is_bitwise_reproducible) { check_job(&(job){false, STEPS}); }
END_TEST

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* 10,000 steps of a small LSTM model: after the first step no heap
 * allocation, and the resident set does not grow. */
START_TEST(ten_thousand_steps_in_constant_memory) {
    cg_set_num_threads(1);
    cg_rng r = cg_rng_seeded(5);
    cg_rnn_opts ro = {.rng = &r};
    cg_module *m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_lstm_new(1, 16, &ro));
    cg_sequential_add(m, cg_dense_new(16, 1, CG_ACT_LINEAR, NULL));
    cg_tensor *ps[8];
    int np = cg_module_parameters(m, ps, 8);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(ps, np, &ao);
    cg_scope *data = cg_scope_begin();
    cg_tensor *x = cg_rand(&r, CG_FLOAT32, CG_SHAPE(32, 7, 1)), *y = cg_rand(&r, CG_FLOAT32, CG_SHAPE(32, 1));
    uint64_t allocs = 0;
    long rss_early = 0;
    for (int s = 0; s < 10000; s++) {
        cg_scope *sc = cg_scope_begin();
        cg_optim_zero_grad(opt);
        ck_assert_int_eq(cg_backward(cg_mse(cg_module_forward(m, x), y)), CG_OK);
        ck_assert_int_eq(cg_optim_step(opt), CG_OK);
        cg_scope_end(sc);
        if (s == 0) allocs = cg_heap_allocations();
        if (s == 100) rss_early = rss_kib();
    }
    ck_assert_uint_eq(cg_heap_allocations(), allocs);
#ifndef __SANITIZE_ADDRESS__ /* ASan's own bookkeeping grows the resident set */
    ck_assert_int_le(rss_kib(), rss_early + 256); /* a page or two of noise, no growth */
#else
    (void)rss_early;
#endif
    cg_scope_end(data);
    cg_optim_free(opt);
    cg_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- golden */

static uint64_t fnv_params(cg_module *m, uint64_t h) {
    cg_tensor *ps[32];
    int np = cg_module_parameters(m, ps, 32);
    for (int i = 0; i < np; i++) {
        const unsigned char *c = (const unsigned char *)cg_data_f32(ps[i]);
        for (size_t k = 0; k < sizeof(float) * (size_t)cg_numel(ps[i]); k++) h = (h ^ c[k]) * 0x100000001b3ull;
    }
    return h;
}

typedef enum { G_SIMPLE, G_LSTM, G_GRU, G_SPLIT, G_COUNT } golden_job;
static const char *const golden_names[] = {"simple_rnn", "lstm", "gru_dropout_rmsprop", "lstm_split_batch"};

/* A few steps of one job from a fixed seed; the weights' hash. */
static uint64_t golden_train(golden_job j, int threads) {
    cg_set_num_threads(threads);
    cg_manual_seed(11);
    cg_rng r = cg_rng_seeded(3);
    cg_module *m = cg_sequential_new(NULL);
    cg_tensor *x, *y;
    cg_loss loss = CG_LOSS_MSE;
    cg_scope *data = cg_scope_begin();
    if (j == G_SIMPLE) { /* Embedding -> SimpleRNN -> Dense(sigmoid), BCE */
        cg_sequential_add(m, cg_embedding_new_ex(500, 16, &(cg_embedding_opts){.rng = &r}));
        cg_sequential_add(m, cg_simple_rnn_new(16, 8, &(cg_rnn_opts){.rng = &r}));
        cg_sequential_add(m, cg_dense_new_ex(8, 1, &(cg_dense_opts){.activation = CG_ACT_SIGMOID, .rng = &r}));
        x = cg_randint(&r, CG_INT64, 1, 500, CG_SHAPE(64, 20));
        y = cg_bernoulli(&r, CG_FLOAT32, 0.5, CG_SHAPE(64, 1));
        loss = CG_LOSS_BINARY_CROSSENTROPY;
    } else { /* the multiplication problem through two recurrent layers */
        bool gru = j == G_GRU;
        cg_rnn_opts a = {.return_sequences = true, .rng = &r}, b = {.rng = &r};
        if (gru) a.dropout = b.recurrent_dropout = 0.2;
        cg_sequential_add(m, gru ? cg_gru_new(2, 12, &a) : cg_lstm_new(2, 12, &a));
        cg_sequential_add(m, gru ? cg_gru_new(12, 12, &b) : cg_lstm_new(12, 12, &b));
        cg_sequential_add(m, cg_dense_new_ex(12, 1, &(cg_dense_opts){.rng = &r}));
        ck_assert_int_eq(cg_multiplication_problem(&r, CG_FLOAT32, 64, 30, &x, &y), CG_OK);
    }
    cg_tensor *ps[16];
    int np = cg_module_parameters(m, ps, 16);
    cg_optim *opt;
    if (j == G_GRU) {
        cg_rmsprop_opts o = cg_rmsprop_keras();
        opt = cg_rmsprop_new(ps, np, &o);
    } else {
        cg_adam_opts o = cg_adam_keras();
        opt = cg_adam_new(ps, np, &o);
    }
    cg_module_train(m, true);
    for (int step = 0; step < 8; step++) {
        int64_t b0 = (step % 2) * 32;
        cg_scope *sc = cg_scope_begin();
        cg_tensor *xb = cg_k_slice(x, 0, b0, b0 + 32, 1), *yb = cg_k_slice(y, 0, b0, b0 + 32, 1);
        cg_optim_zero_grad(opt);
        ck_assert_int_eq(cg_train_batch(m, loss, CG_METRIC_NONE, xb, yb, j == G_SPLIT ? 2 : 0, NULL, NULL), CG_OK);
        ck_assert_int_eq(cg_optim_step(opt), CG_OK);
        cg_scope_end(sc);
    }
    uint64_t h = fnv_params(m, 0xcbf29ce484222325ull);
    cg_scope_end(data);
    cg_optim_free(opt);
    cg_module_free(m);
    return h;
}

START_TEST(golden_weights) {
    static const uint64_t want[G_COUNT] = {0x0326f0c823208153ull, 0xf825588ac43cdd95ull, 0xc27d052a37b76dc3ull,
                                           0xb30a66d1f8da1071ull};
    cg_info i = cg_build_info();
    ck_assert_msg(!strcmp(i.blis_config, "generic"), "BLIS runs %s, not generic", i.blis_config);
    ck_assert_msg(!strncmp(i.small_gemm, "BLIS", 4), "small products run by %s, not BLIS", i.small_gemm);
    bool print = getenv("CGRAD_PRINT_GOLDEN") != NULL;
    for (int j = 0; j < G_COUNT; j++)
        for (int threads = 1; threads <= 2; threads++) {
            uint64_t h = golden_train((golden_job)j, threads);
            if (print) printf("%s, %d threads: 0x%016llxull\n", golden_names[j], threads, (unsigned long long)h);
            else ck_assert_msg(h == want[j], "%s, %d thread(s): weights hash %016llx, expected %016llx: this build "
                               "or CPU trains to other bits", golden_names[j], threads, (unsigned long long)h,
                               (unsigned long long)want[j]);
        }
}
END_TEST

int main(void) {
    if (getenv("CGRAD_TEST_GOLDEN")) { /* BLIS's generic kernels: chosen before BLIS starts */
        char id[16];
        snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_GENERIC);
        setenv("BLIS_ARCH_TYPE", id, 1);
        setenv("CGRAD_XSMM", "0", 1); /* every product through BLIS: libxsmm's kernels depend on the CPU */
        Suite *s = suite_create("determinism_golden");
        TCase *tc = tcase_create("golden");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, golden_weights);
        suite_add_tcase(s, tc);
        return cgt_run(s);
    }
    Suite *s = suite_create("determinism");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, imdb_simple_rnn_is_bitwise_reproducible);
    tcase_add_test(tc, long_dependency_lstm_is_bitwise_reproducible);
    tcase_add_test(tc, ten_thousand_steps_in_constant_memory);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
