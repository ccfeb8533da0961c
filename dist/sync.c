/* cg_dist_broadcast: every rank checks it holds the same model and
 * optimizer as rank 0, then takes rank 0's values. */
#include "dist_mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* One line per parameter and optimizer state tensor, "parameter 2
 * 'lstm.kernel' float32 [8,24]", '\n'-separated, in a malloc'ed string. */
static char *describe(cg_optim *opt, cg_tensor *const *ps, int np, const cg_named_tensor *st, int ns, size_t *len) {
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    for (int i = 0; s && i < np + ns + 1; i++) {
        char line[512];
        if (i < np) {
            const char *nm = cg_name(ps[i]);
            snprintf(line, sizeof line, "parameter %d '%s' %s %s\n", i, nm ? nm : "(unnamed)", cg_dtype_name(ps[i]->dtype),
                     cg_shape_str(ps[i]));
        } else if (i == np) {
            snprintf(line, sizeof line, "optimizer %s\n", cg_optim_name(opt));
        } else {
            const cg_tensor *t = st[i - np - 1].tensor;
            snprintf(line, sizeof line, "optimizer state '%s' %s %s\n", st[i - np - 1].name, cg_dtype_name(t->dtype),
                     cg_shape_str(t));
        }
        size_t l = strlen(line);
        if (n + l + 1 > cap) {
            char *g = realloc(s, cap = 2 * (n + l + 1));
            if (!g) free(s);
            s = g;
        }
        if (s) memcpy(s + n, line, l + 1), n += l;
    }
    *len = n;
    return s;
}

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* Line k of s (without its '\n') into out; false past the end. */
static bool line_at(const char *s, int k, char *out, size_t size) {
    for (; k > 0 && s && *s; k--) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    if (!s || !*s) return false;
    const char *e = strchr(s, '\n');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l >= size) l = size - 1;
    memcpy(out, s, l);
    out[l] = 0;
    return true;
}

/* Where this rank's description differs from rank 0's: an error naming the
 * first line that differs, with both ranks. */
static cg_status compare(const cg_dist *d, const char *fn, const char *mine, const char *root) {
    char a[512], b[512];
    for (int k = 0;; k++) {
        bool ha = line_at(root, k, a, sizeof a), hb = line_at(mine, k, b, sizeof b);
        if (!ha && !hb) return CG_OK;
        if (ha && hb && strcmp(a, b) == 0) continue;
        if (!hb)
            return cg_set_error(CG_ERR_SHAPE,
                                "%s: the ranks hold different models: rank 0 has %s, rank %d has nothing there", fn, a,
                                d->rank);
        if (!ha)
            return cg_set_error(CG_ERR_SHAPE,
                                "%s: the ranks hold different models: rank %d has %s, rank 0 has nothing there", fn,
                                d->rank, b);
        return cg_set_error(CG_ERR_SHAPE, "%s: the ranks hold different models: rank 0 has %s, rank %d has %s", fn, a,
                            d->rank, b);
    }
}

/* Broadcast n bytes from rank 0 in pieces MPI's int counts can hold. */
static int ibcast_bytes(cg_dist *d, void *p, size_t n, MPI_Request *reqs, int *k) {
    const size_t piece = (size_t)1 << 30;
    for (size_t at = 0; at < n || (n == 0 && at == 0); at += piece) {
        size_t len = n - at < piece ? n - at : piece;
        int rc = MPI_Ibcast((char *)p + at, (int)len, MPI_BYTE, 0, d->comm, &reqs[(*k)++]);
        if (rc != MPI_SUCCESS) return rc;
        if (n == 0) break;
    }
    return MPI_SUCCESS;
}

static int pieces(size_t n) { return n == 0 ? 1 : (int)((n + ((size_t)1 << 30) - 1) >> 30); }

/* Attach the parameter list: buckets are built at the first step. */
static cg_status attach(cg_dist *d, cg_tensor *const *ps, int np) {
    cg__dist_free_buckets(d);
    cg__dist_free_params(d);
    d->pi = calloc((size_t)np, sizeof *d->pi);
    d->hdr_len = 4 + np;
    free(d->hdr);
    free(d->sparse_class);
    free(d->w);
    free(d->rows);
    d->hdr = malloc(sizeof(int64_t) * (size_t)d->hdr_len * (size_t)(d->size + 1));
    d->sparse_class = malloc((size_t)np + 1);
    d->w = malloc(sizeof(double) * (size_t)d->size);
    d->rows = malloc(sizeof(int64_t) * (size_t)d->size);
    if (!d->pi || !d->hdr || !d->sparse_class || !d->w || !d->rows) {
        free(d->pi);
        d->pi = NULL;
        return cg_set_error(CG_ERR_NOMEM, "cg_dist_broadcast: out of memory");
    }
    for (int i = 0; i < np; i++) {
        dist_param *q = &d->pi[i];
        q->p = ps[i];
        q->rows = ps[i]->ndim ? ps[i]->shape[0] : 1;
        q->row_numel = q->rows ? cg_numel(ps[i]) / q->rows : 0;
        q->bucket = -1;
        q->rs = MPI_REQUEST_NULL;
    }
    d->np = np;
    d->classified = false;
    d->no_sync = false;
    return CG_OK;
}

