/* SimpleRNN, LSTM, GRU and Bidirectional against PyTorch (forward and every
 * gradient, tests/reference/nn_fixtures.py), float64 gradchecks of the
 * cells, masking against unpadded runs, go_backwards, states. */
#include "test_nn_common.h"

enum { B = 3, T = 5, FEAT = 4, H = 6 };
enum { V_LAST, V_SEQ, V_INIT, V_STACK, V_BIDI, V_BIDILAST, V_COUNT };
static const char *const kind_name[] = {"rnn", "lstm", "gru"};
static const char *const var_name[] = {"last", "seq", "init", "stack", "bidi", "bidilast"};

static cg_module *rnn_new(cg_rnn_kind k, int in, int units, const cg_rnn_opts *o) {
    cg_module *m = k == CG_SIMPLE_RNN ? cg_simple_rnn_new(in, units, o) : k == CG_LSTM ? cg_lstm_new(in, units, o)
                                                                                      : cg_gru_new(in, units, o);
    ck_assert_msg(m != NULL, "%s", cg_last_error());
    return m;
}

/* ------------------------------------------------- PyTorch -> cgrad layout */

/* GRU gate blocks: PyTorch r, z, n; cgrad (Keras) z, r, h. */
static cg_tensor *swap_rz(cg_tensor *t, int axis) {
    const cg_tensor *p[3] = {cg_k_slice(t, axis, H, 2 * H, 1), cg_k_slice(t, axis, 0, H, 1),
                             cg_k_slice(t, axis, 2 * H, 3 * H, 1)};
    return cg_k_concat(p, 3, axis);
}
/* weight_ih / weight_hh [G*H, n] -> kernel / recurrent_kernel [n, G*H] */
static cg_tensor *map_w(cg_rnn_kind k, cg_tensor *w) {
    return cg_k_contiguous(cg_k_transpose(k == CG_GRU ? swap_rz(w, 0) : w, 0, 1));
}
/* (bias_ih, bias_hh) -> bias: their sum [G*H], or GRU's [2, 3H] */
static cg_tensor *map_b(cg_rnn_kind k, cg_tensor *bi, cg_tensor *bh) {
    if (k != CG_GRU) return cg_k_binary(CG_ADD, bi, bh);
    const cg_tensor *p[2] = {swap_rz(bi, 0), swap_rz(bh, 0)};
    return cg_k_stack(p, 2, 0);
}

static cg_tensor *fxn(const fixture *fx, const char *tag, const char *what, const char *suffix) {
    char n[160];
    snprintf(n, sizeof n, "%s_%s%s%s", tag, what, suffix ? "_" : "", suffix ? suffix : "");
    return fx_get(fx, n);
}

/* Copy the torch weights of one layer (suffix "l0", "l1", "l0_reverse") in. */
static void set_layer(cg_module *layer, cg_rnn_kind k, const fixture *fx, const char *tag, const char *sfx) {
    ck_assert_ptr_nonnull(cg_k_copy_(nnt_param(layer, "kernel"), map_w(k, fxn(fx, tag, "weight_ih", sfx))));
    ck_assert_ptr_nonnull(cg_k_copy_(nnt_param(layer, "recurrent_kernel"), map_w(k, fxn(fx, tag, "weight_hh", sfx))));
    ck_assert_ptr_nonnull(
        cg_k_copy_(nnt_param(layer, "bias"), map_b(k, fxn(fx, tag, "bias_ih", sfx), fxn(fx, tag, "bias_hh", sfx))));
}

static void check_layer(cg_module *layer, cg_rnn_kind k, const fixture *fx, const char *tag, const char *sfx) {
    const double tol = 1e-5;
    assert_close(nnt_param(layer, "kernel"), map_w(k, fxn(fx, tag, "weight_ih", sfx)), 0, "%s kernel", tag);
    assert_close(cg_grad(nnt_param(layer, "kernel")), map_w(k, fxn(fx, tag, "grad_weight_ih", sfx)), tol,
                 "%s %s d kernel", tag, sfx);
    assert_close(cg_grad(nnt_param(layer, "recurrent_kernel")), map_w(k, fxn(fx, tag, "grad_weight_hh", sfx)), tol,
                 "%s %s d recurrent_kernel", tag, sfx);
    cg_tensor *gbi = fxn(fx, tag, "grad_bias_ih", sfx), *gbh = fxn(fx, tag, "grad_bias_hh", sfx);
    /* one bias for both torch vectors: its gradient is either one's */
    cg_tensor *want = k == CG_GRU ? map_b(k, gbi, gbh) : gbi;
    if (k != CG_GRU) assert_close(gbh, gbi, 1e-6, "%s: torch's two bias gradients", tag);
    assert_close(cg_grad(nnt_param(layer, "bias")), want, tol, "%s %s d bias", tag, sfx);
}

