/* Data-parallel training over MPI (dist.h). Run plainly, this is a Check
 * suite whose tests start `mpirun -np N <this program> --worker <scenario>`
 * and check what the ranks report; with --worker it is one rank of such a
 * run. The ranks check themselves too: a rank that finds a wrong value
 * prints it and exits 1, which ends the run.
 *
 * PyTorch's DDP check (_test_DDP_niter): 2 ranks with local batch 16 end
 * with the weights of one process with batch 32 after 20 Adam steps, for
 * Embedding -> LSTM -> Dense (row-sparse gradients) and stacked GRUs on the
 * long-dependency problem; 3 ranks with an uneven split; the same bits on
 * every rank and on every run. fit over 2 ranks gives one process's
 * History with the doubled batch. A rank killed with SIGKILL stops the run
 * within seconds, the checkpoint stays whole, and resuming from it ends
 * with an uninterrupted run's weights, bit for bit. Bad input: different
 * models or data on the ranks, a rank without data, a NaN on one rank. */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef CGRAD_TEST_MPI
#include <mpi.h>
#endif

#define MAXP 16

/* ================================================================ worker */

static cg_dist *g_d;
static int g_rank;
static cg_dtype g_dt = CG_FLOAT32; /* of the models and data */

#define W_CHECK(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d: FAILED at %s:%d: ", g_rank, __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, " (last error: %s)\n", cg_last_error());                               \
            fflush(stderr);                                                                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A line the driver reads (rank 0 only). */
