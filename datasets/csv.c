/* CSV/TSV tables through libcsv, with line numbers for every row. */
#include "datasets_internal.h"

#include <csv.h>
#include <math.h>
#include <stdlib.h>

#define OP "cg_read_csv"

struct cg_table {
    char *name;
    dbuf pool;     /* cell text, NUL-terminated */
    size_t *cells; /* pool offsets, row-major; the header row first */
    int64_t ncells, cap_cells;
    int64_t *lines; /* line where each row ends */
    int64_t nrows, cap_rows;
    int ncols;
    bool header;
    int64_t skipped;
    /* parsing state */
    size_t *row;
    int64_t nfields, cap_row, line;
    bool skip_bad, failed;
};

cg_csv_options cg_csv_defaults(void) {
    return (cg_csv_options){.delimiter = ',', .header = true, .quoting = true, .skip_bad = false};
}

static void fail(cg_table *t, cg_status code, const char *what) {
    if (!t->failed) cg_set_error(code, OP ": %s:%lld: %s", t->name, (long long)t->line, what);
    t->failed = true;
}

static void on_field(void *s, size_t n, void *ctx) {
    cg_table *t = ctx;
    if (t->failed) return;
    if (!grow_array((void **)&t->row, &t->cap_row, t->nfields + 1, sizeof *t->row)) return fail(t, CG_ERR_NOMEM, "out of memory");
    t->row[t->nfields++] = t->pool.len;
    if (!dbuf_put(&t->pool, s ? s : "", s ? n : 0) || !dbuf_put(&t->pool, "", 1)) fail(t, CG_ERR_NOMEM, "out of memory");
}

static void on_record(int c, void *ctx) {
    (void)c;
    cg_table *t = ctx;
    if (t->failed) return;
    int64_t nf = t->nfields;
    t->nfields = 0;
    if (t->nrows == 0) t->ncols = (int)nf;
    if (nf != t->ncols) {
        char msg[96];
        snprintf(msg, sizeof msg, "%lld fields, expected %d (as in the first row)", (long long)nf, t->ncols);
        if (t->skip_bad)
            t->skipped++;
        else
            fail(t, CG_ERR_PARSE, msg);
        return;
    }
    if (!grow_array((void **)&t->cells, &t->cap_cells, t->ncells + nf, sizeof *t->cells) ||
        !grow_array((void **)&t->lines, &t->cap_rows, t->nrows + 1, sizeof *t->lines))
        return fail(t, CG_ERR_NOMEM, "out of memory");
    memcpy(t->cells + t->ncells, t->row, (size_t)nf * sizeof *t->row);
    t->ncells += nf;
    t->lines[t->nrows++] = t->line;
}

static int no_space(unsigned char c) {
    (void)c;
    return 0;
}

cg_table *cg_parse_csv(const char *data, size_t len, const char *name, const cg_csv_options *opt) {
    cg_csv_options o = opt ? *opt : cg_csv_defaults();
    if (!name) name = "<memory>";
    if (!data && len) return cg_set_error(CG_ERR_NULL, OP ": %s: data is NULL", name), NULL;
    cg_table *t = calloc(1, sizeof *t);
    dbuf clean = {0};
    struct csv_parser p;
    if (!t || !(t->name = malloc(strlen(name) + 1)) || csv_init(&p, CSV_STRICT_FINI) != 0) {
        if (t) free(t->name);
        free(t);
        return cg_set_error(CG_ERR_NOMEM, OP ": out of memory"), NULL;
    }
    memcpy(t->name, name, strlen(name) + 1);
    t->header = o.header;
    t->skip_bad = o.skip_bad;
    csv_set_delim(&p, (unsigned char)o.delimiter);
    /* Valid UTF-8 has no 0xFF byte: with quoting off, no byte is a quote. */
    csv_set_quote(&p, o.quoting ? CSV_QUOTE : 0xFF);
    csv_set_space_func(&p, no_space);
    skip_bom(&data, &len);
    if (!dbuf_put_utf8(&clean, data ? data : "", len)) t->failed = true;
    /* Feed one physical line at a time so callbacks know the line number. */
    for (size_t i = 0; i < clean.len && !t->failed;) {
        const char *s = clean.p + i, *nl = memchr(s, '\n', clean.len - i);
        size_t n = nl ? (size_t)(nl - s) + 1 : clean.len - i;
        t->line++;
        if (csv_parse(&p, s, n, on_field, on_record, t) != n) fail(t, CG_ERR_PARSE, csv_strerror(csv_error(&p)));
        i += n;
    }
    /* libcsv's state 2 (FIELD_BEGUN) in a quoted field: the closing quote never came. */
    if (!t->failed && ((p.quoted && p.pstate == 2) || csv_fini(&p, on_field, on_record, t) != 0))
        fail(t, CG_ERR_PARSE, "unterminated quoted field");
    csv_free(&p);
    dbuf_free(&clean);
    if (t->failed) {
        cg_table_free(t);
        return NULL;
    }
    if (!t->pool.p && !dbuf_put(&t->pool, "", 0)) {
        cg_table_free(t);
        return NULL;
    }
    return t;
}

