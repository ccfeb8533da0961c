/* The tape and backward follow PyTorch's semantics: accumulation, zero_grad,
 * retain_graph, no-grad mode, detach, hooks, retain_grad, anomaly mode,
 * in-place checks, DOT export, deep graphs, custom ops, error handling and
 * an allocation-free training step. */
#include "testlib.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static cg_tensor *leaf64(const double *v, int64_t n) {
    return cg_requires_grad_(cg_from_data(CG_FLOAT64, CG_SHAPE(n), v), true);
}
static cg_tensor *sum_all(cg_tensor *x) { return cg_sum(x, NULL, 0, false); }

/* The DOT text of t's graph (free() it). */
static char *dot_of(const cg_tensor *t) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(cg_write_dot(t, f), CG_OK);
    fclose(f);
    return buf;
}

/* ------------------------------------------------- accumulation, retain */

START_TEST(gradients_accumulate_until_zero_grad) {
    cg_tensor *w = leaf64((const double[]){1, -2, 3}, 3);
    for (int k = 1; k <= 2; k++) { /* two graphs, two backwards: 2w, then 4w */
        ck_assert_int_eq(cg_backward(sum_all(cg_mul(w, w))), CG_OK);
        ck_assert_tensor_near(cg_grad(w), ((const double[]){2.0 * k, -4.0 * k, 6.0 * k}), 3, 0);
    }
    cg_tensor *buf = cg_grad(w);
    cg_zero_grad(w);
    ck_assert_ptr_eq(cg_grad(w), buf); /* cleared in place */
    ck_assert_tensor_near(cg_grad(w), ((const double[]){0, 0, 0}), 3, 0);
    ck_assert_int_eq(cg_backward(sum_all(cg_mul_scalar(w, 5))), CG_OK);
    ck_assert_ptr_eq(cg_grad(w), buf);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){5, 5, 5}), 3, 0);
    cg_clear_grad(w);
    ck_assert_ptr_null(cg_grad(w));
}
END_TEST

/* A recurrent kernel's gradient from many small steps, each step's product
 * run into the gradient (beta 1), agrees with anomaly mode's (each step's
 * product made whole, checked, then added) and with a hooked kernel's (its
 * gradient summed apart and handed to the hook). The hook sees the total. */
static cg_tensor *hook_copy(cg_tensor *g, void *user) {
    *(cg_tensor **)user = cg_clone(g);
    return NULL;
}
START_TEST(recurrent_weight_gradients_match) {
    cg_rng rng = cg_rng_seeded(9);
    cg_tensor *u = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -0.5, 0.5, CG_SHAPE(6, 6)), true);
    cg_tensor *w = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -0.5, 0.5, CG_SHAPE(3, 6)), true);
    cg_tensor *x = cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(5, 4, 3));
    cg_tensor *grads[3][2], *seen = NULL;
    for (int round = 0; round < 3; round++) {
        cg_clear_grad(u);
        cg_clear_grad(w);
        cg_set_anomaly_mode(round == 1);
        if (round == 2) ck_assert_int_eq(cg_register_hook(u, hook_copy, &seen), CG_OK);
        cg_tensor *h = cg_zeros(CG_FLOAT64, CG_SHAPE(4, 6));
        for (int t = 0; t < 5; t++) h = cg_tanh(cg_addmm(cg_matmul(cg_select(x, 0, t), w), h, u));
        ck_assert_int_eq(cg_backward(sum_all(cg_square(h))), CG_OK);
        grads[round][0] = cg_grad(u);
        grads[round][1] = cg_grad(w);
    }
    cg_set_anomaly_mode(false);
    for (int k = 0; k < 2; k++)
        for (int round = 1; round < 3; round++)
            ck_assert_tensor_near(grads[round][k], (const double *)cg_data(grads[0][k]), cg_numel(grads[0][k]), 1e-12);
    ck_assert_ptr_nonnull(seen);
    ck_assert_tensor_near(seen, (const double *)cg_data(grads[0][0]), 36, 1e-12);
}
END_TEST

/* Per-step products of a recurrent kernel and a gradient of the same kernel
 * from another op after them: on one thread and on two the gradients are
 * the same bits, and they match anomaly mode's. */
START_TEST(weight_gradients_any_threads) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(10);
    cg_tensor *u = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -0.2, 0.2, CG_SHAPE(64, 64)), true);
    cg_tensor *w = cg_requires_grad_(cg_uniform(&rng, CG_FLOAT64, -0.5, 0.5, CG_SHAPE(8, 64)), true);
    cg_tensor *x = cg_uniform(&rng, CG_FLOAT64, -1, 1, CG_SHAPE(12, 32, 8));
    cg_tensor *grads[3][2];
    int saved = cg_get_num_threads();
    for (int round = 0; round < 3; round++) {
        cg_clear_grad(u);
        cg_clear_grad(w);
        cg_set_num_threads(round == 1 ? 2 : 1);
        cg_set_anomaly_mode(round == 2);
        cg_tensor *reg = sum_all(cg_mul(u, u)); /* its backward comes after every step's */
        cg_tensor *h = cg_zeros(CG_FLOAT64, CG_SHAPE(32, 64));
        for (int t = 0; t < 12; t++) h = cg_tanh(cg_addmm(cg_matmul(cg_select(x, 0, t), w), h, u));
        ck_assert_int_eq(cg_backward(cg_add(sum_all(cg_square(h)), reg)), CG_OK);
        grads[round][0] = cg_grad(u);
        grads[round][1] = cg_grad(w);
    }
    cg_set_anomaly_mode(false);
    cg_set_num_threads(saved);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(memcmp(cg_data(grads[0][k]), cg_data(grads[1][k]), sizeof(double) * (size_t)cg_numel(grads[0][k])), 0);
        ck_assert_tensor_near(grads[0][k], (const double *)cg_data(grads[2][k]), cg_numel(grads[0][k]), 1e-12);
    }
    cg_scope_end(s);
}
END_TEST

