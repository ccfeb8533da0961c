/* datasets: tokenizer, padding, hashing, TSV/CSV readers, windows, scalers,
 * synthetic data and batching, on small fixtures written here. */
#include "testlib.h"

#include <cgrad/datasets.h>
#include <string.h>
#include <unistd.h>

/* Write `text` to a fresh temporary file; returns its path (8 rotating slots). */
static const char *tmpfile_with(const char *text, const char *suffix) {
    static char paths[8][64];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "/tmp/cgrad_ds_XXXXXX%s", suffix);
    int fd = mkstemps(p, (int)strlen(suffix));
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return p;
}

/* Collect tokens as "a|b|c". */
typedef struct joined {
    char s[512];
} joined;

static void join_word(const char *w, size_t n, void *ctx) {
    joined *j = ctx;
    size_t len = strlen(j->s);
    snprintf(j->s + len, sizeof j->s - len, "%s%.*s", len ? "|" : "", (int)n, w);
}

static const char *words(const char *text, const cg_tokenizer_options *o) {
    static joined j;
    j.s[0] = '\0';
    cg_text_to_word_sequence(text, o, join_word, &j);
    return j.s;
}

static void assert_ids(const cg_sequences *s, int64_t i, const int64_t *want, int64_t n) {
    ck_assert_int_eq(cg_sequences_len(s, i), n);
    for (int64_t k = 0; k < n; k++) ck_assert_int_eq(cg_sequences_get(s, i)[k], want[k]);
}
#define ASSERT_IDS(s, i, ...)                                                                                          \
    assert_ids((s), (i), (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* ------------------------------------------------------------ text */

START_TEST(test_word_sequence) {
    ck_assert_str_eq(words("Hello, World! It's   a test.\tNew\nline", NULL), "hello|world|it's|a|test|new|line");
    ck_assert_str_eq(words("안녕하세요, 세계! 한국어 문장입니다.", NULL), "안녕하세요|세계|한국어|문장입니다");
    ck_assert_str_eq(words("ÉCOLE Straße ΣΟΦΙΑ", NULL), "école|straße|σοφια");
    cg_tokenizer_options o = cg_tokenizer_defaults();
    o.lower = false;
    o.filters = "";
    ck_assert_str_eq(words("Ab,c  D", &o), "Ab,c|D");
    o.filters = "。";
    o.split = "、";
    ck_assert_str_eq(words("가、나。다", &o), "가|나|다");
    /* invalid UTF-8: each bad byte is U+FFFD, never a crash */
    ck_assert_str_eq(words("ab\xff cd \xe4\xb8", NULL), "ab\xEF\xBF\xBD|cd|\xEF\xBF\xBD\xEF\xBF\xBD");
}
END_TEST

static const char *const PETS[] = {"the cat sat on the mat", "the dog ate my homework", "The Cat!"};

START_TEST(test_tokenizer_keras) {
    cg_tokenizer *tk = cg_tokenizer_new(NULL);
    ck_assert_int_eq(cg_tokenizer_fit(tk, PETS, 3), CG_OK);
    ck_assert_int_eq(cg_tokenizer_vocab_size(tk), 9);
    ck_assert_int_eq(cg_tokenizer_document_count(tk), 3);
    const char *order[] = {"the", "cat", "sat", "on", "mat", "dog", "ate", "my", "homework"};
    const int64_t counts[] = {4, 2, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < 9; i++) {
        const char *w;
        ck_assert_int_eq(cg_tokenizer_count_at(tk, i, &w), counts[i]); /* first-appearance order */
        ck_assert_str_eq(w, order[i]);
        ck_assert_int_eq(cg_tokenizer_index(tk, order[i]), i + 1);     /* by count, ties by appearance */
        ck_assert_str_eq(cg_tokenizer_word(tk, i + 1), order[i]);
    }
    ck_assert_int_eq(cg_tokenizer_count_at(tk, 9, NULL), -1);
    ck_assert_int_eq(cg_tokenizer_index(tk, "fish"), 0);
    ck_assert_ptr_null(cg_tokenizer_word(tk, 0));
    const char *q[] = {"the cat ate the fish", ""};
    cg_sequences *s = cg_tokenizer_texts_to_sequences(tk, q, 2);
    ASSERT_IDS(s, 0, 1, 2, 7, 1);
    ck_assert_int_eq(cg_sequences_len(s, 1), 0);
    cg_sequences_free(s);
    int64_t buf[2];
    ck_assert_int_eq(cg_tokenizer_encode(tk, q[0], buf, 2), 4); /* full count, first two written */
    ck_assert_int_eq(buf[1], 2);
    cg_tokenizer_free(tk);

    /* num_words keeps ids < num_words; the index keeps every word */
    cg_tokenizer_options o = cg_tokenizer_defaults();
    o.num_words = 5;
    tk = cg_tokenizer_new(&o);
    cg_tokenizer_fit(tk, PETS, 3);
    s = cg_tokenizer_texts_to_sequences(tk, q, 1);
    ASSERT_IDS(s, 0, 1, 2, 1);
    ck_assert_int_eq(cg_tokenizer_index(tk, "homework"), 9);
    cg_sequences_free(s);
    cg_tokenizer_free(tk);

    /* oov_token: index 1, unknown and cut words map to it */
    o.oov_token = "<OOV>";
    tk = cg_tokenizer_new(&o);
    cg_tokenizer_fit(tk, PETS, 3);
    ck_assert_int_eq(cg_tokenizer_index(tk, "<OOV>"), 1);
    ck_assert_int_eq(cg_tokenizer_index(tk, "the"), 2);
    ck_assert_str_eq(cg_tokenizer_word(tk, 1), "<OOV>");
    ck_assert_int_eq(cg_tokenizer_vocab_size(tk), 10);
    s = cg_tokenizer_texts_to_sequences(tk, q, 1);
    ASSERT_IDS(s, 0, 2, 3, 1, 2, 1);
    cg_sequences_free(s);
    cg_tokenizer_free(tk);
}
END_TEST

START_TEST(test_tokenizer_korean_and_chars) {
    const char *reviews[] = {"영화 정말 재밌다", "정말 최고의 영화!", "영화 별로..."};
    cg_tokenizer *tk = cg_tokenizer_new(NULL);
    cg_tokenizer_fit(tk, reviews, 3);
    const char *want[] = {"영화", "정말", "재밌다", "최고의", "별로"};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(cg_tokenizer_index(tk, want[i]), i + 1);
    ck_assert_int_eq(cg_tokenizer_count(tk, "영화"), 3);
    const char *q[] = {"별로 영화 없음"};
    cg_sequences *s = cg_tokenizer_texts_to_sequences(tk, q, 1);
    ASSERT_IDS(s, 0, 5, 1);
    cg_sequences_free(s);
    cg_tokenizer_free(tk);

    /* char_level: every character (spaces and punctuation too) is a token */
    cg_tokenizer_options o = cg_tokenizer_defaults();
    o.char_level = true;
    tk = cg_tokenizer_new(&o);
    const char *t[] = {"한국 한!", "AbA"};
    cg_tokenizer_fit(tk, t, 2);
    ck_assert_int_eq(cg_tokenizer_index(tk, "한"), 1); /* 2 */
    ck_assert_int_eq(cg_tokenizer_index(tk, "a"), 2);  /* 2, appears later */
    ck_assert_int_eq(cg_tokenizer_index(tk, "국"), 3);
    ck_assert_int_eq(cg_tokenizer_index(tk, " "), 4);
    ck_assert_int_eq(cg_tokenizer_index(tk, "!"), 5);
    ck_assert_int_eq(cg_tokenizer_index(tk, "b"), 6);
    ck_assert_int_eq(cg_tokenizer_vocab_size(tk), 6);
    cg_tokenizer_free(tk);
}
END_TEST

START_TEST(test_tokenizer_parallel_same) {
    /* many texts: fitting and encoding give the same result for 1 and 2 threads */
    enum { N = 500 };
    static char bufs[N][64];
    const char *texts[N];
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof bufs[i], "w%d w%d 단어%d, w%d", i % 7, i % 13, i % 5, i % 31);
        texts[i] = bufs[i];
    }
    int saved = cg_get_num_threads();
    cg_set_num_threads(2);
    cg_tokenizer *tk = cg_tokenizer_new(NULL), *serial = cg_tokenizer_new(NULL);
    ck_assert_int_eq(cg_tokenizer_fit(tk, texts, N), CG_OK);
    cg_sequences *b = cg_tokenizer_texts_to_sequences(tk, texts, N);
    cg_set_num_threads(1);
    ck_assert_int_eq(cg_tokenizer_fit(serial, texts, N), CG_OK);
    cg_sequences *a = cg_tokenizer_texts_to_sequences(tk, texts, N);
    cg_set_num_threads(saved);
    ck_assert_int_eq(cg_tokenizer_vocab_size(tk), 31 + 5); /* w0..w30 and 단어0..4 */
    ck_assert_int_eq(cg_tokenizer_vocab_size(serial), cg_tokenizer_vocab_size(tk));
    for (int64_t i = 0; i < cg_tokenizer_vocab_size(tk); i++) {
        const char *w1, *w2;
        ck_assert_int_eq(cg_tokenizer_count_at(tk, i, &w1), cg_tokenizer_count_at(serial, i, &w2));
        ck_assert_str_eq(w1, w2);
        ck_assert_str_eq(cg_tokenizer_word(tk, i + 1), cg_tokenizer_word(serial, i + 1));
    }
    ck_assert_str_eq(cg_tokenizer_word(tk, 1), "w0"); /* 72 + 39 + 17 times */
    ck_assert_int_eq(cg_tokenizer_count(tk, "w0"), 72 + 39 + 17);
    cg_tokenizer_free(serial);
    ck_assert_int_eq(a->n, N);
    ck_assert_int_eq(a->offsets[N], 4 * N);
    ck_assert_mem_eq(a->ids, b->ids, (size_t)a->offsets[N] * sizeof(int64_t));
    for (int i = 0; i < N; i++) {
        int64_t one[4];
        ck_assert_int_eq(cg_tokenizer_encode(tk, texts[i], one, 4), 4);
        ck_assert_mem_eq(one, cg_sequences_get(a, i), sizeof one);
    }
    cg_sequences_free(a);
    cg_sequences_free(b);
    cg_tokenizer_free(tk);
}
END_TEST

