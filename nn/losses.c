/* Losses and metrics with Keras semantics, composed from autograd ops. */
#include "nn_internal.h"

#define EPS 1e-7 /* Keras' backend epsilon */

/* Targets of shape [B] go with predictions [B, 1] (Keras squeezes). */
static cg_tensor *match(const char *op, cg_tensor *pred, cg_tensor *t) {
    if (!pred || !t) {
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "%s: prediction or target is NULL", op);
        return NULL;
    }
    if (cg_same_shape(pred, t)) return t;
    if (cg_numel(pred) == cg_numel(t) && pred->ndim == t->ndim + 1 && pred->shape[pred->ndim - 1] == 1)
        return cg_reshape(t, pred->shape, pred->ndim);
    cg_set_error(CG_ERR_SHAPE, "%s: prediction %s and target %s do not match", op, cg_shape_str(pred), cg_shape_str(t));
    return NULL;
}

static cg_tensor *mean_all(cg_tensor *x) { return cg_mean(x, NULL, 0, false); }

cg_tensor *cg_binary_crossentropy(cg_tensor *p, cg_tensor *y) {
    y = match("cg_binary_crossentropy", p, y);
    if (!y) return NULL;
    cg_tensor *pc = cg_clamp(p, EPS, 1 - EPS);
    cg_tensor *pos = cg_mul(y, cg_log(cg_add_scalar(pc, EPS)));
    cg_tensor *neg = cg_mul(cg_rsub_scalar(1, y), cg_log(cg_add_scalar(cg_rsub_scalar(1, pc), EPS)));
    return cg_neg(mean_all(cg_add(pos, neg)));
}

cg_tensor *cg_mse(cg_tensor *p, cg_tensor *y) {
    y = match("cg_mse", p, y);
    return y ? mean_all(cg_square(cg_sub(p, y))) : NULL;
}

cg_tensor *cg_mae(cg_tensor *p, cg_tensor *y) {
    y = match("cg_mae", p, y);
    return y ? mean_all(cg_abs(cg_sub(p, y))) : NULL;
}

cg_tensor *cg_huber(cg_tensor *p, cg_tensor *y, double delta) {
    y = match("cg_huber", p, y);
    if (!y) return NULL;
    if (!(delta > 0)) {
        cg_set_error(CG_ERR_VALUE, "cg_huber: delta = %g must be > 0", delta);
        return NULL;
    }
    /* 0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta) */
    cg_tensor *a = cg_abs(cg_sub(p, y));
    cg_tensor *q = cg_clamp(a, 0, delta);
    cg_tensor *lin = cg_sub(a, q);
    return mean_all(cg_add(cg_mul_scalar(cg_square(q), 0.5), cg_mul_scalar(lin, delta)));
}

cg_tensor *cg_categorical_crossentropy(cg_tensor *p, cg_tensor *onehot) {
    if (!p || !onehot) return match("cg_categorical_crossentropy", p, onehot);
    if (!cg_same_shape(p, onehot)) {
        cg_set_error(CG_ERR_SHAPE, "cg_categorical_crossentropy: probabilities %s and one-hot targets %s differ",
                     cg_shape_str(p), cg_shape_str(onehot));
        return NULL;
    }
    cg_tensor *norm = cg_div(p, cg_sum(p, (int[]){-1}, 1, true));
    cg_tensor *ll = cg_mul(onehot, cg_log(cg_clamp(norm, EPS, 1 - EPS)));
    return cg_neg(mean_all(cg_sum(ll, (int[]){-1}, 1, false)));
}

cg_tensor *cg_sparse_categorical_crossentropy(cg_tensor *p, const cg_tensor *ids) {
    if (!p || !ids) return match("cg_sparse_categorical_crossentropy", p, (cg_tensor *)ids);
    if (ids->dtype != CG_INT64 || p->ndim != ids->ndim + 1) {
        cg_set_error(CG_ERR_SHAPE, "cg_sparse_categorical_crossentropy: probabilities %s need int64 ids of shape %s, got %s %s",
                     cg_shape_str(p), cg_dims_str(p->shape, p->ndim - 1), cg_dtype_name(ids->dtype), cg_shape_str(ids));
        return NULL;
    }
    int64_t C = p->shape[p->ndim - 1];
    cg_tensor *flat = cg_k_contiguous(ids);
    for (int64_t i = 0, n = cg_numel(flat); flat && i < n; i++)
        if (cg_data_i64(flat)[i] < 0 || cg_data_i64(flat)[i] >= C) {
            cg_set_error(CG_ERR_INDEX, "cg_sparse_categorical_crossentropy: class id %lld at position %lld is out of range [0, %lld)",
                         (long long)cg_data_i64(flat)[i], (long long)i, (long long)C);
            return NULL;
        }
    /* Keras: clip, log, then softmax cross-entropy on those logits, which
     * normalizes: -log(p'[id] / sum p') with p' = clip(p, eps, 1 - eps).
     * For rows that sum to 1 this is -log p'[id]. */
    cg_tensor *logp = cg_log_softmax(cg_log(cg_clamp(p, EPS, 1 - EPS)), -1);
    cg_tensor *picked = cg_gather(logp, -1, cg_k_unsqueeze(ids, -1));
    return cg_neg(mean_all(picked));
}

double cg_binary_accuracy(const cg_tensor *p, const cg_tensor *y, double threshold) {
    if (!p || !y || cg_numel(p) != cg_numel(y) || cg_numel(p) == 0) {
        cg_set_error(CG_ERR_SHAPE, "cg_binary_accuracy: predictions %s and targets %s differ", cg_shape_str(p), cg_shape_str(y));
        return NAN;
    }
    cg_scope *s = cg_scope_begin();
    cg_tensor *pc = cg_k_contiguous(cg_to_dtype(p, CG_FLOAT64)), *yc = cg_k_contiguous(cg_to_dtype(y, CG_FLOAT64));
    int64_t n = cg_numel(p), hit = 0;
    for (int64_t i = 0; i < n; i++) hit += (cg_data_f64(pc)[i] > threshold) == (cg_data_f64(yc)[i] > 0.5);
    cg_scope_end(s);
    return (double)hit / (double)n;
}

double cg_sparse_categorical_accuracy(const cg_tensor *p, const cg_tensor *ids) {
    if (!p || !ids || p->ndim < 1 || cg_numel(ids) * p->shape[p->ndim - 1] != cg_numel(p) || cg_numel(ids) == 0) {
        cg_set_error(CG_ERR_SHAPE, "cg_sparse_categorical_accuracy: predictions %s and ids %s do not match", cg_shape_str(p),
                     cg_shape_str(ids));
        return NAN;
    }
    cg_scope *s = cg_scope_begin();
    cg_tensor *am = cg_k_contiguous(cg_k_argmax(p, -1, false));
    cg_tensor *ic = cg_k_contiguous(cg_to_dtype(ids, CG_INT64));
    int64_t n = cg_numel(ids), hit = 0;
    for (int64_t i = 0; am && ic && i < n; i++) hit += cg_data_i64(am)[i] == cg_data_i64(ic)[i];
    cg_scope_end(s);
    return (double)hit / (double)n;
}
