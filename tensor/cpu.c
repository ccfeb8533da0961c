/* The CPU, the ISA the build and its hot loops run at, and BLIS's
 * sub-configuration: chosen before BLIS starts when BLIS would fall back to
 * its generic kernels on a CPU it does not know (cg_build_info reports it). */
#include "tensor_internal.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define CG_X86 1
#endif

#ifndef CGRAD_VERSION_STRING
#define CGRAD_VERSION_STRING "?"
#endif

typedef struct {
    char vendor[13], brand[49];
    unsigned family, model;
    bool avx2_fma, avx512; /* with the OS saving the registers */
} cpu_desc;

#ifdef CG_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void cpu_read(cpu_desc *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->vendor, sizeof c->vendor, "unknown");
#ifdef CG_X86
    unsigned a, b, cx, d;
    if (!__get_cpuid(0, &a, &b, &cx, &d)) return;
    memcpy(c->vendor, &b, 4), memcpy(c->vendor + 4, &d, 4), memcpy(c->vendor + 8, &cx, 4);
    c->vendor[12] = 0;
    unsigned max = a;
    __get_cpuid(1, &a, &b, &cx, &d);
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    c->family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    c->model = base_family == 0xf || base_family == 6 ? base_model | (((a >> 16) & 0xf) << 4) : base_model;
    bool fma = cx & (1u << 12), osxsave = cx & (1u << 27), avx = cx & (1u << 28);
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (max >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &cx, &d);
        bool avx2 = b & (1u << 5);
        c->avx2_fma = avx && avx2 && fma && ymm;
        /* F, DQ, BW, VL: what BLIS's skx kernels and gcc's x86-64-v4 need */
        c->avx512 = c->avx2_fma && zmm && (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));
    }
    unsigned regs[12];
    if (__get_cpuid(0x80000000, &a, &b, &cx, &d) && a >= 0x80000004) {
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
        memcpy(c->brand, regs, 48);
        c->brand[48] = 0;
        char *s = c->brand; /* trim */
        while (*s == ' ') s++;
        memmove(c->brand, s, strlen(s) + 1);
        for (size_t n = strlen(c->brand); n && c->brand[n - 1] == ' '; n--) c->brand[n - 1] = 0;
    }
#endif
}

/* Does BLIS (0.9.x, Debian's x86_64 build) pick a sub-configuration of its
 * own for this CPU, or fall back to 'generic'? Its rules (frame/base/
 * bli_cpuid.c): an Intel CPU gets skx, haswell, sandybridge or penryn by its
 * features; an AMD CPU only by family: 0x19 zen3, 0x17 zen2 or zen, 0x15 the
 * Bulldozer line; any other family or vendor gets 'generic'. */
static bool blis_knows(const char *vendor, unsigned family) {
    if (!strcmp(vendor, "GenuineIntel")) return true;
    if (!strcmp(vendor, "AuthenticAMD")) return family == 0x19 || family == 0x17 || family == 0x15;
    return false;
}

const char *cg__blis_pick(const char *vendor, unsigned family, bool avx2_fma, bool avx512, const char *blis_version,
                          int *arch) {
    *arch = -1;
    if (!blis_version || strncmp(blis_version, "0.", 2) != 0) return NULL; /* rules known for 0.x only */
    if (blis_knows(vendor, family) || !avx2_fma) return NULL;
    /* An AMD family newer than BLIS: its newest AMD sub-configuration. On the
     * one AMD core with AVX-512 measured here (Zen 4, family 0x19: EPYC,
     * bench/README.md) zen3's AVX2 kernels beat skx's AVX-512 ones on the
     * recurrent products ([32,128]x[128,512]: 99.6 vs 75.6 GFLOP/s) and in
     * training (imdb_lstm 1,426 vs 972 samples/s). Other vendors: skx for
     * AVX-512, haswell for AVX2. */
    if (!strcmp(vendor, "AuthenticAMD")) return *arch = BLIS_ARCH_ZEN3, "zen3";
    if (avx512) return *arch = BLIS_ARCH_SKX, "skx";
    return *arch = BLIS_ARCH_HASWELL, "haswell";
}

const char cg__cpu_setup_linked = 1; /* referenced by ops_matmul.c */
static cpu_desc g_cpu;
static char g_blis_set[16]; /* the BLIS_ARCH_TYPE value cgrad set, or "" */

