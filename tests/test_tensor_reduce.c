/* tensor/ reductions: sum/mean/max/min/prod/logsumexp over any axes with
 * keepdim, argmax/argmin, sum_to, softmax/log_softmax. */
#include "test_tensor_helpers.h"

/* [2,3,4] with x[i][j][k] = 12i + 4j + k */
static cg_tensor *cube(cg_dtype dt) { return cg_k_reshape(cg_arange(dt, 0, 24, 1), CG_SHAPE(2, 3, 4)); }

START_TEST(sum_over_axes) {
    for (int d = 0; d < 3; d++) {
        cg_dtype dt = (cg_dtype)d;
        cg_tensor *x = cube(dt);
        cg_tensor *all = cg_k_reduce(CG_SUM, x, NULL, 0, false);
        ck_assert_int_eq(all->ndim, 0);
        ck_assert_int_eq(all->dtype, dt);
        ck_assert_double_eq(cg_item(all), 276);
        cg_tensor *s0 = cg_k_reduce(CG_SUM, x, CG_AXES(0), false);
        ck_assert_shape(s0, 3, 4);
        ck_assert_vals(s0, 0, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34);
        cg_tensor *s1 = cg_k_reduce(CG_SUM, x, CG_AXES(1), true);
        ck_assert_shape(s1, 2, 1, 4);
        ck_assert_vals(s1, 0, 12, 15, 18, 21, 48, 51, 54, 57);
        cg_tensor *s2 = cg_k_reduce(CG_SUM, x, CG_AXES(-1), false);
        ck_assert_vals(s2, 0, 6, 22, 38, 54, 70, 86);
        cg_tensor *s02 = cg_k_reduce(CG_SUM, x, CG_AXES(2, 0), true);
        ck_assert_shape(s02, 1, 3, 1);
        ck_assert_vals(s02, 0, 60, 92, 124);
        ck_assert_shape(cg_k_reduce(CG_SUM, x, CG_AXES(0, 1, 2), true), 1, 1, 1);
    }
}
END_TEST

START_TEST(sum_strided_inputs) {
    cg_tensor *x = cube(CG_FLOAT32);
    cg_tensor *p = cg_k_permute(x, CG_AXES(2, 0, 1)); /* [4,2,3] */
    ck_assert_vals(cg_k_reduce(CG_SUM, p, CG_AXES(0), false), 0, 6, 22, 38, 54, 70, 86);
    ck_assert_vals(cg_k_reduce(CG_SUM, p, CG_AXES(1, 2), false), 0, 60, 66, 72, 78);
    cg_tensor *f = cg_k_flip(x, CG_AXES(2));
    ck_assert_vals(cg_k_reduce(CG_SUM, f, CG_AXES(1), false), 0, 21, 18, 15, 12, 57, 54, 51, 48);
    cg_tensor *st = cg_k_slice(x, 2, 1, 4, 2); /* k = 1, 3 */
    ck_assert_vals(cg_k_reduce(CG_SUM, st, CG_AXES(2), false), 0, 4, 12, 20, 28, 36, 44);
    cg_tensor *ex = cg_k_expand(mk(CG_FLOAT32, VALS(1, 2), CG_SHAPE(2, 1)), CG_SHAPE(2, 5));
    ck_assert_vals(cg_k_reduce(CG_SUM, ex, CG_AXES(1), false), 0, 5, 10);
    ck_assert_vals(cg_k_reduce(CG_SUM, ex, CG_AXES(0), false), 0, 3, 3, 3, 3, 3);
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_MEAN, ex, NULL, 0, false)), 1.5);
    /* 0-d input: reducing "all axes" is the value itself */
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_MAX, cg_scalar(CG_FLOAT64, -3), NULL, 0, false)), -3);
    ck_assert_int_eq(cg_k_reduce(CG_SUM, cg_scalar(CG_FLOAT64, -3), NULL, 0, true)->ndim, 0);
}
END_TEST

/* A contiguous float32 tensor summed over its leading dims (a bias gradient)
 * takes a direct loop; it must give what the general path gives for the
 * same values in another layout (both add in double): equal to the bit. */
