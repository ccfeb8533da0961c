/* tensor/ elementwise kernels: unary, binary with NumPy broadcasting on
 * strided inputs, scalar forms, clamp, where/masked_fill, copy/fill/axpy. */
#include "test_tensor_helpers.h"

START_TEST(unary_values) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(-2, -0.5, 0, 0.5, 4), CG_SHAPE(5));
    ck_assert_vals(cg_k_unary(CG_NEG, x), 0, 2, 0.5, 0, -0.5, -4);
    ck_assert_vals(cg_k_unary(CG_EXP, x), 1e-6, exp(-2), exp(-0.5), 1, exp(0.5), exp(4));
    ck_assert_vals(cg_k_unary(CG_ABS, x), 0, 2, 0.5, 0, 0.5, 4);
    ck_assert_vals(cg_k_unary(CG_TANH, x), 1e-6, tanh(-2), tanh(-0.5), 0, tanh(0.5), tanh(4));
    ck_assert_vals(cg_k_unary(CG_SIGMOID, x), 1e-6, 1 / (1 + exp(2)), 1 / (1 + exp(0.5)), 0.5, 1 / (1 + exp(-0.5)),
                   1 / (1 + exp(-4)));
    ck_assert_vals(cg_k_unary(CG_RELU, x), 0, 0, 0, 0, 0.5, 4);
    ck_assert_vals(cg_k_unary(CG_SIGN, x), 0, -1, -1, 0, 1, 1);
    ck_assert_vals(cg_k_unary(CG_SQUARE, x), 0, 4, 0.25, 0, 0.25, 16);
    ck_assert_vals(cg_k_unary(CG_RECIPROCAL, x), 1e-7, -0.5, -2, INFINITY, 2, 0.25);
    cg_tensor *p = mk(CG_FLOAT64, VALS(0, 1, 4, -1), CG_SHAPE(4));
    ck_assert_vals(cg_k_unary(CG_SQRT, p), 0, 0, 1, 2, NAN);
    ck_assert_vals(cg_k_unary(CG_LOG, p), 1e-12, -INFINITY, 0, log(4), NAN);
    cg_tensor *i = mk(CG_INT64, VALS(-3, 0, 5), CG_SHAPE(3));
    ck_assert_vals(cg_k_unary(CG_NEG, i), 0, 3, 0, -5);
    ck_assert_vals(cg_k_unary(CG_ABS, i), 0, 3, 0, 5);
    ck_assert_vals(cg_k_unary(CG_SIGN, i), 0, -1, 0, 1);
    ck_assert_vals(cg_k_unary(CG_SQUARE, i), 0, 9, 0, 25);
    ck_assert_vals(cg_k_unary(CG_RELU, i), 0, 0, 0, 5);
    ck_assert_int_eq(cg_k_unary(CG_RELU, i)->dtype, CG_INT64);
    ck_assert_fails(cg_k_unary(CG_EXP, i), CG_ERR_DTYPE, "cg_exp: not defined for int64 (shape [3])");
    ck_assert_fails(cg_k_unary((cg_unop)99, x), CG_ERR_VALUE, "unknown unary op 99");
    ck_assert_str_eq(cg_unop_name(CG_SIGMOID), "sigmoid");
    ck_assert_str_eq(cg_binop_name(CG_GE), "ge");
}
END_TEST

START_TEST(saturating_functions) {
    /* no overflow to NaN for huge inputs, in both float dtypes */
    for (int d = 0; d < 2; d++) {
        cg_dtype dt = d ? CG_FLOAT64 : CG_FLOAT32;
        cg_tensor *x = mk(dt, VALS(-1000, -100, 100, 1000), CG_SHAPE(4));
        cg_tensor *s = cg_k_unary(CG_SIGMOID, x);
        ck_assert(!cg_k_has_nonfinite(s));
        ck_assert_vals(s, 1e-30, 0, exp(-100), 1, 1);
        ck_assert_vals(cg_k_unary(CG_TANH, x), 0, -1, -1, 1, 1);
        ck_assert_vals(cg_k_unary(CG_EXP, cg_k_slice(x, 0, 0, 4, 3)), 0, 0, INFINITY);
    }
}
END_TEST

