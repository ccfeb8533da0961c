/* The containers under Keras model files: zip archives (libarchive) and HDF5
 * files in memory or on disk (the HDF Group's library). */
#include "keras_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ bytes */

bool kbuf_put(kbuf *b, const void *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0; /* text members can be used as C strings */
    return true;
}

void kbuf_free(kbuf *b) {
    free(b->p);
    *b = (kbuf){0};
}

cg_status kbuf_read_file(kbuf *b, const char *path, size_t limit) {
    FILE *f = fopen(path, "rb");
    if (!f) return cg_set_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char chunk[65536];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b->len + n > limit) {
            fclose(f);
            return cg_set_error(CG_ERR_PARSE, "%s: larger than %zu bytes", path, limit);
        }
        ok = kbuf_put(b, chunk, n);
    }
    bool err = ferror(f);
    fclose(f);
    if (!ok) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", path);
    if (err) return cg_set_error(CG_ERR_IO, "%s: read error", path);
    if (!b->p && !kbuf_put(b, "", 0)) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", path);
    return CG_OK;
}

cg_status kbuf_write_atomic(const char *fn, const char *path, const void *data, size_t n) {
    static atomic_uint counter;
    size_t len = strlen(path) + 48;
    char *tmp = malloc(len);
    if (!tmp) return cg_set_error(CG_ERR_NOMEM, "%s: %s: out of memory", fn, path);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        cg_status st = cg_set_error(CG_ERR_IO, "%s: %s: cannot create a temporary file next to it: %s", fn, path,
                                    strerror(errno));
        free(tmp);
        return st;
    }
    const char *what = NULL;
    int err = 0;
    for (size_t off = 0; !what && off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) what = "write", err = errno;
        else off += (size_t)w;
    }
    if (!what && fsync(fd) != 0) what = "fsync", err = errno;
    if (close(fd) != 0 && !what) what = "close", err = errno;
    if (!what && rename(tmp, path) != 0) what = "rename", err = errno;
    cg_status st = CG_OK;
    if (what) {
        unlink(tmp);
        st = cg_set_error(CG_ERR_IO, "%s: %s: %s failed: %s", fn, path, what, err ? strerror(err) : "unknown error");
    }
    free(tmp);
    return st;
}

/* --------------------------------------------------------------------- zip */

#define KZIP_LIMIT ((size_t)1 << 32) /* a member larger than 4 GiB is refused */

cg_status kzip_read(const char *label, const void *zip, size_t n, kzip_member *want, int nwant) {
    struct archive *a = archive_read_new();
    if (!a) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
    archive_read_support_format_zip(a);
    cg_status st = CG_OK;
    if (archive_read_open_memory(a, zip, n) != ARCHIVE_OK) {
        st = cg_set_error(CG_ERR_PARSE, "%s: not a zip archive (%s)", label, archive_error_string(a));
        archive_read_free(a);
        return st;
    }
    struct archive_entry *e;
    int r;
    unsigned char chunk[65536];
    while (st == CG_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        kzip_member *m = NULL;
        for (int i = 0; name && i < nwant && !m; i++)
            if (strcmp(want[i].name, name) == 0) m = &want[i];
        if (!m) continue; /* the next header skips this member's data */
        if (m->data.p) {
            st = cg_set_error(CG_ERR_PARSE, "%s: the archive holds %s twice", label, name);
            break;
        }
        if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > KZIP_LIMIT) {
            st = cg_set_error(CG_ERR_PARSE, "%s: %s: %lld bytes is more than the 4 GiB a member may have", label, name,
                              (long long)archive_entry_size(e));
            break;
        }
        if (!kbuf_put(&m->data, "", 0)) st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
        for (la_ssize_t got; st == CG_OK && (got = archive_read_data(a, chunk, sizeof chunk)) != 0;) {
            if (got < 0) /* a damaged member or a CRC that does not match */
                st = cg_set_error(CG_ERR_PARSE, "%s: %s: corrupt zip member (%s)", label, name, archive_error_string(a));
            else if (m->data.len + (size_t)got > KZIP_LIMIT)
                st = cg_set_error(CG_ERR_PARSE, "%s: %s: larger than 4 GiB", label, name);
            else if (!kbuf_put(&m->data, chunk, (size_t)got))
                st = cg_set_error(CG_ERR_NOMEM, "%s: %s: out of memory", label, name);
        }
    }
    if (st == CG_OK && r != ARCHIVE_EOF)
        st = cg_set_error(CG_ERR_PARSE, "%s: corrupt zip archive (%s)", label, archive_error_string(a));
    archive_read_free(a);
    if (st != CG_OK)
        for (int i = 0; i < nwant; i++) kbuf_free(&want[i].data);
    return st;
}

