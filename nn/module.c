/* Modules: naming, parameters, children, modes, summary, weights on disk,
 * and the Sequential container. */
#include "nn_internal.h"

#include <ctype.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ names */

/* "SimpleRNN" -> "simple_rnn", "MyLayer" -> "my_layer" (Keras' rule). */
static void snake_case(const char *type, char *out, size_t n) {
    size_t k = 0;
    for (size_t i = 0; type[i] && k + 2 < n; i++) {
        char c = type[i];
        bool up = isupper((unsigned char)c);
        if (up && i > 0) {
            bool prev_lower = islower((unsigned char)type[i - 1]);
            bool next_lower = type[i + 1] && islower((unsigned char)type[i + 1]) && isupper((unsigned char)type[i - 1]);
            if (prev_lower || next_lower) out[k++] = '_';
        }
        out[k++] = (char)tolower((unsigned char)c);
    }
    out[k] = '\0';
}

typedef struct {
    char base[48];
    int count;
} name_count;
static name_count g_names[128];
static int g_nnames;

static void auto_name(const cg_module_type *type, char *out, size_t n) {
    char base[48];
    snake_case(type->name ? type->name : "module", base, sizeof base);
    int i = 0;
    while (i < g_nnames && strcmp(g_names[i].base, base) != 0) i++;
    if (i == g_nnames && g_nnames < 128) {
        snprintf(g_names[i].base, sizeof g_names[i].base, "%s", base);
        g_names[i].count = 0;
        g_nnames++;
    }
    int c = i < 128 ? g_names[i].count++ : 0;
    if (c == 0) snprintf(out, n, "%s", base);
    else snprintf(out, n, "%s_%d", base, c);
}

/* ---------------------------------------------------------------- basics */

cg_status cg_module_init(cg_module *m, const cg_module_type *type, const char *name) {
    if (!m || !type || !type->forward)
        return cg_set_error(CG_ERR_NULL, "cg_module_init: needs a module and a type with a forward");
    memset(m, 0, sizeof *m);
    m->type = type;
    m->training = true;
    if (name) snprintf(m->name, sizeof m->name, "%s", name);
    else auto_name(type, m->name, sizeof m->name);
    m->arena = cg_arena_new();
    return m->arena ? CG_OK : cg_last_status();
}

/* Grow an array kept in the module's arena. */
static bool grow(cg_module *m, void **arr, int n, int *cap, size_t elsize) {
    if (n < *cap) return true;
    int nc = *cap ? 2 * *cap : 8;
    void *a = cg_arena_alloc(m->arena, elsize * (size_t)nc, false);
    if (!a) return false;
    if (n) memcpy(a, *arr, elsize * (size_t)n);
    *arr = a;
    *cap = nc;
    return true;
}

cg_tensor *cg_module_add_param(cg_module *m, const char *pname, const int64_t *shape, int ndim, cg_init init,
                               cg_rng *rng) {
    if (!m || !pname) {
        cg_set_error(CG_ERR_NULL, "cg_module_add_param: NULL module or name");
        return NULL;
    }
    if (!grow(m, (void **)&m->params, m->n_params, &m->cap_params, sizeof(cg_tensor *))) return NULL;
    cg_scope_enter(m->arena);
    cg_tensor *t = cg_empty(CG_FLOAT32, shape, ndim);
    bool ok = t && cg_init_fill(t, init, rng) == CG_OK && cg_requires_grad_(t, true);
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->name, pname);
    ok = ok && cg_set_name(t, full) == CG_OK;
    cg_scope_leave(m->arena);
    if (!ok) return NULL;
    m->params[m->n_params++] = t;
    return t;
}

cg_module *cg_module_add_child(cg_module *m, cg_module *child) {
    if (!m || !child) {
        if (child) cg_module_free(child);
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_module_add_child: NULL module or child");
        return NULL;
    }
    if (!grow(m, (void **)&m->children, m->n_children, &m->cap_children, sizeof(cg_module *))) {
        cg_module_free(child);
        return NULL;
    }
    m->children[m->n_children++] = child;
    return child;
}

