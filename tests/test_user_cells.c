/* The two recurrent cells a user writes with the public cell interface
 * (examples/cells/: the LayerNorm-LSTM and the peephole LSTM), run by the
 * sequence loop: against PyTorch modules of the same cells
 * (tests/reference/cell_fixtures.py) bidirectionally over a masked batch, with
 * initial states and go_backwards, in outputs, final states and every
 * gradient; float64 gradchecks; and what the loop gives any cell:
 * return_sequences, go_backwards, initial states, dropout in training vs
 * eval, stacking, summary counts and errors that name the cell. */
#include "cells/layernorm_lstm_cell.h"
#include "cells/peephole_lstm_cell.h"
#include "test_nn_common.h"

enum { B = 3, T = 5, FEAT = 4, H = 6 };
enum { LN, PEEP };
static const char *const cell_tag[] = {"lnlstm", "peephole"};
static const char *const type_name[] = {"LayerNormLSTM", "PeepholeLSTM"};

static cg_cell *cell_new(int which, int units) {
    return which == LN ? layernorm_lstm_cell_new(units) : peephole_lstm_cell_new(units);
}

static cg_module *layer_new(int which, int in, int units, const cg_rnn_opts *o) {
    cg_cell *c = cell_new(which, units);
    cg_module *m = c ? cg_rnn_new(c, in, o) : NULL;
    ck_assert_msg(m != NULL, "%s", cg_last_error());
    return m;
}

/* ---------------------------------------------- PyTorch -> cgrad names */

typedef struct {
    const char *torch, *ours;
    bool transpose; /* PyTorch's [4H, n] weight is our [n, 4H] kernel */
} pmap;
static const pmap MAPS[2][8] = {
    {{"weight_ih", "kernel", true},
     {"weight_hh", "recurrent_kernel", true},
     {"layernorm_i_weight", "ln_i_gamma", false},
     {"layernorm_i_bias", "ln_i_beta", false},
     {"layernorm_h_weight", "ln_h_gamma", false},
     {"layernorm_h_bias", "ln_h_beta", false},
     {"layernorm_c_weight", "ln_c_gamma", false},
     {"layernorm_c_bias", "ln_c_beta", false}},
    {{"weight_ih", "kernel", true},
     {"weight_hh", "recurrent_kernel", true},
     {"bias", "bias", false},
     {"weight_ci", "input_gate_peephole_weights", false},
     {"weight_cf", "forget_gate_peephole_weights", false},
     {"weight_co", "output_gate_peephole_weights", false}},
};
static const int NPARAMS[2] = {8, 6};

/* fixture "<tag>_<what><sfx>" in dtype dt */
static cg_tensor *fxt(const fixture *fx, const char *tag, const char *what, const char *sfx, cg_dtype dt) {
    char n[160];
    snprintf(n, sizeof n, "%s_%s%s", tag, what, sfx);
    return cg_to_dtype(fx_get(fx, n), dt);
}

static cg_tensor *mapped(const pmap *p, cg_tensor *t) {
    return p->transpose ? cg_k_contiguous(cg_k_transpose(t, 0, 1)) : t;
}

static void set_params(cg_module *layer, int which, const fixture *fx, const char *tag, const char *sfx) {
    ck_assert_int_eq(layer->n_params, NPARAMS[which]);
    for (int i = 0; i < NPARAMS[which]; i++) {
        const pmap *p = &MAPS[which][i];
        cg_tensor *dst = nnt_param(layer, p->ours);
        ck_assert_msg(cg_k_copy_(dst, mapped(p, fxt(fx, tag, p->torch, sfx, dst->dtype))), "%s", cg_last_error());
    }
}

static void check_grads(cg_module *layer, int which, const fixture *fx, const char *tag, const char *sfx, double tol) {
    for (int i = 0; i < NPARAMS[which]; i++) {
        const pmap *p = &MAPS[which][i];
        char what[64];
        snprintf(what, sizeof what, "grad_%s", p->torch);
        assert_close(cg_grad(nnt_param(layer, p->ours)), mapped(p, fxt(fx, tag, what, sfx, CG_FLOAT64)), tol,
                     "%s d %s%s", tag, p->ours, sfx);
    }
}

/* ------------------------------------------------------ against PyTorch */