static la_ssize_t zip_out(struct archive *a, void *client, const void *buf, size_t n) {
    (void)a;
    return kbuf_put(client, buf, n) ? (la_ssize_t)n : -1;
}

cg_status kzip_write(const char *label, const kzip_member *members, int n, kbuf *out) {
    struct archive *a = archive_write_new();
    if (!a) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
    cg_status st = CG_OK;
    if (archive_write_set_format_zip(a) != ARCHIVE_OK || archive_write_set_options(a, "zip:compression=store") != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open(a, out, NULL, zip_out, NULL) != ARCHIVE_OK)
        st = cg_set_error(CG_ERR_IO, "%s: cannot start a zip archive (%s)", label, archive_error_string(a));
    for (int i = 0; st == CG_OK && i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        if (!e) {
            st = cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
            break;
        }
        archive_entry_set_pathname(e, members[i].name);
        archive_entry_set_size(e, (la_int64_t)members[i].data.len);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_mtime(e, 315532800, 0); /* 1980-01-01, as Keras dates its members */
        if (archive_write_header(a, e) != ARCHIVE_OK ||
            (members[i].data.len &&
             archive_write_data(a, members[i].data.p, members[i].data.len) != (la_ssize_t)members[i].data.len))
            st = cg_set_error(CG_ERR_IO, "%s: %s: %s", label, members[i].name, archive_error_string(a));
        archive_entry_free(e);
    }
    if (archive_write_close(a) != ARCHIVE_OK && st == CG_OK)
        st = cg_set_error(CG_ERR_IO, "%s: cannot finish the zip archive (%s)", label, archive_error_string(a));
    archive_write_free(a);
    return st;
}

/* -------------------------------------------------------------------- HDF5 */

kh5_quiet kh5_quiet_begin(void) {
    kh5_quiet q = {0};
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

void kh5_quiet_end(kh5_quiet q) { H5Eset_auto2(H5E_DEFAULT, q.func, q.data); }

/* HDF5 tells files apart by name, also in memory: each gets its own. */
static void mem_name(char *buf, size_t n) {
    static atomic_uint counter;
    snprintf(buf, n, "cgrad-keras-%ld-%u.h5", (long)getpid(), atomic_fetch_add(&counter, 1));
}

hid_t kh5_open_image(const char *label, const void *buf, size_t n) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    char name[64];
    mem_name(name, sizeof name);
    hid_t f = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 && H5Pset_file_image(fapl, (void *)buf, n) >= 0)
        f = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) cg_set_error(CG_ERR_PARSE, "%s: not an HDF5 file", label);
    return f;
}

hid_t kh5_open_path(const char *label, const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) cg_set_error(CG_ERR_PARSE, "%s: not an HDF5 file", label);
    return f;
}

hid_t kh5_create_mem(const char *label) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    char name[64];
    mem_name(name, sizeof name);
    hid_t f = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0)
        f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) cg_set_error(CG_ERR_IO, "%s: cannot create an HDF5 file in memory", label);
    return f;
}

cg_status kh5_image(const char *label, hid_t f, kbuf *out) {
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) return cg_set_error(CG_ERR_IO, "%s: cannot flush the HDF5 file", label);
    ssize_t n = H5Fget_file_image(f, NULL, 0);
    if (n <= 0) return cg_set_error(CG_ERR_IO, "%s: cannot take the HDF5 file's image", label);
    out->len = 0;
    if (!kbuf_put(out, NULL, 0) || !kbuf_put(out, "", 0)) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
    unsigned char *p = realloc(out->p, (size_t)n + 1);
    if (!p) return cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
    out->p = p;
    out->cap = (size_t)n + 1;
    if (H5Fget_file_image(f, p, (size_t)n) != n) return cg_set_error(CG_ERR_IO, "%s: cannot take the HDF5 file's image", label);
    out->len = (size_t)n;
    return CG_OK;
}

