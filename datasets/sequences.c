/* Ragged id sequences and pad_sequences. */
#include "datasets_internal.h"

#include <stdlib.h>

cg_sequences *cg_sequences_new(void) {
    cg_sequences *s = calloc(1, sizeof *s);
    if (!s || !grow_array((void **)&s->offsets, &s->cap_n, 1, sizeof *s->offsets)) {
        free(s);
        cg_set_error(CG_ERR_NOMEM, "cg_sequences_new: out of memory");
        return NULL;
    }
    s->offsets[0] = 0;
    return s;
}

void cg_sequences_free(cg_sequences *s) {
    if (!s) return;
    free(s->offsets);
    free(s->ids);
    free(s);
}

cg_status cg_sequences_append(cg_sequences *s, const int64_t *ids, int64_t len) {
    if (!s || (!ids && len > 0)) return cg_set_error(CG_ERR_NULL, "cg_sequences_append: sequences or ids is NULL");
    if (len < 0) return cg_set_error(CG_ERR_VALUE, "cg_sequences_append: len = %lld < 0", (long long)len);
    int64_t end = s->offsets[s->n];
    if (!grow_array((void **)&s->offsets, &s->cap_n, s->n + 2, sizeof *s->offsets) ||
        !grow_array((void **)&s->ids, &s->cap_ids, end + len + 1, sizeof *s->ids))
        return CG_ERR_NOMEM;
    if (len) memcpy(s->ids + end, ids, (size_t)len * sizeof *ids);
    s->offsets[++s->n] = end + len;
    return CG_OK;
}

int64_t cg_sequences_len(const cg_sequences *s, int64_t i) {
    return s && i >= 0 && i < s->n ? s->offsets[i + 1] - s->offsets[i] : 0;
}

const int64_t *cg_sequences_get(const cg_sequences *s, int64_t i) {
    return s && i >= 0 && i < s->n && s->ids ? s->ids + s->offsets[i] : NULL;
}

cg_tensor *cg_pad_sequences(const cg_sequences *s, int64_t maxlen, cg_pad padding, cg_pad truncating,
                            int64_t value) {
    if (!s) {
        cg_set_error(CG_ERR_NULL, "cg_pad_sequences: sequences is NULL");
        return NULL;
    }
    if (maxlen <= 0) {
        maxlen = 0;
        for (int64_t i = 0; i < s->n; i++)
            if (cg_sequences_len(s, i) > maxlen) maxlen = cg_sequences_len(s, i);
    }
    cg_tensor *t = cg_full(CG_INT64, CG_SHAPE(s->n, maxlen), (double)value);
    if (!t) return NULL;
    int64_t *o = cg_data_i64(t);
    for (int64_t i = 0; i < s->n; i++) {
        int64_t len = cg_sequences_len(s, i), k = len < maxlen ? len : maxlen;
        if (k == 0) continue;
        const int64_t *src = cg_sequences_get(s, i) + (truncating == CG_PAD_PRE ? len - k : 0);
        int64_t *dst = o + i * maxlen + (padding == CG_PAD_PRE ? maxlen - k : 0);
        memcpy(dst, src, (size_t)k * sizeof *src);
    }
    return t;
}
