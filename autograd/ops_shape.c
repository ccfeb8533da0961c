/* Differentiable views and joins. The backward of a view is a view of the
 * gradient where one exists; a slice, a select and the pieces of chunk and
 * split hand back their gradient placed in the input's (CG_GRAD_PLACED), and
 * the engine adds it into that region without a full-size zero tensor. */
#include "ops_internal.h"

typedef struct {
    int64_t shape[CG_MAX_DIMS];
    int ndim;
} shape_params;
typedef struct {
    int a, b;
} two_ints;
typedef struct {
    int dims[CG_MAX_DIMS];
    int n;
} dims_params;
typedef struct {
    int dim;
    int64_t start, stop, step;
} slice_params;

static bool pack_shape(const char *op, const int64_t *shape, int ndim, shape_params *p) {
    if (ndim < 0 || ndim > CG_MAX_DIMS || (ndim > 0 && !shape)) {
        cg_set_error(CG_ERR_SHAPE, "%s: bad shape (%d dims)", op, ndim);
        return false;
    }
    memset(p, 0, sizeof *p);
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i];
    p->ndim = ndim;
    return true;
}

static bool pack_dims(const char *op, const int *dims, int n, dims_params *p) {
    if (n < 0 || n > CG_MAX_DIMS || (n > 0 && !dims)) {
        cg_set_error(CG_ERR_SHAPE, "%s: bad dims list (%d dims)", op, n);
        return false;
    }
    memset(p, 0, sizeof *p);
    for (int i = 0; i < n; i++) p->dims[i] = dims[i];
    p->n = n;
    return true;
}

/* ---------------------------------------------------------------- reshape */

static int fwd_reshape(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_reshape(in[0], P(n, shape_params)->shape, P(n, shape_params)->ndim)) ? 1 : -1;
}
static cg_status bwd_reshape(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return GIVE(0, cg_k_reshape(g[0], X_IN(n)->shape, X_IN(n)->ndim));
}
cg_tensor *cg_reshape(cg_tensor *x, const int64_t *shape, int ndim) {
    shape_params p;
    if (!pack_shape("cg_reshape", shape, ndim, &p)) return NULL;
    return cg__apply1(&cg__op_reshape, x, &p);
}

cg_tensor *cg_flatten(cg_tensor *x, int start_dim, int end_dim) {
    if (!x) return cg__ag_null("cg_flatten");
    if (x->ndim == 0) return cg_reshape(x, CG_SHAPE(1));
    int s = start_dim < 0 ? start_dim + x->ndim : start_dim, e = end_dim < 0 ? end_dim + x->ndim : end_dim;
    if (s < 0 || e >= x->ndim || s > e) {
        cg_set_error(CG_ERR_INDEX, "cg_flatten: dims %d..%d are out of range for %s", start_dim, end_dim, cg_shape_str(x));
        return NULL;
    }
    int64_t shape[CG_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < s; d++) shape[k++] = x->shape[d];
    int64_t m = 1;
    for (int d = s; d <= e; d++) m *= x->shape[d];
    shape[k++] = m;
    for (int d = e + 1; d < x->ndim; d++) shape[k++] = x->shape[d];
    return cg_reshape(x, shape, k);
}

/* ------------------------------------------------------ transpose, permute */

static int fwd_transpose(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_transpose(in[0], P(n, two_ints)->a, P(n, two_ints)->b)) ? 1 : -1;
}
static cg_status bwd_transpose(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return GIVE(0, cg_k_transpose(g[0], P(n, two_ints)->a, P(n, two_ints)->b));
}
cg_tensor *cg_transpose(cg_tensor *x, int d0, int d1) { return cg__apply1(&cg__op_transpose, x, &(two_ints){d0, d1}); }

static int fwd_permute(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_permute(in[0], P(n, dims_params)->dims, P(n, dims_params)->n)) ? 1 : -1;
}
static cg_status bwd_permute(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    const dims_params *p = P(n, dims_params);
    int inv[CG_MAX_DIMS];
    for (int i = 0; i < p->n; i++) inv[p->dims[i] < 0 ? p->dims[i] + p->n : p->dims[i]] = i;
    return GIVE(0, cg_k_permute(g[0], inv, p->n));
}
cg_tensor *cg_permute(cg_tensor *x, const int *dims, int ndims) {
    dims_params p;
    if (!pack_dims("cg_permute", dims, ndims, &p)) return NULL;
    return cg__apply1(&cg__op_permute, x, &p);
}

/* ----------------------------------------------------------- slice, select */

static int fwd_slice(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    const slice_params *p = P(n, slice_params);
    return (out[0] = cg_k_slice(in[0], p->dim, p->start, p->stop, p->step)) ? 1 : -1;
}
static cg_status bwd_slice(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    const slice_params *p = P(n, slice_params);
    const cg_tensor *x = X_IN(n);
    int d = p->dim < 0 ? p->dim + x->ndim : p->dim;
    int64_t start = p->start < 0 ? p->start + x->shape[d] : p->start; /* the view's first index */
    start = start < 0 ? 0 : start > x->shape[d] ? x->shape[d] : start;
    gin[0] = cg_grad_in_placed(d, start, p->step, false, g[0]);
    return CG_OK;
}
cg_tensor *cg_slice(cg_tensor *x, int dim, int64_t start, int64_t stop, int64_t step) {
    return cg__apply1(&cg__op_slice, x, &(slice_params){dim, start, stop, step});
}

