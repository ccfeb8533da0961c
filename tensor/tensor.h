/*
 * cgrad/tensor.h — n-d tensors, scopes, kernels, random numbers, errors.
 *
 * A tensor is a *view*: a shared storage plus an element offset, a shape and
 * per-dimension strides (in elements; 0 for broadcast dims, negative after a
 * flip). Up to CG_MAX_DIMS dims; 0-d (scalar) and size-0 tensors are valid.
 * Three dtypes: CG_FLOAT32 (the compute default), CG_FLOAT64 (gradcheck and
 * users who need it) and CG_INT64 (token ids, labels, indices).
 *
 * Memory: nobody frees a tensor. Every tensor is allocated in the current
 * *scope*, an arena that releases everything at cg_scope_end() and recycles
 * its blocks, so a loop of identical scoped steps stops calling malloc after
 * the first round:
 *
 *     cg_scope *s = cg_scope_begin();
 *     cg_tensor *a = cg_randn(NULL, CG_FLOAT32, CG_SHAPE(32, 128));
 *     cg_tensor *b = cg_k_binary(CG_MUL, a, a);       // no-grad kernel
 *     cg_tensor *r = cg_scope_keep(cg_k_reduce(CG_SUM, b, NULL, 0, false));
 *     cg_scope_end(s);                                 // a, b gone; r lives on
 *
 * Long-lived tensors (parameters, optimizer state) live in an *arena* that
 * their owner creates with cg_arena_new() and frees with cg_arena_free();
 * cg_scope_enter()/cg_scope_leave() make an arena the allocation target for a
 * while. Outside any scope, tensors go to a per-thread root arena that lives
 * until cg_cleanup().
 *
 * Kernels: the cg_k_* functions compute without recording anything. Most
 * programs call the differentiable wrappers of <cgrad/autograd.h> instead
 * (cg_add, cg_matmul, ...), which run these kernels and record the tape.
 *
 * Errors (two tiers). A kernel given bad input (shape or dtype mismatch, a
 * NULL, an index out of range) returns NULL and sets cg_last_error() to a
 * message that names the op and the shapes, e.g.
 *     "cg_matmul: [32,128] @ [64,512]: inner sizes 128 != 64".
 * A NULL input makes an op return NULL without touching the first message,
 * so a whole expression can be checked once at the end. With the
 * environment variable CG_ABORT_ON_ERROR=1 the first error aborts with its
 * message instead (for debugging). Recoverable failures (I/O, parsing,
 * allocation) return a cg_status and set the same message. The library never
 * calls exit() and never prints unless asked to.
 *
 * Threads: elementwise and reduction kernels use OpenMP above a grain size,
 * GEMM uses BLIS' own threads; the two never nest. cg_set_num_threads()
 * sets both. Reductions use a fixed chunking and random numbers come from a
 * counter-based generator (Philox-4x32-10), so results are bit-identical
 * whatever the thread count.
 */
#ifndef CGRAD_TENSOR_H
#define CGRAD_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CG_MAX_DIMS 8

