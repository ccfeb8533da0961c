/* NumPy-like printing. */
#include "tensor_internal.h"

#include <stdarg.h>

#define EDGE 3
#define SUMMARIZE_ABOVE 1000

typedef struct {
    FILE *f;
    char *buf;
    size_t size, len;
} sink;

static void put(sink *s, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (s->f) fputs(tmp, s->f);
    if (s->buf && s->len < s->size) {
        size_t room = s->size - s->len;
        size_t k = (size_t)n < room ? (size_t)n : room - 1;
        memcpy(s->buf + s->len, tmp, k);
        s->buf[s->len + k] = '\0';
    }
    s->len += (size_t)n;
}

typedef struct {
    const cg_tensor *t;
    bool summarize;
    bool sci;
    int width;
} pctx;

static bool shown(const pctx *c, int d, int64_t i) {
    int64_t n = c->t->shape[d];
    return !c->summarize || n <= 2 * EDGE || i < EDGE || i >= n - EDGE;
}

static void fmt_value(const pctx *c, double v, char *out, size_t n) {
    if (c->t->dtype == CG_INT64) snprintf(out, n, "%lld", (long long)v);
    else if (isnan(v)) snprintf(out, n, "nan");
    else if (isinf(v)) snprintf(out, n, v > 0 ? "inf" : "-inf");
    else if (c->sci) snprintf(out, n, "%.4e", v);
    else snprintf(out, n, "%.4f", v);
}

static double value_at(const cg_tensor *t, int64_t off) {
    const char *p = (const char *)t->storage->data + off * (int64_t)cg_dtype_size(t->dtype);
    switch (t->dtype) {
    case CG_FLOAT32: return *(const float *)p;
    case CG_FLOAT64: return *(const double *)p;
    case CG_INT64: return (double)*(const int64_t *)p;
    }
    return 0;
}

/* Visit shown elements to choose the format. */
static void scan(pctx *c, int d, int64_t off, double *maxabs, double *minabs, int *width, bool measure) {
    const cg_tensor *t = c->t;
    if (d == t->ndim) {
        double v = value_at(t, off);
        if (!measure) {
            if (isfinite(v)) {
                double a = fabs(v);
                if (a > *maxabs) *maxabs = a;
                if (a > 0 && a < *minabs) *minabs = a;
            }
        } else {
            char b[64];
            fmt_value(c, v, b, sizeof b);
            int w = (int)strlen(b);
            if (w > *width) *width = w;
        }
        return;
    }
    for (int64_t i = 0; i < t->shape[d]; i++)
        if (shown(c, d, i)) scan(c, d + 1, off + i * t->strides[d], maxabs, minabs, width, measure);
}

static void emit(sink *s, const pctx *c, int d, int64_t off, int indent) {
    const cg_tensor *t = c->t;
    if (d == t->ndim) {
        char b[64];
        fmt_value(c, value_at(t, off), b, sizeof b);
        put(s, "%*s", c->width, b);
        return;
    }
    put(s, "[");
    int64_t n = t->shape[d];
    bool skipped = false;
    for (int64_t i = 0; i < n; i++) {
        if (!shown(c, d, i)) {
            if (!skipped) {
                skipped = true;
                if (d == t->ndim - 1) put(s, "..., ");
                else {
                    put(s, "...,\n");
                    for (int k = 0; k < indent + 1; k++) put(s, " ");
                }
            }
            continue;
        }
        emit(s, c, d + 1, off + i * t->strides[d], indent + 1);
        if (i < n - 1) {
            if (d == t->ndim - 1) put(s, ", ");
            else {
                put(s, ",");
                for (int k = d; k < t->ndim - 1; k++) put(s, "\n");
                for (int k = 0; k < indent + 1; k++) put(s, " ");
            }
        }
    }
    put(s, "]");
}

static void print_to(sink *s, const cg_tensor *t) {
    if (!t) {
        put(s, "tensor(NULL)");
        return;
    }
    pctx c = {t, cg_numel(t) > SUMMARIZE_ABOVE, false, 1};
    if (cg_dtype_is_float(t->dtype)) {
        double mx = 0, mn = INFINITY;
        int w = 0;
        scan(&c, 0, t->offset, &mx, &mn, &w, false);
        c.sci = mx >= 1e8 || (mn < 1e-4 && mn > 0);
    }
    double mx = 0, mn = 0;
    scan(&c, 0, t->offset, &mx, &mn, &c.width, true);
    put(s, "tensor(");
    if (cg_numel(t) == 0) put(s, "[]");
    else emit(s, &c, 0, t->offset, 7);
    put(s, ", shape=[");
    for (int i = 0; i < t->ndim; i++) put(s, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    put(s, "], dtype=%s)", cg_dtype_name(t->dtype));
}

void cg_fprint(FILE *f, const cg_tensor *t) {
    sink s = {f, NULL, 0, 0};
    print_to(&s, t);
    fputc('\n', f);
}

void cg_print(const cg_tensor *t) { cg_fprint(stdout, t); }

size_t cg_snprint(char *buf, size_t size, const cg_tensor *t) {
    sink s = {NULL, buf, size, 0};
    if (buf && size) buf[0] = '\0';
    print_to(&s, t);
    return s.len;
}
