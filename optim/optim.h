/*
 * cgrad/optim.h — optimizers, gradient clipping, learning-rate schedules and
 * optimizer state in checkpoints.
 *
 * An optimizer sees parameters as tensors with a .grad (never layers). It
 * keeps its state (moments, step counts) in an arena it owns; after the first
 * step, cg_optim_step() allocates nothing:
 *
 *     cg_tensor *params[] = {w, b};                     // leaves, contiguous
 *     cg_adam_opts o = cg_adam_keras();                  // Keras' `adam`
 *     cg_optim *opt = cg_adam_new(params, 2, &o);
 *     for (int epoch = 0; epoch < 10; epoch++) {
 *         cg_scope *s = cg_scope_begin();
 *         cg_optim_zero_grad(opt);
 *         cg_backward(loss_fn(x, y));
 *         cg_clip_grad_norm(params, 2, 1.0, NULL);          // optional
 *         if (cg_optim_step(opt) != CG_OK) fprintf(stderr, "%s\n", cg_last_error());
 *         cg_scope_end(s);
 *     }
 *     cg_optim_free(opt);
 *
 * Every optimizer comes with two presets: cg_X_torch() returns PyTorch's
 * defaults and update formula, cg_X_keras() those of Keras (TF2 Keras 2.x,
 * the optimizers of the classic Keras lessons). Passing NULL options means
 * the PyTorch preset. Change fields of a preset to taste:
 *     cg_rmsprop_opts o = cg_rmsprop_keras(); o.lr = 1e-4;   // RMSprop(lr=1e-4)
 *
 * Notation for the formulas below: p a parameter, g its gradient, t the step
 * count of p (1 at its first update), lr the learning rate of p's group. All
 * updates are elementwise and compute in the parameter's dtype, as PyTorch
 * and Keras do (float32 in float arithmetic); scalars such as the bias
 * corrections are computed in double and rounded to that dtype. With
 * weight_decay = wd > 0, every optimizer but AdamW first replaces g by
 * g + wd * p (L2, like PyTorch).
 *
 *   SGD       b = t == 1 ? g : momentum * b + (1 - dampening) * g
 *             d = momentum == 0 ? g : nesterov ? g + momentum * b : b
 *             p = p - lr * d
 *             (Keras' v = momentum * v - lr * g; p += v is the same update
 *             for a constant lr, with v = -lr * b.)
 *   Adam      m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g^2
 *             amsgrad: vmax = max(vmax, v) and vmax replaces v below
 *             torch:   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *             keras ("epsilon hat", eps_hat = true):
 *                      p = p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
 *   AdamW     p = p * (1 - lr * wd) first, then Adam with no L2 term.
 *   RMSprop   v = alpha * v + (1 - alpha) * g^2          (Keras calls alpha rho)
 *             centered: a = alpha * a + (1 - alpha) * g; w = v - a^2, else w = v
 *             d = sqrt(w) + eps        (PyTorch; Keras 2.x without momentum)
 *             d = sqrt(w + eps)        (eps_in_sqrt: Keras 3, and Keras 2.x
 *                                        with momentum > 0)
 *             momentum > 0: b = momentum * b + g / d; p = p - lr * b
 *             else:         p = p - lr * g / d
 *   Adagrad   s = s + g^2 (s starts at initial_accumulator)
 *             p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
 *             (Keras 2.x and PyTorch; Keras 3 uses sqrt(s + eps).)
 *   Adadelta  v = rho * v + (1 - rho) * g^2
 *             d = sqrt(u + eps) / sqrt(v + eps) * g;  u = rho * u + (1 - rho) * d^2
 *             p = p - lr * d
 *
 *   preset            lr     other defaults
 *   cg_sgd_torch      1e-3   momentum 0, dampening 0, no nesterov
 *   cg_sgd_keras      1e-2   momentum 0
 *   cg_adam_torch     1e-3   betas (0.9, 0.999), eps 1e-8, torch form
 *   cg_adam_keras     1e-3   betas (0.9, 0.999), eps 1e-7, epsilon hat
 *   cg_adamw_torch    1e-3   as Adam torch, weight_decay 1e-2
 *   cg_adamw_keras    1e-3   as Adam keras, weight_decay 4e-3
 *   cg_rmsprop_torch  1e-2   alpha 0.99, eps 1e-8
 *   cg_rmsprop_keras  1e-3   alpha (rho) 0.9, eps 1e-7
 *   cg_adagrad_torch  1e-2   eps 1e-10, initial_accumulator 0
 *   cg_adagrad_keras  1e-3   eps 1e-7, initial_accumulator 0.1
 *   cg_adadelta_torch 1.0    rho 0.9, eps 1e-6
 *   cg_adadelta_keras 1e-3   rho 0.95, eps 1e-7
 *
 * Parameters must be contiguous float32/float64 leaves; the state tensors
 * have their dtype and shape. A parameter whose .grad is NULL at a step is
 * skipped (its step count does not advance), like PyTorch; a step where no
 * parameter has a gradient is an error. Each update bumps the parameter's
 * storage version. Updates are elementwise (OpenMP above a size threshold),
 * so results do not depend on the thread count.
 *
 * Errors: constructors return NULL and other calls a cg_status, with
 * cg_last_error() naming the function and the bad value
 * ("cg_adam_new: beta1 = 1.2 is not in [0, 1)").
 */