cg_table *cg_read_csv(const char *path, const cg_csv_options *opt) {
    size_t len;
    char *data = read_file(OP, path, &len);
    if (!data) return NULL;
    cg_table *t = cg_parse_csv(data, len, path, opt);
    free(data);
    return t;
}

void cg_table_free(cg_table *t) {
    if (!t) return;
    free(t->name);
    dbuf_free(&t->pool);
    free(t->cells), free(t->lines), free(t->row);
    free(t);
}

int64_t cg_table_rows(const cg_table *t) { return t ? t->nrows - (t->header && t->nrows > 0) : 0; }
int cg_table_cols(const cg_table *t) { return t ? t->ncols : 0; }
int64_t cg_table_skipped(const cg_table *t) { return t ? t->skipped : 0; }

const char *cg_table_column_name(const cg_table *t, int col) {
    if (!t || col < 0 || col >= t->ncols) return NULL;
    return t->header && t->nrows > 0 ? t->pool.p + t->cells[col] : "";
}

int cg_table_column_index(const cg_table *t, const char *name) {
    if (!t || !name) return cg_set_error(CG_ERR_NULL, "cg_table_column_index: table or name is NULL"), -1;
    for (int j = 0; t->header && t->nrows > 0 && j < t->ncols; j++)
        if (strcmp(t->pool.p + t->cells[j], name) == 0) return j;
    cg_set_error(CG_ERR_INDEX, "cg_table_column: %s: no column named \"%s\"", t->name, name);
    return -1;
}

const char *cg_table_cell(const cg_table *t, int64_t row, int col) {
    if (!t || row < 0 || row >= cg_table_rows(t) || col < 0 || col >= t->ncols) return NULL;
    return t->pool.p + t->cells[(row + t->header) * t->ncols + col];
}

int64_t cg_table_line(const cg_table *t, int64_t row) {
    if (!t || row < 0 || row >= cg_table_rows(t)) return -1;
    return t->lines[row + t->header];
}

/* A number filling the whole cell (blanks around it allowed); "", "NA" and
 * "nan" are NaN. */
static bool parse_number(const char *s, double *v) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s || strcmp(s, "NA") == 0) {
        *v = NAN;
        return true;
    }
    char *end;
    *v = strtod(s, &end);
    if (end == s) return false;
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    return *end == '\0';
}

cg_tensor *cg_table_column(const cg_table *t, const char *name, cg_dtype dt) {
    int col = cg_table_column_index(t, name);
    if (col < 0) return NULL;
    int64_t n = cg_table_rows(t);
    cg_tensor *out = cg_empty(dt, &n, 1);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        const char *cell = cg_table_cell(t, i, col);
        double v = 0;
        int64_t k = 0;
        bool ok = dt == CG_INT64 ? parse_int(cell, strlen(cell), &k) : parse_number(cell, &v);
        if (!ok) {
            cg_set_error(CG_ERR_PARSE, "cg_table_column: %s:%lld: column \"%s\": \"%.40s\" is not %s", t->name,
                         (long long)cg_table_line(t, i), name, cell, dt == CG_INT64 ? "an integer" : "a number");
            return NULL;
        }
        if (dt == CG_INT64)
            cg_data_i64(out)[i] = k;
        else if (dt == CG_FLOAT32)
            cg_data_f32(out)[i] = (float)v;
        else
            cg_data_f64(out)[i] = v;
    }
    return out;
}

cg_text_corpus *cg_table_text_corpus(const cg_table *t, const char *text_col, const char *label_col,
                                     int64_t num_labels) {
    int tc = cg_table_column_index(t, text_col), lc = tc < 0 ? -1 : cg_table_column_index(t, label_col);
    if (lc < 0) return NULL;
    corpus_builder cb = {0};
    for (int64_t i = 0; i < cg_table_rows(t); i++) {
        const char *text = cg_table_cell(t, i, tc), *lab = cg_table_cell(t, i, lc);
        int64_t label;
        if (!parse_int(lab, strlen(lab), &label) || (num_labels > 0 && (label < 0 || label >= num_labels))) {
            cg_set_error(CG_ERR_PARSE, "cg_table_text_corpus: %s:%lld: label \"%.40s\" is not an integer in [0, %lld)",
                         t->name, (long long)cg_table_line(t, i), lab, (long long)num_labels);
            cb_discard(&cb);
            return NULL;
        }
        if (!cb_add(&cb, text, strlen(text), label)) {
            cb_discard(&cb);
            return NULL;
        }
    }
    return cb_finish(&cb, NULL);
}
