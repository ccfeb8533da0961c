/* Keras files and training: Keras' Adam with the state a .keras file holds,
 * and that state back for cg_keras_save (nn/ reads and writes the files;
 * optim/ knows nothing of them). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The trained parameters of model (what Keras' optimizer covers), and for
 * each its index among all parameters. Caller frees both. */
static int trained(const cg_module *model, cg_tensor ***ps, int **idx) {
    int n = cg_module_parameters(model, NULL, 0);
    cg_tensor **all = calloc((size_t)n + 1, sizeof *all);
    *ps = calloc((size_t)n + 1, sizeof **ps);
    *idx = calloc((size_t)n + 1, sizeof **idx);
    if (!all || !*ps || !*idx) {
        free(all), free(*ps), free(*idx);
        *ps = NULL, *idx = NULL;
        return -1;
    }
    cg_module_parameters(model, all, n);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (cg_requires_grad(all[i])) (*ps)[k] = all[i], (*idx)[k++] = i;
    free(all);
    return k;
}

/* The optimizer's state tensor "optim.adam.<i>.<slot>" (or step). */
static cg_tensor *state_of(const cg_named_tensor *st, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(st[i].name, name) == 0) return (cg_tensor *)st[i].tensor;
    return NULL;
}

static bool same_shape(const cg_tensor *a, const cg_tensor *b) {
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

cg_optim *cg_keras_optimizer_new(cg_module *model, const cg_keras_extra *e) {
    const char *fn = "cg_keras_optimizer_new";
    if (!model || !e) {
        cg_set_error(CG_ERR_NULL, "%s: model or extra is NULL", fn);
        return NULL;
    }
    if (strcmp(e->optimizer, "Adam") != 0 && strcmp(e->optimizer, "adam") != 0) {
        cg_set_error(CG_ERR_VALUE, "%s: the file's optimizer is %s; cgrad continues Keras' Adam only", fn,
                     e->optimizer[0] ? e->optimizer : "absent (the model was saved uncompiled)");
        return NULL;
    }
    cg_adam_opts o = cg_adam_keras(); /* Keras' defaults where the file says nothing */
    if (!isnan(e->learning_rate)) o.lr = e->learning_rate;
    if (!isnan(e->beta_1)) o.beta1 = e->beta_1;
    if (!isnan(e->beta_2)) o.beta2 = e->beta_2;
    if (!isnan(e->epsilon)) o.eps = e->epsilon;
    o.amsgrad = e->amsgrad;
    cg_tensor **ps;
    int *idx;
    int n = trained(model, &ps, &idx);
    if (n < 0) {
        cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    cg_optim *opt = n ? cg_adam_new(ps, n, &o) : NULL;
    if (!n) cg_set_error(CG_ERR_VALUE, "%s: the model has no trained parameter", fn);
    if (opt && e->n_params > 0) {
        int ns = cg_optim_state_tensors(opt, NULL, 0);
        cg_named_tensor *st = ns > 0 ? calloc((size_t)ns, sizeof *st) : NULL;
        bool ok = st && cg_optim_state_tensors(opt, st, ns) == ns;
        if (!ok) cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
        if (ok && e->n_params != cg_module_parameters(model, NULL, 0)) {
            cg_set_error(CG_ERR_SHAPE, "%s: the extra holds the state of %d parameters, the model has %d", fn,
                         e->n_params, cg_module_parameters(model, NULL, 0));
            ok = false;
        }
        /* check everything, then copy */
        char name[64];
        for (int pass = 0; ok && pass < 2; pass++)
            for (int k = 0; ok && k < n; k++) {
                const cg_tensor *m = e->m[idx[k]], *v = e->v[idx[k]];
                snprintf(name, sizeof name, "optim.adam.%d.exp_avg", k);
                cg_tensor *sm = state_of(st, ns, name);
                snprintf(name, sizeof name, "optim.adam.%d.exp_avg_sq", k);
                cg_tensor *sv = state_of(st, ns, name);
                if (pass == 0 && (!same_shape(m, ps[k]) || !same_shape(v, ps[k]) || !sm || !sv)) {
                    cg_set_error(CG_ERR_SHAPE, "%s: the extra's Adam moments of %s do not fit it", fn, cg_name(ps[k]));
                    ok = false;
                } else if (pass == 1) {
                    ok = cg_k_copy_(sm, m) && cg_k_copy_(sv, v);
                    snprintf(name, sizeof name, "optim.adam.%d.max_exp_avg_sq", k);
                    cg_tensor *smax = state_of(st, ns, name); /* amsgrad: Keras keeps no maximum apart */
                    if (ok && smax) ok = cg_k_copy_(smax, v) != NULL;
                }
            }
        cg_tensor *steps = ok ? state_of(st, ns, "optim.adam.step") : NULL;
        if (ok && steps)
            for (int k = 0; k < n; k++) cg_data_i64(steps)[k] = e->iterations;
        free(st);
        if (!ok) {
            cg_optim_free(opt);
            opt = NULL;
        }
    }
    free(ps), free(idx);
    return opt;
}

cg_status cg_keras_optimizer_state(cg_optim *opt, const cg_module *model, cg_keras_extra *e) {
    const char *fn = "cg_keras_optimizer_state";
    if (!opt || !model || !e) return cg_set_error(CG_ERR_NULL, "%s: optimizer, model or extra is NULL", fn);
    if (strcmp(cg_optim_name(opt), "adam") != 0)
        return cg_set_error(CG_ERR_VALUE, "%s: the optimizer is %s, not Adam", fn, cg_optim_name(opt));
    cg_tensor **ps;
    int *idx;
    int n = trained(model, &ps, &idx);
    if (n < 0) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    int np = 0;
    cg_tensor *const *op = cg_optim_params(opt, &np);
    cg_status st = CG_OK;
    if (np != n) st = cg_set_error(CG_ERR_SHAPE, "%s: the optimizer has %d parameters, the model trains %d", fn, np, n);
    for (int k = 0; st == CG_OK && k < n; k++)
        if (op[k] != ps[k])
            st = cg_set_error(CG_ERR_VALUE, "%s: the optimizer's parameter %d is not the model's %s", fn, k, cg_name(ps[k]));
    int ns = st == CG_OK ? cg_optim_state_tensors(opt, NULL, 0) : 0;
    cg_named_tensor *sts = ns > 0 ? calloc((size_t)ns, sizeof *sts) : NULL;
    if (st == CG_OK && (!sts || cg_optim_state_tensors(opt, sts, ns) != ns)) st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    int total = cg_module_parameters(model, NULL, 0);
    cg_scope *arena = st == CG_OK ? cg_arena_new() : NULL;
    cg_tensor **m = arena ? cg_arena_alloc(arena, sizeof *m * (size_t)(total + 1), true) : NULL;
    cg_tensor **v = arena ? cg_arena_alloc(arena, sizeof *v * (size_t)(total + 1), true) : NULL;
    if (st == CG_OK && (!m || !v)) st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    int64_t iters = 0;
    if (st == CG_OK) {
        cg_scope_enter(arena);
        const cg_tensor *steps = state_of(sts, ns, "optim.adam.step");
        char name[64];
        for (int k = 0; st == CG_OK && k < n; k++) {
            snprintf(name, sizeof name, "optim.adam.%d.exp_avg", k);
            const cg_tensor *sm = state_of(sts, ns, name);
            snprintf(name, sizeof name, "optim.adam.%d.exp_avg_sq", k);
            const cg_tensor *sv = state_of(sts, ns, name);
            m[idx[k]] = sm ? cg_to_dtype(sm, CG_FLOAT32) : NULL;
            v[idx[k]] = sv ? cg_to_dtype(sv, CG_FLOAT32) : NULL;
            if (!m[idx[k]] || !v[idx[k]]) st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
            /* Keras counts one step for all: the most any parameter took */
            if (steps && cg_data_i64(steps)[k] > iters) iters = cg_data_i64(steps)[k];
        }
        cg_scope_leave(arena);
    }
    if (st == CG_OK) {
        cg_arena_free(e->arena);
        e->arena = arena;
        e->m = m, e->v = v;
        e->n_params = total;
        e->iterations = iters;
        snprintf(e->optimizer, sizeof e->optimizer, "Adam");
        const cg_adam_opts k = cg_adam_keras();
        e->learning_rate = cg_optim_get_lr(opt, 0);
        if (isnan(e->beta_1)) e->beta_1 = k.beta1;
        if (isnan(e->beta_2)) e->beta_2 = k.beta2;
        if (isnan(e->epsilon)) e->epsilon = k.eps;
    } else {
        cg_arena_free(arena);
    }
    free(sts), free(ps), free(idx);
    return st;
}

bool cg_keras_loss(const cg_keras_extra *e, cg_loss *out) {
    static const struct {
        const char *name;
        cg_loss loss;
    } map[] = {{"binary_crossentropy", CG_LOSS_BINARY_CROSSENTROPY},
               {"mse", CG_LOSS_MSE},
               {"mean_squared_error", CG_LOSS_MSE},
               {"mae", CG_LOSS_MAE},
               {"mean_absolute_error", CG_LOSS_MAE},
               {"huber", CG_LOSS_HUBER},
               {"categorical_crossentropy", CG_LOSS_CATEGORICAL_CROSSENTROPY},
               {"sparse_categorical_crossentropy", CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY}};
    for (size_t i = 0; e && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(e->loss, map[i].name) == 0) {
            *out = map[i].loss;
            return true;
        }
    return false;
}
