/* Private to nn/keras*.c: the zip archive and HDF5 pieces under the Keras
 * file reader and writer. Every function that fails sets cg_last_error() with
 * `label` (the file, and the member or path inside it) in the message. */
#ifndef CGRAD_KERAS_INTERNAL_H
#define CGRAD_KERAS_INTERNAL_H

#include "nn_internal.h"

#include <hdf5.h>

/* ------------------------------------------------------------------ bytes */

typedef struct kbuf {
    unsigned char *p;
    size_t len, cap;
} kbuf;

bool kbuf_put(kbuf *b, const void *s, size_t n);
void kbuf_free(kbuf *b);
/* Read a whole file (at most `limit` bytes). */
cg_status kbuf_read_file(kbuf *b, const char *path, size_t limit);
/* Write bytes to path through a temporary file next to it (fsync'ed,
 * renamed): a failed write leaves what was at path. */
cg_status kbuf_write_atomic(const char *fn, const char *path, const void *data, size_t n);

/* --------------------------------------------------------------------- zip */

typedef struct kzip_member {
    const char *name;
    kbuf data;
} kzip_member;

/* Read the members named in `want` (n of them) out of zip bytes; members
 * absent from the archive keep data.p NULL; others are ignored. A corrupt
 * archive (bad structure, a CRC that does not match) is CG_ERR_PARSE. */
cg_status kzip_read(const char *label, const void *zip, size_t n, kzip_member *want, int nwant);
/* A zip archive (stored, no compression) of the given members. */
cg_status kzip_write(const char *label, const kzip_member *members, int n, kbuf *out);

/* -------------------------------------------------------------------- HDF5 */

/* HDF5 prints its error stack unless told not to: every entry point that
 * calls HDF5 brackets the calls with these (restoring the caller's setting). */
typedef struct kh5_quiet {
    H5E_auto2_t func;
    void *data;
} kh5_quiet;
kh5_quiet kh5_quiet_begin(void);
void kh5_quiet_end(kh5_quiet q);

/* An HDF5 file from memory (read only), from a path, or new in memory. */
hid_t kh5_open_image(const char *label, const void *buf, size_t n);
hid_t kh5_open_path(const char *label, const char *path);
hid_t kh5_create_mem(const char *label);
/* The bytes of a file made by kh5_create_mem (flushed). */
cg_status kh5_image(const char *label, hid_t f, kbuf *out);

/* Does an object exist at `path` (every component checked)? */
bool kh5_exists(hid_t loc, const char *path);
/* The float dataset at path as a float32 tensor (current scope), converted
 * from any float type; NULL with an error naming label/path. */
cg_tensor *kh5_read_float(const char *label, hid_t loc, const char *path);
/* A scalar (or 1-element) integer or float dataset as int64 / double. */
bool kh5_read_int(const char *label, hid_t loc, const char *path, int64_t *out);
bool kh5_read_double(const char *label, hid_t loc, const char *path, double *out);
/* A string attribute (variable or fixed length, scalar or 1-element); the
 * result is malloc'ed. NULL with an error when absent or not a string. */
char *kh5_attr_str(const char *label, hid_t obj, const char *path, const char *name);
/* A string-array attribute, also split over name0, name1, ... as Keras
 * does for long lists. *n gets the count; the array and its strings are
 * one malloc'ed block. NULL with an error when absent. */
char **kh5_attr_strs(const char *label, hid_t obj, const char *path, const char *name, int *n);

/* Writers: groups on the way are created. */
bool kh5_write_float(const char *label, hid_t loc, const char *path, const cg_tensor *t);
bool kh5_write_scalar_i64(const char *label, hid_t loc, const char *path, int64_t v);
bool kh5_write_scalar_f32(const char *label, hid_t loc, const char *path, float v);
bool kh5_make_group(const char *label, hid_t loc, const char *path);
/* Variable-length UTF-8 string attributes (what h5py writes for str). */
bool kh5_set_attr_str(const char *label, hid_t loc, const char *path, const char *name, const char *value);
bool kh5_set_attr_strs(const char *label, hid_t loc, const char *path, const char *name, const char *const *v, int n);

#endif
