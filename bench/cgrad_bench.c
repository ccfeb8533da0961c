/* cgrad-bench: the PyTorch peer's workloads (../shared/peers/torch_bench.py)
 * with the same models, shapes, batch, optimizer (Adam, lr 1e-3, PyTorch
 * form) and losses, printing the same line per workload:
 *   <name> <seconds per epoch> s/epoch <samples per second> samples/s <peak RSS MiB> MiB
 * plus, for the IMDB models, inference throughput and the GFLOP/s the
 * recurrent GEMMs achieve in training.
 * Usage: cgrad-bench [--threads N] [--steps-scale F] [--lazy] [--shards N] [--batch N] [--no-info] [--mpi]
 *                    [WORKLOAD ...]
 *        cgrad-bench --info | --blis-arch-type | --round-trip
 * The output starts with cg_build_info's lines ("# " before each; --no-info:
 * not); --info prints them alone, --blis-arch-type the number of BLIS's
 * sub-configuration in use (bench/run.py gives the Debian torch peer the same).
 * --lazy runs Adam with its lazy option (only the embedding rows a batch
 * touched are updated, as PyTorch's SparseAdam); a different optimizer from
 * the peer's, so its lines are marked "_lazy". --shards N splits every
 * workload's batches into N parts over the threads (1: none; -1: one per
 * thread) in place of each workload's own setting.
 *
 * --mpi compares one process with two threads against two processes with
 * one thread each (mpirun -np 2, data parallel over MPI) on every workload,
 * the same global batch of 32 (16 per rank), each configuration in a
 * process of its own: samples/s of both, and for the two ranks the time
 * per step spent averaging gradients (packing, messages, waiting, summing,
 * unpacking) and the bytes each rank sent per step. --dist is one rank of
 * such a run (started by --mpi under mpirun). --batch N changes the batch
 * of 32 (with --dist: the global one).
 *
 * --round-trip prints how long a cache line takes to go from one of the
 * first two CPUs the process may run on to the other and back (a thread
 * pinned to each: one stores, the other waits for the store and answers),
 * the median of 5 runs: a VM's host may place its CPUs near or far apart,
 * and moves them (bench/README.md: "The slow spells"). */
#define _GNU_SOURCE /* CPU affinity */
#include <cgrad/cgrad.h>

#include <blis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *name;
    cg_rnn_kind cell; /* (imdb_lstm_usercell: user_lstm below) */
    int hidden, vocab, emb, inp, layers;
    int64_t n, T;
    bool bce;
    int steps;
    int shards; /* cg_train_batch's: -1 splits each batch over the threads */
} workload;

/* The IMDB models' time is in products and embedding rows large enough to
 * be threaded op by op; the small models' ops are not, so their batches are
 * split over the threads (measured: bench/README.md). */
static const workload WORKLOADS[] = {
    {"imdb_simple_rnn", CG_SIMPLE_RNN, 32, 10000, 128, 0, 1, 25000, 40, true, 200, 1},
    {"imdb_lstm", CG_LSTM, 128, 20000, 128, 0, 1, 25000, 80, true, 100, 1},
    {"imdb_lstm_usercell", CG_LSTM, 128, 20000, 128, 0, 1, 25000, 80, true, 100, 1},
    {"mulprob_gru", CG_GRU, 30, 0, 0, 2, 2, 800, 100, false, 25, -1},
    {"mulprob_lstm", CG_LSTM, 30, 0, 0, 2, 2, 800, 100, false, 25, -1},
    {"deaths_lstm", CG_LSTM, 100, 0, 0, 1, 1, 65, 7, false, 300, -1},
};
#define N_WORKLOADS (int)(sizeof WORKLOADS / sizeof WORKLOADS[0])

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU time of the process (all its threads). */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double peak_rss_mib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

/* An LSTM cell as a user writes one with the public cell interface (nn.h):
 * the input projection for all steps from the loop, then per step one addmm
 * and one fused program. imdb_lstm_usercell runs it against the built-in
 * cell on imdb_lstm's workload. */