/* Rounds: cell (LN, PEEP) x case (bidi, init, back) x dtype (float64,
 * float32). Both dtypes match the float64 reference to 1e-5
 * (|got - want| <= 1e-5 (1 + |want|)) in the output, the final states and
 * every gradient. */
enum { C_BIDI, C_INIT, C_BACK, C_COUNT };
static const char *const case_name[] = {"bidi", "init", "back"};

START_TEST(matches_torch) {
    int which = _i / (2 * C_COUNT), cs = _i / 2 % C_COUNT;
    cg_dtype dt = _i % 2 ? CG_FLOAT32 : CG_FLOAT64;
    const double tol = 1e-5;
    char tag[32];
    snprintf(tag, sizeof tag, "%s_%s", cell_tag[which], case_name[cs]);
    fixture *fx = fx_load("user_cells.txt");
    cg_rnn_opts o = {.return_sequences = true, .go_backwards = cs == C_BACK};
    cg_module *m = layer_new(which, FEAT, H, &o), *layers[2] = {m, NULL};
    if (cs == C_BIDI) {
        m = cg_bidirectional_new(m, NULL);
        ck_assert_msg(m != NULL, "%s", cg_last_error());
        layers[0] = m->children[0], layers[1] = m->children[1];
    }
    ck_assert_int_eq(cg_module_set_dtype(m, dt), CG_OK);
    set_params(layers[0], which, fx, tag, "");
    if (layers[1]) set_params(layers[1], which, fx, tag, "_reverse");

    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(fxt(fx, tag, "x", "", dt), true), *mask = fxt(fx, tag, "mask", "", dt);
    cg_tensor *out, *loss, *st[2] = {NULL, NULL};
    if (cs == C_BIDI) {
        const cg_tensor *mo = NULL;
        out = cg_module_forward_masked(m, x, mask, &mo);
        ck_assert_ptr_eq(mo, mask); /* a sequence output passes the mask on */
        loss = nnt_dot(out, fxt(fx, tag, "w", "", dt));
        /* each direction's final states, as the loop returns them */
        const char *sfx[2] = {"", "_reverse"};
        for (int d = 0; d < 2; d++) {
            cg_rnn_result r;
            CG_NO_GRAD { ck_assert_msg(cg_rnn_call(layers[d], x, NULL, mask, &r) == CG_OK, "%s", cg_last_error()); }
            assert_close(r.states[0], fxt(fx, tag, "hn", sfx[d], CG_FLOAT64), tol, "%s final h%s", tag, sfx[d]);
            assert_close(r.states[1], fxt(fx, tag, "cn", sfx[d], CG_FLOAT64), tol, "%s final c%s", tag, sfx[d]);
        }
    } else {
        st[0] = cg_requires_grad_(fxt(fx, tag, "h0", "", dt), true);
        st[1] = cg_requires_grad_(fxt(fx, tag, "c0", "", dt), true);
        cg_rnn_result r;
        ck_assert_msg(cg_rnn_call(m, x, st, mask, &r) == CG_OK, "%s", cg_last_error());
        ck_assert_int_eq(r.n_states, 2);
        out = r.output;
        assert_close(r.states[0], fxt(fx, tag, "hn", "", CG_FLOAT64), tol, "%s final h", tag);
        assert_close(r.states[1], fxt(fx, tag, "cn", "", CG_FLOAT64), tol, "%s final c", tag);
        loss = cg_add(nnt_dot(out, fxt(fx, tag, "w", "", dt)),
                      cg_add(nnt_dot(r.states[0], fxt(fx, tag, "wh", "", dt)), nnt_dot(r.states[1], fxt(fx, tag, "wc", "", dt))));
    }
    cg_tensor *want = fxt(fx, tag, "out", "", CG_FLOAT64);
    ck_assert_msg(out && cg_same_shape(out, want), "%s: output %s, torch %s (%s)", tag, cg_shape_str(out),
                  cg_shape_str(want), cg_last_error());
    assert_close(out, want, tol, "%s output", tag);
    ck_assert_msg(cg_backward(loss) == CG_OK, "%s", cg_last_error());
    assert_close(cg_grad(x), fxt(fx, tag, "grad_x", "", CG_FLOAT64), tol, "%s d x", tag);
    if (st[0]) assert_close(cg_grad(st[0]), fxt(fx, tag, "grad_h0", "", CG_FLOAT64), tol, "%s d h0", tag);
    if (st[1]) assert_close(cg_grad(st[1]), fxt(fx, tag, "grad_c0", "", CG_FLOAT64), tol, "%s d c0", tag);
    check_grads(layers[0], which, fx, tag, "", tol);
    if (layers[1]) check_grads(layers[1], which, fx, tag, "_reverse", tol);
    cg_scope_end(s);
    cg_module_free(m);
    fx_free(fx);
}
END_TEST

