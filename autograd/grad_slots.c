/* Leaf gradients: the slot a leaf's gradient is summed in (its own .grad, or
 * an entry of the thread's gradient sink), row-sparse bookkeeping for an
 * embedding's gradient, and the sinks that let threads run backward side by
 * side and merge in a fixed order. */
#include "autograd_internal.h"

/* A gradient sink: one slot per leaf met, in a list (slots stay put). */
typedef struct sink_entry {
    cg_tensor *leaf;
    cg_grad_slot s;
    struct sink_entry *next;
} sink_entry;

struct cg_grad_sink {
    cg_scope *scope; /* where its entries and gradients are made */
    sink_entry *head;
};
static _Thread_local cg_grad_sink *t_sink;

bool cg__sink_on(void) { return t_sink != NULL; }

/* Make the row bookkeeping of a leaf's row-sparse gradient; false on error. */
static bool slot_rows(cg_grad_slot *m, cg_scope *s, int64_t nrows) {
    if (m->rows) return true;
    m->rows = cg_arena_alloc(s, sizeof(int64_t) * (size_t)nrows, false);
    m->row_seen = cg_arena_alloc(s, (size_t)nrows, true);
    m->rows_cap = nrows;
    return m->rows && m->row_seen;
}

cg_grad_slot *cg__slot_of(cg_tensor *t) {
    struct cg_autograd_meta *m = t->autograd;
    if (!t_sink || m->node) return &m->g;
    sink_entry *e = t_sink->head;
    while (e && e->leaf != t) e = e->next;
    if (e && ((e->s.grad && (e->s.grad->dtype != t->dtype || !cg_same_shape(e->s.grad, t))) ||
              (e->s.rows && (t->ndim < 1 || e->s.rows_cap != t->shape[0]))))
        e->s = (cg_grad_slot){0}; /* another leaf now at that address: start over */
    if (!e) {
        if (!(e = cg_arena_alloc(t_sink->scope, sizeof *e, true))) return NULL;
        e->leaf = t;
        e->next = t_sink->head;
        t_sink->head = e;
    }
    if (t->ndim >= 1 && !slot_rows(&e->s, t_sink->scope, t->shape[0])) return NULL;
    return &e->s;
}

/* The arena a gradient of t is made in: the leaf's own, or the sink's. */
static cg_scope *grad_scope(const cg_tensor *t) { return t_sink && !t->autograd->node ? t_sink->scope : t->scope; }

cg_status cg__hooked_leaf_in_sink(const cg_tensor *t) {
    return cg_set_error(CG_ERR_STATE,
                        "cg_backward: the leaf %s has a gradient hook, and a gradient sink is set on this thread "
                        "(a data-parallel step): hooks on leaves run only in a plain backward",
                        cg_shape_str(t));
}

/* A row-sparse gradient in a sink is made without zeroing the whole table
 * (a step's batch touches a few rows of an embedding): its listed rows are
 * zeroed as they are listed, the rest here, once it is needed whole. */
void cg__zero_unlisted(cg_grad_slot *m) {
    if (!m->rows_only) return;
    m->rows_only = false;
    cg_tensor *g = m->grad;
    if (m->n_rows == 0) { /* (a dense parameter's, reused: one fill) */
        cg_k_fill_(g, 0);
        return;
    }
    size_t row = (size_t)(cg_numel(g) / g->shape[0]) * cg_dtype_size(g->dtype);
    for (int64_t r = 0; r < g->shape[0]; r++)
        if (!m->row_seen[r]) memset((char *)cg_data(g) + (size_t)r * row, 0, row);
}

cg_tensor *cg__leaf_grad_zeros(cg_tensor *t, cg_grad_slot *m) {
    cg__zero_unlisted(m);
    if (!m->grad) {
        cg_scope *old = cg_scope_redirect(grad_scope(t));
        m->grad = cg_zeros(t->dtype, t->shape, t->ndim);
        cg_scope_redirect(old);
    }
    return m->grad;
}

