/* Dense, Embedding, Dropout, Flatten, Activation and the losses against
 * PyTorch (tests/reference/nn_fixtures.py); initializers; summary();
 * errors on bad input; custom modules; allocation-free training steps. */
#include "test_nn_common.h"

static const char *const act_name[] = {"linear", "relu", "tanh", "sigmoid", "softmax"};
static const cg_activation acts[] = {CG_ACT_LINEAR, CG_ACT_RELU, CG_ACT_TANH, CG_ACT_SIGMOID, CG_ACT_SOFTMAX};

static cg_tensor *fxf(const fixture *fx, const char *fmt, const char *a) {
    char n[128];
    snprintf(n, sizeof n, fmt, a);
    return fx_get(fx, n);
}

static double max_abs(const cg_tensor *t) {
    return cg_item(cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, t), NULL, 0, false));
}

/* ------------------------------------------------------ layers vs PyTorch */

START_TEST(dense_matches_torch) {
    fixture *fx = fx_load("nn_layers.txt");
    const char *a = act_name[_i];
    cg_module *d = cg_dense_new(4, 5, acts[_i], NULL);
    ck_assert_ptr_nonnull(cg_k_copy_(nnt_param(d, "kernel"), cg_k_transpose(fx_get(fx, "dense_weight"), 0, 1)));
    ck_assert_ptr_nonnull(cg_k_copy_(nnt_param(d, "bias"), fx_get(fx, "dense_bias")));
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(fxf(fx, "dense_%s_x", a), true);
    cg_tensor *y = cg_module_forward(d, x);
    ck_assert_shape(y, 3, 5);
    assert_close(y, fxf(fx, "dense_%s_out", a), 1e-6, "Dense(%s) output", a);
    ck_assert_int_eq(cg_backward(nnt_dot(y, fxf(fx, "dense_%s_w", a))), CG_OK);
    assert_close(cg_grad(x), fxf(fx, "dense_%s_grad_x", a), 1e-6, "Dense(%s) d x", a);
    assert_close(cg_grad(nnt_param(d, "kernel")), cg_k_transpose(fxf(fx, "dense_%s_grad_weight", a), 0, 1), 1e-6,
                 "Dense(%s) d kernel", a);
    assert_close(cg_grad(nnt_param(d, "bias")), fxf(fx, "dense_%s_grad_bias", a), 1e-6, "Dense(%s) d bias", a);

    /* the Activation layer alone, on [2, 3, 5] */
    cg_module *act = cg_activation_new(acts[_i], NULL);
    cg_tensor *ax = cg_requires_grad_(fxf(fx, "act_%s_x", a), true);
    cg_tensor *ay = cg_module_forward(act, ax);
    ck_assert_shape(ay, 2, 3, 5);
    assert_close(ay, fxf(fx, "act_%s_out", a), 1e-6, "Activation(%s)", a);
    ck_assert_int_eq(cg_backward(nnt_dot(ay, fxf(fx, "act_%s_w", a))), CG_OK);
    assert_close(cg_grad(ax), fxf(fx, "act_%s_grad_x", a), 1e-6, "Activation(%s) d x", a);
    cg_scope_end(s);
    cg_module_free(act);
    cg_module_free(d);
    fx_free(fx);
}
END_TEST

START_TEST(embedding_matches_torch) {
    fixture *fx = fx_load("nn_layers.txt");
    cg_module *e = cg_embedding_new(10, 4, NULL);
    cg_tensor *w = nnt_param(e, "embeddings");
    ck_assert_ptr_nonnull(cg_k_copy_(w, fx_get(fx, "emb_weight")));
    cg_scope *s = cg_scope_begin();
    cg_tensor *ids = fx_get(fx, "emb_ids"); /* ids 3 and 7 repeat: their gradients add up */
    cg_tensor *y = cg_module_forward(e, ids);
    ck_assert_shape(y, 3, 5, 4);
    assert_close(y, fx_get(fx, "emb_out"), 0, "Embedding output");
    ck_assert_int_eq(cg_backward(nnt_dot(y, fx_get(fx, "emb_w"))), CG_OK);
    assert_close(cg_grad(w), fx_get(fx, "emb_grad_weight"), 1e-6, "Embedding d weight");
    /* rows of ids never used (4, 5, 6, 8) get no gradient */
    for (int r = 4; r <= 8; r++)
        if (r != 7) ck_assert_double_eq(max_abs(cg_k_select(cg_grad(w), 0, r)), 0);
    cg_scope_end(s);
    cg_module_free(e);
    fx_free(fx);
}
END_TEST

