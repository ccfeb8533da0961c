/* Korean movie-review sentiment (NSMC, the Naver sentiment movie corpus) —
 * the lesson from a Korean TensorFlow 2 book:
 *   keep Hangul, letters, digits and ( ) , ! ? ' `; keep 25 words per review
 *   and 5 characters per word (Korean words carry their endings); a Keras
 *   Tokenizer(num_words=20000), pad_sequences(padding="post") to 25
 *   Embedding(20000, 300) -> LSTM(50) -> Dense(2, softmax)
 *   sparse_categorical_crossentropy, Adam, 5 epochs, validation_split 0.2
 * The lesson's figure: the prediction for a sentence as it grows word by word.
 * Runs on any file in NSMC's format (id<TAB>document<TAB>label with a header).
 *
 *     korean_reviews [--file PATH | --data DIR (reads DIR/ratings_train.txt)] [--epochs 5]
 *                    [--limit N] [--sentence TEXT] [--seed 1] [--out out/korean_reviews] */
#include "example_util.h"

#include <ctype.h>

enum { MAX_WORDS = 25, MAX_CHARS = 5 };

/* Decode one UTF-8 code point at s (advancing *len bytes); invalid bytes read as U+FFFD. */
static uint32_t utf8_next(const unsigned char *s, int *len) {
    int n = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    uint32_t c = n == 1 ? s[0] : n ? s[0] & (0x7F >> n) : 0xFFFD;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return *len = 1, 0xFFFD;
        c = c << 6 | (s[i] & 0x3F);
    }
    *len = n ? n : 1;
    return c;
}

static bool keep_char(uint32_t c) {
    return (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x3131 && c <= 0x318E) || (c < 128 && (isalnum((int)c) || strchr("(),!?'`", (int)c)));
}

/* The lesson's clean_str, then at most 25 words of at most 5 characters
 * each, into out (NUL-terminated; out has room for strlen(text) + 1). */
static void preprocess(const char *text, char *out) {
    const unsigned char *s = (const unsigned char *)text;
    char *o = out;
    int words = 0, chars = 0;
    while (*s && words < MAX_WORDS) {
        int len;
        uint32_t c = utf8_next(s, &len);
        if (keep_char(c)) {
            if (chars++ < MAX_CHARS) memcpy(o, s, (size_t)len), o += len;
        } else if (chars) { /* the end of a word */
            *o++ = ' ', chars = 0, words++;
        }
        s += len;
    }
    while (o > out && o[-1] == ' ') o--;
    *o = 0;
}

