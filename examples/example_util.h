/* Shared by the lesson programs: command-line flags, output paths, the data
 * folder, the IMDB loader with --limit, and small reporting helpers.
 * Header-only (static inline functions) because the build makes a program of
 * every .c file in examples/.
 *
 * Flags every program takes:
 *   --epochs N     training epochs (0: print the model summary and exit)
 *   --seed S       random seed for initialization and shuffling
 *   --threads N    threads for kernels and GEMM (default: all cores, shared
 *                  out among the ranks on this machine with --dist)
 *   --shards N     split each batch over N threads (-1: one part per thread)
 *   --dist         train over MPI: run under `mpirun -np N <program> --dist ...`
 *                  (or set CGRAD_DIST=1); every rank loads the data, fit gives
 *                  each its share of every batch (the batch size stays per
 *                  rank), and only rank 0 prints and writes files
 *   --verbose N    progress as Keras prints it: 0 none, 1 a bar per epoch, 2 a line per epoch
 * and, where the program uses them (ex_args.takes):
 *   --data DIR     the data folder (default: $CGRAD_DATA)
 *   --limit N      use only the first N samples (0: all)
 *   --out DIR      where CSV and PNG files go (default: out/<program>)
 * --help lists them all with their defaults and what runs (cg_build_info);
 * --version prints only the latter.
 * Programs add flags of their own (ex_flag). Every value is checked whole:
 * a number that is not one, or out of its range, stops the program with
 * status 2 and the same message for every flag; --help lists every flag with
 * its default. */
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

/* The exit status CTest reads as "skipped" (no data folder given). */
#define EX_SKIP 77

/* The common flags a program takes beyond --epochs, --seed, --threads,
 * --shards and --verbose. */
enum { EX_DATA = 1, EX_LIMIT = 2, EX_OUT = 4 };

typedef struct ex_args {
    const char *prog;       /* program name, for messages and the default --out */
    unsigned takes;         /* EX_DATA | EX_LIMIT | EX_OUT */
    const char *data_help;  /* with EX_DATA: what the folder holds */
    const char *limit_help; /* with EX_LIMIT: what --limit N keeps */
    int64_t limit_min;      /* the smallest N --limit takes besides 0 */
    const char *limit_zero; /* what --limit 0 (the default) means: "all" when NULL */
    const char *data, *out;
    int epochs, threads, verbose;
    int shards; /* cg_fit_opts.shards for every fit; 0: no split */
    int64_t limit;
    uint64_t seed;
    cg_dist *d; /* --dist: every fit trains over these ranks */
} ex_args;

/* A program's own flag: text (text != NULL) or a number (num != NULL) in
 * [min, max], a whole number when `whole`. */
typedef struct ex_flag {
    const char *name; /* "--steps" */
    const char **text;
    double *num;
    bool whole;
    double min, max;
    const char *help;    /* what it does (a text flag says its default here) */
    const char *metavar; /* in --help: "PATH"; NULL: TEXT, N or X */
} ex_flag;

/* v as people write it: 1000000, 0.5, -1. */
static inline const char *ex_num_text(char *out, size_t n, double v) {
    if (v == floor(v) && fabs(v) < 1e15) snprintf(out, n, "%.0f", v);
    else snprintf(out, n, "%g", v);
    return out;
}

/* "an integer >= 1", "an integer from 1 to 1024", "a number >= 0", ... */
static inline void ex_range_text(char *out, size_t n, bool whole, double min, double max) {
    char lo[24], hi[24];
    const char *what = whole ? "an integer" : "a number";
    if (max >= 1e15) snprintf(out, n, "%s >= %s", what, ex_num_text(lo, sizeof lo, min));
    else snprintf(out, n, "%s from %s to %s", what, ex_num_text(lo, sizeof lo, min), ex_num_text(hi, sizeof hi, max));
}

/* The ranges of the common flags. */
#define EX_EPOCHS_MAX 1000000
#define EX_THREADS_MAX 1024

/* The one message for a bad value; exits with status 2. */
static inline void ex_bad_value(const ex_args *a, const char *flag, const char *value, const char *expected) {
    fprintf(stderr, "%s: bad value for %s: '%s' (expected %s; try --help)\n", a->prog, flag, value, expected);
    exit(2);
}