START_TEST(sum_leading_dims_matches_general_path) {
    cg_rng rng = cg_rng_seeded(7);
    cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(37, 5, 19));
    cg_tensor *xt = cg_k_transpose(cg_k_contiguous(cg_k_transpose(x, 0, 2)), 0, 2); /* same values, not contiguous */
    ck_assert(!cg_is_contiguous(xt));
    for (int mean = 0; mean < 2; mean++) {
        cg_redop op = mean ? CG_MEAN : CG_SUM;
        cg_tensor *a = cg_k_reduce(op, x, CG_AXES(0, 1), false), *b = cg_k_reduce(op, xt, CG_AXES(0, 1), false);
        ck_assert_shape(a, 19);
        ck_assert_mem_eq(cg_data(a), cg_data(b), sizeof(float) * 19);
        a = cg_k_reduce(op, x, CG_AXES(0), true), b = cg_k_reduce(op, xt, CG_AXES(0), true);
        ck_assert_shape(a, 1, 5, 19);
        ck_assert_mem_eq(cg_data(a), cg_data(b), sizeof(float) * 95);
    }
    /* the sum itself, in double as the general path keeps it */
    double want = 0;
    for (int i = 0; i < 37 * 5; i++) want += cg_data_f32(x)[i * 19 + 3];
    ck_assert_float_eq(cg_data_f32(cg_k_sum_to(x, CG_SHAPE(19)))[3], (float)want);
}
END_TEST

START_TEST(mean_max_min_prod) {
    cg_tensor *x = cube(CG_FLOAT64);
    ck_assert_vals(cg_k_reduce(CG_MEAN, x, CG_AXES(0, 2), false), 1e-12, 7.5, 11.5, 15.5);
    ck_assert_vals(cg_k_reduce(CG_MAX, x, CG_AXES(1), false), 0, 8, 9, 10, 11, 20, 21, 22, 23);
    ck_assert_vals(cg_k_reduce(CG_MIN, cg_k_flip(x, CG_AXES(0)), CG_AXES(2), true), 0, 12, 16, 20, 0, 4, 8);
    cg_tensor *p = mk(CG_FLOAT32, VALS(1, 2, 3, -1, 0.5, 4), CG_SHAPE(2, 3));
    ck_assert_vals(cg_k_reduce(CG_PROD, p, CG_AXES(1), false), 0, 6, -2);
    ck_assert_vals(cg_k_reduce(CG_PROD, p, CG_AXES(0), false), 0, -1, 1, 12);
    cg_tensor *i = mk(CG_INT64, VALS(3, -2, 7, 5, 4, -6), CG_SHAPE(2, 3));
    ck_assert_vals(cg_k_reduce(CG_MAX, i, CG_AXES(0), false), 0, 5, 4, 7);
    ck_assert_vals(cg_k_reduce(CG_MIN, i, NULL, 0, false), 0, -6);
    ck_assert_vals(cg_k_reduce(CG_PROD, i, CG_AXES(1), false), 0, -42, -120);
    ck_assert_int_eq(cg_k_reduce(CG_PROD, i, CG_AXES(1), false)->dtype, CG_INT64);
    ck_assert_fails(cg_k_reduce(CG_MEAN, i, NULL, 0, false), CG_ERR_DTYPE, "cg_mean: needs a float tensor, got int64 [2,3]");
    ck_assert_str_eq(cg_redop_name(CG_LOGSUMEXP), "logsumexp");
}
END_TEST

START_TEST(nan_propagation) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(1, NAN, 3, 4, 5, 6), CG_SHAPE(2, 3));
    ck_assert_vals(cg_k_reduce(CG_MAX, x, CG_AXES(1), false), 0, NAN, 6);
    ck_assert_vals(cg_k_reduce(CG_MIN, x, CG_AXES(1), false), 0, NAN, 4);
    ck_assert_vals(cg_k_reduce(CG_MAX, x, CG_AXES(0), false), 0, 4, NAN, 6);
    ck_assert_vals(cg_k_reduce(CG_SUM, x, CG_AXES(1), false), 0, NAN, 15);
    ck_assert_vals(cg_k_reduce(CG_SUM, x, CG_AXES(0), false), 0, 5, NAN, 9);
    ck_assert_vals(cg_k_reduce(CG_LOGSUMEXP, x, CG_AXES(1), false), 1e-6, NAN, log(exp(4) + exp(5) + exp(6)));
    /* NaN first, later larger values must not replace it */
    cg_tensor *y = mk(CG_FLOAT64, VALS(NAN, 9, 1), CG_SHAPE(3));
    ck_assert(isnan(cg_item(cg_k_reduce(CG_MAX, y, NULL, 0, false))));
    ck_assert_vals(cg_k_argmax(y, 0, false), 0, 0);
    ck_assert_vals(cg_k_argmax(mk(CG_FLOAT64, VALS(1, 9, NAN, 9), CG_SHAPE(4)), 0, false), 0, 2);
    ck_assert_vals(cg_k_argmin(mk(CG_FLOAT64, VALS(1, -9, NAN), CG_SHAPE(3)), 0, false), 0, 2);
}
END_TEST

