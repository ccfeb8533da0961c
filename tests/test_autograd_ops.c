/* The op-table walker: every row of the op table has gradcheck cases, run on
 * contiguous, strided (transposed storage / every other element) and flipped
 * (negative strides) inputs, on broadcast shapes where the op broadcasts, and
 * with one input constant (a partial needs_grad mask). A new op without a
 * case here fails `every_op_has_a_case`. Also: kinks are skipped, not failed,
 * and gradcheck catches a deliberately wrong backward. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ input specs */

typedef enum {
    IN_NONE,
    IN_G,    /* float64 requiring grad, uniform in [lo, hi) */
    IN_GA,   /* float64 requiring grad, |x| in [lo, hi) with a random sign (away from a kink at 0) */
    IN_MASK, /* float64 0/1, not differentiated */
    IN_IDX   /* int64 in [0, hi) */
} in_kind;

typedef struct {
    in_kind kind;
    double lo, hi;
    int ndim;
    int64_t shape[4];
} in_spec;

#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define G(lo, hi, ...) {IN_G, lo, hi, NDIM(__VA_ARGS__), {__VA_ARGS__}}
#define GA(lo, hi, ...) {IN_GA, lo, hi, NDIM(__VA_ARGS__), {__VA_ARGS__}}
#define MASK(...) {IN_MASK, 0, 1, NDIM(__VA_ARGS__), {__VA_ARGS__}}
#define IDX(hi, ...) {IN_IDX, 0, hi, NDIM(__VA_ARGS__), {__VA_ARGS__}}
#define G0(lo, hi) {IN_G, lo, hi, 0, {0}} /* a 0-d scalar */

typedef enum { L_CONTIG, L_STRIDED, L_FLIPPED, L_COUNT } layout;
static const char *const layout_name[] = {"contiguous", "strided", "flipped"};

/* The same values stored another way: a view whose strides are not row-major
 * (transposed storage, every other element of the last dim, or all dims
 * reversed). */
static cg_tensor *relayout(cg_tensor *v, layout L) {
    int nd = v->ndim;
    if (L == L_CONTIG || nd == 0) return v;
    if (L == L_FLIPPED) {
        int dims[CG_MAX_DIMS];
        for (int d = 0; d < nd; d++) dims[d] = d;
        return cg_k_flip(cg_clone(cg_k_flip(v, dims, nd)), dims, nd);
    }
    if (nd >= 2 && v->shape[0] > 1 && v->shape[nd - 1] > 1)
        return cg_k_transpose(cg_clone(cg_k_transpose(v, 0, nd - 1)), 0, nd - 1);
    int64_t shape[CG_MAX_DIMS];
    memcpy(shape, v->shape, sizeof shape);
    shape[nd - 1] *= 2;
    cg_tensor *every_other = cg_k_slice(cg_zeros(v->dtype, shape, nd), nd - 1, 0, shape[nd - 1], 2);
    return cg_k_copy_(every_other, v);
}

static cg_tensor *make_input(const in_spec *s, layout L, cg_rng *r) {
    cg_tensor *v = NULL;
    switch (s->kind) {
    case IN_G: v = cg_uniform(r, CG_FLOAT64, s->lo, s->hi, s->shape, s->ndim); break;
    case IN_GA: {
        cg_tensor *sign = cg_bernoulli(r, CG_FLOAT64, 0.5, s->shape, s->ndim);
        sign = cg_k_scalar_(CG_SUB, cg_k_scalar_(CG_MUL, sign, 2.0), 1.0);
        v = cg_k_binary(CG_MUL, cg_uniform(r, CG_FLOAT64, s->lo, s->hi, s->shape, s->ndim), sign);
        break;
    }
    case IN_MASK: v = cg_bernoulli(r, CG_FLOAT64, 0.5, s->shape, s->ndim); break;
    case IN_IDX: v = cg_randint(r, CG_INT64, 0, (int64_t)s->hi, s->shape, s->ndim); break;
    case IN_NONE: break;
    }
    ck_assert_msg(v != NULL, "making an input: %s", cg_last_error());
    cg_tensor *t = relayout(v, L);
    ck_assert_msg(t != NULL, "relayout: %s", cg_last_error());
    if (s->kind == IN_G || s->kind == IN_GA) ck_assert_ptr_nonnull(cg_requires_grad_(t, true));
    return t;
}

/* --------------------------------------------------------- case functions */

#define FN(name, expr)                                                                             \
    static cg_tensor *f_##name(cg_tensor *const *x, int n, void *u) {                              \
        (void)n, (void)u;                                                                          \
        return (expr);                                                                             \
    }

