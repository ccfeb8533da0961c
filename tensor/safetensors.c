/* safetensors files: validated reading and atomic writing.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the
 * tensors' bytes (little-endian, row-major). The reader trusts nothing: the
 * header must be valid UTF-8 JSON, every entry must have a known dtype, a
 * shape of at most CG_MAX_DIMS whole non-negative sizes and data_offsets
 * whose length matches the shape, and the tensors must tile the data area
 * exactly (no overlap, no gap, no trailing bytes), as the reference
 * implementation requires. Unknown fields inside an entry are ignored, like
 * the reference does. "File order" is the order of the JSON header.
 *
 * The writer emits compact JSON ("__metadata__" first, then the tensors in
 * the order given, data back to back in that order) padded with spaces to a
 * multiple of 8 bytes, into a temporary file that is fsync'ed and renamed
 * over the destination. */
#include "tensor_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER 100000000ull /* bytes; the reference implementation's limit */
#define MAX_EXACT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact */

typedef struct entry {
    const char *name; /* points into the cJSON tree */
    cg_dtype dtype;
    int ndim;
    int64_t shape[CG_MAX_DIMS];
    uint64_t begin, end; /* bytes, from the start of the data area */
} entry;

struct cg_safetensors {
    char *path;
    unsigned char *buf; /* the whole file */
    const unsigned char *data;
    uint64_t data_len;
    cJSON *root;
    const cJSON *meta; /* the "__metadata__" object or NULL */
    int n;
    entry *entries;  /* header order */
    entry **by_name; /* sorted by name */
};

static const struct {
    const char *code;
    cg_dtype dt;
} g_dtypes[] = {{"F32", CG_FLOAT32}, {"F64", CG_FLOAT64}, {"I64", CG_INT64}};

/* The other dtypes of the format: valid files, but not cgrad's. */
static const char *const g_unsupported[] = {"BOOL", "U8",  "I8",  "I16",     "U16",     "F16",     "BF16",
                                            "I32",  "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                            "F6_E2M3", "F6_E3M2", "C64"};

static const char *dtype_code(cg_dtype dt) {
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (g_dtypes[i].dt == dt) return g_dtypes[i].code;
    return NULL;
}

static bool little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static void swap_bytes(void *p, int64_t n, size_t elsize) {
    unsigned char *b = p;
    for (int64_t i = 0; i < n; i++, b += elsize)
        for (size_t k = 0; k < elsize / 2; k++) {
            unsigned char t = b[k];
            b[k] = b[elsize - 1 - k];
            b[elsize - 1 - k] = t;
        }
}

static bool utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The first name that occurs twice in names[0..n) (sorts the array), or NULL. */
static const char *find_duplicate(const char **names, size_t n) {
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) return names[i];
    return NULL;
}

/* ---------------------------------------------------------------- reading */

static bool bad(const cg_safetensors *f, cg_status code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cg_set_error(code, "cg_safetensors_open: %s: %s", f->path, msg);
    return false;
}

/* A JSON number holding a whole value in [0, 2^53]. */
static bool json_size(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= MAX_EXACT) || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

