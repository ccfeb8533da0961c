/* One training batch's forward, loss and backward, on the calling thread or
 * with the batch's rows split over threads (data parallel). */
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    cg_status st;
    double loss, metric;
    cg_grad_sink *sink;
    cg_rng_fork *fork;
    char err[512];
} shard;

/* Rows [lo, hi) of the batch: forward, loss and the backward of weight *
 * loss, so the shards' gradients add up to the batch's mean loss. */
static cg_status run_shard(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y, int64_t lo,
                           int64_t hi, double weight, shard *r) {
    cg_tensor *xb = cg_slice(x, 0, lo, hi, 1), *yb = cg_slice(y, 0, lo, hi, 1);
    cg_tensor *pred = xb && yb ? cg_module_forward(model, xb) : NULL;
    cg_tensor *l = pred ? cg_loss_apply(loss, pred, yb) : NULL;
    if (!l) return cg_last_status();
    r->loss = cg_item(l);
    if (!isfinite(r->loss)) return cg_set_error(CG_ERR_NUMERIC, "cg_train_batch: the loss became %g", r->loss);
    r->metric = metric == CG_METRIC_NONE ? NAN : cg_metric_apply(metric, loss, pred, yb);
    if (weight == 1.0) return cg_backward(l);
    cg_tensor *w = cg_full(l->dtype, l->shape, l->ndim, weight);
    return w ? cg_backward_with(l, w) : cg_last_status();
}

/* cg_train_batch's work, with the backward of scale * the batch's mean
 * loss, and random draws from streams forked with keys key0 + shard (also
 * for a single shard when fork_alone). */
static cg_status local_batch(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y, int shards,
                             double scale, uint64_t key0, bool fork_alone, double *loss_out, double *metric_out) {
    if (loss_out) *loss_out = NAN;
    if (metric_out) *metric_out = NAN;
    if (!model || !x || !y) return cg_set_error(CG_ERR_NULL, "cg_train_batch: %s is NULL", !model ? "model" : !x ? "x" : "y");
    if (x->ndim < 1 || y->ndim < 1 || x->shape[0] != y->shape[0] || x->shape[0] < 1)
        return cg_set_error(CG_ERR_SHAPE, "cg_train_batch: x %s and y %s need the same number of samples (dim 0), at least 1",
                            cg_shape_str(x), cg_shape_str(y));
    int64_t n = x->shape[0];
    if (shards < -1)
        return cg_set_error(CG_ERR_VALUE, "cg_train_batch: shards = %d; use 0 or 1 (no split), n > 1 (n shards) or -1 (one per thread)",
                            shards);
    int S = shards == -1 ? cg_get_num_threads() : shards < 1 ? 1 : shards;
    if (S > n) S = (int)n;
    if (S > CG_MAX_SHARDS) S = CG_MAX_SHARDS;
    if (omp_in_parallel()) S = 1;
    shard r[CG_MAX_SHARDS];
    memset(r, 0, sizeof(shard) * (size_t)S);
    for (int k = 0; k < S; k++) r[k].loss = r[k].metric = NAN; /* until computed */
    if (S == 1) {
        cg_scope *s = cg_scope_begin();
        cg_rng_fork *f = fork_alone ? cg_rng_fork_begin(key0) : NULL;
        cg_status st = fork_alone && !f ? cg_last_status() : run_shard(model, loss, metric, x, y, 0, n, scale, &r[0]);
        if (fork_alone) cg_rng_fork_end();
        cg_scope_end(s);
        if (loss_out) *loss_out = r[0].loss;
        if (metric_out) *metric_out = r[0].metric;
        return st;
    }
    /* shard k's gradients go to a sink kept in an arena of its own: its
     * buffers are reused by the next step, and only thread k touches it */
    if (!model->shards && !(model->shards = calloc(1, sizeof *model->shards)))
        return cg_set_error(CG_ERR_NOMEM, "cg_train_batch: out of memory");
    cg_module_shards *mp = model->shards;
    for (int k = 0; k < S; k++) {
        if (!mp->arena[k] && !(mp->arena[k] = cg_arena_new())) return cg_last_status();
        if (!mp->sink[k]) {
            cg_scope_enter(mp->arena[k]);
            mp->sink[k] = cg_grad_sink_new();
            cg_scope_leave(mp->arena[k]);
            if (!mp->sink[k]) return cg_last_status();
        }
        r[k].sink = mp->sink[k];
    }
    bool anomaly = cg_anomaly_mode();
    cg_status merged = CG_OK;
    char merge_err[512] = "";
#pragma omp parallel num_threads(S)
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        bool was_anomaly = cg_anomaly_mode(), was_grad = cg_set_grad_enabled(true);
        cg_set_anomaly_mode(anomaly);
        cg_scope *s = cg_scope_begin();
        /* shard k is rows [k n / S, (k+1) n / S), on thread k % nt */
        for (int k = tid; k < S; k += nt) {
            int64_t lo = n * k / S, hi = n * (k + 1) / S;
            r[k].fork = cg_rng_fork_begin(key0 + (uint64_t)k);
            if (!r[k].fork) r[k].st = cg_last_status();
            else {
                cg_grad_sink_set(r[k].sink);
                r[k].st = run_shard(model, loss, metric, x, y, lo, hi, scale * (double)(hi - lo) / (double)n, &r[k]);
                cg_grad_sink_set(NULL);
            }
            cg_rng_fork_end();
            if (r[k].st != CG_OK) snprintf(r[k].err, sizeof r[k].err, "%s", cg_last_error());
        }
#pragma omp barrier
        if (tid == 0) {
            /* every shard's gradients, in shard order (the same sums on
             * every run), and none if any shard failed */
            bool ok = true;
            for (int k = 0; k < S; k++) ok = ok && r[k].st == CG_OK;
            for (int k = 0; k < S; k++) { /* (after a failed merge the rest are emptied) */
                cg_status st = ok && merged == CG_OK ? cg_grad_sink_merge(r[k].sink) : cg_grad_sink_clear(r[k].sink);
                if (st != CG_OK && merged == CG_OK) {
                    merged = st;
                    snprintf(merge_err, sizeof merge_err, "%s", cg_last_error());
                }
            }
            cg_rng_fork *forks[CG_MAX_SHARDS];
            for (int k = 0; k < S; k++) forks[k] = r[k].fork;
            cg_rng_fork_advance(forks, S);
        }
#pragma omp barrier
        cg_scope_end(s);
        /* a helper thread's blocks go where the next batch's helpers (or
         * cg_cleanup) find them, not into a cache only it can reach */
        if (tid != 0) cg_scope_share_cache();
        cg_set_anomaly_mode(was_anomaly);
        cg_set_grad_enabled(was_grad);
    }
    double lv = 0, mv = 0;
    for (int k = 0; k < S; k++) {
        if (r[k].st != CG_OK) {
            if (loss_out && !isfinite(r[k].loss)) *loss_out = r[k].loss;
            return cg_set_error(r[k].st, "%s (rows %lld..%lld of the batch)", r[k].err, (long long)(n * k / S),
                                (long long)(n * (k + 1) / S));
        }
        double w = (double)(n * (k + 1) / S - n * k / S) / (double)n;
        lv += r[k].loss * w;
        mv += r[k].metric * w;
    }
    if (merged != CG_OK) return cg_set_error(merged, "%s", merge_err);
    if (loss_out) *loss_out = lv;
    if (metric_out) *metric_out = mv;
    return CG_OK;
}

