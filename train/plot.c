/* Plots as PNG through gnuplot (pngcairo). Next to every x.png go x.csv (the
 * numbers) and x.gp (the gnuplot script that drew it, reading x.csv from its
 * own folder), so a plot can always be redrawn or restyled elsewhere:
 * cd out/long_dependency && gnuplot loss.gp */
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* matplotlib's default colour cycle ("tab10"): distinct and readable on white. */
static const char *const PALETTE[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static bool have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

/* "out/loss.png" -> "out/loss<ext>" (malloc'ed). */
static char *sibling_path(const char *png, const char *ext) {
    size_t n = strlen(png);
    char *c = malloc(n + strlen(ext) + 1);
    if (!c) return NULL;
    memcpy(c, png, n + 1);
    if (n > 4 && strcmp(c + n - 4, ".png") == 0) c[n - 4] = '\0';
    strcat(c, ext);
    return c;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Text that goes into the script: no newlines (a quote is doubled). */
static bool printable(const char *s) { return !s || !strpbrk(s, "\n\r"); }

/* s as a gnuplot single-quoted string. */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* s as a CSV field (quoted when it holds a comma or a quote). */
static void put_csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Append s to o quoted for the shell ('...' with ' as '\''); returns the end. */
static char *shell_quote(char *o, const char *s, size_t n) {
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'') memcpy(o, "'\\''", 4), o += 4;
        else *o++ = s[i];
    }
    *o++ = '\'';
    *o = '\0';
    return o;
}

/* Run `gnuplot <script>` in the script's folder (the script names its files
 * relative to it). CG_ERR_IO if gnuplot is missing or fails. */
static cg_status run_gnuplot(const char *gp, const char *png) {
    if (!have_gnuplot())
        return cg_set_error(CG_ERR_IO, "cannot draw %s: gnuplot is not installed (apt-get install gnuplot-nox)", png);
    const char *name = base_name(gp);
    const char *dir = name == gp ? "." : name - 1 == gp ? "/" : gp;
    size_t dir_len = name == gp || name - 1 == gp ? 1 : (size_t)(name - 1 - gp);
    char *cmd = malloc(4 * strlen(gp) + 64);
    if (!cmd) return cg_set_error(CG_ERR_NOMEM, "cannot draw %s: out of memory", png);
    char *o = cmd;
    o += sprintf(o, "cd ");
    o = shell_quote(o, dir, dir_len);
    o += sprintf(o, " && gnuplot ");
    o = shell_quote(o, name, strlen(name));
    sprintf(o, " 2>/dev/null");
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? CG_OK : cg_set_error(CG_ERR_IO, "gnuplot failed drawing %s", png);
}

/* ------------------------------------------------------------ the figure */

/* One panel of a figure: lines over the same x. */
typedef struct panel {
    const char *title, *xlabel, *ylabel;
    cg_plot_scale yscale;
    const cg_plot_line *lines;
    const int *cols; /* CSV column (1-based) of each line */
    int n;
} panel;

typedef struct figure {
    const char *png, *csv, *title;
    const panel *panels;
    int n_panels;
    int64_t len;
    double x0;
    /* the CSV */
    const char *x_name;
    const char *const *col_names;
    const double *const *cols;
    int n_cols;
} figure;

/* Whether every finite value is > 0 and they span more than a decade. */
static bool spans_decades(const figure *fg, const panel *p) {
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < p->n; i++)
        for (int64_t k = 0; k < fg->len; k++) {
            double v = p->lines[i].y[k];
            if (!isfinite(v)) continue;
            if (v <= 0) return false;
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
    return hi > 0 && hi / lo > 10;
}

/* Where the legend goes: outside on the right for more than four lines;
 * else the inside corner (top right, top left, bottom right, bottom left,
 * in that order of preference) whose box would cover the fewest points, a
 * rough matplotlib loc="best". */
