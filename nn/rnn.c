/* The sequence layer (Keras' RNN(cell)): one loop over time steps runs any
 * cell (cg_cell_type, nn.h) with the input projection of all steps as one
 * GEMM, masking, go_backwards, return_sequences, initial and final states,
 * input and recurrent dropout; and Bidirectional around any such layer.
 * The built-in cells are in cells.c. */
#include "nn_internal.h"

#include <stdlib.h>

typedef struct {
    cg_module base;
    cg_module_type type; /* the layer type, named after its cell's ("LSTM") */
    cg_cell *cell;
    int in;
    cg_rnn_opts o; /* (kept whole: Bidirectional's backward half is made with them) */
    /* between cg_module_inference_begin and _end: the vocabulary of the
     * Embedding below projected through the input kernel, or NULL */
    cg_tensor *table;
    const cg_module *table_emb;
} rnn_layer;

static cg_tensor *rnn_forward(cg_module *m, cg_tensor *x);
static bool is_rnn(const cg_module *m) { return m && m->type->forward == rnn_forward; }

cg_cell *cg_rnn_cell(cg_module *m) { return is_rnn(m) ? ((rnn_layer *)m)->cell : NULL; }

bool cg__rnn_info(const cg_module *m, int *kind, int *in, int *units, cg_rnn_opts *o) {
    if (!is_rnn(m)) return false;
    const rnn_layer *r = (const rnn_layer *)m;
    cg_rnn_kind k;
    cg_rnn_opts layer = r->o;
    if (cg__cell_info(r->cell, &k, units, o)) {
        *kind = (int)k;
    } else {
        *kind = -1;
        *units = r->cell->type->state_size(r->cell, 0);
        *o = (cg_rnn_opts){0};
    }
    o->return_sequences = layer.return_sequences, o->go_backwards = layer.go_backwards;
    o->dropout = layer.dropout, o->recurrent_dropout = layer.recurrent_dropout;
    *in = r->in;
    return true;
}

static int state_size(const cg_cell *c, int k) { return c->type->state_size(c, k); }

static cg_status check_input(const rnn_layer *r, const cg_tensor *x) {
    const cg_module *m = &r->base;
    cg_dtype dt = m->n_params ? m->params[0]->dtype : x->dtype;
    if (x->ndim != 3 || x->shape[2] != r->in || x->dtype != dt)
        return cg_set_error(CG_ERR_SHAPE, "%s (%s): input is %s %s, expected %s [batch, time, %d]", m->name, m->type->name,
                            cg_dtype_name(x->dtype), cg_shape_str(x), cg_dtype_name(dt), r->in);
    return CG_OK;
}

/* State k at the start: the one given, checked, or zeros. */
static cg_tensor *initial(const rnn_layer *r, cg_tensor *const *init, int k, int64_t B, cg_dtype dt) {
    int size = state_size(r->cell, k);
    if (init && init[k]) {
        cg_tensor *s = init[k];
        if (s->ndim != 2 || s->shape[0] != B || s->shape[1] != size) {
            cg_set_error(CG_ERR_SHAPE, "%s (%s): initial state %d has shape %s, expected [%lld, %d]", r->base.name,
                         r->base.type->name, k, cg_shape_str(s), (long long)B, size);
            return NULL;
        }
        return s;
    }
    return cg_zeros(dt, CG_SHAPE(B, size));
}

/* An inverted-dropout mask of the given shape, or NULL when not training. */
static cg_tensor *dropout_mask(const rnn_layer *r, double p, cg_dtype dt, const int64_t *shape, int nd) {
    if (!r->base.training || p <= 0) return NULL;
    cg_tensor *m = cg_bernoulli(r->o.rng, dt, 1.0 - p, shape, nd);
    return m ? cg_k_scalar_(CG_MUL, m, 1.0 / (1.0 - p)) : NULL;
}

static cg_status check_mask(const rnn_layer *r, const cg_tensor *mask, int64_t B, int64_t T) {
    if (mask && (mask->ndim != 2 || mask->shape[0] != B || mask->shape[1] != T))
        return cg_set_error(CG_ERR_SHAPE, "%s (%s): mask has shape %s, expected [%lld, %lld]", r->base.name,
                            r->base.type->name, cg_shape_str(mask), (long long)B, (long long)T);
    return CG_OK;
}

/* Where each step's input comes from: a slice of xp, the input projected
 * ([B, T, P], or [T, B, P] for tdim 0); or, in inference through a
 * vocabulary table (cg__rnn_table_begin), the table's rows for the step's
 * tokens (ids time-major, [T, B]), gathered a step at a time, so that the
 * [B, T, P] of a whole batch is never made. */
