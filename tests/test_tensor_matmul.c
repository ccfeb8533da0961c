/* tensor/ GEMM: cg_k_matmul (2-D, batched with broadcast batch dims, 1-D
 * promotion, strided views), cg_k_addmm, cg_k_gemm_ — against a naive
 * double-precision product. */
#include "test_tensor_helpers.h"

/* Naive a @ b for 2-D a, b of any strides; want has M*N entries. */
static void ref_mm(const cg_tensor *a, const cg_tensor *b, double *want) {
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += cg_get(a, IDX(i, k)) * cg_get(b, IDX(k, j));
            want[i * N + j] = s;
        }
}

/* c (2-D) equals the naive product of a and b. */
static void check_mm(const cg_tensor *c, const cg_tensor *a, const cg_tensor *b, double tol) {
    ck_assert_ptr_nonnull(c);
    ck_assert_shape(c, a->shape[0], b->shape[1]);
    double want[4096];
    ck_assert_int_le(a->shape[0] * b->shape[1], 4096);
    ref_mm(a, b, want);
    ck_assert_tensor_near(c, want, cg_numel(c), tol);
}

static cg_tensor *rnd(cg_dtype dt, uint64_t seed, const int64_t *shape, int ndim) {
    cg_rng r = cg_rng_seeded(seed);
    return cg_uniform(&r, dt, -1, 1, shape, ndim);
}

START_TEST(matmul_2d) {
    cg_tensor *a = mk(CG_FLOAT32, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3));
    cg_tensor *b = mk(CG_FLOAT32, VALS(7, 8, 9, 10, 11, 12), CG_SHAPE(3, 2));
    ck_assert_vals(cg_k_matmul(a, b), 0, 58, 64, 139, 154);
    for (int d = 0; d < 2; d++) {
        cg_dtype dt = d ? CG_FLOAT64 : CG_FLOAT32;
        double tol = d ? 1e-12 : 1e-5;
        cg_tensor *x = rnd(dt, 1, CG_SHAPE(17, 33)), *w = rnd(dt, 2, CG_SHAPE(33, 9));
        check_mm(cg_k_matmul(x, w), x, w, tol);
        ck_assert_int_eq(cg_k_matmul(x, w)->dtype, dt);
    }
}
END_TEST

START_TEST(matmul_strided_views) {
    cg_tensor *x = rnd(CG_FLOAT32, 3, CG_SHAPE(20, 12)), *w = rnd(CG_FLOAT32, 4, CG_SHAPE(7, 12));
    cg_tensor *wt = cg_k_transpose(w, 0, 1); /* [12,7], column-major */
    check_mm(cg_k_matmul(x, wt), x, wt, 1e-5);
    cg_tensor *xt = cg_k_transpose(rnd(CG_FLOAT32, 5, CG_SHAPE(12, 20)), 0, 1);
    check_mm(cg_k_matmul(xt, wt), xt, wt, 1e-5);
    /* a row-sliced and a column-sliced (gappy leading dimension) operand */
    cg_tensor *big = rnd(CG_FLOAT32, 6, CG_SHAPE(30, 40));
    cg_tensor *sub = cg_k_slice(cg_k_slice(big, 0, 5, 25, 1), 1, 3, 15, 1); /* [20,12] */
    check_mm(cg_k_matmul(sub, wt), sub, wt, 1e-5);
    /* layouts BLIS cannot read as they are: step slices, flips, broadcasts */
    cg_tensor *step = cg_k_slice(cg_k_slice(big, 0, 0, 40, 2), 1, 0, 24, 2); /* [15,12] strides [80,2] */
    check_mm(cg_k_matmul(step, wt), step, wt, 1e-5);
    cg_tensor *flip = cg_k_flip(x, CG_AXES(0, 1));
    check_mm(cg_k_matmul(flip, wt), flip, wt, 1e-5);
    cg_tensor *ex = cg_k_expand(mk(CG_FLOAT32, VALS(1, 2, 3), CG_SHAPE(3, 1)), CG_SHAPE(3, 12));
    check_mm(cg_k_matmul(ex, wt), ex, wt, 1e-5);
    /* the inputs are left untouched */
    ck_assert(same_bits(wt, cg_k_transpose(rnd(CG_FLOAT32, 4, CG_SHAPE(7, 12)), 0, 1)));
}
END_TEST

/* A tall product (1024 rows or more) with a column-major right operand
 * copies that operand row-major first: the same bits as with the copy
 * made by hand, close to the float64 product, alone and side by side. */