/* Before main (and so before any BLIS call): choose BLIS's sub-configuration
 * when BLIS would fall back to generic kernels, through its documented
 * BLIS_ARCH_TYPE variable, read when BLIS starts. A value the user set wins. */
__attribute__((constructor)) static void cpu_setup(void) {
    cpu_read(&g_cpu);
    if (getenv("BLIS_ARCH_TYPE")) return;
    int arch;
    if (cg__blis_pick(g_cpu.vendor, g_cpu.family, g_cpu.avx2_fma, g_cpu.avx512, bli_info_get_version_str(), &arch) &&
        cg__blis_use(arch) != CG_OK)
        g_blis_set[0] = 0;
}

cg_status cg__blis_use(int arch) {
    if (arch < 0 || arch >= BLIS_NUM_ARCHS)
        return cg_set_error(CG_ERR_VALUE, "BLIS sub-configuration %d is not one of this BLIS's 0..%d", arch,
                            BLIS_NUM_ARCHS - 1);
    snprintf(g_blis_set, sizeof g_blis_set, "%d", arch);
    if (setenv("BLIS_ARCH_TYPE", g_blis_set, 1) != 0) {
        g_blis_set[0] = 0;
        return cg_set_error(CG_ERR_IO, "BLIS_ARCH_TYPE could not be set");
    }
    return CG_OK;
}

static const char *kernel_level(void) {
#if !defined(CG_DISPATCH)
    return "this build's (-march=native or the compiler's flags)";
#elif defined(CG_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2)";
    return "x86-64 (SSE2)";
#else
    return "baseline";
#endif
}

cg_info cg_build_info(void) {
    if (!g_cpu.vendor[0]) cpu_read(&g_cpu);
    cg_info i;
    memset(&i, 0, sizeof i);
    i.version = CGRAD_VERSION_STRING;
#ifdef CG_DISPATCH
    i.build = "portable: x86-64 baseline, hot loops also for x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), picked at run time";
#else
    i.build = "for one CPU: hot loops compiled once with the build's -march";
#endif
    i.kernels = kernel_level();
    static char cpu[128];
    snprintf(cpu, sizeof cpu, "%s (%s family %u model %u; %s)", g_cpu.brand[0] ? g_cpu.brand : "?", g_cpu.vendor,
             g_cpu.family, g_cpu.model, g_cpu.avx512 ? "AVX2, AVX-512" : g_cpu.avx2_fma ? "AVX2" : "no AVX2");
    i.cpu = cpu;
    i.blis_version = bli_info_get_version_str();
    bli_init(); /* started first: BLIS 0.9's arch query alone aborts when BLIS_ARCH_TYPE is set */
    arch_t id = bli_arch_query_id();
    i.blis_config = bli_arch_string(id);
    i.blis_arch_type = (int)id;
    const char *env = getenv("BLIS_ARCH_TYPE");
    static char by[160];
    if (g_blis_set[0] && env && !strcmp(env, g_blis_set))
        snprintf(by, sizeof by, "cgrad (BLIS %s does not know this CPU and would run its generic kernels)",
                 i.blis_version);
    else if (env)
        snprintf(by, sizeof by, "BLIS_ARCH_TYPE=%s", env);
    else if (id == BLIS_ARCH_GENERIC && g_cpu.avx2_fma)
        snprintf(by, sizeof by, "BLIS (generic kernels on a CPU with AVX2: slow; set BLIS_ARCH_TYPE)");
    else
        snprintf(by, sizeof by, "BLIS");
    i.blis_config_by = by;
    i.small_gemm = cg__small_gemm();
    i.threads = cg_get_num_threads();
    i.cpu_avx2 = g_cpu.avx2_fma;
    i.cpu_avx512 = g_cpu.avx512;
    return i;
}

void cg_build_info_print(FILE *f) {
    cg_info i = cg_build_info();
    fprintf(f, "cgrad %s, %s\n", i.version, i.build);
    fprintf(f, "  loops in use: %s\n", i.kernels);
    fprintf(f, "  CPU: %s\n", i.cpu);
    fprintf(f, "  BLIS %s, sub-configuration %s (BLIS_ARCH_TYPE=%d), chosen by %s\n", i.blis_version, i.blis_config,
            i.blis_arch_type, i.blis_config_by);
    fprintf(f, "  small products: %s\n", i.small_gemm);
    fprintf(f, "  threads: %d\n", i.threads);
}
