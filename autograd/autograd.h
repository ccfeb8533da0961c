/*
 * cgrad/autograd.h — differentiable ops, the tape, backward, gradcheck,
 * custom ops.
 *
 * Define-by-run: every op computes at once. When grad mode is on and an
 * input requires grad, the op also appends a node to the tape of the current
 * scope. cg_backward() is a reverse loop over that tape (no recursion, no
 * depth limit), so an RNN unrolled over 1000 steps is just a long tape:
 *
 *     cg_tensor *w = cg_requires_grad_(cg_randn(NULL, CG_FLOAT32, CG_SHAPE(4, 3)), true);
 *     cg_scope *s = cg_scope_begin();
 *     cg_tensor *x = cg_randn(NULL, CG_FLOAT32, CG_SHAPE(8, 4));
 *     cg_tensor *loss = cg_mean(cg_tanh(cg_matmul(x, w)), NULL, 0, false);
 *     if (!loss || cg_backward(loss) != CG_OK) fprintf(stderr, "%s\n", cg_last_error());
 *     cg_scope_end(s);       // the tape and activations go; w's .grad stays
 *     cg_print(cg_grad(w));
 *
 * Semantics follow PyTorch: leaf gradients accumulate across backward calls
 * until cg_zero_grad(); a second backward through the same graph is an error
 * unless the first passed retain_graph; cg_no_grad blocks record nothing;
 * cg_detach() cuts a tensor from its history; hooks may inspect or replace a
 * gradient. The tape of a scope ends with the scope: call backward before
 * cg_scope_end, and keep results with cg_scope_keep.
 *
 * Every differentiable op is one row of one table (name, arity, forward,
 * backward, what the backward reads); cg_op_count()/cg_op_at() walk it. A
 * backward hands back each input's gradient (cg_grad_in) and the engine adds
 * it where it belongs. Users add rows with
 * cg_op_register() and check them with cg_gradcheck(), the same path the
 * built-in ops take. Subgradients at kinks: relu'(0) = 0, |x|'(0) = 0,
 * max/min send the gradient to the first position holding the extreme value,
 * clamp passes it where lo <= x <= hi.
 *
 * Errors follow tensor.h: an op returns NULL and sets cg_last_error(); a
 * NULL input propagates. cg_backward returns a cg_status.
 */
#ifndef CGRAD_AUTOGRAD_H
#define CGRAD_AUTOGRAD_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- gradient state */

/* Mark a leaf as requiring grad (float dtypes only). Returns t, or NULL with
 * an error for int64 tensors and for results of recorded ops. */
cg_tensor *cg_requires_grad_(cg_tensor *t, bool on);
bool cg_requires_grad(const cg_tensor *t);
/* Created by the user (not by a recorded op). */
bool cg_is_leaf(const cg_tensor *t);
/* The accumulated gradient (same shape as t), or NULL before any backward. */
cg_tensor *cg_grad(const cg_tensor *t);
/* Zero t's gradient in place (its buffer is kept, so no allocation). A
 * row-sparse gradient (below) is cleared row by row. */
void cg_zero_grad(cg_tensor *t);
/* When only row scatters have written a leaf's gradient since it was last
 * zeroed (an embedding lookup's backward), the dim-0 rows that may be
 * nonzero, in first-touched order, and their count in *n; NULL when the
 * gradient is dense or absent. Optimizers use it to skip untouched rows. */
const int64_t *cg_grad_rows(const cg_tensor *t, int64_t *n);
/* Drop t's gradient buffer (the next backward starts a new one). */
void cg_clear_grad(cg_tensor *t);
/* Ask a non-leaf to keep its gradient after backward (readable by cg_grad_in). */
cg_status cg_retain_grad(cg_tensor *t);
/* A view of t's data that is cut from the graph (requires no grad). */
cg_tensor *cg_detach(cg_tensor *t);
/* A name shown by the DOT export and by error messages ("lstm_1.kernel"). */
cg_status cg_set_name(cg_tensor *t, const char *name);
const char *cg_name(const cg_tensor *t); /* NULL if unnamed */

