/* datasets on the real files in the data folder (cgt_data_dir: $CGRAD_DATA
 * or the folder CMake found): aclImdb from the .tar.gz, the UCI sentences,
 * deaths.csv, NSMC. Without the folder or any of its files the suite runs
 * nothing and exits with CGT_SKIP, which CTest reports as Skipped. */
#include "testlib.h"

#include <cgrad/datasets.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The files the suite reads, relative to the data folder. */
static const char *const NEEDED[] = {"aclImdb_v1.tar.gz", "sentiment_labelled_sentences/yelp_labelled.txt",
                                     "sentiment_labelled_sentences/imdb_labelled.txt", "deaths.csv",
                                     "nsmc/ratings_train.txt", "nsmc/ratings_test.txt"};

static const char *data_path(const char *rel) {
    static char buf[4][4096];
    static int next;
    const char *dir = cgt_data_dir();
    if (!dir) return NULL;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, rel);
    return b;
}

static int64_t count_label(const cg_text_corpus *c, int64_t label, int64_t from, int64_t to) {
    int64_t n = 0;
    for (int64_t i = from; i < to; i++) n += c->labels[i] == label;
    return n;
}

START_TEST(test_real_aclimdb) {
    const char *tgz = data_path("aclImdb_v1.tar.gz");
    cg_imdb_options o = cg_imdb_defaults();
    o.num_words = 10000;
    cg_imdb *d = cg_imdb_load(tgz, &o);
    ck_assert_msg(d != NULL, "%s", cg_last_error());
    ck_assert_int_eq(d->x_train->n, 25000);
    ck_assert_int_eq(d->x_test->n, 25000);
    ck_assert_shape(d->y_train, 25000);
    int64_t pos = 0, maxid = 0;
    for (int64_t i = 0; i < 25000; i++) {
        pos += cg_data_i64(d->y_train)[i];
        ck_assert_int_eq(cg_sequences_get(d->x_train, i)[0], 1); /* start_char */
    }
    ck_assert_int_eq(pos, 12500);
    for (int64_t k = 0; k < d->x_test->offsets[25000]; k++) maxid = d->x_test->ids[k] > maxid ? d->x_test->ids[k] : maxid;
    ck_assert_int_eq(maxid, 9999);
    ck_assert_str_eq(cg_imdb_word(d, 4), "the"); /* the most frequent word */
    ck_assert_int_gt(cg_tokenizer_vocab_size(d->tokenizer), 80000);
    /* padded like the lessons: int64 [25000, 500] */
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_pad_sequences(d->x_train, 500, CG_PAD_PRE, CG_PAD_PRE, 0);
    ck_assert_shape(x, 25000, 500);
    cg_scope_end(s);
    cg_imdb_free(d);
}
END_TEST

START_TEST(test_real_aclimdb_order) {
    cg_text_corpus *train, *test;
    ck_assert_int_eq(cg_aclimdb_read(cgt_data_dir(), &train, &test), CG_OK); /* finds the .tar.gz */
    ck_assert_int_eq(train->n, 25000);
    ck_assert_int_eq(test->n, 25000);
    ck_assert_int_eq(count_label(train, 0, 0, 12500), 12500); /* neg first, then pos */
    ck_assert_int_eq(count_label(train, 1, 12500, 25000), 12500);
    ck_assert_int_eq(count_label(test, 1, 0, 25000), 12500);
    ck_assert_int_gt((int64_t)strlen(train->texts[0]), 10);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
}
END_TEST

START_TEST(test_real_sentences) {
    const char *files[] = {"sentiment_labelled_sentences/yelp_labelled.txt",
                           "sentiment_labelled_sentences/imdb_labelled.txt"};
    for (int f = 0; f < 2; f++) {
        const char *p = data_path(files[f]);
        cg_text_corpus *c = cg_read_tsv(p, NULL);
        ck_assert_msg(c != NULL, "%s", cg_last_error());
        ck_assert_int_eq(c->n, 1000);
        ck_assert_int_eq(count_label(c, 1, 0, 1000), 500);
        if (f == 0) {
            ck_assert_str_eq(c->texts[0], "Wow... Loved this place.");
            ck_assert_int_eq(c->labels[0], 1);
        }
        cg_tokenizer *tk = cg_tokenizer_new(NULL);
        ck_assert_int_eq(cg_tokenizer_fit(tk, c->texts, c->n), CG_OK);
        ck_assert_int_gt(cg_tokenizer_vocab_size(tk), 1000);
        cg_tokenizer_free(tk);
        cg_text_corpus_free(c);
    }
}
END_TEST

