/* tensor/ kernels on scrambled layouts: random shapes (with size-1 and
 * size-0 dims) as views that are permuted, flipped, sliced with a step and
 * expanded, checked against naive loops over cg_get. */
#include "test_tensor_helpers.h"

static int64_t below(cg_rng *r, int64_t n) { return (int64_t)(cg_rng_u64(r) % (uint64_t)n); }

/* A view of the given shape with a scrambled layout over random values. */
static cg_tensor *scrambled(cg_rng *r, cg_dtype dt, const int64_t *shape, int nd) {
    int perm[CG_MAX_DIMS], inv[CG_MAX_DIMS];
    int64_t step[CG_MAX_DIMS], off[CG_MAX_DIMS], bshape[CG_MAX_DIMS];
    bool expand[CG_MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = i;
    for (int i = nd - 1; i > 0; i--) {
        int j = (int)below(r, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < nd; i++) {
        int d = perm[i];
        inv[d] = i;
        expand[d] = shape[d] != 1 && below(r, 5) == 0;
        step[d] = 1 + below(r, 2);
        off[d] = below(r, 2);
        bshape[i] = expand[d] ? 1 : shape[d] * step[d] + off[d];
    }
    cg_tensor *base = dt == CG_INT64 ? cg_randint(r, dt, -9, 10, bshape, nd) : cg_randn(r, dt, bshape, nd);
    cg_tensor *v = cg_k_permute(base, inv, nd);
    for (int d = 0; d < nd; d++) {
        if (expand[d]) continue;
        v = cg_k_slice(v, d, off[d], off[d] + shape[d] * step[d], step[d]);
        if (below(r, 3) == 0) v = cg_k_flip(v, &d, 1);
    }
    v = cg_k_expand(v, shape, nd);
    ck_assert_ptr_nonnull(v);
    ck_assert(cg_same_shape(v, cg_empty(dt, shape, nd)));
    return v;
}

/* A random shape of rank nd with sizes 1..4 (0 with probability 1/20). */
static void random_shape(cg_rng *r, int nd, int64_t *shape) {
    for (int d = 0; d < nd; d++) shape[d] = below(r, 20) == 0 ? 0 : 1 + below(r, 4);
}

/* Step a row-major multi-index; false after the last one. */
static bool next_index(int64_t *idx, const int64_t *shape, int nd) {
    for (int d = nd - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) return true;
        idx[d] = 0;
    }
    return false;
}

START_TEST(binary_broadcast_on_scrambled_views) {
    cg_rng r = cg_rng_seeded(0xB1);
    const cg_binop ops[] = {CG_ADD, CG_SUB, CG_MUL, CG_MAXIMUM, CG_LT};
    for (int trial = 0; trial < 300; trial++) {
        cg_scope *s = cg_scope_begin();
        cg_dtype dt = (cg_dtype)below(&r, 3);
        cg_binop op = ops[below(&r, 5)];
        int nd = (int)below(&r, 5);
        int64_t shape[CG_MAX_DIMS], sa[CG_MAX_DIMS], sb[CG_MAX_DIMS];
        random_shape(&r, nd, shape);
        /* a and b: drop some leading dims, set some dims to 1 */
        int la = (int)below(&r, nd + 1), lb = below(&r, 2) ? 0 : (int)below(&r, nd + 1);
        for (int d = 0; d < nd; d++) {
            sa[d] = below(&r, 4) == 0 ? 1 : shape[d];
            sb[d] = below(&r, 4) == 0 ? 1 : shape[d];
        }
        cg_tensor *a = scrambled(&r, dt, sa + la, nd - la), *b = scrambled(&r, dt, sb + lb, nd - lb);
        cg_tensor *c = cg_k_binary(op, a, b);
        ck_assert_ptr_nonnull(c);
        int64_t oshape[CG_MAX_DIMS];
        int ond;
        ck_assert_int_eq(cg_broadcast_shape(a->shape, a->ndim, b->shape, b->ndim, oshape, &ond), CG_OK);
        ck_assert(cg_same_shape(c, cg_empty(dt, oshape, ond)));
        int64_t idx[CG_MAX_DIMS] = {0}, ia[CG_MAX_DIMS], ib[CG_MAX_DIMS];
        if (cg_numel(c) > 0) do {
                for (int d = 0; d < a->ndim; d++) ia[d] = a->shape[d] == 1 ? 0 : idx[d + ond - a->ndim];
                for (int d = 0; d < b->ndim; d++) ib[d] = b->shape[d] == 1 ? 0 : idx[d + ond - b->ndim];
                double x = cg_get(a, ia), y = cg_get(b, ib), want;
                switch (op) {
                case CG_ADD: want = x + y; break;
                case CG_SUB: want = x - y; break;
                case CG_MUL: want = x * y; break;
                case CG_MAXIMUM: want = x > y ? x : y; break;
                default: want = x < y; break;
                }
                double got = cg_get(c, idx);
                ck_assert_msg(fabs(got - want) <= 1e-6 * (1 + fabs(want)), "trial %d (%s %s %s %s): %g != %g", trial,
                              cg_binop_name(op), cg_dtype_name(dt), cg_shape_str(a), cg_shape_str(b), got, want);
            } while (next_index(idx, oshape, ond));
        cg_scope_end(s);
    }
}
END_TEST

START_TEST(reductions_on_scrambled_views) {
    cg_rng r = cg_rng_seeded(0xC2);
    const cg_redop ops[] = {CG_SUM, CG_MEAN, CG_MAX, CG_MIN, CG_PROD, CG_LOGSUMEXP};
    for (int trial = 0; trial < 300; trial++) {
        cg_scope *s = cg_scope_begin();
        cg_dtype dt = (cg_dtype)below(&r, 3);
        cg_redop op = ops[below(&r, 6)];
        if (dt == CG_INT64 && (op == CG_MEAN || op == CG_LOGSUMEXP)) op = CG_SUM;
        int nd = 1 + (int)below(&r, 4);
        int64_t shape[CG_MAX_DIMS];
        random_shape(&r, nd, shape);
        cg_tensor *x = scrambled(&r, dt, shape, nd);
        int axes[CG_MAX_DIMS], na = 0;
        bool red[CG_MAX_DIMS];
        for (int d = 0; d < nd; d++)
            if ((red[d] = below(&r, 2))) axes[na++] = below(&r, 2) ? d : d - nd; /* some negative */
        if (na == 0)
            for (int d = 0; d < nd; d++) red[d] = true; /* no axes: all of them */
        bool keep = below(&r, 2);
        int64_t n_in = 1, n_out = 1;
        for (int d = 0; d < nd; d++) *(red[d] ? &n_in : &n_out) *= shape[d];
        cg_tensor *y = cg_k_reduce(op, x, axes, na, keep);
        if (n_in == 0 && (op == CG_MAX || op == CG_MIN)) {
            ck_assert_ptr_null(y);
            ck_assert_error(CG_ERR_SHAPE, "empty");
            cg_scope_end(s);
            continue;
        }
        ck_assert_msg(y != NULL, "%s", cg_last_error());
        ck_assert_int_eq(cg_numel(y), n_out);
        ck_assert_int_eq(y->ndim, keep ? nd : nd - (na ? na : nd));
        /* naive reference, outputs in row-major order of the kept dims */
        double acc[256];
        ck_assert_int_le(n_out, 256);
        double init = op == CG_PROD ? 1 : op == CG_MAX || op == CG_LOGSUMEXP ? -INFINITY : op == CG_MIN ? INFINITY : 0;
        for (int64_t o = 0; o < n_out; o++) acc[o] = init;
        int64_t idx[CG_MAX_DIMS] = {0};
        if (cg_numel(x) > 0) do {
                int64_t o = 0;
                for (int d = 0; d < nd; d++)
                    if (!red[d]) o = o * shape[d] + idx[d];
                double v = cg_get(x, idx);
                switch (op) {
                case CG_PROD: acc[o] *= v; break;
                case CG_MAX: acc[o] = v > acc[o] ? v : acc[o]; break;
                case CG_MIN: acc[o] = v < acc[o] ? v : acc[o]; break;
                case CG_LOGSUMEXP: acc[o] = acc[o] == -INFINITY ? v : fmax(acc[o], v) + log1p(exp(-fabs(acc[o] - v))); break;
                default: acc[o] += v; break;
                }
            } while (next_index(idx, shape, nd));
        if (op == CG_MEAN)
            for (int64_t o = 0; o < n_out; o++) acc[o] = n_in ? acc[o] / (double)n_in : NAN;
        ck_assert_tensor_near(y, acc, n_out, dt == CG_FLOAT32 ? 1e-5 : 1e-12);
        cg_scope_end(s);
    }
}
END_TEST

START_TEST(unary_copy_and_softmax_on_scrambled_views) {
    cg_rng r = cg_rng_seeded(0xD3);
    for (int trial = 0; trial < 200; trial++) {
        cg_scope *s = cg_scope_begin();
        cg_dtype dt = below(&r, 2) ? CG_FLOAT64 : CG_FLOAT32;
        int nd = 1 + (int)below(&r, 4);
        int64_t shape[CG_MAX_DIMS];
        random_shape(&r, nd, shape);
        cg_tensor *x = scrambled(&r, dt, shape, nd);
        cg_tensor *c = cg_k_contiguous(x), *t = cg_k_unary(CG_TANH, x);
        ck_assert(cg_is_contiguous(c));
        int axis = (int)below(&r, nd);
        cg_tensor *sm = cg_k_softmax(x, axis);
        int64_t n = cg_numel(x);
        double want_c[512], want_t[512], want_sm[512];
        ck_assert_int_le(n, 512);
        int64_t idx[CG_MAX_DIMS] = {0}, k = 0;
        if (n > 0) do {
                double v = cg_get(x, idx), z = 0, m = -INFINITY;
                int64_t j[CG_MAX_DIMS];
                memcpy(j, idx, sizeof j);
                for (j[axis] = 0; j[axis] < shape[axis]; j[axis]++) m = fmax(m, cg_get(x, j));
                for (j[axis] = 0; j[axis] < shape[axis]; j[axis]++) z += exp(cg_get(x, j) - m);
                want_c[k] = v;
                want_t[k] = tanh(v);
                want_sm[k++] = exp(v - m) / z;
            } while (next_index(idx, shape, nd));
        ck_assert_tensor_near(c, want_c, n, 0);
        ck_assert_tensor_near(t, want_t, n, 1e-6);
        ck_assert_tensor_near(sm, want_sm, n, 1e-6);
        /* in-place ops through a writable scrambled view land in the base */
        if (n > 0 && !cg_k_has_nonfinite(x)) {
            bool writable = true;
            for (int d = 0; d < nd; d++) writable &= !(x->strides[d] == 0 && shape[d] > 1);
            if (writable) {
                cg_k_scalar_(CG_MUL, x, 2);
                for (int64_t i = 0; i < n; i++) want_c[i] *= 2;
                ck_assert_tensor_near(x, want_c, n, 0);
            }
        }
        cg_scope_end(s);
    }
}
END_TEST

START_TEST(reshape_and_view_on_scrambled_views) {
    cg_rng r = cg_rng_seeded(0xE4);
    int views = 0;
    for (int trial = 0; trial < 300; trial++) {
        cg_scope *s = cg_scope_begin();
        int nd = 1 + (int)below(&r, 4);
        int64_t shape[CG_MAX_DIMS];
        random_shape(&r, nd, shape);
        cg_tensor *x = scrambled(&r, CG_FLOAT32, shape, nd);
        /* a new shape: x's sizes regrouped (split into prime factors, merged at random) */
        int64_t f[32], target[CG_MAX_DIMS];
        int nf = 0, tn = 0;
        for (int d = 0; d < nd; d++) {
            int64_t v = shape[d];
            for (int64_t p = 2; v > 1 && p <= v; p++)
                while (v % p == 0) f[nf++] = p, v /= p;
            if (shape[d] <= 1) f[nf++] = shape[d];
        }
        for (int i = 0; i < nf; i++) {
            if (tn > 0 && (tn == CG_MAX_DIMS || below(&r, 2))) target[tn - 1] *= f[i];
            else target[tn++] = f[i];
        }
        if (below(&r, 4) == 0 && cg_numel(x) > 0) target[below(&r, tn)] = -1;
        cg_tensor *re = cg_k_reshape(x, target, tn);
        ck_assert_msg(re != NULL, "%s", cg_last_error());
        ck_assert_int_eq(cg_numel(re), cg_numel(x));
        ck_assert(same_bits(cg_k_reshape(cg_k_contiguous(x), CG_SHAPE(-1)), cg_k_reshape(re, CG_SHAPE(-1))));
        cg_tensor *v = cg_k_view(x, target, tn);
        if (v) {
            views++;
            ck_assert_ptr_eq(v->storage, x->storage);
            ck_assert(same_bits(v, re));
        } else {
            ck_assert_error(CG_ERR_SHAPE, "cg_view");
            ck_assert(!cg_is_contiguous(x)); /* a contiguous tensor is always viewable */
            ck_assert_ptr_ne(re->storage, x->storage);
        }
        cg_scope_end(s);
    }
    ck_assert_int_gt(views, 50);
    ck_assert_int_lt(views, 290);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tensor_strided");
    TCase *tc = tcase_create("strided");
    tcase_add_test(tc, binary_broadcast_on_scrambled_views);
    tcase_add_test(tc, reductions_on_scrambled_views);
    tcase_add_test(tc, unary_copy_and_softmax_on_scrambled_views);
    tcase_add_test(tc, reshape_and_view_on_scrambled_views);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(suite()); }
