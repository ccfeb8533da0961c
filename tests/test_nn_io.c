/* Weights on disk: cg_module_save/load round trips, bad files (missing
 * tensor, wrong shape or dtype, truncated) leave the model unchanged, and
 * PyTorch state_dicts (tests/reference/nn_fixtures.py) load with
 * cg_module_load_torch and give PyTorch's outputs. */
#include "test_nn_common.h"

#include <unistd.h>

static char g_dir[64];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/cgrad_nn_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}
static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}
static const char *tmp(const char *name) {
    static char buf[4][256];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

/* Embedding(10, 4) -> LSTM(4, 6) -> Dense(6, 2), the layers named
 * emb / lstm / out so two instances share parameter names. */
static cg_module *model_new(uint64_t seed) {
    cg_rng rng = cg_rng_seeded(seed);
    cg_module *m = cg_sequential_new("model");
    cg_sequential_add(m, cg_embedding_new_ex(10, 4, &(cg_embedding_opts){.rng = &rng, .name = "emb"}));
    cg_sequential_add(m, cg_lstm_new(4, 6, &(cg_rnn_opts){.rng = &rng, .name = "lstm"}));
    cg_sequential_add(m, cg_dense_new_ex(6, 2, &(cg_dense_opts){.rng = &rng, .name = "out", .torch_init = true}));
    ck_assert_msg(m && cg_sequential_len(m) == 3, "%s", cg_last_error());
    return m;
}

static cg_tensor *run(cg_module *m, const cg_tensor *ids) {
    cg_tensor *y = NULL;
    CG_NO_GRAD { y = cg_module_forward(m, (cg_tensor *)ids); }
    ck_assert_msg(y != NULL, "%s", cg_last_error());
    return y;
}

/* Clones of every parameter, to compare bitwise later. */
static int snapshot(const cg_module *m, cg_tensor **out) {
    cg_tensor *ps[16];
    int n = cg_module_parameters(m, ps, 16);
    for (int i = 0; i < n; i++) out[i] = cg_clone(ps[i]);
    return n;
}
static void assert_unchanged(const cg_module *m, cg_tensor *const *snap, int n, const char *why) {
    cg_tensor *ps[16];
    ck_assert_int_eq(cg_module_parameters(m, ps, 16), n);
    for (int i = 0; i < n; i++) ck_assert_msg(nnt_same_bits(ps[i], snap[i]), "%s: %s changed", why, cg_name(ps[i]));
}

static const cg_tensor *ids_3x5(void) { return IDS(3, 5, 1, 2, 3, 4, 5, 9, 8, 7, 6, 5, 0, 3, 3, 1, 2); }

START_TEST(save_load_round_trip) {
    make_dir();
    cg_module *a = model_new(1), *b = model_new(2);
    const cg_tensor *ids = ids_3x5();
    cg_tensor *ya = run(a, ids);
    ck_assert(!nnt_same_bits(ya, run(b, ids)));
    ck_assert_msg(cg_module_save(a, tmp("w.safetensors")) == CG_OK, "%s", cg_last_error());
    /* the file holds our names */
    cg_safetensors *f = cg_safetensors_open(tmp("w.safetensors"));
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cg_safetensors_count(f), 6);
    static const char *const names[] = {"emb.embeddings", "lstm.kernel", "lstm.recurrent_kernel", "lstm.bias", "out.kernel", "out.bias"};
    for (int i = 0; i < 6; i++) {
        cg_dtype dt;
        int64_t shape[CG_MAX_DIMS];
        int nd;
        ck_assert_msg(cg_safetensors_info(f, names[i], &dt, shape, &nd) && dt == CG_FLOAT32, "%s missing", names[i]);
        ck_assert(nnt_same_bits(cg_safetensors_get(f, names[i]), cg_module_param(a, names[i])));
    }
    cg_safetensors_close(f);
    ck_assert_msg(cg_module_load(b, tmp("w.safetensors")) == CG_OK, "%s", cg_last_error());
    cg_tensor *pa[8], *pb[8];
    ck_assert_int_eq(cg_module_parameters(b, pb, 8), cg_module_parameters(a, pa, 8));
    for (int i = 0; i < 6; i++) ck_assert(nnt_same_bits(pa[i], pb[i]));
    ck_assert(nnt_same_bits(ya, run(b, ids)));
    cg_module_free(a);
    cg_module_free(b);
    remove_dir();
}
END_TEST

/* Write the parameters of `src` to path, with one tensor dropped or replaced. */
static void write_variant(const cg_module *src, const char *path, const char *name, const cg_tensor *replace) {
    cg_tensor *ps[8];
    cg_named_tensor nt[8];
    int n = cg_module_parameters(src, ps, 8), k = 0;
    for (int i = 0; i < n; i++) {
        bool hit = strcmp(cg_name(ps[i]), name) == 0;
        if (hit && !replace) continue;
        nt[k++] = (cg_named_tensor){cg_name(ps[i]), hit ? replace : ps[i]};
    }
    ck_assert_msg(cg_safetensors_save(path, nt, k, NULL, NULL, 0) == CG_OK, "%s", cg_last_error());
}