START_TEST(matches_torch) {
    cg_rnn_kind k = (cg_rnn_kind)(_i / V_COUNT);
    int v = _i % V_COUNT;
    char tag[32];
    snprintf(tag, sizeof tag, "%s_%s", kind_name[k], var_name[v]);
    fixture *fx = fx_load("nn_rnn.txt");
    cg_rnn_opts o = {.return_sequences = v == V_SEQ || v == V_INIT || v == V_BIDI};
    cg_module *m, *layers[2] = {NULL, NULL};
    const char *sfx[2] = {"l0", NULL};
    if (v == V_STACK) { /* torch num_layers=2 == two layers, the first returning sequences */
        m = cg_sequential_new(NULL);
        cg_rnn_opts first = {.return_sequences = true};
        ck_assert_ptr_nonnull(cg_sequential_add(m, layers[0] = rnn_new(k, FEAT, H, &first)));
        ck_assert_ptr_nonnull(cg_sequential_add(m, layers[1] = rnn_new(k, H, H, NULL)));
        sfx[1] = "l1";
    } else if (v == V_BIDI || v == V_BIDILAST) {
        m = cg_bidirectional_new(rnn_new(k, FEAT, H, &o), NULL);
        ck_assert_msg(m != NULL, "%s", cg_last_error());
        layers[0] = m->children[0];
        layers[1] = m->children[1];
        sfx[1] = "l0_reverse";
    } else {
        m = layers[0] = rnn_new(k, FEAT, H, &o);
    }
    if (v == V_LAST || v == V_BIDILAST) { /* these take the state_dict through cg_module_load_torch */
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%s%s.", kind_name[k], v == V_LAST ? "" : "_bidi");
        ck_assert_msg(cg_module_load_torch(m, cgt_src_path("reference/fixtures/nn_rnn.safetensors"), prefix) == CG_OK,
                      "%s", cg_last_error());
    } else {
        for (int i = 0; i < 2 && layers[i]; i++) set_layer(layers[i], k, fx, tag, sfx[i]);
    }

    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(fxn(fx, tag, "x", NULL), true);
    cg_tensor *out, *loss, *st[2] = {NULL, NULL};
    if (v == V_INIT) {
        st[0] = cg_requires_grad_(fxn(fx, tag, "h0", NULL), true);
        if (k == CG_LSTM) st[1] = cg_requires_grad_(fxn(fx, tag, "c0", NULL), true);
        cg_rnn_result r;
        ck_assert_msg(cg_rnn_call(m, x, st, NULL, &r) == CG_OK, "%s", cg_last_error());
        ck_assert_int_eq(r.n_states, k == CG_LSTM ? 2 : 1);
        out = r.output;
        assert_close(r.states[0], fxn(fx, tag, "hn", NULL), 1e-5, "%s final h", tag);
        loss = cg_add(nnt_dot(out, fxn(fx, tag, "w", NULL)), nnt_dot(r.states[0], fxn(fx, tag, "wh", NULL)));
        if (k == CG_LSTM) {
            assert_close(r.states[1], fxn(fx, tag, "cn", NULL), 1e-5, "%s final c", tag);
            loss = cg_add(loss, nnt_dot(r.states[1], fxn(fx, tag, "wc", NULL)));
        }
    } else {
        out = cg_module_forward(m, x);
        loss = nnt_dot(out, fxn(fx, tag, "w", NULL));
    }
    cg_tensor *want = fxn(fx, tag, "out", NULL);
    ck_assert_msg(out && cg_same_shape(out, want), "%s: output %s, torch %s (%s)", tag, cg_shape_str(out),
                  cg_shape_str(want), cg_last_error());
    assert_close(out, want, 1e-5, "%s output", tag);
    ck_assert_msg(cg_backward(loss) == CG_OK, "%s", cg_last_error());
    assert_close(cg_grad(x), fxn(fx, tag, "grad_x", NULL), 1e-5, "%s d x", tag);
    for (int i = 0; i < 2 && layers[i]; i++) check_layer(layers[i], k, fx, tag, sfx[i]);
    if (st[0]) assert_close(cg_grad(st[0]), fxn(fx, tag, "grad_h0", NULL), 1e-5, "%s d h0", tag);
    if (st[1]) assert_close(cg_grad(st[1]), fxn(fx, tag, "grad_c0", NULL), 1e-5, "%s d c0", tag);
    cg_scope_end(s);
    cg_module_free(m);
    fx_free(fx);
}
END_TEST

