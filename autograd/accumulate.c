/* Where a gradient goes. A backward hands back each input's gradient as a
 * cg_grad_in (a tensor, rows of an index_select, values placed in a slice, a
 * product, ...) and this file adds it where it belongs:
 *  - a leaf's .grad, or the thread's gradient sink (grad_slots.c), kept
 *    row-sparse while only embedding rows have been written;
 *  - a non-leaf's pending gradient, adopted by reference when it is the
 *    first and added into in place once this backward owns it;
 *  - a select's slice of its source's gradient: the gradient made by the
 *    selects along one dim is not zeroed first, each index is copied into
 *    on its first write (and an op that writes a slice's whole gradient may
 *    write it there directly: cg__offer_into);
 *  - a weight-gradient product runs into the gradient (beta = 1), a node's
 *    two side by side when they are big enough (cg_k_gemm_many_).
 * Anomaly mode makes every gradient a plain tensor, checks it, and adds it. */
#include "autograd_internal.h"

/* ------------------------------------------------------ pending gradients */

static bool direct_leaf(const struct cg_autograd_meta *m) { return !m->node && !m->hooks; }

/* Put t on the running backward's pending list. */
static void mark_pending(struct cg_autograd_meta *m, cg_tensor *t) {
    m->next_pending = cg__bw->pending_list;
    cg__bw->pending_list = t;
    if (m->node) {
        cg__bw->open++;
        m->node->n_pending++; /* the tape walk reads this, not every output's metadata */
    }
}

cg_status cg__settle(struct cg_autograd_meta *m) {
    if (!m->fresh) return CG_OK;
    uint8_t *fresh = m->fresh;
    m->fresh = NULL;
    for (int64_t k = 0; k < m->pending->shape[m->fresh_dim]; k++)
        if (!fresh[k] && !cg_k_fill_(cg_k_select(m->pending, m->fresh_dim, k), 0)) return cg_last_status();
    return CG_OK;
}

/* t's gradient made by selects along dim d, started (unwritten) if it is
 * not there yet and t is not a plain leaf; false on error. */
static bool start_select_made(cg_tensor *t, struct cg_autograd_meta *m, int d) {
    if (direct_leaf(m) || m->pending || d < 0 || d >= t->ndim || cg_numel(t) == 0) return true;
    if (cg__sink_on() && !m->node) return cg__hooked_leaf_in_sink(t), false;
    m->pending = cg_empty(t->dtype, t->shape, t->ndim);
    m->fresh = m->pending ? cg_scope_alloc((size_t)t->shape[d], true) : NULL;
    if (!m->fresh) return m->pending = NULL, false;
    m->fresh_dim = d;
    m->pending_owned = m->pending_sole = true;
    mark_pending(m, t);
    return true;
}

/* t's whole gradient as a buffer to add into in place (zeros when new):
 * the leaf's .grad (made dense), or a pending gradient this backward owns. */
static cg_tensor *dense_buffer(cg_tensor *t) {
    struct cg_autograd_meta *m = t->autograd;
    if (direct_leaf(m)) {
        cg_grad_slot *g = cg__slot_of(t);
        if (!g) return NULL;
        g->grad_dense = true;
        return cg__leaf_grad_zeros(t, g);
    }
    if (cg__sink_on() && !m->node) return cg__hooked_leaf_in_sink(t), NULL;
    if (!m->pending) {
        m->pending = cg_zeros(t->dtype, t->shape, t->ndim);
        if (!m->pending) return NULL;
        m->pending_owned = m->pending_sole = true;
        mark_pending(m, t);
    } else if (cg__settle(m) != CG_OK) {
        return NULL;
    } else if (!m->pending_owned || !cg_is_contiguous(m->pending)) {
        cg_tensor *c = cg_clone(m->pending);
        if (!c) return NULL;
        if (m->pending_sole) cg_scope_recycle(m->pending);
        m->pending = c;
        m->pending_owned = m->pending_sole = true;
    }
    return m->pending;
}

/* A buffer a product may be added into in place, or NULL when handing a
 * new tensor to cg__accumulate is cheaper (a pending gradient not owned). */
static cg_tensor *inplace_buffer(cg_tensor *t) {
    struct cg_autograd_meta *m = t->autograd;
    if (direct_leaf(m) || (m->pending && m->pending_owned && cg_is_contiguous(m->pending))) return dense_buffer(t);
    return NULL;
}

