/* SimpleRNN, LSTM, GRU and Bidirectional, composed from autograd ops: the
 * input projection of every step is one GEMM, each step is an addmm with
 * the recurrent kernel plus elementwise gates, and the tape does BPTT. */
#include "nn_internal.h"

#include <stdlib.h>

typedef struct {
    cg_module base;
    cg_rnn_kind kind;
    int in, units, gates;
    cg_rnn_opts o;
    cg_tensor *kernel, *recurrent, *bias; /* GRU bias: [2, 3H] (input, recurrent) */
    bool fused;                           /* the cell's gates run as `cell` */
    cg_fused_prog cell;
} rnn;

static const cg_module_type simple_rnn_type, lstm_type, gru_type;
static bool is_rnn(const cg_module *m) {
    return m && (m->type == &simple_rnn_type || m->type == &lstm_type || m->type == &gru_type);
}

static bool act_unop(cg_activation a, cg_unop *op) {
    switch (a) {
    case CG_ACT_TANH: *op = CG_TANH; return true;
    case CG_ACT_SIGMOID: *op = CG_SIGMOID; return true;
    case CG_ACT_RELU: *op = CG_RELU; return true;
    default: return false;
    }
}

/* The gate arithmetic of a step as one fused program, built once per layer;
 * false when an activation has no fused step (linear, softmax): then the
 * step runs as separate ops. */
static bool build_cell(rnn *r) {
    cg_unop ra, a;
    if (!act_unop(r->o.recurrent_activation, &ra) || !act_unop(r->o.activation, &a)) return false;
    cg_fused_prog *p = &r->cell;
    if (r->kind == CG_LSTM) { /* z = xW + hU + b split i, f, g, o; c */
        cg_fused_begin(p, "lstm_cell");
        int z = cg_fused_input(p, 4), c = cg_fused_input(p, 1);
        int i = cg_fused_unary(p, ra, z), f = cg_fused_unary(p, ra, z + 1);
        int g = cg_fused_unary(p, a, z + 2), o = cg_fused_unary(p, ra, z + 3);
        int c2 = cg_fused_binary(p, CG_ADD, cg_fused_binary(p, CG_MUL, f, c), cg_fused_binary(p, CG_MUL, i, g));
        cg_fused_output(p, cg_fused_binary(p, CG_MUL, o, cg_fused_unary(p, a, c2)));
        cg_fused_output(p, c2);
    } else if (r->kind == CG_GRU && !r->o.reset_before) { /* xW + b_x split z, r, h; hU + b_h split the same; h */
        cg_fused_begin(p, "gru_cell");
        int x = cg_fused_input(p, 3), u = cg_fused_input(p, 3), h = cg_fused_input(p, 1);
        int z = cg_fused_unary(p, ra, cg_fused_binary(p, CG_ADD, x, u));
        int rr = cg_fused_unary(p, ra, cg_fused_binary(p, CG_ADD, x + 1, u + 1));
        int n = cg_fused_unary(p, a, cg_fused_binary(p, CG_ADD, x + 2, cg_fused_binary(p, CG_MUL, rr, u + 2)));
        /* z * h + (1 - z) * n */
        cg_fused_output(p, cg_fused_binary(p, CG_ADD, n, cg_fused_binary(p, CG_MUL, z, cg_fused_binary(p, CG_SUB, h, n))));
    } else {
        return false;
    }
    return !p->bad;
}

/* One time step: h (and c) -> the new h (and c). xt: [B, G*H] projected
 * input; h NULL: the state is zero (the first step without an initial
 * state), so the recurrent product is zero and skipped. */
static cg_tensor *lstm_step(rnn *r, cg_tensor *xt, cg_tensor *h, cg_tensor **c) {
    cg_tensor *zz = h ? cg_addmm(xt, h, r->recurrent) : xt;
    if (r->fused) {
        cg_tensor *in[2] = {zz, *c}, *out[2];
        if (cg_fused(&r->cell, in, out) != 2) return NULL;
        *c = out[1];
        return out[0];
    }
    cg_tensor *z[4];
    if (cg_chunk(zz, 4, 1, z) != 4) return NULL;
    cg_activation ra = r->o.recurrent_activation, a = r->o.activation;
    cg_tensor *i = cg_activate(z[0], ra), *f = cg_activate(z[1], ra);
    cg_tensor *g = cg_activate(z[2], a), *o = cg_activate(z[3], ra);
    *c = cg_add(cg_mul(f, *c), cg_mul(i, g));
    return cg_mul(o, cg_activate(*c, a));
}

