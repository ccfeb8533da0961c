/* Optimizers: presets, parameter groups, and one elementwise update per
 * kind driven by a shared loop over float32/float64 data. */
#include "optim_internal.h"
#include "simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- presets */

cg_sgd_opts cg_sgd_torch(void) { return (cg_sgd_opts){.lr = 1e-3}; }
cg_sgd_opts cg_sgd_keras(void) { return (cg_sgd_opts){.lr = 1e-2}; }
cg_adam_opts cg_adam_torch(void) { return (cg_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}; }
cg_adam_opts cg_adam_keras(void) {
    return (cg_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-7, .eps_hat = true};
}
cg_adam_opts cg_adamw_torch(void) {
    cg_adam_opts o = cg_adam_torch();
    o.weight_decay = 1e-2;
    return o;
}
cg_adam_opts cg_adamw_keras(void) {
    cg_adam_opts o = cg_adam_keras();
    o.weight_decay = 4e-3;
    return o;
}
cg_rmsprop_opts cg_rmsprop_torch(void) { return (cg_rmsprop_opts){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8}; }
cg_rmsprop_opts cg_rmsprop_keras(void) { return (cg_rmsprop_opts){.lr = 1e-3, .alpha = 0.9, .eps = 1e-7}; }
cg_adagrad_opts cg_adagrad_torch(void) { return (cg_adagrad_opts){.lr = 1e-2, .eps = 1e-10}; }
cg_adagrad_opts cg_adagrad_keras(void) {
    return (cg_adagrad_opts){.lr = 1e-3, .eps = 1e-7, .initial_accumulator = 0.1};
}
cg_adadelta_opts cg_adadelta_torch(void) { return (cg_adadelta_opts){.lr = 1.0, .rho = 0.9, .eps = 1e-6}; }
cg_adadelta_opts cg_adadelta_keras(void) { return (cg_adadelta_opts){.lr = 1e-3, .rho = 0.95, .eps = 1e-7}; }

/* ------------------------------------------------------ kinds and slots */

