/* The bad-input table of docs/bad-input.md, row by row: each row makes one
 * bad call and checks the documented status and the words the message must
 * contain, and that nothing crashed. Rows that touch saved state also check
 * that it is unchanged. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A row returns true if the call failed (NULL result or an error status). */
typedef bool (*row_fn)(void);

typedef struct {
    const char *id;
    row_fn fn;
    cg_status status;
    const char *words;
} row;

#define FAILED_PTR(expr) ((expr) == NULL)
#define FAILED_ST(expr) ((expr) != CG_OK)

static cg_tensor *f32(int64_t a, int64_t b) { return cg_ones(CG_FLOAT32, CG_SHAPE(a, b)); }

/* ---- tensors */
static bool negative_size(void) { return FAILED_PTR(cg_zeros(CG_FLOAT32, CG_SHAPE(2, -1))); }
static bool null_data(void) { return FAILED_PTR(cg_from_data(CG_FLOAT32, CG_SHAPE(2), NULL)); }
static bool add_null(void) { return FAILED_PTR(cg_add(f32(2, 3), NULL)); }
static bool add_shapes(void) { return FAILED_PTR(cg_add(f32(2, 3), f32(4, 3))); }
static bool add_dtypes(void) { return FAILED_PTR(cg_add(f32(2, 3), cg_ones(CG_FLOAT64, CG_SHAPE(2, 3)))); }
static bool exp_int(void) { return FAILED_PTR(cg_exp(cg_ones(CG_INT64, CG_SHAPE(2)))); }
static bool nan_anomaly(void) {
    cg_set_anomaly_mode(true);
    bool failed = FAILED_PTR(cg_log(cg_full(CG_FLOAT32, CG_SHAPE(2), -1)));
    cg_set_anomaly_mode(false);
    return failed;
}
static bool sum_axis(void) { return FAILED_PTR(cg_sum(f32(2, 3), CG_AXES(3), false)); }
static bool max_empty(void) { return FAILED_PTR(cg_max(f32(0, 3), CG_AXES(0), false)); }
static bool matmul_inner(void) { return FAILED_PTR(cg_matmul(f32(32, 128), f32(64, 512))); }
static bool matmul_rank0(void) { return FAILED_PTR(cg_matmul(cg_scalar(CG_FLOAT32, 1), f32(2, 2))); }
static bool reshape_numel(void) { return FAILED_PTR(cg_reshape(f32(2, 3), CG_SHAPE(4, 2))); }
static bool select_range(void) { return FAILED_PTR(cg_select(f32(2, 3), 1, 5)); }
static bool index_range(void) {
    return FAILED_PTR(cg_index_select(f32(4, 3), 0, cg_from_data(CG_INT64, CG_SHAPE(2), (int64_t[]){1, 9})));
}
static bool index_dtype(void) { return FAILED_PTR(cg_index_select(f32(4, 3), 0, f32(1, 2))); }

/* ---- autograd */
static bool backward_nonscalar(void) {
    return FAILED_ST(cg_backward(cg_mul_scalar(cg_requires_grad_(f32(2, 3), true), 2)));
}
static bool grad_int(void) { return FAILED_PTR(cg_requires_grad_(cg_ones(CG_INT64, CG_SHAPE(2)), true)); }
static bool backward_null(void) { return FAILED_ST(cg_backward(NULL)); }
static bool grad_output_shape(void) {
    cg_tensor *y = cg_mul_scalar(cg_requires_grad_(f32(2, 3), true), 2);
    return FAILED_ST(cg_backward_with(y, f32(3, 2)));
}

/* ---- nn */
static bool lstm_features(void) {
    cg_module *m = cg_lstm_new(4, 8, &(cg_rnn_opts){.name = "enc"});
    bool failed = FAILED_PTR(cg_module_forward(m, cg_ones(CG_FLOAT32, CG_SHAPE(2, 5, 3))));
    cg_module_free(m);
    return failed;
}
static bool lstm_rank(void) {
    cg_module *m = cg_lstm_new(4, 8, &(cg_rnn_opts){.name = "enc"});
    bool failed = FAILED_PTR(cg_module_forward(m, f32(2, 4)));
    cg_module_free(m);
    return failed;
}
static bool token_range(void) {
    cg_module *m = cg_embedding_new(100, 4, "emb");
    bool failed = FAILED_PTR(cg_module_forward(m, cg_full(CG_INT64, CG_SHAPE(2, 3), 100)));
    cg_module_free(m);
    return failed;
}
static bool token_dtype(void) {
    cg_module *m = cg_embedding_new(100, 4, "emb");
    bool failed = FAILED_PTR(cg_module_forward(m, f32(2, 3)));
    cg_module_free(m);
    return failed;
}
static bool loss_shapes(void) { return FAILED_PTR(cg_mse(f32(4, 1), f32(3, 1))); }
static bool ce_target(void) {
    return FAILED_PTR(cg_cross_entropy(f32(2, 3), cg_from_data(CG_INT64, CG_SHAPE(2), (int64_t[]){0, 3})));
}