/* A hook sees the gradient of t when it is complete (for a leaf: once per
 * backward, before it is added to .grad). Return NULL to keep it, or a
 * tensor of the same shape to replace it. */
typedef cg_tensor *(*cg_grad_hook)(cg_tensor *grad, void *user);
cg_status cg_register_hook(cg_tensor *t, cg_grad_hook fn, void *user);

/* ------------------------------------------------------------ modes */

bool cg_grad_enabled(void);
/* Turn recording on or off; returns the previous setting. */
bool cg_set_grad_enabled(bool on);
/* Run a block with recording off (do not `return` or `break` out of it):
 *     CG_NO_GRAD { y = cg_matmul(x, w); } */
#define CG_NO_GRAD                                                                                 \
    for (bool cg__prev = cg_set_grad_enabled(false), cg__once = true; cg__once;                    \
         cg_set_grad_enabled(cg__prev), cg__once = false)

/* Anomaly mode: the first op whose forward output or backward gradient has
 * a NaN or an infinity fails with CG_ERR_NUMERIC and a message naming it. */
void cg_set_anomaly_mode(bool on);
bool cg_anomaly_mode(void);

/* --------------------------------------------------------------- backward */

/* Backpropagate from a scalar (a 1-element tensor), seeding d loss = 1. */
cg_status cg_backward(cg_tensor *loss);
/* Backpropagate from any tensor with the given gradient (same shape). */
cg_status cg_backward_with(cg_tensor *t, const cg_tensor *grad_output);
/* Full form: grad_output may be NULL for a scalar; retain_graph keeps the
 * saved tensors so the graph can be backpropagated again. */
cg_status cg_backward_ex(cg_tensor *t, const cg_tensor *grad_output, bool retain_graph);

/* Gradient sinks let several threads run backward over graphs that share
 * leaves (a model's parameters) at once. While a sink is set on a thread,
 * the leaf gradients every backward on that thread computes are summed in
 * the sink, not in the leaves' .grad; cg_grad_sink_merge then adds them to
 * .grad. A sink, its entries and its gradients live in the scope that was
 * current when it was made. Leaves with hooks cannot take part (an error).
 * cg_train_batch (train.h) splits a batch over threads this way. */
typedef struct cg_grad_sink cg_grad_sink;
cg_grad_sink *cg_grad_sink_new(void);
/* Set s (NULL: none) as this thread's sink; returns the one set before. */
cg_grad_sink *cg_grad_sink_set(cg_grad_sink *s);
/* The gradient s holds for leaf t (NULL if none reached it). */
cg_tensor *cg_grad_sink_grad(cg_grad_sink *s, const cg_tensor *t);
/* Add s's gradients to their leaves' .grad (made in the leaves' own arenas,
 * row-sparse embedding gradients kept row-sparse) and empty s, keeping its
 * buffers for the next backward. Call it on one thread at a time, outside
 * any backward. */
cg_status cg_grad_sink_merge(cg_grad_sink *s);
/* Empty s without adding anything to .grad (after a failed step). */
cg_status cg_grad_sink_clear(cg_grad_sink *s);

/* Write the graph that produced t as Graphviz DOT: ops with their output
 * shapes, leaves with names, shapes and whether they require grad. */
cg_status cg_write_dot(const cg_tensor *t, FILE *f);
cg_status cg_export_dot(const cg_tensor *t, const char *path);

/* ------------------------------------------------------ elementwise ops */
/* Binary ops broadcast like NumPy; the backward sums the gradient back to
 * each input's shape. Both inputs must have one dtype. */

