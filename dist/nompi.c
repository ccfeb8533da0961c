/* dist/ in a build without MPI: every call fails with one message. */
#include "dist_internal.h"

#include <math.h>
#include <stdlib.h>

#define NO_MPI(fn)                                                                                 \
    cg_set_error(CG_ERR_STATE, "%s: cgrad was built without MPI (install libopenmpi-dev and openmpi-bin, " \
                               "then configure with -DCGRAD_MPI=ON)", fn)

bool cg_dist_available(void) { return false; }

cg_dist_opts cg_dist_defaults(void) {
    const char *env = getenv("CGRAD_DIST_TIMEOUT");
    double t = env && *env ? atof(env) : 0;
    return (cg_dist_opts){.bucket_bytes = (size_t)25 << 20, .timeout = t != 0 ? t : 300, .sparse = CG_DIST_SPARSE_AUTO};
}

cg_dist *cg_dist_init(int *argc, char ***argv, const cg_dist_opts *o) {
    (void)argc, (void)argv, (void)o;
    NO_MPI("cg_dist_init");
    return NULL;
}
cg_dist *cg_dist_init_comm(const void *mpi_comm, const cg_dist_opts *o) {
    (void)mpi_comm, (void)o;
    NO_MPI("cg_dist_init_comm");
    return NULL;
}
/* (no cg_dist can exist: a NULL one is one process alone) */
int cg_dist_rank(const cg_dist *d) { return (void)d, 0; }
int cg_dist_size(const cg_dist *d) { return (void)d, 1; }
int cg_dist_local_size(const cg_dist *d) { return (void)d, 1; }
cg_status cg_dist_finalize(cg_dist *d) { return (void)d, CG_OK; }
cg_status cg_dist_broadcast(cg_dist *d, cg_optim *opt) { return (void)d, (void)opt, NO_MPI("cg_dist_broadcast"); }
cg_status cg_dist_allreduce_grads(cg_dist *d, int64_t n) { return (void)d, (void)n, NO_MPI("cg_dist_allreduce_grads"); }
cg_status cg_dist_sum(cg_dist *d, double *v, int n) { return (void)d, (void)v, (void)n, NO_MPI("cg_dist_sum"); }
bool cg_dist_any(cg_dist *d, bool mine, cg_status *st) {
    (void)d, (void)mine;
    cg_status s = NO_MPI("cg_dist_any");
    if (st) *st = s;
    return false;
}
cg_status cg_dist_check(cg_dist *d, cg_status local) { return (void)d, (void)local, NO_MPI("cg_dist_check"); }
cg_status cg_dist_barrier(cg_dist *d) { return (void)d, NO_MPI("cg_dist_barrier"); }
cg_dist_stats cg_dist_get_stats(const cg_dist *d) { return (void)d, (cg_dist_stats){0}; }
void cg_dist_reset_stats(cg_dist *d) { (void)d; }

cg_status cg__dist_leaf_ready(cg_dist *d, const cg_tensor *leaf) { return (void)d, (void)leaf, CG_OK; }
cg_status cg__dist_grad_ready(cg_dist *d, int param) { return (void)d, (void)param, CG_OK; }
void cg__dist_set_no_sync(cg_dist *d, bool on) { (void)d, (void)on; }
void cg__dist_defer(cg_dist *d, cg_status st, int64_t n, double loss_sum, double metric_sum) {
    (void)d, (void)st, (void)n, (void)loss_sum, (void)metric_sum;
}
cg_status cg__dist_step_finish(cg_dist *d, cg_status local, int64_t n, double loss_sum, double metric_sum,
                               bool grads_are_sums, double *loss, double *metric) {
    (void)d, (void)local, (void)n, (void)loss_sum, (void)metric_sum, (void)grads_are_sums;
    if (loss) *loss = NAN;
    if (metric) *metric = NAN;
    return NO_MPI("cg_dist_allreduce_grads");
}
int cg__dist_n_params(const cg_dist *d) { return (void)d, 0; }
cg_status cg__dist_same(cg_dist *d, const char *fn, const int64_t *v, const char *const *names, int n) {
    (void)d, (void)v, (void)names, (void)n;
    return NO_MPI(fn);
}
cg_status cg__dist_bcast_i64(cg_dist *d, int64_t *v, int n) { return (void)d, (void)v, (void)n, NO_MPI("cg_dist_bcast"); }
cg_status cg__dist_sum_checked(cg_dist *d, cg_status local, double *v, int n) {
    return (void)d, (void)local, (void)v, (void)n, NO_MPI("cg_dist_sum");
}
