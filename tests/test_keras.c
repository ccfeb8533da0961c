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
#define _GNU_SOURCE /* memmem */
#include "fixture.h"
#include "testlib.h"

#include <archive.h>
#include <archive_entry.h>
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


/* ------------------------------------------------------------- helpers */

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* A member of a zip archive in memory (malloc'ed, NUL-terminated). */
static char *zip_member(const unsigned char *zip, size_t n, const char *name) {
    struct archive *a = archive_read_new();
    archive_read_support_format_zip(a);
    ck_assert_int_eq(archive_read_open_memory(a, zip, n), ARCHIVE_OK);
    struct archive_entry *e;
    char *out = NULL;
    while (!out && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(e), name) != 0) continue;
        size_t len = (size_t)archive_entry_size(e);
        out = malloc(len + 1);
        ck_assert_int_eq(archive_read_data(a, out, len), (la_ssize_t)len);
        out[len] = 0;
    }
    archive_read_free(a);
    ck_assert_msg(out, "no %s in the archive", name);
    return out;
}

/* The archive with config.json's first `from` replaced by `to` (the other
 * members as they are), in a malloc'ed buffer. */
static la_ssize_t to_buf(struct archive *a, void *client, const void *buf, size_t n) {
    (void)a;
    size_t *st = client; /* [0] = length, [1] = pointer */
    unsigned char *p = realloc((void *)st[1], st[0] + n);
    memcpy(p + st[0], buf, n);
    st[1] = (size_t)p;
    st[0] += n;
    return (la_ssize_t)n;
}

static unsigned char *edit_config(const char *path, const char *from, const char *to, size_t *out_n) {
    size_t n;
    unsigned char *zip = read_bytes(path, &n);
    const char *names[3] = {"metadata.json", "config.json", "model.weights.h5"};
    size_t st[2] = {0, 0};
    struct archive *w = archive_write_new();
    archive_write_set_format_zip(w);
    archive_write_set_bytes_in_last_block(w, 1);
    archive_write_open(w, st, NULL, to_buf, NULL);
    for (int i = 0; i < 3; i++) {
        struct archive *a = archive_read_new();
        archive_read_support_format_zip(a);
        archive_read_open_memory(a, zip, n);
        struct archive_entry *e;
        size_t len = 0;
        char *data = NULL;
        while (!data && archive_read_next_header(a, &e) == ARCHIVE_OK)
            if (strcmp(archive_entry_pathname(e), names[i]) == 0) {
                len = (size_t)archive_entry_size(e);
                data = malloc(len + strlen(to) + 1);
                archive_read_data(a, data, len);
                data[len] = 0;
            }
        archive_read_free(a);
        ck_assert_ptr_nonnull(data);
        if (i == 1) {
            char *at = strstr(data, from);
            ck_assert_msg(at, "config.json has no '%s'", from);
            memmove(at + strlen(to), at + strlen(from), len - (size_t)(at - data) - strlen(from) + 1);
            memcpy(at, to, strlen(to));
            len = strlen(data);
        }
        struct archive_entry *o = archive_entry_new();
        archive_entry_set_pathname(o, names[i]);
        archive_entry_set_size(o, (la_int64_t)len);
        archive_entry_set_filetype(o, AE_IFREG);
        archive_entry_set_perm(o, 0644);
        archive_write_header(w, o);
        archive_write_data(w, data, len);
        archive_entry_free(o);
        free(data);
    }
    archive_write_close(w);
    archive_write_free(w);
    free(zip);
    *out_n = st[0];
    return (unsigned char *)st[1];
}

/* Write a tensor in the fixture format (for the reverse check). */
static void write_pred(const char *path, const cg_tensor *t) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    cg_tensor *c = cg_to_dtype(cg_k_contiguous(t), CG_FLOAT64);
    fprintf(f, "# cgrad's predictions for the fixture's x\ntensor pred float32 %d", c->ndim);
    for (int d = 0; d < c->ndim; d++) fprintf(f, " %lld", (long long)c->shape[d]);
    fprintf(f, "\n");
    for (int64_t i = 0; i < cg_numel(c); i++) fprintf(f, "%.9g%c", cg_data_f64(c)[i], i % 8 == 7 ? '\n' : ' ');
    fprintf(f, "\n");
    fclose(f);
}

