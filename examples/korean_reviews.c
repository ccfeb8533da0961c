/* Korean movie-review sentiment (NSMC, the Naver sentiment movie corpus) —
 * the lesson of "시작하세요! 텐서플로 2.0 프로그래밍" (section 7.4, code 7.19-7.31):
 *   clean_str: keep Hangul syllables (가-힣), ASCII letters and digits and
 *   ( ) , ! ? ' `; split , ! ( ) ? off as words of their own, drop ', lower
 *   case; split on single spaces; keep 25 words per review and 5 characters
 *   per word (Korean words carry their endings); a Keras
 *   Tokenizer(num_words=20000) fitted on the training reviews,
 *   pad_sequences(padding="post") to 25
 *   Embedding(20000, 300) -> LSTM(50) -> Dense(2, softmax)
 *   sparse_categorical_crossentropy, Adam, batch 128, 5 epochs,
 *   validation_split 0.2; then model.evaluate on the test reviews
 * The lesson's figures: val_accuracy 0.8186 after epoch 1, falling to 0.8062
 * after epoch 5 as the model overfits (train accuracy 0.90); and the
 * prediction for a sentence as it grows word by word.
 * Python's split(' ') keeps an empty word where a cleaned review starts or
 * ends with a space, and the lesson's Tokenizer counts it as a word; here it
 * is the word "<empty>", so the vocabulary and the sequences match.
 * Runs on any file in NSMC's format (id<TAB>document<TAB>label with a header).
 *
 *     korean_reviews --data DIR (reads DIR/nsmc/ratings_{train,test}.txt) [--epochs 5] [--limit N]
 *     korean_reviews --file TRAIN [--test-file TEST] [--sentence TEXT] [--seed 1] [--out out/korean_reviews]
 * (--help lists every flag and its default) */
#include "example_util.h"

enum { MAX_WORDS = 25, MAX_CHARS = 5 };
#define EMPTY_WORD "<empty>"

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

static bool is_ascii_alnum(uint32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* The characters clean_str keeps: [가-힣A-Za-z0-9(),!?'`]. */
static bool kept(uint32_t c) {
    return (c >= 0xAC00 && c <= 0xD7A3) || is_ascii_alnum(c) || (c && c < 128 && strchr("(),!?'`", (int)c));
}

/* clean_str's contractions ('s 've n't 're 'd 'll) get a space before them. */
static bool contraction_at(const char *s) {
    static const char *const forms[] = {"'s", "'ve", "n't", "'re", "'d", "'ll"};
    for (int i = 0; i < 6; i++)
        if (!strncmp(s, forms[i], strlen(forms[i]))) return true;
    return false;
}

/* The lesson's clean_str, split(' '), word[:5] and [:25], into out as words
 * separated by single spaces (an empty word written as EMPTY_WORD). out has
 * room for 8 * strlen(text) + 256 bytes. */
static void preprocess(const char *text, char *out) {
    size_t n = strlen(text);
    char *a = malloc(3 * n + 3), *b = malloc(3 * n + 3);
    if (!a || !b) {
        free(a), free(b);
        *out = 0;
        return;
    }
    /* 1. characters not kept become spaces; contractions get a space first;
     *    , ! ( ) ? get spaces around them (lower-casing ASCII on the way) */
    char *o = a;
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        int len;
        uint32_t c = utf8_next(s, &len);
        if (!kept(c)) {
            *o++ = ' ';
        } else if (c < 128 && strchr(",!()?", (int)c)) {
            *o++ = ' ', *o++ = (char)c, *o++ = ' ';
        } else {
            if (contraction_at((const char *)s)) *o++ = ' ';
            for (int i = 0; i < len; i++) *o++ = (char)(c < 128 ? (s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]) : s[i]);
        }
        s += len;
    }
    *o = 0;
    /* 2. runs of two or more spaces become one (\s{2,} -> " "), then every
     *    apostrophe goes (which may leave two spaces, as in Python) */
    o = b;
    for (const char *s = a; *s; s++) {
        if (*s == ' ' && s[1] == ' ') {
            while (s[1] == ' ') s++;
        }
        *o++ = *s;
    }
    *o = 0;
    o = a;
    for (const char *s = b; *s; s++)
        if (*s != '\'') *o++ = *s;
    *o = 0;
    /* 3. split(' '): words between single spaces, empty ones included;
     *    the first 25, each cut to 5 characters */
    o = out;
    int words = 0;
    for (const char *s = a;; s++) {
        const char *e = strchr(s, ' ');
        if (!e) e = s + strlen(s);
        if (words == MAX_WORDS) break;
        if (words++) *o++ = ' ';
        if (e == s) {
            memcpy(o, EMPTY_WORD, strlen(EMPTY_WORD)), o += strlen(EMPTY_WORD);
        } else {
            int chars = 0;
            for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)e && chars < MAX_CHARS; chars++) {
                int len;
                utf8_next(p, &len);
                memcpy(o, p, (size_t)len), o += len, p += len;
            }
        }
        if (!*e) break;
        s = e;
    }
    *o = 0;
    free(a), free(b);
}