START_TEST(empty_reductions) {
    cg_tensor *e = cg_zeros(CG_FLOAT32, CG_SHAPE(0, 3));
    ck_assert_vals(cg_k_reduce(CG_SUM, e, CG_AXES(0), false), 0, 0, 0, 0);
    ck_assert_vals(cg_k_reduce(CG_PROD, e, CG_AXES(0), false), 0, 1, 1, 1);
    ck_assert_vals(cg_k_reduce(CG_MEAN, e, CG_AXES(0), false), 0, NAN, NAN, NAN);
    ck_assert_shape(cg_k_reduce(CG_SUM, e, CG_AXES(1), true), 0, 1);
    ck_assert_shape(cg_k_reduce(CG_MAX, e, CG_AXES(1), false), 0); /* nothing to take a max of */
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_SUM, e, NULL, 0, false)), 0);
    ck_assert_fails(cg_k_reduce(CG_MAX, e, CG_AXES(0), false), CG_ERR_SHAPE, "cg_max: reducing an empty set (shape [0,3])");
    ck_assert_fails(cg_k_reduce(CG_MIN, e, NULL, 0, false), CG_ERR_SHAPE, "cg_min");
    ck_assert_fails(cg_k_argmax(e, 0, false), CG_ERR_SHAPE, "cg_argmax: axis 0 of shape [0,3] is empty");
}
END_TEST

START_TEST(logsumexp) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(1000, 1000, -INFINITY, -INFINITY, 0, log(3)), CG_SHAPE(3, 2));
    cg_tensor *l = cg_k_reduce(CG_LOGSUMEXP, x, CG_AXES(1), false);
    ck_assert_shape(l, 3);
    /* a large row stays finite; an all -inf row is -inf, not NaN */
    ck_assert_vals(l, 1e-6, 1000 + log(2), -INFINITY, log(4));
    ck_assert_shape(cg_k_reduce(CG_LOGSUMEXP, x, CG_AXES(1), true), 3, 1);
    ck_assert_vals(cg_k_reduce(CG_LOGSUMEXP, mk(CG_FLOAT64, VALS(INFINITY, 1), CG_SHAPE(2)), NULL, 0, false), 0,
                   INFINITY);
    cg_tensor *d = cg_k_reduce(CG_LOGSUMEXP, cube(CG_FLOAT64), CG_AXES(0, 2), false);
    double want0 = 0;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) want0 += exp(12 * i + k);
    ck_assert_vals(cg_k_slice(d, 0, 0, 1, 1), 1e-12, log(want0));
    /* over an empty set: log(0) = -inf, like torch.logsumexp */
    cg_tensor *e = cg_k_reduce(CG_LOGSUMEXP, cg_zeros(CG_FLOAT32, CG_SHAPE(2, 0)), CG_AXES(1), true);
    ck_assert_shape(e, 2, 1);
    ck_assert_vals(e, 0, -INFINITY, -INFINITY);
    ck_assert_fails(cg_k_reduce(CG_LOGSUMEXP, cube(CG_INT64), NULL, 0, false), CG_ERR_DTYPE, "cg_logsumexp");
}
END_TEST

START_TEST(argmax_argmin) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(3, 7, 7, 1, 5, 5, 9, 1, 1), CG_SHAPE(3, 3));
    cg_tensor *a1 = cg_k_argmax(x, 1, false);
    ck_assert_int_eq(a1->dtype, CG_INT64);
    ck_assert_vals(a1, 0, 1, 1, 0); /* first occurrence wins */
    ck_assert_vals(cg_k_argmin(x, -1, false), 0, 0, 0, 1);
    cg_tensor *a0 = cg_k_argmax(x, 0, true);
    ck_assert_shape(a0, 1, 3);
    ck_assert_vals(a0, 0, 2, 0, 0);
    ck_assert_vals(cg_k_argmin(cg_k_transpose(x, 0, 1), 1, false), 0, 1, 2, 2);
    ck_assert_vals(cg_k_argmax(cg_k_flip(x, CG_AXES(1)), 1, false), 0, 0, 0, 2);
    ck_assert_vals(cg_k_argmax(mk(CG_INT64, VALS(-5, -2, -2), CG_SHAPE(3)), 0, false), 0, 1);
    ck_assert_fails(cg_k_argmax(x, 2, false), CG_ERR_INDEX, "cg_argmax: axis 2 is out of range for a tensor with 2 dims");
    ck_assert_fails(cg_k_argmin(NULL, 0, false), CG_ERR_NULL, "cg_argmin");
}
END_TEST