/* ------------------------------------------------------------- gradcheck */

typedef struct {
    cg_module *m;
    const cg_tensor *mask;
    bool init; /* in[1], in[2] are h0, c0 */
} gc_ctx;

/* the sequence and the final c */
static cg_tensor *gc_layer(cg_tensor *const *in, int n, void *user) {
    (void)n;
    gc_ctx *c = user;
    cg_rnn_result r;
    if (cg_rnn_call(c->m, in[0], c->init ? in + 1 : NULL, c->mask, &r) != CG_OK) return NULL;
    cg_tensor *parts[2] = {cg_reshape(r.output, CG_SHAPE(-1)), cg_reshape(r.states[1], CG_SHAPE(-1))};
    return cg_concat(parts, 2, 0);
}

/* Rounds: cell x (forward, go_backwards). float64, over 3 steps of a masked
 * batch (a pre- and a post-padded row), with initial states and without
 * (then the first step's h is the loop's NULL: the zero-state shortcut),
 * wrt the input, h0, c0 and every parameter, each moved off its initial
 * value so that every path counts. */
START_TEST(cell_gradcheck) {
    int which = _i / 2;
    cg_rng rng = cg_rng_seeded(60 + (uint64_t)_i);
    cg_module *m = layer_new(which, 3, 4, &(cg_rnn_opts){.return_sequences = true, .go_backwards = _i % 2, .rng = &rng});
    for (int i = 0; i < m->n_params; i++)
        ck_assert_ptr_nonnull(cg_k_axpy_(m->params[i], 0.3, cg_uniform(&rng, CG_FLOAT32, -1, 1, m->params[i]->shape, m->params[i]->ndim)));
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    const cg_tensor *mask = cg_from_data(CG_FLOAT64, CG_SHAPE(2, 3), (const double[]){0, 1, 1, 1, 1, 0});
    for (int init = 0; init < 2; init++) {
        gc_ctx c = {m, mask, init};
        cg_tensor *in[16];
        int n = 0;
        in[n++] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 3, 3)), true);
        for (int k = 0; k < 2 * init; k++) in[n++] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 4)), true);
        int np = cg_module_parameters(m, in + n, 16 - n);
        ck_assert_int_eq(np, NPARAMS[which]);
        cg_gradcheck_opts opts = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 9};
        ck_assert_msg(cg_gradcheck(gc_layer, &c, in, n + np, &opts) == CG_OK, "%s%s%s: %s", type_name[which],
                      _i % 2 ? " go_backwards" : "", init ? " with initial states" : "", cg_last_error());
    }
    cg_module_free(m);
}
END_TEST

/* Bidirectional around a LayerNorm-LSTM returning sequences, then a peephole
 * LSTM: float64 gradcheck through both layers with a mask, wrt the input
 * and all 22 parameters; the summary counts them as Keras would. */
typedef struct {
    cg_module *m;
    const cg_tensor *mask;
} gc_model;

static cg_tensor *gc_masked(cg_tensor *const *in, int n, void *user) {
    (void)n;
    gc_model *c = user;
    return cg_module_forward_masked(c->m, in[0], c->mask, NULL);
}

static char *summary_text(cg_module *m, const int64_t *shape, int nd) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(cg_summary(m, shape, nd, f), CG_OK);
    fclose(f);
    return buf;
}

