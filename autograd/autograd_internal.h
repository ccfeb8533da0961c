/* Private to autograd/: the node and per-tensor gradient state, and what
 * the engine's files share (engine.c: the tape and backward; accumulate.c:
 * where a gradient goes; grad_slots.c: leaf gradients and sinks;
 * op_table.c, dot.c). What the op files share is in ops_internal.h. */
#ifndef CGRAD_AUTOGRAD_INTERNAL_H
#define CGRAD_AUTOGRAD_INTERNAL_H

#include "autograd.h"

#include <math.h>
#include <string.h>

typedef struct cg_hook_entry {
    cg_grad_hook fn;
    void *user;
    struct cg_hook_entry *next;
} cg_hook_entry;

/* Where a tensor's gradient is summed: its .grad, or for a leaf the entry
 * of the thread's gradient sink (cg_grad_sink_set) while one is on. */
typedef struct cg_grad_slot {
    cg_tensor *grad;
    /* Row-sparse gradient of a leaf: the dim-0 rows of grad that may be
     * nonzero, while only row scatters (the embedding backward) wrote it. */
    bool grad_dense;
    bool rows_only;   /* a sink's row-sparse grad: rows not listed are unwritten, not zero */
    int64_t n_rows;
    int64_t *rows;     /* room for rows_cap */
    uint8_t *row_seen; /* rows_cap flags */
    int64_t rows_cap;
} cg_grad_slot;

struct cg_autograd_meta {
    bool requires_grad;
    bool retain;        /* non-leaf keeps .grad */
    bool pending_owned; /* pending may be written in place */
    bool pending_sole;  /* nothing but this holds pending: its bytes may be reused once it is read */
    int out_index;      /* which output of node */
    cg_node *node;      /* producer; NULL for a leaf */
    cg_grad_slot g;     /* .grad (a leaf's goes to the thread's sink, if one is on) */
    cg_tensor *pending; /* gradient being summed during one backward */
    /* Set while pending was made by selects along dim fresh_dim: only the
     * indices i with fresh[i] hold values yet, the rest are unwritten. */
    uint8_t *fresh;
    int fresh_dim;
    cg_tensor *next_pending; /* list of tensors with a pending gradient */
    cg_hook_entry *hooks;
    const char *name;
};

struct cg_node {
    const cg_op *op;
    cg_node *prev; /* the tape: the node recorded before this one */
    uint64_t seq;
    int n_in, n_out, n_saved, cap_saved;
    cg_tensor **in, **out;
    uint64_t *in_ver, *out_ver;
    cg_tensor **saved;
    uint64_t *saved_ver;
    bool *needs_grad;
    bool recording;
    bool freed;
    int n_pending; /* outputs holding a gradient in the running backward */
    uint32_t mark;
    const void *params;
};

/* -------------------------------------------------------------- engine.c */

/* The metadata of t, created (in t's scope) if missing. */
struct cg_autograd_meta *cg__meta(cg_tensor *t);
/* NULL-input error (keeps an earlier error's message). */
void *cg__ag_null(const char *op);
/* The scope hooks that keep the tape with its scope (installed on first use). */
void cg__install_scope_hooks(void);

/* The running backward on this thread. */
typedef struct cg_bw {
    cg_tensor *pending_list; /* tensors with a pending gradient */
    int64_t open;            /* non-leaf pending gradients not yet consumed */
    bool anomaly;            /* anomaly mode: every gradient where it was made, each one checked */
} cg_bw;
extern _Thread_local cg_bw *cg__bw;

/* ---------------------------------------------------------- accumulate.c */

/* Sum g into t's gradient (the root's seed, a hook's or a retained
 * gradient). sole: nothing else holds g, so it may become t's pending
 * gradient and its bytes be handed back once read. */
cg_status cg__accumulate(cg_tensor *t, cg_tensor *g, bool sole);
/* Add what node n's backward handed back, every input's parts, where each
 * belongs; mark: the storage serial before the backward ran (what it made
 * after is its own). */
cg_status cg__accumulate_node(cg_node *n, cg_grad_in *gin, uint64_t mark);
/* Before an op with CG_WRITES_INTO runs its backward: gin[i].into for the
 * inputs whose whole gradient can be written in place. */
void cg__offer_into(cg_node *n, cg_grad_in *gin);
/* A select-made pending gradient: zero the indices no select wrote. */
cg_status cg__settle(struct cg_autograd_meta *m);
/* End of a backward: what is left in leaves with hooks goes to .grad;
 * everything pending is dropped. */
cg_status cg__finish(cg_bw *bw, cg_status st);

/* ---------------------------------------------------------- grad_slots.c */

/* Where leaf (or retained) t's gradient is summed: its own slot, or for a
 * leaf the entry of this thread's sink (made on first use); NULL on error. */
cg_grad_slot *cg__slot_of(cg_tensor *t);
/* A gradient sink is set on this thread. */
bool cg__sink_on(void);
/* The error for a leaf with hooks met while a sink is set. */
cg_status cg__hooked_leaf_in_sink(const cg_tensor *t);
/* The leaf's gradient, created as zeros (in its arena or the sink's) if
 * missing. */
cg_tensor *cg__leaf_grad_zeros(cg_tensor *t, cg_grad_slot *m);
/* The leaf's gradient ready for rows idx (dim 0) to be added: row-sparse
 * bookkeeping kept while only rows are written. */
cg_tensor *cg__leaf_grad_rows(cg_tensor *t, const cg_tensor *idx);
/* Add g into t's slot (made by a copy of g the first time). */
cg_status cg__add_to_grad(cg_tensor *t, cg_tensor *g);
/* A row-sparse sink gradient made whole: rows not listed are zeroed. */
void cg__zero_unlisted(cg_grad_slot *m);

/* ------------------------------------------------------------ op_table.c */

/* One of the built-in rows (their tensors may be taken at their word). */
bool cg__builtin_op(const cg_op *op);
/* The dim and index of a select node; false for any other op. */
bool cg__select_params(const cg_node *node, int *dim, int64_t *index);

/* Built-in rows of the op table (defined in the ops_*.c files); the
 * elementwise families (CG_UNARY_OPS, CG_BINARY_OPS) have one row each. */
#define CG_BUILTIN_OPS(X)                                                                          \
    X(add_scalar) X(mul_scalar) X(pow_scalar) X(rsub_scalar) X(clamp) X(where) X(masked_fill) X(to) \
    X(sum) X(mean) X(max) X(min) X(logsumexp) X(softmax) X(log_softmax)                            \
    X(matmul) X(addmm)                                                                             \
    X(reshape) X(transpose) X(permute) X(slice) X(select) X(expand) X(squeeze) X(unsqueeze)        \
    X(flip) X(contiguous) X(concat) X(stack) X(chunk) X(split)                                     \
    X(index_select) X(gather) X(scatter_add)                                                       \
    X(bce_with_logits) X(cross_entropy) X(dropout) X(layer_norm) X(fused)

#define CG_DECLARE_OP(name) extern const cg_op cg__op_##name;
CG_BUILTIN_OPS(CG_DECLARE_OP)
#undef CG_DECLARE_OP
extern const cg_op cg__unary_ops[CG_UNOP_COUNT];
extern const cg_op cg__binary_ops[CG_BINOP_COUNT]; /* comparisons: no backward, not in the table */

#endif