cg_status cg__accumulate(cg_tensor *t, cg_tensor *g, bool sole) {
    struct cg_autograd_meta *m = t->autograd;
    if (g->dtype != t->dtype)
        return cg_set_error(CG_ERR_DTYPE, "cg_backward: a gradient of dtype %s arrived for a %s tensor %s",
                            cg_dtype_name(g->dtype), cg_dtype_name(t->dtype), cg_shape_str(t));
    if (!cg_same_shape(g, t)) {
        cg_tensor *r = cg_k_sum_to(g, t->shape, t->ndim);
        if (!r)
            return cg_set_error(CG_ERR_SHAPE, "cg_backward: a gradient of shape %s does not reduce to its tensor's shape %s",
                                cg_shape_str(g), cg_shape_str(t));
        if (r->storage != g->storage) { /* a new sum: g is read */
            if (sole) cg_scope_recycle(g);
            sole = true;
        }
        g = r;
    }
    if (direct_leaf(m)) {
        cg_status st = cg__add_to_grad(t, g);
        if (st == CG_OK && sole) cg_scope_recycle(g);
        return st;
    }
    if (cg__sink_on() && !m->node) return cg__hooked_leaf_in_sink(t);
    if (cg__settle(m) != CG_OK) return cg_last_status();
    if (!m->pending) {
        m->pending = g;
        m->pending_owned = m->pending_sole = sole;
        mark_pending(m, t);
        return CG_OK;
    }
    if (m->pending_owned && cg_is_contiguous(m->pending)) {
        if (!cg_k_binary_(CG_ADD, m->pending, g)) return cg_last_status();
        if (sole) cg_scope_recycle(g);
        return CG_OK;
    }
    cg_tensor *sum = cg_k_binary(CG_ADD, m->pending, g);
    if (!sum) return cg_last_status();
    if (sole) cg_scope_recycle(g);
    if (m->pending_sole) cg_scope_recycle(m->pending);
    m->pending = sum;
    m->pending_owned = m->pending_sole = true;
    return CG_OK;
}

/* --------------------------------------------------- one node's gradients */

/* The gradient a part describes, made whole: for anomaly mode, which checks
 * each gradient and keeps every one where it was made. */
static cg_tensor *materialize(const cg_tensor *t, const cg_grad_in *p) {
    if (p->form == CG_GRAD_TENSOR) return p->t;
    if (p->form == CG_GRAD_PRODUCT) {
        cg_tensor *r = cg_k_matmul(p->a, p->b);
        return r && p->alpha != 1.0 ? cg_k_scalar_(CG_MUL, r, p->alpha) : r;
    }
    if (p->form == CG_GRAD_WRITTEN) return p->into;
    cg_tensor *z = cg_zeros(t->dtype, t->shape, t->ndim);
    if (!z) return NULL;
    switch (p->form) {
    case CG_GRAD_ROWS: return cg_k_index_add_(z, p->axis, p->index, p->t);
    case CG_GRAD_SCATTER: return cg_k_scatter_add_(z, p->axis, p->index, p->t);
    default: { /* CG_GRAD_PLACED */
        int d = p->axis < 0 ? p->axis + z->ndim : p->axis;
        int64_t len = p->squeezed ? 1 : p->t->shape[d];
        if (len == 0) return z;
        cg_tensor *v = p->squeezed ? cg_k_select(z, d, p->start)
                                   : cg_k_slice(z, d, p->start, p->start + p->step * (len - 1) + 1, p->step);
        return v && cg_k_copy_(v, p->t) ? z : NULL;
    }
    }
}

/* Values placed along an axis (select, slice, chunk and split pieces). A
 * select's slice of a gradient that only selects along this dim have
 * written is copied into if unwritten, else added to; otherwise the values
 * are added into the whole gradient's region. */
static cg_status add_placed(cg_tensor *t, const cg_grad_in *p) {
    struct cg_autograd_meta *m = t->autograd;
    int d = p->axis < 0 ? p->axis + t->ndim : p->axis;
    if (p->squeezed) {
        int64_t index = d >= 0 && d < t->ndim && p->start < 0 ? p->start + t->shape[d] : p->start;
        if (!start_select_made(t, m, d)) return cg_last_status();
        if (m->fresh && m->fresh_dim == d && index >= 0 && index < t->shape[d]) {
            cg_tensor *r = cg_k_select(m->pending, d, index);
            bool first = !m->fresh[index];
            m->fresh[index] = 1;
            if (!r || !(first ? cg_k_copy_(r, p->t) : cg_k_binary_(CG_ADD, r, p->t))) return cg_last_status();
            return CG_OK;
        }
        cg_tensor *buf = dense_buffer(t);
        cg_tensor *r = buf ? cg_k_select(buf, p->axis, p->start) : NULL;
        return r && cg_k_binary_(CG_ADD, r, p->t) ? CG_OK : cg_last_status();
    }
    int64_t len = d >= 0 && d < p->t->ndim ? p->t->shape[d] : 0;
    if (len == 0) return CG_OK;
    cg_tensor *buf = dense_buffer(t);
    cg_tensor *r = buf ? cg_k_slice(buf, d, p->start, p->start + p->step * (len - 1) + 1, p->step) : NULL;
    return r && cg_k_binary_(CG_ADD, r, p->t) ? CG_OK : cg_last_status();
}

