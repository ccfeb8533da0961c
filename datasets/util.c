/* Byte buffers, UTF-8 repair, whole-file reads and the text-corpus builder. */
#include "datasets_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

bool dbuf_reserve(dbuf *b, size_t extra) {
    if (b->cap - b->len > extra) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        cg_set_error(CG_ERR_NOMEM, "cgrad datasets: out of memory (%zu bytes)", cap);
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

bool dbuf_put(dbuf *b, const void *s, size_t n) {
    if (!dbuf_reserve(b, n)) return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

void dbuf_free(dbuf *b) {
    free(b->p);
    *b = (dbuf){0};
}

bool dbuf_put_utf8(dbuf *b, const char *s, size_t n) {
    if (!dbuf_reserve(b, n * 3)) return false; /* worst case: every byte -> U+FFFD */
    const unsigned char *u = (const unsigned char *)s;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            *o++ = (char)u[i++];
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &c);
        if (k > 0) {
            memcpy(o, u + i, (size_t)k);
            o += k;
            i += (size_t)k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return true;
}

bool grow_array(void **arr, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * size);
    if (!p) {
        cg_set_error(CG_ERR_NOMEM, "cgrad datasets: out of memory (%lld items)", (long long)c);
        return false;
    }
    *arr = p;
    *cap = c;
    return true;
}

char *read_file(const char *op, const char *path, size_t *len) {
    if (!path) {
        cg_set_error(CG_ERR_NULL, "%s: path is NULL", op);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cg_set_error(CG_ERR_IO, "%s: cannot open %s: %s", op, path, strerror(errno));
        return NULL;
    }
    dbuf b = {0};
    char chunk[1 << 16];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!dbuf_put(&b, chunk, k)) break;
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) cg_set_error(CG_ERR_IO, "%s: cannot read %s", op, path);
    if (bad || (b.len == 0 && !dbuf_put(&b, "", 0))) {
        dbuf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

bool parse_int(const char *s, size_t n, int64_t *out) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    size_t i = n && (*s == '-' || *s == '+') ? 1 : 0;
    if (i == n) return false;
    int64_t v = 0;
    for (size_t j = i; j < n; j++) {
        if (s[j] < '0' || s[j] > '9' || v > (INT64_MAX - (s[j] - '0')) / 10) return false;
        v = v * 10 + (s[j] - '0');
    }
    *out = *s == '-' ? -v : v;
    return true;
}

/* ----------------------------------------------------------- corpora */

bool cb_add(corpus_builder *cb, const char *text, size_t len, int64_t label) {
    if (!grow_array((void **)&cb->off, &cb->cap, cb->n + 1, sizeof *cb->off) ||
        !grow_array((void **)&cb->labels, &cb->lcap, cb->n + 1, sizeof *cb->labels))
        return false;
    cb->off[cb->n] = cb->text.len;
    cb->labels[cb->n] = label;
    if (!dbuf_put_utf8(&cb->text, text, len) || !dbuf_put(&cb->text, "", 1)) return false;
    cb->n++;
    return true;
}

void cb_discard(corpus_builder *cb) {
    dbuf_free(&cb->text);
    free(cb->off);
    free(cb->labels);
    *cb = (corpus_builder){0};
}

cg_text_corpus *cb_finish(corpus_builder *cb, const int64_t *order) {
    cg_text_corpus *c = calloc(1, sizeof *c);
    const char **texts = malloc(((size_t)cb->n + 1) * sizeof *texts);
    int64_t *labels = malloc(((size_t)cb->n + 1) * sizeof *labels);
    if (!c || !texts || !labels || (!cb->text.p && !dbuf_put(&cb->text, "", 0))) {
        free(c), free(texts), free(labels);
        cb_discard(cb);
        cg_set_error(CG_ERR_NOMEM, "cgrad datasets: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < cb->n; i++) {
        int64_t j = order ? order[i] : i;
        texts[i] = cb->text.p + cb->off[j];
        labels[i] = cb->labels[j];
    }
    c->n = cb->n;
    c->texts = texts;
    c->labels = labels;
    c->skipped = cb->skipped;
    c->priv = cb->text.p;
    free(cb->off);
    free(cb->labels);
    *cb = (corpus_builder){0};
    return c;
}

void cg_text_corpus_free(cg_text_corpus *c) {
    if (!c) return;
    free(c->priv);
    free((void *)c->texts);
    free((void *)c->labels);
    free(c);
}

cg_tensor *cg_text_corpus_labels(const cg_text_corpus *c) {
    if (!c) {
        cg_set_error(CG_ERR_NULL, "cg_text_corpus_labels: corpus is NULL");
        return NULL;
    }
    return cg_from_data(CG_INT64, &c->n, 1, c->labels);
}