START_TEST(sum_to) {
    cg_tensor *g = cube(CG_FLOAT32);
    ck_assert_ptr_eq(cg_k_sum_to(g, CG_SHAPE(2, 3, 4)), g);
    cg_tensor *b = cg_k_sum_to(g, CG_SHAPE(4));
    ck_assert_shape(b, 4);
    ck_assert_vals(b, 0, 60, 66, 72, 78);
    cg_tensor *c = cg_k_sum_to(g, CG_SHAPE(3, 1));
    ck_assert_shape(c, 3, 1);
    ck_assert_vals(c, 0, 60, 92, 124);
    ck_assert_vals(cg_k_sum_to(g, CG_SHAPE(2, 1, 1)), 0, 66, 210);
    cg_tensor *s = cg_k_sum_to(g, NULL, 0);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_double_eq(cg_item(s), 276);
    ck_assert_fails(cg_k_sum_to(g, CG_SHAPE(3)), CG_ERR_SHAPE, "cg_sum_to: cannot reduce [2,3,4] to [3]");
    ck_assert_fails(cg_k_sum_to(g, CG_SHAPE(1, 2, 3, 4)), CG_ERR_SHAPE, "cg_sum_to");
    ck_assert_fails(cg_k_sum_to(g, NULL, 2), CG_ERR_SHAPE, "cg_sum_to");
}
END_TEST

START_TEST(softmax) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(1, 2, 3, 1000, 1001, 1002, -1000, -1000, -1000), CG_SHAPE(3, 3));
    double z = exp(-2) + exp(-1) + 1;
    double p0 = exp(-2) / z, p1 = exp(-1) / z, p2 = 1 / z;
    cg_tensor *s = cg_k_softmax(x, 1);
    ck_assert(!cg_k_has_nonfinite(s));
    ck_assert_vals(s, 1e-6, p0, p1, p2, p0, p1, p2, 1. / 3, 1. / 3, 1. / 3);
    cg_tensor *ls = cg_k_log_softmax(x, -1);
    ck_assert_vals(ls, 1e-6, log(p0), log(p1), log(p2), log(p0), log(p1), log(p2), -log(3), -log(3), -log(3));
    /* along axis 0 of a transposed view equals along axis 1 of the original */
    ck_assert_vals(cg_k_softmax(cg_k_transpose(x, 0, 1), 0), 1e-6, p0, p0, 1. / 3, p1, p1, 1. / 3, p2, p2, 1. / 3);
    /* rows with -inf entries; an all -inf row does not turn into inf - inf */
    cg_tensor *m = mk(CG_FLOAT64, VALS(0, -INFINITY, -INFINITY, -INFINITY), CG_SHAPE(2, 2));
    ck_assert_vals(cg_k_softmax(m, 1), 0, 1, 0, NAN, NAN);
    ck_assert_vals(cg_k_log_softmax(m, 1), 0, 0, -INFINITY, NAN, NAN);
    ck_assert_shape(cg_k_softmax(cg_zeros(CG_FLOAT32, CG_SHAPE(2, 0)), 1), 2, 0);
    ck_assert_fails(cg_k_softmax(cube(CG_INT64), 0), CG_ERR_DTYPE, "cg_softmax: needs a float tensor, got int64");
    ck_assert_fails(cg_k_log_softmax(x, 2), CG_ERR_INDEX, "cg_log_softmax: axis 2");
}
END_TEST

START_TEST(bad_axes) {
    cg_tensor *x = cube(CG_FLOAT32);
    ck_assert_fails(cg_k_reduce(CG_SUM, x, CG_AXES(3), false), CG_ERR_INDEX, "cg_sum: axis 3 is out of range for a tensor with 3 dims");
    ck_assert_fails(cg_k_reduce(CG_MAX, x, CG_AXES(1, -2), false), CG_ERR_SHAPE, "cg_max: axis -2 is listed twice");
    ck_assert_fails(cg_k_reduce((cg_redop)42, x, NULL, 0, false), CG_ERR_VALUE, "unknown reduction 42");
    ck_assert_fails(cg_k_reduce(CG_SUM, NULL, NULL, 0, false), CG_ERR_NULL, "cg_sum: input is NULL");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_reduce");
    TCase *tc = tcase_create("reduce");
    tcase_add_test(tc, sum_over_axes);
    tcase_add_test(tc, sum_strided_inputs);
    tcase_add_test(tc, sum_leading_dims_matches_general_path);
    tcase_add_test(tc, mean_max_min_prod);
    tcase_add_test(tc, nan_propagation);
    tcase_add_test(tc, empty_reductions);
    tcase_add_test(tc, logsumexp);
    tcase_add_test(tc, argmax_argmin);
    tcase_add_test(tc, sum_to);
    tcase_add_test(tc, softmax);
    tcase_add_test(tc, bad_axes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
