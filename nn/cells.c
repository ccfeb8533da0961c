/* The built-in cells: SimpleRNN, LSTM and GRU (reset after, as Keras 2+ and
 * PyTorch, or before, Keras' reset_after=False), in Keras' layout (one
 * bias; GRU's [2, 3H]) or PyTorch's (two biases). Each step is an addmm
 * with the recurrent kernel and the gate arithmetic as one fused program
 * (separate ops for an activation without a fused step: linear, softmax). */
#include "nn_internal.h"

#include <stdlib.h>

typedef struct {
    cg_cell base;
    cg_rnn_kind kind;
    int units, gates;
    cg_rnn_opts o; /* activations, initializers, layout */
    cg_tensor *kernel, *recurrent, *bias, *recurrent_bias;
    bool fused; /* the gates run as `prog` */
    cg_fused_prog prog;
} builtin;

static int units_size(const cg_cell *c, int k) {
    (void)k;
    return ((const builtin *)c)->units;
}

/* The parameters: kernel [F, G*H], recurrent_kernel [H, G*H], and the
 * bias: [G*H], GRU's [2, G*H] (input, recurrent), or with two_biases
 * "bias" and "recurrent_bias" of [G*H] each. */
static cg_status build(cg_cell *c, cg_module *layer, int in, cg_rng *rng) {
    builtin *b = (builtin *)c;
    const cg_rnn_opts *o = &b->o;
    int64_t GH = (int64_t)b->gates * b->units;
    double lim = 1.0 / sqrt((double)b->units);
    cg_init ki = o->torch_init ? cg_init_uniform(lim) : cg__init_or(o->kernel_init, cg_init_glorot_uniform());
    cg_init ri = o->torch_init ? cg_init_uniform(lim) : cg__init_or(o->recurrent_init, cg_init_orthogonal(1.0));
    cg_init bi = o->torch_init ? cg_init_uniform(lim) : cg__init_or(o->bias_init, cg_init_zeros());
    b->kernel = cg_module_add_param(layer, "kernel", CG_SHAPE(in, GH), ki, rng);
    b->recurrent = b->kernel ? cg_module_add_param(layer, "recurrent_kernel", CG_SHAPE(b->units, GH), ri, rng) : NULL;
    b->bias = b->recurrent_bias = NULL;
    if (!b->recurrent) return cg_last_status();
    if (o->no_bias) return CG_OK;
    bool gru2 = b->kind == CG_GRU && !o->reset_before && !o->two_biases; /* Keras' [2, 3H] */
    b->bias = gru2 ? cg_module_add_param(layer, "bias", CG_SHAPE(2, GH), bi, rng)
                   : cg_module_add_param(layer, "bias", CG_SHAPE(GH), bi, rng);
    if (!b->bias) return cg_last_status();
    if (o->two_biases) {
        b->recurrent_bias = cg_module_add_param(layer, "recurrent_bias", CG_SHAPE(GH), o->torch_init ? bi : cg_init_zeros(), rng);
        if (!b->recurrent_bias) return cg_last_status();
    } else if (o->torch_init && b->kind != CG_GRU) {
        /* PyTorch has two bias vectors; ours is their sum: add the second draw */
        cg_scope *s = cg_scope_begin();
        cg_tensor *b2 = cg_uniform(rng, CG_FLOAT32, -lim, lim, CG_SHAPE(GH));
        bool ok = b2 && cg_k_axpy_(b->bias, 1.0, b2);
        cg_scope_end(s);
        if (!ok) return cg_last_status();
    }
    if (b->kind == CG_LSTM && !o->torch_init && !o->no_unit_forget_bias &&
        !cg_k_fill_(cg_k_slice(b->bias, 0, b->units, 2 * b->units, 1), 1.0))
        return cg_last_status();
    return CG_OK;
}

/* The input projection: kernel and the input bias (with two biases, the
 * SimpleRNN's and LSTM's both: they only ever appear summed). */
static cg_status begin_one_bias(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call) {
    builtin *b = (builtin *)c;
    (void)call;
    *kernel = b->kernel;
    *bias = b->recurrent_bias ? cg_add(b->bias, b->recurrent_bias) : b->bias;
    return b->bias && !*bias ? cg_last_status() : CG_OK;
}

/* ------------------------------------------------------------- SimpleRNN */

static cg_tensor *simple_step(cg_cell *c, const cg_cell_step *s, cg_tensor **next) {
    builtin *b = (builtin *)c;
    return next[0] = cg_activate(s->h ? cg_addmm(s->x, s->h, b->recurrent) : s->x, b->o.activation);
}

