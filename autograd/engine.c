/* The tape, op application, backward, hooks, modes and DOT export. */
#include "autograd_internal.h"

#include <stdlib.h>

static _Thread_local cg_node *t_tape;       /* last node recorded on this thread */
static _Thread_local uint64_t t_seq;
static _Thread_local bool t_no_grad;        /* grad mode is on by default */
static _Thread_local bool t_anomaly;
static _Thread_local uint32_t t_mark_epoch;
static bool g_hooks_installed;

/* A leaf's weight-gradient products alpha * a @ b, gathered while they are
 * in cache: the rows of a^T and of b are appended to two buffers, and each
 * run of rows worth DEFER_SEND_FLOPS is held back as one GEMM
 * (cg_k_gemm_async_) that the next step's product takes along on the
 * second thread. The leaf's gradient is off limits until the held products
 * have run (drain). */
typedef struct deferred {
    cg_tensor *leaf;
    cg_grad_slot *slot; /* where its gradient is summed */
    double alpha;
    int64_t cap, used, sent; /* rows of the buffers: all, filled, sent */
    cg_tensor *at, *b;       /* [cap, M] and [cap, N] */
    struct deferred *next;
} deferred;

#define DEFER_SEND_FLOPS 1.0e6

/* Backward state of the running backward on this thread. */
typedef struct {
    cg_tensor *pending_list; /* tensors with a pending gradient */
    int64_t open;            /* non-leaf pending gradients not yet consumed */
    deferred *deferred;      /* leaves with GEMM products still to add */
    bool queued;             /* products sent and perhaps still held back */
} bw_state;
static _Thread_local bw_state *t_bw;

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

/* ----------------------------------------------------- scope integration */

static void on_scope_begin(cg_scope *s, uintptr_t *slot) {
    (void)s;
    *slot = (uintptr_t)t_tape;
}
static void on_scope_end(cg_scope *s, uintptr_t *slot) {
    (void)s;
    t_tape = (cg_node *)*slot;
}
static void install_hooks(void) {
    if (!g_hooks_installed) {
        g_hooks_installed = true;
        cg_scope_set_hooks(on_scope_begin, on_scope_end);
    }
}

/* ---------------------------------------------------------------- meta */

struct cg_autograd_meta *cg__meta(cg_tensor *t) {
    if (!t->autograd) {
        struct cg_autograd_meta *m = cg_arena_alloc(t->scope, sizeof *m, true);
        if (!m) return NULL;
        t->autograd = m;
    }
    return t->autograd;
}

static bool float_dtype(const cg_tensor *t) { return cg_dtype_is_float(t->dtype); }

cg_tensor *cg_requires_grad_(cg_tensor *t, bool on) {
    if (!t) return cg_last_status() == CG_OK ? (cg_set_error(CG_ERR_NULL, "cg_requires_grad_: tensor is NULL"), NULL) : NULL;
    install_hooks();
    if (on && !float_dtype(t)) {
        cg_set_error(CG_ERR_DTYPE, "cg_requires_grad_: a %s tensor %s cannot carry gradients; only float32/float64 can",
                     cg_dtype_name(t->dtype), cg_shape_str(t));
        return NULL;
    }
    if (t->autograd && t->autograd->node) {
        cg_set_error(CG_ERR_STATE,
                     "cg_requires_grad_: %s is the result of an op, not a leaf; use cg_detach() to make a leaf",
                     cg_shape_str(t));
        return NULL;
    }
    if (!on && !t->autograd) return t;
    struct cg_autograd_meta *m = cg__meta(t);
    if (!m) return NULL;
    m->requires_grad = on;
    return t;
}

bool cg_requires_grad(const cg_tensor *t) { return t && t->autograd && t->autograd->requires_grad; }
bool cg_is_leaf(const cg_tensor *t) { return t && (!t->autograd || !t->autograd->node); }
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

cg_status cg_retain_grad(cg_tensor *t) {
    if (!t) return cg_set_error(CG_ERR_NULL, "cg_retain_grad: tensor is NULL");
    if (!cg_requires_grad(t))
        return cg_set_error(CG_ERR_STATE, "cg_retain_grad: %s does not require grad", cg_shape_str(t));
    t->autograd->retain = true;
    return CG_OK;
}

cg_tensor *cg_detach(cg_tensor *t) {
    if (!t) return cg__ag_null("cg_detach");
    return cg_k_view(t, t->shape, t->ndim);
}

cg_status cg_set_name(cg_tensor *t, const char *name) {
    if (!t || !name) return cg_set_error(CG_ERR_NULL, "cg_set_name: NULL argument");
    struct cg_autograd_meta *m = cg__meta(t);
    if (!m) return cg_last_status();
    size_t n = strlen(name) + 1;
    char *copy = cg_arena_alloc(t->scope, n, false);
    if (!copy) return cg_last_status();
    memcpy(copy, name, n);
    m->name = copy;
    return CG_OK;
}

const char *cg_name(const cg_tensor *t) { return t && t->autograd ? t->autograd->name : NULL; }

cg_status cg_register_hook(cg_tensor *t, cg_grad_hook fn, void *user) {
    if (!t || !fn) return cg_set_error(CG_ERR_NULL, "cg_register_hook: NULL argument");
    if (!cg_requires_grad(t))
        return cg_set_error(CG_ERR_STATE, "cg_register_hook: %s does not require grad, so it gets no gradient",
                            cg_shape_str(t));
    cg_hook_entry *h = cg_arena_alloc(t->scope, sizeof *h, true);
    if (!h) return cg_last_status();
    h->fn = fn;
    h->user = user;
    /* keep registration order */
    cg_hook_entry **pp = &t->autograd->hooks;
    while (*pp) pp = &(*pp)->next;
    *pp = h;
    return CG_OK;
}

