/* fit / evaluate / predict, the progress line, history, callbacks,
 * checkpoints and resuming. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* y = 2x - 1 + small noise, x in [-1, 1]: [n, 1] each. */
static void line_data(int64_t n, cg_tensor **x, cg_tensor **y) {
    cg_rng r = cg_rng_seeded(11);
    *x = cg_uniform(&r, CG_FLOAT32, -1, 1, CG_SHAPE(n, 1));
    cg_tensor *noise = cg_normal(&r, CG_FLOAT32, 0, 0.01, CG_SHAPE(n, 1));
    *y = cg_k_binary(CG_ADD, cg_k_scalar(CG_SUB, cg_k_scalar(CG_MUL, *x, 2.0), 1.0), noise);
}

typedef struct {
    cg_module *model;
    cg_optim *opt;
    cg_tensor *params[4];
    int np;
} setup;

static setup make(double lr, uint64_t seed) {
    setup s;
    cg_rng r = cg_rng_seeded(seed);
    cg_dense_opts o = {.rng = &r};
    s.model = cg_dense_new_ex(1, 1, &o);
    s.np = cg_module_parameters(s.model, s.params, 4);
    cg_sgd_opts so = cg_sgd_torch();
    so.lr = lr;
    s.opt = cg_sgd_new(s.params, s.np, &so);
    ck_assert_ptr_nonnull(s.opt);
    return s;
}

static void drop(setup *s) {
    cg_optim_free(s->opt);
    cg_module_free(s->model);
}

/* Run fit with output captured into buf. */
static cg_history *fit_captured(setup *s, cg_tensor *x, cg_tensor *y, cg_fit_opts o, char *buf, size_t n) {
    FILE *f = fmemopen(buf, n, "w");
    o.out = f;
    cg_history *h = cg_fit(s->model, s->opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    fclose(f);
    return h;
}

START_TEST(fit_learns_and_prints_keras_lines) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(256, &x, &y);
    setup s = make(0.3, 1);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 20;
    o.validation_split = 0.25;
    char out[16384] = {0};
    cg_history *h = fit_captured(&s, x, y, o, out, sizeof out);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->status, CG_OK);
    ck_assert_int_eq(h->epochs, 20);
    ck_assert_int_eq(h->n_keys, 2);
    ck_assert_str_eq(h->keys[0], "loss");
    ck_assert_str_eq(h->keys[1], "val_loss");
    ck_assert_double_lt(cg_history_last(h, "loss"), 1e-3);
    ck_assert_double_lt(cg_history_last(h, "loss"), cg_history_get(h, "loss", 0) / 100);
    /* not a terminal: "Epoch k/20" and one final line per epoch */
    ck_assert_ptr_nonnull(strstr(out, "Epoch 1/20\n6/6 [==============================] - "));
    ck_assert_ptr_nonnull(strstr(out, "Epoch 20/20\n"));
    ck_assert_ptr_nonnull(strstr(out, "/step - loss: "));
    ck_assert_ptr_nonnull(strstr(out, " - val_loss: "));
    ck_assert_ptr_null(strstr(out, "ETA"));
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 40);
    /* the validation set is the last quarter, before shuffling */
    cg_eval_result r = cg_evaluate(s.model, CG_LOSS_MSE, CG_METRIC_NONE, cg_k_slice(x, 0, 192, 256, 1),
                                   cg_k_slice(y, 0, 192, 256, 1), 32);
    ck_assert_int_eq(r.status, CG_OK);
    ck_assert_double_eq_tol(r.loss, cg_history_last(h, "val_loss"), 1e-9);
    cg_history_free(h);
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

START_TEST(verbose_modes) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(64, &x, &y);
    setup s = make(0.1, 2);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 2;
    char out[4096] = {0};
    o.verbose = 0;
    cg_history_free(fit_captured(&s, x, y, o, out, sizeof out));
    ck_assert_str_eq(out, "");
    o.verbose = 2;
    cg_history_free(fit_captured(&s, x, y, o, out, sizeof out));
    ck_assert_ptr_nonnull(strstr(out, "Epoch 2/2\n2/2 - "));
    ck_assert_ptr_nonnull(strstr(out, "s/epoch - "));
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

