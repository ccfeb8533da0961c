/* The tape and the backward: ops are applied and recorded (cg_op_apply),
 * and cg_backward walks the tape back from the output, running each node
 * that holds a gradient and handing what its backward gives to the
 * accumulation (accumulate.c), which decides where each gradient goes.
 * Also: gradient modes, the per-tensor API and hooks. */
#include "autograd_internal.h"

#include <stdlib.h>

static _Thread_local cg_node *t_tape; /* last node recorded on this thread */
static _Thread_local uint64_t t_seq;
static _Thread_local bool t_no_grad; /* grad mode is on by default */
static _Thread_local bool t_anomaly;
_Thread_local cg_bw *cg__bw;
static bool g_hooks_installed;

/* ----------------------------------------------------------------- apply */

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
        cg__install_scope_hooks();
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

uint64_t cg_nodes_recorded(void) { return t_seq; }

cg_tensor *cg_op_apply(const cg_op *op, cg_tensor *const *in, int n_in, const void *params) {
    cg_tensor *out[CG_MAX_OUTPUTS];
    int n = cg_op_apply_multi(op, in, n_in, params, out);
    return n > 0 ? out[0] : NULL;
}

/* -------------------------------------------------------------- backward */

static cg_tensor *run_hooks(cg_tensor *t, cg_tensor *g) {
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
    unsigned reads = n->op->reads;
    for (int i = 0; i < n->n_in && i < 31; i++)
        if ((reads & CG_READS_INPUT(i)) && n->in[i]->storage->version != n->in_ver[i])
            return cg_set_error(CG_ERR_STATE,
                                "cg_backward: input %d of '%s' (shape %s) was modified in place after the op used it; "
                                "clone it before modifying",
                                i, n->op->name, cg_shape_str(n->in[i]));
    if (reads & CG_READS_OUTPUTS)
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

/* Run one node: take its outputs' gradients (through hooks, into retained
 * .grads), run its backward, and give what it hands back to the
 * accumulation. */
static cg_status run_node(cg_node *n, bool retain) {
    cg_tensor *gout[CG_MAX_OUTPUTS];
    bool gsole[CG_MAX_OUTPUTS];
    for (int j = 0; j < n->n_out; j++) {
        cg_tensor *o = n->out[j];
        struct cg_autograd_meta *m = o->autograd;
        if (cg__settle(m) != CG_OK) return cg_last_status();
        gout[j] = m->pending;
        gsole[j] = m->pending_sole && !m->hooks && !m->retain;
        m->pending_sole = false;
        if (!m->pending) continue;
        m->pending = NULL;
        n->n_pending--;
        cg__bw->open--;
        if (m->hooks && !(gout[j] = run_hooks(o, gout[j]))) return cg_last_status();
        if (m->retain) {
            cg_status st = cg__add_to_grad(o, gout[j]);
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
    cg_grad_in gin_small[8];
    cg_grad_in *gin = gin_small;
    if (n->n_in > 8 && !(gin = cg_scope_alloc(sizeof(cg_grad_in) * (size_t)n->n_in, false))) return cg_last_status();
    memset(gin, 0, sizeof(cg_grad_in) * (size_t)n->n_in);
    if (op->flags & CG_WRITES_INTO) cg__offer_into(n, gin);
    uint64_t mark = cg_alloc_serial();
    st = op->backward(n, gout, n->needs_grad, gin);
    if (st != CG_OK) {
        if (cg_last_status() == CG_OK) cg_set_error(st, "cg_backward: the backward of '%s' failed", op->name);
        return cg_last_status();
    }
    st = cg__accumulate_node(n, gin, mark);
    if (st != CG_OK) return st;
    /* the outputs' gradients are read: hand back the bytes of those that
     * nothing else holds (an input's gradient may be one of them, or a view;
     * an op of the user's may have kept them) */
    bool trusted = cg__builtin_op(op);
    for (int j = 0; j < n->n_out; j++) {
        bool held = !gsole[j] || !gout[j] || !trusted;
        for (int i = 0; i < n->n_in && !held; i++)
            for (const cg_grad_in *p = &gin[i]; p && !held; p = p->next) held = p->t && p->t->storage == gout[j]->storage;
        if (!held) cg_scope_recycle(gout[j]);
    }
    if (!retain) {
        n->freed = true;
        n->n_saved = 0;
        n->saved = NULL;
    }
    return CG_OK;
}

cg_status cg_backward_ex(cg_tensor *t, const cg_tensor *grad_output, bool retain_graph) {
    if (!t) {
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_backward: tensor is NULL");
        return cg_last_status();
    }
    if (cg__bw) return cg_set_error(CG_ERR_STATE, "cg_backward: called from inside a backward (a hook or an op)");
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
    cg_bw bw = {.anomaly = t_anomaly};
    cg__bw = &bw;
    /* gradients read are handed back for the ones made next (anomaly mode
     * leaves every gradient where it was made) */
    if (!bw.anomaly) cg_scope_recycle_begin();
    cg_gemm_reuse_begin(); /* nothing writes a weight while the backward reads it */
    cg_status st = cg__accumulate(t, g, false);
    for (cg_node *n = t->autograd->node; st == CG_OK && n && bw.open > 0; n = n->prev)
        if (n->n_pending > 0) st = run_node(n, retain_graph);
    /* A gradient is still waiting for an op that is not on this thread's tape:
     * it was recorded while an arena was entered (cg_scope_leave unlinks those
     * nodes) or in a scope that has ended. Never return partial gradients. */
    if (st == CG_OK && bw.open > 0)
        st = cg_set_error(CG_ERR_STATE,
                          "cg_backward: %lld gradient(s) cannot reach the ops that made them: those ops were recorded "
                          "inside an arena that was left (cg_scope_leave) or a scope that has ended; record the "
                          "graph in the scope where backward runs, or compute such tensors under CG_NO_GRAD",
                          (long long)bw.open);
    st = cg__finish(&bw, st);
    cg_gemm_reuse_end();
    cg_scope_recycle_end();
    cg__bw = NULL;
    return st;
}

cg_status cg_backward(cg_tensor *loss) { return cg_backward_ex(loss, NULL, false); }
cg_status cg_backward_with(cg_tensor *t, const cg_tensor *g) {
    if (!g) return cg_set_error(CG_ERR_NULL, "cg_backward_with: grad_output is NULL");
    return cg_backward_ex(t, g, false);
}

/* Leaves with hooks collected their gradient in pending: it runs through
 * the hooks (cg__finish calls this for each). */
cg_tensor *cg__run_leaf_hooks(cg_tensor *t, cg_tensor *g) { return run_hooks(t, g); }

/* ----------------------------------------------------- scope integration */

static void on_scope_begin(cg_scope *s, uintptr_t *slot) {
    (void)s;
    *slot = (uintptr_t)t_tape;
}
static void on_scope_end(cg_scope *s, uintptr_t *slot) {
    (void)s;
    t_tape = (cg_node *)*slot;
}
void cg__install_scope_hooks(void) {
    if (!g_hooks_installed) {
        g_hooks_installed = true;
        cg_scope_set_hooks(on_scope_begin, on_scope_end);
    }
}

/* ---------------------------------------------------------------- modes */

bool cg_grad_enabled(void) { return !t_no_grad; }
bool cg_set_grad_enabled(bool on) {
    bool prev = !t_no_grad;
    t_no_grad = !on;
    return prev;
}
void cg_set_anomaly_mode(bool on) { t_anomaly = on; }
bool cg_anomaly_mode(void) { return t_anomaly; }

/* ------------------------------------------------------------- node API */

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

/* --------------------------------------------------------- tensor state */

struct cg_autograd_meta *cg__meta(cg_tensor *t) {
    if (!t->autograd) {
        struct cg_autograd_meta *m = cg_arena_alloc(t->scope, sizeof *m, true);
        if (!m) return NULL;
        t->autograd = m;
    }
    return t->autograd;
}

cg_tensor *cg_requires_grad_(cg_tensor *t, bool on) {
    if (!t) return cg_last_status() == CG_OK ? (cg_set_error(CG_ERR_NULL, "cg_requires_grad_: tensor is NULL"), NULL) : NULL;
    cg__install_scope_hooks();
    if (on && !cg_dtype_is_float(t->dtype)) {
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