FN(neg, cg_neg(x[0]))
FN(exp, cg_exp(x[0]))
FN(log, cg_log(x[0]))
FN(sqrt, cg_sqrt(x[0]))
FN(abs, cg_abs(x[0]))
FN(tanh, cg_tanh(x[0]))
FN(sigmoid, cg_sigmoid(x[0]))
FN(relu, cg_relu(x[0]))
FN(square, cg_square(x[0]))
FN(sign, cg_mul(cg_sign(x[0]), x[0])) /* sign's own derivative is 0; times x, the product rule sees it */
FN(reciprocal, cg_reciprocal(x[0]))
FN(softsign, cg_softsign(x[0]))
FN(layer_norm, cg_layer_norm(x[0], x[1], x[2], 1e-5))
FN(layer_norm_plain, cg_layer_norm(x[0], NULL, NULL, 1e-3))
FN(add, cg_add(x[0], x[1]))
FN(sub, cg_sub(x[0], x[1]))
FN(mul, cg_mul(x[0], x[1]))
FN(div, cg_div(x[0], x[1]))
FN(pow, cg_pow(x[0], x[1]))
FN(maximum, cg_maximum(x[0], x[1]))
FN(minimum, cg_minimum(x[0], x[1]))
FN(add_scalar, cg_add_scalar(x[0], 1.5))
FN(mul_scalar, cg_mul_scalar(x[0], -2.5))
FN(pow_scalar, cg_pow_scalar(x[0], 2.5))
FN(rsub_scalar, cg_rsub_scalar(3.0, x[0]))
FN(clamp, cg_clamp(x[0], -0.5, 0.7))
FN(where, cg_where(x[0], x[1], x[2]))
FN(masked_fill, cg_masked_fill(x[0], x[1], -2.0))
FN(to, cg_to(cg_mul_scalar(cg_to(x[0], CG_FLOAT32), 3.0), CG_FLOAT64))
FN(sum_axis, cg_sum(x[0], CG_AXES(1), false))
FN(sum_all, cg_sum(x[0], NULL, 0, false))
FN(sum_keep, cg_sum(x[0], CG_AXES(0, -1), true))
FN(mean_axis, cg_mean(x[0], CG_AXES(-1), false))
FN(mean_all, cg_mean(x[0], NULL, 0, true))
FN(max_axis, cg_max(x[0], CG_AXES(1), false))
FN(max_all, cg_max(x[0], NULL, 0, false))
FN(min_axis, cg_min(x[0], CG_AXES(0), true))
FN(logsumexp_axis, cg_logsumexp(x[0], CG_AXES(1), false))
FN(logsumexp_all, cg_logsumexp(x[0], NULL, 0, false))
FN(softmax1, cg_softmax(x[0], 1))
FN(softmax0, cg_softmax(x[0], 0))
FN(log_softmax, cg_log_softmax(x[0], -1))
FN(matmul, cg_matmul(x[0], x[1]))
FN(addmm, cg_addmm(x[0], x[1], x[2]))
FN(reshape, cg_reshape(x[0], CG_SHAPE(2, 6)))
FN(reshape_infer, cg_reshape(x[0], CG_SHAPE(4, -1)))
FN(transpose, cg_transpose(x[0], 0, 2))
FN(permute, cg_permute(x[0], (const int[]){2, 0, -2}, 3))
FN(slice_step, cg_slice(x[0], 0, 1, 5, 2))
FN(slice_neg, cg_slice(x[0], 1, -3, 100, 1))
FN(select, cg_select(x[0], 1, 2))
FN(select_neg, cg_select(x[0], 0, -1))
FN(expand, cg_expand(x[0], CG_SHAPE(2, 3, 4)))
FN(squeeze, cg_squeeze(x[0], 1))
FN(unsqueeze, cg_unsqueeze(x[0], -1))
FN(flip, cg_flip(x[0], (const int[]){0, 1}, 2))
FN(flip1, cg_flip(x[0], (const int[]){1}, 1))
FN(contiguous, cg_contiguous(x[0]))
FN(concat0, cg_concat(x, n, 0))
FN(concat_last, cg_concat(x, n, -1))
FN(stack1, cg_stack(x, n, 1))
FN(stack_last, cg_stack(x, n, -1))
FN(index_select0, cg_index_select(x[0], 0, x[1]))
FN(index_select1, cg_index_select(x[0], 1, x[1]))
FN(gather1, cg_gather(x[0], 1, x[1]))
FN(gather0, cg_gather(x[0], 0, x[1]))
FN(scatter_add, cg_scatter_add(x[0], 1, x[1], x[2]))
FN(scatter_add_neg, cg_scatter_add(x[0], -2, x[1], x[2]))
FN(gather_neg, cg_gather(x[0], -1, x[1]))
FN(index_select_neg, cg_index_select(x[0], -1, x[1]))
FN(bce, cg_bce_with_logits(x[0], x[1]))
FN(bce_sum, cg_bce_with_logits_ex(x[0], x[1], CG_REDUCTION_SUM))
FN(bce_none, cg_bce_with_logits_ex(x[0], x[1], CG_REDUCTION_NONE))
FN(ce, cg_cross_entropy(x[0], x[1]))
FN(ce_none, cg_cross_entropy_ex(x[0], x[1], CG_REDUCTION_NONE))
FN(ce_sum, cg_cross_entropy_ex(x[0], x[1], CG_REDUCTION_SUM))
/* Composite wrappers, keyed by the table op they are built on. */
FN(matmul_self, cg_matmul(x[0], x[0]))
FN(linear, cg_linear(x[0], x[1], x[2]))
FN(flatten, cg_flatten(x[0], 1, -1))
FN(embedding, cg_embedding(x[0], x[1]))