/* --------------------------------------------------------------- modes */

bool cg_grad_enabled(void) { return !t_no_grad; }
bool cg_set_grad_enabled(bool on) {
    bool prev = !t_no_grad;
    t_no_grad = !on;
    return prev;
}
void cg_set_anomaly_mode(bool on) { t_anomaly = on; }
bool cg_anomaly_mode(void) { return t_anomaly; }

/* ------------------------------------------------------------ node API */

const void *cg_node_params(const cg_node *n) { return n->params; }
const cg_op *cg_node_op(const cg_node *n) { return n->op; }
int cg_node_n_inputs(const cg_node *n) { return n->n_in; }
cg_tensor *cg_node_input(const cg_node *n, int i) { return i >= 0 && i < n->n_in ? n->in[i] : NULL; }
cg_tensor *cg_node_output(const cg_node *n, int i) { return i >= 0 && i < n->n_out ? n->out[i] : NULL; }

void cg_node_save(cg_node *n, cg_tensor *t) {
    if (!n->recording || !t) return;
    if (n->n_saved == n->cap_saved) {
        int cap = n->cap_saved ? 2 * n->cap_saved : 4;
        cg_tensor **s = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)cap, false);
        uint64_t *v = cg_scope_alloc(sizeof(uint64_t) * (size_t)cap, false);
        if (!s || !v) return;
        if (n->n_saved) {
            memcpy(s, n->saved, sizeof(cg_tensor *) * (size_t)n->n_saved);
            memcpy(v, n->saved_ver, sizeof(uint64_t) * (size_t)n->n_saved);
        }
        n->saved = s;
        n->saved_ver = v;
        n->cap_saved = cap;
    }
    n->saved[n->n_saved] = t;
    n->saved_ver[n->n_saved++] = t->storage->version;
}

cg_tensor *cg_node_saved(const cg_node *n, int i) { return i >= 0 && i < n->n_saved ? n->saved[i] : NULL; }

static bool builtin_op(const cg_op *op);

/* Put t on the running backward's pending list. */
static void mark_pending(struct cg_autograd_meta *m, cg_tensor *t) {
    m->next_pending = t_bw->pending_list;
    t_bw->pending_list = t;
    if (m->node) {
        t_bw->open++;
        m->node->n_pending++; /* the tape walk reads this, not every output's metadata */
    }
}

static bool direct_leaf(const struct cg_autograd_meta *m) { return !m->node && !m->hooks; }

static bool slot_rows(cg_grad_slot *m, cg_scope *s, int64_t nrows);

/* Where t's gradient is summed: its own slot, or for a leaf the entry of
 * this thread's sink (made on first use); NULL on error. */
