/* Parts of dist/ that do not need MPI. */
#include "dist_internal.h"

#include <string.h>

/* A 64-bit checksum of a tensor's values in row-major order: its dtype
 * and shape, then 8 bytes at a time, each mixed by a multiply and a
 * rotation (fast; not cryptographic). */
uint64_t cg__dist_checksum(const cg_tensor *t) {
    if (!t) return 0;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)t->dtype;
    for (int d = 0; d < t->ndim; d++) h = (h ^ (uint64_t)t->shape[d]) * 0xBF58476D1CE4E5B9ULL;
    cg_scope *s = cg_scope_begin();
    const cg_tensor *c = cg_is_contiguous(t) ? t : cg_clone(t);
    size_t n = c ? (size_t)cg_numel(c) * cg_dtype_size(c->dtype) : 0;
    const unsigned char *p = c ? cg_data(c) : NULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0x94D049BB133111EBULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    cg_scope_end(s);
    return h;
}
