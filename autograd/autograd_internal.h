/* Private to autograd/: the node and per-tensor gradient state, and the
 * built-in op rows. */
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
    bool gemm_queued; /* held products (cg_k_gemm_async_) still add into grad */
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

#define CG_VERSION_OUTPUTS (1u << 31)

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

/* The metadata of t, created (in t's scope) if missing. */
struct cg_autograd_meta *cg__meta(cg_tensor *t);
/* NULL-input error (keeps an earlier error's message). */
void *cg__ag_null(const char *op);
/* Sum a gradient into t (the one helper every backward goes through). */
cg_status cg__accumulate(cg_tensor *t, cg_tensor *g);

/* Input i's gradient buffer for adding rows idx (dim 0) into it; for a leaf
 * the rows are remembered so the gradient stays row-sparse. */
cg_tensor *cg__grad_buffer_rows(cg_node *node, int i, const cg_tensor *idx);

/* Add g into input i's gradient at index `index` of dim `dim` (the
 * backward of select). The first select to reach a gradient makes it
 * without zeroing it: each index is copied into on its first write, and
 * only indices no select wrote are zeroed, when the gradient is read. */
cg_status cg__grad_select_add(cg_node *node, int i, int dim, int64_t index, const cg_tensor *g);

/* The dim and index of a select node; false for any other op. */
bool cg__select_params(const cg_node *node, int *dim, int64_t *index);

/* Input i's gradient buffer when writing into it in place is free (a leaf
 * accumulating straight into .grad, or a gradient already owned by this
 * backward); NULL when an out-of-place result is cheaper to hand over. */
cg_tensor *cg__grad_inplace_target(cg_node *node, int i);

/* For a GEMM backward: add alpha * a @ b (2-D) to the .grad of leaf input i
 * later, joined with the leaf's next products along the contraction dim
 * into one GEMM per 1 MFLOP (a recurrent kernel's gradient over many time
 * steps), which the next step's product takes along on a second thread.
 * False when it cannot be put off (not a plain leaf, anomaly mode, a
 * product big enough to thread): compute it now. */
bool cg__defer_gemm_grad(cg_node *node, int i, const cg_tensor *a, const cg_tensor *b, double alpha);

/* Built-in rows of the op table (defined in the ops_*.c files). */
#define CG_BUILTIN_OPS(X)                                                                          \
    X(neg) X(exp) X(log) X(sqrt) X(abs) X(tanh) X(sigmoid) X(relu) X(square)                       \
    X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum)                                       \
    X(add_scalar) X(mul_scalar) X(pow_scalar) X(rsub_scalar) X(clamp) X(where) X(masked_fill) X(to) \
    X(sum) X(mean) X(max) X(min) X(logsumexp) X(softmax) X(log_softmax)                            \
    X(matmul) X(addmm)                                                                             \
    X(reshape) X(transpose) X(permute) X(slice) X(select) X(expand) X(squeeze) X(unsqueeze)        \
    X(flip) X(contiguous) X(concat) X(stack) X(chunk) X(split)                                     \
    X(index_select) X(gather) X(scatter_add)                                                       \
    X(bce_with_logits) X(cross_entropy) X(dropout) X(fused)

#define CG_DECLARE_OP(name) extern const cg_op cg__op_##name;
CG_BUILTIN_OPS(CG_DECLARE_OP)
#undef CG_DECLARE_OP

/* Apply a one-input / two-input op. */
static inline cg_tensor *cg__apply1(const cg_op *op, cg_tensor *x, const void *p) {
    cg_tensor *in[1] = {x};
    return cg_op_apply(op, in, 1, p);
}
static inline cg_tensor *cg__apply2(const cg_op *op, cg_tensor *a, cg_tensor *b, const void *p) {
    cg_tensor *in[2] = {a, b};
    return cg_op_apply(op, in, 2, p);
}

/* Axis lists as op parameters. */
typedef struct {
    int axes[CG_MAX_DIMS];
    int naxes;
    bool keepdim;
} cg__axes_params;

#endif