typedef struct {
    cg_tensor *xp;
    int tdim;
    cg_tensor *table, *ids;
    int64_t B, T;
} step_source;

static cg_status run_steps(rnn_layer *r, const step_source *src, cg_dtype dt, cg_tensor *const *initial_state,
                           const cg_tensor *mask, void *call, cg_rnn_result *out);

cg_status cg_rnn_call(cg_module *m, cg_tensor *x, cg_tensor *const *initial_state, const cg_tensor *mask,
                      cg_rnn_result *out) {
    if (!is_rnn(m) || !out) return cg_set_error(CG_ERR_VALUE, "cg_rnn_call: needs a recurrent layer and an output");
    memset(out, 0, sizeof *out);
    if (!x) return cg__nn_null(m, "input"), cg_last_status();
    rnn_layer *r = (rnn_layer *)m;
    cg_cell *cell = r->cell;
    const cg_cell_type *ct = cell->type;
    cg_status st = check_input(r, x);
    if (st == CG_OK) st = check_mask(r, mask, x->shape[0], x->shape[1]);
    if (st != CG_OK) return st;
    cg_tensor *dm = dropout_mask(r, r->o.dropout, x->dtype, CG_SHAPE(x->shape[0], 1, r->in));
    if (dm) x = cg_mul(x, dm);
    cg_tensor *kernel = NULL, *bias = NULL;
    void *call = NULL;
    if (ct->begin && (st = ct->begin(cell, &kernel, &bias, &call)) != CG_OK) return st;
    /* One GEMM projects every step. When x is a view of time-major data (the
     * output of a recurrent layer below) the projection is time-major,
     * [T, B, P], and each step's slice is one contiguous block; otherwise
     * it is [B, T, P] and a step's slice is B strided rows, which the step
     * reads as cheaply, instead of copying x time-major first. */
    cg_tensor *xk = cg_k_transpose(x, 0, 1);
    int tdim = xk && cg_is_contiguous(xk) ? 0 : 1;
    cg_tensor *xin = tdim == 0 ? cg_transpose(x, 0, 1) : x;
    cg_tensor *xp = kernel ? cg_linear(xin, kernel, bias) : xin;
    if (xp && ct->project) xp = ct->project(cell, xp, call);
    if (!xp) return cg_last_status();
    step_source src = {xp, tdim, NULL, NULL, xp->shape[1 - tdim], xp->shape[tdim]};
    return run_steps(r, &src, x->dtype, initial_state, mask, call, out);
}

static cg_tensor *step_input(const step_source *src, int64_t t) {
    if (!src->table) return cg_select(src->xp, src->tdim, t);
    cg_tensor *ids = cg_k_select(src->ids, 0, t);
    return ids ? cg_embedding(src->table, ids) : NULL;
}