#ifndef CGRAD_OPTIM_H
#define CGRAD_OPTIM_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_optim cg_optim;

/* ------------------------------------------------------------- options */

typedef struct cg_sgd_opts {
    double lr, momentum, dampening, weight_decay;
    bool nesterov; /* needs momentum > 0 and dampening == 0 */
} cg_sgd_opts;

typedef struct cg_adam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
    bool eps_hat; /* Keras form: eps added to sqrt(v), not sqrt(v_hat) */
    /* With a row-sparse gradient (an embedding's; see cg_grad_rows), update
     * only the rows it touched: untouched rows keep their moments and values
     * (PyTorch's SparseAdam, TensorFlow's LazyAdam). Off by default: the
     * dense update, which decays every row's moments each step. */
    bool lazy;
} cg_adam_opts;

typedef struct cg_rmsprop_opts {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered;
    bool eps_in_sqrt; /* sqrt(v + eps) instead of sqrt(v) + eps */
} cg_rmsprop_opts;

typedef struct cg_adagrad_opts {
    double lr, lr_decay, weight_decay, initial_accumulator, eps;
} cg_adagrad_opts;

typedef struct cg_adadelta_opts {
    double lr, rho, eps, weight_decay;
} cg_adadelta_opts;

/* Presets (see the table above). */
cg_sgd_opts cg_sgd_torch(void);
cg_sgd_opts cg_sgd_keras(void);
cg_adam_opts cg_adam_torch(void);
cg_adam_opts cg_adam_keras(void);
cg_adam_opts cg_adamw_torch(void);
cg_adam_opts cg_adamw_keras(void);
cg_rmsprop_opts cg_rmsprop_torch(void);
cg_rmsprop_opts cg_rmsprop_keras(void);
cg_adagrad_opts cg_adagrad_torch(void);
cg_adagrad_opts cg_adagrad_keras(void);
cg_adadelta_opts cg_adadelta_torch(void);
cg_adadelta_opts cg_adadelta_keras(void);

/* --------------------------------------------------------- optimizers */

/* Make an optimizer over params[0..n-1] (n >= 1), which form group 0 with
 * learning rate o->lr. The optimizer keeps the pointers (the caller keeps the
 * tensors alive) and owns its state; o is copied and may be NULL (PyTorch
 * preset). NULL with an error for a bad option, a NULL, non-float,
 * non-contiguous or non-leaf parameter, or a parameter listed twice. */
