/* Keras model files: the configuration (JSON, through cJSON) mapped to cgrad
 * layers and back, the weights and Adam state in model.weights.h5 (.keras)
 * or model_weights (legacy .h5). The containers are in keras_io.c. */
#include "keras_internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The Keras version whose files the writer was checked against. */
#define KERAS_FORMAT_VERSION "3.15.1"
#define FILE_LIMIT ((size_t)1 << 33)
/* cg_keras_from_config refuses models of more weights than 16 GiB hold. */
#define CONFIG_LIMIT 17179869184.0

typedef enum kl_kind {
    KL_NONE,
    KL_MODEL, /* the Sequential itself: the input shape */
    KL_EMBEDDING,
    KL_SIMPLE_RNN,
    KL_LSTM,
    KL_GRU,
    KL_BIDI,
    KL_DENSE,
    KL_DROPOUT,
    KL_ACTIVATION,
    KL_FLATTEN
} kl_kind;

static const char *const CLASS[] = {"?", "Sequential", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
                                    "Dense", "Dropout", "Activation", "Flatten"};
static const char *const SNAKE[] = {"?", "sequential", "embedding", "simple_rnn", "lstm", "gru", "bidirectional",
                                    "dense", "dropout", "activation", "flatten"};

/* A layer's Keras options: what the configuration says, what the module
 * is built from, and what is written back. Flat (freed with free()). */
struct cg_keras_layer {
    kl_kind kind, inner; /* inner: the layer a Bidirectional wraps */
    char name[64], inner_name[64], input_name[64];
    bool trainable;
    int64_t units, in, vocab; /* Embedding: vocab = input_dim, units = output_dim */
    cg_activation act, ract;
    bool use_bias, return_sequences, go_backwards, unit_forget_bias, reset_after, zero_output_for_mask, mask_zero;
    double dropout, recurrent_dropout, rate;
    int merge; /* 0 concat, 1 sum, 2 mul, 3 ave */
    /* KL_MODEL: the input shape without the batch (-1: None) */
    int64_t shape[CG_MAX_DIMS];
    int ndim;
    bool int_input;
};
typedef struct cg_keras_layer klayer;

/* In cg_merge_mode's order. */
static const char *const MERGE[] = {"concat", "sum", "mul", "ave"};

static bool is_rnn_kind(kl_kind k) { return k == KL_SIMPLE_RNN || k == KL_LSTM || k == KL_GRU; }

/* Where an error happened: "fn: label: member: " */
typedef struct kctx {
    const char *fn, *label, *member;
} kctx;

static cg_status kerr(const kctx *c, cg_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cg_status kerr(const kctx *c, cg_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cg_set_error(st, "%s: %s: %s%s%s", c->fn, c->label, c->member ? c->member : "", c->member ? ": " : "", msg);
}

/* An error from a lower layer (keras_io.c, a constructor), prefixed. */
static cg_status kwrap(const kctx *c) {
    cg_status st = cg_last_status();
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cg_last_error());
    return cg_set_error(st ? st : CG_ERR_PARSE, "%s: %s", c->fn, msg);
}

/* --------------------------------------------------------- configuration */

static const char *act_name(cg_activation a) { return cg_activation_name(a); }

static bool parse_act(const kctx *c, const char *where, const char *key, const cJSON *v, cg_activation *out) {
    static const struct {
        const char *name;
        cg_activation act;
    } acts[] = {{"linear", CG_ACT_LINEAR}, {"relu", CG_ACT_RELU}, {"tanh", CG_ACT_TANH}, {"sigmoid", CG_ACT_SIGMOID},
                {"softmax", CG_ACT_SOFTMAX}};
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (cJSON_IsNull(v)) s = "linear"; /* Keras reads None as linear */
    if (cJSON_IsObject(v)) {             /* {"class_name": "function", "config": "tanh"} in some files */
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(v, "config");
        s = cJSON_IsString(cfg) ? cfg->valuestring : NULL;
    }
    for (size_t i = 0; s && i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(s, acts[i].name) == 0) {
            *out = acts[i].act;
            return true;
        }
    kerr(c, CG_ERR_PARSE, "%s: %s '%s' is not one cgrad has (linear, relu, tanh, sigmoid, softmax)", where, key,
         s ? s : "(not a name)");
    return false;
}

static bool float32_policy(const cJSON *v) {
    if (!v || cJSON_IsNull(v)) return true;
    if (cJSON_IsString(v)) return strcmp(v->valuestring, "float32") == 0;
    if (!cJSON_IsObject(v)) return false;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(v, "config");
    const cJSON *name = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "name") : NULL;
    return cJSON_IsString(name) && strcmp(name->valuestring, "float32") == 0;
}

/* How an option is checked: read into the layer, ignored (initializers,
 * seeds: the weights come from the file), or must be null / false. */
typedef enum { O_READ, O_IGNORE, O_NULL, O_FALSE } okind;
typedef struct ospec {
    const char *key;
    okind kind;
} ospec;

static const ospec COMMON[] = {{"name", O_READ},           {"trainable", O_READ},    {"dtype", O_READ},
                               {"batch_input_shape", O_READ}, {"batch_shape", O_READ}, {"input_shape", O_READ},
                               {"activity_regularizer", O_NULL}, {NULL, O_IGNORE}};
static const ospec RNN_OPTS[] = {
    {"units", O_READ},                {"activation", O_READ},          {"recurrent_activation", O_READ},
    {"use_bias", O_READ},             {"return_sequences", O_READ},    {"go_backwards", O_READ},
    {"zero_output_for_mask", O_READ}, {"dropout", O_READ},             {"recurrent_dropout", O_READ},
    {"unit_forget_bias", O_READ},     {"reset_after", O_READ},         {"return_state", O_FALSE},
    {"stateful", O_FALSE},            {"time_major", O_FALSE},         {"unroll", O_IGNORE},
    {"implementation", O_IGNORE},     {"use_cudnn", O_IGNORE},         {"seed", O_IGNORE},
    {"kernel_initializer", O_IGNORE}, {"recurrent_initializer", O_IGNORE}, {"bias_initializer", O_IGNORE},
    {"kernel_regularizer", O_NULL},   {"recurrent_regularizer", O_NULL}, {"bias_regularizer", O_NULL},
    {"kernel_constraint", O_NULL},    {"recurrent_constraint", O_NULL}, {"bias_constraint", O_NULL},
    {NULL, O_IGNORE}};
static const ospec EMBEDDING_OPTS[] = {{"input_dim", O_READ},       {"output_dim", O_READ},
                                       {"mask_zero", O_READ},       {"input_length", O_IGNORE},
                                       {"embeddings_initializer", O_IGNORE}, {"embeddings_regularizer", O_NULL},
                                       {"embeddings_constraint", O_NULL}, {"sparse", O_FALSE},
                                       {"lora_rank", O_NULL},       {"lora_alpha", O_IGNORE},
                                       {"quantization_config", O_NULL}, {NULL, O_IGNORE}};
static const ospec DENSE_OPTS[] = {{"units", O_READ},           {"activation", O_READ},
                                   {"use_bias", O_READ},        {"kernel_initializer", O_IGNORE},
                                   {"bias_initializer", O_IGNORE}, {"kernel_regularizer", O_NULL},
                                   {"bias_regularizer", O_NULL}, {"kernel_constraint", O_NULL},
                                   {"bias_constraint", O_NULL}, {"lora_rank", O_NULL},
                                   {"lora_alpha", O_IGNORE},    {"quantization_config", O_NULL},
                                   {NULL, O_IGNORE}};
static const ospec DROPOUT_OPTS[] = {{"rate", O_READ}, {"noise_shape", O_NULL}, {"seed", O_IGNORE}, {NULL, O_IGNORE}};
static const ospec ACTIVATION_OPTS[] = {{"activation", O_READ}, {NULL, O_IGNORE}};
static const ospec FLATTEN_OPTS[] = {{"data_format", O_READ}, {NULL, O_IGNORE}};
static const ospec BIDI_OPTS[] = {{"merge_mode", O_READ}, {"layer", O_READ}, {"backward_layer", O_READ}, {NULL, O_IGNORE}};

static const ospec *find_spec(const ospec *t, const char *key) {
    for (; t && t->key; t++)
        if (strcmp(t->key, key) == 0) return t;
    return NULL;
}

static bool get_bool(const kctx *c, const char *where, const cJSON *cfg, const char *key, bool dflt, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!cJSON_IsBool(v)) return kerr(c, CG_ERR_PARSE, "%s: %s is not true or false", where, key), false;
    *out = cJSON_IsTrue(v);
    return true;
}

static bool get_num(const kctx *c, const char *where, const cJSON *cfg, const char *key, double dflt, double lo,
                    double hi, bool hi_open, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    double x = dflt;
    if (v && !cJSON_IsNumber(v)) return kerr(c, CG_ERR_PARSE, "%s: %s is not a number", where, key), false;
    if (v) x = v->valuedouble;
    if (!(x >= lo && (hi_open ? x < hi : x <= hi)))
        return kerr(c, CG_ERR_PARSE, "%s: %s = %g is not in [%g, %g%c", where, key, x, lo, hi, hi_open ? ')' : ']'),
               false;
    *out = x;
    return true;
}

static bool get_int(const kctx *c, const char *where, const cJSON *cfg, const char *key, int64_t lo, int64_t hi,
                    int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) return kerr(c, CG_ERR_PARSE, "%s: no %s", where, key), false;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return kerr(c, CG_ERR_PARSE, "%s: %s is not an integer in [%lld, %lld]", where, key, (long long)lo, (long long)hi),
               false;
    *out = (int64_t)v->valuedouble;
    return true;
}

/* A shape list [null, 30, 2] -> shape without the batch (-1 for null). */
static bool parse_shape(const kctx *c, const char *where, const cJSON *v, bool has_batch, klayer *m) {
    int n = cJSON_GetArraySize(v), k = 0;
    if (!cJSON_IsArray(v) || n - has_batch < 1 || n - has_batch > CG_MAX_DIMS - 1)
        return kerr(c, CG_ERR_PARSE, "%s: the input shape is not a list of 1 to %d sizes", where, CG_MAX_DIMS - 1), false;
    const cJSON *d;
    int i = 0;
    cJSON_ArrayForEach(d, v) {
        if (i++ < has_batch) continue;
        if (cJSON_IsNull(d)) m->shape[k++] = -1;
        else if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 1e12 && d->valuedouble == (double)(int64_t)d->valuedouble)
            m->shape[k++] = (int64_t)d->valuedouble;
        else return kerr(c, CG_ERR_PARSE, "%s: the input shape has a size that is not a positive integer or null", where), false;
    }
    m->ndim = k;
    return true;
}

static bool is_int_dtype(const cJSON *v) {
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    return s && (strncmp(s, "int", 3) == 0 || strncmp(s, "uint", 4) == 0);
}