typedef struct {
    int dim;
    int64_t index;
} select_params;
static int fwd_select(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_select(in[0], P(n, select_params)->dim, P(n, select_params)->index)) ? 1 : -1;
}
static cg_status bwd_select(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    const select_params *p = P(n, select_params);
    gin[0] = cg_grad_in_placed(p->dim, p->index, 1, true, g[0]);
    return CG_OK;
}
bool cg__select_params(const cg_node *n, int *dim, int64_t *index) {
    if (n->op != &cg__op_select) return false;
    *dim = P(n, select_params)->dim;
    *index = P(n, select_params)->index;
    return true;
}
cg_tensor *cg_select(cg_tensor *x, int dim, int64_t index) {
    return cg__apply1(&cg__op_select, x, &(select_params){dim, index});
}

/* ------------------------------------------- expand, squeeze, unsqueeze, flip */

static int fwd_expand(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_expand(in[0], P(n, shape_params)->shape, P(n, shape_params)->ndim)) ? 1 : -1;
}
static cg_status bwd_expand(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)n, (void)ng;
    gin[0].t = g[0]; /* summed back to the input's shape by the accumulator */
    return CG_OK;
}
cg_tensor *cg_expand(cg_tensor *x, const int64_t *shape, int ndim) {
    shape_params p;
    if (!pack_shape("cg_expand", shape, ndim, &p)) return NULL;
    return cg__apply1(&cg__op_expand, x, &p);
}

typedef struct {
    int dim;
} dim_params;
static int fwd_squeeze(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_squeeze(in[0], P(n, dim_params)->dim)) ? 1 : -1;
}
static cg_status bwd_squeeze(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    int d = P(n, dim_params)->dim;
    return GIVE(0, cg_k_unsqueeze(g[0], d < 0 ? d + X_IN(n)->ndim : d));
}
cg_tensor *cg_squeeze(cg_tensor *x, int dim) { return cg__apply1(&cg__op_squeeze, x, &(dim_params){dim}); }

static int fwd_unsqueeze(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_unsqueeze(in[0], P(n, dim_params)->dim)) ? 1 : -1;
}
static cg_status bwd_unsqueeze(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    int d = P(n, dim_params)->dim;
    return GIVE(0, cg_k_squeeze(g[0], d < 0 ? d + X_IN(n)->ndim + 1 : d));
}
cg_tensor *cg_unsqueeze(cg_tensor *x, int dim) { return cg__apply1(&cg__op_unsqueeze, x, &(dim_params){dim}); }

static int fwd_flip(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    return (out[0] = cg_k_flip(in[0], P(n, dims_params)->dims, P(n, dims_params)->n)) ? 1 : -1;
}
static cg_status bwd_flip(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return GIVE(0, cg_k_flip(g[0], P(n, dims_params)->dims, P(n, dims_params)->n));
}
cg_tensor *cg_flip(cg_tensor *x, const int *dims, int ndims) {
    dims_params p;
    if (!pack_dims("cg_flip", dims, ndims, &p)) return NULL;
    return cg__apply1(&cg__op_flip, x, &p);
}

static int fwd_contiguous(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)n, (void)k;
    return (out[0] = cg_k_contiguous(in[0])) ? 1 : -1;
}
static cg_status bwd_contiguous(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)n, (void)ng;
    gin[0].t = g[0];
    return CG_OK;
}
cg_tensor *cg_contiguous(cg_tensor *x) {
    if (x && !cg_requires_grad(x)) return cg_k_contiguous(x);
    return cg__apply1(&cg__op_contiguous, x, NULL);
}

/* -------------------------------------------------------- concat, stack */


static int fwd_concat(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    return (out[0] = cg_k_concat((const cg_tensor *const *)in, k, P(n, axis_params)->axis)) ? 1 : -1;
}
static cg_status bwd_concat(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    int k = cg_node_n_inputs(n);
    int a = P(n, axis_params)->axis;
    if (a < 0) a += g[0]->ndim;
    int64_t at = 0;
    for (int i = 0; i < k; i++) {
        int64_t len = cg_node_input(n, i)->shape[a];
        if (ng[i] && !(gin[i].t = cg_k_slice(g[0], a, at, at + len, 1))) return cg_last_status();
        at += len;
    }
    return CG_OK;
}
cg_tensor *cg_concat(cg_tensor *const *ts, int n, int axis) {
    if (!ts || n <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_concat: needs at least one tensor");
        return NULL;
    }
    return cg_op_apply(&cg__op_concat, ts, n, &(axis_params){axis});
}