static void report(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(const char *key, const char *fmt, ...) {
    if (g_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    printf("RESULT %s ", key);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

typedef struct {
    cg_module *m;
    cg_optim *opt;
    cg_tensor *ps[MAXP];
    int np;
} net;

typedef enum { NET_LSTM, NET_GRU, NET_SMALL } net_kind;

/* NET_LSTM: Embedding(50, 8) -> LSTM(units) -> [Dropout(dropout)] -> Dense(1);
 * NET_GRU: GRU(2, 16, sequences) -> GRU(16, 16) -> Dense(1) (the stacked
 * GRU of the long-dependency lesson, smaller); NET_SMALL: LSTM(units) on
 * embeddings, for fit. The same seed gives the same weights. */
static net make_net(net_kind k, int units, double dropout, double lr) {
    net n = {0};
    cg_rng r = cg_rng_seeded(7);
    cg_rnn_opts ro = {.rng = &r};
    cg_dense_opts dd = {.rng = &r};
    n.m = cg_sequential_new(NULL);
    if (k == NET_GRU) {
        cg_rnn_opts seq = ro;
        seq.return_sequences = true;
        cg_sequential_add(n.m, cg_gru_new(2, 16, &seq));
        cg_sequential_add(n.m, cg_gru_new(16, 16, &ro));
        cg_sequential_add(n.m, cg_dense_new_ex(16, 1, &dd));
    } else {
        cg_embedding_opts eo = {.rng = &r};
        cg_sequential_add(n.m, cg_embedding_new_ex(50, 8, &eo));
        cg_sequential_add(n.m, cg_lstm_new(8, units, &ro));
        if (dropout > 0) cg_sequential_add(n.m, cg_dropout_new(dropout, NULL, NULL));
        cg_sequential_add(n.m, cg_dense_new_ex(units, 1, &dd));
    }
    if (g_dt != CG_FLOAT32) W_CHECK(cg_module_set_dtype(n.m, g_dt) == CG_OK, "dtype");
    n.np = cg_module_parameters(n.m, n.ps, MAXP);
    cg_adam_opts ao = cg_adam_torch();
    ao.lr = lr;
    n.opt = cg_adam_new(n.ps, n.np, &ao);
    W_CHECK(n.opt, "building the model");
    return n;
}

static void free_net(net *n) {
    cg_optim_free(n->opt);
    cg_module_free(n->m);
}

/* x, y for a net kind: ids [n, 7] and 0/1 targets, or the multiplication
 * problem over 20 steps. Outside any scope (they live to the end). */
static void make_data(net_kind k, int64_t n, uint64_t seed, cg_tensor **x, cg_tensor **y) {
    cg_rng r = cg_rng_seeded(seed);
    if (k == NET_GRU) {
        W_CHECK(cg_multiplication_problem(&r, CG_FLOAT32, n, 20, x, y) == CG_OK, "data");
    } else {
        *x = cg_randint(&r, CG_INT64, 0, 50, CG_SHAPE(n, 7));
        *y = cg_bernoulli(&r, CG_FLOAT32, 0.5, CG_SHAPE(n, 1));
    }
    W_CHECK(*x && *y, "data");
    if (g_dt != CG_FLOAT32) {
        if ((*x)->dtype == CG_FLOAT32) *x = cg_to_dtype(*x, g_dt);
        *y = cg_to_dtype(*y, g_dt);
    }
}

static uint64_t weights_hash(const net *n) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n->np; i++) {
        const unsigned char *p = cg_data(n->ps[i]);
        size_t len = (size_t)cg_numel(n->ps[i]) * cg_dtype_size(n->ps[i]->dtype);
        for (size_t k = 0; k < len; k++) h = (h ^ p[k]) * 1099511628211ULL;
    }
    return h;
}

static uint64_t tensor_hash(const cg_tensor *t) {
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = cg_data(t);
    for (size_t k = 0; k < (size_t)cg_numel(t) * cg_dtype_size(t->dtype); k++) h = (h ^ p[k]) * 1099511628211ULL;
    return h;
}

/* Does every rank hold rank 0's h? (rank 0's value reaches all through a
 * sum to which only it adds; 16 bits a double, exactly.) */
static bool same_everywhere(uint64_t h) {
    double v[4];
    for (int k = 0; k < 4; k++) v[k] = g_rank == 0 ? (double)((h >> (16 * k)) & 0xFFFF) : 0;
    W_CHECK(cg_dist_sum(g_d, v, 4) == CG_OK, "sum");
    uint64_t h0 = 0;
    for (int k = 0; k < 4; k++) h0 |= (uint64_t)v[k] << (16 * k);
    double differ = h0 != h;
    W_CHECK(cg_dist_sum(g_d, &differ, 1) == CG_OK, "sum");
    return differ == 0;
}

/* Largest max|a - b| / max|b| over the parameters. */
static double max_rel_diff(const net *a, const net *b) {
    double worst = 0;
    for (int i = 0; i < a->np; i++) {
        double d = 0, m = 0;
        for (int64_t k = 0; k < cg_numel(a->ps[i]); k++) {
            double u, v;
            if (a->ps[i]->dtype == CG_FLOAT64) u = cg_data_f64(a->ps[i])[k], v = cg_data_f64(b->ps[i])[k];
            else u = cg_data_f32(a->ps[i])[k], v = cg_data_f32(b->ps[i])[k];
            d = fmax(d, fabs(u - v));
            m = fmax(m, fabs(v));
        }
        worst = fmax(worst, m > 0 ? d / m : d);
    }
    return worst;
}

static cg_loss loss_of(net_kind k) { return k == NET_GRU ? CG_LOSS_MSE : CG_LOSS_BCE_WITH_LOGITS; }

/* 20 Adam steps over global batches of 32: each rank takes rows
 * [32 r / W, 32 (r + 1) / W) of each (cg_train_batch_ex with the dist). */
static void train_dist(net *n, net_kind k, cg_dist *d, cg_tensor *x, cg_tensor *y, int steps) {
    int W = cg_dist_size(d), r = cg_dist_rank(d);
    W_CHECK(cg_dist_broadcast(d, n->opt) == CG_OK, "broadcast");
    for (int s = 0; s < steps; s++) {
        cg_scope *sc = cg_scope_begin();
        int64_t lo = 32 * s + 32 * r / W, hi = 32 * s + 32 * (r + 1) / W;
        cg_optim_zero_grad(n->opt);
        cg_batch_opts bo = {.dist = d};
        double l = NAN;
        W_CHECK(cg_train_batch_ex(n->m, loss_of(k), CG_METRIC_NONE, cg_slice(x, 0, lo, hi, 1), cg_slice(y, 0, lo, hi, 1),
                                  &bo, &l, NULL) == CG_OK,
                "step %d", s);
        W_CHECK(isfinite(l), "loss %g", l);
        W_CHECK(cg_optim_step(n->opt) == CG_OK, "optimizer step");
        cg_scope_end(sc);
    }
}

/* The same 20 steps in this process alone, with the whole batch of 32
 * (split in `shards` parts over threads). */
static double train_alone(net *n, net_kind k, cg_tensor *x, cg_tensor *y, int steps, int shards) {
    double l = NAN;
    for (int s = 0; s < steps; s++) {
        cg_scope *sc = cg_scope_begin();
        cg_optim_zero_grad(n->opt);
        W_CHECK(cg_train_batch(n->m, loss_of(k), CG_METRIC_NONE, cg_slice(x, 0, 32 * s, 32 * s + 32, 1),
                               cg_slice(y, 0, 32 * s, 32 * s + 32, 1), shards, &l, NULL) == CG_OK,
                "step %d alone", s);
        W_CHECK(cg_optim_step(n->opt) == CG_OK, "optimizer step");
        cg_scope_end(sc);
    }
    return l;
}

/* niter <lstm|gru>: the DDP check. Also: a second run gives the same bits,
 * and so do the row-sparse gradient's two ways of travelling. */
static int w_niter(int argc, char **argv) {
    W_CHECK(argc >= 1, "niter needs a model");
    net_kind k = !strcmp(argv[0], "gru") ? NET_GRU : NET_LSTM;
    if (argc >= 2 && !strcmp(argv[1], "float64")) g_dt = CG_FLOAT64;
    const int steps = 20;
    cg_tensor *x, *y;
    make_data(k, 32 * steps, 3, &x, &y);
    net a = make_net(k, 12, 0, 1e-2), b = make_net(k, 12, 0, 1e-2);
    train_dist(&a, k, g_d, x, y, steps);
    train_alone(&b, k, x, y, steps, 0);
    double rel = max_rel_diff(&a, &b);
    /* float rounding alone: the batch split in as many parts over threads
     * in one process (for 2, the same sums: the same bits) */
    net f = make_net(k, 12, 0, 1e-2);
    train_alone(&f, k, x, y, steps, cg_dist_size(g_d));
    report("split_in_process_rel_diff", "%.3g", max_rel_diff(&f, &b));
    report("same_bits_as_split_in_process", "%d", weights_hash(&f) == weights_hash(&a));
    free_net(&f);
    uint64_t h = weights_hash(&a);
    bool everywhere = same_everywhere(h);
    report("max_rel_diff", "%.3g", rel);
    report("same_on_every_rank", "%d", everywhere);
    /* the row-sparse gradient as rows, then dense: the same bits */
    net c = make_net(k, 12, 0, 1e-2), e = make_net(k, 12, 0, 1e-2);
    cg_dist_opts o = cg_dist_defaults();
    o.sparse = CG_DIST_SPARSE_ROWS;
    cg_dist *d_rows = cg_dist_init(NULL, NULL, &o);
    o.sparse = CG_DIST_SPARSE_DENSE;
    o.bucket_bytes = 1000; /* several buckets */
    cg_dist *d_dense = cg_dist_init(NULL, NULL, &o);
    W_CHECK(d_rows && d_dense, "second dists");
    train_dist(&c, k, d_rows, x, y, steps);
    train_dist(&e, k, d_dense, x, y, steps);
    report("repeat_same_bits", "%d", weights_hash(&c) == h);
    report("dense_sent_same_bits", "%d", weights_hash(&e) == h);
    cg_dist_stats sr = cg_dist_get_stats(d_rows), sd = cg_dist_get_stats(d_dense);
    report("sparse_bytes_rows_dense", "%lld %lld", (long long)sr.sparse_bytes, (long long)sd.sparse_bytes);
    /* the embedding's gradient is still row-sparse after averaging: its
     * rows are the ids any rank's batch used */
    if (k == NET_LSTM) {
        int64_t nrows = -1;
        const int64_t *rows = cg_grad_rows(a.ps[0], &nrows);
        W_CHECK(rows, "the averaged embedding gradient is not row-sparse");
        bool used[50] = {false};
        int64_t distinct = 0;
        const int64_t *ids = cg_data_i64(x) + 32 * (steps - 1) * 7;
        for (int i = 0; i < 32 * 7; i++)
            if (!used[ids[i]]) used[ids[i]] = true, distinct++;
        W_CHECK(nrows == distinct, "%lld rows listed, the last batch used %lld ids", (long long)nrows, (long long)distinct);
        for (int64_t i = 0; i < nrows; i++) W_CHECK(used[rows[i]], "row %lld listed but not used", (long long)rows[i]);
        report("rows_listed", "%lld", (long long)nrows);
    }
    cg_dist_finalize(d_rows);
    cg_dist_finalize(d_dense);
    free_net(&a), free_net(&b), free_net(&c), free_net(&e);
    return 0;
}

/* Keep history values from the ranks' fit and one process's. */
static double history_diff(const cg_history *a, const cg_history *b) {
    W_CHECK(a->epochs == b->epochs && a->n_keys == b->n_keys, "histories of %d and %d epochs", a->epochs, b->epochs);
    double worst = 0;
    for (int k = 0; k < a->n_keys; k++)
        for (int e = 0; e < a->epochs; e++) {
            double u = cg_history_get(a, a->keys[k], e), v = cg_history_get(b, a->keys[k], e);
            W_CHECK(isfinite(u) && isfinite(v), "%s at epoch %d: %g vs %g", a->keys[k], e, u, v);
            worst = fmax(worst, fabs(u - v));
        }
    return worst;
}

/* fit <n> <batch> <accumulate>: fit over the ranks with local batch
 * `batch`, against fit in this process with batch * ranks * accumulate. */
static int w_fit(int argc, char **argv) {
    W_CHECK(argc >= 3, "fit needs n, batch, accumulate");
    int64_t n = atoll(argv[0]), bs = atoll(argv[1]);
    int acc = atoi(argv[2]), W = cg_dist_size(g_d);
    cg_tensor *x, *y;
    make_data(NET_SMALL, n, 5, &x, &y);
    net a = make_net(NET_SMALL, 6, 0, 1e-2), b = make_net(NET_SMALL, 6, 0, 1e-2);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 3, o.verbose = 0, o.seed = 11, o.validation_split = 0.25;
    o.batch_size = bs, o.accumulate = acc, o.dist = g_d;
    cg_history *ha = cg_fit(a.m, a.opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_ACCURACY, x, y, &o);
    W_CHECK(ha && ha->status == CG_OK, "fit over the ranks");
    o.batch_size = bs * W * (acc > 1 ? acc : 1), o.accumulate = 0, o.dist = NULL;
    cg_history *hb = cg_fit(b.m, b.opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_ACCURACY, x, y, &o);
    W_CHECK(hb && hb->status == CG_OK, "fit alone");
    report("history_max_diff", "%.3g", history_diff(ha, hb));
    report("weights_max_rel_diff", "%.3g", max_rel_diff(&a, &b));
    report("same_on_every_rank", "%d", same_everywhere(weights_hash(&a)));
    report("final_loss", "%.6f %.6f", cg_history_last(ha, "loss"), cg_history_last(hb, "loss"));
    cg_history_free(ha), cg_history_free(hb);
    free_net(&a), free_net(&b);
    return 0;
}

/* uneven: each rank has its own number of batches (rank r: 3 + r); the
 * ranks loop until none has one left (cg_dist_any), a finished rank taking
 * part without data. Equals one process on each step's union. */
static int w_uneven(int argc, char **argv) {
    (void)argc, (void)argv;
    int W = cg_dist_size(g_d);
    cg_tensor *x, *y;
    make_data(NET_LSTM, 8 * (3 + W) * W, 9, &x, &y);
    net a = make_net(NET_LSTM, 6, 0, 1e-2), b = make_net(NET_LSTM, 6, 0, 1e-2);
    W_CHECK(cg_dist_broadcast(g_d, a.opt) == CG_OK, "broadcast");
    int mine = 3 + g_rank, steps = 0;
    cg_status st;
    /* step s: rank r, if it has a batch, takes rows [8 (s W + r), + 8) */
    for (int s = 0; cg_dist_any(g_d, s < mine, &st); s++, steps++) {
        cg_scope *sc = cg_scope_begin();
        cg_optim_zero_grad(a.opt);
        cg_tensor *xb = NULL, *yb = NULL;
        if (s < mine) xb = cg_slice(x, 0, 8 * (s * W + g_rank), 8 * (s * W + g_rank) + 8, 1),
                      yb = cg_slice(y, 0, 8 * (s * W + g_rank), 8 * (s * W + g_rank) + 8, 1);
        cg_batch_opts bo = {.dist = g_d};
        W_CHECK(cg_train_batch_ex(a.m, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_NONE, xb, yb, &bo, NULL, NULL) == CG_OK,
                "step %d", s);
        W_CHECK(cg_optim_step(a.opt) == CG_OK, "step");
        cg_scope_end(sc);
    }
    W_CHECK(st == CG_OK, "cg_dist_any");
    /* alone: step s's batch is every rank's rows of step s that had one */
    for (int s = 0; s < steps; s++) {
        cg_scope *sc = cg_scope_begin();
        int64_t idx[64], k = 0;
        for (int r = 0; r < W; r++)
            if (s < 3 + r)
                for (int j = 0; j < 8; j++) idx[k++] = 8 * (s * W + r) + j;
        cg_tensor *it = cg_from_data(CG_INT64, &k, 1, idx);
        cg_optim_zero_grad(b.opt);
        W_CHECK(cg_train_batch(b.m, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_NONE, cg_k_index_select(x, 0, it),
                               cg_k_index_select(y, 0, it), 0, NULL, NULL) == CG_OK,
                "alone");
        W_CHECK(cg_optim_step(b.opt) == CG_OK, "step");
        cg_scope_end(sc);
    }
    report("steps", "%d", steps);
    report("max_rel_diff", "%.3g", max_rel_diff(&a, &b));
    report("same_on_every_rank", "%d", same_everywhere(weights_hash(&a)));
    free_net(&a), free_net(&b);
    return 0;
}

/* mismatch: rank 1's LSTM has other units; fit must fail on every rank,
 * naming the parameter and both ranks. */
static int w_mismatch(int argc, char **argv) {
    (void)argc, (void)argv;
    cg_tensor *x, *y;
    make_data(NET_SMALL, 64, 5, &x, &y);
    net a = make_net(NET_SMALL, g_rank == 1 ? 7 : 6, 0, 1e-2);
    cg_fit_opts o = cg_fit_defaults();
    o.verbose = 0, o.dist = g_d;
    cg_history *h = cg_fit(a.m, a.opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_NONE, x, y, &o);
    W_CHECK(!h, "fit accepted different models");
    W_CHECK(cg_last_status() == CG_ERR_SHAPE, "status %d", (int)cg_last_status());
    const char *msg = cg_last_error();
    W_CHECK(strstr(msg, "rank 0") && strstr(msg, "rank 1") && strstr(msg, "lstm"), "message: %s", msg);
    report("message", "%s", msg);
    free_net(&a);
    return 0;
}

/* bad <case>: one rank's input is bad; every rank's fit fails (no hang),
 * naming that rank. empty: rank 1 has no samples; other_data: rank 1's
 * data differ; nan: rank 1's data hold a NaN (the loss becomes NaN there
 * at the first batch holding it). */
static int w_bad(int argc, char **argv) {
    W_CHECK(argc >= 1, "bad needs a case");
    cg_tensor *x, *y;
    make_data(NET_GRU, 64, 5, &x, &y);
    if (g_rank == 1) {
        if (!strcmp(argv[0], "empty")) x = cg_slice(x, 0, 0, 0, 1), y = cg_slice(y, 0, 0, 0, 1);
        if (!strcmp(argv[0], "other_data")) cg_data_f32(y)[3] += 1;
    }
    /* sample 1 (unshuffled, the first step's second sample: rank 1's) */
    if (!strcmp(argv[0], "nan")) cg_data_f32(x)[1 * 20 * 2 + 5] = NAN;
    net a = make_net(NET_GRU, 0, 0, 1e-2);
    cg_fit_opts o = cg_fit_defaults();
    o.verbose = 0, o.dist = g_d, o.batch_size = 4, o.shuffle = false, o.epochs = 2;
    cg_history *h = cg_fit(a.m, a.opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
    const char *msg = cg_last_error();
    if (!strcmp(argv[0], "nan")) {
        W_CHECK(h && h->status == CG_ERR_NUMERIC && h->epochs == 0, "the NaN did not stop fit (status %d)",
                h ? (int)h->status : -1);
    } else {
        W_CHECK(!h, "fit accepted bad input");
    }
    W_CHECK(strstr(msg, "rank 1"), "message: %s", msg);
    report("message", "%s", msg);
    cg_history_free(h);
    free_net(&a);
    return 0;
}

/* ckpt <dir> <epochs>: fit with a checkpoint every epoch, resuming from
 * <dir>/ckpt.safetensors when it exists (rank 0 alone loads it); writes
 * <dir>/pid.<rank> first and <dir>/final.safetensors (rank 0) at the end. */
static int w_ckpt(int argc, char **argv) {
    W_CHECK(argc >= 2, "ckpt needs a folder and epochs");
    const char *dir = argv[0];
    int epochs = atoi(argv[1]);
    char path[512], ckpt[512], fin[512];
    snprintf(path, sizeof path, "%s/pid.%d", dir, g_rank);
    FILE *f = fopen(path, "w");
    W_CHECK(f, "%s", path);
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    snprintf(fin, sizeof fin, "%s/%s", dir, argc >= 3 ? argv[2] : "final.safetensors");
    cg_tensor *x, *y;
    make_data(NET_LSTM, 96, 5, &x, &y);
    cg_manual_seed(21);
    net a = make_net(NET_LSTM, 6, 0.2, 1e-2); /* dropout: the generators must resume too */
    int start = 0;
    if (g_rank == 0 && access(ckpt, F_OK) == 0)
        W_CHECK(cg_checkpoint_load(ckpt, a.m, a.opt, &start, NULL) == CG_OK, "loading %s", ckpt);
    cg_callback cb = {.kind = CG_CALLBACK_CHECKPOINT, .path = ckpt};
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = epochs, o.initial_epoch = start, o.verbose = 0, o.seed = 4, o.batch_size = 8;
    o.callbacks = &cb, o.n_callbacks = 1, o.dist = g_d;
    cg_history *h = cg_fit(a.m, a.opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_NONE, x, y, &o);
    W_CHECK(h && h->status == CG_OK, "fit");
    if (g_rank == 0) W_CHECK(cg_module_save(a.m, fin) == CG_OK, "saving %s", fin);
    report("started_at_epoch", "%d", start);
    cg_history_free(h);
    free_net(&a);
    return 0;
}

/* world1: a world of one rank trains as one process alone. */
static int w_world1(int argc, char **argv) {
    (void)argc, (void)argv;
    W_CHECK(cg_dist_size(g_d) == 1, "world of %d", cg_dist_size(g_d));
    cg_tensor *x, *y;
    make_data(NET_SMALL, 100, 5, &x, &y);
    net a = make_net(NET_SMALL, 6, 0, 1e-2), b = make_net(NET_SMALL, 6, 0, 1e-2);
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = 2, o.verbose = 0, o.batch_size = 16, o.dist = g_d;
    cg_history *ha = cg_fit(a.m, a.opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_ACCURACY, x, y, &o);
    o.dist = NULL;
    cg_history *hb = cg_fit(b.m, b.opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_ACCURACY, x, y, &o);
    W_CHECK(ha && hb && ha->status == CG_OK && hb->status == CG_OK, "fit");
    report("history_max_diff", "%.3g", history_diff(ha, hb));
    report("weights_max_rel_diff", "%.3g", max_rel_diff(&a, &b));
    cg_history_free(ha), cg_history_free(hb);
    free_net(&a), free_net(&b);
    return 0;
}

/* args: the options and the communicator checks. */
static int w_args(int argc, char **argv) {
    (void)argc, (void)argv;
    cg_dist_opts o = cg_dist_defaults();
    o.bucket_bytes = 3;
    W_CHECK(!cg_dist_init(NULL, NULL, &o) && strstr(cg_last_error(), "bucket_bytes"), "bucket_bytes 3 accepted");
    o = cg_dist_defaults();
    o.timeout = NAN;
    W_CHECK(!cg_dist_init(NULL, NULL, &o) && strstr(cg_last_error(), "timeout"), "NaN timeout accepted");
    W_CHECK(!cg_dist_init_comm(NULL, NULL) && cg_last_status() == CG_ERR_NULL, "NULL communicator accepted");
    W_CHECK(cg_dist_allreduce_grads(g_d, 4) == CG_ERR_STATE && strstr(cg_last_error(), "cg_dist_broadcast"),
            "averaging before cg_dist_broadcast");
    W_CHECK(cg_dist_broadcast(g_d, NULL) != CG_OK && strstr(cg_last_error(), "NULL"), "a NULL optimizer");
#ifdef CGRAD_TEST_MPI
    /* each rank alone in a communicator of its own */
    MPI_Comm self;
    MPI_Comm_split(MPI_COMM_WORLD, g_rank, 0, &self);
    cg_dist *d1 = cg_dist_init_comm(&self, NULL);
    W_CHECK(d1 && cg_dist_size(d1) == 1 && cg_dist_rank(d1) == 0, "a communicator of one");
    double v = 2;
    W_CHECK(cg_dist_sum(d1, &v, 1) == CG_OK && v == 2, "a sum over one rank");
    cg_dist_finalize(d1);
    MPI_Comm_free(&self);
    MPI_Comm null = MPI_COMM_NULL;
    W_CHECK(!cg_dist_init_comm(&null, NULL) && strstr(cg_last_error(), "MPI_COMM_NULL"), "MPI_COMM_NULL accepted");
#endif
    /* cg_dist_check: a failure on one rank reaches all, naming it */
    cg_status st = g_rank == 1 ? cg_set_error(CG_ERR_IO, "cannot read shard.bin") : CG_OK;
    st = cg_dist_check(g_d, st);
    W_CHECK(st == CG_ERR_IO && strstr(cg_last_error(), "shard.bin"), "cg_dist_check: %d", (int)st);
    if (g_rank != 1) W_CHECK(strstr(cg_last_error(), "rank 1"), "message %s", cg_last_error());
    report("ok", "1");
    return 0;
}

/* manual: a loop of one's own with cg_dist_allreduce_grads (each rank's
 * .grad the gradient of a mean over its n_r samples), on a table that is
 * row-sparse on every rank (step 1), dense on one rank and row-sparse on
 * the other (step 2), row-sparse again (step 3). Every rank also computes
 * both ranks' gradients itself and checks the average. 2 ranks. */
static cg_tensor *manual_loss(cg_tensor *t, int rank, int step) {
    if (rank == 1 && step == 2) { /* dense: sum(t * c), c = 0.1 (i + 1) */
        cg_tensor *c = cg_arange(CG_FLOAT32, 1, 41, 1);
        c = cg_k_scalar(CG_MUL, cg_k_reshape(c, CG_SHAPE(10, 4)), 0.1);
        return cg_sum(cg_mul(t, c), NULL, 0, false);
    }
    int64_t ids[3] = {(rank * 3 + step) % 10, (rank * 5 + 2 * step) % 10, 7};
    cg_tensor *idx = cg_from_data(CG_INT64, CG_SHAPE(3), ids);
    return cg_mean(cg_square(cg_index_select(t, 0, idx)), NULL, 0, false);
}

static int w_manual(int argc, char **argv) {
    (void)argc, (void)argv;
    W_CHECK(cg_dist_size(g_d) == 2, "manual needs 2 ranks");
    cg_rng r = cg_rng_seeded(3);
    cg_tensor *t = cg_requires_grad_(cg_randn(&r, CG_FLOAT32, CG_SHAPE(10, 4)), true);
    cg_set_name(t, "table");
    cg_sgd_opts so = cg_sgd_torch();
    so.lr = 0.5;
    cg_optim *opt = cg_sgd_new(&t, 1, &so);
    W_CHECK(opt && cg_dist_broadcast(g_d, opt) == CG_OK, "broadcast");
    for (int step = 1; step <= 3; step++) {
        cg_scope *sc = cg_scope_begin();
        /* the expected average: both ranks' gradients, here */
        cg_optim_zero_grad(opt);
        float want[40];
        for (int k = 0; k < 2; k++) W_CHECK(cg_backward(manual_loss(t, k, step)) == CG_OK, "backward");
        memcpy(want, cg_data_f32(cg_grad(t)), sizeof want);
        for (int i = 0; i < 40; i++) want[i] *= 0.5f;
        cg_optim_zero_grad(opt);
        W_CHECK(cg_backward(manual_loss(t, g_rank, step)) == CG_OK, "backward");
        W_CHECK(cg_dist_allreduce_grads(g_d, 1) == CG_OK, "allreduce, step %d", step);
        const float *got = cg_data_f32(cg_grad(t));
        for (int i = 0; i < 40; i++) W_CHECK(fabsf(got[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])),
                                             "step %d, element %d: %g, want %g", step, i, got[i], want[i]);
        int64_t n = -1;
        const int64_t *rows = cg_grad_rows(t, &n);
        if (step == 2) W_CHECK(!rows, "step 2: the average is dense, but the gradient is listed row-sparse");
        else {
            W_CHECK(rows, "step %d: the average of row-sparse gradients is not row-sparse", step);
            for (int i = 0; i < 10; i++) {
                bool nonzero = false, listed = false;
                for (int e = 0; e < 4; e++) nonzero |= want[i * 4 + e] != 0;
                for (int64_t k = 0; k < n; k++) listed |= rows[k] == i;
                W_CHECK(nonzero == listed, "step %d: row %d %s listed", step, i, listed ? "wrongly" : "not");
            }
        }
        W_CHECK(cg_optim_step(opt) == CG_OK, "step");
        cg_scope_end(sc);
    }
    report("same_on_every_rank", "%d", same_everywhere(tensor_hash(t)));
    cg_optim_free(opt);
    return 0;
}

/* hosts: each rank's host name, and how many ranks share this machine. */
static int w_hosts(int argc, char **argv) {
    (void)argc, (void)argv;
#ifdef CGRAD_TEST_MPI
    char me[64] = "", *all = calloc(64, (size_t)cg_dist_size(g_d));
    gethostname(me, sizeof me - 1);
    MPI_Gather(me, 64, MPI_CHAR, all, 64, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (g_rank == 0) {
        printf("RESULT hosts");
        for (int r = 0; r < cg_dist_size(g_d); r++) printf(" %s", all + 64 * r);
        printf("\n");
    }
    free(all);
#endif
    report("local_size", "%d", cg_dist_local_size(g_d));
    return 0;
}

static int worker(int argc, char **argv) {
    cg_set_num_threads(1);
    g_d = cg_dist_init(&argc, &argv, NULL);
    W_CHECK(g_d, "cg_dist_init");
    g_rank = cg_dist_rank(g_d);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } W[] = {{"niter", w_niter},       {"fit", w_fit}, {"uneven", w_uneven}, {"mismatch", w_mismatch},
             {"bad", w_bad},           {"ckpt", w_ckpt}, {"world1", w_world1}, {"args", w_args},
             {"hosts", w_hosts},       {"manual", w_manual}};
    int rc = -1;
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++)
        if (argc >= 3 && !strcmp(argv[2], W[i].name)) rc = W[i].fn(argc - 3, argv + 3);
    W_CHECK(rc >= 0, "no scenario %s", argc >= 3 ? argv[2] : "(none)");
    W_CHECK(cg_dist_finalize(g_d) == CG_OK, "finalize");
    cg_cleanup();
    return rc;
}

