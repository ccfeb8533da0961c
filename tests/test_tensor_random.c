/* tensor/ random numbers: a seeded counter-based generator, so the same seed
 * gives the same numbers whatever the thread count; distributions are
 * plausible. */
#include "test_tensor_helpers.h"

static double mean_of(const cg_tensor *t) { return cg_item(cg_k_reduce(CG_MEAN, t, NULL, 0, false)); }
static double std_of(const cg_tensor *t) {
    cg_tensor *d = cg_k_scalar(CG_SUB, t, mean_of(t));
    return sqrt(mean_of(cg_k_unary(CG_SQUARE, d)));
}

/* Draw the same tensor (seed 42) with 1 and with 2 threads. */
typedef cg_tensor *(*draw_fn)(cg_rng *r, cg_dtype dt);
static cg_tensor *draw_randn(cg_rng *r, cg_dtype dt) { return cg_randn(r, dt, CG_SHAPE(1000, 301)); }
static cg_tensor *draw_rand(cg_rng *r, cg_dtype dt) { return cg_rand(r, dt, CG_SHAPE(301, 1000)); }
static cg_tensor *draw_bern(cg_rng *r, cg_dtype dt) { return cg_bernoulli(r, dt, 0.3, CG_SHAPE(300001)); }
static cg_tensor *draw_randint(cg_rng *r, cg_dtype dt) { return cg_randint(r, dt, -5, 7, CG_SHAPE(300001)); }

static void check_thread_independent(draw_fn f, cg_dtype dt) {
    cg_rng r1 = cg_rng_seeded(42), r2 = cg_rng_seeded(42);
    cg_set_num_threads(1);
    cg_tensor *a = f(&r1, dt);
    cg_set_num_threads(2);
    ck_assert_int_eq(cg_get_num_threads(), 2);
    cg_tensor *b = f(&r2, dt);
    ck_assert(same_bits(a, b));
    ck_assert_uint_eq(r1.counter, r2.counter);
    /* the next draw continues the stream identically too */
    ck_assert(same_bits(f(&r1, dt), f(&r2, dt)));
}

START_TEST(same_bits_with_1_or_2_threads) {
    draw_fn fns[] = {draw_randn, draw_rand, draw_bern};
    for (int i = 0; i < 3; i++) {
        check_thread_independent(fns[i], CG_FLOAT32);
        check_thread_independent(fns[i], CG_FLOAT64);
    }
    check_thread_independent(draw_bern, CG_INT64);
    check_thread_independent(draw_randint, CG_INT64);
}
END_TEST

START_TEST(seeds) {
    cg_rng a = cg_rng_seeded(7), b = cg_rng_seeded(7), c = cg_rng_seeded(8);
    cg_tensor *ta = cg_randn(&a, CG_FLOAT32, CG_SHAPE(100));
    ck_assert(same_bits(ta, cg_randn(&b, CG_FLOAT32, CG_SHAPE(100))));
    cg_tensor *tc = cg_randn(&c, CG_FLOAT32, CG_SHAPE(100));
    int equal = 0;
    for (int64_t i = 0; i < 100; i++) equal += cg_get(ta, IDX(i)) == cg_get(tc, IDX(i));
    ck_assert_int_eq(equal, 0);
    /* consecutive draws differ; a copied state replays */
    cg_rng saved = a;
    cg_tensor *n1 = cg_rand(&a, CG_FLOAT64, CG_SHAPE(5));
    ck_assert(!same_bits(n1, cg_rand(&a, CG_FLOAT64, CG_SHAPE(5))));
    ck_assert(same_bits(n1, cg_rand(&saved, CG_FLOAT64, CG_SHAPE(5))));
    /* the process-wide generator follows cg_manual_seed */
    cg_manual_seed(123);
    cg_tensor *d1 = cg_rand(NULL, CG_FLOAT32, CG_SHAPE(9));
    uint64_t u1 = cg_rng_u64(NULL);
    cg_manual_seed(123);
    ck_assert(same_bits(d1, cg_rand(cg_default_rng(), CG_FLOAT32, CG_SHAPE(9))));
    ck_assert_uint_eq(cg_rng_u64(NULL), u1);
    cg_rng s = cg_rng_seeded(3);
    double u = cg_rng_uniform(&s);
    ck_assert(u >= 0 && u < 1);
    ck_assert(isfinite(cg_rng_normal(&s)));
}
END_TEST