static bool parse_layer(const kctx *c, const cJSON *j, const char *where, klayer *l, klayer *model);

/* Check every key of cfg against the class's table (and the common one). */
static bool check_keys(const kctx *c, const char *where, const cJSON *cfg, const ospec *spec) {
    const cJSON *v;
    cJSON_ArrayForEach(v, cfg) {
        const ospec *s = find_spec(spec, v->string);
        if (!s) s = find_spec(COMMON, v->string);
        if (!s) return kerr(c, CG_ERR_PARSE, "%s: unknown option '%s'", where, v->string), false;
        if (s->kind == O_NULL && !cJSON_IsNull(v))
            return kerr(c, CG_ERR_PARSE, "%s: option %s is set; cgrad has no %s", where, v->string, v->string), false;
        if (s->kind == O_FALSE && !cJSON_IsFalse(v) && !cJSON_IsNull(v))
            return kerr(c, CG_ERR_PARSE, "%s: option %s = true is not supported", where, v->string), false;
    }
    return true;
}

static bool parse_rnn(const kctx *c, const char *where, const cJSON *cfg, klayer *l) {
    if (!check_keys(c, where, cfg, RNN_OPTS)) return false;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "activation");
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(cfg, "recurrent_activation");
    l->act = CG_ACT_TANH;
    l->ract = CG_ACT_SIGMOID;
    if (a && !parse_act(c, where, "activation", a, &l->act)) return false;
    if (ra && l->kind == KL_SIMPLE_RNN) return kerr(c, CG_ERR_PARSE, "%s: unknown option 'recurrent_activation'", where), false;
    if (ra && !parse_act(c, where, "recurrent_activation", ra, &l->ract)) return false;
    if (cJSON_GetObjectItemCaseSensitive(cfg, "unit_forget_bias") && l->kind != KL_LSTM)
        return kerr(c, CG_ERR_PARSE, "%s: unknown option 'unit_forget_bias'", where), false;
    if (cJSON_GetObjectItemCaseSensitive(cfg, "reset_after") && l->kind != KL_GRU)
        return kerr(c, CG_ERR_PARSE, "%s: unknown option 'reset_after'", where), false;
    /* Keras 1 and 2.0 GRUs have no reset_after and compute "reset before" */
    return get_int(c, where, cfg, "units", 1, 1 << 24, &l->units) &&
           get_bool(c, where, cfg, "use_bias", true, &l->use_bias) &&
           get_bool(c, where, cfg, "return_sequences", false, &l->return_sequences) &&
           get_bool(c, where, cfg, "go_backwards", false, &l->go_backwards) &&
           get_bool(c, where, cfg, "zero_output_for_mask", false, &l->zero_output_for_mask) &&
           get_bool(c, where, cfg, "unit_forget_bias", true, &l->unit_forget_bias) &&
           get_bool(c, where, cfg, "reset_after", false, &l->reset_after) &&
           get_num(c, where, cfg, "dropout", 0, 0, 1, true, &l->dropout) &&
           get_num(c, where, cfg, "recurrent_dropout", 0, 0, 1, true, &l->recurrent_dropout);
}

/* The class_name and config of a serialized layer. */
static bool split_layer(const kctx *c, const cJSON *j, const char *where, const char **cls, const cJSON **cfg) {
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(j, "class_name");
    *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    if (!cJSON_IsObject(j) || !cJSON_IsString(cn) || !cJSON_IsObject(*cfg))
        return kerr(c, CG_ERR_PARSE, "%s: not a layer (an object with class_name and config)", where), false;
    *cls = cn->valuestring;
    return true;
}

static bool parse_name(const kctx *c, const char *where, const cJSON *cfg, char *out, size_t n) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (!cJSON_IsString(nm) || !nm->valuestring[0] || strlen(nm->valuestring) >= n || strchr(nm->valuestring, '/'))
        return kerr(c, CG_ERR_PARSE, "%s: the layer has no name, or one longer than %zu characters or with '/'", where,
                    n - 1),
               false;
    snprintf(out, n, "%s", nm->valuestring);
    return true;
}

static bool parse_layer(const kctx *c, const cJSON *j, const char *where_in, klayer *l, klayer *model) {
    const char *cls;
    const cJSON *cfg;
    if (!split_layer(c, j, where_in, &cls, &cfg)) return false;
    memset(l, 0, sizeof *l);
    char where[256];
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    snprintf(where, sizeof where, "%s (%s, %s)", where_in, cJSON_IsString(nm) ? nm->valuestring : "?", cls);
    for (int k = KL_EMBEDDING; k <= KL_FLATTEN; k++)
        if (strcmp(cls, CLASS[k]) == 0) l->kind = (kl_kind)k;
    if (l->kind == KL_NONE)
        return kerr(c, CG_ERR_PARSE, "%s: class %s has no cgrad counterpart (cgrad maps InputLayer, Embedding, "
                                     "SimpleRNN, LSTM, GRU, Bidirectional, Dense, Dropout, Activation, Flatten)",
                    where, cls),
               false;
    if (!parse_name(c, where, cfg, l->name, sizeof l->name)) return false;
    if (!get_bool(c, where, cfg, "trainable", true, &l->trainable)) return false;
    if (!float32_policy(cJSON_GetObjectItemCaseSensitive(cfg, "dtype")))
        return kerr(c, CG_ERR_PARSE, "%s: dtype is not float32 (cgrad's layers compute in float32)", where), false;
    /* Keras 2 puts the input shape on the first layer */
    const cJSON *bis = cJSON_GetObjectItemCaseSensitive(cfg, "batch_input_shape");
    if (!bis) bis = cJSON_GetObjectItemCaseSensitive(cfg, "batch_shape");
    if (bis && model) {
        klayer shape = {0};
        if (!parse_shape(c, where, bis, true, &shape)) return false;
        if (model->ndim && (model->ndim != shape.ndim || memcmp(model->shape, shape.shape, sizeof shape.shape) != 0))
            return kerr(c, CG_ERR_PARSE, "%s: an input shape other than the InputLayer's", where), false;
        if (!model->ndim) { /* Keras 2 without an InputLayer */
            model->ndim = shape.ndim;
            memcpy(model->shape, shape.shape, sizeof shape.shape);
            model->int_input = l->kind == KL_EMBEDDING || is_int_dtype(cJSON_GetObjectItemCaseSensitive(cfg, "dtype"));
        }
    }
    switch (l->kind) {
    case KL_EMBEDDING:
        return check_keys(c, where, cfg, EMBEDDING_OPTS) && get_int(c, where, cfg, "input_dim", 1, INT32_MAX, &l->vocab) &&
               get_int(c, where, cfg, "output_dim", 1, 1 << 24, &l->units) &&
               get_bool(c, where, cfg, "mask_zero", false, &l->mask_zero);
    case KL_SIMPLE_RNN:
    case KL_LSTM:
    case KL_GRU: return parse_rnn(c, where, cfg, l);
    case KL_DENSE: {
        if (!check_keys(c, where, cfg, DENSE_OPTS)) return false;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "activation");
        l->act = CG_ACT_LINEAR;
        return (!a || parse_act(c, where, "activation", a, &l->act)) && get_int(c, where, cfg, "units", 1, 1 << 24, &l->units) &&
               get_bool(c, where, cfg, "use_bias", true, &l->use_bias);
    }
    case KL_DROPOUT:
        return check_keys(c, where, cfg, DROPOUT_OPTS) && get_num(c, where, cfg, "rate", -1, 0, 1, true, &l->rate);
    case KL_ACTIVATION: {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "activation");
        if (!check_keys(c, where, cfg, ACTIVATION_OPTS)) return false;
        if (!a) return kerr(c, CG_ERR_PARSE, "%s: no activation", where), false;
        return parse_act(c, where, "activation", a, &l->act);
    }
    case KL_FLATTEN: {
        const cJSON *df = cJSON_GetObjectItemCaseSensitive(cfg, "data_format");
        if (!check_keys(c, where, cfg, FLATTEN_OPTS)) return false;
        if (df && !cJSON_IsNull(df) && !(cJSON_IsString(df) && strcmp(df->valuestring, "channels_last") == 0))
            return kerr(c, CG_ERR_PARSE, "%s: data_format is not channels_last", where), false;
        return true;
    }
    case KL_BIDI: {
        if (!check_keys(c, where, cfg, BIDI_OPTS)) return false;
        const cJSON *mm = cJSON_GetObjectItemCaseSensitive(cfg, "merge_mode");
        l->merge = -1;
        for (int k = 0; k < 4 && cJSON_IsString(mm); k++)
            if (strcmp(mm->valuestring, MERGE[k]) == 0) l->merge = k;
        if (!mm) l->merge = 0;
        if (l->merge < 0)
            return kerr(c, CG_ERR_PARSE, "%s: merge_mode %s is not concat, sum, mul or ave", where,
                        cJSON_IsString(mm) ? mm->valuestring : "null"),
                   false;
        char w2[300];
        snprintf(w2, sizeof w2, "%s: layer", where);
        klayer in, back;
        if (!parse_layer(c, cJSON_GetObjectItemCaseSensitive(cfg, "layer"), w2, &in, NULL)) return false;
        if (!is_rnn_kind(in.kind))
            return kerr(c, CG_ERR_PARSE, "%s: wraps a %s; cgrad's Bidirectional wraps SimpleRNN, LSTM or GRU", where,
                        CLASS[in.kind]),
                   false;
        const cJSON *bl = cJSON_GetObjectItemCaseSensitive(cfg, "backward_layer");
        if (bl && !cJSON_IsNull(bl)) {
            snprintf(w2, sizeof w2, "%s: backward_layer", where);
            if (!parse_layer(c, bl, w2, &back, NULL)) return false;
            /* cgrad's backward half is the forward one mirrored */
            if (back.kind != in.kind || back.units != in.units || back.act != in.act || back.ract != in.ract ||
                back.use_bias != in.use_bias || back.return_sequences != in.return_sequences ||
                back.go_backwards == in.go_backwards || back.dropout != in.dropout ||
                back.recurrent_dropout != in.recurrent_dropout || back.reset_after != in.reset_after)
                return kerr(c, CG_ERR_PARSE, "%s: backward_layer is not the layer run backwards, which is all cgrad's "
                                             "Bidirectional runs",
                            where),
                       false;
        }
        /* cgrad names the halves forward_<name>, backward_<name> */
        const char *inner = in.name;
        if (strncmp(inner, "forward_", 8) == 0 && inner[8]) inner += 8;
        snprintf(l->inner_name, sizeof l->inner_name, "%.63s", inner);
        l->inner = in.kind;
        l->units = in.units, l->act = in.act, l->ract = in.ract, l->use_bias = in.use_bias;
        l->return_sequences = in.return_sequences, l->go_backwards = in.go_backwards;
        l->unit_forget_bias = in.unit_forget_bias, l->reset_after = in.reset_after;
        l->dropout = in.dropout, l->recurrent_dropout = in.recurrent_dropout;
        l->zero_output_for_mask = true;
        return true;
    }
    default: return false;
    }
}

