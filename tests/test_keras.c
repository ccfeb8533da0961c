/* Keras model files (nn/keras.c, train/keras.c): every file that
 * tests/reference/keras_fixtures.py made with Keras 3 loads and predicts
 * Keras' numbers; 5 more Adam steps from the stored optimizer state match
 * Keras' own continuation; load -> save -> load keeps weights, configuration
 * and state; bad files are refused with the file and the place in it, and
 * nothing is left half-built (the sanitizer build checks for leaks).
 *
 * With CGRAD_KERAS_OUT=DIR, the files cgrad writes (and cgrad's predictions
 * beside them, FILE.pred.txt) are kept in DIR for the reverse check:
 *     .venv/bin/python tests/reference/keras_fixtures.py --check DIR/ *.keras DIR/ *.h5 */
#include "fixture.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The models of keras_fixtures.py and their losses. */
static const struct {
    const char *name;
    cg_loss loss;
} MODELS[] = {
    {"imdb_simple_rnn", CG_LOSS_BINARY_CROSSENTROPY}, {"imdb_lstm", CG_LOSS_BINARY_CROSSENTROPY},
    {"stacked_simple_rnn", CG_LOSS_MSE},              {"long_dep_lstm", CG_LOSS_MSE},
    {"long_dep_gru", CG_LOSS_MSE},                    {"reviews_softmax", CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"bidi_concat", CG_LOSS_MSE},                     {"bidi_sum", CG_LOSS_MSE},
    {"bidi_mul", CG_LOSS_MSE},                        {"bidi_ave", CG_LOSS_BINARY_CROSSENTROPY},
    {"gru_reset_before", CG_LOSS_MSE},                {"stacked", CG_LOSS_MSE},
    {"masked", CG_LOSS_BINARY_CROSSENTROPY},          {"options", CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"dropout", CG_LOSS_MSE},
};
#define N_MODELS ((int)(sizeof MODELS / sizeof MODELS[0]))

static const char *fixture_path(const char *name, const char *ext) {
    static char buf[4][1024];
    static int k;
    char rel[256];
    snprintf(rel, sizeof rel, "reference/fixtures/keras_%s%s", name, ext);
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s", cgt_src_path(rel));
    return b;
}

static char g_tmp[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    if (!g_tmp[0]) {
        const char *keep = getenv("CGRAD_KERAS_OUT");
        if (keep && *keep) {
            snprintf(g_tmp, sizeof g_tmp, "%s", keep);
            mkdir(g_tmp, 0777);
        } else {
            snprintf(g_tmp, sizeof g_tmp, "/tmp/cgrad_test_keras.%ld", (long)getpid());
            mkdir(g_tmp, 0777);
        }
    }
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", g_tmp, name);
    return b;
}