/* Sum of the parameters' gradients of sum(y), as a fingerprint. */
static double grad_sum(cg_module *m, cg_tensor *y) {
    cg_tensor *p[4];
    int n = cg_module_parameters(m, p, 4);
    for (int i = 0; i < n; i++) cg_clear_grad(p[i]);
    ck_assert_int_eq(cg_backward(cg_sum(y, NULL, 0, false)), CG_OK);
    double t = 0;
    for (int i = 0; i < n; i++) t += cg_item(cg_k_reduce(CG_SUM, cg_k_unary(CG_ABS, cg_grad(p[i])), NULL, 0, false));
    return t;
}

/* The initial state is used: zeros and the torch h0 give different outputs,
 * and passing explicit zeros equals passing none (whose first step skips
 * the zero recurrent product), in values and gradients; with fused and
 * separate gates (linear activation), with and without bias. */
START_TEST(initial_state_is_used) {
    for (int k = 0; k < 3; k++) {
        cg_rng rng = cg_rng_seeded(5);
        cg_module *m = rnn_new((cg_rnn_kind)k, FEAT, H, &(cg_rnn_opts){.rng = &rng, .no_bias = _i & 2,
                                                                       .activation = _i & 1 ? CG_ACT_LINEAR : 0});
        cg_scope *s = cg_scope_begin();
        cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, T, FEAT));
        cg_tensor *z[2] = {cg_zeros(CG_FLOAT32, CG_SHAPE(B, H)), cg_zeros(CG_FLOAT32, CG_SHAPE(B, H))};
        cg_tensor *h0[2] = {cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, H)), cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, H))};
        cg_rnn_result a, b, c;
        ck_assert_int_eq(cg_rnn_call(m, x, NULL, NULL, &a), CG_OK);
        ck_assert_int_eq(cg_rnn_call(m, x, z, NULL, &b), CG_OK);
        ck_assert_int_eq(cg_rnn_call(m, x, h0, NULL, &c), CG_OK);
        ck_assert(nnt_same_bits(a.output, b.output));
        ck_assert_double_eq_tol(grad_sum(m, a.output), grad_sum(m, b.output), 1e-9);
        ck_assert(a.output == a.states[0]); /* last step: the output is h */
        double d = cg_item(cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_SUB, a.output, c.output)), NULL, 0, false));
        ck_assert_msg(d > 1e-4, "%s: h0 changed the output by only %g", kind_name[k], d);
        if (k == CG_LSTM) { /* c0 alone matters too */
            cg_tensor *hc[2] = {z[0], h0[1]};
            ck_assert_int_eq(cg_rnn_call(m, x, hc, NULL, &c), CG_OK);
            ck_assert(!nnt_same_bits(a.output, c.output));
        }
        cg_scope_end(s);
        cg_module_free(m);
    }
}
END_TEST

/* go_backwards == the same weights on the time-reversed input (outputs in
 * processing order, as Keras returns them). */
START_TEST(go_backwards_is_flipped_input) {
    for (int k = 0; k < 3; k++)
        for (int seq = 0; seq < 2; seq++) {
            cg_rng rng = cg_rng_seeded(9);
            cg_module *bw = rnn_new((cg_rnn_kind)k, FEAT, H, &(cg_rnn_opts){.go_backwards = true, .return_sequences = seq, .rng = &rng});
            cg_module *fw = rnn_new((cg_rnn_kind)k, FEAT, H, &(cg_rnn_opts){.return_sequences = seq, .rng = &rng});
            for (int i = 0; i < 3; i++) ck_assert_ptr_nonnull(cg_k_copy_(fw->params[i], bw->params[i]));
            cg_scope *s = cg_scope_begin();
            cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, T, FEAT));
            cg_tensor *yb = cg_module_forward(bw, x), *yf = cg_module_forward(fw, cg_flip(x, (int[]){1}, 1));
            cg_tensor *y0 = cg_module_forward(fw, x);
            assert_close(yb, yf, 1e-6, "%s go_backwards", kind_name[k]);
            ck_assert(!nnt_same_bits(y0, yb));
            cg_scope_end(s);
            cg_module_free(bw);
            cg_module_free(fw);
        }
}
END_TEST

/* ------------------------------------------------------------- gradcheck */

typedef struct {
    cg_module *m;
    int n_states;
    const cg_tensor *mask;
} gc_ctx;

static cg_tensor *gc_fn(cg_tensor *const *in, int n, void *user) {
    (void)n;
    gc_ctx *c = user;
    cg_rnn_result r;
    cg_tensor *st[2] = {in[1], c->n_states == 2 ? in[2] : NULL};
    if (cg_rnn_call(c->m, in[0], st, c->mask, &r) != CG_OK) return NULL;
    /* the sequence and (LSTM) the final cell state */
    if (r.n_states < 2) return r.output;
    cg_tensor *parts[2] = {cg_reshape(r.output, CG_SHAPE(-1)), cg_reshape(r.states[1], CG_SHAPE(-1))};
    return cg_concat(parts, 2, 0);
}

