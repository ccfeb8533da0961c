/* Optimizer state as named tensors, saved and loaded with safetensors. */
#include "optim_internal.h"

#include <stdlib.h>
#include <string.h>

#define NAME_LEN 64

/* Collect (name, tensor) pairs into out (NULL: just count). */
static int collect(cg_optim *o, cg_named_tensor *out) {
    const char *kind = cg__optim_kind_name(o->kind);
    int k = 0;
#define PUT(t, ...)                                                                                \
    do {                                                                                           \
        if (out) {                                                                                 \
            char *nm = o->names + (size_t)k * NAME_LEN;                                            \
            snprintf(nm, NAME_LEN, __VA_ARGS__);                                                   \
            out[k] = (cg_named_tensor){nm, (t)};                                                   \
        }                                                                                          \
        k++;                                                                                       \
    } while (0)
    PUT(o->steps, "optim.%s.step", kind);
    PUT(o->groups, "optim.%s.groups", kind);
    PUT(o->lr, "optim.%s.lr", kind);
    for (int i = 0; i < o->n; i++)
        for (int s = 0; s < OPTIM_SLOTS; s++)
            if (o->state[i][s]) PUT(o->state[i][s], "optim.%s.%d.%s", kind, i, cg__optim_slot_name(o, s));
#undef PUT
    return k;
}

/* All pairs in a buffer owned by the caller (free it); NULL on no memory. */
static cg_named_tensor *collect_all(cg_optim *o, int *count) {
    *count = collect(o, NULL);
    size_t need = (size_t)*count * NAME_LEN;
    if (need > o->names_cap) {
        char *nb = realloc(o->names, need);
        if (!nb) return NULL;
        o->names = nb;
        o->names_cap = need;
    }
    cg_named_tensor *all = malloc(sizeof *all * (size_t)*count);
    if (all) collect(o, all);
    return all;
}

int cg_optim_state_tensors(cg_optim *opt, cg_named_tensor *out, int max) {
    if (!opt) return cg_set_error(CG_ERR_NULL, "cg_optim_state_tensors: optimizer is NULL"), -1;
    int count;
    cg_named_tensor *all = collect_all(opt, &count);
    if (!all) return cg_set_error(CG_ERR_NOMEM, "cg_optim_state_tensors: out of memory"), -1;
    if (out)
        for (int i = 0; i < count && i < max; i++) out[i] = all[i];
    free(all);
    return count;
}

cg_status cg_optim_state_save(cg_optim *opt, const char *path) {
    if (!opt || !path) return cg_set_error(CG_ERR_NULL, "cg_optim_state_save: optimizer or path is NULL");
    int count;
    cg_named_tensor *all = collect_all(opt, &count);
    if (!all) return cg_set_error(CG_ERR_NOMEM, "cg_optim_state_save: out of memory");
    const char *key = "cgrad.optim", *val = cg_optim_name(opt);
    cg_status st = cg_safetensors_save(path, all, count, &key, &val, 1);
    free(all);
    return st;
}

/* The file's optimizer kind, from a name "optim.<kind>.step" ("" if none). */
static void file_kind(const cg_safetensors *f, char *kind, size_t size) {
    kind[0] = 0;
    for (int i = 0; i < cg_safetensors_count(f); i++) {
        const char *nm = cg_safetensors_name(f, i);
        size_t len = strlen(nm);
        if (strncmp(nm, "optim.", 6) == 0 && len > 11 && strcmp(nm + len - 5, ".step") == 0 && len - 11 < size) {
            memcpy(kind, nm + 6, len - 11);
            kind[len - 11] = 0;
            return;
        }
    }
}

