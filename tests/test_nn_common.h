/* Helpers shared by the test_nn*.c suites. */
#ifndef CGRAD_TEST_NN_COMMON_H
#define CGRAD_TEST_NN_COMMON_H

#include "fixture.h"
#include "testlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* got and want have the same number of elements and agree elementwise
 * (row-major) within tol * (1 + |want|). */
#define assert_close(got, want, tol, ...) nnt_close(__LINE__, (got), (want), (tol), __VA_ARGS__)
static inline void nnt_close(int line, const cg_tensor *got, const cg_tensor *want, double tol, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!got || !want) ck_abort_msg("line %d: %s: tensor is NULL (%s)", line, what, cg_last_error());
    if (cg_numel(got) != cg_numel(want))
        ck_abort_msg("line %d: %s: %s vs expected %s", line, what, cg_shape_str(got), cg_shape_str(want));
    cg_tensor *g = cg_k_contiguous(cg_to_dtype(got, CG_FLOAT64)), *w = cg_k_contiguous(cg_to_dtype(want, CG_FLOAT64));
    for (int64_t i = 0, n = cg_numel(got); i < n; i++) {
        double a = cg_data_f64(g)[i], b = cg_data_f64(w)[i];
        if (!(fabs(a - b) <= tol * (1 + fabs(b))))
            ck_abort_msg("line %d: %s: element %lld of %s is %.9g, expected %.9g (tol %g)", line, what, (long long)i,
                         cg_shape_str(got), a, b, tol);
    }
}

/* Bitwise equality of two tensors' values. */
static inline bool nnt_same_bits(const cg_tensor *a, const cg_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || !cg_same_shape(a, b)) return false;
    size_t n = (size_t)cg_numel(a) * cg_dtype_size(a->dtype);
    void *x = malloc(n ? n : 1), *y = malloc(n ? n : 1);
    bool same = cg_copy_out(a, x, n) == CG_OK && cg_copy_out(b, y, n) == CG_OK && memcmp(x, y, n) == 0;
    free(x);
    free(y);
    return same;
}

/* "<layer>.<pname>" of a layer, asserting it exists. */
static inline cg_tensor *nnt_param(const cg_module *layer, const char *pname) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", layer->name, pname);
    cg_tensor *p = cg_module_param(layer, full);
    if (!p) ck_abort_msg("no parameter %s", full);
    return p;
}

/* sum(y * w): a scalar whose gradient reaches every element of y. */
static inline cg_tensor *nnt_dot(cg_tensor *y, cg_tensor *w) { return cg_sum(cg_mul(y, w), NULL, 0, false); }

/* Input dropout with one mask per sequence: the gradient g of an input
 * [B, T, F] is zero at every step or at none for each (batch, feature)
 * pair; returns how many pairs were dropped. */
static inline int nnt_dropped_per_sequence(const cg_tensor *g) {
    int64_t B = g->shape[0], T = g->shape[1], F = g->shape[2];
    int dropped = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++) {
            bool zero0 = cg_get(g, (int64_t[]){b, 0, f}) == 0;
            dropped += zero0;
            for (int64_t t = 1; t < T; t++) ck_assert_int_eq(cg_get(g, (int64_t[]){b, t, f}) == 0, zero0);
        }
    return dropped;
}

/* A [B, T] int64 tensor from literal rows. */
#define IDS(B, T, ...) cg_from_data(CG_INT64, CG_SHAPE(B, T), (const int64_t[]){__VA_ARGS__})
#define F32(...) (const float[]){__VA_ARGS__}

#endif