/* float64 gradcheck of each cell over 3 steps, wrt the input, the initial
 * state(s) and every parameter; with and without a mask (rounds 0-5, the
 * gates as one fused op), and with a linear activation (rounds 6-8, which
 * has no fused step: the gates run as separate ops). */
START_TEST(cell_gradcheck) {
    bool plain = _i >= 6;
    cg_rnn_kind k = (cg_rnn_kind)(plain ? _i - 6 : _i / 2);
    bool masked = !plain && _i % 2;
    cg_rng rng = cg_rng_seeded(31 + (uint64_t)_i);
    cg_module *m = rnn_new(k, 3, 4, &(cg_rnn_opts){.return_sequences = true, .rng = &rng,
                                                   .activation = plain ? CG_ACT_LINEAR : CG_ACT_DEFAULT});
    /* non-zero biases so their gradient paths are exercised */
    for (int i = 0; i < m->n_params; i++)
        ck_assert_ptr_nonnull(cg_k_axpy_(m->params[i], 0.3, cg_uniform(&rng, CG_FLOAT32, -1, 1, m->params[i]->shape, m->params[i]->ndim)));
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    gc_ctx c = {m, k == CG_LSTM ? 2 : 1, NULL};
    if (masked) c.mask = cg_from_data(CG_FLOAT64, CG_SHAPE(2, 3), (const double[]){0, 1, 1, 1, 1, 0});
    cg_tensor *in[8];
    int n = 0;
    in[n++] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 3, 3)), true);
    for (int i = 0; i < c.n_states; i++) in[n++] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 4)), true);
    int np = cg_module_parameters(m, in + n, 8 - n);
    ck_assert_int_eq(np, 3);
    for (int i = n; i < n + np; i++) ck_assert_int_eq(in[i]->dtype, CG_FLOAT64);
    n += np;
    cg_gradcheck_opts opts = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 3};
    ck_assert_msg(cg_gradcheck(gc_fn, &c, in, n, &opts) == CG_OK, "%s%s: %s", kind_name[k], masked ? " masked" : "",
                  cg_last_error());
    cg_module_free(m);
}
END_TEST

/* Bidirectional and stacked layers in float64, gradients wrt the input and
 * all parameters. */
static cg_tensor *gc_module(cg_tensor *const *in, int n, void *user) {
    (void)n;
    return cg_module_forward(user, in[0]);
}

START_TEST(stacked_bidirectional_gradcheck) {
    cg_rng rng = cg_rng_seeded(77);
    cg_module *m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_bidirectional_new(rnn_new(CG_GRU, 3, 3, &(cg_rnn_opts){.return_sequences = true, .rng = &rng}), NULL));
    cg_sequential_add(m, rnn_new(CG_LSTM, 6, 2, &(cg_rnn_opts){.rng = &rng}));
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    cg_tensor *in[16];
    in[0] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 3, 3)), true);
    int np = cg_module_parameters(m, in + 1, 15);
    ck_assert_int_eq(np, 9);
    cg_gradcheck_opts opts = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 4};
    ck_assert_msg(cg_gradcheck(gc_module, m, in, 1 + np, &opts) == CG_OK, "%s", cg_last_error());
    cg_module_free(m);
}
END_TEST

/* GRU with the reset gate before the recurrent kernel (Keras'
 * reset_after=False) against the formula written out with separate ops, in
 * float64: z = σ(x Wz + h Uz + b_z), r = σ(x Wr + h Ur + b_r),
 * n = tanh(x Wh + b_h + (r * h) Uh), h' = z h + (1 - z) n. Its bias is one
 * [3H] vector; gradcheck over 3 steps with an initial state; PyTorch has
 * no such GRU, so exporting one is refused by name. */
