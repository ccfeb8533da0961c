/* tensor/: dtypes, creation, element access, casts, copies, broadcast shapes. */
#include "test_tensor_helpers.h"

START_TEST(dtypes) {
    ck_assert_uint_eq(cg_dtype_size(CG_FLOAT32), 4);
    ck_assert_uint_eq(cg_dtype_size(CG_FLOAT64), 8);
    ck_assert_uint_eq(cg_dtype_size(CG_INT64), 8);
    ck_assert_str_eq(cg_dtype_name(CG_FLOAT32), "float32");
    ck_assert_str_eq(cg_dtype_name(CG_FLOAT64), "float64");
    ck_assert_str_eq(cg_dtype_name(CG_INT64), "int64");
    ck_assert(cg_dtype_is_float(CG_FLOAT64));
    ck_assert(!cg_dtype_is_float(CG_INT64));
}
END_TEST

START_TEST(creation) {
    cg_tensor *z = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3));
    ck_assert_shape(z, 2, 3);
    ck_assert(cg_is_contiguous(z));
    ck_assert_int_eq(z->strides[0], 3);
    ck_assert_int_eq(z->strides[1], 1);
    ck_assert_vals(z, 0, 0, 0, 0, 0, 0, 0);
    ck_assert_vals(cg_ones(CG_INT64, CG_SHAPE(3)), 0, 1, 1, 1);
    ck_assert_vals(cg_full(CG_FLOAT64, CG_SHAPE(2), -2.5), 0, -2.5, -2.5);
    cg_tensor *s = cg_scalar(CG_FLOAT32, 7.25);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_int_eq(cg_numel(s), 1);
    ck_assert_double_eq(cg_item(s), 7.25);
    cg_tensor *e = cg_empty(CG_FLOAT32, CG_SHAPE(4, 0, 2));
    ck_assert_int_eq(cg_numel(e), 0);
    ck_assert(cg_is_contiguous(e));
    int64_t iv[] = {5, -6, 7};
    cg_tensor *fi = cg_from_data(CG_INT64, CG_SHAPE(3), iv);
    ck_assert_int_eq(cg_data_i64(fi)[1], -6);
    ck_assert_ptr_ne(cg_data_i64(fi), iv); /* a copy */
    cg_tensor *l = cg_zeros_like(cg_ones_like(fi));
    ck_assert_int_eq(l->dtype, CG_INT64);
    ck_assert_vals(l, 0, 0, 0, 0);
    ck_assert_vals(cg_ones_like(z), 0, 1, 1, 1, 1, 1, 1);
    ck_assert_shape(cg_empty_like(z), 2, 3);
}
END_TEST

START_TEST(ranges) {
    ck_assert_vals(cg_arange(CG_INT64, 0, 5, 1), 0, 0, 1, 2, 3, 4);
    ck_assert_vals(cg_arange(CG_FLOAT32, 1, 2, 0.25), 1e-7, 1, 1.25, 1.5, 1.75);
    ck_assert_vals(cg_arange(CG_FLOAT64, 3, 0, -1), 0, 3, 2, 1);
    ck_assert_int_eq(cg_numel(cg_arange(CG_FLOAT32, 3, 0, 1)), 0);
    ck_assert_vals(cg_linspace(CG_FLOAT64, 0, 1, 5), 1e-15, 0, 0.25, 0.5, 0.75, 1);
    ck_assert_vals(cg_linspace(CG_FLOAT32, 2, 3, 1), 0, 2);
    ck_assert_int_eq(cg_numel(cg_linspace(CG_FLOAT32, 2, 3, 0)), 0);
    ck_assert_vals(cg_eye(CG_FLOAT32, 3), 0, 1, 0, 0, 0, 1, 0, 0, 0, 1);
    ck_assert_int_eq(cg_numel(cg_eye(CG_INT64, 0)), 0);
}
END_TEST

