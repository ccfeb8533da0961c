/* tensor/ views: reshape/view, transpose, permute, slice, select, expand,
 * squeeze/unsqueeze, flip, contiguous. Views share storage; nothing is copied
 * unless the function says so. */
#include "test_tensor_helpers.h"

static cg_tensor *iota(cg_dtype dt, int64_t n) { return cg_arange(dt, 0, (double)n, 1); }

START_TEST(reshape_views_when_possible) {
    cg_tensor *x = iota(CG_FLOAT32, 24);
    cg_tensor *r = cg_k_reshape(x, CG_SHAPE(2, -1, 4));
    ck_assert_shape(r, 2, 3, 4);
    ck_assert_ptr_eq(r->storage, x->storage);
    ck_assert_double_eq(cg_get(r, IDX(1, 2, 3)), 23);
    /* a transposed tensor's merged dims are not viewable: reshape copies, view fails */
    cg_tensor *t = cg_k_transpose(cg_k_reshape(x, CG_SHAPE(4, 6)), 0, 1); /* [6,4] */
    cg_tensor *rc = cg_k_reshape(t, CG_SHAPE(24));
    ck_assert_ptr_ne(rc->storage, x->storage);
    ck_assert(cg_is_contiguous(rc));
    ck_assert_vals(cg_k_slice(rc, 0, 0, 6, 1), 0, 0, 6, 12, 18, 1, 7);
    ck_assert_fails(cg_k_view(t, CG_SHAPE(24)), CG_ERR_SHAPE, "cg_view: a tensor of shape [6,4]");
    /* splitting one dim of a transposed tensor is a view */
    cg_tensor *sv = cg_k_view(t, CG_SHAPE(2, 3, 4));
    ck_assert_ptr_eq(sv->storage, x->storage);
    ck_assert_double_eq(cg_get(sv, IDX(1, 0, 2)), cg_get(t, IDX(3, 2)));
    /* a sliced-with-step row can be viewed with extra size-1 dims */
    cg_tensor *st = cg_k_slice(x, 0, 1, 24, 5); /* 1, 6, 11, 16, 21 */
    cg_tensor *sv2 = cg_k_view(st, CG_SHAPE(1, 5, 1));
    ck_assert_ptr_eq(sv2->storage, x->storage);
    ck_assert_vals(sv2, 0, 1, 6, 11, 16, 21);
    ck_assert_fails(cg_k_view(st, CG_SHAPE(5, 2)), CG_ERR_SHAPE, "(10 elements)");
    /* 0-d and size-0 */
    cg_tensor *s = cg_scalar(CG_FLOAT64, 4);
    cg_tensor *s1 = cg_k_view(s, CG_SHAPE(1, 1));
    ck_assert_shape(s1, 1, 1);
    ck_assert_double_eq(cg_item(cg_k_reshape(s1, NULL, 0)), 4);
    cg_tensor *e = cg_zeros(CG_FLOAT32, CG_SHAPE(0, 3));
    ck_assert_shape(cg_k_reshape(e, CG_SHAPE(3, 0, 5)), 3, 0, 5);
    ck_assert_fails(cg_k_reshape(e, CG_SHAPE(-1, 0)), CG_ERR_SHAPE, "cg_reshape: cannot reshape [0,3]");
    ck_assert_fails(cg_k_reshape(x, CG_SHAPE(-1, -1)), CG_ERR_SHAPE, "only one size may be -1");
    ck_assert_fails(cg_k_reshape(x, CG_SHAPE(5, -1)), CG_ERR_SHAPE, "cannot reshape [24]");
    ck_assert_fails(cg_k_reshape(x, CG_SHAPE(-2, 12)), CG_ERR_SHAPE, "negative size");
    ck_assert_fails(cg_k_view(NULL, CG_SHAPE(1)), CG_ERR_NULL, "cg_view");
}
END_TEST

