/* cg_gradcheck: backward against float64 central differences. */
#include "autograd_internal.h"

typedef struct {
    cg_gradcheck_fn f;
    void *user;
    cg_tensor *const *inputs;
    int n;
    cg_tensor *w; /* output weights */
} gc_ctx;

/* sum(w * f(inputs)) with recording off, in a scope of its own. */
static bool eval(const gc_ctx *c, double *out) {
    cg_scope *s = cg_scope_begin();
    bool prev = cg_set_grad_enabled(false);
    cg_tensor *y = c->f(c->inputs, c->n, c->user);
    bool ok = false;
    if (y && cg_same_shape(y, c->w) && y->dtype == CG_FLOAT64) {
        cg_tensor *p = cg_k_binary(CG_MUL, y, c->w);
        cg_tensor *r = p ? cg_k_reduce(CG_SUM, p, NULL, 0, false) : NULL;
        if (r) {
            *out = cg_item(r);
            ok = true;
        }
    } else if (y) {
        cg_set_error(CG_ERR_SHAPE, "cg_gradcheck: the function gave %s %s, then %s %s", cg_dtype_name(y->dtype),
                     cg_shape_str(y), cg_dtype_name(c->w->dtype), cg_shape_str(c->w));
    }
    cg_set_grad_enabled(prev);
    cg_scope_end(s);
    return ok;
}

/* eval() with element idx of x set to orig + h (then restored). */
static bool eval_at(const gc_ctx *c, cg_tensor *x, const int64_t *idx, double orig, double h, double *out) {
    cg_set(x, idx, orig + h);
    bool ok = eval(c, out);
    cg_set(x, idx, orig);
    return ok;
}

/* Multi-index of the k-th element in row-major order. */
static void unravel(const cg_tensor *t, int64_t k, int64_t *idx) {
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = k % t->shape[d];
        k /= t->shape[d];
    }
}

cg_status cg_gradcheck(cg_gradcheck_fn f, void *user, cg_tensor *const *inputs, int n, const cg_gradcheck_opts *opts) {
    if (!f || !inputs || n <= 0) return cg_set_error(CG_ERR_NULL, "cg_gradcheck: needs a function and inputs");
    cg_gradcheck_opts o = {1e-6, 1e-5, 1e-3, 0, 1234};
    if (opts) {
        if (opts->eps > 0) o.eps = opts->eps;
        if (opts->atol > 0) o.atol = opts->atol;
        if (opts->rtol > 0) o.rtol = opts->rtol;
        o.max_points = opts->max_points;
        o.seed = opts->seed;
    }
    int checked = 0;
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) return cg_set_error(CG_ERR_NULL, "cg_gradcheck: input %d is NULL", i);
        if (!cg_requires_grad(inputs[i])) continue;
        if (inputs[i]->dtype != CG_FLOAT64)
            return cg_set_error(CG_ERR_DTYPE, "cg_gradcheck: input %d is %s; gradcheck needs float64 inputs", i,
                                cg_dtype_name(inputs[i]->dtype));
        checked++;
    }
    if (!checked) return cg_set_error(CG_ERR_STATE, "cg_gradcheck: no input requires grad");

    cg_scope *s = cg_scope_begin();
    cg_status st = CG_OK;
    /* analytic: d sum(w*y) / d inputs */
    for (int i = 0; i < n; i++) cg_clear_grad(inputs[i]);
    cg_tensor *y = f(inputs, n, user);
    if (!y) {
        st = cg_last_status() != CG_OK ? cg_last_status() : cg_set_error(CG_ERR_STATE, "cg_gradcheck: f returned NULL");
        goto done;
    }
    if (y->dtype != CG_FLOAT64) {
        st = cg_set_error(CG_ERR_DTYPE, "cg_gradcheck: f returned %s; it must return float64", cg_dtype_name(y->dtype));
        goto done;
    }
    cg_rng rng = cg_rng_seeded(o.seed);
    gc_ctx c = {f, user, inputs, n, cg_randn(&rng, CG_FLOAT64, y->shape, y->ndim)};
    cg_tensor *l = c.w ? cg_sum(cg_mul(y, c.w), NULL, 0, false) : NULL;
    if (!l) {
        st = cg_last_status();
        goto done;
    }
    if (cg_requires_grad(l) && (st = cg_backward(l)) != CG_OK) goto done;
    double l0;
    if (!eval(&c, &l0)) {
        st = cg_last_status();
        goto done;
    }
    for (int i = 0; i < n && st == CG_OK; i++) {
        cg_tensor *x = inputs[i];
        if (!cg_requires_grad(x)) continue;
        cg_tensor *ga = cg_grad(x);
        int64_t total = cg_numel(x);
        int64_t step = (o.max_points > 0 && total > o.max_points) ? (total + o.max_points - 1) / o.max_points : 1;
        for (int64_t k = 0; k < total; k += step) {
            int64_t idx[CG_MAX_DIMS];
            unravel(x, k, idx);
            double orig = cg_get(x, idx), lp, lm;
            if (!eval_at(&c, x, idx, orig, o.eps, &lp) || !eval_at(&c, x, idx, orig, -o.eps, &lm)) {
                st = cg_last_status();
                break;
            }
            double num = (lp - lm) / (2 * o.eps), ana = ga ? cg_get(ga, idx) : 0.0;
            double tol = o.atol + o.rtol * fabs(num);
            if (fabs(ana - num) <= tol) continue;
            /* A wrong gradient, or a kink (relu at 0) within eps. At a kink the
             * one-sided slopes differ by a jump that stays when the step
             * shrinks; on a smooth function their difference (eps * f'')
             * shrinks with the step. Look again with a 10x smaller step. */
            double h = o.eps / 10, lp2, lm2;
            if (!eval_at(&c, x, idx, orig, h, &lp2) || !eval_at(&c, x, idx, orig, -h, &lm2)) {
                st = cg_last_status();
                break;
            }
            double jump = (lp - 2 * l0 + lm) / o.eps, jump2 = (lp2 - 2 * l0 + lm2) / h;
            if (fabs(jump) > tol && fabs(jump2) > 0.3 * fabs(jump)) continue; /* a kink: skipped */
            double num2 = (lp2 - lm2) / (2 * h);
            if (fabs(ana - num2) <= o.atol + o.rtol * fabs(num2)) continue; /* the wide step crossed a kink */
            st = cg_set_error(CG_ERR_NUMERIC,
                              "cg_gradcheck: input %d %s, element %s: backward gives %.10g, central differences "
                              "give %.10g (|diff| %.3g > tol %.3g)",
                              i, cg_shape_str(x), cg_dims_str(idx, x->ndim), ana, num, fabs(ana - num), tol);
            break;
        }
    }
done:
    cg_scope_end(s);
    return st;
}
