/* optim: 20-step trajectories against torch.optim (fixtures from
 * tests/reference/optim_fixtures.py) on a quadratic and a two-layer model,
 * the Keras presets against the Keras formulas written out here, parameter
 * groups, clipping, bad input, and no allocation after the first step. */
#include "fixture.h"
#include "testlib.h"

#include <cgrad/optim.h>
#include <string.h>
#include <unistd.h>

#define STEPS 20

/* ------------------------------------------------------------ the cases */
/* Same names and values as CASES in tests/reference/optim_fixtures.py. */

typedef enum { SGD, ADAM, ADAMW, RMSPROP, ADAGRAD, ADADELTA } kind;

typedef struct tcase {
    const char *name;
    kind k;
    cg_sgd_opts sgd;
    cg_adam_opts adam;
    cg_rmsprop_opts rms;
    cg_adagrad_opts ada;
    cg_adadelta_opts add;
} tcase;

#define ADAM_(lr_, b1, b2, eps_, wd, ams)                                                          \
    .adam = {.lr = lr_, .beta1 = b1, .beta2 = b2, .eps = eps_, .weight_decay = wd, .amsgrad = ams}
#define RMS_(lr_, alpha_, wd, mom, cen)                                                            \
    .rms = {.lr = lr_, .alpha = alpha_, .eps = 1e-8, .weight_decay = wd, .momentum = mom, .centered = cen}

