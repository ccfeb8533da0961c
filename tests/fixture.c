#include "fixture.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

typedef struct rec {
    char name[128];
    cg_dtype dt;
    int ndim;
    int64_t shape[CG_MAX_DIMS];
    int64_t n;
    double *vals;
} rec;

struct fixture {
    rec *recs;
    int n, cap;
};

fixture *fx_load(const char *file) {
    char rel[512];
    snprintf(rel, sizeof rel, "reference/fixtures/%s", file);
    const char *path = cgt_src_path(rel);
    FILE *f = fopen(path, "r");
    if (!f) ck_abort_msg("fixture %s cannot be opened (regenerate it with the scripts in tests/reference/)", path);
    fixture *fx = calloc(1, sizeof *fx);
    char word[256];
    while (fscanf(f, "%255s", word) == 1) {
        if (word[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF) {
            }
            continue;
        }
        if (strcmp(word, "tensor") != 0) ck_abort_msg("fixture %s: expected 'tensor', got '%s'", path, word);
        if (fx->n == fx->cap) {
            fx->cap = fx->cap ? 2 * fx->cap : 16;
            fx->recs = realloc(fx->recs, sizeof(rec) * (size_t)fx->cap);
        }
        rec *r = &fx->recs[fx->n++];
        memset(r, 0, sizeof *r);
        char dt[32];
        if (fscanf(f, "%127s %31s %d", r->name, dt, &r->ndim) != 3 || r->ndim < 0 || r->ndim > CG_MAX_DIMS)
            ck_abort_msg("fixture %s: bad record header", path);
        r->dt = strcmp(dt, "float64") == 0 ? CG_FLOAT64 : strcmp(dt, "int64") == 0 ? CG_INT64 : CG_FLOAT32;
        r->n = 1;
        for (int d = 0; d < r->ndim; d++) {
            long long v;
            if (fscanf(f, "%lld", &v) != 1) ck_abort_msg("fixture %s: bad shape for %s", path, r->name);
            r->shape[d] = v;
            r->n *= v;
        }
        r->vals = malloc(sizeof(double) * (size_t)(r->n ? r->n : 1));
        for (int64_t i = 0; i < r->n; i++)
            if (fscanf(f, "%lf", &r->vals[i]) != 1)
                ck_abort_msg("fixture %s: %s ends after %lld values", path, r->name, (long long)i);
    }
    fclose(f);
    return fx;
}

static const rec *find(const fixture *fx, const char *name) {
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->recs[i].name, name) == 0) return &fx->recs[i];
    return NULL;
}

cg_tensor *fx_find(const fixture *fx, const char *name) {
    const rec *r = find(fx, name);
    if (!r) return NULL;
    cg_tensor *t = cg_empty(r->dt, r->shape, r->ndim);
    for (int64_t i = 0; i < r->n; i++) {
        switch (r->dt) {
        case CG_FLOAT32: cg_data_f32(t)[i] = (float)r->vals[i]; break;
        case CG_FLOAT64: cg_data_f64(t)[i] = r->vals[i]; break;
        case CG_INT64: cg_data_i64(t)[i] = (int64_t)r->vals[i]; break;
        }
    }
    return t;
}

cg_tensor *fx_get(const fixture *fx, const char *name) {
    cg_tensor *t = fx_find(fx, name);
    if (!t) ck_abort_msg("fixture has no tensor named '%s'", name);
    return t;
}

double fx_scalar(const fixture *fx, const char *name) {
    const rec *r = find(fx, name);
    if (!r || r->n != 1) ck_abort_msg("fixture has no scalar named '%s'", name);
    return r->vals[0];
}

void fx_free(fixture *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->n; i++) free(fx->recs[i].vals);
    free(fx->recs);
    free(fx);
}