/* Preprocessed copies of n texts (one allocation; free texts[0] then texts). */
static char **preprocess_all(const char *const *texts, int64_t n) {
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += 8 * strlen(texts[i]) + 256;
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

/* One NSMC-format file, its first `limit` reviews (0: all) preprocessed and
 * encoded with tk (fitted on them first when `fit`): x int64 [n, 25] padded
 * post, y int64 [n]. Returns the corpus (caller frees), NULL after printing
 * the error. */
static cg_text_corpus *load(const ex_args *a, const char *path, cg_tokenizer *tk, bool fit, cg_tensor **x,
                            cg_tensor **y) {
    cg_read_options ro = cg_read_defaults();
    ro.header = true, ro.text_column = 1;
    cg_text_corpus *c = cg_read_tsv(path, &ro);
    if (!c) {
        ex_fail(a, "reading the reviews");
        return NULL;
    }
    const int64_t n = a->limit && a->limit < c->n ? a->limit : c->n;
    char **texts = preprocess_all(c->texts, n);
    cg_sequences *seq = NULL;
    bool ok = texts && (!fit || cg_tokenizer_fit(tk, (const char *const *)texts, n) == CG_OK) &&
              (seq = cg_tokenizer_texts_to_sequences(tk, (const char *const *)texts, n));
    *x = ok ? cg_pad_sequences(seq, MAX_WORDS, CG_PAD_POST, CG_PAD_POST, 0) : NULL;
    *y = ok ? cg_slice(cg_text_corpus_labels(c), 0, 0, n, 1) : NULL;
    if (ok && *x && *y && n)
        printf("%s: %lld reviews; the first: \"%s\"\n  -> \"%s\"\n", path, (long long)n, c->texts[0], texts[0]);
    if (texts) free(texts[0]);
    free(texts);
    cg_sequences_free(seq);
    if (!*x || !*y) {
        ex_fail(a, "tokenizing and padding the reviews");
        cg_text_corpus_free(c);
        return NULL;
    }
    return c;
}

enum { NUM_WORDS = 20000 };

/* Embedding(20000, 300) -> LSTM(50) -> Dense(2, softmax) (caller frees). */
static cg_module *build(void) {
    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new(NUM_WORDS, 300, NULL));
    cg_sequential_add(model, cg_lstm_new(300, 50, NULL));
    cg_sequential_add(model, cg_dense_new(50, 2, CG_ACT_SOFTMAX, NULL));
    return model;
}

/* The lesson on the encoded reviews: the summary, fit, the test reviews
 * (x_test may be NULL), the growing sentence. 0, or 1 after printing the
 * error; frees what it makes. */