static const tcase CASES[] = {
    {"sgd", SGD, .sgd = {.lr = 0.1}},
    {"sgd_momentum", SGD, .sgd = {.lr = 0.1, .momentum = 0.9}},
    {"sgd_dampening", SGD, .sgd = {.lr = 0.1, .momentum = 0.9, .dampening = 0.3}},
    {"sgd_nesterov", SGD, .sgd = {.lr = 0.1, .momentum = 0.9, .nesterov = true}},
    {"sgd_wd", SGD, .sgd = {.lr = 0.1, .momentum = 0.5, .weight_decay = 0.1}},
    {"adam", ADAM, ADAM_(0.05, 0.9, 0.999, 1e-8, 0, false)},
    {"adam_amsgrad", ADAM, ADAM_(0.05, 0.8, 0.99, 1e-8, 0, true)},
    {"adam_wd", ADAM, ADAM_(0.05, 0.9, 0.999, 1e-3, 0.1, false)},
    {"adamw", ADAMW, ADAM_(0.05, 0.9, 0.999, 1e-8, 0.1, false)},
    {"adamw_amsgrad", ADAMW, ADAM_(0.05, 0.9, 0.999, 1e-8, 0.1, true)},
    {"rmsprop", RMSPROP, RMS_(0.01, 0.99, 0, 0, false)},
    {"rmsprop_momentum", RMSPROP, RMS_(0.01, 0.99, 0, 0.5, false)},
    {"rmsprop_centered", RMSPROP, RMS_(0.01, 0.9, 0, 0, true)},
    {"rmsprop_centered_momentum", RMSPROP, RMS_(0.01, 0.99, 0.1, 0.5, true)},
    {"adagrad", ADAGRAD, .ada = {.lr = 0.1, .eps = 1e-10}},
    {"adagrad_decay", ADAGRAD,
     .ada = {.lr = 0.1, .lr_decay = 0.1, .initial_accumulator = 0.1, .weight_decay = 0.1, .eps = 1e-10}},
    {"adadelta", ADADELTA, .add = {.lr = 1.0, .rho = 0.9, .eps = 1e-6}},
    {"adadelta_rho", ADADELTA, .add = {.lr = 0.5, .rho = 0.5, .eps = 1e-4, .weight_decay = 0.1}},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static cg_optim *make(const tcase *c, cg_tensor **ps, int n) {
    switch (c->k) {
    case SGD: return cg_sgd_new(ps, n, &c->sgd);
    case ADAM: return cg_adam_new(ps, n, &c->adam);
    case ADAMW: return cg_adamw_new(ps, n, &c->adam);
    case RMSPROP: return cg_rmsprop_new(ps, n, &c->rms);
    case ADAGRAD: return cg_adagrad_new(ps, n, &c->ada);
    case ADADELTA: return cg_adadelta_new(ps, n, &c->add);
    }
    return NULL;
}

static const tcase *find_case(const char *name) {
    for (int i = 0; i < NCASES; i++)
        if (!strcmp(CASES[i].name, name)) return &CASES[i];
    ck_abort_msg("no case %s", name);
    return NULL;
}

/* ---------------------------------------------------------- the problems */

typedef struct problem {
    bool model; /* the two-layer model, else the quadratic */
    cg_tensor *data[2];
    cg_tensor *p[4];
    int n;
} problem;

/* Fresh parameters (leaves requiring grad, outside any scope) from the fixture. */
static problem load_problem(const fixture *fx, bool model) {
    problem pr = {.model = model};
    static const char *qn[] = {"x"}, *mn[] = {"W1", "b1", "W2", "b2"};
    pr.n = model ? 4 : 1;
    pr.data[0] = fx_get(fx, model ? "in" : "A");
    pr.data[1] = fx_get(fx, model ? "target" : "b");
    for (int i = 0; i < pr.n; i++) pr.p[i] = cg_requires_grad_(fx_get(fx, model ? mn[i] : qn[i]), true);
    return pr;
}

static cg_tensor *loss_of(const problem *pr) {
    if (!pr->model) {
        cg_tensor *r = cg_sub(cg_matmul(pr->data[0], pr->p[0]), pr->data[1]);
        return cg_mul_scalar(cg_sum(cg_square(r), NULL, 0, false), 0.5);
    }
    cg_tensor *h = cg_tanh(cg_linear(pr->data[0], pr->p[0], pr->p[1]));
    return cg_mean(cg_square(cg_sub(cg_linear(h, pr->p[2], pr->p[3]), pr->data[1])), NULL, 0, false);
}

typedef enum { NO_CLIP, CLIP_NORM, CLIP_VALUE } clip_mode;

/* `steps` training steps; losses[i] (if not NULL) gets the loss before step i. */
static void train(problem *pr, cg_optim *opt, int steps, clip_mode clip, double *losses) {
    for (int s = 0; s < steps; s++) {
        cg_scope *sc = cg_scope_begin();
        cg_optim_zero_grad(opt);
        cg_tensor *loss = loss_of(pr);
        ck_assert_msg(loss && cg_backward(loss) == CG_OK, "%s", cg_last_error());
        if (losses) losses[s] = cg_item(loss);
        if (clip == CLIP_NORM) ck_assert_int_eq(cg_clip_grad_norm(pr->p, pr->n, 0.5, NULL), CG_OK);
        if (clip == CLIP_VALUE) ck_assert_int_eq(cg_clip_grad_value(pr->p, pr->n, 0.05), CG_OK);
        ck_assert_msg(cg_optim_step(opt) == CG_OK, "%s", cg_last_error());
        cg_scope_end(sc);
    }
}

/* Compare losses and final parameters with the fixture's "<name>.loss/.pI". */
static void check_against(const fixture *fx, const char *name, const problem *pr, const double *losses, double tol) {
    char key[128];
    snprintf(key, sizeof key, "%s.loss", name);
    cg_tensor *want = fx_get(fx, key);
    ck_assert_int_eq(cg_numel(want), STEPS);
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(fabs(losses[s] - cg_data_f64(want)[s]) <= tol * (1 + fabs(losses[s])),
                      "%s: loss at step %d is %.12g, torch has %.12g", name, s, losses[s], cg_data_f64(want)[s]);
    for (int i = 0; i < pr->n; i++) {
        snprintf(key, sizeof key, "%s.p%d", name, i);
        cg_tensor *w = cg_to_dtype(fx_get(fx, key), CG_FLOAT64);
        cgt_assert_near(key, __LINE__, pr->p[i], cg_data_f64(w), cg_numel(w), tol);
    }
}

/* The problem's data and parameters as float32 (from a float64 fixture). */
static void to_float32(problem *pr) {
    for (int i = 0; i < 2; i++) pr->data[i] = cg_to_dtype(pr->data[i], CG_FLOAT32);
    for (int i = 0; i < pr->n; i++) pr->p[i] = cg_requires_grad_(cg_to_dtype(pr->p[i], CG_FLOAT32), true);
}

/* Each case on the fixture's problem against torch's trajectory; as_f32
 * runs it in float32 (the fixture's values rounded). */
static void run_torch_cases(const char *file, bool model, const char *const *names, int n, double tol, bool as_f32) {
    fixture *fx = fx_load(file);
    for (int i = 0; i < n; i++) {
        const tcase *c = find_case(names[i]);
        problem pr = load_problem(fx, model);
        if (as_f32) to_float32(&pr);
        cg_optim *opt = make(c, pr.p, pr.n);
        ck_assert_msg(opt, "%s: %s", c->name, cg_last_error());
        double losses[STEPS];
        train(&pr, opt, STEPS, NO_CLIP, losses);
        check_against(fx, c->name, &pr, losses, tol);
        cg_optim_free(opt);
    }
    fx_free(fx);
}

static const char **all_names(void) {
    static const char *names[NCASES];
    for (int i = 0; i < NCASES; i++) names[i] = CASES[i].name;
    return names;
}

START_TEST(torch_quadratic) { run_torch_cases("optim_quadratic.txt", false, all_names(), NCASES, 1e-6, false); }
END_TEST

START_TEST(torch_model) { run_torch_cases("optim_model.txt", true, all_names(), NCASES, 1e-6, false); }
END_TEST

/* float32 parameters update in float arithmetic, as torch does. */
START_TEST(torch_model_float32) {
    static const char *names[] = {"sgd_momentum", "adam", "rmsprop_centered", "adagrad"};
    run_torch_cases("optim_model_f32.txt", true, names, 4, 1e-6, false);
}
END_TEST

/* Every rule's float32 instance stays near torch's float64 trajectory. */
START_TEST(torch_model_float32_all) { run_torch_cases("optim_model.txt", true, all_names(), NCASES, 1e-6, true); }
END_TEST

START_TEST(torch_groups) {
    fixture *fx = fx_load("optim_model.txt");
    problem pr = load_problem(fx, true);
    cg_adam_opts o = cg_adam_torch();
    o.lr = 0.05;
    cg_optim *opt = cg_adam_new(pr.p, 2, &o);
    ck_assert_int_eq(cg_optim_add_group(opt, pr.p + 2, 2, 0.01), CG_OK);
    ck_assert_int_eq(cg_optim_num_groups(opt), 2);
    ck_assert_double_eq(cg_optim_get_lr(opt, 1), 0.01);
    double losses[STEPS];
    train(&pr, opt, STEPS, NO_CLIP, losses);
    check_against(fx, "groups", &pr, losses, 1e-6);
    cg_optim_free(opt);
    fx_free(fx);
}
END_TEST

START_TEST(torch_clipping) {
    fixture *fx = fx_load("optim_model.txt");
    cg_sgd_opts o = {.lr = 0.1, .momentum = 0.9};
    const char *names[] = {"clip_norm", "clip_value"};
    for (int m = 0; m < 2; m++) {
        problem pr = load_problem(fx, true);
        cg_optim *opt = cg_sgd_new(pr.p, pr.n, &o);
        double losses[STEPS];
        train(&pr, opt, STEPS, m == 0 ? CLIP_NORM : CLIP_VALUE, losses);
        check_against(fx, names[m], &pr, losses, 1e-6);
        cg_optim_free(opt);
    }
    /* The reported norm is the one before clipping, and clipping hits max_norm. */
    problem pr = load_problem(fx, true);
    ck_assert_int_eq(cg_backward(loss_of(&pr)), CG_OK);
    double total = 0, after = 0;
    ck_assert_int_eq(cg_clip_grad_norm(pr.p, pr.n, 0.5, &total), CG_OK);
    ck_assert_double_eq_tol(total, fx_scalar(fx, "clip_norm.total0"), 1e-12);
    ck_assert_double_gt(total, 0.5);
    ck_assert_int_eq(cg_clip_grad_norm(pr.p, pr.n, 1e9, &after), CG_OK);
    ck_assert_double_eq_tol(after, 0.5 * total / (total + 1e-6), 1e-12);
    fx_free(fx);
}
END_TEST

/* ------------------------------------------------------ Keras formulas */
/* The Keras (TF2 Keras 2.x) update rules, written out on plain arrays for the
 * quadratic 0.5 * |A x - b|^2, whose gradient is A^T (A x - b). */

static void quad_grad(const double *A, const double *b, const double *x, double *g) {
    double r[4];
    for (int i = 0; i < 4; i++) r[i] = A[3 * i] * x[0] + A[3 * i + 1] * x[1] + A[3 * i + 2] * x[2] - b[i];
    for (int j = 0; j < 3; j++) g[j] = A[j] * r[0] + A[3 + j] * r[1] + A[6 + j] * r[2] + A[9 + j] * r[3];
}

typedef enum { K_ADAM, K_RMSPROP, K_RMSPROP_MOMENTUM, K_ADAGRAD, K_ADADELTA, K_SGD_NESTEROV } keras_rule;

/* One Keras step at iteration t (1-based) with hyper-parameters h. */
static void keras_step(keras_rule r, const double *h, int t, const double *g, double *x, double (*s)[3]) {
    for (int j = 0; j < 3; j++) {
        double *m = &s[0][j], *v = &s[1][j], *u = &s[2][j];
        switch (r) {
        case K_ADAM: { /* lr, beta_1, beta_2, epsilon */
            double lr_t = h[0] * sqrt(1 - pow(h[2], t)) / (1 - pow(h[1], t));
            *m = h[1] * *m + (1 - h[1]) * g[j];
            *v = h[2] * *v + (1 - h[2]) * g[j] * g[j];
            x[j] -= lr_t * *m / (sqrt(*v) + h[3]);
            break;
        }
        case K_RMSPROP: /* lr, rho, epsilon: optimizer_v2 dense path without momentum */
            *v = h[1] * *v + (1 - h[1]) * g[j] * g[j];
            x[j] -= h[0] * g[j] / (sqrt(*v) + h[2]);
            break;
        case K_RMSPROP_MOMENTUM: /* lr, rho, epsilon, momentum: ResourceApplyRMSProp */
            *v = h[1] * *v + (1 - h[1]) * g[j] * g[j];
            *m = h[3] * *m + h[0] * g[j] / sqrt(*v + h[2]);
            x[j] -= *m;
            break;
        case K_ADAGRAD: /* lr, epsilon (accumulator starts at 0.1) */
            if (t == 1) *v = 0.1;
            *v += g[j] * g[j];
            x[j] -= h[0] * g[j] / (sqrt(*v) + h[1]);
            break;
        case K_ADADELTA: { /* lr, rho, epsilon */
            *v = h[1] * *v + (1 - h[1]) * g[j] * g[j];
            double d = -sqrt(*u + h[2]) / sqrt(*v + h[2]) * g[j];
            *u = h[1] * *u + (1 - h[1]) * d * d;
            x[j] += h[0] * d;
            break;
        }
        case K_SGD_NESTEROV: /* lr, momentum: v = m v - lr g; x += m v - lr g */
            *m = h[1] * *m - h[0] * g[j];
            x[j] += h[1] * *m - h[0] * g[j];
            break;
        }
    }
}

static void check_keras(keras_rule r, const double *h, cg_optim *(*mk)(cg_tensor **, const void *), const void *opts) {
    fixture *fx = fx_load("optim_quadratic.txt");
    problem pr = load_problem(fx, false);
    double A[12], b[4], x[3], s[3][3] = {{0}}, g[3];
    memcpy(A, cg_data_f64(pr.data[0]), sizeof A);
    memcpy(b, cg_data_f64(pr.data[1]), sizeof b);
    memcpy(x, cg_data_f64(pr.p[0]), sizeof x);
    cg_optim *opt = mk(pr.p, opts);
    ck_assert_msg(opt, "%s", cg_last_error());
    for (int t = 1; t <= STEPS; t++) {
        quad_grad(A, b, x, g);
        keras_step(r, h, t, g, x, s);
        train(&pr, opt, 1, NO_CLIP, NULL);
        cgt_assert_near(__FILE__, __LINE__, pr.p[0], x, 3, 1e-12);
    }
    cg_optim_free(opt);
    fx_free(fx);
}

static cg_optim *mk_adam(cg_tensor **p, const void *o) { return cg_adam_new(p, 1, o); }
static cg_optim *mk_rms(cg_tensor **p, const void *o) { return cg_rmsprop_new(p, 1, o); }
static cg_optim *mk_adagrad(cg_tensor **p, const void *o) { return cg_adagrad_new(p, 1, o); }
static cg_optim *mk_adadelta(cg_tensor **p, const void *o) { return cg_adadelta_new(p, 1, o); }
static cg_optim *mk_sgd(cg_tensor **p, const void *o) { return cg_sgd_new(p, 1, o); }

START_TEST(keras_presets) {
    /* Keras' `optimizer='adam'`: lr 1e-3, betas 0.9/0.999, epsilon hat 1e-7. */
    cg_adam_opts adam = cg_adam_keras();
    ck_assert(adam.lr == 1e-3 && adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.eps == 1e-7 && adam.eps_hat);
    check_keras(K_ADAM, (double[]){1e-3, 0.9, 0.999, 1e-7}, mk_adam, &adam);
    adam.lr = 0.05, adam.eps = 0.1; /* a large epsilon makes the two forms visibly differ */
    check_keras(K_ADAM, (double[]){0.05, 0.9, 0.999, 0.1}, mk_adam, &adam);

    /* RMSprop(lr=1e-4) of the lessons: rho 0.9, epsilon 1e-7 after the sqrt. */
    cg_rmsprop_opts rms = cg_rmsprop_keras();
    ck_assert(rms.lr == 1e-3 && rms.alpha == 0.9 && rms.eps == 1e-7 && !rms.eps_in_sqrt && !rms.centered);
    rms.lr = 1e-4;
    check_keras(K_RMSPROP, (double[]){1e-4, 0.9, 1e-7}, mk_rms, &rms);
    rms.lr = 0.01, rms.eps = 0.5;
    check_keras(K_RMSPROP, (double[]){0.01, 0.9, 0.5}, mk_rms, &rms);
    rms.momentum = 0.7, rms.eps_in_sqrt = true;
    check_keras(K_RMSPROP_MOMENTUM, (double[]){0.01, 0.9, 0.5, 0.7}, mk_rms, &rms);

    cg_adagrad_opts ada = cg_adagrad_keras();
    ada.lr = 0.1;
    check_keras(K_ADAGRAD, (double[]){0.1, 1e-7}, mk_adagrad, &ada);
    cg_adadelta_opts add = cg_adadelta_keras();
    ck_assert(add.lr == 1e-3 && add.rho == 0.95 && add.eps == 1e-7);
    add.lr = 1.0;
    check_keras(K_ADADELTA, (double[]){1.0, 0.95, 1e-7}, mk_adadelta, &add);
    cg_sgd_opts sgd = cg_sgd_keras();
    ck_assert(sgd.lr == 1e-2);
    sgd.momentum = 0.9, sgd.nesterov = true;
    check_keras(K_SGD_NESTEROV, (double[]){1e-2, 0.9}, mk_sgd, &sgd);

    /* The PyTorch presets hold PyTorch's defaults. */
    ck_assert(cg_adam_torch().eps == 1e-8 && !cg_adam_torch().eps_hat);
    ck_assert(cg_rmsprop_torch().lr == 1e-2 && cg_rmsprop_torch().alpha == 0.99 && cg_rmsprop_torch().eps == 1e-8);
    ck_assert(cg_adamw_torch().weight_decay == 1e-2 && cg_adagrad_torch().eps == 1e-10);
}
END_TEST

/* ----------------------------------------------------------- behaviour */

START_TEST(skips_params_without_grad) {
    cg_tensor *a = cg_requires_grad_(cg_full(CG_FLOAT32, CG_SHAPE(3), 1.0), true);
    cg_tensor *b = cg_requires_grad_(cg_full(CG_FLOAT32, CG_SHAPE(2), 2.0), true);
    cg_tensor *ps[] = {a, b};
    cg_optim *opt = cg_adam_new(ps, 2, NULL);
    ck_assert_int_eq(cg_optim_step(opt), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "no parameter has a gradient; call cg_backward first");
    cg_scope *s = cg_scope_begin();
    ck_assert_int_eq(cg_backward(cg_sum(cg_square(a), NULL, 0, false)), CG_OK);
    uint64_t va = a->storage->version, vb = b->storage->version;
    ck_assert_int_eq(cg_optim_step(opt), CG_OK);
    cg_scope_end(s);
    /* Adam's first step moves every element by lr against the gradient's sign. */
    cgt_assert_near(__FILE__, __LINE__, a, (double[]){1 - 1e-3, 1 - 1e-3, 1 - 1e-3}, 3, 1e-6);
    cgt_assert_near(__FILE__, __LINE__, b, (double[]){2, 2}, 2, 0);
    ck_assert(a->storage->version > va && b->storage->version == vb);
    cg_named_tensor st[8];
    ck_assert_int_eq(cg_optim_state_tensors(opt, st, 8), 3 + 2 * 2);
    ck_assert_str_eq(st[0].name, "optim.adam.step");
    ck_assert_int_eq(cg_data_i64(st[0].tensor)[0], 1);
    ck_assert_int_eq(cg_data_i64(st[0].tensor)[1], 0);
    ck_assert_str_eq(st[3].name, "optim.adam.0.exp_avg");
    ck_assert_str_eq(st[6].name, "optim.adam.1.exp_avg_sq");
    cg_optim_zero_grad(opt);
    cgt_assert_near(__FILE__, __LINE__, cg_grad(a), (double[]){0, 0, 0}, 3, 0);
    cg_optim_free(opt);
}
END_TEST

START_TEST(learning_rates) {
    cg_tensor *a = cg_requires_grad_(cg_ones(CG_FLOAT64, CG_SHAPE(2)), true);
    cg_optim *opt = cg_sgd_new(&a, 1, &(cg_sgd_opts){.lr = 0.5});
    ck_assert_str_eq(cg_optim_name(opt), "sgd");
    ck_assert_int_eq(cg_optim_set_lr(opt, 0, 0.25), CG_OK);
    ck_assert_double_eq(cg_optim_get_lr(opt, 0), 0.25);
    ck_assert_double_eq(cg_optim_get_base_lr(opt, 0), 0.5);
    cg_scope *s = cg_scope_begin();
    ck_assert_int_eq(cg_backward(cg_sum(a, NULL, 0, false)), CG_OK);
    ck_assert_int_eq(cg_optim_step(opt), CG_OK);
    cg_scope_end(s);
    cgt_assert_near(__FILE__, __LINE__, a, (double[]){0.75, 0.75}, 2, 0);
    int n = 0;
    ck_assert_ptr_eq(cg_optim_params(opt, &n)[0], a);
    ck_assert_int_eq(n, 1);
    cg_optim_free(opt);
}
END_TEST

START_TEST(bad_input) {
    cg_tensor *w = cg_requires_grad_(cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3)), true);
    cg_tensor *ps[] = {w, w};
    ck_assert_ptr_null(cg_sgd_new(ps, 1, &(cg_sgd_opts){.lr = -0.1}));
    ck_assert_error(CG_ERR_VALUE, "cg_sgd_new: lr = -0.1 must be >= 0");
    cg_adam_opts a = cg_adam_torch();
    a.beta1 = 1.2;
    ck_assert_ptr_null(cg_adam_new(ps, 1, &a));
    ck_assert_error(CG_ERR_VALUE, "cg_adam_new: beta1 = 1.2 is not in [0, 1)");
    a = cg_adam_keras(), a.beta2 = 1.0;
    ck_assert_ptr_null(cg_adamw_new(ps, 1, &a));
    ck_assert_error(CG_ERR_VALUE, "cg_adamw_new: beta2 = 1 is not in [0, 1)");
    a = cg_adam_torch(), a.eps = NAN;
    ck_assert_ptr_null(cg_adam_new(ps, 1, &a));
    ck_assert_error(CG_ERR_VALUE, "eps = nan");
    ck_assert_ptr_null(cg_sgd_new(ps, 1, &(cg_sgd_opts){.lr = 0.1, .nesterov = true}));
    ck_assert_error(CG_ERR_VALUE, "nesterov needs momentum > 0");
    cg_rmsprop_opts r = cg_rmsprop_torch();
    r.alpha = 1.5;
    ck_assert_ptr_null(cg_rmsprop_new(ps, 1, &r));
    ck_assert_error(CG_ERR_VALUE, "cg_rmsprop_new: alpha = 1.5 is not in [0, 1]");
    ck_assert_ptr_null(cg_adagrad_new(ps, 1, &(cg_adagrad_opts){.lr = 0.1, .lr_decay = -1}));
    ck_assert_error(CG_ERR_VALUE, "lr_decay = -1");
    ck_assert_ptr_null(cg_adadelta_new(ps, 0, NULL));
    ck_assert_error(CG_ERR_VALUE, "need at least one parameter");
    ck_assert_ptr_null(cg_adadelta_new(NULL, 1, NULL));
    ck_assert_error(CG_ERR_NULL, "cg_adadelta_new");
    ck_assert_ptr_null(cg_sgd_new(ps, 2, NULL));
    ck_assert_error(CG_ERR_VALUE, "parameter 1 [2,3] is listed twice");
    cg_tensor *view[] = {cg_k_transpose(w, 0, 1)};
    ck_assert_ptr_null(cg_sgd_new(view, 1, NULL));
    ck_assert_error(CG_ERR_VALUE, "is not contiguous");
    cg_tensor *ids[] = {cg_zeros(CG_INT64, CG_SHAPE(2))};
    ck_assert_ptr_null(cg_sgd_new(ids, 1, NULL));
    ck_assert_error(CG_ERR_VALUE, "is not float32/float64");
    cg_tensor *nonleaf[] = {cg_mul_scalar(w, 2.0)};
    ck_assert_ptr_null(cg_sgd_new(nonleaf, 1, NULL));
    ck_assert_error(CG_ERR_VALUE, "is not a leaf");

    cg_optim *opt = cg_sgd_new(ps, 1, NULL);
    ck_assert_ptr_nonnull(opt);
    ck_assert_int_eq(cg_optim_add_group(opt, ps, 1, 0.1), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "is already in a parameter group");
    cg_tensor *v = cg_requires_grad_(cg_zeros(CG_FLOAT32, CG_SHAPE(2)), true);
    ck_assert_int_eq(cg_optim_add_group(opt, &v, 1, -1), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "cg_optim_add_group: lr = -1 must be >= 0");
    ck_assert_int_eq(cg_optim_num_groups(opt), 1);
    ck_assert_int_eq(cg_optim_set_lr(opt, 3, 0.1), CG_ERR_INDEX);
    ck_assert_error(CG_ERR_INDEX, "group 3 does not exist");
    ck_assert(isnan(cg_optim_get_lr(opt, -1)));
    ck_assert_error(CG_ERR_INDEX, "group -1");
    ck_assert_int_eq(cg_optim_step(opt), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "no parameter has a gradient");
    ck_assert_int_eq(cg_optim_step(NULL), CG_ERR_NULL);
    ck_assert_error(CG_ERR_NULL, NULL);
    ck_assert_int_eq(cg_clip_grad_norm(ps, 1, -1, NULL), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "max_norm = -1");
    ck_assert_int_eq(cg_clip_grad_value(ps, 1, NAN), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "clip_value");
    cg_optim_free(opt);
}
END_TEST