typedef struct {
    cg_cell base;
    int units;
    cg_tensor *kernel, *recurrent, *bias;
    cg_fused_prog prog;
} user_lstm;

static int user_lstm_size(const cg_cell *c, int k) { (void)k; return ((const user_lstm *)c)->units; }
static cg_status user_lstm_build(cg_cell *c, cg_module *layer, int in, cg_rng *rng) {
    user_lstm *u = (user_lstm *)c;
    cg_init init = cg_init_uniform(1.0 / sqrt((double)u->units)); /* PyTorch's, as the peer */
    u->kernel = cg_module_add_param(layer, "kernel", CG_SHAPE(in, 4 * u->units), init, rng);
    u->recurrent = cg_module_add_param(layer, "recurrent_kernel", CG_SHAPE(u->units, 4 * u->units), init, rng);
    u->bias = cg_module_add_param(layer, "bias", CG_SHAPE(4 * u->units), init, rng);
    return u->kernel && u->recurrent && u->bias ? CG_OK : cg_last_status();
}
static cg_status user_lstm_begin(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call) {
    (void)call;
    *kernel = ((user_lstm *)c)->kernel, *bias = ((user_lstm *)c)->bias;
    return CG_OK;
}
static cg_tensor *user_lstm_step(cg_cell *c, const cg_cell_step *s, cg_tensor **next) {
    user_lstm *u = (user_lstm *)c;
    cg_tensor *in[2] = {s->h ? cg_addmm(s->x, s->h, u->recurrent) : s->x, s->state[1]}, *out[2];
    if (cg_fused(&u->prog, in, out) != 2) return NULL;
    next[1] = out[1];
    return next[0] = out[0];
}
static const cg_cell_type user_lstm_type = {.name = "UserLSTM", .size = sizeof(user_lstm), .n_states = 2,
                                            .state_size = user_lstm_size, .build = user_lstm_build,
                                            .begin = user_lstm_begin, .step = user_lstm_step};
static cg_cell *user_lstm_new(int units) {
    user_lstm *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->base.type = &user_lstm_type;
    u->units = units;
    cg_fused_prog *p = &u->prog;
    cg_fused_begin(p, "user_lstm");
    int z = cg_fused_input(p, 4), cc = cg_fused_input(p, 1);
    int i = cg_fused_unary(p, CG_SIGMOID, z), f = cg_fused_unary(p, CG_SIGMOID, z + 1);
    int g = cg_fused_unary(p, CG_TANH, z + 2), o = cg_fused_unary(p, CG_SIGMOID, z + 3);
    int c2 = cg_fused_binary(p, CG_ADD, cg_fused_binary(p, CG_MUL, f, cc), cg_fused_binary(p, CG_MUL, i, g));
    cg_fused_output(p, cg_fused_binary(p, CG_MUL, o, cg_fused_unary(p, CG_TANH, c2)));
    cg_fused_output(p, c2);
    return &u->base;
}

static bool g_user_cell; /* the workload being built is imdb_lstm_usercell */

static cg_module *rnn_layer(cg_rnn_kind k, int in, int h, bool seq) {
    cg_rnn_opts o = {.return_sequences = seq, .torch_init = true};
    if (g_user_cell) return cg_rnn_new(user_lstm_new(h), in, &o);
    return k == CG_LSTM ? cg_lstm_new(in, h, &o) : k == CG_GRU ? cg_gru_new(in, h, &o) : cg_simple_rnn_new(in, h, &o);
}

static cg_module *build(const workload *w) {
    cg_module *m = cg_sequential_new(NULL);
    int in = w->inp;
    if (w->vocab) {
        cg_embedding_opts eo = {.init = cg_init_normal(1.0)}; /* torch's nn.Embedding */
        cg_sequential_add(m, cg_embedding_new_ex(w->vocab, w->emb, &eo));
        in = w->emb;
    }
    for (int l = 0; l < w->layers; l++) cg_sequential_add(m, rnn_layer(w->cell, l ? w->hidden : in, w->hidden, l + 1 < w->layers));
    cg_dense_opts d = {.torch_init = true};
    return cg_sequential_add(m, cg_dense_new_ex(w->hidden, 1, &d));
}