cg_tensor *cg_add(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_pow(cg_tensor *a, cg_tensor *b); /* a > 0 where b is differentiated */
cg_tensor *cg_maximum(cg_tensor *a, cg_tensor *b); /* ties: gradient split in half */
cg_tensor *cg_minimum(cg_tensor *a, cg_tensor *b);
/* y = op(x) elementwise for each row of CG_UNARY_OPS (tensor.h), as
 * cg_<name>: cg_neg, cg_exp, cg_log, cg_sqrt, cg_abs, cg_tanh, cg_sigmoid,
 * cg_relu, cg_sign, cg_square, cg_reciprocal, cg_softsign; the backward
 * applies the op's derivative rule. cg_unary(op, x) is any of them. */
#define CG_DECLARE_UNARY_(E, name, reads) cg_tensor *cg_##name(cg_tensor *x);
CG_UNARY_OPS(CG_DECLARE_UNARY_)
#undef CG_DECLARE_UNARY_
cg_tensor *cg_unary(cg_unop op, cg_tensor *x);
/* op(a, b) for a differentiable row of CG_BINARY_OPS (cg_add, ... above). */
cg_tensor *cg_binary(cg_binop op, cg_tensor *a, cg_tensor *b);
/* x + s, x * s, x ^ p, s - x for a scalar s. */
cg_tensor *cg_add_scalar(cg_tensor *x, double s);
cg_tensor *cg_mul_scalar(cg_tensor *x, double s);
cg_tensor *cg_pow_scalar(cg_tensor *x, double p);
cg_tensor *cg_rsub_scalar(double s, cg_tensor *x);
cg_tensor *cg_clamp(cg_tensor *x, double lo, double hi);
/* cond != 0 ? a : b (cond is not differentiated). */
cg_tensor *cg_where(const cg_tensor *cond, cg_tensor *a, cg_tensor *b);
/* mask != 0 ? value : x. */
cg_tensor *cg_masked_fill(cg_tensor *x, const cg_tensor *mask, double value);
/* Float dtype conversion (the gradient converts back). */
cg_tensor *cg_to(cg_tensor *x, cg_dtype dt);

/* Not differentiable: comparisons (1/0 in the operands' dtype), argmax. */
cg_tensor *cg_eq(const cg_tensor *a, const cg_tensor *b);
cg_tensor *cg_ne(const cg_tensor *a, const cg_tensor *b);
cg_tensor *cg_lt(const cg_tensor *a, const cg_tensor *b);
cg_tensor *cg_le(const cg_tensor *a, const cg_tensor *b);
cg_tensor *cg_gt(const cg_tensor *a, const cg_tensor *b);
cg_tensor *cg_ge(const cg_tensor *a, const cg_tensor *b);
cg_tensor *cg_argmax(const cg_tensor *x, int axis, bool keepdim);
cg_tensor *cg_argmin(const cg_tensor *x, int axis, bool keepdim);

/* ----------------------------------------------------------- reductions */
/* axes == NULL or naxes == 0 reduces every axis. */

cg_tensor *cg_sum(cg_tensor *x, const int *axes, int naxes, bool keepdim);
cg_tensor *cg_mean(cg_tensor *x, const int *axes, int naxes, bool keepdim);
cg_tensor *cg_max(cg_tensor *x, const int *axes, int naxes, bool keepdim);
cg_tensor *cg_min(cg_tensor *x, const int *axes, int naxes, bool keepdim);
cg_tensor *cg_logsumexp(cg_tensor *x, const int *axes, int naxes, bool keepdim);
/* Along one axis; stable; the backward reuses the saved output. */
cg_tensor *cg_softmax(cg_tensor *x, int axis);
cg_tensor *cg_log_softmax(cg_tensor *x, int axis);

/* ----------------------------------------------------------------- GEMM */

/* a: [..., M, K] @ b: [..., K, N] -> [..., M, N] (numpy.matmul rules). */
cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b);
/* c + a @ b, a: [M, K], b: [K, N], c broadcast to [M, N] (a bias [N]). The
 * weight gradient is accumulated straight into b's gradient by GEMM. */
cg_tensor *cg_addmm(cg_tensor *c, cg_tensor *a, cg_tensor *b);
/* x: [..., K] @ w: [K, N] + b: [N] (b may be NULL) -> [..., N]. */
cg_tensor *cg_linear(cg_tensor *x, cg_tensor *w, cg_tensor *b);

/* ---------------------------------------------------------------- views */
/* Views share storage; their backward routes the gradient without copies
 * where it can (a slice adds into its region of the input's gradient). */