START_TEST(clip_nonfinite) {
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(2)), true);
    cg_scope *s = cg_scope_begin();
    ck_assert_int_eq(cg_backward(cg_sum(cg_mul_scalar(w, INFINITY), NULL, 0, false)), CG_OK);
    double total = 0;
    ck_assert_int_eq(cg_clip_grad_norm(&w, 1, 1.0, &total), CG_ERR_NUMERIC);
    ck_assert_error(CG_ERR_NUMERIC, "the total gradient norm is inf");
    ck_assert(isinf(total));
    cgt_assert_near(__FILE__, __LINE__, cg_grad(w), (double[]){INFINITY, INFINITY}, 2, 0);
    ck_assert_int_eq(cg_clip_grad_value(&w, 1, 3.0), CG_OK);
    cgt_assert_near(__FILE__, __LINE__, cg_grad(w), (double[]){3, 3}, 2, 0);
    cg_scope_end(s);
}
END_TEST

/* After the first step, a whole training step (forward, backward, clipping,
 * update) allocates nothing, and so does a bare step. */
START_TEST(no_allocation_after_first_step) {
    cg_tensor *x = cg_randn(NULL, CG_FLOAT32, CG_SHAPE(16, 8));
    cg_tensor *w = cg_requires_grad_(cg_randn(NULL, CG_FLOAT32, CG_SHAPE(8, 4)), true);
    cg_tensor *b = cg_requires_grad_(cg_zeros(CG_FLOAT32, CG_SHAPE(4)), true);
    cg_tensor *ps[] = {w, b};
    cg_adam_opts o = cg_adam_keras();
    o.amsgrad = true;
    cg_optim *opt = cg_adam_new(ps, 2, &o);
    uint64_t before = 0;
    for (int s = 0; s < 101; s++) {
        if (s == 1) before = cg_heap_allocations();
        cg_scope *sc = cg_scope_begin();
        cg_optim_zero_grad(opt);
        ck_assert_int_eq(cg_backward(cg_mean(cg_square(cg_tanh(cg_linear(x, w, b))), NULL, 0, false)), CG_OK);
        ck_assert_int_eq(cg_clip_grad_norm(ps, 2, 0.1, NULL), CG_OK);
        ck_assert_int_eq(cg_optim_step(opt), CG_OK);
        cg_scope_end(sc);
    }
    ck_assert_uint_eq(cg_heap_allocations(), before);
    for (int s = 0; s < 100; s++) ck_assert_int_eq(cg_optim_step(opt), CG_OK);
    ck_assert_uint_eq(cg_heap_allocations(), before);
    cg_optim_free(opt);
}
END_TEST

