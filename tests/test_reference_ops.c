/* Composite expressions built from cgrad ops against PyTorch
 * (tests/reference/autograd_fixtures.py): an LSTM-cell step, a GRU-cell step
 * ("reset after"), softmax cross-entropy and an embedding lookup with
 * repeated ids. Outputs and every gradient match in float32. */
#include "fixture.h"
#include "testlib.h"

#include <stdio.h>

#define TOL 1e-5 /* |have - want| <= TOL * (1 + |want|) */

/* The fixture tensor `name` as a leaf that requires grad. */
static cg_tensor *leaf(const fixture *fx, const char *name) {
    cg_tensor *t = cg_requires_grad_(fx_get(fx, name), true);
    ck_assert_msg(t != NULL, "%s: %s", name, cg_last_error());
    return t;
}

static void expect(const cg_tensor *have, const fixture *fx, const char *name) {
    ck_assert_msg(have != NULL, "%s is NULL: %s", name, cg_last_error());
    cg_tensor *want = fx_get(fx, name);
    ck_assert_msg(cg_same_shape(have, want), "%s: shape %s, PyTorch has %s", name, cg_shape_str(have),
                  cg_shape_str(want));
    cg_tensor *a = cg_to_dtype(have, CG_FLOAT64), *b = cg_to_dtype(want, CG_FLOAT64);
    const double *pa = cg_data_f64(a), *pb = cg_data_f64(b);
    for (int64_t i = 0; i < cg_numel(a); i++)
        ck_assert_msg(fabs(pa[i] - pb[i]) <= TOL * (1 + fabs(pb[i])), "%s[%lld]: %.9g, PyTorch %.9g", name,
                      (long long)i, pa[i], pb[i]);
}

/* Every leaf's gradient against "grad_<leaf>". */
static void expect_grads(const fixture *fx, const char *const *names, cg_tensor *const *leaves, int n) {
    char key[64];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "grad_%s", names[i]);
        expect(cg_grad(leaves[i]), fx, key);
    }
}

static cg_tensor *weighted_sum(cg_tensor *y, const fixture *fx, const char *w) {
    return cg_sum(cg_mul(y, fx_get(fx, w)), NULL, 0, false);
}

START_TEST(lstm_cell_step) {
    fixture *fx = fx_load("autograd_lstm_cell.txt");
    const char *names[] = {"x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"};
    cg_tensor *p[7];
    for (int i = 0; i < 7; i++) p[i] = leaf(fx, names[i]);
    cg_tensor *x = p[0], *h = p[1], *c = p[2];
    /* gates [B, 4H] = x W_ih + b_ih + h W_hh + b_hh, split as i, f, g, o */
    cg_tensor *gates = cg_add(cg_addmm(p[5], x, p[3]), cg_addmm(p[6], h, p[4])), *g[4];
    ck_assert_int_eq(cg_chunk(gates, 4, 1, g), 4);
    cg_tensor *c1 = cg_add(cg_mul(cg_sigmoid(g[1]), c), cg_mul(cg_sigmoid(g[0]), cg_tanh(g[2])));
    cg_tensor *h1 = cg_mul(cg_sigmoid(g[3]), cg_tanh(c1));
    cg_tensor *loss = cg_add(weighted_sum(h1, fx, "wh"), weighted_sum(c1, fx, "wc"));
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    expect(h1, fx, "h1");
    expect(c1, fx, "c1");
    expect(loss, fx, "loss");
    expect_grads(fx, names, p, 7);
    fx_free(fx);
}
END_TEST

START_TEST(gru_cell_step) {
    fixture *fx = fx_load("autograd_gru_cell.txt");
    const char *names[] = {"x", "h", "w_ih", "w_hh", "b_ih", "b_hh"};
    cg_tensor *p[6];
    for (int i = 0; i < 6; i++) p[i] = leaf(fx, names[i]);
    cg_tensor *h = p[1], *gi[3], *gh[3];
    ck_assert_int_eq(cg_chunk(cg_addmm(p[4], p[0], p[2]), 3, 1, gi), 3); /* r, z, n blocks */
    ck_assert_int_eq(cg_chunk(cg_addmm(p[5], h, p[3]), 3, 1, gh), 3);
    cg_tensor *r = cg_sigmoid(cg_add(gi[0], gh[0]));
    cg_tensor *z = cg_sigmoid(cg_add(gi[1], gh[1]));
    cg_tensor *n = cg_tanh(cg_add(gi[2], cg_mul(r, gh[2])));
    cg_tensor *h1 = cg_add(cg_mul(cg_rsub_scalar(1.0, z), n), cg_mul(z, h));
    cg_tensor *loss = weighted_sum(h1, fx, "wh");
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    expect(h1, fx, "h1");
    expect(loss, fx, "loss");
    expect_grads(fx, names, p, 6);
    fx_free(fx);
}
END_TEST

START_TEST(softmax_cross_entropy) {
    fixture *fx = fx_load("autograd_cross_entropy.txt");
    cg_tensor *logits = leaf(fx, "logits"), *logits3 = leaf(fx, "logits3");
    cg_tensor *loss = cg_cross_entropy(logits, fx_get(fx, "targets"));
    cg_tensor *loss3 = cg_cross_entropy_ex(logits3, fx_get(fx, "targets3"), CG_REDUCTION_SUM);
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    ck_assert_int_eq(cg_backward(loss3), CG_OK);
    expect(loss, fx, "loss");
    expect(loss3, fx, "loss3");
    expect(cg_grad(logits), fx, "grad_logits");
    expect(cg_grad(logits3), fx, "grad_logits3");
    fx_free(fx);
}
END_TEST

START_TEST(embedding_with_repeated_ids) {
    fixture *fx = fx_load("autograd_embedding.txt");
    cg_tensor *weight = leaf(fx, "weight");
    cg_tensor *out = cg_embedding(weight, fx_get(fx, "ids"));
    cg_tensor *loss = weighted_sum(out, fx, "wout");
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    expect(out, fx, "out");
    expect(loss, fx, "loss");
    expect(cg_grad(weight), fx, "grad_weight");
    for (int row = 2; row <= 5; row += row == 2 ? 2 : 1) /* rows 2, 4, 5 are never looked up */
        for (int64_t k = 0; k < 3; k++) ck_assert_double_eq(cg_get(cg_grad(weight), (int64_t[]){row, k}), 0.0);
    fx_free(fx);
}
END_TEST

Suite *reference_ops_suite(void) {
    Suite *s = suite_create("reference_ops");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, lstm_cell_step);
    tcase_add_test(tc, gru_cell_step);
    tcase_add_test(tc, softmax_cross_entropy);
    tcase_add_test(tc, embedding_with_repeated_ids);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(reference_ops_suite()); }