START_TEST(element_access) {
    cg_tensor *t = mk(CG_FLOAT32, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3));
    ck_assert_double_eq(cg_get(t, IDX(1, 2)), 6);
    ck_assert_double_eq(cg_get(t, IDX(-1, -3)), 4); /* negative indices count from the end */
    uint64_t v0 = t->storage->version;
    ck_assert_int_eq(cg_set(t, IDX(0, 1), -9), CG_OK);
    ck_assert_uint_gt(t->storage->version, v0);
    ck_assert_vals(t, 0, 1, -9, 3, 4, 5, 6);
    ck_assert_float_eq(cg_data_f32(t)[1], -9.0f);
    /* typed accessors check the dtype */
    ck_assert_fails(cg_data_f64(t), CG_ERR_DTYPE, "float32");
    ck_assert_fails(cg_data_i64(t), CG_ERR_DTYPE, "cg_data_int64");
    /* copy_out of a transposed view is row-major in the view's order */
    float out[6];
    ck_assert_int_eq(cg_copy_out(cg_k_transpose(t, 0, 1), out, sizeof out), CG_OK);
    float want[6] = {1, 4, -9, 5, 3, 6};
    for (int i = 0; i < 6; i++) ck_assert_float_eq(out[i], want[i]);
    ck_assert_int_eq(cg_copy_out(t, out, 8), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "[2,3]");
    /* bad indices */
    cg_clear_error();
    ck_assert(isnan(cg_get(t, IDX(2, 0))));
    ck_assert_error(CG_ERR_INDEX, "index 2 is out of range for dim 0 of shape [2,3]");
    ck_assert_int_eq(cg_set(t, IDX(0, -4), 1), CG_ERR_INDEX);
    ck_assert_error(CG_ERR_INDEX, "cg_set");
    ck_assert(isnan(cg_get(t, NULL)));
    ck_assert_error(CG_ERR_NULL, "cg_get");
    ck_assert(isnan(cg_item(t)));
    ck_assert_error(CG_ERR_SHAPE, "cg_item: tensor of shape [2,3] has 6 elements");
    ck_assert(isnan(cg_item(NULL)));
    ck_assert_error(CG_ERR_NULL, "cg_item");
    /* 0-d get/set take no index */
    cg_tensor *s = cg_scalar(CG_INT64, 3);
    ck_assert_int_eq(cg_set(s, NULL, 11), CG_OK);
    ck_assert_double_eq(cg_get(s, NULL), 11);
    ck_assert_double_eq(cg_item(cg_ones(CG_FLOAT64, CG_SHAPE(1, 1, 1))), 1);
}
END_TEST

START_TEST(casts) {
    cg_tensor *f = mk(CG_FLOAT64, VALS(-2.7, -0.5, 0.5, 2.7, 1e300, NAN, -INFINITY), CG_SHAPE(7));
    cg_tensor *i = cg_to_dtype(f, CG_INT64);
    ck_assert_int_eq(i->dtype, CG_INT64);
    int64_t *iv = cg_data_i64(i);
    ck_assert_int_eq(iv[0], -2); /* truncates toward zero */
    ck_assert_int_eq(iv[1], 0);
    ck_assert_int_eq(iv[2], 0);
    ck_assert_int_eq(iv[3], 2);
    /* out of range saturates, NaN becomes 0 (no undefined behaviour) */
    ck_assert_int_eq(iv[4], INT64_MAX);
    ck_assert_int_eq(iv[5], 0);
    ck_assert_int_eq(iv[6], INT64_MIN);
    cg_tensor *one = cg_zeros(CG_INT64, CG_SHAPE(1));
    ck_assert_int_eq(cg_set(one, IDX(0), -1e30), CG_OK);
    ck_assert_int_eq(cg_data_i64(one)[0], INT64_MIN);
    int64_t big[] = {(int64_t)1 << 40, -3};
    cg_tensor *b = cg_from_data(CG_INT64, CG_SHAPE(2), big);
    ck_assert_vals(cg_to_dtype(b, CG_FLOAT64), 0, 1099511627776.0, -3);
    cg_tensor *f32 = cg_to_dtype(mk(CG_FLOAT64, VALS(0.1, 1e-50, 1e50), CG_SHAPE(3)), CG_FLOAT32);
    ck_assert_float_eq(cg_data_f32(f32)[0], 0.1f);
    ck_assert_float_eq(cg_data_f32(f32)[1], 0.0f);
    ck_assert(isinf(cg_data_f32(f32)[2]));
    /* a cast of a strided view, and a same-dtype cast is a copy */
    cg_tensor *m = mk(CG_FLOAT32, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3));
    cg_tensor *mt = cg_to_dtype(cg_k_transpose(m, 0, 1), CG_INT64);
    ck_assert(cg_is_contiguous(mt));
    ck_assert_vals(mt, 0, 1, 4, 2, 5, 3, 6);
    cg_tensor *same = cg_to_dtype(m, CG_FLOAT32);
    ck_assert_ptr_ne(same->storage, m->storage);
    ck_assert(same_bits(same, m));
    ck_assert_fails(cg_to_dtype(m, (cg_dtype)9), CG_ERR_DTYPE, "cg_to_dtype");
    ck_assert_fails(cg_to_dtype(NULL, CG_FLOAT32), CG_ERR_NULL, "cg_to_dtype");
}
END_TEST