bool kh5_exists(hid_t loc, const char *path) {
    char part[512];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof part) return false;
    for (size_t i = 0; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        if (i == 0) return false;
        memcpy(part, path, i);
        part[i] = 0;
        if (H5Lexists(loc, part, H5P_DEFAULT) <= 0) return false;
    }
    return H5Oexists_by_name(loc, path, H5P_DEFAULT) > 0;
}

/* The dataset at path, or -1 with an error. */
static hid_t open_dataset(const char *label, hid_t loc, const char *path) {
    if (!kh5_exists(loc, path)) {
        cg_set_error(CG_ERR_PARSE, "%s: no dataset %s", label, path);
        return -1;
    }
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) cg_set_error(CG_ERR_PARSE, "%s: %s is not a dataset", label, path);
    return d;
}

/* A dataset's dims (at most CG_MAX_DIMS, at most 2^31 elements). */
static bool dataset_dims(const char *label, const char *path, hid_t d, int64_t *shape, int *ndim, int64_t *numel) {
    hid_t sp = H5Dget_space(d);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[32];
    bool ok = nd >= 0 && nd <= CG_MAX_DIMS && H5Sget_simple_extent_dims(sp, dims, NULL) == nd;
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
        cg_set_error(CG_ERR_PARSE, "%s: %s: a dataspace of %d dims is not supported", label, path, nd);
        return false;
    }
    int64_t count = 1;
    for (int i = 0; i < nd; i++) {
        if (dims[i] > ((hsize_t)1 << 31) || (count *= (int64_t)dims[i]) > ((int64_t)1 << 31)) {
            cg_set_error(CG_ERR_PARSE, "%s: %s: more than 2^31 elements", label, path);
            return false;
        }
        shape[i] = (int64_t)dims[i];
    }
    *ndim = nd;
    *numel = count;
    return true;
}

cg_tensor *kh5_read_float(const char *label, hid_t loc, const char *path) {
    hid_t d = open_dataset(label, loc, path);
    if (d < 0) return NULL;
    hid_t ty = H5Dget_type(d);
    bool is_float = ty >= 0 && H5Tget_class(ty) == H5T_FLOAT;
    if (ty >= 0) H5Tclose(ty);
    int64_t shape[CG_MAX_DIMS], numel;
    int ndim;
    cg_tensor *t = NULL;
    if (!is_float) cg_set_error(CG_ERR_DTYPE, "%s: %s does not hold floating-point numbers", label, path);
    else if (dataset_dims(label, path, d, shape, &ndim, &numel) && (t = cg_empty(CG_FLOAT32, shape, ndim)) &&
             numel && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, cg_data(t)) < 0) {
        cg_set_error(CG_ERR_PARSE, "%s: %s cannot be read", label, path);
        t = NULL;
    }
    H5Dclose(d);
    return t;
}

static bool read_scalar(const char *label, hid_t loc, const char *path, hid_t mem, void *out) {
    hid_t d = open_dataset(label, loc, path);
    if (d < 0) return false;
    hid_t ty = H5Dget_type(d);
    H5T_class_t c = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    if (ty >= 0) H5Tclose(ty);
    int64_t shape[CG_MAX_DIMS], numel = 0;
    int ndim;
    bool ok = (c == H5T_INTEGER || c == H5T_FLOAT) && dataset_dims(label, path, d, shape, &ndim, &numel) && numel == 1 &&
              H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    H5Dclose(d);
    if (!ok) cg_set_error(CG_ERR_PARSE, "%s: %s is not a single number", label, path);
    return ok;
}

bool kh5_read_int(const char *label, hid_t loc, const char *path, int64_t *out) {
    return read_scalar(label, loc, path, H5T_NATIVE_INT64, out);
}

bool kh5_read_double(const char *label, hid_t loc, const char *path, double *out) {
    return read_scalar(label, loc, path, H5T_NATIVE_DOUBLE, out);
}