static const char *key_place(const figure *fg, const panel *p, bool logy) {
    if (p->n > 4) return "outside right top";
    double lo = INFINITY, hi = -INFINITY;
    size_t longest = 0;
    for (int i = 0; i < p->n; i++) {
        size_t l = strlen(p->lines[i].name);
        longest = l > longest ? l : longest;
        for (int64_t k = 0; k < fg->len; k++) {
            double v = p->lines[i].y[k];
            if (!isfinite(v) || (logy && v <= 0)) continue;
            v = logy ? log10(v) : v;
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
    }
    if (!(hi > lo) || fg->len < 2) return "top right";
    /* the box as fractions of the panel (about 12 px per character of a
     * 900 px panel, 25 px per line of a 540 px one) */
    double w = ((double)longest * 0.011 + 0.09) * (fg->n_panels > 1 ? 1.4 : 1.0), h = p->n * 0.05 + 0.04;
    static const char *const names[4] = {"top right", "top left", "bottom right", "bottom left"};
    int best = 0;
    int64_t best_count = -1;
    for (int c = 0; c < 4; c++) {
        bool right = c % 2 == 0, top = c < 2;
        int64_t count = 0;
        for (int i = 0; i < p->n; i++)
            for (int64_t k = 0; k < fg->len; k++) {
                double v = p->lines[i].y[k];
                if (!isfinite(v) || (logy && v <= 0)) continue;
                v = logy ? log10(v) : v;
                double fx = 0.03 + 0.94 * (double)k / (double)(fg->len - 1), fy = 0.05 + 0.9 * (v - lo) / (hi - lo);
                count += (right ? fx > 1 - w : fx < w) && (top ? fy > 1 - h : fy < h);
            }
        if (best_count < 0 || count < best_count) best = c, best_count = count;
    }
    return names[best];
}

/* On a log axis spanning less than three decades, tics at 1, 2 and 5 of
 * each decade (the decades alone would leave one or two labels). */
static void log_tics(FILE *f, const figure *fg, const panel *p) {
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < p->n; i++)
        for (int64_t k = 0; k < fg->len; k++) {
            double v = p->lines[i].y[k];
            if (isfinite(v) && v > 0) lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
    if (!(hi > 0) || hi / lo >= 1000) {
        fprintf(f, "set ytics autofreq\n");
        return;
    }
    fprintf(f, "set ytics (");
    int n = 0;
    for (int d = (int)floor(log10(lo)); d <= (int)ceil(log10(hi)); d++)
        for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
            double v = m * pow(10, d);
            if (v < lo / 1.2 || v > hi * 1.2) continue;
            fprintf(f, "%s%g", n++ ? ", " : "", v);
        }
    fprintf(f, ")\n");
}

static void emit_csv(FILE *f, const void *ctx) {
    const figure *fg = ctx;
    put_csv_field(f, fg->x_name);
    for (int k = 0; k < fg->n_cols; k++) fputc(',', f), put_csv_field(f, fg->col_names[k]);
    fputc('\n', f);
    for (int64_t i = 0; i < fg->len; i++) {
        fprintf(f, "%.10g", fg->x0 + (double)i);
        for (int k = 0; k < fg->n_cols; k++) fprintf(f, ",%.9g", fg->cols[k][i]);
        fputc('\n', f);
    }
}

static void emit_script(FILE *f, const void *ctx) {
    const figure *fg = ctx;
    int w = fg->n_panels > 1 ? 1400 : fg->panels[0].n > 4 ? 1100 : 900, h = 540;
    fprintf(f, "# %s from %s (cgrad); to redraw, run gnuplot on this file in its folder\n", base_name(fg->png),
            base_name(fg->csv));
    fprintf(f, "set terminal pngcairo noenhanced size %d,%d font ',12'\nset output ", w, h);
    put_quoted(f, base_name(fg->png));
    fprintf(f, "\nset datafile separator ','\nset datafile missing 'nan'\n");
    fprintf(f, "set grid lc rgb '#d8d8d8'\nset format x '%%g'\nset format y '%%g'\n");
    /* margins around the lines, as matplotlib leaves them */
    if (fg->len <= 1) fprintf(f, "set xrange [%g:%g]\n", fg->x0 - 0.5, fg->x0 + 0.5);
    else fprintf(f, "set autoscale xfix\n");
    fprintf(f, "set autoscale yfix\nset offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n");
    if (fg->len <= 12) fprintf(f, "set xtics 1\n");
    if (fg->n_panels > 1) {
        fprintf(f, "set multiplot layout 1,%d title ", fg->n_panels);
        put_quoted(f, fg->title ? fg->title : "");
        fprintf(f, " font ',15'\n");
    }
    const char *style = fg->len <= 20 ? "linespoints pt 7 ps 0.8" : "lines";
    for (int p = 0; p < fg->n_panels; p++) {
        const panel *pn = &fg->panels[p];
        fprintf(f, "set title ");
        put_quoted(f, fg->n_panels > 1 ? pn->title : fg->title);
        fprintf(f, " font ',14'\nset xlabel ");
        put_quoted(f, pn->xlabel ? pn->xlabel : "");
        fprintf(f, "\nset ylabel ");
        put_quoted(f, pn->ylabel ? pn->ylabel : "");
        bool logy = pn->yscale == CG_PLOT_LOG || (pn->yscale == CG_PLOT_AUTO && spans_decades(fg, pn));
        fprintf(f, logy ? "\nset logscale y\n" : "\nunset logscale y\nset ytics autofreq\n");
        if (logy) log_tics(f, fg, pn);
        fprintf(f, "set key %s Left reverse box opaque samplen 3\n", key_place(fg, pn, logy));
        fprintf(f, "plot ");
        int next_auto = 0;
        for (int i = 0; i < pn->n; i++) {
            const cg_plot_line *l = &pn->lines[i];
            int c = l->color > 0 ? (l->color - 1) % 10 : next_auto++ % 10;
            fprintf(f, "%s", i ? ", \\\n     " : "");
            put_quoted(f, base_name(fg->csv));
            fprintf(f, " skip 1 using 1:%d with %s lw 2 lc rgb '%s' dt %d title ", pn->cols[i], style, PALETTE[c],
                    l->dashed ? 2 : 1);
            put_quoted(f, l->name ? l->name : "");
        }
        fprintf(f, "\n");
    }
    if (fg->n_panels > 1) fprintf(f, "unset multiplot\n");
}