START_TEST(tall_product_with_a_transposed_operand) {
    cg_scope *s = cg_scope_begin();
    for (int d = 0; d < 2; d++) {
        cg_dtype dt = d ? CG_FLOAT64 : CG_FLOAT32;
        cg_tensor *x = rnd(dt, 7, CG_SHAPE(2048, 40)), *w = rnd(dt, 8, CG_SHAPE(56, 40));
        cg_tensor *wt = cg_k_transpose(w, 0, 1), *c = cg_k_matmul(x, wt);
        ck_assert_shape(c, 2048, 56);
        ck_assert(same_bits(c, cg_k_matmul(x, cg_k_contiguous(wt))));
        cg_tensor *ref = cg_k_matmul(cg_to_dtype(x, CG_FLOAT64), cg_to_dtype(wt, CG_FLOAT64));
        cg_tensor *err = cg_k_reduce(CG_MAX, cg_k_unary(CG_ABS, cg_k_binary(CG_SUB, cg_to_dtype(c, CG_FLOAT64), ref)),
                                     NULL, 0, false);
        ck_assert_double_le(cg_item(err), d ? 1e-12 : 1e-4);
        ck_assert(same_bits(wt, cg_k_transpose(rnd(dt, 8, CG_SHAPE(56, 40)), 0, 1))); /* w untouched */
        /* two such products side by side (each over 4 MFLOP, two threads) */
        cg_tensor *o[2] = {cg_zeros(dt, CG_SHAPE(2048, 56)), cg_zeros(dt, CG_SHAPE(2048, 56))};
        cg_gemm_job jobs[2] = {{o[0], x, wt, 1.0, 0.0}, {o[1], x, wt, 2.0, 0.0}};
        cg_set_num_threads(2);
        ck_assert(cg_k_gemm_many_(jobs, 2));
        ck_assert(same_bits(o[0], c));
        ck_assert(same_bits(o[1], cg_k_matmul(x, cg_k_contiguous(cg_k_scalar(CG_MUL, wt, 2.0)))));
    }
    cg_scope_end(s);
}
END_TEST

START_TEST(matmul_vectors) {
    cg_tensor *m = mk(CG_FLOAT64, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3));
    cg_tensor *v3 = mk(CG_FLOAT64, VALS(1, 0, -1), CG_SHAPE(3));
    cg_tensor *v2 = mk(CG_FLOAT64, VALS(2, -1), CG_SHAPE(2));
    cg_tensor *mv = cg_k_matmul(m, v3);
    ck_assert_shape(mv, 2);
    ck_assert_vals(mv, 0, -2, -2);
    cg_tensor *vm = cg_k_matmul(v2, m);
    ck_assert_shape(vm, 3);
    ck_assert_vals(vm, 0, -2, -1, 0);
    cg_tensor *dot = cg_k_matmul(v3, cg_k_flip(v3, CG_AXES(0)));
    ck_assert_int_eq(dot->ndim, 0);
    ck_assert_double_eq(cg_item(dot), -2);
    /* a vector against a batch: [3] @ [2,3,2] -> [2,2], [2,2,3] @ [3] -> [2,2] */
    cg_tensor *bat = cg_k_reshape(cg_arange(CG_FLOAT64, 0, 12, 1), CG_SHAPE(2, 3, 2));
    cg_tensor *r1 = cg_k_matmul(v3, bat);
    ck_assert_shape(r1, 2, 2);
    ck_assert_vals(r1, 0, -4, -4, -4, -4);
    cg_tensor *r2 = cg_k_matmul(cg_k_transpose(bat, 1, 2), v3);
    ck_assert_shape(r2, 2, 2);
    ck_assert_vals(r2, 0, -4, -4, -4, -4);
    ck_assert_fails(cg_k_matmul(v3, v2), CG_ERR_SHAPE, "cg_matmul: [3] @ [2]: inner sizes 3 != 2");
}
END_TEST