/* ------------------------------------------------------------------ LSTM */

/* z = xW + hU + b split i, f, g, o; c' = f c + i g; h' = o act(c') */
static void lstm_prog(builtin *b) {
    cg_unop ra, a;
    if (!cg__act_unop(b->o.recurrent_activation, &ra) || !cg__act_unop(b->o.activation, &a)) return;
    cg_fused_prog *p = &b->prog;
    cg_fused_begin(p, "lstm_cell");
    int z = cg_fused_input(p, 4), c = cg_fused_input(p, 1);
    int i = cg_fused_unary(p, ra, z), f = cg_fused_unary(p, ra, z + 1);
    int g = cg_fused_unary(p, a, z + 2), o = cg_fused_unary(p, ra, z + 3);
    int c2 = cg_fused_binary(p, CG_ADD, cg_fused_binary(p, CG_MUL, f, c), cg_fused_binary(p, CG_MUL, i, g));
    cg_fused_output(p, cg_fused_binary(p, CG_MUL, o, cg_fused_unary(p, a, c2)));
    cg_fused_output(p, c2);
    b->fused = !p->bad;
}

static cg_tensor *lstm_step(cg_cell *c, const cg_cell_step *s, cg_tensor **next) {
    builtin *b = (builtin *)c;
    cg_tensor *zz = s->h ? cg_addmm(s->x, s->h, b->recurrent) : s->x;
    if (b->fused) {
        cg_tensor *in[2] = {zz, s->state[1]}, *out[2];
        if (cg_fused(&b->prog, in, out) != 2) return NULL;
        next[1] = out[1];
        return next[0] = out[0];
    }
    cg_tensor *z[4];
    if (cg_chunk(zz, 4, 1, z) != 4) return NULL;
    cg_activation ra = b->o.recurrent_activation, a = b->o.activation;
    cg_tensor *i = cg_activate(z[0], ra), *f = cg_activate(z[1], ra);
    cg_tensor *g = cg_activate(z[2], a), *o = cg_activate(z[3], ra);
    next[1] = cg_add(cg_mul(f, s->state[1]), cg_mul(i, g));
    return next[0] = cg_mul(o, cg_activate(next[1], a));
}

/* ------------------------------------------------------------------- GRU */

/* xW + b_x split z, r, h; hU + b_h split the same; h:
 * h' = z h + (1 - z) act(x_h + r (hU_h + b_h)) */
static void gru_prog(builtin *b) {
    cg_unop ra, a;
    if (b->o.reset_before || !cg__act_unop(b->o.recurrent_activation, &ra) || !cg__act_unop(b->o.activation, &a)) return;
    cg_fused_prog *p = &b->prog;
    cg_fused_begin(p, "gru_cell");
    int x = cg_fused_input(p, 3), u = cg_fused_input(p, 3), h = cg_fused_input(p, 1);
    int z = cg_fused_unary(p, ra, cg_fused_binary(p, CG_ADD, x, u));
    int rr = cg_fused_unary(p, ra, cg_fused_binary(p, CG_ADD, x + 1, u + 1));
    int n = cg_fused_unary(p, a, cg_fused_binary(p, CG_ADD, x + 2, cg_fused_binary(p, CG_MUL, rr, u + 2)));
    /* z * h + (1 - z) * n */
    cg_fused_output(p, cg_fused_binary(p, CG_ADD, n, cg_fused_binary(p, CG_MUL, z, cg_fused_binary(p, CG_SUB, h, n))));
    b->fused = !p->bad;
}

/* The input bias for the projection; the recurrent one for the steps. */
static cg_status gru_begin(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call) {
    builtin *b = (builtin *)c;
    *kernel = b->kernel;
    *bias = b->bias;
    if (!b->bias || b->o.reset_before) return CG_OK;
    cg_tensor **bias_h = cg_scope_alloc(sizeof *bias_h, false);
    if (!bias_h) return cg_last_status();
    if (b->recurrent_bias) {
        *bias_h = b->recurrent_bias;
    } else { /* Keras' [2, 3H]: input, recurrent */
        *bias = cg_select(b->bias, 0, 0);
        *bias_h = cg_select(b->bias, 0, 1);
    }
    *call = bias_h;
    return *bias && *bias_h ? CG_OK : cg_last_status();
}

/* Keras' reset_after=False: z, r from x W + h U + b;
 * n = act(x W_h + b_h + (r * h) U_h). */
