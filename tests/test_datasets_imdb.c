/* datasets: aclImdb from a folder and from a .tar.gz (written here with
 * libarchive), truncated archives, and Keras-style imdb.load_data. */
#include "testlib.h"

#include <archive.h>
#include <archive_entry.h>
#include <cgrad/datasets.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct review_file {
    const char *path, *text;
} review_file;

/* Ids 2 and 10 check numeric (not string) order; 한국어 checks UTF-8. */
static const review_file REVIEWS[] = {
    {"aclImdb/train/pos/10_9.txt", "great great film"},
    {"aclImdb/train/pos/2_8.txt", "good movie<br />great"},
    {"aclImdb/train/neg/3_1.txt", "bad movie"},
    {"aclImdb/train/neg/1_2.txt", "boring 한국어 movie\xff"},
    {"aclImdb/test/pos/0_10.txt", "great unknown"},
    {"aclImdb/test/neg/5_3.txt", "bad bad"},
    {"aclImdb/train/unsup/0_0.txt", "ignored"},
    {"aclImdb/imdb.vocab", "ignored"},
};
#define NREVIEWS (int)(sizeof REVIEWS / sizeof REVIEWS[0])

static char g_dir[64];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static const char *make_folder(void) {
    strcpy(g_dir, "/tmp/cgrad_acl_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    const char *sub[] = {"aclImdb", "aclImdb/train", "aclImdb/test", "aclImdb/train/pos", "aclImdb/train/neg",
                         "aclImdb/test/pos", "aclImdb/test/neg", "aclImdb/train/unsup"};
    char p[256];
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, sub[i]);
        ck_assert_int_eq(mkdir(p, 0700), 0);
    }
    for (int i = 0; i < NREVIEWS; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, REVIEWS[i].path);
        write_text(p, REVIEWS[i].text);
    }
    return g_dir;
}

static void remove_folder(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Write the reviews as a gzip'ed tar; returns the path. */
static const char *make_archive(void) {
    static char path[64];
    strcpy(path, "/tmp/cgrad_acl_XXXXXX.tar.gz");
    int fd = mkstemps(path, 7);
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    /* padding so that a cut in the middle falls inside the data */
    static char big[20000];
    memset(big, 'x', sizeof big - 1);
    for (int i = 0; i <= NREVIEWS; i++) {
        const char *name = i < NREVIEWS ? REVIEWS[i].path : "aclImdb/README";
        const char *text = i < NREVIEWS ? REVIEWS[i].text : big;
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_size(e, (la_int64_t)strlen(text));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_data(a, text, strlen(text)), (la_ssize_t)strlen(text));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
}

static void check_fixture_corpora(const cg_text_corpus *train, const cg_text_corpus *test) {
    ck_assert_int_eq(train->n, 4);
    ck_assert_int_eq(test->n, 2);
    /* neg by id, then pos by id */
    ck_assert_str_eq(train->texts[0], "boring 한국어 movie\xEF\xBF\xBD");
    ck_assert_str_eq(train->texts[1], "bad movie");
    ck_assert_str_eq(train->texts[2], "good movie<br />great");
    ck_assert_str_eq(train->texts[3], "great great film");
    ck_assert_tensor_near(cg_text_corpus_labels(train), ((double[]){0, 0, 1, 1}), 4, 0);
    ck_assert_str_eq(test->texts[0], "bad bad");
    ck_assert_tensor_near(cg_text_corpus_labels(test), ((double[]){0, 1}), 2, 0);
}

START_TEST(test_aclimdb_folder_and_archive) {
    cg_text_corpus *train, *test;
    const char *dir = make_folder();
    ck_assert_int_eq(cg_aclimdb_read(dir, &train, &test), CG_OK); /* the folder holding aclImdb/ */
    check_fixture_corpora(train, test);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
    char p[256];
    snprintf(p, sizeof p, "%s/aclImdb", dir);
    ck_assert_int_eq(cg_aclimdb_read(p, NULL, &test), CG_OK); /* aclImdb/ itself, test only */
    ck_assert_int_eq(test->n, 2);
    cg_text_corpus_free(test);
    snprintf(p, sizeof p, "%s/aclImdb/test/pos", dir);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", p);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(cg_aclimdb_read(dir, &train, &test), CG_ERR_IO);
    ck_assert_ptr_null(train);
    ck_assert_error(CG_ERR_IO, "aclImdb/test/pos");
    remove_folder();
    ck_assert_int_eq(cg_aclimdb_read("/nonexistent/aclImdb", &train, NULL), CG_ERR_IO);
    ck_assert_error(CG_ERR_IO, "/nonexistent/aclImdb");

    const char *tgz = make_archive();
    ck_assert_int_eq(cg_aclimdb_read(tgz, &train, &test), CG_OK);
    check_fixture_corpora(train, test);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);

    unlink(tgz);

    /* cut the archive (early: inside the gzip header's read-ahead; late: inside
     * the tar data): an error naming the file, never a crash */
    for (int tenths = 3; tenths <= 9; tenths += 6) {
        tgz = make_archive();
        struct stat st;
        ck_assert_int_eq(stat(tgz, &st), 0);
        ck_assert_int_eq(truncate(tgz, st.st_size * tenths / 10), 0);
        ck_assert_int_eq(cg_aclimdb_read(tgz, &train, &test), CG_ERR_IO);
        ck_assert_ptr_null(train);
        char want[128];
        snprintf(want, sizeof want, "cg_aclimdb_read: %s: truncated or corrupt archive", tgz);
        ck_assert_error(CG_ERR_IO, want);
        unlink(tgz);
    }
}
END_TEST