static bool parse_entry(cg_safetensors *f, const cJSON *j, entry *e) {
    const char *nm = j->string;
    e->name = nm;
#define BAD_T(code, fmt, ...) bad(f, code, "tensor '%.200s': " fmt, nm, __VA_ARGS__)
    if (!cJSON_IsObject(j)) return BAD_T(CG_ERR_PARSE, "%s", "entry is not a JSON object");
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = j->child; c; c = c->next) {
        const cJSON **slot = !strcmp(c->string, "dtype")          ? &dt
                             : !strcmp(c->string, "shape")        ? &shape
                             : !strcmp(c->string, "data_offsets") ? &offs
                                                                  : NULL;
        if (!slot) continue;
        if (*slot) return BAD_T(CG_ERR_PARSE, "field '%s' appears twice", c->string);
        *slot = c;
    }
    if (!dt || !shape || !offs)
        return BAD_T(CG_ERR_PARSE, "missing field '%s'", !dt ? "dtype" : !shape ? "shape" : "data_offsets");

    if (!cJSON_IsString(dt)) return BAD_T(CG_ERR_PARSE, "%s", "dtype is not a string");
    size_t k = 0, nd = sizeof g_dtypes / sizeof g_dtypes[0];
    while (k < nd && strcmp(dt->valuestring, g_dtypes[k].code)) k++;
    if (k == nd) {
        for (size_t u = 0; u < sizeof g_unsupported / sizeof g_unsupported[0]; u++)
            if (!strcmp(dt->valuestring, g_unsupported[u]))
                return BAD_T(CG_ERR_DTYPE, "unsupported dtype '%s' (cgrad reads F32, F64 and I64)",
                             dt->valuestring);
        return BAD_T(CG_ERR_PARSE, "unknown dtype '%.40s'", dt->valuestring);
    }
    e->dtype = g_dtypes[k].dt;

    if (!cJSON_IsArray(shape)) return BAD_T(CG_ERR_PARSE, "%s", "shape is not an array");
    int rank = cJSON_GetArraySize(shape);
    if (rank > CG_MAX_DIMS) return BAD_T(CG_ERR_SHAPE, "shape has %d dims, cgrad supports %d", rank, CG_MAX_DIMS);
    e->ndim = rank;
    uint64_t nbytes = cg_dtype_size(e->dtype);
    bool overflow = false, empty = false;
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        uint64_t s;
        if (!json_size(c, &s)) return BAD_T(CG_ERR_PARSE, "shape entry %d is not a whole number >= 0", d);
        e->shape[d] = (int64_t)s;
        empty |= s == 0;
        overflow |= __builtin_mul_overflow(nbytes, s, &nbytes);
    }
    if (empty) nbytes = 0, overflow = false; /* a zero size wins */

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_size(offs->child, &e->begin) ||
        !json_size(offs->child->next, &e->end))
        return BAD_T(CG_ERR_PARSE, "%s", "data_offsets is not a pair of whole numbers >= 0");
    if (e->begin > e->end || e->end > f->data_len)
        return BAD_T(CG_ERR_PARSE, "data_offsets [%llu, %llu] out of range: the data area has %llu bytes%s",
                     (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)f->data_len,
                     e->end > f->data_len ? " (truncated file?)" : "");
    if (overflow || nbytes != e->end - e->begin)
        return BAD_T(CG_ERR_PARSE, "data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %s%llu",
                     (unsigned long long)e->begin, (unsigned long long)e->end,
                     (unsigned long long)(e->end - e->begin), dt->valuestring, cg_dims_str(e->shape, e->ndim),
                     overflow ? "more than " : "", (unsigned long long)(overflow ? UINT64_MAX : nbytes));
#undef BAD_T
    return true;
}

static bool parse_meta(cg_safetensors *f, const cJSON *j) {
    if (f->meta) return bad(f, CG_ERR_PARSE, "%s", "'__metadata__' appears twice");
    if (!cJSON_IsObject(j)) return bad(f, CG_ERR_PARSE, "%s", "'__metadata__' is not a JSON object");
    size_t n = 0;
    for (const cJSON *c = j->child; c; c = c->next, n++)
        if (!cJSON_IsString(c)) return bad(f, CG_ERR_PARSE, "metadata '%.200s' is not a string", c->string);
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return bad(f, CG_ERR_NOMEM, "%s", "out of memory");
    n = 0;
    for (const cJSON *c = j->child; c; c = c->next) keys[n++] = c->string;
    const char *dup = find_duplicate(keys, n);
    if (dup) bad(f, CG_ERR_PARSE, "duplicate metadata key '%.200s'", dup);
    free(keys);
    f->meta = j;
    return !dup;
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp((*(const entry *const *)a)->name, (*(const entry *const *)b)->name);
}

