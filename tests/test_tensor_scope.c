/* tensor/ scopes and arenas: tensors live in the current scope, a repeated
 * scoped step stops calling malloc, cg_scope_keep moves a result out, and
 * misuse is reported, not crashed on. */
#include "test_tensor_helpers.h"

/* One round of a small recurrent-style computation. */
static double step(const cg_tensor *w, const cg_tensor *x) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *h = cg_k_unary(CG_TANH, cg_k_matmul(x, w));
    cg_tensor *big = cg_zeros(CG_FLOAT32, CG_SHAPE(300, 300)); /* a large block too */
    cg_tensor *r = cg_k_reduce(CG_SUM, cg_k_binary(CG_ADD, h, cg_k_slice(big, 0, 0, 1, 1)), NULL, 0, false);
    double v = cg_item(r);
    cg_scope_end(s);
    return v;
}

START_TEST(no_malloc_after_first_round) {
    cg_rng rng = cg_rng_seeded(1);
    cg_scope *arena = cg_arena_new();
    cg_scope_enter(arena);
    cg_tensor *w = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(64, 300));
    cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(8, 64));
    cg_scope_leave(arena);
    double first = step(w, x);
    uint64_t n0 = cg_heap_allocations();
    size_t b0 = cg_heap_bytes();
    for (int i = 0; i < 50; i++) ck_assert_double_eq(step(w, x), first);
    ck_assert_uint_eq(cg_heap_allocations(), n0);
    ck_assert_uint_eq(cg_heap_bytes(), b0);
    /* the result is a real number, not a constant */
    ck_assert(isfinite(first) && first != 0);
    cg_arena_free(arena);
    ck_assert_int_eq(cg_last_status(), CG_OK);
}
END_TEST

/* Requests of every size class come back from the cache: small ones, large
 * ones, and large ones that round up to exactly a standard block's size
 * (1 MiB), which are cached with the standard blocks. */
START_TEST(every_size_is_reused) {
    const size_t sizes[] = {100, 300000, 1000000, 1048576, 3000000};
    uint64_t n0 = 0;
    for (int round = 0; round < 4; round++) {
        cg_scope *s = cg_scope_begin();
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            for (int j = 0; j < 2; j++) ck_assert_ptr_nonnull(cg_scope_alloc(sizes[k], false));
        cg_scope_end(s);
        if (round == 0) n0 = cg_heap_allocations();
    }
    ck_assert_uint_eq(cg_heap_allocations(), n0);
}
END_TEST

START_TEST(keep_moves_results_out) {
    cg_scope *outer = cg_scope_begin();
    cg_tensor *kept = NULL;
    for (int i = 0; i < 3; i++) {
        cg_scope *inner = cg_scope_begin();
        ck_assert_ptr_eq(cg_scope_current(), inner);
        cg_tensor *t = cg_k_transpose(mk(CG_FLOAT32, VALS(1, 2, 3, 4), CG_SHAPE(2, 2)), 0, 1);
        kept = cg_scope_keep(cg_k_scalar(CG_ADD, t, i));
        ck_assert_ptr_eq(kept->scope, outer);
        ck_assert(cg_is_contiguous(kept));
        cg_scope_end(inner);
        /* scribble over the freed blocks: the kept copy must not care */
        cg_scope *junk = cg_scope_begin();
        cg_full(CG_FLOAT32, CG_SHAPE(64, 64), -7);
        cg_scope_end(junk);
        ck_assert_vals(kept, 0, 1 + i, 3 + i, 2 + i, 4 + i);
    }
    ck_assert_ptr_eq(cg_scope_current(), outer);
    cg_scope_end(outer);
    /* outside any scope keep returns its argument */
    cg_tensor *root = cg_zeros(CG_FLOAT32, CG_SHAPE(2));
    ck_assert_ptr_eq(cg_scope_keep(root), root);
    ck_assert_fails(cg_scope_keep(NULL), CG_ERR_NULL, "cg_scope_keep");
}
END_TEST