static void assert_same_params(const cg_module *a, const cg_module *b) {
    cg_tensor *pa[64], *pb[64];
    int na = cg_module_parameters(a, pa, 64), nb = cg_module_parameters(b, pb, 64);
    ck_assert_int_eq(na, nb);
    for (int i = 0; i < na; i++) {
        ck_assert_str_eq(cg_name(pa[i]), cg_name(pb[i]));
        ck_assert_int_eq(cg_requires_grad(pa[i]), cg_requires_grad(pb[i]));
        ck_assert_int_eq(cg_numel(pa[i]), cg_numel(pb[i]));
        ck_assert_msg(memcmp(cg_data(pa[i]), cg_data(pb[i]), (size_t)cg_numel(pa[i]) * 4) == 0, "%s differs",
                      cg_name(pa[i]));
    }
    ck_assert_int_eq(cg_sequential_len(a), cg_sequential_len(b));
    for (int i = 0; i < cg_sequential_len(a); i++) {
        ck_assert_str_eq(cg_sequential_at(a, i)->name, cg_sequential_at(b, i)->name);
        ck_assert_str_eq(cg_sequential_at(a, i)->type->name, cg_sequential_at(b, i)->type->name);
    }
}

/* config.json of a model saved as .keras. */
static char *saved_config(const cg_module *m, const cg_keras_extra *ex) {
    const char *p = tmp_path("config_probe.keras");
    ck_assert_msg(cg_keras_save(m, p, ex) == CG_OK, "%s", cg_last_error());
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    char *cfg = zip_member(b, n, "config.json");
    free(b);
    unlink(p);
    return cfg;
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

/* A file in tf.keras 2.x's layout: fixed-length strings, "kernel:0"
 * names, batch_input_shape on the first layer; Keras 2's Adam layout is not
 * read (the model loads without a state). */
START_TEST(keras2_legacy_file_loads) {
    cg_keras_extra ex;
    cg_module *m = cg_keras_load(fixture_path("keras2_imdb_lstm", ".h5"), &ex);
    ck_assert_msg(m, "%s", cg_last_error());
    fixture *fx = fx_load("keras_imdb_lstm.txt");
    double d = max_diff(predict(m, fx_get(fx, "x")), fx_get(fx, "pred"));
    ck_assert_msg(d <= 1e-5, "|cgrad - keras| = %g", d);
    ck_assert_str_eq(ex.keras_version, "2.13.1");
    ck_assert_str_eq(ex.optimizer, "Adam");
    ck_assert_str_eq(ex.loss, "binary_crossentropy");
    ck_assert_int_eq(ex.n_params, 0);
    ck_assert_int_eq(ex.input_ndim, 1);
    ck_assert_int_eq(ex.input_shape[0], 12);
    cg_optim *opt = cg_keras_optimizer_new(m, &ex); /* a fresh Adam with the file's hyperparameters */
    ck_assert_ptr_nonnull(opt);
    ck_assert(fabs(cg_optim_get_lr(opt, 0) - 1e-3) < 1e-12);
    cg_optim_free(opt);
    fx_free(fx);
    cg_keras_extra_free(&ex);
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
        double d = max_diff(predict(m, x), fx_get(fx, "pred5"));
        ck_assert_msg(d <= 1e-5, "%s: predictions after 5 steps differ from Keras' by %g", MODELS[i].name, d);
        /* the continued state goes back into a file Keras opens (reverse check) */
        ck_assert_int_eq(cg_keras_optimizer_state(opt, m, &ex), CG_OK);
        ck_assert_int_eq(ex.iterations, 13);
        char out[128];
        snprintf(out, sizeof out, "keras_%s.keras", MODELS[i].name);
        ck_assert_msg(cg_keras_save(m, tmp_path(out), &ex) == CG_OK, "%s", cg_last_error());
        snprintf(out, sizeof out, "keras_%s.keras.pred.txt", MODELS[i].name);
        write_pred(tmp_path(out), predict(m, x));
        cg_optim_free(opt);
        cg_keras_extra_free(&ex);
        cg_module_free(m);
        fx_free(fx);
        checked++;
    }
    ck_assert_int_ge(checked, 14);
}
END_TEST


/* load -> save -> load: the same weights, configuration and optimizer state,
 * through either format. The files are kept for the reverse check when
 * CGRAD_KERAS_OUT is set. */
