/* cg_build_info, and BLIS's sub-configuration: which one BLIS would pick,
 * which cgrad picks instead when BLIS would run its generic kernels on a
 * CPU it does not know, and that setting it before BLIS starts takes. */
#include "testlib.h"

#include <blis.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* tensor/cpu.c (internal) */
const char *cg__blis_pick(const char *vendor, unsigned family, bool avx2_fma, bool avx512, const char *blis_version,
                          int *arch);
cg_status cg__blis_use(int arch);

/* BLIS 0.9's rules: an AMD family it lists (0x15, 0x17, 0x19) or any Intel
 * CPU keeps BLIS's choice; an AMD family after them (Zen 5 is 0x1A) and
 * other vendors get an optimized sub-configuration when they have AVX2 and
 * FMA; without AVX2, generic is right; another BLIS version is left alone. */
START_TEST(blis_pick_rules) {
    static const struct {
        const char *vendor;
        unsigned family;
        bool avx2, avx512;
        const char *version, *want;
        int arch;
    } C[] = {
        {"AuthenticAMD", 0x1a, true, true, "0.9.0", "zen3", BLIS_ARCH_ZEN3},
        {"AuthenticAMD", 0x1a, true, false, "0.9.0", "zen3", BLIS_ARCH_ZEN3},
        {"AuthenticAMD", 0x1a, false, false, "0.9.0", NULL, -1},
        {"AuthenticAMD", 0x19, true, true, "0.9.0", NULL, -1},
        {"AuthenticAMD", 0x17, true, false, "0.9.0", NULL, -1},
        {"AuthenticAMD", 0x15, true, false, "0.9.0", NULL, -1},
        {"GenuineIntel", 6, true, true, "0.9.0", NULL, -1},
        {"HygonGenuine", 0x18, true, false, "0.9.0", "haswell", BLIS_ARCH_HASWELL},
        {"CentaurHauls", 7, true, true, "0.9.0", "skx", BLIS_ARCH_SKX},
        {"AuthenticAMD", 0x1a, true, true, "1.0", NULL, -1},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        int arch = 99;
        const char *got = cg__blis_pick(C[i].vendor, C[i].family, C[i].avx2, C[i].avx512, C[i].version, &arch);
        ck_assert_msg(got == C[i].want || (got && C[i].want && !strcmp(got, C[i].want)), "case %zu (%s 0x%x): %s, expected %s",
                      i, C[i].vendor, C[i].family, got ? got : "none", C[i].want ? C[i].want : "none");
        ck_assert_int_eq(arch, C[i].arch);
        if (got) ck_assert_str_eq(bli_arch_string((arch_t)arch), got);
    }
}
END_TEST

/* On this machine, unless the run was told otherwise: an optimized
 * configuration wherever the CPU has AVX2, and a report that names it. */
START_TEST(this_cpu_runs_optimized_kernels) {
    const char *env = getenv("CGRAD_TEST_PARENT_BLIS_ARCH_TYPE");
    cg_info i = cg_build_info();
    ck_assert_ptr_nonnull(i.version);
    ck_assert_ptr_nonnull(strstr(i.cpu, "family"));
    ck_assert_int_ge(i.threads, 1);
    if (!env && i.cpu_avx2)
        ck_assert_msg(strcmp(i.blis_config, "generic") != 0, "BLIS runs its generic kernels on %s (chosen by %s)", i.cpu,
                      i.blis_config_by);
    ck_assert_str_eq(i.blis_config, bli_arch_string(bli_arch_query_id()));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cg_build_info_print(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, i.blis_config));
    ck_assert_ptr_nonnull(strstr(text, i.kernels));
    free(text);
}
END_TEST

/* A fresh process sets the configuration through cgrad before its first
 * product (as cgrad does at start on a CPU BLIS does not know), multiplies,
 * and reports what ran; the parent checks the report. */
static int child_main(const char *what) {
    int arch = !strcmp(what, "haswell") ? BLIS_ARCH_HASWELL : BLIS_ARCH_GENERIC;
    if (cg__blis_use(arch) != CG_OK) return 3;
    cg_tensor *a = cg_ones(CG_FLOAT32, CG_SHAPE(4, 3)), *b = cg_ones(CG_FLOAT32, CG_SHAPE(3, 2));
    cg_tensor *c = cg_k_matmul(a, b);
    if (!c || cg_get(c, (int64_t[]){1, 1}) != 3.0) return 4;
    cg_info i = cg_build_info();
    printf("%s|%s\n", i.blis_config, i.blis_config_by);
    return 0;
}

static void run_child(const char *what, char *out, size_t cap) {
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    char var[64];
    snprintf(var, sizeof var, "CGRAD_TEST_CHILD=%s", what);
    char *envp[] = {var, NULL}; /* no BLIS_ARCH_TYPE of the parent's */
    char *argv[] = {"test_build_info", NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    ssize_t n = read(fd[0], out, cap - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s: status %d, output '%s'", what, st, out);
}

START_TEST(blis_configuration_set_before_start_takes) {
    char out[512];
    run_child("haswell", out, sizeof out);
    ck_assert_msg(!strncmp(out, "haswell|cgrad", 13), "child reported '%s'", out);
    run_child("generic", out, sizeof out);
    ck_assert_msg(!strncmp(out, "generic|cgrad", 13), "child reported '%s'", out);
}
END_TEST

int main(void) {
    const char *child = getenv("CGRAD_TEST_CHILD");
    if (child) return child_main(child);
    if (getenv("BLIS_ARCH_TYPE")) setenv("CGRAD_TEST_PARENT_BLIS_ARCH_TYPE", getenv("BLIS_ARCH_TYPE"), 1);
    Suite *s = suite_create("build_info");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, blis_pick_rules);
    tcase_add_test(tc, this_cpu_runs_optimized_kernels);
    tcase_add_test(tc, blis_configuration_set_before_start_takes);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