static int cmp_entry_offset(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static bool parse(cg_safetensors *f, size_t size) {
    if (size < 8) return bad(f, CG_ERR_PARSE, "%zu bytes: too short for the 8-byte header length", size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->buf[i];
    if (hlen > MAX_HEADER)
        return bad(f, CG_ERR_PARSE, "header length %llu is absurd (the limit is %llu)", (unsigned long long)hlen,
                   MAX_HEADER);
    if (hlen > size - 8)
        return bad(f, CG_ERR_PARSE, "header length %llu exceeds the %zu bytes that follow (truncated file?)",
                   (unsigned long long)hlen, size - 8);
    const char *hdr = (const char *)f->buf + 8;
    f->data = f->buf + 8 + hlen;
    f->data_len = size - 8 - hlen;
    if (!utf8_valid((const unsigned char *)hdr, hlen)) return bad(f, CG_ERR_PARSE, "%s", "header is not valid UTF-8");
    const char *end = NULL;
    f->root = hlen ? cJSON_ParseWithLengthOpts(hdr, hlen, &end, false) : NULL;
    if (!f->root) {
        size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
        return bad(f, CG_ERR_PARSE, "header is not valid JSON (at byte %zu of %llu)", at, (unsigned long long)hlen);
    }
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return bad(f, CG_ERR_PARSE, "unexpected bytes after the header JSON (at byte %zu)", (size_t)(p - hdr));
    if (!cJSON_IsObject(f->root)) return bad(f, CG_ERR_PARSE, "%s", "header is not a JSON object");

    size_t n = 0;
    for (const cJSON *c = f->root->child; c; c = c->next) n += strcmp(c->string, "__metadata__") != 0;
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    f->by_name = malloc((n ? n : 1) * sizeof *f->by_name);
    entry **by_off = malloc((n ? n : 1) * sizeof *by_off);
    bool ok = f->entries && f->by_name && by_off;
    if (!ok) bad(f, CG_ERR_NOMEM, "%s", "out of memory");
    for (const cJSON *c = f->root->child; ok && c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            ok = parse_meta(f, c);
            continue;
        }
        entry *e = &f->entries[f->n];
        ok = parse_entry(f, c, e);
        f->by_name[f->n] = by_off[f->n] = e;
        f->n++;
    }
    if (ok) {
        qsort(f->by_name, n, sizeof *f->by_name, cmp_entry_name);
        for (size_t i = 1; ok && i < n; i++)
            if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name))
                ok = bad(f, CG_ERR_PARSE, "duplicate tensor name '%.200s'", f->by_name[i]->name);
    }
    if (ok) {
        qsort(by_off, n, sizeof *by_off, cmp_entry_offset);
        uint64_t at = 0;
        for (size_t i = 0; ok && i < n; i++) {
            const entry *e = by_off[i];
            if (e->begin < at)
                ok = bad(f, CG_ERR_PARSE, "tensor '%.200s': data_offsets [%llu, %llu] overlap tensor '%.200s'",
                         e->name, (unsigned long long)e->begin, (unsigned long long)e->end, by_off[i - 1]->name);
            else if (e->begin > at)
                ok = bad(f, CG_ERR_PARSE, "tensor '%.200s': data_offsets [%llu, %llu] leave a gap of %llu bytes",
                         e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)(e->begin - at));
            at = e->end;
        }
        if (ok && at != f->data_len)
            ok = bad(f, CG_ERR_PARSE, "%llu bytes after the last tensor's data",
                     (unsigned long long)(f->data_len - at));
    }
    free(by_off);
    return ok;
}

/* Validate a whole file held in buf (malloc'ed; ownership passes to the
 * result, or it is freed on failure). `label` names the file in errors.
 * cg_safetensors_open reads the file and calls this; the fuzz target calls
 * it directly. */
