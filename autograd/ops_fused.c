/* The fused elementwise program as one op: the forward runs the program and
 * keeps the step values the backward reads; the backward applies each
 * step's derivative rule in reverse (both in tensor/ops_fused.c). */
#include "autograd_internal.h"

static int fwd_fused(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    const cg_fused_prog *p = cg_node_params(n);
    if (k != p->n_in) {
        cg_set_error(CG_ERR_VALUE, "cg_fused: program '%s' takes %d inputs, got %d", p->name, p->n_in, k);
        return -1;
    }
    /* when recorded, keep the step values the backward reads (a few rows
     * of the outputs' size) instead of recomputing them there */
    cg_tensor *keep = NULL;
    if (cg_k_fused(p, (const cg_tensor *const *)in, out, n->recording ? &keep : NULL) != CG_OK) return -1;
    if (keep) cg_node_save(n, keep);
    return p->n_out;
}

/* Is input i's gradient from the kernel its own shape: the outputs' (the
 * broadcast shape) with its parts along the last dim, i.e. the input is not
 * broadcast against the others? */
static bool full_shape(const cg_fused_prog *p, const cg_tensor *in, const cg_tensor *out, int i) {
    if (in->ndim != out->ndim || in->ndim == 0 || in->shape[in->ndim - 1] != out->shape[out->ndim - 1] * p->parts[i])
        return false;
    for (int d = 0; d + 1 < in->ndim; d++)
        if (in->shape[d] != out->shape[d]) return false;
    return true;
}

static cg_status bwd_fused(cg_node *n, cg_tensor *const *g, const bool *ng, cg_tensor **gin) {
    const cg_fused_prog *p = cg_node_params(n);
    const cg_tensor *in[CG_FUSED_MAX_INPUTS];
    for (int i = 0; i < p->n_in; i++) in[i] = cg_node_input(n, i);
    /* a gradient whose place is a slice of a bigger one (a time step
     * selected from the input projection of all steps) is written there */
    cg_tensor *into[CG_FUSED_MAX_INPUTS] = {NULL};
    for (int i = 0; i < p->n_in; i++)
        if (ng[i] && full_shape(p, in[i], cg_node_output(n, 0), i)) into[i] = cg_node_grad_target(n, i);
    cg_status st = cg_k_fused_backward_into(p, in, (const cg_tensor *const *)g, ng, gin, cg_node_saved(n, 0), into);
    for (int i = 0; i < p->n_in; i++)
        if (into[i]) gin[i] = NULL; /* in place: nothing to hand back */
    return st;
}

/* The backward reads every input (bits 0..7). */
const cg_op cg__op_fused = {"fused", CG_OP_VARIADIC, CG_FUSED_MAX_OUTPUTS, sizeof(cg_fused_prog), fwd_fused, bwd_fused,
                            (1u << CG_FUSED_MAX_INPUTS) - 1};

int cg_fused(const cg_fused_prog *p, cg_tensor *const *in, cg_tensor **out) {
    if (!p || !out) {
        cg_set_error(CG_ERR_NULL, "cg_fused: program or output array is NULL");
        return -1;
    }
    return cg_op_apply_multi(&cg__op_fused, in, p->n_in, p, out);
}