START_TEST(test_pad_sequences) {
    cg_sequences *s = cg_sequences_new();
    cg_sequences_append(s, (const int64_t[]){1, 2, 3}, 3);
    cg_sequences_append(s, (const int64_t[]){4, 5}, 2);
    cg_sequences_append(s, (const int64_t[]){6, 7, 8, 9, 10}, 5);
    cg_sequences_append(s, NULL, 0);
    cg_tensor *t = cg_pad_sequences(s, 4, CG_PAD_PRE, CG_PAD_PRE, 0);
    ck_assert_shape(t, 4, 4);
    ck_assert_int_eq(t->dtype, CG_INT64);
    ck_assert_tensor_near(t, ((double[]){0, 1, 2, 3, 0, 0, 4, 5, 7, 8, 9, 10, 0, 0, 0, 0}), 16, 0);
    t = cg_pad_sequences(s, 4, CG_PAD_POST, CG_PAD_POST, -1);
    ck_assert_tensor_near(t, ((double[]){1, 2, 3, -1, 4, 5, -1, -1, 6, 7, 8, 9, -1, -1, -1, -1}), 16, 0);
    t = cg_pad_sequences(s, 0, CG_PAD_PRE, CG_PAD_POST, 0);
    ck_assert_shape(t, 4, 5);
    ck_assert_tensor_near(cg_k_select(t, 0, 1), ((double[]){0, 0, 0, 4, 5}), 5, 0);
    cg_sequences_free(s);
}
END_TEST