START_TEST(unary_strided_and_in_place) {
    cg_tensor *m = m23(CG_FLOAT32);
    cg_tensor *t = cg_k_transpose(m, 0, 1);
    ck_assert_vals(cg_k_unary(CG_SQUARE, t), 0, 1, 16, 4, 25, 9, 36);
    ck_assert_vals(cg_k_unary(CG_NEG, cg_k_flip(m, CG_AXES(1))), 0, -3, -2, -1, -6, -5, -4);
    ck_assert_vals(cg_k_unary(CG_NEG, cg_k_slice(m, 1, 0, 3, 2)), 0, -1, -3, -4, -6);
    ck_assert_vals(cg_k_unary(CG_NEG, cg_k_expand(cg_k_slice(m, 0, 0, 1, 1), CG_SHAPE(2, 3))), 0, -1, -2, -3, -1, -2,
                   -3);
    ck_assert_vals(cg_k_unary(CG_NEG, cg_scalar(CG_FLOAT32, 2)), 0, -2);
    ck_assert_shape(cg_k_unary(CG_EXP, cg_zeros(CG_FLOAT32, CG_SHAPE(0, 4))), 0, 4);
    /* in place through a view writes into the base */
    uint64_t v0 = m->storage->version;
    cg_tensor *right = cg_k_slice(m, 1, 1, 3, 1);
    ck_assert_ptr_eq(cg_k_unary_(CG_NEG, right), right);
    ck_assert_uint_gt(m->storage->version, v0);
    ck_assert_vals(m, 0, 1, -2, -3, 4, -5, -6);
    cg_k_unary_(CG_NEG, right); /* back to 1..6 */
    cg_tensor *col = cg_k_slice(m, 1, 1, 2, 1);
    ck_assert_ptr_eq(cg_k_unary_(CG_SQUARE, col), col);
    ck_assert_vals(m, 0, 1, 4, 3, 4, 25, 6);
    cg_tensor *e = cg_k_expand(cg_scalar(CG_FLOAT32, 1), CG_SHAPE(3));
    ck_assert_fails(cg_k_unary_(CG_NEG, e), CG_ERR_VALUE, "broadcast (expanded) view of shape [3]");
}
END_TEST

START_TEST(binary_broadcasting) {
    cg_tensor *a = m23(CG_FLOAT32);
    cg_tensor *row = mk(CG_FLOAT32, VALS(10, 20, 30), CG_SHAPE(3));
    cg_tensor *col = mk(CG_FLOAT32, VALS(100, 200), CG_SHAPE(2, 1));
    ck_assert_vals(cg_k_binary(CG_ADD, a, row), 0, 11, 22, 33, 14, 25, 36);
    ck_assert_vals(cg_k_binary(CG_SUB, col, a), 0, 99, 98, 97, 196, 195, 194);
    /* [2,1] with [3] -> [2,3]; [1,3,1] with [2,1,4] -> [2,3,4] */
    cg_tensor *outer = cg_k_binary(CG_MUL, col, row);
    ck_assert_shape(outer, 2, 3);
    ck_assert_vals(outer, 0, 1000, 2000, 3000, 2000, 4000, 6000);
    cg_tensor *p = cg_k_binary(CG_ADD, mk(CG_FLOAT64, VALS(1, 2, 3), CG_SHAPE(1, 3, 1)),
                               cg_k_reshape(cg_arange(CG_FLOAT64, 0, 8, 1), CG_SHAPE(2, 1, 4)));
    ck_assert_shape(p, 2, 3, 4);
    ck_assert_double_eq(cg_get(p, IDX(1, 2, 3)), 3 + 7);
    ck_assert_double_eq(cg_get(p, IDX(0, 1, 2)), 2 + 2);
    /* 0-d scalars on either side; 0-d with 0-d stays 0-d */
    cg_tensor *s = cg_scalar(CG_FLOAT32, 2);
    ck_assert_vals(cg_k_binary(CG_DIV, a, s), 0, 0.5, 1, 1.5, 2, 2.5, 3);
    ck_assert_vals(cg_k_binary(CG_POW, s, a), 0, 2, 4, 8, 16, 32, 64);
    cg_tensor *ss = cg_k_binary(CG_MUL, s, s);
    ck_assert_int_eq(ss->ndim, 0);
    ck_assert_double_eq(cg_item(ss), 4);
    /* size-0 dims broadcast with 1 and with themselves */
    cg_tensor *z = cg_zeros(CG_FLOAT32, CG_SHAPE(0, 3));
    ck_assert_shape(cg_k_binary(CG_ADD, z, row), 0, 3);
    ck_assert_shape(cg_k_binary(CG_ADD, cg_zeros(CG_FLOAT32, CG_SHAPE(2, 1, 0)), col), 2, 2, 0);
    ck_assert_fails(cg_k_binary(CG_ADD, z, a), CG_ERR_SHAPE, "cg_add: shapes [0,3] and [2,3] do not broadcast");
    ck_assert_fails(cg_k_binary(CG_MUL, a, mk(CG_FLOAT32, VALS(1, 2), CG_SHAPE(2))), CG_ERR_SHAPE,
                    "cg_mul: shapes [2,3] and [2]");
    ck_assert_fails(cg_k_binary(CG_ADD, a, m23(CG_FLOAT64)), CG_ERR_DTYPE,
                    "cg_add: dtypes differ: float32 [2,3] and float64 [2,3]");
    ck_assert_fails(cg_k_binary(CG_DIV, m23(CG_INT64), m23(CG_INT64)), CG_ERR_DTYPE, "cg_div: not defined for int64");
    ck_assert_fails(cg_k_binary(CG_ADD, a, NULL), CG_ERR_NULL, "cg_add: input is NULL");
    ck_assert_fails(cg_k_binary((cg_binop)-1, a, a), CG_ERR_VALUE, "unknown binary op");
}
END_TEST

