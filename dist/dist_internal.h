/* Private to dist/ and train/: one gradient-averaging step in pieces, and
 * small collectives fit uses. No MPI types here (train/ does not see
 * <mpi.h>).
 *
 * A step: while the local backward runs, a parameter whose gradient is
 * final may be announced (cg__dist_leaf_ready / cg__dist_grad_ready); its
 * bucket is then packed and, when every earlier bucket has been started,
 * its reduce-scatter starts at once. cg__dist_step_finish announces the
 * rest, exchanges each rank's status, sample count, loss and gradient
 * kinds, and completes the averaging. Today nothing announces early: the
 * engine has no per-leaf "gradient complete" notification, so the whole
 * averaging runs after cg_backward returns. */
#ifndef CGRAD_DIST_INTERNAL_H
#define CGRAD_DIST_INTERNAL_H

#include "dist.h"

/* The entry point for a backward that knows when a leaf's gradient is
 * complete (no node left that adds to it): call it once
 * per leaf per backward, on the thread running the backward, outside any
 * gradient sink. Leaves d does not know are ignored. Buckets start in a
 * fixed order (bucket k only after buckets 0 .. k-1), so the announcements
 * may come in any order. */
cg_status cg__dist_leaf_ready(cg_dist *d, const cg_tensor *leaf);
/* The same by index in the parameter list given to cg_dist_broadcast. */
cg_status cg__dist_grad_ready(cg_dist *d, int param);

/* While on, the backward only accumulates (DDP's no_sync): announcements
 * are ignored. */
void cg__dist_set_no_sync(cg_dist *d, bool on);

/* A no_sync micro-batch's status, sample count and sums: added to those of
 * the next cg__dist_step_finish (an error is reported there, to every rank). */
void cg__dist_defer(cg_dist *d, cg_status st, int64_t n, double loss_sum, double metric_sum);

/* Finish the step: `local` is this rank's status (an error is passed on to
 * every rank, and nothing is averaged), n its sample count, loss_sum and
 * metric_sum the sums of its per-sample losses and metrics (NaN metric:
 * none). grads_are_sums: every .grad is the gradient of the sum of the
 * samples' losses (weight 1/N each); else of their mean (weight n_r/N).
 * *loss and *metric (may be NULL) get the global means. */
cg_status cg__dist_step_finish(cg_dist *d, cg_status local, int64_t n, double loss_sum, double metric_sum,
                               bool grads_are_sums, double *loss, double *metric);

/* Is d attached (cg_dist_broadcast done)? Its parameter count. */
int cg__dist_n_params(const cg_dist *d);

/* Every rank has the same values v[0 .. n-1]? names[i] names v[i] in the
 * error ("<fn>: batch_size is 16 on rank 0 but 32 on rank 1"). */
cg_status cg__dist_same(cg_dist *d, const char *fn, const int64_t *v, const char *const *names, int n);
/* Rank 0's v[0 .. n-1] on every rank. */
cg_status cg__dist_bcast_i64(cg_dist *d, int64_t *v, int n);
/* cg_dist_sum with each rank's status: an error on any rank fails all (as
 * cg_dist_check), and then values are unchanged. */
cg_status cg__dist_sum_checked(cg_dist *d, cg_status local, double *values, int n);

/* A 64-bit checksum of t's bytes (row-major), for "every rank holds the
 * same data" checks. */
uint64_t cg__dist_checksum(const cg_tensor *t);

#endif