/* GRU with the reset gate applied before the recurrent kernel (Keras'
 * reset_after=False): z, r from x W + h U + b; n = act(x W_h + b_h + (r * h) U_h). */
static cg_tensor *gru_reset_before_step(rnn *r, cg_tensor *xt, cg_tensor *h, cg_tensor *hin) {
    int64_t H = r->units;
    cg_tensor *xs[3];
    if (cg_chunk(xt, 3, -1, xs) != 3) return NULL;
    cg_activation ra = r->o.recurrent_activation;
    cg_tensor *z, *rr, *n;
    if (hin) {
        cg_tensor *uzr = cg_slice(r->recurrent, 1, 0, 2 * H, 1), *uh = cg_slice(r->recurrent, 1, 2 * H, 3 * H, 1);
        cg_tensor *hs[2];
        if (cg_chunk(cg_matmul(hin, uzr), 2, -1, hs) != 2) return NULL;
        z = cg_activate(cg_add(xs[0], hs[0]), ra);
        rr = cg_activate(cg_add(xs[1], hs[1]), ra);
        n = cg_activate(cg_addmm(xs[2], cg_mul(rr, hin), uh), r->o.activation);
    } else { /* zero state: the recurrent products are zero */
        z = cg_activate(xs[0], ra);
        n = cg_activate(xs[2], r->o.activation);
    }
    return cg_add(n, cg_mul(z, cg_sub(h, n))); /* z * h + (1 - z) * n */
}

static cg_tensor *gru_step(rnn *r, cg_tensor *xt, cg_tensor *h, cg_tensor *hin, cg_tensor *bias_h) {
    if (r->o.reset_before) return gru_reset_before_step(r, xt, h, hin);
    cg_tensor *hu;
    if (hin) hu = bias_h ? cg_addmm(bias_h, hin, r->recurrent) : cg_matmul(hin, r->recurrent);
    else hu = bias_h ? bias_h : cg_zeros(xt->dtype, xt->shape, xt->ndim); /* [3H] broadcasts over the batch */
    if (r->fused) {
        cg_tensor *in[3] = {xt, hu, h}, *out[1];
        return cg_fused(&r->cell, in, out) == 1 ? out[0] : NULL;
    }
    cg_tensor *xs[3], *hs[3];
    if (cg_chunk(xt, 3, -1, xs) != 3 || cg_chunk(hu, 3, -1, hs) != 3) return NULL;
    cg_activation ra = r->o.recurrent_activation;
    cg_tensor *z = cg_activate(cg_add(xs[0], hs[0]), ra);
    cg_tensor *rr = cg_activate(cg_add(xs[1], hs[1]), ra);
    cg_tensor *n = cg_activate(cg_add(xs[2], cg_mul(rr, hs[2])), r->o.activation);
    return cg_add(n, cg_mul(z, cg_sub(h, n))); /* z * h + (1 - z) * n */
}

static cg_status check_input(const rnn *r, const cg_tensor *x) {
    if (x->ndim != 3 || x->shape[2] != r->in || x->dtype != r->kernel->dtype)
        return cg_set_error(CG_ERR_SHAPE, "%s (%s): input is %s %s, expected %s [batch, time, %d]", r->base.name,
                            r->base.type->name, cg_dtype_name(x->dtype), cg_shape_str(x),
                            cg_dtype_name(r->kernel->dtype), r->in);
    return CG_OK;
}

static cg_tensor *initial(const rnn *r, cg_tensor *const *init, int k, int64_t B) {
    if (init && init[k]) {
        cg_tensor *s = init[k];
        if (s->ndim != 2 || s->shape[0] != B || s->shape[1] != r->units) {
            cg_set_error(CG_ERR_SHAPE, "%s (%s): initial state %d has shape %s, expected [%lld, %d]", r->base.name,
                         r->base.type->name, k, cg_shape_str(s), (long long)B, r->units);
            return NULL;
        }
        return s;
    }
    return cg_zeros(r->kernel->dtype, CG_SHAPE(B, r->units));
}

