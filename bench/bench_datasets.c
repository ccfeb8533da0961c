/* Loading, tokenizing and encoding all 50,000 aclImdb reviews straight from
 * aclImdb_v1.tar.gz ($CGRAD_DATA), with 1 and 2 threads.
 * Usage: CGRAD_DATA=/path/to/datasets bench_datasets [repeats] */
#include <cgrad/datasets.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *dir = getenv("CGRAD_DATA");
    if (!dir || !dir[0]) {
        fprintf(stderr, "bench_datasets: set CGRAD_DATA to the datasets folder\n");
        return 1;
    }
    int repeats = argc > 1 ? atoi(argv[1]) : 3;
    char path[4096];
    snprintf(path, sizeof path, "%s/aclImdb_v1.tar.gz", dir);
    printf("%-8s %10s %10s %10s %10s\n", "threads", "read s", "imdb s", "total s", "best s");
    for (int threads = 1; threads <= 2; threads++) {
        cg_set_num_threads(threads);
        double best = 1e30;
        for (int r = 0; r < repeats; r++) {
            double t0 = now();
            cg_text_corpus *train, *test;
            if (cg_aclimdb_read(path, &train, &test) != CG_OK) {
                fprintf(stderr, "bench_datasets: %s\n", cg_last_error());
                return 1;
            }
            double t1 = now();
            cg_imdb_options o = cg_imdb_defaults();
            o.num_words = 10000;
            cg_imdb *d = cg_imdb_from_corpora(train, test, &o);
            double t2 = now();
            if (!d) {
                fprintf(stderr, "bench_datasets: %s\n", cg_last_error());
                return 1;
            }
            if (r == 0 && threads == 1)
                printf("# %lld + %lld reviews, %lld + %lld ids, vocabulary %lld words\n", (long long)d->x_train->n,
                       (long long)d->x_test->n, (long long)d->x_train->offsets[d->x_train->n],
                       (long long)d->x_test->offsets[d->x_test->n], (long long)cg_tokenizer_vocab_size(d->tokenizer) - 1);
            best = t2 - t0 < best ? t2 - t0 : best;
            printf("%-8d %10.3f %10.3f %10.3f %10.3f\n", threads, t1 - t0, t2 - t1, t2 - t0, best);
            cg_imdb_free(d);
            cg_text_corpus_free(train);
            cg_text_corpus_free(test);
        }
    }
    cg_cleanup();
    return 0;
}