/* The model description: layers[0..n) and the model record. */
typedef struct kmodel {
    klayer model;
    klayer *layers;
    int n;
} kmodel;

static void kmodel_free(kmodel *m) {
    free(m->layers);
    m->layers = NULL;
    m->n = 0;
}

/* Is the mask of an Embedding(mask_zero) seen where cgrad's masked outputs
 * (zeros) differ from Keras' (the last valid output, zero_output_for_mask =
 * false)? Only when such a sequence reaches the model's output or a Flatten
 * rather than a recurrent layer, which skips masked steps. */
static bool check_masks(const kctx *c, const kmodel *km) {
    bool masked = false;
    for (int i = 0; i < km->n; i++) {
        const klayer *l = &km->layers[i];
        if (l->kind == KL_EMBEDDING) masked = l->mask_zero;
        else if (l->kind == KL_FLATTEN) masked = false;
        else if ((is_rnn_kind(l->kind) || l->kind == KL_BIDI) && masked && l->return_sequences && !l->zero_output_for_mask) {
            int k = i + 1;
            while (k < km->n && (km->layers[k].kind == KL_DENSE || km->layers[k].kind == KL_DROPOUT ||
                                 km->layers[k].kind == KL_ACTIVATION))
                k++;
            if (k == km->n || !(is_rnn_kind(km->layers[k].kind) || km->layers[k].kind == KL_BIDI))
                return kerr(c, CG_ERR_PARSE,
                            "layers[%d] (%s, %s): zero_output_for_mask = false with a mask and return_sequences: Keras "
                            "repeats the last output at masked steps, cgrad outputs zeros",
                            i, l->name, CLASS[l->kind]),
                       false;
        } else if ((is_rnn_kind(l->kind) || l->kind == KL_BIDI) && !l->return_sequences) {
            masked = false;
        }
    }
    return true;
}

/* Parse a whole configuration (config.json or a legacy model_config). */
static bool parse_model(const kctx *c, const cJSON *root, kmodel *km) {
    memset(km, 0, sizeof *km);
    const char *cls;
    const cJSON *cfg = NULL;
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(root, "class_name");
    if (!cJSON_IsString(cn)) return kerr(c, CG_ERR_PARSE, "no class_name: not a Keras model configuration"), false;
    cls = cn->valuestring;
    if (strcmp(cls, "Sequential") != 0)
        return kerr(c, CG_ERR_PARSE, "the model is a %s; cgrad reads Sequential models", cls), false;
    cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *list = cJSON_IsArray(cfg) ? cfg : cJSON_GetObjectItemCaseSensitive(cfg, "layers");
    if (!cJSON_IsArray(list)) return kerr(c, CG_ERR_PARSE, "config has no list of layers"), false;
    km->model.kind = KL_MODEL;
    km->model.trainable = true;
    snprintf(km->model.name, sizeof km->model.name, "sequential");
    if (cJSON_IsObject(cfg) && !parse_name(c, "config", cfg, km->model.name, sizeof km->model.name)) return false;
    int n = cJSON_GetArraySize(list);
    km->layers = calloc((size_t)(n ? n : 1), sizeof *km->layers);
    if (!km->layers) return kerr(c, CG_ERR_NOMEM, "out of memory"), false;
    int i = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, list) {
        char where[64];
        snprintf(where, sizeof where, "layers[%d]", i++);
        const cJSON *lc = cJSON_GetObjectItemCaseSensitive(j, "class_name");
        if (cJSON_IsString(lc) && strcmp(lc->valuestring, "InputLayer") == 0) {
            const cJSON *icfg = cJSON_GetObjectItemCaseSensitive(j, "config");
            const cJSON *bs = cJSON_GetObjectItemCaseSensitive(icfg, "batch_shape");
            if (!bs) bs = cJSON_GetObjectItemCaseSensitive(icfg, "batch_input_shape");
            if (km->n || km->model.ndim)
                return kmodel_free(km), kerr(c, CG_ERR_PARSE, "%s: an InputLayer after other layers", where), false;
            static const ospec input_opts[] = {{"batch_shape", O_READ}, {"batch_input_shape", O_READ},
                                               {"dtype", O_READ},       {"name", O_READ},
                                               {"sparse", O_FALSE},     {"ragged", O_FALSE},
                                               {"optional", O_FALSE},   {"batch_size", O_IGNORE},
                                               {"input_tensor", O_NULL}, {NULL, O_IGNORE}};
            char w2[96];
            snprintf(w2, sizeof w2, "%s (InputLayer)", where);
            if (!cJSON_IsObject(icfg) || !check_keys(c, w2, icfg, input_opts) || !bs || !parse_shape(c, w2, bs, true, &km->model))
                return kmodel_free(km), cg_last_status() == CG_OK ? kerr(c, CG_ERR_PARSE, "%s: no batch_shape", w2) : 0, false;
            km->model.int_input = is_int_dtype(cJSON_GetObjectItemCaseSensitive(icfg, "dtype"));
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(icfg, "name");
            snprintf(km->model.input_name, sizeof km->model.input_name, "%.63s", cJSON_IsString(nm) ? nm->valuestring : "input_layer");
            continue;
        }
        if (!parse_layer(c, j, where, &km->layers[km->n], km->n == 0 ? &km->model : NULL)) return kmodel_free(km), false;
        for (int k = 0; k < km->n; k++)
            if (strcmp(km->layers[k].name, km->layers[km->n].name) == 0)
                return kmodel_free(km), kerr(c, CG_ERR_PARSE, "%s: a second layer named %s", where, km->layers[k].name), false;
        km->n++;
    }
    if (!km->model.ndim) {
        /* Keras 3 without an InputLayer: the model's build_config */
        const cJSON *bc = cJSON_GetObjectItemCaseSensitive(root, "build_config");
        const cJSON *is = bc ? cJSON_GetObjectItemCaseSensitive(bc, "input_shape") : NULL;
        if (!is && cJSON_IsObject(cfg)) is = cJSON_GetObjectItemCaseSensitive(cfg, "build_input_shape");
        if (!is || !parse_shape(c, "build_config", is, true, &km->model))
            return kmodel_free(km), cg_last_status() == CG_OK ? kerr(c, CG_ERR_PARSE, "the model has no input shape") : 0, false;
        km->model.int_input = km->n && km->layers[0].kind == KL_EMBEDDING;
    }
    if (km->n == 0) return kmodel_free(km), kerr(c, CG_ERR_PARSE, "the model has no layers"), false;
    if (km->layers[0].kind == KL_EMBEDDING) km->model.int_input = true;
    if (!check_masks(c, km)) return kmodel_free(km), false;
    return true;
}

/* ------------------------------------------------------------- building */

/* The feature size of a shape's last dim after layer l, and the shape. */
static bool next_shape(const kctx *c, const klayer *l, int idx, int64_t *shape, int *nd) {
    int64_t last = *nd ? shape[*nd - 1] : -1;
    switch (l->kind) {
    case KL_EMBEDDING:
        if (*nd + 1 > CG_MAX_DIMS - 1) return false;
        shape[(*nd)++] = l->units;
        return true;
    case KL_SIMPLE_RNN:
    case KL_LSTM:
    case KL_GRU:
    case KL_BIDI: {
        if (*nd != 2 || last < 1)
            return kerr(c, CG_ERR_SHAPE, "layers[%d] (%s, %s): the input has %d dims (%s features); a recurrent layer "
                                         "takes [batch, steps, features]",
                        idx, l->name, CLASS[l->kind], *nd + 1, last < 1 ? "unknown" : "known"),
                   false;
        int64_t h = l->kind == KL_BIDI && l->merge == 0 ? 2 * l->units : l->units;
        if (l->return_sequences) shape[1] = h;
        else shape[0] = h, *nd = 1;
        return true;
    }
    case KL_DENSE:
        if (*nd < 1 || last < 1)
            return kerr(c, CG_ERR_SHAPE, "layers[%d] (%s, Dense): the input's last size is unknown", idx, l->name), false;
        shape[*nd - 1] = l->units;
        return true;
    case KL_FLATTEN: {
        int64_t p = 1;
        for (int i = 0; i < *nd; i++) {
            if (shape[i] < 1)
                return kerr(c, CG_ERR_SHAPE, "layers[%d] (%s, Flatten): the input's sizes are not all known", idx, l->name),
                       false;
            p *= shape[i];
        }
        shape[0] = p, *nd = 1;
        return true;
    }
    default: return true;
    }
}

static cg_module *make_rnn(kl_kind kind, int in, const klayer *l, const char *name) {
    cg_rnn_opts o = {.activation = l->act,
                     .recurrent_activation = l->ract,
                     .no_bias = !l->use_bias,
                     .return_sequences = l->return_sequences,
                     .go_backwards = l->go_backwards,
                     .dropout = l->dropout,
                     .recurrent_dropout = l->recurrent_dropout,
                     .no_unit_forget_bias = !l->unit_forget_bias,
                     .reset_before = kind == KL_GRU && !l->reset_after,
                     .name = name};
    switch (kind) {
    case KL_SIMPLE_RNN: return cg_simple_rnn_new(in, (int)l->units, &o);
    case KL_LSTM: return cg_lstm_new(in, (int)l->units, &o);
    default: return cg_gru_new(in, (int)l->units, &o);
    }
}

static bool attach(cg_module *m, const klayer *l) {
    m->keras = malloc(sizeof *l);
    if (!m->keras) return false;
    *m->keras = *l;
    return true;
}

/* The number of weights layer l has on an input of `in` features. */
static double layer_weights(const klayer *l, int64_t in) {
    kl_kind k = l->kind == KL_BIDI ? l->inner : l->kind;
    double u = (double)l->units, g = k == KL_LSTM ? 4 : k == KL_GRU ? 3 : 1;
    double bias = !l->use_bias ? 0 : k == KL_GRU && l->reset_after ? 2 * g * u : g * u;
    switch (l->kind) {
    case KL_EMBEDDING: return (double)l->vocab * u;
    case KL_DENSE: return (double)in * u + (l->use_bias ? u : 0);
    case KL_SIMPLE_RNN:
    case KL_LSTM:
    case KL_GRU: return (double)in * g * u + u * g * u + bias;
    case KL_BIDI: return 2 * ((double)in * g * u + u * g * u + bias);
    default: return 0;
    }
}

/* Build the model; NULL with an error (nothing left over). A configuration
 * whose weights would take more than max_bytes is refused before anything
 * is allocated (a file cannot hold more weights than its size allows). */
