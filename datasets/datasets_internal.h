/* Private helpers shared by the datasets/ sources. */
#ifndef CGRAD_DATASETS_INTERNAL_H
#define CGRAD_DATASETS_INTERNAL_H

#include "datasets.h"

#include <string.h>

/* A growable byte buffer (heap). */
typedef struct dbuf {
    char *p;
    size_t len, cap;
} dbuf;

bool dbuf_reserve(dbuf *b, size_t extra);
bool dbuf_put(dbuf *b, const void *s, size_t n);
void dbuf_free(dbuf *b);
/* Append s[0..n) with every invalid UTF-8 byte replaced by U+FFFD. */
bool dbuf_put_utf8(dbuf *b, const char *s, size_t n);

/* Grow *arr (elements of `size` bytes) to hold at least `need`; false + NOMEM error. */
bool grow_array(void **arr, int64_t *cap, int64_t need, size_t size);

/* Read a whole file; NULL + CG_ERR_IO naming `op` and the path. */
char *read_file(const char *op, const char *path, size_t *len);

/* Build a text corpus: texts are appended to one buffer. */
typedef struct corpus_builder {
    dbuf text;
    int64_t n, cap, lcap;
    size_t *off;
    int64_t *labels;
    int64_t skipped;
} corpus_builder;

bool cb_add(corpus_builder *cb, const char *text, size_t len, int64_t label);
/* Finish (order: optional permutation of the added entries, may be NULL).
 * Frees the builder's arrays in all cases. */
cg_text_corpus *cb_finish(corpus_builder *cb, const int64_t *order);
void cb_discard(corpus_builder *cb);

/* Skip a UTF-8 byte-order mark at the start of data. */
static inline void skip_bom(const char **data, size_t *len) {
    if (*data && *len >= 3 && memcmp(*data, "\xEF\xBB\xBF", 3) == 0) *data += 3, *len -= 3;
}

/* Parse a whole decimal integer in s[0..n) (surrounding blanks allowed). */
bool parse_int(const char *s, size_t n, int64_t *out);

/* FNV-1a 64. */
static inline uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

#endif