/* Big tensors take the OpenMP path: 1 and 2 threads agree bit for bit. */
START_TEST(threads_bit_identical) {
    int64_t n = 300001;
    cg_rng r = cg_rng_seeded(7);
    cg_tensor *init = cg_randn(&r, CG_FLOAT32, &n, 1);
    cg_tensor *gsrc = cg_randn(&r, CG_FLOAT32, &n, 1);
    float *out[2];
    double norm[2];
    for (int k = 0; k < 2; k++) {
        cg_set_num_threads(k + 1);
        cg_tensor *p = cg_requires_grad_(cg_clone(init), true);
        cg_rmsprop_opts o = {.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true};
        cg_optim *opt = cg_rmsprop_new(&p, 1, &o);
        for (int s = 0; s < 3; s++) {
            cg_scope *sc = cg_scope_begin();
            cg_optim_zero_grad(opt);
            ck_assert_int_eq(cg_backward(cg_sum(cg_mul(p, gsrc), NULL, 0, false)), CG_OK);
            ck_assert_int_eq(cg_clip_grad_norm(&p, 1, 100.0, &norm[k]), CG_OK);
            ck_assert_int_eq(cg_optim_step(opt), CG_OK);
            cg_scope_end(sc);
        }
        out[k] = cg_data_f32(p);
        cg_optim_free(opt);
    }
    ck_assert(norm[0] == norm[1]);
    ck_assert(memcmp(out[0], out[1], sizeof(float) * (size_t)n) == 0);
    ck_assert(out[0][0] != cg_data_f32(init)[0]);
}
END_TEST