static cg_module *build(const kctx *c, const kmodel *km, double max_bytes) {
    {
        int64_t shape[CG_MAX_DIMS];
        int nd = km->model.ndim;
        memcpy(shape, km->model.shape, sizeof shape);
        double total = 0;
        for (int i = 0; i < km->n; i++) {
            const klayer *l = &km->layers[i];
            total += layer_weights(l, nd ? shape[nd - 1] : 0);
            if (total * 4 > max_bytes)
                return kerr(c, CG_ERR_PARSE, "layers[%d] (%s, %s): the configuration asks for %.0f weights up to here, "
                                             "more than %.0f bytes can hold",
                            i, l->name, CLASS[l->kind], total, max_bytes),
                       NULL;
            if (!next_shape(c, l, i, shape, &nd)) return NULL;
        }
    }
    cg_module *model = cg_sequential_new(km->model.name);
    if (!model || !attach(model, &km->model)) {
        cg_module_free(model);
        return kerr(c, CG_ERR_NOMEM, "out of memory"), NULL;
    }
    int64_t shape[CG_MAX_DIMS];
    int nd = km->model.ndim;
    memcpy(shape, km->model.shape, sizeof shape);
    for (int i = 0; i < km->n; i++) {
        const klayer *l = &km->layers[i];
        int64_t last = nd ? shape[nd - 1] : -1;
        if (!next_shape(c, l, i, shape, &nd)) {
            cg_module_free(model);
            return NULL;
        }
        cg_module *m = NULL;
        switch (l->kind) {
        case KL_EMBEDDING: {
            cg_embedding_opts o = {.mask_zero = l->mask_zero, .name = l->name};
            m = cg_embedding_new_ex((int)l->vocab, (int)l->units, &o);
            break;
        }
        case KL_SIMPLE_RNN:
        case KL_LSTM:
        case KL_GRU: m = make_rnn(l->kind, (int)last, l, l->name); break;
        case KL_BIDI:
            m = cg_bidirectional_new_ex(make_rnn(l->inner, (int)last, l, l->inner_name), (cg_merge_mode)l->merge, l->name);
            break;
        case KL_DENSE: {
            cg_dense_opts o = {.activation = l->act, .no_bias = !l->use_bias, .name = l->name};
            m = cg_dense_new_ex((int)last, (int)l->units, &o);
            break;
        }
        case KL_DROPOUT: m = cg_dropout_new(l->rate, NULL, l->name); break;
        case KL_ACTIVATION: m = cg_activation_new(l->act, l->name); break;
        case KL_FLATTEN: m = cg_flatten_new(l->name); break;
        default: break;
        }
        if (m && !attach(m, l)) {
            cg_module_free(m);
            m = NULL;
            cg_set_error(CG_ERR_NOMEM, "out of memory");
        }
        if (!m || !cg_sequential_add(model, m)) {
            char w[160];
            snprintf(w, sizeof w, "layers[%d] (%s, %s)", i, l->name, CLASS[l->kind]);
            cg_status st = cg_last_status();
            char msg[768];
            snprintf(msg, sizeof msg, "%s", cg_last_error());
            cg_module_free(model);
            kerr(c, st ? st : CG_ERR_VALUE, "%s: %s", w, msg);
            return NULL;
        }
        if (!l->trainable) cg_module_set_trainable(m, false);
    }
    return model;
}

/* -------------------------------------------------------------- weights */

/* A weight of the model and where it sits in the file. */
typedef struct kweight {
    cg_tensor *param;
    char path[700];
    char what[160]; /* "kernel of lstm" */
} kweight;

/* The parameters of layer m in Keras' order (kernel, recurrent_kernel,
 * bias; a Bidirectional's forward half, then its backward half). */
static int layer_params(const cg_module *m, cg_tensor **out, int max) { return cg_module_parameters(m, out, max); }

static const char *param_short(const cg_tensor *p) {
    const char *n = cg_name(p);
    const char *dot = n ? strrchr(n, '.') : NULL;
    return dot ? dot + 1 : n ? n : "?";
}

/* Paths of every weight in .keras' model.weights.h5; ls[i] describes the
 * model's layer i. */
static int keras3_paths(const cg_module *model, const klayer *ls, kweight *w, int max) {
    int nw = 0, used[KL_FLATTEN + 1] = {0};
    for (int i = 0; i < model->n_children; i++) {
        const cg_module *m = model->children[i];
        const klayer *l = &ls[i];
        char lp[128];
        int k = used[l->kind]++;
        if (k) snprintf(lp, sizeof lp, "layers/%s_%d", SNAKE[l->kind], k);
        else snprintf(lp, sizeof lp, "layers/%s", SNAKE[l->kind]);
        cg_tensor *ps[8];
        int np = layer_params(m, ps, 8);
        for (int j = 0; j < np && j < 8 && nw < max; j++, nw++) {
            w[nw].param = ps[j];
            if (l->kind == KL_BIDI)
                snprintf(w[nw].path, sizeof w[nw].path, "%s/%s_layer/cell/vars/%d", lp, j < np / 2 ? "forward" : "backward",
                         j % (np / 2));
            else if (is_rnn_kind(l->kind))
                snprintf(w[nw].path, sizeof w[nw].path, "%s/cell/vars/%d", lp, j);
            else
                snprintf(w[nw].path, sizeof w[nw].path, "%s/vars/%d", lp, j);
            snprintf(w[nw].what, sizeof w[nw].what, "%s of %s", param_short(ps[j]), l->kind == KL_BIDI ? cg_name(ps[j]) : l->name);
        }
    }
    return nw;
}

static int count_weights(const cg_module *model) { return cg_module_parameters(model, NULL, 0); }

/* Read every weight, check its shape, then copy all of them. */
static cg_status load_weights(const kctx *c, hid_t f, kweight *w, int nw) {
    cg_scope *s = cg_scope_begin();
    cg_tensor **vals = cg_scope_alloc(sizeof *vals * (size_t)(nw ? nw : 1), false);
    cg_status st = vals ? CG_OK : kerr(c, CG_ERR_NOMEM, "out of memory");
    for (int i = 0; st == CG_OK && i < nw; i++) {
        char lab[512];
        snprintf(lab, sizeof lab, "%s%s%s", c->label, c->member ? ": " : "", c->member ? c->member : "");
        vals[i] = kh5_read_float(lab, f, w[i].path);
        if (!vals[i]) {
            if (cg_last_status() == CG_ERR_PARSE && !kh5_exists(f, w[i].path))
                st = kerr(c, CG_ERR_PARSE, "%s: missing (the %s)", w[i].path, w[i].what);
            else
                st = kwrap(c);
            break;
        }
        const cg_tensor *p = w[i].param;
        bool same = vals[i]->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = vals[i]->shape[d] == p->shape[d];
        if (!same) {
            char a[64];
            snprintf(a, sizeof a, "%s", cg_shape_str(vals[i]));
            st = kerr(c, CG_ERR_SHAPE, "%s: shape %s in the file, but the configuration gives the %s shape %s", w[i].path, a,
                      w[i].what, cg_shape_str(p));
        } else if (cg_k_has_nonfinite(vals[i])) {
            st = kerr(c, CG_ERR_PARSE, "%s: the %s holds NaN or infinite values", w[i].path, w[i].what);
        }
    }
    for (int i = 0; st == CG_OK && i < nw; i++)
        if (!cg_k_copy_(w[i].param, vals[i])) st = kwrap(c);
    cg_scope_end(s);
    return st;
}

/* The legacy .h5 layout: model_weights/<layer>/<weight name>, layers with
 * weights matched in order (as Keras does). */
static int legacy_paths(const kctx *c, hid_t f, const cg_module *model, kweight *w, int max, cg_status *st) {
    int nl = 0, nw = 0;
    char **names = kh5_attr_strs(c->label, f, "model_weights", "layer_names", &nl);
    if (!names) {
        *st = kerr(c, CG_ERR_PARSE, "model_weights: no attribute layer_names (a weights-only or non-Keras file?)");
        return 0;
    }
    int li = 0; /* the next layer of the file that has weights */
    for (int i = 0; *st == CG_OK && i < model->n_children; i++) {
        const cg_module *m = model->children[i];
        cg_tensor *ps[8];
        int np = layer_params(m, ps, 8);
        if (np == 0) continue;
        char **wn = NULL;
        int nwn = 0;
        char gpath[320];
        while (li < nl) {
            snprintf(gpath, sizeof gpath, "model_weights/%s", names[li]);
            free(wn);
            wn = kh5_attr_strs(c->label, f, gpath, "weight_names", &nwn);
            li++;
            if (!wn) {
                *st = kerr(c, CG_ERR_PARSE, "%s: no attribute weight_names", gpath);
                break;
            }
            if (nwn > 0) break;
        }
        if (*st != CG_OK) break;
        if (!wn || nwn == 0) {
            *st = kerr(c, CG_ERR_PARSE, "model_weights: no weights for layer %s (the file has fewer layers with weights "
                                        "than the configuration)",
                       m->name);
            free(wn);
            break;
        }
        if (nwn != np) {
            *st = kerr(c, CG_ERR_SHAPE, "%s: %d weights in the file, but layer %s (%s) has %d", gpath, nwn, m->name,
                       m->type->name, np);
            free(wn);
            break;
        }
        for (int j = 0; j < np && nw < max; j++, nw++) {
            w[nw].param = ps[j];
            snprintf(w[nw].path, sizeof w[nw].path, "%s/%s", gpath, wn[j]);
            snprintf(w[nw].what, sizeof w[nw].what, "%s of %s", param_short(ps[j]), m->name);
        }
        free(wn);
    }
    free(names);
    return nw;
}

/* ------------------------------------------------------------ optimizer */

static void extra_reset(cg_keras_extra *e) {
    memset(e, 0, sizeof *e);
    e->learning_rate = e->beta_1 = e->beta_2 = e->epsilon = NAN;
}

void cg_keras_extra_free(cg_keras_extra *e) {
    if (!e) return;
    cg_arena_free(e->arena);
    free(e->compile_config);
    extra_reset(e);
}

/* compile()'s optimizer and loss into e (legacy: training_config's keys). */
static void read_compile(const cJSON *cc, bool legacy, cg_keras_extra *e) {
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(cc, legacy ? "optimizer_config" : "optimizer");
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(opt, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(opt, "config");
    if (cJSON_IsString(opt)) snprintf(e->optimizer, sizeof e->optimizer, "%s", opt->valuestring);
    if (cJSON_IsString(cls)) snprintf(e->optimizer, sizeof e->optimizer, "%s", cls->valuestring);
    const struct {
        const char *key;
        double *dst;
    } nums[] = {{"learning_rate", &e->learning_rate}, {"beta_1", &e->beta_1}, {"beta_2", &e->beta_2}, {"epsilon", &e->epsilon}};
    for (size_t i = 0; cJSON_IsObject(cfg) && i < sizeof nums / sizeof nums[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, nums[i].key);
        if (cJSON_IsNumber(v)) *nums[i].dst = v->valuedouble;
    }
    e->amsgrad = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "amsgrad"));
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(cc, "loss");
    if (cJSON_IsString(loss)) snprintf(e->loss, sizeof e->loss, "%s", loss->valuestring);
}