/* Synthetic inputs of the peer's shapes (values differ; timing does not). */
static void make_data(const workload *w, cg_tensor **x, cg_tensor **y) {
    cg_rng r = cg_rng_seeded(0);
    *x = w->vocab ? cg_randint(&r, CG_INT64, 1, w->vocab, CG_SHAPE(w->n, w->T)) : cg_rand(&r, CG_FLOAT32, CG_SHAPE(w->n, w->T, w->inp));
    *y = w->bce ? cg_bernoulli(&r, CG_FLOAT32, 0.5, CG_SHAPE(w->n)) : cg_rand(&r, CG_FLOAT32, CG_SHAPE(w->n));
}

static int g_shards; /* --shards: for every workload; 0 = each its own */
static int64_t g_batch = 32; /* --batch: the (global) batch */
static cg_dist *g_dist; /* --dist: this rank's share of every batch */

static bool step(cg_module *m, cg_optim *opt, const workload *w, cg_tensor *x, cg_tensor *y, int64_t i, int64_t B) {
    int64_t nb = (w->n + B - 1) / B, b = i % nb;
    int64_t lo = b * B, hi = lo + B < w->n ? lo + B : w->n;
    if (g_dist) { /* rank r of W: rows [lo + n r / W, lo + n (r + 1) / W) */
        int64_t n = hi - lo, r = cg_dist_rank(g_dist), W = cg_dist_size(g_dist);
        hi = lo + n * (r + 1) / W, lo = lo + n * r / W;
    }
    cg_scope *s = cg_scope_begin();
    cg_optim_zero_grad(opt);
    cg_tensor *xb = cg_slice(x, 0, lo, hi, 1), *yb = cg_slice(y, 0, lo, hi, 1);
    cg_loss loss = w->bce ? CG_LOSS_BCE_WITH_LOGITS : CG_LOSS_MSE;
    cg_batch_opts bo = {.shards = g_shards ? g_shards : g_dist ? 1 : w->shards, .dist = g_dist};
    bool ok = cg_train_batch_ex(m, loss, CG_METRIC_NONE, xb, yb, &bo, NULL, NULL) == CG_OK && cg_optim_step(opt) == CG_OK;
    cg_scope_end(s);
    if (!ok) fprintf(stderr, "%s: %s\n", w->name, cg_last_error());
    return ok;
}

/* GEMM flops of one training sample: forward (input projection and
 * recurrent product for every step) times 3 for the backward's two GEMMs. */
static double train_flops_per_sample(const workload *w) {
    int G = w->cell == CG_LSTM ? 4 : w->cell == CG_GRU ? 3 : 1;
    double f = 0;
    for (int l = 0; l < w->layers; l++) {
        int in = l ? w->hidden : (w->vocab ? w->emb : w->inp);
        f += 2.0 * (double)w->T * G * w->hidden * (in + w->hidden);
    }
    return 3.0 * f;
}

static bool g_lazy;

/* BLIS on the traced products, each on its own as cgrad handed it over
 * (shape, strides, alpha, beta), the best of 3 runs with 1 and with
 * `threads` BLIS threads: seconds for all of them; -1 if out of memory.
 * float32 products only (the workloads' dtype). */