/* An inverted-dropout mask of the given shape, or NULL when not training. */
static cg_tensor *dropout_mask(const rnn *r, double p, const int64_t *shape, int nd) {
    if (!r->base.training || p <= 0) return NULL;
    cg_tensor *m = cg_bernoulli(r->o.rng, r->kernel->dtype, 1.0 - p, shape, nd);
    return m ? cg_k_scalar_(CG_MUL, m, 1.0 / (1.0 - p)) : NULL;
}

cg_status cg_rnn_call(cg_module *m, cg_tensor *x, cg_tensor *const *initial_state, const cg_tensor *mask,
                      cg_rnn_result *out) {
    if (!is_rnn(m) || !out) return cg_set_error(CG_ERR_VALUE, "cg_rnn_call: needs a SimpleRNN, LSTM or GRU and an output");
    memset(out, 0, sizeof *out);
    if (!x) return cg__nn_null(m, "input"), cg_last_status();
    rnn *r = (rnn *)m;
    cg_status st = check_input(r, x);
    if (st != CG_OK) return st;
    int64_t B = x->shape[0], T = x->shape[1], H = r->units;
    if (mask && (mask->ndim != 2 || mask->shape[0] != B || mask->shape[1] != T))
        return cg_set_error(CG_ERR_SHAPE, "%s (%s): mask has shape %s, expected [%lld, %lld]", m->name, m->type->name,
                            cg_shape_str(mask), (long long)B, (long long)T);
    cg_tensor *dm = dropout_mask(r, r->o.dropout, CG_SHAPE(B, 1, r->in));
    if (dm) x = cg_mul(x, dm);
    bool two_bias = r->kind == CG_GRU && !r->o.reset_before; /* GRU's [2, 3H] */
    cg_tensor *bias_in = r->bias && two_bias ? cg_select(r->bias, 0, 0) : r->bias;
    cg_tensor *bias_h = r->bias && two_bias ? cg_select(r->bias, 0, 1) : NULL;
    /* One GEMM projects every step. When x is a view of time-major data (the
     * output of a recurrent layer below) the projection is time-major,
     * [T, B, G*H], and each step's slice is one contiguous block; otherwise
     * it is [B, T, G*H] and a step's slice is B strided rows, which the step
     * reads as cheaply, instead of copying x time-major first. */
    cg_tensor *xk = cg_k_transpose(x, 0, 1);
    int tdim = xk && cg_is_contiguous(xk) ? 0 : 1;
    cg_tensor *xp = cg_linear(tdim == 0 ? cg_transpose(x, 0, 1) : x, r->kernel, bias_in);
    cg_tensor *h = initial(r, initial_state, 0, B);
    bool zero_h = !initial_state || !initial_state[0]; /* the first step's h @ U is zero */
    cg_tensor *c = r->kind == CG_LSTM ? initial(r, initial_state, 1, B) : NULL;
    cg_tensor *rm = dropout_mask(r, r->o.recurrent_dropout, CG_SHAPE(B, H));
    cg_tensor *mf = mask ? cg_k_reshape(cg_to_dtype(mask, x->dtype), CG_SHAPE(B, T, 1)) : NULL;
    cg_tensor **outs = r->o.return_sequences ? cg_scope_alloc(sizeof(cg_tensor *) * (size_t)(T ? T : 1), false) : NULL;
    if (!xp || !h || (r->kind == CG_LSTM && !c) || (mask && !mf) || (r->o.return_sequences && !outs))
        return cg_last_status();
    for (int64_t s = 0; s < T && h; s++) {
        int64_t t = r->o.go_backwards ? T - 1 - s : s;
        cg_tensor *xt = cg_select(xp, tdim, t);
        cg_tensor *hin = s == 0 && zero_h ? NULL : rm ? cg_mul(h, rm) : h;
        cg_tensor *cn = c, *hn;
        switch (r->kind) {
        case CG_SIMPLE_RNN: hn = cg_activate(hin ? cg_addmm(xt, hin, r->recurrent) : xt, r->o.activation); break;
        case CG_LSTM: hn = lstm_step(r, xt, hin, &cn); break;
        default: hn = gru_step(r, xt, h, hin, bias_h); break;
        }
        if (mf) { /* padded steps carry the state through */
            cg_tensor *mt = cg_k_select(mf, 1, t);
            if (outs) outs[s] = cg_mul(hn, mt);
            hn = cg_where(mt, hn, h);
            if (c) cn = cg_where(mt, cn, c);
        } else if (outs) {
            outs[s] = hn;
        }
        h = hn;
        c = cn;
    }
    if (!h || (r->kind == CG_LSTM && !c)) return cg_last_status();
    /* the sequence is stacked time-major and handed out as a [B, T, H] view:
     * a recurrent layer above takes it time-major again without a copy */
    out->output = outs ? (T ? cg_transpose(cg_stack(outs, (int)T, 0), 0, 1) : cg_zeros(x->dtype, CG_SHAPE(B, 0, H))) : h;
    out->states[0] = h;
    out->states[1] = c;
    out->n_states = r->kind == CG_LSTM ? 2 : 1;
    return out->output ? CG_OK : cg_last_status();
}