cg_tensor *cg_reshape(cg_tensor *x, const int64_t *shape, int ndim);
cg_tensor *cg_flatten(cg_tensor *x, int start_dim, int end_dim);
cg_tensor *cg_transpose(cg_tensor *x, int d0, int d1);
cg_tensor *cg_permute(cg_tensor *x, const int *dims, int ndims);
cg_tensor *cg_slice(cg_tensor *x, int dim, int64_t start, int64_t stop, int64_t step);
cg_tensor *cg_select(cg_tensor *x, int dim, int64_t index);
cg_tensor *cg_expand(cg_tensor *x, const int64_t *shape, int ndim);
cg_tensor *cg_squeeze(cg_tensor *x, int dim);
cg_tensor *cg_unsqueeze(cg_tensor *x, int dim);
cg_tensor *cg_flip(cg_tensor *x, const int *dims, int ndims);
cg_tensor *cg_contiguous(cg_tensor *x);

/* ------------------------------------------------- joining and indexing */

cg_tensor *cg_concat(cg_tensor *const *ts, int n, int axis);
cg_tensor *cg_stack(cg_tensor *const *ts, int n, int axis);
/* n views along axis (like torch.chunk); returns how many, -1 on error. */
int cg_chunk(cg_tensor *x, int n, int axis, cg_tensor **out);
cg_status cg_split(cg_tensor *x, const int64_t *sizes, int n, int axis, cg_tensor **out);
/* Rows picked by int64 idx [n]; the backward is index_add (scatter-add). */
cg_tensor *cg_index_select(cg_tensor *x, int axis, const cg_tensor *idx);
/* weight: [V, E], ids: int64 of any shape -> [*ids.shape, E]. */
cg_tensor *cg_embedding(cg_tensor *weight, const cg_tensor *ids);
cg_tensor *cg_gather(cg_tensor *x, int axis, const cg_tensor *idx);
cg_tensor *cg_scatter_add(cg_tensor *x, int axis, const cg_tensor *idx, cg_tensor *src);

/* ------------------------------------------------- losses and dropout */

typedef enum cg_reduction { CG_REDUCTION_MEAN = 0, CG_REDUCTION_SUM, CG_REDUCTION_NONE } cg_reduction;

/* Binary cross-entropy from logits, stable for any |x|:
 * max(x,0) - x*y + log(1 + exp(-|x|)); same shapes; mean by default. */
cg_tensor *cg_bce_with_logits(cg_tensor *logits, cg_tensor *targets);
cg_tensor *cg_bce_with_logits_ex(cg_tensor *logits, cg_tensor *targets, cg_reduction red);
/* Softmax cross-entropy from logits [..., C] and int64 class ids [...]. */
cg_tensor *cg_cross_entropy(cg_tensor *logits, const cg_tensor *targets);
cg_tensor *cg_cross_entropy_ex(cg_tensor *logits, const cg_tensor *targets, cg_reduction red);
/* Layer normalization over the last dim (Ba et al. 2016): x: [..., D],
 * gamma, beta: [D] (NULL: 1 and 0, not trained) ->
 * (x - mean) / sqrt(var + eps) * gamma + beta, the variance biased as in
 * Keras and PyTorch (eps: PyTorch 1e-5, Keras 1e-3). */
cg_tensor *cg_layer_norm(cg_tensor *x, cg_tensor *gamma, cg_tensor *beta, double eps);
/* Inverted dropout: zero each element with probability p and scale the rest
 * by 1/(1-p); the mask is saved for the backward. Identity when !training
 * or p == 0. */
cg_tensor *cg_dropout(cg_tensor *x, double p, bool training, cg_rng *rng);

/* ------------------------------------------- fused elementwise programs */

/* Run a program of elementwise steps (see cg_fused_prog in tensor.h) as one
 * op: out[0 .. p->n_out-1] get its outputs; returns p->n_out, or -1 with an
 * error. The forward keeps the step values the derivative rules read (a few
 * tensors of the outputs' size); the backward applies each step's rule in
 * reverse on them.
 * Use it where a chain of small elementwise ops costs more in dispatch and
 * memory traffic than in arithmetic (a recurrent cell's gates). */
int cg_fused(const cg_fused_prog *p, cg_tensor *const *in, cg_tensor **out);

/* ---------------------------------------------------- the op table */

typedef struct cg_node cg_node;
typedef struct cg_op cg_op;