/* Adam's state: iterations, then m and v of each trained parameter. */
static cg_status load_adam(const kctx *c, hid_t f, const cg_module *model, bool legacy, cg_keras_extra *e) {
    int n = count_weights(model);
    cg_tensor **ps = calloc((size_t)n + 1, sizeof *ps);
    if (!ps) return kerr(c, CG_ERR_NOMEM, "out of memory");
    cg_module_parameters(model, ps, n);
    int nt = 0;
    for (int i = 0; i < n; i++) nt += cg_requires_grad(ps[i]);
    char **names = NULL;
    int nn = 0;
    const char *base = legacy ? "optimizer_weights" : "optimizer/vars";
    cg_status st = CG_OK;
    char path[400];
    if (legacy) {
        if (!kh5_exists(f, base)) goto none;
        names = kh5_attr_strs(c->label, f, base, "weight_names", &nn);
        if (!names) goto none;
        /* Keras 3's layout: iteration, learning_rate, then m, v per variable */
        size_t l0 = nn > 0 ? strlen(names[0]) : 0;
        if (nn != 2 + 2 * nt || l0 < 9 || strcmp(names[0] + l0 - 9, "iteration") != 0) goto none;
    } else {
        snprintf(path, sizeof path, "%s/%d", base, 1 + 2 * nt);
        if (!kh5_exists(f, path)) goto none; /* not built: no state */
        snprintf(path, sizeof path, "%s/%d", base, 2 + 2 * nt);
        if (kh5_exists(f, path))
            st = kerr(c, CG_ERR_SHAPE, "%s: the optimizer holds more variables than Adam has for the model's %d trained "
                                       "weights",
                      base, nt);
    }
    if (st == CG_OK && strcmp(e->optimizer, "Adam") != 0) goto none; /* another optimizer: its state is not read */
    e->arena = e->arena ? e->arena : cg_arena_new();
    e->m = e->arena ? cg_arena_alloc(e->arena, sizeof(cg_tensor *) * (size_t)(n + 1), true) : NULL;
    e->v = e->arena ? cg_arena_alloc(e->arena, sizeof(cg_tensor *) * (size_t)(n + 1), true) : NULL;
    if (st == CG_OK && (!e->m || !e->v)) st = kerr(c, CG_ERR_NOMEM, "out of memory");
    char lab[512];
    snprintf(lab, sizeof lab, "%s%s%s", c->label, c->member ? ": " : "", c->member ? c->member : "");
#define OPT_PATH(k) (legacy ? snprintf(path, sizeof path, "%s/%s", base, names[k]) : snprintf(path, sizeof path, "%s/%d", base, k))
    if (st == CG_OK) {
        OPT_PATH(0);
        if (!kh5_read_int(lab, f, path, &e->iterations)) st = kwrap(c);
        else if (e->iterations < 0) st = kerr(c, CG_ERR_PARSE, "%s: %lld iterations", path, (long long)e->iterations);
    }
    if (st == CG_OK) cg_scope_enter(e->arena);
    for (int i = 0, k = 2; st == CG_OK && i < n; i++) {
        if (!cg_requires_grad(ps[i])) continue;
        for (int s = 0; s < 2 && st == CG_OK; s++, k++) {
            OPT_PATH(k);
            cg_tensor *t = kh5_read_float(lab, f, path);
            if (!t) {
                st = kwrap(c);
                break;
            }
            bool same = t->ndim == ps[i]->ndim;
            for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == ps[i]->shape[d];
            if (!same) {
                char a[64];
                snprintf(a, sizeof a, "%s", cg_shape_str(t));
                st = kerr(c, CG_ERR_SHAPE, "%s: Adam's %s of %s has shape %s, the weight %s", path,
                          s ? "velocity" : "momentum", cg_name(ps[i]), a, cg_shape_str(ps[i]));
            } else if (cg_k_has_nonfinite(t)) {
                st = kerr(c, CG_ERR_PARSE, "%s: NaN or infinite values in Adam's state", path);
            }
            (s ? e->v : e->m)[i] = t;
        }
    }
#undef OPT_PATH
    if (e->arena) cg_scope_leave(e->arena);
    if (st == CG_OK) e->n_params = n;
none:
    free(names);
    free(ps);
    if (st == CG_OK) cg_clear_error();
    return st;
}

/* --------------------------------------------------------------- loading */

static const char *const FN_LOAD = "cg_keras_load";

static bool is_hdf5(const unsigned char *p, size_t n) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (size_t off = 0; off + 8 <= n && off <= 4096; off = off ? off * 2 : 512)
        if (memcmp(p + off, sig, 8) == 0) return true;
    return false;
}

/* Parse JSON text, naming the member on failure. */
static cJSON *parse_json(const kctx *c, const char *text) {
    cJSON *j = cJSON_Parse(text);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        kerr(c, CG_ERR_PARSE, "malformed JSON near byte %ld", at && at >= text ? (long)(at - text) : -1L);
    }
    return j;
}

static cg_module *load_from(const kctx *c0, const unsigned char *data, size_t size, cg_keras_extra *e) {
    kctx c = *c0;
    cg_module *model = NULL;
    cJSON *root = NULL, *train_cfg = NULL;
    kmodel km = {0};
    hid_t f = -1;
    kweight *w = NULL;
    kzip_member zm[3] = {{"config.json", {0}}, {"model.weights.h5", {0}}, {"metadata.json", {0}}};
    bool legacy = false;
    cg_status st = CG_OK;
    if (size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) {
        if (kzip_read(c.label, data, size, zm, 3) != CG_OK) {
            st = kwrap(&c);
            goto out;
        }
        if (!zm[0].data.p) {
            st = kerr(&c, CG_ERR_PARSE, "the archive has no config.json (not a .keras file?)");
            goto out;
        }
        if (!zm[1].data.p) {
            st = kerr(&c, CG_ERR_PARSE, "the archive has no model.weights.h5");
            goto out;
        }
        c.member = "metadata.json";
        cJSON *meta = zm[2].data.p ? cJSON_Parse((const char *)zm[2].data.p) : NULL;
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(meta, "keras_version");
        if (cJSON_IsString(kv)) snprintf(e->keras_version, sizeof e->keras_version, "%s", kv->valuestring);
        cJSON_Delete(meta);
        c.member = "config.json";
        if (!(root = parse_json(&c, (const char *)zm[0].data.p))) goto fail;
        c.member = "model.weights.h5";
        char lab[512];
        snprintf(lab, sizeof lab, "%s: %s", c.label, c.member);
        if ((f = kh5_open_image(lab, zm[1].data.p, zm[1].data.len)) < 0) {
            st = kwrap(&c);
            goto out;
        }
        kbuf_free(&zm[1].data);
    } else if (is_hdf5(data, size)) {
        legacy = true;
        if ((f = kh5_open_image(c.label, data, size)) < 0) {
            st = kwrap(&c);
            goto out;
        }
        char *mc = kh5_attr_str(c.label, f, ".", "model_config");
        if (!mc) {
            st = kerr(&c, CG_ERR_PARSE, "no attribute model_config (a weights-only file, or not Keras')");
            goto out;
        }
        c.member = "model_config";
        root = parse_json(&c, mc);
        free(mc);
        if (!root) goto fail;
        char *kv = kh5_attr_str(c.label, f, ".", "keras_version");
        if (kv) snprintf(e->keras_version, sizeof e->keras_version, "%s", kv);
        free(kv);
        char *tc = kh5_attr_str(c.label, f, ".", "training_config");
        if (tc) train_cfg = cJSON_Parse(tc);
        free(tc);
        cg_clear_error();
    } else {
        st = kerr(&c, CG_ERR_PARSE, "neither a .keras file (zip) nor a legacy .h5 file (HDF5)");
        goto out;
    }
    c.member = legacy ? "model_config" : "config.json";
    if (!parse_model(&c, root, &km)) goto fail;
    /* the weights are in the file: it must be big enough to hold them
     * (Keras stores them uncompressed; 64 times leaves room for filters) */
    if (!(model = build(&c, &km, 64.0 * (double)size + 65536))) goto fail;
    /* weights */
    int nw = count_weights(model);
    w = calloc((size_t)nw + 1, sizeof *w);
    if (!w) {
        st = kerr(&c, CG_ERR_NOMEM, "out of memory");
        goto out;
    }
    c.member = legacy ? NULL : "model.weights.h5";
    int got = legacy ? legacy_paths(&c, f, model, w, nw, &st) : keras3_paths(model, km.layers, w, nw);
    if (st != CG_OK) goto out;
    if (got != nw) {
        st = kerr(&c, CG_ERR_PARSE, "the file has weights for %d of the model's %d parameters", got, nw);
        goto out;
    }
    if ((st = load_weights(&c, f, w, nw)) != CG_OK) goto out;
    /* compile() and the optimizer */
    const cJSON *cc = legacy ? train_cfg : cJSON_GetObjectItemCaseSensitive(root, "compile_config");
    if (cJSON_IsObject(cc)) {
        read_compile(cc, legacy, e);
        cJSON *copy = cJSON_Duplicate(cc, true);
        if (copy && legacy) { /* keep it in config.json's form */
            cJSON *oc = cJSON_DetachItemFromObjectCaseSensitive(copy, "optimizer_config");
            if (oc) cJSON_AddItemToObject(copy, "optimizer", oc);
        }
        e->compile_config = copy ? cJSON_PrintUnformatted(copy) : NULL;
        cJSON_Delete(copy);
    }
    e->input_ndim = km.model.ndim;
    memcpy(e->input_shape, km.model.shape, sizeof e->input_shape);
    e->int_input = km.model.int_input;
    if ((st = load_adam(&c, f, model, legacy, e)) != CG_OK) goto out;
    goto out;
fail:
    st = cg_last_status() ? cg_last_status() : CG_ERR_PARSE;
out:
    if (f >= 0) H5Fclose(f);
    for (int i = 0; i < 3; i++) kbuf_free(&zm[i].data);
    cJSON_Delete(root);
    cJSON_Delete(train_cfg);
    kmodel_free(&km);
    free(w);
    if (st != CG_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cg_last_error());
        cg_module_free(model);
        cg_keras_extra_free(e);
        cg_set_error(st, "%s", msg);
        return NULL;
    }
    return model;
}