START_TEST(bad_files_leave_the_model_unchanged) {
    make_dir();
    cg_module *m = model_new(3), *other = model_new(4);
    cg_tensor *snap[8];
    int n = snapshot(m, snap);
    const char *p = tmp("bad.safetensors");
    /* the bad tensor comes after good ones that differ from the model's */
    write_variant(other, p, "out.bias", NULL);
    ck_assert_int_ne(cg_module_load(m, p), CG_OK);
    ck_assert_error(CG_ERR_PARSE, "'out.bias'");
    assert_unchanged(m, snap, n, "missing tensor");

    write_variant(other, p, "out.kernel", cg_zeros(CG_FLOAT32, CG_SHAPE(6, 3)));
    ck_assert_int_ne(cg_module_load(m, p), CG_OK);
    ck_assert_error(CG_ERR_SHAPE, "'out.kernel'");
    assert_unchanged(m, snap, n, "wrong shape");

    write_variant(other, p, "lstm.bias", cg_zeros(CG_FLOAT64, CG_SHAPE(24)));
    ck_assert_int_ne(cg_module_load(m, p), CG_OK);
    ck_assert_msg(strstr(cg_last_error(), "float64"), "%s", cg_last_error());
    ck_assert_error(CG_ERR_SHAPE, "'lstm.bias'");
    assert_unchanged(m, snap, n, "wrong dtype");

    /* a whole file cut short */
    ck_assert_int_eq(cg_module_save(other, p), CG_OK);
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(p, size - 10), 0);
    ck_assert_int_ne(cg_module_load(m, p), CG_OK);
    ck_assert_msg(strstr(cg_last_error(), p), "the message names the file: %s", cg_last_error());
    cg_clear_error();
    assert_unchanged(m, snap, n, "truncated file");
    ck_assert_int_eq(cg_module_load(m, tmp("absent.safetensors")), CG_ERR_IO);
    ck_assert_error(CG_ERR_IO, "absent.safetensors");
    assert_unchanged(m, snap, n, "absent file");
    /* the untouched file loads */
    ck_assert_int_eq(cg_module_save(other, p), CG_OK);
    ck_assert_int_eq(cg_module_load(m, p), CG_OK);
    cg_module_free(m);
    cg_module_free(other);
    remove_dir();
}
END_TEST

/* A torch state_dict of Embedding -> LSTM -> Linear ("0.weight",
 * "1.weight_ih_l0", ..., "2.bias") loads and gives torch's outputs. */
START_TEST(torch_state_dict_loads) {
    fixture *fx = fx_load("nn_model.txt");
    cg_module *m = model_new(5);
    const char *path = cgt_src_path("reference/fixtures/nn_model.safetensors");
    ck_assert_msg(cg_module_load_torch(m, path, "") == CG_OK, "%s", cg_last_error());
    assert_close(nnt_param(cg_sequential_at(m, 0), "embeddings"), fx_get(fx, "0_weight"), 0, "embedding");
    assert_close(nnt_param(cg_sequential_at(m, 2), "kernel"), cg_k_transpose(fx_get(fx, "2_weight"), 0, 1), 0, "Linear weight^T");
    assert_close(nnt_param(cg_sequential_at(m, 1), "bias"), cg_k_binary(CG_ADD, fx_get(fx, "1_bias_ih_l0"), fx_get(fx, "1_bias_hh_l0")),
                 0, "LSTM bias_ih + bias_hh");
    cg_tensor *y = run(m, fx_get(fx, "ids"));
    ck_assert_shape(y, 3, 2);
    assert_close(y, fx_get(fx, "out"), 1e-5, "model output");

    /* a wrong prefix or a model of another size: an error naming the
     * tensor, nothing changed */
    cg_tensor *snap[8];
    int n = snapshot(m, snap);
    ck_assert_int_ne(cg_module_load_torch(m, path, "model."), CG_OK);
    ck_assert_error(CG_ERR_PARSE, "'model.0.weight'");
    assert_unchanged(m, snap, n, "wrong prefix");
    cg_module *wide = cg_sequential_new(NULL);
    cg_sequential_add(wide, cg_embedding_new(10, 4, NULL));
    cg_sequential_add(wide, cg_lstm_new(4, 7, NULL));
    cg_sequential_add(wide, cg_dense_new(7, 2, CG_ACT_LINEAR, NULL));
    n = snapshot(wide, snap);
    ck_assert_int_ne(cg_module_load_torch(wide, path, ""), CG_OK);
    ck_assert_error(CG_ERR_SHAPE, "'1.weight_ih_l0' is float32 [24,4], expected float32 [28,4]");
    assert_unchanged(wide, snap, n, "wrong size");
    cg_module_free(wide);
    cg_module_free(m);
    fx_free(fx);
}
END_TEST

/* cg_module_save_torch writes PyTorch's names and layouts: the state_dict
 * read back equals torch's (the one LSTM bias splits into bias_ih = the sum
 * and bias_hh = 0), and loading it back restores every parameter. */