static double max_diff(const cg_tensor *a, const cg_tensor *b) {
    ck_assert_msg(a && b, "missing tensor: %s", cg_last_error());
    ck_assert_int_eq(cg_numel(a), cg_numel(b));
    cg_tensor *x = cg_to_dtype(cg_k_contiguous(a), CG_FLOAT64), *y = cg_to_dtype(cg_k_contiguous(b), CG_FLOAT64);
    double m = 0;
    for (int64_t i = 0; i < cg_numel(x); i++) {
        double d = fabs(cg_data_f64(x)[i] - cg_data_f64(y)[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

static cg_tensor *predict(cg_module *m, cg_tensor *x) {
    cg_module_train(m, false);
    cg_tensor *y = cg_module_forward(m, x);
    ck_assert_msg(y, "forward: %s", cg_last_error());
    return y;
}

/* ------------------------------------------------------- Keras' numbers */

START_TEST(every_fixture_predicts_as_keras) {
    for (int i = 0; i < N_MODELS; i++) {
        fixture *fx = fx_load(strstr(fixture_path(MODELS[i].name, ".txt"), "keras_"));
        for (int f = 0; f < 2; f++) {
            const char *path = fixture_path(MODELS[i].name, f ? ".h5" : ".keras");
            cg_keras_extra ex;
            cg_module *m = cg_keras_load(path, &ex);
            ck_assert_msg(m, "%s: %s", path, cg_last_error());
            cg_scope *s = cg_scope_begin();
            double d = max_diff(predict(m, fx_get(fx, "x")), fx_get(fx, "pred"));
            ck_assert_msg(d <= 1e-5, "%s: |cgrad - keras| = %g", path, d);
            /* compile() and the optimizer state came along */
            ck_assert_str_eq(ex.optimizer, "Adam");
            ck_assert_int_eq(ex.iterations, 8);
            ck_assert_int_eq(ex.n_params, cg_module_parameters(m, NULL, 0));
            ck_assert(fabs(ex.learning_rate - 1e-3) < 1e-9 && fabs(ex.epsilon - 1e-7) < 1e-12);
            ck_assert_str_eq(ex.keras_version, "3.15.1");
            cg_scope_end(s);
            cg_keras_extra_free(&ex);
            cg_module_free(m);
        }
        fx_free(fx);
    }
}
END_TEST

START_TEST(layer_names_and_options_are_kept) {
    cg_module *m = cg_keras_load(fixture_path("options", ".keras"), NULL);
    ck_assert_msg(m, "%s", cg_last_error());
    /* Keras' names, in order: simple_rnn_6, lstm_8, flatten_1, dense_12, activation, dense_13 */
    ck_assert_int_eq(cg_sequential_len(m), 6);
    ck_assert_str_eq(m->name, "options");
    ck_assert_str_eq(cg_sequential_at(m, 0)->type->name, "SimpleRNN");
    ck_assert_str_eq(cg_sequential_at(m, 1)->type->name, "LSTM");
    ck_assert_str_eq(cg_sequential_at(m, 2)->type->name, "Flatten");
    ck_assert_str_eq(cg_sequential_at(m, 4)->type->name, "Activation");
    ck_assert_ptr_nonnull(cg_module_param(m, "simple_rnn_6.recurrent_kernel"));
    ck_assert_ptr_null(cg_module_param(m, "lstm_8.bias")); /* use_bias = False */
    ck_assert_ptr_null(cg_module_param(m, "dense_12.bias"));
    cg_module_free(m);
    m = cg_keras_load(fixture_path("bidi_concat", ".h5"), NULL);
    ck_assert_msg(m, "%s", cg_last_error());
    ck_assert_str_eq(cg_sequential_at(m, 0)->type->name, "Bidirectional");
    char name[96];
    snprintf(name, sizeof name, "forward_%s.kernel", cg_sequential_at(m, 0)->children[0]->name + 8);
    ck_assert_ptr_nonnull(cg_module_param(m, name));
    cg_module_free(m);
}
END_TEST

/* 5 steps of Keras' Adam from the file's state against Keras' own. */
START_TEST(training_continues_as_in_keras) {
    int checked = 0;
    for (int i = 0; i < N_MODELS; i++) {
        fixture *fx = fx_load(strstr(fixture_path(MODELS[i].name, ".txt"), "keras_"));
        if (!fx_find(fx, "loss5")) { /* dropout: Keras' masks cannot be reproduced */
            fx_free(fx);
            continue;
        }
        cg_keras_extra ex;
        cg_module *m = cg_keras_load(fixture_path(MODELS[i].name, ".keras"), &ex);
        ck_assert_msg(m, "%s", cg_last_error());
        cg_loss loss;
        ck_assert(cg_keras_loss(&ex, &loss));
        ck_assert_int_eq(loss, MODELS[i].loss);
        cg_optim *opt = cg_keras_optimizer_new(m, &ex);
        ck_assert_msg(opt, "%s: %s", MODELS[i].name, cg_last_error());
        cg_tensor *x = fx_get(fx, "x"), *y = fx_get(fx, "y"), *want = fx_get(fx, "loss5");
        cg_module_train(m, true);
        for (int step = 0; step < 5; step++) {
            cg_scope *s = cg_scope_begin();
            cg_optim_zero_grad(opt);
            cg_tensor *l = cg_loss_apply(loss, cg_module_forward(m, x), y);
            ck_assert_msg(l, "%s", cg_last_error());
            double got = cg_item(l), w = cg_data_f64(want)[step];
            ck_assert_msg(fabs(got - w) <= 1e-5, "%s step %d: loss %.8f, keras %.8f", MODELS[i].name, step + 1, got, w);
            ck_assert_int_eq(cg_backward(l), CG_OK);
            ck_assert_int_eq(cg_optim_step(opt), CG_OK);
            cg_scope_end(s);
        }
        cg_tensor *ps[64];
        int np = cg_module_parameters(m, ps, 64), k = 0;
        for (int p = 0; p < np; p++) {
            char nm[32];
            snprintf(nm, sizeof nm, "w5_%d", k++);
            double d = max_diff(ps[p], fx_get(fx, nm));
            ck_assert_msg(d <= 1e-5, "%s: %s after 5 steps differs from Keras' by %g", MODELS[i].name, cg_name(ps[p]), d);
        }
        ck_assert_ptr_null(fx_find(fx, "w5_99") ? NULL : NULL);
        double d = max_diff(predict(m, x), fx_get(fx, "pred5"));
        ck_assert_msg(d <= 1e-5, "%s: predictions after 5 steps differ from Keras' by %g", MODELS[i].name, d);
        /* the continued state goes back into a file Keras opens (reverse check) */
        ck_assert_int_eq(cg_keras_optimizer_state(opt, m, &ex), CG_OK);
        ck_assert_int_eq(ex.iterations, 13);
        char out[128];
        snprintf(out, sizeof out, "keras_%s.keras", MODELS[i].name);
        ck_assert_msg(cg_keras_save(m, tmp_path(out), &ex) == CG_OK, "%s", cg_last_error());
        cg_optim_free(opt);
        cg_keras_extra_free(&ex);
        cg_module_free(m);
        fx_free(fx);
        checked++;
    }
    ck_assert_int_ge(checked, 14);
}
END_TEST

int main(void) {
    Suite *s = suite_create("keras");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_fixture_predicts_as_keras);
    tcase_add_test(tc, layer_names_and_options_are_kept);
    tcase_add_test(tc, training_continues_as_in_keras);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