static cg_grad_slot *slot_of(cg_tensor *t) {
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

/* A leaf with hooks sums its gradient in its own metadata, which threads
 * running backward side by side would share. */
static cg_status hooked_leaf_in_sink(const cg_tensor *t) {
    return cg_set_error(CG_ERR_STATE,
                        "cg_backward: the leaf %s has a gradient hook, and a gradient sink is set on this thread "
                        "(a data-parallel step): hooks on leaves run only in a plain backward",
                        cg_shape_str(t));
}

/* A row-sparse gradient in a sink is made without zeroing the whole table
 * (a step's batch touches a few rows of an embedding): its listed rows are
 * zeroed as they are listed, the rest here, once it is needed whole. */
static void zero_unlisted(cg_grad_slot *m) {
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

/* The leaf's gradient, created as zeros (in grad_scope) if missing. */
static void drain(bw_state *bw);
static cg_tensor *leaf_grad_zeros(cg_tensor *t, cg_grad_slot *m) {
    if (m->gemm_queued) drain(t_bw);
    zero_unlisted(m);
    if (!m->grad) {
        cg_scope *old = cg_scope_redirect(grad_scope(t));
        m->grad = cg_zeros(t->dtype, t->shape, t->ndim);
        cg_scope_redirect(old);
    }
    return m->grad;
}

/* Make the row bookkeeping of a leaf's row-sparse gradient; false on error. */
static bool slot_rows(cg_grad_slot *m, cg_scope *s, int64_t nrows) {
    if (m->rows) return true;
    m->rows = cg_arena_alloc(s, sizeof(int64_t) * (size_t)nrows, false);
    m->row_seen = cg_arena_alloc(s, (size_t)nrows, true);
    m->rows_cap = nrows;
    return m->rows && m->row_seen;
}

cg_tensor *cg__grad_buffer_rows(cg_node *n, int i, const cg_tensor *idx) {
    cg_tensor *t = n->in[i];
    if (!t_bw || !direct_leaf(t->autograd) || t->ndim < 1) return cg_node_grad_buffer(n, i);
    cg_grad_slot *m = slot_of(t);
    if (!m) return NULL;
    if (m->grad_dense) return cg_node_grad_buffer(n, i);
    /* not dense: the gradient is absent or zero outside the rows listed */
    if (!slot_rows(m, grad_scope(t), t->shape[0])) return NULL;
    if (m->gemm_queued) drain(t_bw);
    if (t_sink && !m->grad) {
        cg_scope *old = cg_scope_redirect(t_sink->scope);
        m->grad = cg_empty(t->dtype, t->shape, t->ndim);
        cg_scope_redirect(old);
        m->rows_only = m->grad != NULL;
    }
    if (!m->rows_only && !leaf_grad_zeros(t, m)) return NULL;
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

/* Zero the indices of a select-made gradient that no select wrote: from
 * here on it is an ordinary gradient. */
static cg_status settle(struct cg_autograd_meta *m) {
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
    if (t_sink && !m->node) return hooked_leaf_in_sink(t), false;
    m->pending = cg_empty(t->dtype, t->shape, t->ndim);
    m->fresh = m->pending ? cg_scope_alloc((size_t)t->shape[d], true) : NULL;
    if (!m->fresh) return m->pending = NULL, false;
    m->fresh_dim = d;
    m->pending_owned = m->pending_sole = true;
    mark_pending(m, t);
    return true;
}

cg_status cg__grad_select_add(cg_node *n, int i, int dim, int64_t index, const cg_tensor *g) {
    if (!t_bw || i < 0 || i >= n->n_in)
        return cg_set_error(CG_ERR_STATE, "cg__grad_select_add: only valid inside a backward callback");
    cg_tensor *t = n->in[i];
    struct cg_autograd_meta *m = t->autograd;
    int d = dim < 0 ? dim + t->ndim : dim;
    if (d >= 0 && d < t->ndim && index < 0) index += t->shape[d];
    if (!start_select_made(t, m, d)) return cg_last_status();
    if (m->fresh && m->fresh_dim == d && index >= 0 && index < t->shape[d]) {
        cg_tensor *r = cg_k_select(m->pending, d, index);
        bool first = !m->fresh[index];
        m->fresh[index] = 1;
        if (!r || !(first ? cg_k_copy_(r, g) : cg_k_binary_(CG_ADD, r, g))) return cg_last_status();
        return CG_OK;
    }
    cg_tensor *buf = cg_node_grad_buffer(n, i);
    cg_tensor *r = buf ? cg_k_select(buf, dim, index) : NULL;
    return r && cg_k_binary_(CG_ADD, r, g) ? CG_OK : cg_last_status();
}

cg_tensor *cg_node_grad_target(cg_node *n, int i) {
    if (!t_bw || !n || i < 0 || i >= n->n_in) {
        cg_set_error(CG_ERR_STATE, "cg_node_grad_target: only valid inside a backward callback");
        return NULL;
    }
    /* a slice that nothing else has given a gradient to, hooked or kept by
     * nobody, whose select has not run (anomaly mode checks every op's
     * gradient, so there the select copies as usual) */
    struct cg_autograd_meta *m = n->in[i]->autograd;
    int dim;
    int64_t index;
    if (t_anomaly || !m || m->pending || m->hooks || m->retain || !m->node || m->node->freed ||
        !cg__select_params(m->node, &dim, &index))
        return NULL;
    cg_tensor *src = m->node->in[0];
    struct cg_autograd_meta *ms = src->autograd;
    if (!ms || !m->node->needs_grad[0]) return NULL;
    int d = dim < 0 ? dim + src->ndim : dim;
    if (d < 0 || d >= src->ndim) return NULL;
    if (index < 0) index += src->shape[d];
    if (!start_select_made(src, ms, d)) return NULL;
    /* its place in the source's gradient must be unwritten: it is set, not added to */
    if (!ms->fresh || ms->fresh_dim != d || index < 0 || index >= src->shape[d] || ms->fresh[index]) return NULL;
    cg_tensor *r = cg_k_select(ms->pending, d, index);
    if (r) ms->fresh[index] = 1;
    return r;
}

cg_tensor *cg_node_grad_buffer(cg_node *n, int i) {
    if (!t_bw || i < 0 || i >= n->n_in) {
        cg_set_error(CG_ERR_STATE, "cg_node_grad_buffer: only valid inside a backward callback");
        return NULL;
    }
    cg_tensor *t = n->in[i];
    struct cg_autograd_meta *m = t->autograd;
    if (direct_leaf(m)) {
        cg_grad_slot *g = slot_of(t);
        if (!g) return NULL;
        g->grad_dense = true;
        return leaf_grad_zeros(t, g);
    }
    if (t_sink && !m->node) return hooked_leaf_in_sink(t), NULL;
    if (!m->pending) {
        m->pending = cg_zeros(t->dtype, t->shape, t->ndim);
        if (!m->pending) return NULL;
        m->pending_owned = true;
        m->pending_sole = builtin_op(n->op);
        mark_pending(m, t);
    } else if (settle(m) != CG_OK) {
        return NULL;
    } else if (!m->pending_owned || !cg_is_contiguous(m->pending)) {
        cg_tensor *c = cg_clone(m->pending);
        if (!c) return NULL;
        if (m->pending_sole) cg_scope_recycle(m->pending);
        m->pending = c;
        m->pending_owned = true;
        m->pending_sole = builtin_op(n->op);
    } else if (!builtin_op(n->op)) {
        m->pending_sole = false; /* an op of the user's may keep what it is handed */
    }
    return m->pending;
}

/* Add g into t's .grad (allocated in t's own arena the first time). */
static cg_status add_to_grad(cg_tensor *t, cg_tensor *g) {
    cg_grad_slot *m = slot_of(t);
    if (!m) return cg_last_status();
    if (m->gemm_queued) drain(t_bw);
    zero_unlisted(m);
    m->grad_dense = true;
    if (!m->grad) {
        cg_scope *old = cg_scope_redirect(grad_scope(t));
        m->grad = cg_clone(g);
        cg_scope_redirect(old);
        return m->grad ? CG_OK : cg_last_status();
    }
    return cg_k_binary_(CG_ADD, m->grad, g) ? CG_OK : cg_last_status();
}

cg_tensor *cg__grad_inplace_target(cg_node *n, int i) {
    struct cg_autograd_meta *m = n->in[i]->autograd;
    if (!t_bw || !m) return NULL;
    if (direct_leaf(m) || (m->pending && m->pending_owned && cg_is_contiguous(m->pending)))
        return cg_node_grad_buffer(n, i);
    return NULL;
}

/* Run what is held: every product sent is in its gradient. */
static void drain(bw_state *bw) {
    if (!bw || !bw->queued) return;
    cg_k_gemm_sync();
    bw->queued = false;
    for (deferred *d = bw->deferred; d; d = d->next) d->slot->gemm_queued = false;
}

/* Hold back grad += alpha * at[sent:used]^T @ b[sent:used]. */
static cg_status send_deferred(deferred *d) {
    if (d->used == d->sent) return CG_OK;
    cg_grad_slot *m = d->slot;
    m->grad_dense = true;
    /* a gradient with products held is only added to by more of them here */
    zero_unlisted(m);
    cg_tensor *g = m->grad ? m->grad : leaf_grad_zeros(d->leaf, m);
    cg_tensor *at = cg_k_slice(d->at, 0, d->sent, d->used, 1), *b = cg_k_slice(d->b, 0, d->sent, d->used, 1);
    if (!g || !at || !b || !cg_k_gemm_async_(g, cg_k_transpose(at, 0, 1), b, d->alpha)) return cg_last_status();
    d->sent = d->used;
    m->gemm_queued = true;
    t_bw->queued = true;
    return CG_OK;
}

bool cg__defer_gemm_grad(cg_node *n, int i, const cg_tensor *a, const cg_tensor *b, double alpha) {
    cg_tensor *t = n->in[i];
    struct cg_autograd_meta *m = t->autograd;
    if (!t_bw || t_anomaly || !m || !direct_leaf(m) || t->ndim != 2 || a->ndim != 2 || b->ndim != 2 ||
        a->dtype != t->dtype || b->dtype != t->dtype || a->shape[0] != t->shape[0] || b->shape[1] != t->shape[1])
        return false;
    /* only products small enough to run on one thread: larger ones already
     * run efficiently (and side by side with the other operand's) */
    int64_t M = t->shape[0], N = t->shape[1], K = a->shape[1];
    if (2.0 * (double)M * (double)K * (double)N >= CG_GEMM_THREADED_FLOPS) return false;
    deferred *d = t_bw->deferred;
    while (d && !(d->leaf == t && d->alpha == alpha)) d = d->next;
    if (!d) {
        if (!(d = cg_scope_alloc(sizeof *d, true))) return false;
        if (!(d->slot = slot_of(t))) return false;
        int64_t cap = ((int64_t)1 << 18) / (M + N); /* about 1 MiB of float32 */
        d->cap = cap > 4 * K ? cap : 4 * K;
        d->at = cg_empty(t->dtype, CG_SHAPE(d->cap, M));
        d->b = cg_empty(t->dtype, CG_SHAPE(d->cap, N));
        if (!d->at || !d->b) return false;
        d->leaf = t;
        d->alpha = alpha;
        d->next = t_bw->deferred;
        t_bw->deferred = d;
    }
    if (K > d->cap) return false;
    if (d->used + K > d->cap) { /* full: rows are reused once the held products have read them */
        if (send_deferred(d) != CG_OK) return false;
        drain(t_bw);
        d->used = d->sent = 0;
    }
    cg_tensor *ra = cg_k_slice(d->at, 0, d->used, d->used + K, 1), *rb = cg_k_slice(d->b, 0, d->used, d->used + K, 1);
    if (!ra || !rb || !cg_k_copy_(ra, cg_k_transpose(a, 0, 1)) || !cg_k_copy_(rb, b)) return false;
    d->used += K;
    if (2.0 * (double)M * (double)N * (double)(d->used - d->sent) >= DEFER_SEND_FLOPS && send_deferred(d) != CG_OK) {
        d->used -= K; /* not taken: the caller adds this product itself */
        return false;
    }
    return true;
}

/* Sum g into t's gradient. sole: nothing else holds g (a tensor an op's
 * backward made and handed over), so it may become t's pending gradient to
 * add into in place, and its bytes are handed back once they are read. */
static cg_status accumulate(cg_tensor *t, cg_tensor *g, bool sole) {
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
        cg_status st = add_to_grad(t, g);
        if (st == CG_OK && sole) cg_scope_recycle(g);
        return st;
    }
    if (t_sink && !m->node) return hooked_leaf_in_sink(t);
    if (settle(m) != CG_OK) return cg_last_status();
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

cg_status cg__accumulate(cg_tensor *t, cg_tensor *g) { return accumulate(t, g, false); }

/* ------------------------------------------------------ gradient sinks */

cg_grad_sink *cg_grad_sink_new(void) {
    cg_grad_sink *s = cg_scope_alloc(sizeof *s, true);
    if (s) s->scope = cg_scope_current();
    return s;
}

cg_grad_sink *cg_grad_sink_set(cg_grad_sink *s) {
    if (t_bw) {
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
            zero_unlisted(&e->s);
            return e->s.grad;
        }
    return NULL;
}

/* dst (a leaf's own slot) += src's listed rows, keeping dst row-sparse if it was. */
static cg_status merge_rows(cg_tensor *t, cg_grad_slot *dst, const cg_grad_slot *src) {
    if (src->n_rows == 0) return CG_OK;
    if (!dst->grad_dense) {
        if (!leaf_grad_zeros(t, dst) || !slot_rows(dst, t->scope, t->shape[0])) return cg_last_status();
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
    m->grad_dense = m->gemm_queued = false;
    m->rows_only = true;
}

cg_status cg_grad_sink_clear(cg_grad_sink *s) {
    if (!s) return cg_set_error(CG_ERR_NULL, "cg_grad_sink_clear: sink is NULL");
    if (t_bw) return cg_set_error(CG_ERR_STATE, "cg_grad_sink_clear: called from inside a backward (a hook or an op)");
    for (sink_entry *e = s->head; e; e = e->next) slot_reset(&e->s);
    return CG_OK;
}

cg_status cg_grad_sink_merge(cg_grad_sink *s) {
    if (!s) return cg_set_error(CG_ERR_NULL, "cg_grad_sink_merge: sink is NULL");
    if (t_bw) return cg_set_error(CG_ERR_STATE, "cg_grad_sink_merge: called from inside a backward (a hook or an op)");
    cg_grad_sink *own = t_sink; /* the leaves' own slots, whatever sink this thread has set */
    t_sink = NULL;
    cg_status st = CG_OK;
    for (sink_entry *e = s->head; e; e = e->next) { /* (after an error the rest are emptied) */
        cg_grad_slot *src = &e->s;
        bool written = src->grad && !(src->rows_only && src->n_rows == 0);
        if (written && st == CG_OK)
            st = src->grad_dense || !src->rows_only ? add_to_grad(e->leaf, src->grad)
                                                    : merge_rows(e->leaf, &e->leaf->autograd->g, src);
        slot_reset(src);
    }
    t_sink = own;
    return st;
}

/* ----------------------------------------------------------- apply */

void *cg__ag_null(const char *op) {
    if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "%s: input is NULL", op);
    return NULL;
}

int cg_op_apply_multi(const cg_op *op, cg_tensor *const *in, int n_in, const void *params, cg_tensor **out) {
    if (!op) {
        cg_set_error(CG_ERR_NULL, "cg_op_apply: op is NULL");
        return -1;
    }
    if ((op->n_in != CG_OP_VARIADIC && n_in != op->n_in) || n_in < 0 || (n_in > 0 && !in)) {
        cg_set_error(CG_ERR_VALUE, "cg_%s: takes %d inputs, got %d", op->name, op->n_in, n_in);
        return -1;
    }
    bool any_grad = false;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_%s: input %d is NULL", op->name, i);
            return -1;
        }
        if (cg_requires_grad(in[i])) any_grad = true;
    }
    bool record = any_grad && !t_no_grad;
    cg_node local;
    cg_node *node = &local;
    memset(&local, 0, sizeof local);
    local.op = op;
    local.n_in = n_in;
    local.params = params;
    if (record) {
        install_hooks();
        node = cg_scope_alloc(sizeof *node, true);
        cg_tensor **ins = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)(n_in ? n_in : 1), false);
        uint64_t *vers = cg_scope_alloc(sizeof(uint64_t) * (size_t)(n_in ? n_in : 1), false);
        bool *ng = cg_scope_alloc((size_t)(n_in ? n_in : 1), false);
        void *p = op->params_size ? cg_scope_alloc(op->params_size, false) : NULL;
        if (!node || !ins || !vers || !ng || (op->params_size && !p)) return -1;
        node->op = op;
        node->n_in = n_in;
        node->in = ins;
        node->in_ver = vers;
        node->needs_grad = ng;
        node->recording = true;
        if (p) memcpy(p, params, op->params_size);
        node->params = p;
        for (int i = 0; i < n_in; i++) {
            ins[i] = in[i];
            ng[i] = cg_requires_grad(in[i]);
        }
    }
    int n = op->forward(node, in, n_in, out);
    if (n < 0) return -1;
    if (n > CG_MAX_OUTPUTS || (op->n_out > 0 && n > op->n_out)) {
        cg_set_error(CG_ERR_STATE, "cg_%s: forward returned %d outputs", op->name, n);
        return -1;
    }
    for (int j = 0; j < n; j++) {
        if (!out[j]) {
            if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_STATE, "cg_%s: forward returned a NULL output", op->name);
            return -1;
        }
        if (t_anomaly && cg_k_has_nonfinite(out[j])) {
            cg_set_error(CG_ERR_NUMERIC, "anomaly: the forward of '%s' produced NaN or Inf in output %d (shape %s)",
                         op->name, j, cg_shape_str(out[j]));
            return -1;
        }
    }
    if (!record) return n;
    for (int i = 0; i < n_in; i++) node->in_ver[i] = in[i]->storage->version;
    node->n_out = n;
    node->out = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)n, false);
    node->out_ver = cg_scope_alloc(sizeof(uint64_t) * (size_t)n, false);
    if (!node->out || !node->out_ver) return -1;
    for (int j = 0; j < n; j++) {
        cg_tensor *o = out[j];
        /* an output must be its own struct: a forward may hand back an input */
        bool alias = o->autograd != NULL;
        for (int i = 0; i < n_in && !alias; i++) alias = o == in[i];
        if (alias && !(o = cg_k_view(o, o->shape, o->ndim))) return -1;
        struct cg_autograd_meta *m = cg__meta(o);
        if (!m) return -1;
        m->requires_grad = true;
        m->node = node;
        m->out_index = j;
        out[j] = o;
        node->out[j] = o;
        node->out_ver[j] = o->storage->version;
    }
    node->prev = t_tape;
    node->seq = ++t_seq;
    t_tape = node;
    return n;
}