/* Does the file's entry match t in dtype and shape? Sets an error if not. */
static bool entry_fits(const cg_optim *o, const cg_safetensors *f, const char *name, const cg_tensor *t) {
    const char *fn = "cg_optim_state_load";
    cg_dtype dt;
    int64_t shape[CG_MAX_DIMS];
    int ndim;
    if (!cg_safetensors_info(f, name, &dt, shape, &ndim)) {
        char kind[32];
        file_kind(f, kind, sizeof kind);
        if (kind[0] && strcmp(kind, cg_optim_name(o)) != 0)
            cg_set_error(CG_ERR_STATE, "%s: the checkpoint holds %s state, but this optimizer is %s", fn, kind,
                         cg_optim_name(o));
        else if (!kind[0])
            cg_set_error(CG_ERR_STATE, "%s: the checkpoint holds no optimizer state (no '%s')", fn, name);
        else
            cg_set_error(CG_ERR_STATE, "%s: the checkpoint has no '%s' (saved with other options?)", fn, name);
        return false;
    }
    bool same = dt == t->dtype && ndim == t->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
    if (!same)
        cg_set_error(CG_ERR_SHAPE, "%s: '%s' is %s %s in the checkpoint, but %s %s here (a different model?)", fn,
                     name, cg_dtype_name(dt), cg_dims_str(shape, ndim), cg_dtype_name(t->dtype), cg_shape_str(t));
    return same;
}

cg_status cg_optim_state_load_from(cg_optim *opt, const cg_safetensors *f) {
    const char *fn = "cg_optim_state_load";
    if (!opt || !f) return cg_set_error(CG_ERR_NULL, "%s: optimizer or file is NULL", fn);
    int count;
    cg_named_tensor *all = collect_all(opt, &count);
    if (!all) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    cg_status st = CG_OK;
    for (int i = 0; st == CG_OK && i < count; i++)
        if (!entry_fits(opt, f, all[i].name, all[i].tensor)) st = cg_last_status();
    /* Read everything first, check the bookkeeping, and only then copy. */
    cg_scope *s = cg_scope_begin();
    cg_tensor **loaded = st == CG_OK ? cg_scope_alloc(sizeof *loaded * (size_t)count, false) : NULL;
    for (int i = 0; loaded && st == CG_OK && i < count; i++)
        if (!(loaded[i] = cg_safetensors_get(f, all[i].name))) st = cg_last_status();
    if (st == CG_OK && loaded) {
        const int64_t *steps = cg_data_i64(loaded[0]), *groups = cg_data_i64(loaded[1]);
        const double *lr = cg_data_f64(loaded[2]);
        for (int i = 0; st == CG_OK && i < opt->n; i++)
            if (steps[i] < 0)
                st = cg_set_error(CG_ERR_PARSE, "%s: parameter %d has step count %lld", fn, i, (long long)steps[i]);
        for (int g = 0; st == CG_OK && g < opt->ngroups; g++) {
            if (groups[g] != cg_data_i64(opt->groups)[g])
                st = cg_set_error(CG_ERR_SHAPE, "%s: group %d has %lld parameters in the checkpoint, %lld here", fn, g,
                                  (long long)groups[g], (long long)cg_data_i64(opt->groups)[g]);
            else if (!(lr[g] >= 0))
                st = cg_set_error(CG_ERR_PARSE, "%s: group %d has lr = %g in the checkpoint", fn, g, lr[g]);
        }
    }
    if (st == CG_OK && !loaded) st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", fn);
    if (st == CG_OK)
        for (int i = 0; i < count; i++) {
            cg_tensor *dst = (cg_tensor *)all[i].tensor;
            memcpy(cg_data(dst), cg_data(loaded[i]), (size_t)cg_numel(dst) * cg_dtype_size(dst->dtype));
        }
    cg_scope_end(s);
    free(all);
    return st;
}

cg_status cg_optim_state_load(cg_optim *opt, const char *path) {
    if (!opt || !path) return cg_set_error(CG_ERR_NULL, "cg_optim_state_load: optimizer or path is NULL");
    cg_safetensors *f = cg_safetensors_open(path);
    if (!f) return cg_last_status();
    cg_status st = cg_optim_state_load_from(opt, f);
    cg_safetensors_close(f);
    return st;
}