START_TEST(gru_reset_before) {
    cg_rng rng = cg_rng_seeded(21);
    cg_module *m = rnn_new(CG_GRU, 3, 4, &(cg_rnn_opts){.reset_before = true, .return_sequences = true, .rng = &rng});
    cg_tensor *bias = nnt_param(m, "bias");
    ck_assert_int_eq(bias->ndim, 1);
    ck_assert_int_eq(bias->shape[0], 12);
    for (int i = 0; i < m->n_params; i++)
        ck_assert_ptr_nonnull(cg_k_axpy_(m->params[i], 0.3, cg_uniform(&rng, CG_FLOAT32, -1, 1, m->params[i]->shape, m->params[i]->ndim)));
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    cg_tensor *W = nnt_param(m, "kernel"), *U = nnt_param(m, "recurrent_kernel");
    bias = nnt_param(m, "bias");
    cg_tensor *x = cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 3, 3));
    cg_tensor *h0 = cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 4));
    cg_rnn_result r;
    ck_assert_int_eq(cg_rnn_call(m, x, (cg_tensor *[]){h0, NULL}, NULL, &r), CG_OK);
    cg_tensor *h = h0;
    for (int64_t t = 0; t < 3; t++) {
        cg_tensor *xw = cg_k_binary(CG_ADD, cg_k_matmul(cg_k_select(x, 1, t), W), bias);
        cg_tensor *hu = cg_k_matmul(h, U);
        cg_tensor *z = cg_k_unary(CG_SIGMOID, cg_k_binary(CG_ADD, cg_k_slice(xw, 1, 0, 4, 1), cg_k_slice(hu, 1, 0, 4, 1)));
        cg_tensor *rr = cg_k_unary(CG_SIGMOID, cg_k_binary(CG_ADD, cg_k_slice(xw, 1, 4, 8, 1), cg_k_slice(hu, 1, 4, 8, 1)));
        cg_tensor *n = cg_k_unary(CG_TANH, cg_k_binary(CG_ADD, cg_k_slice(xw, 1, 8, 12, 1),
                                                        cg_k_matmul(cg_k_binary(CG_MUL, rr, h), cg_k_slice(U, 1, 8, 12, 1))));
        cg_tensor *one_z = cg_k_rscalar(CG_SUB, 1.0, z);
        h = cg_k_binary(CG_ADD, cg_k_binary(CG_MUL, z, h), cg_k_binary(CG_MUL, one_z, n));
        assert_close(cg_k_select(r.output, 1, t), h, 1e-12, "reset_before GRU step %lld", (long long)t);
    }
    /* without an initial state: the same as explicit zeros */
    cg_tensor *zero = cg_zeros(CG_FLOAT64, CG_SHAPE(2, 4));
    cg_rnn_result a, b;
    ck_assert_int_eq(cg_rnn_call(m, x, NULL, NULL, &a), CG_OK);
    ck_assert_int_eq(cg_rnn_call(m, x, (cg_tensor *[]){zero, NULL}, NULL, &b), CG_OK);
    assert_close(a.output, b.output, 1e-15, "reset_before GRU, zero state");
    gc_ctx c = {m, 1, NULL};
    cg_tensor *in[5] = {cg_requires_grad_(x, true), cg_requires_grad_(h0, true)};
    ck_assert_int_eq(cg_module_parameters(m, in + 2, 3), 3);
    cg_gradcheck_opts opts = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 5};
    ck_assert_msg(cg_gradcheck(gc_fn, &c, in, 5, &opts) == CG_OK, "%s", cg_last_error());
    ck_assert_int_ne(cg_module_save_torch(m, "/nonexistent/gru.safetensors", ""), CG_OK);
    ck_assert_ptr_nonnull(strstr(cg_last_error(), "reset_before"));
    cg_module_free(m);
    ck_assert_ptr_null(cg_lstm_new(3, 4, &(cg_rnn_opts){.reset_before = true}));
    ck_assert_ptr_nonnull(strstr(cg_last_error(), "GRU option"));
}
END_TEST

/* Bidirectional merge modes: sum, mul and ave are the concat output's two
 * halves combined, [.., H] wide, for the last step and the sequence; the
 * output shape in the summary follows; float64 gradcheck of ave. */
