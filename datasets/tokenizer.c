/* Keras text preprocessing: text_to_word_sequence, one_hot and Tokenizer,
 * UTF-8 aware through utf8proc. */
#include "datasets_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <utf8proc.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------ scanning */

typedef struct rules {
    uint64_t ascii[2];   /* filter bitmap for code points < 128 */
    int32_t *wide;       /* other filter code points */
    int nwide;
    int32_t split;
    bool lower, char_level;
} rules;

static void rules_free(rules *r) { free(r->wide); }

static int32_t decode(const unsigned char *u, size_t n, size_t *k) {
    if (u[0] < 0x80) {
        *k = 1;
        return u[0];
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t m = utf8proc_iterate(u, (utf8proc_ssize_t)n, &c);
    if (m <= 0) {
        *k = 1;
        return 0xFFFD;
    }
    *k = (size_t)m;
    return c;
}

static cg_status rules_init(rules *r, const cg_tokenizer_options *o) {
    *r = (rules){.split = ' ', .lower = o->lower, .char_level = o->char_level};
    const char *f = o->filters ? o->filters : CG_KERAS_FILTERS;
    size_t n = strlen(f);
    r->wide = malloc((n + 1) * sizeof *r->wide);
    if (!r->wide) return cg_set_error(CG_ERR_NOMEM, "cg_tokenizer: out of memory");
    for (size_t i = 0, k; i < n; i += k) {
        int32_t c = decode((const unsigned char *)f + i, n - i, &k);
        if (c < 128)
            r->ascii[c >> 6] |= 1ULL << (c & 63);
        else
            r->wide[r->nwide++] = c;
    }
    if (o->split && o->split[0]) {
        size_t k;
        r->split = decode((const unsigned char *)o->split, strlen(o->split), &k);
    }
    return CG_OK;
}

static inline bool is_sep(const rules *r, int32_t c) {
    if (c == r->split) return true;
    if (c < 128) return (r->ascii[c >> 6] >> (c & 63)) & 1;
    for (int i = 0; i < r->nwide; i++)
        if (r->wide[i] == c) return true;
    return false;
}

/* Tokenize text[0..n) into `scratch` (reused across calls) and call fn per
 * token. Lower-casing can grow a character by a byte and a bad byte becomes
 * 3, so 3n bytes always suffice. */
static int64_t scan(const rules *r, const char *text, size_t n, dbuf *scratch, cg_word_fn fn, void *ctx) {
    if (!dbuf_reserve(scratch, 3 * n + 8)) return -1;
    const unsigned char *u = (const unsigned char *)text;
    char *out = scratch->p, *word = out;
    int64_t count = 0;
    for (size_t i = 0, k; i < n; i += k) {
        int32_t c = decode(u + i, n - i, &k);
        if (r->lower) c = c < 128 ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : utf8proc_tolower(c);
        if (!r->char_level && is_sep(r, c)) {
            if (out > word) fn(word, (size_t)(out - word), ctx), count++;
            word = out;
            continue;
        }
        if (c < 128)
            *out++ = (char)c;
        else
            out += utf8proc_encode_char(c, (utf8proc_uint8_t *)out);
        if (r->char_level) fn(word, (size_t)(out - word), ctx), count++, word = out;
    }
    if (out > word) fn(word, (size_t)(out - word), ctx), count++;
    return count;
}

int64_t cg_text_to_word_sequence(const char *text, const cg_tokenizer_options *opt, cg_word_fn fn, void *ctx) {
    if (!text || !fn) return cg_set_error(CG_ERR_NULL, "cg_text_to_word_sequence: text or fn is NULL"), -1;
    cg_tokenizer_options o = opt ? *opt : cg_tokenizer_defaults();
    rules r;
    if (rules_init(&r, &o) != CG_OK) return -1;
    dbuf scratch = {0};
    int64_t n = scan(&r, text, strlen(text), &scratch, fn, ctx);
    dbuf_free(&scratch);
    rules_free(&r);
    return n;
}

cg_tokenizer_options cg_tokenizer_defaults(void) {
    return (cg_tokenizer_options){.num_words = 0, .filters = NULL, .lower = true, .split = NULL, .char_level = false,
                                  .oov_token = NULL};
}

/* ------------------------------------------------------------- one_hot */

typedef struct hash_ctx {
    dbuf ids; /* int64 values */
    uint64_t mod;
} hash_ctx;

static void hash_word(const char *w, size_t n, void *ctx) {
    hash_ctx *h = ctx;
    int64_t id = (int64_t)(fnv1a(w, n) % h->mod) + 1;
    dbuf_put(&h->ids, &id, sizeof id);
}

cg_tensor *cg_one_hot(const char *text, int64_t n, const cg_tokenizer_options *opt) {
    if (n < 2) {
        cg_set_error(CG_ERR_VALUE, "cg_one_hot: n = %lld must be >= 2", (long long)n);
        return NULL;
    }
    hash_ctx h = {.mod = (uint64_t)(n - 1)};
    int64_t count = cg_text_to_word_sequence(text, opt, hash_word, &h);
    cg_tensor *t = NULL;
    if (count >= 0 && h.ids.len == (size_t)count * sizeof(int64_t))
        t = cg_from_data(CG_INT64, &count, 1, h.ids.p);
    else if (count >= 0)
        cg_set_error(CG_ERR_NOMEM, "cg_one_hot: out of memory");
    dbuf_free(&h.ids);
    return t;
}

/* ----------------------------------------------------------- Tokenizer */

typedef struct entry {
    size_t off; /* word bytes in the pool, NUL-terminated */
    size_t len;
    uint64_t hash;
    int64_t count;
    int64_t index; /* in word_index */
} entry;

/* A hash slot: the hash's top 32 bits (checked before touching the entry)
 * and the entry id, -1 when free. */
typedef struct slot {
    uint32_t tag;
    int32_t ent;
} slot;

struct cg_tokenizer {
    cg_tokenizer_options opt;
    char *filters, *split, *oov; /* owned copies */
    rules r;
    dbuf pool;
    entry *ent;
    int64_t nent, cap_ent;
    slot *slots; /* power-of-two size */
    uint64_t nslots;
    int shift; /* 64 - log2(nslots) */
    int64_t *by_index; /* index -> entry id (-1 for the oov slot, -2 for an index no word has) */
    int64_t vocab, docs, oov_entry;
    int64_t oov_index; /* the oov token's index: 1, or where a Keras JSON puts it */
    dbuf scratch;
};

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

cg_tokenizer *cg_tokenizer_new(const cg_tokenizer_options *opt) {
    cg_tokenizer_options o = opt ? *opt : cg_tokenizer_defaults();
    if (o.num_words < 0) {
        cg_set_error(CG_ERR_VALUE, "cg_tokenizer_new: num_words = %lld must be >= 0", (long long)o.num_words);
        return NULL;
    }
    cg_tokenizer *tk = calloc(1, sizeof *tk);
    if (!tk) return cg_set_error(CG_ERR_NOMEM, "cg_tokenizer_new: out of memory"), NULL;
    tk->filters = dup_str(o.filters ? o.filters : CG_KERAS_FILTERS);
    tk->split = dup_str(o.split ? o.split : " ");
    tk->oov = dup_str(o.oov_token);
    o.filters = tk->filters, o.split = tk->split, o.oov_token = tk->oov;
    tk->opt = o;
    tk->oov_entry = -1;
    tk->oov_index = 1;
    tk->nslots = 1024;
    tk->shift = 64 - 10;
    tk->slots = malloc(tk->nslots * sizeof *tk->slots);
    if (!tk->filters || !tk->split || (o.oov_token && !tk->oov) || !tk->slots || rules_init(&tk->r, &o) != CG_OK) {
        cg_tokenizer_free(tk);
        cg_set_error(CG_ERR_NOMEM, "cg_tokenizer_new: out of memory");
        return NULL;
    }
    memset(tk->slots, 0xff, tk->nslots * sizeof *tk->slots);
    return tk;
}

void cg_tokenizer_free(cg_tokenizer *tk) {
    if (!tk) return;
    free(tk->filters), free(tk->split), free(tk->oov);
    rules_free(&tk->r);
    dbuf_free(&tk->pool);
    dbuf_free(&tk->scratch);
    free(tk->ent), free(tk->slots), free(tk->by_index);
    free(tk);
}

/* Fibonacci hashing: the slot comes from the product's top bits, because
 * FNV-1a's low bits mix poorly (long probe chains otherwise). */
static inline uint64_t home_slot(uint64_t h, int shift) { return (h * 0x9E3779B97F4A7C15ULL) >> shift; }

static int64_t lookup(const cg_tokenizer *tk, const char *w, size_t n, uint64_t h) {
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = home_slot(h, tk->shift);; i = (i + 1) & (tk->nslots - 1)) {
        slot sl = tk->slots[i];
        if (sl.ent < 0) return -1 - (int64_t)i; /* free slot, encoded */
        if (sl.tag != tag) continue;
        const entry *x = &tk->ent[sl.ent];
        if (x->len == n && memcmp(tk->pool.p + x->off, w, n) == 0) return sl.ent;
    }
}