/* ================================================================ driver */

static char g_self[1024], g_mpirun[1024];

static bool find_mpirun(void) {
    const char *path = getenv("PATH");
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *dir = strtok(buf, ":"); dir; dir = strtok(NULL, ":")) {
        snprintf(g_mpirun, sizeof g_mpirun, "%s/mpirun", dir);
        if (access(g_mpirun, X_OK) == 0) return true;
    }
    return false;
}

/* Run `mpirun -np np <self> --worker <args>`; its output (both streams)
 * into out; returns the exit status (-1 if it could not run). */
static int run_mpi(int np, const char *args, char *out, size_t size) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s --oversubscribe --bind-to none -np %d %s --worker %s 2>&1", g_mpirun, np, g_self, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The value after "RESULT key " in out (NULL if absent). */
static const char *result(const char *out, const char *key) {
    static char v[2048];
    char pat[256];
    snprintf(pat, sizeof pat, "RESULT %s ", key);
    const char *at = strstr(out, pat);
    if (!at) return NULL;
    at += strlen(pat);
    size_t n = strcspn(at, "\n");
    if (n >= sizeof v) n = sizeof v - 1;
    memcpy(v, at, n);
    v[n] = 0;
    return v;
}

static double result_num(const char *out, const char *key) {
    const char *v = result(out, key);
    ck_assert_msg(v, "no %s in the run's output:\n%s", key, out);
    return atof(v);
}