static const struct {
    const char *fn, *name, *slots[OPTIM_SLOTS];
} KINDS[] = {
    [K_SGD] = {"cg_sgd_new", "sgd", {"momentum_buffer"}},
    [K_ADAM] = {"cg_adam_new", "adam", {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    [K_ADAMW] = {"cg_adamw_new", "adamw", {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    [K_RMSPROP] = {"cg_rmsprop_new", "rmsprop", {"square_avg", "momentum_buffer", "grad_avg"}},
    [K_ADAGRAD] = {"cg_adagrad_new", "adagrad", {"sum"}},
    [K_ADADELTA] = {"cg_adadelta_new", "adadelta", {"square_avg", "acc_delta"}},
};

const char *cg__optim_kind_name(optim_kind k) { return KINDS[k].name; }
const char *cg__optim_slot_name(const cg_optim *o, int k) { return KINDS[o->kind].slots[k]; }
const char *cg_optim_name(const cg_optim *opt) { return opt ? KINDS[opt->kind].name : "NULL"; }

/* -------------------------------------------- per-element update rules */
/* Updates compute in the parameter's dtype, as PyTorch and Keras do: float
 * arithmetic (sqrtf, fmaxf) for float32, double for float64. The scalars of
 * an update depend on the parameter's group and step; make_coef computes
 * them in double (pow, sqrt, 1 - beta, ...) and each update casts them once
 * to its type. */

/* X(T, name) for each scalar of an update. */
#define COEF_SCALARS(X, T)                                                                         \
    X(T, lr)                                                                                       \
    X(T, a)      /* Adam: step size; Adagrad: decayed lr */                                        \
    X(T, b)      /* Adam: sqrt(1 - beta2^t) */                                                     \
    X(T, wd)     /* weight_decay */                                                                \
    X(T, decay)  /* AdamW: 1 - lr * weight_decay */                                                \
    X(T, mom)    /* SGD, RMSprop: momentum */                                                      \
    X(T, damp)   /* SGD: 1 - dampening */                                                          \
    X(T, nbeta1) /* Adam: 1 - beta1 */                                                             \
    X(T, rho)    /* decay of the squared average: Adam's beta2, RMSprop's alpha, Adadelta's rho */ \
    X(T, nrho)   /* 1 - rho */                                                                     \
    X(T, eps)
#define COEF_FIELD(T, name) T name;
#define COEF_CAST(T, name) .name = (T)c->name,

typedef struct coef {
    const cg_optim *o;
    bool first; /* the parameter's first update */
    COEF_SCALARS(COEF_FIELD, double)
} coef;

/* The shared loop: one instance per rule and type, so each rule inlines. */
#define DEFINE_LOOP(T, F, rule)                                                                    \
    static void rule##_loop_##F(const coef *cd, int64_t n, T *P, const T *G, void *const *sd) {    \
        const coef_##F c = coef_##F##_of(cd);                                                      \
        T *S0 = sd[0], *S1 = sd[1], *S2 = sd[2];                                                   \
        _Pragma("omp parallel for schedule(static) if (n >= OPTIM_GRAIN)")                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T s[OPTIM_SLOTS] = {S0 ? S0[i] : 0, S1 ? S1[i] : 0, S2 ? S2[i] : 0}, x = P[i];         \
            rule##_##F(&c, G[i], &x, s);                                                           \
            P[i] = x;                                                                              \
            if (S0) S0[i] = s[0];                                                                  \
            if (S1) S1[i] = s[1];                                                                  \
            if (S2) S2[i] = s[2];                                                                  \
        }                                                                                          \
    }

/* For one type T (suffix F, square root SQRT, maximum FMAX): the scalars in
 * T, and one function per rule updating one element: g the gradient, *p the
 * parameter, s[] the state slots (unused slots read as 0 and are not
 * stored). Options that only select a branch are read from c->o. */
#define DEFINE_RULES(T, F, SQRT, FMAX)                                                             \
    typedef struct coef_##F {                                                                      \
        const cg_optim *o;                                                                         \
        bool first;                                                                                \
        COEF_SCALARS(COEF_FIELD, T)                                                                \
    } coef_##F;                                                                                    \
    static inline coef_##F coef_##F##_of(const coef *c) {                                          \
        return (coef_##F){.o = c->o, .first = c->first, COEF_SCALARS(COEF_CAST, T)};               \
    }                                                                                              \
                                                                                                   \
    static inline void sgd_##F(const coef_##F *c, T g, T *p, T *s) {                               \
        const cg_sgd_opts *o = &c->o->o.sgd;                                                       \
        if (o->weight_decay != 0) g += c->wd * *p;                                                 \
        if (o->momentum != 0) {                                                                    \
            s[0] = c->first ? g : c->mom * s[0] + c->damp * g;                                     \
            g = o->nesterov ? g + c->mom * s[0] : s[0];                                            \
        }                                                                                          \
        *p -= c->lr * g;                                                                           \
    }                                                                                              \
                                                                                                   \
    /* Adam after weight decay: the moments, then the step to subtract from p. */                  \
    static inline void adam_moments_##F(const coef_##F *c, T g, T *m, T *v) {                      \
        *m += (g - *m) * c->nbeta1;                                                                \
        *v = c->rho * *v + c->nrho * g * g;                                                        \
    }                                                                                              \
    static inline T adam_delta_##F(const coef_##F *c, bool eps_hat, T m, T v) {                    \
        return c->a * m / (eps_hat ? SQRT(v) + c->eps : SQRT(v) / c->b + c->eps);                  \
    }                                                                                              \
    static inline void adam_##F(const coef_##F *c, T g, T *p, T *s) {                              \
        const cg_adam_opts *o = &c->o->o.adam;                                                     \
        if (c->o->kind == K_ADAMW) *p *= c->decay;                                                 \
        else if (o->weight_decay != 0) g += c->wd * *p;                                            \
        adam_moments_##F(c, g, &s[0], &s[1]);                                                      \
        T v = s[1];                                                                                \
        if (o->amsgrad) v = s[2] = FMAX(s[2], s[1]);                                               \
        *p -= adam_delta_##F(c, o->eps_hat, s[0], v);                                              \
    }                                                                                              \
                                                                                                   \
    static inline void rmsprop_##F(const coef_##F *c, T g, T *p, T *s) {                           \
        const cg_rmsprop_opts *o = &c->o->o.rms;                                                   \
        if (o->weight_decay != 0) g += c->wd * *p;                                                 \
        s[0] = c->rho * s[0] + c->nrho * g * g;                                                    \
        T w = s[0];                                                                                \
        if (o->centered) {                                                                         \
            s[2] += (g - s[2]) * c->nrho;                                                          \
            w -= s[2] * s[2];                                                                      \
        }                                                                                          \
        T d = o->eps_in_sqrt ? SQRT(w + c->eps) : SQRT(w) + c->eps;                                \
        if (o->momentum > 0) {                                                                     \
            s[1] = c->mom * s[1] + g / d;                                                          \
            *p -= c->lr * s[1];                                                                    \
        } else {                                                                                   \
            *p -= c->lr * g / d;                                                                   \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static inline void adagrad_##F(const coef_##F *c, T g, T *p, T *s) {                           \
        if (c->o->o.adagrad.weight_decay != 0) g += c->wd * *p;                                    \
        s[0] += g * g;                                                                             \
        *p -= c->a * g / (SQRT(s[0]) + c->eps);                                                    \
    }                                                                                              \
                                                                                                   \
    static inline void adadelta_##F(const coef_##F *c, T g, T *p, T *s) {                          \
        if (c->o->o.adadelta.weight_decay != 0) g += c->wd * *p;                                   \
        s[0] = c->rho * s[0] + c->nrho * g * g;                                                    \
        T d = SQRT(s[1] + c->eps) / SQRT(s[0] + c->eps) * g;                                       \
        s[1] = c->rho * s[1] + c->nrho * d * d;                                                    \
        *p -= c->lr * d;                                                                           \
    }                                                                                              \
                                                                                                   \
    DEFINE_LOOP(T, F, sgd)                                                                         \
    DEFINE_LOOP(T, F, adam)                                                                        \
    DEFINE_LOOP(T, F, rmsprop)                                                                     \
    DEFINE_LOOP(T, F, adagrad)                                                                     \
    DEFINE_LOOP(T, F, adadelta)