void cg_module_free(cg_module *m) {
    if (!m) return;
    for (int i = 0; i < m->n_children; i++) cg_module_free(m->children[i]);
    if (m->type && m->type->free) m->type->free(m);
    if (m->shards) {
        for (int k = 0; k < CG_MAX_SHARDS; k++) cg_arena_free(m->shards->arena[k]);
        free(m->shards);
    }
    cg_arena_free(m->arena);
    free(m->keras);
    free(m);
}

cg_tensor *cg_module_forward(cg_module *m, cg_tensor *x) {
    if (!m) {
        if (cg_last_status() == CG_OK) cg_set_error(CG_ERR_NULL, "cg_module_forward: module is NULL");
        return NULL;
    }
    if (!x) return cg__nn_null(m, "input");
    return m->type->forward(m, x);
}

cg_tensor *cg_module_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    const cg_tensor *dummy;
    if (!mask_out) mask_out = &dummy;
    *mask_out = NULL;
    if (!m) return cg_module_forward(m, x);
    if (!x) return cg__nn_null(m, "input");
    if (m->type->forward_masked) return m->type->forward_masked(m, x, mask, mask_out);
    return m->type->forward(m, x);
}

void cg_module_train(cg_module *m, bool training) {
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) cg_module_train(m->children[i], training);
}

void cg_module_set_trainable(cg_module *m, bool trainable) {
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) cg_requires_grad_(m->params[i], trainable);
    for (int i = 0; i < m->n_children; i++) cg_module_set_trainable(m->children[i], trainable);
}

int cg_module_parameters(const cg_module *m, cg_tensor **out, int max) {
    if (!m) return 0;
    int n = 0;
    for (int i = 0; i < m->n_params; i++, n++)
        if (out && n < max) out[n] = m->params[i];
    for (int i = 0; i < m->n_children; i++) n += cg_module_parameters(m->children[i], out ? out + n : NULL, max - n);
    return n;
}

int64_t cg_module_param_count(const cg_module *m, bool trainable_only) {
    if (!m) return 0;
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (!trainable_only || cg_requires_grad(m->params[i])) n += cg_numel(m->params[i]);
    for (int i = 0; i < m->n_children; i++) n += cg_module_param_count(m->children[i], trainable_only);
    return n;
}

cg_tensor *cg_module_param(const cg_module *m, const char *name) {
    if (!m || !name) return NULL;
    for (int i = 0; i < m->n_params; i++) {
        const char *pn = cg_name(m->params[i]);
        if (pn && strcmp(pn, name) == 0) return m->params[i];
    }
    for (int i = 0; i < m->n_children; i++) {
        cg_tensor *t = cg_module_param(m->children[i], name);
        if (t) return t;
    }
    return NULL;
}

cg_status cg_module_set_dtype(cg_module *m, cg_dtype dt) {
    if (!m) return cg_set_error(CG_ERR_NULL, "cg_module_set_dtype: module is NULL");
    if (!cg_dtype_is_float(dt)) return cg_set_error(CG_ERR_DTYPE, "cg_module_set_dtype: parameters must be float32 or float64");
    for (int i = 0; i < m->n_params; i++) {
        cg_tensor *p = m->params[i];
        if (p->dtype == dt) continue;
        /* new storage in the module's arena; the tensor struct (which layers
         * point to) stays the same */
        cg_scope *old = cg_scope_redirect(m->arena);
        cg_tensor *c = cg_to_dtype(p, dt);
        cg_scope_redirect(old);
        if (!c) return cg_last_status();
        p->storage = c->storage;
        p->offset = 0;
        p->dtype = dt;
        memcpy(p->strides, c->strides, sizeof p->strides);
        cg_clear_grad(p);
    }
    for (int i = 0; i < m->n_children; i++) {
        cg_status st = cg_module_set_dtype(m->children[i], dt);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

void cg_module_zero_grad(cg_module *m) {
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) cg_zero_grad(m->params[i]);
    for (int i = 0; i < m->n_children; i++) cg_module_zero_grad(m->children[i]);
}

void *cg__nn_null(const cg_module *m, const char *what) {
    if (cg_last_status() == CG_OK)
        cg_set_error(CG_ERR_NULL, "%s (%s): %s is NULL", m ? m->name : "?", m && m->type ? m->type->name : "?", what);
    return NULL;
}

/* ---------------------------------------------------------------- summary */

static void fmt_count(int64_t v, char *out, size_t n) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)v);
    size_t len = strlen(digits), k = 0;
    for (size_t i = 0; i < len && k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
}

