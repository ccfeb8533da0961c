/* Fused elementwise programs: the same values and gradients as the ops they
 * chain, the same bits with 1 and 2 threads, and errors that name the
 * program. (The float64 gradchecks are rows of test_autograd_ops.) */
#include "testlib.h"

#include <string.h>

/* An LSTM cell's gates: z [B, 4H] split i, f, g, o; c [B, H] -> h, c'. */
static void lstm_prog(cg_fused_prog *p) {
    cg_fused_begin(p, "lstm_cell");
    int z = cg_fused_input(p, 4), c = cg_fused_input(p, 1);
    int i = cg_fused_unary(p, CG_SIGMOID, z), f = cg_fused_unary(p, CG_SIGMOID, z + 1);
    int g = cg_fused_unary(p, CG_TANH, z + 2), o = cg_fused_unary(p, CG_SIGMOID, z + 3);
    int c2 = cg_fused_binary(p, CG_ADD, cg_fused_binary(p, CG_MUL, f, c), cg_fused_binary(p, CG_MUL, i, g));
    ck_assert_int_eq(cg_fused_output(p, cg_fused_binary(p, CG_MUL, o, cg_fused_unary(p, CG_TANH, c2))), 0);
    ck_assert_int_eq(cg_fused_output(p, c2), 1);
    ck_assert(!p->bad);
}

/* The same cell from separate ops. */
static void lstm_ops(cg_tensor *zz, cg_tensor *c, cg_tensor **h, cg_tensor **c2) {
    cg_tensor *z[4];
    ck_assert_int_eq(cg_chunk(zz, 4, -1, z), 4);
    *c2 = cg_add(cg_mul(cg_sigmoid(z[1]), c), cg_mul(cg_sigmoid(z[0]), cg_tanh(z[2])));
    *h = cg_mul(cg_sigmoid(z[3]), cg_tanh(*c2));
}

static double max_abs_diff(const cg_tensor *a, const cg_tensor *b) {
    ck_assert(cg_same_shape(a, b));
    cg_tensor *d = cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_SUB, cg_to_dtype(a, CG_FLOAT64),
                                                                      cg_to_dtype(b, CG_FLOAT64))),
                               NULL, 0, false);
    return cg_item(d);
}

/* Values and gradients against the separate ops, for both float dtypes, on
 * a last dim longer than one block and a z that is a strided view. */
static void check_against_ops(cg_dtype dt, double tol) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(7);
    int64_t B = 6, H = 150;
    cg_tensor *big = cg_uniform(&rng, dt, -3, 3, CG_SHAPE(B, 2, 4 * H));
    cg_tensor *zz = cg_requires_grad_(cg_contiguous(cg_select(big, 1, 1)), true);
    cg_tensor *zv = cg_select(cg_requires_grad_(big, true), 1, 0); /* strided: row stride 8H */
    cg_tensor *c = cg_requires_grad_(cg_uniform(&rng, dt, -2, 2, CG_SHAPE(B, H)), true);
    cg_tensor *w1 = cg_uniform(&rng, dt, -1, 1, CG_SHAPE(B, H)), *w2 = cg_uniform(&rng, dt, -1, 1, CG_SHAPE(B, H));
    cg_fused_prog p;
    lstm_prog(&p);
    for (int variant = 0; variant < 2; variant++) {
        cg_tensor *z = variant ? zv : zz, *leaf = variant ? big : zz;
        cg_tensor *out[2], *h, *c2;
        ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){z, c}, out), 2);
        lstm_ops(z, c, &h, &c2);
        ck_assert_double_le(max_abs_diff(out[0], h), tol);
        ck_assert_double_le(max_abs_diff(out[1], c2), tol);
        /* gradients of sum(w1 * h + w2 * c') both ways */
        cg_tensor *gz[2], *gc[2];
        for (int k = 0; k < 2; k++) {
            cg_clear_grad(leaf);
            cg_clear_grad(c);
            cg_tensor *hh = k ? h : out[0], *cc = k ? c2 : out[1];
            cg_tensor *loss = cg_sum(cg_add(cg_mul(hh, w1), cg_mul(cc, w2)), NULL, 0, false);
            ck_assert_int_eq(cg_backward_ex(loss, NULL, true), CG_OK);
            gz[k] = cg_grad(leaf);
            gc[k] = cg_grad(c);
        }
        ck_assert_double_le(max_abs_diff(gz[0], gz[1]), tol);
        ck_assert_double_le(max_abs_diff(gc[0], gc[1]), tol);
    }
    cg_scope_end(s);
}

