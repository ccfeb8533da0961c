/* Starting and stopping MPI, waiting with a timeout, and the small
 * collectives (checks, sums, agreement) every rank calls in the same order. */
#include "dist_mpi.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_LEN 512 /* an error message as exchanged between ranks */

bool cg_dist_available(void) { return true; }

double cg__dist_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

cg_status cg__dist_mpi_error(cg_dist *d, int rc, const char *what) {
    char s[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, s, &len);
    if (d) d->broken = true;
    return cg_set_error(CG_ERR_IO, "%s: MPI failed: %s (a rank may have died)", what, s);
}

cg_status cg__dist_usable(const cg_dist *d, const char *fn) {
    if (!d) return cg_set_error(CG_ERR_NULL, "%s: dist is NULL", fn);
    if (d->broken)
        return cg_set_error(CG_ERR_STATE, "%s: an earlier exchange with the other ranks failed (a rank was lost); "
                                          "this run cannot continue",
                            fn);
    return CG_OK;
}

cg_status cg__dist_wait(cg_dist *d, MPI_Request *reqs, int n, const char *what) {
    double t0 = cg__dist_now(), limit = d->o.timeout;
    for (;;) {
        int done = 0, rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return cg__dist_mpi_error(d, rc, what);
        if (done) break;
        double t = cg__dist_now() - t0;
        if (limit > 0 && t > limit) {
            d->broken = true;
            return cg_set_error(CG_ERR_IO,
                                "%s: no answer from the other ranks for %.0f s: a rank has stopped or died "
                                "(cg_dist_opts.timeout)",
                                what, t);
        }
        /* spin while an answer is likely soon; then leave the core to others */
        if (t > 0.05) nanosleep(&(struct timespec){0, 100000}, NULL);
        else if (t > 1e-3) sched_yield();
    }
    d->stats.wait_seconds += cg__dist_now() - t0;
    return CG_OK;
}

cg_dist_opts cg_dist_defaults(void) {
    const char *env = getenv("CGRAD_DIST_TIMEOUT");
    double t = env && *env ? atof(env) : 0;
    return (cg_dist_opts){.bucket_bytes = (size_t)25 << 20, .timeout = t != 0 ? t : 300, .sparse = CG_DIST_SPARSE_AUTO};
}

static cg_status check_opts(const char *fn, const cg_dist_opts *in, cg_dist_opts *out) {
    *out = cg_dist_defaults();
    if (!in) return CG_OK;
    if (in->bucket_bytes) out->bucket_bytes = in->bucket_bytes;
    if (in->timeout != 0) out->timeout = in->timeout;
    out->sparse = in->sparse;
    if (isnan(in->timeout))
        return cg_set_error(CG_ERR_VALUE, "%s: timeout is NaN (seconds; 0 for the default, < 0 to wait forever)", fn);
    if ((unsigned)in->sparse > CG_DIST_SPARSE_DENSE)
        return cg_set_error(CG_ERR_VALUE, "%s: sparse = %d is not a cg_dist_sparse", fn, (int)in->sparse);
    if (out->bucket_bytes < 64)
        return cg_set_error(CG_ERR_VALUE, "%s: bucket_bytes = %zu is too small (at least 64; 0: 25 MiB)", fn,
                            out->bucket_bytes);
    return CG_OK;
}

/* A dist over a duplicate of comm; NULL with an error. */
static cg_dist *make(const char *fn, MPI_Comm comm, const cg_dist_opts *o, bool own_mpi) {
    cg_dist_opts opts;
    if (check_opts(fn, o, &opts) != CG_OK) return NULL;
    cg_dist *d = calloc(1, sizeof *d);
    if (!d) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn), NULL;
    d->o = opts;
    d->own_mpi = own_mpi;
    MPI_Comm *cs[3] = {&d->comm, &d->comm_a, &d->comm_b};
    for (int i = 0; i < 3; i++) *cs[i] = MPI_COMM_NULL;
    int rc = MPI_SUCCESS;
    for (int i = 0; i < 3 && rc == MPI_SUCCESS; i++) {
        rc = MPI_Comm_dup(comm, cs[i]);
        if (rc == MPI_SUCCESS) MPI_Comm_set_errhandler(*cs[i], MPI_ERRORS_RETURN);
    }
    MPI_Comm local = MPI_COMM_NULL;
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(d->comm, &d->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(d->comm, &d->size);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(local, &d->local_size);
    if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
    if (rc != MPI_SUCCESS) {
        cg__dist_mpi_error(NULL, rc, fn);
        for (int i = 0; i < 3; i++)
            if (*cs[i] != MPI_COMM_NULL) MPI_Comm_free(cs[i]);
        free(d);
        return NULL;
    }
    return d;
}