/* Selects write their index of the gradient on its first arrival without
 * zeroing the rest first: indices no select reached read as zeros, a second
 * select of one index adds, and other ops' gradients add to the same
 * tensor, for a non-leaf and for a leaf with a hook. */
static cg_tensor *seen_hook(cg_tensor *g, void *user) {
    *(cg_tensor **)user = cg_clone(g);
    return NULL;
}
START_TEST(select_gradients_fill_only_what_they_reach) {
    cg_scope *s = cg_scope_begin();
    double e[24];
    for (int variant = 0; variant < 4; variant++) {
        cg_scope *junk = cg_scope_begin(); /* recycled blocks hold 7s, not zeros */
        for (int k = 0; k < 512; k++) cg_k_fill_(cg_empty(CG_FLOAT64, CG_SHAPE(24)), 7.0);
        cg_scope_end(junk);
        cg_scope *v = cg_scope_begin(); /* takes the block junk left */
        cg_tensor *a = cg_requires_grad_(cg_zeros(CG_FLOAT64, CG_SHAPE(3, 4, 2)), true), *seen = NULL;
        bool hooked = variant == 3;
        if (hooked) ck_assert_int_eq(cg_register_hook(a, seen_hook, &seen), CG_OK);
        cg_tensor *x = hooked ? a : cg_mul_scalar(a, 1.0);
        cg_tensor *y = cg_add(sum_all(cg_mul_scalar(cg_select(x, 1, 0), 2.0)), sum_all(cg_mul_scalar(cg_select(x, 1, 2), 3.0)));
        if (variant >= 1) y = cg_add(y, sum_all(cg_select(x, 1, -2))); /* index 2 again, from the end */
        if (variant >= 2) y = cg_add(cg_add(y, sum_all(cg_select(x, 2, 1))), sum_all(cg_mul_scalar(x, 0.5)));
        ck_assert_int_eq(cg_backward(y), CG_OK);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 2; k++)
                    e[(i * 4 + j) * 2 + k] = (j == 0 ? 2 : j == 2 ? (variant >= 1 ? 4 : 3) : 0) +
                                             (variant >= 2 ? (k == 1) + 0.5 : 0);
        ck_assert_tensor_near(cg_grad(a), e, 24, 0);
        if (hooked) ck_assert_tensor_near(seen, e, 24, 0);
        cg_scope_end(v);
    }
    cg_scope_end(s);
}
END_TEST

START_TEST(second_backward_needs_retain_graph) {
    cg_tensor *w = leaf64((const double[]){1, 2}, 2);
    cg_tensor *loss = sum_all(cg_mul(w, w));
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    ck_assert_int_eq(cg_backward(loss), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "retain_graph");
    ck_assert_tensor_near(cg_grad(w), ((const double[]){2, 4}), 2, 0); /* untouched by the failed call */

    cg_zero_grad(w);
    loss = sum_all(cg_mul(w, w));
    ck_assert_int_eq(cg_backward_ex(loss, NULL, true), CG_OK);
    ck_assert_int_eq(cg_backward(loss), CG_OK); /* the graph was kept once; now it is freed */
    ck_assert_tensor_near(cg_grad(w), ((const double[]){4, 8}), 2, 0);
    ck_assert_int_eq(cg_backward(loss), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "freed");
}
END_TEST

/* --------------------------------------------------------- no_grad, detach */

START_TEST(no_grad_records_nothing) {
    cg_tensor *w = leaf64((const double[]){1, 2}, 2), *y = NULL;
    ck_assert(cg_grad_enabled());
    uint64_t n0 = cg_nodes_recorded();
    CG_NO_GRAD {
        ck_assert(!cg_grad_enabled());
        y = cg_mul(w, cg_exp(w));
    }
    ck_assert_uint_eq(cg_nodes_recorded(), n0); /* the tape's count: nothing recorded */
    ck_assert_ptr_nonnull(cg_mul(w, cg_exp(w)));
    ck_assert_uint_eq(cg_nodes_recorded(), n0 + 2);
    ck_assert(cg_grad_enabled());
    ck_assert_ptr_nonnull(y);
    ck_assert(!cg_requires_grad(y));
    ck_assert(cg_is_leaf(y));
    ck_assert_int_eq(cg_backward(sum_all(y)), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "does not require grad");
    ck_assert(cg_set_grad_enabled(false));
    ck_assert(!cg_set_grad_enabled(true));
}
END_TEST

START_TEST(detach_cuts_the_graph) {
    cg_tensor *w = leaf64((const double[]){1, 2, 3}, 3);
    cg_tensor *y = cg_mul(w, w);
    cg_tensor *d = cg_detach(y);
    ck_assert(!cg_requires_grad(d));
    ck_assert(cg_is_leaf(d));
    ck_assert_ptr_eq(cg_data(d), cg_data(y)); /* same storage */
    /* d(sum(d * w))/dw = d = w^2, not 3 w^2 */
    ck_assert_int_eq(cg_backward(sum_all(cg_mul(d, w))), CG_OK);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){1, 4, 9}), 3, 0);
}
END_TEST

/* ------------------------------------------------------------------ hooks */

typedef struct {
    int calls;
    double seen[8];
    double scale; /* != 0: return scale * grad */
} hook_log;

