/* Shared by the lesson programs: command-line flags, output paths, the IMDB
 * loader with --limit, and small reporting helpers. Header-only (static inline
 * functions) because the build makes a program of every .c file in examples/.
 *
 * Common flags:
 *   --data DIR     the data folder (default: $CGRAD_DATA)
 *   --epochs N     training epochs (0: print the model summary and exit)
 *   --limit N      use only the first N samples (0: all; IMDB: N reviews per split,
 *                  taken evenly from the label-sorted corpus so both labels appear)
 *   --seed S       random seed for initialization and shuffling
 *   --threads N    threads for kernels and GEMM (default: all cores, shared
 *                  out among the ranks on this machine with --dist)
 *   --dist         train over MPI: run under `mpirun -np N <program> --dist ...`
 *                  (or set CGRAD_DIST=1); every rank loads the data, fit gives
 *                  each its share of every batch (--batch stays per rank), and
 *                  only rank 0 prints and writes files
 *   --out DIR      where CSV and PNG files go (default: out/<program>)
 * Programs may add flags of their own (ex_flag). */
#ifndef CGRAD_EXAMPLE_UTIL_H
#define CGRAD_EXAMPLE_UTIL_H

#include <cgrad/cgrad.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The exit status CTest reads as "skipped" (data not available). */
#define EX_SKIP 77

typedef struct ex_args {
    const char *prog; /* program name, for messages and the default --out */
    const char *data, *out;
    int epochs, threads;
    int shards; /* cg_fit_opts.shards for every fit; 0: no split */
    int64_t limit;
    uint64_t seed;
    cg_dist *d; /* --dist: every fit trains over these ranks */
} ex_args;

/* A program-specific flag: a string (str != NULL) or a number (num != NULL). */
typedef struct ex_flag {
    const char *name; /* "--steps" */
    const char **str;
    double *num;
    const char *help;
} ex_flag;

static inline void ex_usage(const ex_args *a, const ex_flag *extra, int n_extra, const char *about) {
    printf("%s: %s\n\nusage: %s [--data DIR] [--epochs N] [--limit N] [--seed S] [--threads N] [--shards N] [--dist] "
           "[--out DIR]",
           a->prog, about, a->prog);
    for (int i = 0; i < n_extra; i++) printf(" [%s %s]", extra[i].name, extra[i].str ? "TEXT" : "N");
    printf("\n  defaults: --epochs %d --seed %llu --out out/%s; --data falls back to $CGRAD_DATA\n", a->epochs,
           (unsigned long long)a->seed, a->prog);
    for (int i = 0; i < n_extra; i++) printf("  %-12s %s\n", extra[i].name, extra[i].help);
}

/* Is this the rank that prints and writes files (always, without --dist)? */
static inline bool ex_root(const ex_args *a) { return cg_dist_rank(a->d) == 0; }

static cg_dist *ex_dist_at_exit;
static inline void ex_dist_end(void) {
    cg_dist_finalize(ex_dist_at_exit);
    ex_dist_at_exit = NULL;
}

/* --dist: join the MPI job; ranks other than 0 print nothing. */
static inline void ex_dist_start(ex_args *a) {
    a->d = cg_dist_init(NULL, NULL, NULL);
    if (!a->d) {
        fprintf(stderr, "%s: --dist: %s\n", a->prog, cg_last_error());
        exit(1);
    }
    ex_dist_at_exit = a->d;
    atexit(ex_dist_end);
    if (a->threads <= 0) { /* the machine's cores, shared among its ranks */
        int t = cg_get_num_threads() / cg_dist_local_size(a->d);
        a->threads = t > 0 ? t : 1;
    }
    if (!ex_root(a) && !freopen("/dev/null", "w", stdout)) exit(1);
}

/* Parse argv into *a (which holds the program's defaults on entry). Exits
 * with status 0 after --help and 2 on a bad flag. */