/* Multi-output ops: some outputs get no gradient at all (chunk 1, split 1). */
static cg_tensor *f_chunk(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_tensor *c[3];
    if (cg_chunk(x[0], 3, 0, c) != 3) return NULL; /* [7, 3] -> 3, 3, 1 rows */
    return cg_concat((cg_tensor *[]){c[2], c[0]}, 2, 0);
}
static cg_tensor *f_chunk_last(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_tensor *c[2];
    if (cg_chunk(x[0], 2, -1, c) != 2) return NULL;
    return cg_mul(c[1], c[0]);
}
static cg_tensor *f_split(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_tensor *s[3];
    if (cg_split(x[0], (const int64_t[]){1, 3, 2}, 3, 0, s) != CG_OK) return NULL;
    return cg_concat((cg_tensor *[]){s[2], s[0]}, 2, 0);
}
/* The mask comes from a fixed seed, so every evaluation drops the same elements. */
static cg_tensor *f_dropout(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_rng rng = cg_rng_seeded(42);
    return cg_dropout(x[0], 0.3, true, &rng);
}

/* Fused programs: an LSTM cell (a split input, two outputs), and every step
 * kind once. With only h used, output 1 gets no gradient. */
static int fused_lstm(cg_tensor *const *x, cg_tensor **out) {
    cg_fused_prog p;
    cg_fused_begin(&p, "test_lstm");
    int z = cg_fused_input(&p, 4), c = cg_fused_input(&p, 1);
    int i = cg_fused_unary(&p, CG_SIGMOID, z), f = cg_fused_unary(&p, CG_SIGMOID, z + 1);
    int g = cg_fused_unary(&p, CG_TANH, z + 2), o = cg_fused_unary(&p, CG_SIGMOID, z + 3);
    int c2 = cg_fused_binary(&p, CG_ADD, cg_fused_binary(&p, CG_MUL, f, c), cg_fused_binary(&p, CG_MUL, i, g));
    cg_fused_output(&p, cg_fused_binary(&p, CG_MUL, o, cg_fused_unary(&p, CG_TANH, c2)));
    cg_fused_output(&p, c2);
    return cg_fused(&p, x, out);
}
static cg_tensor *f_fused_lstm(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_tensor *o[2];
    return fused_lstm(x, o) == 2 ? cg_concat(o, 2, -1) : NULL;
}
static cg_tensor *f_fused_lstm_h(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_tensor *o[2];
    return fused_lstm(x, o) == 2 ? o[0] : NULL;
}
/* a in any range, b > 0 (log, div): every unary and binary step kind. */
static cg_tensor *f_fused_all(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_fused_prog p;
    cg_fused_begin(&p, "test_all");
    int a = cg_fused_input(&p, 1), b = cg_fused_input(&p, 1);
    int t = cg_fused_binary(&p, CG_ADD, cg_fused_unary(&p, CG_NEG, a), cg_fused_unary(&p, CG_EXP, a));
    t = cg_fused_binary(&p, CG_SUB, t, cg_fused_unary(&p, CG_LOG, b));
    t = cg_fused_binary(&p, CG_MUL, t, cg_fused_unary(&p, CG_TANH, a));
    t = cg_fused_binary(&p, CG_ADD, t, cg_fused_unary(&p, CG_SIGMOID, b));
    t = cg_fused_binary(&p, CG_DIV, t, b);
    t = cg_fused_binary(&p, CG_ADD, t, cg_fused_unary(&p, CG_RELU, a));
    t = cg_fused_binary(&p, CG_ADD, t, cg_fused_unary(&p, CG_SQUARE, cg_fused_binary(&p, CG_MUL, a, a)));
    cg_fused_output(&p, t);
    cg_tensor *o[1];
    return cg_fused(&p, x, o) == 1 ? o[0] : NULL;
}