static cg_tensor *record_hook(cg_tensor *g, void *user) {
    hook_log *h = user;
    h->calls++;
    ck_assert_int_eq(cg_copy_out(cg_to_dtype(g, CG_FLOAT64), h->seen, sizeof h->seen), CG_OK);
    return h->scale != 0 ? cg_k_scalar(CG_MUL, g, h->scale) : NULL;
}

START_TEST(leaf_hook_sees_the_total_gradient_once) {
    cg_tensor *w = leaf64((const double[]){1, 2, 3}, 3);
    hook_log h = {0};
    ck_assert_int_eq(cg_register_hook(w, record_hook, &h), CG_OK);
    /* w is used three times: d/dw sum(w*w + 3w) = 2w + 3 */
    ck_assert_int_eq(cg_backward(sum_all(cg_add(cg_mul(w, w), cg_mul_scalar(w, 3)))), CG_OK);
    ck_assert_int_eq(h.calls, 1);
    const double want[] = {5, 7, 9};
    for (int i = 0; i < 3; i++) ck_assert_double_eq(h.seen[i], want[i]);
    ck_assert_tensor_near(cg_grad(w), want, 3, 0);
}
END_TEST

START_TEST(hooks_replace_gradients_in_order) {
    cg_tensor *w = leaf64((const double[]){1, 2, 3}, 3);
    hook_log first = {.scale = 10}, second = {0};
    cg_register_hook(w, record_hook, &first);
    cg_register_hook(w, record_hook, &second);
    ck_assert_int_eq(cg_backward(sum_all(cg_mul_scalar(w, 2))), CG_OK);
    ck_assert_double_eq(first.seen[0], 2);
    ck_assert_double_eq(second.seen[0], 20); /* the second hook sees the replacement */
    ck_assert_tensor_near(cg_grad(w), ((const double[]){20, 20, 20}), 3, 0);
    ck_assert_int_eq(cg_backward(sum_all(cg_mul_scalar(w, 2))), CG_OK);
    ck_assert_int_eq(first.calls, 2);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){40, 40, 40}), 3, 0);
    /* a hook on a tensor that gets no gradient is refused */
    ck_assert_int_eq(cg_register_hook(cg_zeros(CG_FLOAT64, CG_SHAPE(2)), record_hook, &first), CG_ERR_STATE);
    cg_clear_error();
}
END_TEST

START_TEST(non_leaf_hook_and_retain_grad) {
    cg_tensor *w = leaf64((const double[]){1, -1, 2}, 3);
    cg_tensor *h = cg_mul_scalar(w, 3); /* h = 3w, loss = sum(h^2): dL/dh = 2h = 6w */
    cg_tensor *k = cg_mul_scalar(w, 1);
    hook_log log = {.scale = 2};
    ck_assert_int_eq(cg_register_hook(h, record_hook, &log), CG_OK);
    ck_assert_int_eq(cg_retain_grad(h), CG_OK);
    ck_assert_int_eq(cg_backward(sum_all(cg_add(cg_square(h), k))), CG_OK);
    ck_assert_int_eq(log.calls, 1);
    ck_assert_double_eq(log.seen[1], -6);
    /* the retained gradient is the one after the hooks; w gets 3 * 2 * 6w + 1 */
    ck_assert_tensor_near(cg_grad(h), ((const double[]){12, -12, 24}), 3, 0);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){37, -35, 73}), 3, 0);
    ck_assert_ptr_null(cg_grad(k)); /* non-leaf gradients are not kept by default */
    ck_assert_int_eq(cg_retain_grad(cg_zeros(CG_FLOAT64, CG_SHAPE(1))), CG_ERR_STATE);
    cg_clear_error();
}
END_TEST

/* ------------------------------------------- gradients meeting in a tensor */

/* A non-leaf h used by ops that hand back gradients (mul, matmul, add twice),
 * ops that add into a shared buffer in place (slice, chunk, index_select,
 * gather) and a leaf used both directly and through h. */
static cg_tensor *f_shared(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    cg_tensor *h = cg_tanh(x[0]), *half[2]; /* [4, 3] */
    cg_tensor *rows = cg_from_data(CG_INT64, CG_SHAPE(2), (const int64_t[]){1, 1});
    cg_tensor *cols = cg_from_data(CG_INT64, CG_SHAPE(4, 2), (const int64_t[]){0, 2, 2, 2, 1, 0, 1, 1});
    if (cg_chunk(h, 2, 0, half) != 2) return NULL;
    cg_tensor *terms[] = {
        sum_all(cg_square(cg_slice(h, 0, 1, 4, 2))),    sum_all(cg_mul(cg_index_select(h, 0, rows), half[1])),
        sum_all(cg_tanh(cg_matmul(h, x[1]))),            sum_all(cg_mul(half[0], half[1])),
        sum_all(cg_mul(cg_add(h, h), x[0])),             sum_all(cg_square(cg_gather(h, 1, cols))),
        sum_all(cg_sigmoid(cg_matmul(x[0], x[1]))),
    };
    return cg_stack(terms, 7, 0);
}

static cg_tensor *noop_hook(cg_tensor *g, void *user) {
    ++*(int *)user;
    (void)g;
    return NULL;
}