static int lesson(const ex_args *a, cg_tokenizer *tk, cg_tensor *x, cg_tensor *y, cg_tensor *x_test,
                  cg_tensor *y_test, const char *test_file, const char *sentence, int64_t batch) {
    int rc = 1;
    cg_module *model = build();
    cg_optim *opt = NULL;
    cg_history *h = NULL;
    cg_sequences *grow = NULL;
    char *prefix = NULL, *clean = NULL;
    if (ex_summary(a, model, CG_SHAPE(MAX_WORDS))) goto done;

    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    if (!(opt = cg_adam_new(params, np, &ao))) {
        ex_fail(a, "cg_adam_new");
        goto done;
    }
    cg_fit_opts o = ex_fit_opts(a, batch);
    o.validation_split = 0.2;
    h = ex_fit(a, model, opt, CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, CG_METRIC_ACCURACY, x, y, &o);
    if (!h) goto done;
    const char *png = ex_out_path(a, "history.png");
    if (ex_root(a)) ex_report_plot(a, cg_history_plot(h, png, "Korean reviews (NSMC): Embedding -> LSTM(50)"), png);
    for (int e = 0; e < h->epochs; e++)
        printf("epoch %d: accuracy %.4f, val_accuracy %.4f\n", e + 1, cg_history_get(h, "accuracy", e),
               cg_history_get(h, "val_accuracy", e));
    if (x_test) {
        cg_eval_result r = cg_evaluate(model, CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, CG_METRIC_ACCURACY, x_test, y_test,
                                       batch);
        if (r.status != CG_OK) {
            ex_fail(a, "evaluating on the test reviews");
            goto done;
        }
        printf("test accuracy: %.4f, test loss %.4f on %lld reviews of %s\n", r.metric, r.loss,
               (long long)x_test->shape[0], test_file);
    }

    /* The sentence as it grows: its prefixes of 1, 2, ... words. */
    size_t len = strlen(sentence), ends[64];
    prefix = malloc(len + 1), clean = malloc(8 * len + 256);
    grow = cg_sequences_new();
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
    if (!p) {
        ex_fail(a, "predicting the sentence");
        goto done;
    }
    printf("\nP(negative)  P(positive)  the sentence so far\n");
    for (int64_t i = 0; i < n_prefix; i++)
        printf("  %.4f       %.4f       %.*s\n", cg_get(p, (int64_t[]){i, 0}), cg_get(p, (int64_t[]){i, 1}),
               (int)ends[i], sentence);
    printf("final sentence: P(positive) = %.4f; val_accuracy %.4f (seed %llu, %.2f s/epoch)\n",
           cg_get(p, (int64_t[]){n_prefix - 1, 1}), cg_history_last(h, "val_accuracy"), (unsigned long long)a->seed,
           ex_seconds_per_epoch(h));
    rc = 0;
done:
    free(prefix), free(clean);
    cg_sequences_free(grow);
    cg_history_free(h);
    cg_optim_free(opt);
    cg_module_free(model);
    return rc;
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "korean_reviews", .takes = EX_DATA | EX_LIMIT | EX_OUT,
                 .data_help = "nsmc/ratings_train.txt and nsmc/ratings_test.txt",
                 .limit_help = "use the first N reviews of each file", .limit_min = 10, .epochs = 5, .seed = 1};
    const char *file = NULL, *test_file = NULL, *sentence = "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다.";
    double batch = 128;
    ex_flag flags[] = {
        {"--file", &file, NULL, false, 0, 0, "the training reviews, NSMC format (default: DIR/nsmc/ratings_train.txt)",
         "PATH"},
        {"--test-file", &test_file, NULL, false, 0, 0,
         "the test reviews (default: DIR/nsmc/ratings_test.txt without --file; none with it)", "PATH"},
        {"--sentence", &sentence, NULL, false, 0, 0, "the sentence to predict word by word (default: the lesson's)", NULL},
        {"--batch", NULL, &batch, true, 1, 1e6, "batch size, as in the lesson", NULL}};
    ex_parse(argc, argv, &a, flags, 4, "Korean review sentiment with Embedding(300) -> LSTM(50) -> Dense(2, softmax)");
    if (a.epochs == 0) { /* the summary alone */
        cg_module *model = build();
        int rc = ex_summary(&a, model, CG_SHAPE(MAX_WORDS));
        cg_module_free(model);
        return rc;
    }

    /* the data first: a missing or malformed file stops here */
    if (!file) {
        file = ex_data_path(&a, "nsmc/ratings_train.txt");
        if (!test_file) test_file = ex_data_path(&a, "nsmc/ratings_test.txt");
    }
    cg_tokenizer_options to = cg_tokenizer_defaults();
    to.num_words = NUM_WORDS, to.filters = ""; /* the lesson passes word lists: no filtering */
    cg_tokenizer *tk = cg_tokenizer_new(&to);
    cg_tensor *x, *y, *x_test = NULL, *y_test = NULL;
    cg_text_corpus *train = tk ? load(&a, file, tk, true, &x, &y) : NULL, *test = NULL;
    int rc = 1;
    if (train && (!test_file || (test = load(&a, test_file, tk, false, &x_test, &y_test)))) {
        printf("%lld distinct words (the first %d kept)\n", (long long)cg_tokenizer_vocab_size(tk), NUM_WORDS - 1);
        rc = lesson(&a, tk, x, y, x_test, y_test, test_file, sentence, (int64_t)batch);
    }
    cg_tokenizer_free(tk);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
    cg_cleanup();
    return rc;
}