static cg_tensor *gru_reset_before_step(builtin *b, const cg_cell_step *s) {
    int64_t H = b->units;
    cg_tensor *xs[3];
    if (cg_chunk(s->x, 3, -1, xs) != 3) return NULL;
    cg_activation ra = b->o.recurrent_activation;
    cg_tensor *z, *n;
    if (s->h) {
        cg_tensor *uzr = cg_slice(b->recurrent, 1, 0, 2 * H, 1), *uh = cg_slice(b->recurrent, 1, 2 * H, 3 * H, 1);
        cg_tensor *hs[2];
        if (cg_chunk(cg_matmul(s->h, uzr), 2, -1, hs) != 2) return NULL;
        z = cg_activate(cg_add(xs[0], hs[0]), ra);
        cg_tensor *rr = cg_activate(cg_add(xs[1], hs[1]), ra);
        n = cg_activate(cg_addmm(xs[2], cg_mul(rr, s->h), uh), b->o.activation);
    } else { /* zero state: the recurrent products are zero */
        z = cg_activate(xs[0], ra);
        n = cg_activate(xs[2], b->o.activation);
    }
    return cg_add(n, cg_mul(z, cg_sub(s->state[0], n))); /* z * h + (1 - z) * n */
}

static cg_tensor *gru_step(cg_cell *c, const cg_cell_step *s, cg_tensor **next) {
    builtin *b = (builtin *)c;
    if (b->o.reset_before) return next[0] = gru_reset_before_step(b, s);
    cg_tensor *bias_h = s->call ? *(cg_tensor **)s->call : NULL, *hu;
    if (s->h) hu = bias_h ? cg_addmm(bias_h, s->h, b->recurrent) : cg_matmul(s->h, b->recurrent);
    else hu = bias_h ? bias_h : cg_zeros(s->x->dtype, s->x->shape, s->x->ndim); /* [3H] broadcasts over the batch */
    if (b->fused) {
        cg_tensor *in[3] = {s->x, hu, s->state[0]}, *out[1];
        return next[0] = cg_fused(&b->prog, in, out) == 1 ? out[0] : NULL;
    }
    cg_tensor *xs[3], *hs[3];
    if (cg_chunk(s->x, 3, -1, xs) != 3 || cg_chunk(hu, 3, -1, hs) != 3) return NULL;
    cg_activation ra = b->o.recurrent_activation;
    cg_tensor *z = cg_activate(cg_add(xs[0], hs[0]), ra);
    cg_tensor *rr = cg_activate(cg_add(xs[1], hs[1]), ra);
    cg_tensor *n = cg_activate(cg_add(xs[2], cg_mul(rr, hs[2])), b->o.activation);
    return next[0] = cg_add(n, cg_mul(z, cg_sub(s->state[0], n))); /* z * h + (1 - z) * n */
}

/* ---------------------------------------------------------- PyTorch layout */

static bool is_gru(const builtin *b) { return b->kind == CG_GRU; }

/* GRU gate blocks: ours z, r, h; PyTorch r, z, n. Swapping the first two
 * blocks along `axis` maps either way. */
static cg_tensor *torch_order(const builtin *b, cg_tensor *t, int axis) {
    if (!is_gru(b)) return t;
    int64_t H = b->units;
    cg_tensor *p[3] = {cg_k_slice(t, axis, H, 2 * H, 1), cg_k_slice(t, axis, 0, H, 1), cg_k_slice(t, axis, 2 * H, 3 * H, 1)};
    return p[0] && p[1] && p[2] ? cg_k_concat((const cg_tensor *const *)p, 3, axis) : NULL;
}

/* PyTorch names one direction's tensors "weight_ih_l0" + sfx; sfx is
 * "_reverse" for the backward half of a bidirectional module. */
static const char *tname(const char *base, const char *sfx) {
    static _Thread_local char buf[4][64];
    static _Thread_local int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s%s", base, sfx);
    return p;
}

static cg_status no_torch_form(const builtin *b, const char *fn) {
    (void)b;
    return cg_set_error(CG_ERR_VALUE, "%s: the GRU has reset_before set, a form PyTorch's GRU does not have", fn);
}

