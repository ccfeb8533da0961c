#include <cgrad/cgrad.h>
#include <check.h>
#include <stdlib.h>

START_TEST(t_basic) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *a = cg_arange(CG_FLOAT32, 0, 6, 1);
    cg_tensor *b = cg_k_reshape(a, CG_SHAPE(2, 3));
    cg_tensor *c = cg_k_matmul(b, cg_k_transpose(b, 0, 1));
    ck_assert_ptr_nonnull(c);
    ck_assert_double_eq(cg_get(c, (int64_t[]){0, 0}), 5);
    ck_assert_double_eq(cg_get(c, (int64_t[]){1, 1}), 50);
    ck_assert_double_eq(cg_get(c, (int64_t[]){0, 1}), 14);
    cg_print(c);
    cg_scope_end(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, t_basic);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