/* value as a number in [min, max] (whole: an integer), or exit 2. */
static inline double ex_parse_number(const ex_args *a, const char *flag, const char *value, bool whole, double min,
                                     double max) {
    char expected[128];
    ex_range_text(expected, sizeof expected, whole, min, max);
    char *end = NULL;
    errno = 0;
    double v = 0;
    bool ok = value[0] && (value[0] == '-' || value[0] == '+' || value[0] == '.' || (value[0] >= '0' && value[0] <= '9'));
    if (ok && whole) {
        long long i = strtoll(value, &end, 10);
        v = (double)i;
    } else if (ok) {
        v = strtod(value, &end);
    }
    ok = ok && errno == 0 && end && *end == '\0' && isfinite(v) && v >= min && v <= max;
    if (!ok) ex_bad_value(a, flag, value, expected);
    return v;
}

/* One line of --help: the flag, what it does, its range and its default. */
static inline void ex_usage_line(const char *flag, const char *help, bool whole, double min, double max,
                                 const char *dflt) {
    char range[128];
    ex_range_text(range, sizeof range, whole, min, max);
    printf("  %-16s %s (%s; default %s)\n", flag, help, range, dflt);
}

static inline void ex_usage(const ex_args *a, const ex_flag *extra, int n_extra, const char *about) {
    char d[64];
    printf("%s: %s\n\nusage: %s [flags]\n", a->prog, about, a->prog);
    const char *env = getenv("CGRAD_DATA");
    if (a->takes & EX_DATA)
        printf("  %-16s the folder holding %s (default: $CGRAD_DATA, %s%s)\n", "--data DIR", a->data_help,
               env && *env ? "now " : "not set", env && *env ? env : "");
    snprintf(d, sizeof d, "%d", a->epochs);
    ex_usage_line("--epochs N", "training epochs; 0: print the model summary and exit", true, 0, EX_EPOCHS_MAX, d);
    if (a->takes & EX_LIMIT) {
        char range[128], help[256];
        snprintf(range, sizeof range, "0 or an integer >= %lld", (long long)(a->limit_min > 1 ? a->limit_min : 1));
        snprintf(help, sizeof help, "%s (%s; default 0: %s)", a->limit_help, range, a->limit_zero ? a->limit_zero : "all");
        printf("  %-16s %s\n", "--limit N", help);
    }
    snprintf(d, sizeof d, "%llu", (unsigned long long)a->seed);
    ex_usage_line("--seed S", "random seed for initialization and shuffling", true, 0, 1e15, d);
    snprintf(d, sizeof d, "all %d cores", cg_get_num_threads());
    ex_usage_line("--threads N", "threads for kernels and GEMM", true, 1, EX_THREADS_MAX, d);
    snprintf(d, sizeof d, "%d", a->shards);
    ex_usage_line("--shards N", "split each batch over N threads, -1: one part per thread, 0: no split", true, -1,
                  EX_THREADS_MAX, d);
    printf("  %-16s train over MPI, under mpirun -np N (default: off; CGRAD_DIST=1 turns it on)\n", "--dist");
    ex_usage_line("--verbose N", "progress as Keras prints it: 0 none, 1 a bar per epoch, 2 one line per epoch", true,
                  0, 2, "1");
    if (a->takes & EX_OUT)
        printf("  %-16s where the CSV and PNG files go (default: out/%s)\n", "--out DIR", a->prog);
    for (int i = 0; i < n_extra; i++) {
        char flag[32];
        snprintf(flag, sizeof flag, "%s %s", extra[i].name,
                 extra[i].metavar ? extra[i].metavar : extra[i].text ? "TEXT" : extra[i].whole ? "N" : "X");
        if (extra[i].text) printf("  %-16s %s\n", flag, extra[i].help);
        else ex_usage_line(flag, extra[i].help, extra[i].whole, extra[i].min, extra[i].max,
                           ex_num_text(d, sizeof d, *extra[i].num));
    }
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
 * with status 0 after --help and 2 on a bad flag or value. */
static inline void ex_parse(int argc, char **argv, ex_args *a, const ex_flag *extra, int n_extra, const char *about) {
    static char out_default[256];
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows up line by line in logs too */
    if (!a->data) a->data = getenv("CGRAD_DATA");
    if (a->data && !*a->data) a->data = NULL;
    a->verbose = 1; /* Keras' default */
    const char *env_dist = getenv("CGRAD_DIST");
    bool dist = env_dist && *env_dist && strcmp(env_dist, "0") != 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            ex_usage(a, extra, n_extra, about);
            printf("\n");
            cg_build_info_print(stdout);
            exit(0);
        }
        if (!strcmp(f, "--version")) {
            cg_build_info_print(stdout);
            exit(0);
        }
        if (!strcmp(f, "--dist")) { /* takes no value */
            dist = true;
            continue;
        }
        bool known = true;
        if (!strcmp(f, "--data") && (a->takes & EX_DATA)) {
            if (v) a->data = v;
        } else if (!strcmp(f, "--out") && (a->takes & EX_OUT)) {
            if (v) a->out = v;
        } else if (!strcmp(f, "--limit") && (a->takes & EX_LIMIT)) {
            if (v) a->limit = (int64_t)ex_parse_number(a, f, v, true, 0, 1e15);
            if (v && a->limit && a->limit < a->limit_min) {
                char expected[64];
                snprintf(expected, sizeof expected, "0 or an integer >= %lld", (long long)a->limit_min);
                ex_bad_value(a, f, v, expected);
            }
        } else if (!strcmp(f, "--epochs")) {
            if (v) a->epochs = (int)ex_parse_number(a, f, v, true, 0, EX_EPOCHS_MAX);
        } else if (!strcmp(f, "--seed")) {
            if (v) { /* the whole uint64 range */
                char *end = NULL;
                errno = 0;
                unsigned long long s = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
                if (!end || *end || errno) ex_bad_value(a, f, v, "an integer >= 0");
                a->seed = s;
            }
        } else if (!strcmp(f, "--threads")) {
            if (v) a->threads = (int)ex_parse_number(a, f, v, true, 1, EX_THREADS_MAX);
        } else if (!strcmp(f, "--shards")) {
            if (v) a->shards = (int)ex_parse_number(a, f, v, true, -1, EX_THREADS_MAX);
        } else if (!strcmp(f, "--verbose")) {
            if (v) a->verbose = (int)ex_parse_number(a, f, v, true, 0, 2);
        } else {
            known = false;
            for (int k = 0; k < n_extra && !known; k++) {
                if (strcmp(f, extra[k].name)) continue;
                known = true;
                if (!v) break;
                if (extra[k].text) *extra[k].text = v;
                else *extra[k].num = ex_parse_number(a, f, v, extra[k].whole, extra[k].min, extra[k].max);
            }
        }
        if (!known) {
            fprintf(stderr, "%s: unknown flag %s (try --help)\n", a->prog, f);
            exit(2);
        }
        if (!v) {
            fprintf(stderr, "%s: %s needs a value (try --help)\n", a->prog, f);
            exit(2);
        }
        i++;
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

/* The data folder. Without one, say how to give it and exit 77 (what CTest
 * counts as a skipped test); one that is not a folder is an error (exit 1). */
static inline const char *ex_data_dir(const ex_args *a) {
    if (!a->data) {
        fprintf(stderr, "%s: needs %s: pass --data DIR or set CGRAD_DATA to the folder holding it\n", a->prog,
                a->data_help);
        exit(EX_SKIP);
    }
    struct stat st;
    if (stat(a->data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: the data folder %s %s\n", a->prog, a->data,
                errno == ENOENT ? "does not exist" : "is not a folder");
        exit(1);
    }
    return a->data;
}

/* "<data>/<name>" (a rotating buffer); see ex_data_dir. */
static inline const char *ex_data_path(const ex_args *a, const char *name) {
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", ex_data_dir(a), name);
    return p;
}

static inline double ex_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Print the Keras summary; 0, or 1 after printing the error. */
static inline int ex_summary(const ex_args *a, const cg_module *model, const int64_t *input_shape, int ndim) {
    return cg_summary(model, input_shape, ndim, stdout) == CG_OK ? 0 : ex_fail(a, "cg_summary");
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

/* A model's loss and val_loss from its History as two plot lines in one
 * colour, val_loss dashed: curves[0..1] get the values (malloc'ed: the
 * caller frees them), names[0..1] the lines' names ("LSTM loss"). */
static inline void ex_loss_lines(const cg_history *h, const char *model, int color, double **curves,
                                 char (*names)[48], cg_plot_line *lines) {
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "val_loss" : "loss";
        double *c = curves[k] = malloc((size_t)h->epochs * sizeof(double));
        for (int e = 0; c && e < h->epochs; e++) c[e] = cg_history_get(h, key, e);
        snprintf(names[k], sizeof names[0], "%s %s", model, key);
        lines[k] = (cg_plot_line){.name = names[k], .y = c, .color = color, .dashed = k == 1};
    }
}

/* A dashed grey level v over n epochs (*curve malloc'ed: the caller frees it). */
static inline void ex_level_line(double v, int n, const char *name, double **curve, cg_plot_line *line) {
    double *c = *curve = malloc((size_t)n * sizeof(double));
    for (int e = 0; c && e < n; e++) c[e] = v;
    *line = (cg_plot_line){.name = name, .y = c, .color = 8, .dashed = true};
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

/* What the IMDB programs' --data and --limit mean. */
#define IMDB_DATA_HELP "aclImdb_v1.tar.gz or the aclImdb/ folder it extracts to"
#define IMDB_LIMIT_HELP "use N reviews of each split, spread over both labels"

/* aclImdb_v1.tar.gz in the data folder, else the aclImdb/ folder it
 * extracts to; neither: exits with an error naming both paths tried. The
 * path is in a static buffer. */
static inline const char *ex_aclimdb_path(const ex_args *a) {
    static char tgz[1024], dir[1024];
    snprintf(tgz, sizeof tgz, "%s", ex_data_path(a, "aclImdb_v1.tar.gz"));
    snprintf(dir, sizeof dir, "%s", ex_data_path(a, "aclImdb"));
    struct stat st;
    if (stat(tgz, &st) == 0) return tgz;
    if (stat(dir, &st) == 0) return dir;
    fprintf(stderr, "%s: no IMDB reviews in %s: neither %s nor %s exists (aclImdb_v1.tar.gz as downloaded, or "
                    "the folder it extracts to)\n", a->prog, a->data, tgz, dir);
    exit(1);
}

/* keras.datasets.imdb.load_data(num_words) from aclImdb_v1.tar.gz (or the
 * extracted aclImdb/ folder) in the data folder. With --limit, the first N
 * reviews of each split (spread over both labels) are tokenized, nothing
 * else. Exits with the error (naming the paths it tried) when neither is
 * there or the files are bad. */
static inline cg_imdb *ex_imdb_load(const ex_args *a, int64_t num_words) {
    const char *path = ex_aclimdb_path(a);
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
    printf("IMDB (%s): %lld train and %lld test reviews, num_words %lld (loaded in %.1fs)\n", path,
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

/* cg_fit options for the program: epochs, batch size, seed and --verbose. */
static inline cg_fit_opts ex_fit_opts(const ex_args *a, int64_t batch) {
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = a->epochs, o.batch_size = batch, o.seed = a->seed, o.verbose = a->verbose;
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

/* The IMDB lessons' main: --epochs 0 prints the summary alone; otherwise
 * the data is read first (an error stops before anything else is printed),
 * then the summary, then model.fit(x_train, y_train, batch_size, epochs,
 * validation_data=(x_test, y_test)) with binary cross-entropy on the sigmoid
 * output, the plot, and the final line
 * "test accuracy: 0.xxxx (seed S, T s/epoch)". */
static inline int ex_imdb_lesson(const ex_args *a, cg_module *model, cg_optim *opt, int64_t num_words,
                                 int64_t maxlen, int64_t batch, const char *title) {
    if (a->epochs == 0) return ex_summary(a, model, CG_SHAPE(maxlen));
    cg_imdb *d = ex_imdb_load(a, num_words);
    ex_imdb_xy xy = ex_imdb_pad(a, d, maxlen);
    if (ex_summary(a, model, CG_SHAPE(maxlen))) return 1;
    cg_fit_opts o = ex_fit_opts(a, batch);
    o.x_val = xy.x_test, o.y_val = xy.y_test;
    cg_history *h = ex_fit(a, model, opt, CG_LOSS_BINARY_CROSSENTROPY, CG_METRIC_ACCURACY, xy.x_train, xy.y_train, &o);
    cg_imdb_free(d);
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
