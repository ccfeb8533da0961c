/* Dense, Embedding, Dropout, Flatten, Activation. */
#include "nn_internal.h"

#include <stdlib.h>

/* Each activation: its Keras name and the elementwise op it is (none:
 * linear; softmax is over the last axis). */
static const struct {
    const char *name;
    int unop; /* a cg_unop, or -1 */
} ACTS[] = {
    [CG_ACT_DEFAULT] = {"linear", -1},  [CG_ACT_LINEAR] = {"linear", -1},      [CG_ACT_RELU] = {"relu", CG_RELU},
    [CG_ACT_TANH] = {"tanh", CG_TANH},  [CG_ACT_SIGMOID] = {"sigmoid", CG_SIGMOID}, [CG_ACT_SOFTMAX] = {"softmax", -1},
    [CG_ACT_SOFTSIGN] = {"softsign", CG_SOFTSIGN},
};
_Static_assert(sizeof ACTS / sizeof ACTS[0] == CG_ACT_COUNT, "an activation without a row");

bool cg__act_unop(cg_activation act, cg_unop *op) {
    if ((unsigned)act >= CG_ACT_COUNT || ACTS[act].unop < 0) return false;
    *op = (cg_unop)ACTS[act].unop;
    return true;
}

cg_tensor *cg_activate(cg_tensor *x, cg_activation act) {
    if ((unsigned)act >= CG_ACT_COUNT) {
        cg_set_error(CG_ERR_VALUE, "cg_activate: unknown activation %d", (int)act);
        return NULL;
    }
    if (act == CG_ACT_SOFTMAX) return cg_softmax(x, -1);
    return ACTS[act].unop < 0 ? x : cg_unary((cg_unop)ACTS[act].unop, x);
}

const char *cg_activation_name(cg_activation act) { return (unsigned)act < CG_ACT_COUNT ? ACTS[act].name : "?"; }

void *cg__layer_alloc(size_t size, const cg_module_type *type, const char *name) {
    cg_module *m = calloc(1, size);
    if (!m) {
        cg_set_error(CG_ERR_NOMEM, "cg_%s_new: out of memory", type->name);
        return NULL;
    }
    if (cg_module_init(m, type, name) != CG_OK) {
        free(m);
        return NULL;
    }
    return m;
}

/* A layer whose constructor failed half-way: free it, keep the error. */
static cg_module *abandon(cg_module *m) {
    cg_status st = cg_last_status();
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cg_last_error());
    cg_module_free(m);
    if (st != CG_OK) cg_set_error(st, "%s", msg);
    return NULL;
}

/* Check that x's last dim is `want`. */
static bool check_features(const cg_module *m, const cg_tensor *x, int64_t want, int min_rank) {
    if (x->ndim < min_rank || x->shape[x->ndim - 1] != want) {
        cg_set_error(CG_ERR_SHAPE, "%s (%s): input has shape %s, expected at least %d dims with %lld features last",
                     m->name, m->type->name, cg_shape_str(x), min_rank, (long long)want);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ Dense */

typedef struct {
    cg_module base;
    int in, units;
    cg_activation act;
    cg_tensor *kernel, *bias;
} dense;

static cg_tensor *dense_forward(cg_module *m, cg_tensor *x) {
    dense *d = (dense *)m;
    if (!check_features(m, x, d->in, 1)) return NULL;
    return cg_activate(cg_linear(x, d->kernel, d->bias), d->act);
}

/* Like Keras' Dense, which supports masking: the mask passes through. */
static cg_tensor *dense_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    *mask_out = mask;
    return dense_forward(m, x);
}

static bool dense_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    if (nin < 1) return false;
    memcpy(out, in, sizeof(int64_t) * (size_t)nin);
    out[nin - 1] = ((const dense *)m)->units;
    *nout = nin;
    return true;
}

static int dense_torch_export(cg_module *m, const char *prefix, cg_named_tensor *out, int max) {
    dense *d = (dense *)m;
    int n = d->bias ? 2 : 1;
    if (!out || max < n) return n;
    out[0] = (cg_named_tensor){cg__torch_name(prefix, "weight"), cg_k_contiguous(cg_k_transpose(d->kernel, 0, 1))};
    if (d->bias) out[1] = (cg_named_tensor){cg__torch_name(prefix, "bias"), d->bias};
    return n;
}

static cg_status dense_torch_import(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    dense *d = (dense *)m;
    cg_tensor *w = cg__torch_tensor(f, prefix, "weight", CG_SHAPE(d->units, d->in));
    cg_tensor *b = d->bias ? cg__torch_tensor(f, prefix, "bias", CG_SHAPE(d->units)) : NULL;
    if (!w || (d->bias && !b)) return cg_last_status();
    if (apply && (!cg_k_copy_(d->kernel, cg_k_transpose(w, 0, 1)) || (b && !cg_k_copy_(d->bias, b))))
        return cg_last_status();
    return CG_OK;
}