static inline void ex_parse(int argc, char **argv, ex_args *a, const ex_flag *extra, int n_extra, const char *about) {
    static char out_default[256];
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows up line by line in logs too */
    if (!a->data) a->data = getenv("CGRAD_DATA");
    if (a->data && !*a->data) a->data = NULL;
    const char *env_dist = getenv("CGRAD_DIST");
    bool dist = env_dist && *env_dist && strcmp(env_dist, "0") != 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool known = true;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            ex_usage(a, extra, n_extra, about);
            exit(0);
        } else if (!strcmp(f, "--dist")) {
            dist = true;
            continue;
        } else if (!v) {
            known = false;
        } else if (!strcmp(f, "--data")) {
            a->data = v;
        } else if (!strcmp(f, "--out")) {
            a->out = v;
        } else if (!strcmp(f, "--epochs")) {
            a->epochs = atoi(v);
        } else if (!strcmp(f, "--limit")) {
            a->limit = atoll(v);
        } else if (!strcmp(f, "--seed")) {
            a->seed = strtoull(v, NULL, 10);
        } else if (!strcmp(f, "--threads")) {
            a->threads = atoi(v);
        } else if (!strcmp(f, "--shards")) { /* -1: split each batch over the threads */
            a->shards = atoi(v);
        } else {
            known = false;
            for (int k = 0; k < n_extra && !known; k++) {
                if (strcmp(f, extra[k].name)) continue;
                known = true;
                if (extra[k].str) *extra[k].str = v;
                else *extra[k].num = atof(v);
            }
        }
        if (!known) {
            fprintf(stderr, "%s: unknown flag or missing value: %s (try --help)\n", a->prog, f);
            exit(2);
        }
        i++;
    }
    if (a->epochs < 0 || a->limit < 0 || a->shards < -1) {
        fprintf(stderr, "%s: --epochs and --limit must be >= 0, --shards >= -1\n", a->prog);
        exit(2);
    }
    if (!a->out) {
        snprintf(out_default, sizeof out_default, "out/%s", a->prog);
        a->out = out_default;
    }
    if (dist) ex_dist_start(a);
    if (a->threads > 0) cg_set_num_threads(a->threads);
    cg_manual_seed(a->seed);
}

/* Print what failed and cgrad's message; returns 1 for `return ex_fail(...)`. */
static inline int ex_fail(const ex_args *a, const char *what) {
    fprintf(stderr, "%s: %s failed: %s\n", a->prog, what, cg_last_error());
    return 1;
}

/* mkdir -p. */
static inline int ex_mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        if (!c) return 0;
        *p = c;
    }
}

/* "<out>/<name>" in a rotating buffer, with the folder created. */
static inline const char *ex_out_path(const ex_args *a, const char *name) {
    static char buf[4][1024];
    static int k;
    if (ex_mkdirs(a->out) != 0) fprintf(stderr, "%s: cannot create %s: %s\n", a->prog, a->out, strerror(errno));
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", a->out, name);
    return p;
}

/* "<data>/<name>"; without a data folder, say how to give one and exit 77
 * (what CTest counts as a skipped test). */
static inline const char *ex_data_path(const ex_args *a, const char *name) {
    static char buf[1024];
    if (!a->data) {
        fprintf(stderr, "%s: needs %s: pass --data DIR or set CGRAD_DATA to the folder holding it\n", a->prog,
                name);
        exit(EX_SKIP);
    }
    snprintf(buf, sizeof buf, "%s/%s", a->data, name);
    return buf;
}

static inline double ex_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Print the Keras summary; with --epochs 0 that is all the program does. */
static inline void ex_summary(const ex_args *a, const cg_module *model, const int64_t *input_shape, int ndim) {
    if (cg_summary(model, input_shape, ndim, stdout) != CG_OK) exit(ex_fail(a, "cg_summary"));
    if (a->epochs == 0) exit(0);
}

/* Every parameter of the model (owned by a static array, fine for one model
 * at a time: copy the pointers if you build several). */
static inline cg_tensor **ex_params(const cg_module *m, int *n) {
    static cg_tensor *buf[4][64];
    static int k;
    cg_tensor **p = buf[k++ % 4];
    *n = cg_module_parameters(m, p, 64);
    if (*n > 64) *n = 64;
    return p;
}