static cg_tensor *rnn_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    cg_rnn_result r;
    if (cg_rnn_call(m, x, NULL, mask, &r) != CG_OK) return NULL;
    *mask_out = ((rnn *)m)->o.return_sequences ? mask : NULL;
    return r.output;
}

static cg_tensor *rnn_forward(cg_module *m, cg_tensor *x) {
    const cg_tensor *mo;
    return rnn_forward_masked(m, x, NULL, &mo);
}

static bool rnn_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    const rnn *r = (const rnn *)m;
    if (nin != 2) return false;
    if (r->o.return_sequences) {
        out[0] = in[0];
        out[1] = r->units;
        *nout = 2;
    } else {
        out[0] = r->units;
        *nout = 1;
    }
    return true;
}

/* ---------------------------------------------------------- PyTorch layout */

/* GRU gate blocks: ours z, r, h; PyTorch r, z, n. Swapping the first two
 * blocks along `axis` maps either way. */
static cg_tensor *gru_reorder(cg_tensor *t, int axis, int64_t H) {
    cg_tensor *p[3] = {cg_k_slice(t, axis, H, 2 * H, 1), cg_k_slice(t, axis, 0, H, 1), cg_k_slice(t, axis, 2 * H, 3 * H, 1)};
    return p[0] && p[1] && p[2] ? cg_k_concat((const cg_tensor *const *)p, 3, axis) : NULL;
}

static cg_tensor *torch_order(const rnn *r, cg_tensor *t, int axis) {
    return r->kind == CG_GRU ? gru_reorder(t, axis, r->units) : t;
}

/* PyTorch names one direction's tensors "weight_ih_l0" + sfx; sfx is
 * "_reverse" for the backward half of a bidirectional module. */
static const char *tname(const char *base, const char *sfx) {
    static _Thread_local char buf[4][64];
    static _Thread_local int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s%s", base, sfx);
    return b;
}

static cg_status no_torch_form(const rnn *r, const char *fn) {
    return cg_set_error(CG_ERR_VALUE, "%s: %s (GRU) has reset_before set, a form PyTorch's GRU does not have", fn,
                        r->base.name);
}

static int rnn_export_dir(cg_module *m, const char *prefix, const char *sfx, cg_named_tensor *out, int max) {
    rnn *r = (rnn *)m;
    if (r->kind == CG_GRU && r->o.reset_before) return no_torch_form(r, "cg_module_save_torch"), -1;
    if (!out || max < 4) return 4;
    int64_t GH = (int64_t)r->gates * r->units;
    cg_tensor *bi, *bh;
    if (!r->bias) {
        bi = bh = cg_zeros(CG_FLOAT32, CG_SHAPE(GH));
    } else if (r->kind == CG_GRU) {
        bi = torch_order(r, cg_k_select(r->bias, 0, 0), 0);
        bh = torch_order(r, cg_k_select(r->bias, 0, 1), 0);
    } else {
        bi = r->bias;
        bh = cg_zeros(CG_FLOAT32, CG_SHAPE(GH));
    }
    out[0] = (cg_named_tensor){cg__torch_name(prefix, tname("weight_ih_l0", sfx)), cg_k_contiguous(torch_order(r, cg_k_transpose(r->kernel, 0, 1), 0))};
    out[1] = (cg_named_tensor){cg__torch_name(prefix, tname("weight_hh_l0", sfx)), cg_k_contiguous(torch_order(r, cg_k_transpose(r->recurrent, 0, 1), 0))};
    out[2] = (cg_named_tensor){cg__torch_name(prefix, tname("bias_ih_l0", sfx)), bi};
    out[3] = (cg_named_tensor){cg__torch_name(prefix, tname("bias_hh_l0", sfx)), bh};
    for (int i = 0; i < 4; i++)
        if (!out[i].tensor || !out[i].name) return -1;
    return 4;
}

