/* fit / evaluate / predict, the progress line, callbacks, checkpoints. */
#include "train_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ losses, metrics */

const char *cg_loss_name(cg_loss loss) {
    static const char *names[] = {"mse", "mae", "huber", "binary_crossentropy", "binary_crossentropy_from_logits",
                                  "categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "sparse_categorical_crossentropy_from_logits"};
    return (unsigned)loss < sizeof names / sizeof names[0] ? names[loss] : "?";
}

/* A [B] target for a [B, 1] prediction is fine for the elementwise losses. */
static cg_tensor *as_pred_shape(cg_tensor *pred, cg_tensor *t) {
    if (pred && t && !cg_same_shape(pred, t) && cg_numel(pred) == cg_numel(t)) return cg_reshape(t, pred->shape, pred->ndim);
    return t;
}

cg_tensor *cg_loss_apply(cg_loss loss, cg_tensor *pred, cg_tensor *y) {
    switch (loss) {
    case CG_LOSS_MSE: return cg_mse(pred, y);
    case CG_LOSS_MAE: return cg_mae(pred, y);
    case CG_LOSS_HUBER: return cg_huber(pred, y, 1.0);
    case CG_LOSS_BINARY_CROSSENTROPY: return cg_binary_crossentropy(pred, y);
    case CG_LOSS_BCE_WITH_LOGITS: return cg_bce_with_logits(pred, as_pred_shape(pred, y));
    case CG_LOSS_CATEGORICAL_CROSSENTROPY: return cg_categorical_crossentropy(pred, y);
    case CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY: return cg_sparse_categorical_crossentropy(pred, y);
    case CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS: return cg_cross_entropy(pred, y);
    }
    cg_set_error(CG_ERR_VALUE, "cg_loss_apply: unknown loss %d", (int)loss);
    return NULL;
}

double cg_metric_apply(cg_metric metric, cg_loss loss, const cg_tensor *pred, const cg_tensor *y) {
    if (metric != CG_METRIC_ACCURACY) return NAN;
    switch (loss) {
    case CG_LOSS_BINARY_CROSSENTROPY: return cg_binary_accuracy(pred, y, 0.5);
    case CG_LOSS_BCE_WITH_LOGITS: return cg_binary_accuracy(pred, y, 0.0);
    case CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
    case CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS: return cg_sparse_categorical_accuracy(pred, y);
    case CG_LOSS_CATEGORICAL_CROSSENTROPY: {
        cg_scope *s = cg_scope_begin();
        double a = cg_sparse_categorical_accuracy(pred, cg_k_argmax(y, -1, false));
        cg_scope_end(s);
        return a;
    }
    default: return NAN;
    }
}

/* ------------------------------------------------------------- evaluate */

static cg_tensor *rows(cg_tensor *t, int64_t a, int64_t b) { return cg_k_slice(t, 0, a, b, 1); }

cg_eval_result cg_evaluate(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                           int64_t batch_size) {
    cg_eval_result r = {NAN, NAN, CG_OK};
    if (!model || !x || !y || x->ndim < 1 || y->ndim < 1 || x->shape[0] != y->shape[0] || batch_size < 1) {
        r.status = cg_set_error(CG_ERR_SHAPE, "cg_evaluate: needs a model, x and y with the same number of samples "
                                              "(got %s and %s) and batch_size >= 1",
                                cg_shape_str(x), cg_shape_str(y));
        return r;
    }
    int64_t n = x->shape[0];
    bool was_training = model->training;
    cg_module_train(model, false);
    bool prev = cg_set_grad_enabled(false);
    double lsum = 0, msum = 0;
    cg_scope *inf = cg_scope_begin(); /* what inference_begin makes */
    r.status = cg_module_inference_begin(model, x);
    for (int64_t a = 0; a < n && r.status == CG_OK; a += batch_size) {
        int64_t b = a + batch_size < n ? a + batch_size : n;
        cg_scope *s = cg_scope_begin();
        cg_tensor *yb = rows(y, a, b);
        cg_tensor *pred = cg_module_forward(model, rows(x, a, b));
        cg_tensor *l = pred ? cg_loss_apply(loss, pred, yb) : NULL;
        if (!l) r.status = cg_last_status();
        else {
            lsum += cg_item(l) * (double)(b - a);
            msum += cg_metric_apply(metric, loss, pred, yb) * (double)(b - a);
        }
        cg_scope_end(s);
    }
    cg_module_inference_end(model);
    cg_scope_end(inf);
    cg_set_grad_enabled(prev);
    cg_module_train(model, was_training);
    if (r.status == CG_OK && n > 0) {
        r.loss = lsum / (double)n;
        r.metric = metric == CG_METRIC_NONE ? NAN : msum / (double)n;
    }
    return r;
}

/* Each batch's rows are split over the threads, each part run by its own
 * thread (rows are independent in eval mode: the same outputs as the whole
 * batch run at once), when every part gets at least this many rows. */
#define PREDICT_PART_ROWS 16

typedef struct {
    cg_tensor *p; /* this thread's part of the batch's outputs */
    cg_status st;
    char err[512];
} predict_part;

/* Rows [a, b) of x through the model, split over S threads; their outputs
 * into rows [a, b) of *out (made from the first part's shape, n rows, in
 * scope outer). */
static bool predict_batch(cg_module *model, cg_tensor *x, int64_t a, int64_t b, int S, cg_scope *outer, cg_tensor **out) {
    predict_part r[CG_MAX_SHARDS];
    memset(r, 0, sizeof r);
    int64_t n = x->shape[0];
    bool ok = true;
#pragma omp parallel num_threads(S) if (S > 1)
    {
        int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        bool was_grad = cg_set_grad_enabled(false);
        cg_scope *s = cg_scope_begin();
        int64_t lo = a + (b - a) * tid / nt, hi = a + (b - a) * (tid + 1) / nt;
        r[tid].p = cg_module_forward(model, rows(x, lo, hi));
        r[tid].st = r[tid].p ? CG_OK : cg_last_status();
        if (!r[tid].p) snprintf(r[tid].err, sizeof r[tid].err, "%s", cg_last_error());
#pragma omp barrier
#pragma omp master
        {
            for (int k = 0; k < nt; k++) ok = ok && r[k].st == CG_OK;
            if (ok && !*out) {
                int64_t shape[CG_MAX_DIMS];
                memcpy(shape, r[0].p->shape, sizeof shape);
                shape[0] = n;
                cg_scope *old = cg_scope_redirect(outer);
                *out = cg_empty(r[0].p->dtype, shape, r[0].p->ndim);
                cg_scope_redirect(old);
                if (!*out) {
                    ok = false;
                    r[0].st = cg_last_status();
                    snprintf(r[0].err, sizeof r[0].err, "%s", cg_last_error());
                }
            }
        }
#pragma omp barrier
        if (ok && !cg_k_copy_(rows(*out, lo, hi), r[tid].p)) {
            r[tid].st = cg_last_status();
            snprintf(r[tid].err, sizeof r[tid].err, "%s", cg_last_error());
        }
        cg_scope_end(s);
        if (tid != 0) cg_scope_share_cache(); /* (as cg_train_batch's helpers) */
        cg_set_grad_enabled(was_grad);
    }
    for (int k = 0; k < S; k++)
        if (r[k].st != CG_OK) {
            cg_set_error(r[k].st, "%s", r[k].err);
            return false;
        }
    return true;
}

cg_tensor *cg_predict(cg_module *model, cg_tensor *x, int64_t batch_size) {
    if (!model || !x || x->ndim < 1 || batch_size < 1) {
        cg_set_error(CG_ERR_VALUE, "cg_predict: needs a model, x with a sample dim and batch_size >= 1");
        return NULL;
    }
    int64_t n = x->shape[0];
    cg_scope *outer = cg_scope_current();
    bool was_training = model->training;
    cg_module_train(model, false);
    bool prev = cg_set_grad_enabled(false);
    cg_tensor *out = NULL;
    cg_scope *inf = cg_scope_begin(); /* what inference_begin makes */
    bool ok = cg_module_inference_begin(model, x) == CG_OK;
    for (int64_t a = 0; a < n && ok; a += batch_size) {
        int64_t b = a + batch_size < n ? a + batch_size : n;
        int S = omp_in_parallel() ? 1 : cg_get_num_threads();
        if (S > CG_MAX_SHARDS) S = CG_MAX_SHARDS;
        while (S > 1 && (b - a) / S < PREDICT_PART_ROWS) S--;
        ok = predict_batch(model, x, a, b, S, outer, &out);
    }
    cg_module_inference_end(model);
    cg_scope_end(inf);
    cg_set_grad_enabled(prev);
    cg_module_train(model, was_training);
    return ok ? out : NULL;
}

/* ---------------------------------------------------------- checkpoints */

cg_status cg_checkpoint_save(const char *path, const cg_module *model, cg_optim *opt, int epoch, const cg_rng *rng) {
    if (!path || !model) return cg_set_error(CG_ERR_NULL, "cg_checkpoint_save: NULL path or model");
    cg_scope *s = cg_scope_begin();
    int np = cg_module_parameters(model, NULL, 0);
    int no = opt ? cg_optim_state_tensors(opt, NULL, 0) : 0;
    cg_tensor **ps = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)(np + 1), false);
    cg_named_tensor *nt = cg_scope_alloc(sizeof(cg_named_tensor) * (size_t)(np + no + 1), false);
    cg_status st = ps && nt ? CG_OK : cg_last_status();
    if (st == CG_OK) {
        cg_module_parameters(model, ps, np);
        for (int i = 0; i < np; i++) nt[i] = (cg_named_tensor){cg_name(ps[i]), ps[i]};
        if (opt && cg_optim_state_tensors(opt, nt + np, no) != no) st = cg_last_status();
    }
    if (st == CG_OK) {
        const cg_rng *r = rng ? rng : cg_default_rng();
        char e[32], seed[32], ctr[32];
        snprintf(e, sizeof e, "%d", epoch);
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
        snprintf(ctr, sizeof ctr, "%llu", (unsigned long long)r->counter);
        const char *keys[] = {"format", "epoch", "rng_seed", "rng_counter"};
        const char *vals[] = {"cgrad-checkpoint-1", e, seed, ctr};
        st = cg_safetensors_save(path, nt, np + no, keys, vals, 4);
    }
    cg_scope_end(s);
    return st;
}

