/* Row-sparse gradients of embedding weights, and Adam's lazy option. */
#include "testlib.h"

#include <string.h>

static cg_tensor *ids_of(const int64_t *v, int64_t n) { return cg_from_data(CG_INT64, CG_SHAPE(n), v); }

/* loss = sum(embedding(w, ids) * c) for a fixed c: d loss / d w[r] = c * count(r). */
static cg_status embed_backward(cg_tensor *w, const int64_t *ids, int64_t n) {
    cg_tensor *e = cg_embedding(w, ids_of(ids, n));
    cg_tensor *c = cg_full(CG_FLOAT32, CG_SHAPE(n, w->shape[1]), 0.5);
    return cg_backward(cg_sum(cg_mul(e, c), NULL, 0, false));
}

START_TEST(rows_are_tracked) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(6, 3)), true);
    ck_assert_int_eq(embed_backward(w, (int64_t[]){4, 1, 4}, 3), CG_OK);
    int64_t n = -1;
    const int64_t *rows = cg_grad_rows(w, &n);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(rows[0], 4);
    ck_assert_int_eq(rows[1], 1);
    double want[18] = {0, 0, 0, .5, .5, .5, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0};
    ck_assert_tensor_near(cg_grad(w), want, 18, 0);
    /* a second backward adds rows */
    ck_assert_int_eq(embed_backward(w, (int64_t[]){0}, 1), CG_OK);
    cg_grad_rows(w, &n);
    ck_assert_int_eq(n, 3);
    /* zero_grad clears exactly those rows; the gradient is all zero again */
    cg_zero_grad(w);
    ck_assert_ptr_nonnull(cg_grad_rows(w, &n));
    ck_assert_int_eq(n, 0);
    double zero[18] = {0};
    ck_assert_tensor_near(cg_grad(w), zero, 18, 0);
    cg_scope_end(s);
}
END_TEST

START_TEST(dense_use_turns_tracking_off) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(4, 2)), true);
    /* the same weight also used densely (tied weights): no row list */
    cg_tensor *e = cg_embedding(w, ids_of((int64_t[]){2}, 1));
    cg_tensor *l = cg_add(cg_sum(e, NULL, 0, false), cg_sum(cg_mul_scalar(w, 2), NULL, 0, false));
    ck_assert_int_eq(cg_backward(l), CG_OK);
    int64_t n;
    ck_assert_ptr_null(cg_grad_rows(w, &n));
    double want[8] = {2, 2, 2, 2, 3, 3, 2, 2};
    ck_assert_tensor_near(cg_grad(w), want, 8, 0);
    cg_zero_grad(w); /* a full clear makes the gradient trackable again */
    double zero[8] = {0};
    ck_assert_tensor_near(cg_grad(w), zero, 8, 0);
    ck_assert_int_eq(embed_backward(cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(4, 3)), true), (int64_t[]){1}, 1), CG_OK);
    cg_scope_end(s);
}
END_TEST

/* Two steps of Adam on an embedding, rows {0, 1} then {1}. */
static void two_steps(bool lazy, float *out, int64_t *moved_rows) {
    cg_scope *arena = cg_arena_new();
    cg_scope_enter(arena);
    cg_rng r = cg_rng_seeded(3);
    cg_tensor *w = cg_requires_grad_(cg_randn(&r, CG_FLOAT32, CG_SHAPE(5, 3)), true);
    cg_scope_leave(arena);
    float before[15];
    memcpy(before, cg_data_f32(w), sizeof before);
    cg_adam_opts o = cg_adam_torch();
    o.lazy = lazy;
    o.lr = 0.1;
    cg_optim *opt = cg_adam_new(&w, 1, &o);
    ck_assert_ptr_nonnull(opt);
    const int64_t steps[2][2] = {{0, 1}, {1, 1}};
    for (int k = 0; k < 2; k++) {
        cg_scope *s = cg_scope_begin();
        cg_optim_zero_grad(opt);
        ck_assert_int_eq(embed_backward(w, steps[k], 2), CG_OK);
        ck_assert_int_eq(cg_optim_step(opt), CG_OK);
        cg_scope_end(s);
    }
    memcpy(out, cg_data_f32(w), sizeof(float) * 15);
    *moved_rows = 0;
    for (int row = 0; row < 5; row++) *moved_rows += memcmp(before + 3 * row, out + 3 * row, 12) != 0;
    cg_optim_free(opt);
    cg_arena_free(arena);
}

START_TEST(lazy_adam_updates_touched_rows_only) {
    float dense[15], lazy[15];
    int64_t moved_dense, moved_lazy;
    two_steps(false, dense, &moved_dense);
    two_steps(true, lazy, &moved_lazy);
    ck_assert_int_eq(moved_dense, 2); /* rows never touched have zero moments in both */
    ck_assert_int_eq(moved_lazy, 2);
    /* row 1 was touched in both steps: identical; row 0 only in step 1:
     * dense decays its moments and moves it again in step 2, lazy does not */
    ck_assert_int_eq(memcmp(dense + 3, lazy + 3, 12), 0);
    ck_assert_int_ne(memcmp(dense, lazy, 12), 0);
}
END_TEST

START_TEST(sparse_zero_grad_does_not_allocate) {
    cg_scope *arena = cg_arena_new();
    cg_scope_enter(arena);
    cg_tensor *w = cg_requires_grad_(cg_zeros(CG_FLOAT32, CG_SHAPE(1000, 8)), true);
    cg_scope_leave(arena);
    uint64_t after_first = 0;
    for (int k = 0; k < 5; k++) {
        cg_scope *s = cg_scope_begin();
        cg_zero_grad(w);
        ck_assert_int_eq(embed_backward(w, (int64_t[]){k, 999 - k, k}, 3), CG_OK);
        cg_scope_end(s);
        if (k == 0) after_first = cg_heap_allocations();
    }
    ck_assert_uint_eq(cg_heap_allocations(), after_first);
    cg_arena_free(arena);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sparse_grad");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rows_are_tracked);
    tcase_add_test(tc, dense_use_turns_tracking_off);
    tcase_add_test(tc, lazy_adam_updates_touched_rows_only);
    tcase_add_test(tc, sparse_zero_grad_does_not_allocate);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