static cg_status rnn_import_dir(cg_module *m, const cg_safetensors *f, const char *prefix, const char *sfx, bool apply) {
    rnn *r = (rnn *)m;
    if (r->kind == CG_GRU && r->o.reset_before) return no_torch_form(r, "cg_module_load_torch");
    int64_t GH = (int64_t)r->gates * r->units;
    cg_tensor *wi = cg__torch_tensor(f, prefix, tname("weight_ih_l0", sfx), CG_SHAPE(GH, r->in));
    cg_tensor *wh = wi ? cg__torch_tensor(f, prefix, tname("weight_hh_l0", sfx), CG_SHAPE(GH, r->units)) : NULL;
    cg_tensor *bi = wh ? cg__torch_tensor(f, prefix, tname("bias_ih_l0", sfx), CG_SHAPE(GH)) : NULL;
    cg_tensor *bh = bi ? cg__torch_tensor(f, prefix, tname("bias_hh_l0", sfx), CG_SHAPE(GH)) : NULL;
    if (!bh) return cg_last_status();
    if (!r->bias && (cg_k_has_nonfinite(bi) || cg_item(cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_ADD, bi, bh)), NULL, 0, false)) != 0))
        return cg_set_error(CG_ERR_VALUE, "cg_module_load_torch: %s has no bias but the file's biases are not zero", m->name);
    if (!apply) return CG_OK;
    bool ok = cg_k_copy_(r->kernel, cg_k_transpose(torch_order(r, wi, 0), 0, 1)) &&
              cg_k_copy_(r->recurrent, cg_k_transpose(torch_order(r, wh, 0), 0, 1));
    if (ok && r->bias) {
        if (r->kind == CG_GRU)
            ok = cg_k_copy_(cg_k_select(r->bias, 0, 0), torch_order(r, bi, 0)) &&
                 cg_k_copy_(cg_k_select(r->bias, 0, 1), torch_order(r, bh, 0));
        else
            ok = cg_k_copy_(r->bias, cg_k_binary(CG_ADD, bi, bh)) != NULL;
    }
    return ok ? CG_OK : cg_last_status();
}

static int rnn_torch_export(cg_module *m, const char *prefix, cg_named_tensor *out, int max) {
    return rnn_export_dir(m, prefix, "", out, max);
}
static cg_status rnn_torch_import(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    return rnn_import_dir(m, f, prefix, "", apply);
}

static const cg_module_type simple_rnn_type = {"SimpleRNN", rnn_forward, rnn_forward_masked, rnn_shape, NULL,
                                               rnn_torch_export, rnn_torch_import};
static const cg_module_type lstm_type = {"LSTM", rnn_forward, rnn_forward_masked, rnn_shape, NULL, rnn_torch_export,
                                         rnn_torch_import};
static const cg_module_type gru_type = {"GRU", rnn_forward, rnn_forward_masked, rnn_shape, NULL, rnn_torch_export,
                                        rnn_torch_import};

/* ------------------------------------------------------------ construction */

