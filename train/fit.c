/* cg_fit: the epoch loop, validation, callbacks. */
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cg_fit_opts cg_fit_defaults(void) {
    return (cg_fit_opts){.epochs = 1, .batch_size = 32, .shuffle = true, .verbose = 1};
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* -------------------------------------------------------------- progress */

typedef struct {
    FILE *f;
    int verbose;
    bool tty;
    int64_t n;
    double t0, last;
} progress;

static void fmt_value(char *out, size_t n, double v) {
    if (fabs(v) > 1e-3 || v == 0 || !isfinite(v)) snprintf(out, n, "%.4f", v);
    else snprintf(out, n, "%.4e", v);
}

/* " - loss: 0.4292 - accuracy: 0.7968" for the keys with finite values. */
static void fmt_logs(char *out, size_t n, const char *const *keys, const double *vals, int k) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < k && used < n; i++) {
        if (isnan(vals[i])) continue;
        char v[32];
        fmt_value(v, sizeof v, vals[i]);
        used += (size_t)snprintf(out + used, n - used, " - %s: %s", keys[i], v);
    }
}

static void fmt_per_step(char *out, size_t n, double sec) {
    if (sec >= 1) snprintf(out, n, "%.0fs/step", sec);
    else if (sec >= 1e-3) snprintf(out, n, "%.0fms/step", sec * 1e3);
    else snprintf(out, n, "%.0fus/step", sec * 1e6);
}

static void progress_bar(char *bar, int64_t done, int64_t n) {
    int w = 30, filled = n > 0 ? (int)(w * done / n) : w;
    for (int i = 0; i < w; i++) bar[i] = i < filled - 1 ? '=' : i == filled - 1 ? (done < n ? '>' : '=') : '.';
    bar[w] = '\0';
}

static void progress_update(progress *p, int64_t done, const char *logs) {
    if (p->verbose != 1 || !p->tty) return;
    double t = now();
    if (done < p->n && t - p->last < 0.05) return;
    p->last = t;
    char bar[32];
    progress_bar(bar, done, p->n);
    double eta = done > 0 ? (t - p->t0) / (double)done * (double)(p->n - done) : 0;
    fprintf(p->f, "\r%lld/%lld [%s] - ETA: %.0fs%s\033[K", (long long)done, (long long)p->n, bar, eta, logs);
    fflush(p->f);
}

static void progress_end(progress *p, const char *logs) {
    double sec = now() - p->t0;
    char ps[32];
    fmt_per_step(ps, sizeof ps, p->n ? sec / (double)p->n : 0);
    if (p->verbose == 1) {
        char bar[32];
        progress_bar(bar, p->n, p->n);
        fprintf(p->f, "%s%lld/%lld [%s] - %.0fs %s%s\n", p->tty ? "\r" : "", (long long)p->n, (long long)p->n, bar, sec,
                ps, logs);
    } else if (p->verbose == 2) {
        fprintf(p->f, "%lld/%lld - %.0fs%s - %.0fs/epoch - %s\n", (long long)p->n, (long long)p->n, sec, logs, sec, ps);
    }
    fflush(p->f);
}

/* Per-callback state kept during fit. */
typedef struct {
    const cg_callback *cb;
    const char *monitor;
    double best;
    int wait;
    cg_scope *arena;     /* best weights (early stopping) */
    cg_tensor **best_w;
} cb_state;

static bool improved(const cb_state *c, double v) {
    if (isnan(v)) return false;
    if (isnan(c->best)) return true;
    double d = c->cb->min_delta;
    return c->cb->mode_max ? v > c->best + d : v < c->best - d;
}

static cg_status snapshot(cb_state *c, cg_module *model, bool restore) {
    int n = cg_module_parameters(model, NULL, 0);
    cg_tensor **ps = malloc(sizeof(cg_tensor *) * (size_t)(n ? n : 1));
    if (!ps) return cg_set_error(CG_ERR_NOMEM, "cg_fit: out of memory");
    cg_module_parameters(model, ps, n);
    cg_status st = CG_OK;
    if (!c->arena && !restore) {
        c->arena = cg_arena_new();
        c->best_w = cg_arena_alloc(c->arena, sizeof(cg_tensor *) * (size_t)(n ? n : 1), false);
        cg_scope_enter(c->arena);
        for (int i = 0; i < n && c->best_w; i++) c->best_w[i] = cg_clone(ps[i]);
        cg_scope_leave(c->arena);
    } else if (c->arena) {
        for (int i = 0; i < n && st == CG_OK; i++)
            if (!(restore ? cg_k_copy_(ps[i], c->best_w[i]) : cg_k_copy_(c->best_w[i], ps[i]))) st = cg_last_status();
    }
    free(ps);
    return st;
}