static bool rehash(cg_tokenizer *tk) {
    uint64_t ns = tk->nslots * 2;
    slot *s = malloc(ns * sizeof *s);
    if (!s) return false;
    memset(s, 0xff, ns * sizeof *s);
    int shift = tk->shift - 1;
    for (int64_t e = 0; e < tk->nent; e++) {
        uint64_t i = home_slot(tk->ent[e].hash, shift);
        while (s[i].ent >= 0) i = (i + 1) & (ns - 1);
        s[i] = (slot){(uint32_t)(tk->ent[e].hash >> 32), (int32_t)e};
    }
    free(tk->slots);
    tk->slots = s;
    tk->nslots = ns;
    tk->shift = shift;
    return true;
}

/* word_counts[w] += count, appending w in first-appearance order. */
static bool add_word(cg_tokenizer *tk, const char *w, size_t n, uint64_t h, int64_t count) {
    int64_t e = lookup(tk, w, n, h);
    if (e >= 0) {
        tk->ent[e].count += count;
        return true;
    }
    size_t off = tk->pool.len;
    if (tk->nent >= INT32_MAX || !grow_array((void **)&tk->ent, &tk->cap_ent, tk->nent + 1, sizeof *tk->ent) ||
        !dbuf_put(&tk->pool, w, n) || !dbuf_put(&tk->pool, "", 1))
        return false;
    tk->ent[tk->nent] = (entry){.off = off, .len = n, .hash = h, .count = count, .index = 0};
    tk->slots[-1 - e] = (slot){(uint32_t)(h >> 32), (int32_t)tk->nent++};
    return (uint64_t)tk->nent * 2 <= tk->nslots || rehash(tk);
}