static cg_text_corpus *corpus_from(const char *tsv) {
    cg_text_corpus *c = cg_parse_tsv(tsv, strlen(tsv), "fixture", NULL);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* An empty file, or an archive with no review in it, is an error naming the
 * path (it used to give two empty corpora). */
START_TEST(test_aclimdb_without_reviews) {
    char path[] = "/tmp/cgrad_empty_XXXXXX.tar.gz";
    int fd = mkstemps(path, 7);
    ck_assert_int_ge(fd, 0);
    close(fd);
    cg_text_corpus *train = NULL, *test = NULL;
    ck_assert_int_ne(cg_aclimdb_read(path, &train, &test), CG_OK);
    ck_assert_ptr_null(train);
    ck_assert_ptr_null(test);
    ck_assert_ptr_nonnull(strstr(cg_last_error(), path));
    cg_clear_error();
    unlink(path);
}
END_TEST

START_TEST(test_imdb_keras) {
    /* train counts: great 3, movie 2, good 1, bad 1, film 1 -> ranks 1..5, ids 4..8 */
    cg_text_corpus *train = corpus_from("good movie<br />great\t1\nbad movie\t0\ngreat great film\t1\n");
    cg_text_corpus *test = corpus_from("great unknown\t1\nbad\t0\n");
    cg_imdb_options o = cg_imdb_defaults();
    o.shuffle = false;
    cg_imdb *d = cg_imdb_from_corpora(train, test, &o);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->x_train->n, 3);
    const int64_t t0[] = {1, 6, 5, 4}, t1[] = {1, 7, 5}, t2[] = {1, 4, 4, 8}, u0[] = {1, 4, 2}, u1[] = {1, 7};
    ck_assert_mem_eq(cg_sequences_get(d->x_train, 0), t0, sizeof t0);
    ck_assert_int_eq(cg_sequences_len(d->x_train, 0), 4); /* no "br" token */
    ck_assert_mem_eq(cg_sequences_get(d->x_train, 1), t1, sizeof t1);
    ck_assert_mem_eq(cg_sequences_get(d->x_train, 2), t2, sizeof t2);
    ck_assert_mem_eq(cg_sequences_get(d->x_test, 0), u0, sizeof u0); /* test-only word -> oov_char */
    ck_assert_mem_eq(cg_sequences_get(d->x_test, 1), u1, sizeof u1);
    ck_assert_tensor_near(d->y_train, ((double[]){1, 0, 1}), 3, 0);
    ck_assert_str_eq(cg_imdb_word(d, 4), "great");
    ck_assert_str_eq(cg_imdb_word(d, 8), "film");
    ck_assert_str_eq(cg_imdb_word(d, 1), "<START>");
    ck_assert_str_eq(cg_imdb_word(d, 2), "<OOV>");
    ck_assert_str_eq(cg_imdb_word(d, 0), "<PAD>");
    ck_assert_ptr_null(cg_imdb_word(d, 9));
    cg_imdb_free(d);

    /* num_words / skip_top: keep ids with skip_top <= id < num_words */
    o.num_words = 6;
    o.skip_top = 5;
    d = cg_imdb_from_corpora(train, test, &o);
    const int64_t v0[] = {1, 2, 5, 2};
    ck_assert_mem_eq(cg_sequences_get(d->x_train, 0), v0, sizeof v0);
    cg_imdb_free(d);
    o.oov_char = 0; /* Keras' oov_char=None: such words are dropped */
    d = cg_imdb_from_corpora(train, test, &o);
    const int64_t w0[] = {1, 5};
    ck_assert_int_eq(cg_sequences_len(d->x_train, 0), 2);
    ck_assert_mem_eq(cg_sequences_get(d->x_train, 0), w0, sizeof w0);
    cg_imdb_free(d);

    /* maxlen drops sequences of length >= maxlen (start_char included) */
    o = cg_imdb_defaults();
    o.shuffle = false;
    o.maxlen = 4;
    d = cg_imdb_from_corpora(train, test, &o);
    ck_assert_int_eq(d->x_train->n, 1);
    ck_assert_mem_eq(cg_sequences_get(d->x_train, 0), t1, sizeof t1);
    ck_assert_tensor_near(d->y_train, ((double[]){0}), 1, 0);
    ck_assert_int_eq(d->x_test->n, 2);
    cg_imdb_free(d);

    /* shuffling is seeded and keeps each review with its label */
    o = cg_imdb_defaults();
    cg_imdb *a = cg_imdb_from_corpora(train, test, &o), *b = cg_imdb_from_corpora(train, test, &o);
    for (int64_t i = 0; i < 3; i++) {
        ck_assert_int_eq(cg_sequences_len(a->x_train, i), cg_sequences_len(b->x_train, i));
        int64_t len = cg_sequences_len(a->x_train, i), y = cg_data_i64(a->y_train)[i];
        ck_assert_int_eq(y, cg_data_i64(b->y_train)[i]);
        ck_assert_int_eq(y, len == 3 ? 0 : 1); /* "bad movie" is the only negative */
    }
    cg_imdb_free(a);
    cg_imdb_free(b);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
}
END_TEST

Suite *imdb_suite(void) {
    Suite *s = suite_create("datasets_imdb");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_aclimdb_folder_and_archive);
    tcase_add_test(tc, test_aclimdb_without_reviews);
    tcase_add_test(tc, test_imdb_keras);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(imdb_suite()); }