START_TEST(round_trip_keeps_everything) {
    for (int i = 0; i < N_MODELS; i++) {
        fixture *fx = fx_load(strstr(fixture_path(MODELS[i].name, ".txt"), "keras_"));
        for (int f = 0; f < 2; f++) {
            const char *ext = f ? ".h5" : ".keras";
            cg_keras_extra e1, e2;
            cg_module *m1 = cg_keras_load(fixture_path(MODELS[i].name, ext), &e1);
            ck_assert_msg(m1, "%s", cg_last_error());
            char out[128];
            snprintf(out, sizeof out, "roundtrip_%s%s", MODELS[i].name, ext);
            const char *path = tmp_path(out);
            ck_assert_msg(cg_keras_save(m1, path, &e1) == CG_OK, "%s", cg_last_error());
            cg_module *m2 = cg_keras_load(path, &e2);
            ck_assert_msg(m2, "%s: %s", path, cg_last_error());
            assert_same_params(m1, m2);
            char *c1 = saved_config(m1, &e1), *c2 = saved_config(m2, &e2);
            ck_assert_str_eq(c1, c2);
            free(c1), free(c2);
            ck_assert_str_eq(e1.optimizer, e2.optimizer);
            ck_assert_str_eq(e1.loss, e2.loss);
            ck_assert_str_eq(e1.compile_config, e2.compile_config);
            ck_assert(e1.learning_rate == e2.learning_rate && e1.beta_1 == e2.beta_1 && e1.epsilon == e2.epsilon);
            ck_assert_int_eq(e1.input_ndim, e2.input_ndim);
            ck_assert_int_eq(e1.int_input, e2.int_input);
            ck_assert_int_eq(e1.iterations, e2.iterations);
            ck_assert_int_eq(e1.n_params, e2.n_params);
            for (int k = 0; k < e1.n_params; k++) {
                ck_assert(!e1.m[k] == !e2.m[k]);
                if (e1.m[k]) {
                    ck_assert(max_diff(e1.m[k], e2.m[k]) == 0);
                    ck_assert(max_diff(e1.v[k], e2.v[k]) == 0);
                }
            }
            cg_scope *s = cg_scope_begin();
            cg_tensor *p2 = predict(m2, fx_get(fx, "x"));
            ck_assert(max_diff(p2, predict(m1, fx_get(fx, "x"))) == 0);
            char pred[600];
            snprintf(pred, sizeof pred, "%s.pred.txt", path);
            write_pred(pred, p2);
            cg_scope_end(s);
            cg_keras_extra_free(&e1);
            cg_keras_extra_free(&e2);
            cg_module_free(m1);
            cg_module_free(m2);
        }
        fx_free(fx);
    }
}
END_TEST

/* A failed load returns NULL, names the file and the place in it, and
 * leaves the extra empty (nothing leaks: the sanitizer build checks). */
static void assert_refused(cg_module *m, cg_keras_extra *ex, cg_status st, const char *a, const char *b, const char *c) {
    ck_assert_ptr_null(m);
    ck_assert_msg(cg_last_status() == st, "status %d, want %d: %s", cg_last_status(), st, cg_last_error());
    const char *msg = cg_last_error();
    ck_assert_msg(strstr(msg, a) && (!b || strstr(msg, b)) && (!c || strstr(msg, c)), "'%s' lacks '%s' / '%s' / '%s'",
                  msg, a, b ? b : "", c ? c : "");
    ck_assert_int_eq(ex->n_params, 0);
    ck_assert_ptr_null(ex->arena);
    ck_assert_ptr_null(ex->compile_config);
}