/* Forward: compute the outputs from the inputs with cg_k_* kernels (or any
 * code; nothing it does is recorded). Write n_out tensors to out and return
 * how many (-1 on error, with cg_set_error). Save what the backward needs
 * with cg_node_save. */
typedef int (*cg_forward_fn)(cg_node *node, cg_tensor *const *in, int n_in, cg_tensor **out);

/* What a backward hands back for one input: its gradient, in one of the
 * forms the engine can add without making every one of them a full tensor
 * first. Where it goes — the leaf's .grad or a thread's gradient sink, a
 * row-sparse embedding gradient, the unwritten slot of a bigger gradient, a
 * product put off to run with the next ones — the engine decides.
 *   CG_GRAD_TENSOR   t, of the input's shape or one that broadcasts to it
 *                    (summed back); a zeroed cg_grad_in with t set is this form
 *   CG_GRAD_ROWS     zeros except rows index[k] along axis += t's slice k
 *                    (index: int64 [k]; the backward of an index_select)
 *   CG_GRAD_SCATTER  zeros scatter-added with t at index along axis
 *                    (index like t; the backward of gather)
 *   CG_GRAD_PLACED   zeros except t at start, start + step, ... along axis;
 *                    squeezed: t has no axis dim and sits at start (select)
 *   CG_GRAD_PRODUCT  alpha * a @ b, 2-D (the backward of a product)
 *   CG_GRAD_WRITTEN  the op wrote the whole gradient into `into`
 * next chains further parts for the same input (their sum is the gradient). */
typedef enum cg_grad_form {
    CG_GRAD_TENSOR = 0,
    CG_GRAD_ROWS,
    CG_GRAD_SCATTER,
    CG_GRAD_PLACED,
    CG_GRAD_PRODUCT,
    CG_GRAD_WRITTEN
} cg_grad_form;

typedef struct cg_grad_in {
    cg_grad_form form;
    cg_tensor *t;
    const cg_tensor *index;
    int axis;
    int64_t start, step;
    bool squeezed;
    const cg_tensor *a, *b;
    double alpha;
    struct cg_grad_in *next;
    /* Set by the engine before the backward of an op with CG_WRITES_INTO,
     * for an input whose whole gradient can be written in place (a slice
     * taken by cg_select whose place in its source's gradient is still
     * unwritten): a tensor of the input's shape and dtype, not zeroed. Write
     * every element and set form to CG_GRAD_WRITTEN, or ignore it. */
    cg_tensor *into;
} cg_grad_in;

static inline cg_grad_in cg_grad_in_tensor(cg_tensor *t) { return (cg_grad_in){.t = t}; }
static inline cg_grad_in cg_grad_in_rows(int axis, const cg_tensor *index, cg_tensor *rows) {
    return (cg_grad_in){.form = CG_GRAD_ROWS, .t = rows, .index = index, .axis = axis};
}
static inline cg_grad_in cg_grad_in_scatter(int axis, const cg_tensor *index, cg_tensor *src) {
    return (cg_grad_in){.form = CG_GRAD_SCATTER, .t = src, .index = index, .axis = axis};
}
static inline cg_grad_in cg_grad_in_placed(int axis, int64_t start, int64_t step, bool squeezed, cg_tensor *t) {
    return (cg_grad_in){.form = CG_GRAD_PLACED, .t = t, .axis = axis, .start = start, .step = step, .squeezed = squeezed};
}
static inline cg_grad_in cg_grad_in_product(double alpha, const cg_tensor *a, const cg_tensor *b) {
    return (cg_grad_in){.form = CG_GRAD_PRODUCT, .a = a, .b = b, .alpha = alpha};
}

/* Backward: gout[j] is the gradient of output j (NULL if none reached it);
 * for each input i with needs_grad[i], fill gin[i] (zeroed on entry, but
 * for `into`), or leave it empty for no gradient. Tensors in gin are taken
 * as they are: hand back a view of gout when that is the gradient. */
typedef cg_status (*cg_backward_fn)(cg_node *node, cg_tensor *const *gout, const bool *needs_grad, cg_grad_in *gin);