START_TEST(binary_strided_operands) {
    cg_tensor *a = m23(CG_FLOAT32);
    cg_tensor *b = cg_k_reshape(cg_arange(CG_FLOAT32, 10, 16, 1), CG_SHAPE(3, 2)); /* [[10,11],[12,13],[14,15]] */
    cg_tensor *bt = cg_k_transpose(b, 0, 1);                                          /* [[10,12,14],[11,13,15]] */
    ck_assert_vals(cg_k_binary(CG_ADD, a, bt), 0, 11, 14, 17, 15, 18, 21);
    cg_tensor *fl = cg_k_flip(a, CG_AXES(0, 1)); /* [[6,5,4],[3,2,1]] */
    ck_assert_vals(cg_k_binary(CG_SUB, fl, bt), 0, -4, -7, -10, -8, -11, -14);
    cg_tensor *wide = cg_k_reshape(cg_arange(CG_FLOAT32, 0, 12, 1), CG_SHAPE(2, 6));
    cg_tensor *step = cg_k_slice(wide, 1, 1, 6, 2); /* [[1,3,5],[7,9,11]] */
    ck_assert_vals(cg_k_binary(CG_MUL, step, fl), 0, 6, 15, 20, 21, 18, 11);
    cg_tensor *ex = cg_k_expand(mk(CG_FLOAT32, VALS(1, -1), CG_SHAPE(2, 1)), CG_SHAPE(2, 3));
    ck_assert_vals(cg_k_binary(CG_MUL, ex, step), 0, 1, 3, 5, -7, -9, -11);
    /* int64 and float64 share the same paths */
    cg_tensor *ia = m23(CG_INT64);
    ck_assert_vals(cg_k_binary(CG_MUL, ia, cg_k_flip(ia, CG_AXES(1))), 0, 3, 4, 3, 24, 25, 24);
    ck_assert_int_eq(cg_k_binary(CG_MUL, ia, ia)->dtype, CG_INT64);
    cg_tensor *da = m23(CG_FLOAT64);
    ck_assert_vals(cg_k_binary(CG_DIV, da, cg_k_transpose(cg_k_transpose(da, 0, 1), 0, 1)), 0, 1, 1, 1, 1, 1, 1);
    /* a long strided operand (several chunks, threads) against a reference */
    int64_t n = 300000;
    cg_tensor *big = cg_k_reshape(cg_arange(CG_FLOAT64, 0, (double)(2 * n), 1), CG_SHAPE(n, 2));
    cg_tensor *r = cg_k_binary(CG_SUB, cg_k_select(big, 1, 1), cg_k_select(big, 1, 0));
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_SUM, r, NULL, 0, false)), (double)n);
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_MIN, r, NULL, 0, false)), 1);
}
END_TEST