/* -------------------------------------- a custom op with a tunable backward */

/* a * b whose backward scales b's gradient by `factor`: 1 is right, anything
 * else is a bug gradcheck must catch. */
typedef struct {
    double factor;
} scaled_params;

static int scaled_mul_fwd(cg_node *node, cg_tensor *const *in, int n, cg_tensor **out) {
    (void)node, (void)n;
    return (out[0] = cg_k_binary(CG_MUL, in[0], in[1])) ? 1 : -1;
}
static cg_status scaled_mul_bwd(cg_node *node, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    double f = ((const scaled_params *)cg_node_params(node))->factor;
    if (ng[0]) gin[0].t = cg_k_binary(CG_MUL, g[0], cg_node_input(node, 1));
    if (ng[1]) gin[1].t = cg_k_scalar_(CG_MUL, cg_k_binary(CG_MUL, g[0], cg_node_input(node, 0)), f);
    return (ng[0] && !gin[0].t) || (ng[1] && !gin[1].t) ? cg_last_status() : CG_OK;
}
static const cg_op *scaled_mul_op(void) {
    const cg_op *op = cg_op_find("test_scaled_mul");
    if (!op)
        op = cg_op_register(&(cg_op){.name = "test_scaled_mul", .n_in = 2, .n_out = 1,
                                     .params_size = sizeof(scaled_params), .forward = scaled_mul_fwd,
                                     .backward = scaled_mul_bwd, .reads = CG_READS_INPUT(0) | CG_READS_INPUT(1)});
    ck_assert_msg(op != NULL, "%s", cg_last_error());
    return op;
}
static cg_tensor *f_scaled_mul(cg_tensor *const *x, int n, void *u) {
    double factor = u ? *(const double *)u : 1.0;
    return cg_op_apply(scaled_mul_op(), x, n, &(scaled_params){factor});
}

static cg_tensor *f_curved(cg_tensor *const *x, int n, void *u) {
    return cg_mul_scalar(cg_square(f_scaled_mul(x, n, u)), 1e4);
}

/* ---------------------------------------------------------------- the table */

typedef struct {
    const char *op;   /* the op-table row it covers */
    cg_gradcheck_fn f;
    in_spec in[4];    /* inputs */
    in_spec bc[4];    /* a broadcast variant (empty when the op does not broadcast) */
    double eps, atol; /* 0: the default step and tight tolerances (see run_variant) */
} gc_case;

