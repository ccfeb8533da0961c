/* Gradient averaging: dense gradients in buckets (reduce-scatter to the
 * owner of each slice, sum in rank order, allgather), row-sparse gradients
 * as row ids + rows, and the per-step header (status, sample count, loss,
 * gradient kinds) that keeps every rank's choices the same. */
#include "dist_mpi.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FN "cg_dist_allreduce_grads"
#define BLK 512 /* elements summed at a time (a double accumulator on the stack) */

/* ------------------------------------------------------------- buckets */

static void bucket_free(dist_bucket *b) {
    if (!b) return;
    free(b->members);
    free(b->offs);
    free(b->buf);
    free(b->recv);
    free(b->scount);
    memset(b, 0, sizeof *b);
}

void cg__dist_free_buckets(cg_dist *d) {
    for (int k = 0; k < d->nb; k++) bucket_free(&d->b[k]);
    free(d->b);
    d->b = NULL;
    d->nb = 0;
    d->next_start = 0;
    for (int i = 0; i < d->np; i++)
        if (d->pi[i].bucket >= 0) d->pi[i].bucket = -1;
}

void cg__dist_free_params(cg_dist *d) {
    for (int i = 0; i < d->np; i++) {
        dist_param *q = &d->pi[i];
        free(q->map);
        bucket_free(q->single);
        free(q->single);
        free(q->block);
        free(q->send);
        free(q->bcount);
    }
    free(d->pi);
    d->pi = NULL;
    d->np = 0;
}

/* A bucket over parameters members[0 .. n-1] (one dtype). */
static cg_status bucket_init(cg_dist *d, dist_bucket *b, const int *members, int n) {
    memset(b, 0, sizeof *b);
    b->dt = d->pi[members[0]].p->dtype;
    b->mt = b->dt == CG_FLOAT64 ? MPI_DOUBLE : MPI_FLOAT;
    b->es = cg_dtype_size(b->dt);
    b->n = n;
    b->ra = b->rb = MPI_REQUEST_NULL;
    b->members = malloc(sizeof(int) * (size_t)n);
    b->offs = malloc(sizeof(int64_t) * (size_t)n);
    if (!b->members || !b->offs) return cg_set_error(CG_ERR_NOMEM, FN ": out of memory for a bucket");
    for (int j = 0; j < n; j++) {
        b->members[j] = members[j];
        b->offs[j] = b->numel;
        b->numel += cg_numel(d->pi[members[j]].p);
    }
    if (b->numel > INT_MAX)
        return cg_set_error(CG_ERR_VALUE, FN ": parameter %d has %lld elements; MPI counts stop at %d", members[0],
                            (long long)b->numel, INT_MAX);
    int W = d->size;
    int64_t lo = b->numel * d->rank / W, m = b->numel * (d->rank + 1) / W - lo;
    b->buf = malloc((size_t)b->numel * b->es + 1);
    b->recv = malloc((size_t)m * (size_t)W * b->es + 1);
    b->scount = malloc(sizeof(int) * 6 * (size_t)W);
    if (!b->buf || !b->recv || !b->scount) return cg_set_error(CG_ERR_NOMEM, FN ": out of memory for a bucket");
    b->sdispl = b->scount + W, b->rcount = b->scount + 2 * W, b->rdispl = b->scount + 3 * W;
    b->gcount = b->scount + 4 * W, b->gdispl = b->scount + 5 * W;
    for (int c = 0; c < W; c++) {
        int64_t clo = b->numel * c / W, chi = b->numel * (c + 1) / W;
        b->scount[c] = b->gcount[c] = (int)(chi - clo);
        b->sdispl[c] = b->gdispl[c] = (int)clo;
        b->rcount[c] = (int)m;
        b->rdispl[c] = (int)(m * c);
    }
    return CG_OK;
}

/* Dense-class parameters in reverse order (the order a backward finishes
 * them), one dtype per bucket, up to bucket_bytes each. */