/* Preprocessed copies of n texts (one allocation; free texts[0] then texts). */
static char **preprocess_all(const char *const *texts, int64_t n) {
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += strlen(texts[i]) + 1;
    char **out = malloc((size_t)(n + 1) * sizeof *out), *buf = malloc(total + 1);
    if (!out || !buf) return free(out), free(buf), NULL;
    for (int64_t i = 0; i < n; i++) {
        out[i] = buf;
        preprocess(texts[i], buf);
        buf += strlen(buf) + 1;
    }
    if (n == 0) out[0] = buf;
    return out;
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "korean_reviews", .epochs = 5, .seed = 1};
    const char *file = NULL,
               *sentence = "재미있을 줄 알았는데 완전 실망했다. 너무 느리고 지루했다. 추천하지 않는다.";
    ex_flag flags[] = {{"--file", &file, NULL, "an NSMC-format file (default: DIR/ratings_train.txt)"},
                       {"--sentence", &sentence, NULL, "the sentence to predict word by word"}};
    ex_parse(argc, argv, &a, flags, 2, "Korean review sentiment with Embedding(300) -> LSTM(50) -> Dense(2, softmax)");
    const int64_t num_words = 20000;

    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new(num_words, 300, NULL));
    cg_sequential_add(model, cg_lstm_new(300, 50, NULL));
    cg_sequential_add(model, cg_dense_new(50, 2, CG_ACT_SOFTMAX, NULL));
    ex_summary(&a, model, CG_SHAPE(MAX_WORDS));

    cg_read_options ro = cg_read_defaults();
    ro.header = true, ro.text_column = 1, ro.skip_bad = true; /* NSMC has a few reviews with no text */
    if (!file) file = ex_data_path(&a, "ratings_train.txt");
    cg_text_corpus *c = cg_read_tsv(file, &ro);
    if (!c) return ex_fail(&a, "reading the reviews");
    const int64_t n = a.limit && a.limit < c->n ? a.limit : c->n;
    char **texts = preprocess_all(c->texts, n);
    cg_tokenizer_options to = cg_tokenizer_defaults();
    to.num_words = num_words;
    cg_tokenizer *tk = cg_tokenizer_new(&to);
    cg_sequences *seq = NULL;
    if (!texts || !tk || cg_tokenizer_fit(tk, (const char *const *)texts, n) != CG_OK ||
        !(seq = cg_tokenizer_texts_to_sequences(tk, (const char *const *)texts, n)))
        return ex_fail(&a, "tokenizing");
    cg_tensor *x = cg_pad_sequences(seq, MAX_WORDS, CG_PAD_POST, CG_PAD_POST, 0);
    cg_tensor *y = cg_slice(cg_text_corpus_labels(c), 0, 0, n, 1);
    if (!x || !y) return ex_fail(&a, "padding");
    printf("%s: %lld reviews (%lld skipped), %lld distinct words\n\"%s\"\n -> \"%s\"\n", file, (long long)n,
           (long long)c->skipped, (long long)cg_tokenizer_vocab_size(tk), c->texts[0], texts[0]);

    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, np, &ao);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = a.epochs, o.seed = a.seed, o.validation_split = 0.2;
    cg_history *h = opt ? ex_fit(&a, model, opt, CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, CG_METRIC_ACCURACY, x, y, &o)
                        : NULL;
    if (!h) return opt ? 1 : ex_fail(&a, "cg_adam_new");
    const char *png = ex_out_path(&a, "history.png");
    if (ex_root(&a)) ex_report_plot(&a, cg_history_plot(h, png, "Korean reviews: Embedding -> LSTM(50)"), png);

    /* The sentence as it grows: its prefixes of 1, 2, ... words. */
    size_t len = strlen(sentence), ends[64];
    char *prefix = malloc(len + 1), *clean = malloc(len + 1);
    cg_sequences *grow = cg_sequences_new();
    int64_t ids[MAX_WORDS], n_prefix = 0;
    for (size_t i = 0; i <= len && n_prefix < 64 && prefix && clean && grow; i++) {
        if (sentence[i] != ' ' && sentence[i]) continue;
        memcpy(prefix, sentence, i), prefix[i] = 0;
        preprocess(prefix, clean);
        int64_t k = cg_tokenizer_encode(tk, clean, ids, MAX_WORDS);
        cg_sequences_append(grow, ids, k < MAX_WORDS ? k : MAX_WORDS);
        ends[n_prefix++] = i;
    }
    cg_tensor *p = n_prefix ? cg_predict(model, cg_pad_sequences(grow, MAX_WORDS, CG_PAD_POST, CG_PAD_POST, 0), 32) : NULL;
    if (!p) return ex_fail(&a, "predicting the sentence");
    printf("\nP(negative)  P(positive)  the sentence so far\n");
    for (int64_t i = 0; i < n_prefix; i++)
        printf("  %.4f       %.4f       %.*s\n", cg_get(p, (int64_t[]){i, 0}), cg_get(p, (int64_t[]){i, 1}),
               (int)ends[i], sentence);
    printf("final sentence: P(positive) = %.4f; val accuracy %.4f (seed %llu, %.2f s/epoch)\n",
           cg_get(p, (int64_t[]){n_prefix - 1, 1}), cg_history_last(h, "val_accuracy"), (unsigned long long)a.seed,
           ex_seconds_per_epoch(h));
    free(prefix), free(clean);
    cg_sequences_free(grow);
    cg_history_free(h);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_sequences_free(seq);
    cg_tokenizer_free(tk);
    free(texts[0]), free(texts);
    cg_text_corpus_free(c);
    cg_cleanup();
    return 0;
}