cg_module *cg_keras_load_memory(const void *data, size_t size, const char *label, cg_keras_extra *extra) {
    cg_keras_extra scratch;
    cg_keras_extra *e = extra ? extra : &scratch;
    extra_reset(e);
    if (!data || !label) {
        cg_set_error(CG_ERR_NULL, "%s: data or label is NULL", FN_LOAD);
        return NULL;
    }
    kctx c = {FN_LOAD, label, NULL};
    kh5_quiet q = kh5_quiet_begin();
    cg_module *m = load_from(&c, data, size, e);
    kh5_quiet_end(q);
    if (!extra) cg_keras_extra_free(&scratch);
    return m;
}

cg_module *cg_keras_load(const char *path, cg_keras_extra *extra) {
    if (extra) extra_reset(extra);
    if (!path) {
        cg_set_error(CG_ERR_NULL, "%s: path is NULL", FN_LOAD);
        return NULL;
    }
    kbuf b = {0};
    if (kbuf_read_file(&b, path, FILE_LIMIT) != CG_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cg_last_error());
        cg_set_error(cg_last_status(), "%s: %s", FN_LOAD, msg);
        return NULL;
    }
    cg_module *m = cg_keras_load_memory(b.p, b.len, path, extra);
    kbuf_free(&b);
    return m;
}

cg_module *cg_keras_from_config(const char *json, const char *label) {
    kctx c = {"cg_keras_from_config", label ? label : "config", NULL};
    if (!json) {
        cg_set_error(CG_ERR_NULL, "cg_keras_from_config: json is NULL");
        return NULL;
    }
    cJSON *root = parse_json(&c, json);
    kmodel km;
    cg_module *m = root && parse_model(&c, root, &km) ? build(&c, &km, CONFIG_LIMIT) : NULL;
    if (root && km.layers) kmodel_free(&km);
    cJSON_Delete(root);
    return m;
}

/* ---------------------------------------------------------------- saving */

static const char *const FN_SAVE = "cg_keras_save";

/* What the writer knows of a layer: its record, or what a layer made in C
 * holds. False with an error for a layer it cannot describe. */
static bool describe(const kctx *c, const cg_module *m, int idx, klayer *l) {
    const char *type = m->type ? m->type->name : "?";
    if (m->keras) {
        *l = *m->keras;
        snprintf(l->name, sizeof l->name, "%s", m->name);
        cg_tensor *ps[8];
        int np = layer_params(m, ps, 8);
        l->trainable = np == 0 || cg_requires_grad(ps[0]);
        return true;
    }
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", m->name);
    l->trainable = true;
    int in = 0, units = 0, vocab = 0;
    bool ok = false;
    if (cg__dense_info(m, &in, &units, &l->act, &l->use_bias)) l->kind = KL_DENSE, l->units = units, ok = true;
    else if (cg__embedding_info(m, &vocab, &units, &l->mask_zero)) l->kind = KL_EMBEDDING, l->vocab = vocab, l->units = units, ok = true;
    else if (cg__dropout_info(m, &l->rate)) l->kind = KL_DROPOUT, ok = true;
    else if (cg__activation_info(m, &l->act)) l->kind = KL_ACTIVATION, ok = true;
    else if (strcmp(type, "Flatten") == 0) l->kind = KL_FLATTEN, ok = true;
    if (!ok) {
        cg_merge_mode merge;
        const cg_module *r = cg__bidi_info(m, &merge) && m->n_children == 2 ? m->children[0] : m;
        int kind, rin, runits;
        cg_rnn_opts o;
        if (cg__rnn_info(r, &kind, &rin, &runits, &o)) {
            if (kind < 0) {
                kerr(c, CG_ERR_VALUE, "layer %d (%s, %s): a cell of the user's (%s) has no Keras counterpart", idx, m->name,
                     type, r->type->name);
                return false;
            }
            if (o.two_biases) {
                kerr(c, CG_ERR_VALUE, "layer %d (%s, %s): two_biases (PyTorch's layout) has no Keras counterpart: "
                                      "Keras' recurrent layers have one bias",
                     idx, m->name, type);
                return false;
            }
            static const kl_kind KINDS[] = {KL_SIMPLE_RNN, KL_LSTM, KL_GRU};
            l->units = runits, l->in = rin;
            l->act = o.activation, l->ract = o.recurrent_activation;
            l->use_bias = !o.no_bias, l->unit_forget_bias = !o.no_unit_forget_bias, l->reset_after = !o.reset_before;
            l->return_sequences = o.return_sequences, l->go_backwards = o.go_backwards;
            l->dropout = o.dropout, l->recurrent_dropout = o.recurrent_dropout;
            l->zero_output_for_mask = true; /* cgrad's masked steps give zeros */
            if (r == m) {
                l->kind = KINDS[kind];
            } else { /* the forward half is "forward_<name>" */
                l->kind = KL_BIDI, l->inner = KINDS[kind], l->merge = (int)merge;
                const char *n = r->name;
                snprintf(l->inner_name, sizeof l->inner_name, "%s", strncmp(n, "forward_", 8) ? n : n + 8);
            }
            ok = true;
        }
    }
    if (!ok) {
        kerr(c, CG_ERR_VALUE, "layer %d (%s, %s): no Keras counterpart", idx, m->name, type);
        return false;
    }
    cg_tensor *ps[8];
    int np = layer_params(m, ps, 8);
    l->trainable = np == 0 || cg_requires_grad(ps[0]);
    return true;
}

static cJSON *policy_json(bool legacy) {
    (void)legacy;
    cJSON *p = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "module", "keras");
    cJSON_AddStringToObject(p, "class_name", "DTypePolicy");
    cJSON_AddStringToObject(cfg, "name", "float32");
    cJSON_AddItemToObject(p, "config", cfg);
    cJSON_AddNullToObject(p, "registered_name");
    return p;
}

static cJSON *init_json(const char *cls, bool legacy) {
    cJSON *p = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    if (!legacy) cJSON_AddStringToObject(p, "module", "keras.initializers");
    cJSON_AddStringToObject(p, "class_name", cls);
    if (strcmp(cls, "Zeros") != 0) cJSON_AddNullToObject(cfg, "seed");
    if (strcmp(cls, "Orthogonal") == 0) cJSON_AddNumberToObject(cfg, "gain", 1.0);
    if (strcmp(cls, "RandomUniform") == 0) {
        cJSON_AddNumberToObject(cfg, "minval", -0.05);
        cJSON_AddNumberToObject(cfg, "maxval", 0.05);
    }
    cJSON_AddItemToObject(p, "config", cfg);
    if (!legacy) cJSON_AddNullToObject(p, "registered_name");
    return p;
}

static cJSON *shape_json(const int64_t *shape, int nd) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNull());
    for (int i = 0; i < nd; i++) cJSON_AddItemToArray(a, shape[i] < 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)shape[i]));
    return a;
}

/* {"module", "class_name", "config", "registered_name", "build_config"} */
static cJSON *wrap_layer(const char *cls, cJSON *cfg, const int64_t *in_shape, int nd, bool legacy) {
    cJSON *j = cJSON_CreateObject();
    if (!legacy) cJSON_AddStringToObject(j, "module", "keras.layers");
    cJSON_AddStringToObject(j, "class_name", cls);
    cJSON_AddItemToObject(j, "config", cfg);
    if (!legacy) cJSON_AddNullToObject(j, "registered_name");
    if (in_shape) {
        cJSON *bc = cJSON_CreateObject();
        cJSON_AddItemToObject(bc, "input_shape", shape_json(in_shape, nd));
        cJSON_AddItemToObject(j, "build_config", bc);
    }
    return j;
}

static cJSON *base_cfg(const char *name, bool trainable, bool legacy) {
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "name", name);
    cJSON_AddBoolToObject(cfg, "trainable", trainable);
    cJSON_AddItemToObject(cfg, "dtype", policy_json(legacy));
    return cfg;
}

static cJSON *rnn_json(kl_kind kind, const klayer *l, const char *name, bool backwards, bool zero_out, const int64_t *in,
                       int nd, bool legacy) {
    cJSON *cfg = base_cfg(name, l->trainable, legacy);
    cJSON_AddBoolToObject(cfg, "return_sequences", l->return_sequences);
    cJSON_AddBoolToObject(cfg, "return_state", false);
    cJSON_AddBoolToObject(cfg, "go_backwards", backwards);
    cJSON_AddBoolToObject(cfg, "stateful", false);
    cJSON_AddBoolToObject(cfg, "unroll", false);
    cJSON_AddBoolToObject(cfg, "zero_output_for_mask", zero_out);
    cJSON_AddNumberToObject(cfg, "units", (double)l->units);
    cJSON_AddStringToObject(cfg, "activation", act_name(l->act));
    if (kind != KL_SIMPLE_RNN) cJSON_AddStringToObject(cfg, "recurrent_activation", act_name(l->ract));
    cJSON_AddBoolToObject(cfg, "use_bias", l->use_bias);
    cJSON_AddItemToObject(cfg, "kernel_initializer", init_json("GlorotUniform", legacy));
    cJSON_AddItemToObject(cfg, "recurrent_initializer", init_json("Orthogonal", legacy));
    cJSON_AddItemToObject(cfg, "bias_initializer", init_json("Zeros", legacy));
    if (kind == KL_LSTM) cJSON_AddBoolToObject(cfg, "unit_forget_bias", l->unit_forget_bias);
    cJSON_AddNumberToObject(cfg, "dropout", l->dropout);
    cJSON_AddNumberToObject(cfg, "recurrent_dropout", l->recurrent_dropout);
    if (kind == KL_GRU) cJSON_AddBoolToObject(cfg, "reset_after", l->reset_after);
    cJSON_AddNullToObject(cfg, "seed");
    return wrap_layer(CLASS[kind], cfg, in, nd, legacy);
}