static char g_out[1 << 16];

#define RUN_OK(np, ...)                                                                            \
    do {                                                                                           \
        char a_[1024];                                                                             \
        snprintf(a_, sizeof a_, __VA_ARGS__);                                                      \
        int rc_ = run_mpi(np, a_, g_out, sizeof g_out);                                            \
        ck_assert_msg(rc_ == 0, "mpirun -np %d ... %s exited with %d:\n%s", np, a_, rc_, g_out);   \
    } while (0)

/* The float32 runs differ from one process's batch of 32 by float rounding
 * only: Adam's first steps divide a gradient by its own size, so an element
 * whose gradient is a near-cancelling sum (1e-8 of terms 100x larger) moves
 * by as much as 1e-5 of the learning rate when the sum is taken in another
 * order. The same batch split over 2 threads in one process gives the same
 * bits as 2 ranks. In float64 that rounding is 1e-16 and the relative 1e-6
 * is the test of the averaging itself (weights, rows, buckets). */
/* The niter check of one model ("lstm", "gru") on 2 ranks, in float64 and
 * float32 (the output of the float32 run stays in g_out). */
static void niter_two_ranks(const char *model) {
    char what[64];
    snprintf(what, sizeof what, "niter %s float64", model);
    RUN_OK(2, "%s", what);
    double rel = result_num(g_out, "max_rel_diff");
    ck_assert_msg(rel <= 1e-6, "%s, 2 ranks x 16 vs 1 x 32 (float64): max relative difference %g", model, rel);
    snprintf(what, sizeof what, "niter %s float32", model);
    RUN_OK(2, "%s", what);
    ck_assert_int_eq((int)result_num(g_out, "same_bits_as_split_in_process"), 1);
    rel = result_num(g_out, "max_rel_diff");
    ck_assert_msg(rel <= 1e-5, "%s, 2 ranks x 16 vs 1 x 32 (float32): max relative difference %g", model, rel);
    ck_assert_int_eq((int)result_num(g_out, "same_on_every_rank"), 1);
    ck_assert_int_eq((int)result_num(g_out, "repeat_same_bits"), 1);
}