typedef struct fit_ctx {
    cg_tokenizer *tk;
    bool oom;
} fit_ctx;

static void count_word(const char *w, size_t n, void *ctx) {
    fit_ctx *f = ctx;
    if (!f->oom && !add_word(f->tk, w, n, fnv1a(w, n), 1)) f->oom = true;
}

/* Count the words of texts[0..n) into tk; false when out of memory. */
static bool count_texts(cg_tokenizer *tk, const char *const *texts, int64_t n) {
    fit_ctx f = {.tk = tk};
    for (int64_t i = 0; i < n && !f.oom; i++)
        if (scan(&tk->r, texts[i], strlen(texts[i]), &tk->scratch, count_word, &f) < 0) f.oom = true;
    return !f.oom;
}

typedef struct rank_item {
    int64_t count, id;
} rank_item;

static int by_count(const void *a, const void *b) {
    const rank_item *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id; /* ties: first appearance */
}

/* Rank the words: index 1 is the oov token when there is one. */
static cg_status rank_words(cg_tokenizer *tk) {
    int64_t base = tk->oov ? 2 : 1;
    rank_item *order = malloc(((size_t)tk->nent + 1) * sizeof *order);
    int64_t *by = realloc(tk->by_index, ((size_t)tk->nent + 2) * sizeof *by);
    if (!order || !by) {
        free(order);
        if (by) tk->by_index = by;
        return cg_set_error(CG_ERR_NOMEM, "cg_tokenizer_fit: out of memory");
    }
    tk->by_index = by;
    int64_t m = 0;
    tk->oov_entry = tk->oov ? lookup(tk, tk->oov, strlen(tk->oov), fnv1a(tk->oov, strlen(tk->oov))) : -1;
    if (tk->oov_entry < 0) tk->oov_entry = -1; /* lookup's "absent" is any negative */
    for (int64_t e = 0; e < tk->nent; e++)
        if (e != tk->oov_entry) order[m++] = (rank_item){tk->ent[e].count, e};
    qsort(order, (size_t)m, sizeof *order, by_count);
    by[0] = -1;
    if (tk->oov) by[1] = tk->oov_entry;
    for (int64_t r = 0; r < m; r++) {
        tk->ent[order[r].id].index = base + r;
        by[base + r] = order[r].id;
    }
    if (tk->oov_entry >= 0) tk->ent[tk->oov_entry].index = 1;
    tk->oov_index = 1;
    tk->vocab = m + base - 1;
    free(order);
    return CG_OK;
}