static double blis_alone(const cg_gemm_record *r, int64_t n, int threads) {
    size_t na = 1, nb = 1, nc = 1;
#define SPAN(rows, cols, rs, cs) ((size_t)(((rows) - 1) * (rs) + ((cols) - 1) * (cs) + 1))
    for (int64_t i = 0; i < n; i++) {
        size_t a = SPAN(r[i].m, r[i].k, r[i].rs_a, r[i].cs_a), b = SPAN(r[i].k, r[i].n, r[i].rs_b, r[i].cs_b),
               c = SPAN(r[i].m, r[i].n, r[i].rs_c, r[i].cs_c);
        na = a > na ? a : na, nb = b > nb ? b : nb, nc = c > nc ? c : nc;
    }
#undef SPAN
    float *A = malloc(na * sizeof *A), *Bm = malloc(nb * sizeof *Bm), *C = malloc(nc * sizeof *C);
    if (!A || !Bm || !C) {
        free(A), free(Bm), free(C);
        fprintf(stderr, "cgrad-bench: out of memory for the GEMM comparison\n");
        return -1;
    }
    for (size_t i = 0; i < na; i++) A[i] = 0.01f * (float)(i % 97);
    for (size_t i = 0; i < nb; i++) Bm[i] = 0.01f * (float)(i % 89);
    memset(C, 0, nc * sizeof *C);
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (r[i].dtype != CG_FLOAT32) continue;
        float al = (float)r[i].alpha, be = (float)r[i].beta;
        double best = 1e30;
        for (int th = 1; th <= threads; th += threads > 1 ? threads - 1 : 1)
            for (int rep = 0; rep < 3; rep++) {
                rntm_t rntm;
                bli_rntm_init(&rntm);
                bli_rntm_set_num_threads(th, &rntm);
                double t = now();
                bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, r[i].m, r[i].n, r[i].k, &al, A, r[i].rs_a,
                             r[i].cs_a, Bm, r[i].rs_b, r[i].cs_b, &be, C, r[i].rs_c, r[i].cs_c, NULL, &rntm);
                t = now() - t;
                best = t < best ? t : best;
            }
        total += best;
    }
    free(A), free(Bm), free(C);
    return total;
}