START_TEST(ddp_niter_lstm_two_ranks) {
    niter_two_ranks("lstm");
    ck_assert_int_eq((int)result_num(g_out, "dense_sent_same_bits"), 1);
    ck_assert(result_num(g_out, "rows_listed") > 0);
    long long rows_bytes, dense_bytes;
    ck_assert_int_eq(sscanf(result(g_out, "sparse_bytes_rows_dense"), "%lld %lld", &rows_bytes, &dense_bytes), 2);
    /* rows sent as rows move more bytes of sparse traffic than ids alone */
    ck_assert(rows_bytes > dense_bytes && dense_bytes > 0);
}
END_TEST

START_TEST(ddp_niter_gru_two_ranks) { niter_two_ranks("gru"); }
END_TEST

START_TEST(ddp_niter_three_ranks_uneven) {
    RUN_OK(3, "niter lstm float64"); /* 32 rows as 10, 11, 11 */
    double rel = result_num(g_out, "max_rel_diff");
    ck_assert_msg(rel <= 1e-6, "3 ranks (float64): max relative difference %g", rel);
    RUN_OK(3, "niter lstm float32");
    rel = result_num(g_out, "max_rel_diff");
    double split = result_num(g_out, "split_in_process_rel_diff");
    ck_assert_msg(rel <= 1e-5 && rel <= 10 * split, "3 ranks (float32): %g, split over threads %g", rel, split);
    ck_assert_int_eq((int)result_num(g_out, "same_on_every_rank"), 1);
    ck_assert_int_eq((int)result_num(g_out, "repeat_same_bits"), 1);
    ck_assert_int_eq((int)result_num(g_out, "dense_sent_same_bits"), 1);
}
END_TEST