/* Threads count contiguous chunks of texts into private tokenizers, which are
 * then merged in chunk order: a word first seen in chunk k comes after every
 * word of chunks < k, so counts and first-appearance order are exactly those
 * of a serial pass, for any thread count. */
cg_status cg_tokenizer_fit(cg_tokenizer *tk, const char *const *texts, int64_t n) {
    if (!tk || (!texts && n > 0)) return cg_set_error(CG_ERR_NULL, "cg_tokenizer_fit: tokenizer or texts is NULL");
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) return cg_set_error(CG_ERR_NULL, "cg_tokenizer_fit: text %lld is NULL", (long long)i);
    int nt = cg_get_num_threads();
    nt = n < 256 ? 1 : nt > 64 ? 64 : nt;
    bool ok = true;
    if (nt == 1) {
        ok = count_texts(tk, texts, n);
    } else {
        cg_tokenizer *part[64] = {NULL};
        int used = 1; /* the team may be smaller than asked */
#pragma omp parallel num_threads(nt)
        {
            int t = 0, T = 1;
#ifdef _OPENMP
            t = omp_get_thread_num(), T = omp_get_num_threads();
#endif
            if (t == 0) used = T;
            part[t] = cg_tokenizer_new(&tk->opt);
            if (part[t] && !count_texts(part[t], texts + n * t / T, n * (t + 1) / T - n * t / T)) {
                cg_tokenizer_free(part[t]);
                part[t] = NULL;
            }
        }
        for (int t = 0; t < used; t++) {
            const cg_tokenizer *p = part[t];
            ok = ok && p;
            for (int64_t e = 0; ok && e < p->nent; e++)
                ok = add_word(tk, p->pool.p + p->ent[e].off, p->ent[e].len, p->ent[e].hash, p->ent[e].count);
        }
        for (int t = 0; t < nt; t++) cg_tokenizer_free(part[t]);
    }
    if (!ok) return cg_set_error(CG_ERR_NOMEM, "cg_tokenizer_fit: out of memory");
    tk->docs += n;
    return rank_words(tk);
}

int64_t cg_tokenizer_vocab_size(const cg_tokenizer *tk) { return tk ? tk->vocab : 0; }
int64_t cg_tokenizer_document_count(const cg_tokenizer *tk) { return tk ? tk->docs : 0; }