cg_tensor *cg_op_apply(const cg_op *op, cg_tensor *const *in, int n_in, const void *params) {
    cg_tensor *out[CG_MAX_OUTPUTS];
    int n = cg_op_apply_multi(op, in, n_in, params, out);
    return n > 0 ? out[0] : NULL;
}

/* -------------------------------------------------------------- backward */

static cg_tensor *run_hooks(cg_tensor *t, cg_tensor *g) {
    drain(t_bw); /* a hook may read any leaf's gradient */
    for (cg_hook_entry *h = t->autograd->hooks; h && g; h = h->next) {
        cg_tensor *r = h->fn(g, h->user);
        if (r) {
            if (!cg_same_shape(r, g) || r->dtype != g->dtype) {
                cg_set_error(CG_ERR_SHAPE, "cg_backward: a hook on %s returned a gradient of shape %s, expected %s",
                             cg_shape_str(t), cg_shape_str(r), cg_shape_str(g));
                return NULL;
            }
            g = r;
        }
    }
    return g;
}

static cg_status check_versions(const cg_node *n) {
    unsigned mask = n->op->check_versions;
    for (int i = 0; i < n->n_in && i < 31; i++)
        if ((mask & (1u << i)) && n->in[i]->storage->version != n->in_ver[i])
            return cg_set_error(CG_ERR_STATE,
                                "cg_backward: input %d of '%s' (shape %s) was modified in place after the op used it; "
                                "clone it before modifying",
                                i, n->op->name, cg_shape_str(n->in[i]));
    if (mask & CG_VERSION_OUTPUTS)
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j]->storage->version != n->out_ver[j])
                return cg_set_error(CG_ERR_STATE,
                                    "cg_backward: the output of '%s' (shape %s) was modified in place before backward; "
                                    "clone it before modifying",
                                    n->op->name, cg_shape_str(n->out[j]));
    for (int k = 0; k < n->n_saved; k++)
        if (n->saved[k] && n->saved[k]->storage->version != n->saved_ver[k])
            return cg_set_error(CG_ERR_STATE,
                                "cg_backward: a tensor saved by '%s' (shape %s) was modified in place before backward",
                                n->op->name, cg_shape_str(n->saved[k]));
    return CG_OK;
}

