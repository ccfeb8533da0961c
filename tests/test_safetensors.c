/* safetensors: round trips, the on-disk layout, a file written from PyTorch
 * tensors, malformed files (all must fail cleanly) and atomic saving. */
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/cgrad_st_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void drop_dir(void) { remove_tree(g_dir); }

static const char *in_dir(const char *name) {
    static char buf[4][512];
    static int next;
    char *b = buf[next];
    next = (next + 1) % 4;
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* u64 header length + header + `ndata` bytes of data (0, 1, 2, ...). */
static void write_st(const char *path, const char *header, size_t hlen, size_t ndata) {
    size_t n = 8 + hlen + ndata;
    unsigned char *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, header, hlen);
    for (size_t i = 0; i < ndata; i++) b[8 + hlen + i] = (unsigned char)i;
    write_bytes(path, b, n);
    free(b);
}

/* The last error has `code` and names the path and `needle`. */
#define expect_error(code, path, needle) expect_error_at(__LINE__, code, path, needle)
static void expect_error_at(int line, cg_status code, const char *path, const char *needle) {
    const char *msg = cg_last_error();
    ck_assert_msg(cg_last_status() == code, "line %d: status %d, expected %d (\"%s\")", line, cg_last_status(), code,
                  msg);
    ck_assert_msg(!path || strstr(msg, path), "line %d: \"%s\" does not name %s", line, msg, path);
    ck_assert_msg(strstr(msg, needle), "line %d: \"%s\" does not mention \"%s\"", line, msg, needle);
    cg_clear_error();
}

/* Same shape, dtype and bytes (so -0.0 and NaN payloads count). */
static void assert_identical(const cg_tensor *got, const cg_tensor *want) {
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->dtype, want->dtype);
    ck_assert_int_eq(got->ndim, want->ndim);
    for (int d = 0; d < want->ndim; d++) ck_assert_int_eq(got->shape[d], want->shape[d]);
    ck_assert(cg_is_contiguous(got));
    size_t n = (size_t)cg_numel(want) * cg_dtype_size(want->dtype);
    void *a = malloc(n + 1), *b = malloc(n + 1);
    ck_assert_int_eq(cg_copy_out(got, a, n), CG_OK);
    ck_assert_int_eq(cg_copy_out(want, b, n), CG_OK);
    ck_assert(memcmp(a, b, n) == 0);
    free(a);
    free(b);
}