/* The loop over the steps. */
static cg_status run_steps(rnn_layer *r, const step_source *src, cg_dtype dt, cg_tensor *const *initial_state,
                           const cg_tensor *mask, void *call, cg_rnn_result *out) {
    cg_module *m = &r->base;
    cg_cell *cell = r->cell;
    const cg_cell_type *ct = cell->type;
    int64_t B = src->B, T = src->T;
    int ns = ct->n_states, H = state_size(cell, 0);
    cg_tensor *state[CG_MAX_STATES], *next[CG_MAX_STATES];
    for (int k = 0; k < ns; k++)
        if (!(state[k] = initial(r, initial_state, k, B, dt))) return cg_last_status();
    bool zero_h = !initial_state || !initial_state[0]; /* the first step's products with h are zero */
    cg_tensor *rm = dropout_mask(r, r->o.recurrent_dropout, dt, CG_SHAPE(B, H));
    cg_tensor *mf = mask ? cg_k_reshape(cg_to_dtype(mask, dt), CG_SHAPE(B, T, 1)) : NULL;
    cg_tensor **outs = r->o.return_sequences ? cg_scope_alloc(sizeof(cg_tensor *) * (size_t)(T ? T : 1), false) : NULL;
    if ((mask && !mf) || (r->o.return_sequences && !outs)) return cg_last_status();
    cg_tensor *last = NULL; /* the last output, when it is not state 0 */
    for (int64_t s = 0; s < T; s++) {
        int64_t t = r->o.go_backwards ? T - 1 - s : s;
        cg_cell_step step = {step_input(src, t), state, s == 0 && zero_h ? NULL : rm ? cg_mul(state[0], rm) : state[0],
                             t, call};
        for (int k = 0; k < ns; k++) next[k] = NULL;
        cg_tensor *y = step.x ? ct->step(cell, &step, next) : NULL;
        for (int k = 0; k < ns && y; k++)
            if (!next[k]) y = NULL;
        if (!y) {
            if (cg_last_status() == CG_OK)
                cg_set_error(CG_ERR_STATE, "%s (%s): the cell's step gave no output or state", m->name, m->type->name);
            return cg_last_status();
        }
        bool y_is_h = y == next[0];
        if (mf) { /* padded steps carry the state through */
            cg_tensor *mt = cg_k_select(mf, 1, t);
            if (outs) outs[s] = cg_mul(y, mt);
            if (!y_is_h) last = cg_where(mt, y, last ? last : cg_zeros_like(y));
            for (int k = 0; k < ns; k++) state[k] = cg_where(mt, next[k], state[k]);
        } else {
            if (outs) outs[s] = y;
            if (!y_is_h) last = y;
            for (int k = 0; k < ns; k++) state[k] = next[k];
        }
        for (int k = 0; k < ns; k++)
            if (!state[k]) return cg_last_status();
    }
    /* the sequence is stacked time-major and handed out as a [B, T, H] view:
     * a recurrent layer above takes it time-major again without a copy */
    out->output = outs ? (T ? cg_transpose(cg_stack(outs, (int)T, 0), 0, 1) : cg_zeros(dt, CG_SHAPE(B, 0, H)))
                       : last ? last : state[0];
    for (int k = 0; k < ns; k++) out->states[k] = state[k];
    out->n_states = ns;
    return out->output ? CG_OK : cg_last_status();
}

/* ---------------------------------------------------- inference tables */

/* A table larger than this is not made: it is held while the batches run
 * (an IMDB LSTM's 20,000 x 512 floats are 41 MB, about what one batch of
 * 256 x 80 tokens projected whole would take). */
#define TABLE_MAX_BYTES ((size_t)64 << 20)

cg_status cg__rnn_table_begin(cg_module *m, cg_module *emb, int64_t tokens) {
    if (!is_rnn(m)) return CG_OK;
    rnn_layer *r = (rnn_layer *)m;
    cg__rnn_table_end(m);
    cg_tensor *E = cg__embedding_weight(emb);
    cg_cell *cell = r->cell;
    const cg_cell_type *ct = cell->type;
    /* only when it pays: one product over the vocabulary instead of one over
     * every token to come (and the table small), for a layer whose input is
     * only projected (no dropout to apply first, no cell's own projection) */
    if (!E || m->training || !ct->begin || ct->project || E->ndim != 2 || E->shape[1] != r->in ||
        tokens <= E->shape[0])
        return CG_OK;
    cg_tensor *kernel = NULL, *bias = NULL;
    void *call = NULL;
    cg_status st = ct->begin(cell, &kernel, &bias, &call);
    if (st != CG_OK || !kernel) return st;
    if (kernel->ndim != 2 || (size_t)E->shape[0] * (size_t)kernel->shape[1] * cg_dtype_size(E->dtype) > TABLE_MAX_BYTES)
        return CG_OK;
    cg_tensor *t;
    CG_NO_GRAD { t = cg_linear(E, kernel, bias); }
    if (!t) return cg_last_status();
    r->table = t;
    r->table_emb = emb;
    return CG_OK;
}

void cg__rnn_table_end(cg_module *m) {
    if (!is_rnn(m)) return;
    rnn_layer *r = (rnn_layer *)m;
    r->table = NULL;
    r->table_emb = NULL;
}

cg_tensor *cg__rnn_table(cg_module *m, const cg_module *emb) {
    rnn_layer *r = is_rnn(m) ? (rnn_layer *)m : NULL;
    return r && r->table && r->table_emb == emb && !cg_grad_enabled() && !m->training ? r->table : NULL;
}