static int torch_export(cg_cell *c, const char *prefix, const char *sfx, cg_named_tensor *out, int max) {
    builtin *b = (builtin *)c;
    if (is_gru(b) && b->o.reset_before) return no_torch_form(b, "cg_module_save_torch"), -1;
    if (!out || max < 4) return 4;
    int64_t GH = (int64_t)b->gates * b->units;
    cg_tensor *bi, *bh;
    if (!b->bias) {
        bi = bh = cg_zeros(CG_FLOAT32, CG_SHAPE(GH));
    } else if (b->recurrent_bias) {
        bi = torch_order(b, b->bias, 0);
        bh = torch_order(b, b->recurrent_bias, 0);
    } else if (is_gru(b)) {
        bi = torch_order(b, cg_k_select(b->bias, 0, 0), 0);
        bh = torch_order(b, cg_k_select(b->bias, 0, 1), 0);
    } else { /* one bias: it is the sum, exported as bias_ih */
        bi = b->bias;
        bh = cg_zeros(CG_FLOAT32, CG_SHAPE(GH));
    }
    out[0] = (cg_named_tensor){cg__torch_name(prefix, tname("weight_ih_l0", sfx)), cg_k_contiguous(torch_order(b, cg_k_transpose(b->kernel, 0, 1), 0))};
    out[1] = (cg_named_tensor){cg__torch_name(prefix, tname("weight_hh_l0", sfx)), cg_k_contiguous(torch_order(b, cg_k_transpose(b->recurrent, 0, 1), 0))};
    out[2] = (cg_named_tensor){cg__torch_name(prefix, tname("bias_ih_l0", sfx)), bi};
    out[3] = (cg_named_tensor){cg__torch_name(prefix, tname("bias_hh_l0", sfx)), bh};
    for (int i = 0; i < 4; i++)
        if (!out[i].tensor || !out[i].name) return -1;
    return 4;
}

static cg_status torch_import(cg_cell *c, const cg_safetensors *f, const char *prefix, const char *sfx, bool apply) {
    builtin *b = (builtin *)c;
    if (is_gru(b) && b->o.reset_before) return no_torch_form(b, "cg_module_load_torch");
    int64_t GH = (int64_t)b->gates * b->units, in = b->kernel->shape[0];
    cg_tensor *wi = cg__torch_tensor(f, prefix, tname("weight_ih_l0", sfx), CG_SHAPE(GH, in));
    cg_tensor *wh = wi ? cg__torch_tensor(f, prefix, tname("weight_hh_l0", sfx), CG_SHAPE(GH, b->units)) : NULL;
    cg_tensor *bi = wh ? cg__torch_tensor(f, prefix, tname("bias_ih_l0", sfx), CG_SHAPE(GH)) : NULL;
    cg_tensor *bh = bi ? cg__torch_tensor(f, prefix, tname("bias_hh_l0", sfx), CG_SHAPE(GH)) : NULL;
    if (!bh) return cg_last_status();
    if (!b->bias && (cg_k_has_nonfinite(bi) || cg_item(cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_ADD, bi, bh)), NULL, 0, false)) != 0))
        return cg_set_error(CG_ERR_VALUE, "cg_module_load_torch: the layer has no bias but the file's biases are not zero");
    if (!apply) return CG_OK;
    bool ok = cg_k_copy_(b->kernel, cg_k_transpose(torch_order(b, wi, 0), 0, 1)) &&
              cg_k_copy_(b->recurrent, cg_k_transpose(torch_order(b, wh, 0), 0, 1));
    if (ok && b->recurrent_bias)
        ok = cg_k_copy_(b->bias, torch_order(b, bi, 0)) && cg_k_copy_(b->recurrent_bias, torch_order(b, bh, 0));
    else if (ok && b->bias && is_gru(b))
        ok = cg_k_copy_(cg_k_select(b->bias, 0, 0), torch_order(b, bi, 0)) &&
             cg_k_copy_(cg_k_select(b->bias, 0, 1), torch_order(b, bh, 0));
    else if (ok && b->bias)
        ok = cg_k_copy_(b->bias, cg_k_binary(CG_ADD, bi, bh)) != NULL;
    return ok ? CG_OK : cg_last_status();
}

/* ----------------------------------------------------------- construction */

static const cg_cell_type simple_rnn_type = {.name = "SimpleRNN", .size = sizeof(builtin), .n_states = 1,
                                             .state_size = units_size, .build = build, .begin = begin_one_bias,
                                             .step = simple_step, .torch_export = torch_export,
                                             .torch_import = torch_import};
static const cg_cell_type lstm_type = {.name = "LSTM", .size = sizeof(builtin), .n_states = 2,
                                       .state_size = units_size, .build = build, .begin = begin_one_bias,
                                       .step = lstm_step, .torch_export = torch_export, .torch_import = torch_import};