START_TEST(arenas) {
    cg_scope *a = cg_arena_new();
    cg_scope *before = cg_scope_current();
    ck_assert_ptr_ne(before, a); /* not the target until entered */
    cg_scope *s = cg_scope_begin();
    cg_scope_enter(a);
    ck_assert_ptr_eq(cg_scope_current(), a);
    cg_tensor *param = cg_ones(CG_FLOAT64, CG_SHAPE(3));
    ck_assert_ptr_eq(param->scope, a);
    ck_assert_ptr_eq(param->storage->scope, a);
    cg_scope_leave(a);
    ck_assert_ptr_eq(cg_scope_current(), s);
    cg_scope_end(s);
    /* the parameter outlives the scope it was created under */
    cg_scope *junk = cg_scope_begin();
    cg_full(CG_FLOAT64, CG_SHAPE(1000), 5);
    cg_scope_end(junk);
    ck_assert_vals(param, 0, 1, 1, 1);
    /* raw allocations: aligned, zeroed on request */
    char *p = cg_arena_alloc(a, 100, true);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    for (int i = 0; i < 100; i++) ck_assert_int_eq(p[i], 0);
    double *big = cg_arena_alloc(a, (size_t)1 << 20, true); /* bigger than a standard block */
    ck_assert_ptr_nonnull(big);
    ck_assert_double_eq(big[(1 << 17) - 1], 0);
    cg_scope *s2 = cg_scope_begin();
    ck_assert_uint_eq((uintptr_t)cg_scope_alloc(3, false) % 64, 0);
    cg_scope_end(s2);
    /* a redirect makes any live scope the target for a while */
    cg_scope *prev = cg_scope_redirect(a);
    ck_assert_ptr_eq(cg_zeros(CG_FLOAT32, CG_SHAPE(1))->scope, a);
    ck_assert_ptr_eq(cg_scope_redirect(prev), a);
    ck_assert_ptr_eq(cg_scope_current(), prev);
    cg_arena_free(a);
    ck_assert_int_eq(cg_last_status(), CG_OK);
}
END_TEST

START_TEST(misuse_is_an_error) {
    cg_scope *outer = cg_scope_begin();
    cg_scope *inner = cg_scope_begin();
    cg_scope_end(outer); /* out of order */
    ck_assert_error(CG_ERR_STATE, "cg_scope_end: scopes must end innermost first");
    ck_assert_ptr_eq(cg_scope_current(), inner); /* nothing was closed */
    cg_scope_end(inner);
    cg_scope_end(outer);
    ck_assert_int_eq(cg_last_status(), CG_OK);
    cg_scope_end(NULL);
    ck_assert_error(CG_ERR_STATE, "cg_scope_end: not an open scope");
    cg_scope *a = cg_arena_new();
    cg_scope_end(a); /* an arena is not a scope */
    ck_assert_error(CG_ERR_STATE, "cg_scope_end");
    cg_scope_leave(a);
    ck_assert_error(CG_ERR_STATE, "cg_scope_leave: the arena is not the innermost entered one");
    cg_scope_enter(a);
    cg_scope_enter(a);
    ck_assert_error(CG_ERR_STATE, "cg_scope_enter: not a free-standing arena (or already entered)");
    cg_arena_free(a);
    ck_assert_error(CG_ERR_STATE, "cg_arena_free: not a free-standing arena, or still entered");
    cg_scope *s = cg_scope_begin();
    cg_scope_leave(a); /* a scope opened after entering: the arena is not innermost */
    ck_assert_error(CG_ERR_STATE, "cg_scope_leave");
    cg_scope_end(s);
    cg_scope_leave(a);
    ck_assert_int_eq(cg_last_status(), CG_OK);
    cg_scope *s3 = cg_scope_begin();
    cg_scope_enter(s3); /* a scope is not an arena */
    ck_assert_error(CG_ERR_STATE, "cg_scope_enter");
    cg_scope_end(s3);
    cg_arena_free(a);
    cg_arena_free(NULL); /* like free(NULL) */
    ck_assert_int_eq(cg_last_status(), CG_OK);
}
END_TEST

/* A recycling pass: bytes handed back go to the next tensor of exactly
 * their size made in the pass's scope, newest first; views, partial
 * tensors, other scopes' tensors and anything outside a pass are refused;
 * ending the scope ends the pass. */