cg_safetensors *cg__safetensors_parse(const char *label, unsigned char *buf, size_t size) {
    cg_safetensors *f = calloc(1, sizeof *f);
    char *path = strdup(label ? label : "<memory>");
    if (!f || !path) {
        free(f);
        free(path);
        free(buf);
        cg_set_error(CG_ERR_NOMEM, "cg_safetensors_open: %s: out of memory", label ? label : "<memory>");
        return NULL;
    }
    f->path = path;
    f->buf = buf;
    if (!parse(f, size)) {
        cg_safetensors_close(f);
        return NULL;
    }
    return f;
}

cg_safetensors *cg_safetensors_open(const char *path) {
    if (!path) return cg__null_input("cg_safetensors_open");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cg_set_error(CG_ERR_IO, "cg_safetensors_open: %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        cg_set_error(CG_ERR_IO, "cg_safetensors_open: %s: not a regular file", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        cg_set_error(CG_ERR_NOMEM, "cg_safetensors_open: %s: cannot allocate %zu bytes", path, size);
        return NULL;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            free(buf);
            cg_set_error(CG_ERR_IO, "cg_safetensors_open: %s: read failed: %s", path, strerror(err));
            return NULL;
        }
        if (r == 0) break; /* the file shrank: validation reports what is missing */
        got += (size_t)r;
    }
    close(fd);
    return cg__safetensors_parse(path, buf, got);
}

void cg_safetensors_close(cg_safetensors *f) {
    if (!f) return;
    cJSON_Delete(f->root);
    free(f->entries);
    free(f->by_name);
    free(f->buf);
    free(f->path);
    free(f);
}

int cg_safetensors_count(const cg_safetensors *f) {
    if (!f) {
        cg__null_input("cg_safetensors_count");
        return 0;
    }
    return f->n;
}

const char *cg_safetensors_name(const cg_safetensors *f, int i) {
    if (!f) return cg__null_input("cg_safetensors_name");
    if (i < 0 || i >= f->n) {
        cg_set_error(CG_ERR_INDEX, "cg_safetensors_name: index %d out of range for the %d tensors of %s", i, f->n,
                     f->path);
        return NULL;
    }
    return f->entries[i].name;
}

static int cmp_key_entry(const void *key, const void *e) { return strcmp(key, (*(const entry *const *)e)->name); }

static const entry *find(const cg_safetensors *f, const char *name) {
    if (!f->n) return NULL;
    entry *const *e = bsearch(name, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_key_entry);
    return e ? *e : NULL;
}

bool cg_safetensors_info(const cg_safetensors *f, const char *name, cg_dtype *dt, int64_t *shape, int *ndim) {
    const entry *e = f && name ? find(f, name) : NULL;
    if (!e) return false;
    if (dt) *dt = e->dtype;
    if (shape) memcpy(shape, e->shape, (size_t)e->ndim * sizeof *shape);
    if (ndim) *ndim = e->ndim;
    return true;
}

cg_tensor *cg_safetensors_get(const cg_safetensors *f, const char *name) {
    CG_CHECK_NULL2("cg_safetensors_get", f, name);
    const entry *e = find(f, name);
    if (!e) {
        cg_set_error(CG_ERR_INDEX, "cg_safetensors_get: %s has no tensor '%s'", f->path, name);
        return NULL;
    }
    cg_tensor *t = cg_empty(e->dtype, e->shape, e->ndim);
    if (!t) return NULL;
    if (e->end > e->begin) cg__copy_bytes(cg_data(t), f->data + e->begin, (size_t)(e->end - e->begin));
    if (!little_endian()) swap_bytes(cg_data(t), cg_numel(t), cg_dtype_size(t->dtype));
    return t;
}

const char *cg_safetensors_meta(const cg_safetensors *f, const char *key) {
    if (!f || !key || !f->meta) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->meta, key);
    return v ? v->valuestring : NULL;
}