START_TEST(distributions) {
    cg_rng r = cg_rng_seeded(2024);
    for (int d = 0; d < 2; d++) {
        cg_dtype dt = d ? CG_FLOAT64 : CG_FLOAT32;
        cg_tensor *n = cg_randn(&r, dt, CG_SHAPE(100000));
        ck_assert_double_lt(fabs(mean_of(n)), 0.01); /* 3 sigma = 0.0095 */
        ck_assert_double_lt(fabs(std_of(n) - 1), 0.01);
        cg_tensor *g = cg_normal(&r, dt, 3, 0.5, CG_SHAPE(100000));
        ck_assert_double_lt(fabs(mean_of(g) - 3), 0.005);
        ck_assert_double_lt(fabs(std_of(g) - 0.5), 0.005);
        cg_tensor *u = cg_uniform(&r, dt, -2, 4, CG_SHAPE(100000));
        ck_assert_double_ge(cg_item(cg_k_reduce(CG_MIN, u, NULL, 0, false)), -2);
        ck_assert_double_lt(cg_item(cg_k_reduce(CG_MAX, u, NULL, 0, false)), 4);
        ck_assert_double_lt(fabs(mean_of(u) - 1), 0.02);
        ck_assert_double_lt(fabs(std_of(u) - sqrt(3)), 0.02);
        cg_tensor *b = cg_bernoulli(&r, dt, 0.25, CG_SHAPE(100000));
        ck_assert_double_lt(fabs(mean_of(b) - 0.25), 0.005);
        ck_assert_double_eq(cg_item(cg_k_reduce(CG_SUM, cg_k_binary(CG_MUL, b, cg_k_rscalar(CG_SUB, 1, b)), NULL, 0, false)), 0);
    }
    cg_tensor *i = cg_randint(&r, CG_INT64, 3, 6, CG_SHAPE(30000));
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_MIN, i, NULL, 0, false)), 3);
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_MAX, i, NULL, 0, false)), 5);
    double m = cg_item(cg_k_reduce(CG_SUM, i, NULL, 0, false)) / 30000;
    ck_assert_double_lt(fabs(m - 4), 0.02);
    ck_assert_int_eq(cg_randint(&r, CG_FLOAT32, 0, 2, CG_SHAPE(3))->dtype, CG_FLOAT32);
    /* int64 draws are exact beyond 2^53, and the full int64 range does not overflow */
    cg_tensor *top = cg_randint(&r, CG_INT64, INT64_MAX - 3, INT64_MAX, CG_SHAPE(1000));
    const int64_t *tv = cg_data_i64(top);
    int hits[3] = {0};
    for (int k = 0; k < 1000; k++) {
        ck_assert(tv[k] >= INT64_MAX - 3 && tv[k] < INT64_MAX);
        hits[tv[k] - (INT64_MAX - 3)]++;
    }
    ck_assert(hits[0] > 250 && hits[1] > 250 && hits[2] > 250);
    cg_tensor *any = cg_randint(&r, CG_INT64, INT64_MIN, INT64_MAX, CG_SHAPE(1000));
    int negative = 0;
    for (int k = 0; k < 1000; k++) negative += cg_data_i64(any)[k] < 0;
    ck_assert(negative > 400 && negative < 600);
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_SUM, cg_bernoulli(&r, CG_FLOAT32, 0, CG_SHAPE(1000)), NULL, 0, false)), 0);
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_SUM, cg_bernoulli(&r, CG_FLOAT32, 1, CG_SHAPE(1000)), NULL, 0, false)), 1000);
    /* shapes: 0-d and size-0 */
    ck_assert_int_eq(cg_randn(&r, CG_FLOAT32, NULL, 0)->ndim, 0);
    uint64_t c0 = r.counter;
    ck_assert_int_eq(cg_numel(cg_rand(&r, CG_FLOAT32, CG_SHAPE(0, 4))), 0);
    ck_assert_uint_eq(r.counter, c0);
}
END_TEST

START_TEST(randperm) {
    cg_rng r = cg_rng_seeded(5);
    cg_tensor *p = cg_randperm(&r, 1000);
    ck_assert_shape(p, 1000);
    ck_assert_int_eq(p->dtype, CG_INT64);
    /* a permutation: sorted it is 0..n-1; and it is not the identity */
    int seen[1000] = {0};
    int fixed = 0;
    for (int64_t i = 0; i < 1000; i++) {
        int64_t v = (int64_t)cg_get(p, IDX(i));
        ck_assert(v >= 0 && v < 1000);
        ck_assert_int_eq(seen[v]++, 0);
        fixed += v == i;
    }
    ck_assert_int_lt(fixed, 10);
    ck_assert_int_eq(cg_numel(cg_randperm(&r, 0)), 0);
    ck_assert_fails(cg_randperm(&r, -1), CG_ERR_VALUE, "cg_randperm: n = -1");
}
END_TEST

START_TEST(bad_arguments) {
    cg_rng r = cg_rng_seeded(1);
    ck_assert_fails(cg_randn(&r, CG_INT64, CG_SHAPE(2)), CG_ERR_DTYPE, "cg_randn: needs a float dtype, got int64");
    ck_assert_fails(cg_rand(&r, CG_INT64, CG_SHAPE(2)), CG_ERR_DTYPE, "cg_rand");
    ck_assert_fails(cg_uniform(&r, CG_FLOAT32, 2, 1, CG_SHAPE(2)), CG_ERR_VALUE, "cg_uniform: [2, 1)");
    ck_assert_fails(cg_uniform(&r, CG_FLOAT32, 0, INFINITY, CG_SHAPE(2)), CG_ERR_VALUE, "cg_uniform");
    ck_assert_fails(cg_normal(&r, CG_FLOAT32, 0, -1, CG_SHAPE(2)), CG_ERR_VALUE, "cg_normal: mean 0, std -1");
    ck_assert_fails(cg_normal(&r, CG_FLOAT64, NAN, 1, CG_SHAPE(2)), CG_ERR_VALUE, "cg_normal");
    ck_assert_fails(cg_randint(&r, CG_INT64, 3, 3, CG_SHAPE(2)), CG_ERR_VALUE, "cg_randint: empty range [3, 3)");
    ck_assert_fails(cg_bernoulli(&r, CG_FLOAT32, 1.5, CG_SHAPE(2)), CG_ERR_VALUE, "cg_bernoulli: p = 1.5");
    ck_assert_fails(cg_bernoulli(&r, CG_FLOAT32, NAN, CG_SHAPE(2)), CG_ERR_VALUE, "cg_bernoulli");
    ck_assert_fails(cg_randn(&r, CG_FLOAT32, CG_SHAPE(-3)), CG_ERR_SHAPE, "negative size");
    cg_set_num_threads(0);
    ck_assert_error(CG_ERR_VALUE, "cg_set_num_threads: n = 0 must be >= 1");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_random");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_bits_with_1_or_2_threads);
    tcase_add_test(tc, seeds);
    tcase_add_test(tc, distributions);
    tcase_add_test(tc, randperm);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