cg_dist *cg_dist_init(int *argc, char ***argv, const cg_dist_opts *o) {
    const char *fn = "cg_dist_init";
    cg_dist_opts opts;
    if (check_opts(fn, o, &opts) != CG_OK) return NULL;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) return cg_set_error(CG_ERR_STATE, "%s: MPI was finalized already (it cannot start twice)", fn), NULL;
    bool own = false;
    if (!inited) {
        int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return cg__dist_mpi_error(NULL, rc, fn), NULL;
        own = true;
    }
    cg_dist *d = make(fn, MPI_COMM_WORLD, o, own);
    if (!d && own) MPI_Finalize();
    return d;
}

cg_dist *cg_dist_init_comm(const void *mpi_comm, const cg_dist_opts *o) {
    const char *fn = "cg_dist_init_comm";
    if (!mpi_comm) return cg_set_error(CG_ERR_NULL, "%s: mpi_comm is NULL (pass the address of an MPI_Comm)", fn), NULL;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized)
        return cg_set_error(CG_ERR_STATE, "%s: MPI is not running (call MPI_Init first, or use cg_dist_init)", fn),
               NULL;
    MPI_Comm c = *(const MPI_Comm *)mpi_comm;
    if (c == MPI_COMM_NULL) return cg_set_error(CG_ERR_VALUE, "%s: the communicator is MPI_COMM_NULL", fn), NULL;
    int inter = 0;
    MPI_Comm_test_inter(c, &inter);
    if (inter)
        return cg_set_error(CG_ERR_VALUE, "%s: an intercommunicator cannot be used (give an intracommunicator)", fn),
               NULL;
    return make(fn, c, o, false);
}

int cg_dist_rank(const cg_dist *d) { return d ? d->rank : 0; }
int cg_dist_size(const cg_dist *d) { return d ? d->size : 1; }
int cg_dist_local_size(const cg_dist *d) { return d ? d->local_size : 1; }

cg_status cg_dist_finalize(cg_dist *d) {
    if (!d) return CG_OK;
    bool broken = d->broken, own = d->own_mpi;
    cg__dist_free_buckets(d);
    cg__dist_free_params(d);
    if (!broken) {
        MPI_Comm_free(&d->comm);
        MPI_Comm_free(&d->comm_a);
        MPI_Comm_free(&d->comm_b);
    }
    free(d->hdr);
    free(d->sparse_class);
    free(d->w);
    free(d->rows);
    free(d->acc);
    free(d->uids);
    free(d->vals);
    free(d);
    if (broken)
        return cg_set_error(CG_ERR_STATE, "cg_dist_finalize: a rank was lost; MPI is left running (it cannot shut "
                                          "down without that rank)");
    if (own) {
        int rc = MPI_Finalize();
        if (rc != MPI_SUCCESS) return cg__dist_mpi_error(NULL, rc, "cg_dist_finalize");
    }
    return CG_OK;
}

/* ------------------------------------------------------ small collectives */

cg_status cg__dist_agree(cg_dist *d, cg_status local, const char *fn, bool name_rank) {
    char mine[MSG_LEN] = "";
    if (local != CG_OK) snprintf(mine, sizeof mine, "%s", cg_last_error());
    cg_status st = cg__dist_usable(d, fn);
    if (st != CG_OK) return st;
    int *all = malloc(sizeof(int) * (size_t)d->size);
    if (!all) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    int me = (int)local;
    MPI_Request r;
    int rc = MPI_Iallgather(&me, 1, MPI_INT, all, 1, MPI_INT, d->comm, &r);
    st = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn) : cg__dist_wait(d, &r, 1, fn);
    int first = -1;
    for (int i = 0; st == CG_OK && i < d->size && first < 0; i++)
        if (all[i] != CG_OK) first = i;
    if (st == CG_OK && first >= 0) {
        char *msgs = malloc((size_t)MSG_LEN * (size_t)d->size);
        if (!msgs) st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
        else {
            rc = MPI_Iallgather(mine, MSG_LEN, MPI_CHAR, msgs, MSG_LEN, MPI_CHAR, d->comm, &r);
            st = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn) : cg__dist_wait(d, &r, 1, fn);
            if (st == CG_OK) {
                const char *m = msgs + (size_t)first * MSG_LEN;
                int failing = 0;
                for (int i = 0; i < d->size; i++) failing += all[i] != CG_OK;
                char more[64] = "";
                if (failing > 1) snprintf(more, sizeof more, " (and %d more rank%s)", failing - 1, failing > 2 ? "s" : "");
                if (!name_rank) st = cg_set_error((cg_status)all[first], "%.*s%s", MSG_LEN, m, more);
                else st = cg_set_error((cg_status)all[first], "rank %d: %.*s%s", first, MSG_LEN, m, more);
            }
            free(msgs);
        }
    }
    free(all);
    return st;
}