/* Does a gradient an op handed back hold bytes nothing else does: made
 * during its backward (after serial `mark`), whole, and not shared with
 * another of its gradients? Only the built-in ops are taken at their word. */
static bool handed_sole(const cg_node *n, cg_tensor *const *gin, int i, uint64_t mark) {
    const cg_tensor *g = gin[i];
    if (!builtin_op(n->op) || g->storage->serial <= mark || g->offset != 0 || !cg_is_contiguous(g) ||
        (size_t)cg_numel(g) * cg_dtype_size(g->dtype) != g->storage->nbytes)
        return false;
    for (int k = 0; k < n->n_in; k++)
        if (k != i && n->needs_grad[k] && gin[k] && gin[k]->storage == g->storage) return false;
    return true;
}

static cg_status run_node(cg_node *n, bool retain) {
    cg_tensor *gout[CG_MAX_OUTPUTS];
    bool gsole[CG_MAX_OUTPUTS];
    for (int j = 0; j < n->n_out; j++) {
        cg_tensor *o = n->out[j];
        struct cg_autograd_meta *m = o->autograd;
        if (settle(m) != CG_OK) return cg_last_status();
        gout[j] = m->pending;
        gsole[j] = m->pending_sole && !m->hooks && !m->retain;
        m->pending_sole = false;
        if (!m->pending) continue;
        m->pending = NULL;
        n->n_pending--;
        t_bw->open--;
        if (m->hooks && !(gout[j] = run_hooks(o, gout[j]))) return cg_last_status();
        if (m->retain) {
            cg_status st = add_to_grad(o, gout[j]);
            if (st != CG_OK) return st;
        }
    }
    const cg_op *op = n->op;
    if (n->freed)
        return cg_set_error(CG_ERR_STATE,
                            "cg_backward: the graph through '%s' was already freed by an earlier backward; pass "
                            "retain_graph=true to cg_backward_ex the first time to backpropagate twice",
                            op->name);
    if (!op->backward)
        return cg_set_error(CG_ERR_STATE,
                            "cg_backward: op '%s' has no backward; register one with cg_op_register, or compute it "
                            "under CG_NO_GRAD",
                            op->name);
    cg_status st = check_versions(n);
    if (st != CG_OK) return st;
    cg_tensor *gin_small[8] = {NULL};
    cg_tensor **gin = gin_small;
    if (n->n_in > 8) {
        gin = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)n->n_in, true);
        if (!gin) return cg_last_status();
    }
    uint64_t mark = cg_alloc_serial();
    st = op->backward(n, gout, n->needs_grad, gin);
    if (st != CG_OK) {
        if (cg_last_status() == CG_OK) cg_set_error(st, "cg_backward: the backward of '%s' failed", op->name);
        return cg_last_status();
    }
    for (int i = 0; i < n->n_in; i++) {
        if (!n->needs_grad[i] || !gin[i]) continue;
        if (t_anomaly && cg_k_has_nonfinite(gin[i]))
            return cg_set_error(CG_ERR_NUMERIC,
                                "anomaly: the backward of '%s' produced NaN or Inf in the gradient of input %d (shape %s)",
                                op->name, i, cg_shape_str(n->in[i]));
        st = accumulate(n->in[i], gin[i], handed_sole(n, gin, i, mark));
        if (st != CG_OK) return st;
    }
    /* the outputs' gradients are read: hand back the bytes of those that
     * nothing else holds (an input's gradient may be one of them, or a view;
     * an op of the user's may have kept them) */
    bool trusted = builtin_op(op);
    for (int j = 0; j < n->n_out; j++) {
        bool held = !gsole[j] || !gout[j] || !trusted;
        for (int i = 0; i < n->n_in && !held; i++) held = gin[i] && gin[i]->storage == gout[j]->storage;
        if (!held) cg_scope_recycle(gout[j]);
    }
    if (t_anomaly)
        for (int i = 0; i < n->n_in; i++) {
            struct cg_autograd_meta *m = n->in[i]->autograd;
            if (n->needs_grad[i] && !gin[i] && m && m->pending && settle(m) == CG_OK && cg_k_has_nonfinite(m->pending))
                return cg_set_error(CG_ERR_NUMERIC,
                                    "anomaly: the backward of '%s' produced NaN or Inf in the gradient of input %d (shape %s)",
                                    op->name, i, cg_shape_str(n->in[i]));
        }
    if (!retain) {
        n->freed = true;
        n->n_saved = 0;
        n->saved = NULL;
    }
    return CG_OK;
}