/* ---------------------------------------------------------------- writing */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
    char tmp[24];
    sb_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v));
}

static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p < 0x20) snprintf(esc, sizeof esc, "\\u%04x", *p);
        else esc[0] = (char)*p, esc[1] = '\0';
        sb_str(b, esc);
    }
    sb_put(b, "\"", 1);
}

static cg_status check_save_args(const char *path, const cg_named_tensor *ts, int n, const char *const *mk,
                                 const char *const *mv, int n_meta) {
    const char *op = "cg_safetensors_save";
    if (n < 0 || n_meta < 0)
        return cg_set_error(CG_ERR_VALUE, "%s: %s: negative count (n %d, n_meta %d)", op, path, n, n_meta);
    if ((n && !ts) || (n_meta && (!mk || !mv)))
        return cg_set_error(CG_ERR_NULL, "%s: %s: %s array is NULL", op, path, n && !ts ? "tensor" : "metadata");
    for (int i = 0; i < n; i++) {
        const char *nm = ts[i].name;
        if (!nm) return cg_set_error(CG_ERR_NULL, "%s: %s: tensor %d has no name", op, path, i);
        if (!utf8_valid((const unsigned char *)nm, strlen(nm)))
            return cg_set_error(CG_ERR_VALUE, "%s: %s: tensor %d: name is not valid UTF-8", op, path, i);
        if (!strcmp(nm, "__metadata__"))
            return cg_set_error(CG_ERR_VALUE, "%s: %s: the name '__metadata__' is reserved", op, path);
        if (!ts[i].tensor) {
            char cause[256] = "";
            if (cg_last_status() != CG_OK) snprintf(cause, sizeof cause, " (earlier error: %s)", cg_last_error());
            return cg_set_error(CG_ERR_NULL, "%s: %s: tensor '%s' is NULL%s", op, path, nm, cause);
        }
        if (!dtype_code(ts[i].tensor->dtype))
            return cg_set_error(CG_ERR_DTYPE, "%s: %s: tensor '%s' has an unknown dtype", op, path, nm);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!mk[i] || !mv[i]) return cg_set_error(CG_ERR_NULL, "%s: %s: metadata entry %d is NULL", op, path, i);
        if (!utf8_valid((const unsigned char *)mk[i], strlen(mk[i])) ||
            !utf8_valid((const unsigned char *)mv[i], strlen(mv[i])))
            return cg_set_error(CG_ERR_VALUE, "%s: %s: metadata '%s' is not valid UTF-8", op, path, mk[i]);
    }
    /* duplicate tensor names, then duplicate metadata keys */
    int most = n > n_meta ? n : n_meta;
    const char **names = malloc((size_t)(most ? most : 1) * sizeof *names);
    if (!names) return cg_set_error(CG_ERR_NOMEM, "%s: %s: out of memory", op, path);
    for (int i = 0; i < n; i++) names[i] = ts[i].name;
    const char *dup = find_duplicate(names, (size_t)n);
    cg_status st = CG_OK;
    if (dup) st = cg_set_error(CG_ERR_VALUE, "%s: %s: tensor name '%s' appears twice", op, path, dup);
    if (!st) {
        if (n_meta) memcpy(names, mk, (size_t)n_meta * sizeof *names);
        if ((dup = find_duplicate(names, (size_t)n_meta)))
            st = cg_set_error(CG_ERR_VALUE, "%s: %s: metadata key '%s' appears twice", op, path, dup);
    }
    free(names);
    return st;
}

