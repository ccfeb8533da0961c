/* Differentiable GEMM: matmul (numpy.matmul rules) and addmm. The backward
 * of a 2-D product hands back its operands' gradients as products
 * (CG_GRAD_PRODUCT): the engine adds a weight's straight into its gradient
 * by GEMM (beta = 1) and runs the two side by side. */
#include "ops_internal.h"

/* Input i's gradient g @ other^T (i = left operand) or other^T @ g (right),
 * for the wanted inputs of a 2-D product: products the engine adds (put off
 * and joined, into the gradient by GEMM, the two side by side). */
static void grad_pair(int ia, int ib, const cg_tensor *a, const cg_tensor *b, const cg_tensor *g, const bool *ng,
                      double alpha, cg_grad_in *gin) {
    if (ng[ia]) gin[ia] = cg_grad_in_product(alpha, g, cg_k_transpose(b, 0, 1));
    if (ng[ib]) gin[ib] = cg_grad_in_product(alpha, cg_k_transpose(a, 0, 1), g);
}

static int fwd_matmul(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)n, (void)k;
    return (out[0] = cg_k_matmul(in[0], in[1])) ? 1 : -1;
}

static cg_status bwd_matmul(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    cg_tensor *a = cg_node_input(n, 0), *b = cg_node_input(n, 1);
    cg_tensor *A = a->ndim == 1 ? cg_k_unsqueeze(a, 0) : a;
    cg_tensor *B = b->ndim == 1 ? cg_k_unsqueeze(b, 1) : b;
    cg_tensor *G = g[0];
    if (a->ndim == 1 && b->ndim == 1) G = cg_k_reshape(G, CG_SHAPE(1, 1));
    else if (a->ndim == 1) G = cg_k_unsqueeze(G, -2);
    else if (b->ndim == 1) G = cg_k_unsqueeze(G, -1);
    if (!A || !B || !G) return cg_last_status();
    if (a->ndim == 2 && b->ndim == 2) {
        grad_pair(0, 1, a, b, G, ng, 1.0, gin);
        return CG_OK;
    }
    if (ng[0]) {
        cg_tensor *d = cg_k_matmul(G, cg_k_transpose(B, -1, -2));
        if (d && a->ndim == 1) d = cg_k_reshape(cg_k_sum_to(d, A->shape, A->ndim), a->shape, a->ndim);
        if (!(gin[0].t = d)) return cg_last_status();
    }
    if (ng[1]) {
        cg_tensor *d = cg_k_matmul(cg_k_transpose(A, -1, -2), G);
        if (d && b->ndim == 1) d = cg_k_reshape(cg_k_sum_to(d, B->shape, B->ndim), b->shape, b->ndim);
        if (!(gin[1].t = d)) return cg_last_status();
    }
    return CG_OK;
}

typedef struct {
    double beta, alpha;
} addmm_params;

static int fwd_addmm(cg_node *n, cg_tensor *const *in, int k, cg_tensor **out) {
    (void)k;
    const addmm_params *p = cg_node_params(n);
    return (out[0] = cg_k_addmm(in[0], in[1], in[2], p->beta, p->alpha)) ? 1 : -1;
}

static cg_status bwd_addmm(cg_node *n, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    const addmm_params *p = cg_node_params(n);
    cg_tensor *a = cg_node_input(n, 1), *b = cg_node_input(n, 2);
    if (ng[0] && !(gin[0].t = p->beta == 1.0 ? g[0] : cg_k_scalar(CG_MUL, g[0], p->beta))) return cg_last_status();
    grad_pair(1, 2, a, b, g[0], ng, p->alpha, gin);
    return CG_OK;
}

const cg_op cg__op_matmul = {.name = "matmul", .n_in = 2, .n_out = 1, .forward = fwd_matmul, .backward = bwd_matmul,
                             .reads = CG_READS_INPUT(0) | CG_READS_INPUT(1)};
const cg_op cg__op_addmm = {.name = "addmm", .n_in = 3, .n_out = 1, .params_size = sizeof(addmm_params),
                            .forward = fwd_addmm, .backward = bwd_addmm,
                            .reads = CG_READS_INPUT(1) | CG_READS_INPUT(2)};

cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b) { return cg__apply2(&cg__op_matmul, a, b, NULL); }

cg_tensor *cg_addmm(cg_tensor *c, cg_tensor *a, cg_tensor *b) {
    cg_tensor *in[3] = {c, a, b};
    return cg_op_apply(&cg__op_addmm, in, 3, &(addmm_params){1.0, 1.0});
}

cg_tensor *cg_linear(cg_tensor *x, cg_tensor *w, cg_tensor *b) {
    if (!x || !w) return cg__ag_null("cg_linear");
    if (x->ndim < 1 || w->ndim != 2) {
        cg_set_error(CG_ERR_SHAPE, "cg_linear: x %s @ w %s: w must be 2-D [in, out] and x at least 1-D", cg_shape_str(x),
                     cg_shape_str(w));
        return NULL;
    }
    if (x->ndim == 2) return b ? cg_addmm(b, x, w) : cg_matmul(x, w);
    int64_t K = x->shape[x->ndim - 1];
    cg_tensor *x2 = cg_reshape(x, CG_SHAPE(-1, K));
    cg_tensor *y2 = b ? cg_addmm(b, x2, w) : cg_matmul(x2, w);
    if (!y2) return NULL;
    int64_t shape[CG_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = w->shape[1];
    return cg_reshape(y2, shape, x->ndim);
}