cg_status cg_train_batch(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y, int shards,
                         double *loss_out, double *metric_out) {
    return local_batch(model, loss, metric, x, y, shards, 1.0, 0, false, loss_out, metric_out);
}

cg_status cg__train_batch_scaled(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                                 int shards, double scale, double *loss_out, double *metric_out) {
    return local_batch(model, loss, metric, x, y, shards, scale, 0, false, loss_out, metric_out);
}

/* With a dist: the local part is the backward of the sum of the samples'
 * losses (scale n), so the ranks' gradients add up to the whole batch's
 * sum, which the averaging divides by the number of samples. */
cg_status cg_train_batch_ex(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                            const cg_batch_opts *o, double *loss_out, double *metric_out) {
    cg_batch_opts opts = o ? *o : (cg_batch_opts){0};
    if (!opts.dist) return local_batch(model, loss, metric, x, y, opts.shards, 1.0, 0, false, loss_out, metric_out);
    if (loss_out) *loss_out = NAN;
    if (metric_out) *metric_out = NAN;
    cg_dist *d = opts.dist;
    cg_status st = CG_OK;
    int64_t n = 0;
    if (!model) st = cg_set_error(CG_ERR_NULL, "cg_train_batch: model is NULL");
    else if (x || y) {
        if (!x || !y || x->ndim < 1 || y->ndim < 1 || x->shape[0] != y->shape[0])
            st = cg_set_error(CG_ERR_SHAPE, "cg_train_batch: x %s and y %s need the same number of samples (dim 0)",
                              cg_shape_str(x), cg_shape_str(y));
        else n = x->shape[0];
    }
    if (st == CG_OK && cg__dist_n_params(d) == 0)
        st = cg_set_error(CG_ERR_STATE,
                          "cg_train_batch: the dist has no parameters: call cg_dist_broadcast(dist, opt) first");
    /* every rank moves the default generator by one block per call */
    uint64_t c0 = cg_default_rng()->counter;
    double lv = NAN, mv = NAN;
    if (st == CG_OK && n > 0) {
        cg__dist_set_no_sync(d, true);
        st = local_batch(model, loss, metric, x, y, opts.shards, (double)n,
                         (uint64_t)cg_dist_rank(d) * CG_MAX_SHARDS, true, &lv, &mv);
        cg__dist_set_no_sync(d, false);
    }
    cg_default_rng()->counter = c0 + 1;
    double ls = n > 0 ? lv * (double)n : 0, ms = n > 0 ? mv * (double)n : 0;
    if (opts.no_sync) {
        cg__dist_defer(d, st, n, ls, ms);
        if (loss_out) *loss_out = lv;
        if (metric_out) *metric_out = mv;
        return st;
    }
    return cg__dist_step_finish(d, st, n, ls, ms, true, loss_out, metric_out);
}
