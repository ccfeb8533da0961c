/*
 * cgrad/dist.h — data-parallel training over MPI, on one machine or many.
 *
 * Every process (a *rank*) holds the whole model and the whole data set;
 * each trains on its own slice of every batch, and after each backward the
 * gradients are averaged over the ranks, so every rank takes the same
 * optimizer step. The result is what one process would get training on
 * the summed batch (PyTorch's DistributedDataParallel, Horovod):
 *
 *     int main(int argc, char **argv) {
 *         cg_dist *d = cg_dist_init(&argc, &argv, NULL);   // MPI_COMM_WORLD
 *         if (!d) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
 *         ...                                               // model, optimizer, x, y: the same on every rank
 *         cg_fit_opts o = cg_fit_defaults();
 *         o.batch_size = 16;                                // per rank: 2 ranks train on batches of 32
 *         o.dist = d;
 *         cg_history *h = cg_fit(model, opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o);
 *         if (h && cg_dist_rank(d) == 0) cg_history_plot(h, "loss.png", "loss");
 *         cg_history_free(h);
 *         cg_dist_finalize(d);                              // MPI_Finalize, since init started MPI
 *     }
 *
 *     mpirun -np 2 ./app                                    # one machine
 *     mpirun -np 8 --hostfile hosts ./app                   # several (hosts: "node1 slots=4" ...)
 *
 * What a run promises (train.h's cg_fit and cg_train_batch_ex with a dist):
 *   - At start rank 0's parameters, optimizer state and default random
 *     generator are broadcast (cg_dist_broadcast); a model whose parameter
 *     names, dtypes or shapes differ between ranks is refused, naming the
 *     parameter and the ranks.
 *   - After each backward every gradient becomes sum_r g_r / N over the
 *     ranks' per-sample gradient sums g_r (N: the samples all ranks saw),
 *     summed in rank order in double precision by one rank per slice and
 *     sent back, so every rank holds the same bits, and a run repeats bit
 *     for bit for a given number of ranks. Dense gradients travel in
 *     buckets (cg_dist_opts.bucket_bytes); an embedding's row-sparse
 *     gradient as row ids + rows (allgather), or dense when that moves
 *     fewer bytes; it stays row-sparse either way (lazy Adam sees the rows
 *     any rank touched).
 *   - A rank whose step fails (a NaN loss, bad input) makes every rank
 *     return an error naming that rank and its message; a rank that dies
 *     makes the others fail after cg_dist_opts.timeout instead of hanging
 *     (under mpirun the job is stopped at once anyway).
 *
 * MPI types do not appear here: the header needs no <mpi.h>. To train over
 * a communicator of your own, pass its address:
 *     MPI_Comm half;  MPI_Comm_split(MPI_COMM_WORLD, color, key, &half);
 *     cg_dist *d = cg_dist_init_comm(&half, NULL);         // a const MPI_Comm *
 * A cgrad built without MPI (cmake -DCGRAD_MPI=OFF, or no libopenmpi-dev)
 * still has these functions: they fail with "built without MPI", and
 * cg_dist_available() says false.
 *
 * Threads: MPI is called from the calling thread only (MPI_THREAD_FUNNELED).
 * Several ranks on one machine share its cores: give each
 * cores / cg_dist_local_size(d) threads (cg_set_num_threads).
 *
 * Errors follow the rest of cgrad: functions return a cg_status (or NULL)
 * and set cg_last_error(). Every function taking a cg_dist is *collective*:
 * all ranks must call it, in the same order.
 */
#ifndef CGRAD_DIST_H
#define CGRAD_DIST_H

#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_dist cg_dist;

/* How an embedding's row-sparse gradient travels. */
typedef enum cg_dist_sparse {
    CG_DIST_SPARSE_AUTO = 0, /* row ids + rows, or dense when that moves fewer bytes */
    CG_DIST_SPARSE_ROWS,     /* always row ids + rows (allgather) */
    CG_DIST_SPARSE_DENSE     /* always the whole table (with the row ids, so it stays row-sparse) */
} cg_dist_sparse;

typedef struct cg_dist_opts {
    size_t bucket_bytes;   /* dense gradients travel in buckets of about this size (0: 25 MiB, DDP's default) */
    double timeout;        /* seconds a rank waits for the others before it fails (0: 300, or
                              $CGRAD_DIST_TIMEOUT when set; < 0: forever) */
    cg_dist_sparse sparse; /* default CG_DIST_SPARSE_AUTO */
} cg_dist_opts;