START_TEST(gradients_meeting_in_shared_tensors) {
    cg_rng rng = cg_rng_seeded(8);
    cg_tensor *x[2] = {cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(4, 3)), true),
                       cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(3, 2)), true)};
    cg_gradcheck_opts o = {0, 1e-7, 1e-6, 0, 9};
    ck_assert_msg(cg_gradcheck(f_shared, NULL, x, 2, &o) == CG_OK, "%s", cg_last_error());
    /* a hook makes a leaf collect its gradient before .grad: same answer */
    int calls = 0;
    cg_register_hook(x[0], noop_hook, &calls);
    cg_register_hook(x[1], noop_hook, &calls);
    ck_assert_msg(cg_gradcheck(f_shared, NULL, x, 2, &o) == CG_OK, "%s", cg_last_error());
    ck_assert_int_eq(calls, 2);
    /* and twice through a retained graph gives twice the gradient */
    cg_clear_grad(x[0]);
    cg_tensor *loss = sum_all(f_shared(x, 2, NULL));
    ck_assert_int_eq(cg_backward_ex(loss, NULL, true), CG_OK);
    cg_tensor *once = cg_clone(cg_grad(x[0]));
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    ck_assert_tensor_near(cg_grad(x[0]), cg_data_f64(cg_k_scalar(CG_MUL, once, 2)), 12, 1e-14);
}
END_TEST

/* ------------------------------------------------------------ anomaly mode */

START_TEST(anomaly_mode_names_the_op) {
    cg_set_anomaly_mode(true);
    ck_assert(cg_anomaly_mode());
    cg_tensor *neg = leaf64((const double[]){2, -1}, 2);
    ck_assert_ptr_null(cg_log(neg));
    ck_assert_error(CG_ERR_NUMERIC, "forward of 'log'");

    cg_tensor *x = leaf64((const double[]){0, 4}, 2);
    cg_tensor *loss = sum_all(cg_sqrt(x)); /* finite forward, 1/(2 sqrt(0)) = inf backward */
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(cg_backward(loss), CG_ERR_NUMERIC);
    ck_assert_error(CG_ERR_NUMERIC, "backward of 'sqrt'");

    cg_set_anomaly_mode(false); /* without it, inf flows through like in PyTorch */
    ck_assert_ptr_nonnull(cg_log(neg));
    ck_assert_int_eq(cg_backward(sum_all(cg_sqrt(x))), CG_OK);
    ck_assert(isinf(cg_get(cg_grad(x), (const int64_t[]){0})));
    ck_assert_double_eq_tol(cg_get(cg_grad(x), (const int64_t[]){1}), 0.25, 1e-15);
}
END_TEST

/* ------------------------------------------------------- in-place checks */

START_TEST(in_place_changes_are_caught_at_backward) {
    cg_tensor *w = leaf64((const double[]){1, 2, 3}, 3);
    cg_tensor *a = cg_from_data(CG_FLOAT64, CG_SHAPE(3), (const double[]){4, 5, 6});
    cg_tensor *loss = sum_all(cg_mul(a, w)); /* mul saves a for w's gradient */
    cg_k_fill_(a, 0);
    ck_assert_int_eq(cg_backward(loss), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "input 0 of 'mul' (shape [3]) was modified in place");

    cg_tensor *y = cg_exp(w); /* exp's backward reuses its output */
    loss = sum_all(y);
    cg_k_scalar_(CG_MUL, y, 2.0);
    ck_assert_int_eq(cg_backward(loss), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "output of 'exp'");

    /* add reads neither input in its backward: changing one is harmless */
    loss = sum_all(cg_add(a, w));
    cg_k_fill_(a, 1);
    cg_clear_grad(w);
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){1, 1, 1}), 3, 0);
}
END_TEST

/* ------------------------------------------------------------------- DOT */

START_TEST(dot_export_shows_ops_shapes_and_names) {
    cg_tensor *w = cg_requires_grad_(cg_randn(NULL, CG_FLOAT32, CG_SHAPE(3, 4)), true);
    cg_tensor *x = cg_randn(NULL, CG_FLOAT32, CG_SHAPE(2, 3));
    ck_assert_int_eq(cg_set_name(w, "dense.kernel"), CG_OK);
    ck_assert_int_eq(cg_set_name(x, "batch"), CG_OK);
    ck_assert_str_eq(cg_name(w), "dense.kernel");
    cg_tensor *loss = cg_mean(cg_tanh(cg_matmul(x, w)), NULL, 0, false);
    char *dot = dot_of(loss);
    const char *want[] = {"digraph", "label=\"matmul\\n[2,4]\"", "label=\"tanh\\n[2,4]\"", "label=\"mean\\n[]\"",
                          "dense.kernel\\n[3,4]\\nrequires_grad", "batch\\n[2,3]\\nfloat32", "->"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(dot, want[i]), "DOT lacks %s:\n%s", want[i], dot);
    free(dot);
}
END_TEST

/* ------------------------------------------------------------- deep graphs */

/* 100,000 ops: y = ((x + 0.5) * c) repeated; dy/dx = c^50000. */
static void *long_chain(void *arg) {
    double *out = arg;
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = leaf64((const double[]){0.5}, 1), *y = x;
    const double c = 1.00001;
    for (int i = 0; i < 50000; i++) y = cg_mul_scalar(cg_add_scalar(y, 0.5), c);
    out[0] = cg_backward(y) == CG_OK ? cg_item(cg_grad(x)) : NAN;
    out[1] = pow(c, 50000);
    cg_scope_end(s);
    cg_cleanup();
    return NULL;
}

/* On a thread with a 256 KiB stack: a recursive backward would overflow it. */
START_TEST(a_100k_op_chain_backpropagates_without_recursion) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t th;
    double r[2] = {0, 0};
    ck_assert_int_eq(pthread_create(&th, &attr, long_chain, r), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    ck_assert_msg(fabs(r[0] - r[1]) <= 1e-9 * r[1], "gradient %.15g, expected %.15g", r[0], r[1]);
}
END_TEST