START_TEST(transpose_permute) {
    cg_tensor *x = cg_k_reshape(iota(CG_INT64, 24), CG_SHAPE(2, 3, 4));
    cg_tensor *t = cg_k_transpose(x, 0, -1);
    ck_assert_shape(t, 4, 3, 2);
    ck_assert_int_eq(t->strides[0], 1);
    ck_assert_int_eq(t->strides[2], 12);
    ck_assert_ptr_eq(t->storage, x->storage);
    ck_assert_double_eq(cg_get(t, IDX(3, 1, 1)), 12 + 4 + 3);
    cg_tensor *p = cg_k_permute(x, CG_AXES(1, 2, 0));
    ck_assert_shape(p, 3, 4, 2);
    ck_assert_double_eq(cg_get(p, IDX(2, 1, 1)), 12 + 8 + 1);
    ck_assert_vals(cg_k_select(cg_k_select(p, 0, 0), 0, 3), 0, 3, 15);
    ck_assert_int_eq(cg_k_transpose(cg_scalar(CG_FLOAT32, 1), 0, -1)->ndim, 0);
    ck_assert_fails(cg_k_transpose(x, 0, 3), CG_ERR_INDEX, "cg_transpose: axis 3 is out of range for a tensor with 3 dims");
    ck_assert_fails(cg_k_permute(x, CG_AXES(0, 1)), CG_ERR_SHAPE, "cg_permute: 2 dims given for a tensor of shape [2,3,4]");
    ck_assert_fails(cg_k_permute(x, CG_AXES(0, 1, 1)), CG_ERR_SHAPE, "appears twice");
    ck_assert_fails(cg_k_permute(x, CG_AXES(0, 1, -4)), CG_ERR_INDEX, "axis -4");
}
END_TEST

START_TEST(slice_select) {
    cg_tensor *x = iota(CG_FLOAT32, 10);
    ck_assert_vals(cg_k_slice(x, 0, 2, 9, 3), 0, 2, 5, 8);
    ck_assert_vals(cg_k_slice(x, 0, -3, 100, 1), 0, 7, 8, 9);  /* Python bounds */
    ck_assert_vals(cg_k_slice(x, 0, -100, 2, 1), 0, 0, 1);
    ck_assert_int_eq(cg_numel(cg_k_slice(x, 0, 7, 3, 1)), 0); /* empty, not an error */
    ck_assert_int_eq(cg_numel(cg_k_slice(x, 0, 20, 30, 1)), 0);
    cg_tensor *m = cg_k_reshape(iota(CG_FLOAT64, 12), CG_SHAPE(3, 4));
    cg_tensor *c = cg_k_slice(m, 1, 1, 4, 2); /* columns 1, 3 */
    ck_assert_shape(c, 3, 2);
    ck_assert_int_eq(c->strides[1], 2);
    ck_assert_ptr_eq(c->storage, m->storage);
    ck_assert_vals(c, 0, 1, 3, 5, 7, 9, 11);
    /* a slice of a slice, then writes show through to the base */
    cg_tensor *cc = cg_k_slice(c, 0, 1, 3, 1);
    ck_assert_int_eq(cg_set(cc, IDX(1, 1), -1), CG_OK);
    ck_assert_double_eq(cg_get(m, IDX(2, 3)), -1);
    ck_assert_vals(cg_k_select(m, 1, -1), 0, 3, 7, -1);
    ck_assert_vals(cg_k_select(m, 0, 2), 0, 8, 9, 10, -1);
    cg_tensor *s = cg_k_select(cg_k_select(m, 0, 0), 0, 2);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_double_eq(cg_item(s), 2);
    ck_assert_fails(cg_k_slice(x, 0, 0, 5, 0), CG_ERR_VALUE, "cg_slice: step 0 must be > 0");
    ck_assert_fails(cg_k_slice(x, 1, 0, 5, 1), CG_ERR_INDEX, "cg_slice: axis 1");
    ck_assert_fails(cg_k_select(m, 0, 3), CG_ERR_INDEX, "cg_select: index 3 is out of range for dim 0 of shape [3,4]");
    ck_assert_fails(cg_k_select(m, 1, -5), CG_ERR_INDEX, "index -5");
    ck_assert_fails(cg_k_select(cg_scalar(CG_FLOAT32, 1), 0, 0), CG_ERR_INDEX, "cg_select");
}
END_TEST