START_TEST(bad_files_are_refused) {
    cg_keras_extra ex;
    const char *good = fixture_path("imdb_lstm", ".keras");
    size_t n;
    unsigned char *b = read_bytes(good, &n);
    /* a corrupt zip: one byte of model.weights.h5 changed (its CRC no longer matches) */
    unsigned char *hdf = memmem(b, n, "\x89HDF", 4);
    ck_assert_ptr_nonnull(hdf);
    hdf[2000] ^= 0x55;
    assert_refused(cg_keras_load_memory(b, n, "corrupt.keras", &ex), &ex, CG_ERR_PARSE, "corrupt.keras",
                   "model.weights.h5", "corrupt");
    hdf[2000] ^= 0x55;
    /* a truncated one */
    assert_refused(cg_keras_load_memory(b, n / 2, "half.keras", &ex), &ex, CG_ERR_PARSE, "half.keras", NULL, NULL);
    /* neither zip nor HDF5 */
    assert_refused(cg_keras_load_memory("hello", 5, "x.keras", &ex), &ex, CG_ERR_PARSE, "x.keras", "neither", NULL);
    free(b);
    /* a missing weight dataset, in both formats */
    assert_refused(cg_keras_load(fixture_path("bad_missing", ".keras"), &ex), &ex, CG_ERR_PARSE, "keras_bad_missing.keras",
                   "model.weights.h5: layers/lstm/cell/vars/1", "missing");
    assert_refused(cg_keras_load(fixture_path("bad_missing", ".h5"), &ex), &ex, CG_ERR_PARSE, "keras_bad_missing.h5",
                   "recurrent_kernel", NULL);
    /* a configuration that disagrees with the weights' shapes */
    unsigned char *z = edit_config(good, "\"units\": 8", "\"units\": 7", &n);
    assert_refused(cg_keras_load_memory(z, n, "units.keras", &ex), &ex, CG_ERR_SHAPE, "units.keras",
                   "model.weights.h5: layers/lstm/cell/vars/0", "shape [8,32] in the file");
    free(z);
    /* an unknown layer class */
    z = edit_config(good, "\"class_name\": \"Dense\"", "\"class_name\": \"Conv1D\"", &n);
    assert_refused(cg_keras_load_memory(z, n, "conv.keras", &ex), &ex, CG_ERR_PARSE, "conv.keras: config.json: layers[3]",
                   "Conv1D", "no cgrad counterpart");
    free(z);
    /* an unknown option, and an option cgrad does not have */
    z = edit_config(good, "\"go_backwards\": false", "\"go_backwards\": false, \"frobnicate\": 1", &n);
    assert_refused(cg_keras_load_memory(z, n, "opt.keras", &ex), &ex, CG_ERR_PARSE, "opt.keras: config.json: layers[2]",
                   "LSTM", "unknown option 'frobnicate'");
    free(z);
    z = edit_config(good, "\"recurrent_activation\": \"sigmoid\"", "\"recurrent_activation\": \"hard_sigmoid\"", &n);
    assert_refused(cg_keras_load_memory(z, n, "act.keras", &ex), &ex, CG_ERR_PARSE, "act.keras: config.json: layers[2]",
                   "hard_sigmoid", NULL);
    free(z);
    z = edit_config(good, "\"stateful\": false", "\"stateful\": true", &n);
    assert_refused(cg_keras_load_memory(z, n, "st.keras", &ex), &ex, CG_ERR_PARSE, "st.keras", "stateful", NULL);
    free(z);
    z = edit_config(good, "\"kernel_regularizer\": null", "\"kernel_regularizer\": \"l2\"", &n);
    assert_refused(cg_keras_load_memory(z, n, "reg.keras", &ex), &ex, CG_ERR_PARSE, "reg.keras", "kernel_regularizer", NULL);
    free(z);
    /* broken JSON */
    z = edit_config(good, "\"layers\": [", "\"layers\": [[", &n);
    assert_refused(cg_keras_load_memory(z, n, "json.keras", &ex), &ex, CG_ERR_PARSE, "json.keras: config.json", NULL, NULL);
    free(z);
    /* a missing file, NULL */
    assert_refused(cg_keras_load("/nonexistent/x.keras", &ex), &ex, CG_ERR_IO, "/nonexistent/x.keras", NULL, NULL);
    ck_assert_ptr_null(cg_keras_load(NULL, NULL));
    ck_assert_int_eq(cg_last_status(), CG_ERR_NULL);
}
END_TEST