START_TEST(dropout_train_and_eval) {
    cg_rng rng = cg_rng_seeded(3);
    const double p = 0.4;
    cg_module *d = cg_dropout_new(p, &rng, NULL);
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT32, 0.5, 1.5, CG_SHAPE(200, 50)), true);
    cg_tensor *y = cg_module_forward(d, x);
    ck_assert_shape(y, 200, 50);
    cg_tensor *yc = cg_k_contiguous(y), *xc = cg_k_contiguous(x);
    int64_t zeros = 0, n = cg_numel(x);
    for (int64_t i = 0; i < n; i++) {
        float v = cg_data_f32(yc)[i], xv = cg_data_f32(xc)[i];
        if (v == 0) zeros++;
        else ck_assert_msg(fabsf(v - xv / (float)(1 - p)) <= 1e-6f * v, "kept element %lld is %g, expected %g / 0.6",
                           (long long)i, v, xv);
    }
    double frac = (double)zeros / (double)n;
    ck_assert_msg(fabs(frac - p) < 0.03, "dropped fraction %g, rate %g", frac, p);
    /* the gradient is the same mask, scaled */
    ck_assert_int_eq(cg_backward(cg_sum(y, NULL, 0, false)), CG_OK);
    cg_tensor *g = cg_k_contiguous(cg_grad(x));
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq_tol(cg_data_f32(g)[i], cg_data_f32(yc)[i] == 0 ? 0.0f : (float)(1 / (1 - p)), 1e-6f);
    /* a second call draws a new mask */
    ck_assert(!nnt_same_bits(y, cg_module_forward(d, x)));
    /* eval: identity */
    cg_module_train(d, false);
    ck_assert(nnt_same_bits(cg_module_forward(d, x), x));
    cg_scope_end(s);
    cg_module_free(d);
}
END_TEST

START_TEST(flatten_layer) {
    cg_module *f = cg_flatten_new(NULL);
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(cg_clone(cg_k_reshape(cg_arange(CG_FLOAT32, 0, 24, 1), CG_SHAPE(2, 3, 4))), true);
    cg_tensor *y = cg_module_forward(f, x);
    ck_assert_shape(y, 2, 12);
    double want[24];
    for (int i = 0; i < 24; i++) want[i] = i;
    ck_assert_tensor_near(y, want, 24, 0);
    cg_tensor *w = cg_arange(CG_FLOAT32, 1, 25, 1);
    ck_assert_int_eq(cg_backward(nnt_dot(y, cg_k_reshape(w, CG_SHAPE(2, 12)))), CG_OK);
    ck_assert_shape(cg_grad(x), 2, 3, 4);
    for (int i = 0; i < 24; i++) want[i] = i + 1;
    ck_assert_tensor_near(cg_grad(x), want, 24, 0);
    cg_scope_end(s);
    cg_module_free(f);
}
END_TEST

/* ------------------------------------------------------------------ losses */

typedef cg_tensor *(*loss2)(cg_tensor *, cg_tensor *);
static cg_tensor *huber1(cg_tensor *p, cg_tensor *y) { return cg_huber(p, y, 1.0); }
static cg_tensor *xent(cg_tensor *p, cg_tensor *y) { return cg_cross_entropy(p, y); }
static cg_tensor *scce(cg_tensor *p, cg_tensor *y) { return cg_sparse_categorical_crossentropy(p, y); }

START_TEST(losses_match_torch) {
    static const struct {
        const char *name;
        loss2 fn;
    } cases[] = {{"bce_logits", cg_bce_with_logits}, {"mse", cg_mse}, {"mae", cg_mae}, {"huber", huber1},
                 {"mse_col", cg_mse}, {"cce", cg_categorical_crossentropy}, {"xent", xent}, {"xent3", xent},
                 {"scce", scce}, {"scce_unnorm", scce}};
    fixture *fx = fx_load("nn_layers.txt");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *n = cases[c].name;
        cg_scope *s = cg_scope_begin();
        cg_tensor *p = cg_requires_grad_(fxf(fx, "%s_in0", n), true), *y = fxf(fx, "%s_in1", n);
        cg_tensor *v = cases[c].fn(p, y);
        ck_assert_msg(v && cg_numel(v) == 1, "%s: %s", n, cg_last_error());
        assert_close(v, fxf(fx, "%s_value", n), 1e-6, "%s value", n);
        ck_assert_int_eq(cg_backward(v), CG_OK);
        assert_close(cg_grad(p), fxf(fx, "%s_grad", n), 1e-6, "%s gradient", n);
        cg_scope_end(s);
    }
    assert_close(scce(fx_get(fx, "scce_in0"), fx_get(fx, "scce_in1")), fx_get(fx, "scce_nll_value"), 1e-6, "scce = nll(log p)");
    fx_free(fx);
}
END_TEST

