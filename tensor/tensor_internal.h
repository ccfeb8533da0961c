/* Private helpers shared by the tensor/ sources. */
#ifndef CGRAD_TENSOR_INTERNAL_H
#define CGRAD_TENSOR_INTERNAL_H

#include "tensor.h"

#include <math.h>
#include <string.h>

/* Elementwise and reduction loops work on fixed chunks of this many
 * elements, whatever the thread count, so every element takes the same code
 * path (vector body or tail) with 1 or N threads: results are bit-identical. */
#define CG_CHUNK 8192
/* Below this many elements a kernel stays on the calling thread. */
#define CG_GRAIN 65536

/* Allocation in the current scope (never NULL unless out of memory, in
 * which case the error is set). */
void *cg__alloc(size_t nbytes);
/* A fresh tensor struct sharing storage (fields copied from base). */
cg_tensor *cg__view_of(const cg_tensor *base);
/* A contiguous tensor with new storage (uninitialized). */
cg_tensor *cg__new(cg_dtype dt, const int64_t *shape, int ndim);
/* For cg__new: bytes of exactly nbytes handed back in scope s during a
 * recycling pass, or NULL; *serial gets the new storage's serial. */
void *cg__recycled(cg_scope *s, size_t nbytes, uint64_t *serial);
/* Fill row-major strides for shape. */
void cg__contig_strides(const int64_t *shape, int ndim, int64_t *strides);
/* Normalize a possibly negative axis; -1 and an error naming `op` if out of range. */
int cg__axis(const char *op, int axis, int ndim);
/* Error for a NULL input (only sets a message if none is pending from an
 * earlier failed op, so the first cause is kept). */
void *cg__null_input(const char *op);
/* False (with an error naming op) when t is an expanded view whose
 * elements alias, so writing into it in place would be wrong. */
bool cg__writable(const char *op, const cg_tensor *t);
/* Threads the kernels may use for `n` elements of work (1 below the grain). */
int cg__threads_for(int64_t n);

#define CG_CHECK_NULL1(op, a)                                                                      \
    do {                                                                                           \
        if (!(a)) return cg__null_input(op);                                                       \
    } while (0)
#define CG_CHECK_NULL2(op, a, b)                                                                   \
    do {                                                                                           \
        if (!(a) || !(b)) return cg__null_input(op);                                               \
    } while (0)

/* ------------------------------------------------------------ iteration */

/* Up to CG_ITER_MAX_OPS operands walked over a common shape. Dims are
 * coalesced and size-1 dims dropped, so the innermost dim is as long as
 * possible. */
#define CG_ITER_MAX_OPS 5
typedef struct cg_iter {
    int ndim;
    int nops;
    int64_t shape[CG_MAX_DIMS];
    int64_t strides[CG_ITER_MAX_OPS][CG_MAX_DIMS]; /* elements; [op][dim] */
    char *base[CG_ITER_MAX_OPS];                   /* byte pointers to element 0 */
    size_t elsize[CG_ITER_MAX_OPS];
    int64_t numel;
} cg_iter;

/* Prepare an iterator: ops[k] is viewed as broadcast to `shape`. Returns
 * false (without error) if some operand does not broadcast. */
bool cg__iter_init(cg_iter *it, const int64_t *shape, int ndim, const cg_tensor *const *ops,
                   int nops);
/* Call fn(n, ptrs, strides_in_elements, ctx) for each innermost row in the
 * flat range [start, end) of the iteration space. */
typedef void (*cg_row_fn)(int64_t n, char **ptrs, const int64_t *strides, void *ctx);
void cg__iter_range(const cg_iter *it, int64_t start, int64_t end, cg_row_fn fn, void *ctx);
/* Run over everything, in parallel over fixed chunks when large. */
void cg__iter_run(const cg_iter *it, cg_row_fn fn, void *ctx);

/* BLIS's sub-configuration for a CPU BLIS would run with its generic
 * kernels: its name and BLIS_ARCH_TYPE number in *arch, or NULL (-1) when
 * BLIS knows the CPU, it lacks AVX2 and FMA, or BLIS's rules for this
 * version are not known (tensor/cpu.c). */
const char *cg__blis_pick(const char *vendor, unsigned family, bool avx2_fma, bool avx512, const char *blis_version,
                          int *arch);
/* Set BLIS_ARCH_TYPE to arch; takes effect only before BLIS starts. */
cg_status cg__blis_use(int arch);
/* memcpy for bulk copies inside cgrad. From 2 KiB up glibc copies with
 * `rep movsb`, which AMD EPYC (Zen 4) runs at 3.5 GB/s instead of ~100 when
 * the destination is 4 bytes off the source's alignment — a row of a
 * [., 30] float32 matrix is; vector moves run at full speed whatever the
 * alignment. d and s must not overlap. */
void cg__copy_bytes(void *restrict d, const void *restrict s, size_t n);
/* Who runs the small products: "libxsmm 1.17 (...)" or "BLIS (...)" (ops_matmul.c). */
const char *cg__small_gemm(void);

/* ------------------------------------------------------- vector math */
/* exp, log, tanh, sigmoid written with basic arithmetic (vmath.h): the same
 * bits for an element in a vector lane or a loop's scalar tail, in every
 * build and on every CPU. */
#include "vmath.h"

#include "simd.h"

/* Copy nb bytes (a multiple of 4, the source and destination apart) with
 * whole-vector moves: row pieces are short (a cell's 30 units), and a call
 * to memcpy per piece costs more than the copy. The last partial vector
 * overlaps the one before it (those bytes are written twice, with the same
 * values), and pieces shorter than a vector take two overlapping halves or
 * quarters, so no byte outside the piece is read or written. The fixed-size
 * memcpys compile to the widest moves of each version of the hot loops
 * (one zmm with AVX-512, two ymm with AVX2, four xmm); the loop counter is
 * opaque to the compiler, which would otherwise turn the loop back into a
 * memcpy call. Used by the fused kernels (ops_fused.c) and by
 * cg__copy_bytes. */
CG_INLINE void cg__copy_vec(char *restrict d, const char *restrict s, int64_t nb) {
    if (nb >= 64) {
        int64_t i = 0;
        for (; i + 64 <= nb; i += 64) {
            memcpy(d + i, s + i, 64);
            __asm__("" : "+r"(i)); /* an opaque counter: not a memcpy pattern */
        }
        if (i < nb) memcpy(d + nb - 64, s + nb - 64, 64);
    } else if (nb >= 32) {
        memcpy(d, s, 32);
        memcpy(d + nb - 32, s + nb - 32, 32);
    } else if (nb >= 16) {
        memcpy(d, s, 16);
        memcpy(d + nb - 16, s + nb - 16, 16);
    } else if (nb >= 8) {
        memcpy(d, s, 8);
        memcpy(d + nb - 8, s + nb - 8, 8);
    } else if (nb >= 4) {
        memcpy(d, s, 4);
    }
}

#endif