START_TEST(saving_refuses_what_keras_cannot_read) {
    cg_module *m = cg_keras_load(fixture_path("imdb_lstm", ".keras"), NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(cg_keras_save(m, tmp_path("x.txt"), NULL), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, ".keras or .h5");
    /* a save that cannot complete leaves what was there */
    const char *p = tmp_path("kept.keras");
    ck_assert_int_eq(cg_keras_save(m, p, NULL), CG_OK);
    size_t n0, n1;
    free(read_bytes(p, &n0));
    ck_assert_int_eq(cg_keras_save(m, "/nonexistent/dir/x.keras", NULL), CG_ERR_IO);
    ck_assert_error(CG_ERR_IO, "/nonexistent/dir/x.keras");
    free(read_bytes(p, &n1));
    ck_assert_int_eq(n0, n1);
    cg_module_free(m);
    /* recurrent layers made in C are written from their cells' options,
     * and load back with the same weights and the same outputs */
    m = cg_sequential_new("c_model");
    cg_sequential_add(m, cg_embedding_new_ex(30, 3, &(cg_embedding_opts){.mask_zero = true}));
    cg_sequential_add(m, cg_bidirectional_new_ex(cg_gru_new(3, 4, &(cg_rnn_opts){.return_sequences = true,
                                                                                   .reset_before = true}),
                                                 CG_MERGE_AVE, NULL));
    cg_sequential_add(m, cg_lstm_new(4, 5, &(cg_rnn_opts){.activation = CG_ACT_RELU, .go_backwards = true,
                                                           .dropout = 0.25}));
    cg_sequential_add(m, cg_dense_new(5, 1, CG_ACT_SIGMOID, NULL));
    cg_keras_extra cx = {.input_ndim = 1, .input_shape = {6}, .int_input = true};
    for (int fmt = 0; fmt < 2; fmt++) {
        const char *path = tmp_path(fmt ? "c_rnn.h5" : "c_rnn.keras");
        ck_assert_msg(cg_keras_save(m, path, &cx) == CG_OK, "%s", cg_last_error());
        cg_module *r = cg_keras_load(path, NULL);
        ck_assert_msg(r, "%s", cg_last_error());
        assert_same_params(m, r);
        cg_module_train(m, false), cg_module_train(r, false);
        cg_scope *sc = cg_scope_begin();
        cg_tensor *ids = cg_from_data(CG_INT64, CG_SHAPE(2, 6), (int64_t[]){3, 7, 1, 0, 0, 0, 9, 2, 8, 4, 5, 6});
        cg_tensor *y0 = cg_module_forward(m, ids), *y1 = cg_module_forward(r, ids);
        ck_assert(y0 && y1 && memcmp(cg_data(y0), cg_data(y1), sizeof(float) * 2) == 0);
        cg_scope_end(sc);
        cg_module_free(r);
    }
    cg_module_free(m);
    /* what Keras has no form of is refused by name */
    m = cg_sequential_new("c_torch");
    cg_sequential_add(m, cg_lstm_new(3, 4, &(cg_rnn_opts){.two_biases = true}));
    ck_assert_int_eq(cg_keras_save(m, tmp_path("c.keras"), NULL), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "two_biases");
    cg_module_free(m);
    /* Dense, Embedding, Dropout, Activation, Flatten made in C are written */
    m = cg_sequential_new("c_dense");
    cg_sequential_add(m, cg_embedding_new(20, 4, "emb"));
    cg_sequential_add(m, cg_flatten_new("flat"));
    cg_sequential_add(m, cg_dropout_new(0.25, NULL, "drop"));
    cg_sequential_add(m, cg_dense_new(4, 3, CG_ACT_RELU, "hidden"));
    cg_sequential_add(m, cg_activation_new(CG_ACT_SIGMOID, "act"));
    cg_keras_extra ex = {.input_ndim = 1, .input_shape = {1}, .int_input = true};
    ck_assert_msg(cg_keras_save(m, tmp_path("c_dense.h5"), &ex) == CG_OK, "%s", cg_last_error());
    cg_module *back = cg_keras_load(tmp_path("c_dense.h5"), NULL);
    ck_assert_msg(back, "%s", cg_last_error());
    assert_same_params(m, back);
    cg_module_free(back);
    cg_module_free(m);
}
END_TEST

START_TEST(models_from_a_configuration) {
    size_t n;
    unsigned char *b = read_bytes(fixture_path("stacked", ".keras"), &n);
    char *cfg = zip_member(b, n, "config.json");
    free(b);
    cg_module *m = cg_keras_from_config(cfg, "stacked.json");
    ck_assert_msg(m, "%s", cg_last_error());
    ck_assert_int_eq(cg_sequential_len(m), 4);
    ck_assert_int_eq(cg_module_param_count(m, false), 485); /* Keras' count (keras_fixtures.py) */
    /* a model built this way can be saved, recurrent layers included */
    ck_assert_msg(cg_keras_save(m, tmp_path("from_config.keras"), NULL) == CG_OK, "%s", cg_last_error());
    cg_module *back = cg_keras_load(tmp_path("from_config.keras"), NULL);
    ck_assert_msg(back, "%s", cg_last_error());
    assert_same_params(m, back);
    cg_module_free(back);
    cg_module_free(m);
    ck_assert_ptr_null(cg_keras_from_config("{\"class_name\": \"Functional\", \"config\": {}}", "f.json"));
    ck_assert_error(CG_ERR_PARSE, "Functional");
    free(cfg);
}
END_TEST

/* ---------------------------------------------------------- tokenizer */

/* TOK_TEST of keras_fixtures.py */
static const char *const TOK_TEST[] = {
    "The cat and the dog sat on a new mat.",
    "Unknown words: zebra, \xc3\x9c" "BER, caf\xc3\xa9!",
    "",
    "the,the;the:the",
};

static void assert_encodes_as_keras(const char *json, const char *tag) {
    cg_tokenizer *tk = cg_tokenizer_load_keras(fixture_path(json, ".json"));
    ck_assert_msg(tk, "%s", cg_last_error());
    fixture *fx = fx_load("keras_tokenizer.txt");
    char name[64];
    snprintf(name, sizeof name, "%s_ids", tag);
    cg_tensor *ids = fx_get(fx, name);
    snprintf(name, sizeof name, "%s_len", tag);
    cg_tensor *len = fx_get(fx, name);
    cg_sequences *seq = cg_tokenizer_texts_to_sequences(tk, TOK_TEST, 4);
    ck_assert_ptr_nonnull(seq);
    int64_t at = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(cg_sequences_len(seq, i), cg_data_i64(len)[i]);
        for (int64_t k = 0; k < cg_sequences_len(seq, i); k++)
            ck_assert_msg(cg_sequences_get(seq, i)[k] == cg_data_i64(ids)[at + k], "%s text %d id %lld: %lld, keras %lld",
                          json, i, (long long)k, (long long)cg_sequences_get(seq, i)[k], (long long)cg_data_i64(ids)[at + k]);
        at += cg_sequences_len(seq, i);
    }
    cg_sequences_free(seq);
    fx_free(fx);
    cg_tokenizer_free(tk);
}