/* Keras binary_crossentropy, written out:
 *   p' = clip(p, eps, 1 - eps); -mean(y log(p' + eps) + (1 - y) log(1 - p' + eps)),
 * with eps = 1e-7; the gradient is 0 where p was clipped. [B, 1] vs [B]. */
START_TEST(binary_crossentropy_keras_formula) {
    const double p[] = {0, 1, 0.3, 0.9, 1e-9, 0.5, 0.999, 0.02}, y[] = {0, 1, 1, 0, 1, 0, 1, 1}, eps = 1e-7;
    const int n = 8;
    double want = 0, grad[8];
    for (int i = 0; i < n; i++) {
        double pc = fmin(fmax(p[i], eps), 1 - eps);
        want -= (y[i] * log(pc + eps) + (1 - y[i]) * log(1 - pc + eps)) / n;
        bool clipped = p[i] < eps || p[i] > 1 - eps;
        grad[i] = clipped ? 0 : -(y[i] / (pc + eps) - (1 - y[i]) / (1 - pc + eps)) / n;
    }
    cg_scope *s = cg_scope_begin();
    cg_tensor *pt = cg_requires_grad_(cg_from_data(CG_FLOAT64, CG_SHAPE(8, 1), p), true);
    cg_tensor *v = cg_binary_crossentropy(pt, cg_from_data(CG_FLOAT64, CG_SHAPE(8), y));
    ck_assert_tensor_near(v, &want, 1, 1e-12);
    ck_assert_int_eq(cg_backward(v), CG_OK);
    ck_assert_tensor_near(cg_grad(pt), grad, 8, 1e-12);
    /* float32 gives the same within float precision */
    cg_tensor *v32 = cg_binary_crossentropy(cg_to_dtype(pt, CG_FLOAT32), cg_from_data(CG_FLOAT32, CG_SHAPE(8, 1), F32(0, 1, 1, 0, 1, 0, 1, 1)));
    ck_assert_tensor_near(v32, &want, 1, 1e-5);
    cg_scope_end(s);
}
END_TEST

START_TEST(accuracies) {
    cg_scope *s = cg_scope_begin();
    /* Keras: predicted class = p > threshold (0.5 itself is class 0) */
    cg_tensor *p = cg_from_data(CG_FLOAT32, CG_SHAPE(5, 1), F32(0.2f, 0.7f, 0.5f, 0.9f, 0.51f));
    cg_tensor *y = cg_from_data(CG_FLOAT32, CG_SHAPE(5), F32(0, 1, 1, 0, 1));
    ck_assert_double_eq_tol(cg_binary_accuracy(p, y, 0.5), 3.0 / 5, 1e-12);
    ck_assert_double_eq_tol(cg_binary_accuracy(p, y, 0.8), 1.0 / 5, 1e-12);
    /* argmax with ties going to the first class */
    cg_tensor *q = cg_from_data(CG_FLOAT32, CG_SHAPE(4, 3), F32(0.1f, 0.7f, 0.2f, 0.4f, 0.4f, 0.2f, 0.3f, 0.3f, 0.4f, 0.6f, 0.3f, 0.1f));
    cg_tensor *ids = cg_from_data(CG_INT64, CG_SHAPE(4), (const int64_t[]){1, 1, 2, 2});
    ck_assert_double_eq_tol(cg_sparse_categorical_accuracy(q, ids), 2.0 / 4, 1e-12);
    cg_clear_error();
    ck_assert(isnan(cg_binary_accuracy(p, cg_zeros(CG_FLOAT32, CG_SHAPE(3)), 0.5)));
    ck_assert_error(CG_ERR_SHAPE, "cg_binary_accuracy");
    cg_scope_end(s);
}
END_TEST

/* ------------------------------------------------------------ initializers */

