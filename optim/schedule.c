/* Learning-rate schedules (torch.optim.lr_scheduler semantics). */
#include "optim_internal.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

double cg_lr_schedule_at(const cg_lr_schedule *s, int epoch, double base_lr) {
    const char *fn = "cg_lr_schedule_at";
    if (!s) return cg_set_error(CG_ERR_NULL, "%s: schedule is NULL", fn), NAN;
    if (epoch < 0) return cg_set_error(CG_ERR_VALUE, "%s: epoch = %d must be >= 0", fn, epoch), NAN;
    switch (s->kind) {
    case CG_LR_CONSTANT: return base_lr;
    case CG_LR_STEP:
        if (s->step_size < 1)
            return cg_set_error(CG_ERR_VALUE, "%s: step_size = %d must be >= 1", fn, s->step_size), NAN;
        return base_lr * pow(s->gamma, epoch / s->step_size);
    case CG_LR_EXPONENTIAL: return base_lr * pow(s->gamma, epoch);
    case CG_LR_COSINE:
        if (s->t_max < 1) return cg_set_error(CG_ERR_VALUE, "%s: t_max = %d must be >= 1", fn, s->t_max), NAN;
        return s->eta_min + (base_lr - s->eta_min) * (1 + cos(M_PI * epoch / s->t_max)) / 2;
    }
    return cg_set_error(CG_ERR_VALUE, "%s: unknown schedule kind %d", fn, (int)s->kind), NAN;
}

cg_status cg_lr_schedule_apply(const cg_lr_schedule *s, cg_optim *opt, int epoch) {
    if (!opt) return cg_set_error(CG_ERR_NULL, "cg_lr_schedule_apply: optimizer is NULL");
    for (int g = 0; g < opt->ngroups; g++) {
        double lr = cg_lr_schedule_at(s, epoch, opt->base_lr[g]);
        if (isnan(lr)) return cg_last_status();
        cg_status st = cg_optim_set_lr(opt, g, lr < 0 ? 0 : lr);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

cg_plateau_opts cg_plateau_defaults(void) {
    return (cg_plateau_opts){.factor = 0.1, .patience = 10, .threshold = 1e-4};
}

cg_status cg_plateau_init(cg_plateau *p, const cg_plateau_opts *o, double lr) {
    const char *fn = "cg_plateau_init";
    if (!p) return cg_set_error(CG_ERR_NULL, "%s: plateau is NULL", fn);
    cg_plateau_opts d = o ? *o : cg_plateau_defaults();
    if (!(d.factor > 0 && d.factor < 1))
        return cg_set_error(CG_ERR_VALUE, "%s: factor = %g is not in (0, 1)", fn, d.factor);
    if (d.patience < 0 || d.cooldown < 0)
        return cg_set_error(CG_ERR_VALUE, "%s: patience = %d and cooldown = %d must be >= 0", fn, d.patience,
                            d.cooldown);
    if (!(d.threshold >= 0) || !(d.min_lr >= 0) || !(lr >= 0))
        return cg_set_error(CG_ERR_VALUE, "%s: threshold = %g, min_lr = %g and lr = %g must be >= 0", fn, d.threshold,
                            d.min_lr, lr);
    *p = (cg_plateau){.o = d, .lr = lr, .best = d.mode_max ? -INFINITY : INFINITY};
    return CG_OK;
}

static bool improves(const cg_plateau_opts *o, double a, double best) {
    if (o->mode_max) return o->threshold_abs ? a > best + o->threshold : a > best * (1 + o->threshold);
    return o->threshold_abs ? a < best - o->threshold : a < best * (1 - o->threshold);
}

/* lr * factor floored at min_lr; changes under 1e-8 are ignored (PyTorch's eps). */
static double reduce(const cg_plateau_opts *o, double lr) {
    double r = fmax(lr * o->factor, o->min_lr);
    return lr - r > 1e-8 ? r : lr;
}

/* One epoch; true when the patience ran out (the lr is due for a cut). */
static bool plateau_update(cg_plateau *p, double metric) {
    p->epoch++;
    p->reduced = false;
    if (improves(&p->o, metric, p->best)) {
        p->best = metric;
        p->bad_epochs = 0;
    } else {
        p->bad_epochs++;
    }
    if (p->cooldown_left > 0) {
        p->cooldown_left--;
        p->bad_epochs = 0;
    }
    if (p->bad_epochs <= p->o.patience) return false;
    double lr = reduce(&p->o, p->lr);
    p->reduced = lr != p->lr;
    p->lr = lr;
    p->cooldown_left = p->o.cooldown;
    p->bad_epochs = 0;
    return true;
}

double cg_plateau_step(cg_plateau *p, double metric) {
    if (!p) return cg_set_error(CG_ERR_NULL, "cg_plateau_step: plateau is NULL"), NAN;
    plateau_update(p, metric);
    return p->lr;
}

double cg_plateau_step_optim(cg_plateau *p, cg_optim *opt, double metric) {
    if (!p || !opt) return cg_set_error(CG_ERR_NULL, "cg_plateau_step_optim: plateau or optimizer is NULL"), NAN;
    if (plateau_update(p, metric))
        for (int g = 0; g < opt->ngroups; g++) cg_data_f64(opt->lr)[g] = reduce(&p->o, cg_data_f64(opt->lr)[g]);
    return p->lr;
}