START_TEST(matches_the_separate_ops) {
    check_against_ops(CG_FLOAT64, 1e-14);
    check_against_ops(CG_FLOAT32, 2e-6);
}
END_TEST

/* Above the grain size the blocks run on two threads: the same bits; and
 * the same bits whether the backward reads kept values or recomputes. */
START_TEST(same_bits_with_one_and_two_threads) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(3);
    cg_tensor *z = cg_uniform(&rng, CG_FLOAT32, -3, 3, CG_SHAPE(300, 4 * 256));
    cg_tensor *c = cg_uniform(&rng, CG_FLOAT32, -2, 2, CG_SHAPE(300, 256));
    cg_tensor *g = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(300, 256));
    cg_fused_prog p;
    lstm_prog(&p);
    /* rounds 0, 1: one and two threads, keeping the step values; round 2:
     * two threads, the backward recomputing them */
    cg_tensor *out[3][2], *gin[3][2], *keep[3] = {NULL, NULL, NULL};
    for (int t = 0; t < 3; t++) {
        cg_set_num_threads(t ? 2 : 1);
        ck_assert_int_eq(cg_k_fused(&p, (const cg_tensor *[]){z, c}, out[t], t < 2 ? &keep[t] : NULL), CG_OK);
        ck_assert_int_eq(cg_k_fused_backward(&p, (const cg_tensor *[]){z, c}, (const cg_tensor *[]){g, g}, NULL, gin[t],
                                             keep[t]),
                         CG_OK);
    }
    cg_set_num_threads(2);
    ck_assert_shape(keep[0], 5, 300 * 256); /* i, f, g, o and tanh(c'): what the rules read */
    for (int t = 1; t < 3; t++)
        for (int j = 0; j < 2; j++) {
            ck_assert_int_eq(memcmp(cg_data(out[0][j]), cg_data(out[t][j]), sizeof(float) * (size_t)cg_numel(out[0][j])), 0);
            ck_assert_int_eq(memcmp(cg_data(gin[0][j]), cg_data(gin[t][j]), sizeof(float) * (size_t)cg_numel(gin[0][j])), 0);
        }
    /* kept values of the wrong shape are refused */
    ck_assert_int_ne(cg_k_fused_backward(&p, (const cg_tensor *[]){z, c}, (const cg_tensor *[]){g, g}, NULL, gin[2], g),
                     CG_OK);
    ck_assert_error(CG_ERR_SHAPE, "kept values are float32 [300,256], expected float32 [5, 76800]");
    ck_assert_shape(gin[0][0], 300, 1024);
    ck_assert_shape(gin[0][1], 300, 256);
    cg_scope_end(s);
}
END_TEST

/* A gradient reaching only one output; an input with no gradient wanted;
 * a register read twice by one step; an input no step reads. */
START_TEST(partial_gradients) {
    cg_scope *s = cg_scope_begin();
    cg_fused_prog p;
    cg_fused_begin(&p, "axb");
    int a = cg_fused_input(&p, 1), b = cg_fused_input(&p, 1);
    int y = cg_fused_binary(&p, CG_MUL, a, b);
    cg_fused_output(&p, y);
    cg_fused_output(&p, cg_fused_unary(&p, CG_EXP, y));
    cg_tensor *x1 = cg_from_data(CG_FLOAT64, CG_SHAPE(3), (const double[]){1, 2, 3});
    cg_tensor *x2 = cg_from_data(CG_FLOAT64, CG_SHAPE(3), (const double[]){-1, 0.5, 2});
    cg_tensor *g = cg_ones(CG_FLOAT64, CG_SHAPE(3)), *gin[2];
    ck_assert_int_eq(cg_k_fused_backward(&p, (const cg_tensor *[]){x1, x2}, (const cg_tensor *[]){g, NULL},
                                         (const bool[]){false, true}, gin, NULL),
                     CG_OK);
    ck_assert_ptr_null(gin[0]);
    ck_assert_tensor_near(gin[1], ((const double[]){1, 2, 3}), 3, 0);

    /* a step reading one register twice (a * a) sets its adjoint once and
     * adds the second term; an input no step reads gets zeros (its adjoint
     * is never written, so it is zeroed rather than read unset) */
    cg_fused_prog q;
    cg_fused_begin(&q, "aa");
    int qa = cg_fused_input(&q, 1);
    cg_fused_input(&q, 1);
    cg_fused_output(&q, cg_fused_binary(&q, CG_MUL, qa, qa));
    ck_assert_int_eq(cg_k_fused_backward(&q, (const cg_tensor *[]){x1, x2}, (const cg_tensor *[]){g}, NULL, gin, NULL),
                     CG_OK);
    ck_assert_tensor_near(gin[0], ((const double[]){2, 4, 6}), 3, 0);
    ck_assert_tensor_near(gin[1], ((const double[]){0, 0, 0}), 3, 0);
    cg_scope_end(s);
}
END_TEST