START_TEST(fit_two_ranks_equals_doubled_batch) {
    RUN_OK(2, "fit 200 16 1");
    double d = result_num(g_out, "history_max_diff");
    ck_assert_msg(d <= 1e-5, "History differs by %g", d);
    ck_assert_int_eq((int)result_num(g_out, "same_on_every_rank"), 1);
}
END_TEST

START_TEST(fit_accumulating_micro_batches) {
    RUN_OK(2, "fit 200 8 2"); /* 2 ranks x 2 micro-batches of 8 = one process's 32 */
    double d = result_num(g_out, "history_max_diff");
    ck_assert_msg(d <= 1e-5, "History differs by %g", d);
}
END_TEST

START_TEST(fit_last_step_leaves_ranks_without_data) {
    RUN_OK(3, "fit 10 2 1"); /* 7 training samples, steps of 6: the last has 1 */
    double d = result_num(g_out, "history_max_diff");
    ck_assert_msg(d <= 1e-5, "History differs by %g", d);
    ck_assert_int_eq((int)result_num(g_out, "same_on_every_rank"), 1);
}
END_TEST

START_TEST(uneven_data_per_rank) {
    RUN_OK(3, "uneven");
    ck_assert_int_eq((int)result_num(g_out, "steps"), 5);
    double rel = result_num(g_out, "max_rel_diff");
    ck_assert_msg(rel <= 1e-6, "max relative difference %g", rel);
    ck_assert_int_eq((int)result_num(g_out, "same_on_every_rank"), 1);
}
END_TEST