/* The strings of attribute `a` (n of them) as one malloc'ed block. */
static char **read_strings(const char *label, const char *what, hid_t a, int *count) {
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    char **out = NULL;
    if (n == 0) { /* an empty list, whatever its type (h5py writes [] as float64) */
        out = calloc(1, sizeof *out);
        *count = 0;
        if (!out) cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
        goto done;
    }
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING || n < 0 || n > (1 << 20)) {
        cg_set_error(CG_ERR_PARSE, "%s: %s is not a string attribute", label, what);
        goto done;
    }
    htri_t vlen = H5Tis_variable_str(ft);
    hid_t mt = H5Tcopy(H5T_C_S1);
    if (vlen > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **ptr = calloc((size_t)n + 1, sizeof *ptr);
        if (ptr && H5Aread(a, mt, ptr) >= 0) {
            size_t total = 0;
            for (hssize_t i = 0; i < n; i++) total += (ptr[i] ? strlen(ptr[i]) : 0) + 1;
            out = malloc(((size_t)n + 1) * sizeof *out + total + 1);
            if (out) {
                char *s = (char *)(out + n + 1);
                for (hssize_t i = 0; i < n; i++) {
                    size_t len = ptr[i] ? strlen(ptr[i]) : 0;
                    memcpy(s, ptr[i] ? ptr[i] : "", len + 1);
                    out[i] = s;
                    s += len + 1;
                }
                out[n] = NULL;
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, ptr);
        } else if (ptr) {
            cg_set_error(CG_ERR_PARSE, "%s: %s cannot be read", label, what);
        }
        free(ptr);
    } else {
        size_t w = H5Tget_size(ft);
        char *raw = w && w < (1 << 24) ? malloc((size_t)n * w + 1) : NULL;
        H5Tset_size(mt, w);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        if (raw && H5Aread(a, mt, raw) >= 0) {
            out = malloc(((size_t)n + 1) * sizeof *out + (size_t)n * (w + 1) + 1);
            if (out) {
                char *s = (char *)(out + n + 1);
                for (hssize_t i = 0; i < n; i++) {
                    size_t len = strnlen(raw + (size_t)i * w, w);
                    memcpy(s, raw + (size_t)i * w, len);
                    s[len] = 0;
                    out[i] = s;
                    s += len + 1;
                }
                out[n] = NULL;
            }
        } else if (raw) {
            cg_set_error(CG_ERR_PARSE, "%s: %s cannot be read", label, what);
        }
        free(raw);
    }
    H5Tclose(mt);
    if (!out && cg_last_status() == CG_OK) cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
    *count = (int)n;
done:
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    return out;
}

static hid_t open_attr(hid_t obj, const char *path, const char *name) {
    if (strcmp(path, ".") != 0 && !kh5_exists(obj, path)) return -1;
    if (H5Aexists_by_name(obj, path, name, H5P_DEFAULT) <= 0) return -1;
    return H5Aopen_by_name(obj, path, name, H5P_DEFAULT, H5P_DEFAULT);
}

char *kh5_attr_str(const char *label, hid_t obj, const char *path, const char *name) {
    hid_t a = open_attr(obj, path, name);
    if (a < 0) {
        cg_set_error(CG_ERR_PARSE, "%s: %s has no attribute '%s'", label, path, name);
        return NULL;
    }
    char what[600];
    snprintf(what, sizeof what, "%s attribute '%s'", path, name);
    cg_clear_error();
    int n = 0;
    char **s = read_strings(label, what, a, &n);
    H5Aclose(a);
    if (!s) return NULL;
    char *one = n == 1 ? strdup(s[0]) : NULL;
    free(s);
    if (!one && n != 1) cg_set_error(CG_ERR_PARSE, "%s: %s holds %d strings, not one", label, what, n);
    else if (!one) cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
    return one;
}

char **kh5_attr_strs(const char *label, hid_t obj, const char *path, const char *name, int *n) {
    char what[600];
    snprintf(what, sizeof what, "%s attribute '%s'", path, name);
    hid_t a = open_attr(obj, path, name);
    cg_clear_error();
    if (a >= 0) {
        char **s = read_strings(label, what, a, n);
        H5Aclose(a);
        return s;
    }
    /* Keras splits a long list over name0, name1, ... */
    char **all = NULL;
    int total = 0;
    size_t bytes = 0;
    for (int chunk = 0;; chunk++) {
        char cname[300];
        snprintf(cname, sizeof cname, "%s%d", name, chunk);
        hid_t c = open_attr(obj, path, cname);
        if (c < 0) break;
        int k = 0;
        char **s = read_strings(label, what, c, &k);
        H5Aclose(c);
        if (!s) {
            free(all);
            return NULL;
        }
        size_t add = 0;
        for (int i = 0; i < k; i++) add += strlen(s[i]) + 1;
        /* rebuild one block holding both lists */
        char **merged = malloc(((size_t)total + (size_t)k + 1) * sizeof *merged + bytes + add + 1);
        if (!merged) {
            free(s);
            free(all);
            cg_set_error(CG_ERR_NOMEM, "%s: out of memory", label);
            return NULL;
        }
        char *p = (char *)(merged + total + k + 1);
        for (int i = 0; i < total + k; i++) {
            const char *src = i < total ? all[i] : s[i - total];
            size_t len = strlen(src);
            memcpy(p, src, len + 1);
            merged[i] = p;
            p += len + 1;
        }
        merged[total + k] = NULL;
        free(all);
        free(s);
        all = merged;
        total += k;
        bytes += add;
    }
    if (!all) cg_set_error(CG_ERR_PARSE, "%s: %s has no attribute '%s'", label, path, name);
    *n = total;
    return all;
}