/* Ops recorded while an arena is entered leave the tape at cg_scope_leave: a
 * backward that needs them is an error, not a silently missing gradient. */
START_TEST(graph_recorded_in_a_left_arena_is_an_error) {
    cg_scope *arena = cg_arena_new();
    cg_scope_enter(arena);
    cg_tensor *w = leaf64((const double[]){1, 2}, 2);
    cg_tensor *v = cg_mul_scalar(w, 2);
    cg_scope_leave(arena);
    ck_assert_int_eq(cg_backward(sum_all(cg_mul(v, v))), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "recorded inside an arena that was left");
    /* leaves and no-grad results made in an arena are fine */
    cg_clear_grad(w);
    ck_assert_int_eq(cg_backward(sum_all(cg_mul(w, w))), CG_OK);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){2, 4}), 2, 0);
    cg_arena_free(arena);
}
END_TEST

/* ------------------------------------------------------------- custom ops */

/* The path of examples/custom_op.c (register, use in an expression, DOT,
 * gradcheck) with another op: softplus(x) = max(x, 0) + log(1 + exp(-|x|)),
 * whose derivative sigmoid(x) is computed in the forward and saved. */
static int softplus_fwd(cg_node *node, cg_tensor *const *in, int n, cg_tensor **out) {
    (void)n;
    cg_tensor *e = cg_k_unary_(CG_EXP, cg_k_unary_(CG_NEG, cg_k_unary(CG_ABS, in[0])));
    cg_tensor *y = cg_k_unary_(CG_LOG, cg_k_scalar_(CG_ADD, e, 1.0));
    y = cg_k_binary_(CG_ADD, y, cg_k_unary(CG_RELU, in[0]));
    cg_node_save(node, cg_k_unary(CG_SIGMOID, in[0]));
    return (out[0] = y) ? 1 : -1;
}
static cg_status softplus_bwd(cg_node *node, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)ng;
    return (gin[0].t = cg_k_binary(CG_MUL, g[0], cg_node_saved(node, 0))) ? CG_OK : cg_last_status();
}
static const cg_op softplus_def = {.name = "test_softplus", .n_in = 1, .n_out = 1, .forward = softplus_fwd,
                                   .backward = softplus_bwd};

static const cg_op *softplus_op(void) {
    const cg_op *op = cg_op_find(softplus_def.name);
    return op ? op : cg_op_register(&softplus_def);
}
static cg_tensor *softplus(cg_tensor *x) { return cg_op_apply(softplus_op(), &x, 1, NULL); }
static cg_tensor *f_softplus_expr(cg_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return cg_mul(softplus(cg_matmul(x[0], x[1])), x[0]);
}

START_TEST(custom_op_records_and_gradchecks) {
    int before = cg_op_count();
    const cg_op *op = softplus_op();
    ck_assert_ptr_nonnull(op);
    ck_assert_int_eq(cg_op_count(), before + 1);
    ck_assert_ptr_eq(cg_op_find("test_softplus"), op);
    ck_assert_ptr_eq(cg_op_at(before), op);
    /* names are unique */
    ck_assert_ptr_null(cg_op_register(&softplus_def));
    ck_assert_error(CG_ERR_VALUE, "'test_softplus' already exists");
    ck_assert_ptr_null(cg_op_register(&(cg_op){.name = "exp", .n_in = 1, .n_out = 1, .forward = softplus_fwd,
                                                .backward = softplus_bwd}));
    ck_assert_error(CG_ERR_VALUE, "already exists");
    ck_assert_int_eq(cg_op_count(), before + 1);

    cg_tensor *x = leaf64((const double[]){-30, -1, 0, 2, 40}, 5);
    cg_tensor *y = softplus(x);
    ck_assert(cg_requires_grad(y) && !cg_is_leaf(y));
    const double want[] = {9.357622968840175e-14, 0.31326168751822286, M_LN2, 2.1269280110429727, 40};
    ck_assert_tensor_near(y, want, 5, 1e-15);
    char *dot = dot_of(sum_all(y));
    ck_assert_msg(strstr(dot, "label=\"test_softplus\\n[5]\""), "%s", dot);
    free(dot);

    cg_rng rng = cg_rng_seeded(3);
    cg_tensor *in[2] = {cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(3, 3)), true),
                        cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(3, 3)), true)};
    cg_gradcheck_opts o = {0, 1e-7, 1e-6, 0, 1};
    ck_assert_msg(cg_gradcheck(f_softplus_expr, NULL, in, 2, &o) == CG_OK, "%s", cg_last_error());
}
END_TEST

static int copy_fwd(cg_node *node, cg_tensor *const *in, int n, cg_tensor **out) {
    (void)node, (void)n;
    return (out[0] = cg_clone(in[0])) ? 1 : -1;
}

START_TEST(missing_backward_is_an_error_naming_the_op) {
    const cg_op *op = cg_op_register(&(cg_op){.name = "test_no_backward", .n_in = 1, .n_out = 1, .forward = copy_fwd});
    ck_assert_ptr_nonnull(op);
    cg_tensor *w = leaf64((const double[]){1, 2}, 2);
    cg_tensor *y = cg_op_apply(op, &w, 1, NULL);
    ck_assert_ptr_nonnull(y); /* the forward works */
    ck_assert_int_eq(cg_backward(sum_all(cg_mul(y, w))), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "op 'test_no_backward' has no backward");
    CG_NO_GRAD { y = cg_op_apply(op, &w, 1, NULL); }
    ck_assert(y && !cg_requires_grad(y));
}
END_TEST

/* An op y = 2x whose backward writes its gradient where the engine offers
 * (gin[0].into, with CG_WRITES_INTO), else hands it back; counts the offers
 * taken. The same op without the flag is never offered a place. */
