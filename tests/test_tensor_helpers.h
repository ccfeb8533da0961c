/* Small helpers shared by the tensor/ test suites (test_tensor_*.c). */
#ifndef CGRAD_TEST_TENSOR_HELPERS_H
#define CGRAD_TEST_TENSOR_HELPERS_H

#include "testlib.h"

#include <string.h>

/* A double array literal: VALS(1, 2, 3). */
#define VALS(...) ((const double[]){__VA_ARGS__})
#define NVALS(...) ((int64_t)(sizeof(VALS(__VA_ARGS__)) / sizeof(double)))
/* An index array for cg_get/cg_set: IDX(1, 2). */
#define IDX(...) ((const int64_t[]){__VA_ARGS__})

/* A tensor of dtype dt holding vals (row-major) with the given shape:
 * mk(CG_FLOAT32, VALS(1, 2, 3, 4), CG_SHAPE(2, 2)). */
static inline cg_tensor *mk(cg_dtype dt, const double *vals, const int64_t *shape, int ndim) {
    cg_tensor *t = cg_from_data(CG_FLOAT64, shape, ndim, vals);
    ck_assert_msg(t != NULL, "mk: %s", cg_last_error());
    if (dt == CG_FLOAT64) return t;
    cg_tensor *c = cg_to_dtype(t, dt);
    ck_assert_msg(c != NULL, "mk: %s", cg_last_error());
    return c;
}

/* [[1, 2, 3], [4, 5, 6]] */
static inline cg_tensor *m23(cg_dtype dt) { return mk(dt, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3)); }

/* Every element of t equals the listed values (within tol, relative). */
#define ck_assert_vals(t, tol, ...) ck_assert_tensor_near((t), VALS(__VA_ARGS__), NVALS(__VA_ARGS__), (tol))

/* Two tensors have the same dtype, shape and bit-identical contents. */
static inline bool same_bits(const cg_tensor *a, const cg_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || !cg_same_shape(a, b)) return false;
    cg_tensor *ca = cg_k_contiguous(a), *cb = cg_k_contiguous(b);
    size_t n = (size_t)cg_numel(a) * cg_dtype_size(a->dtype);
    return n == 0 || memcmp(cg_data(ca), cg_data(cb), n) == 0;
}

/* NULL with no message pending: the op must report the problem itself. */
#define ck_assert_fails(expr, code, needle)                                                                           \
    do {                                                                                                               \
        cg_clear_error();                                                                                              \
        ck_assert_ptr_null((void *)(expr));                                                                            \
        ck_assert_error((code), (needle));                                                                             \
    } while (0)

#endif
