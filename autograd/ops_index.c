/* Differentiable indexing: index_select (the embedding lookup; its backward
 * hands back the rows to add, CG_GRAD_ROWS, and the engine keeps a leaf's
 * gradient row-sparse), gather and scatter_add. */
#include "ops_internal.h"

#define AXIS(n) (((const axis_params *)cg_node_params(n))->axis)

static int fwd_index_select(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_index_select(in[0], AXIS(n), in[1])) ? 1 : -1;
}
static cg_status bwd_index_select(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    gin[0] = cg_grad_in_rows(AXIS(n), cg_node_input(n, 1), g[0]);
    return CG_OK;
}
cg_tensor *cg_index_select(cg_tensor *x, int axis, const cg_tensor *idx) {
    return cg__apply2(&cg__op_index_select, x, (cg_tensor *)idx, &(axis_params){axis});
}

cg_tensor *cg_embedding(cg_tensor *weight, const cg_tensor *ids) {
    if (!weight || !ids) return cg__ag_null("cg_embedding");
    if (weight->ndim != 2) {
        cg_set_error(CG_ERR_SHAPE, "cg_embedding: weight must be [vocab, dim], got %s", cg_shape_str(weight));
        return NULL;
    }
    if (ids->ndim + 1 > CG_MAX_DIMS) {
        cg_set_error(CG_ERR_SHAPE, "cg_embedding: ids %s have too many dims", cg_shape_str(ids));
        return NULL;
    }
    cg_tensor *flat = cg_k_reshape(ids, CG_SHAPE(-1));
    cg_tensor *rows = flat ? cg_index_select(weight, 0, flat) : NULL;
    if (!rows) return NULL;
    int64_t shape[CG_MAX_DIMS];
    for (int d = 0; d < ids->ndim; d++) shape[d] = ids->shape[d];
    shape[ids->ndim] = weight->shape[1];
    return cg_reshape(rows, shape, ids->ndim + 1);
}

static int fwd_gather(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_gather(in[0], AXIS(n), in[1])) ? 1 : -1;
}
static cg_status bwd_gather(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    gin[0] = cg_grad_in_scatter(AXIS(n), cg_node_input(n, 1), g[0]);
    return CG_OK;
}
cg_tensor *cg_gather(cg_tensor *x, int axis, const cg_tensor *idx) {
    return cg__apply2(&cg__op_gather, x, (cg_tensor *)idx, &(axis_params){axis});
}

static int fwd_scatter_add(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_scatter_add(in[0], AXIS(n), in[1], in[2])) ? 1 : -1;
}
static cg_status bwd_scatter_add(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    gin[0].t = g[0];
    if (!ng[2]) return CG_OK;
    cg_tensor *idx = cg_node_input(n, 1), *src = cg_node_input(n, 2);
    cg_tensor *gs = cg_k_gather(g[0], AXIS(n), idx);
    if (gs && !cg_same_shape(gs, src)) { /* src may be larger than idx: the rest of it is unused */
        cg_tensor *z = cg_zeros(src->dtype, src->shape, src->ndim), *r = z;
        for (int d = 0; r && d < idx->ndim; d++) r = cg_k_slice(r, d, 0, idx->shape[d], 1);
        gs = r && cg_k_copy_(r, gs) ? z : NULL;
    }
    return GIVE(2, gs);
}
cg_tensor *cg_scatter_add(cg_tensor *x, int axis, const cg_tensor *idx, cg_tensor *src) {
    cg_tensor *in[3] = {x, (cg_tensor *)idx, src};
    return cg_op_apply(&cg__op_scatter_add, in, 3, &(axis_params){axis});
}

#define INDEX_ROW(nm, n_in_) CG_OP_ROW(nm, n_in_, 1, sizeof(axis_params), CG_READS_INPUT(1))
const cg_op cg__op_index_select = INDEX_ROW(index_select, 2);
const cg_op cg__op_gather = INDEX_ROW(gather, 2);
const cg_op cg__op_scatter_add = INDEX_ROW(scatter_add, 3);
