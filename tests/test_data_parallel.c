/* A batch split over threads (cg_train_batch with shards, gradient sinks,
 * forked random streams) gives the unsplit batch's gradients, the same
 * bits on every run, and errors that leave .grad as it was. */
#include "testlib.h"

#include <omp.h>
#include <string.h>

#define MAXP 8

typedef struct {
    cg_module *m;
    cg_tensor *ps[MAXP];
    int np;
    cg_tensor *x, *y;
} model;

/* Embedding(50, 8) -> LSTM(6) -> Dense(1) on [n, 7] ids; dropout p > 0
 * puts a Dropout(p) before the Dense. */
static model make(int64_t n, double dropout) {
    model s;
    cg_rng r = cg_rng_seeded(5);
    cg_embedding_opts eo = {.rng = &r};
    cg_rnn_opts ro = {.rng = &r};
    cg_dense_opts d = {.rng = &r};
    s.m = cg_sequential_new(NULL);
    cg_sequential_add(s.m, cg_embedding_new_ex(50, 8, &eo));
    cg_sequential_add(s.m, cg_lstm_new(8, 6, &ro));
    if (dropout > 0) cg_sequential_add(s.m, cg_dropout_new(dropout, NULL, NULL));
    cg_sequential_add(s.m, cg_dense_new_ex(6, 1, &d));
    s.np = cg_module_parameters(s.m, s.ps, MAXP);
    s.x = cg_randint(&r, CG_INT64, 0, 50, CG_SHAPE(n, 7));
    s.y = cg_rand(&r, CG_FLOAT32, CG_SHAPE(n, 1));
    ck_assert_ptr_nonnull(s.x);
    return s;
}

static void zero(model *s) {
    for (int i = 0; i < s->np; i++) cg_zero_grad(s->ps[i]);
}

/* Every parameter's gradient, concatenated (caller frees); absent = 0. */
static float *grads(const model *s, int64_t *count) {
    int64_t n = 0;
    for (int i = 0; i < s->np; i++) n += cg_numel(s->ps[i]);
    float *g = calloc((size_t)n, sizeof(float)), *p = g;
    for (int i = 0; i < s->np; i++) {
        cg_tensor *gi = cg_grad(s->ps[i]);
        if (gi) memcpy(p, cg_data_f32(gi), sizeof(float) * (size_t)cg_numel(gi));
        p += cg_numel(s->ps[i]);
    }
    *count = n;
    return g;
}

static float *batch_grads(model *s, cg_tensor *x, cg_tensor *y, int shards, double *loss, int64_t *count) {
    zero(s);
    ck_assert_int_eq(cg_train_batch(s->m, CG_LOSS_MSE, CG_METRIC_NONE, x, y, shards, loss, NULL), CG_OK);
    return grads(s, count);
}

static void assert_close(const float *a, const float *b, int64_t n, double tol) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d, at = i;
    }
    ck_assert_msg(worst <= tol, "gradient %lld: %g vs %g", (long long)at, (double)a[at], (double)b[at]);
}

START_TEST(split_batch_matches_whole_batch) {
    cg_set_num_threads(2);
    model s = make(10, 0);
    int64_t n;
    double l1, l2, l3;
    float *whole = batch_grads(&s, s.x, s.y, 1, &l1, &n);
    float *two = batch_grads(&s, s.x, s.y, 2, &l2, &n);
    /* the embedding's gradient stays row-sparse: exactly the ids used */
    int64_t nrows = 0;
    const int64_t *rows = cg_grad_rows(s.ps[0], &nrows);
    ck_assert_ptr_nonnull(rows);
    bool used[50] = {false};
    int64_t distinct = 0;
    for (int64_t i = 0; i < 70; i++) {
        int64_t id = ((const int64_t *)cg_data(s.x))[i];
        if (!used[id]) used[id] = true, distinct++;
    }
    ck_assert_int_eq(nrows, distinct);
    for (int64_t k = 0; k < nrows; k++) ck_assert(used[rows[k]]);
    float *three = batch_grads(&s, s.x, s.y, 3, &l3, &n); /* 3 parts on 2 threads */
    float *each = batch_grads(&s, s.x, s.y, -1, &l3, &n);
    ck_assert_double_eq_tol(l1, l2, 1e-6);
    ck_assert_double_eq_tol(l1, l3, 1e-6);
    assert_close(whole, two, n, 1e-6);
    assert_close(whole, three, n, 1e-6);
    assert_close(two, each, n, 0); /* -1: one part per thread, as 2 */
    /* the split gradients are not just the whole batch's copied: one part alone differs */
    float *part = batch_grads(&s, cg_slice(s.x, 0, 0, 5, 1), cg_slice(s.y, 0, 0, 5, 1), 1, &l3, &n);
    double diff = 0;
    for (int64_t i = 0; i < n; i++) diff += fabs((double)part[i] - (double)whole[i]);
    ck_assert(diff > 1e-3);
    free(whole), free(two), free(three), free(each), free(part);
    cg_module_free(s.m);
}
END_TEST