static bool meta_u64(const cg_safetensors *f, const char *key, unsigned long long *v) {
    const char *s = cg_safetensors_meta(f, key);
    char *end;
    if (!s) return false;
    *v = strtoull(s, &end, 10);
    return *end == '\0' && end != s;
}

cg_status cg_checkpoint_load(const char *path, cg_module *model, cg_optim *opt, int *epoch, cg_rng *rng) {
    if (!path || !model) return cg_set_error(CG_ERR_NULL, "cg_checkpoint_load: NULL path or model");
    cg_safetensors *f = cg_safetensors_open(path);
    if (!f) return cg_last_status();
    unsigned long long e = 0, seed = 0, ctr = 0;
    const char *fmt = cg_safetensors_meta(f, "format");
    cg_status st = CG_OK;
    if (!fmt || strcmp(fmt, "cgrad-checkpoint-1") != 0 || !meta_u64(f, "epoch", &e) || !meta_u64(f, "rng_seed", &seed) ||
        !meta_u64(f, "rng_counter", &ctr))
        st = cg_set_error(CG_ERR_PARSE, "cg_checkpoint_load: %s is not a cgrad checkpoint (metadata missing)", path);
    /* check the model first: the optimizer then checks its own state fully
     * before changing it, and the model's load can no longer fail on the file */
    if (st == CG_OK) st = cg_module_check_file(model, f, path);
    if (st == CG_OK && opt) st = cg_optim_state_load_from(opt, f);
    if (st == CG_OK) st = cg_module_load_from(model, f, path);
    if (st == CG_OK) {
        if (epoch) *epoch = (int)e;
        cg_rng *r = rng ? rng : cg_default_rng();
        r->seed = seed;
        r->counter = ctr;
    }
    cg_safetensors_close(f);
    return st;
}
