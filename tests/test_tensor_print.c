/* tensor/ printing: a NumPy-like repr through cg_snprint / cg_fprint. */
#include "test_tensor_helpers.h"

#include <stdio.h>

/* The repr of t as a string (static buffer). */
static const char *repr(const cg_tensor *t) {
    static char buf[8192];
    size_t n = cg_snprint(buf, sizeof buf, t);
    ck_assert_uint_eq(n, strlen(buf));
    return buf;
}

START_TEST(small_tensors) {
    ck_assert_str_eq(repr(mk(CG_FLOAT32, VALS(1, -2.5, 3), CG_SHAPE(3))),
                     "tensor([ 1.0000, -2.5000,  3.0000], shape=[3], dtype=float32)");
    ck_assert_str_eq(repr(mk(CG_FLOAT64, VALS(1, 2, 3, 4), CG_SHAPE(2, 2))),
                     "tensor([[1.0000, 2.0000],\n"
                     "        [3.0000, 4.0000]], shape=[2, 2], dtype=float64)");
    ck_assert_str_eq(repr(mk(CG_INT64, VALS(1, -20, 300, 4), CG_SHAPE(2, 2))),
                     "tensor([[  1, -20],\n"
                     "        [300,   4]], shape=[2, 2], dtype=int64)");
    /* 3-D: a blank line between the 2-D blocks */
    ck_assert_str_eq(repr(cg_k_reshape(cg_arange(CG_INT64, 0, 8, 1), CG_SHAPE(2, 2, 2))),
                     "tensor([[[0, 1],\n"
                     "         [2, 3]],\n"
                     "\n"
                     "        [[4, 5],\n"
                     "         [6, 7]]], shape=[2, 2, 2], dtype=int64)");
    /* a view prints its own elements in its own order */
    ck_assert_str_eq(repr(cg_k_flip(cg_k_transpose(mk(CG_INT64, VALS(1, 2, 3, 4), CG_SHAPE(2, 2)), 0, 1), CG_AXES(0))),
                     "tensor([[2, 4],\n"
                     "        [1, 3]], shape=[2, 2], dtype=int64)");
    ck_assert_str_eq(repr(mk(CG_FLOAT32, VALS(NAN, INFINITY, -INFINITY, 0.5), CG_SHAPE(4))),
                     "tensor([   nan,    inf,   -inf, 0.5000], shape=[4], dtype=float32)");
    /* very large or small magnitudes switch to scientific notation */
    ck_assert_str_eq(repr(mk(CG_FLOAT64, VALS(1e-6, 2), CG_SHAPE(2))),
                     "tensor([1.0000e-06, 2.0000e+00], shape=[2], dtype=float64)");
}
END_TEST

START_TEST(scalars_and_empty) {
    ck_assert_str_eq(repr(cg_scalar(CG_FLOAT32, 3.5)), "tensor(3.5000, shape=[], dtype=float32)");
    ck_assert_str_eq(repr(cg_scalar(CG_INT64, -7)), "tensor(-7, shape=[], dtype=int64)");
    ck_assert_str_eq(repr(cg_zeros(CG_FLOAT32, CG_SHAPE(0))), "tensor([], shape=[0], dtype=float32)");
    ck_assert_str_eq(repr(cg_zeros(CG_INT64, CG_SHAPE(2, 0))), "tensor([], shape=[2, 0], dtype=int64)");
    ck_assert_str_eq(repr(NULL), "tensor(NULL)");
}
END_TEST

START_TEST(big_tensors_elide) {
    ck_assert_str_eq(repr(cg_arange(CG_INT64, 0, 2000, 1)),
                     "tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape=[2000], dtype=int64)");
    ck_assert_str_eq(repr(cg_k_reshape(cg_arange(CG_INT64, 0, 2000, 1), CG_SHAPE(100, 20))),
                     "tensor([[   0,    1,    2, ...,   17,   18,   19],\n"
                     "        [  20,   21,   22, ...,   37,   38,   39],\n"
                     "        [  40,   41,   42, ...,   57,   58,   59],\n"
                     "        ...,\n"
                     "        [1940, 1941, 1942, ..., 1957, 1958, 1959],\n"
                     "        [1960, 1961, 1962, ..., 1977, 1978, 1979],\n"
                     "        [1980, 1981, 1982, ..., 1997, 1998, 1999]], shape=[100, 20], dtype=int64)");
    /* 1000 elements is not elided (NumPy's threshold) */
    ck_assert_ptr_null(strstr(repr(cg_zeros(CG_FLOAT32, CG_SHAPE(1000))), "..."));
}
END_TEST

START_TEST(truncation_and_files) {
    char small[16];
    cg_tensor *t = mk(CG_FLOAT32, VALS(1, 2, 3), CG_SHAPE(3));
    size_t full = cg_snprint(NULL, 0, t);
    ck_assert_uint_eq(full, strlen("tensor([1.0000, 2.0000, 3.0000], shape=[3], dtype=float32)"));
    ck_assert_uint_eq(cg_snprint(small, sizeof small, t), full);
    ck_assert_str_eq(small, "tensor([1.0000,");
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    cg_fprint(f, t);
    rewind(f);
    char line[256] = {0};
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_str_eq(line, "tensor([1.0000, 2.0000, 3.0000], shape=[3], dtype=float32)\n");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_print");
    TCase *tc = tcase_create("print");
    tcase_add_test(tc, small_tensors);
    tcase_add_test(tc, scalars_and_empty);
    tcase_add_test(tc, big_tensors_elide);
    tcase_add_test(tc, truncation_and_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