#define CG_OP_VARIADIC (-1) /* n_in: any number of inputs (concat, stack) */
#define CG_MAX_OUTPUTS 64
/* reads: what the backward reads, checked for in-place changes made between
 * the forward and the backward (saved tensors are always checked). */
#define CG_READS_INPUT(i) (1u << (i)) /* input i (0..30) */
#define CG_READS_OUTPUTS (1u << 31)   /* the outputs */
/* flags */
#define CG_WRITES_INTO 1u /* the backward may write into gin[i].into */

/* One row of the op table. Write it with designated initializers:
 *     static const cg_op my_op = {.name = "my_op", .n_in = 2, .n_out = 1,
 *                                 .forward = my_fwd, .backward = my_bwd,
 *                                 .reads = CG_READS_INPUT(0) | CG_READS_INPUT(1)}; */
struct cg_op {
    const char *name;      /* "matmul" */
    int n_in;              /* tensor inputs, or CG_OP_VARIADIC */
    int n_out;             /* outputs (chunk/split: the most it may give) */
    size_t params_size;    /* bytes of the op's parameter struct, copied into the node */
    cg_forward_fn forward;
    cg_backward_fn backward; /* NULL: using it under backward is an error naming the op */
    unsigned reads;          /* CG_READS_INPUT(i) | CG_READS_OUTPUTS */
    unsigned flags;          /* CG_WRITES_INTO */
    int code;                /* for ops sharing a forward and backward (the elementwise ones): which */
};

/* Run an op: forward, then record a node if grad mode is on and an input
 * requires grad. Returns the first output (cg_op_apply) or the number of
 * outputs written to out (cg_op_apply_multi, -1 on error). */
cg_tensor *cg_op_apply(const cg_op *op, cg_tensor *const *in, int n_in, const void *params);
int cg_op_apply_multi(const cg_op *op, cg_tensor *const *in, int n_in, const void *params, cg_tensor **out);
/* How many nodes the calling thread has recorded since it started: the
 * difference across a training step is the size of its tape (profiling). */
uint64_t cg_nodes_recorded(void);

/* Add a user op to the table (the struct is copied; names must be unique).
 * Returns the table's row, or NULL with an error. */
const cg_op *cg_op_register(const cg_op *def);
int cg_op_count(void);
const cg_op *cg_op_at(int i);
const cg_op *cg_op_find(const char *name);

/* Inside forward/backward callbacks. */
const void *cg_node_params(const cg_node *node);
const cg_op *cg_node_op(const cg_node *node);
int cg_node_n_inputs(const cg_node *node);
cg_tensor *cg_node_input(const cg_node *node, int i);
cg_tensor *cg_node_output(const cg_node *node, int i);
/* Keep a tensor for the backward (ignored when nothing is recorded). */
void cg_node_save(cg_node *node, cg_tensor *t);
cg_tensor *cg_node_saved(const cg_node *node, int i);

/* ------------------------------------------------------------ gradcheck */

typedef cg_tensor *(*cg_gradcheck_fn)(cg_tensor *const *inputs, int n, void *user);

typedef struct cg_gradcheck_opts {
    double eps;     /* central-difference step (default 1e-6) */
    double atol;    /* |analytic - numeric| <= atol + rtol * |numeric| (defaults 1e-5, 1e-3) */
    double rtol;
    int max_points; /* elements checked per input, spread evenly (0: all) */
    uint64_t seed;  /* for the random output weights */
} cg_gradcheck_opts;

/* Compare the gradients backward gives for f at `inputs` (float64; those
 * requiring grad are checked) with float64 central differences of
 * sum(w * f(inputs)) for random weights w. A point that fails is looked at
 * again with a 10x smaller step: if its one-sided differences still disagree
 * as much, it is a kink (like relu at 0) and is skipped; if the smaller step
 * agrees with backward, the wider one had crossed a kink. Returns CG_OK,
 * or CG_ERR_NUMERIC with a message naming the input, the element and both
 * values. opts may be NULL. */
cg_status cg_gradcheck(cg_gradcheck_fn f, void *user, cg_tensor *const *inputs, int n,
                       const cg_gradcheck_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_AUTOGRAD_H */