/* The mean wall time of the epochs in h. */
static inline double ex_seconds_per_epoch(const cg_history *h) {
    double s = 0;
    for (int i = 0; i < h->epochs; i++) s += h->seconds[i];
    return h->epochs ? s / h->epochs : 0;
}

/* A plot that may fail only for want of gnuplot (the CSV is written anyway). */
static inline void ex_report_plot(const ex_args *a, cg_status st, const char *path) {
    if (st == CG_OK) printf("wrote %s\n", path);
    else fprintf(stderr, "%s: no plot %s (%s); the CSV next to it has the numbers\n", a->prog, path, cg_last_error());
}

/* Labels int64 [n] -> float32 [n] for the binary losses. */
static inline cg_tensor *ex_float_labels(const cg_tensor *y) { return cg_to_dtype(y, CG_FLOAT32); }

/* Keep `limit` of the n texts, spread evenly so that a corpus sorted by
 * label keeps both labels. The texts stay owned by c. */
static inline cg_text_corpus ex_corpus_subset(const cg_text_corpus *c, int64_t limit, const char **texts, int64_t *labels) {
    cg_text_corpus s = *c;
    if (limit <= 0 || limit >= c->n) return s;
    for (int64_t k = 0; k < limit; k++) {
        int64_t i = k * c->n / limit;
        texts[k] = c->texts[i];
        labels[k] = c->labels[i];
    }
    s.n = limit, s.texts = texts, s.labels = labels, s.priv = NULL;
    return s;
}

/* keras.datasets.imdb.load_data(num_words) from aclImdb_v1.tar.gz (or the
 * extracted folder) in the data folder. With --limit, the first N reviews of
 * each split (spread over both labels) are tokenized, nothing else. */
static inline cg_imdb *ex_imdb_load(const ex_args *a, int64_t num_words) {
    const char *path = ex_data_path(a, "aclImdb_v1.tar.gz");
    struct stat st;
    if (stat(path, &st) != 0) path = ex_data_path(a, "aclImdb");
    double t0 = ex_now();
    cg_text_corpus *train = NULL, *test = NULL;
    if (cg_aclimdb_read(path, &train, &test) != CG_OK) exit(ex_fail(a, "reading aclImdb"));
    int64_t lim = a->limit;
    const char **texts = lim ? malloc(2 * (size_t)lim * sizeof *texts) : NULL;
    int64_t *labels = lim ? malloc(2 * (size_t)lim * sizeof *labels) : NULL;
    cg_text_corpus tr = ex_corpus_subset(train, lim, texts, labels);
    cg_text_corpus te = ex_corpus_subset(test, lim, texts ? texts + lim : NULL, labels ? labels + lim : NULL);
    cg_imdb_options o = cg_imdb_defaults();
    o.num_words = num_words;
    cg_imdb *d = cg_imdb_from_corpora(&tr, &te, &o);
    free(texts);
    free(labels);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
    if (!d) exit(ex_fail(a, "tokenizing aclImdb"));
    printf("IMDB: %lld train and %lld test reviews, num_words %lld (loaded in %.1fs)\n",
           (long long)d->x_train->n, (long long)d->x_test->n, (long long)num_words, ex_now() - t0);
    return d;
}

/* The values of t as doubles (malloc'ed, caller frees); NULL on error. */
static inline double *ex_values(const cg_tensor *t) {
    cg_tensor *d = t ? cg_to_dtype(t, CG_FLOAT64) : NULL;
    double *v = d ? malloc((size_t)cg_numel(d) * sizeof *v + 1) : NULL;
    if (v && cg_copy_out(d, v, (size_t)cg_numel(d) * sizeof *v) != CG_OK) {
        free(v);
        v = NULL;
    }
    return v;
}

/* Mean squared difference of two arrays. */
static inline double ex_mse(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return n ? s / (double)n : 0;
}

/* For runs of hundreds of epochs: no per-epoch line, a summary line every
 * `every` epochs instead. */