static cg_status build_buckets(cg_dist *d, const bool *sparse_class) {
    cg__dist_free_buckets(d);
    d->b = calloc((size_t)(d->np ? d->np : 1), sizeof *d->b);
    int *cur = malloc(sizeof(int) * (size_t)(d->np ? d->np : 1));
    cg_status st = d->b && cur ? CG_OK : cg_set_error(CG_ERR_NOMEM, FN ": out of memory");
    int n = 0;
    size_t bytes = 0;
    for (int i = d->np - 1; st == CG_OK && i >= -1; i--) {
        const cg_tensor *p = i >= 0 ? d->pi[i].p : NULL;
        if (p && sparse_class[i]) continue;
        size_t sz = p ? (size_t)cg_numel(p) * cg_dtype_size(p->dtype) : 0;
        if (n > 0 && (!p || p->dtype != d->pi[cur[0]].p->dtype || bytes + sz > d->o.bucket_bytes)) {
            dist_bucket *b = &d->b[d->nb];
            st = bucket_init(d, b, cur, n);
            for (int j = 0; j < n; j++) d->pi[cur[j]].bucket = d->nb;
            d->nb++;
            n = 0, bytes = 0;
        }
        if (p) cur[n++] = i, bytes += sz;
    }
    free(cur);
    if (st != CG_OK) cg__dist_free_buckets(d);
    return st;
}

/* Copy p's gradient (zeros when it has none) to dst. */
static void pack(void *dst, const cg_tensor *p) {
    size_t size = (size_t)cg_numel(p) * cg_dtype_size(p->dtype);
    const cg_tensor *g = cg_grad(p);
    if (!g) memset(dst, 0, size);
    else if (cg_is_contiguous(g)) memcpy(dst, cg_data(g), size);
    else cg_copy_out(g, dst, size);
}

static cg_status start_a(cg_dist *d, dist_bucket *b) {
    int rc = MPI_Ialltoallv(b->buf, b->scount, b->sdispl, b->mt, b->recv, b->rcount, b->rdispl, b->mt, d->comm_a, &b->ra);
    if (rc != MPI_SUCCESS) return cg__dist_mpi_error(d, rc, FN);
    b->started_a = true;
    d->stats.dense_bytes += (b->numel - b->scount[d->rank]) * (int64_t)b->es;
    return CG_OK;
}

/* Start phase A of every bucket that is packed and whose predecessors have
 * started: the same order on every rank, whatever order they were packed in. */