START_TEST(matmul_batched) {
    /* [2,1,4,3] @ [3,3,5] -> [2,3,4,5] with broadcast batch dims */
    cg_tensor *a = rnd(CG_FLOAT64, 7, CG_SHAPE(2, 1, 4, 3));
    cg_tensor *b = rnd(CG_FLOAT64, 8, CG_SHAPE(3, 3, 5));
    cg_tensor *c = cg_k_matmul(a, b);
    ck_assert_shape(c, 2, 3, 4, 5);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++) {
            cg_tensor *ai = cg_k_select(cg_k_select(a, 0, i), 0, 0), *bj = cg_k_select(b, 0, j);
            check_mm(cg_k_select(cg_k_select(c, 0, i), 0, j), ai, bj, 1e-12);
        }
    /* a 2-D operand against a batch, and a batch of transposed views */
    cg_tensor *w = rnd(CG_FLOAT32, 9, CG_SHAPE(6, 4));
    cg_tensor *xs = cg_k_transpose(rnd(CG_FLOAT32, 10, CG_SHAPE(3, 4, 5)), 1, 2); /* [3,5,4] */
    cg_tensor *y = cg_k_matmul(xs, cg_k_transpose(w, 0, 1));
    ck_assert_shape(y, 3, 5, 6);
    for (int64_t i = 0; i < 3; i++) check_mm(cg_k_select(y, 0, i), cg_k_select(xs, 0, i), cg_k_transpose(w, 0, 1), 1e-5);
    /* expanded batch dims (stride 0) */
    cg_tensor *e = cg_k_expand(w, CG_SHAPE(2, 6, 4));
    cg_tensor *ye = cg_k_matmul(e, cg_k_transpose(cg_k_select(xs, 0, 0), 0, 1));
    ck_assert_shape(ye, 2, 6, 5);
    ck_assert(same_bits(cg_k_select(ye, 0, 0), cg_k_select(ye, 0, 1)));
    /* a batch times one matrix: one GEMM over all rows when the layout allows
     * (contiguous; one row per item with gaps between items; a vector b) */
    cg_tensor *x3 = rnd(CG_FLOAT32, 16, CG_SHAPE(4, 3, 6)), *w2 = rnd(CG_FLOAT32, 17, CG_SHAPE(6, 5));
    cg_tensor *rows = cg_k_slice(x3, 1, 2, 3, 1); /* [4,1,6], row stride 18 */
    cg_tensor *v = cg_k_select(w2, 1, 3);
    cg_tensor *y3 = cg_k_matmul(x3, w2), *yr = cg_k_matmul(rows, w2), *yv = cg_k_matmul(x3, v);
    ck_assert_shape(yr, 4, 1, 5);
    ck_assert_shape(yv, 4, 3);
    for (int64_t i = 0; i < 4; i++) {
        check_mm(cg_k_select(y3, 0, i), cg_k_select(x3, 0, i), w2, 1e-5);
        check_mm(cg_k_select(yr, 0, i), cg_k_select(rows, 0, i), w2, 1e-5);
        check_mm(cg_k_unsqueeze(cg_k_select(yv, 0, i), 1), cg_k_select(x3, 0, i), cg_k_unsqueeze(v, 1), 1e-5);
    }
    /* empty batch, empty rows, K = 0 */
    ck_assert_shape(cg_k_matmul(cg_zeros(CG_FLOAT32, CG_SHAPE(0, 2, 3)), cg_zeros(CG_FLOAT32, CG_SHAPE(3, 4))), 0, 2, 4);
    ck_assert_shape(cg_k_matmul(cg_zeros(CG_FLOAT32, CG_SHAPE(0, 3)), cg_ones(CG_FLOAT32, CG_SHAPE(3, 4))), 0, 4);
    ck_assert_vals(cg_k_matmul(cg_ones(CG_FLOAT32, CG_SHAPE(2, 0)), cg_ones(CG_FLOAT32, CG_SHAPE(0, 2))), 0, 0, 0, 0, 0);
    ck_assert_fails(cg_k_matmul(cg_zeros(CG_FLOAT32, CG_SHAPE(2, 4, 3)), cg_zeros(CG_FLOAT32, CG_SHAPE(3, 3, 5))),
                    CG_ERR_SHAPE, "cg_matmul: [2,4,3] @ [3,3,5]: batch dims do not broadcast");
}
END_TEST

START_TEST(addmm) {
    cg_tensor *a = rnd(CG_FLOAT32, 11, CG_SHAPE(5, 7)), *b = rnd(CG_FLOAT32, 12, CG_SHAPE(7, 3));
    double ab[15];
    ref_mm(a, b, ab);
    cg_tensor *bias = mk(CG_FLOAT32, VALS(1, -2, 0.5), CG_SHAPE(3));
    cg_tensor *r = cg_k_addmm(bias, a, b, 1, 1);
    double want[15];
    for (int i = 0; i < 15; i++) want[i] = ab[i] + cg_get(bias, IDX(i % 3));
    ck_assert_tensor_near(r, want, 15, 1e-5);
    /* full [M,N] c given as a transposed view, with beta and alpha */
    cg_tensor *c = cg_k_transpose(rnd(CG_FLOAT32, 13, CG_SHAPE(3, 5)), 0, 1);
    r = cg_k_addmm(c, a, cg_k_contiguous(b), 0.5, -2);
    for (int i = 0; i < 15; i++) want[i] = 0.5 * cg_get(c, IDX(i / 3, i % 3)) - 2 * ab[i];
    ck_assert_tensor_near(r, want, 15, 1e-5);
    /* beta = 0 ignores c, even a NaN c */
    r = cg_k_addmm(cg_full(CG_FLOAT32, CG_SHAPE(1), NAN), a, b, 0, 1);
    ck_assert_tensor_near(r, ab, 15, 1e-5);
    ck_assert_fails(cg_k_addmm(cg_zeros(CG_FLOAT32, CG_SHAPE(5)), a, b, 1, 1), CG_ERR_SHAPE,
                    "cg_addmm: bias [5] does not broadcast to the product's shape [5,3]");
    ck_assert_fails(cg_k_addmm(cg_zeros(CG_FLOAT64, CG_SHAPE(3)), a, b, 1, 1), CG_ERR_DTYPE,
                    "cg_addmm: bias is float64");
    ck_assert_fails(cg_k_addmm(bias, b, a, 1, 1), CG_ERR_SHAPE, "cg_addmm: [7,3] @ [5,7]: inner sizes 3 != 5");
    ck_assert_fails(cg_k_addmm(bias, cg_k_reshape(a, CG_SHAPE(35)), b, 1, 1), CG_ERR_SHAPE, "must be 2-D");
    ck_assert_fails(cg_k_addmm(NULL, a, b, 1, 1), CG_ERR_NULL, "cg_addmm");
}
END_TEST