static cJSON *layer_json(const klayer *l, const int64_t *in, int nd, bool legacy) {
    cJSON *cfg;
    switch (l->kind) {
    case KL_SIMPLE_RNN:
    case KL_LSTM:
    case KL_GRU: return rnn_json(l->kind, l, l->name, l->go_backwards, l->zero_output_for_mask, in, nd, legacy);
    case KL_BIDI: {
        char fn[80], bn[80];
        snprintf(fn, sizeof fn, "forward_%s", l->inner_name);
        snprintf(bn, sizeof bn, "backward_%s", l->inner_name);
        cfg = base_cfg(l->name, l->trainable, legacy);
        cJSON_AddStringToObject(cfg, "merge_mode", MERGE[l->merge]);
        /* the wrapped layers are in Keras 3's form in legacy files too (Keras
         * deserializes them with its new serializer) */
        cJSON_AddItemToObject(cfg, "layer", rnn_json(l->inner, l, fn, l->go_backwards, true, in, nd, false));
        cJSON_AddItemToObject(cfg, "backward_layer", rnn_json(l->inner, l, bn, !l->go_backwards, true, in, nd, false));
        break;
    }
    case KL_EMBEDDING:
        cfg = base_cfg(l->name, l->trainable, legacy);
        cJSON_AddNumberToObject(cfg, "input_dim", (double)l->vocab);
        cJSON_AddNumberToObject(cfg, "output_dim", (double)l->units);
        cJSON_AddItemToObject(cfg, "embeddings_initializer", init_json("RandomUniform", legacy));
        cJSON_AddBoolToObject(cfg, "mask_zero", l->mask_zero);
        break;
    case KL_DENSE:
        cfg = base_cfg(l->name, l->trainable, legacy);
        cJSON_AddNumberToObject(cfg, "units", (double)l->units);
        cJSON_AddStringToObject(cfg, "activation", act_name(l->act));
        cJSON_AddBoolToObject(cfg, "use_bias", l->use_bias);
        cJSON_AddItemToObject(cfg, "kernel_initializer", init_json("GlorotUniform", legacy));
        cJSON_AddItemToObject(cfg, "bias_initializer", init_json("Zeros", legacy));
        break;
    case KL_DROPOUT:
        cfg = base_cfg(l->name, l->trainable, legacy);
        cJSON_AddNumberToObject(cfg, "rate", l->rate);
        cJSON_AddNullToObject(cfg, "seed");
        break;
    case KL_ACTIVATION:
        cfg = base_cfg(l->name, l->trainable, legacy);
        cJSON_AddStringToObject(cfg, "activation", act_name(l->act));
        break;
    case KL_FLATTEN:
        cfg = base_cfg(l->name, l->trainable, legacy);
        cJSON_AddStringToObject(cfg, "data_format", "channels_last");
        break;
    default: return NULL;
    }
    return wrap_layer(CLASS[l->kind], cfg, in, nd, legacy);
}

/* The model's layers described, with their input shapes. */
typedef struct kdesc {
    klayer model;
    klayer *layers;
    int64_t (*in_shape)[CG_MAX_DIMS];
    int *in_nd;
    int n;
} kdesc;

static void kdesc_free(kdesc *d) {
    free(d->layers);
    free(d->in_shape);
    free(d->in_nd);
}

static bool describe_model(const kctx *c, const cg_module *model, const cg_keras_extra *e, kdesc *d) {
    memset(d, 0, sizeof *d);
    if (!model->type || strcmp(model->type->name, "Sequential") != 0)
        return kerr(c, CG_ERR_VALUE, "the model is a %s; Keras files hold Sequential models here",
                    model->type ? model->type->name : "?"),
               false;
    int n = model->n_children;
    if (n == 0) return kerr(c, CG_ERR_VALUE, "the model has no layers"), false;
    d->layers = calloc((size_t)n, sizeof *d->layers);
    d->in_shape = calloc((size_t)n, sizeof *d->in_shape);
    d->in_nd = calloc((size_t)n, sizeof *d->in_nd);
    if (!d->layers || !d->in_shape || !d->in_nd) return kdesc_free(d), kerr(c, CG_ERR_NOMEM, "out of memory"), false;
    d->n = n;
    for (int i = 0; i < n; i++)
        if (!describe(c, model->children[i], i, &d->layers[i])) return kdesc_free(d), false;
    /* the input shape: the model's record, the extra, or the first layer's */
    if (model->keras && model->keras->ndim) d->model = *model->keras;
    else {
        memset(&d->model, 0, sizeof d->model);
        if (e && e->input_ndim > 0 && e->input_ndim < CG_MAX_DIMS) {
            d->model.ndim = e->input_ndim;
            memcpy(d->model.shape, e->input_shape, sizeof d->model.shape);
            d->model.int_input = e->int_input;
        } else {
            const cg_module *m0 = model->children[0];
            cg_tensor *p0 = m0->n_params ? m0->params[0] : m0->n_children && m0->children[0]->n_params ? m0->children[0]->params[0] : NULL;
            const klayer *l0 = &d->layers[0];
            d->model.int_input = l0->kind == KL_EMBEDDING;
            if (l0->kind == KL_EMBEDDING) d->model.ndim = 1, d->model.shape[0] = -1;
            else if (p0 && (is_rnn_kind(l0->kind) || l0->kind == KL_BIDI)) d->model.ndim = 2, d->model.shape[0] = -1, d->model.shape[1] = p0->shape[0];
            else if (p0 && l0->kind == KL_DENSE) d->model.ndim = 1, d->model.shape[0] = p0->shape[0];
            else return kdesc_free(d), kerr(c, CG_ERR_VALUE, "the model's input shape is unknown (pass it in the extra)"), false;
        }
        d->model.kind = KL_MODEL;
        snprintf(d->model.input_name, sizeof d->model.input_name, "input_layer");
    }
    snprintf(d->model.name, sizeof d->model.name, "%s", model->name);
    int64_t shape[CG_MAX_DIMS];
    int nd = d->model.ndim;
    memcpy(shape, d->model.shape, sizeof shape);
    for (int i = 0; i < n; i++) {
        memcpy(d->in_shape[i], shape, sizeof shape);
        d->in_nd[i] = nd;
        if (!next_shape(c, &d->layers[i], i, shape, &nd)) return kdesc_free(d), false;
        /* the layer's weights must agree with what is written */
        const cg_module *m = model->children[i];
        const klayer *l = &d->layers[i];
        cg_tensor *ps[8];
        int np = layer_params(m, ps, 8);
        int64_t last = d->in_nd[i] ? d->in_shape[i][d->in_nd[i] - 1] : -1;
        bool ok = true;
        if (is_rnn_kind(l->kind) || l->kind == KL_BIDI) {
            int g = (l->kind == KL_BIDI ? l->inner : l->kind) == KL_LSTM ? 4 : (l->kind == KL_BIDI ? l->inner : l->kind) == KL_GRU ? 3 : 1;
            int want = (l->use_bias ? 3 : 2) * (l->kind == KL_BIDI ? 2 : 1);
            ok = np == want && ps[0]->ndim == 2 && ps[0]->shape[0] == last && ps[0]->shape[1] == g * l->units;
        } else if (l->kind == KL_DENSE) {
            ok = np == (l->use_bias ? 2 : 1) && ps[0]->shape[0] == last;
        } else if (l->kind == KL_EMBEDDING) {
            ok = np == 1;
        }
        if (!ok)
            return kdesc_free(d),
                   kerr(c, CG_ERR_SHAPE, "layer %d (%s, %s): its weights do not fit its input of %lld features", i, m->name,
                        CLASS[l->kind], (long long)last),
                   false;
    }
    return true;
}

static cJSON *model_json(const kdesc *d, const cg_keras_extra *e, bool legacy) {
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *layers = cJSON_CreateArray();
    if (!legacy) cJSON_AddStringToObject(root, "module", "keras");
    cJSON_AddStringToObject(root, "class_name", "Sequential");
    cJSON_AddStringToObject(cfg, "name", d->model.name);
    cJSON_AddBoolToObject(cfg, "trainable", true);
    cJSON_AddItemToObject(cfg, "dtype", policy_json(legacy));
    cJSON *in = cJSON_CreateObject(), *icfg = cJSON_CreateObject();
    if (!legacy) cJSON_AddStringToObject(in, "module", "keras.layers");
    cJSON_AddStringToObject(in, "class_name", "InputLayer");
    cJSON_AddItemToObject(icfg, "batch_shape", shape_json(d->model.shape, d->model.ndim));
    cJSON_AddStringToObject(icfg, "dtype", d->model.int_input ? "int32" : "float32");
    cJSON_AddBoolToObject(icfg, "sparse", false);
    cJSON_AddBoolToObject(icfg, "ragged", false);
    cJSON_AddStringToObject(icfg, "name", d->model.input_name[0] ? d->model.input_name : "input_layer");
    cJSON_AddBoolToObject(icfg, "optional", false);
    cJSON_AddItemToObject(in, "config", icfg);
    if (!legacy) cJSON_AddNullToObject(in, "registered_name");
    cJSON_AddItemToArray(layers, in);
    for (int i = 0; i < d->n; i++) cJSON_AddItemToArray(layers, layer_json(&d->layers[i], d->in_shape[i], d->in_nd[i], legacy));
    cJSON_AddItemToObject(cfg, "layers", layers);
    cJSON_AddItemToObject(root, "config", cfg);
    if (!legacy) {
        cJSON_AddNullToObject(root, "registered_name");
        cJSON *bc = cJSON_CreateObject();
        cJSON_AddItemToObject(bc, "input_shape", shape_json(d->model.shape, d->model.ndim));
        cJSON_AddItemToObject(root, "build_config", bc);
        cJSON *cc = e && e->compile_config ? cJSON_Parse(e->compile_config) : NULL;
        if (cc) cJSON_AddItemToObject(root, "compile_config", cc);
    }
    return root;
}

/* training_config of a legacy file from the extra's compile(). */
static char *training_config(const cg_keras_extra *e) {
    cJSON *cc = e && e->compile_config ? cJSON_Parse(e->compile_config) : NULL;
    if (!cc) return NULL;
    cJSON *opt = cJSON_DetachItemFromObjectCaseSensitive(cc, "optimizer");
    if (opt) {
        cJSON_DeleteItemFromObjectCaseSensitive(opt, "module");
        cJSON_DeleteItemFromObjectCaseSensitive(opt, "registered_name");
        cJSON_AddItemToObject(cc, "optimizer_config", opt);
    }
    char *s = cJSON_PrintUnformatted(cc);
    cJSON_Delete(cc);
    return s;
}

/* Keras' variable path of a weight: "<model>/<layer>/<cell>/<name>". */
static void weight_path(const char *model, const klayer *l, const cg_tensor *p, int j, int np, char *out, size_t n) {
    const char *pn = param_short(p);
    if (l->kind == KL_BIDI) {
        kl_kind k = l->inner;
        snprintf(out, n, "%s/%s/%s_%s/%s_cell/%s", model, l->name, j < np / 2 ? "forward" : "backward", l->inner_name,
                 SNAKE[k], pn);
    } else if (is_rnn_kind(l->kind)) {
        snprintf(out, n, "%s/%s/%s_cell/%s", model, l->name, SNAKE[l->kind], pn);
    } else {
        snprintf(out, n, "%s/%s/%s", model, l->name, pn);
    }
}

/* Adam's variables: iterations, learning_rate, then m and v of each trained
 * parameter. False (nothing written) when e holds no state. */