static void fmt_shape(const int64_t *s, int n, char *out, size_t cap) {
    size_t k = (size_t)snprintf(out, cap, "(None");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)(s[i] < 0 ? snprintf(out + k, cap - k, ", None") : snprintf(out + k, cap - k, ", %lld", (long long)s[i]));
    if (n == 0 && k < cap) k += (size_t)snprintf(out + k, cap - k, ",");
    if (k < cap) snprintf(out + k, cap - k, ")");
}

static void summary_row(FILE *f, const cg_module *m, int64_t *shape, int *nd, bool *known) {
    char col1[128], col2[128], col3[32];
    snprintf(col1, sizeof col1, "%s (%s)", m->name, m->type->name);
    int64_t out[CG_MAX_DIMS];
    int nout = 0;
    if (*known && m->type->output_shape && m->type->output_shape(m, shape, *nd, out, &nout)) {
        memcpy(shape, out, sizeof(int64_t) * (size_t)nout);
        *nd = nout;
        fmt_shape(shape, *nd, col2, sizeof col2);
    } else {
        *known = false;
        snprintf(col2, sizeof col2, "?");
    }
    snprintf(col3, sizeof col3, "%lld", (long long)cg_module_param_count(m, false));
    /* Keras' print_row: columns end at 29, 55 and 65; each of the first two
     * keeps two spaces before the next, and a longer name goes on to
     * continuation lines 27 characters at a time. */
    char line[256];
    int k = snprintf(line, sizeof line, " %.27s  ", col1);
    k += snprintf(line + k, sizeof line - (size_t)k, "%*s%.24s  ", k < 29 ? 29 - k : 0, "", col2);
    snprintf(line + k, sizeof line - (size_t)k, "%*s%-10s", k < 55 ? 55 - k : 0, "", col3);
    fprintf(f, "%s\n", line);
    for (size_t i = 27; i < strlen(col1); i += 27) fprintf(f, " %-64.27s\n", col1 + i);
    fprintf(f, "%65s\n", "");
}

cg_status cg_summary(const cg_module *m, const int64_t *input_shape, int ndim, FILE *f) {
    if (!m || !f || (ndim > 0 && !input_shape)) return cg_set_error(CG_ERR_NULL, "cg_summary: NULL argument");
    if (ndim < 0 || ndim >= CG_MAX_DIMS) return cg_set_error(CG_ERR_SHAPE, "cg_summary: bad input rank %d", ndim);
    char rule[66], dbl[66];
    memset(rule, '_', 65);
    memset(dbl, '=', 65);
    rule[65] = dbl[65] = '\0';
    fprintf(f, "Model: \"%s\"\n%s\n %-28s%-26s%-10s\n%s\n", m->name, rule, "Layer (type)", "Output Shape", "Param #", dbl);
    int64_t shape[CG_MAX_DIMS];
    int nd = ndim;
    for (int i = 0; i < ndim; i++) shape[i] = input_shape[i];
    bool known = true;
    bool container = m->n_params == 0 && m->n_children > 0;
    if (container)
        for (int i = 0; i < m->n_children; i++) summary_row(f, m->children[i], shape, &nd, &known);
    else
        summary_row(f, m, shape, &nd, &known);
    char t[32], tr[32], nt[32];
    int64_t total = cg_module_param_count(m, false), train = cg_module_param_count(m, true);
    fmt_count(total, t, sizeof t);
    fmt_count(train, tr, sizeof tr);
    fmt_count(total - train, nt, sizeof nt);
    fprintf(f, "%s\nTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n", dbl, t, tr, nt, rule);
    return CG_OK;
}