START_TEST(test_round_trip) {
    cg_rng r = cg_rng_seeded(7);
    int64_t big[4] = {0, -1, INT64_MAX, INT64_MIN};
    cg_tensor *base = cg_randn(&r, CG_FLOAT32, CG_SHAPE(3, 4));
    cg_tensor *f32 = cg_randn(&r, CG_FLOAT32, CG_SHAPE(2, 3, 2));
    cg_tensor *f64 = cg_randn(&r, CG_FLOAT64, CG_SHAPE(5));
    cg_tensor *i64 = cg_from_data(CG_INT64, CG_SHAPE(2, 2), big);
    cg_tensor *scalar = cg_scalar(CG_FLOAT64, -2.75);
    cg_tensor *empty = cg_zeros(CG_FLOAT32, CG_SHAPE(0, 5));
    cg_tensor *tr = cg_k_transpose(base, 0, 1); /* [4,3], not contiguous */
    cg_tensor *flipped = cg_k_flip(cg_k_slice(base, 1, 1, 4, 2), CG_AXES(0));
    cg_tensor *expanded = cg_k_expand(cg_arange(CG_INT64, 0, 3, 1), CG_SHAPE(2, 3));
    ck_assert(!cg_is_contiguous(tr) && !cg_is_contiguous(flipped) && !cg_is_contiguous(expanded));
    cg_named_tensor ts[] = {{"f32", f32},         {"f64", f64},         {"i64", i64},
                            {"scalar", scalar},   {"empty", empty},     {"transposed", tr},
                            {"flipped", flipped}, {"expanded", expanded}, {"n\xc3\xa4me/\xe5\x90\x8d \"q\"", f32}};
    int n = (int)(sizeof ts / sizeof ts[0]);
    const char *path = in_dir("w.safetensors");
    ck_assert_int_eq(cg_safetensors_save(path, ts, n, NULL, NULL, 0), CG_OK);

    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_msg(f != NULL, "%s", cg_last_error());
    ck_assert_int_eq(cg_safetensors_count(f), n);
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(cg_safetensors_name(f, i), ts[i].name);
        cg_dtype dt;
        int64_t shape[CG_MAX_DIMS];
        int ndim = -1;
        ck_assert(cg_safetensors_info(f, ts[i].name, &dt, shape, &ndim));
        ck_assert_int_eq(dt, ts[i].tensor->dtype);
        ck_assert_int_eq(ndim, ts[i].tensor->ndim);
        for (int d = 0; d < ndim; d++) ck_assert_int_eq(shape[d], ts[i].tensor->shape[d]);
        assert_identical(cg_safetensors_get(f, ts[i].name), ts[i].tensor);
    }
    /* spot values, independent of the helpers above */
    cg_tensor *t = cg_safetensors_get(f, "transposed");
    ck_assert_shape(t, 4, 3);
    ck_assert_double_eq(cg_get(t, (int64_t[]){3, 1}), cg_get(base, (int64_t[]){1, 3}));
    ck_assert_int_eq(cg_data_i64(cg_safetensors_get(f, "i64"))[2], INT64_MAX);
    ck_assert_int_eq(cg_data_i64(cg_safetensors_get(f, "i64"))[3], INT64_MIN);
    const double flip_want[] = {cg_get(base, (int64_t[]){2, 1}), cg_get(base, (int64_t[]){2, 3}),
                                cg_get(base, (int64_t[]){1, 1}), cg_get(base, (int64_t[]){1, 3}),
                                cg_get(base, (int64_t[]){0, 1}), cg_get(base, (int64_t[]){0, 3})};
    ck_assert_tensor_near(cg_safetensors_get(f, "flipped"), flip_want, 6, 0);
    const double exp_want[] = {0, 1, 2, 0, 1, 2};
    ck_assert_tensor_near(cg_safetensors_get(f, "expanded"), exp_want, 6, 0);
    cg_tensor *s = cg_safetensors_get(f, "scalar");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_double_eq(cg_item(s), -2.75);
    ck_assert_shape(cg_safetensors_get(f, "empty"), 0, 5);
    cg_safetensors_close(f);

    /* the file is exactly header + data */
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    size_t data = (12 + 12 + 6 + 12) * 4 + (5 + 1) * 8 + (4 + 6) * 8; /* f32, f64, i64 elements */
    ck_assert_uint_eq(size, 8 + hlen + data);
    free(raw);
}
END_TEST

START_TEST(test_header_layout) {
    const char *path = in_dir("small.safetensors");
    cg_tensor *w = cg_from_data(CG_FLOAT32, CG_SHAPE(2), ((float[]){1.5f, -2.0f}));
    cg_named_tensor ts[] = {{"w", w}};
    const char *k[] = {"format"}, *v[] = {"pt"};
    ck_assert_int_eq(cg_safetensors_save(path, ts, 1, k, v, 1), CG_OK);
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    const char want[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hlen = (sizeof want - 1 + 7) / 8 * 8; /* padded with spaces to a multiple of 8 */
    ck_assert_uint_eq(size, 8 + hlen + 8);
    ck_assert_uint_eq(raw[0], hlen);
    for (int i = 1; i < 8; i++) ck_assert_uint_eq(raw[i], 0);
    ck_assert(memcmp(raw + 8, want, sizeof want - 1) == 0);
    for (size_t i = 8 + sizeof want - 1; i < 8 + hlen; i++) ck_assert_uint_eq(raw[i], ' ');
    float vals[2];
    memcpy(vals, raw + 8 + hlen, 8);
    ck_assert_float_eq(vals[0], 1.5f);
    ck_assert_float_eq(vals[1], -2.0f);
    free(raw);

    /* no tensors at all: "{}" padded to 8 bytes */
    ck_assert_int_eq(cg_safetensors_save(path, NULL, 0, NULL, NULL, 0), CG_OK);
    raw = read_bytes(path, &size);
    ck_assert_uint_eq(size, 16);
    ck_assert(memcmp(raw + 8, "{}      ", 8) == 0);
    free(raw);
    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cg_safetensors_count(f), 0);
    ck_assert_ptr_null(cg_safetensors_meta(f, "format"));
    cg_safetensors_close(f);
}
END_TEST