START_TEST(keras_initializers) {
    cg_rng rng = cg_rng_seeded(17);
    /* glorot uniform: U(±sqrt(6 / (fan_in + fan_out))), variance lim^2 / 3 */
    cg_module *d = cg_dense_new_ex(100, 50, &(cg_dense_opts){.rng = &rng});
    cg_tensor *k = nnt_param(d, "kernel");
    double lim = sqrt(6.0 / 150), m = max_abs(k);
    ck_assert_msg(m <= lim && m > 0.98 * lim, "glorot max |w| %g, limit %g", m, lim);
    double var = cg_item(cg_k_reduce(CG_MEAN, cg_k_unary(CG_SQUARE, k), NULL, 0, false));
    ck_assert_double_eq_tol(var, lim * lim / 3, 0.05 * lim * lim / 3);
    ck_assert_double_eq(max_abs(nnt_param(d, "bias")), 0);
    cg_module_free(d);

    /* orthogonal recurrent kernels: [H, 4H] has orthonormal rows; [H, H] is orthogonal */
    cg_module *l = cg_lstm_new(10, 8, &(cg_rnn_opts){.rng = &rng});
    cg_tensor *u = nnt_param(l, "recurrent_kernel");
    ck_assert_shape(u, 8, 32);
    double eye8[64] = {0}, eye5[25] = {0};
    for (int i = 0; i < 8; i++) eye8[i * 9] = 1;
    ck_assert_tensor_near(cg_k_matmul(u, cg_k_transpose(u, 0, 1)), eye8, 64, 1e-5);
    /* forget-gate bias 1, the others 0 */
    cg_tensor *b = nnt_param(l, "bias");
    for (int g = 0; g < 4; g++)
        ck_assert_double_eq(max_abs(cg_k_binary(CG_SUB, cg_k_slice(b, 0, 8 * g, 8 * g + 8, 1),
                                                cg_full(CG_FLOAT32, CG_SHAPE(8), g == 1))), 0);
    cg_module_free(l);
    l = cg_lstm_new(10, 8, &(cg_rnn_opts){.no_unit_forget_bias = true});
    ck_assert_double_eq(max_abs(nnt_param(l, "bias")), 0);
    cg_module_free(l);
    cg_module *r = cg_simple_rnn_new(3, 5, &(cg_rnn_opts){.rng = &rng});
    u = nnt_param(r, "recurrent_kernel");
    for (int i = 0; i < 5; i++) eye5[i * 6] = 1;
    ck_assert_tensor_near(cg_k_matmul(cg_k_transpose(u, 0, 1), u), eye5, 25, 1e-5);
    ck_assert_tensor_near(cg_k_matmul(u, cg_k_transpose(u, 0, 1)), eye5, 25, 1e-5);
    cg_module_free(r);

    /* orthogonal(gain) on a tall matrix: Q^T Q = gain^2 I */
    cg_tensor *q = cg_empty(CG_FLOAT32, CG_SHAPE(7, 3));
    ck_assert_int_eq(cg_init_fill(q, cg_init_orthogonal(2.0), &rng), CG_OK);
    double four[9] = {4, 0, 0, 0, 4, 0, 0, 0, 4};
    ck_assert_tensor_near(cg_k_matmul(cg_k_transpose(q, 0, 1), q), four, 9, 1e-5);
    /* identity(gain), not square */
    cg_tensor *id = cg_empty(CG_FLOAT32, CG_SHAPE(3, 4));
    ck_assert_int_eq(cg_init_fill(id, cg_init_identity(2.5), &rng), CG_OK);
    double want_id[12] = {2.5, 0, 0, 0, 0, 2.5, 0, 0, 0, 0, 2.5, 0};
    ck_assert_tensor_near(id, want_id, 12, 0);
    ck_assert_int_eq(cg_init_fill(cg_empty(CG_FLOAT32, CG_SHAPE(4)), cg_init_identity(1), &rng), CG_ERR_SHAPE);
    cg_clear_error();

    /* Embedding: U(±0.05) */
    cg_module *e = cg_embedding_new_ex(500, 16, &(cg_embedding_opts){.rng = &rng});
    m = max_abs(nnt_param(e, "embeddings"));
    ck_assert_msg(m <= 0.05 && m > 0.049, "embedding max |w| %g", m);
    cg_module_free(e);
}
END_TEST

/* torch_init: every weight U(±1/sqrt(H)); RNN/LSTM keep one bias, the sum
 * of PyTorch's two draws (so within ±2/sqrt(H)); GRU keeps both. */