START_TEST(gemm_into_views) {
    cg_tensor *a = rnd(CG_FLOAT64, 14, CG_SHAPE(4, 6)), *b = rnd(CG_FLOAT64, 15, CG_SHAPE(6, 3));
    double ab[12];
    ref_mm(a, b, ab);
    /* out = a column block of a wider matrix: row stride 8, not 3 */
    cg_tensor *buf = cg_full(CG_FLOAT64, CG_SHAPE(4, 8), 1);
    cg_tensor *out = cg_k_slice(buf, 1, 2, 5, 1);
    ck_assert_ptr_eq(cg_k_gemm_(out, a, b, 2, 3), out);
    double want[12];
    for (int i = 0; i < 12; i++) want[i] = 3 + 2 * ab[i];
    ck_assert_tensor_near(out, want, 12, 1e-12);
    /* the columns around the block are untouched */
    ck_assert_vals(cg_k_slice(cg_k_select(buf, 0, 0), 0, 0, 2, 1), 0, 1, 1);
    ck_assert_vals(cg_k_slice(cg_k_select(buf, 0, 3), 0, 5, 8, 1), 0, 1, 1, 1);
    /* a transposed destination, and one BLIS cannot take (flipped) */
    cg_tensor *outt = cg_k_transpose(cg_zeros(CG_FLOAT64, CG_SHAPE(3, 4)), 0, 1);
    cg_k_gemm_(outt, a, b, 1, 0);
    ck_assert_tensor_near(outt, ab, 12, 1e-12);
    cg_tensor *outf = cg_k_flip(cg_ones(CG_FLOAT64, CG_SHAPE(4, 3)), CG_AXES(0));
    cg_k_gemm_(outf, a, b, 1, 1);
    for (int i = 0; i < 12; i++) want[i] = 1 + ab[i];
    ck_assert_tensor_near(outf, want, 12, 1e-12);
    /* beta = 0 overwrites whatever was there, K = 0 scales by beta */
    cg_tensor *nan = cg_full(CG_FLOAT64, CG_SHAPE(4, 3), NAN);
    ck_assert_tensor_near(cg_k_gemm_(nan, a, b, 1, 0), ab, 12, 1e-12);
    cg_tensor *nanf = cg_k_flip(cg_full(CG_FLOAT64, CG_SHAPE(4, 3), NAN), CG_AXES(1));
    ck_assert_tensor_near(cg_k_gemm_(nanf, a, b, 1, 0), ab, 12, 1e-12);
    cg_tensor *k0 = cg_full(CG_FLOAT64, CG_SHAPE(2, 2), 3);
    cg_k_gemm_(k0, cg_zeros(CG_FLOAT64, CG_SHAPE(2, 0)), cg_zeros(CG_FLOAT64, CG_SHAPE(0, 2)), 1, 0.5);
    ck_assert_vals(k0, 0, 1.5, 1.5, 1.5, 1.5);
    ck_assert_fails(cg_k_gemm_(cg_zeros(CG_FLOAT64, CG_SHAPE(4, 4)), a, b, 1, 0), CG_ERR_SHAPE,
                    "cg_gemm_: destination float64 [4,4] does not fit [4,6] @ [6,3]");
    ck_assert_fails(cg_k_gemm_(cg_zeros(CG_FLOAT32, CG_SHAPE(4, 3)), a, b, 1, 0), CG_ERR_SHAPE, "float32 [4,3]");
    ck_assert_fails(cg_k_gemm_(cg_k_expand(cg_zeros(CG_FLOAT64, CG_SHAPE(1, 3)), CG_SHAPE(4, 3)), a, b, 1, 0),
                    CG_ERR_VALUE, "expanded");
}
END_TEST

/* Small float32 products with row-major operands and result, the ones
 * cg_build_info's "small products" line says who runs (libxsmm when
 * built with it): a recurrent step's shapes, beta 0 over NaN, beta 1 into a
 * column block of a wider matrix (leading dimensions larger than the
 * sizes), operands sliced out of wider rows, one row and one column. */
/* a0 @ b0 (beta 0) over NaN, and a1 @ b1 (the same product, other
 * layouts) added (beta 1) into a block of a wider matrix of 2s: both near
 * ab (M x N), the columns beside the block untouched. */