/* The vectorized loop for plain float32 Adam (no weight decay, no amsgrad)
 * and the per-element float rule agree bit for bit. AdamW with weight_decay
 * 0 takes the per-element rule (its decay factor is exactly 1), Adam the
 * loop; both epsilon forms, a length that is not a multiple of the vector
 * width and spans several of the loop's chunks. */
START_TEST(adam_fast_path_bitwise) {
    int64_t n = 70001;
    cg_rng r = cg_rng_seeded(11);
    cg_tensor *init = cg_randn(&r, CG_FLOAT32, &n, 1), *gsrc = cg_randn(&r, CG_FLOAT32, &n, 1);
    for (int hat = 0; hat < 2; hat++) {
        cg_adam_opts o = hat ? cg_adam_keras() : cg_adam_torch();
        o.lr = 0.05;
        cg_tensor *p[2];
        cg_optim *opt[2];
        for (int k = 0; k < 2; k++) {
            p[k] = cg_requires_grad_(cg_clone(init), true);
            opt[k] = k ? cg_adamw_new(&p[k], 1, &o) : cg_adam_new(&p[k], 1, &o);
            ck_assert_msg(opt[k], "%s", cg_last_error());
            for (int s = 0; s < 5; s++) { /* gradient 2 p gsrc: the trajectory feeds back */
                cg_scope *sc = cg_scope_begin();
                cg_optim_zero_grad(opt[k]);
                ck_assert_int_eq(cg_backward(cg_sum(cg_mul(cg_square(p[k]), gsrc), NULL, 0, false)), CG_OK);
                ck_assert_int_eq(cg_optim_step(opt[k]), CG_OK);
                cg_scope_end(sc);
            }
        }
        ck_assert_msg(memcmp(cg_data(p[0]), cg_data(p[1]), sizeof(float) * (size_t)n) == 0,
                      "eps_hat %d: the parameters differ", hat);
        cg_named_tensor st[2][5];
        for (int k = 0; k < 2; k++) ck_assert_int_eq(cg_optim_state_tensors(opt[k], st[k], 5), 5);
        for (int j = 3; j < 5; j++) /* exp_avg, exp_avg_sq */
            ck_assert_msg(memcmp(cg_data(st[0][j].tensor), cg_data(st[1][j].tensor), sizeof(float) * (size_t)n) == 0,
                          "eps_hat %d: %s differs", hat, st[0][j].name);
        ck_assert(memcmp(cg_data(p[0]), cg_data(init), sizeof(float) * (size_t)n) != 0);
        for (int k = 0; k < 2; k++) cg_optim_free(opt[k]);
    }
}
END_TEST