/* The sinks keep their buffers between steps: a second batch touching
 * other embedding rows must not see the first one's. */
START_TEST(kept_buffers_start_each_step_empty) {
    cg_set_num_threads(2);
    model s = make(12, 0);
    cg_tensor *xa = cg_slice(s.x, 0, 0, 6, 1), *ya = cg_slice(s.y, 0, 0, 6, 1);
    cg_tensor *xb = cg_slice(s.x, 0, 6, 12, 1), *yb = cg_slice(s.y, 0, 6, 12, 1);
    int64_t n;
    double l;
    float *want = batch_grads(&s, xb, yb, 1, &l, &n);
    for (int rep = 0; rep < 3; rep++) {
        free(batch_grads(&s, xa, ya, 2, &l, &n));
        float *got = batch_grads(&s, xb, yb, 2, &l, &n);
        assert_close(want, got, n, 1e-6);
        free(got);
    }
    /* the same bits on every run */
    float *a = batch_grads(&s, s.x, s.y, 2, &l, &n), *b = batch_grads(&s, s.x, s.y, 2, &l, &n);
    ck_assert(memcmp(a, b, sizeof(float) * (size_t)n) == 0);
    free(want), free(a), free(b);
    cg_module_free(s.m);
}
END_TEST

START_TEST(dropout_parts_draw_reproducibly) {
    cg_set_num_threads(2);
    model s = make(8, 0.5);
    int64_t n;
    double l;
    cg_manual_seed(3);
    float *a = batch_grads(&s, s.x, s.y, 2, &l, &n);
    uint64_t after = cg_default_rng()->counter;
    float *a2 = batch_grads(&s, s.x, s.y, 2, &l, &n); /* a new step: new masks */
    cg_manual_seed(3);
    float *b = batch_grads(&s, s.x, s.y, 2, &l, &n);
    ck_assert(memcmp(a, b, sizeof(float) * (size_t)n) == 0);
    ck_assert(memcmp(a, a2, sizeof(float) * (size_t)n) != 0);
    ck_assert_uint_eq(after, 1); /* the generator moved on once */
    free(a), free(a2), free(b);
    cg_module_free(s.m);
}
END_TEST

static cg_tensor *keep_hook(cg_tensor *g, void *user) {
    (void)user;
    return g;
}

START_TEST(errors_name_what_and_add_nothing) {
    cg_set_num_threads(2);
    model s = make(6, 0);
    zero(&s);
    ck_assert_int_eq(cg_train_batch(s.m, CG_LOSS_MSE, CG_METRIC_NONE, s.x, s.y, -2, NULL, NULL), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "shards = -2");
    ck_assert_int_eq(cg_train_batch(s.m, CG_LOSS_MSE, CG_METRIC_NONE, s.x, cg_slice(s.y, 0, 0, 4, 1), 2, NULL, NULL),
                     CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "same number of samples");
    ck_assert_int_eq(cg_train_batch(NULL, CG_LOSS_MSE, CG_METRIC_NONE, s.x, s.y, 2, NULL, NULL), CG_ERR_NULL);
    ck_assert_error(CG_ERR_NULL, "model");
    /* a NaN target in the second part: the error names its rows, and the
     * first part's gradients are not added */
    cg_tensor *bad = cg_clone(s.y);
    cg_data_f32(bad)[4] = NAN;
    double l = 0;
    ck_assert_int_eq(cg_train_batch(s.m, CG_LOSS_MSE, CG_METRIC_NONE, s.x, bad, 2, &l, NULL), CG_ERR_NUMERIC);
    ck_assert_error(CG_ERR_NUMERIC, "rows 3..6");
    ck_assert(isnan(l));
    int64_t n;
    float *g = grads(&s, &n);
    for (int64_t i = 0; i < n; i++) ck_assert(g[i] == 0);
    free(g);
    /* nor do they linger for the next step */
    double l1, l2;
    float *want = batch_grads(&s, s.x, s.y, 1, &l1, &n), *got = batch_grads(&s, s.x, s.y, 2, &l2, &n);
    assert_close(want, got, n, 1e-6);
    free(want), free(got);
    /* a hooked parameter cannot be split */
    zero(&s);
    ck_assert_int_eq(cg_register_hook(s.ps[s.np - 1], keep_hook, NULL), CG_OK);
    ck_assert_int_eq(cg_train_batch(s.m, CG_LOSS_MSE, CG_METRIC_NONE, s.x, s.y, 2, NULL, NULL), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "gradient hook");
    g = grads(&s, &n);
    for (int64_t i = 0; i < n; i++) ck_assert(g[i] == 0);
    free(g);
    ck_assert_int_eq(cg_train_batch(s.m, CG_LOSS_MSE, CG_METRIC_NONE, s.x, s.y, 1, NULL, NULL), CG_OK);
    cg_module_free(s.m);
}
END_TEST