/* ---------------------------------------------------------------- weights */

cg_status cg_module_save(const cg_module *m, const char *path) {
    if (!m || !path) return cg_set_error(CG_ERR_NULL, "cg_module_save: NULL argument");
    int n = cg_module_parameters(m, NULL, 0);
    cg_scope *s = cg_scope_begin();
    cg_tensor **ps = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)(n ? n : 1), false);
    cg_named_tensor *nt = cg_scope_alloc(sizeof(cg_named_tensor) * (size_t)(n ? n : 1), false);
    cg_status st = ps && nt ? CG_OK : cg_last_status();
    if (st == CG_OK) {
        cg_module_parameters(m, ps, n);
        for (int i = 0; i < n; i++) nt[i] = (cg_named_tensor){cg_name(ps[i]), ps[i]};
        st = cg_safetensors_save(path, nt, n, NULL, NULL, 0);
    }
    cg_scope_end(s);
    return st;
}

/* Which file tensor each parameter takes: the one with its name when every
 * name is present, else the file's first tensors in order (as Keras'
 * load_weights does), so a model built again in the same process, whose
 * automatic names count on ("dense_1"), still loads. Checks dtype and shape. */
static cg_status match_params(cg_tensor **ps, int n, const cg_safetensors *f, const char *path, const char **names) {
    bool by_name = true;
    for (int i = 0; i < n && by_name; i++) by_name = cg_safetensors_info(f, cg_name(ps[i]), NULL, NULL, NULL);
    if (!by_name && cg_safetensors_count(f) < n)
        for (int i = 0; i < n; i++)
            if (!cg_safetensors_info(f, cg_name(ps[i]), NULL, NULL, NULL))
                return cg_set_error(CG_ERR_PARSE, "cg_module_load: %s has no tensor '%s'", path, cg_name(ps[i]));
    for (int i = 0; i < n; i++) {
        const char *name = by_name ? cg_name(ps[i]) : cg_safetensors_name(f, i);
        cg_dtype dt;
        int64_t shape[CG_MAX_DIMS];
        int nd;
        cg_safetensors_info(f, name, &dt, shape, &nd);
        if (dt != ps[i]->dtype || nd != ps[i]->ndim || memcmp(shape, ps[i]->shape, sizeof(int64_t) * (size_t)nd) != 0)
            return cg_set_error(CG_ERR_SHAPE, "cg_module_load: '%s' in %s is %s %s, but %s is %s %s%s", name, path,
                                cg_dtype_name(dt), cg_dims_str(shape, nd), cg_name(ps[i]), cg_dtype_name(ps[i]->dtype),
                                cg_shape_str(ps[i]), by_name ? "" : " (matched by position: the names differ)");
        names[i] = name;
    }
    return CG_OK;
}

/* Match (and with apply, copy in) every parameter of m from f. */
static cg_status load_or_check(cg_module *m, const cg_safetensors *f, const char *path, bool apply) {
    if (!m || !f) return cg_set_error(CG_ERR_NULL, "cg_module_load: NULL argument");
    if (!path) path = "the file";
    cg_scope *s = cg_scope_begin();
    int n = cg_module_parameters(m, NULL, 0);
    cg_tensor **ps = cg_scope_alloc(sizeof(cg_tensor *) * (size_t)(n ? n : 1), false);
    const char **names = cg_scope_alloc(sizeof(char *) * (size_t)(n ? n : 1), false);
    cg_status st = ps && names ? CG_OK : cg_last_status();
    if (st == CG_OK) {
        cg_module_parameters(m, ps, n);
        st = match_params(ps, n, f, path, names); /* everything is checked before anything changes */
    }
    for (int i = 0; i < n && st == CG_OK && apply; i++) {
        cg_tensor *v = cg_safetensors_get(f, names[i]);
        if (!v || !cg_k_copy_(ps[i], v)) st = cg_last_status();
    }
    cg_scope_end(s);
    return st;
}