START_TEST(save_torch_round_trip) {
    make_dir();
    const char *src = cgt_src_path("reference/fixtures/nn_model.safetensors");
    cg_module *m = model_new(6), *fresh = model_new(7);
    ck_assert_int_eq(cg_module_load_torch(m, src, ""), CG_OK);
    ck_assert_msg(cg_module_save_torch(m, tmp("t.safetensors"), "") == CG_OK, "%s", cg_last_error());
    cg_safetensors *a = cg_safetensors_open(src), *b = cg_safetensors_open(tmp("t.safetensors"));
    ck_assert(a && b);
    ck_assert_int_eq(cg_safetensors_count(b), cg_safetensors_count(a));
    static const char *const same[] = {"0.weight", "1.weight_ih_l0", "1.weight_hh_l0", "2.weight", "2.bias"};
    for (int i = 0; i < 5; i++) ck_assert_msg(nnt_same_bits(cg_safetensors_get(a, same[i]), cg_safetensors_get(b, same[i])), "%s", same[i]);
    assert_close(cg_k_binary(CG_ADD, cg_safetensors_get(b, "1.bias_ih_l0"), cg_safetensors_get(b, "1.bias_hh_l0")),
                 cg_k_binary(CG_ADD, cg_safetensors_get(a, "1.bias_ih_l0"), cg_safetensors_get(a, "1.bias_hh_l0")), 1e-7,
                 "LSTM bias sum");
    cg_safetensors_close(a);
    cg_safetensors_close(b);
    ck_assert_int_eq(cg_module_load_torch(fresh, tmp("t.safetensors"), ""), CG_OK);
    cg_tensor *pa[8], *pb[8];
    int n = cg_module_parameters(m, pa, 8);
    cg_module_parameters(fresh, pb, 8);
    for (int i = 0; i < n; i++) ck_assert_msg(nnt_same_bits(pa[i], pb[i]), "%s", cg_name(pa[i]));
    cg_module_free(m);
    cg_module_free(fresh);

    /* GRU and SimpleRNN: torch -> cgrad -> torch gives back torch's file
     * (GRU keeps both bias vectors; its r/z blocks swap both ways) */
    const char *rnn_src = cgt_src_path("reference/fixtures/nn_rnn.safetensors");
    for (int k = 0; k < 2; k++) {
        const char *prefix = k ? "gru." : "rnn.";
        cg_module *g = k ? cg_gru_new(4, 6, NULL) : cg_simple_rnn_new(4, 6, NULL);
        ck_assert_msg(cg_module_load_torch(g, rnn_src, prefix) == CG_OK, "%s", cg_last_error());
        ck_assert_int_eq(cg_module_save_torch(g, tmp("g.safetensors"), prefix), CG_OK);
        a = cg_safetensors_open(rnn_src);
        b = cg_safetensors_open(tmp("g.safetensors"));
        ck_assert_int_eq(cg_safetensors_count(b), 4);
        static const char *const parts[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
        for (int i = 0; i < (k ? 4 : 2); i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s%s", prefix, parts[i]);
            ck_assert_msg(nnt_same_bits(cg_safetensors_get(a, nm), cg_safetensors_get(b, nm)), "%s", nm);
        }
        if (k) { /* torch's r block (rows 0..5) is our second block */
            cg_tensor *ri = cg_k_slice(cg_safetensors_get(a, "gru.weight_ih_l0"), 0, 0, 6, 1);
            ck_assert(nnt_same_bits(cg_k_contiguous(cg_k_transpose(ri, 0, 1)), cg_k_contiguous(cg_k_slice(nnt_param(g, "kernel"), 1, 6, 12, 1))));
        }
        cg_safetensors_close(a);
        cg_safetensors_close(b);
        cg_module_free(g);
    }

    /* a bidirectional GRU is one torch module: "..._reverse" for the backward half */
    cg_module *bg = cg_bidirectional_new(cg_gru_new(4, 6, NULL), NULL);
    ck_assert_msg(cg_module_load_torch(bg, rnn_src, "gru_bidi.") == CG_OK, "%s", cg_last_error());
    ck_assert_int_eq(cg_module_save_torch(bg, tmp("b.safetensors"), "gru_bidi."), CG_OK);
    a = cg_safetensors_open(rnn_src);
    b = cg_safetensors_open(tmp("b.safetensors"));
    ck_assert_int_eq(cg_safetensors_count(b), 8);
    for (int i = 0; i < 8; i++) {
        const char *nm = cg_safetensors_name(b, i);
        ck_assert_msg(strncmp(nm, "gru_bidi.", 9) == 0 && nnt_same_bits(cg_safetensors_get(a, nm), cg_safetensors_get(b, nm)), "%s", nm);
    }
    ck_assert_ptr_nonnull(cg_safetensors_get(b, "gru_bidi.weight_hh_l0_reverse"));
    cg_safetensors_close(a);
    cg_safetensors_close(b);
    cg_module_free(bg);
    remove_dir();
}
END_TEST

Suite *nn_io_suite(void) {
    Suite *s = suite_create("nn_io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, bad_files_leave_the_model_unchanged);
    tcase_add_test(tc, torch_state_dict_loads);
    tcase_add_test(tc, save_torch_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(nn_io_suite()); }