START_TEST(comparisons_and_extrema) {
    cg_tensor *a = mk(CG_FLOAT32, VALS(1, 2, NAN, 4), CG_SHAPE(4));
    cg_tensor *b = mk(CG_FLOAT32, VALS(2, 2, 1, NAN), CG_SHAPE(4));
    ck_assert_vals(cg_k_binary(CG_EQ, a, b), 0, 0, 1, 0, 0);
    ck_assert_vals(cg_k_binary(CG_NE, a, b), 0, 1, 0, 1, 1);
    ck_assert_vals(cg_k_binary(CG_LT, a, b), 0, 1, 0, 0, 0);
    ck_assert_vals(cg_k_binary(CG_LE, a, b), 0, 1, 1, 0, 0);
    ck_assert_vals(cg_k_binary(CG_GT, a, b), 0, 0, 0, 0, 0);
    ck_assert_vals(cg_k_binary(CG_GE, a, b), 0, 0, 1, 0, 0);
    ck_assert_int_eq(cg_k_binary(CG_GE, a, b)->dtype, CG_FLOAT32);
    /* maximum/minimum propagate NaN from either side */
    ck_assert_vals(cg_k_binary(CG_MAXIMUM, a, b), 0, 2, 2, NAN, NAN);
    ck_assert_vals(cg_k_binary(CG_MINIMUM, a, b), 0, 1, 2, NAN, NAN);
    cg_tensor *i = mk(CG_INT64, VALS(-1, 5, 3), CG_SHAPE(3));
    ck_assert_vals(cg_k_scalar(CG_MAXIMUM, i, 3), 0, 3, 5, 3);
    ck_assert_vals(cg_k_scalar(CG_LT, i, 3), 0, 1, 0, 0);
    ck_assert_int_eq(cg_k_scalar(CG_LT, i, 3)->dtype, CG_INT64);
}
END_TEST

START_TEST(grad_helpers) {
    cg_tensor *g = mk(CG_FLOAT64, VALS(2, 2, 2), CG_SHAPE(3));
    cg_tensor *y = mk(CG_FLOAT64, VALS(0.5, -0.25, 0), CG_SHAPE(3));
    /* the derivative rules from the gradient and the output */
    ck_assert_vals(cg_k_unary_grad(CG_TANH, g, NULL, y), 1e-15, 1.5, 2 * (1 - 0.0625), 2);
    ck_assert_vals(cg_k_unary_grad(CG_SIGMOID, g, NULL, y), 1e-15, 0.5, 2 * -0.25 * 1.25, 0);
    ck_assert_vals(cg_k_unary_grad(CG_RELU, g, NULL, y), 0, 2, 0, 0); /* 0 at the kink */
}
END_TEST

START_TEST(scalar_forms_and_in_place) {
    cg_tensor *a = m23(CG_FLOAT32);
    ck_assert_vals(cg_k_scalar(CG_SUB, a, 1), 0, 0, 1, 2, 3, 4, 5);
    ck_assert_vals(cg_k_rscalar(CG_SUB, 1, a), 0, 0, -1, -2, -3, -4, -5);
    ck_assert_vals(cg_k_rscalar(CG_DIV, 6, a), 1e-7, 6, 3, 2, 1.5, 1.2, 1);
    ck_assert_vals(cg_k_scalar(CG_POW, a, 0.5), 1e-6, 1, sqrt(2), sqrt(3), 2, sqrt(5), sqrt(6));
    ck_assert_shape(cg_k_scalar(CG_ADD, a, 1), 2, 3);
    ck_assert_ptr_eq(cg_k_scalar_(CG_MUL, a, 2), a);
    ck_assert_vals(a, 0, 2, 4, 6, 8, 10, 12);
    /* in-place binary with a broadcast operand, into a transposed view */
    cg_tensor *at = cg_k_transpose(a, 0, 1); /* [3,2] */
    ck_assert_ptr_eq(cg_k_binary_(CG_ADD, at, mk(CG_FLOAT32, VALS(100, 200), CG_SHAPE(2))), at);
    ck_assert_vals(a, 0, 102, 104, 106, 208, 210, 212);
    ck_assert_fails(cg_k_binary_(CG_ADD, cg_k_slice(a, 0, 0, 1, 1), a), CG_ERR_SHAPE,
                    "cg_add_: shape [2,3] does not broadcast to [1,3]");
    ck_assert_fails(cg_k_binary_(CG_ADD, cg_k_expand(cg_scalar(CG_FLOAT32, 0), CG_SHAPE(2, 3)), a), CG_ERR_VALUE,
                    "cg_k_binary_");
    ck_assert_fails(cg_k_scalar(CG_DIV, m23(CG_INT64), 2), CG_ERR_DTYPE, "cg_div");
    ck_assert_fails(cg_k_rscalar(CG_SUB, 1, NULL), CG_ERR_NULL, "cg_sub: input is NULL");
}
END_TEST