static cg_status start_ready(cg_dist *d) {
    while (d->next_start < d->nb && d->b[d->next_start].ready == d->b[d->next_start].n) {
        cg_status st = start_a(d, &d->b[d->next_start]);
        if (st != CG_OK) return st;
        d->next_start++;
    }
    /* MPI moves nonblocking collectives on only inside MPI calls: give the
     * started ones a turn (a request that completes becomes MPI_REQUEST_NULL) */
    for (int k = 0; k < d->next_start; k++) {
        int done = 0, rc = MPI_Test(&d->b[k].ra, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return cg__dist_mpi_error(d, rc, FN);
    }
    return CG_OK;
}

cg_status cg__dist_grad_ready(cg_dist *d, int i) {
    if (!d || d->broken || d->no_sync || !d->classified) return CG_OK;
    if (i < 0 || i >= d->np) return cg_set_error(CG_ERR_INDEX, FN ": parameter %d of %d", i, d->np);
    dist_param *q = &d->pi[i];
    if (q->ready || q->bucket < 0) return CG_OK; /* row-sparse ones travel at the end */
    q->ready = true;
    dist_bucket *b = &d->b[q->bucket];
    int j = 0;
    while (b->members[j] != i) j++;
    pack(b->buf + (size_t)b->offs[j] * b->es, q->p);
    b->ready++;
    return start_ready(d);
}

cg_status cg__dist_leaf_ready(cg_dist *d, const cg_tensor *leaf) {
    for (int i = 0; d && i < d->np; i++)
        if (d->pi[i].p == leaf) return cg__dist_grad_ready(d, i);
    return CG_OK;
}

void cg__dist_defer(cg_dist *d, cg_status st, int64_t n, double loss_sum, double metric_sum) {
    if (!d) return;
    d->pend_n += n;
    d->pend_loss += loss_sum;
    d->pend_metric += metric_sum;
    if (st != CG_OK && d->pend_st == CG_OK) {
        d->pend_st = st;
        snprintf(d->pend_msg, sizeof d->pend_msg, "%s", cg_last_error());
    }
}

void cg__dist_set_no_sync(cg_dist *d, bool on) {
    if (d) d->no_sync = on;
}

int cg__dist_n_params(const cg_dist *d) { return d ? d->np : 0; }

/* The owner's slice: sum over ranks r with w[r] != 0 of w[r] * piece_r, in
 * rank order, in double; rounded once into buf. */
#define DEFINE_SUM(T, NAME)                                                                        \
    static void NAME(const T *in, T *out, int64_t m, const double *w, int W) {                     \
        for (int64_t j0 = 0; j0 < m; j0 += BLK) {                                                  \
            int64_t len = m - j0 < BLK ? m - j0 : BLK;                                             \
            double acc[BLK];                                                                       \
            for (int64_t j = 0; j < len; j++) acc[j] = 0;                                          \
            for (int r = 0; r < W; r++) {                                                          \
                if (w[r] == 0) continue;                                                           \
                const T *src = in + (size_t)r * (size_t)m + j0;                                    \
                double wr = w[r];                                                                  \
                for (int64_t j = 0; j < len; j++) acc[j] += wr * (double)src[j];                   \
            }                                                                                      \
            for (int64_t j = 0; j < len; j++) out[j0 + j] = (T)acc[j];                             \
        }                                                                                          \
    }
DEFINE_SUM(float, sum_f32)
DEFINE_SUM(double, sum_f64)

static cg_status finish_a_start_b(cg_dist *d, dist_bucket *b, const double *w) {
    cg_status st = cg__dist_wait(d, &b->ra, 1, FN);
    if (st != CG_OK) return st;
    int64_t m = b->gcount[d->rank];
    char *out = b->buf + (size_t)b->gdispl[d->rank] * b->es;
    if (b->dt == CG_FLOAT64) sum_f64((const double *)b->recv, (double *)out, m, w, d->size);
    else sum_f32((const float *)b->recv, (float *)out, m, w, d->size);
    int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b->buf, b->gcount, b->gdispl, b->mt, d->comm_b, &b->rb);
    if (rc != MPI_SUCCESS) return cg__dist_mpi_error(d, rc, FN);
    b->started_b = true;
    d->stats.dense_bytes += m * (int64_t)b->es * (d->size - 1);
    return CG_OK;
}

/* --------------------------------------------------------- writing .grad */

/* p's .grad becomes the dense values at src (p's dtype and shape), marked
 * dense. A gradient that is dense already is overwritten in place; else
 * (none yet, or row-sparse) it is emptied and the values are added by a
 * backward into p, which makes the engine mark it dense. */
static cg_status write_dense(cg_tensor *p, const void *src) {
    cg_tensor *g = cg_grad(p);
    int64_t nrows;
    size_t bytes = (size_t)cg_numel(p) * cg_dtype_size(p->dtype);
    if (g && !cg_grad_rows(p, &nrows) && cg_is_contiguous(g)) {
        memcpy(cg_data(g), src, bytes);
        g->storage->version++;
        return CG_OK;
    }
    cg_scope *s = cg_scope_begin();
    if (g) cg_zero_grad(p);
    cg_tensor *v = cg_from_data(p->dtype, p->shape, p->ndim, src);
    cg_status st = v ? cg_backward_with(p, v) : cg_last_status();
    cg_scope_end(s);
    return st;
}

/* p's .grad becomes row-sparse: rows ids[0 .. U-1] hold vals ([U, ...] in
 * p's dtype), every other row zero. Written by the backward of an
 * index_select of those rows, the path an embedding's gradient takes, so
 * the engine lists exactly these rows. */