static inline bool ex_every_cb(int epoch, const cg_history *h, void *user) {
    int every = *(const int *)user;
    if ((epoch + 1) % every && epoch + 1 != 1) return false;
    printf("epoch %d", epoch + 1);
    for (int k = 0; k < h->n_keys; k++) printf(" - %s: %.4f", h->keys[k], cg_history_last(h, h->keys[k]));
    printf("\n");
    fflush(stdout);
    return false;
}

/* cg_fit options for the program: epochs and seed from the flags; with more
 * than 20 epochs progress is printed every epochs/10 epochs. `cb` and
 * `every` must live as long as the options. */
static inline cg_fit_opts ex_fit_opts(const ex_args *a, int64_t batch, cg_callback *cb, int *every) {
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = a->epochs, o.batch_size = batch, o.seed = a->seed;
    if (a->epochs > 20) {
        *every = a->epochs / 10;
        *cb = (cg_callback){.kind = CG_CALLBACK_CUSTOM, .fn = ex_every_cb, .user = every};
        o.verbose = 0, o.callbacks = cb, o.n_callbacks = 1;
    }
    return o;
}

/* cg_fit that must run every epoch: prints the error and returns NULL. */
static inline cg_history *ex_fit(const ex_args *a, cg_module *model, cg_optim *opt, cg_loss loss, cg_metric metric,
                          cg_tensor *x, cg_tensor *y, const cg_fit_opts *o) {
    cg_fit_opts oo = *o;
    if (a->shards) oo.shards = a->shards;
    oo.dist = a->d;
    cg_history *h = cg_fit(model, opt, loss, metric, x, y, &oo);
    if (!h || h->status != CG_OK || h->epochs != o->epochs) {
        ex_fail(a, "fit");
        cg_history_free(h);
        return NULL;
    }
    return h;
}

/* IMDB padded like the lessons (pad_sequences(maxlen): padding and
 * truncating "pre"), labels as float32 for binary cross-entropy. */
typedef struct ex_imdb_xy {
    cg_tensor *x_train, *y_train, *x_test, *y_test;
} ex_imdb_xy;

static inline ex_imdb_xy ex_imdb_pad(const ex_args *a, const cg_imdb *d, int64_t maxlen) {
    ex_imdb_xy r = {cg_pad_sequences(d->x_train, maxlen, CG_PAD_PRE, CG_PAD_PRE, 0), ex_float_labels(d->y_train),
                    cg_pad_sequences(d->x_test, maxlen, CG_PAD_PRE, CG_PAD_PRE, 0), ex_float_labels(d->y_test)};
    if (!r.x_train || !r.y_train || !r.x_test || !r.y_test) exit(ex_fail(a, "pad_sequences"));
    printf("x_train %s, x_test %s\n", cg_shape_str(r.x_train), cg_shape_str(r.x_test));
    return r;
}

/* model.fit(x_train, y_train, batch_size, epochs, validation_data=(x_test, y_test))
 * with binary cross-entropy on the sigmoid output, then the plot and the
 * final line "test accuracy: 0.xxxx (seed S, T s/epoch)". */
static inline int ex_imdb_fit(const ex_args *a, cg_module *model, cg_optim *opt, const ex_imdb_xy *xy, int64_t batch,
                       const char *title) {
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = a->epochs, o.batch_size = batch, o.seed = a->seed;
    o.x_val = xy->x_test, o.y_val = xy->y_test;
    cg_history *h = ex_fit(a, model, opt, CG_LOSS_BINARY_CROSSENTROPY, CG_METRIC_ACCURACY, xy->x_train, xy->y_train, &o);
    if (!h) return 1;
    const char *png = ex_out_path(a, "history.png");
    if (ex_root(a)) ex_report_plot(a, cg_history_plot(h, png, title), png);
    for (int e = 0; e < h->epochs; e++) printf("epoch %d: test accuracy %.4f\n", e + 1, cg_history_get(h, "val_accuracy", e));
    printf("test accuracy: %.4f (seed %llu, %.1f s/epoch)\n", cg_history_last(h, "val_accuracy"),
           (unsigned long long)a->seed, ex_seconds_per_epoch(h));
    cg_history_free(h);
    return 0;
}

#endif /* CGRAD_EXAMPLE_UTIL_H */