START_TEST(bidirectional_merge_modes) {
    for (int seq = 0; seq < 2; seq++)
        for (int mode = CG_MERGE_SUM; mode <= CG_MERGE_AVE; mode++) {
            cg_rng r1 = cg_rng_seeded(3), r2 = cg_rng_seeded(3);
            cg_rnn_opts o1 = {.return_sequences = seq, .rng = &r1}, o2 = {.return_sequences = seq, .rng = &r2};
            cg_module *cat = cg_bidirectional_new(rnn_new(CG_LSTM, FEAT, H, &o1), NULL);
            cg_module *mm = cg_bidirectional_new_ex(rnn_new(CG_LSTM, FEAT, H, &o2), (cg_merge_mode)mode, NULL);
            ck_assert_ptr_nonnull(mm);
            cg_scope *s = cg_scope_begin();
            cg_tensor *x = cg_randn(&r1, CG_FLOAT32, CG_SHAPE(B, T, FEAT));
            cg_tensor *yc = cg_module_forward(cat, x), *ym = cg_module_forward(mm, x);
            ck_assert_int_eq(ym->shape[ym->ndim - 1], H);
            cg_tensor *f = cg_k_slice(yc, -1, 0, H, 1), *b = cg_k_slice(yc, -1, H, 2 * H, 1);
            cg_tensor *want = mode == CG_MERGE_SUM ? cg_k_binary(CG_ADD, f, b)
                              : mode == CG_MERGE_MUL ? cg_k_binary(CG_MUL, f, b)
                                                     : cg_k_scalar(CG_MUL, cg_k_binary(CG_ADD, f, b), 0.5);
            assert_close(ym, want, 1e-6, "merge %s seq %d", cg_merge_mode_name((cg_merge_mode)mode), seq);
            int64_t out[4];
            int nout;
            ck_assert(mm->type->output_shape(mm, CG_SHAPE(T, FEAT), out, &nout));
            ck_assert_int_eq(out[nout - 1], H);
            cg_scope_end(s);
            cg_module_free(cat);
            cg_module_free(mm);
        }
    cg_rng rng = cg_rng_seeded(8);
    cg_module *m = cg_bidirectional_new_ex(rnn_new(CG_GRU, 3, 3, &(cg_rnn_opts){.return_sequences = true, .rng = &rng}),
                                           CG_MERGE_AVE, NULL);
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    cg_tensor *in[8];
    in[0] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 3, 3)), true);
    int np = cg_module_parameters(m, in + 1, 7);
    cg_gradcheck_opts opts = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 6};
    ck_assert_msg(cg_gradcheck(gc_module, m, in, 1 + np, &opts) == CG_OK, "%s", cg_last_error());
    ck_assert_int_ne(cg_module_save_torch(m, "/nonexistent/bidi.safetensors", ""), CG_OK);
    ck_assert_ptr_nonnull(strstr(cg_last_error(), "ave"));
    cg_module_free(m);
    ck_assert_ptr_null(cg_bidirectional_new_ex(rnn_new(CG_GRU, 3, 3, NULL), (cg_merge_mode)7, NULL));
    ck_assert_ptr_nonnull(strstr(cg_last_error(), "merge mode 7"));
}
END_TEST

/* softsign as the activation (a row of the activation table): the LSTM
 * cell runs it in its fused program; the same as the formula with
 * separate ops. */
START_TEST(softsign_activation) {
    cg_rng rng = cg_rng_seeded(17);
    cg_module *m = rnn_new(CG_LSTM, 3, 4, &(cg_rnn_opts){.activation = CG_ACT_SOFTSIGN, .rng = &rng});
    ck_assert_str_eq(cg_activation_name(CG_ACT_SOFTSIGN), "softsign");
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    cg_tensor *W = nnt_param(m, "kernel"), *U = nnt_param(m, "recurrent_kernel"), *b = nnt_param(m, "bias");
    cg_tensor *x = cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 3, 3));
    cg_tensor *y = cg_module_forward(m, x);
    cg_tensor *h = cg_zeros(CG_FLOAT64, CG_SHAPE(2, 4)), *c = cg_zeros(CG_FLOAT64, CG_SHAPE(2, 4));
    for (int64_t t = 0; t < 3; t++) {
        cg_tensor *z = cg_k_binary(CG_ADD, cg_k_binary(CG_ADD, cg_k_matmul(cg_k_select(x, 1, t), W), cg_k_matmul(h, U)), b);
        cg_tensor *i = cg_k_unary(CG_SIGMOID, cg_k_slice(z, 1, 0, 4, 1)), *f = cg_k_unary(CG_SIGMOID, cg_k_slice(z, 1, 4, 8, 1));
        cg_tensor *g = cg_k_unary(CG_SOFTSIGN, cg_k_slice(z, 1, 8, 12, 1)), *o = cg_k_unary(CG_SIGMOID, cg_k_slice(z, 1, 12, 16, 1));
        c = cg_k_binary(CG_ADD, cg_k_binary(CG_MUL, f, c), cg_k_binary(CG_MUL, i, g));
        h = cg_k_binary(CG_MUL, o, cg_k_unary(CG_SOFTSIGN, c));
    }
    assert_close(y, h, 1e-12, "LSTM with softsign");
    cg_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- masking */

/* Rows of different lengths, post- or pre-padded with id 0 through an
 * Embedding(mask_zero): each row's final state equals the run of that row
 * alone without padding. Also for Bidirectional. */