/* Two threads differentiate over one leaf at once, each into its sink. */
START_TEST(sinks_take_each_threads_gradients) {
    cg_tensor *w = cg_requires_grad_(cg_from_data(CG_FLOAT64, CG_SHAPE(3), (double[]){1, 2, 3}), true);
    cg_grad_sink *s[2];
    cg_scope *arena[2];
    for (int k = 0; k < 2; k++) { /* an arena each: only its thread allocates there */
        arena[k] = cg_arena_new();
        cg_scope_enter(arena[k]);
        ck_assert_ptr_nonnull(s[k] = cg_grad_sink_new());
        cg_scope_leave(arena[k]);
    }
    cg_status st[2] = {CG_ERR_STATE, CG_ERR_STATE};
#pragma omp parallel for num_threads(2)
    for (int k = 0; k < 2; k++) {
        cg_scope *sc = cg_scope_begin();
        cg_grad_sink_set(s[k]);
        /* d/dw sum((k+1) w^2) = 2 (k+1) w */
        st[k] = cg_backward(cg_sum(cg_mul_scalar(cg_square(w), k + 1.0), NULL, 0, false));
        cg_grad_sink_set(NULL);
        cg_scope_end(sc);
    }
    ck_assert_int_eq(st[0], CG_OK);
    ck_assert_int_eq(st[1], CG_OK);
    ck_assert_ptr_null(cg_grad(w));
    ck_assert_tensor_near(cg_grad_sink_grad(s[1], w), ((double[]){4, 8, 12}), 3, 0);
    ck_assert_int_eq(cg_grad_sink_merge(s[0]), CG_OK);
    ck_assert_int_eq(cg_grad_sink_merge(s[1]), CG_OK);
    ck_assert_tensor_near(cg_grad(w), ((double[]){6, 12, 18}), 3, 0);
    /* merged sinks are empty: merging again adds nothing */
    ck_assert_int_eq(cg_grad_sink_merge(s[0]), CG_OK);
    ck_assert_tensor_near(cg_grad(w), ((double[]){6, 12, 18}), 3, 0);
    ck_assert_int_eq(cg_grad_sink_merge(NULL), CG_ERR_NULL);
    for (int k = 0; k < 2; k++) cg_arena_free(arena[k]);
}
END_TEST

static cg_history *fit(int shards, double *w0) {
    cg_set_num_threads(2);
    model s = make(40, 0);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(s.ps, s.np, &ao);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 3;
    o.batch_size = 8;
    o.verbose = 0;
    o.shards = shards;
    cg_history *h = cg_fit(s.m, opt, CG_LOSS_MSE, CG_METRIC_NONE, s.x, s.y, &o);
    ck_assert_ptr_nonnull(h);
    *w0 = cg_data_f32(s.ps[s.np - 2])[0];
    cg_optim_free(opt);
    cg_module_free(s.m);
    return h;
}

START_TEST(fit_splits_batches) {
    double a, b, c;
    cg_history *one = fit(0, &a), *two = fit(2, &b), *again = fit(2, &c);
    ck_assert_int_eq(two->epochs, 3);
    for (int e = 0; e < 3; e++) {
        double l1 = cg_history_get(one, "loss", e), l2 = cg_history_get(two, "loss", e);
        ck_assert(isfinite(l2));
        ck_assert_double_eq_tol(l1, l2, 1e-4 * fabs(l1));
        ck_assert(cg_history_get(again, "loss", e) == l2);
    }
    ck_assert(cg_history_get(two, "loss", 2) < cg_history_get(two, "loss", 0));
    ck_assert_double_eq_tol(a, b, 1e-4);
    ck_assert(b == c);
    cg_history_free(one), cg_history_free(two), cg_history_free(again);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("data_parallel");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, split_batch_matches_whole_batch);
    tcase_add_test(t, kept_buffers_start_each_step_empty);
    tcase_add_test(t, dropout_parts_draw_reproducibly);
    tcase_add_test(t, errors_name_what_and_add_nothing);
    tcase_add_test(t, sinks_take_each_threads_gradients);
    tcase_add_test(t, fit_splits_batches);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return cgt_run(suite()); }