START_TEST(test_one_hot) {
    cg_tensor *t = cg_one_hot("The cat, the 고양이 CAT", 50, NULL);
    ck_assert_shape(t, 5);
    const int64_t *d = cg_data_i64(t);
    ck_assert_int_eq(d[0], d[2]);
    ck_assert_int_eq(d[1], d[4]);
    for (int i = 0; i < 5; i++) ck_assert(d[i] >= 1 && d[i] <= 49);
    cg_tensor *u = cg_one_hot("the", 50, NULL);
    ck_assert_int_eq(cg_data_i64(u)[0], d[0]); /* stable across calls */
    ck_assert_ptr_null(cg_one_hot("x", 1, NULL));
    ck_assert_error(CG_ERR_VALUE, "n = 1");
}
END_TEST

/* ------------------------------------------------------------ files */

START_TEST(test_read_tsv) {
    const char *p = tmpfile_with("\xEF\xBB\xBFWow... Loved this place.\t1\nCrust is not good.\t0\n\n정말 맛있어요 \"최고\"\t1\r\n", ".tsv");
    cg_text_corpus *c = cg_read_tsv(p, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->n, 3);
    ck_assert_str_eq(c->texts[0], "Wow... Loved this place.");
    ck_assert_str_eq(c->texts[2], "정말 맛있어요 \"최고\"");
    ck_assert_tensor_near(cg_text_corpus_labels(c), ((double[]){1, 0, 1}), 3, 0);
    cg_text_corpus_free(c);
    unlink(p);

    p = tmpfile_with("good\t1\nbad\t0\nno tab here\nfine\t1\n", ".tsv");
    ck_assert_ptr_null(cg_read_tsv(p, NULL));
    char want[128];
    snprintf(want, sizeof want, "cg_read_tsv: %s:3: no tab between sentence and label", p);
    ck_assert_error(CG_ERR_PARSE, want);
    cg_read_options o = cg_read_defaults();
    o.skip_bad = true;
    c = cg_read_tsv(p, &o);
    ck_assert_int_eq(c->n, 3);
    ck_assert_int_eq(c->skipped, 1);
    ck_assert_str_eq(c->texts[2], "fine");
    cg_text_corpus_free(c);
    unlink(p);

    p = tmpfile_with("good\t1\nbad\t5\n", ".tsv");
    ck_assert_ptr_null(cg_read_tsv(p, NULL));
    ck_assert_error(CG_ERR_PARSE, ":2: label 5 is not in [0, 2)");
    unlink(p);
    p = tmpfile_with("good\tyes\n", ".tsv");
    ck_assert_ptr_null(cg_read_tsv(p, NULL));
    ck_assert_error(CG_ERR_PARSE, ":1: label \"yes\" is not an integer");
    unlink(p);

    ck_assert_ptr_null(cg_read_tsv("/nonexistent/cgrad/x.tsv", NULL));
    ck_assert_error(CG_ERR_IO, "/nonexistent/cgrad/x.tsv");
}
END_TEST