/* A gradient written into a destination: in place into a time step of a
 * bigger [B, T, 4H] buffer (nothing else of it touched), through a copy
 * into a transposed view, and the same bits as a new tensor either way. */
START_TEST(gradients_written_into_a_destination) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(4);
    int64_t B = 5, T = 3, H = 37;
    cg_tensor *z = cg_uniform(&rng, CG_FLOAT32, -3, 3, CG_SHAPE(B, 4 * H));
    cg_tensor *c = cg_uniform(&rng, CG_FLOAT32, -2, 2, CG_SHAPE(B, H));
    cg_tensor *g = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(B, H));
    cg_fused_prog p;
    lstm_prog(&p);
    cg_tensor *out[2], *keep, *want[2], *gin[2];
    ck_assert_int_eq(cg_k_fused(&p, (const cg_tensor *[]){z, c}, out, &keep), CG_OK);
    const cg_tensor *in[2] = {z, c}, *gout[2] = {g, g};
    ck_assert_int_eq(cg_k_fused_backward(&p, in, gout, NULL, want, keep), CG_OK);

    cg_tensor *buf = cg_full(CG_FLOAT32, CG_SHAPE(B, T, 4 * H), 7);
    cg_tensor *slot = cg_select(buf, 1, 1);
    ck_assert_int_eq(cg_k_fused_backward_into(&p, in, gout, NULL, gin, keep, (cg_tensor *[]){slot, NULL}), CG_OK);
    ck_assert_ptr_eq(gin[0], slot);
    ck_assert_int_eq(memcmp(cg_data(cg_contiguous(slot)), cg_data(want[0]), sizeof(float) * (size_t)(B * 4 * H)), 0);
    ck_assert_int_eq(memcmp(cg_data(gin[1]), cg_data(want[1]), sizeof(float) * (size_t)(B * H)), 0);
    for (int64_t t = 0; t < T; t += 2) /* the other steps keep their 7s */
        ck_assert_double_eq(cg_item(cg_max(cg_abs(cg_add_scalar(cg_select(buf, 1, t), -7)), NULL, 0, false)), 0);

    cg_tensor *tr = cg_transpose(cg_zeros(CG_FLOAT32, CG_SHAPE(H, B)), 0, 1); /* last dim strided */
    ck_assert_int_eq(cg_k_fused_backward_into(&p, in, gout, NULL, gin, keep, (cg_tensor *[]){NULL, tr}), CG_OK);
    ck_assert_ptr_eq(gin[1], tr);
    ck_assert_int_eq(memcmp(cg_data(cg_contiguous(tr)), cg_data(want[1]), sizeof(float) * (size_t)(B * H)), 0);
    ck_assert_int_eq(memcmp(cg_data(gin[0]), cg_data(want[0]), sizeof(float) * (size_t)(B * 4 * H)), 0);

    /* a destination of another shape or dtype is refused, naming both */
    ck_assert_int_eq(cg_k_fused_backward_into(&p, in, gout, NULL, gin, keep, (cg_tensor *[]){NULL, slot}),
                     CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "the destination of input 1's gradient is float32 [5,148], expected float32 [5,37]");
    ck_assert_int_eq(cg_k_fused_backward_into(&p, in, gout, NULL, gin, keep,
                                              (cg_tensor *[]){cg_zeros(CG_FLOAT64, CG_SHAPE(B, 4 * H)), NULL}),
                     CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "is float64 [5,148], expected float32 [5,148]");
    cg_scope_end(s);
}
END_TEST