START_TEST(keras_tokenizer_json_encodes_as_keras) {
    /* num_words=8 and an oov token; custom filters without lower-casing */
    assert_encodes_as_keras("tokenizer", "tokenizer");
    assert_encodes_as_keras("tokenizer_raw", "tokenizer_raw");
    cg_tokenizer *tk = cg_tokenizer_load_keras(fixture_path("tokenizer", ".json"));
    ck_assert_int_eq(cg_tokenizer_index(tk, "<OOV>"), 1);
    ck_assert_int_eq(cg_tokenizer_index(tk, "the"), 2); /* the most frequent word */
    ck_assert_str_eq(cg_tokenizer_word(tk, 2), "the");
    ck_assert_int_eq(cg_tokenizer_document_count(tk), 4);
    ck_assert_int_eq(cg_tokenizer_count(tk, "cat"), 5); /* word_counts as Keras counted */
    cg_tokenizer_free(tk);
    /* bad JSON is refused with the file's name */
    ck_assert_ptr_null(cg_tokenizer_from_keras_json("{\"class_name\": \"Tokenizer\"}", "t.json"));
    ck_assert_error(CG_ERR_PARSE, "t.json");
    ck_assert_ptr_null(cg_tokenizer_from_keras_json(
        "{\"class_name\": \"Tokenizer\", \"config\": {\"word_counts\": \"{}\", \"word_index\": \"{\\\"a\\\": 0}\"}}", "z.json"));
    ck_assert_error(CG_ERR_PARSE, "word_index[\"a\"]");
    ck_assert_ptr_null(cg_tokenizer_from_keras_json(
        "{\"class_name\": \"Tokenizer\", \"config\": {\"split\": \"ab\", \"word_counts\": \"{}\", \"word_index\": \"{}\"}}", "s.json"));
    ck_assert_error(CG_ERR_VALUE, "one character");
    ck_assert_ptr_null(cg_tokenizer_load_keras("/nonexistent/tok.json"));
    ck_assert_error(CG_ERR_IO, "/nonexistent/tok.json");
}
END_TEST

int main(void) {
    Suite *s = suite_create("keras");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_fixture_predicts_as_keras);
    tcase_add_test(tc, layer_names_and_options_are_kept);
    tcase_add_test(tc, keras2_legacy_file_loads);
    tcase_add_test(tc, training_continues_as_in_keras);
    tcase_add_test(tc, round_trip_keeps_everything);
    tcase_add_test(tc, bad_files_are_refused);
    tcase_add_test(tc, saving_refuses_what_keras_cannot_read);
    tcase_add_test(tc, models_from_a_configuration);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tokenizer");
    tcase_add_test(tt, keras_tokenizer_json_encodes_as_keras);
    suite_add_tcase(s, tt);
    return cgt_run(s);
}