cg_optim *cg_sgd_new(cg_tensor *const *params, int n, const cg_sgd_opts *o);
cg_optim *cg_adam_new(cg_tensor *const *params, int n, const cg_adam_opts *o);
cg_optim *cg_adamw_new(cg_tensor *const *params, int n, const cg_adam_opts *o);
cg_optim *cg_rmsprop_new(cg_tensor *const *params, int n, const cg_rmsprop_opts *o);
cg_optim *cg_adagrad_new(cg_tensor *const *params, int n, const cg_adagrad_opts *o);
cg_optim *cg_adadelta_new(cg_tensor *const *params, int n, const cg_adadelta_opts *o);
/* Free the optimizer and its state (not the parameters). NULL is a no-op. */
void cg_optim_free(cg_optim *opt);

/* Add a parameter group with its own learning rate (the other options are
 * the optimizer's). Same checks as the constructors; on error nothing is
 * added. Groups are numbered 0, 1, ... in order of creation. */
cg_status cg_optim_add_group(cg_optim *opt, cg_tensor *const *params, int n, double lr);
int cg_optim_num_groups(const cg_optim *opt);
/* The learning rate of a group (NaN with an error for a bad group). */
double cg_optim_get_lr(const cg_optim *opt, int group);
/* The learning rate the group was created with (schedules start from it). */
double cg_optim_get_base_lr(const cg_optim *opt, int group);
cg_status cg_optim_set_lr(cg_optim *opt, int group, double lr);
/* All parameters, in group order; *n receives their count. Owned by opt. */
cg_tensor *const *cg_optim_params(const cg_optim *opt, int *n);
/* "sgd", "adam", "adamw", "rmsprop", "adagrad" or "adadelta". */
const char *cg_optim_name(const cg_optim *opt);

/* Update every parameter that has a gradient (formulas above). Errors
 * (nothing is updated): no parameter has a gradient, or a gradient is not
 * contiguous or does not match its parameter. No heap allocation after the
 * first call. */
cg_status cg_optim_step(cg_optim *opt);
/* cg_zero_grad on every parameter (gradient buffers are kept and zeroed;
 * PyTorch's default drops them instead, which costs an allocation). */
void cg_optim_zero_grad(cg_optim *opt);

/* ------------------------------------------------------------ clipping */

/* PyTorch's clip_grad_norm_: total = sqrt(sum of g^2 over all gradients);
 * if total > max_norm, every gradient is scaled by max_norm / (total + 1e-6).
 * Parameters without a gradient are skipped. *total_norm (may be NULL)
 * receives the norm before clipping. The sum uses a fixed chunking, so the
 * result does not depend on the thread count. A non-finite total leaves the
 * gradients unchanged and returns CG_ERR_NUMERIC. max_norm must be >= 0. */
cg_status cg_clip_grad_norm(cg_tensor *const *params, int n, double max_norm, double *total_norm);
/* Clamp every gradient element to [-clip_value, clip_value] (clip_value >= 0). */
cg_status cg_clip_grad_value(cg_tensor *const *params, int n, double clip_value);

/* ----------------------------------------------------------- schedules */

/* Epoch-indexed schedules, PyTorch's lr_scheduler semantics; `epoch` counts
 * the scheduler steps taken so far (0 before the first):
 *   CG_LR_STEP         lr = base * gamma^floor(epoch / step_size)     (StepLR)
 *   CG_LR_EXPONENTIAL  lr = base * gamma^epoch                     (ExponentialLR)
 *   CG_LR_COSINE       lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2
 *                                                                  (CosineAnnealingLR) */
typedef enum cg_lr_kind { CG_LR_CONSTANT = 0, CG_LR_STEP, CG_LR_EXPONENTIAL, CG_LR_COSINE } cg_lr_kind;