static cg_status write_rows(cg_tensor *p, const int64_t *ids, int64_t U, const void *vals) {
    cg_scope *s = cg_scope_begin();
    if (cg_grad(p)) cg_zero_grad(p);
    cg_status st = CG_OK;
    if (U > 0 || !cg_grad(p)) {
        int64_t shape[CG_MAX_DIMS];
        memcpy(shape, p->shape, sizeof shape);
        shape[0] = U;
        cg_tensor *idx = cg_from_data(CG_INT64, &U, 1, ids);
        cg_tensor *v = idx ? cg_from_data(p->dtype, shape, p->ndim, vals) : NULL;
        cg_tensor *out = v ? cg_index_select(p, 0, idx) : NULL;
        st = out ? cg_backward_with(out, v) : cg_last_status();
    }
    cg_scope_end(s);
    return st;
}

/* --------------------------------------------------- row-sparse gradients */

static bool grow(void **buf, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = need > 2 * *cap ? need : 2 * *cap;
    void *n = realloc(*buf, c);
    if (!n) return false;
    *buf = n;
    *cap = c;
    return true;
}

/* Start the exchange of q's row ids (and rows, when with_rows) with every
 * rank. rows[r]: each rank's row count, from the header. */
/* A rank's block of n rows: the ids, then the rows (when with_rows), padded
 * to 8 bytes so the next rank's ids stay aligned. */
static size_t block_bytes(int64_t n, size_t row_bytes, bool with_rows) {
    return (size_t)n * 8 + (with_rows ? ((size_t)n * row_bytes + 7) / 8 * 8 : 0);
}

static cg_status start_rows(cg_dist *d, dist_param *q, const int64_t *rows, bool with_rows) {
    int W = d->size;
    size_t row_bytes = (size_t)q->row_numel * cg_dtype_size(q->p->dtype);
    if (!q->bcount && !(q->bcount = malloc(sizeof(int) * 2 * (size_t)W)))
        return cg_set_error(CG_ERR_NOMEM, FN ": out of memory");
    q->bdispl = q->bcount + W;
    size_t total = 0;
    for (int r = 0; r < W; r++) {
        q->bcount[r] = (int)block_bytes(rows[r], row_bytes, with_rows);
        q->bdispl[r] = (int)total;
        total += block_bytes(rows[r], row_bytes, with_rows);
    }
    size_t mine = block_bytes(rows[d->rank], row_bytes, with_rows);
    if (!grow((void **)&q->block, &q->block_cap, total + 1) || !grow((void **)&q->send, &q->send_cap, mine + 1))
        return cg_set_error(CG_ERR_NOMEM, FN ": out of memory for the rows of parameter %d", (int)(q - d->pi));
    int64_t n = 0;
    const int64_t *ids = cg_grad_rows(q->p, &n);
    if (n != rows[d->rank]) n = 0; /* (the header said so: it had none) */
    if (n) memcpy(q->send, ids, (size_t)n * 8);
    if (n && with_rows) {
        const char *g = cg_data(cg_grad(q->p));
        char *dst = q->send + (size_t)n * 8;
        for (int64_t k = 0; k < n; k++) memcpy(dst + (size_t)k * row_bytes, g + (size_t)ids[k] * row_bytes, row_bytes);
        size_t used = (size_t)n * (8 + row_bytes);
        memset(q->send + used, 0, mine - used); /* the padding */
    }
    int rc = MPI_Iallgatherv(q->send, (int)mine, MPI_BYTE, q->block, q->bcount, q->bdispl, MPI_BYTE, d->comm, &q->rs);
    if (rc != MPI_SUCCESS) return cg__dist_mpi_error(d, rc, FN);
    d->stats.sparse_bytes += (int64_t)mine * (W - 1);
    return CG_OK;
}

static void clear_map(dist_param *q, const int64_t *uids, int64_t U) {
    for (int64_t u = 0; u < U; u++) q->map[uids[u]] = -1;
}

/* The union of every rank's row ids, in rank order then first appearance,
 * into d's scratch; returns U, or -1 for an id out of range. */