START_TEST(history_csv_and_plot) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(64, &x, &y);
    setup s = make(0.1, 3);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 3;
    o.verbose = 0;
    o.validation_split = 0.5;
    cg_history *h = cg_fit(s.model, s.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    char dir[] = "/tmp/cgrad_train_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char csv[256], png[256], pcsv[256];
    snprintf(csv, sizeof csv, "%s/history.csv", dir);
    snprintf(png, sizeof png, "%s/loss.png", dir);
    snprintf(pcsv, sizeof pcsv, "%s/loss.csv", dir);
    ck_assert_int_eq(cg_history_write_csv(h, csv), CG_OK);
    FILE *f = fopen(csv, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,loss,val_loss\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int e;
        double l, v;
        ck_assert_int_eq(sscanf(line, "%d,%lf,%lf", &e, &l, &v), 3);
        ck_assert_int_eq(e, ++rows);
        ck_assert_double_eq_tol(l, cg_history_get(h, "loss", e - 1), 1e-6);
    }
    fclose(f);
    ck_assert_int_eq(rows, 3);
    cg_status st = cg_history_plot(h, png, "loss");
    ck_assert_int_eq(access(pcsv, R_OK), 0); /* the data always */
    if (system("command -v gnuplot >/dev/null 2>&1") == 0) {
        ck_assert_int_eq(st, CG_OK);
        unsigned char sig[8] = {0};
        f = fopen(png, "rb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fread(sig, 1, 8, f), 8);
        fclose(f);
        ck_assert_int_eq(memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0);
    } else {
        ck_assert_int_eq(st, CG_ERR_IO);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    cg_history_free(h);
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

START_TEST(predict_matches_forward) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(70, &x, &y);
    setup s = make(0.1, 4);
    cg_tensor *p = cg_predict(s.model, x, 16);
    ck_assert_shape(p, 70, 1);
    cg_tensor *f = cg_module_forward(s.model, x);
    cg_tensor *d = cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_SUB, p, f)), NULL, 0, false);
    ck_assert_double_eq(cg_item(d), 0);
    ck_assert(!cg_requires_grad(p));
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

/* Embedding(V, 6) -> recurrent layer k (0 SimpleRNN, 1 LSTM, 2 GRU; 3: a
 * Bidirectional LSTM, which has no vocabulary table) of 5 units -> Dense. */
static cg_module *token_model(int k, int vocab, bool mask_zero, bool backwards, uint64_t seed) {
    cg_rng r = cg_rng_seeded(seed);
    cg_module *m = cg_sequential_new(NULL);
    cg_embedding_opts eo = {.mask_zero = mask_zero, .rng = &r};
    cg_sequential_add(m, cg_embedding_new_ex(vocab, 6, &eo));
    cg_rnn_opts o = {.go_backwards = backwards, .rng = &r};
    cg_module *l = k == 0 ? cg_simple_rnn_new(6, 5, &o) : k == 1 ? cg_lstm_new(6, 5, &o) : k == 2 ? cg_gru_new(6, 5, &o)
                                                                                          : cg_bidirectional_new(cg_lstm_new(6, 5, &o), NULL);
    cg_sequential_add(m, l);
    cg_dense_opts d = {.rng = &r};
    ck_assert_ptr_nonnull(cg_sequential_add(m, cg_dense_new_ex(k == 3 ? 10 : 5, 1, &d)));
    return m;
}

/* Token ids in [0, vocab), some zeros (padding for mask_zero), [n, T]. */
static cg_tensor *token_ids(int64_t n, int64_t T, int vocab, uint64_t seed) {
    cg_rng r = cg_rng_seeded(seed);
    cg_tensor *x = cg_randint(&r, CG_INT64, 0, vocab, CG_SHAPE(n, T));
    int64_t *v = cg_data_i64(x);
    for (int64_t i = 0; i < n; i++) v[i * T + (i % T)] = 0;
    return x;
}