cg_status cg_dist_broadcast(cg_dist *d, cg_optim *opt) {
    const char *fn = "cg_dist_broadcast";
    cg_status st = cg__dist_usable(d, fn);
    if (st != CG_OK) return st;
    int np = 0, ns = 0;
    cg_tensor *const *ps = opt ? cg_optim_params(opt, &np) : NULL;
    cg_named_tensor *sts = NULL;
    char *desc = NULL;
    size_t len = 0;
    if (!opt) st = cg_set_error(CG_ERR_NULL, "%s: optimizer is NULL", fn);
    if (st == CG_OK && (ns = cg_optim_state_tensors(opt, NULL, 0)) < 0) st = cg_last_status();
    if (st == CG_OK && !(sts = malloc(sizeof *sts * (size_t)(ns + 1))))
        st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    if (st == CG_OK && cg_optim_state_tensors(opt, sts, ns) != ns) st = cg_last_status();
    if (st == CG_OK && !(desc = describe(opt, ps, np, sts, ns, &len)))
        st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    /* a rank that cannot even describe its model stops everyone */
    st = cg__dist_agree(d, st, fn, true);
    /* the same description everywhere? (its hash and length first) */
    int64_t mine[2] = {(int64_t)fnv(desc, len), (int64_t)len}, *all = NULL;
    if (st == CG_OK) {
        if (!(all = malloc(sizeof(int64_t) * 2 * (size_t)d->size)))
            st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
        st = cg__dist_agree(d, st, fn, true);
    }
    if (st == CG_OK) {
        MPI_Request r;
        int rc = MPI_Iallgather(mine, 2, MPI_INT64_T, all, 2, MPI_INT64_T, d->comm, &r);
        st = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn) : cg__dist_wait(d, &r, 1, fn);
    }
    bool same = true;
    for (int i = 1; st == CG_OK && i < d->size; i++) same &= all[2 * i] == all[0] && all[2 * i + 1] == all[1];
    if (st == CG_OK && !same) {
        /* find the first difference against rank 0's text, on every rank */
        size_t rlen = (size_t)all[1];
        char *root = malloc(rlen + 1);
        cg_status lst = root ? CG_OK : cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
        if (root && d->rank == 0) memcpy(root, desc, rlen);
        MPI_Request r[64];
        int k = 0;
        if (rlen > ((size_t)64 << 30)) lst = cg_set_error(CG_ERR_VALUE, "%s: model description too long", fn);
        if (lst == CG_OK) {
            int rc = ibcast_bytes(d, root, rlen, r, &k);
            lst = rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn) : cg__dist_wait(d, r, k, fn);
        }
        if (lst == CG_OK) {
            root[rlen] = 0;
            lst = compare(d, fn, desc, root);
        }
        free(root);
        st = cg__dist_agree(d, lst, fn, false);
        if (st == CG_OK) st = cg_set_error(CG_ERR_STATE, "%s: the ranks' models hash differently but compare equal", fn);
    }
    /* rank 0's values: parameters, optimizer state, the default generator */
    if (st == CG_OK) {
        int nreq = 1;
        for (int i = 0; i < np; i++) nreq += pieces((size_t)cg_numel(ps[i]) * cg_dtype_size(ps[i]->dtype));
        for (int i = 0; i < ns; i++) nreq += pieces((size_t)cg_numel(sts[i].tensor) * cg_dtype_size(sts[i].tensor->dtype));
        MPI_Request *r = malloc(sizeof *r * (size_t)nreq);
        uint64_t rng[2] = {cg_default_rng()->seed, cg_default_rng()->counter};
        int k = 0, rc = r ? MPI_SUCCESS : MPI_ERR_NO_MEM;
        for (int i = 0; i < np + ns && rc == MPI_SUCCESS; i++) {
            const cg_tensor *t = i < np ? ps[i] : sts[i - np].tensor;
            rc = ibcast_bytes(d, cg_data(t), (size_t)cg_numel(t) * cg_dtype_size(t->dtype), r, &k);
        }
        if (rc == MPI_SUCCESS) rc = MPI_Ibcast(rng, 2, MPI_UINT64_T, 0, d->comm, &r[k++]);
        st = !r ? cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn)
             : rc != MPI_SUCCESS ? cg__dist_mpi_error(d, rc, fn)
                                 : cg__dist_wait(d, r, k, fn);
        free(r);
        if (st == CG_OK) {
            cg_default_rng()->seed = rng[0];
            cg_default_rng()->counter = rng[1];
            for (int i = 0; i < np + ns; i++) {
                const cg_tensor *t = i < np ? ps[i] : sts[i - np].tensor;
                t->storage->version++; /* written in place */
            }
            d->stats.control_bytes += d->rank == 0 ? (int64_t)len : 0;
            st = attach(d, ps, np);
        }
    }
    free(all);
    free(desc);
    free(sts);
    return st;
}
