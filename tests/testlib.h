/* Shared helpers for the Check suites. */
#ifndef CGRAD_TESTLIB_H
#define CGRAD_TESTLIB_H

#include <cgrad/cgrad.h>
#include <check.h>
#include <math.h>
#include <stdlib.h>

/* Every element of t (any dtype/strides) is within tol of want[i]
 * (row-major); prints the first mismatch. */
#define ck_assert_tensor_near(t, want, n, tol) cgt_assert_near(__FILE__, __LINE__, (t), (want), (n), (tol))
void cgt_assert_near(const char *file, int line, const cg_tensor *t, const double *want, int64_t n, double tol);

/* The shape of t is exactly the listed sizes. */
#define ck_assert_shape(t, ...) cgt_assert_shape(__FILE__, __LINE__, (t), CG_SHAPE(__VA_ARGS__))
void cgt_assert_shape(const char *file, int line, const cg_tensor *t, const int64_t *shape, int ndim);

/* The last error's message contains `needle` (and the status is `code`). */
#define ck_assert_error(code, needle) cgt_assert_error(__FILE__, __LINE__, (code), (needle))
void cgt_assert_error(const char *file, int line, cg_status code, const char *needle);

/* Path of a file under tests/: $CGRAD_TEST_SRC/<rel> when that is set, else
 * the source tree's tests/ folder as compiled in, so a test binary runs
 * from any directory. */
const char *cgt_src_path(const char *rel);
/* The folder of the real datasets, or NULL when there is none: $CGRAD_DATA
 * when it is set (set and empty: none), else the folder CMake found when
 * configuring (-DCGRAD_DATA, $CGRAD_DATA or ../shared/datasets beside the
 * checkout). */
const char *cgt_data_dir(void);

/* The exit status CTest reports as Skipped (SKIP_RETURN_CODE of every
 * suite): a suite whose data is missing exits with it instead of passing. */
#define CGT_SKIP 77

/* Run one suite and exit with its status: int main(void) { return cgt_run(my_suite()); } */
int cgt_run(Suite *s);

#endif