cg_tensor *cg__leaf_grad_rows(cg_tensor *t, const cg_tensor *idx) {
    cg_grad_slot *m = cg__slot_of(t);
    if (!m) return NULL;
    if (m->grad_dense) return cg__leaf_grad_zeros(t, m);
    /* not dense: the gradient is absent or zero outside the rows listed */
    if (!slot_rows(m, grad_scope(t), t->shape[0])) return NULL;
    if (t_sink && !m->grad) {
        cg_scope *old = cg_scope_redirect(t_sink->scope);
        m->grad = cg_empty(t->dtype, t->shape, t->ndim);
        cg_scope_redirect(old);
        m->rows_only = m->grad != NULL;
    }
    if (!m->rows_only && !cg__leaf_grad_zeros(t, m)) return NULL;
    const int64_t *ids = cg_data(idx);
    int64_t k = cg_numel(idx), stride = idx->ndim ? idx->strides[0] : 0;
    size_t row = (size_t)(cg_numel(t) / t->shape[0]) * cg_dtype_size(t->dtype);
    for (int64_t j = 0; j < k; j++) {
        int64_t r = ids[j * stride];
        if (r >= 0 && r < t->shape[0] && !m->row_seen[r]) {
            m->row_seen[r] = 1;
            m->rows[m->n_rows++] = r;
            if (m->rows_only) memset((char *)cg_data(m->grad) + (size_t)r * row, 0, row);
        }
    }
    return m->grad;
}

cg_status cg__add_to_grad(cg_tensor *t, cg_tensor *g) {
    cg_grad_slot *m = cg__slot_of(t);
    if (!m) return cg_last_status();
    cg__zero_unlisted(m);
    m->grad_dense = true;
    if (!m->grad) {
        cg_scope *old = cg_scope_redirect(grad_scope(t));
        m->grad = cg_clone(g);
        cg_scope_redirect(old);
        return m->grad ? CG_OK : cg_last_status();
    }
    return cg_k_binary_(CG_ADD, m->grad, g) ? CG_OK : cg_last_status();
}

/* ------------------------------------------------------------ the .grad API */

cg_tensor *cg_grad(const cg_tensor *t) { return t && t->autograd ? t->autograd->g.grad : NULL; }

void cg_zero_grad(cg_tensor *t) {
    cg_grad_slot *m = t && t->autograd ? &t->autograd->g : NULL;
    if (!m || !m->grad) return;
    cg_tensor *g = m->grad;
    if (!m->grad_dense && m->rows && cg_is_contiguous(g)) {
        /* only the rows the embedding backward touched can be nonzero */
        size_t row = (size_t)(cg_numel(g) / g->shape[0]) * cg_dtype_size(g->dtype);
        for (int64_t k = 0; k < m->n_rows; k++) {
            memset((char *)cg_data(g) + (size_t)m->rows[k] * row, 0, row);
            m->row_seen[m->rows[k]] = 0;
        }
        g->storage->version++;
    } else {
        cg_k_fill_(g, 0);
        if (m->row_seen) memset(m->row_seen, 0, (size_t)g->shape[0]);
    }
    m->n_rows = 0;
    m->grad_dense = false;
}

void cg_clear_grad(cg_tensor *t) {
    if (t && t->autograd) {
        cg_grad_slot *m = &t->autograd->g;
        m->grad = NULL;
        m->n_rows = 0;
        m->grad_dense = false;
        if (m->row_seen) memset(m->row_seen, 0, (size_t)t->shape[0]);
    }
}

const int64_t *cg_grad_rows(const cg_tensor *t, int64_t *n) {
    const cg_grad_slot *m = t && t->autograd ? &t->autograd->g : NULL;
    if (!m || !m->grad || m->grad_dense || !m->rows) return NULL;
    if (n) *n = m->n_rows;
    return m->rows;
}