START_TEST(manual_loop_and_mixed_gradient_kinds) {
    RUN_OK(2, "manual");
    ck_assert_int_eq((int)result_num(g_out, "same_on_every_rank"), 1);
}
END_TEST

START_TEST(mismatched_models_are_refused) {
    RUN_OK(2, "mismatch");
    const char *m = result(g_out, "message");
    ck_assert_msg(m && strstr(m, "lstm") && strstr(m, "rank 1"), "%s", g_out);
}
END_TEST

START_TEST(bad_input_on_one_rank) {
    const char *cases[] = {"empty", "other_data", "nan"};
    const char *words[] = {"samples", "checksum", "loss"};
    for (int i = 0; i < 3; i++) {
        RUN_OK(2, "bad %s", cases[i]);
        const char *m = result(g_out, "message");
        ck_assert_msg(m && strstr(m, "rank 1") && strstr(m, words[i]), "%s: %s", cases[i], g_out);
    }
}
END_TEST

START_TEST(world_of_one) {
    RUN_OK(1, "world1");
    double d = result_num(g_out, "history_max_diff");
    ck_assert_msg(d <= 1e-6, "one rank vs alone: History differs by %g", d);
    RUN_OK(2, "args");
}
END_TEST

/* ------------------------------------------------------------ the kill */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A long two-rank run of the `ckpt` worker in dir, started by mpirun with
 * `prefix` (environment) and `flags` before its own, in the background;
 * once it has saved a checkpoint, rank 1 is killed (SIGKILL) after a
 * random delay of min_us up to min_us + 0.3 s, and the run is given 30 s to
 * end (then killed). Returns its log; *ended: it ended by itself, *stop:
 * seconds after the kill, *status: its wait status. */