static int run(const workload *w, double steps_scale) {
    const int64_t B = g_batch;
    cg_manual_seed(0);
    g_user_cell = strstr(w->name, "usercell") != NULL;
    cg_module *m = build(w);
    cg_tensor *x, *y;
    make_data(w, &x, &y);
    cg_tensor *ps[32];
    int np = cg_module_parameters(m, ps, 32);
    cg_adam_opts ao = cg_adam_torch();
    ao.lazy = g_lazy;
    cg_optim *opt = m ? cg_adam_new(ps, np, &ao) : NULL;
    if (!opt || !x || !y) {
        fprintf(stderr, "%s: %s\n", w->name, cg_last_error());
        return 1;
    }
    int steps = (int)(w->steps * steps_scale);
    if (steps < 3) steps = 3;
    if (g_dist && cg_dist_broadcast(g_dist, opt) != CG_OK) {
        fprintf(stderr, "%s: %s\n", w->name, cg_last_error());
        return 1;
    }
    for (int i = 0; i < 3; i++)
        if (!step(m, opt, w, x, y, i, B)) return 1;
    cg_dist_reset_stats(g_dist);
    double t = now(), c = cpu_now();
    for (int i = 0; i < steps; i++)
        if (!step(m, opt, w, x, y, i, B)) return 1;
    double dt = now() - t, dc = cpu_now() - c;
    int64_t nb = (w->n + B - 1) / B;
    double per_epoch = dt / steps * (double)nb;
    const char *tag = g_lazy && w->vocab ? "_lazy" : "";
    if (g_dist) { /* rank 0 reports; the averaging's time is the ranks' mean */
        cg_dist_stats st = cg_dist_get_stats(g_dist);
        int W = cg_dist_size(g_dist);
        double v[2] = {st.seconds, st.wait_seconds};
        cg_dist_sum(g_dist, v, 2);
        if (cg_dist_rank(g_dist) == 0) {
            printf("%s%s %.3f s/epoch %.0f samples/s %.0f MiB\n", w->name, tag, per_epoch, (double)w->n / per_epoch,
                   peak_rss_mib());
            printf("%s_comm %.3f ms/step (%.1f%% of a step; waiting %.3f ms); sent per step by a rank: dense %.0f B, "
                   "sparse %.0f B, header %.0f B\n",
                   w->name, 1e3 * v[0] / W / st.steps, 100 * v[0] / W / dt, 1e3 * v[1] / W / st.steps,
                   (double)st.dense_bytes / st.steps, (double)st.sparse_bytes / st.steps,
                   (double)st.control_bytes / st.steps);
        }
        fflush(stdout);
        cg_optim_free(opt);
        cg_module_free(m);
        return 0;
    }
    printf("%s%s %.3f s/epoch %.0f samples/s %.0f MiB\n", w->name, tag, per_epoch, (double)w->n / per_epoch,
           peak_rss_mib());
    /* with one thread, the CPU time is what a step takes on a core of its
     * own, however busy the machine */
    /* the cost per op: one more step, whole, counts the nodes of a batch's
     * tape; a step split in S parts records S such tapes */
    int shards = g_shards ? g_shards : w->shards, saved = g_shards;
    int parts = shards == -1 ? cg_get_num_threads() : shards < 1 ? 1 : shards;
    g_shards = 1;
    uint64_t n0 = cg_nodes_recorded();
    if (!step(m, opt, w, x, y, steps, B)) return 1;
    double nodes = (double)(cg_nodes_recorded() - n0);
    g_shards = saved;
    printf("%s%s_step %.3f ms wall, %.3f ms CPU (batch %lld); %.0f nodes x %d part%s, %.0f ns CPU per node "
           "(forward + backward + update)\n",
           w->name, tag, 1e3 * dt / steps, 1e3 * dc / steps, (long long)B, nodes, parts, parts > 1 ? "s" : "",
           1e9 * dc / steps / (nodes * parts));
    if (w->vocab) {
        double fl = train_flops_per_sample(w) * (double)B * steps / dt;
        /* 2048 reviews in batches of 256: a warm-up pass, then the best of 3 (bench/torch_predict.py's way) */
        int64_t n_inf = 64 * B < w->n ? 64 * B : w->n;
        double dti = 1e30;
        for (int rep = 0; rep < 4; rep++) {
            cg_scope *s = cg_scope_begin();
            double t1 = now();
            cg_tensor *p = cg_predict(m, cg_slice(x, 0, 0, n_inf, 1), 256);
            double d = now() - t1;
            cg_scope_end(s);
            if (!p) {
                fprintf(stderr, "%s: %s\n", w->name, cg_last_error());
                return 1;
            }
            if (rep && d < dti) dti = d;
        }
        printf("%s_predict %.0f samples/s (batch 256)\n", w->name, (double)n_inf / dti);
        /* the products of 3 more steps, traced: their rate in training, and
         * BLIS's alone on the same products */
        enum { TRACE_STEPS = 3, TRACE_CAP = 4096 };
        cg_gemm_record *rec = malloc(sizeof *rec * TRACE_CAP);
        if (!rec) return 1;
        cg_gemm_trace_begin(rec, TRACE_CAP);
        double t2 = now();
        for (int i = 0; i < TRACE_STEPS; i++)
            if (!step(m, opt, w, x, y, steps + 1 + i, B)) return 1;
        double dstep = now() - t2;
        cg_gemm_trace tr = cg_gemm_trace_end();
        int64_t nrec = tr.products < TRACE_CAP ? tr.products : TRACE_CAP;
        double alone = blis_alone(rec, nrec, cg_get_num_threads()), fl_rec = 0;
        for (int64_t i = 0; i < nrec; i++) fl_rec += 2.0 * (double)rec[i].m * (double)rec[i].n * (double)rec[i].k;
        free(rec);
        if (alone < 0) return 1;
        double in_training = tr.flops / tr.seconds / 1e9, blis = fl_rec / alone / 1e9;
        printf("%s_train_gemm %.1f GFLOP/s in its products, BLIS alone on the same products %.1f GFLOP/s: %.0f%% "
               "(%lld products a step, %.0f%% of the step's time; over the whole step %.1f GFLOP/s)\n",
               w->name, in_training, blis, 100 * in_training / blis, (long long)(tr.products / TRACE_STEPS),
               100 * tr.seconds / dstep, fl / 1e9);
    }
    fflush(stdout);
    cg_optim_free(opt);
    cg_module_free(m);
    return 0;
}

