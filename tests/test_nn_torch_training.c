/* A PyTorch state dict loaded into cgrad's recurrent layers trains as in
 * PyTorch: with two_biases (PyTorch's bias_ih and bias_hh, two parameters)
 * six Adam steps from tests/reference/torch_training_fixtures.py's initial
 * weights end at PyTorch's weights and outputs, for SimpleRNN and for
 * bidirectional LSTM and GRU. With Keras' one bias (SimpleRNN, LSTM) the
 * biases drift away: Adam's step depends on each parameter's own gradient
 * history; Keras' GRU bias [2, 3H] is two vectors already. */
#include "test_nn_common.h"

#include <stdlib.h>
#include <unistd.h>

enum { B = 3, T = 5, FEAT = 4, H = 6, STEPS = 6 };
static const char *const tags[] = {"rnn", "lstm", "gru"};

static cg_module *make(int k, bool two_biases) {
    cg_rnn_opts o = {.return_sequences = true, .two_biases = two_biases};
    cg_module *m = k == 0 ? cg_simple_rnn_new(FEAT, H, &o) : k == 1 ? cg_lstm_new(FEAT, H, &o) : cg_gru_new(FEAT, H, &o);
    ck_assert_msg(m != NULL, "%s", cg_last_error());
    return k == 0 ? m : cg_bidirectional_new(m, NULL);
}

/* Train a fresh model from the fixture's state dict; its PyTorch tensors after. */
static cg_safetensors *train(int k, bool two_biases, const fixture *fx, cg_tensor **out0) {
    char name[64], prefix[16];
    cg_module *m = make(k, two_biases);
    snprintf(prefix, sizeof prefix, "%s.", tags[k]);
    ck_assert_msg(cg_module_load_torch(m, cgt_src_path("reference/fixtures/nn_torch_training.safetensors"), prefix) ==
                      CG_OK,
                  "%s", cg_last_error());
    cg_tensor *ps[16];
    int np = cg_module_parameters(m, ps, 16);
    cg_adam_opts ao = cg_adam_torch();
    ao.lr = 0.01;
    cg_optim *opt = cg_adam_new(ps, np, &ao);
    snprintf(name, sizeof name, "%s_x", tags[k]);
    cg_tensor *xs = fx_get(fx, name);
    snprintf(name, sizeof name, "%s_w", tags[k]);
    cg_tensor *w = fx_get(fx, name);
    for (int s = 0; s < STEPS; s++) {
        cg_scope *sc = cg_scope_begin();
        cg_optim_zero_grad(opt);
        cg_tensor *y = cg_module_forward(m, cg_k_select(xs, 0, s));
        ck_assert_int_eq(cg_backward(cg_sum(cg_mul(y, w), NULL, 0, false)), CG_OK);
        ck_assert_int_eq(cg_optim_step(opt), CG_OK);
        cg_scope_end(sc);
    }
    CG_NO_GRAD { *out0 = cg_module_forward(m, cg_k_select(xs, 0, 0)); }
    char path[] = "/tmp/cgrad_torch_training_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(cg_module_save_torch(m, path, ""), CG_OK);
    cg_safetensors *f = cg_safetensors_open(path);
    unlink(path);
    ck_assert_ptr_nonnull(f);
    cg_optim_free(opt);
    cg_module_free(m);
    return f;
}

static const char *const names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};

START_TEST(two_biases_train_as_pytorch) {
    fixture *fx = fx_load("nn_torch_training.txt");
    cg_scope *s = cg_scope_begin();
    cg_tensor *out;
    cg_safetensors *f = train(_i, true, fx, &out);
    char want[96], got[64];
    for (int dir = 0; dir < (_i ? 2 : 1); dir++)
        for (int j = 0; j < 4; j++) {
            snprintf(got, sizeof got, "%s%s", names[j], dir ? "_reverse" : "");
            snprintf(want, sizeof want, "%s_final_%s", tags[_i], got);
            assert_close(cg_safetensors_get(f, got), fx_get(fx, want), 1e-5, "%s %s after %d Adam steps", tags[_i], got,
                         STEPS);
        }
    snprintf(want, sizeof want, "%s_final_out", tags[_i]);
    assert_close(out, fx_get(fx, want), 1e-5, "%s output after %d steps", tags[_i], STEPS);
    cg_safetensors_close(f);
    /* Keras' layout: loaded, the biases' sum is PyTorch's; after six steps it is not */
    f = train(_i, false, fx, &out);
    cg_tensor *bi = cg_safetensors_get(f, "bias_ih_l0"), *bh = cg_safetensors_get(f, "bias_hh_l0");
    snprintf(want, sizeof want, "%s_final_bias_ih_l0", tags[_i]);
    cg_tensor *sum_want = cg_k_binary(CG_ADD, fx_get(fx, want), fx_get(fx, strcat(strcpy(got, tags[_i]), "_final_bias_hh_l0")));
    double d = cg_item(cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_SUB, cg_k_binary(CG_ADD, bi, bh), sum_want)),
                                   NULL, 0, false));
    if (_i < 2) ck_assert_msg(d > 1e-3, "%s: one bias follows PyTorch's two within %g", tags[_i], d);
    else ck_assert_msg(d < 1e-5, "gru: Keras' [2, 3H] bias is two vectors too, yet it differs by %g", d);
    cg_safetensors_close(f);
    cg_scope_end(s);
    fx_free(fx);
}
END_TEST

/* The layout's parameters and names, and their PyTorch round trip. */
START_TEST(two_biases_layout) {
    cg_module *m = cg_lstm_new(FEAT, H, &(cg_rnn_opts){.two_biases = true, .name = "enc"});
    ck_assert_int_eq(m->n_params, 4);
    ck_assert_ptr_nonnull(cg_module_param(m, "enc.recurrent_bias"));
    ck_assert_int_eq(cg_module_param(m, "enc.bias")->shape[0], 4 * H);
    /* Keras' forget-gate bias of 1 is in the input bias; the other starts at 0 */
    ck_assert_double_eq(cg_get(cg_module_param(m, "enc.bias"), (int64_t[]){H}), 1.0);
    ck_assert_double_eq(cg_get(cg_module_param(m, "enc.recurrent_bias"), (int64_t[]){H}), 0.0);
    ck_assert_int_eq(cg_module_param_count(m, false), FEAT * 4 * H + H * 4 * H + 8 * H);
    cg_module_free(m);
    cg_module *g = cg_gru_new(FEAT, H, &(cg_rnn_opts){.two_biases = true, .name = "g2"});
    ck_assert_int_eq(cg_module_param(g, "g2.bias")->ndim, 1);
    ck_assert_int_eq(cg_module_param(g, "g2.recurrent_bias")->shape[0], 3 * H);
    cg_module_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_torch_training");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, two_biases_train_as_pytorch, 0, 3);
    tcase_add_test(tc, two_biases_layout);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