static int targets_taken;
static int twice_fwd(cg_node *node, cg_tensor *const *in, int n, cg_tensor **out) {
    (void)node, (void)n;
    return (out[0] = cg_k_scalar(CG_MUL, in[0], 2.0)) ? 1 : -1;
}
static cg_status twice_bwd(cg_node *node, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)node, (void)ng;
    cg_tensor *dst = gin[0].into, *d = cg_k_scalar(CG_MUL, g[0], 2.0);
    if (!dst) return (gin[0].t = d) ? CG_OK : cg_last_status();
    ck_assert_shape(dst, 2, 3);
    targets_taken++;
    gin[0].form = CG_GRAD_WRITTEN;
    return d && cg_k_copy_(dst, d) ? CG_OK : cg_last_status();
}
static const cg_op twice_def = {.name = "test_twice", .n_in = 1, .n_out = 1, .forward = twice_fwd,
                                .backward = twice_bwd, .flags = CG_WRITES_INTO};
static const cg_op twice_no_offer_def = {.name = "test_twice_no_offer", .n_in = 1, .n_out = 1, .forward = twice_fwd,
                                         .backward = twice_bwd};
static cg_tensor *twice_op(const cg_op *def, cg_tensor *x) {
    const cg_op *op = cg_op_find(def->name);
    if (!op) op = cg_op_register(def);
    return cg_op_apply(op, &x, 1, NULL);
}
static cg_tensor *twice(cg_tensor *x) { return twice_op(&twice_def, x); }
static int hook_calls;
static cg_tensor *count_hook(cg_tensor *g, void *u) {
    (void)u;
    hook_calls++;
    return g;
}

/* The gradient of x [2, 5, 3] through p = 3x and slices p[:, t] of every
 * kind: one op reading its slice (the offer is taken), the same index
 * selected twice, a slice that a second op also reads, a hooked slice and
 * a slice of the leaf itself (no offer: nothing to write into). With
 * `plain`, y = 2x is cg_mul_scalar instead. */
static cg_tensor *slices_grad(cg_tensor *x, bool plain) {
    cg_clear_grad(x);
    cg_tensor *(*f)(cg_tensor *) = twice;
    cg_tensor *p = cg_mul_scalar(x, 3), *terms[7];
    cg_rng rng = cg_rng_seeded(5);
    cg_tensor *sl[7] = {cg_select(p, 1, 0), cg_select(p, 1, 1), cg_select(p, 1, 1), cg_select(p, 1, 2),
                        cg_select(p, 1, 3), cg_select(x, 1, 4), NULL};
    ck_assert_int_eq(cg_register_hook(sl[4], count_hook, NULL), CG_OK);
    terms[6] = cg_mul(sl[3], cg_randn(&rng, CG_FLOAT64, CG_SHAPE(2, 3))); /* slice 2's other reader, first */
    for (int k = 0; k < 6; k++) {
        cg_tensor *y = plain ? cg_mul_scalar(sl[k], 2) : f(sl[k]);
        terms[k] = cg_mul(y, cg_randn(&rng, CG_FLOAT64, CG_SHAPE(2, 3)));
    }
    cg_tensor *loss = sum_all(cg_stack(terms, 7, 0));
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    return cg_clone(cg_grad(x));
}

START_TEST(grad_target_takes_a_selected_slice) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(2);
    cg_tensor *x = cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(2, 5, 3)), true);
    cg_tensor *want = slices_grad(x, true);
    targets_taken = hook_calls = 0;
    cg_tensor *got = slices_grad(x, false);
    /* slice 0; one of slice 1's two selects (the other adds after it);
     * slice 2 (its other reader adds after it) */
    ck_assert_int_eq(targets_taken, 3);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert_int_eq(memcmp(cg_data(got), cg_data(want), sizeof(double) * 30), 0);
    /* anomaly mode checks each op's gradient: no offers, the same bits */
    targets_taken = 0;
    cg_set_anomaly_mode(true);
    got = slices_grad(x, false);
    cg_set_anomaly_mode(false);
    ck_assert_int_eq(targets_taken, 0);
    ck_assert_int_eq(memcmp(cg_data(got), cg_data(want), sizeof(double) * 30), 0);
    /* only an op that says it writes in place is offered a place */
    targets_taken = 0;
    cg_clear_grad(x);
    cg_tensor *y = twice_op(&twice_no_offer_def, cg_select(cg_mul_scalar(x, 3), 1, 0));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(cg_backward(sum_all(y)), CG_OK);
    ck_assert_int_eq(targets_taken, 0);
    cg_scope_end(s);
}
END_TEST

/* Gradients the backward has read are handed back for reuse; one a hook
 * or an op of the user's was given is not: after the backward both still
 * hold what they were given, and the gradients have the bits of anomaly
 * mode's (which reuses nothing). The graph has broadcasting, views, one
 * tensor used twice, a split, a stack of selects and a retained gradient. */
static cg_tensor *seen_by_hook, *copy_by_hook, *kept_gout, *kept_copy;
static cg_tensor *keep_hook(cg_tensor *g, void *u) {
    (void)u;
    seen_by_hook = g;
    copy_by_hook = cg_clone(g);
    return NULL;
}
static int keep_fwd(cg_node *node, cg_tensor *const *in, int n, cg_tensor **out) {
    (void)node, (void)n;
    return (out[0] = cg_k_scalar(CG_MUL, in[0], 0.5)) ? 1 : -1;
}
static cg_status keep_bwd(cg_node *node, cg_tensor *const *g, const bool *ng, cg_grad_in *gin) {
    (void)node, (void)ng;
    kept_gout = g[0]; /* kept past the callback */
    kept_copy = cg_clone(g[0]);
    return (gin[0].t = cg_k_scalar(CG_MUL, g[0], 0.5)) ? CG_OK : cg_last_status();
}
static const cg_op keep_def = {.name = "test_keeps_gout", .n_in = 1, .n_out = 1, .forward = keep_fwd,
                               .backward = keep_bwd};