/* The rest of the first line of `cmd`'s output that starts with `prefix`
 * and a space, into out; false if none or cmd failed. */
static bool run_for(const char *cmd, const char *prefix, char *out, size_t size) {
    FILE *p = popen(cmd, "r");
    char line[1024];
    bool found = false;
    size_t k = strlen(prefix);
    while (p && fgets(line, sizeof line, p))
        if (!found && !strncmp(line, prefix, k) && line[k] == ' ') {
            snprintf(out, size, "%s", line + k + 1);
            out[strcspn(out, "\n")] = 0;
            found = true;
        }
    int st = p ? pclose(p) : -1;
    return found && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* --mpi: one process x 2 threads against 2 processes x 1 thread. */
static int compare_mpi(const char *const *picked, int np, double scale) {
    char self[1024], cmd[4096], one[512], two[512], comm[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || !cg_dist_available()) {
        fprintf(stderr, "cgrad-bench --mpi: %s\n", n <= 0 ? "cannot find itself" : "cgrad was built without MPI");
        return 1;
    }
    self[n] = 0;
    if (getuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    int rc = 0;
    printf("%-16s %14s %14s %8s  %s\n", "workload", "1x2 samples/s", "2x1 samples/s", "2x1/1x2",
           "2x1: averaging gradients");
    for (int k = 0; k < N_WORKLOADS; k++) {
        const workload *w = &WORKLOADS[k];
        bool want = np == 0;
        for (int j = 0; j < np; j++) want |= !strcmp(picked[j], w->name);
        if (!want) continue;
        char comm_key[64];
        snprintf(comm_key, sizeof comm_key, "%s_comm", w->name);
        snprintf(cmd, sizeof cmd, "'%s' --no-info --threads 2 --steps-scale %g %s", self, scale, w->name);
        bool ok = run_for(cmd, w->name, one, sizeof one);
        snprintf(cmd, sizeof cmd, "mpirun -np 2 '%s' --no-info --threads 1 --steps-scale %g --dist %s", self, scale,
                 w->name);
        FILE *p = ok ? popen(cmd, "r") : NULL;
        char line[1024];
        bool got_two = false, got_comm = false;
        while (p && fgets(line, sizeof line, p)) {
            size_t a = strlen(w->name), c = strlen(comm_key);
            line[strcspn(line, "\n")] = 0;
            if (!strncmp(line, comm_key, c) && line[c] == ' ')
                snprintf(comm, sizeof comm, "%s", line + c + 1), got_comm = true;
            else if (!strncmp(line, w->name, a) && line[a] == ' ')
                snprintf(two, sizeof two, "%s", line + a + 1), got_two = true;
        }
        int st = p ? pclose(p) : -1;
        if (!ok || !got_two || !got_comm || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "cgrad-bench --mpi: %s failed\n", w->name);
            rc = 1;
            continue;
        }
        double a = 0, b = 0;
        sscanf(one, "%*f s/epoch %lf", &a);
        sscanf(two, "%*f s/epoch %lf", &b);
        printf("%-16s %14.0f %14.0f %7.2fx  %s\n", w->name, a, b, a > 0 ? b / a : 0, comm);
        fflush(stdout);
    }
    return rc;
}

/* --round-trip */
enum { RT_TRIPS = 20000, RT_RUNS = 5 };
static _Alignas(64) atomic_long rt_flag;
static bool pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}
static void *rt_answer(void *cpu) {
    bool pinned = pin_to(*(int *)cpu);
    for (long i = 0; i < (long)RT_TRIPS * RT_RUNS; i++) {
        while (atomic_load_explicit(&rt_flag, memory_order_acquire) != 2 * i + 1) {}
        atomic_store_explicit(&rt_flag, 2 * i + 2, memory_order_release);
    }
    return pinned ? cpu : NULL;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int round_trip(void) {
    cpu_set_t set;
    int cpu[2], n = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        perror("cgrad-bench --round-trip: sched_getaffinity");
        return 1;
    }
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &set)) cpu[n++] = c;
    if (n < 2) {
        printf("cores' round trip: the process may run on one CPU only\n");
        return 0;
    }
    pthread_t helper;
    atomic_store(&rt_flag, 0);
    if (!pin_to(cpu[0]) || pthread_create(&helper, NULL, rt_answer, &cpu[1]) != 0) {
        fprintf(stderr, "cgrad-bench --round-trip: cannot run a thread on CPU %d and one on CPU %d\n", cpu[0], cpu[1]);
        return 1;
    }
    double t[RT_RUNS];
    for (long r = 0, i = 0; r < RT_RUNS; r++) {
        double t0 = now();
        for (long k = 0; k < RT_TRIPS; k++, i++) {
            atomic_store_explicit(&rt_flag, 2 * i + 1, memory_order_release);
            while (atomic_load_explicit(&rt_flag, memory_order_acquire) != 2 * i + 2) {}
        }
        t[r] = (now() - t0) / RT_TRIPS;
    }
    void *pinned = NULL;
    pthread_join(helper, &pinned);
    if (!pinned) {
        fprintf(stderr, "cgrad-bench --round-trip: cannot pin a thread to CPU %d\n", cpu[1]);
        return 1;
    }
    qsort(t, RT_RUNS, sizeof t[0], cmp_double);
    printf("cores' round trip: CPUs %d and %d, %.0f ns (median of %d runs of %d)\n", cpu[0], cpu[1], 1e9 * t[RT_RUNS / 2],
           RT_RUNS, RT_TRIPS);
    return 0;
}

