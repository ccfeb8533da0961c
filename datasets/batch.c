/* Validation split and mini-batch iteration with seeded per-epoch shuffling. */
#include "datasets_internal.h"

#include <math.h>
#include <stdlib.h>

cg_status cg_train_val_split(const cg_tensor *x, const cg_tensor *y, double fraction, cg_tensor **x_train,
                             cg_tensor **y_train, cg_tensor **x_val, cg_tensor **y_val) {
    const char *op = "cg_train_val_split";
    if (!x || !x_train || !x_val || (y && (!y_train || !y_val))) return cg_set_error(CG_ERR_NULL, "%s: NULL argument", op);
    if (!(fraction >= 0 && fraction < 1)) return cg_set_error(CG_ERR_VALUE, "%s: fraction %g is not in [0, 1)", op, fraction);
    if (x->ndim < 1 || (y && (y->ndim < 1 || y->shape[0] != x->shape[0])))
        return cg_set_error(CG_ERR_SHAPE, "%s: x %s and y %s need the same first dim", op, cg_shape_str(x), cg_shape_str(y));
    int64_t n = x->shape[0], at = (int64_t)((double)n * (1.0 - fraction));
    *x_train = cg_k_slice(x, 0, 0, at, 1);
    *x_val = cg_k_slice(x, 0, at, n, 1);
    if (y) {
        *y_train = cg_k_slice(y, 0, 0, at, 1);
        *y_val = cg_k_slice(y, 0, at, n, 1);
    } else {
        if (y_train) *y_train = NULL;
        if (y_val) *y_val = NULL;
    }
    return *x_train && *x_val && (!y || (*y_train && *y_val)) ? CG_OK : cg_last_status();
}

struct cg_batcher {
    const cg_tensor *x, *y;
    int64_t n, bs, next;
    bool shuffle, drop_last;
    uint64_t seed;
    int64_t *order;
};

cg_batcher *cg_batcher_new(const cg_tensor *x, const cg_tensor *y, int64_t batch_size, bool shuffle, uint64_t seed,
                           bool drop_last) {
    const char *op = "cg_batcher_new";
    if (!x) return cg_set_error(CG_ERR_NULL, "%s: x is NULL", op), NULL;
    if (x->ndim < 1 || (y && (y->ndim < 1 || y->shape[0] != x->shape[0]))) {
        cg_set_error(CG_ERR_SHAPE, "%s: x %s and y %s need the same first dim", op, cg_shape_str(x), cg_shape_str(y));
        return NULL;
    }
    if (batch_size < 1) {
        cg_set_error(CG_ERR_VALUE, "%s: batch_size = %lld must be >= 1", op, (long long)batch_size);
        return NULL;
    }
    cg_batcher *b = calloc(1, sizeof *b);
    int64_t n = x->shape[0];
    if (!b || !(b->order = malloc(((size_t)n + 1) * sizeof *b->order))) {
        free(b);
        cg_set_error(CG_ERR_NOMEM, "%s: out of memory", op);
        return NULL;
    }
    b->x = x, b->y = y, b->n = n, b->bs = batch_size;
    b->shuffle = shuffle, b->drop_last = drop_last, b->seed = seed;
    cg_batcher_start_epoch(b, 0);
    return b;
}

void cg_batcher_free(cg_batcher *b) {
    if (!b) return;
    free(b->order);
    free(b);
}

int64_t cg_batcher_len(const cg_batcher *b) {
    if (!b) return 0;
    return b->drop_last ? b->n / b->bs : (b->n + b->bs - 1) / b->bs;
}

void cg_batcher_start_epoch(cg_batcher *b, int64_t epoch) {
    if (!b) return;
    for (int64_t i = 0; i < b->n; i++) b->order[i] = i;
    if (b->shuffle) { /* Fisher-Yates, as cg_randperm */
        cg_rng r = {b->seed, (uint64_t)epoch << 40};
        for (int64_t i = b->n - 1; i > 0; i--) {
            int64_t j = (int64_t)(cg_rng_u64(&r) % (uint64_t)(i + 1)), t = b->order[i];
            b->order[i] = b->order[j];
            b->order[j] = t;
        }
    }
    b->next = 0;
}

const int64_t *cg_batcher_order(const cg_batcher *b) { return b ? b->order : NULL; }

static cg_tensor *take(const cg_batcher *b, const cg_tensor *t, int64_t start, int64_t len) {
    if (!b->shuffle) return cg_k_slice(t, 0, start, start + len, 1);
    cg_tensor *idx = cg_from_data(CG_INT64, &len, 1, b->order + start);
    return idx ? cg_k_index_select(t, 0, idx) : NULL;
}

cg_status cg_batcher_get(const cg_batcher *b, int64_t i, cg_tensor **xb, cg_tensor **yb) {
    if (!b || !xb) return cg_set_error(CG_ERR_NULL, "cg_batcher_get: batcher or xb is NULL");
    if (i < 0 || i >= cg_batcher_len(b))
        return cg_set_error(CG_ERR_INDEX, "cg_batcher_get: batch %lld of %lld", (long long)i, (long long)cg_batcher_len(b));
    int64_t start = i * b->bs, len = b->n - start < b->bs ? b->n - start : b->bs;
    *xb = take(b, b->x, start, len);
    if (yb) *yb = b->y ? take(b, b->y, start, len) : NULL;
    return *xb && (!yb || !b->y || *yb) ? CG_OK : cg_last_status();
}

bool cg_batcher_next(cg_batcher *b, cg_tensor **xb, cg_tensor **yb) {
    if (!b || b->next >= cg_batcher_len(b)) return false;
    return cg_batcher_get(b, b->next++, xb, yb) == CG_OK;
}
