#include "testlib.h"

#include <stdio.h>
#include <string.h>

void cgt_assert_near(const char *file, int line, const cg_tensor *t, const double *want, int64_t n, double tol) {
    if (!t) ck_abort_msg("%s:%d: tensor is NULL (%s)", file, line, cg_last_error());
    int64_t have = cg_numel(t);
    if (have != n) ck_abort_msg("%s:%d: tensor %s has %lld elements, expected %lld", file, line, cg_shape_str(t),
                                (long long)have, (long long)n);
    int64_t idx[CG_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        double v = cg_get(t, idx);
        bool ok = (isnan(want[k]) && isnan(v)) || (isinf(want[k]) && v == want[k]) ||
                  fabs(v - want[k]) <= tol * (1.0 + fabs(want[k]));
        if (!ok)
            ck_abort_msg("%s:%d: element %lld of %s is %.9g, expected %.9g (tol %g)", file, line, (long long)k,
                         cg_shape_str(t), v, want[k], tol);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

void cgt_assert_shape(const char *file, int line, const cg_tensor *t, const int64_t *shape, int ndim) {
    if (!t) ck_abort_msg("%s:%d: tensor is NULL (%s)", file, line, cg_last_error());
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) ck_abort_msg("%s:%d: shape is %s, expected %s", file, line, cg_shape_str(t), cg_dims_str(shape, ndim));
}

void cgt_assert_error(const char *file, int line, cg_status code, const char *needle) {
    if (cg_last_status() != code)
        ck_abort_msg("%s:%d: status is %d, expected %d (message: \"%s\")", file, line, (int)cg_last_status(), (int)code,
                     cg_last_error());
    if (needle && !strstr(cg_last_error(), needle))
        ck_abort_msg("%s:%d: message \"%s\" does not mention \"%s\"", file, line, cg_last_error(), needle);
    cg_clear_error();
}

/* Both are compiled in by tests/CMakeLists.txt. */
#ifndef CGRAD_TEST_SOURCE_DIR
#error "CGRAD_TEST_SOURCE_DIR (the source tree's tests/ folder) must be defined"
#endif
#ifndef CGRAD_TEST_DATA_DIR
#define CGRAD_TEST_DATA_DIR ""
#endif

const char *cgt_src_path(const char *rel) {
    static char buf[8][4096];
    static int next;
    char *b = buf[next];
    next = (next + 1) % 8;
    const char *root = getenv("CGRAD_TEST_SRC");
    snprintf(b, sizeof buf[0], "%s/%s", root && root[0] ? root : CGRAD_TEST_SOURCE_DIR, rel);
    return b;
}

const char *cgt_data_dir(void) {
    const char *d = getenv("CGRAD_DATA");
    if (!d) d = CGRAD_TEST_DATA_DIR;
    return d[0] ? d : NULL;
}

int cgt_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    cg_cleanup();
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