START_TEST(torch_initializers) {
    cg_rng rng = cg_rng_seeded(19);
    const int H = 16;
    double lim = 1.0 / sqrt(H);
    for (int kind = 0; kind < 3; kind++) {
        cg_rnn_opts o = {.torch_init = true, .rng = &rng};
        cg_module *m = kind == 0 ? cg_simple_rnn_new(5, H, &o) : kind == 1 ? cg_lstm_new(5, H, &o) : cg_gru_new(5, H, &o);
        for (int i = 0; i < 2; i++) {
            double a = max_abs(m->params[i]);
            ck_assert_msg(a <= lim && a > 0.9 * lim, "%s max |w| %g, limit %g", cg_name(m->params[i]), a, lim);
        }
        double bmax = max_abs(nnt_param(m, "bias"));
        if (kind == 2) ck_assert(bmax <= lim && bmax > 0.8 * lim);
        else ck_assert_msg(bmax <= 2 * lim && bmax > lim, "%s bias max %g", m->name, bmax);
        cg_module_free(m);
    }
    cg_module *d = cg_dense_new_ex(25, 30, &(cg_dense_opts){.torch_init = true, .rng = &rng});
    ck_assert(max_abs(nnt_param(d, "kernel")) <= 0.2 && max_abs(nnt_param(d, "kernel")) > 0.19);
    ck_assert(max_abs(nnt_param(d, "bias")) <= 0.2 && max_abs(nnt_param(d, "bias")) > 0.1);
    cg_module_free(d);
}
END_TEST

/* ----------------------------------------------------------------- summary */

static char *summary_text(cg_module *m, const int64_t *shape, int nd) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(cg_summary(m, shape, nd, f), CG_OK);
    fclose(f);
    return buf;
}

/* The table row of the layer of type `type` has this shape and count. */
static void assert_row(const char *text, const char *type, int nth, const char *shape, const char *count) {
    char key[64];
    snprintf(key, sizeof key, "(%.12s", type); /* a long name wraps like Keras' */
    const char *row = text;
    for (int i = 0; i <= nth; i++) {
        row = strstr(i ? row + 1 : row, key);
        ck_assert_msg(row, "no row %d for %s in:\n%s", nth, type, text);
    }
    const char *eol = strchr(row, '\n');
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(eol - row), row);
    char want_count[40];
    snprintf(want_count, sizeof want_count, " %s ", count);
    strcat(line, " ");
    ck_assert_msg(strstr(line, shape) && strstr(line, want_count), "row '%s' lacks %s / %s", line, shape, count);
}

static void assert_totals(const char *text, const char *total, const char *train, const char *non) {
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "Total params: %s\n", total);
    snprintf(b, sizeof b, "Trainable params: %s\n", train);
    snprintf(c, sizeof c, "Non-trainable params: %s\n", non);
    ck_assert_msg(strstr(text, a) && strstr(text, b) && strstr(text, c), "totals %s/%s/%s not in:\n%s", total, train, non, text);
}

