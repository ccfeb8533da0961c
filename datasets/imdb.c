/* keras.datasets.imdb.load_data built from the raw aclImdb text. */
#include "datasets_internal.h"

#include <stdlib.h>

#define OP "cg_imdb_load"
/* The tokenizer's oov token: '<' is a filter, so no text token can equal it. */
#define IMDB_OOV "<OOV>"

cg_imdb_options cg_imdb_defaults(void) {
    return (cg_imdb_options){.num_words = 0, .skip_top = 0, .maxlen = 0, .start_char = 1, .oov_char = 2,
                             .index_from = 3, .seed = 113, .shuffle = true};
}

/* Copies of the texts with every "<br />" replaced by a space. */
static char **strip_breaks(const cg_text_corpus *c, dbuf *buf) {
    size_t total = 0;
    for (int64_t i = 0; i < c->n; i++) total += strlen(c->texts[i]) + 1;
    char **t = malloc(((size_t)c->n + 1) * sizeof *t);
    if (!t || !dbuf_reserve(buf, total)) {
        free(t);
        cg_set_error(CG_ERR_NOMEM, OP ": out of memory");
        return NULL;
    }
    /* The output is never longer than the input, so buf never moves. */
    for (int64_t i = 0; i < c->n; i++) {
        t[i] = buf->p + buf->len;
        const char *s = c->texts[i], *br;
        while ((br = strstr(s, "<br />"))) {
            dbuf_put(buf, s, (size_t)(br - s));
            dbuf_put(buf, " ", 1);
            s = br + 6;
        }
        dbuf_put(buf, s, strlen(s) + 1);
    }
    return t;
}

/* Keras' id mapping, shuffle and length filter for one split. */
static cg_status finish_split(cg_imdb *d, const cg_sequences *raw, const cg_text_corpus *c, uint64_t seed,
                              cg_sequences **xs, cg_tensor **ys) {
    const cg_imdb_options *o = &d->options;
    cg_rng rng = cg_rng_seeded(seed);
    cg_tensor *perm = o->shuffle ? cg_randperm(&rng, c->n) : cg_arange(CG_INT64, 0, (double)c->n, 1);
    int64_t *labels = malloc(((size_t)c->n + 1) * sizeof *labels), *buf = NULL, cap = 0, m = 0;
    *xs = cg_sequences_new();
    if (!perm || !labels || !*xs) goto oom;
    const int64_t *p = cg_data_i64(perm);
    for (int64_t k = 0; k < c->n; k++) {
        int64_t i = p[k], len = cg_sequences_len(raw, i), n = 0;
        const int64_t *w = cg_sequences_get(raw, i);
        if (!grow_array((void **)&buf, &cap, len + 1, sizeof *buf)) goto oom;
        if (o->start_char) buf[n++] = o->start_char;
        if (o->maxlen > 0 && len + n >= o->maxlen) continue;
        for (int64_t j = 0; j < len; j++) {
            int64_t id = w[j] - 1 + o->index_from; /* tokenizer index 1 is its oov */
            if (w[j] == 1 || id < o->skip_top || (o->num_words && id >= o->num_words)) id = o->oov_char;
            if (id > 0) buf[n++] = id;
        }
        if (cg_sequences_append(*xs, buf, n) != CG_OK) goto oom;
        labels[m++] = c->labels[i];
    }
    *ys = cg_from_data(CG_INT64, &m, 1, labels);
    free(labels);
    free(buf);
    return *ys ? CG_OK : cg_last_status();
oom:
    free(labels);
    free(buf);
    return cg_set_error(CG_ERR_NOMEM, OP ": out of memory");
}

cg_imdb *cg_imdb_from_corpora(const cg_text_corpus *train, const cg_text_corpus *test, const cg_imdb_options *opt) {
    if (!train || !test) {
        cg_set_error(CG_ERR_NULL, OP ": train or test corpus is NULL");
        return NULL;
    }
    cg_imdb *d = calloc(1, sizeof *d);
    if (!d) return cg_set_error(CG_ERR_NOMEM, OP ": out of memory"), NULL;
    d->options = opt ? *opt : cg_imdb_defaults();
    cg_tokenizer_options to = cg_tokenizer_defaults();
    to.oov_token = IMDB_OOV;
    d->tokenizer = cg_tokenizer_new(&to);
    d->arena = cg_arena_new();
    dbuf b0 = {0}, b1 = {0};
    char **t0 = NULL, **t1 = NULL;
    cg_sequences *s0 = NULL, *s1 = NULL;
    bool ok = d->tokenizer && d->arena && (t0 = strip_breaks(train, &b0)) && (t1 = strip_breaks(test, &b1)) &&
              cg_tokenizer_fit(d->tokenizer, (const char *const *)t0, train->n) == CG_OK &&
              (s0 = cg_tokenizer_texts_to_sequences(d->tokenizer, (const char *const *)t0, train->n)) &&
              (s1 = cg_tokenizer_texts_to_sequences(d->tokenizer, (const char *const *)t1, test->n));
    if (ok) {
        cg_scope_enter(d->arena);
        ok = finish_split(d, s0, train, d->options.seed, &d->x_train, &d->y_train) == CG_OK &&
             finish_split(d, s1, test, d->options.seed, &d->x_test, &d->y_test) == CG_OK;
        cg_scope_leave(d->arena);
    }
    free(t0), free(t1);
    dbuf_free(&b0), dbuf_free(&b1);
    cg_sequences_free(s0), cg_sequences_free(s1);
    if (!ok) {
        cg_imdb_free(d);
        return NULL;
    }
    return d;
}

cg_imdb *cg_imdb_load(const char *path, const cg_imdb_options *opt) {
    cg_text_corpus *train, *test;
    if (cg_aclimdb_read(path, &train, &test) != CG_OK) return NULL;
    cg_imdb *d = cg_imdb_from_corpora(train, test, opt);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
    return d;
}

void cg_imdb_free(cg_imdb *d) {
    if (!d) return;
    cg_sequences_free(d->x_train);
    cg_sequences_free(d->x_test);
    cg_tokenizer_free(d->tokenizer);
    if (d->arena) cg_arena_free(d->arena);
    free(d);
}

const char *cg_imdb_word(const cg_imdb *d, int64_t id) {
    if (!d) return NULL;
    const cg_imdb_options *o = &d->options;
    if (id == 0) return "<PAD>";
    if (o->start_char && id == o->start_char) return "<START>";
    if (id == o->oov_char) return "<OOV>";
    if (id - o->index_from < 1) return NULL;
    return cg_tokenizer_word(d->tokenizer, id - o->index_from + 1); /* index 1 is the tokenizer's oov */
}
