/* Strided, broadcasting iteration shared by the elementwise kernels, and the
 * thread settings. */
#include "tensor_internal.h"

#include <omp.h>
#include <stdlib.h>

bool cg__iter_init(cg_iter *it, const int64_t *shape, int ndim, const cg_tensor *const *ops, int nops) {
    memset(it, 0, sizeof *it);
    if (nops > CG_ITER_MAX_OPS) return false;
    it->nops = nops;
    it->numel = 1;
    for (int d = 0; d < ndim; d++) it->numel *= shape[d];
    int64_t st[CG_ITER_MAX_OPS][CG_MAX_DIMS];
    for (int k = 0; k < nops; k++) {
        const cg_tensor *t = ops[k];
        if (t->ndim > ndim) return false;
        int lead = ndim - t->ndim;
        for (int d = 0; d < ndim; d++) {
            if (d < lead) {
                st[k][d] = 0;
                continue;
            }
            int64_t sz = t->shape[d - lead];
            if (sz == shape[d]) st[k][d] = sz == 1 ? 0 : t->strides[d - lead];
            else if (sz == 1) st[k][d] = 0;
            else return false;
        }
        it->elsize[k] = cg_dtype_size(t->dtype);
        it->base[k] = (char *)cg_data(t);
    }
    /* drop size-1 dims, then merge neighbours whose strides chain */
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        bool merge = n > 0;
        for (int k = 0; k < nops && merge; k++)
            if (it->strides[k][n - 1] != st[k][d] * shape[d]) merge = false;
        if (merge) {
            it->shape[n - 1] *= shape[d];
            for (int k = 0; k < nops; k++) it->strides[k][n - 1] = st[k][d];
        } else {
            it->shape[n] = shape[d];
            for (int k = 0; k < nops; k++) it->strides[k][n] = st[k][d];
            n++;
        }
    }
    if (n == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) it->strides[k][0] = 0;
        n = 1;
    }
    it->ndim = n;
    return true;
}

void cg__iter_range(const cg_iter *it, int64_t start, int64_t end, cg_row_fn fn, void *ctx) {
    if (start >= end) return;
    int nd = it->ndim, last = nd - 1;
    int64_t idx[CG_MAX_DIMS];
    int64_t rem = start;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
    }
    int64_t inner[CG_ITER_MAX_OPS];
    for (int k = 0; k < it->nops; k++) inner[k] = it->strides[k][last];
    int64_t pos = start;
    while (pos < end) {
        char *p[CG_ITER_MAX_OPS];
        for (int k = 0; k < it->nops; k++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++) off += idx[d] * it->strides[k][d];
            p[k] = it->base[k] + off * (int64_t)it->elsize[k];
        }
        int64_t n = it->shape[last] - idx[last];
        if (n > end - pos) n = end - pos;
        fn(n, p, inner, ctx);
        pos += n;
        idx[last] += n;
        for (int d = last; d > 0 && idx[d] >= it->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void cg__iter_run(const cg_iter *it, cg_row_fn fn, void *ctx) {
    int64_t total = it->numel;
    if (total <= 0) return;
    int64_t nchunks = (total + CG_CHUNK - 1) / CG_CHUNK;
    int nt = cg__threads_for(total);
    if (nt <= 1 || nchunks == 1) {
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t e = (c + 1) * CG_CHUNK;
            cg__iter_range(it, c * CG_CHUNK, e < total ? e : total, fn, ctx);
        }
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t e = (c + 1) * CG_CHUNK;
        cg__iter_range(it, c * CG_CHUNK, e < total ? e : total, fn, ctx);
    }
}

/* ---------------------------------------------------------------- threads */

static int g_threads; /* 0 = not yet decided; BLIS gets its count per call */

static int default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && atoi(e) > 0) return atoi(e);
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}

void cg_set_num_threads(int n) {
    if (n < 1) {
        cg_set_error(CG_ERR_VALUE, "cg_set_num_threads: n = %d must be >= 1", n);
        return;
    }
    g_threads = n;
    omp_set_num_threads(n);
}

int cg_get_num_threads(void) {
    if (!g_threads) g_threads = default_threads();
    return g_threads;
}

int cg__threads_for(int64_t n) {
    if (n < CG_GRAIN || omp_in_parallel()) return 1;
    int t = cg_get_num_threads();
    int64_t most = n / (CG_GRAIN / 2);
    return (int)(most < t ? most : t);
}