START_TEST(summary_matches_keras) {
    /* Embedding(20000, 50) + SimpleRNN(5) + Dense(1) on 30 tokens */
    cg_module *m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_embedding_new(20000, 50, NULL));
    cg_sequential_add(m, cg_simple_rnn_new(50, 5, NULL));
    cg_sequential_add(m, cg_dense_new(5, 1, CG_ACT_SIGMOID, NULL));
    char *t = summary_text(m, CG_SHAPE(30));
    ck_assert_msg(strstr(t, "Layer (type)") && strstr(t, "Output Shape") && strstr(t, "Param #"), "%s", t);
    assert_row(t, "Embedding", 0, "(None, 30, 50)", "1000000");
    assert_row(t, "SimpleRNN", 0, "(None, 5)", "280");
    assert_row(t, "Dense", 0, "(None, 1)", "6");
    assert_totals(t, "1,000,286", "1,000,286", "0");
    free(t);
    cg_module_set_trainable(cg_sequential_at(m, 0), false);
    ck_assert_int_eq(cg_module_param_count(m, true), 286);
    t = summary_text(m, CG_SHAPE(30));
    assert_totals(t, "1,000,286", "286", "1,000,000");
    free(t);
    cg_module_free(m);

    m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_embedding_new(20000, 128, NULL));
    cg_sequential_add(m, cg_lstm_new(128, 128, NULL));
    cg_sequential_add(m, cg_dense_new(128, 1, CG_ACT_SIGMOID, NULL));
    t = summary_text(m, CG_SHAPE(80));
    assert_row(t, "Embedding", 0, "(None, 80, 128)", "2560000");
    assert_row(t, "LSTM", 0, "(None, 128)", "131584");
    assert_row(t, "Dense", 0, "(None, 1)", "129");
    assert_totals(t, "2,691,713", "2,691,713", "0");
    free(t);
    cg_module_free(m);

    /* SimpleRNN(30, return_sequences) + SimpleRNN(30) on [None, 2] */
    m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_simple_rnn_new(2, 30, &(cg_rnn_opts){.return_sequences = true}));
    cg_sequential_add(m, cg_simple_rnn_new(30, 30, NULL));
    t = summary_text(m, CG_SHAPE(-1, 2));
    assert_row(t, "SimpleRNN", 0, "(None, None, 30)", "990");
    assert_row(t, "SimpleRNN", 1, "(None, 30)", "1830");
    assert_totals(t, "2,820", "2,820", "0");
    free(t);
    cg_module_free(m);

    m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_lstm_new(2, 30, NULL));
    t = summary_text(m, CG_SHAPE(10, 2));
    assert_row(t, "LSTM", 0, "(None, 30)", "3960");
    free(t);
    cg_module_free(m);
    m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_gru_new(2, 30, NULL));
    t = summary_text(m, CG_SHAPE(10, 2));
    assert_row(t, "GRU", 0, "(None, 30)", "3060");
    free(t);
    cg_module_free(m);

    m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_embedding_new(20000, 300, NULL));
    cg_sequential_add(m, cg_lstm_new(300, 50, NULL));
    cg_sequential_add(m, cg_dense_new(50, 2, CG_ACT_SOFTMAX, NULL));
    t = summary_text(m, CG_SHAPE(100));
    assert_row(t, "Embedding", 0, "(None, 100, 300)", "6000000");
    assert_row(t, "LSTM", 0, "(None, 50)", "70200");
    assert_row(t, "Dense", 0, "(None, 2)", "102");
    assert_totals(t, "6,070,302", "6,070,302", "0");
    free(t);
    cg_module_free(m);

    /* Bidirectional doubles the units and the parameters */
    m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_bidirectional_new(cg_lstm_new(2, 30, &(cg_rnn_opts){.return_sequences = true}), NULL));
    t = summary_text(m, CG_SHAPE(10, 2));
    assert_row(t, "Bidirectional", 0, "(None, 10, 60)", "7920");
    /* Keras wraps the 29-character first column after 27 */
    ck_assert_msg(strstr(t, "\n bidirectional (Bidirectiona  (None, 10, 60)           7920      \n l)         "), "%s", t);
    free(t);
    cg_module_free(m);
}
END_TEST

/* --------------------------------------------------------------- bad input */