/* Write x.csv and x.gp, then run gnuplot. */
static cg_status draw(const figure *fg, const char *op) {
    char *gp = sibling_path(fg->png, ".gp");
    if (!gp) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", op);
    cg_status st = cg__write_atomic(fg->csv, emit_csv, fg);
    if (st == CG_OK) st = cg__write_atomic(gp, emit_script, fg);
    if (st == CG_OK) st = run_gnuplot(gp, fg->png);
    free(gp);
    return st;
}

cg_status cg_plot(const char *png, const cg_plot_line *lines, int n, int64_t len, const cg_plot_opts *o) {
    cg_plot_opts d = {0};
    if (!o) o = &d;
    if (!png || !lines || n < 1 || len < 0) return cg_set_error(CG_ERR_NULL, "cg_plot: bad arguments (png, lines, n >= 1, len >= 0)");
    if (strlen(png) < 5 || strcmp(png + strlen(png) - 4, ".png") != 0)
        return cg_set_error(CG_ERR_VALUE, "cg_plot: %s does not end in .png", png);
    if (!printable(png) || !printable(o->title) || !printable(o->xlabel) || !printable(o->ylabel))
        return cg_set_error(CG_ERR_VALUE, "cg_plot: newlines are not allowed in %s or its labels", png);
    if (o->yscale < CG_PLOT_AUTO || o->yscale > CG_PLOT_LOG)
        return cg_set_error(CG_ERR_VALUE, "cg_plot: unknown y scale %d", (int)o->yscale);
    for (int i = 0; i < n; i++) {
        if (!lines[i].y && len > 0) return cg_set_error(CG_ERR_NULL, "cg_plot: line %d has no values", i);
        if (!lines[i].name || !printable(lines[i].name))
            return cg_set_error(CG_ERR_VALUE, "cg_plot: line %d needs a name without newlines", i);
        if (lines[i].color < 0 || lines[i].color > 10)
            return cg_set_error(CG_ERR_VALUE, "cg_plot: line %d: colour %d is not 0 (automatic) or 1..10", i,
                                lines[i].color);
    }
    const char **names = malloc(sizeof *names * (size_t)n);
    const double **cols = malloc(sizeof *cols * (size_t)n);
    int *idx = malloc(sizeof *idx * (size_t)n);
    char *csv = sibling_path(png, ".csv");
    cg_status st;
    if (!names || !cols || !idx || !csv) {
        st = cg_set_error(CG_ERR_NOMEM, "cg_plot: out of memory");
    } else {
        for (int i = 0; i < n; i++) names[i] = lines[i].name, cols[i] = lines[i].y, idx[i] = i + 2;
        panel p = {o->title, o->xlabel, o->ylabel, o->yscale, lines, idx, n};
        figure fg = {png, csv, o->title, &p, 1, len, o->x0, o->xlabel && *o->xlabel ? o->xlabel : "x",
                     names, cols, n};
        st = draw(&fg, "cg_plot");
    }
    free(names), free(cols), free(idx), free(csv);
    return st;
}