static const cg_cell_type gru_type = {.name = "GRU", .size = sizeof(builtin), .n_states = 1,
                                      .state_size = units_size, .build = build, .begin = gru_begin,
                                      .step = gru_step, .torch_export = torch_export, .torch_import = torch_import};

static const cg_cell_type *const TYPES[] = {&simple_rnn_type, &lstm_type, &gru_type};
static const char *const CELL_CTORS[] = {"cg_simple_rnn_cell_new", "cg_lstm_cell_new", "cg_gru_cell_new"};
static const char *const LAYER_CTORS[] = {"cg_simple_rnn_new", "cg_lstm_new", "cg_gru_new"};

static bool check_options(cg_rnn_kind kind, const char *ctor, int units, const cg_rnn_opts *o) {
    if (units <= 0) {
        cg_set_error(CG_ERR_VALUE, "%s: units = %d must be > 0", ctor, units);
        return false;
    }
    if (o->reset_before && kind != CG_GRU) {
        cg_set_error(CG_ERR_VALUE, "%s: reset_before is a GRU option", ctor);
        return false;
    }
    return true;
}

static cg_cell *cell_new(cg_rnn_kind kind, int units, const cg_rnn_opts *opts) {
    cg_rnn_opts o = opts ? *opts : (cg_rnn_opts){0};
    if (!check_options(kind, CELL_CTORS[kind], units, &o)) return NULL;
    builtin *b = calloc(1, sizeof *b);
    if (!b) {
        cg_set_error(CG_ERR_NOMEM, "%s: out of memory", CELL_CTORS[kind]);
        return NULL;
    }
    b->base.type = TYPES[kind];
    b->kind = kind;
    b->units = units;
    b->gates = kind == CG_LSTM ? 4 : kind == CG_GRU ? 3 : 1;
    o.activation = cg__act_or(o.activation, CG_ACT_TANH);
    o.recurrent_activation = cg__act_or(o.recurrent_activation, CG_ACT_SIGMOID);
    o.name = NULL;
    b->o = o;
    if (kind == CG_LSTM) lstm_prog(b);
    else if (kind == CG_GRU) gru_prog(b);
    return &b->base;
}

bool cg__cell_info(const cg_cell *c, cg_rnn_kind *kind, int *units, cg_rnn_opts *o) {
    if (!c || (c->type != &simple_rnn_type && c->type != &lstm_type && c->type != &gru_type)) return false;
    const builtin *b = (const builtin *)c;
    *kind = b->kind, *units = b->units, *o = b->o;
    return true;
}

cg_cell *cg_simple_rnn_cell_new(int units, const cg_rnn_opts *o) { return cell_new(CG_SIMPLE_RNN, units, o); }
cg_cell *cg_lstm_cell_new(int units, const cg_rnn_opts *o) { return cell_new(CG_LSTM, units, o); }
cg_cell *cg_gru_cell_new(int units, const cg_rnn_opts *o) { return cell_new(CG_GRU, units, o); }

/* A built-in layer: its options checked under the constructor's name, then
 * its cell in a sequence layer. */
static cg_module *layer_new(cg_rnn_kind kind, int in, int units, const cg_rnn_opts *opts) {
    cg_rnn_opts o = opts ? *opts : (cg_rnn_opts){0};
    const char *ctor = LAYER_CTORS[kind];
    if (in <= 0 || units <= 0 || !(o.dropout >= 0 && o.dropout < 1) || !(o.recurrent_dropout >= 0 && o.recurrent_dropout < 1)) {
        cg_set_error(CG_ERR_VALUE, "%s: in = %d, units = %d must be > 0 and dropout %g, recurrent_dropout %g in [0, 1)",
                     ctor, in, units, o.dropout, o.recurrent_dropout);
        return NULL;
    }
    if (!check_options(kind, ctor, units, &o)) return NULL;
    cg_cell *c = cell_new(kind, units, &o);
    return c ? cg_rnn_new(c, in, &o) : NULL;
}

cg_module *cg_simple_rnn_new(int in, int units, const cg_rnn_opts *o) { return layer_new(CG_SIMPLE_RNN, in, units, o); }
cg_module *cg_lstm_new(int in, int units, const cg_rnn_opts *o) { return layer_new(CG_LSTM, in, units, o); }
cg_module *cg_gru_new(int in, int units, const cg_rnn_opts *o) { return layer_new(CG_GRU, in, units, o); }