/* ----------------------------------------------------------- schedules */

START_TEST(torch_schedules) {
    fixture *fx = fx_load("optim_schedules.txt");
    const struct {
        const char *name;
        cg_lr_schedule s;
    } scheds[] = {
        {"step", {.kind = CG_LR_STEP, .step_size = 3, .gamma = 0.5}},
        {"exponential", {.kind = CG_LR_EXPONENTIAL, .gamma = 0.9}},
        {"cosine", {.kind = CG_LR_COSINE, .t_max = 10, .eta_min = 0.001}},
    };
    for (int k = 0; k < 3; k++) {
        cg_tensor *want = fx_get(fx, scheds[k].name);
        ck_assert_double_eq(cg_lr_schedule_at(&scheds[k].s, 0, 0.1), 0.1);
        for (int e = 0; e < cg_numel(want); e++) {
            double lr = cg_lr_schedule_at(&scheds[k].s, e + 1, 0.1);
            ck_assert_msg(fabs(lr - cg_data_f64(want)[e]) <= 1e-12, "%s epoch %d: %.17g, torch %.17g",
                          scheds[k].name, e + 1, lr, cg_data_f64(want)[e]);
        }
    }
    /* Applied to an optimizer: each group from its own base lr. */
    cg_tensor *a = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(1)), true);
    cg_tensor *b = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(1)), true);
    cg_optim *opt = cg_sgd_new(&a, 1, &(cg_sgd_opts){.lr = 0.1});
    ck_assert_int_eq(cg_optim_add_group(opt, &b, 1, 0.4), CG_OK);
    ck_assert_int_eq(cg_lr_schedule_apply(&scheds[0].s, opt, 7), CG_OK);
    ck_assert_double_eq_tol(cg_optim_get_lr(opt, 0), 0.025, 1e-15);
    ck_assert_double_eq_tol(cg_optim_get_lr(opt, 1), 0.1, 1e-15);
    cg_lr_schedule bad = {.kind = CG_LR_STEP, .step_size = 0};
    ck_assert(isnan(cg_lr_schedule_at(&bad, 1, 0.1)));
    ck_assert_error(CG_ERR_VALUE, "step_size = 0");

    /* ReduceLROnPlateau, fed the fixture's metric sequence. */
    const struct {
        const char *name;
        cg_plateau_opts o;
        bool maximize;
    } plats[] = {
        {"plateau", {.factor = 0.5, .patience = 2, .threshold = 1e-4}, false},
        {"plateau_cooldown", {.factor = 0.5, .patience = 1, .threshold = 1e-4, .cooldown = 2, .min_lr = 0.02}, false},
        {"plateau_max_abs", {.mode_max = true, .factor = 0.3, .patience = 1, .threshold = 0.01, .threshold_abs = true},
         true},
    };
    cg_tensor *metric = fx_get(fx, "metric");
    for (int k = 0; k < 3; k++) {
        cg_tensor *want = fx_get(fx, plats[k].name);
        cg_plateau p;
        ck_assert_int_eq(cg_plateau_init(&p, &plats[k].o, 0.1), CG_OK);
        for (int e = 0; e < cg_numel(want); e++) {
            double m = cg_data_f64(metric)[e];
            double lr = k == 0 ? cg_plateau_step_optim(&p, opt, plats[k].maximize ? 1 - m : m)
                               : cg_plateau_step(&p, plats[k].maximize ? 1 - m : m);
            ck_assert_msg(fabs(lr - cg_data_f64(want)[e]) <= 1e-12 * cg_data_f64(want)[e],
                          "%s epoch %d: %.17g, torch %.17g", plats[k].name, e + 1, lr, cg_data_f64(want)[e]);
        }
    }
    /* The optimizer's groups were cut alongside the first plateau (0.1 -> 0.00625 is 4 cuts). */
    ck_assert_double_eq_tol(cg_optim_get_lr(opt, 0), 0.025 / 16, 1e-15);
    ck_assert_double_eq_tol(cg_optim_get_lr(opt, 1), 0.1 / 16, 1e-15);
    cg_plateau p;
    ck_assert_int_eq(cg_plateau_init(&p, &(cg_plateau_opts){.factor = 1.5}, 0.1), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "factor = 1.5 is not in (0, 1)");
    cg_optim_free(opt);
    fx_free(fx);
}
END_TEST