/* ---- optim */
static bool adam_lr(void) {
    cg_tensor *p = cg_requires_grad_(f32(2, 2), true);
    cg_adam_opts o = cg_adam_torch();
    o.lr = -1;
    return FAILED_PTR(cg_adam_new(&p, 1, &o));
}
static bool step_no_grad(void) {
    cg_tensor *p = cg_requires_grad_(f32(2, 2), true);
    cg_optim *opt = cg_adam_new(&p, 1, NULL);
    bool failed = FAILED_ST(cg_optim_step(opt));
    cg_optim_free(opt);
    return failed;
}
static bool clip_nan(void) {
    cg_tensor *p = cg_requires_grad_(f32(2, 2), true);
    cg_backward(cg_sum(cg_mul(p, cg_full(CG_FLOAT32, CG_SHAPE(2, 2), NAN)), NULL, 0, false));
    return FAILED_ST(cg_clip_grad_norm(&p, 1, 1.0, NULL));
}

/* ---- files */
static char g_dir[64];
static const char *tmp_file(const char *name, const char *content) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (content) fputs(content, f);
    fclose(f);
    return path;
}
static bool tsv_missing(void) { return FAILED_PTR(cg_read_tsv("/nonexistent/dir/sentences.txt", NULL)); }
static bool tsv_label(void) { return FAILED_PTR(cg_read_tsv(tmp_file("s.tsv", "good\t1\nbad\tmaybe\n"), NULL)); }
static bool tsv_no_tab(void) { return FAILED_PTR(cg_read_tsv(tmp_file("t.tsv", "good\t1\nno tab here\n"), NULL)); }
static bool csv_ragged(void) { return FAILED_PTR(cg_read_csv(tmp_file("r.csv", "a,b\n1,2\n3\n"), NULL)); }
static bool safetensors_garbage(void) { return FAILED_PTR(cg_safetensors_open(tmp_file("g.safetensors", "not a file"))); }

static bool keras_garbage(void) { return FAILED_PTR(cg_keras_load(tmp_file("m.keras", "PK\x03\x04 not a zip"), NULL)); }
static bool keras_missing_weight(void) {
    return FAILED_PTR(cg_keras_load(cgt_src_path("reference/fixtures/keras_bad_missing.keras"), NULL));
}

/* A failed load leaves the model's weights as they were. */
static bool load_keeps_weights(void) {
    cg_module *m = cg_dense_new(3, 2, CG_ACT_LINEAR, "head");
    cg_tensor *k = cg_module_param(m, "head.kernel");
    float before[6];
    memcpy(before, cg_data_f32(k), sizeof before);
    const char *path = tmp_file("w.safetensors", NULL);
    cg_safetensors_save(path, NULL, 0, NULL, NULL, 0); /* a valid file without the model's tensors */
    bool failed = FAILED_ST(cg_module_load(m, path));
    bool same = memcmp(before, cg_data_f32(k), sizeof before) == 0;
    cg_module_free(m);
    return failed && same;
}

/* A failed save leaves an existing file as it was. */
static bool save_keeps_file(void) {
    char dirpath[128];
    snprintf(dirpath, sizeof dirpath, "%s/adir", g_dir);
    mkdir(dirpath, 0700);
    cg_module *m = cg_dense_new(3, 2, CG_ACT_LINEAR, "head");
    bool failed = FAILED_ST(cg_module_save(m, dirpath)); /* a directory is in the way */
    cg_module_free(m);
    return failed && access(dirpath, F_OK) == 0;
}

static bool fit_samples(void) {
    cg_module *m = cg_dense_new(1, 1, CG_ACT_LINEAR, "d");
    cg_tensor *ps[2];
    int n = cg_module_parameters(m, ps, 2);
    cg_optim *opt = cg_sgd_new(ps, n, NULL);
    bool failed = FAILED_PTR(cg_fit(m, opt, CG_LOSS_MSE, CG_METRIC_NONE, f32(8, 1), f32(6, 1), NULL));
    cg_optim_free(opt);
    cg_module_free(m);
    return failed;
}