START_TEST(expand_squeeze_unsqueeze) {
    cg_tensor *col = mk(CG_FLOAT32, VALS(1, 2, 3), CG_SHAPE(3, 1));
    cg_tensor *e = cg_k_expand(col, CG_SHAPE(2, 3, 4));
    ck_assert_shape(e, 2, 3, 4);
    ck_assert_int_eq(e->strides[0], 0);
    ck_assert_int_eq(e->strides[2], 0);
    ck_assert_ptr_eq(e->storage, col->storage);
    ck_assert_double_eq(cg_get(e, IDX(1, 2, 3)), 3);
    ck_assert(!cg_is_contiguous(e));
    ck_assert_vals(cg_k_contiguous(cg_k_expand(col, CG_SHAPE(-1, 2))), 0, 1, 1, 2, 2, 3, 3);
    ck_assert_shape(cg_k_expand(cg_scalar(CG_FLOAT32, 5), CG_SHAPE(2, 0)), 2, 0);
    ck_assert_shape(cg_k_expand(col, CG_SHAPE(3, 0)), 3, 0);
    ck_assert_fails(cg_k_expand(col, CG_SHAPE(4, 1)), CG_ERR_SHAPE, "cg_expand: cannot expand [3,1] to [4,1]");
    ck_assert_fails(cg_k_expand(col, CG_SHAPE(3)), CG_ERR_SHAPE, "cg_expand");
    cg_tensor *sq = cg_k_squeeze(col, -1);
    ck_assert_shape(sq, 3);
    ck_assert_vals(sq, 0, 1, 2, 3);
    ck_assert_fails(cg_k_squeeze(col, 0), CG_ERR_SHAPE, "cg_squeeze: dim 0 of shape [3,1] has size 3, not 1");
    cg_tensor *u = cg_k_unsqueeze(sq, 0);
    ck_assert_shape(u, 1, 3);
    ck_assert_shape(cg_k_unsqueeze(sq, -1), 3, 1);
    ck_assert(cg_is_contiguous(cg_k_unsqueeze(sq, 1)));
    ck_assert_shape(cg_k_unsqueeze(cg_scalar(CG_INT64, 1), 0), 1);
    ck_assert_fails(cg_k_unsqueeze(sq, 3), CG_ERR_INDEX, "cg_unsqueeze: dim 3 is out of range for shape [3]");
    cg_tensor *full = cg_zeros(CG_FLOAT32, CG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1));
    ck_assert_fails(cg_k_unsqueeze(full, 0), CG_ERR_INDEX, "cg_unsqueeze");
}
END_TEST

START_TEST(flip_negative_strides) {
    cg_tensor *m = cg_k_reshape(iota(CG_FLOAT32, 6), CG_SHAPE(2, 3));
    cg_tensor *f = cg_k_flip(m, CG_AXES(1));
    ck_assert_int_eq(f->strides[1], -1);
    ck_assert_ptr_eq(f->storage, m->storage);
    ck_assert_vals(f, 0, 2, 1, 0, 5, 4, 3);
    cg_tensor *ff = cg_k_flip(m, CG_AXES(0, -1));
    ck_assert_vals(ff, 0, 5, 4, 3, 2, 1, 0);
    ck_assert_vals(cg_k_flip(ff, CG_AXES(0, 1)), 0, 0, 1, 2, 3, 4, 5);
    /* views of flipped views, a copy of them, reshaping them */
    ck_assert_vals(cg_k_slice(ff, 1, 0, 3, 2), 0, 5, 3, 2, 0);
    ck_assert_vals(cg_k_transpose(f, 0, 1), 0, 2, 5, 1, 4, 0, 3);
    cg_tensor *fc = cg_k_contiguous(f);
    ck_assert_ptr_ne(fc, f);
    ck_assert_vals(fc, 0, 2, 1, 0, 5, 4, 3);
    ck_assert_vals(cg_k_reshape(ff, CG_SHAPE(3, 2)), 0, 5, 4, 3, 2, 1, 0);
    ck_assert_int_eq(cg_numel(cg_k_flip(cg_zeros(CG_FLOAT32, CG_SHAPE(0, 2)), CG_AXES(0))), 0);
    ck_assert_fails(cg_k_flip(m, CG_AXES(1, 1)), CG_ERR_SHAPE, "cg_flip: dim 1 appears twice");
    ck_assert_fails(cg_k_flip(m, CG_AXES(2)), CG_ERR_INDEX, "cg_flip: axis 2");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_views");
    TCase *tc = tcase_create("views");
    tcase_add_test(tc, reshape_views_when_possible);
    tcase_add_test(tc, transpose_permute);
    tcase_add_test(tc, slice_select);
    tcase_add_test(tc, expand_squeeze_unsqueeze);
    tcase_add_test(tc, flip_negative_strides);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