static double max_abs_diff(const cg_tensor *a, const cg_tensor *b) {
    return cg_item(cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_SUB, a, b)), NULL, 0, false));
}

/* cg_predict and cg_evaluate over more tokens than the vocabulary has
 * project the vocabulary once (cg_module_inference_begin) and agree with
 * plain forwards; each cell, masked or not, backwards or not. */
START_TEST(predict_through_vocabulary_table) {
    cg_scope *sc = cg_scope_begin();
    for (int k = 0; k < 4; k++)
        for (int v = 0; v < 4; v++) {
            bool mz = v & 1, bw = v & 2;
            cg_module *m = token_model(k, 40, mz, bw, 3 + (uint64_t)v);
            cg_tensor *x = token_ids(30, 7, 40, 5), *y = cg_zeros(CG_FLOAT32, CG_SHAPE(30, 1));
            cg_tensor *p = cg_predict(m, x, 8), *f;
            ck_assert_ptr_nonnull(p);
            CG_NO_GRAD { f = cg_module_forward(m, x); }
            ck_assert_msg(max_abs_diff(p, f) <= 1e-6, "layer %d, mask_zero %d, go_backwards %d: predict differs by %g", k,
                          mz, bw, max_abs_diff(p, f));
            cg_eval_result e = cg_evaluate(m, CG_LOSS_MSE, CG_METRIC_NONE, x, y, 8);
            ck_assert_int_eq(e.status, CG_OK);
            double want = cg_item(cg_k_reduce(CG_MEAN, cg_k_binary(CG_MUL, f, f), NULL, 0, false));
            ck_assert_double_eq_tol(e.loss, want, 1e-6 * (1 + want));
            cg_module_free(m);
        }
    cg_scope_end(sc);
}
END_TEST

/* Between begin and end the rows come from the table made at begin (here
 * seen by changing the embedding, which a caller must not do); not when the
 * tokens are fewer than the vocabulary, not with recording on, not after
 * end; bad ids are refused as without it, ids of the wrong rank with the
 * shape named. */
START_TEST(inference_table_is_used_only_when_it_pays) {
    cg_scope *sc = cg_scope_begin();
    ck_assert_int_eq(cg_module_inference_begin(NULL, NULL), CG_ERR_NULL);
    cg_module *m = token_model(1, 40, false, false, 9);
    ck_assert_int_eq(cg_module_inference_begin(m, NULL), CG_ERR_NULL);
    ck_assert_error(CG_ERR_NULL, "cg_module_inference_begin: NULL input");
    cg_tensor *emb = NULL;
    cg_module_parameters(cg_sequential_at(m, 0), &emb, 1);
    cg_tensor *x = token_ids(10, 7, 40, 6), *before, *during, *after, *few;
    cg_module_train(m, false);
    CG_NO_GRAD { before = cg_module_forward(m, x); }
    ck_assert_int_eq(cg_module_inference_begin(m, x), CG_OK); /* 70 tokens, 40 rows: made */
    cg_k_scalar_(CG_MUL, emb, 2.0);
    CG_NO_GRAD { during = cg_module_forward(m, x); }
    ck_assert_double_le(max_abs_diff(before, during), 1e-6);
    cg_tensor *bad = cg_clone(x);
    cg_data_i64(bad)[3] = 40;
    CG_NO_GRAD { ck_assert_ptr_null(cg_module_forward(m, bad)); }
    ck_assert_error(CG_ERR_INDEX, "token id 40 at position 3 is out of range");
    CG_NO_GRAD { ck_assert_ptr_null(cg_module_forward(m, cg_k_reshape(x, CG_SHAPE(70)))); }
    ck_assert_error(CG_ERR_SHAPE, "token ids are [70], expected [batch, time]");
    cg_tensor *with_grad = cg_module_forward(m, x); /* recording: the embedding itself */
    ck_assert(cg_requires_grad(with_grad));
    ck_assert_double_gt(max_abs_diff(before, with_grad), 1e-4);
    cg_module_inference_end(m);
    CG_NO_GRAD { after = cg_module_forward(m, x); }
    ck_assert_double_gt(max_abs_diff(before, after), 1e-4);
    ck_assert_int_eq(cg_module_inference_begin(m, cg_k_slice(x, 0, 0, 5, 1)), CG_OK); /* 35 tokens: not made */
    cg_k_scalar_(CG_MUL, emb, 0.5);
    CG_NO_GRAD { few = cg_module_forward(m, x); }
    ck_assert_double_le(max_abs_diff(before, few), 1e-6);
    cg_module_inference_end(m);
    cg_module_free(m);
    cg_scope_end(sc);
}
END_TEST