static cg_module *rnn_new(cg_rnn_kind kind, int in, int units, const cg_rnn_opts *opts) {
    static const cg_module_type *types[] = {&simple_rnn_type, &lstm_type, &gru_type};
    static const char *ctor[] = {"cg_simple_rnn_new", "cg_lstm_new", "cg_gru_new"};
    cg_rnn_opts o = opts ? *opts : (cg_rnn_opts){0};
    if (o.reset_before && kind != CG_GRU) {
        cg_set_error(CG_ERR_VALUE, "%s: reset_before is a GRU option", ctor[kind]);
        return NULL;
    }
    if (in <= 0 || units <= 0 || !(o.dropout >= 0 && o.dropout < 1) || !(o.recurrent_dropout >= 0 && o.recurrent_dropout < 1)) {
        cg_set_error(CG_ERR_VALUE, "%s: in = %d, units = %d must be > 0 and dropout %g, recurrent_dropout %g in [0, 1)",
                     ctor[kind], in, units, o.dropout, o.recurrent_dropout);
        return NULL;
    }
    o.activation = cg__act_or(o.activation, CG_ACT_TANH);
    o.recurrent_activation = cg__act_or(o.recurrent_activation, CG_ACT_SIGMOID);
    rnn *r = cg__layer_alloc(sizeof *r, types[kind], o.name);
    if (!r) return NULL;
    o.name = NULL;
    r->kind = kind;
    r->in = in;
    r->units = units;
    r->gates = kind == CG_LSTM ? 4 : kind == CG_GRU ? 3 : 1;
    r->o = o;
    r->fused = build_cell(r);
    int64_t GH = (int64_t)r->gates * units;
    double lim = 1.0 / sqrt((double)units);
    cg_init ki = o.torch_init ? cg_init_uniform(lim) : cg__init_or(o.kernel_init, cg_init_glorot_uniform());
    cg_init ri = o.torch_init ? cg_init_uniform(lim) : cg__init_or(o.recurrent_init, cg_init_orthogonal(1.0));
    cg_init bi = o.torch_init ? cg_init_uniform(lim) : cg__init_or(o.bias_init, cg_init_zeros());
    r->kernel = cg_module_add_param(&r->base, "kernel", CG_SHAPE(in, GH), ki, o.rng);
    r->recurrent = r->kernel ? cg_module_add_param(&r->base, "recurrent_kernel", CG_SHAPE(units, GH), ri, o.rng) : NULL;
    bool ok = r->recurrent != NULL;
    if (ok && !o.no_bias) {
        r->bias = kind == CG_GRU && !o.reset_before ? cg_module_add_param(&r->base, "bias", CG_SHAPE(2, GH), bi, o.rng)
                                 : cg_module_add_param(&r->base, "bias", CG_SHAPE(GH), bi, o.rng);
        ok = r->bias != NULL;
        if (ok && o.torch_init && kind != CG_GRU) {
            /* PyTorch has two bias vectors; ours is their sum: add the second draw */
            cg_scope *s = cg_scope_begin();
            cg_tensor *b2 = cg_uniform(o.rng, CG_FLOAT32, -lim, lim, CG_SHAPE(GH));
            ok = b2 && cg_k_axpy_(r->bias, 1.0, b2);
            cg_scope_end(s);
        }
        if (ok && kind == CG_LSTM && !o.torch_init && !o.no_unit_forget_bias)
            ok = cg_k_fill_(cg_k_slice(r->bias, 0, units, 2 * units, 1), 1.0) != NULL;
    }
    if (!ok) {
        cg_module_free(&r->base);
        return NULL;
    }
    return &r->base;
}

cg_module *cg_simple_rnn_new(int in, int units, const cg_rnn_opts *o) { return rnn_new(CG_SIMPLE_RNN, in, units, o); }
cg_module *cg_lstm_new(int in, int units, const cg_rnn_opts *o) { return rnn_new(CG_LSTM, in, units, o); }
cg_module *cg_gru_new(int in, int units, const cg_rnn_opts *o) { return rnn_new(CG_GRU, in, units, o); }

/* ----------------------------------------------------------- Bidirectional */

/* Rename a layer and its parameters ("lstm.kernel" -> "forward_lstm.kernel"). */
static cg_status rename_layer(cg_module *m, const char *name) {
    snprintf(m->name, sizeof m->name, "%.63s", name);
    for (int i = 0; i < m->n_params; i++) {
        const char *old = cg_name(m->params[i]);
        const char *dot = old ? strrchr(old, '.') : NULL;
        char full[160];
        snprintf(full, sizeof full, "%s%s", name, dot ? dot : "");
        cg_status st = cg_set_name(m->params[i], full);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

typedef struct {
    cg_module base;
    cg_merge_mode merge;
} bidi;

static cg_tensor *bidi_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    cg_module *f = m->children[0], *b = m->children[1];
    const cg_tensor *mf, *mb;
    cg_tensor *yf = cg_module_forward_masked(f, x, mask, &mf);
    cg_tensor *yb = cg_module_forward_masked(b, x, mask, &mb);
    bool seq = ((rnn *)f)->o.return_sequences;
    if (seq && yb) yb = cg_flip(yb, (int[]){1}, 1); /* align the backward outputs with time */
    *mask_out = mf;
    if (!yf || !yb) return NULL;
    switch (((bidi *)m)->merge) {
    case CG_MERGE_SUM: return cg_add(yf, yb);
    case CG_MERGE_MUL: return cg_mul(yf, yb);
    case CG_MERGE_AVE: return cg_mul_scalar(cg_add(yf, yb), 0.5);
    default: {
        cg_tensor *parts[2] = {yf, yb};
        return cg_concat(parts, 2, -1);
    }
    }
}

static cg_tensor *bidi_forward(cg_module *m, cg_tensor *x) {
    const cg_tensor *mo;
    return bidi_forward_masked(m, x, NULL, &mo);
}

static bool bidi_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    const cg_module *f = m->children[0];
    if (!rnn_shape(f, in, nin, out, nout)) return false;
    if (((const bidi *)m)->merge == CG_MERGE_CONCAT) out[*nout - 1] *= 2;
    return true;
}