/* --------------------------------------------------------------- state */

static char g_dir[64];
static void make_dir(void) {
    strcpy(g_dir, "/tmp/cgrad_optim_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}
static void drop_dir(void) {
    char p[128];
    const char *files[] = {"a.safetensors", "b.safetensors", "c.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
}
static const char *in_dir(const char *name) {
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static bool params_equal(const problem *a, const problem *b) {
    for (int i = 0; i < a->n; i++)
        if (memcmp(cg_data(a->p[i]), cg_data(b->p[i]), (size_t)cg_numel(a->p[i]) * cg_dtype_size(a->p[i]->dtype)))
            return false;
    return true;
}

/* 10 steps, save, a fresh optimizer loads the state, 10 more steps: bitwise
 * the same as 20 uninterrupted steps (and not without the load). */
START_TEST(state_resume_exact) {
    fixture *fx = fx_load("optim_model.txt");
    const char *names[] = {"sgd_nesterov", "adam", "adam_amsgrad", "adamw", "rmsprop_centered_momentum",
                           "adagrad_decay", "adadelta"};
    for (int k = 0; k < 14; k++) { /* float64, then float32 */
        const tcase *c = find_case(names[k % 7]);
        const char *dt = k >= 7 ? "float32" : "float64";
        problem full = load_problem(fx, true), resumed = load_problem(fx, true), fresh = load_problem(fx, true);
        if (k >= 7) to_float32(&full), to_float32(&resumed), to_float32(&fresh);
        cg_optim *o1 = make(c, full.p, full.n);
        train(&full, o1, STEPS, NO_CLIP, NULL);

        cg_optim *o2 = make(c, resumed.p, resumed.n), *o3 = make(c, fresh.p, fresh.n);
        train(&resumed, o2, STEPS / 2, NO_CLIP, NULL);
        train(&fresh, o3, STEPS / 2, NO_CLIP, NULL);
        ck_assert_msg(cg_optim_state_save(o2, in_dir("a.safetensors")) == CG_OK, "%s", cg_last_error());
        cg_optim_free(o2);
        cg_optim_free(o3);
        o2 = make(c, resumed.p, resumed.n);
        o3 = make(c, fresh.p, fresh.n);
        ck_assert_msg(cg_optim_state_load(o2, in_dir("a.safetensors")) == CG_OK, "%s", cg_last_error());
        train(&resumed, o2, STEPS / 2, NO_CLIP, NULL);
        train(&fresh, o3, STEPS / 2, NO_CLIP, NULL);
        ck_assert_msg(params_equal(&full, &resumed), "%s %s: the resumed run differs", c->name, dt);
        ck_assert_msg(!params_equal(&full, &fresh), "%s %s: state made no difference", c->name, dt);
        cg_optim_free(o1);
        cg_optim_free(o2);
        cg_optim_free(o3);
    }
    fx_free(fx);
}
END_TEST

/* A checkpoint holding model and optimizer in one file; lr is restored. */
START_TEST(state_in_checkpoint) {
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(2, 2)), true);
    cg_optim *opt = cg_adam_new(&w, 1, NULL);
    cg_scope *s = cg_scope_begin();
    ck_assert_int_eq(cg_backward(cg_sum(cg_square(w), NULL, 0, false)), CG_OK);
    ck_assert_int_eq(cg_optim_step(opt), CG_OK);
    cg_scope_end(s);
    ck_assert_int_eq(cg_optim_set_lr(opt, 0, 0.125), CG_OK);
    int n = cg_optim_state_tensors(opt, NULL, 0);
    ck_assert_int_eq(n, 5);
    cg_named_tensor all[6] = {{"model.w", w}};
    ck_assert_int_eq(cg_optim_state_tensors(opt, all + 1, 5), 5);
    ck_assert_int_eq(cg_safetensors_save(in_dir("b.safetensors"), all, 6, NULL, NULL, 0), CG_OK);

    cg_tensor *w2 = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(2, 2)), true);
    cg_optim *o2 = cg_adam_new(&w2, 1, NULL);
    cg_safetensors *f = cg_safetensors_open(in_dir("b.safetensors"));
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cg_optim_state_load_from(o2, f), CG_OK);
    cg_safetensors_close(f);
    ck_assert_double_eq(cg_optim_get_lr(o2, 0), 0.125);
    cg_named_tensor st[5];
    cg_optim_state_tensors(o2, st, 5);
    ck_assert_int_eq(cg_data_i64(st[0].tensor)[0], 1);
    ck_assert_str_eq(st[4].name, "optim.adam.0.exp_avg_sq");
    cgt_assert_near(__FILE__, __LINE__, st[3].tensor, (double[]){0.2, 0.2, 0.2, 0.2}, 4, 1e-7);
    cg_optim_free(opt);
    cg_optim_free(o2);
}
END_TEST