/* Batches of 64 rows split over 2 threads give what one thread and a
 * plain forward give; an error in the second thread's rows is reported as
 * it would be unsplit, and nothing is returned. */
START_TEST(predict_splits_batches_over_threads) {
    cg_scope *sc = cg_scope_begin();
    int threads = cg_get_num_threads();
    cg_module *m = token_model(1, 500, true, false, 21);
    cg_tensor *x = token_ids(150, 9, 500, 8), *f;
    CG_NO_GRAD { f = cg_module_forward(m, x); }
    cg_set_num_threads(2);
    cg_tensor *two = cg_predict(m, x, 64);
    cg_set_num_threads(1);
    cg_tensor *one = cg_predict(m, x, 64);
    ck_assert_ptr_nonnull(two);
    ck_assert_ptr_nonnull(one);
    ck_assert_double_eq(max_abs_diff(two, one), 0);
    ck_assert_double_le(max_abs_diff(two, f), 1e-6);
    cg_set_num_threads(2);
    cg_tensor *bad = cg_clone(x);
    cg_data_i64(bad)[100 * 9 + 4] = 500; /* row 100: the second part of the second batch */
    ck_assert_ptr_null(cg_predict(m, bad, 64));
    ck_assert_error(CG_ERR_INDEX, "token id 500 at position");
    cg_set_num_threads(threads);
    cg_module_free(m);
    cg_scope_end(sc);
}
END_TEST