cg_status cg_module_load_from(cg_module *m, const cg_safetensors *f, const char *path) {
    return load_or_check(m, f, path, true);
}

cg_status cg_module_check_file(cg_module *m, const cg_safetensors *f, const char *path) {
    return load_or_check(m, f, path, false);
}

cg_status cg_module_load(cg_module *m, const char *path) {
    if (!m || !path) return cg_set_error(CG_ERR_NULL, "cg_module_load: NULL argument");
    cg_safetensors *f = cg_safetensors_open(path);
    if (!f) return cg_last_status();
    cg_status st = cg_module_load_from(m, f, path);
    cg_safetensors_close(f);
    return st;
}

/* PyTorch layout: each module with a torch mapping exports under its prefix;
 * children of a container get "<index>." like torch.nn.Sequential. */
static int torch_collect(cg_module *m, const char *prefix, cg_named_tensor *out, int max) {
    if (m->type->torch_export) return m->type->torch_export(m, prefix, out, max);
    int n = 0;
    for (int i = 0; i < m->n_children; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s%d.", prefix, i);
        int k = torch_collect(m->children[i], p, out ? out + n : NULL, max - n);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

static cg_status torch_apply(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply) {
    if (m->type->torch_import) return m->type->torch_import(m, f, prefix, apply);
    if (m->n_params)
        return cg_set_error(CG_ERR_STATE, "cg_module_load_torch: %s (%s) has no PyTorch mapping", m->name, m->type->name);
    for (int i = 0; i < m->n_children; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s%d.", prefix, i);
        cg_status st = torch_apply(m->children[i], f, p, apply);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

cg_status cg_module_save_torch(cg_module *m, const char *path, const char *prefix) {
    if (!m || !path) return cg_set_error(CG_ERR_NULL, "cg_module_save_torch: NULL argument");
    cg_scope *s = cg_scope_begin();
    cg_named_tensor nt[256];
    int n = torch_collect(m, prefix ? prefix : "", nt, 256);
    cg_status st = n < 0 ? cg_last_status()
                 : n > 256 ? cg_set_error(CG_ERR_VALUE, "cg_module_save_torch: more than 256 tensors")
                           : cg_safetensors_save(path, nt, n, NULL, NULL, 0);
    cg_scope_end(s);
    return st;
}

cg_status cg_module_load_torch(cg_module *m, const char *path, const char *prefix) {
    if (!m || !path) return cg_set_error(CG_ERR_NULL, "cg_module_load_torch: NULL argument");
    cg_safetensors *f = cg_safetensors_open(path);
    if (!f) return cg_last_status();
    cg_scope *s = cg_scope_begin();
    cg_status st = torch_apply(m, f, prefix ? prefix : "", false);
    if (st == CG_OK) st = torch_apply(m, f, prefix ? prefix : "", true);
    cg_scope_end(s);
    cg_safetensors_close(f);
    return st;
}

cg_tensor *cg__torch_tensor(const cg_safetensors *f, const char *prefix, const char *name, const int64_t *shape,
                            int ndim) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    cg_dtype dt;
    int64_t have[CG_MAX_DIMS];
    int nd;
    if (!cg_safetensors_info(f, full, &dt, have, &nd)) {
        cg_set_error(CG_ERR_PARSE, "cg_module_load_torch: the file has no tensor '%s'", full);
        return NULL;
    }
    if (dt != CG_FLOAT32 || nd != ndim || memcmp(have, shape, sizeof(int64_t) * (size_t)nd) != 0) {
        cg_set_error(CG_ERR_SHAPE, "cg_module_load_torch: '%s' is %s %s, expected float32 %s", full, cg_dtype_name(dt),
                     cg_dims_str(have, nd), cg_dims_str(shape, ndim));
        return NULL;
    }
    return cg_safetensors_get(f, full);
}

char *cg__torch_name(const char *prefix, const char *name) {
    size_t n = strlen(prefix) + strlen(name) + 1;
    char *s = cg_scope_alloc(n, false);
    if (s) snprintf(s, n, "%s%s", prefix, name);
    return s;
}

/* ------------------------------------------------------------- Sequential */

static cg_tensor *seq_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out) {
    for (int i = 0; i < m->n_children && x; i++) {
        const cg_tensor *next = NULL;
        cg_tensor *table = i + 1 < m->n_children ? cg__rnn_table(m->children[i + 1], m->children[i]) : NULL;
        if (table) { /* an Embedding's rows already projected by the recurrent layer above */
            x = cg__embedding_ids(m->children[i], x, &next);
            mask = next, next = NULL;
            x = x ? cg__rnn_forward_table(m->children[++i], x, mask, &next) : NULL;
        } else {
            x = cg_module_forward_masked(m->children[i], x, mask, &next);
        }
        mask = next;
    }
    *mask_out = mask;
    return x;
}

static cg_tensor *seq_forward(cg_module *m, cg_tensor *x) {
    const cg_tensor *mo;
    return seq_forward_masked(m, x, NULL, &mo);
}

static bool seq_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    int64_t s[CG_MAX_DIMS];
    int n = nin;
    memcpy(s, in, sizeof(int64_t) * (size_t)nin);
    for (int i = 0; i < m->n_children; i++) {
        const cg_module *c = m->children[i];
        int64_t o[CG_MAX_DIMS];
        if (!c->type->output_shape || !c->type->output_shape(c, s, n, o, &n)) return false;
        memcpy(s, o, sizeof(int64_t) * (size_t)n);
    }
    memcpy(out, s, sizeof(int64_t) * (size_t)n);
    *nout = n;
    return true;
}

static const cg_module_type seq_type = {"Sequential", seq_forward, seq_forward_masked, seq_shape, NULL, NULL, NULL};

cg_module *cg_sequential_new(const char *name) {
    cg_module *m = calloc(1, sizeof *m);
    if (!m) {
        cg_set_error(CG_ERR_NOMEM, "cg_sequential_new: out of memory");
        return NULL;
    }
    if (cg_module_init(m, &seq_type, name) != CG_OK) {
        free(m);
        return NULL;
    }
    return m;
}

cg_module *cg_sequential_add(cg_module *model, cg_module *layer) {
    if (!model || model->type != &seq_type) {
        cg_module_free(layer);
        cg_set_error(CG_ERR_STATE, "cg_sequential_add: the model is not a Sequential");
        return NULL;
    }
    if (!layer) return cg__nn_null(model, "the layer to add (did its constructor fail?)");
    return cg_module_add_child(model, layer) ? model : NULL;
}

cg_status cg_module_inference_begin(cg_module *m, const cg_tensor *x) {
    if (!m || !x) return cg_set_error(CG_ERR_NULL, "cg_module_inference_begin: NULL %s", !m ? "model" : "input");
    cg_module_inference_end(m);
    if (m->type != &seq_type) return CG_OK;
    for (int i = 0; i + 1 < m->n_children; i++)
        if (cg__embedding_weight(m->children[i])) {
            cg_status st = cg__rnn_table_begin(m->children[i + 1], m->children[i], cg_numel(x));
            if (st != CG_OK) {
                cg_module_inference_end(m);
                return st;
            }
        }
    return CG_OK;
}

void cg_module_inference_end(cg_module *m) {
    if (!m || m->type != &seq_type) return;
    for (int i = 0; i < m->n_children; i++) cg__rnn_table_end(m->children[i]);
}

int cg_sequential_len(const cg_module *m) { return m && m->type == &seq_type ? m->n_children : 0; }
cg_module *cg_sequential_at(const cg_module *m, int i) {
    return m && m->type == &seq_type && i >= 0 && i < m->n_children ? m->children[i] : NULL;
}