DEFINE_RULES(float, f32, sqrtf, fmaxf)
DEFINE_RULES(double, f64, sqrt, fmax)

/* The common Adam case (float32, no weight decay, no amsgrad) as one loop
 * the compiler vectorizes: adam_f32's arithmetic (the same inline functions
 * in the same order), so the results are bitwise identical, several times
 * faster. The eps_hat branch is loop-invariant: the compiler makes one
 * vector loop per form. */
CG_HOT static void adam_f32_chunk(const coef_f32 *c, bool eps_hat, int64_t k, int64_t e, float *restrict P,
                                  const float *restrict G, float *restrict M, float *restrict V) {
    const coef_f32 lc = *c; /* a local copy the stores cannot alias */
#pragma omp simd
    for (int64_t i = k; i < e; i++) {
        float m = M[i], v = V[i];
        adam_moments_f32(&lc, G[i], &m, &v);
        M[i] = m;
        V[i] = v;
        P[i] -= adam_delta_f32(&lc, eps_hat, m, v);
    }
}

static void adam_f32_plain(const coef *cd, int64_t n, float *restrict P, const float *restrict G,
                           float *restrict M, float *restrict V) {
    const coef_f32 c = coef_f32_of(cd);
    const bool eps_hat = cd->o->o.adam.eps_hat;
    if (n < 8 * OPTIM_GRAIN) { /* elementwise: the same bits as in chunks; no one-thread OpenMP region */
        adam_f32_chunk(&c, eps_hat, 0, n, P, G, M, V);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < n; k += OPTIM_GRAIN) {
        int64_t e = k + OPTIM_GRAIN < n ? k + OPTIM_GRAIN : n;
        adam_f32_chunk(&c, eps_hat, k, e, P, G, M, V);
    }
}

/* The update of n elements of one parameter, by dtype. */
#define DEFINE_UPDATE(rule)                                                                        \
    static void rule##_update(const coef *c, int64_t n, bool f32, void *pd, const void *gd,        \
                              void *const *sd) {                                                   \
        if (f32) rule##_loop_f32(c, n, pd, gd, sd);                                                \
        else rule##_loop_f64(c, n, pd, gd, sd);                                                    \
    }
DEFINE_UPDATE(sgd)
DEFINE_UPDATE(rmsprop)
DEFINE_UPDATE(adagrad)
DEFINE_UPDATE(adadelta)

