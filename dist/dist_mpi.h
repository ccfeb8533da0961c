/* Private to dist/ (the MPI build): the cg_dist object, its buckets, and
 * the waits every collective goes through. */
#ifndef CGRAD_DIST_MPI_H
#define CGRAD_DIST_MPI_H

#include "dist_internal.h"

#include <mpi.h>

/* A group of dense gradients averaged together. The elements are split
 * into one slice per rank; rank c owns slice c: [numel c / size,
 * numel (c+1) / size). Phase A (an alltoallv, on comm_a) sends every slice
 * to its owner; the owner sums the ranks' pieces in rank order (in double)
 * into its slice of buf; phase B (an allgatherv, on comm_b) sends each
 * owned slice to every rank. Each element is thus summed once, in one
 * order, whatever the bucket size, and every rank receives the same bits. */
typedef struct dist_bucket {
    cg_dtype dt;
    MPI_Datatype mt;
    size_t es;
    int n;          /* members */
    int *members;   /* parameter indices */
    int64_t *offs;  /* element offset of each member in buf */
    int64_t numel;
    int ready;      /* members packed this step */
    bool started_a, started_b;
    char *buf;      /* [numel]: packed gradients, then the averages */
    char *recv;     /* [size x own slice]: the ranks' pieces of the owned slice */
    int *scount, *sdispl, *rcount, *rdispl; /* phase A, in elements */
    int *gcount, *gdispl;                   /* phase B: every rank's slice */
    MPI_Request ra, rb;
} dist_bucket;

/* What a parameter's gradient was on a rank this step (header words). */
#define KIND_NONE (-1)  /* no gradient */
#define KIND_DENSE (-2) /* dense; >= 0: row-sparse with that many rows */

typedef struct dist_param {
    cg_tensor *p;
    int64_t rows, row_numel; /* dim 0, elements per row (1 for a 0-d parameter) */
    int bucket;              /* its bucket, or -1: sparse-class (row-sparse on some rank) */
    bool ready;
    /* sparse-class: */
    int32_t *map;        /* [rows]: row -> index in the union of the ranks' rows, or -1 */
    dist_bucket *single; /* its own bucket, when it travels dense */
    char *block;         /* the exchanged rows: every rank's ids (+ rows) */
    size_t block_cap;
    char *send;          /* this rank's ids (+ rows) */
    size_t send_cap;
    int *bcount, *bdispl; /* bytes per rank in block */
    MPI_Request rs;
    int transport; /* this step: 0 skip, 1 rows, 2 ids + dense values, 3 dense (marked dense) */
} dist_param;

struct cg_dist {
    MPI_Comm comm;   /* control: checks, headers, row exchanges, broadcasts */
    MPI_Comm comm_a; /* buckets' phase A */
    MPI_Comm comm_b; /* buckets' phase B */
    int rank, size, local_size;
    bool own_mpi; /* cg_dist_init called MPI_Init */
    bool broken;  /* a rank was lost: every collective fails */
    cg_dist_opts o;

    int np;
    dist_param *pi;
    int nb;
    dist_bucket *b;
    int next_start;  /* the next bucket whose phase A may start */
    bool classified; /* buckets built from a step's header */
    bool no_sync;
    /* no_sync micro-batches since the last step (cg__dist_defer) */
    int64_t pend_n;
    double pend_loss, pend_metric;
    cg_status pend_st;
    char pend_msg[512];

    int hdr_len;   /* int64 words per rank */
    int64_t *hdr;  /* [size x hdr_len] */
    bool *sparse_class; /* [np]: a step's classification of the parameters */
    double *w;          /* [size]: the ranks' weights in a step */
    int64_t *rows;      /* [size]: the ranks' row counts of one parameter */
    double *acc;   /* summing scratch */
    size_t acc_cap;
    int64_t *uids; /* the union of the ranks' row ids */
    size_t uids_cap;
    char *vals;    /* rows in a parameter's dtype */
    size_t vals_cap;
    cg_dist_stats stats;
};

double cg__dist_now(void);
/* Wait for n requests, polling, failing after the timeout (d->broken). */
cg_status cg__dist_wait(cg_dist *d, MPI_Request *reqs, int n, const char *what);
/* An MPI call's failure as a cg error (d->broken). */
cg_status cg__dist_mpi_error(cg_dist *d, int rc, const char *what);
/* Fails when d is NULL or broken. */
cg_status cg__dist_usable(const cg_dist *d, const char *fn);
/* Every rank's status; on failure all ranks get an error. name_rank: the
 * others' message says "rank r: <its message>"; else the failing rank's
 * message is taken as it is (it names the ranks itself). */
cg_status cg__dist_agree(cg_dist *d, cg_status local, const char *fn, bool name_rank);

void cg__dist_free_buckets(cg_dist *d);
void cg__dist_free_params(cg_dist *d);

#endif