START_TEST(clamp) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(-5, -1, 0, 1, 5, NAN), CG_SHAPE(6));
    ck_assert_vals(cg_k_clamp(x, -1, 2), 0, -1, -1, 0, 1, 2, NAN);
    ck_assert_vals(cg_k_clamp(x, 0, INFINITY), 0, 0, 0, 0, 1, 5, NAN);
    ck_assert_vals(cg_k_clamp(x, -INFINITY, -2), 0, -5, -2, -2, -2, -2, NAN);
    cg_tensor *i = mk(CG_INT64, VALS(-7, 3, 9), CG_SHAPE(3));
    ck_assert_vals(cg_k_clamp(i, -INFINITY, 4), 0, -7, 3, 4);
    ck_assert_vals(cg_k_clamp(cg_k_flip(i, CG_AXES(0)), 0, 5), 0, 5, 3, 0);
    ck_assert_fails(cg_k_clamp(x, 2, 1), CG_ERR_VALUE, "cg_clamp: bounds [2, 1]");
    ck_assert_fails(cg_k_clamp(x, NAN, 1), CG_ERR_VALUE, "cg_clamp");
    ck_assert_fails(cg_k_clamp(NULL, 0, 1), CG_ERR_NULL, "cg_clamp");
}
END_TEST

START_TEST(where_masked_fill) {
    cg_tensor *cond = mk(CG_INT64, VALS(1, 0, 1), CG_SHAPE(3));
    cg_tensor *a = m23(CG_FLOAT32);
    cg_tensor *b = cg_k_expand(cg_scalar(CG_FLOAT32, -1), CG_SHAPE(2, 1));
    cg_tensor *w = cg_k_where(cond, a, b);
    ck_assert_shape(w, 2, 3);
    ck_assert_vals(w, 0, 1, -1, 3, 4, -1, 6);
    /* a float condition, a 0-d value, and everything broadcast */
    cg_tensor *fc = mk(CG_FLOAT64, VALS(0, 0.5), CG_SHAPE(2, 1));
    ck_assert_vals(cg_k_where(fc, cg_scalar(CG_INT64, 7), mk(CG_INT64, VALS(1, 2), CG_SHAPE(2))), 0, 1, 2, 7, 7);
    cg_tensor *mf = cg_k_masked_fill(a, cg_k_transpose(mk(CG_FLOAT32, VALS(0, 1), CG_SHAPE(1, 2)), 0, 1), -INFINITY);
    ck_assert_vals(mf, 0, 1, 2, 3, -INFINITY, -INFINITY, -INFINITY);
    ck_assert_vals(cg_k_masked_fill(a, cond, 0), 0, 0, 2, 0, 0, 5, 0);
    ck_assert_fails(cg_k_masked_fill(a, mk(CG_INT64, VALS(1, 0), CG_SHAPE(2)), 0), CG_ERR_SHAPE,
                    "cg_masked_fill: mask [2] does not broadcast to [2,3]");
    ck_assert_fails(cg_k_where(cond, a, m23(CG_FLOAT64)), CG_ERR_DTYPE, "cg_where: value dtypes differ");
    ck_assert_fails(cg_k_where(mk(CG_INT64, VALS(1, 0), CG_SHAPE(2)), a, a), CG_ERR_SHAPE,
                    "cg_where: shapes [2] (cond), [2,3] and [2,3] do not broadcast");
    ck_assert_fails(cg_k_where(NULL, a, a), CG_ERR_NULL, "cg_where");
}
END_TEST