static const row ROWS[] = {
    {"T1 negative size", negative_size, CG_ERR_SHAPE, "negative size"},
    {"T2 NULL data", null_data, CG_ERR_NULL, "data is NULL"},
    {"T3 NULL input", add_null, CG_ERR_NULL, "cg_add: input 1 is NULL"},
    {"T4 shapes do not broadcast", add_shapes, CG_ERR_SHAPE, "[2,3] and [4,3] do not broadcast"},
    {"T5 dtypes differ", add_dtypes, CG_ERR_DTYPE, "float32"},
    {"T6 op not defined for int64", exp_int, CG_ERR_DTYPE, "cg_exp"},
    {"T7 NaN in anomaly mode", nan_anomaly, CG_ERR_NUMERIC, "'log'"},
    {"T8 axis out of range", sum_axis, CG_ERR_INDEX, "axis 3"},
    {"T9 max of an empty set", max_empty, CG_ERR_SHAPE, "empty"},
    {"T10 GEMM inner sizes", matmul_inner, CG_ERR_SHAPE, "[32,128] @ [64,512]: inner sizes 128 != 64"},
    {"T11 GEMM of a 0-d tensor", matmul_rank0, CG_ERR_SHAPE, "at least 1 dim"},
    {"T12 reshape element count", reshape_numel, CG_ERR_SHAPE, "cannot reshape [2,3]"},
    {"T13 select out of range", select_range, CG_ERR_INDEX, "index 5"},
    {"T14 index out of range", index_range, CG_ERR_INDEX, "index 9 at position 1"},
    {"T15 float indices", index_dtype, CG_ERR_DTYPE, "int64"},
    {"A1 backward on a non-scalar", backward_nonscalar, CG_ERR_SHAPE, "cg_backward_with"},
    {"A2 int64 requires grad", grad_int, CG_ERR_DTYPE, "cannot carry gradients"},
    {"A3 backward of NULL", backward_null, CG_ERR_NULL, "NULL"},
    {"A4 grad_output shape", grad_output_shape, CG_ERR_SHAPE, "[3,2]"},
    {"N1 wrong feature size", lstm_features, CG_ERR_SHAPE, "enc (LSTM)"},
    {"N2 wrong rank", lstm_rank, CG_ERR_SHAPE, "enc (LSTM)"},
    {"N3 token id >= vocabulary", token_range, CG_ERR_INDEX, "emb (Embedding): token id 100"},
    {"N4 float token ids", token_dtype, CG_ERR_DTYPE, "emb (Embedding)"},
    {"N5 loss shapes", loss_shapes, CG_ERR_SHAPE, "cg_mse"},
    {"N6 class id out of range", ce_target, CG_ERR_INDEX, "target 3 at position 1"},
    {"O1 negative learning rate", adam_lr, CG_ERR_VALUE, "lr = -1"},
    {"O2 step without gradients", step_no_grad, CG_ERR_STATE, "call cg_backward first"},
    {"O3 NaN gradient norm", clip_nan, CG_ERR_NUMERIC, "cg_clip_grad_norm"},
    {"D1 missing file", tsv_missing, CG_ERR_IO, "/nonexistent/dir/sentences.txt"},
    {"D2 label not 0/1", tsv_label, CG_ERR_PARSE, "s.tsv:2"},
    {"D3 no tab", tsv_no_tab, CG_ERR_PARSE, "t.tsv:2"},
    {"D4 ragged CSV row", csv_ragged, CG_ERR_PARSE, "r.csv:3"},
    {"F1 not a safetensors file", safetensors_garbage, CG_ERR_PARSE, "g.safetensors"},
    {"F2 failed load keeps weights", load_keeps_weights, CG_ERR_PARSE, "head.kernel"},
    {"F3 failed save keeps the file", save_keeps_file, CG_ERR_IO, "adir"},
    {"K1 a .keras file that is not a zip", keras_garbage, CG_ERR_PARSE, "m.keras"},
    {"K2 a .keras file without a weight", keras_missing_weight, CG_ERR_PARSE, "model.weights.h5: layers/lstm/cell/vars/1"},
    {"R1 fit sample counts", fit_samples, CG_ERR_SHAPE, "same, non-zero number of samples"},
};

START_TEST(table_row) {
    const row *r = &ROWS[_i];
    cg_scope *s = cg_scope_begin();
    cg_clear_error();
    bool failed = r->fn();
    ck_assert_msg(failed, "%s: the bad call succeeded", r->id);
    ck_assert_msg(cg_last_status() == r->status, "%s: status %d, expected %d (%s)", r->id, cg_last_status(), r->status,
                  cg_last_error());
    ck_assert_msg(strstr(cg_last_error(), r->words), "%s: \"%s\" does not contain \"%s\"", r->id, cg_last_error(),
                  r->words);
    cg_clear_error();
    cg_scope_end(s);
}
END_TEST

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/cgrad_bad_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, table_row, 0, (int)(sizeof ROWS / sizeof ROWS[0]));
    suite_add_tcase(s, tc);
    int rc = cgt_run(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