/* Loading the wrong state fails with a message and changes nothing. */
START_TEST(state_load_errors) {
    cg_tensor *w = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(3)), true);
    cg_tensor *v = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(2)), true);
    cg_tensor *wv[] = {w, v};
    cg_optim *adam = cg_adam_new(wv, 2, NULL);
    cg_scope *s = cg_scope_begin();
    ck_assert_int_eq(cg_backward(cg_add(cg_sum(w, NULL, 0, false), cg_sum(v, NULL, 0, false))), CG_OK);
    ck_assert_int_eq(cg_optim_step(adam), CG_OK);
    cg_scope_end(s);
    ck_assert_int_eq(cg_optim_state_save(adam, in_dir("a.safetensors")), CG_OK);

    cg_optim *sgd = cg_sgd_new(wv, 2, &(cg_sgd_opts){.lr = 0.1, .momentum = 0.9});
    ck_assert_int_eq(cg_optim_state_load(sgd, in_dir("a.safetensors")), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "the checkpoint holds adam state, but this optimizer is sgd");
    cg_optim *adamw = cg_adamw_new(wv, 2, NULL);
    ck_assert_int_eq(cg_optim_state_load(adamw, in_dir("a.safetensors")), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "holds adam state, but this optimizer is adamw");
    cg_optim_free(adamw);

    cg_optim *one = cg_adam_new(&w, 1, NULL);
    ck_assert_int_eq(cg_optim_state_load(one, in_dir("a.safetensors")), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "'optim.adam.step' is int64 [2] in the checkpoint, but int64 [1] here");

    cg_tensor *u = cg_requires_grad_(cg_ones(CG_FLOAT32, CG_SHAPE(4)), true);
    cg_tensor *wu[] = {w, u};
    cg_optim *other = cg_adam_new(wu, 2, NULL);
    cg_named_tensor before[7];
    ck_assert_int_eq(cg_optim_state_tensors(other, before, 7), 7);
    ck_assert_int_eq(cg_optim_state_load(other, in_dir("a.safetensors")), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "'optim.adam.1.exp_avg' is float32 [2] in the checkpoint, but float32 [4] here");
    ck_assert_int_eq(cg_data_i64(before[0].tensor)[0], 0); /* the valid first entries were not copied */

    cg_optim *ams = cg_adam_new(wv, 2, &(cg_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .amsgrad = true});
    ck_assert_int_eq(cg_optim_state_load(ams, in_dir("a.safetensors")), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "no 'optim.adam.0.max_exp_avg_sq'");

    cg_optim *grouped = cg_adam_new(&w, 1, NULL);
    ck_assert_int_eq(cg_optim_add_group(grouped, &v, 1, 0.5), CG_OK);
    ck_assert_int_eq(cg_optim_state_load(grouped, in_dir("a.safetensors")), CG_ERR_SHAPE);
    ck_assert_error(CG_ERR_SHAPE, "'optim.adam.groups'");
    ck_assert_double_eq(cg_optim_get_lr(grouped, 1), 0.5);

    ck_assert_int_eq(cg_optim_state_load(adam, in_dir("missing.safetensors")), CG_ERR_IO);
    cg_clear_error();
    ck_assert_int_eq(cg_safetensors_save(in_dir("c.safetensors"), (cg_named_tensor[]){{"x", w}}, 1, NULL, NULL, 0),
                     CG_OK);
    ck_assert_int_eq(cg_optim_state_load(adam, in_dir("c.safetensors")), CG_ERR_STATE);
    ck_assert_error(CG_ERR_STATE, "holds no optimizer state");
    cg_optim *opts[] = {adam, sgd, one, other, ams, grouped};
    for (int i = 0; i < 6; i++) cg_optim_free(opts[i]);
}
END_TEST

static Suite *optim_suite(void) {
    Suite *s = suite_create("optim");
    TCase *t = tcase_create("torch");
    tcase_add_test(t, torch_quadratic);
    tcase_add_test(t, torch_model);
    tcase_add_test(t, torch_model_float32);
    tcase_add_test(t, torch_model_float32_all);
    tcase_add_test(t, torch_groups);
    tcase_add_test(t, torch_clipping);
    suite_add_tcase(s, t);
    TCase *k = tcase_create("keras");
    tcase_add_test(k, keras_presets);
    suite_add_tcase(s, k);
    TCase *b = tcase_create("behaviour");
    tcase_add_test(b, skips_params_without_grad);
    tcase_add_test(b, learning_rates);
    tcase_add_test(b, bad_input);
    tcase_add_test(b, clip_nonfinite);
    tcase_add_test(b, no_allocation_after_first_step);
    tcase_add_test(b, threads_bit_identical);
    tcase_add_test(b, adam_fast_path_bitwise);
    suite_add_tcase(s, b);
    TCase *st = tcase_create("schedules_and_state");
    tcase_add_checked_fixture(st, make_dir, drop_dir);
    tcase_add_test(st, torch_schedules);
    tcase_add_test(st, state_resume_exact);
    tcase_add_test(st, state_in_checkpoint);
    tcase_add_test(st, state_load_errors);
    suite_add_tcase(s, st);
    TCase *all[] = {t, k, b, st};
    for (int i = 0; i < 4; i++) tcase_set_timeout(all[i], 30); /* generous on a loaded machine */
    return s;
}

int main(void) { return cgt_run(optim_suite()); }
