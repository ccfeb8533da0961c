/* How the hot loops are built; shared by tensor/ and optim/ (private). */
#ifndef CGRAD_SIMD_H
#define CGRAD_SIMD_H

/* Hot loops (elementwise, fused cells, reductions, optimizer updates) are
 * compiled for three x86-64 levels and picked at run time by the CPU (gcc's
 * target_clones): the library runs on any x86-64 and uses AVX2 or AVX-512
 * where present. Built with -march=native (CGRAD_NATIVE) there is one
 * version. Functions a hot function calls are CG_INLINE, so they are
 * compiled into each version. */
#if defined(CG_DISPATCH) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CG_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CG_HOT
#endif
#define CG_INLINE static inline __attribute__((always_inline))

#endif