static const cg_module_type dense_type = {"Dense", dense_forward, dense_forward_masked, dense_shape, NULL, dense_torch_export,
                                          dense_torch_import};

cg_module *cg_dense_new_ex(int in, int units, const cg_dense_opts *o) {
    cg_dense_opts z = {0};
    if (!o) o = &z;
    if (in <= 0 || units <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_dense_new: in = %d and units = %d must be > 0", in, units);
        return NULL;
    }
    dense *d = cg__layer_alloc(sizeof *d, &dense_type, o->name);
    if (!d) return NULL;
    d->in = in;
    d->units = units;
    d->act = o->activation;
    double lim = 1.0 / sqrt((double)in);
    cg_init ki = o->torch_init ? cg_init_uniform(lim) : cg__init_or(o->kernel_init, cg_init_glorot_uniform());
    cg_init bi = o->torch_init ? cg_init_uniform(lim) : cg__init_or(o->bias_init, cg_init_zeros());
    d->kernel = cg_module_add_param(&d->base, "kernel", CG_SHAPE(in, units), ki, o->rng);
    if (!d->kernel) return abandon(&d->base);
    if (!o->no_bias && !(d->bias = cg_module_add_param(&d->base, "bias", CG_SHAPE(units), bi, o->rng)))
        return abandon(&d->base);
    return &d->base;
}

cg_module *cg_dense_new(int in, int units, cg_activation act, const char *name) {
    cg_dense_opts o = {.activation = act, .name = name};
    return cg_dense_new_ex(in, units, &o);
}

/* -------------------------------------------------------------- Embedding */

typedef struct {
    cg_module base;
    int vocab, dim;
    bool mask_zero;
    cg_tensor *weight;
} embedding;

static cg_tensor *embedding_forward_masked(cg_module *m, cg_tensor *ids, const cg_tensor *mask, const cg_tensor **mask_out) {
    (void)mask;
    cg_tensor *flat = cg__embedding_ids(m, ids, mask_out);
    return flat ? cg_embedding(((embedding *)m)->weight, flat) : NULL;
}

cg_tensor *cg__embedding_ids(cg_module *m, cg_tensor *ids, const cg_tensor **mask_out) {
    embedding *e = (embedding *)m;
    if (ids->dtype != CG_INT64) {
        cg_set_error(CG_ERR_DTYPE, "%s (Embedding): token ids must be int64, got %s %s", m->name,
                     cg_dtype_name(ids->dtype), cg_shape_str(ids));
        return NULL;
    }
    cg_tensor *flat = cg_k_contiguous(ids);
    if (!flat) return NULL;
    const int64_t *v = cg_data_i64(flat);
    for (int64_t i = 0, n = cg_numel(flat); i < n; i++)
        if (v[i] < 0 || v[i] >= e->vocab) {
            cg_set_error(CG_ERR_INDEX, "%s (Embedding): token id %lld at position %lld is out of range for a vocabulary of %d",
                         m->name, (long long)v[i], (long long)i, e->vocab);
            return NULL;
        }
    if (e->mask_zero) *mask_out = cg_k_scalar(CG_NE, ids, 0);
    return flat;
}

static cg_tensor *embedding_forward(cg_module *m, cg_tensor *ids) {
    const cg_tensor *mo;
    return embedding_forward_masked(m, ids, NULL, &mo);
}

static bool embedding_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    if (nin + 1 > CG_MAX_DIMS - 1) return false;
    memcpy(out, in, sizeof(int64_t) * (size_t)nin);
    out[nin] = ((const embedding *)m)->dim;
    *nout = nin + 1;
    return true;
}

static int embedding_torch_export(cg_module *m, const char *prefix, cg_named_tensor *out, int max) {
    if (out && max >= 1) out[0] = (cg_named_tensor){cg__torch_name(prefix, "weight"), ((embedding *)m)->weight};
    return 1;
}

static cg_status embedding_torch_import(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    embedding *e = (embedding *)m;
    cg_tensor *w = cg__torch_tensor(f, prefix, "weight", CG_SHAPE(e->vocab, e->dim));
    if (!w) return cg_last_status();
    return apply && !cg_k_copy_(e->weight, w) ? cg_last_status() : CG_OK;
}

static const cg_module_type embedding_type = {"Embedding", embedding_forward, embedding_forward_masked,
                                              embedding_shape, NULL, embedding_torch_export, embedding_torch_import};