START_TEST(mask_zero_equals_unpadded) {
    cg_rnn_kind k = (cg_rnn_kind)(_i % 3);
    bool bidi = _i >= 3;
    static const int64_t rows[3][5] = {{4, 2, 7, 1, 9}, {3, 3, 8, 0, 0}, {5, 0, 0, 0, 0}};
    static const int len[3] = {5, 3, 1};
    for (int pre = 0; pre < 2; pre++) {
        cg_rng rng = cg_rng_seeded(12);
        cg_module *m = cg_sequential_new(NULL);
        cg_sequential_add(m, cg_embedding_new_ex(10, FEAT, &(cg_embedding_opts){.mask_zero = true, .rng = &rng}));
        cg_module *r = rnn_new(k, FEAT, H, &(cg_rnn_opts){.rng = &rng});
        ck_assert_ptr_nonnull(cg_sequential_add(m, bidi ? cg_bidirectional_new(r, NULL) : r));
        cg_scope *s = cg_scope_begin();
        int64_t padded[15] = {0};
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < len[b]; t++) padded[b * 5 + (pre ? 5 - len[b] : 0) + t] = rows[b][t];
        cg_tensor *y = cg_module_forward(m, cg_from_data(CG_INT64, CG_SHAPE(3, 5), padded));
        ck_assert_shape(y, 3, bidi ? 2 * H : H);
        for (int b = 0; b < 3; b++) {
            cg_tensor *yb = cg_module_forward(m, cg_from_data(CG_INT64, CG_SHAPE(1, len[b]), rows[b]));
            assert_close(cg_k_select(y, 0, b), yb, 1e-6, "%s%s %s-padded row %d", bidi ? "bidirectional " : "",
                         kind_name[k], pre ? "pre" : "post", b);
        }
        /* without the mask the padding would change the result */
        cg_tensor *raw = cg_module_forward(m->children[1], cg_module_forward(m->children[0], cg_from_data(CG_INT64, CG_SHAPE(3, 5), padded)));
        ck_assert(!nnt_same_bits(cg_k_select(raw, 0, 2), cg_k_select(y, 0, 2)));
        cg_scope_end(s);
        cg_module_free(m);
    }
}
END_TEST

/* The mask passes through Dense, Activation and Dropout (Keras layers that
 * support masking) to the recurrent layer; Flatten or a last-step RNN ends it. */
START_TEST(mask_passes_through_layers) {
    cg_rng rng = cg_rng_seeded(13);
    cg_module *m = cg_sequential_new(NULL);
    cg_sequential_add(m, cg_embedding_new_ex(10, FEAT, &(cg_embedding_opts){.mask_zero = true, .rng = &rng}));
    cg_sequential_add(m, cg_dense_new_ex(FEAT, 5, &(cg_dense_opts){.activation = CG_ACT_TANH, .rng = &rng}));
    cg_sequential_add(m, cg_activation_new(CG_ACT_RELU, NULL));
    cg_sequential_add(m, cg_dropout_new(0.5, &rng, NULL));
    cg_sequential_add(m, rnn_new(CG_LSTM, 5, H, &(cg_rnn_opts){.rng = &rng}));
    cg_module_train(m, false);
    cg_scope *s = cg_scope_begin();
    const cg_tensor *mo = NULL;
    cg_tensor *y = cg_module_forward_masked(m, IDS(2, 4, 3, 1, 0, 0, 0, 0, 2, 5), NULL, &mo);
    ck_assert_ptr_null(mo); /* a last-step LSTM emits no mask */
    assert_close(cg_k_select(y, 0, 0), cg_module_forward(m, IDS(1, 2, 3, 1)), 1e-6, "post-padded row");
    assert_close(cg_k_select(y, 0, 1), cg_module_forward(m, IDS(1, 2, 2, 5)), 1e-6, "pre-padded row");
    cg_scope_end(s);
    cg_module_free(m);
}
END_TEST

/* An explicit mask through cg_rnn_call: the sequence output is 0 at masked
 * steps and equals the unpadded run elsewhere; the final (h, c) match. */
START_TEST(explicit_mask_sequences) {
    for (int k = 0; k < 3; k++) {
        cg_rng rng = cg_rng_seeded(21);
        cg_module *m = rnn_new((cg_rnn_kind)k, FEAT, H, &(cg_rnn_opts){.return_sequences = true, .rng = &rng});
        cg_scope *s = cg_scope_begin();
        const int len[3] = {5, 2, 4};
        cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, T, FEAT));
        float mk[15];
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 5; t++) mk[b * 5 + t] = t < len[b];
        cg_tensor *mask = cg_from_data(CG_FLOAT32, CG_SHAPE(3, 5), mk);
        cg_rnn_result r, u;
        ck_assert_msg(cg_rnn_call(m, x, NULL, mask, &r) == CG_OK, "%s", cg_last_error());
        for (int b = 0; b < 3; b++) {
            cg_tensor *xb = cg_k_slice(cg_k_slice(x, 0, b, b + 1, 1), 1, 0, len[b], 1);
            ck_assert_int_eq(cg_rnn_call(m, xb, NULL, NULL, &u), CG_OK);
            cg_tensor *yb = cg_k_select(r.output, 0, b);
            assert_close(cg_k_slice(yb, 0, 0, len[b], 1), u.output, 1e-6, "%s row %d valid steps", kind_name[k], b);
            assert_close(cg_k_slice(yb, 0, len[b], 5, 1), cg_zeros(CG_FLOAT32, CG_SHAPE(5 - len[b], H)), 0,
                         "%s row %d masked steps", kind_name[k], b);
            for (int i = 0; i < r.n_states; i++)
                assert_close(cg_k_select(r.states[i], 0, b), u.states[i], 1e-6, "%s row %d state %d", kind_name[k], b, i);
        }
        cg_scope_end(s);
        cg_module_free(m);
    }
}
END_TEST