START_TEST(clone_and_contiguous) {
    cg_tensor *m = mk(CG_FLOAT32, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3));
    ck_assert_ptr_eq(cg_k_contiguous(m), m); /* already contiguous: no copy */
    cg_tensor *c = cg_clone(m);
    ck_assert_ptr_ne(c->storage, m->storage);
    ck_assert(same_bits(c, m));
    cg_tensor *t = cg_k_transpose(m, 0, 1);
    ck_assert(!cg_is_contiguous(t));
    cg_tensor *tc = cg_k_contiguous(t);
    ck_assert(cg_is_contiguous(tc));
    ck_assert_ptr_ne(tc->storage, m->storage);
    ck_assert_vals(tc, 0, 1, 4, 2, 5, 3, 6);
    /* size-1 dims with any stride still count as contiguous */
    cg_tensor *row = cg_k_slice(m, 0, 1, 2, 1);
    ck_assert(cg_is_contiguous(row));
    ck_assert_ptr_eq(cg_k_contiguous(row), row);
    ck_assert_vals(row, 0, 4, 5, 6);
    ck_assert_fails(cg_clone(NULL), CG_ERR_NULL, "cg_clone");
}
END_TEST

START_TEST(bad_creation) {
    ck_assert_fails(cg_zeros(CG_FLOAT32, CG_SHAPE(2, -1)), CG_ERR_SHAPE, "cg_zeros: negative size -1 in shape [2,-1]");
    ck_assert_fails(cg_empty(CG_FLOAT32, CG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1)), CG_ERR_SHAPE, "9 dims");
    ck_assert_fails(cg_ones(CG_FLOAT32, NULL, 2), CG_ERR_NULL, "shape is NULL");
    ck_assert_fails(cg_full((cg_dtype)7, CG_SHAPE(2), 1), CG_ERR_DTYPE, "unknown dtype 7");
    ck_assert_fails(cg_from_data(CG_FLOAT32, CG_SHAPE(2), NULL), CG_ERR_NULL, "cg_from_data");
    ck_assert_fails(cg_zeros(CG_FLOAT32, CG_SHAPE(INT64_MAX / 2, 4)), CG_ERR_SHAPE, "too large");
    ck_assert_fails(cg_arange(CG_FLOAT32, 0, 1, 0), CG_ERR_VALUE, "cg_arange");
    ck_assert_fails(cg_arange(CG_FLOAT32, 0, INFINITY, 1), CG_ERR_VALUE, "finite");
    ck_assert_fails(cg_linspace(CG_FLOAT32, 0, 1, -1), CG_ERR_VALUE, "cg_linspace");
    ck_assert_fails(cg_eye(CG_FLOAT32, -2), CG_ERR_VALUE, "cg_eye");
    ck_assert_fails(cg_full(CG_INT64, CG_SHAPE(2), 1e30), CG_ERR_VALUE, "does not fit int64");
    ck_assert_fails(cg_zeros_like(NULL), CG_ERR_NULL, "cg_zeros_like");
    /* a size-0 tensor needs no data */
    ck_assert_ptr_nonnull(cg_from_data(CG_FLOAT32, CG_SHAPE(0, 3), NULL));
}
END_TEST