static const char NSMC[] = "id\tdocument\tlabel\n"
                           "9976970\t아 더빙.. 진짜 짜증나네요 목소리\t0\n"
                           "3819312\t흠...포스터보고 초딩영화줄....오버연기조차 가볍지 않구나\t1\n"
                           "10265843\t너무재밓었다그래서보는것을추천한다\t0\n";

START_TEST(test_nsmc) {
    cg_read_options o = cg_read_defaults();
    o.header = true;
    o.text_column = 1;
    cg_text_corpus *c = cg_parse_tsv(NSMC, strlen(NSMC), "ratings.txt", &o);
    ck_assert_int_eq(c->n, 3);
    ck_assert_str_eq(c->texts[0], "아 더빙.. 진짜 짜증나네요 목소리");
    ck_assert_int_eq(c->labels[1], 1);
    cg_tokenizer *tk = cg_tokenizer_new(NULL);
    cg_tokenizer_fit(tk, c->texts, c->n);
    ck_assert_int_eq(cg_tokenizer_index(tk, "아"), 1);
    ck_assert_int_gt(cg_tokenizer_index(tk, "초딩영화줄"), 0);
    cg_tokenizer_free(tk);
    cg_text_corpus_free(c);

    /* the same through the table reader */
    cg_csv_options co = cg_csv_defaults();
    co.delimiter = '\t';
    co.quoting = false;
    cg_table *t = cg_parse_csv(NSMC, strlen(NSMC), "ratings.txt", &co);
    ck_assert_int_eq(cg_table_rows(t), 3);
    ck_assert_int_eq(cg_table_cols(t), 3);
    ck_assert_tensor_near(cg_table_column(t, "id", CG_INT64), ((double[]){9976970, 3819312, 10265843}), 3, 0);
    c = cg_table_text_corpus(t, "document", "label", 2);
    ck_assert_str_eq(c->texts[2], "너무재밓었다그래서보는것을추천한다");
    ck_assert_tensor_near(cg_text_corpus_labels(c), ((double[]){0, 1, 0}), 3, 0);
    cg_text_corpus_free(c);
    ck_assert_ptr_null(cg_table_text_corpus(t, "document", "nope", 2));
    ck_assert_error(CG_ERR_INDEX, "no column named \"nope\"");
    cg_table_free(t);
}
END_TEST