/* Leaves with hooks collected their gradient in pending: finish them, and
 * drop whatever is left pending (after an error). */
static cg_status finish(bw_state *bw, cg_status st) {
    /* what is left in the leaves' buffers; run everything held, after an
     * error too (held products point into this backward's buffers) */
    for (deferred *d = bw->deferred; d && st == CG_OK; d = d->next) st = send_deferred(d);
    drain(bw);
    bw->deferred = NULL;
    for (cg_tensor *t = bw->pending_list, *next; t; t = next) {
        struct cg_autograd_meta *m = t->autograd;
        next = m->next_pending;
        m->next_pending = NULL;
        if (st == CG_OK && !m->node) st = settle(m); /* a non-leaf's leftover is dropped unread */
        m->fresh = NULL;
        cg_tensor *g = m->pending;
        m->pending = NULL;
        m->pending_sole = false;
        if (m->node) m->node->n_pending = 0;
        if (st != CG_OK || !g || m->node) continue;
        g = run_hooks(t, g);
        st = g ? add_to_grad(t, g) : cg_last_status();
    }
    return st;
}

cg_status cg_backward_ex(cg_tensor *t, const cg_tensor *grad_output, bool retain_graph) {
    if (!t) {
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_backward: tensor is NULL");
        return cg_last_status();
    }
    if (t_bw) return cg_set_error(CG_ERR_STATE, "cg_backward: called from inside a backward (a hook or an op)");
    if (!cg_requires_grad(t))
        return cg_set_error(CG_ERR_STATE,
                            "cg_backward: %s does not require grad: no input of the ops that made it requires grad, or "
                            "it was computed under CG_NO_GRAD",
                            cg_shape_str(t));
    cg_tensor *g;
    if (!grad_output) {
        if (cg_numel(t) != 1)
            return cg_set_error(CG_ERR_SHAPE,
                                "cg_backward: the tensor has shape %s; backward without a gradient needs a scalar — "
                                "reduce it (cg_sum, cg_mean) or pass the gradient with cg_backward_with(t, grad_output)",
                                cg_shape_str(t));
        g = cg_ones_like(t);
        if (!g) return cg_last_status();
    } else {
        if (!cg_same_shape(grad_output, t) || grad_output->dtype != t->dtype)
            return cg_set_error(CG_ERR_SHAPE, "cg_backward_with: grad_output is %s %s but the tensor is %s %s",
                                cg_dtype_name(grad_output->dtype), cg_shape_str(grad_output), cg_dtype_name(t->dtype),
                                cg_shape_str(t));
        g = (cg_tensor *)grad_output;
    }
    bw_state bw = {NULL, 0, NULL, false};
    t_bw = &bw;
    /* gradients read are handed back for the ones made next (anomaly mode
     * leaves every gradient where it was made) */
    if (!t_anomaly) cg_scope_recycle_begin();
    cg_status st = cg__accumulate(t, g);
    for (cg_node *n = t->autograd->node; st == CG_OK && n && bw.open > 0; n = n->prev) {
        if (n->n_pending > 0) st = run_node(n, retain_graph);
    }
    /* A gradient is still waiting for an op that is not on this thread's tape:
     * it was recorded while an arena was entered (cg_scope_leave unlinks those
     * nodes) or in a scope that has ended. Never return partial gradients. */
    if (st == CG_OK && bw.open > 0)
        st = cg_set_error(CG_ERR_STATE,
                          "cg_backward: %lld gradient(s) cannot reach the ops that made them: those ops were recorded "
                          "inside an arena that was left (cg_scope_leave) or a scope that has ended; record the "
                          "graph in the scope where backward runs, or compute such tensors under CG_NO_GRAD",
                          (long long)bw.open);
    st = finish(&bw, st);
    cg_scope_recycle_end();
    t_bw = NULL;
    return st;
}