cg_status cg_dist_check(cg_dist *d, cg_status local) { return cg__dist_agree(d, local, "cg_dist_check", true); }

cg_status cg__dist_sum_checked(cg_dist *d, cg_status local, double *v, int n) {
    const char *fn = "cg_dist_sum";
    char mine[MSG_LEN] = "";
    if (local != CG_OK) snprintf(mine, sizeof mine, "%s", cg_last_error());
    cg_status st = cg__dist_usable(d, fn);
    if (st != CG_OK) return st;
    if (n < 0 || (n > 0 && !v)) return cg_set_error(CG_ERR_VALUE, "%s: %d values at %p", fn, n, (void *)v);
    int w = n + 1;
    double *all = malloc(sizeof(double) * (size_t)w * (size_t)(d->size + 1));
    if (!all) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    double *me = all + (size_t)w * (size_t)d->size;
    me[0] = (double)local;
    if (n) memcpy(me + 1, v, sizeof(double) * (size_t)n);
    MPI_Request r;
    int rc = MPI_Iallgather(me, w, MPI_DOUBLE, all, w, MPI_DOUBLE, d->comm, &r);
    st = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn) : cg__dist_wait(d, &r, 1, fn);
    bool failed = false;
    for (int i = 0; st == CG_OK && i < d->size; i++) failed |= all[(size_t)i * w] != 0;
    if (st == CG_OK && failed) {
        /* the same exchange of messages as cg_dist_check */
        if (local != CG_OK) cg_set_error(local, "%s", mine);
        st = cg__dist_agree(d, local, fn, true);
        if (st == CG_OK) st = cg_set_error(CG_ERR_STATE, "%s: the ranks disagree about a failure", fn);
    } else if (st == CG_OK) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < d->size; i++) s += all[(size_t)i * w + 1 + j];
            v[j] = s;
        }
    }
    free(all);
    return st;
}

cg_status cg_dist_sum(cg_dist *d, double *values, int n) { return cg__dist_sum_checked(d, CG_OK, values, n); }

bool cg_dist_any(cg_dist *d, bool mine, cg_status *out) {
    double v = mine ? 1 : 0;
    cg_status st = cg__dist_sum_checked(d, CG_OK, &v, 1);
    if (out) *out = st;
    return st == CG_OK && v > 0;
}

cg_status cg_dist_barrier(cg_dist *d) {
    cg_status st = cg__dist_usable(d, "cg_dist_barrier");
    if (st != CG_OK) return st;
    MPI_Request r;
    int rc = MPI_Ibarrier(d->comm, &r);
    return rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, "cg_dist_barrier") : cg__dist_wait(d, &r, 1, "cg_dist_barrier");
}

cg_status cg__dist_same(cg_dist *d, const char *fn, const int64_t *v, const char *const *names, int n) {
    cg_status st = cg__dist_usable(d, fn);
    if (st != CG_OK) return st;
    int64_t *all = malloc(sizeof(int64_t) * (size_t)(n ? n : 1) * (size_t)d->size);
    if (!all) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    MPI_Request r;
    int rc = MPI_Iallgather(v, n, MPI_INT64_T, all, n, MPI_INT64_T, d->comm, &r);
    st = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn) : cg__dist_wait(d, &r, 1, fn);
    for (int j = 0; st == CG_OK && j < n; j++)
        for (int i = 1; st == CG_OK && i < d->size; i++)
            if (all[(size_t)i * n + j] != all[j])
                st = cg_set_error(CG_ERR_VALUE,
                                  "%s: %s is %lld on rank 0 but %lld on rank %d (every rank must pass the same)", fn,
                                  names[j], (long long)all[j], (long long)all[(size_t)i * n + j], i);
    free(all);
    return st;
}

cg_status cg__dist_bcast_i64(cg_dist *d, int64_t *v, int n) {
    cg_status st = cg__dist_usable(d, "cg_dist_bcast");
    if (st != CG_OK) return st;
    MPI_Request r;
    int rc = MPI_Ibcast(v, n, MPI_INT64_T, 0, d->comm, &r);
    return rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, "cg_dist_bcast") : cg__dist_wait(d, &r, 1, "cg_dist_bcast");
}

cg_dist_stats cg_dist_get_stats(const cg_dist *d) { return d ? d->stats : (cg_dist_stats){0}; }
void cg_dist_reset_stats(cg_dist *d) {
    if (d) d->stats = (cg_dist_stats){0};
}
