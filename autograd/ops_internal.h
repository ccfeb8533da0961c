/* What the built-in op files (ops_*.c) share. */
#ifndef CGRAD_OPS_INTERNAL_H
#define CGRAD_OPS_INTERNAL_H

#include "autograd_internal.h"

/* CG_OK when expr is not NULL, else the pending error's status. */
#define OK_OR(expr) ((expr) ? CG_OK : cg_last_status())
/* A backward's signature. */
#define BWD(name) static cg_status bwd_##name(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin)
#define UNUSED_BWD (void)n, (void)g, (void)ng, (void)gin
/* The node's parameters as a T, its first input, its first output. */
#define P(n, T) ((const T *)cg_node_params(n))
#define X_IN(n) cg_node_input(n, 0)
#define Y_OUT(n) cg_node_output(n, 0)
/* Hand back t as input i's gradient; CG_OK, or the error that left it NULL. */
#define GIVE(i, expr) OK_OR((gin[i].t = (expr)))

/* Parameter structs several ops take. */
typedef struct {
    int axis;
} axis_params;
typedef struct {
    int axes[CG_MAX_DIMS];
    int naxes;
    bool keepdim;
} axes_params;

/* An op row whose forward and backward are fwd_<nm> and bwd_<nm>. */
#define CG_OP_ROW(nm, n_in_, n_out_, params_size_, reads_)                                        \
    {.name = #nm, .n_in = n_in_, .n_out = n_out_, .params_size = params_size_, .forward = fwd_##nm, \
     .backward = bwd_##nm, .reads = reads_}

/* Apply a one-input / two-input op. */
static inline cg_tensor *cg__apply1(const cg_op *op, cg_tensor *x, const void *p) {
    cg_tensor *in[1] = {x};
    return cg_op_apply(op, in, 1, p);
}
static inline cg_tensor *cg__apply2(const cg_op *op, cg_tensor *a, cg_tensor *b, const void *p) {
    cg_tensor *in[2] = {a, b};
    return cg_op_apply(op, in, 2, p);
}

#endif