START_TEST(bad_input_is_an_error) {
    cg_scope *s = cg_scope_begin();
    cg_module *d = cg_dense_new(4, 5, CG_ACT_LINEAR, "proj");
    ck_assert_ptr_null(cg_module_forward(d, cg_zeros(CG_FLOAT32, CG_SHAPE(3, 7))));
    ck_assert_error(CG_ERR_SHAPE, "proj (Dense)");
    cg_module *l = cg_lstm_new(4, 6, &(cg_rnn_opts){.name = "enc"});
    ck_assert_ptr_null(cg_module_forward(l, cg_zeros(CG_FLOAT32, CG_SHAPE(3, 4))));
    ck_assert_error(CG_ERR_SHAPE, "enc (LSTM)");
    ck_assert_ptr_null(cg_module_forward(l, cg_zeros(CG_FLOAT32, CG_SHAPE(3, 5, 7))));
    ck_assert_error(CG_ERR_SHAPE, "enc (LSTM)");
    ck_assert_ptr_null(cg_module_forward(l, cg_zeros(CG_FLOAT64, CG_SHAPE(3, 5, 4))));
    ck_assert_error(CG_ERR_SHAPE, "float64");
    ck_assert_ptr_null(cg_module_forward(l, NULL));
    ck_assert_error(CG_ERR_NULL, "enc (LSTM): input is NULL");

    cg_module *e = cg_embedding_new(10, 4, "tok");
    ck_assert_ptr_null(cg_module_forward(e, IDS(2, 3, 1, 2, 3, 4, 10, 5)));
    ck_assert_error(CG_ERR_INDEX, "tok (Embedding): token id 10");
    ck_assert_ptr_null(cg_module_forward(e, IDS(1, 2, -1, 2)));
    ck_assert_error(CG_ERR_INDEX, "token id -1");
    ck_assert_ptr_null(cg_module_forward(e, cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3))));
    ck_assert_error(CG_ERR_DTYPE, "tok (Embedding)");

    /* NULL propagates through a Sequential, keeping the first message */
    cg_module *m = cg_sequential_new("model");
    cg_sequential_add(m, cg_embedding_new(10, 4, "emb"));
    cg_sequential_add(m, cg_lstm_new(4, 6, &(cg_rnn_opts){.name = "rnn"}));
    ck_assert_ptr_null(cg_module_forward(m, IDS(1, 2, 3, 12)));
    ck_assert_error(CG_ERR_INDEX, "emb (Embedding): token id 12");

    cg_tensor *x = cg_zeros(CG_FLOAT32, CG_SHAPE(3, 5, 4));
    cg_rnn_result r;
    cg_tensor *bad[2] = {cg_zeros(CG_FLOAT32, CG_SHAPE(3, 5)), cg_zeros(CG_FLOAT32, CG_SHAPE(3, 6))};
    ck_assert_int_eq(cg_rnn_call(l, x, bad, NULL, &r), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "enc (LSTM): initial state 0 has shape [3,5], expected [3, 6]");
    cg_tensor *badc[2] = {cg_zeros(CG_FLOAT32, CG_SHAPE(3, 6)), cg_zeros(CG_FLOAT32, CG_SHAPE(2, 6))};
    ck_assert_int_eq(cg_rnn_call(l, x, badc, NULL, &r), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "initial state 1");
    ck_assert_int_eq(cg_rnn_call(l, x, NULL, cg_ones(CG_FLOAT32, CG_SHAPE(3, 4)), &r), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "enc (LSTM): mask has shape [3,4], expected [3, 5]");
    ck_assert_int_eq(cg_rnn_call(d, x, NULL, NULL, &r), CG_ERR_VALUE);
    cg_clear_error();
    ck_assert_ptr_null(cg_module_forward_masked(l, x, cg_ones(CG_FLOAT32, CG_SHAPE(5)), NULL));
    ck_assert_error(CG_ERR_SHAPE, "mask");

    /* bad constructor arguments */
    ck_assert_ptr_null(cg_lstm_new(0, 6, NULL));
    ck_assert_error(CG_ERR_VALUE, "cg_lstm_new");
    ck_assert_ptr_null(cg_dropout_new(1.0, NULL, NULL));
    ck_assert_error(CG_ERR_VALUE, "cg_dropout_new");
    cg_scope_end(s);
    cg_module_free(m);
    cg_module_free(e);
    cg_module_free(l);
    cg_module_free(d);
}
END_TEST

/* --------------------------------------------------------- custom modules */

typedef struct {
    cg_module base;
    cg_tensor *gain;
    cg_module *rnn, *head;
} encoder;

static cg_tensor *encoder_forward(cg_module *m, cg_tensor *x) {
    encoder *e = (encoder *)m;
    return cg_mul(cg_module_forward(e->head, cg_module_forward(e->rnn, x)), e->gain);
}
static const cg_module_type encoder_type = {"TextEncoder", encoder_forward, NULL, NULL, NULL, NULL, NULL};

static cg_module *encoder_new(cg_rng *rng) {
    encoder *e = calloc(1, sizeof *e);
    ck_assert_int_eq(cg_module_init(&e->base, &encoder_type, NULL), CG_OK);
    e->gain = cg_module_add_param(&e->base, "gain", CG_SHAPE(2), cg_init_uniform(1), rng);
    e->rnn = cg_module_add_child(&e->base, cg_lstm_new(3, 4, &(cg_rnn_opts){.rng = rng}));
    e->head = cg_module_add_child(&e->base, cg_dense_new_ex(4, 2, &(cg_dense_opts){.rng = rng, .activation = CG_ACT_TANH}));
    ck_assert(e->gain && e->rnn && e->head);
    return &e->base;
}