/* Build (shape, ndim) argument pairs inline: cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3)). */
#define CG_SHAPE(...)                                                                              \
    (const int64_t[]){__VA_ARGS__},                                                                \
        (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
/* Build (axes, naxes) argument pairs: cg_k_reduce(CG_SUM, x, CG_AXES(0, 2), true). */
#define CG_AXES(...)                                                                               \
    (const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

typedef enum cg_dtype { CG_FLOAT32 = 0, CG_FLOAT64 = 1, CG_INT64 = 2 } cg_dtype;

typedef struct cg_tensor cg_tensor;
typedef struct cg_scope cg_scope;

/* ------------------------------------------------------------------ errors */

typedef enum cg_status {
    CG_OK = 0,
    CG_ERR_NULL,   /* a required argument was NULL */
    CG_ERR_SHAPE,  /* shapes do not fit (rank, sizes, broadcasting) */
    CG_ERR_DTYPE,  /* wrong or mismatched dtype */
    CG_ERR_INDEX,  /* index or axis out of range */
    CG_ERR_VALUE,  /* a bad numeric argument (negative size, NaN, ...) */
    CG_ERR_NOMEM,  /* allocation failed */
    CG_ERR_IO,     /* a file could not be opened, read or written */
    CG_ERR_PARSE,  /* malformed file content */
    CG_ERR_STATE,  /* the call is not valid now (scope order, freed graph, ...) */
    CG_ERR_NUMERIC /* NaN/Inf found in anomaly mode */
} cg_status;

/* The message of the most recent error on this thread ("" if none). */
const char *cg_last_error(void);
/* The status of the most recent error on this thread (CG_OK if none). */
cg_status cg_last_status(void);
/* Forget the last error. */
void cg_clear_error(void);
/* Record an error (printf-style message) and return `code`. Used by every
 * layer; with CG_ABORT_ON_ERROR=1 it prints the message and aborts. */
cg_status cg_set_error(cg_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "[32,128]": the shape of t in a rotating thread-local buffer (8 slots), so
 * several may appear in one message. "NULL" for a NULL tensor. */
const char *cg_shape_str(const cg_tensor *t);
/* Like cg_shape_str for a raw shape array. */
const char *cg_dims_str(const int64_t *shape, int ndim);

/* ------------------------------------------------------------ the tensor */

typedef struct cg_storage {
    void *data;       /* 64-byte aligned */
    size_t nbytes;
    uint64_t version; /* bumped by every in-place kernel */
    cg_scope *scope;  /* the arena that owns the bytes */
    uint64_t serial;  /* cg_alloc_serial() just after cgrad's allocator made it (0: bytes from elsewhere) */
} cg_storage;

struct cg_tensor {
    cg_storage *storage;
    int64_t offset; /* in elements, from storage->data */
    int64_t shape[CG_MAX_DIMS];
    int64_t strides[CG_MAX_DIMS]; /* in elements */
    int ndim;
    cg_dtype dtype;
    cg_scope *scope;                    /* the arena holding this struct */
    struct cg_autograd_meta *autograd;  /* owned by autograd/; NULL when untracked */
};

size_t cg_dtype_size(cg_dtype dt);
const char *cg_dtype_name(cg_dtype dt); /* "float32", "float64", "int64" */
bool cg_dtype_is_float(cg_dtype dt);

int64_t cg_numel(const cg_tensor *t);
bool cg_is_contiguous(const cg_tensor *t); /* row-major, no gaps */
bool cg_same_shape(const cg_tensor *a, const cg_tensor *b);
/* Address of element [0,...,0]; typed accessors return NULL (and set an
 * error) when the dtype differs. Data is only contiguous if cg_is_contiguous. */
void *cg_data(const cg_tensor *t);
float *cg_data_f32(const cg_tensor *t);
double *cg_data_f64(const cg_tensor *t);
int64_t *cg_data_i64(const cg_tensor *t);
/* Element access by full index (idx has t->ndim entries), as double. */
double cg_get(const cg_tensor *t, const int64_t *idx);
cg_status cg_set(cg_tensor *t, const int64_t *idx, double value);
/* The value of a 1-element tensor (NaN and an error otherwise). */
double cg_item(const cg_tensor *t);
/* Copy all elements in row-major order into dst (nbytes >= numel*elsize). */
cg_status cg_copy_out(const cg_tensor *t, void *dst, size_t nbytes);

/* ----------------------------------------------------------------- scopes */

/* Open a scope; tensors created until the matching cg_scope_end live in it. */
cg_scope *cg_scope_begin(void);
/* Close the innermost scope (must be `s`) and release everything in it. */
void cg_scope_end(cg_scope *s);
/* Copy t's values into the enclosing scope and return the copy (contiguous,
 * detached from any graph). Outside a scope it returns t itself. */
cg_tensor *cg_scope_keep(const cg_tensor *t);
/* The current allocation target. */
cg_scope *cg_scope_current(void);
/* A free-standing arena for long-lived tensors (parameters, optimizer
 * state); it is not the allocation target until cg_scope_enter(). */
cg_scope *cg_arena_new(void);
/* Release an arena and everything in it (blocks return to the cache). */
void cg_arena_free(cg_scope *arena);
/* Make an arena the allocation target until cg_scope_leave(arena). */
void cg_scope_enter(cg_scope *arena);
void cg_scope_leave(cg_scope *arena);
/* Raw 64-byte-aligned bytes in the current scope (zeroed if `zero`).
 * Lives as long as the scope. */
void *cg_scope_alloc(size_t nbytes, bool zero);
/* Same, in a given arena. */
void *cg_arena_alloc(cg_scope *arena, size_t nbytes, bool zero);
/* Number of malloc calls cgrad's allocator has made so far (tests use it to
 * show a repeated scoped computation allocates nothing new). */
uint64_t cg_heap_allocations(void);
/* Bytes the allocator currently holds from the system (in use + cached). */
size_t cg_heap_bytes(void);
/* Give cached blocks back to the system. */
void cg_scope_trim(void);
/* Hand this thread's cached blocks to a pool the other threads take from
 * before they ask the system: for threads that come and go, or that run
 * only now and then (cg_train_batch's helpers call it after each batch).
 * cg_cleanup releases the pool. */
void cg_scope_share_cache(void);
/* Release the root arena, the block cache and per-thread state of this
 * thread, and the shared pool (cg_scope_share_cache): call it when no other
 * thread allocates. Every tensor created outside a scope becomes invalid. */
void cg_cleanup(void);

/* Reuse of dead tensors' bytes, for one pass that makes many short-lived
 * tensors (the backward's gradients). Between cg_scope_recycle_begin() and
 * cg_scope_recycle_end() on a thread, cg_scope_recycle(t) hands back the
 * bytes of a tensor that nothing will read or write again: a whole,
 * contiguous tensor this thread made in the scope that was current at
 * begin. The next tensor of exactly that size made there takes them, most
 * recently handed back first, while they are still in cache. Returns false
 * (and keeps nothing) for a tensor that does not qualify. Ending that scope
 * ends the pass. */
void cg_scope_recycle_begin(void);
void cg_scope_recycle_end(void);
bool cg_scope_recycle(const cg_tensor *t);
/* A pass over products whose operands do not change while it lasts (the
 * backward opens one): between cg_gemm_reuse_begin() and
 * cg_gemm_reuse_end() on a thread, a float32 product's transposed right
 * operand (g @ W^T, up to 64 Ki elements) met a second time is copied
 * row-major once and read from the copy, so libxsmm runs the product. The pair
 * nests; the copies are made in the scope current at the outer begin, which
 * must outlive the pass. */
void cg_gemm_reuse_begin(void);
void cg_gemm_reuse_end(void);
/* How many tensors cgrad's allocator has made so far, on all threads: a
 * storage whose serial is above a value read earlier was made since. */
uint64_t cg_alloc_serial(void);

/* Make `s` (any live scope or arena) the allocation target and return the
 * previous target; give that back to cg_scope_redirect to restore it. Used
 * to allocate a gradient next to the leaf that owns it. */
cg_scope *cg_scope_redirect(cg_scope *s);

/* Upper layers (autograd) attach per-scope state through these hooks: begin
 * runs after a scope opens or an arena is entered, end when a scope closes
 * (before its memory goes) or an arena is left. `slot` is a per-scope word
 * the hook may use. One pair may be installed. */
typedef void (*cg_scope_hook)(cg_scope *s, uintptr_t *slot);
void cg_scope_set_hooks(cg_scope_hook on_begin, cg_scope_hook on_end);

/* --------------------------------------------------------------- creation */

/* All creation functions allocate in the current scope. shape may be NULL
 * when ndim == 0 (a scalar). Sizes must be >= 0. */
cg_tensor *cg_empty(cg_dtype dt, const int64_t *shape, int ndim);
cg_tensor *cg_zeros(cg_dtype dt, const int64_t *shape, int ndim);
cg_tensor *cg_ones(cg_dtype dt, const int64_t *shape, int ndim);
cg_tensor *cg_full(cg_dtype dt, const int64_t *shape, int ndim, double value);
cg_tensor *cg_scalar(cg_dtype dt, double value); /* 0-d */
/* A copy of `count` elements of type dt from data, in row-major order. */
cg_tensor *cg_from_data(cg_dtype dt, const int64_t *shape, int ndim, const void *data);
cg_tensor *cg_empty_like(const cg_tensor *t);
cg_tensor *cg_zeros_like(const cg_tensor *t);
cg_tensor *cg_ones_like(const cg_tensor *t);
/* [start, stop) in steps of step (step != 0), like numpy.arange. */
cg_tensor *cg_arange(cg_dtype dt, double start, double stop, double step);
/* n evenly spaced values from a to b inclusive. */
cg_tensor *cg_linspace(cg_dtype dt, double a, double b, int64_t n);
cg_tensor *cg_eye(cg_dtype dt, int64_t n);
/* Convert to another dtype (float -> int64 truncates toward zero, saturates
 * out of range, NaN -> 0). Always a new contiguous tensor. */
cg_tensor *cg_to_dtype(const cg_tensor *t, cg_dtype dt);
/* A contiguous copy (always copies). */
cg_tensor *cg_clone(const cg_tensor *t);

/* ------------------------------------------------------- random numbers */

/* A counter-based generator: the i-th number drawn after seeding depends only
 * on (seed, i), never on the thread count. Copy the struct to save state. */
typedef struct cg_rng {
    uint64_t seed;
    uint64_t counter; /* 128-bit Philox blocks consumed */
} cg_rng;

cg_rng cg_rng_seeded(uint64_t seed);
/* The process-wide generator (used when an rng argument is NULL). */
cg_rng *cg_default_rng(void);
void cg_manual_seed(uint64_t seed);
uint64_t cg_rng_u64(cg_rng *r);
/* Forked streams, for parts of one step run side by side on threads
 * (cg_train_batch): while a fork is set on a thread, every draw there from
 * a generator g (NULL: the default one) comes from a stream of its own,
 * seeded from g's state and the fork's key, so each part draws different
 * numbers and the same ones on every run. The fork lives in the current
 * scope. After the forks end, cg_rng_fork_advance moves each generator they
 * drew from one block on, once, so the next step draws anew. */
typedef struct cg_rng_fork cg_rng_fork;
cg_rng_fork *cg_rng_fork_begin(uint64_t key);
void cg_rng_fork_end(void);
void cg_rng_fork_advance(cg_rng_fork *const *forks, int n);
double cg_rng_uniform(cg_rng *r); /* [0, 1) */
double cg_rng_normal(cg_rng *r);  /* N(0, 1) */
/* A random permutation of 0..n-1 (int64, [n]). */
cg_tensor *cg_randperm(cg_rng *r, int64_t n);

/* U[0,1), N(0,1), U[lo,hi), N(mean,std), integers in [low, high), and 0/1
 * with probability p. Float dtypes for all but randint (any dtype). */
cg_tensor *cg_rand(cg_rng *r, cg_dtype dt, const int64_t *shape, int ndim);
cg_tensor *cg_randn(cg_rng *r, cg_dtype dt, const int64_t *shape, int ndim);
cg_tensor *cg_uniform(cg_rng *r, cg_dtype dt, double lo, double hi, const int64_t *shape, int ndim);
cg_tensor *cg_normal(cg_rng *r, cg_dtype dt, double mean, double std, const int64_t *shape,
                     int ndim);
cg_tensor *cg_randint(cg_rng *r, cg_dtype dt, int64_t low, int64_t high, const int64_t *shape,
                      int ndim);
cg_tensor *cg_bernoulli(cg_rng *r, cg_dtype dt, double p, const int64_t *shape, int ndim);

/* ------------------------------------------------------------------ views */
/* Views share storage with their input; nothing is copied. Negative dims
 * count from the end. */

/* Same elements, new shape; one size may be -1. A view when the strides
 * allow it, else a contiguous copy (like torch.reshape). */
cg_tensor *cg_k_reshape(const cg_tensor *x, const int64_t *shape, int ndim);
/* Like cg_k_reshape but never copies: an error when no view is possible. */
cg_tensor *cg_k_view(const cg_tensor *x, const int64_t *shape, int ndim);
cg_tensor *cg_k_transpose(const cg_tensor *x, int d0, int d1);
cg_tensor *cg_k_permute(const cg_tensor *x, const int *dims, int ndims);
/* x[..., start:stop:step, ...] on dim (Python semantics for negative and
 * out-of-range bounds; step > 0). */
cg_tensor *cg_k_slice(const cg_tensor *x, int dim, int64_t start, int64_t stop, int64_t step);
/* x[..., index, ...]: removes dim. */
cg_tensor *cg_k_select(const cg_tensor *x, int dim, int64_t index);
/* Broadcast to shape (size -1 keeps a dim; new leading dims allowed). */
cg_tensor *cg_k_expand(const cg_tensor *x, const int64_t *shape, int ndim);
/* Remove dim (which must have size 1). */
cg_tensor *cg_k_squeeze(const cg_tensor *x, int dim);
cg_tensor *cg_k_unsqueeze(const cg_tensor *x, int dim);
/* Reverse the order along each listed dim (negative strides, no copy). */
cg_tensor *cg_k_flip(const cg_tensor *x, const int *dims, int ndims);
/* x itself when contiguous, else a contiguous copy. */
cg_tensor *cg_k_contiguous(const cg_tensor *x);
/* The NumPy-broadcast shape of a and b into out (CG_MAX_DIMS entries). */
cg_status cg_broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out,
                             int *nout);

/* ------------------------------------------------------------ elementwise */

/* The elementwise primitives, one row each: the enum name, the op's name
 * (cg_<name> in autograd.h), and what its derivative rule reads besides the
 * output's gradient (X the input, Y the output; A, B the operands). The
 * forwards and derivative rules are written once (tensor/elementwise_rules.h)
 * and serve these kernels, the fused programs and autograd's backward.
 * Comparisons have no derivative. */
#define CG_UNARY_OPS(X)                                                                            \
    X(NEG, neg, 0)                                                                                 \
    X(EXP, exp, CG_READS_Y)                                                                        \
    X(LOG, log, CG_READS_X)                                                                        \
    X(SQRT, sqrt, CG_READS_Y)                                                                      \
    X(ABS, abs, CG_READS_X)                                                                        \
    X(TANH, tanh, CG_READS_Y)                                                                      \
    X(SIGMOID, sigmoid, CG_READS_Y) /* 1/(1+exp(-x)), no overflow for large |x| */                 \
    X(RELU, relu, CG_READS_Y)       /* derivative 0 at 0 */                                        \
    X(SIGN, sign, 0)                /* derivative 0 */                                             \
    X(SQUARE, square, CG_READS_X)                                                                  \
    X(RECIPROCAL, reciprocal, CG_READS_Y)                                                          \
    X(SOFTSIGN, softsign, CG_READS_X) /* x / (1 + |x|) */
#define CG_BINARY_OPS(X)                                                                           \
    X(ADD, add, 0)                                                                                 \
    X(SUB, sub, 0)                                                                                 \
    X(MUL, mul, CG_READS_A | CG_READS_B)                                                           \
    X(DIV, div, CG_READS_B | CG_READS_Y)                                                           \
    X(POW, pow, CG_READS_A | CG_READS_B | CG_READS_Y)                                              \
    X(MAXIMUM, maximum, CG_READS_A | CG_READS_B) /* NaN propagates; ties split the gradient */      \
    X(MINIMUM, minimum, CG_READS_A | CG_READS_B)                                                   \
    X(EQ, eq, CG_NO_DERIVATIVE) /* comparisons give 1/0 in the operands' dtype */                 \
    X(NE, ne, CG_NO_DERIVATIVE)                                                                    \
    X(LT, lt, CG_NO_DERIVATIVE)                                                                    \
    X(LE, le, CG_NO_DERIVATIVE)                                                                    \
    X(GT, gt, CG_NO_DERIVATIVE)                                                                    \
    X(GE, ge, CG_NO_DERIVATIVE)
#define CG_READS_X 1u  /* unary: the derivative reads the input */
#define CG_READS_Y 2u  /* the derivative reads the output */
#define CG_READS_A 4u  /* binary: the derivatives read the left operand */
#define CG_READS_B 8u  /* ... the right operand */
#define CG_NO_DERIVATIVE 16u

#define CG_OP_ENUM_(E, name, reads) CG_##E,
typedef enum cg_unop { CG_UNARY_OPS(CG_OP_ENUM_) CG_UNOP_COUNT } cg_unop;
typedef enum cg_binop { CG_BINARY_OPS(CG_OP_ENUM_) CG_BINOP_COUNT } cg_binop;
#undef CG_OP_ENUM_

const char *cg_unop_name(cg_unop op);   /* "exp" */
const char *cg_binop_name(cg_binop op); /* "add" */

/* y = op(x). int64 supports neg, abs, sign, square, relu. */
cg_tensor *cg_k_unary(cg_unop op, const cg_tensor *x);
/* The gradient of y = op(x)'s input from y's gradient g: g times op's
 * derivative, elementwise (the chain rule's local factor), by op's rule.
 * x and y are what op read and gave (either may be NULL when the rule does
 * not read it: CG_UNARY_OPS). All of y's shape; float dtypes. */
cg_tensor *cg_k_unary_grad(cg_unop op, const cg_tensor *g, const cg_tensor *x, const cg_tensor *y);
/* The same for operand `which` (0: a, 1: b) of y = op(a, b): the gradient
 * in the broadcast shape of y (summing it to the operand's shape is the
 * caller's). NULL with an error for a comparison. */
cg_tensor *cg_k_binary_grad(cg_binop op, int which, const cg_tensor *g, const cg_tensor *a, const cg_tensor *b,
                            const cg_tensor *y);
/* x = op(x) in place; returns x. */
cg_tensor *cg_k_unary_(cg_unop op, cg_tensor *x);
/* NumPy broadcasting of a and b (same dtype; int64 has no div/pow). */
cg_tensor *cg_k_binary(cg_binop op, const cg_tensor *a, const cg_tensor *b);
/* a = op(a, b) in place; b must broadcast to a's shape. Returns a. */
cg_tensor *cg_k_binary_(cg_binop op, cg_tensor *a, const cg_tensor *b);
/* op(x, s) with a scalar right operand; cg_k_scalar_ is in place. */
cg_tensor *cg_k_scalar(cg_binop op, const cg_tensor *x, double s);
cg_tensor *cg_k_scalar_(cg_binop op, cg_tensor *x, double s);
/* op(s, x) with a scalar left operand (e.g. 1 - x, 2 / x). */
cg_tensor *cg_k_rscalar(cg_binop op, double s, const cg_tensor *x);
/* min(max(x, lo), hi); pass -INFINITY/INFINITY for one-sided clamps. */
cg_tensor *cg_k_clamp(const cg_tensor *x, double lo, double hi);
/* cond != 0 ? a : b, all three broadcast (cond of any dtype). */
cg_tensor *cg_k_where(const cg_tensor *cond, const cg_tensor *a, const cg_tensor *b);
/* mask != 0 ? value : x (mask broadcasts to x). */
cg_tensor *cg_k_masked_fill(const cg_tensor *x, const cg_tensor *mask, double value);
/* dst[...] = src (src broadcasts to dst; same dtype). Returns dst. */
cg_tensor *cg_k_copy_(cg_tensor *dst, const cg_tensor *src);
/* Set every element of t to value. Returns t. */
cg_tensor *cg_k_fill_(cg_tensor *t, double value);
/* y += alpha * x (x broadcasts to y; same dtype). Returns y. */
cg_tensor *cg_k_axpy_(cg_tensor *y, double alpha, const cg_tensor *x);
/* Does t hold a NaN or an infinity? (always false for int64) */
bool cg_k_has_nonfinite(const cg_tensor *t);

/* ------------------------------------------------- fused elementwise programs */

/* A chain of elementwise steps run as one pass over the elements: each block
 * of elements goes through every step while it is in cache, and no
 * intermediate tensor is made. autograd's cg_fused records a program as one
 * op whose backward applies each step's own derivative rule in reverse
 * (cg_k_fused_backward), so a cell written as a program is still composed
 * from primitives. An LSTM cell:
 *
 *     cg_fused_prog p;
 *     cg_fused_begin(&p, "lstm_cell");
 *     int z = cg_fused_input(&p, 4);  // registers z..z+3: the quarters of z's last dim
 *     int c = cg_fused_input(&p, 1);
 *     int i = cg_fused_unary(&p, CG_SIGMOID, z), f = cg_fused_unary(&p, CG_SIGMOID, z + 1);
 *     int g = cg_fused_unary(&p, CG_TANH, z + 2), o = cg_fused_unary(&p, CG_SIGMOID, z + 3);
 *     int c2 = cg_fused_binary(&p, CG_ADD, cg_fused_binary(&p, CG_MUL, f, c),
 *                              cg_fused_binary(&p, CG_MUL, i, g));
 *     cg_fused_output(&p, cg_fused_binary(&p, CG_MUL, o, cg_fused_unary(&p, CG_TANH, c2)));
 *     cg_fused_output(&p, c2);
 *
 * Registers: the inputs' first (an input split into `parts` pieces along its
 * last dim gives `parts` registers, in order), then one per step. Steps:
 * every unary op (CG_UNARY_OPS) and every binary op with a derivative (all
 * but the comparisons) — the same formulas as cg_k_unary/cg_k_binary, from
 * the same rows. All pieces broadcast
 * together (NumPy rules) to the outputs' shape; a split input's pieces must
 * have the outputs' last dim. A builder call with a bad argument (or a -1
 * register from an earlier failed call) returns -1, sets the error and marks
 * the program, which then refuses to run. The program is a plain value: copy
 * it, keep it static, build it once. */
#define CG_FUSED_MAX_INPUTS 8
#define CG_FUSED_MAX_REGS 48
#define CG_FUSED_MAX_OUTPUTS 4

typedef struct cg_fused_step {
    uint8_t binary, op, a, b; /* op: a cg_unop or cg_binop; a, b: registers */
} cg_fused_step;

typedef struct cg_fused_prog {
    char name[32];
    int n_in, n_in_regs, n_steps, n_out;
    bool bad;
    uint8_t parts[CG_FUSED_MAX_INPUTS];
    cg_fused_step steps[CG_FUSED_MAX_REGS];
    uint8_t out[CG_FUSED_MAX_OUTPUTS];
} cg_fused_prog;

void cg_fused_begin(cg_fused_prog *p, const char *name);
/* The next input; returns its first register. Inputs come before steps. */
int cg_fused_input(cg_fused_prog *p, int parts);
/* A step; returns its register. */
int cg_fused_unary(cg_fused_prog *p, cg_unop op, int a);
int cg_fused_binary(cg_fused_prog *p, cg_binop op, int a, int b);
/* Return register r as the next output; returns the output's index. */
int cg_fused_output(cg_fused_prog *p, int r);

/* Run p on in[0 .. p->n_in-1] (one float dtype): out[0 .. p->n_out-1] get
 * new contiguous tensors of the broadcast shape. With keep, *keep gets the
 * step values the backward reads ([k, numel], NULL when it reads none). */
cg_status cg_k_fused(const cg_fused_prog *p, const cg_tensor *const *in, cg_tensor **out, cg_tensor **keep);
/* The gradients of p's inputs from its outputs' gradients gout[j] (NULL: no
 * gradient reached output j). For each i with need[i] (need NULL: all),
 * gin[i] gets a new tensor of the broadcast shape with input i's last dim;
 * summing it to input i's shape gives the gradient. keep: what the forward
 * kept, or NULL to recompute the step values from the inputs. */
cg_status cg_k_fused_backward(const cg_fused_prog *p, const cg_tensor *const *in, const cg_tensor *const *gout,
                              const bool *need, cg_tensor **gin, const cg_tensor *keep);
/* Same, with input i's gradient written into into[i] when that is not NULL
 * (into NULL: none are): a tensor of the shape gin[i] would have, which
 * gin[i] then is. It is written in place when its last dim is contiguous
 * and its rows are evenly spaced (a slice of a bigger gradient), else
 * through a copy; it must not overlap anything the backward reads. */
cg_status cg_k_fused_backward_into(const cg_fused_prog *p, const cg_tensor *const *in, const cg_tensor *const *gout,
                                   const bool *need, cg_tensor **gin, const cg_tensor *keep, cg_tensor *const *into);

/* ------------------------------------------------------------- reductions */

typedef enum cg_redop { CG_SUM, CG_MEAN, CG_MAX, CG_MIN, CG_PROD, CG_LOGSUMEXP, CG_REDOP_COUNT } cg_redop;
const char *cg_redop_name(cg_redop op);

/* Reduce over the listed axes (axes == NULL or naxes == 0: all axes). With
 * keepdim the reduced dims stay with size 1. float32 sums accumulate in
 * double. Max/min of an empty set is an error; the sum is 0. */
cg_tensor *cg_k_reduce(cg_redop op, const cg_tensor *x, const int *axes, int naxes, bool keepdim);
/* Index (int64) of the max/min along one axis; first occurrence wins. */
cg_tensor *cg_k_argmax(const cg_tensor *x, int axis, bool keepdim);
cg_tensor *cg_k_argmin(const cg_tensor *x, int axis, bool keepdim);
/* Reduce `g` (shape broadcast from `shape`) back to `shape` by summing the
 * broadcast dims: the backward of broadcasting. Returns g when it already has
 * that shape. */
cg_tensor *cg_k_sum_to(const cg_tensor *g, const int64_t *shape, int ndim);
/* Numerically stable log_softmax / softmax along one axis. */
cg_tensor *cg_k_log_softmax(const cg_tensor *x, int axis);
cg_tensor *cg_k_softmax(const cg_tensor *x, int axis);

/* ------------------------------------------------------------------ GEMM */

/* a: [..., M, K] @ b: [..., K, N] -> [..., M, N]; batch dims broadcast, 1-D
 * operands are promoted like numpy.matmul. Float dtypes. Strided views go to
 * BLIS as they are (a transposed operand is not copied). */
cg_tensor *cg_k_matmul(const cg_tensor *a, const cg_tensor *b);
/* beta * c + alpha * (a @ b) for 2-D a: [M,K], b: [K,N]; c broadcasts to
 * [M,N] (a bias [N] is the usual case) and is fed to GEMM as its C. */
cg_tensor *cg_k_addmm(const cg_tensor *c, const cg_tensor *a, const cg_tensor *b, double beta,
                      double alpha);
/* out = beta * out + alpha * (a @ b), in place, 2-D; out may be a strided
 * view. Returns out. */
cg_tensor *cg_k_gemm_(cg_tensor *out, const cg_tensor *a, const cg_tensor *b, double alpha,
                      double beta);
/* Products of fewer flops (2·M·N·K) run on one BLIS thread: waking threads
 * costs more than it saves. */
#define CG_GEMM_THREADED_FLOPS 4.0e6

/* Independent products out_i = beta_i * out_i + alpha_i * a_i @ b_i (2-D).
 * With two or more threads and products of 4 MFLOP or more each, they run
 * side by side, one BLIS thread each: for the mid-size products of a
 * recurrent step's backward that is quicker than one after the other with
 * BLIS splitting each. Smaller products, and jobs whose destination
 * overlaps another job's tensors, run one after the other. The results are
 * the same bits either way. False with an error on bad input. */
typedef struct cg_gemm_job {
    cg_tensor *out;
    const cg_tensor *a, *b;
    double alpha, beta;
} cg_gemm_job;
bool cg_k_gemm_many_(const cg_gemm_job *jobs, int n);

/* out += alpha * a @ b (2-D). With two or more threads it is held back on
 * this thread: the next single-thread product this thread runs
 * (cg_k_gemm_, cg_k_matmul, cg_k_addmm) takes it along, the two side by
 * side; cg_k_gemm_sync() runs whatever is still held. With one thread it
 * runs at once. Held products run in the order they were held, each on one
 * BLIS thread, so the bits do not depend on the thread count. Until
 * cg_k_gemm_sync() returns, the caller must not touch out nor write a or b,
 * and all three must stay allocated. False with an error on bad input. */
bool cg_k_gemm_async_(cg_tensor *out, const cg_tensor *a, const cg_tensor *b, double alpha);
/* Run every product this thread holds (cg_k_gemm_async_). */
void cg_k_gemm_sync(void);

/* Profiling the products. Between cg_gemm_trace_begin(buf, cap) and
 * cg_gemm_trace_end(), every product cgrad hands BLIS is counted and the
 * first cap of them described in buf (buf may be NULL with cap 0), and the
 * time spent in products is summed: the wall time of the thread that asked
 * for them, so products run side by side count once, and products of a
 * batch's parts run in parallel count once per part. One trace at a time;
 * the costs when no trace is on are a flag's test per product. */
typedef struct cg_gemm_record {
    cg_dtype dtype;
    int64_t m, n, k;            /* [m,k] @ [k,n] */
    int64_t rs_a, cs_a, rs_b, cs_b, rs_c, cs_c; /* element strides as BLIS got them */
    double alpha, beta;
    int threads;                /* BLIS threads it ran on */
} cg_gemm_record;
typedef struct cg_gemm_trace {
    int64_t products;           /* all of them, also past cap */
    double flops;               /* 2 m n k summed */
    double seconds;
} cg_gemm_trace;
void cg_gemm_trace_begin(cg_gemm_record *buf, int64_t cap);
cg_gemm_trace cg_gemm_trace_end(void);

/* ---------------------------------------------------- joining and indexing */

/* Join along an existing axis (sizes must match elsewhere). */
cg_tensor *cg_k_concat(const cg_tensor *const *ts, int n, int axis);
/* Join along a new axis. */
cg_tensor *cg_k_stack(const cg_tensor *const *ts, int n, int axis);
/* Split into n views along axis (sizes ceil(len/n), the last may be
 * smaller, like torch.chunk); writes up to n views to out and returns how
 * many (-1 on error). */
int cg_k_chunk(const cg_tensor *x, int n, int axis, cg_tensor **out);
/* Split into views of the given sizes (they must sum to the axis length). */
cg_status cg_k_split(const cg_tensor *x, const int64_t *sizes, int n, int axis, cg_tensor **out);
/* Rows of x along axis picked by idx (int64, 1-D): out.shape[axis] = len(idx). */
cg_tensor *cg_k_index_select(const cg_tensor *x, int axis, const cg_tensor *idx);
/* dst.index_select(axis, idx) += src, in place (repeated ids accumulate). */
cg_tensor *cg_k_index_add_(cg_tensor *dst, int axis, const cg_tensor *idx, const cg_tensor *src);
/* out[i][j] = x[idx[i][j]][j] (axis 0), idx int64 with x's rank. */
cg_tensor *cg_k_gather(const cg_tensor *x, int axis, const cg_tensor *idx);
/* dst[idx[i][j]][j] += src[i][j] (axis 0), in place. Returns dst. */
cg_tensor *cg_k_scatter_add_(cg_tensor *dst, int axis, const cg_tensor *idx, const cg_tensor *src);
/* Out-of-place scatter_add: a copy of x with src added at idx. */
cg_tensor *cg_k_scatter_add(const cg_tensor *x, int axis, const cg_tensor *idx,
                            const cg_tensor *src);

/* --------------------------------------------------------------- printing */

/* NumPy-like repr: "tensor([[1.0000, 2.0000], ...], shape=[2, 2], dtype=float32)";
 * big tensors show 3 items at each edge and "..." between. */
void cg_print(const cg_tensor *t);
void cg_fprint(FILE *f, const cg_tensor *t);
/* Into buf (always NUL-terminated); returns the full length like snprintf. */
size_t cg_snprint(char *buf, size_t size, const cg_tensor *t);

/* ------------------------------------------------------------ safetensors */
/* The safetensors file format (what PyTorch's safetensors package reads and
 * writes): u64 little-endian header length, a JSON header mapping each name
 * to {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [b, e]}
 * (plus an optional "__metadata__" object of string values), then the raw
 * little-endian bytes. */

typedef struct cg_named_tensor {
    const char *name;
    const cg_tensor *tensor;
} cg_named_tensor;

/* Write n tensors (any strides; stored row-major) and optional metadata
 * (meta_keys/meta_values: n_meta strings each, may be NULL) to path.
 * Atomic: the data goes to a temporary file in the same directory that is
 * fsync'ed and renamed over path, so an existing file is never left
 * half-written. */
cg_status cg_safetensors_save(const char *path, const cg_named_tensor *ts, int n, const char *const *meta_keys,
                              const char *const *meta_values, int n_meta);

typedef struct cg_safetensors cg_safetensors;
/* Read and validate a whole file (header JSON, dtypes, shapes, offsets in
 * range and not overlapping). NULL with an error naming the file and the
 * problem (truncated, bad JSON, unknown dtype, ...). */
cg_safetensors *cg_safetensors_open(const char *path);
void cg_safetensors_close(cg_safetensors *f);
int cg_safetensors_count(const cg_safetensors *f);
const char *cg_safetensors_name(const cg_safetensors *f, int i); /* in file order */
/* Does the file hold `name`? Its dtype and shape (shape: CG_MAX_DIMS slots). */
bool cg_safetensors_info(const cg_safetensors *f, const char *name, cg_dtype *dt, int64_t *shape, int *ndim);
/* A new contiguous tensor (in the current scope) with the stored values;
 * NULL with an error naming the tensor and the file if it is missing. */
cg_tensor *cg_safetensors_get(const cg_safetensors *f, const char *name);
/* A metadata value, or NULL. */
const char *cg_safetensors_meta(const cg_safetensors *f, const char *key);

/* ---------------------------------------------------------------- threads */

/* Threads for OpenMP kernels and BLIS (n >= 1). The default is
 * OMP_NUM_THREADS or the number of cores. */
void cg_set_num_threads(int n);
int cg_get_num_threads(void);

/* ------------------------------------------------------------- build info */

/* What runs: cgrad's version, how it was built, which version of the hot
 * loops (elementwise, fused cells, reductions, optimizers) this CPU runs,
 * and BLIS's version and sub-configuration. BLIS falls back to its generic
 * kernels on CPUs newer than itself; when it would, cgrad picks an
 * optimized sub-configuration before BLIS starts (unless BLIS_ARCH_TYPE is
 * set), and blis_config_by says who chose. Calling this starts BLIS. The
 * strings are static. */
typedef struct cg_info {
    const char *version;        /* "0.1.0" */
    const char *build;          /* portable (run-time dispatch) or for one CPU */
    const char *kernels;        /* the loops in use: "x86-64-v4 (AVX-512)", ... */
    const char *cpu;            /* brand, vendor, family, model, AVX2/AVX-512 */
    const char *blis_version;   /* "0.9.0" */
    const char *blis_config;    /* "zen3", "skx", "haswell", "generic", ... */
    int blis_arch_type;         /* its BLIS_ARCH_TYPE number */
    const char *blis_config_by; /* "BLIS", "cgrad (...)", "BLIS_ARCH_TYPE=6" */
    const char *small_gemm;     /* who runs the float32 products libxsmm can take: libxsmm or BLIS, and why */
    int threads;                /* cg_get_num_threads() */
    bool cpu_avx2, cpu_avx512;  /* AVX2 with FMA; AVX-512 F, DQ, BW, VL (with the OS saving them) */
} cg_info;
cg_info cg_build_info(void);
/* The same as six lines of text ("cgrad 0.1.0, portable: ..."). */
void cg_build_info_print(FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_TENSOR_H */