START_TEST(stacked_bidirectional) {
    cg_rng rng = cg_rng_seeded(70);
    cg_module *m = cg_sequential_new(NULL);
    cg_module *bi = cg_bidirectional_new(layer_new(LN, 3, 3, &(cg_rnn_opts){.return_sequences = true, .rng = &rng}), NULL);
    ck_assert_msg(bi != NULL, "%s", cg_last_error());
    cg_sequential_add(m, bi);
    cg_sequential_add(m, layer_new(PEEP, 6, 2, &(cg_rnn_opts){.rng = &rng}));
    /* kernel 3x12 + recurrent 3x12 + LN_i, LN_h 2x12 each + LN_c 2x3 = 126 per direction;
     * kernel 6x8 + recurrent 2x8 + bias 8 + peepholes 3x2 = 78 */
    ck_assert_int_eq(cg_module_param_count(bi, false), 2 * 126);
    ck_assert_int_eq(cg_module_param_count(m, true), 2 * 126 + 78);
    char *t = summary_text(m, CG_SHAPE(5, 3));
    ck_assert_msg(strstr(t, "(None, 5, 6)") && strstr(t, " 252 ") && strstr(t, "(PeepholeLSTM") && strstr(t, "(None, 2)") &&
                      strstr(t, " 78 ") && strstr(t, "Total params: 330\n") && strstr(t, "Trainable params: 330\n"),
                  "%s", t);
    free(t);
    cg_tensor *in[32];
    int np = cg_module_parameters(m, in + 1, 31);
    ck_assert_int_eq(np, 22);
    for (int i = 1; i <= np; i++) /* moved off their initial values (LN gains 1, biases 0) */
        ck_assert_ptr_nonnull(cg_k_axpy_(in[i], 0.3, cg_uniform(&rng, CG_FLOAT32, -1, 1, in[i]->shape, in[i]->ndim)));
    ck_assert_int_eq(cg_module_set_dtype(m, CG_FLOAT64), CG_OK);
    in[0] = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(2, 4, 3)), true);
    gc_model c = {m, cg_from_data(CG_FLOAT64, CG_SHAPE(2, 4), (const double[]){0, 1, 1, 1, 1, 1, 1, 0})};
    cg_gradcheck_opts opts = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 10};
    ck_assert_msg(cg_gradcheck(gc_masked, &c, in, 1 + np, &opts) == CG_OK, "%s", cg_last_error());
    cg_module_free(m);
}
END_TEST

/* ------------------------------------------------ what the loop gives any cell */

static void copy_params(cg_module *dst, const cg_module *src) {
    ck_assert_int_eq(dst->n_params, src->n_params);
    for (int i = 0; i < src->n_params; i++) ck_assert_ptr_nonnull(cg_k_copy_(dst->params[i], src->params[i]));
}

/* With the same weights: the last output is the sequence's last step; a
 * go_backwards layer equals the layer on the time-reversed input; explicit
 * zero initial states equal none (the loop's zero-state shortcut, and the
 * LayerNorm-LSTM's LN_h(0) = its bias) in values and gradients; a given
 * initial state changes the result. */