START_TEST(early_stopping_restores_best) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(64, &x, &y);
    setup s = make(5.0, 5); /* too large: the loss diverges after the first epochs */
    cg_callback cb = {.kind = CG_CALLBACK_EARLY_STOPPING, .monitor = "loss", .patience = 2, .restore_best_weights = true};
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 30;
    o.verbose = 0;
    o.callbacks = &cb;
    o.n_callbacks = 1;
    cg_history *h = cg_fit(s.model, s.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_lt(h->epochs, 30);
    int best = 0;
    for (int e = 1; e < h->epochs; e++)
        if (cg_history_get(h, "loss", e) < cg_history_get(h, "loss", best)) best = e;
    ck_assert_int_eq(h->epochs, best + 1 + cb.patience + 1);
    /* the restored weights are the best epoch's: their loss is no worse
     * than the last epoch's */
    cg_eval_result r = cg_evaluate(s.model, CG_LOSS_MSE, CG_METRIC_NONE, x, y, 64);
    ck_assert_double_lt(r.loss, cg_history_last(h, "loss"));
    cg_history_free(h);
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

/* accumulate k: k micro-batches of batch_size per step, their gradients
 * summed (each weighted by its share of the step), equal one batch of k
 * times the size; the last step's short micro-batches included. */
START_TEST(accumulated_micro_batches_equal_one_batch) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(70, &x, &y); /* steps of 24: 24, 24, 22 (micro-batches 8, 8, 6) */
    setup a = make(0.1, 5), b = make(0.1, 5);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 3, o.verbose = 0, o.seed = 2;
    o.batch_size = 8, o.accumulate = 3;
    cg_history *ha = cg_fit(a.model, a.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    o.batch_size = 24, o.accumulate = 0;
    cg_history *hb = cg_fit(b.model, b.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    ck_assert_ptr_nonnull(ha);
    ck_assert_ptr_nonnull(hb);
    for (int e = 0; e < 3; e++)
        ck_assert_double_eq_tol(cg_history_get(ha, "loss", e), cg_history_get(hb, "loss", e), 1e-6);
    for (int i = 0; i < a.np; i++)
        ck_assert_double_eq_tol(cg_data_f32(a.params[i])[0], cg_data_f32(b.params[i])[0], 1e-6);
    /* not the same as three steps of 8 */
    setup c = make(0.1, 5);
    o.batch_size = 8;
    cg_history *hc = cg_fit(c.model, c.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    ck_assert(fabs(cg_history_last(hc, "loss") - cg_history_last(hb, "loss")) > 1e-4);
    o.accumulate = -1;
    ck_assert_ptr_null(cg_fit(c.model, c.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o));
    ck_assert_error(CG_ERR_VALUE, "accumulate -1");
    cg_history_free(ha), cg_history_free(hb), cg_history_free(hc);
    drop(&a), drop(&b), drop(&c);
    cg_scope_end(sc);
}
END_TEST

START_TEST(nan_loss_stops_with_error) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(64, &x, &y);
    cg_set(y, (int64_t[]){40, 0}, NAN);
    setup s = make(0.1, 6);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 3;
    o.verbose = 0;
    o.shuffle = false;
    cg_history *h = cg_fit(s.model, s.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->status, CG_ERR_NUMERIC);
    ck_assert_int_eq(h->epochs, 0);
    ck_assert_ptr_nonnull(strstr(cg_last_error(), "epoch 1, batch 2"));
    cg_clear_error();
    cg_history_free(h);
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

START_TEST(bad_arguments) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *x, *y;
    line_data(10, &x, &y);
    setup s = make(0.1, 7);
    cg_fit_opts o = cg_fit_defaults();
    ck_assert_ptr_null(cg_fit(s.model, s.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, cg_k_slice(y, 0, 0, 5, 1), &o));
    ck_assert_error(CG_ERR_SHAPE, "same, non-zero number of samples");
    o.batch_size = 0;
    ck_assert_ptr_null(cg_fit(s.model, s.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o));
    ck_assert_error(CG_ERR_VALUE, "batch_size 0");
    ck_assert_ptr_null(cg_fit(NULL, s.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, NULL));
    ck_assert_error(CG_ERR_NULL, "required");
    cg_eval_result r = cg_evaluate(s.model, CG_LOSS_MSE, CG_METRIC_NONE, x, NULL, 4);
    ck_assert_int_eq(r.status, CG_ERR_SHAPE);
    cg_clear_error();
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

/* Train `epochs` epochs of a dropout model from `start`, checkpointing each
 * epoch into path; returns the final weights. */
static void train_dropout(int start, int epochs, const char *path, bool resume, float *w_out) {
    cg_manual_seed(99);
    cg_rng r = cg_rng_seeded(5);
    cg_module *m = cg_sequential_new(NULL);
    cg_dense_opts d1 = {.activation = CG_ACT_TANH, .rng = &r}, d2 = {.rng = &r};
    cg_sequential_add(m, cg_dense_new_ex(1, 8, &d1));
    cg_sequential_add(m, cg_dropout_new(0.2, NULL, NULL));
    cg_sequential_add(m, cg_dense_new_ex(8, 1, &d2));
    cg_tensor *ps[8];
    int np = cg_module_parameters(m, ps, 8);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(ps, np, &ao);
    int epoch = 0;
    if (resume) {
        ck_assert_int_eq(cg_checkpoint_load(path, m, opt, &epoch, NULL), CG_OK);
        ck_assert_int_eq(epoch, start);
    }
    cg_tensor *x, *y;
    line_data(96, &x, &y);
    cg_callback cb = {.kind = CG_CALLBACK_CHECKPOINT, .path = path};
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = epochs;
    o.initial_epoch = start;
    o.verbose = 0;
    o.seed = 17;
    o.callbacks = &cb;
    o.n_callbacks = 1;
    cg_history *h = cg_fit(m, opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->status, CG_OK);
    cg_history_free(h);
    int k = 0;
    for (int i = 0; i < np; i++) {
        memcpy(w_out + k, cg_data_f32(ps[i]), sizeof(float) * (size_t)cg_numel(ps[i]));
        k += (int)cg_numel(ps[i]);
    }
    cg_optim_free(opt);
    cg_module_free(m);
}

START_TEST(checkpoint_resume_is_bitwise_equal) {
    cg_scope *sc = cg_scope_begin();
    char path[] = "/tmp/cgrad_ckpt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    float straight[64], resumed[64];
    train_dropout(0, 6, path, false, straight); /* 6 epochs in one go */
    train_dropout(0, 3, path, false, resumed);  /* 3 epochs, checkpoint ... */
    train_dropout(3, 6, path, true, resumed);   /* ... resumed to 6 */
    ck_assert_int_eq(memcmp(straight, resumed, sizeof(float) * 25), 0);
    /* a damaged checkpoint is refused and changes nothing */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(path, len - 5), 0);
    cg_module *m = cg_dense_new(1, 8, CG_ACT_TANH, NULL);
    ck_assert_int_ne(cg_checkpoint_load(path, m, NULL, NULL, NULL), CG_OK);
    cg_clear_error();
    cg_module_free(m);
    unlink(path);
    cg_scope_end(sc);
}
END_TEST

/* A checkpoint whose optimizer state fits but whose model tensors are
 * missing is refused before the optimizer changes. */
START_TEST(checkpoint_checks_model_before_optimizer) {
    cg_scope *sc = cg_scope_begin();
    setup s = make(0.1, 9);
    cg_tensor *x, *y;
    line_data(16, &x, &y);
    cg_backward(cg_mse(cg_module_forward(s.model, x), y));
    ck_assert_int_eq(cg_optim_step(s.opt), CG_OK);
    char path[] = "/tmp/cgrad_ckpt2_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cg_named_tensor nt[16];
    int n = cg_optim_state_tensors(s.opt, nt, 16);
    const char *keys[] = {"format", "epoch", "rng_seed", "rng_counter"};
    const char *vals[] = {"cgrad-checkpoint-1", "1", "1", "0"};
    ck_assert_int_eq(cg_safetensors_save(path, nt, n, keys, vals, 4), CG_OK);
    ck_assert_int_eq(cg_optim_set_lr(s.opt, 0, 0.5), CG_OK); /* the file says 0.1 */
    ck_assert_int_ne(cg_checkpoint_load(path, s.model, s.opt, NULL, NULL), CG_OK);
    ck_assert_ptr_nonnull(strstr(cg_last_error(), "cg_module_load"));
    cg_clear_error();
    ck_assert_double_eq(cg_optim_get_lr(s.opt, 0), 0.5);
    unlink(path);
    drop(&s);
    cg_scope_end(sc);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fit_learns_and_prints_keras_lines);
    tcase_add_test(tc, verbose_modes);
    tcase_add_test(tc, history_csv_and_plot);
    tcase_add_test(tc, predict_matches_forward);
    tcase_add_test(tc, predict_through_vocabulary_table);
    tcase_add_test(tc, inference_table_is_used_only_when_it_pays);
    tcase_add_test(tc, predict_splits_batches_over_threads);
    tcase_add_test(tc, early_stopping_restores_best);
    tcase_add_test(tc, accumulated_micro_batches_equal_one_batch);
    tcase_add_test(tc, nan_loss_stops_with_error);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, checkpoint_resume_is_bitwise_equal);
    tcase_add_test(tc, checkpoint_checks_model_before_optimizer);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
