/* cg_plot and cg_history_plot: the CSV and gnuplot script written beside
 * each PNG (axis labels, epochs counted from 1, a model's loss and val_loss
 * in one colour, solid and dashed, a log axis for losses spanning decades)
 * and the PNG itself when gnuplot is installed. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/cgrad_plot_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *in_dir(const char *name) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

/* The whole file (static buffer); aborts if it cannot be read. */
static const char *slurp(const char *path) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    if (!f) ck_abort_msg("%s was not written", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static bool have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

/* The script's plot clause for the line titled `name`: its colour and dash. */
static void line_style(const char *script, const char *name, char *colour, int *dash) {
    char needle[64];
    snprintf(needle, sizeof needle, "title '%s'", name);
    const char *t = strstr(script, needle);
    while (t && t - script >= 4 && strncmp(t - 4, "set ", 4) == 0) t = strstr(t + 1, needle); /* a panel title */
    ck_assert_msg(t != NULL, "no line titled %s in:\n%s", name, script);
    const char *start = t;
    while (start > script && start[-1] != '\n') start--;
    const char *lc = strstr(start, "lc rgb '");
    ck_assert_msg(lc && lc < t, "line %s has no colour", name);
    ck_assert_int_eq(sscanf(lc, "lc rgb '%7[#0-9a-f]' dt %d", colour, dash), 2);
}

/* Width and height from the PNG's IHDR; aborts unless it is a PNG. */
static void png_size(const char *path, int *w, int *h) {
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s was not drawn", path);
    ck_assert_int_eq(fread(b, 1, 24, f), 24);
    fclose(f);
    ck_assert_int_eq(memcmp(b, "\x89PNG\r\n\x1a\n", 8), 0);
    *w = b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
    *h = b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
}

/* A history as cg_fit leaves it: loss, accuracy, val_loss, val_accuracy. */
static cg_history *history(int epochs) {
    cg_history *h = calloc(1, sizeof *h);
    const char *keys[] = {"loss", "accuracy", "val_loss", "val_accuracy"};
    h->n_keys = 4;
    for (int k = 0; k < 4; k++) strcpy(h->keys[k], keys[k]);
    h->values = calloc((size_t)epochs * CG_HISTORY_MAX_KEYS, sizeof(double));
    h->seconds = calloc((size_t)epochs, sizeof(double));
    h->epochs = h->cap = epochs;
    for (int e = 0; e < epochs; e++) {
        double *v = h->values + e * CG_HISTORY_MAX_KEYS;
        v[0] = 0.5 / (1 << (2 * e)); /* 0.5 down to 0.5 / 4^(epochs-1): many decades */
        v[1] = 0.6 + 0.05 * e;
        v[2] = 0.6 / (1 << e);
        v[3] = 0.55 + 0.04 * e;
    }
    return h;
}

START_TEST(history_plot_reads_like_the_lessons) {
    make_dir();
    cg_history *h = history(6);
    cg_status st = cg_history_plot(h, in_dir("history.png"), "IMDB: Embedding -> LSTM(128)");
    /* the numbers: one row per epoch, counted from 1 like the progress line */
    const char *csv = slurp(in_dir("history.csv"));
    ck_assert_msg(starts_with(csv, "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.5,0.6,0.6,0.55\n2,"), "%s", csv);
    ck_assert_ptr_nonnull(strstr(csv, "\n6,"));
    /* the script: two panels, labelled axes, the title on top */
    const char *gp = slurp(in_dir("history.gp"));
    ck_assert_ptr_nonnull(strstr(gp, "set multiplot layout 1,2 title 'IMDB: Embedding -> LSTM(128)'"));
    ck_assert_ptr_nonnull(strstr(gp, "set xlabel 'epoch'\nset ylabel 'loss'\nset logscale y"));
    ck_assert_ptr_nonnull(strstr(gp, "set xlabel 'epoch'\nset ylabel 'accuracy'\nunset logscale y"));
    ck_assert_ptr_nonnull(strstr(gp, "set key top right")); /* falling losses */
    ck_assert_ptr_nonnull(strstr(gp, "set key top left")); /* rising accuracy: the empty corner */
    /* loss and val_loss: one colour, solid and dashed; accuracy another */
    char c_loss[8], c_vloss[8], c_acc[8], c_vacc[8];
    int d_loss, d_vloss, d_acc, d_vacc;
    line_style(gp, "loss", c_loss, &d_loss);
    line_style(gp, "val_loss", c_vloss, &d_vloss);
    line_style(gp, "accuracy", c_acc, &d_acc);
    line_style(gp, "val_accuracy", c_vacc, &d_vacc);
    ck_assert_str_eq(c_loss, "#1f77b4");
    ck_assert_str_eq(c_vloss, c_loss);
    ck_assert_str_eq(c_acc, "#ff7f0e");
    ck_assert_str_eq(c_vacc, c_acc);
    ck_assert_int_eq(d_loss, 1);
    ck_assert_int_eq(d_vloss, 2);
    ck_assert_int_eq(d_acc, 1);
    ck_assert_int_eq(d_vacc, 2);
    if (have_gnuplot()) {
        ck_assert_msg(st == CG_OK, "%s", cg_last_error());
        int w, hh;
        png_size(in_dir("history.png"), &w, &hh);
        ck_assert_int_eq(w, 1400); /* two panels side by side */
        ck_assert_int_eq(hh, 540);
    } else {
        ck_assert_int_eq(st, CG_ERR_IO);
        cg_clear_error();
    }
    cg_history_free(h);
    remove_dir();
}
END_TEST

START_TEST(history_without_accuracy_is_one_panel) {
    make_dir();
    cg_history *h = history(3);
    h->n_keys = 1; /* loss only, 0.5 to 0.0625: less than a decade */
    h->values[2 * CG_HISTORY_MAX_KEYS] = 0.0625;
    cg_status st = cg_history_plot(h, in_dir("loss.png"), "counting");
    ck_assert_str_eq(slurp(in_dir("loss.csv")), "epoch,loss\n1,0.5\n2,0.125\n3,0.0625\n");
    const char *gp = slurp(in_dir("loss.gp"));
    ck_assert_ptr_null(strstr(gp, "multiplot"));
    ck_assert_ptr_nonnull(strstr(gp, "set title 'counting'"));
    ck_assert_ptr_nonnull(strstr(gp, "unset logscale y"));
    ck_assert_ptr_nonnull(strstr(gp, "set xtics 1")); /* few epochs: whole numbers only */
    if (have_gnuplot()) {
        ck_assert_msg(st == CG_OK, "%s", cg_last_error());
        int w, hh;
        png_size(in_dir("loss.png"), &w, &hh);
        ck_assert_int_eq(w, 900);
    }
    cg_clear_error();
    cg_history_free(h);
    remove_dir();
}
END_TEST

START_TEST(plot_lines_labels_scale_and_colours) {
    make_dir();
    double a[40], b[40], c[40];
    for (int i = 0; i < 40; i++) a[i] = -1 + 0.05 * i, b[i] = 0.1 * i - 2, c[i] = 1e-4 * (1 + i * i);
    /* signed values: linear; x from 7; explicit and automatic colours */
    cg_plot_line l[3] = {{.name = "data (standardized)", .y = a},
                         {.name = "SimpleRNN", .y = b, .color = 4},
                         {.name = "LSTM", .y = c}};
    cg_plot_opts o = {.title = "deaths: it's monthly", .xlabel = "month", .ylabel = "deaths (standardized)", .x0 = 7};
    cg_status st = cg_plot(in_dir("fit.png"), l, 3, 40, &o);
    const char *csv = slurp(in_dir("fit.csv"));
    ck_assert_msg(starts_with(csv, "month,data (standardized),SimpleRNN,LSTM\n7,-1,-2,0.0001\n8,"), "%s", csv);
    ck_assert_ptr_nonnull(strstr(csv, "\n46,"));
    const char *gp = slurp(in_dir("fit.gp"));
    ck_assert_ptr_nonnull(strstr(gp, "set title 'deaths: it''s monthly'")); /* quotes survive */
    ck_assert_ptr_nonnull(strstr(gp, "set xlabel 'month'\nset ylabel 'deaths (standardized)'\nunset logscale y"));
    char col[3][8];
    int dash;
    line_style(gp, "data (standardized)", col[0], &dash);
    line_style(gp, "SimpleRNN", col[1], &dash);
    line_style(gp, "LSTM", col[2], &dash);
    ck_assert_str_eq(col[0], "#1f77b4"); /* first automatic colour */
    ck_assert_str_eq(col[1], "#d62728"); /* colour 4: red */
    ck_assert_str_eq(col[2], "#ff7f0e"); /* second automatic colour */
    ck_assert_int_eq(dash, 1);
    if (have_gnuplot()) ck_assert_msg(st == CG_OK, "%s", cg_last_error());
    cg_clear_error();

    /* positive values over three decades: a log axis; CG_PLOT_LINEAR overrides */
    cg_plot_line lc = {.name = "loss", .y = c};
    ck_assert_int_eq(cg_plot(in_dir("c.png"), &lc, 1, 40, NULL) == CG_OK, have_gnuplot());
    ck_assert_ptr_nonnull(strstr(slurp(in_dir("c.gp")), "\nset logscale y"));
    o.yscale = CG_PLOT_LINEAR;
    ck_assert_int_eq(cg_plot(in_dir("c.png"), &lc, 1, 40, &o) == CG_OK, have_gnuplot());
    ck_assert_ptr_null(strstr(slurp(in_dir("c.gp")), "\nset logscale y"));
    /* less than a decade (0.1 to 0.5): linear */
    for (int i = 0; i < 40; i++) c[i] = 0.1 + 0.01 * i;
    ck_assert_int_eq(cg_plot(in_dir("c.png"), &lc, 1, 40, NULL) == CG_OK, have_gnuplot());
    ck_assert_ptr_null(strstr(slurp(in_dir("c.gp")), "\nset logscale y"));
    /* many lines: the legend goes outside, on the right of a wider figure */
    cg_plot_line five[5] = {{.name = "a", .y = a}, {.name = "b", .y = b}, {.name = "c", .y = c}, {.name = "d", .y = a},
                            {.name = "e", .y = b}};
    st = cg_plot(in_dir("five.png"), five, 5, 40, NULL);
    const char *gp5 = slurp(in_dir("five.gp"));
    ck_assert_ptr_nonnull(strstr(gp5, "set key outside right top"));
    ck_assert_ptr_nonnull(strstr(gp5, "size 1100,540"));
    if (have_gnuplot()) {
        ck_assert_msg(st == CG_OK, "%s", cg_last_error());
        int w, hh;
        png_size(in_dir("five.png"), &w, &hh);
        ck_assert_int_eq(w, 1100);
    }
    cg_clear_error();
    remove_dir();
}
END_TEST

START_TEST(plot_bad_arguments_write_nothing) {
    make_dir();
    double y[3] = {1, 2, 3};
    cg_plot_line l = {.name = "y", .y = y};
    ck_assert_int_eq(cg_plot(in_dir("a.svg"), &l, 1, 3, NULL), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "does not end in .png");
    cg_plot_opts o = {.title = "two\nlines"};
    ck_assert_int_eq(cg_plot(in_dir("a.png"), &l, 1, 3, &o), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "newlines");
    l.color = 11;
    ck_assert_int_eq(cg_plot(in_dir("a.png"), &l, 1, 3, NULL), CG_ERR_VALUE);
    ck_assert_error(CG_ERR_VALUE, "colour 11");
    l.color = 0, l.y = NULL;
    ck_assert_int_eq(cg_plot(in_dir("a.png"), &l, 1, 3, NULL), CG_ERR_NULL);
    ck_assert_error(CG_ERR_NULL, "line 0 has no values");
    ck_assert_int_eq(cg_plot(in_dir("a.png"), NULL, 1, 3, NULL), CG_ERR_NULL);
    cg_clear_error();
    ck_assert_int_eq(cg_history_plot(NULL, in_dir("a.png"), "t"), CG_ERR_NULL);
    cg_clear_error();
    ck_assert(!exists(in_dir("a.csv")) && !exists(in_dir("a.gp")) && !exists(in_dir("a.png")));
    remove_dir();
}
END_TEST

int main(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, history_plot_reads_like_the_lessons);
    tcase_add_test(tc, history_without_accuracy_is_one_panel);
    tcase_add_test(tc, plot_lines_labels_scale_and_colours);
    tcase_add_test(tc, plot_bad_arguments_write_nothing);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