static void reuse_round(cg_tensor *x, cg_tensor *w, cg_tensor **gx, cg_tensor **gw, cg_tensor **ga) {
    const cg_op *op = cg_op_find(keep_def.name);
    if (!op) op = cg_op_register(&keep_def);
    cg_clear_grad(x);
    cg_clear_grad(w);
    cg_tensor *a = cg_mul(x, w);
    ck_assert_int_eq(cg_retain_grad(a), CG_OK);
    cg_tensor *b = cg_tanh(a);
    ck_assert_int_eq(cg_register_hook(b, keep_hook, NULL), CG_OK);
    cg_tensor *c = cg_transpose(cg_reshape(cg_mul_scalar(b, 1.5), CG_SHAPE(6, 4)), 0, 1);
    cg_tensor *e = cg_add(c, c);
    cg_tensor *k = cg_tanh(cg_op_apply(op, (cg_tensor *[]){cg_exp(e)}, 1, NULL)), *parts[2];
    ck_assert_int_eq(cg_chunk(k, 2, 0, parts), 2);
    cg_tensor *l1 = sum_all(cg_mul_scalar(parts[0], 3)), *l2 = sum_all(cg_exp(parts[1]));
    cg_tensor *st = cg_stack((cg_tensor *[]){cg_select(b, 0, 0), cg_select(b, 0, 1), cg_select(b, 0, 0)}, 3, 0);
    cg_tensor *loss = cg_add(cg_add(l1, l2), sum_all(cg_square(cg_sigmoid(st))));
    ck_assert_int_eq(cg_backward(loss), CG_OK);
    *gx = cg_clone(cg_grad(x));
    *gw = cg_clone(cg_grad(w));
    *ga = cg_clone(cg_grad(a));
    /* what the hook and the user's op were given is untouched */
    ck_assert(seen_by_hook && kept_gout);
    ck_assert_int_eq(memcmp(cg_data(seen_by_hook), cg_data(copy_by_hook), sizeof(double) * 24), 0);
    ck_assert_int_eq(memcmp(cg_data(kept_gout), cg_data(kept_copy), sizeof(double) * 24), 0);
}

START_TEST(read_gradients_are_reused_and_held_ones_are_not) {
    cg_scope *s = cg_scope_begin();
    cg_rng rng = cg_rng_seeded(4);
    cg_tensor *x = cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(4, 6)), true);
    cg_tensor *w = cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(6)), true);
    cg_tensor *g[3][3];
    for (int round = 0; round < 3; round++) {
        cg_set_anomaly_mode(round == 1);
        reuse_round(x, w, &g[round][0], &g[round][1], &g[round][2]);
    }
    cg_set_anomaly_mode(false);
    for (int round = 1; round < 3; round++)
        for (int k = 0; k < 3; k++)
            ck_assert_int_eq(memcmp(cg_data(g[0][k]), cg_data(g[round][k]), sizeof(double) * (size_t)cg_numel(g[0][k])), 0);
    cg_scope_end(s);
}
END_TEST

/* A gradient handed in from outside (cg_backward_with) is never taken as
 * the engine's own, even when another thread made it after making many
 * tensors: here a reshape's backward hands back a view of it, and x's
 * second gradient must not be added into it. */
typedef struct {
    cg_scope *arena;
    cg_tensor *g;
} made_elsewhere;
static void *make_grad_elsewhere(void *arg) {
    made_elsewhere *out = arg;
    cg_scope *s = cg_scope_begin();
    for (int k = 0; k < 20000; k++) cg_zeros(CG_FLOAT64, CG_SHAPE(1));
    cg_scope_end(s);
    out->arena = cg_arena_new(); /* outlives this thread; freed by the test */
    cg_scope_enter(out->arena);
    out->g = cg_full(CG_FLOAT64, CG_SHAPE(2, 3), 1.0);
    cg_scope_leave(out->arena);
    cg_cleanup();
    return NULL;
}

START_TEST(a_gradient_handed_in_is_left_alone) {
    made_elsewhere e = {NULL, NULL};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, make_grad_elsewhere, &e), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    cg_tensor *g = e.g;
    cg_scope *s = cg_scope_begin();
    cg_tensor *w = cg_requires_grad_(cg_full(CG_FLOAT64, CG_SHAPE(6), 2.0), true);
    cg_tensor *x = cg_mul_scalar(w, 3); /* not a leaf: its gradient is summed in pending */
    cg_tensor *r = cg_add(cg_reshape(x, CG_SHAPE(2, 3)), cg_reshape(cg_mul_scalar(x, 2), CG_SHAPE(2, 3)));
    ck_assert_int_eq(cg_backward_with(r, g), CG_OK);
    double ones[6] = {1, 1, 1, 1, 1, 1}, nines[6] = {9, 9, 9, 9, 9, 9};
    ck_assert_tensor_near(g, ones, 6, 0);
    ck_assert_tensor_near(cg_grad(w), nines, 6, 0);
    cg_scope_end(s);
    cg_arena_free(e.arena);
}
END_TEST

/* ------------------------------------------------------------- bad input */