/* Bidirectional names its halves like Keras and takes no automatic name
 * from the next layer of the same type. */
START_TEST(bidirectional_names) {
    cg_module *first = rnn_new(CG_LSTM, FEAT, H, NULL); /* "lstm" or "lstm_<n>" */
    int n = strcmp(first->name, "lstm") == 0 ? 0 : atoi(first->name + 5);
    cg_module *b = cg_bidirectional_new(rnn_new(CG_LSTM, FEAT, H, NULL), NULL);
    char want[64];
    ck_assert(strncmp(b->name, "bidirectional", 13) == 0);
    snprintf(want, sizeof want, "forward_lstm_%d", n + 1);
    ck_assert_str_eq(b->children[0]->name, want);
    snprintf(want, sizeof want, "backward_lstm_%d.recurrent_kernel", n + 1);
    ck_assert_ptr_nonnull(cg_module_param(b, want));
    cg_module *next = rnn_new(CG_LSTM, FEAT, H, NULL);
    snprintf(want, sizeof want, "lstm_%d", n + 2);
    ck_assert_str_eq(next->name, want);
    cg_module_free(first);
    /* the halves start from different weights */
    ck_assert(!nnt_same_bits(b->children[0]->params[0], b->children[1]->params[0]));
    cg_module_free(next);
    cg_module_free(b);
}
END_TEST

/* Input and recurrent dropout act only in training mode; in eval mode the
 * layer equals the same weights without dropout. In training, one input
 * mask per sequence (Keras): a feature dropped at one step is dropped at all. */
START_TEST(rnn_dropout) {
    for (int k = 0; k < 3; k++) {
        cg_rng rng = cg_rng_seeded(41);
        cg_module *d = rnn_new((cg_rnn_kind)k, FEAT, H, &(cg_rnn_opts){.dropout = 0.5, .recurrent_dropout = 0.3, .rng = &rng});
        cg_module *plain = rnn_new((cg_rnn_kind)k, FEAT, H, &(cg_rnn_opts){.rng = &rng});
        for (int i = 0; i < 3; i++) ck_assert_ptr_nonnull(cg_k_copy_(plain->params[i], d->params[i]));
        cg_scope *s = cg_scope_begin();
        cg_tensor *x = cg_requires_grad_(cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, T, FEAT)), true);
        cg_tensor *y0 = cg_module_forward(plain, x), *yt = cg_module_forward(d, x);
        ck_assert(!nnt_same_bits(y0, yt));
        ck_assert_int_eq(cg_backward(cg_sum(yt, NULL, 0, false)), CG_OK);
        /* the gradient wrt x is zero exactly on dropped (batch, feature) pairs, at every step */
        cg_tensor *g = cg_grad(x);
        int dropped = nnt_dropped_per_sequence(g);
        ck_assert_msg(dropped > 0 && dropped < B * FEAT, "%d of %d features dropped", dropped, B * FEAT);
        cg_module_train(d, false);
        ck_assert(nnt_same_bits(cg_module_forward(d, x), y0));
        cg_scope_end(s);
        cg_module_free(d);
        cg_module_free(plain);
    }
}
END_TEST

Suite *nn_rnn_suite(void) {
    Suite *s = suite_create("nn_rnn");
    TCase *tc = tcase_create("rnn");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, matches_torch, 0, 3 * V_COUNT);
    tcase_add_loop_test(tc, initial_state_is_used, 0, 4);
    tcase_add_test(tc, go_backwards_is_flipped_input);
    tcase_add_loop_test(tc, cell_gradcheck, 0, 9);
    tcase_add_test(tc, stacked_bidirectional_gradcheck);
    tcase_add_test(tc, gru_reset_before);
    tcase_add_test(tc, bidirectional_merge_modes);
    tcase_add_test(tc, softsign_activation);
    tcase_add_loop_test(tc, mask_zero_equals_unpadded, 0, 6);
    tcase_add_test(tc, explicit_mask_sequences);
    tcase_add_test(tc, mask_passes_through_layers);
    tcase_add_test(tc, bidirectional_names);
    tcase_add_test(tc, rnn_dropout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(nn_rnn_suite()); }