cg_status cg_backward(cg_tensor *loss) { return cg_backward_ex(loss, NULL, false); }
cg_status cg_backward_with(cg_tensor *t, const cg_tensor *g) {
    if (!g) return cg_set_error(CG_ERR_NULL, "cg_backward_with: grad_output is NULL");
    return cg_backward_ex(t, g, false);
}

/* ------------------------------------------------------------------ DOT */

static void dot_leaf(FILE *f, const cg_tensor *t) {
    const char *name = cg_name(t);
    fprintf(f, "  t%p [shape=ellipse, style=filled, fillcolor=\"%s\", label=\"%s%s%s\\n%s\"];\n", (const void *)t,
            cg_requires_grad(t) ? "lightblue" : "white", name ? name : "", name ? "\\n" : "", cg_shape_str(t),
            cg_requires_grad(t) ? "requires_grad" : cg_dtype_name(t->dtype));
}

cg_status cg_write_dot(const cg_tensor *t, FILE *f) {
    if (!t || !f) return cg_set_error(CG_ERR_NULL, "cg_write_dot: NULL argument");
    fprintf(f, "digraph cgrad {\n  rankdir=BT;\n  node [fontname=\"monospace\", fontsize=10];\n");
    cg_node *root = t->autograd ? t->autograd->node : NULL;
    if (!root) {
        dot_leaf(f, t);
        fprintf(f, "}\n");
        return CG_OK;
    }
    uint32_t epoch = ++t_mark_epoch;
    root->mark = epoch;
    int64_t open = 1;
    for (cg_node *n = root; n && open > 0; n = n->prev) {
        if (n->mark != epoch) continue;
        open--;
        fprintf(f, "  n%llu [shape=box, style=filled, fillcolor=\"lightyellow\", label=\"%s",
                (unsigned long long)n->seq, n->op->name);
        for (int j = 0; j < n->n_out; j++) fprintf(f, "\\n%s", cg_shape_str(n->out[j]));
        fprintf(f, "\"];\n");
        for (int i = 0; i < n->n_in; i++) {
            cg_tensor *in = n->in[i];
            cg_node *p = in->autograd ? in->autograd->node : NULL;
            if (p) {
                if (p->mark != epoch) {
                    p->mark = epoch;
                    open++;
                }
                fprintf(f, "  n%llu -> n%llu;\n", (unsigned long long)p->seq, (unsigned long long)n->seq);
            } else {
                dot_leaf(f, in);
                fprintf(f, "  t%p -> n%llu;\n", (void *)in, (unsigned long long)n->seq);
            }
        }
    }
    fprintf(f, "}\n");
    return CG_OK;
}