int64_t cg_tokenizer_index(const cg_tokenizer *tk, const char *word) {
    if (!tk || !word) return 0;
    if (tk->oov && strcmp(word, tk->oov) == 0) return tk->oov_index;
    int64_t e = lookup(tk, word, strlen(word), fnv1a(word, strlen(word)));
    return e >= 0 ? tk->ent[e].index : 0;
}

const char *cg_tokenizer_word(const cg_tokenizer *tk, int64_t index) {
    if (!tk || index < 1 || index > tk->vocab) return NULL;
    int64_t e = tk->by_index[index];
    return e >= 0 ? tk->pool.p + tk->ent[e].off : e == -1 ? tk->oov : NULL;
}

int64_t cg_tokenizer_count(const cg_tokenizer *tk, const char *word) {
    if (!tk || !word) return 0;
    int64_t e = lookup(tk, word, strlen(word), fnv1a(word, strlen(word)));
    return e >= 0 ? tk->ent[e].count : 0;
}

int64_t cg_tokenizer_count_at(const cg_tokenizer *tk, int64_t i, const char **word) {
    if (!tk || i < 0 || i >= tk->nent) return -1;
    if (word) *word = tk->pool.p + tk->ent[i].off;
    return tk->ent[i].count;
}

/* ------------------------------------------------------------ encoding */

typedef struct enc_ctx {
    const cg_tokenizer *tk;
    int64_t *out;
    int64_t cap, n;
    bool grow, oom;
} enc_ctx;

static void encode_word(const char *w, size_t n, void *ctx) {
    enc_ctx *c = ctx;
    const cg_tokenizer *tk = c->tk;
    int64_t e = tk->vocab ? lookup(tk, w, n, fnv1a(w, n)) : -1;
    int64_t id = e >= 0 ? tk->ent[e].index : 0;
    if (id > 0 && tk->opt.num_words && id >= tk->opt.num_words) id = 0;
    if (id == 0) {
        if (!tk->oov) return;
        id = tk->oov_index;
    }
    if (c->n >= c->cap && c->grow && !grow_array((void **)&c->out, &c->cap, c->n + 1, sizeof *c->out)) c->oom = true;
    if (c->n < c->cap) c->out[c->n] = id;
    c->n++;
}

int64_t cg_tokenizer_encode(const cg_tokenizer *tk, const char *text, int64_t *out, int64_t cap) {
    if (!tk || !text) return cg_set_error(CG_ERR_NULL, "cg_tokenizer_encode: tokenizer or text is NULL"), -1;
    enc_ctx c = {.tk = tk, .out = out, .cap = out ? cap : 0};
    dbuf scratch = {0};
    int64_t r = scan(&tk->r, text, strlen(text), &scratch, encode_word, &c);
    dbuf_free(&scratch);
    return r < 0 ? -1 : c.n;
}

cg_sequences *cg_tokenizer_texts_to_sequences(const cg_tokenizer *tk, const char *const *texts, int64_t n) {
    if (!tk || (!texts && n > 0)) {
        cg_set_error(CG_ERR_NULL, "cg_tokenizer_texts_to_sequences: tokenizer or texts is NULL");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) {
            cg_set_error(CG_ERR_NULL, "cg_tokenizer_texts_to_sequences: text %lld is NULL", (long long)i);
            return NULL;
        }
    cg_sequences *s = cg_sequences_new();
    if (!s) return NULL;
    int nt = cg_get_num_threads();
    if (nt > 64) nt = 64;
    if (n < 64) nt = 1;
    enc_ctx parts[64];
    int64_t *lens = malloc(((size_t)n + 1) * sizeof *lens);
    if (!lens) {
        cg_sequences_free(s);
        cg_set_error(CG_ERR_NOMEM, "cg_tokenizer_texts_to_sequences: out of memory");
        return NULL;
    }
    bool oom = false;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), T = omp_get_num_threads();