#define NOBC {{0}}
#define UNPAREN(...) __VA_ARGS__
/* ROW(op, f, inputs...) and ROW_BC(op, f, (inputs...), (broadcast inputs...)) */
#define ROW(op, f, ...) {op, f, {__VA_ARGS__}, NOBC, 0, 0}
#define ROW_BC(op, f, in, bc) {op, f, {UNPAREN in}, {UNPAREN bc}, 0, 0}
static const gc_case cases[] = {
    ROW("neg", f_neg, G(-2, 2, 3, 4)),
    ROW("exp", f_exp, G(-2, 2, 3, 4)),
    ROW("log", f_log, G(0.3, 2, 3, 4)),
    ROW("sqrt", f_sqrt, G(0.3, 2, 3, 4)),
    ROW("abs", f_abs, GA(0.2, 1.5, 3, 4)),
    ROW("tanh", f_tanh, G(-3, 3, 3, 4)),
    ROW("sigmoid", f_sigmoid, G(-4, 4, 3, 4)),
    ROW("relu", f_relu, GA(0.2, 1.5, 3, 4)),
    ROW("square", f_square, G(-2, 2, 3, 4)),
    ROW("sign", f_sign, GA(0.2, 1.5, 3, 4)),
    ROW("reciprocal", f_reciprocal, GA(0.5, 2, 3, 4)),
    ROW("softsign", f_softsign, G(-3, 3, 3, 4)),
    ROW_BC("add", f_add, (G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (G(-2, 2, 2, 1, 4), G(-2, 2, 3, 1))),
    ROW_BC("sub", f_sub, (G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (G(-2, 2, 4), G(-2, 2, 2, 3, 1))),
    ROW_BC("mul", f_mul, (G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (G(-2, 2, 2, 1, 4), G(-2, 2, 3, 1))),
    ROW_BC("mul", f_mul, (G0(-2, 2), G(-2, 2, 3, 4)), (G(-2, 2, 3, 4), G0(-2, 2))),
    ROW_BC("div", f_div, (G(-2, 2, 3, 4), GA(0.5, 2, 3, 4)), (G(-2, 2, 2, 1, 4), GA(0.5, 2, 3, 1))),
    ROW_BC("pow", f_pow, (G(0.5, 2, 3, 4), G(-1.5, 1.5, 3, 4)), (G(0.5, 2, 3, 1), G(-1.5, 1.5, 2, 1, 4))),
    ROW_BC("maximum", f_maximum, (G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (G(-2, 2, 2, 1, 4), G(-2, 2, 3, 1))),
    ROW_BC("minimum", f_minimum, (G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (G(-2, 2, 4), G(-2, 2, 2, 3, 1))),
    ROW("add_scalar", f_add_scalar, G(-2, 2, 3, 4)),
    ROW("mul_scalar", f_mul_scalar, G(-2, 2, 3, 4)),
    ROW("pow_scalar", f_pow_scalar, G(0.5, 2, 3, 4)),
    ROW("rsub_scalar", f_rsub_scalar, G(-2, 2, 3, 4)),
    ROW("clamp", f_clamp, G(-1.5, 1.5, 4, 5)),
    ROW_BC("where", f_where, (MASK(3, 4), G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (MASK(3, 1), G(-2, 2, 1, 4), G(-2, 2, 4))),
    ROW_BC("masked_fill", f_masked_fill, (G(-2, 2, 3, 4), MASK(3, 4)), (G(-2, 2, 2, 3, 4), MASK(3, 1))),
    /* through float32: a bigger step so rounding (~1e-7) stays small next to it */
    {"to", f_to, {G(-2, 2, 3, 4)}, NOBC, 1e-2, 1e-4},
    ROW("sum", f_sum_axis, G(-2, 2, 2, 3, 4)),
    ROW("sum", f_sum_all, G(-2, 2, 3, 4)),
    ROW("sum", f_sum_keep, G(-2, 2, 2, 3, 4)),
    ROW("mean", f_mean_axis, G(-2, 2, 2, 3, 4)),
    ROW("mean", f_mean_all, G(-2, 2, 3, 4)),
    ROW("max", f_max_axis, G(-2, 2, 3, 5)),
    ROW("max", f_max_all, G(-2, 2, 2, 3, 4)),
    ROW("min", f_min_axis, G(-2, 2, 4, 3)),
    ROW("logsumexp", f_logsumexp_axis, G(-3, 3, 3, 5)),
    ROW("logsumexp", f_logsumexp_all, G(-3, 3, 2, 3, 4)),
    ROW("softmax", f_softmax1, G(-3, 3, 3, 5)),
    ROW("softmax", f_softmax0, G(-3, 3, 4, 3)),
    ROW("log_softmax", f_log_softmax, G(-3, 3, 2, 3, 5)),
    ROW_BC("matmul", f_matmul, (G(-1, 1, 3, 4), G(-1, 1, 4, 5)), (G(-1, 1, 2, 3, 4), G(-1, 1, 4, 5))),
    ROW_BC("matmul", f_matmul, (G(-1, 1, 2, 3, 4), G(-1, 1, 2, 4, 5)), (G(-1, 1, 2, 1, 3, 4), G(-1, 1, 3, 4, 2))),
    ROW_BC("matmul", f_matmul, (G(-1, 1, 4), G(-1, 1, 4, 5)), (G(-1, 1, 4), G(-1, 1, 2, 4, 5))),
    ROW_BC("matmul", f_matmul, (G(-1, 1, 3, 4), G(-1, 1, 4)), (G(-1, 1, 2, 3, 4), G(-1, 1, 4))),
    ROW("matmul", f_matmul, G(-1, 1, 4), G(-1, 1, 4)),
    ROW_BC("addmm", f_addmm, (G(-1, 1, 3, 5), G(-1, 1, 3, 4), G(-1, 1, 4, 5)),
           (G(-1, 1, 5), G(-1, 1, 3, 4), G(-1, 1, 4, 5))),
    ROW("addmm", f_addmm, G(-1, 1, 3, 1), G(-1, 1, 3, 4), G(-1, 1, 4, 2)),
    ROW("reshape", f_reshape, G(-2, 2, 3, 4)),
    ROW("reshape", f_reshape_infer, G(-2, 2, 2, 3, 4)),
    ROW("transpose", f_transpose, G(-2, 2, 2, 3, 4)),
    ROW("permute", f_permute, G(-2, 2, 2, 3, 4)),
    ROW("slice", f_slice_step, G(-2, 2, 5, 4)),
    ROW("slice", f_slice_neg, G(-2, 2, 3, 5)),
    ROW("select", f_select, G(-2, 2, 3, 4)),
    ROW("select", f_select_neg, G(-2, 2, 3, 4)),
    ROW("expand", f_expand, G(-2, 2, 3, 1)),
    ROW("expand", f_expand, G(-2, 2, 4)),
    ROW("squeeze", f_squeeze, G(-2, 2, 3, 1, 4)),
    ROW("unsqueeze", f_unsqueeze, G(-2, 2, 3, 4)),
    ROW("flip", f_flip, G(-2, 2, 3, 4)),
    ROW("flip", f_flip1, G(-2, 2, 3, 4)),
    ROW("contiguous", f_contiguous, G(-2, 2, 3, 4)),
    ROW("concat", f_concat0, G(-2, 2, 2, 4), G(-2, 2, 1, 4), G(-2, 2, 3, 4)),
    ROW("concat", f_concat_last, G(-2, 2, 3, 2), G(-2, 2, 3, 1)),
    ROW("stack", f_stack1, G(-2, 2, 3, 4), G(-2, 2, 3, 4)),
    ROW("stack", f_stack_last, G(-2, 2, 3, 2), G(-2, 2, 3, 2), G(-2, 2, 3, 2)),
    ROW("chunk", f_chunk, G(-2, 2, 7, 3)),
    ROW("chunk", f_chunk_last, G(-2, 2, 3, 6)),
    ROW("split", f_split, G(-2, 2, 6, 3)),
    ROW("index_select", f_index_select0, G(-2, 2, 5, 3), IDX(5, 7)),
    ROW("index_select", f_index_select1, G(-2, 2, 3, 5), IDX(5, 6)),
    ROW("gather", f_gather1, G(-2, 2, 3, 4), IDX(4, 3, 6)),
    ROW("gather", f_gather0, G(-2, 2, 4, 3), IDX(4, 6, 2)),
    ROW("scatter_add", f_scatter_add, G(-2, 2, 3, 4), IDX(4, 3, 6), G(-2, 2, 3, 6)),
    ROW("scatter_add", f_scatter_add, G(-2, 2, 3, 4), IDX(4, 2, 5), G(-2, 2, 3, 6)),
    ROW("index_select", f_index_select_neg, G(-2, 2, 2, 3, 4), IDX(4, 5)),
    ROW("gather", f_gather_neg, G(-2, 2, 2, 3, 4), IDX(4, 2, 3, 6)),
    ROW("scatter_add", f_scatter_add_neg, G(-2, 2, 2, 3, 4), IDX(3, 2, 5, 4), G(-2, 2, 2, 5, 4)),
    ROW("bce_with_logits", f_bce, G(-3, 3, 3, 4), G(0, 1, 3, 4)),
    ROW("bce_with_logits", f_bce_sum, G(-3, 3, 3, 4), G(0, 1, 3, 4)),
    ROW("bce_with_logits", f_bce_none, G(-3, 3, 2, 5), G(0, 1, 2, 5)),
    ROW("cross_entropy", f_ce, G(-3, 3, 4, 5), IDX(5, 4)),
    ROW("cross_entropy", f_ce_none, G(-3, 3, 2, 3, 5), IDX(5, 2, 3)),
    ROW("cross_entropy", f_ce_sum, G(-3, 3, 3, 4), IDX(4, 3)),
    ROW("dropout", f_dropout, G(-2, 2, 4, 5)),
    ROW("layer_norm", f_layer_norm, G(-2, 2, 3, 5), G(0.5, 1.5, 5), G(-1, 1, 5)),
    ROW("layer_norm", f_layer_norm_plain, G(-2, 2, 2, 3, 4)),
    ROW("matmul", f_matmul_self, G(-1, 1, 3, 3)),
    ROW("addmm", f_linear, G(-1, 1, 2, 3, 4), G(-1, 1, 4, 5), G(-1, 1, 5)),
    ROW("reshape", f_flatten, G(-2, 2, 2, 3, 4)),
    ROW("index_select", f_embedding, G(-2, 2, 6, 3), IDX(6, 2, 4)),
    ROW_BC("fused", f_fused_lstm, (G(-2, 2, 3, 8), G(-2, 2, 3, 2)), (G(-2, 2, 2, 3, 8), G(-2, 2, 3, 1))),
    ROW_BC("fused", f_fused_lstm_h, (G(-2, 2, 3, 8), G(-2, 2, 3, 2)), (G(-2, 2, 8), G(-2, 2, 4, 2))),
    ROW_BC("fused", f_fused_all, (GA(0.2, 1.5, 3, 5), G(0.5, 2, 3, 5)), (GA(0.2, 1.5, 2, 1, 5), G(0.5, 2, 3, 1))),
    ROW_BC("test_scaled_mul", f_scaled_mul, (G(-2, 2, 3, 4), G(-2, 2, 3, 4)), (G(-2, 2, 4), G(-2, 2, 2, 1))),
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static int n_inputs(const in_spec *s) {
    int n = 0;
    while (n < 4 && s[n].kind != IN_NONE) n++;
    return n;
}

/* Does the graph of f(x) contain a node of the case's op? (DOT labels start
 * with the op name.) So a case cannot silently test some other op. */
static bool graph_has_op(const gc_case *c, cg_tensor *const *x, int n) {
    cg_tensor *y = c->f(x, n, NULL);
    ck_assert_msg(y != NULL, "%s: %s", c->op, cg_last_error());
    char *buf = NULL, want[128];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(cg_write_dot(y, f), CG_OK);
    fclose(f);
    snprintf(want, sizeof want, "label=\"%s\\n", c->op);
    bool found = strstr(buf, want) != NULL;
    free(buf);
    return found;
}

/* Gradcheck one row on one input set. With `partial`, the first
 * differentiable input is made constant, so the op runs with a needs_grad
 * mask that is not all true. */
static void run_variant(const gc_case *c, int row, const in_spec *spec, layout L, bool partial, const char *variant) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(1000u + (uint64_t)row);
    cg_tensor *x[4];
    int n = n_inputs(spec), n_grad = 0;
    bool strided = false;
    for (int i = 0; i < n; i++) {
        x[i] = make_input(&spec[i], L, &rng);
        strided |= !cg_is_contiguous(x[i]);
        if (cg_requires_grad(x[i]) && n_grad++ == 0 && partial) cg_requires_grad_(x[i], false);
    }
    if (partial && n_grad < 2) goto done; /* nothing would be left to check */
    ck_assert_msg(strided == (L != L_CONTIG), "%s: the %s layout gave %s inputs", c->op, layout_name[L],
                  strided ? "strided" : "contiguous");
    ck_assert_msg(graph_has_op(c, x, n), "case %d does not use op '%s'", row, c->op);
    /* float64 central differences are good to ~1e-9 here: much tighter than the defaults */
    cg_gradcheck_opts o = {c->eps, c->atol > 0 ? c->atol : 1e-7, c->atol > 0 ? 1e-3 : 1e-6, 0, 77};
    cg_status st = cg_gradcheck(c->f, NULL, x, n, &o);
    ck_assert_msg(st == CG_OK, "gradcheck of '%s' (case %d, %s%s, %s): %s", c->op, row, variant,
                  partial ? " with input 0 constant" : "", layout_name[L], cg_last_error());
done:
    cg_scope_end(s);
}

/* One Check test per row of `cases`. */
START_TEST(gradcheck_case) {
    const gc_case *c = &cases[_i];
    for (layout L = 0; L < L_COUNT; L++) {
        run_variant(c, _i, c->in, L, false, "plain");
        if (c->bc[0].kind != IN_NONE) run_variant(c, _i, c->bc, L, false, "broadcast");
    }
    run_variant(c, _i, c->in, L_CONTIG, true, "plain");
    if (c->bc[0].kind != IN_NONE) run_variant(c, _i, c->bc, L_STRIDED, true, "broadcast");
}
END_TEST

START_TEST(every_op_has_a_case) {
    scaled_mul_op(); /* user ops are table rows too */
    ck_assert_int_ge(cg_op_count(), 59); /* 58 built-in rows and ours */
    char missing[4096] = "";
    for (int i = 0; i < cg_op_count(); i++) {
        const char *name = cg_op_at(i)->name;
        bool found = false;
        for (int k = 0; k < N_CASES && !found; k++) found = strcmp(cases[k].op, name) == 0;
        if (!found) snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", name);
    }
    ck_assert_msg(!missing[0], "ops without a gradcheck case:%s", missing);
    for (int k = 0; k < N_CASES; k++) ck_assert_msg(cg_op_find(cases[k].op), "case for unknown op '%s'", cases[k].op);
}
END_TEST

/* --------------------------------------------------------------- kinks */

static cg_tensor *leaf(const double *v, const int64_t *shape, int ndim) {
    return cg_requires_grad_(cg_from_data(CG_FLOAT64, shape, ndim, v), true);
}

/* The gradient of sum(f(x)) (fresh .grad). */
static cg_tensor *grad_of(cg_gradcheck_fn f, cg_tensor *const *x, int n, int i) {
    for (int k = 0; k < n; k++) cg_clear_grad(x[k]);
    ck_assert_int_eq(cg_backward(cg_sum(f(x, n, NULL), NULL, 0, false)), CG_OK);
    return cg_grad(x[i]);
}

/* At relu(0), |0|, a clamp bound and ties of max / maximum the one-sided slopes differ:
 * gradcheck skips those points instead of failing, and the backward follows
 * the documented subgradient there. */
START_TEST(kinks_are_skipped) {
    cg_tensor *x = leaf((const double[]){-1.0, 0.0, 0.5, 0.0, 0.7, -0.25}, CG_SHAPE(2, 3)); /* clamp hi = 0.7 */
    ck_assert_int_eq(cg_gradcheck(f_relu, NULL, &x, 1, NULL), CG_OK);
    ck_assert_tensor_near(grad_of(f_relu, &x, 1, 0), ((const double[]){0, 0, 1, 0, 1, 0}), 6, 0);
    ck_assert_int_eq(cg_gradcheck(f_abs, NULL, &x, 1, NULL), CG_OK);
    ck_assert_tensor_near(grad_of(f_abs, &x, 1, 0), ((const double[]){-1, 0, 1, 0, 1, -1}), 6, 0);
    ck_assert_int_eq(cg_gradcheck(f_clamp, NULL, &x, 1, NULL), CG_OK);
    ck_assert_tensor_near(grad_of(f_clamp, &x, 1, 0), ((const double[]){0, 1, 1, 1, 1, 1}), 6, 0);
    /* max over ties: everything to the first maximum (both rows tie) */
    cg_tensor *m = leaf((const double[]){1, 3, 3, 2, 5, 5, 5, 0}, CG_SHAPE(2, 4));
    ck_assert_int_eq(cg_gradcheck(f_max_axis, NULL, &m, 1, NULL), CG_OK);
    ck_assert_tensor_near(grad_of(f_max_axis, &m, 1, 0), ((const double[]){0, 1, 0, 0, 1, 0, 0, 0}), 8, 0);
    ck_assert_int_eq(cg_gradcheck(f_max_all, NULL, &m, 1, NULL), CG_OK);
    ck_assert_tensor_near(grad_of(f_max_all, &m, 1, 0), ((const double[]){0, 0, 0, 0, 1, 0, 0, 0}), 8, 0);
    /* maximum(a, b) where a == b: half to each */
    cg_tensor *ab[2] = {leaf((const double[]){1, 2, -1}, CG_SHAPE(3)), leaf((const double[]){1, 0, -1}, CG_SHAPE(3))};
    ck_assert_int_eq(cg_gradcheck(f_maximum, NULL, ab, 2, NULL), CG_OK);
    ck_assert_tensor_near(grad_of(f_maximum, ab, 2, 0), ((const double[]){0.5, 1, 0.5}), 3, 0);
    ck_assert_tensor_near(cg_grad(ab[1]), ((const double[]){0.5, 0, 0.5}), 3, 0);
}
END_TEST

/* ------------------------------------------------------ detecting bugs */

START_TEST(gradcheck_detects_a_wrong_gradient) {
    cg_rng rng = cg_rng_seeded(5);
    cg_tensor *x[2] = {cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(3, 4)), true),
                       cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(3, 4)), true)};
    double right = 1.0, wrong = 1.5;
    ck_assert_int_eq(cg_gradcheck(f_scaled_mul, &right, x, 2, NULL), CG_OK);
    ck_assert_int_eq(cg_gradcheck(f_scaled_mul, &wrong, x, 2, NULL), CG_ERR_NUMERIC);
    ck_assert_error(CG_ERR_NUMERIC, "input 1 [3,4]");
    /* near a minimum, where the curvature is large next to the slope:
     * f = 1e4 (a b)^2 at b ~ 1e-6 has df/db ~ 0.02 but d2f/db2 ~ 2e4 */
    cg_tensor *near[2] = {x[0], cg_requires_grad_(cg_normal(&rng, CG_FLOAT64, 0, 1e-6, CG_SHAPE(3, 4)), true)};
    ck_assert_int_eq(cg_gradcheck(f_curved, &right, near, 2, NULL), CG_OK);
    ck_assert_int_eq(cg_gradcheck(f_curved, &wrong, near, 2, NULL), CG_ERR_NUMERIC);
    ck_assert_error(CG_ERR_NUMERIC, "input 1 [3,4]");
    /* only input 0 checked: its gradient is right */
    cg_requires_grad_(x[1], false);
    ck_assert_int_eq(cg_gradcheck(f_scaled_mul, &wrong, x, 2, NULL), CG_OK);
}
END_TEST

Suite *autograd_ops_suite(void) {
    Suite *s = suite_create("autograd_ops");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_op_has_a_case);
    tcase_add_loop_test(tc, gradcheck_case, 0, N_CASES);
    tcase_add_test(tc, kinks_are_skipped);
    tcase_add_test(tc, gradcheck_detects_a_wrong_gradient);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(autograd_ops_suite()); }