START_TEST(errors_keep_first_cause) {
    cg_clear_error();
    ck_assert_int_eq(cg_last_status(), CG_OK);
    ck_assert_str_eq(cg_last_error(), "");
    cg_tensor *a = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3)), *b = cg_zeros(CG_FLOAT32, CG_SHAPE(4));
    cg_tensor *bad = cg_k_binary(CG_ADD, a, b);
    ck_assert_ptr_null(bad);
    /* a chain of ops on the failed result keeps the first message */
    cg_tensor *r = cg_k_reduce(CG_SUM, cg_k_unary(CG_EXP, cg_k_transpose(bad, 0, 1)), NULL, 0, false);
    ck_assert_ptr_null(r);
    ck_assert_ptr_null(cg_k_matmul(r, a));
    ck_assert_error(CG_ERR_SHAPE, "cg_add: shapes [2,3] and [4] do not broadcast");
    /* a message wrapped in more context may take the last one as an argument */
    ck_assert_ptr_null(cg_k_binary(CG_ADD, a, b));
    cg_set_error(CG_ERR_IO, "reading x.bin: %s", cg_last_error());
    ck_assert_str_eq(cg_last_error(), "reading x.bin: cg_add: shapes [2,3] and [4] do not broadcast");
    cg_clear_error();
    /* with no pending error a NULL input is itself the reported cause */
    ck_assert_fails(cg_k_unary(CG_EXP, NULL), CG_ERR_NULL, "cg_exp: input is NULL");
    ck_assert_str_eq(cg_shape_str(NULL), "NULL");
    ck_assert_str_eq(cg_dims_str(CG_SHAPE(3, 0, 1)), "[3,0,1]");
    ck_assert_str_eq(cg_dims_str(NULL, 0), "[]");
    ck_assert_int_eq(cg_set_error(CG_ERR_IO, "x %d", 5), CG_ERR_IO);
    ck_assert_error(CG_ERR_IO, "x 5");
}
END_TEST

START_TEST(broadcast_shapes) {
    int64_t out[CG_MAX_DIMS];
    int n;
    ck_assert_int_eq(cg_broadcast_shape(CG_SHAPE(8, 1, 6, 1), CG_SHAPE(7, 1, 5), out, &n), CG_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(cg_dims_str(out, n), "[8,7,6,5]");
    ck_assert_int_eq(cg_broadcast_shape(NULL, 0, CG_SHAPE(3), out, &n), CG_OK);
    ck_assert_str_eq(cg_dims_str(out, n), "[3]");
    ck_assert_int_eq(cg_broadcast_shape(CG_SHAPE(0, 1), CG_SHAPE(1, 4), out, &n), CG_OK);
    ck_assert_str_eq(cg_dims_str(out, n), "[0,4]");
    ck_assert_int_eq(cg_broadcast_shape(CG_SHAPE(0), CG_SHAPE(2), out, &n), CG_ERR_SHAPE);
    ck_assert_int_eq(cg_broadcast_shape(CG_SHAPE(2, 3), CG_SHAPE(3, 3), out, &n), CG_ERR_SHAPE);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, dtypes);
    tcase_add_test(tc, creation);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, element_access);
    tcase_add_test(tc, casts);
    tcase_add_test(tc, clone_and_contiguous);
    tcase_add_test(tc, bad_creation);
    tcase_add_test(tc, errors_keep_first_cause);
    tcase_add_test(tc, broadcast_shapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