cg_status cg_export_dot(const cg_tensor *t, const char *path) {
    if (!path) return cg_set_error(CG_ERR_NULL, "cg_export_dot: path is NULL");
    FILE *f = fopen(path, "w");
    if (!f) return cg_set_error(CG_ERR_IO, "cg_export_dot: cannot open %s for writing", path);
    cg_status st = cg_write_dot(t, f);
    if (fclose(f) != 0 && st == CG_OK) st = cg_set_error(CG_ERR_IO, "cg_export_dot: error writing %s", path);
    return st;
}

/* ----------------------------------------------------------- the table */

#define CG_LIST_OP(name) &cg__op_##name,
static const cg_op *const g_builtin[] = {CG_BUILTIN_OPS(CG_LIST_OP)};
#undef CG_LIST_OP
#define N_BUILTIN ((int)(sizeof g_builtin / sizeof g_builtin[0]))

typedef struct custom_op {
    cg_op op;
    struct custom_op *next;
} custom_op;
static custom_op *g_custom;
static int g_ncustom;

int cg_op_count(void) { return N_BUILTIN + g_ncustom; }

static bool builtin_op(const cg_op *op) {
    for (const custom_op *c = g_custom; c; c = c->next)
        if (&c->op == op) return false;
    return true;
}

const cg_op *cg_op_at(int i) {
    if (i < 0) return NULL;
    if (i < N_BUILTIN) return g_builtin[i];
    i -= N_BUILTIN;
    /* custom ops are kept newest first */
    int k = g_ncustom - 1 - i;
    for (custom_op *c = g_custom; c; c = c->next, k--)
        if (k == 0) return &c->op;
    return NULL;
}

const cg_op *cg_op_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < cg_op_count(); i++)
        if (strcmp(cg_op_at(i)->name, name) == 0) return cg_op_at(i);
    return NULL;
}

const cg_op *cg_op_register(const cg_op *def) {
    if (!def || !def->name || !def->forward) {
        cg_set_error(CG_ERR_NULL, "cg_op_register: an op needs a name and a forward");
        return NULL;
    }
    if (cg_op_find(def->name)) {
        cg_set_error(CG_ERR_VALUE, "cg_op_register: an op named '%s' already exists", def->name);
        return NULL;
    }
    if (def->n_out < 1 || def->n_out > CG_MAX_OUTPUTS || (def->n_in < 0 && def->n_in != CG_OP_VARIADIC)) {
        cg_set_error(CG_ERR_VALUE, "cg_op_register: '%s' has %d inputs and %d outputs", def->name, def->n_in, def->n_out);
        return NULL;
    }
    custom_op *c = calloc(1, sizeof *c);
    char *name = c ? malloc(strlen(def->name) + 1) : NULL;
    if (!name) {
        free(c);
        cg_set_error(CG_ERR_NOMEM, "cg_op_register: out of memory");
        return NULL;
    }
    strcpy(name, def->name);
    c->op = *def;
    c->op.name = name;
    c->next = g_custom;
    g_custom = c;
    g_ncustom++;
    install_hooks();
    return &c->op;
}