/* ------------------------------------------------------ gradient sinks */

cg_grad_sink *cg_grad_sink_new(void) {
    cg_grad_sink *s = cg_scope_alloc(sizeof *s, true);
    if (s) s->scope = cg_scope_current();
    return s;
}

cg_grad_sink *cg_grad_sink_set(cg_grad_sink *s) {
    if (cg__bw) {
        cg_set_error(CG_ERR_STATE, "cg_grad_sink_set: called from inside a backward (a hook or an op)");
        return t_sink;
    }
    cg_grad_sink *old = t_sink;
    t_sink = s;
    return old;
}

cg_tensor *cg_grad_sink_grad(cg_grad_sink *s, const cg_tensor *t) {
    for (sink_entry *e = s ? s->head : NULL; e; e = e->next)
        if (e->leaf == t) {
            cg__zero_unlisted(&e->s);
            return e->s.grad;
        }
    return NULL;
}

/* dst (a leaf's own slot) += src's listed rows, keeping dst row-sparse if it was. */
static cg_status merge_rows(cg_tensor *t, cg_grad_slot *dst, const cg_grad_slot *src) {
    if (src->n_rows == 0) return CG_OK;
    if (!dst->grad_dense) {
        if (!cg__leaf_grad_zeros(t, dst) || !slot_rows(dst, t->scope, t->shape[0])) return cg_last_status();
        for (int64_t k = 0; k < src->n_rows; k++) {
            int64_t r = src->rows[k];
            if (!dst->row_seen[r]) {
                dst->row_seen[r] = 1;
                dst->rows[dst->n_rows++] = r;
            }
        }
    }
    cg_tensor *idx = cg_from_data(CG_INT64, CG_SHAPE(src->n_rows), src->rows);
    cg_tensor *part = idx ? cg_k_index_select(src->grad, 0, idx) : NULL;
    return part && cg_k_index_add_(dst->grad, 0, idx, part) ? CG_OK : cg_last_status();
}

/* Empty a slot for the next backward, keeping its gradient's bytes: from
 * now on they are unwritten (rows_only with no row listed). */
static void slot_reset(cg_grad_slot *m) {
    if (!m->grad) return;
    for (int64_t k = 0; k < m->n_rows; k++) m->row_seen[m->rows[k]] = 0; /* (every seen row is listed) */
    m->n_rows = 0;
    m->grad_dense = false;
    m->rows_only = true;
}

cg_status cg_grad_sink_clear(cg_grad_sink *s) {
    if (!s) return cg_set_error(CG_ERR_NULL, "cg_grad_sink_clear: sink is NULL");
    if (cg__bw) return cg_set_error(CG_ERR_STATE, "cg_grad_sink_clear: called from inside a backward (a hook or an op)");
    for (sink_entry *e = s->head; e; e = e->next) slot_reset(&e->s);
    return CG_OK;
}

cg_status cg_grad_sink_merge(cg_grad_sink *s) {
    if (!s) return cg_set_error(CG_ERR_NULL, "cg_grad_sink_merge: sink is NULL");
    if (cg__bw) return cg_set_error(CG_ERR_STATE, "cg_grad_sink_merge: called from inside a backward (a hook or an op)");
    cg_grad_sink *own = t_sink; /* the leaves' own slots, whatever sink this thread has set */
    t_sink = NULL;
    cg_status st = CG_OK;
    for (sink_entry *e = s->head; e; e = e->next) { /* (after an error the rest are emptied) */
        cg_grad_slot *src = &e->s;
        bool written = src->grad && !(src->rows_only && src->n_rows == 0);
        if (written && st == CG_OK)
            st = src->grad_dense || !src->rows_only ? cg__add_to_grad(e->leaf, src->grad)
                                                    : merge_rows(e->leaf, &e->leaf->autograd->g, src);
        slot_reset(src);
    }
    t_sink = own;
    return st;
}