static char *build_header(const cg_named_tensor *ts, int n, const char *const *mk, const char *const *mv,
                          int n_meta, size_t *len) {
    sbuf b = {0};
    sb_str(&b, "{");
    if (n_meta) {
        sb_str(&b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_str(&b, ",");
            sb_json(&b, mk[i]);
            sb_str(&b, ":");
            sb_json(&b, mv[i]);
        }
        sb_str(&b, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const cg_tensor *t = ts[i].tensor;
        uint64_t nbytes = (uint64_t)cg_numel(t) * cg_dtype_size(t->dtype);
        if (n_meta || i) sb_str(&b, ",");
        sb_json(&b, ts[i].name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, dtype_code(t->dtype));
        sb_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(&b, ",");
            sb_u64(&b, (uint64_t)t->shape[d]);
        }
        sb_str(&b, "],\"data_offsets\":[");
        sb_u64(&b, at);
        sb_str(&b, ",");
        sb_u64(&b, at + nbytes);
        sb_str(&b, "]}");
        at += nbytes;
    }
    sb_str(&b, "}");
    while (!b.oom && b.len % 8) sb_str(&b, " ");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* Write t's elements row-major, little-endian. */
static bool write_tensor(FILE *fp, const cg_tensor *t) {
    size_t nbytes = (size_t)cg_numel(t) * cg_dtype_size(t->dtype);
    if (!nbytes) return true;
    if (cg_is_contiguous(t) && little_endian()) return fwrite(cg_data(t), 1, nbytes, fp) == nbytes;
    cg_scope *s = cg_scope_begin();
    cg_tensor *c = cg_clone(t);
    bool ok = c != NULL;
    if (ok && !little_endian()) swap_bytes(cg_data(c), cg_numel(c), cg_dtype_size(c->dtype));
    if (ok) ok = fwrite(cg_data(c), 1, nbytes, fp) == nbytes;
    cg_scope_end(s);
    return ok;
}

/* Make the rename durable (best effort). */
static void sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

cg_status cg_safetensors_save(const char *path, const cg_named_tensor *ts, int n, const char *const *meta_keys,
                              const char *const *meta_values, int n_meta) {
    if (!path) {
        cg__null_input("cg_safetensors_save");
        return CG_ERR_NULL;
    }
    cg_status st = check_save_args(path, ts, n, meta_keys, meta_values, n_meta);
    if (st) return st;
    size_t hlen = 0;
    char *header = build_header(ts, n, meta_keys, meta_values, n_meta, &hlen);
    char *tmp = malloc(strlen(path) + 48);
    if (!header || !tmp) {
        free(header);
        free(tmp);
        return cg_set_error(CG_ERR_NOMEM, "cg_safetensors_save: %s: out of memory", path);
    }

    /* O_EXCL with a fresh name rather than mkstemp: the file gets the usual
     * 0666 & ~umask mode, as if it had been opened directly. */
    static atomic_uint counter;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, strlen(path) + 48, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        st = cg_set_error(CG_ERR_IO, "cg_safetensors_save: %s: cannot create a temporary file next to it: %s", path,
                          strerror(errno));
        free(header);
        free(tmp);
        return st;
    }

    const char *what = NULL;
    int err = 0;
    FILE *fp = fdopen(fd, "wb");
    if (!fp) what = "fdopen", err = errno, close(fd);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    if (!what && (fwrite(len8, 1, 8, fp) != 8 || fwrite(header, 1, hlen, fp) != hlen)) what = "write", err = errno;
    for (int i = 0; !what && i < n; i++)
        if (!write_tensor(fp, ts[i].tensor)) what = "write", err = errno;
    if (!what && fflush(fp) != 0) what = "write", err = errno;
    if (!what && fsync(fileno(fp)) != 0) what = "fsync", err = errno;
    if (fp && fclose(fp) != 0 && !what) what = "close", err = errno;
    if (!what && rename(tmp, path) != 0) what = "rename", err = errno;
    if (what) {
        unlink(tmp);
        st = cg_set_error(CG_ERR_IO, "cg_safetensors_save: %s: %s failed: %s", path, what,
                          err ? strerror(err) : "unknown error");
    } else {
        sync_dir(path);
    }
    free(header);
    free(tmp);
    return st;
}