START_TEST(custom_module_nests) {
    cg_rng rng = cg_rng_seeded(8);
    cg_module *m = encoder_new(&rng);
    ck_assert_str_eq(m->name, "text_encoder");
    cg_tensor *ps[8];
    ck_assert_int_eq(cg_module_parameters(m, ps, 8), 6);
    char want[6][96];
    snprintf(want[0], 96, "text_encoder.gain");
    snprintf(want[1], 96, "%s.kernel", m->children[0]->name);
    snprintf(want[2], 96, "%s.recurrent_kernel", m->children[0]->name);
    snprintf(want[3], 96, "%s.bias", m->children[0]->name);
    snprintf(want[4], 96, "%s.kernel", m->children[1]->name);
    snprintf(want[5], 96, "%s.bias", m->children[1]->name);
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(cg_name(ps[i]), want[i]);
        ck_assert_ptr_eq(cg_module_param(m, want[i]), ps[i]);
    }
    ck_assert_int_eq(cg_module_param_count(m, false), 2 + (3 * 16 + 4 * 16 + 16) + (4 * 2 + 2));
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(cg_randn(&rng, CG_FLOAT32, CG_SHAPE(2, 5, 3)), true);
    cg_tensor *y = cg_module_forward(m, x);
    ck_assert_shape(y, 2, 2);
    /* the same as composing the children by hand */
    cg_tensor *by_hand = cg_mul(cg_module_forward(m->children[1], cg_module_forward(m->children[0], x)), ps[0]);
    ck_assert(nnt_same_bits(y, by_hand));
    ck_assert_int_eq(cg_backward(nnt_dot(y, cg_randn(&rng, CG_FLOAT32, CG_SHAPE(2, 2)))), CG_OK);
    for (int i = 0; i < 6; i++) ck_assert_msg(cg_grad(ps[i]) && max_abs(cg_grad(ps[i])) > 0, "%s has no gradient", want[i]);
    ck_assert(max_abs(cg_grad(x)) > 0);
    cg_module_zero_grad(m);
    for (int i = 0; i < 6; i++) ck_assert_double_eq(max_abs(cg_grad(ps[i])), 0);
    cg_scope_end(s);
    cg_module_free(m);
}
END_TEST

/* ------------------------------------------------------- no-alloc training */

START_TEST(training_step_allocates_nothing) {
    cg_rng rng = cg_rng_seeded(4);
    cg_module *m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_embedding_new_ex(50, 8, &(cg_embedding_opts){.rng = &rng}));
    cg_sequential_add(m, cg_lstm_new(8, 16, &(cg_rnn_opts){.rng = &rng}));
    cg_sequential_add(m, cg_dense_new_ex(16, 1, &(cg_dense_opts){.rng = &rng}));
    cg_tensor *ids = cg_randint(&rng, CG_INT64, 1, 50, CG_SHAPE(4, 10));
    cg_tensor *y = cg_from_data(CG_FLOAT32, CG_SHAPE(4), F32(1, 0, 1, 0));
    cg_tensor *ps[8];
    int np = cg_module_parameters(m, ps, 8);
    ck_assert_int_eq(np, 6);
    uint64_t after_first = 0;
    double first_loss = 0, loss = 0;
    for (int step = 0; step < 6; step++) {
        cg_scope *s = cg_scope_begin();
        cg_tensor *l = cg_bce_with_logits(cg_reshape(cg_module_forward(m, ids), CG_SHAPE(-1)), y);
        ck_assert_msg(l && cg_backward(l) == CG_OK, "%s", cg_last_error());
        loss = cg_item(l);
        for (int i = 0; i < np; i++) {
            cg_k_axpy_(ps[i], -0.5, cg_grad(ps[i]));
            cg_zero_grad(ps[i]);
        }
        cg_scope_end(s);
        if (step == 0) {
            after_first = cg_heap_allocations();
            first_loss = loss;
        }
    }
    ck_assert_msg(cg_heap_allocations() == after_first, "steps 2-6 made %llu heap allocations",
                  (unsigned long long)(cg_heap_allocations() - after_first));
    ck_assert_msg(loss < first_loss, "loss went from %g to %g", first_loss, loss);
    cg_module_free(m);
}
END_TEST

Suite *nn_layers_suite(void) {
    Suite *s = suite_create("nn_layers");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, dense_matches_torch, 0, 5);
    tcase_add_test(tc, embedding_matches_torch);
    tcase_add_test(tc, dropout_train_and_eval);
    tcase_add_test(tc, flatten_layer);
    tcase_add_test(tc, losses_match_torch);
    tcase_add_test(tc, binary_crossentropy_keras_formula);
    tcase_add_test(tc, accuracies);
    tcase_add_test(tc, keras_initializers);
    tcase_add_test(tc, torch_initializers);
    tcase_add_test(tc, summary_matches_keras);
    tcase_add_test(tc, bad_input_is_an_error);
    tcase_add_test(tc, custom_module_nests);
    tcase_add_test(tc, training_step_allocates_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(nn_layers_suite()); }