static void check_beta_0_and_1(const cg_tensor *a0, const cg_tensor *b0, const cg_tensor *a1, const cg_tensor *b1,
                               const double *ab) {
    int64_t M = a0->shape[0], K = a0->shape[1], N = b0->shape[1];
    cg_tensor *out = cg_full(CG_FLOAT32, CG_SHAPE(M, N), NAN);
    ck_assert_ptr_eq(cg_k_gemm_(out, a0, b0, 1, 0), out);
    ck_assert_tensor_near(out, ab, M * N, 1e-5 * (double)K);
    cg_tensor *wide = cg_full(CG_FLOAT32, CG_SHAPE(M, N + 4), 2);
    cg_tensor *block = cg_k_slice(wide, 1, 1, N + 1, 1);
    ck_assert_ptr_eq(cg_k_gemm_(block, a1, b1, 1, 1), block);
    double *want = malloc(sizeof(double) * (size_t)(M * N));
    for (int64_t i = 0; i < M * N; i++) want[i] = 2 + ab[i];
    ck_assert_tensor_near(block, want, M * N, 1e-5 * (double)K);
    for (int64_t i = 0; i < M; i++) {
        ck_assert_double_eq(cg_get(wide, IDX(i, 0)), 2);
        ck_assert_double_eq(cg_get(wide, IDX(i, N + 1)), 2);
    }
    free(want);
}

START_TEST(small_row_major_products) {
    ck_assert(strstr(cg_build_info().small_gemm, "libxsmm") || strstr(cg_build_info().small_gemm, "BLIS"));
    static const int64_t shapes[][3] = {{32, 30, 120}, {16, 30, 120}, {32, 100, 400}, {1, 7, 5}, {9, 1, 3}, {5, 3, 1}};
    for (int s = 0; s < 6; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        cg_tensor *wa = rnd(CG_FLOAT32, 40 + (uint64_t)s, CG_SHAPE(M, K + 3)), *wb = rnd(CG_FLOAT32, 50 + (uint64_t)s, CG_SHAPE(K, N + 5));
        cg_tensor *a = cg_k_slice(wa, 1, 2, K + 2, 1), *b = cg_k_slice(wb, 1, 1, N + 1, 1); /* rows wider than the sizes */
        cg_tensor *ac = cg_k_contiguous(a), *bc = cg_k_contiguous(b);
        double *ab = malloc(sizeof(double) * (size_t)(M * N));
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double t = 0;
                for (int64_t k = 0; k < K; k++) t += cg_get(ac, IDX(i, k)) * cg_get(bc, IDX(k, j));
                ab[i * N + j] = t;
            }
        check_beta_0_and_1(a, b, ac, bc, ab);
        free(ab);
    }
}
END_TEST

/* A backward's small products: x^T @ g (the left operand a transposed view,
 * rows wider than the sizes), with beta 0 over NaN and beta 1 into a
 * block; and g @ W^T within a reuse pass, where the second product with
 * one W reads a row-major copy: right every time, also after W changes in
 * place, for another view of the same bytes, and after the pass. */
START_TEST(small_transposed_products) {
    cg_scope *sc = cg_scope_begin();
    static const int64_t shapes[][3] = {{30, 16, 120}, {100, 32, 400}, {30, 1, 120}, {1, 16, 30}, {7, 5, 1}};
    for (int s = 0; s < 5; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        cg_tensor *wx = rnd(CG_FLOAT32, 60 + (uint64_t)s, CG_SHAPE(K, M + 3));
        cg_tensor *xt = cg_k_transpose(cg_k_slice(wx, 1, 1, M + 1, 1), 0, 1); /* [M,K], column stride M + 3 */
        cg_tensor *g = rnd(CG_FLOAT32, 70 + (uint64_t)s, CG_SHAPE(K, N));
        double *want = malloc(sizeof(double) * (size_t)(M * N));
        ref_mm(xt, g, want);
        check_beta_0_and_1(xt, g, xt, g, want);
        free(want);
    }
    /* g [16,120] @ W^T, W [30,120], and views of W's two halves */
    cg_tensor *g = rnd(CG_FLOAT32, 80, CG_SHAPE(16, 120)), *w = rnd(CG_FLOAT32, 81, CG_SHAPE(30, 120));
    cg_tensor *wt = cg_k_transpose(w, 0, 1), *top = cg_k_transpose(cg_k_slice(w, 0, 0, 15, 1), 0, 1),
              *bottom = cg_k_transpose(cg_k_slice(w, 0, 15, 30, 1), 0, 1);
    double want[16 * 30];
    cg_gemm_reuse_begin();
    cg_gemm_reuse_begin(); /* nested */
    for (int rep = 0; rep < 3; rep++) check_mm(cg_k_matmul(g, wt), g, wt, 1e-4);
    cg_gemm_reuse_end();
    ck_assert_ptr_nonnull(cg_k_scalar_(CG_MUL, w, -2.0)); /* W changes in place: the copy is stale */
    for (int rep = 0; rep < 3; rep++) check_mm(cg_k_matmul(g, wt), g, wt, 1e-4);
    for (int rep = 0; rep < 2; rep++) check_mm(cg_k_matmul(g, top), g, top, 1e-4);
    for (int rep = 0; rep < 2; rep++) check_mm(cg_k_matmul(g, bottom), g, bottom, 1e-4);
    cg_tensor *acc = cg_ones(CG_FLOAT32, CG_SHAPE(16, 30));
    for (int rep = 0; rep < 2; rep++) ck_assert_ptr_eq(cg_k_gemm_(acc, g, wt, 1, 1), acc);
    ref_mm(g, wt, want);
    for (int i = 0; i < 16 * 30; i++) want[i] = 1 + 2 * want[i];
    ck_assert_tensor_near(acc, want, 16 * 30, 1e-4);
    cg_gemm_reuse_end();
    cg_gemm_reuse_end(); /* one end too many does nothing */
    ck_assert_ptr_nonnull(cg_k_scalar_(CG_ADD, w, 1.0));
    check_mm(cg_k_matmul(g, wt), g, wt, 1e-4);
    cg_scope_end(sc);
}
END_TEST

