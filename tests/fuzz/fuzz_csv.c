/* libFuzzer target for the CSV/TSV readers: any bytes give a table/corpus or
 * an error, never a crash, a leak or an out-of-bounds read. The first byte
 * picks the options. Accepted tables must be rectangular and their cells
 * valid UTF-8. Build and run with tests/fuzz/run.sh. */
#include "datasets.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static void check_utf8(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) abort();
        i += (size_t)k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t f = data[0];
    const char *text = (const char *)data + 1;
    size--;
    cg_scope *s = cg_scope_begin();

    cg_csv_options co = cg_csv_defaults();
    co.delimiter = (f & 1) ? '\t' : ',';
    co.header = f & 2;
    co.quoting = !(f & 4);
    co.skip_bad = f & 8;
    cg_table *t = cg_parse_csv(text, size, "fuzz.csv", &co);
    if (t) {
        int cols = cg_table_cols(t);
        for (int64_t r = 0; r < cg_table_rows(t); r++)
            for (int c = 0; c < cols; c++) {
                const char *cell = cg_table_cell(t, r, c);
                if (!cell) abort();
                check_utf8(cell);
            }
        if (cg_table_cell(t, cg_table_rows(t), 0)) abort();
        if (co.header && cols > 0) {
            const char *first = cg_table_column_name(t, 0), *last = cg_table_column_name(t, cols - 1);
            cg_tensor *v = cg_table_column(t, first, (f & 16) ? CG_INT64 : CG_FLOAT32);
            if (v && v->shape[0] != cg_table_rows(t)) abort();
            cg_text_corpus_free(cg_table_text_corpus(t, first, last, (f & 32) ? 2 : 0));
        }
        cg_table_free(t);
    }

    cg_read_options ro = cg_read_defaults();
    ro.header = f & 16;
    ro.text_column = (f >> 5) & 1;
    ro.label_column = (f & 64) ? 1 : -1;
    ro.skip_bad = f & 128;
    cg_text_corpus *c = cg_parse_tsv(text, size, "fuzz.tsv", &ro);
    if (c) {
        for (int64_t i = 0; i < c->n; i++) {
            check_utf8(c->texts[i]);
            if (c->labels[i] < 0 || c->labels[i] > 1) abort();
        }
        cg_text_corpus_free(c);
    }
    cg_scope_end(s);
    cg_clear_error();
    return 0;
}
