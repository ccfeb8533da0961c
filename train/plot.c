/* Plots as PNG through gnuplot (pngcairo), with the data as CSV beside
 * them so a plot can always be redrawn elsewhere. */
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

/* "out/loss.png" -> "out/loss.csv" */
static char *csv_path_for(const char *png) {
    size_t n = strlen(png);
    char *c = malloc(n + 5);
    if (!c) return NULL;
    memcpy(c, png, n + 1);
    if (n > 4 && strcmp(c + n - 4, ".png") == 0) c[n - 4] = '\0';
    strcat(c, ".csv");
    return c;
}

static bool safe_for_gnuplot(const char *s) { return !strchr(s, '\'') && !strchr(s, '\n'); }

/* Run a gnuplot script; CG_ERR_IO if gnuplot is missing or fails. */
static cg_status gnuplot(const char *script, const char *png) {
    if (!have_gnuplot())
        return cg_set_error(CG_ERR_IO, "cannot draw %s: gnuplot is not installed (apt-get install gnuplot-nox)", png);
    FILE *p = popen("gnuplot 2>/dev/null", "w");
    if (!p) return cg_set_error(CG_ERR_IO, "cannot draw %s: gnuplot did not start", png);
    fputs(script, p);
    int rc = pclose(p);
    return rc == 0 ? CG_OK : cg_set_error(CG_ERR_IO, "gnuplot failed drawing %s", png);
}

typedef struct {
    const char *const *names;
    const double *const *ys;
    int n;
    int64_t len;
} series;

static void emit_series(FILE *f, const void *ctx) {
    const series *s = ctx;
    fprintf(f, "x");
    for (int k = 0; k < s->n; k++) fprintf(f, ",%s", s->names[k]);
    fprintf(f, "\n");
    for (int64_t i = 0; i < s->len; i++) {
        fprintf(f, "%lld", (long long)i);
        for (int k = 0; k < s->n; k++) fprintf(f, ",%.9g", s->ys[k][i]);
        fprintf(f, "\n");
    }
}

cg_status cg_plot_lines(const char *png, const char *title, const char *const *names, const double *const *ys, int n,
                        int64_t len) {
    if (!png || !names || !ys || n < 1 || len < 0) return cg_set_error(CG_ERR_NULL, "cg_plot_lines: bad arguments");
    if (!safe_for_gnuplot(png) || (title && !safe_for_gnuplot(title)))
        return cg_set_error(CG_ERR_VALUE, "cg_plot_lines: quotes and newlines are not allowed in %s", png);
    char *csv = csv_path_for(png);
    if (!csv) return cg_set_error(CG_ERR_NOMEM, "cg_plot_lines: out of memory");
    series s = {names, ys, n, len};
    cg_status st = cg__write_atomic(csv, emit_series, &s);
    if (st == CG_OK) {
        char script[4096];
        size_t k = (size_t)snprintf(script, sizeof script,
                                    "set terminal pngcairo noenhanced size 900,500\nset output '%s'\nset datafile separator ','\n"
                                    "set title '%s'\nset grid\nplot ",
                                    png, title ? title : "");
        for (int i = 0; i < n && k < sizeof script; i++)
            k += (size_t)snprintf(script + k, sizeof script - k, "%s'%s' using 1:%d with lines lw 2 title columnhead",
                                  i ? ", " : "", csv, i + 2);
        if (k + 2 < sizeof script) strcat(script, "\n");
        st = gnuplot(script, png);
    }
    free(csv);
    return st;
}

cg_status cg_history_plot(const cg_history *h, const char *png, const char *title) {
    if (!h || !png) return cg_set_error(CG_ERR_NULL, "cg_history_plot: NULL argument");
    const char *names[CG_HISTORY_MAX_KEYS];
    double *cols[CG_HISTORY_MAX_KEYS];
    int n = 0;
    cg_status st = CG_OK;
    for (int k = 0; k < h->n_keys && st == CG_OK; k++) {
        if (!strstr(h->keys[k], "loss")) continue; /* loss and val_loss share a scale */
        cols[n] = malloc(sizeof(double) * (size_t)(h->epochs ? h->epochs : 1));
        if (!cols[n]) {
            st = cg_set_error(CG_ERR_NOMEM, "cg_history_plot: out of memory");
            break;
        }
        for (int e = 0; e < h->epochs; e++) cols[n][e] = cg_history_get(h, h->keys[k], e);
        names[n++] = h->keys[k];
    }
    if (st == CG_OK) st = cg_plot_lines(png, title, names, (const double *const *)cols, n, h->epochs);
    for (int i = 0; i < n; i++) free(cols[i]);
    return st;
}