typedef struct cg_lr_schedule {
    cg_lr_kind kind;
    int step_size;  /* CG_LR_STEP (>= 1) */
    double gamma;   /* CG_LR_STEP, CG_LR_EXPONENTIAL */
    int t_max;      /* CG_LR_COSINE (>= 1) */
    double eta_min; /* CG_LR_COSINE */
} cg_lr_schedule;

/* The learning rate at `epoch` for a group that started at base_lr (NaN with
 * an error for bad parameters). */
double cg_lr_schedule_at(const cg_lr_schedule *s, int epoch, double base_lr);
/* Set every group's lr to cg_lr_schedule_at(s, epoch, its base lr). */
cg_status cg_lr_schedule_apply(const cg_lr_schedule *s, cg_optim *opt, int epoch);

/* ReduceLROnPlateau: fed a metric once per epoch; after more than `patience`
 * epochs without improvement the lr becomes max(lr * factor, min_lr) (a
 * change smaller than 1e-8 is ignored), then `cooldown` epochs pass before
 * bad epochs count again. Improvement (mode min, threshold_rel): metric <
 * best * (1 - threshold); with threshold_abs: metric < best - threshold
 * (mode max: > best * (1 + threshold), > best + threshold). */
typedef struct cg_plateau_opts {
    bool mode_max;      /* false: a lower metric is better (a loss) */
    double factor;      /* in (0, 1); default 0.1 */
    int patience;       /* default 10 */
    double threshold;   /* default 1e-4 */
    bool threshold_abs; /* default false (relative) */
    int cooldown;       /* default 0 */
    double min_lr;      /* default 0 */
} cg_plateau_opts;

typedef struct cg_plateau {
    cg_plateau_opts o;
    double lr, best;
    int bad_epochs, cooldown_left, epoch;
    bool reduced; /* did the last cg_plateau_step lower lr? */
} cg_plateau;

cg_plateau_opts cg_plateau_defaults(void); /* PyTorch's defaults */
/* Start tracking from learning rate lr (o may be NULL for the defaults). */
cg_status cg_plateau_init(cg_plateau *p, const cg_plateau_opts *o, double lr);
/* Record one epoch's metric; returns the (possibly reduced) learning rate. */
double cg_plateau_step(cg_plateau *p, double metric);
/* Same, and when the lr was reduced, scale every group of opt the same way
 * (each lr becomes max(lr * factor, min_lr)). Returns the tracked lr. */
double cg_plateau_step_optim(cg_plateau *p, cg_optim *opt, double metric);

/* --------------------------------------------------------------- state */

/* The optimizer's state as named tensors for a checkpoint writer: "optim.
 * <name>.step" (int64 [n params]), "optim.<name>.groups" (int64 [groups]: the
 * parameter count of each group), "optim.<name>.lr" (float64 [groups]), and
 * "optim.<name>.<i>.<slot>" for each state tensor of parameter i (slots:
 * momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg,
 * grad_avg, sum, acc_delta). Writes up to max entries to out (out may be
 * NULL when max == 0) and returns how many there are (-1 on error). Names and
 * tensors are owned by opt; the names stay valid until the next call (or
 * save/load) and the tensors until cg_optim_free. */
int cg_optim_state_tensors(cg_optim *opt, cg_named_tensor *out, int max);
/* Save the state to a safetensors file (atomic, see cg_safetensors_save). */
cg_status cg_optim_state_save(cg_optim *opt, const char *path);
/* Restore the state from a file or from an open checkpoint that holds the
 * tensors of cg_optim_state_tensors (other tensors are ignored). The kind of
 * optimizer, the parameter count, the groups and every state tensor's dtype
 * and shape must match; on error the optimizer is left unchanged. Learning
 * rates are restored too. */
cg_status cg_optim_state_load(cg_optim *opt, const char *path);
cg_status cg_optim_state_load_from(cg_optim *opt, const cg_safetensors *f);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_OPTIM_H */