cg_tensor *cg__rnn_forward_table(cg_module *m, cg_tensor *ids, const cg_tensor *mask, const cg_tensor **mask_out) {
    rnn_layer *r = (rnn_layer *)m;
    cg_cell *cell = r->cell;
    cg_rnn_result res;
    memset(&res, 0, sizeof res);
    if (!ids || !r->table) return NULL;
    if (ids->ndim != 2) { /* the embedding's rows would be [batch, time, dim] */
        cg_set_error(CG_ERR_SHAPE, "%s (%s): token ids are %s, expected [batch, time]", m->name, m->type->name,
                     cg_shape_str(ids));
        return NULL;
    }
    if (check_mask(r, mask, ids->shape[0], ids->shape[1]) != CG_OK) return NULL;
    step_source src = {NULL, 1, r->table, cg_k_contiguous(cg_k_transpose(ids, 0, 1)), ids->shape[0], ids->shape[1]};
    cg_tensor *kernel = NULL, *bias = NULL;
    void *call = NULL;
    if (!src.ids || cell->type->begin(cell, &kernel, &bias, &call) != CG_OK ||
        run_steps(r, &src, r->table->dtype, NULL, mask, call, &res) != CG_OK)
        return NULL;
    *mask_out = r->o.return_sequences ? mask : NULL;
    return res.output;
}

static cg_tensor *rnn_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    cg_rnn_result r;
    if (cg_rnn_call(m, x, NULL, mask, &r) != CG_OK) return NULL;
    *mask_out = ((rnn_layer *)m)->o.return_sequences ? mask : NULL;
    return r.output;
}

static cg_tensor *rnn_forward(cg_module *m, cg_tensor *x) {
    const cg_tensor *mo;
    return rnn_forward_masked(m, x, NULL, &mo);
}

static bool rnn_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    const rnn_layer *r = (const rnn_layer *)m;
    if (nin != 2) return false;
    int H = state_size(r->cell, 0);
    if (r->o.return_sequences) {
        out[0] = in[0];
        out[1] = H;
        *nout = 2;
    } else {
        out[0] = H;
        *nout = 1;
    }
    return true;
}

static void rnn_free(cg_module *m) {
    cg_cell *c = ((rnn_layer *)m)->cell;
    if (c && c->type->free) c->type->free(c);
    free(c);
}

static int rnn_torch_export(cg_module *m, const char *prefix, cg_named_tensor *out, int max) {
    cg_cell *c = ((rnn_layer *)m)->cell;
    if (!c->type->torch_export) {
        cg_set_error(CG_ERR_STATE, "cg_module_save_torch: %s (%s) has no PyTorch mapping", m->name, m->type->name);
        return -1;
    }
    return c->type->torch_export(c, prefix, "", out, max);
}
static cg_status rnn_torch_import(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    cg_cell *c = ((rnn_layer *)m)->cell;
    if (!c->type->torch_import)
        return cg_set_error(CG_ERR_STATE, "cg_module_load_torch: %s (%s) has no PyTorch mapping", m->name, m->type->name);
    return c->type->torch_import(c, f, prefix, "", apply);
}

static const cg_module_type rnn_layer_type = {NULL, rnn_forward, rnn_forward_masked, rnn_shape, rnn_free,
                                              rnn_torch_export, rnn_torch_import};

cg_module *cg_rnn_new(cg_cell *cell, int in, const cg_rnn_opts *opts) {
    cg_rnn_opts o = opts ? *opts : (cg_rnn_opts){0};
    if (!cell) { /* a cell constructor that failed: keep its message */
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_rnn_new: the cell is NULL");
        return NULL;
    }
    const cg_cell_type *ct = cell->type;
    if (!ct || !ct->name || !ct->state_size || !ct->build || !ct->step || ct->n_states < 1 || ct->n_states > CG_MAX_STATES ||
        ct->size < sizeof(cg_cell)) {
        free(cell);
        cg_set_error(CG_ERR_VALUE, "cg_rnn_new: the cell%s%s needs a type with a name, a size, 1..%d states, state_size, "
                     "build and step", ct && ct->name ? " " : "", ct && ct->name ? ct->name : "", CG_MAX_STATES);
        return NULL;
    }
    if (in <= 0 || !(o.dropout >= 0 && o.dropout < 1) || !(o.recurrent_dropout >= 0 && o.recurrent_dropout < 1)) {
        if (ct->free) ct->free(cell);
        free(cell);
        cg_set_error(CG_ERR_VALUE, "cg_rnn_new (%s): in = %d must be > 0 and dropout %g, recurrent_dropout %g in [0, 1)",
                     ct->name, in, o.dropout, o.recurrent_dropout);
        return NULL;
    }
    rnn_layer *r = calloc(1, sizeof *r);
    if (!r) {
        if (ct->free) ct->free(cell);
        free(cell);
        cg_set_error(CG_ERR_NOMEM, "cg_rnn_new: out of memory");
        return NULL;
    }
    r->type = rnn_layer_type;
    r->type.name = ct->name;
    r->cell = cell;
    if (cg_module_init(&r->base, &r->type, o.name) != CG_OK) {
        r->base.type = &r->type;
        cg_module_free(&r->base);
        return NULL;
    }
    r->in = in;
    o.name = NULL;
    r->o = o;
    if (ct->build(cell, &r->base, in, o.rng) != CG_OK) {
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_VALUE, "cg_rnn_new (%s): the cell's build failed", ct->name);
        cg_module_free(&r->base);
        return NULL;
    }
    for (int k = 0; k < ct->n_states; k++) {
        int size = ct->state_size(cell, k);
        if (size <= 0) {
            cg_module_free(&r->base);
            cg_set_error(CG_ERR_VALUE, "cg_rnn_new (%s): state %d has size %d", ct->name, k, size);
            return NULL;
        }
    }
    return &r->base;
}

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
    bool seq = ((rnn_layer *)f)->o.return_sequences;
    if (seq && yb) yb = cg_flip(yb, (int[]){1}, 1); /* align the backward outputs with time */
    *mask_out = mf;
    if (!yf || !yb) return NULL;
    switch (((bidi *)m)->merge) {
    case CG_MERGE_SUM: return cg_add(yf, yb);
    case CG_MERGE_MUL: return cg_mul(yf, yb);
    case CG_MERGE_AVE: return cg_mul_scalar(cg_add(yf, yb), 0.5);
    case CG_MERGE_CONCAT: break;
    }
    cg_tensor *parts[2] = {yf, yb};
    return cg_concat(parts, 2, -1);
}