cg_dist_opts cg_dist_defaults(void);

/* True when cgrad was built with MPI. */
bool cg_dist_available(void);

/* Start (MPI_Init_thread, unless MPI is running already; argc/argv may be
 * NULL) and train over MPI_COMM_WORLD. o may be NULL (the defaults). NULL
 * with an error when built without MPI or for bad options. The result is
 * the caller's: cg_dist_finalize. */
cg_dist *cg_dist_init(int *argc, char ***argv, const cg_dist_opts *o);
/* Train over an existing communicator: mpi_comm is a `const MPI_Comm *`
 * (MPI must be initialized; the communicator is duplicated, so the caller
 * keeps and frees its own). */
cg_dist *cg_dist_init_comm(const void *mpi_comm, const cg_dist_opts *o);
/* This rank (0 .. size-1), the number of ranks, and how many of them run on
 * this machine. A NULL d is one process alone: rank 0 of 1. */
int cg_dist_rank(const cg_dist *d);
int cg_dist_size(const cg_dist *d);
int cg_dist_local_size(const cg_dist *d);
/* Free d; MPI_Finalize when cg_dist_init started MPI (so finalize that
 * dist after any others). After a rank was lost (a timeout or an MPI
 * error) MPI cannot shut down cleanly: d is freed and MPI left as it is
 * (the program's exit then ends the job). NULL is a no-op. */
cg_status cg_dist_finalize(cg_dist *d);

/* ---------------------------------------------------------------- training */

/* Make every rank start from rank 0's state: check that all ranks hold the
 * same parameters (names, dtypes, shapes, in order) and optimizer (kind,
 * state tensors), then broadcast rank 0's parameter values, optimizer state
 * and default random generator (cg_default_rng). d keeps opt's parameter
 * list: later gradient averaging works on those. cg_fit calls it at start. */
cg_status cg_dist_broadcast(cg_dist *d, cg_optim *opt);

/* For a loop of your own: average the .grad of the parameters given to
 * cg_dist_broadcast over the ranks, weighted by each rank's n_samples
 * (.grad being the gradient of a mean loss over them): every .grad becomes
 * sum_r n_r g_r / sum_r n_r on every rank. A rank without a batch this
 * step passes 0 (and whatever .grad holds is ignored). Gradient
 * accumulation without communication (DDP's no_sync): call it every k-th
 * step only. */
cg_status cg_dist_allreduce_grads(cg_dist *d, int64_t n_samples);

/* values[0 .. n-1] become their sums over the ranks (in rank order, so the
 * same doubles everywhere). */
cg_status cg_dist_sum(cg_dist *d, double *values, int n);
/* Does any rank have `mine` set? For loops over data of different lengths
 * per rank: `while (cg_dist_any(d, have_batch, &st))` runs until every
 * rank is done, a rank without a batch taking part with n_samples 0.
 * *st (may be NULL) gets the status of the exchange. */
bool cg_dist_any(cg_dist *d, bool mine, cg_status *st);
/* Agree on errors: every rank passes its own status; all get CG_OK, or the
 * lowest failing rank's status and one message, "rank r: <its message>". */
cg_status cg_dist_check(cg_dist *d, cg_status local);
cg_status cg_dist_barrier(cg_dist *d);

/* What gradient averaging cost so far on this rank (cg_dist_reset_stats
 * starts again). Bytes are those this rank sent, counting a message to
 * itself as none. */
typedef struct cg_dist_stats {
    int64_t steps;        /* gradient averagings */
    double seconds;       /* wall time inside them: packing, waiting, summing, unpacking */
    double wait_seconds;  /* of which waiting for messages */
    int64_t dense_bytes;  /* dense buckets (reduce-scatter + allgather) */
    int64_t sparse_bytes; /* row ids + rows, and the ids sent with a dense-sent sparse gradient */
    int64_t control_bytes; /* the per-step header (status, sample count, loss, row counts) */
} cg_dist_stats;
cg_dist_stats cg_dist_get_stats(const cg_dist *d);
void cg_dist_reset_stats(cg_dist *d);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_DIST_H */