START_TEST(test_metadata) {
    const char *path = in_dir("meta.safetensors");
    cg_named_tensor ts[] = {{"x", cg_ones(CG_FLOAT64, CG_SHAPE(3))}};
    const char *keys[] = {"epoch", "quote\"back\\slash", "ctrl", "unicode"};
    const char *vals[] = {"12", "a \"b\" \\c", "tab\there\nnewline\x01", "h\xc3\xa9llo \xe2\x9c\x93"};
    ck_assert_int_eq(cg_safetensors_save(path, ts, 1, keys, vals, 4), CG_OK);
    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_msg(f != NULL, "%s", cg_last_error());
    for (int i = 0; i < 4; i++) ck_assert_str_eq(cg_safetensors_meta(f, keys[i]), vals[i]);
    ck_assert_ptr_null(cg_safetensors_meta(f, "missing"));
    ck_assert_ptr_null(cg_safetensors_meta(f, "x"));
    ck_assert_int_eq(cg_safetensors_count(f), 1); /* __metadata__ is not a tensor */
    ck_assert(!cg_safetensors_info(f, "__metadata__", NULL, NULL, NULL));
    const double ones[] = {1, 1, 1};
    ck_assert_tensor_near(cg_safetensors_get(f, "x"), ones, 3, 0);
    cg_safetensors_close(f);
}
END_TEST

START_TEST(test_file_order_and_lookup) {
    const char *path = in_dir("order.safetensors");
    const char *names[] = {"zeta", "alpha", "mid.weight", "b", "alpha2"};
    cg_named_tensor ts[5];
    for (int i = 0; i < 5; i++) ts[i] = (cg_named_tensor){names[i], cg_full(CG_INT64, CG_SHAPE(i + 1), i * 10)};
    ck_assert_int_eq(cg_safetensors_save(path, ts, 5, NULL, NULL, 0), CG_OK);
    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(cg_safetensors_name(f, i), names[i]);
        cg_tensor *t = cg_safetensors_get(f, names[i]);
        ck_assert_int_eq(cg_numel(t), i + 1);
        ck_assert_double_eq(cg_get(t, (int64_t[]){i}), i * 10);
        ck_assert(t->scope == cg_scope_current());
    }
    ck_assert_ptr_null(cg_safetensors_name(f, 5));
    expect_error(CG_ERR_INDEX, path, "out of range");
    ck_assert_ptr_null(cg_safetensors_name(f, -1));
    expect_error(CG_ERR_INDEX, path, "out of range");

    ck_assert(!cg_safetensors_info(f, "nope", NULL, NULL, NULL));
    ck_assert(!cg_safetensors_info(f, "alph", NULL, NULL, NULL));
    ck_assert_ptr_null(cg_safetensors_get(f, "nope"));
    char want[600];
    snprintf(want, sizeof want, "cg_safetensors_get: %s has no tensor 'nope'", path);
    ck_assert_str_eq(cg_last_error(), want);
    expect_error(CG_ERR_INDEX, path, "'nope'");
    ck_assert_ptr_null(cg_safetensors_get(NULL, "x"));
    expect_error(CG_ERR_NULL, NULL, "cg_safetensors_get");
    ck_assert_ptr_null(cg_safetensors_get(f, NULL));
    expect_error(CG_ERR_NULL, NULL, "cg_safetensors_get");
    cg_safetensors_close(f);
    cg_safetensors_close(NULL);
}
END_TEST

