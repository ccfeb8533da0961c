/* Labelled text in tab-separated lines: UCI sentiment sentences, NSMC. */
#include "datasets_internal.h"

#include <stdlib.h>

cg_read_options cg_read_defaults(void) {
    return (cg_read_options){.header = false, .text_column = 0, .label_column = -1, .num_labels = 2,
                             .skip_bad = false};
}

#define MAX_FIELDS 64

/* Split one line at tabs: field starts/lengths; returns the field count
 * (capped at MAX_FIELDS, the last field then holds the rest). */
static int split_tabs(const char *s, size_t n, const char **f, size_t *fl) {
    int k = 0;
    f[0] = s;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\t' && k + 1 < MAX_FIELDS) {
            fl[k] = (size_t)(s + i - f[k]);
            f[++k] = s + i + 1;
        }
    fl[k] = (size_t)(s + n - f[k]);
    return k + 1;
}

/* Check a label field; on failure write why into msg. */
static bool check_label(const char *s, size_t n, int64_t num_labels, int64_t *label, char *msg, size_t msz) {
    if (!parse_int(s, n, label)) {
        snprintf(msg, msz, "label \"%.*s\" is not an integer", (int)(n > 40 ? 40 : n), s);
        return false;
    }
    if (num_labels > 0 && (*label < 0 || *label >= num_labels)) {
        snprintf(msg, msz, "label %lld is not in [0, %lld)", (long long)*label, (long long)num_labels);
        return false;
    }
    return true;
}

/* Parse one line into the builder: 0 ok, 1 malformed (msg says why), -1 out of memory. */
static int parse_line(corpus_builder *cb, const char *s, size_t n, const cg_read_options *o, char *msg,
                       size_t msz) {
    const char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    int nf = split_tabs(s, n, f, fl);
    if (nf < 2) {
        snprintf(msg, msz, "no tab between sentence and label");
        return 1;
    }
    int tc = o->text_column, lc = o->label_column < 0 ? nf - 1 : o->label_column;
    if (tc >= nf || lc >= nf) {
        snprintf(msg, msz, "%d fields, expected at least %d", nf, (tc > lc ? tc : lc) + 1);
        return 1;
    }
    int64_t label;
    if (!check_label(f[lc], fl[lc], o->num_labels, &label, msg, msz)) return 1;
    return cb_add(cb, f[tc], fl[tc], label) ? 0 : -1;
}

cg_text_corpus *cg_parse_tsv(const char *data, size_t len, const char *name, const cg_read_options *opt) {
    cg_read_options o = opt ? *opt : cg_read_defaults();
    if (!name) name = "<memory>";
    if (!data && len) {
        cg_set_error(CG_ERR_NULL, "cg_read_tsv: %s: data is NULL", name);
        return NULL;
    }
    if (o.text_column < 0 || o.text_column >= MAX_FIELDS || o.label_column >= MAX_FIELDS) {
        cg_set_error(CG_ERR_VALUE, "cg_read_tsv: columns %d/%d out of range", o.text_column, o.label_column);
        return NULL;
    }
    skip_bom(&data, &len);
    corpus_builder cb = {0};
    int64_t line = 0;
    for (size_t i = 0; i < len;) {
        const char *s = data + i, *nl = memchr(s, '\n', len - i);
        size_t n = nl ? (size_t)(nl - s) : len - i;
        i += n + 1;
        line++;
        if (n && s[n - 1] == '\r') n--;
        if ((line == 1 && o.header) || n == 0) continue;
        char msg[128];
        int r = parse_line(&cb, s, n, &o, msg, sizeof msg);
        if (r == 0) continue;
        if (r < 0) {
            cb_discard(&cb);
            return NULL;
        }
        if (o.skip_bad) {
            cb.skipped++;
            continue;
        }
        cg_set_error(CG_ERR_PARSE, "cg_read_tsv: %s:%lld: %s", name, (long long)line, msg);
        cb_discard(&cb);
        return NULL;
    }
    return cb_finish(&cb, NULL);
}

cg_text_corpus *cg_read_tsv(const char *path, const cg_read_options *opt) {
    size_t len;
    char *data = read_file("cg_read_tsv", path, &len);
    if (!data) return NULL;
    cg_text_corpus *c = cg_parse_tsv(data, len, path, opt);
    free(data);
    return c;
}