static cg_tensor *bidi_forward(cg_module *m, cg_tensor *x) {
    const cg_tensor *mo;
    return bidi_forward_masked(m, x, NULL, &mo);
}

static bool bidi_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    if (!rnn_shape(m->children[0], in, nin, out, nout)) return false;
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
    cg_cell *f = cg_rnn_cell(m->children[0]), *b = cg_rnn_cell(m->children[1]);
    if (!f->type->torch_export) return rnn_torch_export(m->children[0], prefix, out, max);
    int a = f->type->torch_export(f, prefix, "", out, max);
    if (a < 0 || !out || a > max) return a < 0 ? -1 : 2 * a;
    int c = b->type->torch_export(b, prefix, "_reverse", out + a, max - a);
    return c < 0 ? -1 : a + c;
}
static cg_status bidi_torch_import(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    cg_cell *fc = cg_rnn_cell(m->children[0]), *bc = cg_rnn_cell(m->children[1]);
    if (!fc->type->torch_import) return rnn_torch_import(m->children[0], f, prefix, apply);
    cg_status st = fc->type->torch_import(fc, f, prefix, "", apply);
    return st == CG_OK ? bc->type->torch_import(bc, f, prefix, "_reverse", apply) : st;
}

static const cg_module_type bidi_type = {"Bidirectional", bidi_forward,      bidi_forward_masked, bidi_shape,
                                         NULL,            bidi_torch_export, bidi_torch_import};

bool cg__bidi_info(const cg_module *m, cg_merge_mode *merge) {
    if (!m || m->type != &bidi_type) return false;
    *merge = ((const bidi *)m)->merge;
    return true;
}

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
                                                                   : "cg_bidirectional_new: the layer must be a recurrent layer (cg_rnn_new, cg_lstm_new, ...)",
                     (int)merge);
        return NULL;
    }
    rnn_layer *r = (rnn_layer *)layer;
    char fname[80], bname[80];
    snprintf(fname, sizeof fname, "forward_%s", layer->name);
    snprintf(bname, sizeof bname, "backward_%s", layer->name);
    /* the backward half: a copy of the cell, built anew (parameters of its own) */
    const cg_cell_type *ct = r->cell->type;
    cg_cell *copy = ct->copy ? ct->copy(r->cell) : malloc(ct->size);
    if (copy && !ct->copy) memcpy(copy, r->cell, ct->size);
    cg_rnn_opts o = r->o;
    o.go_backwards = !o.go_backwards;
    o.name = bname; /* named, so the twin takes no automatic name ("lstm_1") from the next layer */
    cg_module *twin = copy ? cg_rnn_new(copy, r->in, &o) : NULL;
    cg_module *m = twin ? cg__layer_alloc(sizeof(bidi), &bidi_type, name) : NULL;
    if (!m) {
        if (!copy && cg_last_status() == CG_OK) cg_set_error(CG_ERR_NOMEM, "cg_bidirectional_new: out of memory");
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