/* tests/reference/safetensors_fixtures.py wrote this from torch tensors. */
START_TEST(test_torch_written_file) {
    const char *path = cgt_src_path("reference/fixtures/torch_written.safetensors");
    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_msg(f != NULL, "%s", cg_last_error());
    const char *order[] = {"bias64", "ids", "empty", "layer.weight", "scalar", "special"};
    ck_assert_int_eq(cg_safetensors_count(f), 6);
    for (int i = 0; i < 6; i++) ck_assert_str_eq(cg_safetensors_name(f, i), order[i]);

    cg_tensor *w = cg_safetensors_get(f, "layer.weight");
    ck_assert_int_eq(w->dtype, CG_FLOAT32);
    ck_assert_shape(w, 2, 3);
    const double wv[] = {-1.25, -0.75, -0.25, 0.25, 0.75, 1.25};
    ck_assert_tensor_near(w, wv, 6, 0);

    float *sp = cg_data_f32(cg_safetensors_get(f, "special"));
    ck_assert(sp[0] == 0.0f && signbit(sp[0]));
    ck_assert(isinf(sp[1]) && sp[1] > 0);
    ck_assert(isinf(sp[2]) && sp[2] < 0);
    ck_assert(isnan(sp[3]));
    ck_assert_float_eq(sp[4], 3.4028234663852886e38f);
    ck_assert_float_eq(sp[5], 0x1p-149f);

    cg_tensor *ids = cg_safetensors_get(f, "ids");
    ck_assert_int_eq(ids->dtype, CG_INT64);
    ck_assert_shape(ids, 2, 2);
    const int64_t *iv = cg_data_i64(ids);
    ck_assert(iv[0] == 0 && iv[1] == -1 && iv[2] == INT64_MAX && iv[3] == INT64_MIN);

    cg_tensor *b = cg_safetensors_get(f, "bias64");
    ck_assert_int_eq(b->dtype, CG_FLOAT64);
    const double *bv = cg_data_f64(b);
    ck_assert(bv[0] == 1.0 / 3.0 && bv[1] == -2.5 && bv[2] == 1e300);

    cg_tensor *s = cg_safetensors_get(f, "scalar");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_double_eq(cg_item(s), 3.5);
    ck_assert_shape(cg_safetensors_get(f, "empty"), 0, 4);

    ck_assert_str_eq(cg_safetensors_meta(f, "format"), "pt");
    ck_assert_str_eq(cg_safetensors_meta(f, "unicode"), "h\xc3\xa9llo \xe2\x9c\x93");
    cg_safetensors_close(f);

    /* the writer padded its header with spaces */
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(raw[8 + hlen - 1], ' ');
    free(raw);
}
END_TEST

typedef struct bad_case {
    const char *header;
    size_t ndata;
    cg_status code;
    const char *needle;
} bad_case;