/* A link-creation list that makes the groups on the way. */
static hid_t lcpl_intermediate(void) {
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    if (l >= 0) H5Pset_create_intermediate_group(l, 1);
    return l;
}

static bool write_dataset(const char *label, hid_t loc, const char *path, hid_t file_type, hid_t mem_type, int ndim,
                          const hsize_t *dims, const void *data) {
    hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t l = lcpl_intermediate();
    hid_t d = sp >= 0 && l >= 0 ? H5Dcreate2(loc, path, file_type, sp, l, H5P_DEFAULT, H5P_DEFAULT) : -1;
    bool ok = d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (d >= 0) H5Dclose(d);
    if (l >= 0) H5Pclose(l);
    if (sp >= 0) H5Sclose(sp);
    if (!ok) cg_set_error(CG_ERR_IO, "%s: cannot write dataset %s", label, path);
    return ok;
}

bool kh5_write_float(const char *label, hid_t loc, const char *path, const cg_tensor *t) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *c = cg_k_contiguous(cg_to_dtype(t, CG_FLOAT32));
    hsize_t dims[CG_MAX_DIMS];
    for (int i = 0; c && i < c->ndim; i++) dims[i] = (hsize_t)c->shape[i];
    bool ok = c && write_dataset(label, loc, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, c->ndim, dims, cg_data(c));
    cg_scope_end(s);
    return ok;
}

bool kh5_write_scalar_i64(const char *label, hid_t loc, const char *path, int64_t v) {
    return write_dataset(label, loc, path, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &v);
}

bool kh5_write_scalar_f32(const char *label, hid_t loc, const char *path, float v) {
    return write_dataset(label, loc, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0, NULL, &v);
}

bool kh5_make_group(const char *label, hid_t loc, const char *path) {
    if (kh5_exists(loc, path)) return true;
    hid_t l = lcpl_intermediate();
    hid_t g = l >= 0 ? H5Gcreate2(loc, path, l, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (g >= 0) H5Gclose(g);
    if (l >= 0) H5Pclose(l);
    if (g < 0) cg_set_error(CG_ERR_IO, "%s: cannot create group %s", label, path);
    return g >= 0;
}

static bool set_attr(const char *label, hid_t loc, const char *path, const char *name, const char *const *v, int n,
                     bool scalar) {
    if (strcmp(path, ".") != 0 && !kh5_make_group(label, loc, path)) return false;
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, H5T_VARIABLE);
    H5Tset_cset(ty, H5T_CSET_UTF8);
    hsize_t dim = (hsize_t)n;
    hid_t sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (H5Aexists_by_name(loc, path, name, H5P_DEFAULT) > 0) H5Adelete_by_name(loc, path, name, H5P_DEFAULT);
    hid_t a = sp >= 0 ? H5Acreate_by_name(loc, path, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    bool ok = a >= 0 && (n == 0 || H5Awrite(a, ty, v) >= 0);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    H5Tclose(ty);
    if (!ok) cg_set_error(CG_ERR_IO, "%s: cannot write attribute %s of %s", label, name, path);
    return ok;
}

bool kh5_set_attr_str(const char *label, hid_t loc, const char *path, const char *name, const char *value) {
    return set_attr(label, loc, path, name, &value, 1, true);
}

bool kh5_set_attr_strs(const char *label, hid_t loc, const char *path, const char *name, const char *const *v, int n) {
    return set_attr(label, loc, path, name, v, n, false);
}
