/* The fused elementwise program as one op: the forward runs the program and
 * keeps the step values the backward reads; the backward applies each
 * step's derivative rule in reverse (both in tensor/ops_fused.c). */
#include "ops_internal.h"

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

static cg_status bwd_fused(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    const cg_fused_prog *p = cg_node_params(n);
    const cg_tensor *in[CG_FUSED_MAX_INPUTS];
    for (int i = 0; i < p->n_in; i++) in[i] = cg_node_input(n, i);
    /* a gradient whose place the engine offers (a time step selected from
     * the input projection of all steps) is written there */
    cg_tensor *into[CG_FUSED_MAX_INPUTS] = {NULL}, *out[CG_FUSED_MAX_INPUTS];
    for (int i = 0; i < p->n_in; i++)
        if (ng[i] && gin[i].into && full_shape(p, in[i], cg_node_output(n, 0), i)) into[i] = gin[i].into;
    cg_status st = cg_k_fused_backward_into(p, in, (const cg_tensor *const *)g, ng, out, cg_node_saved(n, 0), into);
    for (int i = 0; i < p->n_in && st == CG_OK; i++) {
        if (!ng[i]) continue;
        if (into[i]) gin[i].form = CG_GRAD_WRITTEN;
        else gin[i].t = out[i];
    }
    return st;
}

/* The backward reads every input. */
const cg_op cg__op_fused = {.name = "fused", .n_in = CG_OP_VARIADIC, .n_out = CG_FUSED_MAX_OUTPUTS,
                            .params_size = sizeof(cg_fused_prog), .forward = fwd_fused, .backward = bwd_fused,
                            .reads = (1u << CG_FUSED_MAX_INPUTS) - 1, .flags = CG_WRITES_INTO};

int cg_fused(const cg_fused_prog *p, cg_tensor *const *in, cg_tensor **out) {
    if (!p || !out) {
        cg_set_error(CG_ERR_NULL, "cg_fused: program or output array is NULL");
        return -1;
    }
    return cg_op_apply_multi(&cg__op_fused, in, p->n_in, p, out);
}