/* Float32 products of 4 MFLOP or more (libxsmm's tiles where it runs them,
 * else BLIS): near the float64 product, beta 0 over NaN and beta 1 into a
 * block; tiles cut at the edges in both dims, one row, a transposed left
 * operand (also with K past 1024), K just past the tiles' limit for a
 * row-major one (BLIS); the same bits with one thread and with two; and
 * g @ W^T in a reuse pass reads W's row-major copy from its second product
 * on. */
START_TEST(large_products_any_threads) {
    cg_scope *sc = cg_scope_begin();
    static const int64_t shapes[][4] = {{32, 128, 512, 0}, {70, 100, 300, 0}, {257, 77, 130, 0}, {1, 1024, 2048, 0},
                                        {100, 1025, 64, 0}, {130, 200, 160, 1}, {100, 96, 400, 1}, {64, 1100, 96, 1}};
    for (int s = 0; s < 8; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        ck_assert_double_ge(2.0 * (double)(M * N * K), CG_GEMM_THREADED_FLOPS);
        cg_tensor *a = shapes[s][3] ? cg_k_transpose(rnd(CG_FLOAT32, 90 + (uint64_t)s, CG_SHAPE(K, M)), 0, 1)
                                    : rnd(CG_FLOAT32, 90 + (uint64_t)s, CG_SHAPE(M, K));
        cg_tensor *b = rnd(CG_FLOAT32, 95 + (uint64_t)s, CG_SHAPE(K, N));
        double *want = malloc(sizeof(double) * (size_t)(M * N));
        ref_mm(a, b, want);
        cg_tensor *c[2];
        for (int th = 1; th <= 2; th++) {
            cg_set_num_threads(th);
            check_beta_0_and_1(a, b, a, b, want);
            c[th - 1] = cg_k_matmul(a, b);
            ck_assert_ptr_nonnull(c[th - 1]);
        }
        ck_assert_msg(!memcmp(cg_data(c[0]), cg_data(c[1]), sizeof(float) * (size_t)(M * N)),
                      "[%lld,%lld] @ [%lld,%lld]: other bits with two threads", (long long)M, (long long)K,
                      (long long)K, (long long)N);
        free(want);
    }
    cg_tensor *g = rnd(CG_FLOAT32, 100, CG_SHAPE(32, 512)), *w = rnd(CG_FLOAT32, 101, CG_SHAPE(128, 512));
    cg_tensor *wt = cg_k_transpose(w, 0, 1);
    double *want = malloc(sizeof(double) * 32 * 128);
    ref_mm(g, wt, want);
    cg_gemm_reuse_begin();
    for (int rep = 0; rep < 3; rep++) ck_assert_tensor_near(cg_k_matmul(g, wt), want, 32 * 128, 1e-4 * 512);
    ck_assert_ptr_nonnull(cg_k_scalar_(CG_MUL, w, -1.0)); /* W changes in place: the copy is stale */
    for (int i = 0; i < 32 * 128; i++) want[i] = -want[i];
    ck_assert_tensor_near(cg_k_matmul(g, wt), want, 32 * 128, 1e-4 * 512);
    cg_gemm_reuse_end();
    free(want);
    cg_set_num_threads(2);
    cg_scope_end(sc);
}
END_TEST

/* Jobs side by side (products of >= 4 MFLOP, two threads) give the bits of
 * the same products one after the other; jobs sharing a destination run in
 * turn; bad jobs are refused with the shapes named. */
