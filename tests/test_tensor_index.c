/* tensor/ joining and indexing: concat, stack, chunk, split, index_select,
 * index_add_, gather, scatter_add(_). */
#include "test_tensor_helpers.h"

START_TEST(concat_stack) {
    cg_tensor *a = m23(CG_FLOAT32);
    cg_tensor *b = mk(CG_FLOAT32, VALS(7, 8, 9), CG_SHAPE(1, 3));
    const cg_tensor *ab[] = {a, b};
    cg_tensor *c0 = cg_k_concat(ab, 2, 0);
    ck_assert_shape(c0, 3, 3);
    ck_assert_vals(c0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    /* along the last axis, with a transposed and an empty input */
    const cg_tensor *cols[] = {a, cg_zeros(CG_FLOAT32, CG_SHAPE(2, 0)), cg_k_transpose(mk(CG_FLOAT32, VALS(-1, -2), CG_SHAPE(1, 2)), 0, 1)};
    cg_tensor *c1 = cg_k_concat(cols, 3, -1);
    ck_assert_shape(c1, 2, 4);
    ck_assert_vals(c1, 0, 1, 2, 3, -1, 4, 5, 6, -2);
    const cg_tensor *one[] = {cg_k_flip(a, CG_AXES(1))};
    ck_assert_vals(cg_k_concat(one, 1, 0), 0, 3, 2, 1, 6, 5, 4);
    /* stack adds an axis; negative axes count in the result's rank */
    const cg_tensor *aa[] = {a, cg_k_scalar(CG_MUL, a, 10)};
    cg_tensor *s0 = cg_k_stack(aa, 2, 0);
    ck_assert_shape(s0, 2, 2, 3);
    ck_assert_double_eq(cg_get(s0, IDX(1, 1, 2)), 60);
    cg_tensor *s2 = cg_k_stack(aa, 2, -1);
    ck_assert_shape(s2, 2, 3, 2);
    ck_assert_vals(cg_k_select(s2, 0, 1), 0, 4, 40, 5, 50, 6, 60);
    const cg_tensor *scal[] = {cg_scalar(CG_INT64, 4), cg_scalar(CG_INT64, 5)};
    ck_assert_vals(cg_k_stack(scal, 2, 0), 0, 4, 5);
    const cg_tensor *bad[] = {a, m23(CG_FLOAT64)};
    ck_assert_fails(cg_k_concat(bad, 2, 0), CG_ERR_DTYPE, "cg_concat: tensor 1 is float64, tensor 0 is float32");
    const cg_tensor *bad2[] = {a, b};
    ck_assert_fails(cg_k_concat(bad2, 2, 1), CG_ERR_SHAPE, "cg_concat: tensor 1 has shape [1,3], tensor 0 has [2,3]");
    ck_assert_fails(cg_k_stack(bad2, 2, 0), CG_ERR_SHAPE, "cg_stack: tensor 1 has shape [1,3], tensor 0 has [2,3]");
    ck_assert_fails(cg_k_concat(ab, 2, 2), CG_ERR_INDEX, "cg_concat: axis 2");
    ck_assert_fails(cg_k_concat(ab, 0, 0), CG_ERR_VALUE, "needs at least one tensor");
    const cg_tensor *withnull[] = {a, NULL};
    ck_assert_fails(cg_k_concat(withnull, 2, 0), CG_ERR_NULL, "cg_concat");
    ck_assert_fails(cg_k_stack(withnull, 2, 0), CG_ERR_NULL, "cg_stack");
}
END_TEST

START_TEST(chunk_split) {
    cg_tensor *x = cg_k_reshape(cg_arange(CG_FLOAT32, 0, 10, 1), CG_SHAPE(5, 2));
    cg_tensor *parts[4];
    ck_assert_int_eq(cg_k_chunk(x, 3, 0, parts), 3); /* sizes 2, 2, 1 like torch.chunk */
    ck_assert_shape(parts[0], 2, 2);
    ck_assert_shape(parts[2], 1, 2);
    ck_assert_ptr_eq(parts[1]->storage, x->storage);
    ck_assert_vals(parts[1], 0, 4, 5, 6, 7);
    ck_assert_vals(parts[2], 0, 8, 9);
    ck_assert_int_eq(cg_k_chunk(cg_arange(CG_FLOAT32, 0, 6, 1), 4, 0, parts), 3); /* ceil(6/4) = 2 each */
    ck_assert_int_eq(cg_k_chunk(x, 2, -1, parts), 2);
    ck_assert_vals(parts[1], 0, 1, 3, 5, 7, 9);
    /* the four gates of an LSTM step: chunk of a [B, 4H] row along axis 1 */
    cg_tensor *g = cg_k_reshape(cg_arange(CG_FLOAT32, 0, 16, 1), CG_SHAPE(2, 8));
    ck_assert_int_eq(cg_k_chunk(g, 4, 1, parts), 4);
    ck_assert_vals(parts[3], 0, 6, 7, 14, 15);
    ck_assert_int_eq(cg_k_chunk(cg_zeros(CG_FLOAT32, CG_SHAPE(0, 2)), 2, 0, parts), 2);
    ck_assert_shape(parts[1], 0, 2);
    cg_tensor *sp[3];
    ck_assert_int_eq(cg_k_split(x, CG_SHAPE(1, 0, 4), 0, sp), CG_OK);
    ck_assert_shape(sp[1], 0, 2);
    ck_assert_vals(sp[0], 0, 0, 1);
    ck_assert_double_eq(cg_get(sp[2], IDX(3, 1)), 9);
    ck_assert_int_eq(cg_k_split(x, CG_SHAPE(2, 2), 0, sp), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "cg_split: sizes sum to 4 but axis 0 of [5,2] has 5");
    ck_assert_int_eq(cg_k_split(x, CG_SHAPE(6, -1), 0, sp), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "cg_split: size -1 is negative");
    ck_assert_int_eq(cg_k_split(x, CG_SHAPE(5), 2, sp), CG_ERR_INDEX);
    ck_assert_error(CG_ERR_INDEX, "cg_split: axis 2");
    ck_assert_int_eq(cg_k_chunk(x, 0, 0, parts), -1);
    ck_assert_error(CG_ERR_VALUE, "cg_chunk: number of chunks 0 must be > 0");
    ck_assert_int_eq(cg_k_chunk(x, 2, 5, parts), -1);
    ck_assert_error(CG_ERR_INDEX, "cg_chunk: axis 5");
    ck_assert_int_eq(cg_k_chunk(NULL, 2, 0, parts), -1);
    ck_assert_error(CG_ERR_NULL, "cg_chunk");
}
END_TEST

START_TEST(index_select) {
    cg_tensor *emb = cg_k_reshape(cg_arange(CG_FLOAT32, 0, 12, 1), CG_SHAPE(4, 3));
    cg_tensor *ids = mk(CG_INT64, VALS(3, 0, 3), CG_SHAPE(3));
    cg_tensor *rows = cg_k_index_select(emb, 0, ids);
    ck_assert_shape(rows, 3, 3);
    ck_assert_vals(rows, 0, 9, 10, 11, 0, 1, 2, 9, 10, 11);
    ck_assert_vals(cg_k_index_select(emb, 1, mk(CG_INT64, VALS(2, 0), CG_SHAPE(2))), 0, 2, 0, 5, 3, 8, 6, 11, 9);
    /* strided source and strided (flipped) indices */
    cg_tensor *embt = cg_k_transpose(emb, 0, 1); /* [3,4] */
    ck_assert_vals(cg_k_index_select(embt, 0, cg_k_flip(mk(CG_INT64, VALS(0, 2), CG_SHAPE(2)), CG_AXES(0))), 0, 2, 5,
                   8, 11, 0, 3, 6, 9);
    ck_assert_vals(cg_k_index_select(emb, 0, cg_k_slice(ids, 0, 0, 3, 2)), 0, 9, 10, 11, 9, 10, 11);
    ck_assert_shape(cg_k_index_select(emb, 0, cg_zeros(CG_INT64, CG_SHAPE(0))), 0, 3);
    cg_tensor *i64 = cg_k_index_select(m23(CG_INT64), 1, mk(CG_INT64, VALS(1), CG_SHAPE(1)));
    ck_assert_vals(i64, 0, 2, 5);
    ck_assert_fails(cg_k_index_select(emb, 0, mk(CG_INT64, VALS(1, 4), CG_SHAPE(2))), CG_ERR_INDEX,
                    "cg_index_select: index 4 at position 1 is out of range [0, 4)");
    ck_assert_fails(cg_k_index_select(emb, 0, mk(CG_INT64, VALS(-1), CG_SHAPE(1))), CG_ERR_INDEX, "index -1");
    ck_assert_fails(cg_k_index_select(emb, 0, mk(CG_FLOAT32, VALS(1), CG_SHAPE(1))), CG_ERR_DTYPE,
                    "cg_index_select: indices must be int64, got float32");
    ck_assert_fails(cg_k_index_select(emb, 0, cg_zeros(CG_INT64, CG_SHAPE(1, 1))), CG_ERR_SHAPE, "must be 1-D, got [1,1]");
    ck_assert_fails(cg_k_index_select(emb, 2, ids), CG_ERR_INDEX, "cg_index_select: axis 2");
    ck_assert_fails(cg_k_index_select(emb, 0, NULL), CG_ERR_NULL, "cg_index_select");
}
END_TEST

START_TEST(index_add) {
    /* repeated ids accumulate (the embedding backward) */
    cg_tensor *dst = cg_zeros(CG_FLOAT32, CG_SHAPE(4, 2));
    cg_tensor *ids = mk(CG_INT64, VALS(3, 0, 3), CG_SHAPE(3));
    cg_tensor *src = mk(CG_FLOAT32, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(3, 2));
    ck_assert_ptr_eq(cg_k_index_add_(dst, 0, ids, src), dst);
    ck_assert_vals(dst, 0, 3, 4, 0, 0, 0, 0, 6, 8);
    /* the general path: float64, axis 1, strided destination */
    cg_tensor *d64 = cg_zeros(CG_FLOAT64, CG_SHAPE(3, 2));
    cg_k_index_add_(cg_k_transpose(d64, 0, 1), 1, mk(CG_INT64, VALS(2, 2), CG_SHAPE(2)),
                    mk(CG_FLOAT64, VALS(1, 10, 100, 1000), CG_SHAPE(2, 2)));
    ck_assert_vals(d64, 0, 0, 0, 0, 0, 11, 1100);
    cg_tensor *di = cg_zeros(CG_INT64, CG_SHAPE(2));
    cg_k_index_add_(di, 0, mk(CG_INT64, VALS(1, 1, 0), CG_SHAPE(3)), mk(CG_INT64, VALS(5, 6, 7), CG_SHAPE(3)));
    ck_assert_vals(di, 0, 7, 11);
    ck_assert_fails(cg_k_index_add_(dst, 0, ids, cg_zeros(CG_FLOAT32, CG_SHAPE(2, 2))), CG_ERR_SHAPE,
                    "cg_index_add_: source float32 [2,2] does not fit destination float32 [4,2] with 3 indices on axis 0");
    ck_assert_fails(cg_k_index_add_(dst, 0, ids, cg_zeros(CG_FLOAT64, CG_SHAPE(3, 2))), CG_ERR_SHAPE, "float64 [3,2]");
    ck_assert_fails(cg_k_index_add_(dst, 0, mk(CG_INT64, VALS(0, 9, 1), CG_SHAPE(3)), src), CG_ERR_INDEX,
                    "cg_index_add_: index 9 at position 1");
    ck_assert_fails(cg_k_index_add_(dst, 0, ids, NULL), CG_ERR_NULL, "cg_index_add_");
}
END_TEST

START_TEST(gather_scatter) {
    cg_tensor *x = mk(CG_FLOAT32, VALS(1, 2, 3, 4, 5, 6), CG_SHAPE(2, 3));
    /* axis 1: out[i][j] = x[i][idx[i][j]] (picking class scores) */
    cg_tensor *idx = mk(CG_INT64, VALS(2, 0, 1, 1), CG_SHAPE(2, 2));
    ck_assert_vals(cg_k_gather(x, 1, idx), 0, 3, 1, 5, 5);
    /* axis 0: out[i][j] = x[idx[i][j]][j]; idx may be smaller than x */
    cg_tensor *idx0 = mk(CG_INT64, VALS(1, 0, 1), CG_SHAPE(1, 3));
    ck_assert_vals(cg_k_gather(x, 0, idx0), 0, 4, 2, 6);
    ck_assert_vals(cg_k_gather(cg_k_transpose(x, 0, 1), -1, cg_k_transpose(idx0, 0, 1)), 0, 4, 2, 6);
    cg_tensor *ig = cg_k_gather(m23(CG_INT64), 1, mk(CG_INT64, VALS(0, 0), CG_SHAPE(2, 1)));
    ck_assert_vals(ig, 0, 1, 4);
    /* scatter_add is the adjoint: repeated targets accumulate */
    cg_tensor *dst = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3));
    cg_tensor *src = mk(CG_FLOAT32, VALS(10, 20, 30, 40), CG_SHAPE(2, 2));
    ck_assert_ptr_eq(cg_k_scatter_add_(dst, 1, idx, src), dst);
    ck_assert_vals(dst, 0, 20, 0, 10, 0, 70, 0);
    cg_tensor *base = m23(CG_FLOAT64);
    cg_tensor *sc = cg_k_scatter_add(base, 0, idx0, mk(CG_FLOAT64, VALS(1, 1, 1, 9, 9, 9), CG_SHAPE(2, 3)));
    ck_assert_vals(sc, 0, 1, 3, 3, 5, 5, 7);
    ck_assert_vals(base, 0, 1, 2, 3, 4, 5, 6); /* out of place leaves x alone */
    ck_assert_fails(cg_k_gather(x, 1, mk(CG_INT64, VALS(3), CG_SHAPE(1, 1))), CG_ERR_INDEX,
                    "cg_gather: index 3 at position 0 is out of range [0, 3)");
    ck_assert_fails(cg_k_gather(x, 1, mk(CG_INT64, VALS(0, 1), CG_SHAPE(2))), CG_ERR_SHAPE,
                    "cg_gather: index [2] must have the rank of [2,3]");
    ck_assert_fails(cg_k_gather(x, 1, cg_zeros(CG_INT64, CG_SHAPE(3, 1))), CG_ERR_SHAPE,
                    "cg_gather: index [3,1] is larger than [2,3] in dim 0");
    ck_assert_fails(cg_k_gather(x, 0, mk(CG_FLOAT32, VALS(0), CG_SHAPE(1, 1))), CG_ERR_DTYPE, "must be int64");
    ck_assert_fails(cg_k_scatter_add_(dst, 1, idx, cg_zeros(CG_FLOAT32, CG_SHAPE(2, 1))), CG_ERR_SHAPE,
                    "cg_scatter_add_: source [2,1] is smaller than index [2,2] in dim 1");
    ck_assert_fails(cg_k_scatter_add_(dst, 1, idx, cg_zeros(CG_FLOAT64, CG_SHAPE(2, 2))), CG_ERR_SHAPE,
                    "must match destination float32 [2,3] in rank and dtype");
    ck_assert_fails(cg_k_scatter_add_(dst, 1, idx, cg_zeros(CG_FLOAT32, CG_SHAPE(4))), CG_ERR_SHAPE, "rank");
    ck_assert_fails(cg_k_scatter_add(x, 3, idx, src), CG_ERR_INDEX, "cg_scatter_add_: axis 3");
    ck_assert_fails(cg_k_gather(NULL, 0, idx), CG_ERR_NULL, "cg_gather");
    ck_assert_fails(cg_k_scatter_add(NULL, 0, idx, src), CG_ERR_NULL, "cg_scatter_add");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_index");
    TCase *tc = tcase_create("index");
    tcase_add_test(tc, concat_stack);
    tcase_add_test(tc, chunk_split);
    tcase_add_test(tc, index_select);
    tcase_add_test(tc, index_add);
    tcase_add_test(tc, gather_scatter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