START_TEST(recycled_bytes) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *a = cg_zeros(CG_FLOAT32, CG_SHAPE(32, 90)), *b = cg_zeros(CG_FLOAT32, CG_SHAPE(32, 90));
    ck_assert(!cg_scope_recycle(a)); /* no pass yet */
    uint64_t before = cg_alloc_serial();
    cg_scope_recycle_begin();
    ck_assert(cg_scope_recycle(a));
    ck_assert(cg_scope_recycle(b));
    ck_assert(!cg_scope_recycle(b)); /* once */
    ck_assert(!cg_scope_recycle(cg_k_transpose(a, 0, 1)));           /* not contiguous */
    ck_assert(!cg_scope_recycle(cg_k_slice(cg_ones(CG_FLOAT32, CG_SHAPE(8, 4)), 0, 0, 4, 1))); /* part of its bytes */
    ck_assert(!cg_scope_recycle(cg_k_select(cg_ones(CG_FLOAT32, CG_SHAPE(8, 4)), 0, 3)));      /* offset */
    cg_tensor *other = cg_zeros(CG_FLOAT32, CG_SHAPE(4)), *c, *d, *e;
    cg_scope *inner = cg_scope_begin();
    ck_assert(!cg_scope_recycle(cg_zeros(CG_FLOAT32, CG_SHAPE(4)))); /* made in another scope */
    c = cg_empty(CG_FLOAT32, CG_SHAPE(90, 32));                        /* made in another scope: new bytes */
    ck_assert_ptr_ne(cg_data(c), cg_data(a));
    ck_assert_ptr_ne(cg_data(c), cg_data(b));
    cg_scope_end(inner);
    c = cg_empty(CG_FLOAT32, CG_SHAPE(90, 32)); /* the same size: b's bytes, then a's, then new ones */
    d = cg_full(CG_FLOAT32, CG_SHAPE(2880), 7);
    e = cg_empty(CG_FLOAT32, CG_SHAPE(32, 90));
    ck_assert_ptr_eq(cg_data(c), cg_data(b));
    ck_assert_ptr_eq(cg_data(d), cg_data(a));
    ck_assert_ptr_ne(cg_data(e), cg_data(a));
    ck_assert_ptr_ne(cg_data(e), cg_data(b));
    ck_assert_double_eq(cg_item(cg_k_reduce(CG_SUM, d, NULL, 0, false)), 7 * 2880); /* written in full */
    ck_assert(c->storage->serial > before && e->storage->serial > c->storage->serial);
    ck_assert(cg_scope_recycle(other));
    cg_tensor *f = cg_empty(CG_FLOAT32, CG_SHAPE(2)); /* another size: not other's bytes */
    ck_assert_ptr_ne(cg_data(f), cg_data(other));
    cg_scope_recycle_end();
    ck_assert(!cg_scope_recycle(e));
    ck_assert_ptr_ne(cg_data(cg_empty(CG_FLOAT32, CG_SHAPE(4))), cg_data(other)); /* the pass dropped it */
    cg_scope_recycle_begin();
    cg_scope_end(s); /* ends the pass */
    ck_assert(!cg_scope_recycle(cg_zeros(CG_FLOAT32, CG_SHAPE(4))));
}
END_TEST

START_TEST(trim_and_cleanup) {
    cg_scope *s = cg_scope_begin();
    cg_zeros(CG_FLOAT32, CG_SHAPE(1 << 20));
    cg_scope_end(s);
    size_t cached = cg_heap_bytes();
    cg_scope_trim();
    ck_assert_uint_lt(cg_heap_bytes(), cached);
    /* cleanup closes forgotten scopes and releases the root arena */
    cg_zeros(CG_FLOAT32, CG_SHAPE(10));
    cg_scope_begin();
    cg_scope_begin();
    cg_cleanup();
    ck_assert_uint_eq(cg_heap_bytes(), 0);
    ck_assert_vals(cg_ones(CG_FLOAT32, CG_SHAPE(2)), 0, 1, 1); /* usable again */
}
END_TEST

static int g_begins, g_ends;
static void hook_begin(cg_scope *s, uintptr_t *slot) {
    (void)s;
    *slot = (uintptr_t)++g_begins;
}
static void hook_end(cg_scope *s, uintptr_t *slot) {
    (void)s;
    g_ends += (int)*slot; /* sees the word its begin hook stored */
}

START_TEST(hooks) {
    cg_scope_set_hooks(hook_begin, hook_end);
    cg_scope *outer = cg_scope_begin(); /* slot 1 */
    cg_scope *inner = cg_scope_begin(); /* slot 2 */
    cg_scope_end(inner);
    ck_assert_int_eq(g_ends, 2);
    cg_scope *a = cg_arena_new();
    ck_assert_int_eq(g_begins, 2); /* a free-standing arena is not begun until entered */
    cg_scope_enter(a);                /* slot 3 */
    cg_scope_leave(a);
    ck_assert_int_eq(g_ends, 5);
    cg_scope_end(outer);
    ck_assert_int_eq(g_begins, 3);
    ck_assert_int_eq(g_ends, 6);
    cg_scope_set_hooks(NULL, NULL);
    cg_scope_end(cg_scope_begin());
    ck_assert_int_eq(g_begins, 3);
    cg_arena_free(a);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_scope");
    TCase *tc = tcase_create("scope");
    tcase_add_test(tc, no_malloc_after_first_round);
    tcase_add_test(tc, every_size_is_reused);
    tcase_add_test(tc, keep_moves_results_out);
    tcase_add_test(tc, arenas);
    tcase_add_test(tc, misuse_is_an_error);
    tcase_add_test(tc, hooks);
    tcase_add_test(tc, recycled_bytes);
    tcase_add_test(tc, trim_and_cleanup);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