#endif
        enc_ctx *c = &parts[t];
        *c = (enc_ctx){.tk = tk, .grow = true};
        dbuf scratch = {0};
        for (int64_t i = n * t / T; !c->oom && i < n * (t + 1) / T; i++) {
            int64_t before = c->n;
            if (scan(&tk->r, texts[i], strlen(texts[i]), &scratch, encode_word, c) < 0) c->oom = true;
            lens[i] = c->n - before;
        }
        dbuf_free(&scratch);
#pragma omp barrier
#pragma omp single
        {
            int64_t total = 0;
            for (int k = 0; k < T; k++) total += parts[k].n, oom |= parts[k].oom;
            if (!oom && (!grow_array((void **)&s->offsets, &s->cap_n, n + 1, sizeof *s->offsets) ||
                         !grow_array((void **)&s->ids, &s->cap_ids, total + 1, sizeof *s->ids)))
                oom = true;
            if (!oom) {
                s->offsets[0] = 0;
                for (int64_t i = 0; i < n; i++) s->offsets[i + 1] = s->offsets[i] + lens[i];
                s->n = n;
            }
        }
        if (!oom && c->n) memcpy(s->ids + s->offsets[n * t / T], c->out, (size_t)c->n * sizeof *c->out);
        free(c->out);
    }
    free(lens);
    if (oom) {
        cg_sequences_free(s);
        cg_set_error(CG_ERR_NOMEM, "cg_tokenizer_texts_to_sequences: out of memory");
        return NULL;
    }
    return s;
}

/* -------------------------------------------------- Keras' to_json() */

/* A string member of a JSON object, or NULL (absent or null). */
static const char *json_str(const cJSON *o, const char *key, bool *bad) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsString(v)) *bad = true;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An object encoded as a JSON string inside the config (Keras json.dumps
 * each table), parsed; NULL with an error. */
static cJSON *json_table(const cJSON *cfg, const char *key, const char *label) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    cJSON *t = cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
    if (!cJSON_IsObject(t)) {
        cJSON_Delete(t);
        cg_set_error(CG_ERR_PARSE, "cg_tokenizer_from_keras_json: %s: config.%s is not a JSON object in a string", label,
                     key);
        return NULL;
    }
    return t;
}