static int64_t union_rows(cg_dist *d, dist_param *q, const int64_t *rows, bool with_rows, int64_t **uids) {
    (void)with_rows; /* (the ids lead each rank's block either way) */
    int64_t total = 0;
    for (int r = 0; r < d->size; r++) total += rows[r];
    if (!grow((void **)&d->uids, &d->uids_cap, sizeof(int64_t) * (size_t)(total + 1))) return -2;
    if (!q->map) {
        if (!(q->map = malloc(sizeof(int32_t) * (size_t)(q->rows ? q->rows : 1)))) return -2;
        for (int64_t i = 0; i < q->rows; i++) q->map[i] = -1;
    }
    int64_t U = 0;
    for (int r = 0; r < d->size; r++) {
        const int64_t *ids = (const int64_t *)(q->block + q->bdispl[r]);
        for (int64_t k = 0; k < rows[r]; k++) {
            int64_t id = ids[k];
            if (id < 0 || id >= q->rows) {
                clear_map(q, d->uids, U);
                return -1;
            }
            if (q->map[id] < 0) {
                q->map[id] = (int32_t)U;
                d->uids[U++] = id;
            }
        }
    }
    *uids = d->uids;
    return U;
}

#define DEFINE_ROWS_SUM(T, NAME)                                                                   \
    static void NAME(const dist_param *q, const char *block, const int *displ, const int64_t *rows, \
                     const double *w, int W, int64_t E, double *acc, int64_t U, T *out) {          \
        memset(acc, 0, sizeof(double) * (size_t)(U * E));                                         \
        for (int r = 0; r < W; r++) {                                                              \
            if (w[r] == 0) continue;                                                               \
            const int64_t *ids = (const int64_t *)(block + displ[r]);                              \
            const T *v = (const T *)(block + displ[r] + (size_t)rows[r] * 8);                      \
            for (int64_t k = 0; k < rows[r]; k++) {                                                \
                double *a = acc + (size_t)q->map[ids[k]] * (size_t)E;                              \
                const T *src = v + (size_t)k * (size_t)E;                                          \
                for (int64_t e = 0; e < E; e++) a[e] += w[r] * (double)src[e];                     \
            }                                                                                      \
        }                                                                                          \
        for (int64_t i = 0; i < U * E; i++) out[i] = (T)acc[i];                                    \
    }
DEFINE_ROWS_SUM(float, rows_sum_f32)
DEFINE_ROWS_SUM(double, rows_sum_f64)

/* ---------------------------------------------------------------- a step */

static void reset_step(cg_dist *d) {
    for (int i = 0; i < d->np; i++) d->pi[i].ready = false, d->pi[i].transport = 0;
    for (int k = 0; k < d->nb; k++) d->b[k].ready = 0, d->b[k].started_a = d->b[k].started_b = false;
    d->next_start = 0;
    d->no_sync = false;
}

/* Wait for whatever this step started, so the next one starts clean. */
static void drain(cg_dist *d) {
    for (int k = 0; k < d->nb && !d->broken; k++) {
        if (d->b[k].started_a) cg__dist_wait(d, &d->b[k].ra, 1, FN);
        if (d->b[k].started_b) cg__dist_wait(d, &d->b[k].rb, 1, FN);
    }
    for (int i = 0; i < d->np && !d->broken; i++) {
        dist_param *q = &d->pi[i];
        if (q->single && q->single->started_a) cg__dist_wait(d, &q->single->ra, 1, FN);
        if (q->single && q->single->started_b) cg__dist_wait(d, &q->single->rb, 1, FN);
        if (q->rs != MPI_REQUEST_NULL) cg__dist_wait(d, &q->rs, 1, FN);
        if (q->single) q->single->started_a = q->single->started_b = false;
    }
}

static int64_t local_kind(const cg_tensor *p) {
    if (!cg_grad(p)) return KIND_NONE;
    int64_t n = 0;
    return cg_grad_rows(p, &n) ? n : KIND_DENSE;
}