/* The part written into `into`: its place in the select's source is written. */
static cg_status mark_written(cg_tensor *t) {
    int dim;
    int64_t index;
    cg_node *sel = t->autograd->node;
    if (!sel || !cg__select_params(sel, &dim, &index))
        return cg_set_error(CG_ERR_STATE, "cg_backward: a gradient was written into a place the engine did not offer");
    cg_tensor *src = sel->in[0];
    struct cg_autograd_meta *ms = src->autograd;
    int d = dim < 0 ? dim + src->ndim : dim;
    if (index < 0) index += src->shape[d];
    ms->fresh[index] = 1;
    return CG_OK;
}

/* Does a tensor an op handed back hold bytes nothing else does: made
 * during its backward (after serial `mark`), whole, and not shared with
 * another of its gradients? Only the built-in ops are taken at their word. */
static bool handed_sole(const cg_node *n, const cg_grad_in *gin, const cg_grad_in *p, uint64_t mark) {
    const cg_tensor *g = p->t;
    if (!cg__builtin_op(n->op) || g->storage->serial <= mark || g->offset != 0 || !cg_is_contiguous(g) ||
        (size_t)cg_numel(g) * cg_dtype_size(g->dtype) != g->storage->nbytes)
        return false;
    for (int k = 0; k < n->n_in; k++)
        for (const cg_grad_in *q = &gin[k]; q; q = q->next)
            if (q != p && n->needs_grad[k] && q->t && q->t->storage == g->storage) return false;
    return true;
}

static cg_status anomaly_check(const cg_node *n, int i, const cg_tensor *g) {
    if (g && cg_k_has_nonfinite(g))
        return cg_set_error(CG_ERR_NUMERIC,
                            "anomaly: the backward of '%s' produced NaN or Inf in the gradient of input %d (shape %s)",
                            n->op->name, i, cg_shape_str(n->in[i]));
    return CG_OK;
}