int main(int argc, char **argv) {
    double scale = 1.0;
    const char *picked[N_WORKLOADS];
    int np = 0;
    bool info = true, mpi = false, dist = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--info") || !strcmp(argv[i], "--blis-arch-type")) {
            if (argv[i][2] == 'i') cg_build_info_print(stdout);
            else printf("%d\n", cg_build_info().blis_arch_type);
            return 0;
        }
        if (!strcmp(argv[i], "--round-trip")) return round_trip();
        if (!strcmp(argv[i], "--no-info")) info = false;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) cg_set_num_threads(atoi(argv[++i]));
        else if (!strcmp(argv[i], "--steps-scale") && i + 1 < argc) scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--lazy")) g_lazy = true;
        else if (!strcmp(argv[i], "--shards") && i + 1 < argc) g_shards = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) g_batch = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--mpi")) mpi = true;
        else if (!strcmp(argv[i], "--dist")) dist = true;
        else if (np < N_WORKLOADS) picked[np++] = argv[i];
    }
    if (g_batch < 1) {
        fprintf(stderr, "cgrad-bench: --batch must be >= 1\n");
        return 2;
    }
    for (int k = 0; k < np; k++) {
        bool known = false;
        for (int j = 0; j < N_WORKLOADS; j++) known |= !strcmp(picked[k], WORKLOADS[j].name);
        if (!known) {
            fprintf(stderr, "cgrad-bench: unknown workload or flag '%s'\n", picked[k]);
            return 2;
        }
    }
    if (dist && !(g_dist = cg_dist_init(&argc, &argv, NULL))) {
        fprintf(stderr, "cgrad-bench --dist: %s\n", cg_last_error());
        return 1;
    }
    if (info && cg_dist_rank(g_dist) == 0) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        cg_build_info_print(f);
        fclose(f);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) printf("# %s\n", line);
        free(text);
        fflush(stdout);
    }
    if (mpi) return compare_mpi(picked, np, scale);
    int rc = 0;
    for (int k = 0; k < N_WORKLOADS; k++) {
        bool want = np == 0;
        for (int j = 0; j < np; j++) want |= !strcmp(picked[j], WORKLOADS[k].name);
        if (want) rc |= run(&WORKLOADS[k], scale);
    }
    cg_dist_finalize(g_dist);
    cg_cleanup();
    return rc;
}