static void adam_update(const coef *c, int64_t n, bool f32, void *pd, const void *gd, void *const *sd) {
    const cg_adam_opts *o = &c->o->o.adam;
    if (f32 && c->o->kind == K_ADAM && o->weight_decay == 0 && !o->amsgrad)
        adam_f32_plain(c, n, pd, gd, sd[0], sd[1]);
    else if (f32) adam_loop_f32(c, n, pd, gd, sd);
    else adam_loop_f64(c, n, pd, gd, sd);
}

typedef void (*update_fn)(const coef *, int64_t, bool, void *, const void *, void *const *);
static const update_fn UPDATES[] = {
    [K_SGD] = sgd_update,         [K_ADAM] = adam_update,       [K_ADAMW] = adam_update,
    [K_RMSPROP] = rmsprop_update, [K_ADAGRAD] = adagrad_update, [K_ADADELTA] = adadelta_update,
};

/* The step-dependent scalars of parameter i at its step t (>= 1), in double. */
static coef make_coef(const cg_optim *o, int i, int64_t t) {
    coef c = {.o = o, .lr = cg_optim_get_lr(o, o->group_of[i]), .first = t == 1};
    switch (o->kind) {
    case K_SGD: {
        const cg_sgd_opts *s = &o->o.sgd;
        c.wd = s->weight_decay, c.mom = s->momentum, c.damp = 1 - s->dampening;
        break;
    }
    case K_ADAM:
    case K_ADAMW: {
        const cg_adam_opts *a = &o->o.adam;
        double bc1 = 1 - pow(a->beta1, (double)t), bc2 = 1 - pow(a->beta2, (double)t);
        c.b = sqrt(bc2);
        c.a = a->eps_hat ? c.lr * c.b / bc1 : c.lr / bc1;
        c.wd = a->weight_decay, c.decay = 1 - c.lr * a->weight_decay;
        c.nbeta1 = 1 - a->beta1, c.rho = a->beta2, c.nrho = 1 - a->beta2, c.eps = a->eps;
        break;
    }
    case K_RMSPROP: {
        const cg_rmsprop_opts *r = &o->o.rms;
        c.wd = r->weight_decay, c.mom = r->momentum, c.rho = r->alpha, c.nrho = 1 - r->alpha, c.eps = r->eps;
        break;
    }
    case K_ADAGRAD: {
        const cg_adagrad_opts *a = &o->o.adagrad;
        c.a = c.lr / (1 + (double)(t - 1) * a->lr_decay);
        c.wd = a->weight_decay, c.eps = a->eps;
        break;
    }
    case K_ADADELTA: {
        const cg_adadelta_opts *a = &o->o.adadelta;
        c.wd = a->weight_decay, c.rho = a->rho, c.nrho = 1 - a->rho, c.eps = a->eps;
        break;
    }
    }
    return c;
}

/* The rows a lazy optimizer updates for p, or NULL for a dense update. */
static const int64_t *lazy_rows(const cg_optim *o, const cg_tensor *p, int64_t *n) {
    bool lazy = (o->kind == K_ADAM || o->kind == K_ADAMW) && o->o.adam.lazy;
    return lazy && p->ndim >= 1 && p->shape[0] > 0 ? cg_grad_rows(p, n) : NULL;
}

/* ---------------------------------------------------------- validation */

/* lo <= v <= hi (v < hi when hi_open); NaN fails. */
static bool in_range(const char *fn, const char *name, double v, double lo, double hi, bool hi_open) {
    if (v >= lo && (hi_open ? v < hi : v <= hi)) return true;
    if (isinf(hi)) cg_set_error(CG_ERR_VALUE, "%s: %s = %g must be >= %g", fn, name, v, lo);
    else cg_set_error(CG_ERR_VALUE, "%s: %s = %g is not in [%g, %g%c", fn, name, v, lo, hi, hi_open ? ')' : ']');
    return false;
}