START_TEST(errors_name_the_program) {
    cg_scope *s = cg_scope_begin();
    cg_fused_prog p;
    cg_fused_begin(&p, "cell");
    int a = cg_fused_input(&p, 2);
    ck_assert_int_eq(cg_fused_unary(&p, (cg_unop)CG_UNOP_COUNT, a), -1);
    ck_assert_error(CG_ERR_VALUE, "program 'cell': unary op");
    ck_assert_int_eq(cg_fused_binary(&p, CG_ADD, a, -1), -1); /* a failed step's -1 propagates */
    ck_assert_int_eq(cg_fused_output(&p, a), -1);
    cg_tensor *x = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 4)), *out[1];
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x}, out), -1);
    ck_assert_error(CG_ERR_VALUE, "program 'cell' was built with an error");

    cg_fused_begin(&p, "late");
    a = cg_fused_input(&p, 1);
    cg_fused_unary(&p, CG_NEG, a);
    ck_assert_int_eq(cg_fused_input(&p, 1), -1);
    ck_assert_error(CG_ERR_VALUE, "declare inputs first");
    cg_fused_begin(&p, "reg");
    ck_assert_int_eq(cg_fused_binary(&p, CG_MUL, cg_fused_input(&p, 1), 5), -1);
    ck_assert_error(CG_ERR_VALUE, "does not exist");
    cg_fused_begin(&p, "cmp");
    a = cg_fused_input(&p, 1);
    ck_assert_int_eq(cg_fused_binary(&p, CG_LT, a, a), -1); /* a comparison has no derivative */
    ck_assert_error(CG_ERR_VALUE, "binary op");

    /* running: dtype, split and broadcast mismatches, input count */
    cg_fused_begin(&p, "split");
    a = cg_fused_input(&p, 3);
    int b = cg_fused_input(&p, 1);
    cg_fused_output(&p, cg_fused_binary(&p, CG_ADD, a, b));
    cg_tensor *x64 = cg_zeros(CG_FLOAT64, CG_SHAPE(2, 3));
    cg_tensor *x6 = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 6)), *x9 = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 9));
    cg_tensor *x3 = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3)), *x5 = cg_zeros(CG_FLOAT32, CG_SHAPE(5, 3));
    cg_tensor *i64 = cg_zeros(CG_INT64, CG_SHAPE(2, 3));
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x9, x64}, out), -1);
    ck_assert_error(CG_ERR_DTYPE, "program 'split': input 1 is float64");
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){cg_zeros(CG_INT64, CG_SHAPE(2, 9)), i64}, out), -1);
    ck_assert_error(CG_ERR_DTYPE, "one float dtype");
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x6, x3}, out), -1); /* 6 = 3 parts of 2, c is 3 wide */
    ck_assert_error(CG_ERR_SHAPE, "input 1 (shape [2,3]) does not broadcast");
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x9, x5}, out), -1);
    ck_assert_error(CG_ERR_SHAPE, "does not broadcast");
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){cg_zeros(CG_FLOAT32, CG_SHAPE(2, 4)), x3}, out), -1);
    ck_assert_error(CG_ERR_SHAPE, "does not split into 3 equal parts");
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x9, NULL}, out), -1);
    ck_assert_error(CG_ERR_NULL, "NULL");
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x9, x3}, out), 1);
    ck_assert_shape(out[0], 2, 3);
    /* a split piece cannot broadcast along the last dim */
    ck_assert_int_eq(cg_fused(&p, (cg_tensor *[]){x3, x3}, out), -1); /* pieces [2,1] against [2,3] */
    ck_assert_error(CG_ERR_SHAPE, "whose last dim must be the outputs' (3)");

    /* a program filled in by hand is checked like a built one */
    cg_fused_prog q = p;
    q.parts[0] = 0;
    ck_assert_int_eq(cg_fused(&q, (cg_tensor *[]){x9, x3}, out), -1);
    ck_assert_error(CG_ERR_VALUE, "is not one the builder makes");
    q = p;
    q.steps[0].b = 5; /* the step's own register */
    ck_assert_int_eq(cg_fused(&q, (cg_tensor *[]){x9, x3}, out), -1);
    ck_assert_error(CG_ERR_VALUE, "is not one the builder makes");
    q = p;
    q.steps[0].op = CG_LT; /* a comparison: no derivative, not a step */
    ck_assert_int_eq(cg_k_fused(&q, (const cg_tensor *[]){x9, x3}, out, NULL), CG_ERR_VALUE);
    q = p;
    q.out[0] = 9;
    ck_assert_int_eq(cg_fused(&q, (cg_tensor *[]){x9, x3}, out), -1);
    ck_assert_error(CG_ERR_VALUE, "is not one the builder makes");
    cg_scope_end(s);
}
END_TEST

static Suite *fused_suite(void) {
    Suite *s = suite_create("fused");
    TCase *tc = tcase_create("fused");
    tcase_add_test(tc, matches_the_separate_ops);
    tcase_add_test(tc, same_bits_with_one_and_two_threads);
    tcase_add_test(tc, partial_gradients);
    tcase_add_test(tc, gradients_written_into_a_destination);
    tcase_add_test(tc, errors_name_the_program);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(fused_suite()); }
