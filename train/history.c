/* The History of per-epoch metrics and its CSV. */
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --------------------------------------------------------------- history */

bool cg__history_add_row(cg_history *h) {
    if (h->epochs == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        double *v = realloc(h->values, sizeof(double) * (size_t)cap * CG_HISTORY_MAX_KEYS);
        double *s = v ? realloc(h->seconds, sizeof(double) * (size_t)cap) : NULL;
        if (v) h->values = v;
        if (!v || !s) return false;
        h->seconds = s;
        h->cap = cap;
    }
    for (int k = 0; k < CG_HISTORY_MAX_KEYS; k++) h->values[h->epochs * CG_HISTORY_MAX_KEYS + k] = NAN;
    h->seconds[h->epochs] = 0;
    h->epochs++;
    return true;
}

double cg_history_get(const cg_history *h, const char *key, int epoch) {
    if (!h || !key || epoch < 0 || epoch >= h->epochs) return NAN;
    for (int k = 0; k < h->n_keys; k++)
        if (strcmp(h->keys[k], key) == 0) return h->values[epoch * CG_HISTORY_MAX_KEYS + k];
    return NAN;
}

double cg_history_last(const cg_history *h, const char *key) { return h ? cg_history_get(h, key, h->epochs - 1) : NAN; }

void cg_history_free(cg_history *h) {
    if (!h) return;
    free(h->values);
    free(h->seconds);
    free(h);
}

/* Write to path through a temporary file renamed over it. */
cg_status cg__write_atomic(const char *path, void (*emit)(FILE *f, const void *ctx), const void *ctx) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return cg_set_error(CG_ERR_NOMEM, "cannot write %s: out of memory", path);
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tmp);
        return cg_set_error(CG_ERR_IO, "cannot write %s (is the directory there?)", path);
    }
    emit(f, ctx);
    bool ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) remove(tmp);
    free(tmp);
    return ok ? CG_OK : cg_set_error(CG_ERR_IO, "error writing %s", path);
}

static void emit_history(FILE *f, const void *ctx) {
    const cg_history *h = ctx;
    fprintf(f, "epoch");
    for (int k = 0; k < h->n_keys; k++) fprintf(f, ",%s", h->keys[k]);
    fprintf(f, "\n");
    for (int e = 0; e < h->epochs; e++) {
        fprintf(f, "%d", e + 1);
        for (int k = 0; k < h->n_keys; k++) fprintf(f, ",%.9g", h->values[e * CG_HISTORY_MAX_KEYS + k]);
        fprintf(f, "\n");
    }
}

cg_status cg_history_write_csv(const cg_history *h, const char *path) {
    if (!h || !path) return cg_set_error(CG_ERR_NULL, "cg_history_write_csv: NULL argument");
    return cg__write_atomic(path, emit_history, h);
}

