/* tensor/ determinism: reductions, elementwise math, softmax and GEMM give
 * bit-identical results with 1 and with 2 threads. */
#include "test_tensor_helpers.h"

typedef cg_tensor *(*kernel_fn)(const cg_tensor *x);

/* Run f(x) with 1 and with 2 threads; the results must be identical. */
static void check_same(kernel_fn f, const cg_tensor *x) {
    cg_set_num_threads(1);
    cg_tensor *a = f(x);
    cg_set_num_threads(2);
    cg_tensor *b = f(x);
    ck_assert_ptr_nonnull(a);
    ck_assert(same_bits(a, b));
}

static cg_tensor *sum_all(const cg_tensor *x) { return cg_k_reduce(CG_SUM, x, NULL, 0, false); }
static cg_tensor *mean_all(const cg_tensor *x) { return cg_k_reduce(CG_MEAN, x, NULL, 0, false); }
static cg_tensor *sum_rows(const cg_tensor *x) { return cg_k_reduce(CG_SUM, x, CG_AXES(1), false); }
static cg_tensor *sum_cols(const cg_tensor *x) { return cg_k_reduce(CG_SUM, x, CG_AXES(0), true); }
static cg_tensor *max_rows(const cg_tensor *x) { return cg_k_reduce(CG_MAX, x, CG_AXES(-1), false); }
static cg_tensor *lse_rows(const cg_tensor *x) { return cg_k_reduce(CG_LOGSUMEXP, x, CG_AXES(1), false); }
static cg_tensor *tanh_of(const cg_tensor *x) { return cg_k_unary(CG_TANH, x); }
static cg_tensor *exp_of(const cg_tensor *x) { return cg_k_unary(CG_EXP, x); }
static cg_tensor *sigmoid_of(const cg_tensor *x) { return cg_k_unary(CG_SIGMOID, x); }
static cg_tensor *log_softmax_of(const cg_tensor *x) { return cg_k_log_softmax(x, 1); }
static cg_tensor *gram(const cg_tensor *x) { return cg_k_matmul(cg_k_transpose(x, 0, 1), x); }
static cg_tensor *sum_transposed(const cg_tensor *x) { return sum_rows(cg_k_transpose(x, 0, 1)); }

START_TEST(reductions_and_math_are_thread_independent) {
    cg_rng r = cg_rng_seeded(99);
    for (int d = 0; d < 2; d++) {
        cg_dtype dt = d ? CG_FLOAT64 : CG_FLOAT32;
        cg_tensor *v = cg_randn(&r, dt, CG_SHAPE(1000000));
        cg_tensor *m = cg_k_reshape(v, CG_SHAPE(1000, 1000));
        kernel_fn fns[] = {sum_all, mean_all, tanh_of, exp_of, sigmoid_of};
        for (int i = 0; i < 5; i++) check_same(fns[i], v);
        kernel_fn mfns[] = {sum_rows, sum_cols, max_rows, lse_rows, log_softmax_of, sum_transposed, tanh_of};
        for (int i = 0; i < 7; i++) check_same(mfns[i], m);
        check_same(tanh_of, cg_k_transpose(m, 0, 1)); /* strided input */
        check_same(gram, cg_k_slice(m, 0, 0, 1000, 10));
    }
}
END_TEST

START_TEST(large_sum_is_accurate) {
    /* 10^6 float32 values of 0.1: a float accumulator would drift by ~1%. */
    cg_tensor *x = cg_full(CG_FLOAT32, CG_SHAPE(1000000), 0.1);
    double want = 1e6 * (double)0.1f;
    for (int t = 1; t <= 2; t++) {
        cg_set_num_threads(t);
        ck_assert_double_eq_tol(cg_item(cg_k_reduce(CG_SUM, x, NULL, 0, false)), want, 0.1);
        ck_assert_double_eq_tol(cg_item(cg_k_reduce(CG_MEAN, x, NULL, 0, false)), (double)0.1f, 1e-7);
        cg_tensor *cols = cg_k_reduce(CG_SUM, cg_k_reshape(x, CG_SHAPE(1000, 1000)), CG_AXES(0), false);
        ck_assert_double_eq_tol(cg_get(cols, IDX(999)), 1000 * (double)0.1f, 1e-3);
    }
    ck_assert_int_eq(cg_get_num_threads(), 2);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reductions_and_math_are_thread_independent);
    tcase_add_test(tc, large_sum_is_accurate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