static bool check_opts(optim_kind k, const void *opts) {
    const char *fn = KINDS[k].fn;
    switch (k) {
    case K_SGD: {
        const cg_sgd_opts *o = opts;
        if (!in_range(fn, "lr", o->lr, 0, INFINITY, false) ||
            !in_range(fn, "momentum", o->momentum, 0, INFINITY, false) ||
            !in_range(fn, "dampening", o->dampening, 0, 1, false) ||
            !in_range(fn, "weight_decay", o->weight_decay, 0, INFINITY, false))
            return false;
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
            cg_set_error(CG_ERR_VALUE, "%s: nesterov needs momentum > 0 and dampening = 0 (got %g and %g)", fn,
                         o->momentum, o->dampening);
            return false;
        }
        return true;
    }
    case K_ADAM:
    case K_ADAMW: {
        const cg_adam_opts *o = opts;
        return in_range(fn, "lr", o->lr, 0, INFINITY, false) && in_range(fn, "beta1", o->beta1, 0, 1, true) &&
               in_range(fn, "beta2", o->beta2, 0, 1, true) && in_range(fn, "eps", o->eps, 0, INFINITY, false) &&
               in_range(fn, "weight_decay", o->weight_decay, 0, INFINITY, false);
    }
    case K_RMSPROP: {
        const cg_rmsprop_opts *o = opts;
        return in_range(fn, "lr", o->lr, 0, INFINITY, false) && in_range(fn, "alpha", o->alpha, 0, 1, false) &&
               in_range(fn, "eps", o->eps, 0, INFINITY, false) &&
               in_range(fn, "weight_decay", o->weight_decay, 0, INFINITY, false) &&
               in_range(fn, "momentum", o->momentum, 0, INFINITY, false);
    }
    case K_ADAGRAD: {
        const cg_adagrad_opts *o = opts;
        return in_range(fn, "lr", o->lr, 0, INFINITY, false) &&
               in_range(fn, "lr_decay", o->lr_decay, 0, INFINITY, false) &&
               in_range(fn, "weight_decay", o->weight_decay, 0, INFINITY, false) &&
               in_range(fn, "initial_accumulator", o->initial_accumulator, 0, INFINITY, false) &&
               in_range(fn, "eps", o->eps, 0, INFINITY, false);
    }
    case K_ADADELTA: {
        const cg_adadelta_opts *o = opts;
        return in_range(fn, "lr", o->lr, 0, INFINITY, false) && in_range(fn, "rho", o->rho, 0, 1, false) &&
               in_range(fn, "eps", o->eps, 0, INFINITY, false) &&
               in_range(fn, "weight_decay", o->weight_decay, 0, INFINITY, false);
    }
    }
    return false;
}

