/* libFuzzer target for the Keras tokenizer, pad_sequences and one_hot: the
 * first byte picks the options, the rest is split into texts at newlines.
 * Checks the Keras invariants: ids in [1, vocab], below num_words when set
 * (the oov index 1 is kept even when num_words <= 1, as Keras does),
 * the word index and index_word agree, encode matches texts_to_sequences.
 * Build and run with tests/fuzz/run.sh. */
#include "datasets.h"

#include <stdlib.h>
#include <string.h>

static void count_token(const char *w, size_t n, void *ctx) {
    if (n == 0 || !w) abort();
    ++*(int64_t *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t f = data[0];
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *texts[64];
    int64_t n = 0;
    for (char *p = buf; p && n < 64; n++) {
        texts[n] = p;
        p = strchr(p, '\n');
        if (p) *p++ = '\0';
    }
    cg_tokenizer_options o = cg_tokenizer_defaults();
    o.char_level = f & 1;
    o.lower = !(f & 2);
    o.oov_token = (f & 4) ? "<OOV>" : NULL;
    o.num_words = (f >> 3) & 7;
    if (f & 64) o.filters = "가.,";
    if (f & 128) o.split = "\xea\xb0\x80"; /* "가" */

    cg_scope *s = cg_scope_begin();
    cg_tokenizer *tk = cg_tokenizer_new(&o);
    if (!tk || cg_tokenizer_fit(tk, texts, n) != CG_OK) abort();
    int64_t vocab = cg_tokenizer_vocab_size(tk);
    for (int64_t i = 1; i <= vocab; i++) {
        const char *w = cg_tokenizer_word(tk, i);
        if (!w || cg_tokenizer_index(tk, w) != i) abort();
    }
    cg_sequences *seq = cg_tokenizer_texts_to_sequences(tk, texts, n);
    if (!seq || seq->n != n) abort();
    for (int64_t i = 0; i < n; i++) {
        int64_t len = cg_sequences_len(seq, i), one[8];
        const int64_t *ids = cg_sequences_get(seq, i);
        for (int64_t k = 0; k < len; k++)
            if (ids[k] < 1 || ids[k] > vocab || (o.num_words && ids[k] >= o.num_words && ids[k] != 1)) abort();
        if (cg_tokenizer_encode(tk, texts[i], one, 8) != len || (len && memcmp(one, ids, (size_t)(len < 8 ? len : 8) * 8)))
            abort();
        int64_t ntok = 0;
        if (cg_text_to_word_sequence(texts[i], &o, count_token, &ntok) != ntok) abort();
        if (!o.oov_token && !o.num_words && ntok != len) abort(); /* every fitted word is known */
    }
    cg_tensor *x = cg_pad_sequences(seq, (f >> 4) & 7, (f & 1) ? CG_PAD_POST : CG_PAD_PRE,
                                    (f & 2) ? CG_PAD_POST : CG_PAD_PRE, 0);
    if (!x || x->shape[0] != n) abort();
    cg_tensor *h = cg_one_hot(texts[0], 2 + (f & 15), &o);
    if (!h) abort();
    for (int64_t i = 0; i < h->shape[0]; i++)
        if (cg_data_i64(h)[i] < 1 || cg_data_i64(h)[i] > 1 + (f & 15)) abort();
    cg_sequences_free(seq);
    cg_tokenizer_free(tk);
    cg_scope_end(s);
    free(buf);
    cg_clear_error();
    return 0;
}