/* PyTorch's bidirectional=True module: the backward half's tensors carry
 * the suffix "_reverse" ("weight_ih_l0_reverse"). */
static int bidi_torch_export(cg_module *m, const char *prefix, cg_named_tensor *out, int max) {
    if (((bidi *)m)->merge != CG_MERGE_CONCAT) {
        cg_set_error(CG_ERR_VALUE, "cg_module_save_torch: %s merges its directions by %s; PyTorch's bidirectional "
                     "modules concatenate them", m->name, cg_merge_mode_name(((bidi *)m)->merge));
        return -1;
    }
    if (!out || max < 8) return 8;
    int a = rnn_export_dir(m->children[0], prefix, "", out, 4);
    int b = a == 4 ? rnn_export_dir(m->children[1], prefix, "_reverse", out + 4, 4) : -1;
    return b == 4 ? 8 : -1;
}
static cg_status bidi_torch_import(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    cg_status st = rnn_import_dir(m->children[0], f, prefix, "", apply);
    return st == CG_OK ? rnn_import_dir(m->children[1], f, prefix, "_reverse", apply) : st;
}

static const cg_module_type bidi_type = {"Bidirectional", bidi_forward,      bidi_forward_masked, bidi_shape,
                                         NULL,            bidi_torch_export, bidi_torch_import};

const char *cg_merge_mode_name(cg_merge_mode merge) {
    static const char *names[] = {"concat", "sum", "mul", "ave"};
    return (unsigned)merge < 4 ? names[merge] : "?";
}

cg_module *cg_bidirectional_new(cg_module *layer, const char *name) {
    return cg_bidirectional_new_ex(layer, CG_MERGE_CONCAT, name);
}

cg_module *cg_bidirectional_new_ex(cg_module *layer, cg_merge_mode merge, const char *name) {
    if (!is_rnn(layer) || (unsigned)merge > CG_MERGE_AVE) {
        cg_module_free(layer);
        cg_set_error(CG_ERR_VALUE, (unsigned)merge > CG_MERGE_AVE ? "cg_bidirectional_new: unknown merge mode %d"
                                                                   : "cg_bidirectional_new: the layer must be a SimpleRNN, LSTM or GRU",
                     (int)merge);
        return NULL;
    }
    rnn *r = (rnn *)layer;
    char fname[80], bname[80];
    snprintf(fname, sizeof fname, "forward_%s", layer->name);
    snprintf(bname, sizeof bname, "backward_%s", layer->name);
    cg_rnn_opts o = r->o;
    o.go_backwards = !o.go_backwards;
    o.name = bname; /* named, so the twin takes no automatic name ("lstm_1") from the next layer */
    cg_module *twin = rnn_new(r->kind, r->in, r->units, &o);
    cg_module *m = twin ? cg__layer_alloc(sizeof(bidi), &bidi_type, name) : NULL;
    if (!m) {
        cg_module_free(layer);
        cg_module_free(twin);
        return NULL;
    }
    ((bidi *)m)->merge = merge;
    cg_module_add_child(m, layer);
    cg_module_add_child(m, twin);
    if (rename_layer(layer, fname) != CG_OK || rename_layer(twin, bname) != CG_OK) {
        cg_module_free(m);
        return NULL;
    }
    return m;
}