static char *kill_rank_1(const char *dir, const char *prefix, const char *flags, useconds_t min_us, bool *ended,
                         double *stop, int *status) {
    char ckpt[512], pid1[512], log[512], cmd[16384];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    snprintf(pid1, sizeof pid1, "%s/pid.1", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(cmd, sizeof cmd, "%s%s --oversubscribe --bind-to none%s -np 2 %s --worker ckpt %s 100000 >%s 2>&1", prefix,
             g_mpirun, flags, g_self, dir, log);
    pid_t run = fork();
    ck_assert_int_ge(run, 0);
    if (run == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    double t0 = now_s();
    while ((access(ckpt, F_OK) != 0 || access(pid1, F_OK) != 0) && now_s() - t0 < 60) usleep(20000);
    ck_assert_msg(access(ckpt, F_OK) == 0, "no checkpoint after 60 s");
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    usleep(min_us + (useconds_t)(rand() % 300000));
    size_t len;
    char *pid = slurp(pid1, &len);
    ck_assert_ptr_nonnull(pid);
    ck_assert_int_eq(kill((pid_t)atoi(pid), SIGKILL), 0);
    free(pid);
    double tk = now_s();
    pid_t got = 0;
    *status = 0;
    while ((got = waitpid(run, status, WNOHANG)) == 0 && now_s() - tk < 30) usleep(10000);
    *stop = now_s() - tk;
    if (got == 0) kill(run, SIGKILL), waitpid(run, status, 0);
    *ended = got == run;
    return slurp(log, &len);
}

START_TEST(sigkill_stops_the_others_and_resume_is_exact) {
    char dir[] = "/tmp/cgrad_dist_kill_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[512], cmd[16384];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    /* a long run in the background, killed after a few checkpoints */
    bool ended;
    double stop;
    int status;
    char *out = kill_rank_1(dir, "", "", 100000, &ended, &stop, &status);
    ck_assert_msg(ended && stop < 10, "the run went on for %.1f s after rank 1 was killed:\n%s", stop, out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "the run did not fail");
    ck_assert_msg(out && strstr(out, "rank 1") && (strstr(out, "signal 9") || strstr(out, "Killed")),
                  "no message naming the killed rank:\n%s", out);
    printf("killed rank 1: the run stopped %.2f s later\n", stop);
    free(out);
    /* the checkpoint is whole */
    cg_scope *s = cg_scope_begin();
    cg_set_num_threads(1);
    cg_manual_seed(21);
    g_rank = 0;
    net a = make_net(NET_LSTM, 6, 0.2, 1e-2);
    int epoch = -1;
    ck_assert_msg(cg_checkpoint_load(ckpt, a.m, a.opt, &epoch, NULL) == CG_OK, "%s", cg_last_error());
    ck_assert_int_ge(epoch, 1);
    free_net(&a);
    cg_scope_end(s);
    /* resume to epoch + 3 on 2 ranks; an uninterrupted run to the same epoch */
    char args[1024], other[512];
    snprintf(args, sizeof args, "ckpt %s %d resumed.safetensors", dir, epoch + 3);
    RUN_OK(2, "%s", args);
    ck_assert_int_eq((int)result_num(g_out, "started_at_epoch"), epoch);
    snprintf(other, sizeof other, "%s/straight", dir);
    mkdir(other, 0700);
    snprintf(args, sizeof args, "ckpt %s %d ../resumed_straight.safetensors", other, epoch + 3);
    RUN_OK(2, "%s", args);
    ck_assert_int_eq((int)result_num(g_out, "started_at_epoch"), 0);
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/resumed.safetensors", dir);
    snprintf(pb, sizeof pb, "%s/resumed_straight.safetensors", dir);
    size_t la = 0, lb = 0;
    char *fa = slurp(pa, &la), *fb = slurp(pb, &lb);
    ck_assert_msg(fa && fb && la == lb && memcmp(fa, fb, la) == 0,
                  "the resumed run's weights differ from an uninterrupted run's");
    free(fa), free(fb);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Where the library's own timeout has to act: the launcher keeps the
 * others running after rank 1 dies (--enable-recovery). */
START_TEST(a_lost_rank_times_out_without_the_launcher) {
    char dir[] = "/tmp/cgrad_dist_lost_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[16384];
    bool ended;
    double stop;
    int status;
    /* the kill anywhere in a step */
    char *out = kill_rank_1(dir, "CGRAD_DIST_TIMEOUT=2 ", " --enable-recovery", 0, &ended, &stop, &status);
    ck_assert_msg(ended && stop < 15, "the run went on for %.1f s after rank 1 was killed:\n%s", stop, out);
    /* a wait that runs out, or MPI's own error when it notices the lost rank first */
    ck_assert_msg(out && (strstr(out, "no answer from the other ranks") || strstr(out, "MPI failed")),
                  "rank 0 did not say why it stopped:\n%s", out);
    printf("killed rank 1 (launcher not stopping the job): rank 0 gave up %.2f s later\n", stop);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--worker")) return worker(argc, argv);
    if (!cg_dist_available()) {
        /* without MPI the calls say so; the distributed tests are skipped */
        if (cg_dist_init(NULL, NULL, NULL) || !strstr(cg_last_error(), "built without MPI")) {
            fprintf(stderr, "cg_dist_init without MPI: %s\n", cg_last_error());
            return 1;
        }
        printf("cgrad was built without MPI: skipped\n");
        return 77;
    }
    if (!find_mpirun()) {
        printf("mpirun not found (apt-get install openmpi-bin): skipped\n");
        return 77;
    }
    ssize_t n = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (n <= 0) return 1;
    g_self[n] = 0;
    if (getuid() == 0) { /* CI runs as root */
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 1); /* more ranks than cores */
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, ddp_niter_lstm_two_ranks);
    tcase_add_test(tc, ddp_niter_gru_two_ranks);
    tcase_add_test(tc, ddp_niter_three_ranks_uneven);
    tcase_add_test(tc, fit_two_ranks_equals_doubled_batch);
    tcase_add_test(tc, fit_accumulating_micro_batches);
    tcase_add_test(tc, fit_last_step_leaves_ranks_without_data);
    tcase_add_test(tc, uneven_data_per_rank);
    tcase_add_test(tc, manual_loop_and_mixed_gradient_kinds);
    tcase_add_test(tc, mismatched_models_are_refused);
    tcase_add_test(tc, bad_input_on_one_rank);
    tcase_add_test(tc, world_of_one);
    suite_add_tcase(s, tc);
    TCase *kill_tc = tcase_create("kill");
    tcase_set_timeout(kill_tc, 240);
    tcase_add_test(kill_tc, sigkill_stops_the_others_and_resume_is_exact);
    tcase_add_test(kill_tc, a_lost_rank_times_out_without_the_launcher);
    suite_add_tcase(s, kill_tc);
    return cgt_run(s);
}