START_TEST(test_csv) {
    const char *p = tmpfile_with("name,city,value\n"
                                 "\"Smith, John\",\"Seoul, 서울\",3.5\n"
                                 "\"Lee \"\"Jr\"\"\",Busan,4\n"
                                 "\"multi\nline\",Daegu,-1e2\n",
                                 ".csv");
    cg_table *t = cg_read_csv(p, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(cg_table_rows(t), 3);
    ck_assert_str_eq(cg_table_column_name(t, 1), "city");
    ck_assert_str_eq(cg_table_cell(t, 0, 0), "Smith, John");
    ck_assert_str_eq(cg_table_cell(t, 0, 1), "Seoul, 서울");
    ck_assert_str_eq(cg_table_cell(t, 1, 0), "Lee \"Jr\"");
    ck_assert_str_eq(cg_table_cell(t, 2, 0), "multi\nline");
    ck_assert_int_eq(cg_table_line(t, 2), 5);
    ck_assert_ptr_null(cg_table_cell(t, 3, 0));
    ck_assert_tensor_near(cg_table_column(t, "value", CG_FLOAT64), ((double[]){3.5, 4, -100}), 3, 0);
    ck_assert_ptr_null(cg_table_column(t, "city", CG_FLOAT32));
    char want[128];
    snprintf(want, sizeof want, "%s:2: column \"city\": \"Seoul, 서울\" is not a number", p);
    ck_assert_error(CG_ERR_PARSE, want);
    cg_table_free(t);
    unlink(p);

    const char ragged[] = "a,b\n1,2\n3\n4,5\n";
    ck_assert_ptr_null(cg_parse_csv(ragged, strlen(ragged), "r.csv", NULL));
    ck_assert_error(CG_ERR_PARSE, "cg_read_csv: r.csv:3: 1 fields, expected 2");
    cg_csv_options o = cg_csv_defaults();
    o.skip_bad = true;
    t = cg_parse_csv(ragged, strlen(ragged), "r.csv", &o);
    ck_assert_int_eq(cg_table_rows(t), 2);
    ck_assert_int_eq(cg_table_skipped(t), 1);
    ck_assert_tensor_near(cg_table_column(t, "b", CG_INT64), ((double[]){2, 5}), 2, 0);
    cg_table_free(t);

    const char big[] = "n\n44444444444444444444405\n";
    t = cg_parse_csv(big, strlen(big), "big.csv", NULL);
    ck_assert_ptr_null(cg_table_column(t, "n", CG_INT64));
    ck_assert_error(CG_ERR_PARSE, "big.csv:2: column \"n\": \"44444444444444444444405\" is not an integer");
    ck_assert_tensor_near(cg_table_column(t, "n", CG_FLOAT64), ((double[]){4.4444444444444444444405e22}), 1, 1e-15);
    cg_table_free(t);

    const char open_quote[] = "a\n\"abc\n";
    ck_assert_ptr_null(cg_parse_csv(open_quote, strlen(open_quote), "q.csv", NULL));
    ck_assert_error(CG_ERR_PARSE, "q.csv:2: unterminated quoted field");

    const char bom[] = "\xEF\xBB\xBFtime,value\r\n1974,3035\r\n";
    t = cg_parse_csv(bom, strlen(bom), "bom.csv", NULL);
    ck_assert_str_eq(cg_table_column_name(t, 0), "time"); /* BOM skipped, CRLF handled */
    ck_assert_tensor_near(cg_table_column(t, "value", CG_FLOAT32), ((double[]){3035}), 1, 0);
    cg_table_free(t);

    const char noheader[] = "1;2\n3;4\n";
    o = cg_csv_defaults();
    o.header = false;
    o.delimiter = ';';
    t = cg_parse_csv(noheader, strlen(noheader), "n.csv", &o);
    ck_assert_int_eq(cg_table_rows(t), 2);
    ck_assert_str_eq(cg_table_cell(t, 1, 1), "4");
    cg_table_free(t);

    ck_assert_ptr_null(cg_read_csv("/nonexistent/deaths.csv", NULL));
    ck_assert_error(CG_ERR_IO, "/nonexistent/deaths.csv");
}
END_TEST

/* ------------------------------------------------------ time series */

START_TEST(test_windows) {
    cg_tensor *s = cg_arange(CG_FLOAT32, 0, 6, 1), *x, *y;
    ck_assert_int_eq(cg_timeseries_windows(s, 2, false, &x, &y), CG_OK);
    ck_assert_shape(x, 4, 2, 1);
    ck_assert_shape(y, 4, 1);
    ck_assert_int_eq(x->dtype, CG_FLOAT32);
    ck_assert_tensor_near(x, ((double[]){0, 1, 1, 2, 2, 3, 3, 4}), 8, 0);
    ck_assert_tensor_near(y, ((double[]){2, 3, 4, 5}), 4, 0);
    /* the lesson's tail padding: repeat the last value `steps` times */
    ck_assert_int_eq(cg_timeseries_windows(s, 2, true, &x, &y), CG_OK);
    ck_assert_shape(x, 6, 2, 1);
    ck_assert_tensor_near(x, ((double[]){0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5}), 12, 0);
    ck_assert_tensor_near(y, ((double[]){2, 3, 4, 5, 5, 5}), 6, 0);
    /* two features */
    cg_tensor *s2 = cg_k_reshape(cg_arange(CG_FLOAT64, 0, 8, 1), CG_SHAPE(4, 2));
    ck_assert_int_eq(cg_timeseries_windows(s2, 3, false, &x, &y), CG_OK);
    ck_assert_shape(x, 1, 3, 2);
    ck_assert_tensor_near(x, ((double[]){0, 1, 2, 3, 4, 5}), 6, 0);
    ck_assert_tensor_near(y, ((double[]){6, 7}), 2, 0);
    ck_assert_int_eq(cg_timeseries_windows(s, 6, false, &x, &y), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "length 6");
}
END_TEST

START_TEST(test_scalers) {
    cg_tensor *x = cg_from_data(CG_FLOAT64, CG_SHAPE(4), (double[]){1, 2, 3, 4});
    cg_scaler *sc = cg_scaler_new(CG_SCALE_STANDARD, 0, 0);
    ck_assert_int_eq(cg_scaler_fit(sc, x), CG_OK);
    double sd = sqrt(1.25);
    cg_tensor *z = cg_scaler_transform(sc, x);
    ck_assert_tensor_near(z, ((double[]){-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd}), 4, 1e-12);
    ck_assert_tensor_near(cg_scaler_inverse(sc, z), ((double[]){1, 2, 3, 4}), 4, 1e-12);
    cg_scaler_free(sc);

    cg_tensor *m = cg_from_data(CG_FLOAT32, CG_SHAPE(3, 2), (float[]){1, 10, 3, 30, 2, 20});
    sc = cg_scaler_new(CG_SCALE_MINMAX, 0, 1);
    cg_scaler_fit(sc, m);
    z = cg_scaler_transform(sc, m);
    ck_assert_int_eq(z->dtype, CG_FLOAT32);
    ck_assert_tensor_near(z, ((double[]){0, 0, 1, 1, 0.5, 0.5}), 6, 1e-6);
    ck_assert_tensor_near(cg_scaler_inverse(sc, z), ((double[]){1, 10, 3, 30, 2, 20}), 6, 1e-6);
    cg_tensor *fresh = cg_from_data(CG_FLOAT32, CG_SHAPE(1, 2), (float[]){5, 0});
    ck_assert_tensor_near(cg_scaler_transform(sc, fresh), ((double[]){2, -0.5}), 2, 1e-6);
    cg_scaler_set_clip(sc, 0, 1);
    ck_assert_tensor_near(cg_scaler_transform(sc, fresh), ((double[]){1, 0}), 2, 1e-6);
    ck_assert_ptr_null(cg_scaler_transform(sc, x));
    ck_assert_error(CG_ERR_SHAPE, "[4] has 1 feature(s), the scaler was fitted on 2");
    cg_scaler_free(sc);
}
END_TEST

START_TEST(test_synthetic) {
    cg_rng r1 = cg_rng_seeded(7), r2 = cg_rng_seeded(7);
    cg_tensor *a = cg_noisy_sine(&r1, CG_FLOAT64, 1000), *b = cg_noisy_sine(&r2, CG_FLOAT64, 1000);
    ck_assert_shape(a, 1000);
    const double *da = cg_data_f64(a), *db = cg_data_f64(b);
    double mean = 0;
    for (int t = 0; t < 1000; t++) {
        double noise = da[t] - sin(0.02 * t);
        ck_assert(noise >= 0 && noise < 2);
        ck_assert(da[t] == db[t]);
        mean += noise / 1000;
    }
    ck_assert(fabs(mean - 1) < 0.1);
    ck_assert_tensor_near(cg_counting_sequence(CG_FLOAT32, 10), ((double[]){0, .1, .2, .3, .4, .5, .6, .7, .8, .9}), 10,
                          1e-7);

    cg_tensor *x, *y;
    ck_assert_int_eq(cg_multiplication_problem(&r1, CG_FLOAT32, 50, 100, &x, &y), CG_OK);
    ck_assert_shape(x, 50, 100, 2);
    ck_assert_shape(y, 50, 1);
    const float *px = cg_data_f32(x), *py = cg_data_f32(y);
    for (int i = 0; i < 50; i++) {
        int marks[2], k = 0;
        for (int t = 0; t < 100; t++) {
            float v = px[(i * 100 + t) * 2], m = px[(i * 100 + t) * 2 + 1];
            ck_assert(v >= 0 && v < 1);
            ck_assert(m == 0 || m == 1);
            if (m == 1) {
                ck_assert_int_lt(k, 2);
                marks[k++] = t;
            }
        }
        ck_assert_int_eq(k, 2);
        ck_assert_int_lt(marks[0], 50);
        ck_assert_int_ge(marks[1], 50);
        ck_assert_float_eq_tol(py[i], px[(i * 100 + marks[0]) * 2] * px[(i * 100 + marks[1]) * 2], 1e-6);
    }
}
END_TEST

/* ------------------------------------------------------------ batching */

START_TEST(test_split_and_batches) {
    cg_tensor *x = cg_k_reshape(cg_arange(CG_FLOAT32, 0, 20, 1), CG_SHAPE(10, 2));
    cg_tensor *y = cg_arange(CG_INT64, 0, 10, 1), *xt, *yt, *xv, *yv;
    ck_assert_int_eq(cg_train_val_split(x, y, 0.2, &xt, &yt, &xv, &yv), CG_OK);
    ck_assert_shape(xt, 8, 2);
    ck_assert_tensor_near(yv, ((double[]){8, 9}), 2, 0);
    ck_assert_tensor_near(xv, ((double[]){16, 17, 18, 19}), 4, 0);
    ck_assert_int_eq(cg_train_val_split(x, y, 1.0, &xt, &yt, &xv, &yv), CG_ERR_VALUE);
    cg_clear_error();

    cg_batcher *b = cg_batcher_new(x, y, 3, false, 0, false);
    ck_assert_int_eq(cg_batcher_len(b), 4);
    cg_tensor *xb, *yb;
    int64_t seen = 0;
    while (cg_batcher_next(b, &xb, &yb)) seen += yb->shape[0];
    ck_assert_int_eq(seen, 10);
    ck_assert_tensor_near(yb, ((double[]){9}), 1, 0); /* the short last batch */
    cg_batcher_free(b);

    b = cg_batcher_new(x, y, 3, true, 42, true);
    ck_assert_int_eq(cg_batcher_len(b), 3);
    int64_t first[10], again[10];
    cg_batcher_start_epoch(b, 1);
    memcpy(first, cg_batcher_order(b), sizeof first);
    int hit[10] = {0};
    for (int i = 0; i < 10; i++) hit[first[i]]++;
    for (int i = 0; i < 10; i++) ck_assert_int_eq(hit[i], 1); /* a permutation */
    cg_batcher_start_epoch(b, 2);
    ck_assert(memcmp(first, cg_batcher_order(b), sizeof first) != 0);
    cg_batcher_start_epoch(b, 1);
    memcpy(again, cg_batcher_order(b), sizeof again);
    ck_assert_mem_eq(first, again, sizeof first); /* seed + epoch -> same order */
    ck_assert_int_eq(cg_batcher_get(b, 1, &xb, &yb), CG_OK);
    ck_assert_shape(xb, 3, 2);
    for (int i = 0; i < 3; i++) {
        int64_t row = first[3 + i];
        ck_assert_int_eq(cg_data_i64(yb)[i], row);
        ck_assert_float_eq(cg_data_f32(xb)[2 * i + 1], (float)(2 * row + 1));
    }
    ck_assert_int_eq(cg_batcher_get(b, 3, &xb, &yb), CG_ERR_INDEX);
    cg_clear_error();

    /* a scoped epoch loop stops allocating after the first epoch */
    uint64_t before = 0;
    for (int epoch = 0; epoch < 3; epoch++) {
        if (epoch == 2) before = cg_heap_allocations();
        cg_batcher_start_epoch(b, epoch);
        cg_scope *s = cg_scope_begin();
        while (cg_batcher_next(b, &xb, &yb)) ck_assert_ptr_nonnull(xb);
        cg_scope_end(s);
    }
    ck_assert_uint_eq(cg_heap_allocations(), before);
    cg_batcher_free(b);
}
END_TEST

Suite *datasets_suite(void) {
    Suite *s = suite_create("datasets");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_word_sequence);
    tcase_add_test(tc, test_tokenizer_keras);
    tcase_add_test(tc, test_tokenizer_korean_and_chars);
    tcase_add_test(tc, test_tokenizer_parallel_same);
    tcase_add_test(tc, test_pad_sequences);
    tcase_add_test(tc, test_one_hot);
    tcase_add_test(tc, test_read_tsv);
    tcase_add_test(tc, test_nsmc);
    tcase_add_test(tc, test_csv);
    tcase_add_test(tc, test_windows);
    tcase_add_test(tc, test_scalers);
    tcase_add_test(tc, test_synthetic);
    tcase_add_test(tc, test_split_and_batches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(datasets_suite()); }