START_TEST(test_real_deaths) {
    const char *p = data_path("deaths.csv");
    cg_table *t = cg_read_csv(p, NULL);
    ck_assert_msg(t != NULL, "%s", cg_last_error());
    ck_assert_int_eq(cg_table_rows(t), 72);
    ck_assert_str_eq(cg_table_column_name(t, 2), "value");
    cg_tensor *v = cg_table_column(t, "value", CG_FLOAT32), *time = cg_table_column(t, "time", CG_FLOAT64);
    ck_assert_shape(v, 72);
    ck_assert_float_eq(cg_data_f32(v)[0], 3035);
    ck_assert_float_eq(cg_data_f32(v)[1], 2552);
    ck_assert_double_eq_tol(cg_data_f64(time)[0], 1974, 1e-9);
    ck_assert_double_eq_tol(cg_data_f64(time)[71], 1979 + 11.0 / 12, 1e-6);
    /* the lesson's pipeline: scale, then 12-step windows with tail padding */
    cg_scaler *sc = cg_scaler_new(CG_SCALE_MINMAX, 0, 1);
    cg_scaler_fit(sc, v);
    cg_tensor *x, *y;
    ck_assert_int_eq(cg_timeseries_windows(cg_scaler_transform(sc, v), 12, true, &x, &y), CG_OK);
    ck_assert_shape(x, 72, 12, 1);
    cg_tensor *back = cg_scaler_inverse(sc, cg_k_slice(y, 0, 59, 60, 1));
    ck_assert_float_eq_tol(cg_item(back), cg_data_f32(v)[71], 1e-2); /* y[t] = series[t + 12] */
    cg_scaler_free(sc);
    cg_table_free(t);
}
END_TEST

/* NSMC as korean_reviews reads it: id<TAB>document<TAB>label with a header. */
START_TEST(test_real_nsmc) {
    const char *files[] = {"nsmc/ratings_train.txt", "nsmc/ratings_test.txt"};
    const int64_t rows[] = {150000, 50000}, positive[] = {74794, 25206};
    cg_read_options o = cg_read_defaults();
    o.header = true, o.text_column = 1;
    for (int f = 0; f < 2; f++) {
        cg_text_corpus *c = cg_read_tsv(data_path(files[f]), &o);
        ck_assert_msg(c != NULL, "%s", cg_last_error());
        ck_assert_int_eq(c->n, rows[f]);
        ck_assert_int_eq(c->skipped, 0);
        ck_assert_int_eq(count_label(c, 1, 0, c->n), positive[f]);
        ck_assert_int_eq(count_label(c, 0, 0, c->n), rows[f] - positive[f]);
        if (f == 0) {
            ck_assert_str_eq(c->texts[0], "나름 볼만한데 평점이 왜이리 낮지,그래서 원래는 7점정도가맞는데ㅎ");
            ck_assert_int_eq(c->labels[0], 1);
        }
        cg_text_corpus_free(c);
    }
}
END_TEST

Suite *real_suite(void) {
    Suite *s = suite_create("datasets_real");
    TCase *tc = tcase_create("real");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_real_aclimdb);
    tcase_add_test(tc, test_real_aclimdb_order);
    tcase_add_test(tc, test_real_sentences);
    tcase_add_test(tc, test_real_deaths);
    tcase_add_test(tc, test_real_nsmc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    const char *dir = cgt_data_dir();
    if (!dir) {
        printf("datasets_real: no data folder (set CGRAD_DATA or configure with -DCGRAD_DATA=DIR): skipped\n");
        return CGT_SKIP;
    }
    int missing = 0;
    for (size_t i = 0; i < sizeof NEEDED / sizeof NEEDED[0]; i++) {
        struct stat st;
        if (stat(data_path(NEEDED[i]), &st) == 0) continue;
        printf("datasets_real: %s/%s is missing\n", dir, NEEDED[i]);
        missing++;
    }
    if (missing) {
        printf("datasets_real: %d of the files it reads are missing from %s: skipped\n", missing, dir);
        return CGT_SKIP;
    }
    return cgt_run(real_suite());
}