static bool check_params(const cg_optim *o, const char *fn, cg_tensor *const *params, int n) {
    if (!params || n < 1) {
        cg_set_error(params ? CG_ERR_VALUE : CG_ERR_NULL, "%s: need at least one parameter (got %d)", fn,
                     params ? n : 0);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cg_tensor *p = params[i];
        const char *why = !p                          ? "is NULL"
                          : !cg_dtype_is_float(p->dtype) ? "is not float32/float64"
                          : !cg_is_contiguous(p)       ? "is not contiguous"
                          : !cg_is_leaf(p)             ? "is not a leaf (the result of an op)"
                                                       : NULL;
        for (int j = 0; !why && j < i; j++)
            if (params[j] == p) why = "is listed twice";
        for (int j = 0; !why && o && j < o->n; j++)
            if (o->params[j] == p) why = "is already in a parameter group";
        if (why) {
            cg_set_error(p ? CG_ERR_VALUE : CG_ERR_NULL, "%s: parameter %d %s %s", fn, i, cg_shape_str(p), why);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------- groups */

/* A copy of an int64/float64 vector with room for `len` entries, in the arena. */
static cg_tensor *grow_vec(cg_tensor *old, cg_dtype dt, int64_t len) {
    cg_tensor *t = cg_zeros(dt, &len, 1);
    if (t && old) memcpy(cg_data(t), cg_data(old), (size_t)cg_numel(old) * cg_dtype_size(dt));
    return t;
}

static cg_status add_group(cg_optim *o, const char *fn, cg_tensor *const *params, int n, double lr) {
    if (!check_params(o, fn, params, n) || !in_range(fn, "lr", lr, 0, INFINITY, false)) return cg_last_status();
    int total = o->n + n;
    if (total > o->cap) {
        int cap = total > 2 * o->cap ? total : 2 * o->cap;
        cg_tensor **ps = realloc(o->params, sizeof *ps * (size_t)cap);
        if (ps) o->params = ps;
        cg_tensor *(*st)[OPTIM_SLOTS] = realloc(o->state, sizeof *st * (size_t)cap);
        if (st) o->state = st;
        int *gr = realloc(o->group_of, sizeof *gr * (size_t)cap);
        if (gr) o->group_of = gr;
        double *bl = realloc(o->base_lr, sizeof *bl * (size_t)cap); /* groups <= params */
        if (bl) o->base_lr = bl;
        if (!ps || !st || !gr || !bl) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
        o->cap = cap;
    }
    /* Fill the new entries past o->n; they count only once everything is allocated. */
    cg_scope_enter(o->arena);
    bool ok = true;
    for (int i = 0; ok && i < n; i++)
        for (int k = 0; k < OPTIM_SLOTS; k++) {
            const cg_tensor *p = params[i];
            cg_tensor *s = o->used[k] ? cg_full(p->dtype, p->shape, p->ndim, o->fill[k]) : NULL;
            o->state[o->n + i][k] = s;
            ok = ok && (s || !o->used[k]);
        }
    cg_tensor *steps = ok ? grow_vec(o->steps, CG_INT64, total) : NULL;
    cg_tensor *groups = steps ? grow_vec(o->groups, CG_INT64, o->ngroups + 1) : NULL;
    cg_tensor *lrs = groups ? grow_vec(o->lr, CG_FLOAT64, o->ngroups + 1) : NULL;
    cg_scope_leave(o->arena);
    if (!lrs) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory for the optimizer state", fn);
    for (int i = 0; i < n; i++) {
        o->params[o->n + i] = params[i];
        o->group_of[o->n + i] = o->ngroups;
    }
    cg_data_i64(groups)[o->ngroups] = n;
    cg_data_f64(lrs)[o->ngroups] = lr;
    o->base_lr[o->ngroups] = lr;
    o->steps = steps, o->groups = groups, o->lr = lrs;
    o->n = total;
    o->ngroups++;
    return CG_OK;
}

cg_status cg_optim_add_group(cg_optim *opt, cg_tensor *const *params, int n, double lr) {
    if (!opt) return cg_set_error(CG_ERR_NULL, "cg_optim_add_group: optimizer is NULL");
    return add_group(opt, "cg_optim_add_group", params, n, lr);
}

static cg_optim *optim_new(optim_kind k, const void *opts, size_t opts_size, cg_tensor *const *params, int n,
                           double lr) {
    if (!check_opts(k, opts)) return NULL;
    cg_optim *o = calloc(1, sizeof *o);
    if (!o || !(o->arena = cg_arena_new())) {
        free(o);
        cg_set_error(CG_ERR_NOMEM, "%s: out of memory", KINDS[k].fn);
        return NULL;
    }
    o->kind = k;
    memcpy(&o->o, opts, opts_size);
    switch (k) {
    case K_SGD: o->used[0] = o->o.sgd.momentum != 0; break;
    case K_ADAM:
    case K_ADAMW: o->used[0] = o->used[1] = true, o->used[2] = o->o.adam.amsgrad; break;
    case K_RMSPROP: o->used[0] = true, o->used[1] = o->o.rms.momentum > 0, o->used[2] = o->o.rms.centered; break;
    case K_ADAGRAD: o->used[0] = true, o->fill[0] = o->o.adagrad.initial_accumulator; break;
    case K_ADADELTA: o->used[0] = o->used[1] = true; break;
    }
    if (add_group(o, KINDS[k].fn, params, n, lr) != CG_OK) {
        cg_optim_free(o);
        return NULL;
    }
    return o;
}

#define DEFINE_NEW(name, kind, T, preset)                                                          \
    cg_optim *name(cg_tensor *const *params, int n, const T *o) {                                  \
        T d = o ? *o : preset();                                                                   \
        return optim_new(kind, &d, sizeof d, params, n, d.lr);                                     \
    }
DEFINE_NEW(cg_sgd_new, K_SGD, cg_sgd_opts, cg_sgd_torch)
DEFINE_NEW(cg_adam_new, K_ADAM, cg_adam_opts, cg_adam_torch)
DEFINE_NEW(cg_adamw_new, K_ADAMW, cg_adam_opts, cg_adamw_torch)
DEFINE_NEW(cg_rmsprop_new, K_RMSPROP, cg_rmsprop_opts, cg_rmsprop_torch)
DEFINE_NEW(cg_adagrad_new, K_ADAGRAD, cg_adagrad_opts, cg_adagrad_torch)
DEFINE_NEW(cg_adadelta_new, K_ADADELTA, cg_adadelta_opts, cg_adadelta_torch)

void cg_optim_free(cg_optim *opt) {
    if (!opt) return;
    cg_arena_free(opt->arena);
    free(opt->params);
    free(opt->state);
    free(opt->group_of);
    free(opt->base_lr);
    free(opt->names);
    free(opt);
}

int cg_optim_num_groups(const cg_optim *opt) { return opt ? opt->ngroups : 0; }

static bool check_group(const cg_optim *opt, const char *fn, int group) {
    if (!opt) return cg_set_error(CG_ERR_NULL, "%s: optimizer is NULL", fn), false;
    if (group < 0 || group >= opt->ngroups)
        return cg_set_error(CG_ERR_INDEX, "%s: group %d does not exist (the optimizer has %d)", fn, group,
                            opt->ngroups),
               false;
    return true;
}

double cg_optim_get_lr(const cg_optim *opt, int group) {
    return check_group(opt, "cg_optim_get_lr", group) ? cg_data_f64(opt->lr)[group] : NAN;
}

double cg_optim_get_base_lr(const cg_optim *opt, int group) {
    return check_group(opt, "cg_optim_get_base_lr", group) ? opt->base_lr[group] : NAN;
}

cg_status cg_optim_set_lr(cg_optim *opt, int group, double lr) {
    if (!check_group(opt, "cg_optim_set_lr", group) || !in_range("cg_optim_set_lr", "lr", lr, 0, INFINITY, false))
        return cg_last_status();
    cg_data_f64(opt->lr)[group] = lr;
    return CG_OK;
}

cg_tensor *const *cg_optim_params(const cg_optim *opt, int *n) {
    if (n) *n = opt ? opt->n : 0;
    return opt ? opt->params : NULL;
}

/* --------------------------------------------------------------- step */

cg_status cg_optim_step(cg_optim *opt) {
    if (!opt) return cg_set_error(CG_ERR_NULL, "cg_optim_step: optimizer is NULL");
    int with_grad = 0;
    for (int i = 0; i < opt->n; i++) {
        const cg_tensor *p = opt->params[i], *g = cg_grad(p);
        if (!g) continue;
        if (!cg_same_shape(p, g) || g->dtype != p->dtype || !cg_is_contiguous(g))
            return cg_set_error(CG_ERR_SHAPE,
                                "cg_optim_step: the gradient of parameter %d %s is %s %s%s; it must be a "
                                "contiguous tensor of the parameter's shape and dtype",
                                i, cg_shape_str(p), cg_dtype_name(g->dtype), cg_shape_str(g),
                                cg_is_contiguous(g) ? "" : " (strided)");
        with_grad++;
    }
    if (!with_grad)
        return cg_set_error(CG_ERR_STATE, "cg_optim_step: no parameter has a gradient; call cg_backward first");
    int64_t *steps = cg_data_i64(opt->steps);
    for (int i = 0; i < opt->n; i++) {
        cg_tensor *p = opt->params[i];
        const cg_tensor *g = cg_grad(p);
        if (!g) continue;
        coef c = make_coef(opt, i, ++steps[i]);
        void *sd[OPTIM_SLOTS];
        for (int k = 0; k < OPTIM_SLOTS; k++) sd[k] = opt->state[i][k] ? cg_data(opt->state[i][k]) : NULL;
        int64_t nrows;
        const int64_t *rows = lazy_rows(opt, p, &nrows);
        if (rows) {
            /* only the rows the gradient touched, each a contiguous slice */
            int64_t len = cg_numel(p) / p->shape[0];
            size_t es = cg_dtype_size(p->dtype);
            for (int64_t r = 0; r < nrows; r++) {
                size_t off = (size_t)(rows[r] * len) * es;
                void *srow[OPTIM_SLOTS];
                for (int k = 0; k < OPTIM_SLOTS; k++) srow[k] = sd[k] ? (char *)sd[k] + off : NULL;
                UPDATES[opt->kind](&c, len, p->dtype == CG_FLOAT32, (char *)cg_data(p) + off,
                                   (const char *)cg_data(g) + off, srow);
            }
        } else {
            UPDATES[opt->kind](&c, cg_numel(p), p->dtype == CG_FLOAT32, cg_data(p), cg_data(g), sd);
        }
        p->storage->version++;
    }
    return CG_OK;
}

void cg_optim_zero_grad(cg_optim *opt) {
    for (int i = 0; opt && i < opt->n; i++) cg_zero_grad(opt->params[i]);
}