cg_tokenizer *cg_tokenizer_from_keras_json(const char *json, const char *label) {
    const char *fn = "cg_tokenizer_from_keras_json";
    if (!json) return cg_set_error(CG_ERR_NULL, "%s: json is NULL", fn), NULL;
    if (!label) label = "tokenizer JSON";
    cJSON *root = cJSON_Parse(json), *counts = NULL, *index = NULL;
    cg_tokenizer *tk = NULL;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!root || !cJSON_IsObject(cfg) || !cJSON_IsString(cls) || strcmp(cls->valuestring, "Tokenizer") != 0) {
        cg_set_error(CG_ERR_PARSE, "%s: %s: not the JSON of Keras' Tokenizer.to_json() (class_name Tokenizer, config)",
                     fn, label);
        goto out;
    }
    bool bad = false;
    cg_tokenizer_options o = cg_tokenizer_defaults();
    const cJSON *nw = cJSON_GetObjectItemCaseSensitive(cfg, "num_words");
    const cJSON *lower = cJSON_GetObjectItemCaseSensitive(cfg, "lower");
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(cfg, "char_level");
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(cfg, "document_count");
    if (nw && !cJSON_IsNull(nw) && !(cJSON_IsNumber(nw) && nw->valuedouble >= 0 && nw->valuedouble < 9e15)) bad = true;
    o.num_words = cJSON_IsNumber(nw) ? (int64_t)nw->valuedouble : 0;
    o.filters = json_str(cfg, "filters", &bad);
    if (!o.filters && !bad) o.filters = ""; /* filters=None: nothing filtered */
    o.split = json_str(cfg, "split", &bad);
    o.oov_token = json_str(cfg, "oov_token", &bad);
    if (lower && !cJSON_IsBool(lower)) bad = true;
    if (cl && !cJSON_IsBool(cl)) bad = true;
    o.lower = !lower || cJSON_IsTrue(lower);
    o.char_level = cJSON_IsTrue(cl);
    if (bad) {
        cg_set_error(CG_ERR_PARSE, "%s: %s: num_words, filters, lower, split, char_level or oov_token has the wrong type",
                     fn, label);
        goto out;
    }
    if (o.split && utf8proc_iterate((const utf8proc_uint8_t *)o.split, -1, &(utf8proc_int32_t){0}) != (utf8proc_ssize_t)strlen(o.split)) {
        cg_set_error(CG_ERR_VALUE, "%s: %s: split \"%s\" is not one character (cgrad splits on one)", fn, label, o.split);
        goto out;
    }
    if (!(counts = json_table(cfg, "word_counts", label)) || !(index = json_table(cfg, "word_index", label))) goto out;
    if (!(tk = cg_tokenizer_new(&o))) goto out;
    tk->docs = cJSON_IsNumber(dc) && dc->valuedouble >= 0 ? (int64_t)dc->valuedouble : 0;
    /* word_counts in Keras' order (first appearance) */
    const cJSON *v;
    cJSON_ArrayForEach(v, counts) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15) {
            cg_set_error(CG_ERR_PARSE, "%s: %s: word_counts[\"%s\"] is not a count", fn, label, v->string);
            goto fail;
        }
        size_t n = strlen(v->string);
        if (!add_word(tk, v->string, n, fnv1a(v->string, n), (int64_t)v->valuedouble)) goto oom;
    }
    /* word_index as Keras has it: it decides every id */
    int64_t max = 0;
    cJSON_ArrayForEach(v, index) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 2147483647.0 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            cg_set_error(CG_ERR_PARSE, "%s: %s: word_index[\"%s\"] is not an index >= 1", fn, label, v->string);
            goto fail;
        }
        if ((int64_t)v->valuedouble > max) max = (int64_t)v->valuedouble;
    }
    int64_t *by = malloc(((size_t)max + 2) * sizeof *by);
    if (!by) goto oom;
    free(tk->by_index);
    tk->by_index = by;
    for (int64_t i = 0; i <= max; i++) by[i] = -2;
    for (int64_t e = 0; e < tk->nent; e++) tk->ent[e].index = 0;
    cJSON_ArrayForEach(v, index) {
        int64_t id = (int64_t)v->valuedouble;
        size_t n = strlen(v->string);
        bool is_oov = tk->oov && strcmp(v->string, tk->oov) == 0;
        if (by[id] != -2) {
            cg_set_error(CG_ERR_PARSE, "%s: %s: word_index gives %lld to two words (\"%s\" and another)", fn, label,
                         (long long)id, v->string);
            goto fail;
        }
        int64_t e = lookup(tk, v->string, n, fnv1a(v->string, n));
        if (e < 0 && !is_oov) { /* in word_index but not counted: a trimmed file */
            if (!add_word(tk, v->string, n, fnv1a(v->string, n), 0)) goto oom;
            e = lookup(tk, v->string, n, fnv1a(v->string, n));
        }
        if (is_oov) {
            tk->oov_index = id;
            tk->oov_entry = e >= 0 ? e : -1;
        }
        by[id] = e >= 0 ? e : -1;
        if (e >= 0) tk->ent[e].index = id;
    }
    tk->vocab = max;
    goto out;
oom:
    cg_set_error(CG_ERR_NOMEM, "%s: %s: out of memory", fn, label);
fail:
    cg_tokenizer_free(tk);
    tk = NULL;
out:
    cJSON_Delete(root);
    cJSON_Delete(counts);
    cJSON_Delete(index);
    return tk;
}

cg_tokenizer *cg_tokenizer_load_keras(const char *path) {
    if (!path) return cg_set_error(CG_ERR_NULL, "cg_tokenizer_load_keras: path is NULL"), NULL;
    size_t len;
    char *text = read_file("cg_tokenizer_load_keras", path, &len);
    if (!text) return NULL;
    cg_tokenizer *tk = cg_tokenizer_from_keras_json(text, path);
    free(text);
    return tk;
}