static int fwd_stack(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    return (out[0] = cg_k_stack((const cg_tensor *const *)in, k, P(n, axis_params)->axis)) ? 1 : -1;
}
static cg_status bwd_stack(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    int k = cg_node_n_inputs(n);
    int a = P(n, axis_params)->axis;
    if (a < 0) a += g[0]->ndim;
    for (int i = 0; i < k; i++)
        if (ng[i] && !(gin[i].t = cg_k_select(g[0], a, i))) return cg_last_status();
    return CG_OK;
}
cg_tensor *cg_stack(cg_tensor *const *ts, int n, int axis) {
    if (!ts || n <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_stack: needs at least one tensor");
        return NULL;
    }
    return cg_op_apply(&cg__op_stack, ts, n, &(axis_params){axis});
}

/* ---------------------------------------------------------- chunk, split */

typedef struct {
    int n, axis;
} chunk_params;

static int fwd_chunk(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    const chunk_params *p = P(n, chunk_params);
    if (p->n > CG_MAX_OUTPUTS) {
        cg_set_error(CG_ERR_VALUE, "cg_chunk: at most %d chunks, asked for %d", CG_MAX_OUTPUTS, p->n);
        return -1;
    }
    return cg_k_chunk(in[0], p->n, p->axis, out);
}

/* Each output's gradient placed in its region of the input's gradient. */
static cg_status bwd_pieces(cg_node *n, cg_tensor *const *g, int axis, cg_grad_in *gin) {
    cg_tensor *x = X_IN(n);
    int a = axis < 0 ? axis + x->ndim : axis;
    cg_grad_in *last = NULL;
    int64_t at = 0;
    for (int j = 0; cg_node_output(n, j); j++) {
        int64_t len = cg_node_output(n, j)->shape[a];
        if (g[j]) {
            cg_grad_in *part = last ? cg_scope_alloc(sizeof *part, false) : &gin[0];
            if (!part) return cg_last_status();
            *part = cg_grad_in_placed(a, at, 1, false, g[j]);
            if (last) last->next = part;
            last = part;
        }
        at += len;
    }
    return CG_OK;
}

static cg_status bwd_chunk(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return bwd_pieces(n, g, P(n, chunk_params)->axis, gin);
}
int cg_chunk(cg_tensor *x, int n, int axis, cg_tensor **out) {
    if (!out) {
        cg_set_error(CG_ERR_NULL, "cg_chunk: out is NULL");
        return -1;
    }
    return cg_op_apply_multi(&cg__op_chunk, &x, 1, &(chunk_params){n, axis}, out);
}

typedef struct {
    int64_t sizes[CG_MAX_OUTPUTS];
    int n, axis;
} split_params;

static int fwd_split(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    const split_params *p = P(n, split_params);
    return cg_k_split(in[0], p->sizes, p->n, p->axis, out) == CG_OK ? p->n : -1;
}
static cg_status bwd_split(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return bwd_pieces(n, g, P(n, split_params)->axis, gin);
}
cg_status cg_split(cg_tensor *x, const int64_t *sizes, int n, int axis, cg_tensor **out) {
    if (!sizes || !out || n <= 0 || n > CG_MAX_OUTPUTS)
        return cg_set_error(CG_ERR_VALUE, "cg_split: needs 1..%d sizes and an output array", CG_MAX_OUTPUTS);
    split_params p;
    memset(&p, 0, sizeof p);
    memcpy(p.sizes, sizes, sizeof(int64_t) * (size_t)n);
    p.n = n;
    p.axis = axis;
    return cg_op_apply_multi(&cg__op_split, &x, 1, &p, out) == n ? CG_OK : cg_last_status();
}

#define SHAPE_ROW(nm, params, n_in_, n_out_) CG_OP_ROW(nm, n_in_, n_out_, params, 0)
const cg_op cg__op_reshape = SHAPE_ROW(reshape, sizeof(shape_params), 1, 1);
const cg_op cg__op_transpose = SHAPE_ROW(transpose, sizeof(two_ints), 1, 1);
const cg_op cg__op_permute = SHAPE_ROW(permute, sizeof(dims_params), 1, 1);
const cg_op cg__op_slice = SHAPE_ROW(slice, sizeof(slice_params), 1, 1);
const cg_op cg__op_select = SHAPE_ROW(select, sizeof(select_params), 1, 1);
const cg_op cg__op_expand = SHAPE_ROW(expand, sizeof(shape_params), 1, 1);
const cg_op cg__op_squeeze = SHAPE_ROW(squeeze, sizeof(dim_params), 1, 1);
const cg_op cg__op_unsqueeze = SHAPE_ROW(unsqueeze, sizeof(dim_params), 1, 1);
const cg_op cg__op_flip = SHAPE_ROW(flip, sizeof(dims_params), 1, 1);
const cg_op cg__op_contiguous = SHAPE_ROW(contiguous, 0, 1, 1);
const cg_op cg__op_concat = SHAPE_ROW(concat, sizeof(axis_params), CG_OP_VARIADIC, 1);
const cg_op cg__op_stack = SHAPE_ROW(stack, sizeof(axis_params), CG_OP_VARIADIC, 1);
const cg_op cg__op_chunk = SHAPE_ROW(chunk, sizeof(chunk_params), 1, CG_MAX_OUTPUTS);
const cg_op cg__op_split = SHAPE_ROW(split, sizeof(split_params), 1, CG_MAX_OUTPUTS);