START_TEST(sequence_options) {
    int which = _i;
    cg_rng rng = cg_rng_seeded(80 + (uint64_t)_i);
    cg_module *seq = layer_new(which, FEAT, H, &(cg_rnn_opts){.return_sequences = true, .rng = &rng});
    cg_module *last = layer_new(which, FEAT, H, &(cg_rnn_opts){.rng = &rng});
    cg_module *back = layer_new(which, FEAT, H, &(cg_rnn_opts){.return_sequences = true, .go_backwards = true, .rng = &rng});
    for (int i = 0; i < seq->n_params; i++) /* gains and biases off 1 and 0 */
        ck_assert_ptr_nonnull(cg_k_axpy_(seq->params[i], 0.3, cg_uniform(&rng, CG_FLOAT32, -1, 1, seq->params[i]->shape, seq->params[i]->ndim)));
    copy_params(last, seq);
    copy_params(back, seq);
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, T, FEAT));
    cg_tensor *ys = cg_module_forward(seq, x), *yl = cg_module_forward(last, x);
    ck_assert_shape(ys, B, T, H);
    ck_assert_shape(yl, B, H);
    assert_close(yl, cg_k_select(ys, 1, T - 1), 1e-6, "%s last output", type_name[which]);
    assert_close(cg_module_forward(back, x), cg_module_forward(seq, cg_flip(x, (int[]){1}, 1)), 1e-6,
                 "%s go_backwards", type_name[which]);

    /* explicit zero states vs none: outputs, final states and every gradient */
    cg_rnn_result r[2];
    double gsum[2][8];
    for (int k = 0; k < 2; k++) {
        cg_module_zero_grad(seq);
        cg_tensor *zero[2] = {cg_zeros(CG_FLOAT32, CG_SHAPE(B, H)), cg_zeros(CG_FLOAT32, CG_SHAPE(B, H))};
        ck_assert_int_eq(cg_rnn_call(seq, x, k ? zero : NULL, NULL, &r[k]), CG_OK);
        ck_assert_int_eq(cg_backward(cg_add(cg_sum(r[k].output, NULL, 0, false), cg_sum(r[k].states[1], NULL, 0, false))), CG_OK);
        for (int i = 0; i < seq->n_params; i++)
            gsum[k][i] = cg_item(cg_k_reduce(CG_SUM, cg_k_unary(CG_ABS, cg_grad(seq->params[i])), NULL, 0, false));
    }
    assert_close(r[1].output, r[0].output, 1e-6, "%s zero initial states: output", type_name[which]);
    assert_close(r[1].states[1], r[0].states[1], 1e-6, "%s zero initial states: c", type_name[which]);
    for (int i = 0; i < seq->n_params; i++)
        ck_assert_msg(fabs(gsum[1][i] - gsum[0][i]) <= 1e-5 * (1 + gsum[0][i]) && gsum[0][i] > 0,
                      "%s: parameter %d's gradient %.9g with zero states, %.9g without", type_name[which], i, gsum[1][i],
                      gsum[0][i]);
    cg_tensor *h0[2] = {cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, H)), cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, H))};
    cg_rnn_result ri;
    ck_assert_int_eq(cg_rnn_call(seq, x, h0, NULL, &ri), CG_OK);
    ck_assert(!nnt_same_bits(cg_k_select(ri.output, 1, 0), cg_k_select(r[0].output, 1, 0)));
    /* an initial state of the wrong size is refused, naming the layer and its cell */
    cg_tensor *bad[2] = {h0[0], cg_zeros(CG_FLOAT32, CG_SHAPE(B, H + 1))};
    ck_assert_int_eq(cg_rnn_call(seq, x, bad, NULL, &ri), CG_ERR_SHAPE);
    char want[128];
    snprintf(want, sizeof want, "%s (%s): initial state 1 has shape [3,7], expected [3, 6]", seq->name, type_name[which]);
    ck_assert_error(CG_ERR_SHAPE, want);
    cg_scope_end(s);
    cg_module_free(seq);
    cg_module_free(last);
    cg_module_free(back);
}
END_TEST

/* Input and recurrent dropout act only in training: in eval the layer equals
 * the same weights without dropout, bit for bit; in training one input mask
 * per sequence (a feature dropped at one step is dropped at all). */
START_TEST(dropout_train_vs_eval) {
    int which = _i;
    cg_rng rng = cg_rng_seeded(90);
    cg_module *d = layer_new(which, FEAT, H, &(cg_rnn_opts){.dropout = 0.5, .recurrent_dropout = 0.3, .rng = &rng});
    cg_module *plain = layer_new(which, FEAT, H, &(cg_rnn_opts){.rng = &rng});
    copy_params(plain, d);
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_requires_grad_(cg_randn(&rng, CG_FLOAT32, CG_SHAPE(B, T, FEAT)), true);
    cg_tensor *y0 = cg_module_forward(plain, x), *yt = cg_module_forward(d, x);
    ck_assert(!nnt_same_bits(y0, yt));
    ck_assert_int_eq(cg_backward(cg_sum(yt, NULL, 0, false)), CG_OK);
    cg_tensor *g = cg_grad(x);
    int dropped = nnt_dropped_per_sequence(g);
    ck_assert_msg(dropped > 0 && dropped < B * FEAT, "%s: %d of %d features dropped", type_name[which], dropped, B * FEAT);
    /* recurrent dropout alone also changes the training output */
    cg_module *rd = layer_new(which, FEAT, H, &(cg_rnn_opts){.recurrent_dropout = 0.5, .rng = &rng});
    copy_params(rd, plain);
    ck_assert(!nnt_same_bits(cg_module_forward(rd, x), y0));
    cg_module_train(d, false);
    cg_module_train(rd, false);
    ck_assert(nnt_same_bits(cg_module_forward(d, x), y0));
    ck_assert(nnt_same_bits(cg_module_forward(rd, x), y0));
    cg_scope_end(s);
    cg_module_free(d);
    cg_module_free(rd);
    cg_module_free(plain);
}
END_TEST

/* -------------------------------------------------------------- errors */

/* A cell type without a step or with no states is refused by cg_rnn_new,
 * naming the cell (and the cell is freed); the cells' constructors refuse a
 * bad unit count, and the layer an input of the wrong size, by name. */