#define W(dtype, shape, offs) "{\"w\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static const bad_case g_bad[] = {
    {"[1,2]", 0, CG_ERR_PARSE, "not a JSON object"},
    {"\"w\"", 0, CG_ERR_PARSE, "not a JSON object"},
    {"", 0, CG_ERR_PARSE, "not valid JSON"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, CG_ERR_PARSE, "not valid JSON"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1] \"data_offsets\":[0,4]}}", 4, CG_ERR_PARSE, "not valid JSON"},
    {"{}x", 0, CG_ERR_PARSE, "unexpected bytes after"},
    {"{}{}", 0, CG_ERR_PARSE, "unexpected bytes after"},
    {"{\"w\xff\":1}", 0, CG_ERR_PARSE, "UTF-8"},
    {"{\"w\xc0\x80\":1}", 0, CG_ERR_PARSE, "UTF-8"}, /* overlong NUL */
    {"{\"w\":3}", 0, CG_ERR_PARSE, "'w': entry is not a JSON object"},
    {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CG_ERR_PARSE, "'w': missing field 'dtype'"},
    {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, CG_ERR_PARSE, "'w': missing field 'shape'"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, CG_ERR_PARSE, "'w': missing field 'data_offsets'"},
    {"{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CG_ERR_PARSE,
     "'w': field 'dtype' appears twice"},
    {W("Q7", "[1]", "[0,4]"), 4, CG_ERR_PARSE, "'w': unknown dtype 'Q7'"},
    {W("f32", "[1]", "[0,4]"), 4, CG_ERR_PARSE, "unknown dtype 'f32'"},
    {W("BF16", "[2]", "[0,4]"), 4, CG_ERR_DTYPE, "'w': unsupported dtype 'BF16'"},
    {W("F16", "[2]", "[0,4]"), 4, CG_ERR_DTYPE, "unsupported dtype 'F16'"},
    {W("I32", "[1]", "[0,4]"), 4, CG_ERR_DTYPE, "unsupported dtype 'I32'"},
    {"{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CG_ERR_PARSE, "dtype is not a string"},
    {W("F32", "[-1]", "[0,0]"), 0, CG_ERR_PARSE, "'w': shape entry 0 is not a whole number"},
    {W("F32", "[2,1.5]", "[0,12]"), 12, CG_ERR_PARSE, "shape entry 1 is not a whole number"},
    {W("F32", "[\"2\"]", "[0,8]"), 8, CG_ERR_PARSE, "shape entry 0"},
    {W("F32", "[null]", "[0,0]"), 0, CG_ERR_PARSE, "shape entry 0"},
    {W("F32", "[1e400]", "[0,0]"), 0, CG_ERR_PARSE, "shape entry 0"},
    {W("F32", "{}", "[0,4]"), 4, CG_ERR_PARSE, "shape is not an array"},
    {W("F32", "4", "[0,16]"), 16, CG_ERR_PARSE, "shape is not an array"},
    {W("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, CG_ERR_SHAPE, "'w': shape has 9 dims"},
    {W("F32", "[9007199254740992,9007199254740992]", "[0,8]"), 8, CG_ERR_PARSE, "needs more than"},
    {W("F32", "[9007199254740992,2048]", "[0,0]"), 0, CG_ERR_PARSE, "needs more than"}, /* 2^66 bytes: wraps to 0 */
    {W("F32", "[2]", "[0,8]"), 4, CG_ERR_PARSE, "'w': data_offsets [0, 8] out of range"},
    {W("F32", "[2]", "[0,8]"), 7, CG_ERR_PARSE, "truncated"},
    {W("F32", "[0]", "[8,4]"), 8, CG_ERR_PARSE, "out of range"},
    {W("F32", "[1]", "[0]"), 4, CG_ERR_PARSE, "not a pair"},
    {W("F32", "[1]", "[0,4,8]"), 4, CG_ERR_PARSE, "not a pair"},
    {W("F32", "[1]", "[-4,0]"), 4, CG_ERR_PARSE, "not a pair"},
    {W("F32", "[1]", "{}"), 4, CG_ERR_PARSE, "not a pair"},
    {W("F32", "[1]", "[0,8]"), 8, CG_ERR_PARSE, "'w': data_offsets [0, 8] hold 8 bytes but F32 [1] needs 4"},
    {W("F64", "[2,2]", "[0,16]"), 16, CG_ERR_PARSE, "F64 [2,2] needs 32"},
    {W("F32", "[]", "[0,0]"), 0, CG_ERR_PARSE, "needs 4"},
    {W("F32", "[1]", "[0,4]"), 8, CG_ERR_PARSE, "4 bytes after the last tensor"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, CG_ERR_PARSE, "'b': data_offsets [4, 12] overlap tensor 'a'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, CG_ERR_PARSE, "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12, CG_ERR_PARSE, "'b': data_offsets [8, 12] leave a gap of 4 bytes"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, CG_ERR_PARSE, "duplicate tensor name 'w'"},
    {"{\"__metadata__\":3}", 0, CG_ERR_PARSE, "'__metadata__' is not a JSON object"},
    {"{\"__metadata__\":{\"k\":1}}", 0, CG_ERR_PARSE, "metadata 'k' is not a string"},
    {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, CG_ERR_PARSE, "duplicate metadata key 'k'"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, CG_ERR_PARSE, "'__metadata__' appears twice"},
};

START_TEST(test_malformed_headers) {
    const char *path = in_dir("bad.safetensors");
    for (size_t i = 0; i < sizeof g_bad / sizeof g_bad[0]; i++) {
        const bad_case *c = &g_bad[i];
        write_st(path, c->header, strlen(c->header), c->ndata);
        cg_clear_error();
        cg_safetensors *f = cg_safetensors_open(path);
        ck_assert_msg(f == NULL, "case %zu (%s) was accepted", i, c->header);
        ck_assert_msg(cg_last_status() == c->code, "case %zu: status %d, expected %d (%s)", i, cg_last_status(),
                      c->code, cg_last_error());
        ck_assert_msg(strstr(cg_last_error(), path) && strstr(cg_last_error(), c->needle),
                      "case %zu: \"%s\" should name the file and say \"%s\"", i, cg_last_error(), c->needle);
        ck_assert_msg(strncmp(cg_last_error(), "cg_safetensors_open: ", 21) == 0, "%s", cg_last_error());
    }
    /* the same headers with the right data are fine: the cases fail for the stated reason */
    write_st(path, W("F32", "[2]", "[0,8]"), strlen(W("F32", "[2]", "[0,8]")), 8);
    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_ptr_nonnull(f);
    cg_safetensors_close(f);
    const char *ws = "{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"extra\":[1],\"shape\":[],\"dtype\":\"I64\","
                     "\"data_offsets\":[0,8]}}  \n\t ";
    write_st(path, ws, strlen(ws), 8);
    f = cg_safetensors_open(path);
    ck_assert_msg(f != NULL, "%s", cg_last_error());
    ck_assert_int_eq(cg_data_i64(cg_safetensors_get(f, "w"))[0], 0x0706050403020100);
    cg_safetensors_close(f);
}
END_TEST

START_TEST(test_malformed_framing) {
    const char *path = in_dir("frame.safetensors");
    write_bytes(path, "", 0);
    ck_assert_ptr_null(cg_safetensors_open(path));
    expect_error(CG_ERR_PARSE, path, "0 bytes: too short");
    write_bytes(path, "\x02\0\0\0\0\0\0", 7);
    ck_assert_ptr_null(cg_safetensors_open(path));
    expect_error(CG_ERR_PARSE, path, "too short");

    unsigned char b[64] = {0};
    memset(b, 0xff, 8); /* 2^64 - 1 */
    memcpy(b + 8, "{}", 2);
    write_bytes(path, b, 16);
    ck_assert_ptr_null(cg_safetensors_open(path));
    expect_error(CG_ERR_PARSE, path, "is absurd");
    uint64_t h = 100000001; /* one over the limit */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
    write_bytes(path, b, 16);
    ck_assert_ptr_null(cg_safetensors_open(path));
    expect_error(CG_ERR_PARSE, path, "header length 100000001 is absurd");
    memset(b, 0, 8);
    b[0] = 100;
    write_bytes(path, b, 30);
    ck_assert_ptr_null(cg_safetensors_open(path));
    expect_error(CG_ERR_PARSE, path, "header length 100 exceeds the 22 bytes");
    /* a NUL inside the header */
    b[0] = 8;
    memcpy(b + 8, "{}\0     ", 8);
    write_bytes(path, b, 16);
    ck_assert_ptr_null(cg_safetensors_open(path));
    expect_error(CG_ERR_PARSE, path, "unexpected bytes");

    ck_assert_ptr_null(cg_safetensors_open(in_dir("missing.safetensors")));
    expect_error(CG_ERR_IO, in_dir("missing.safetensors"), "No such file");
    ck_assert_ptr_null(cg_safetensors_open(g_dir));
    expect_error(CG_ERR_IO, g_dir, "not a regular file");
    ck_assert_ptr_null(cg_safetensors_open(NULL));
    expect_error(CG_ERR_NULL, NULL, "cg_safetensors_open");
}
END_TEST

/* Every strict prefix of a valid file fails; corrupting any single byte
 * never crashes, and a changed data byte shows up in the values. */
START_TEST(test_truncated_and_corrupted) {
    const char *good = in_dir("good.safetensors"), *path = in_dir("cut.safetensors");
    cg_named_tensor ts[] = {{"a", cg_arange(CG_FLOAT32, 0, 6, 1)},
                            {"b", cg_full(CG_INT64, CG_SHAPE(2), 7)},
                            {"c", cg_scalar(CG_FLOAT64, 0.5)}};
    const char *k[] = {"m"}, *v[] = {"v"};
    ck_assert_int_eq(cg_safetensors_save(good, ts, 3, k, v, 1), CG_OK);
    size_t size;
    unsigned char *raw = read_bytes(good, &size);
    for (size_t n = 0; n < size; n++) {
        write_bytes(path, raw, n);
        ck_assert_msg(cg_safetensors_open(path) == NULL, "a %zu-byte prefix of %zu was accepted", n, size);
        ck_assert_int_ne(cg_last_status(), CG_OK);
        cg_clear_error();
    }
    uint64_t hlen = raw[0] | (uint64_t)raw[1] << 8;
    const unsigned char subst[] = {0x00, 0xff, '"', '9', '-', '{', ']', ' ', 0x80};
    int accepted = 0;
    for (size_t pos = 0; pos < size; pos++)
        for (size_t s = 0; s < sizeof subst; s++) {
            if (raw[pos] == subst[s]) continue;
            unsigned char keep = raw[pos];
            raw[pos] = subst[s];
            write_bytes(path, raw, size);
            raw[pos] = keep;
            cg_scope *sc = cg_scope_begin();
            cg_safetensors *f = cg_safetensors_open(path);
            if (f) {
                accepted++;
                for (int i = 0; i < cg_safetensors_count(f); i++)
                    ck_assert_ptr_nonnull(cg_safetensors_get(f, cg_safetensors_name(f, i)));
                cg_safetensors_close(f);
            }
            if (pos >= 8 + hlen) {
                ck_assert_msg(f != NULL, "data byte %zu changed: %s", pos, cg_last_error());
            }
            cg_clear_error();
            cg_scope_end(sc);
        }
    ck_assert_int_ge(accepted, (int)((size - 8 - hlen) * (sizeof subst - 1)));
    free(raw);
}
END_TEST

START_TEST(test_save_errors) {
    const char *path = in_dir("keep.safetensors");
    cg_tensor *x = cg_ones(CG_FLOAT32, CG_SHAPE(2));
    cg_named_tensor one[] = {{"x", x}};
    ck_assert_int_eq(cg_safetensors_save(path, one, 1, NULL, NULL, 0), CG_OK);
    size_t size0;
    unsigned char *before = read_bytes(path, &size0);

    cg_named_tensor with_null[] = {{"x", cg_zeros(CG_FLOAT32, CG_SHAPE(3))}, {"y", NULL}};
    ck_assert_int_eq(cg_safetensors_save(path, with_null, 2, NULL, NULL, 0), CG_ERR_NULL);
    expect_error(CG_ERR_NULL, path, "tensor 'y' is NULL");
    cg_named_tensor dup[] = {{"x", x}, {"x", x}};
    ck_assert_int_eq(cg_safetensors_save(path, dup, 2, NULL, NULL, 0), CG_ERR_VALUE);
    expect_error(CG_ERR_VALUE, path, "'x' appears twice");
    cg_named_tensor reserved[] = {{"__metadata__", x}};
    ck_assert_int_eq(cg_safetensors_save(path, reserved, 1, NULL, NULL, 0), CG_ERR_VALUE);
    expect_error(CG_ERR_VALUE, path, "reserved");
    cg_named_tensor noname[] = {{NULL, x}};
    ck_assert_int_eq(cg_safetensors_save(path, noname, 1, NULL, NULL, 0), CG_ERR_NULL);
    expect_error(CG_ERR_NULL, path, "has no name");
    cg_named_tensor badutf[] = {{"x\xff", x}};
    ck_assert_int_eq(cg_safetensors_save(path, badutf, 1, NULL, NULL, 0), CG_ERR_VALUE);
    expect_error(CG_ERR_VALUE, path, "UTF-8");
    const char *k2[] = {"a", "a"}, *v2[] = {"1", "2"};
    ck_assert_int_eq(cg_safetensors_save(path, one, 1, k2, v2, 2), CG_ERR_VALUE);
    expect_error(CG_ERR_VALUE, path, "metadata key 'a' appears twice");
    const char *vnull[] = {"1", NULL};
    ck_assert_int_eq(cg_safetensors_save(path, one, 1, k2, vnull, 2), CG_ERR_NULL);
    expect_error(CG_ERR_NULL, path, "metadata");
    ck_assert_int_eq(cg_safetensors_save(NULL, one, 1, NULL, NULL, 0), CG_ERR_NULL);
    expect_error(CG_ERR_NULL, NULL, "cg_safetensors_save");

    /* into a directory that does not exist */
    const char *nodir = in_dir("no/such/dir/w.safetensors");
    ck_assert_int_eq(cg_safetensors_save(nodir, one, 1, NULL, NULL, 0), CG_ERR_IO);
    expect_error(CG_ERR_IO, nodir, "temporary file");
    /* over a directory: the rename fails and the temporary file goes away */
    const char *sub = in_dir("subdir");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(cg_safetensors_save(sub, one, 1, NULL, NULL, 0), CG_ERR_IO);
    expect_error(CG_ERR_IO, sub, "rename failed");
    ck_assert_int_eq(count_entries(g_dir), 2); /* keep.safetensors and subdir */
    ck_assert_int_eq(count_entries(sub), 0);

    size_t size1;
    unsigned char *after = read_bytes(path, &size1);
    ck_assert_uint_eq(size0, size1);
    ck_assert(memcmp(before, after, size0) == 0);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_atomic_overwrite) {
    const char *path = in_dir("ckpt.safetensors");
    cg_named_tensor a[] = {{"w", cg_full(CG_FLOAT64, CG_SHAPE(1000), 1.0)}};
    cg_named_tensor b[] = {{"w", cg_full(CG_FLOAT32, CG_SHAPE(3), 2.0)}, {"step", cg_scalar(CG_INT64, 9)}};
    ck_assert_int_eq(cg_safetensors_save(path, a, 1, NULL, NULL, 0), CG_OK);
    size_t old_size;
    unsigned char *old = read_bytes(path, &old_size);
    /* a reader holding the old file keeps seeing all of it: the new file is
     * renamed over the name, never written into the old one */
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ino_t old_inode = st.st_ino;

    ck_assert_int_eq(cg_safetensors_save(path, b, 2, NULL, NULL, 0), CG_OK);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(st.st_ino != old_inode);
    unsigned char *seen = malloc(old_size + 1);
    ck_assert_int_eq(pread(fd, seen, old_size + 1, 0), (ssize_t)old_size);
    ck_assert(memcmp(seen, old, old_size) == 0);
    close(fd);
    free(seen);
    free(old);

    cg_safetensors *f = cg_safetensors_open(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cg_safetensors_count(f), 2);
    const double two[] = {2, 2, 2};
    ck_assert_tensor_near(cg_safetensors_get(f, "w"), two, 3, 0);
    ck_assert_double_eq(cg_item(cg_safetensors_get(f, "step")), 9);
    cg_safetensors_close(f);
    ck_assert_int_eq(count_entries(g_dir), 1); /* no temporary files left */

    /* the file gets the usual permissions (0666 & ~umask), not mkstemp's 0600 */
    mode_t mask = umask(022);
    umask(mask);
    ck_assert_int_eq(st.st_mode & 0777, 0666 & ~mask);
}
END_TEST

/* The fuzz target's seed corpus: valid_* files open and read, bad_* fail. */
START_TEST(test_fuzz_seed_corpus) {
    const char *dir = cgt_src_path("fuzz/corpus/safetensors");
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int valid = 0, bad = 0;
    char path[1024];
    for (struct dirent *e; (e = readdir(d));) {
        bool want_ok = !strncmp(e->d_name, "valid_", 6);
        if (!want_ok && strncmp(e->d_name, "bad_", 4)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        cg_safetensors *f = cg_safetensors_open(path);
        ck_assert_msg((f != NULL) == want_ok, "%s: %s", e->d_name, f ? "accepted" : cg_last_error());
        for (int i = 0; f && i < cg_safetensors_count(f); i++)
            ck_assert_ptr_nonnull(cg_safetensors_get(f, cg_safetensors_name(f, i)));
        cg_safetensors_close(f);
        cg_clear_error();
        want_ok ? valid++ : bad++;
    }
    closedir(d);
    ck_assert_int_ge(valid, 3);
    ck_assert_int_ge(bad, 5);
}
END_TEST

static Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("io");
    tcase_add_checked_fixture(tc, make_dir, drop_dir);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_header_layout);
    tcase_add_test(tc, test_metadata);
    tcase_add_test(tc, test_file_order_and_lookup);
    tcase_add_test(tc, test_torch_written_file);
    tcase_add_test(tc, test_malformed_headers);
    tcase_add_test(tc, test_malformed_framing);
    tcase_add_test(tc, test_truncated_and_corrupted);
    tcase_add_test(tc, test_save_errors);
    tcase_add_test(tc, test_atomic_overwrite);
    tcase_add_test(tc, test_fuzz_seed_corpus);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cgt_run(safetensors_suite()); }