/* Run the callbacks after an epoch; *stop is set by early stopping. Off
 * rank 0 of a distributed run (writer false) nothing is written. */
static cg_status run_callbacks(cb_state *cs, int n, int epoch, cg_history *h, cg_module *model, cg_optim *opt,
                               bool *stop, bool writer) {
    for (int i = 0; i < n; i++) {
        cb_state *c = &cs[i];
        double v = cg_history_last(h, c->monitor);
        bool better = improved(c, v);
        cg_status st = CG_OK;
        switch (c->cb->kind) {
        case CG_CALLBACK_EARLY_STOPPING:
            if (better) {
                c->best = v;
                c->wait = 0;
                if (c->cb->restore_best_weights) st = snapshot(c, model, false);
            } else if (++c->wait > c->cb->patience) {
                *stop = true;
            }
            break;
        case CG_CALLBACK_CHECKPOINT:
            if (better) c->best = v;
            if (writer && (!c->cb->save_best_only || better))
                st = cg_checkpoint_save(c->cb->path, model, opt, epoch + 1, NULL);
            break;
        case CG_CALLBACK_CSV_LOGGER:
            if (writer) st = cg_history_write_csv(h, c->cb->path);
            break;
        case CG_CALLBACK_CUSTOM:
            if (c->cb->fn && c->cb->fn(epoch, h, c->cb->user)) *stop = true;
            break;
        }
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

static bool check_args(cg_module *model, cg_optim *opt, cg_tensor *x, cg_tensor *y, const cg_fit_opts *o) {
    if (!model || !opt || !x || !y) {
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_fit: model, optimizer, x and y are required");
        return false;
    }
    if (x->ndim < 1 || y->ndim < 1 || x->shape[0] != y->shape[0] || x->shape[0] == 0) {
        cg_set_error(CG_ERR_SHAPE, "cg_fit: x %s and y %s need the same, non-zero number of samples in dim 0",
                     cg_shape_str(x), cg_shape_str(y));
        return false;
    }
    if (o->epochs < 0 || o->batch_size < 1 || !(o->validation_split >= 0 && o->validation_split < 1) ||
        o->verbose < 0 || o->verbose > 2 || o->n_callbacks < 0 || (o->n_callbacks > 0 && !o->callbacks) ||
        o->accumulate < 0) {
        cg_set_error(CG_ERR_VALUE,
                     "cg_fit: epochs %d, batch_size %lld, validation_split %g, verbose %d, accumulate %d: out of range",
                     o->epochs, (long long)o->batch_size, o->validation_split, o->verbose, o->accumulate);
        return false;
    }
    for (int i = 0; i < o->n_callbacks; i++) {
        const cg_callback *c = &o->callbacks[i];
        if ((c->kind == CG_CALLBACK_CHECKPOINT || c->kind == CG_CALLBACK_CSV_LOGGER) && !c->path) {
            cg_set_error(CG_ERR_NULL, "cg_fit: callback %d needs a path", i);
            return false;
        }
    }
    return true;
}

/* How fit splits a step's batch: over ranks (dist) and micro-batches. */
typedef struct {
    cg_dist *d;
    int W, rank;
    int k;         /* micro-batches per step */
    int64_t bs;    /* micro-batch size per rank */
    const cg_tensor *x, *y;
} fit_plan;

/* Rows order[at + W q] for q in [q0, q1) of t (the rank's share of a step). */
static cg_tensor *take_rows(const cg_tensor *t, const int64_t *order, int64_t at, int W, int64_t q0, int64_t q1) {
    int64_t len = q1 - q0;
    cg_tensor *idx = cg_empty(CG_INT64, &len, 1);
    if (!idx) return NULL;
    int64_t *ix = cg_data_i64(idx);
    for (int64_t q = q0; q < q1; q++) ix[q - q0] = order[at + (int64_t)W * q];
    return cg_k_index_select(t, 0, idx);
}

/* One step over the `m` samples at positions [start, start + m) of the
 * epoch's order: this rank's micro-batches, then the synchronized one. The
 * loss and metric are the step's means over its m samples. */
static cg_status fit_step(cg_module *model, cg_loss loss, cg_metric metric, const fit_plan *pl, const int64_t *order,
                          int64_t start, int64_t m, int shards, double *lv, double *mv) {
    int64_t mine = m > pl->rank ? (m - pl->rank + pl->W - 1) / pl->W : 0; /* positions rank, rank + W, ... */
    cg_status st = CG_OK, first = CG_OK;
    double ls = 0, ms = 0;
    for (int j = 0; j < pl->k; j++) {
        int64_t q0 = (int64_t)j * pl->bs < mine ? (int64_t)j * pl->bs : mine;
        int64_t q1 = q0 + pl->bs < mine ? q0 + pl->bs : mine;
        cg_tensor *xb = NULL, *yb = NULL;
        if (q1 > q0) {
            xb = take_rows(pl->x, order, start + pl->rank, pl->W, q0, q1);
            yb = xb ? take_rows(pl->y, order, start + pl->rank, pl->W, q0, q1) : NULL;
            if (!yb) st = cg_last_status();
        }
        double l = NAN, mt = NAN;
        if (pl->d) {
            /* a failed micro-batch is reported to every rank by the synchronized call */
            cg_batch_opts bo = {.shards = shards, .dist = pl->d, .no_sync = j + 1 < pl->k};
            if (st != CG_OK) { /* (gathering the rows failed: reported by the synchronized call) */
                cg__dist_defer(pl->d, st, 0, 0, 0);
                xb = yb = NULL;
                st = CG_OK;
            }
            cg_status sj = cg_train_batch_ex(model, loss, metric, xb, yb, &bo, &l, &mt);
            if (j + 1 == pl->k) {
                *lv = l, *mv = mt;
                return sj;
            }
        } else {
            if (st == CG_OK && q1 > q0)
                st = cg__train_batch_scaled(model, loss, metric, xb, yb, shards, (double)(q1 - q0) / (double)m, &l, &mt);
            if (st != CG_OK) {
                *lv = l;
                return st;
            }
            if (q1 > q0) ls += l * (double)(q1 - q0), ms += mt * (double)(q1 - q0);
        }
        if (first == CG_OK) first = st;
    }
    *lv = ls / (double)m;
    *mv = ms / (double)m;
    return first;
}

/* One pass over the training batches; returns false on error (status set). */
static bool train_epoch(cg_module *model, cg_optim *opt, cg_loss loss, cg_metric metric, cg_batcher *b,
                        const fit_plan *pl, const cg_fit_opts *o, int epoch, progress *pr, double *mean_loss,
                        double *mean_metric) {
    int64_t nb = cg_batcher_len(b), seen = 0, N = pl->x->shape[0], G = pl->bs * pl->W * pl->k;
    double lsum = 0, msum = 0;
    cg_batcher_start_epoch(b, epoch);
    const int64_t *order = cg_batcher_order(b);
    int np = 0;
    cg_tensor *const *ps = cg_optim_params(opt, &np);
    for (int64_t i = 0; i < nb; i++) {
        cg_scope *s = cg_scope_begin();
        cg_optim_zero_grad(opt);
        double lv = NAN, mv = NAN;
        int64_t m = N - i * G < G ? N - i * G : G;
        cg_status st;
        if (!pl->d && pl->k == 1) { /* one process: the batcher's batch as it is */
            cg_tensor *xb, *yb;
            st = cg_batcher_get(b, i, &xb, &yb);
            if (st == CG_OK) st = cg_train_batch(model, loss, metric, xb, yb, o->shards, &lv, &mv);
        } else {
            st = fit_step(model, loss, metric, pl, order, i * G, m, o->shards, &lv, &mv);
        }
        if (st == CG_ERR_NUMERIC && !isfinite(lv)) { /* (anomaly mode's own errors are CG_ERR_NUMERIC too) */
            if (pl->d) {
                char why[600];
                snprintf(why, sizeof why, "%s", cg_last_error());
                cg_set_error(CG_ERR_NUMERIC, "cg_fit: at epoch %d, batch %lld: %s", epoch + 1, (long long)i + 1, why);
            }
            else
                cg_set_error(CG_ERR_NUMERIC, "cg_fit: the loss became %g at epoch %d, batch %lld", lv, epoch + 1,
                             (long long)i + 1);
        }
        if (st == CG_OK && o->clip_norm > 0) st = cg_clip_grad_norm(ps, np, o->clip_norm, NULL);
        if (st == CG_OK) st = cg_optim_step(opt);
        if (st == CG_OK) {
            seen += m;
            lsum += lv * (double)m;
            msum += mv * (double)m;
        }
        cg_scope_end(s);
        if (st != CG_OK) return false;
        if (pr->verbose == 1 && pr->tty) {
            const char *keys[2] = {"loss", "accuracy"};
            double vals[2] = {lsum / (double)seen, metric == CG_METRIC_NONE ? NAN : msum / (double)seen};
            char logs[128];
            fmt_logs(logs, sizeof logs, keys, vals, 2);
            progress_update(pr, i + 1, logs);
        }
    }
    *mean_loss = seen ? lsum / (double)seen : NAN;
    *mean_metric = metric == CG_METRIC_NONE || !seen ? NAN : msum / (double)seen;
    return true;
}

/* The validation set in contiguous parts, one per rank, and the means over
 * all of it (the same doubles on every rank). */
static cg_eval_result evaluate_dist(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *xv, cg_tensor *yv,
                                    int64_t bs, const fit_plan *pl) {
    int64_t n = xv->shape[0], lo = n * pl->rank / pl->W, hi = n * (pl->rank + 1) / pl->W;
    cg_eval_result r = {NAN, NAN, CG_OK};
    double v[3] = {0, 0, (double)(hi - lo)};
    if (hi > lo) {
        cg_scope *s = cg_scope_begin();
        r = cg_evaluate(model, loss, metric, cg_k_slice(xv, 0, lo, hi, 1), cg_k_slice(yv, 0, lo, hi, 1), bs);
        cg_scope_end(s);
        v[0] = r.loss * (double)(hi - lo);
        v[1] = r.metric * (double)(hi - lo);
    }
    r.status = cg__dist_sum_checked(pl->d, r.status, v, 3);
    r.loss = r.status == CG_OK ? v[0] / v[2] : NAN;
    r.metric = r.status == CG_OK && metric != CG_METRIC_NONE ? v[1] / v[2] : NAN;
    return r;
}

/* Before a distributed fit: every rank's arguments are good and the same
 * (data checksums included), every rank starts from rank 0's state. */
static cg_status dist_start(cg_dist *d, cg_optim *opt, cg_loss loss, cg_metric metric, const cg_tensor *xt,
                            const cg_tensor *yt, const cg_tensor *xv, const cg_tensor *yv, cg_fit_opts *o) {
    int64_t clip_bits;
    memcpy(&clip_bits, &o->clip_norm, sizeof clip_bits);
    int64_t v[] = {xt->shape[0],
                   (int64_t)cg__dist_checksum(xt),
                   (int64_t)cg__dist_checksum(yt),
                   xv && yv ? xv->shape[0] : 0,
                   xv && yv ? (int64_t)(cg__dist_checksum(xv) ^ cg__dist_checksum(yv)) : 0,
                   o->epochs,
                   o->batch_size,
                   o->accumulate > 1 ? o->accumulate : 1,
                   o->shuffle,
                   (int64_t)o->seed,
                   (int64_t)loss,
                   (int64_t)metric,
                   clip_bits,
                   o->n_callbacks};
    const char *names[] = {"the number of training samples",
                           "the training data's checksum (x)",
                           "the training data's checksum (y)",
                           "the number of validation samples",
                           "the validation data's checksum",
                           "epochs",
                           "batch_size",
                           "accumulate",
                           "shuffle",
                           "seed",
                           "the loss",
                           "the metric",
                           "clip_norm (its bits)",
                           "the number of callbacks"};
    cg_status st = cg__dist_same(d, "cg_fit", v, names, (int)(sizeof v / sizeof v[0]));
    int64_t e = o->initial_epoch;
    if (st == CG_OK) st = cg__dist_bcast_i64(d, &e, 1);
    o->initial_epoch = (int)e;
    if (st == CG_OK) st = cg_dist_broadcast(d, opt);
    return st;
}

/* The Keras end-of-epoch line. */
static void epoch_line(progress *p, const cg_history *h) {
    const char *keys[CG_HISTORY_MAX_KEYS];
    double vals[CG_HISTORY_MAX_KEYS];
    for (int i = 0; i < h->n_keys; i++) {
        keys[i] = h->keys[i];
        vals[i] = cg_history_last(h, h->keys[i]);
    }
    char logs[512];
    fmt_logs(logs, sizeof logs, keys, vals, h->n_keys);
    progress_end(p, logs);
}

cg_history *cg_fit(cg_module *model, cg_optim *opt, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                   const cg_fit_opts *opts) {
    cg_fit_opts o = opts ? *opts : cg_fit_defaults();
    cg_dist *d = o.dist;
    bool ok = check_args(model, opt, x, y, &o);
    /* a rank with bad arguments stops every rank, not just itself */
    if (d && cg_dist_check(d, ok ? CG_OK : cg_last_status()) != CG_OK) return NULL;
    if (!ok) return NULL;
    cg_tensor *xt = x, *yt = y, *xv = o.x_val, *yv = o.y_val;
    ok = o.validation_split <= 0 || cg_train_val_split(x, y, o.validation_split, &xt, &yt, &xv, &yv) == CG_OK;
    if (d && cg_dist_check(d, ok ? CG_OK : cg_last_status()) != CG_OK) return NULL;
    if (!ok) return NULL;
    if (d && dist_start(d, opt, loss, metric, xt, yt, xv, yv, &o) != CG_OK) return NULL;
    fit_plan pl = {d, cg_dist_size(d), cg_dist_rank(d), o.accumulate > 1 ? o.accumulate : 1, o.batch_size, xt, yt};
    if (pl.rank != 0) o.verbose = 0;
    FILE *out = o.out ? o.out : stdout;
    bool tty = isatty(fileno(out));
    cg_batcher *b = cg_batcher_new(xt, yt, o.batch_size * pl.W * pl.k, o.shuffle, o.seed, false);
    cg_history *h = calloc(1, sizeof *h);
    cb_state *cs = calloc((size_t)(o.n_callbacks ? o.n_callbacks : 1), sizeof *cs);
    if (!b || !h || !cs) {
        cg_batcher_free(b);
        cg_history_free(h);
        free(cs);
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NOMEM, "cg_fit: out of memory");
        return NULL;
    }
    bool has_val = xv && yv && xv->shape[0] > 0;
    for (int i = 0; i < o.n_callbacks; i++) {
        cs[i].cb = &o.callbacks[i];
        cs[i].monitor = o.callbacks[i].monitor ? o.callbacks[i].monitor : has_val ? "val_loss" : "loss";
        cs[i].best = NAN;
    }
    /* keys in Keras order */
    snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "loss");
    if (metric != CG_METRIC_NONE) snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "accuracy");
    if (has_val) snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "val_loss");
    if (has_val && metric != CG_METRIC_NONE) snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "val_accuracy");
    int64_t nb = cg_batcher_len(b);
    bool stop = false;
    cg_module_train(model, true);
    for (int e = o.initial_epoch; e < o.epochs && !stop; e++) {
        if (o.verbose) fprintf(out, "Epoch %d/%d\n", e + 1, o.epochs);
        double l, m;
        progress pr = {out, o.verbose, tty, nb, now(), 0};
        if (!train_epoch(model, opt, loss, metric, b, &pl, &o, e, &pr, &l, &m)) {
            h->status = cg_last_status();
            if (o.verbose && tty) fprintf(out, "\n");
            break;
        }
        cg_eval_result v = {NAN, NAN, CG_OK};
        if (has_val) v = d ? evaluate_dist(model, loss, metric, xv, yv, o.batch_size, &pl)
                           : cg_evaluate(model, loss, metric, xv, yv, o.batch_size);
        cg_module_train(model, true);
        if (v.status != CG_OK || !cg__history_add_row(h)) {
            h->status = cg_last_status();
            break;
        }
        h->seconds[h->epochs - 1] = now() - pr.t0;
        double row[4] = {l, m, v.loss, v.metric};
        for (int k = 0, j = 0; k < 4; k++) {
            if ((k == 1 || k == 3) && metric == CG_METRIC_NONE) continue;
            if (k >= 2 && !has_val) continue;
            h->values[(h->epochs - 1) * CG_HISTORY_MAX_KEYS + j++] = row[k];
        }
        epoch_line(&pr, h);
        cg_status st = run_callbacks(cs, o.n_callbacks, e, h, model, opt, &stop, pl.rank == 0);
        if (d) { /* rank 0's writes may fail, and any rank's callback may stop */
            double any = stop;
            st = cg__dist_sum_checked(d, st, &any, 1);
            stop = any > 0;
        }
        if (st != CG_OK) {
            h->status = st;
            break;
        }
    }
    for (int i = 0; i < o.n_callbacks; i++) {
        if (cs[i].cb->kind == CG_CALLBACK_EARLY_STOPPING && cs[i].cb->restore_best_weights && cs[i].arena)
            snapshot(&cs[i], model, true);
        cg_arena_free(cs[i].arena);
    }
    free(cs);
    cg_batcher_free(b);
    return h;
}