cg_status cg__accumulate_node(cg_node *n, cg_grad_in *gin, uint64_t mark) {
    cg_status st = CG_OK;
    if (cg__bw->anomaly) { /* each gradient whole, checked, added */
        for (int i = 0; i < n->n_in && st == CG_OK; i++)
            for (cg_grad_in *p = &gin[i]; p && n->needs_grad[i] && st == CG_OK; p = p->next) {
                if (p->form == CG_GRAD_TENSOR && !p->t) continue;
                cg_tensor *g = materialize(n->in[i], p);
                st = g ? anomaly_check(n, i, g) : cg_last_status();
                if (st == CG_OK) st = cg__accumulate(n->in[i], g, false);
            }
        return st;
    }
    /* products first, a node's two side by side: into a buffer (beta 1),
     * or into a new tensor added after they have run */
    cg_gemm_job jobs[2 * CG_FUSED_MAX_INPUTS];
    cg_grad_in *made[2 * CG_FUSED_MAX_INPUTS];
    int nj = 0, nm = 0;
    for (int i = 0; i < n->n_in; i++)
        for (cg_grad_in *p = &gin[i]; p && n->needs_grad[i]; p = p->next) {
            if (p->form != CG_GRAD_PRODUCT) continue;
            if (!p->a || !p->b) return cg_last_status();
            if (nj == (int)(sizeof jobs / sizeof jobs[0])) { /* (more than any built-in op makes) */
                if (!cg_k_gemm_many_(jobs, nj)) return cg_last_status();
                nj = 0;
            }
            cg_tensor *buf = inplace_buffer(n->in[i]);
            if (buf && buf->ndim == 2) {
                jobs[nj++] = (cg_gemm_job){buf, p->a, p->b, p->alpha, 1.0};
                *p = (cg_grad_in){.next = p->next};
                continue;
            }
            cg_tensor *r = cg_empty(p->a->dtype, CG_SHAPE(p->a->shape[0], p->b->shape[1]));
            if (!r) return cg_last_status();
            jobs[nj++] = (cg_gemm_job){r, p->a, p->b, p->alpha, 0.0};
            p->t = r;
            made[nm++] = p;
        }
    if (nj && !cg_k_gemm_many_(jobs, nj)) return cg_last_status();
    for (int k = 0; k < nm; k++) made[k]->form = CG_GRAD_TENSOR;
    /* then parts that add into a buffer, then tensors, input by input */
    for (int pass = 0; pass < 2 && st == CG_OK; pass++)
        for (int i = 0; i < n->n_in && st == CG_OK; i++)
            for (cg_grad_in *p = &gin[i]; p && n->needs_grad[i] && st == CG_OK; p = p->next) {
                cg_tensor *t = n->in[i];
                bool tensor = p->form == CG_GRAD_TENSOR;
                if (tensor != (pass == 1)) continue;
                switch (p->form) {
                case CG_GRAD_TENSOR:
                    if (p->t) st = cg__accumulate(t, p->t, handed_sole(n, gin, p, mark));
                    break;
                case CG_GRAD_ROWS: {
                    int a = p->axis < 0 ? p->axis + t->ndim : p->axis;
                    cg_tensor *buf = a == 0 && direct_leaf(t->autograd) ? cg__leaf_grad_rows(t, p->index) : dense_buffer(t);
                    st = buf && cg_k_index_add_(buf, p->axis, p->index, p->t) ? CG_OK : cg_last_status();
                    break;
                }
                case CG_GRAD_SCATTER: {
                    cg_tensor *buf = dense_buffer(t);
                    st = buf && cg_k_scatter_add_(buf, p->axis, p->index, p->t) ? CG_OK : cg_last_status();
                    break;
                }
                case CG_GRAD_PLACED: st = add_placed(t, p); break;
                case CG_GRAD_WRITTEN: st = p->into ? mark_written(t) : cg_set_error(CG_ERR_STATE, "cg_backward: the backward of '%s' says it wrote input %d's gradient in place, but no place was offered", n->op->name, i); break;
                case CG_GRAD_PRODUCT: break;
                }
            }
    return st;
}

void cg__offer_into(cg_node *n, cg_grad_in *gin) {
    if (cg__bw->anomaly) return; /* every gradient stays where it was made */
    for (int i = 0; i < n->n_in; i++) {
        /* a slice that nothing else has given a gradient to, hooked or kept
         * by nobody, whose select has not run */
        struct cg_autograd_meta *m = n->in[i]->autograd;
        int dim;
        int64_t index;
        if (!n->needs_grad[i] || !m || m->pending || m->hooks || m->retain || !m->node || m->node->freed ||
            !cg__select_params(m->node, &dim, &index))
            continue;
        cg_tensor *src = m->node->in[0];
        struct cg_autograd_meta *ms = src->autograd;
        if (!ms || !m->node->needs_grad[0]) continue;
        int d = dim < 0 ? dim + src->ndim : dim;
        if (d < 0 || d >= src->ndim) continue;
        if (index < 0) index += src->shape[d];
        if (!start_select_made(src, ms, d)) {
            cg_clear_error();
            continue;
        }
        /* its place in the source's gradient must be unwritten: it is set, not added to */
        if (!ms->fresh || ms->fresh_dim != d || index < 0 || index >= src->shape[d] || ms->fresh[index]) continue;
        gin[i].into = cg_k_select(ms->pending, d, index);
    }
}

/* ----------------------------------------------------------- the end */

cg_tensor *cg__run_leaf_hooks(cg_tensor *t, cg_tensor *g);

cg_status cg__finish(cg_bw *bw, cg_status st) {
    for (cg_tensor *t = bw->pending_list, *next; t; t = next) {
        struct cg_autograd_meta *m = t->autograd;
        next = m->next_pending;
        m->next_pending = NULL;
        if (st == CG_OK && !m->node) st = cg__settle(m); /* a non-leaf's leftover is dropped unread */
        m->fresh = NULL;
        cg_tensor *g = m->pending;
        m->pending = NULL;
        m->pending_sole = false;
        if (m->node) m->node->n_pending = 0;
        if (st != CG_OK || !g || m->node) continue;
        g = cg__run_leaf_hooks(t, g);
        st = g ? cg__add_to_grad(t, g) : cg_last_status();
    }
    return st;
}