START_TEST(bad_input_gives_clear_errors) {
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(3)), true);
    cg_tensor *y = cg_mul_scalar(w, 2);
    ck_assert_int_eq(cg_backward(y), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "reduce it (cg_sum, cg_mean) or pass the gradient with cg_backward_with");
    ck_assert_int_eq(cg_backward_with(y, cg_ones(CG_FLOAT32, CG_SHAPE(4))), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "grad_output is float32 [4] but the tensor is float32 [3]");
    ck_assert_int_eq(cg_backward_with(y, cg_ones(CG_FLOAT64, CG_SHAPE(3))), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "grad_output is float64");
    ck_assert_int_eq(cg_backward_with(y, cg_full(CG_FLOAT32, CG_SHAPE(3), 0.5)), CG_OK);
    ck_assert_tensor_near(cg_grad(w), ((const double[]){1, 1, 1}), 3, 0);

    ck_assert_ptr_null(cg_requires_grad_(cg_zeros(CG_INT64, CG_SHAPE(2)), true));
    ck_assert_error(CG_ERR_DTYPE, "int64");
    ck_assert_ptr_null(cg_requires_grad_(y, true));
    ck_assert_error(CG_ERR_STATE, "not a leaf");
}
END_TEST

START_TEST(null_propagates_and_the_first_error_is_kept) {
    cg_tensor *x = cg_ones(CG_FLOAT32, CG_SHAPE(2, 3));
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(4, 5)), true);
    cg_tensor *h = cg_tanh(cg_matmul(x, w));
    cg_tensor *z = cg_add(cg_softmax(h, -1), w);
    cg_tensor *parts[2];
    int k = cg_chunk(z, 2, 0, parts);
    cg_tensor *loss = cg_mean(cg_reshape(cg_concat((cg_tensor *[]){z, z}, 2, 0), CG_SHAPE(-1)), NULL, 0, false);
    ck_assert_ptr_null(h);
    ck_assert_ptr_null(z);
    ck_assert_int_eq(k, -1);
    ck_assert_ptr_null(loss);
    ck_assert_int_eq(cg_backward(loss), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "cg_matmul: [2,3] @ [4,5]: inner sizes 3 != 4");
    /* with no earlier error, a NULL input says so */
    ck_assert_ptr_null(cg_exp(NULL));
    ck_assert_error(CG_ERR_NULL, "exp");
}
END_TEST

/* --------------------------------------------------- allocation-free loop */

START_TEST(training_steps_allocate_nothing_after_the_first) {
    cg_scope *params = cg_arena_new();
    cg_scope_enter(params);
    cg_rng rng = cg_rng_seeded(11);
    cg_tensor *w = cg_requires_grad_(cg_randn(&rng, CG_FLOAT32, CG_SHAPE(16, 8)), true);
    cg_scope_leave(params);
    uint64_t after_first = 0;
    double first = 0, last = 0;
    for (int step = 0; step < 8; step++) {
        cg_scope *s = cg_scope_begin();
        cg_rng data = cg_rng_seeded(99); /* the same batch each step, so the loss must fall */
        cg_tensor *x = cg_randn(&data, CG_FLOAT32, CG_SHAPE(32, 16));
        cg_tensor *loss = cg_mean(cg_tanh(cg_matmul(x, w)), NULL, 0, false);
        ck_assert_int_eq(cg_backward(loss), CG_OK);
        ck_assert_ptr_nonnull(cg_k_axpy_(w, -0.5, cg_grad(w)));
        cg_zero_grad(w);
        last = cg_item(loss);
        if (step == 0) first = last;
        cg_scope_end(s);
        if (step == 0) after_first = cg_heap_allocations();
    }
    ck_assert_uint_eq(cg_heap_allocations(), after_first);
    ck_assert_msg(last < first - 0.01, "loss %g -> %g", first, last);
    cg_arena_free(params);
}
END_TEST

Suite *autograd_engine_suite(void) {
    Suite *s = suite_create("autograd_engine");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gradients_accumulate_until_zero_grad);
    tcase_add_test(tc, second_backward_needs_retain_graph);
    tcase_add_test(tc, recurrent_weight_gradients_match);
    tcase_add_test(tc, weight_gradients_any_threads);
    tcase_add_test(tc, no_grad_records_nothing);
    tcase_add_test(tc, detach_cuts_the_graph);
    tcase_add_test(tc, leaf_hook_sees_the_total_gradient_once);
    tcase_add_test(tc, hooks_replace_gradients_in_order);
    tcase_add_test(tc, non_leaf_hook_and_retain_grad);
    tcase_add_test(tc, gradients_meeting_in_shared_tensors);
    tcase_add_test(tc, anomaly_mode_names_the_op);
    tcase_add_test(tc, in_place_changes_are_caught_at_backward);
    tcase_add_test(tc, dot_export_shows_ops_shapes_and_names);
    tcase_add_test(tc, a_100k_op_chain_backpropagates_without_recursion);
    tcase_add_test(tc, graph_recorded_in_a_left_arena_is_an_error);
    tcase_add_test(tc, custom_op_records_and_gradchecks);
    tcase_add_test(tc, missing_backward_is_an_error_naming_the_op);
    tcase_add_test(tc, bad_input_gives_clear_errors);
    tcase_add_test(tc, null_propagates_and_the_first_error_is_kept);
    tcase_add_test(tc, training_steps_allocate_nothing_after_the_first);
    tcase_add_test(tc, select_gradients_fill_only_what_they_reach);
    tcase_add_test(tc, grad_target_takes_a_selected_slice);
    tcase_add_test(tc, read_gradients_are_reused_and_held_ones_are_not);
    tcase_add_test(tc, a_gradient_handed_in_is_left_alone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(autograd_engine_suite()); }