cg_module *cg_embedding_new_ex(int vocab, int dim, const cg_embedding_opts *o) {
    cg_embedding_opts z = {0};
    if (!o) o = &z;
    if (vocab <= 0 || dim <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_embedding_new: vocab = %d and dim = %d must be > 0", vocab, dim);
        return NULL;
    }
    embedding *e = cg__layer_alloc(sizeof *e, &embedding_type, o->name);
    if (!e) return NULL;
    e->vocab = vocab;
    e->dim = dim;
    e->mask_zero = o->mask_zero;
    e->weight = cg_module_add_param(&e->base, "embeddings", CG_SHAPE(vocab, dim), cg__init_or(o->init, cg_init_uniform(0.05)),
                                    o->rng);
    return e->weight ? &e->base : abandon(&e->base);
}

cg_module *cg_embedding_new(int vocab, int dim, const char *name) {
    cg_embedding_opts o = {.name = name};
    return cg_embedding_new_ex(vocab, dim, &o);
}

/* ------------------------------------------------ Dropout, Flatten, Activation */

typedef struct {
    cg_module base;
    double p;
    cg_rng *rng;
    cg_activation act;
} simple_layer;

static cg_tensor *dropout_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    simple_layer *l = (simple_layer *)m;
    *mask_out = mask;
    return cg_dropout(x, l->p, m->training, l->rng);
}
static cg_tensor *dropout_forward(cg_module *m, cg_tensor *x) {
    const cg_tensor *mo;
    return dropout_forward_masked(m, x, NULL, &mo);
}
static bool same_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    (void)m;
    memcpy(out, in, sizeof(int64_t) * (size_t)nin);
    *nout = nin;
    return true;
}
static const cg_module_type dropout_type = {"Dropout", dropout_forward, dropout_forward_masked, same_shape, NULL, NULL, NULL};

cg_module *cg_dropout_new(double p, cg_rng *rng, const char *name) {
    if (!(p >= 0 && p < 1)) {
        cg_set_error(CG_ERR_VALUE, "cg_dropout_new: rate %g is not in [0, 1)", p);
        return NULL;
    }
    simple_layer *l = cg__layer_alloc(sizeof *l, &dropout_type, name);
    if (!l) return NULL;
    l->p = p;
    l->rng = rng;
    return &l->base;
}

static cg_tensor *flatten_forward(cg_module *m, cg_tensor *x) {
    (void)m;
    return cg_reshape(x, CG_SHAPE(x->ndim ? x->shape[0] : 1, -1));
}
static bool flatten_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    (void)m;
    int64_t p = 1;
    for (int i = 0; i < nin; i++) p = (in[i] < 0 || p < 0) ? -1 : p * in[i];
    out[0] = p;
    *nout = 1;
    return true;
}
static const cg_module_type flatten_type = {"Flatten", flatten_forward, NULL, flatten_shape, NULL, NULL, NULL};
cg_module *cg_flatten_new(const char *name) { return cg__layer_alloc(sizeof(simple_layer), &flatten_type, name); }

static cg_tensor *activation_forward(cg_module *m, cg_tensor *x) { return cg_activate(x, ((simple_layer *)m)->act); }
static cg_tensor *activation_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    *mask_out = mask;
    return activation_forward(m, x);
}
static const cg_module_type activation_type = {"Activation", activation_forward, activation_forward_masked, same_shape,
                                               NULL, NULL, NULL};
cg_module *cg_activation_new(cg_activation act, const char *name) {
    simple_layer *l = cg__layer_alloc(sizeof *l, &activation_type, name);
    if (l) l->act = act;
    return l ? &l->base : NULL;
}

/* ------------------------------------------------------- for cg_keras_save */

bool cg__dense_info(const cg_module *m, int *in, int *units, cg_activation *act, bool *bias) {
    if (!m || m->type != &dense_type) return false;
    const dense *d = (const dense *)m;
    *in = d->in, *units = d->units, *act = cg__act_or(d->act, CG_ACT_LINEAR), *bias = d->bias != NULL;
    return true;
}

bool cg__embedding_info(const cg_module *m, int *vocab, int *dim, bool *mask_zero) {
    if (!m || m->type != &embedding_type) return false;
    const embedding *e = (const embedding *)m;
    *vocab = e->vocab, *dim = e->dim, *mask_zero = e->mask_zero;
    return true;
}

cg_tensor *cg__embedding_weight(const cg_module *m) {
    return m && m->type == &embedding_type ? ((const embedding *)m)->weight : NULL;
}

bool cg__dropout_info(const cg_module *m, double *rate) {
    if (!m || m->type != &dropout_type) return false;
    *rate = ((const simple_layer *)m)->p;
    return true;
}

bool cg__activation_info(const cg_module *m, cg_activation *act) {
    if (!m || m->type != &activation_type) return false;
    *act = cg__act_or(((const simple_layer *)m)->act, CG_ACT_LINEAR);
    return true;
}