static double f64_of(int64_t bits) {
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

cg_status cg__dist_step_finish(cg_dist *d, cg_status local, int64_t n, double loss_sum, double metric_sum,
                               bool grads_are_sums, double *loss, double *metric) {
    if (loss) *loss = NAN;
    if (metric) *metric = NAN;
    if (local == CG_OK && n < 0) local = cg_set_error(CG_ERR_VALUE, FN ": n_samples = %lld", (long long)n);
    if (d && (d->pend_n || d->pend_st != CG_OK)) { /* the no_sync micro-batches before this one */
        n += d->pend_n;
        loss_sum += d->pend_loss;
        metric_sum += d->pend_metric;
        if (local == CG_OK && d->pend_st != CG_OK) local = cg_set_error(d->pend_st, "%s", d->pend_msg);
        d->pend_n = 0, d->pend_loss = d->pend_metric = 0, d->pend_st = CG_OK;
    }
    char mine[512] = "";
    if (local != CG_OK) snprintf(mine, sizeof mine, "%s", cg_last_error());
    cg_status st = cg__dist_usable(d, FN);
    if (st != CG_OK) return st;
    if (!d->np) return cg_set_error(CG_ERR_STATE, FN ": no parameters: call cg_dist_broadcast(d, opt) first");
    double t0 = cg__dist_now();
    int W = d->size, H = d->hdr_len;
    cg_grad_sink *sink = cg_grad_sink_set(NULL);
    bool was_grad = cg_set_grad_enabled(true);
    d->no_sync = false;

    /* dense buckets: whatever the backward did not announce, in bucket order */
    for (int k = 0; k < d->nb && st == CG_OK && d->classified; k++)
        for (int j = 0; j < d->b[k].n && st == CG_OK; j++) st = cg__dist_grad_ready(d, d->b[k].members[j]);

    /* the header: status, samples, loss and metric sums, gradient kinds */
    int64_t *me = d->hdr + (size_t)W * H;
    me[0] = local;
    me[1] = local == CG_OK ? n : 0;
    memcpy(&me[2], &loss_sum, 8);
    memcpy(&me[3], &metric_sum, 8);
    for (int i = 0; i < d->np; i++) me[4 + i] = local_kind(d->pi[i].p);
    if (st == CG_OK) {
        MPI_Request r;
        int rc = MPI_Iallgather(me, H, MPI_INT64_T, d->hdr, H, MPI_INT64_T, d->comm, &r);
        st = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, FN) : cg__dist_wait(d, &r, 1, FN);
        d->stats.control_bytes += (int64_t)H * 8 * (W - 1);
    }
    int failed = -1;
    int64_t N = 0;
    for (int r = 0; st == CG_OK && r < W; r++) {
        if (d->hdr[(size_t)r * H] != CG_OK && failed < 0) failed = r;
        N += d->hdr[(size_t)r * H + 1];
    }
    if (st == CG_OK && (failed >= 0 || N <= 0)) {
        drain(d);
        if (failed >= 0) {
            if (local != CG_OK) cg_set_error(local, "%s", mine);
            st = cg__dist_agree(d, local, FN, true);
            if (st == CG_OK) st = cg_set_error(CG_ERR_STATE, FN ": the ranks disagree about a failure");
        } else {
            st = cg_set_error(CG_ERR_VALUE, FN ": no rank had a sample in this step (every n_samples was 0)");
        }
    }
    bool *sparse_class = d->sparse_class;
    double *w = d->w;
    int64_t *rows = d->rows;
    bool reclassify = false;
    if (st == CG_OK) {
        /* sparse-class: row-sparse on some rank and dense on none */
        for (int i = 0; i < d->np; i++) {
            bool any_rows = false, any_dense = false;
            for (int r = 0; r < W; r++) {
                int64_t k = d->hdr[(size_t)r * H + 4 + i];
                any_rows |= k >= 0;
                any_dense |= k == KIND_DENSE;
            }
            bool now = d->pi[i].bucket < 0 && d->classified;
            sparse_class[i] = any_rows && !any_dense ? true : any_dense && !any_rows ? false : now;
            reclassify |= d->classified && sparse_class[i] != now;
        }
        if (!d->classified) {
            st = build_buckets(d, sparse_class);
            d->classified = st == CG_OK;
            for (int k = 0; k < d->nb && st == CG_OK; k++)
                for (int j = 0; j < d->b[k].n && st == CG_OK; j++) st = cg__dist_grad_ready(d, d->b[k].members[j]);
        }
        for (int r = 0; r < W; r++) {
            int64_t nr = d->hdr[(size_t)r * H + 1];
            w[r] = grads_are_sums ? (nr > 0 ? 1.0 / (double)N : 0.0) : (double)nr / (double)N;
        }
    }
    /* parameters outside the buckets: how each travels this step */
    for (int i = 0; i < d->np && st == CG_OK; i++) {
        dist_param *q = &d->pi[i];
        if (q->bucket >= 0) continue;
        bool any_dense = false, all_none = true;
        size_t es = cg_dtype_size(q->p->dtype), row_bytes = (size_t)q->row_numel * es;
        double rows_bytes = 0, ids_bytes = 0, dense_bytes = 2.0 * (double)cg_numel(q->p) * (double)es;
        for (int r = 0; r < W; r++) {
            int64_t k = d->hdr[(size_t)r * H + 4 + i];
            any_dense |= k == KIND_DENSE;
            all_none &= k == KIND_NONE;
            rows[r] = k >= 0 ? k : 0;
            rows_bytes += (double)block_bytes(rows[r], row_bytes, true);
            ids_bytes += (double)block_bytes(rows[r], row_bytes, false);
        }
        q->transport = all_none                             ? 0
                       : any_dense                            ? 3
                       : d->o.sparse == CG_DIST_SPARSE_ROWS   ? 1
                       : d->o.sparse == CG_DIST_SPARSE_DENSE  ? 2
                       : rows_bytes <= ids_bytes + dense_bytes ? 1
                                                              : 2;
        if (q->transport == 1 && rows_bytes > (double)INT_MAX) q->transport = 2;
        if (q->transport == 2 && ids_bytes > (double)INT_MAX) q->transport = 3;
        if (q->transport == 1 || q->transport == 2) st = start_rows(d, q, rows, q->transport == 1);
        if (st == CG_OK && q->transport >= 2) {
            if (!q->single && !(q->single = calloc(1, sizeof *q->single)))
                st = cg_set_error(CG_ERR_NOMEM, FN ": out of memory");
            if (st == CG_OK && !q->single->buf) st = bucket_init(d, q->single, &i, 1);
            if (st == CG_OK) {
                pack(q->single->buf, q->p);
                st = start_a(d, q->single);
            }
        }
    }
    /* phase B, in the order phase A started */
    for (int k = 0; k < d->nb && st == CG_OK; k++) st = finish_a_start_b(d, &d->b[k], w);
    for (int i = 0; i < d->np && st == CG_OK; i++)
        if (d->pi[i].bucket < 0 && d->pi[i].transport >= 2) st = finish_a_start_b(d, d->pi[i].single, w);
    /* rows sent as rows: every rank sums them the same way */
    cg_status werr = CG_OK; /* a failure to write .grad here: reported after the exchanges end */
    for (int i = 0; i < d->np && st == CG_OK; i++) {
        dist_param *q = &d->pi[i];
        if (q->bucket >= 0 || q->transport != 1) continue;
        st = cg__dist_wait(d, &q->rs, 1, FN);
        if (st != CG_OK) break;
        for (int r = 0; r < W; r++) rows[r] = d->hdr[(size_t)r * H + 4 + i] >= 0 ? d->hdr[(size_t)r * H + 4 + i] : 0;
        int64_t *uids = NULL, U = union_rows(d, q, rows, true, &uids);
        if (U < 0) {
            if (werr == CG_OK)
                werr = cg_set_error(U == -1 ? CG_ERR_INDEX : CG_ERR_NOMEM, FN ": parameter %d: %s", i,
                                    U == -1 ? "a rank sent a row id out of range" : "out of memory");
            continue;
        }
        size_t es = cg_dtype_size(q->p->dtype), E = (size_t)q->row_numel;
        if (!grow((void **)&d->acc, &d->acc_cap, sizeof(double) * (size_t)U * E + 8) ||
            !grow((void **)&d->vals, &d->vals_cap, es * (size_t)U * E + 8)) {
            clear_map(q, uids, U);
            if (werr == CG_OK) werr = cg_set_error(CG_ERR_NOMEM, FN ": out of memory");
            continue;
        }
        if (q->p->dtype == CG_FLOAT64)
            rows_sum_f64(q, q->block, q->bdispl, rows, w, W, (int64_t)E, d->acc, U, (double *)d->vals);
        else rows_sum_f32(q, q->block, q->bdispl, rows, w, W, (int64_t)E, d->acc, U, (float *)d->vals);
        clear_map(q, uids, U);
        cg_status ws = write_rows(q->p, uids, U, d->vals);
        if (werr == CG_OK) werr = ws;
    }
    /* the buckets' averages into .grad */
    for (int k = 0; k < d->nb && st == CG_OK; k++) {
        dist_bucket *b = &d->b[k];
        st = cg__dist_wait(d, &b->rb, 1, FN);
        for (int j = 0; j < b->n && st == CG_OK; j++) {
            int i = b->members[j];
            bool all_none = true;
            for (int r = 0; r < W; r++) all_none &= d->hdr[(size_t)r * H + 4 + i] == KIND_NONE;
            if (all_none) continue; /* no rank had a gradient: it stays absent, as in one process */
            cg_status ws = write_dense(d->pi[i].p, b->buf + (size_t)b->offs[j] * b->es);
            if (werr == CG_OK) werr = ws;
        }
    }
    for (int i = 0; i < d->np && st == CG_OK; i++) {
        dist_param *q = &d->pi[i];
        if (q->bucket >= 0 || q->transport < 2) continue;
        st = cg__dist_wait(d, &q->single->rb, 1, FN);
        if (st != CG_OK) break;
        q->single->started_a = q->single->started_b = false;
        cg_status ws;
        if (q->transport == 3) {
            ws = write_dense(q->p, q->single->buf);
        } else { /* row-sparse, the values sent dense: the rows any rank listed */
            st = cg__dist_wait(d, &q->rs, 1, FN);
            if (st != CG_OK) break;
            for (int r = 0; r < W; r++) rows[r] = d->hdr[(size_t)r * H + 4 + i] >= 0 ? d->hdr[(size_t)r * H + 4 + i] : 0;
            int64_t *uids = NULL, U = union_rows(d, q, rows, false, &uids);
            size_t rb = (size_t)q->row_numel * q->single->es;
            if (U < 0 || !grow((void **)&d->vals, &d->vals_cap, rb * (size_t)(U > 0 ? U : 0) + 8)) {
                ws = cg_set_error(U == -1 ? CG_ERR_INDEX : CG_ERR_NOMEM, FN ": parameter %d: %s", i,
                                  U == -1 ? "a rank sent a row id out of range" : "out of memory");
                if (U > 0) clear_map(q, uids, U);
            } else {
                for (int64_t u = 0; u < U; u++)
                    memcpy(d->vals + (size_t)u * rb, q->single->buf + (size_t)uids[u] * rb, rb);
                clear_map(q, uids, U);
                ws = write_rows(q->p, uids, U, d->vals);
            }
        }
        if (werr == CG_OK) werr = ws;
    }
    if (st == CG_OK) {
        double ls = 0, ms = 0;
        for (int r = 0; r < W; r++) {
            if (d->hdr[(size_t)r * H + 1] <= 0) continue;
            ls += f64_of(d->hdr[(size_t)r * H + 2]);
            ms += f64_of(d->hdr[(size_t)r * H + 3]);
        }
        if (loss) *loss = ls / (double)N;
        if (metric) *metric = ms / (double)N;
        st = werr;
    }
    if (!d->broken) drain(d);
    if (st == CG_OK && reclassify) st = build_buckets(d, sparse_class);
    reset_step(d);
    cg_set_grad_enabled(was_grad);
    cg_grad_sink_set(sink);
    d->stats.steps++;
    d->stats.seconds += cg__dist_now() - t0;
    return st;
}

cg_status cg_dist_allreduce_grads(cg_dist *d, int64_t n_samples) {
    return cg__dist_step_finish(d, CG_OK, n_samples, 0, NAN, false, NULL, NULL);
}