START_TEST(gemm_many_side_by_side) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(5);
    cg_tensor *g = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(64, 512));
    cg_tensor *u = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(128, 512));
    cg_tensor *h = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(64, 128));
    cg_tensor *dh[2], *du[2];
    for (int k = 0; k < 2; k++) {
        dh[k] = cg_zeros(CG_FLOAT32, CG_SHAPE(64, 128));
        du[k] = cg_ones(CG_FLOAT32, CG_SHAPE(128, 512));
    }
    cg_gemm_job jobs[2] = {{dh[0], g, cg_k_transpose(u, 0, 1), 1.0, 0.0}, {du[0], cg_k_transpose(h, 0, 1), g, 0.5, 1.0}};
    cg_set_num_threads(2);
    ck_assert(cg_k_gemm_many_(jobs, 2));
    ck_assert_ptr_nonnull(cg_k_gemm_(dh[1], g, cg_k_transpose(u, 0, 1), 1.0, 0.0));
    ck_assert_ptr_nonnull(cg_k_gemm_(du[1], cg_k_transpose(h, 0, 1), g, 0.5, 1.0));
    ck_assert_int_eq(memcmp(cg_data(dh[0]), cg_data(dh[1]), sizeof(float) * 64 * 128), 0);
    ck_assert_int_eq(memcmp(cg_data(du[0]), cg_data(du[1]), sizeof(float) * 128 * 512), 0);
    /* two jobs into one destination add up */
    cg_tensor *acc = cg_zeros(CG_FLOAT32, CG_SHAPE(64, 128));
    cg_gemm_job twice[2] = {{acc, g, cg_k_transpose(u, 0, 1), 1.0, 1.0}, {acc, g, cg_k_transpose(u, 0, 1), 1.0, 1.0}};
    ck_assert(cg_k_gemm_many_(twice, 2));
    ck_assert_tensor_near(acc, (const double *)cg_data(cg_to_dtype(cg_k_scalar(CG_MUL, dh[1], 2.0), CG_FLOAT64)),
                          64 * 128, 1e-4);
    cg_gemm_job bad[1] = {{acc, g, u, 1.0, 0.0}};
    ck_assert(!cg_k_gemm_many_(bad, 1));
    ck_assert_error(CG_ERR_SHAPE, "[64,512] @ [128,512]");
    cg_scope_end(s);
}
END_TEST

/* Held products (cg_k_gemm_async_, two threads) wait until the next small
 * product takes one along, or until cg_k_gemm_sync (one thread: they run at
 * once); they add into
 * their destination in the order they were held, with the bits of the same
 * products run one after the other, on one thread or two, more of them
 * than are held at once included. Bad ones are refused. */
START_TEST(held_products) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(11);
    enum { N_HELD = 11 };
    cg_tensor *a[N_HELD], *b[N_HELD];
    for (int k = 0; k < N_HELD; k++) {
        a[k] = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(32, 30)); /* read through a transposed view */
        b[k] = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(32, 90));
    }
    cg_tensor *x = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(32, 30));
    cg_tensor *y = cg_uniform(&rng, CG_FLOAT32, -1, 1, CG_SHAPE(30, 90));
    cg_tensor *want = cg_ones(CG_FLOAT32, CG_SHAPE(30, 90)), *small = cg_zeros(CG_FLOAT32, CG_SHAPE(32, 90));
    for (int k = 0; k < N_HELD; k++)
        ck_assert_ptr_nonnull(cg_k_gemm_(want, cg_k_transpose(a[k], 0, 1), b[k], k % 2 ? -0.5 : 1.0, 1.0));
    ck_assert_ptr_nonnull(cg_k_gemm_(small, x, y, 1.0, 0.0));
    cg_tensor *first = cg_ones(CG_FLOAT32, CG_SHAPE(30, 90));
    ck_assert_ptr_nonnull(cg_k_gemm_(first, cg_k_transpose(a[0], 0, 1), b[0], 1.0, 1.0));
    cg_tensor *two = cg_clone(first);
    ck_assert_ptr_nonnull(cg_k_gemm_(two, cg_k_transpose(a[1], 0, 1), b[1], -0.5, 1.0));
    int saved = cg_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        cg_set_num_threads(threads);
        cg_tensor *out = cg_ones(CG_FLOAT32, CG_SHAPE(30, 90)), *o2 = cg_zeros(CG_FLOAT32, CG_SHAPE(32, 90));
        ck_assert(cg_k_gemm_async_(out, cg_k_transpose(a[0], 0, 1), b[0], 1.0));
        ck_assert(cg_k_gemm_async_(out, cg_k_transpose(a[1], 0, 1), b[1], -0.5));
        /* two threads: held, not run; one thread: run at once */
        ck_assert_int_eq(memcmp(cg_data(out), cg_data(threads == 2 ? cg_ones(CG_FLOAT32, CG_SHAPE(30, 90)) : two),
                                sizeof(float) * 30 * 90),
                         0);
        ck_assert_ptr_nonnull(cg_k_gemm_(o2, x, y, 1.0, 0.0)); /* on two threads, takes the first along */
        ck_assert_int_eq(memcmp(cg_data(o2), cg_data(small), sizeof(float) * 32 * 90), 0);
        ck_assert_int_eq(memcmp(cg_data(out), cg_data(threads == 2 ? first : two), sizeof(float) * 30 * 90), 0);
        for (int k = 2; k < N_HELD; k++)
            ck_assert(cg_k_gemm_async_(out, cg_k_transpose(a[k], 0, 1), b[k], k % 2 ? -0.5 : 1.0));
        cg_k_gemm_sync();
        ck_assert_int_eq(memcmp(cg_data(out), cg_data(want), sizeof(float) * 30 * 90), 0);
    }
    cg_set_num_threads(saved);
    ck_assert(!cg_k_gemm_async_(want, a[0], b[0], 1.0));
    ck_assert_error(CG_ERR_SHAPE, "[32,30] @ [32,90]");
    ck_assert(!cg_k_gemm_async_(NULL, a[0], b[0], 1.0));
    ck_assert_error(CG_ERR_NULL, "cg_gemm_async_");
    cg_scope_end(s);
}
END_TEST