/* A cell type's copy hook makes Bidirectional's backward half (a cell that
 * owns memory through a pointer needs one), and free releases what each
 * owns: the sanitizer build sees a double free or a leak otherwise. */
typedef struct {
    peephole_lstm_cell base;
    int *owned;
} owning_cell;
static int copies_made;
static cg_cell *owning_copy(const cg_cell *c) {
    owning_cell *o = malloc(sizeof *o);
    memcpy(o, c, sizeof *o);
    o->owned = malloc(sizeof(int));
    *o->owned = *((const owning_cell *)c)->owned + 1;
    copies_made++;
    return &o->base.base;
}
static void owning_free(cg_cell *c) { free(((owning_cell *)c)->owned); }

START_TEST(bidirectional_copies_through_the_hook) {
    static cg_cell_type type;
    cg_cell *p = peephole_lstm_cell_new(4);
    type = *p->type;
    type.size = sizeof(owning_cell), type.copy = owning_copy, type.free = owning_free;
    owning_cell *o = realloc(p, sizeof *o);
    o->base.base.type = &type;
    o->owned = malloc(sizeof(int));
    *o->owned = 7;
    copies_made = 0;
    cg_module *b = cg_bidirectional_new(cg_rnn_new(&o->base.base, FEAT, NULL), NULL);
    ck_assert_msg(b != NULL, "%s", cg_last_error());
    ck_assert_int_eq(copies_made, 1);
    owning_cell *back = (owning_cell *)cg_rnn_cell(b->children[1]);
    ck_assert_int_eq(*back->owned, 8);
    ck_assert_ptr_ne(cg_module_param(b, "backward_peephole_lstm.kernel"), NULL);
    cg_module_free(b);
}
END_TEST

START_TEST(bad_cells_are_named) {
    for (int which = 0; which < 2; which++) {
        cg_cell *c = cell_new(which, 4);
        ck_assert_ptr_nonnull(c);
        cg_cell_type no_step = *c->type;
        no_step.step = NULL;
        c->type = &no_step;
        ck_assert_ptr_null(cg_rnn_new(c, FEAT, NULL));
        char want[96];
        snprintf(want, sizeof want, "the cell %s needs", type_name[which]);
        ck_assert_error(CG_ERR_VALUE, want);

        c = cell_new(which, 4);
        cg_cell_type no_states = *c->type;
        no_states.n_states = 0;
        c->type = &no_states;
        ck_assert_ptr_null(cg_rnn_new(c, FEAT, NULL));
        ck_assert_error(CG_ERR_VALUE, want);

        /* cg_rnn_new(cell_new(...)): a constructor's error is kept */
        const char *units_msg = which == LN ? "layernorm_lstm_cell_new: units = 0 must be > 0"
                                            : "peephole_lstm_cell_new: units = 0 must be > 0";
        ck_assert_ptr_null(cg_rnn_new(cell_new(which, 0), FEAT, NULL));
        ck_assert_error(CG_ERR_VALUE, units_msg);
        cg_clear_error();
        ck_assert_ptr_null(cg_rnn_new(NULL, FEAT, NULL));
        ck_assert_error(CG_ERR_NULL, "cg_rnn_new: the cell is NULL");

        cg_module *m = layer_new(which, FEAT, H, &(cg_rnn_opts){.name = "enc"});
        cg_scope *s = cg_scope_begin();
        ck_assert_ptr_null(cg_module_forward(m, cg_zeros(CG_FLOAT32, CG_SHAPE(B, T, FEAT + 1))));
        snprintf(want, sizeof want, "enc (%s): input is float32 [3,5,5], expected float32 [batch, time, 4]", type_name[which]);
        ck_assert_error(CG_ERR_SHAPE, want);
        cg_scope_end(s);
        cg_module_free(m);
    }
}
END_TEST

Suite *user_cells_suite(void) {
    Suite *s = suite_create("user_cells");
    TCase *tc = tcase_create("cells");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, matches_torch, 0, 2 * C_COUNT * 2);
    tcase_add_loop_test(tc, cell_gradcheck, 0, 4);
    tcase_add_test(tc, stacked_bidirectional);
    tcase_add_loop_test(tc, sequence_options, 0, 2);
    tcase_add_loop_test(tc, dropout_train_vs_eval, 0, 2);
    tcase_add_test(tc, bad_cells_are_named);
    tcase_add_test(tc, bidirectional_copies_through_the_hook);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(user_cells_suite()); }