START_TEST(copy_fill_axpy) {
    cg_tensor *dst = cg_zeros(CG_FLOAT64, CG_SHAPE(2, 3));
    cg_tensor *dt = cg_k_transpose(dst, 0, 1); /* [3,2]: a [2] source fills each row of dt */
    ck_assert_ptr_eq(cg_k_copy_(dt, mk(CG_FLOAT64, VALS(1, 2), CG_SHAPE(2))), dt);
    ck_assert_vals(dst, 0, 1, 1, 1, 2, 2, 2);
    cg_tensor *cols = cg_k_slice(dst, 1, 0, 3, 2);
    ck_assert_ptr_eq(cg_k_fill_(cols, 9), cols);
    ck_assert_vals(dst, 0, 9, 1, 9, 9, 2, 9);
    ck_assert_ptr_eq(cg_k_fill_(dst, 0), dst);
    ck_assert_vals(dst, 0, 0, 0, 0, 0, 0, 0);
    ck_assert_ptr_eq(cg_k_axpy_(dst, -2, mk(CG_FLOAT64, VALS(1, 2, 3), CG_SHAPE(3))), dst);
    ck_assert_vals(dst, 0, -2, -4, -6, -2, -4, -6);
    cg_tensor *f = m23(CG_FLOAT32);
    cg_k_axpy_(f, 0.5, cg_k_flip(m23(CG_FLOAT32), CG_AXES(0)));
    ck_assert_vals(f, 0, 3, 4.5, 6, 4.5, 6, 7.5);
    cg_tensor *i = m23(CG_INT64);
    cg_k_axpy_(i, 3, cg_k_scalar(CG_ADD, cg_zeros(CG_INT64, CG_SHAPE(1)), 1));
    ck_assert_vals(i, 0, 4, 5, 6, 7, 8, 9);
    cg_k_fill_(i, -3);
    ck_assert_vals(i, 0, -3, -3, -3, -3, -3, -3);
    ck_assert_fails(cg_k_copy_(dst, m23(CG_FLOAT32)), CG_ERR_DTYPE, "cg_copy_: dtypes differ");
    ck_assert_fails(cg_k_copy_(dst, cg_zeros(CG_FLOAT64, CG_SHAPE(3, 2))), CG_ERR_SHAPE,
                    "cg_copy_: source [3,2] does not broadcast to destination [2,3]");
    ck_assert_fails(cg_k_axpy_(dst, 1, cg_zeros(CG_FLOAT64, CG_SHAPE(2))), CG_ERR_SHAPE, "cg_axpy_: [2] does not");
    ck_assert_fails(cg_k_axpy_(dst, 1, f), CG_ERR_DTYPE, "cg_axpy_");
    ck_assert_fails(cg_k_fill_(cg_k_expand(cg_scalar(CG_FLOAT32, 0), CG_SHAPE(4)), 1), CG_ERR_VALUE, "cg_fill_");
    ck_assert_fails(cg_k_fill_(NULL, 1), CG_ERR_NULL, "cg_fill_");
}
END_TEST

/* Bulk copies (2 KiB and more go through cgrad's vector loop): lengths
 * from 512 to 576 floats in steps of 7 (every remainder of a 64-byte
 * vector), at every offset of the destination against the source, copy
 * exactly those elements. */
START_TEST(bulk_copies_at_any_offset) {
    cg_scope *sc = cg_scope_begin();
    cg_tensor *src = cg_arange(CG_FLOAT32, 0, 700, 1);
    cg_tensor *dst = cg_full(CG_FLOAT32, CG_SHAPE(720), -1);
    for (int64_t n = 512; n <= 576; n += 7)
        for (int64_t off = 0; off < 16; off++) {
            cg_k_fill_(dst, -1);
            ck_assert_ptr_nonnull(cg_k_copy_(cg_k_slice(dst, 0, off, off + n, 1), cg_k_slice(src, 0, 3, 3 + n, 1)));
            const float *d = cg_data(dst);
            for (int64_t i = 0; i < 720; i++)
                ck_assert_float_eq(d[i], i >= off && i < off + n ? (float)(i - off + 3) : -1.0f);
        }
    cg_scope_end(sc);
}
END_TEST

START_TEST(nonfinite_check) {
    ck_assert(!cg_k_has_nonfinite(m23(CG_FLOAT32)));
    ck_assert(cg_k_has_nonfinite(mk(CG_FLOAT32, VALS(1, INFINITY), CG_SHAPE(2))));
    ck_assert(cg_k_has_nonfinite(cg_k_transpose(mk(CG_FLOAT64, VALS(1, 2, 3, NAN), CG_SHAPE(2, 2)), 0, 1)));
    ck_assert(!cg_k_has_nonfinite(m23(CG_INT64)));
    ck_assert(!cg_k_has_nonfinite(NULL));
    cg_tensor *big = cg_zeros(CG_FLOAT32, CG_SHAPE(200000));
    cg_set(big, IDX(199999), NAN);
    ck_assert(cg_k_has_nonfinite(big));
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_add_test(tc, unary_values);
    tcase_add_test(tc, saturating_functions);
    tcase_add_test(tc, unary_strided_and_in_place);
    tcase_add_test(tc, binary_broadcasting);
    tcase_add_test(tc, binary_strided_operands);
    tcase_add_test(tc, comparisons_and_extrema);
    tcase_add_test(tc, grad_helpers);
    tcase_add_test(tc, scalar_forms_and_in_place);
    tcase_add_test(tc, clamp);
    tcase_add_test(tc, where_masked_fill);
    tcase_add_test(tc, copy_fill_axpy);
    tcase_add_test(tc, bulk_copies_at_any_offset);
    tcase_add_test(tc, nonfinite_check);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