/* A trace counts every product BLIS computes, describes the first cap as
 * BLIS got them (a transposed view by its strides), sums their flops and
 * time, and stops at its end; products held back are counted when they run. */
START_TEST(gemm_trace_describes_the_products) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = rnd(CG_FLOAT32, 1, CG_SHAPE(4, 3)), *w = rnd(CG_FLOAT32, 2, CG_SHAPE(5, 3));
    cg_gemm_record rec[2];
    memset(rec, 0xff, sizeof rec);
    cg_gemm_trace_begin(rec, 1);
    ck_assert_ptr_nonnull(cg_k_matmul(x, cg_k_transpose(w, 0, 1))); /* [4,3] @ [3,5], B column-major */
    ck_assert_ptr_nonnull(cg_k_addmm(cg_zeros(CG_FLOAT32, CG_SHAPE(5)), x, cg_k_transpose(w, 0, 1), 1.0, 2.0));
    cg_gemm_trace t = cg_gemm_trace_end();
    ck_assert_int_eq(t.products, 2);
    ck_assert_double_eq(t.flops, 2 * 2.0 * 4 * 5 * 3);
    ck_assert(t.seconds > 0 && t.seconds < 10);
    ck_assert_int_eq(rec[0].dtype, CG_FLOAT32);
    ck_assert(rec[0].m == 4 && rec[0].n == 5 && rec[0].k == 3);
    ck_assert(rec[0].rs_a == 3 && rec[0].cs_a == 1 && rec[0].rs_b == 1 && rec[0].cs_b == 3);
    ck_assert(rec[0].rs_c == 5 && rec[0].cs_c == 1 && rec[0].alpha == 1 && rec[0].beta == 0 && rec[0].threads == 1);
    cg_gemm_record untouched;
    memset(&untouched, 0xff, sizeof untouched);
    ck_assert_int_eq(memcmp(&rec[1], &untouched, sizeof untouched), 0); /* past cap: counted only */
    /* no trace: nothing counted; a trace without a buffer counts */
    ck_assert_ptr_nonnull(cg_k_matmul(x, cg_k_transpose(w, 0, 1)));
    cg_gemm_trace_begin(NULL, 0);
    int saved = cg_get_num_threads();
    cg_set_num_threads(2);
    cg_tensor *out = cg_zeros(CG_FLOAT32, CG_SHAPE(3, 5));
    ck_assert(cg_k_gemm_async_(out, cg_k_transpose(x, 0, 1), rnd(CG_FLOAT32, 3, CG_SHAPE(4, 5)), 1.0));
    cg_k_gemm_sync();
    cg_set_num_threads(saved);
    t = cg_gemm_trace_end();
    ck_assert_int_eq(t.products, 1);
    ck_assert_double_eq(t.flops, 2.0 * 3 * 5 * 4);
    ck_assert(t.seconds > 0);
    cg_scope_end(s);
}
END_TEST

START_TEST(bad_operands) {
    cg_tensor *a = cg_zeros(CG_FLOAT32, CG_SHAPE(32, 128)), *b = cg_zeros(CG_FLOAT32, CG_SHAPE(64, 512));
    ck_assert_fails(cg_k_matmul(a, b), CG_ERR_SHAPE, "cg_matmul: [32,128] @ [64,512]: inner sizes 128 != 64");
    ck_assert_fails(cg_k_matmul(a, cg_zeros(CG_FLOAT64, CG_SHAPE(128, 2))), CG_ERR_DTYPE,
                    "cg_matmul: needs two float tensors of one dtype, got float32 [32,128] and float64 [128,2]");
    ck_assert_fails(cg_k_matmul(cg_zeros(CG_INT64, CG_SHAPE(2, 2)), cg_zeros(CG_INT64, CG_SHAPE(2, 2))), CG_ERR_DTYPE,
                    "int64");
    ck_assert_fails(cg_k_matmul(cg_scalar(CG_FLOAT32, 1), a), CG_ERR_SHAPE, "at least 1 dim");
    ck_assert_fails(cg_k_matmul(a, NULL), CG_ERR_NULL, "cg_matmul");
    ck_assert_fails(cg_k_gemm_(NULL, a, b, 1, 0), CG_ERR_NULL, "cg_gemm_");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_matmul");
    TCase *tc = tcase_create("matmul");
    tcase_add_test(tc, matmul_2d);
    tcase_add_test(tc, matmul_strided_views);
    tcase_add_test(tc, tall_product_with_a_transposed_operand);
    tcase_add_test(tc, matmul_vectors);
    tcase_add_test(tc, matmul_batched);
    tcase_add_test(tc, addmm);
    tcase_add_test(tc, gemm_into_views);
    tcase_add_test(tc, small_row_major_products);
    tcase_add_test(tc, small_transposed_products);
    tcase_add_test(tc, large_products_any_threads);
    tcase_add_test(tc, gemm_many_side_by_side);
    tcase_add_test(tc, held_products);
    tcase_add_test(tc, gemm_trace_describes_the_products);
    tcase_add_test(tc, bad_operands);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