cg_status cg_plot_lines(const char *png, const char *title, const char *const *names, const double *const *ys, int n,
                        int64_t len) {
    if (!names || !ys || n < 1) return cg_set_error(CG_ERR_NULL, "cg_plot_lines: bad arguments");
    cg_plot_line *l = calloc((size_t)n, sizeof *l);
    if (!l) return cg_set_error(CG_ERR_NOMEM, "cg_plot_lines: out of memory");
    for (int i = 0; i < n; i++) l[i].name = names[i], l[i].y = ys[i];
    cg_plot_opts o = {.title = title};
    cg_status st = cg_plot(png, l, n, len, &o);
    free(l);
    return st;
}

/* --------------------------------------------------------------- history */

/* The history's key named `key`, or -1. */
static int key_index(const cg_history *h, const char *key) {
    for (int k = 0; k < h->n_keys; k++)
        if (strcmp(h->keys[k], key) == 0) return k;
    return -1;
}

cg_status cg_history_plot(const cg_history *h, const char *png, const char *title) {
    if (!h || !png) return cg_set_error(CG_ERR_NULL, "cg_history_plot: NULL argument");
    if (strlen(png) < 5 || strcmp(png + strlen(png) - 4, ".png") != 0)
        return cg_set_error(CG_ERR_VALUE, "cg_history_plot: %s does not end in .png", png);
    if (!printable(png) || !printable(title))
        return cg_set_error(CG_ERR_VALUE, "cg_history_plot: newlines are not allowed in %s or its title", png);
    /* Every key is a CSV column; loss-like keys share the left panel, the
     * rest (accuracy) the right one; a key and its val_ twin share a colour,
     * the validation line dashed. */
    double *cols[CG_HISTORY_MAX_KEYS] = {0};
    const char *names[CG_HISTORY_MAX_KEYS];
    cg_plot_line lines[2][CG_HISTORY_MAX_KEYS];
    int col_of[2][CG_HISTORY_MAX_KEYS], n_lines[2] = {0, 0}, colour = 0, colour_of[CG_HISTORY_MAX_KEYS] = {0};
    cg_status st = CG_OK;
    for (int k = 0; k < h->n_keys; k++) {
        cols[k] = malloc(sizeof(double) * (size_t)(h->epochs ? h->epochs : 1));
        if (!cols[k]) {
            st = cg_set_error(CG_ERR_NOMEM, "cg_history_plot: out of memory");
            break;
        }
        for (int e = 0; e < h->epochs; e++) cols[k][e] = h->values[e * CG_HISTORY_MAX_KEYS + k];
        names[k] = h->keys[k];
    }
    for (int k = 0; k < h->n_keys && st == CG_OK; k++) {
        const char *key = h->keys[k];
        bool val = strncmp(key, "val_", 4) == 0;
        int twin = val ? key_index(h, key + 4) : -1;
        int c = twin >= 0 && colour_of[twin] ? colour_of[twin] : ++colour;
        colour_of[k] = c;
        int p = strstr(key, "loss") ? 0 : 1;
        lines[p][n_lines[p]] = (cg_plot_line){.name = key, .y = cols[k], .color = c, .dashed = val};
        col_of[p][n_lines[p]++] = k + 2;
    }
    if (st == CG_OK) {
        char *csv = sibling_path(png, ".csv");
        panel panels[2];
        int np = 0;
        const char *ylabel[2] = {"loss", "accuracy"};
        for (int p = 0; p < 2; p++)
            if (n_lines[p])
                panels[np++] = (panel){ylabel[p], "epoch", ylabel[p], p == 0 ? CG_PLOT_AUTO : CG_PLOT_LINEAR,
                                       lines[p], col_of[p], n_lines[p]};
        if (!csv) {
            st = cg_set_error(CG_ERR_NOMEM, "cg_history_plot: out of memory");
        } else if (!np) {
            st = cg_set_error(CG_ERR_VALUE, "cg_history_plot: the history has no keys to plot");
        } else {
            figure fg = {png, csv, title, panels, np, h->epochs, 1, "epoch", names, (const double *const *)cols,
                         h->n_keys};
            st = draw(&fg, "cg_history_plot");
        }
        free(csv);
    }
    for (int k = 0; k < h->n_keys; k++) free(cols[k]);
    return st;
}