static bool write_adam(const kctx *c, hid_t f, const char *lab, const cg_module *model, const kdesc *d,
                       const cg_keras_extra *e, bool legacy, cg_status *st) {
    int n = count_weights(model);
    if (!e || e->n_params == 0 || strcmp(e->optimizer, "Adam") != 0) return false;
    if (e->n_params != n) {
        *st = kerr(c, CG_ERR_SHAPE, "the extra holds Adam's state of %d parameters, the model has %d", e->n_params, n);
        return false;
    }
    cg_tensor **ps = calloc((size_t)n + 1, sizeof *ps);
    const char **names = calloc(2 * (size_t)n + 3, sizeof *names);
    char *pool = calloc(2 * (size_t)n + 3, 400);
    if (!ps || !names || !pool) {
        *st = kerr(c, CG_ERR_NOMEM, "out of memory");
        free(ps), free(names), free(pool);
        return false;
    }
    cg_module_parameters(model, ps, n);
    int k = 0;
    char path[480];
#define SLOT(i) (pool + (size_t)(i) * 400)
    snprintf(SLOT(0), 400, "adam/iteration");
    snprintf(SLOT(1), 400, "adam/learning_rate");
    names[0] = SLOT(0), names[1] = SLOT(1);
    k = 2;
    /* which layer owns parameter i, for the legacy names */
    int pi = 0;
    for (int li = 0; li < d->n; li++) {
        cg_tensor *lp[8];
        int np = layer_params(model->children[li], lp, 8);
        for (int j = 0; j < np; j++, pi++) {
            if (!cg_requires_grad(ps[pi])) continue;
            char wp[320];
            weight_path(d->model.name, &d->layers[li], lp[j], j, np, wp, sizeof wp);
            for (char *q = wp; *q; q++)
                if (*q == '/') *q = '_';
            if (!e->m[pi] || !e->v[pi]) {
                *st = kerr(c, CG_ERR_VALUE, "the extra has no Adam moments for %s", cg_name(ps[pi]));
                goto done;
            }
            snprintf(SLOT(k), 400, "adam/%s_momentum", wp);
            names[k] = SLOT(k), k++;
            snprintf(SLOT(k), 400, "adam/%s_velocity", wp);
            names[k] = SLOT(k), k++;
        }
    }
    const char *base = legacy ? "optimizer_weights" : "optimizer/vars";
    for (int i = 0, m = 2; i < n && *st == CG_OK; i++) {
        if (!cg_requires_grad(ps[i])) continue;
        for (int s = 0; s < 2 && *st == CG_OK; s++, m++) {
            if (legacy) snprintf(path, sizeof path, "%s/%s", base, names[m]);
            else snprintf(path, sizeof path, "%s/%d", base, m);
            if (!kh5_write_float(lab, f, path, s ? e->v[i] : e->m[i])) *st = kwrap(c);
        }
    }
    if (*st == CG_OK) {
        if (legacy) snprintf(path, sizeof path, "%s/%s", base, names[0]);
        else snprintf(path, sizeof path, "%s/0", base);
        bool ok = kh5_write_scalar_i64(lab, f, path, e->iterations);
        if (legacy) snprintf(path, sizeof path, "%s/%s", base, names[1]);
        else snprintf(path, sizeof path, "%s/1", base);
        ok = ok && kh5_write_scalar_f32(lab, f, path, (float)(isnan(e->learning_rate) ? 1e-3 : e->learning_rate));
        if (ok && legacy) ok = kh5_set_attr_strs(lab, f, base, "weight_names", names, k);
        if (ok && !legacy) ok = kh5_set_attr_str(lab, f, base, "name", "adam");
        if (!ok) *st = kwrap(c);
    }
#undef SLOT
done:
    free(ps), free(names), free(pool);
    return *st == CG_OK;
}

/* model.weights.h5 as Keras 3 lays it out. */
static cg_status write_keras3_weights(const kctx *c, hid_t f, const cg_module *model, const kdesc *d,
                                      const cg_keras_extra *e) {
    char lab[512];
    snprintf(lab, sizeof lab, "%s: model.weights.h5", c->label);
    kweight *w = calloc((size_t)count_weights(model) + 1, sizeof *w);
    if (!w) return kerr(c, CG_ERR_NOMEM, "out of memory");
    int nw = keras3_paths(model, d->layers, w, count_weights(model));
    cg_status st = CG_OK;
    for (int i = 0; i < nw && st == CG_OK; i++)
        if (!kh5_write_float(lab, f, w[i].path, w[i].param)) st = kwrap(c);
    /* the groups and their "name" attributes, as Keras writes them */
    int used[KL_FLATTEN + 1] = {0};
    for (int i = 0; i < d->n && st == CG_OK; i++) {
        const klayer *l = &d->layers[i];
        char lp[128], p[256];
        int k = used[l->kind]++;
        if (k) snprintf(lp, sizeof lp, "layers/%s_%d", SNAKE[l->kind], k);
        else snprintf(lp, sizeof lp, "layers/%s", SNAKE[l->kind]);
        snprintf(p, sizeof p, "%s/vars", lp);
        bool ok = kh5_set_attr_str(lab, f, p, "name", l->name);
        char cell[64];
        snprintf(cell, sizeof cell, "%s_cell", SNAKE[l->kind == KL_BIDI ? l->inner : l->kind]);
        if (ok && is_rnn_kind(l->kind)) {
            snprintf(p, sizeof p, "%s/cell/vars", lp);
            ok = kh5_set_attr_str(lab, f, p, "name", cell);
        }
        for (int h = 0; ok && l->kind == KL_BIDI && h < 2; h++) {
            char hn[96];
            snprintf(hn, sizeof hn, "%s_%s", h ? "backward" : "forward", l->inner_name);
            snprintf(p, sizeof p, "%s/%s_layer/vars", lp, h ? "backward" : "forward");
            ok = kh5_set_attr_str(lab, f, p, "name", hn);
            snprintf(p, sizeof p, "%s/%s_layer/cell/vars", lp, h ? "backward" : "forward");
            ok = ok && kh5_set_attr_str(lab, f, p, "name", cell);
        }
        if (!ok) st = kwrap(c);
    }
    if (st == CG_OK && !kh5_set_attr_str(lab, f, "vars", "name", d->model.name)) st = kwrap(c);
    if (st == CG_OK) write_adam(c, f, lab, model, d, e, false, &st);
    free(w);
    return st;
}

/* model_weights as Keras' legacy writer lays it out. */
static cg_status write_legacy_weights(const kctx *c, hid_t f, const cg_module *model, const kdesc *d,
                                      const cg_keras_extra *e) {
    const char *lab = c->label;
    const char **lnames = calloc((size_t)d->n + 1, sizeof *lnames);
    if (!lnames) return kerr(c, CG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < d->n; i++) lnames[i] = d->layers[i].name;
    cg_status st = CG_OK;
    if (!kh5_set_attr_strs(lab, f, "model_weights", "layer_names", lnames, d->n) ||
        !kh5_set_attr_str(lab, f, "model_weights", "backend", "tensorflow") ||
        !kh5_set_attr_str(lab, f, "model_weights", "keras_version", KERAS_FORMAT_VERSION))
        st = kwrap(c);
    for (int i = 0; i < d->n && st == CG_OK; i++) {
        const klayer *l = &d->layers[i];
        cg_tensor *ps[8];
        int np = layer_params(model->children[i], ps, 8);
        char wn[8][320];
        const char *wp[8];
        char g[128], p[480];
        snprintf(g, sizeof g, "model_weights/%s", l->name);
        for (int j = 0; j < np && st == CG_OK; j++) {
            weight_path(d->model.name, l, ps[j], j, np, wn[j], sizeof wn[j]);
            wp[j] = wn[j];
            snprintf(p, sizeof p, "%s/%s", g, wn[j]);
            if (!kh5_write_float(lab, f, p, ps[j])) st = kwrap(c);
        }
        if (st == CG_OK && !kh5_set_attr_strs(lab, f, g, "weight_names", wp, np)) st = kwrap(c);
    }
    if (st == CG_OK && !kh5_set_attr_strs(lab, f, "model_weights/top_level_model_weights", "weight_names", NULL, 0))
        st = kwrap(c);
    if (st == CG_OK) write_adam(c, f, lab, model, d, e, true, &st);
    free(lnames);
    return st;
}

static cg_status save_to(const kctx *c, const cg_module *model, const char *path, bool legacy, const cg_keras_extra *e) {
    kdesc d;
    if (!describe_model(c, model, e, &d)) return cg_last_status();
    cJSON *cfg = model_json(&d, e, legacy);
    char *text = cfg ? cJSON_PrintUnformatted(cfg) : NULL;
    cJSON_Delete(cfg);
    cg_status st = text ? CG_OK : kerr(c, CG_ERR_NOMEM, "out of memory");
    hid_t f = st == CG_OK ? kh5_create_mem(c->label) : -1;
    if (st == CG_OK && f < 0) st = kwrap(c);
    kbuf h5 = {0}, out = {0};
    if (st == CG_OK && legacy) {
        char *tc = training_config(e);
        bool ok = kh5_set_attr_str(c->label, f, ".", "model_config", text) &&
                  kh5_set_attr_str(c->label, f, ".", "keras_version", KERAS_FORMAT_VERSION) &&
                  kh5_set_attr_str(c->label, f, ".", "backend", "tensorflow") &&
                  (!tc || kh5_set_attr_str(c->label, f, ".", "training_config", tc));
        free(tc);
        st = ok ? write_legacy_weights(c, f, model, &d, e) : kwrap(c);
    } else if (st == CG_OK) {
        st = write_keras3_weights(c, f, model, &d, e);
    }
    if (st == CG_OK && kh5_image(c->label, f, &h5) != CG_OK) st = kwrap(c);
    if (f >= 0) H5Fclose(f);
    if (st == CG_OK && !legacy) {
        char meta[160], date[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", gmtime_r(&now, &tm));
        snprintf(meta, sizeof meta, "{\"keras_version\": \"%s\", \"date_saved\": \"%s\"}", KERAS_FORMAT_VERSION, date);
        kzip_member mem[3] = {{"metadata.json", {(unsigned char *)meta, strlen(meta), 0}},
                              {"config.json", {(unsigned char *)text, strlen(text), 0}},
                              {"model.weights.h5", h5}};
        if (kzip_write(c->label, mem, 3, &out) != CG_OK) st = kwrap(c);
    }
    if (st == CG_OK)
        st = legacy ? kbuf_write_atomic(FN_SAVE, path, h5.p, h5.len) : kbuf_write_atomic(FN_SAVE, path, out.p, out.len);
    kbuf_free(&h5);
    kbuf_free(&out);
    cJSON_free(text);
    kdesc_free(&d);
    return st;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

cg_status cg_keras_save(const cg_module *model, const char *path, const cg_keras_extra *extra) {
    if (!model || !path) return cg_set_error(CG_ERR_NULL, "%s: model or path is NULL", FN_SAVE);
    bool legacy = ends_with(path, ".h5") || ends_with(path, ".hdf5");
    if (!legacy && !ends_with(path, ".keras"))
        return cg_set_error(CG_ERR_VALUE, "%s: %s: the name must end in .keras or .h5 (the format follows it)", FN_SAVE,
                            path);
    kctx c = {FN_SAVE, path, NULL};
    kh5_quiet q = kh5_quiet_begin();
    cg_status st = save_to(&c, model, path, legacy, extra);
    kh5_quiet_end(q);
    return st;
}
