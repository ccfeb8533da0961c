/* Killing training with SIGKILL at random moments (checkpoint writes
 * included) never leaves a corrupt or missing checkpoint, and resuming
 * from the last one ends with the same weights, bit for bit, as a run that
 * was never interrupted. */
#include "testlib.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EPOCHS 1500

typedef struct {
    cg_module *m;
    cg_optim *opt;
    cg_tensor *ps[8];
    int np;
    cg_tensor *x, *y;
} run;

static run setup(void) {
    run r;
    cg_set_num_threads(1); /* no OpenMP threads exist when the test forks */
    cg_manual_seed(31);
    cg_rng g = cg_rng_seeded(8);
    cg_dense_opts d1 = {.activation = CG_ACT_TANH, .rng = &g}, d2 = {.rng = &g};
    r.m = cg_sequential_new(NULL);
    cg_sequential_add(r.m, cg_dense_new_ex(8, 256, &d1)); /* big enough that a write takes a while */
    cg_sequential_add(r.m, cg_dropout_new(0.1, NULL, NULL));
    cg_sequential_add(r.m, cg_dense_new_ex(256, 1, &d2));
    r.np = cg_module_parameters(r.m, r.ps, 8);
    cg_adam_opts ao = cg_adam_keras();
    r.opt = cg_adam_new(r.ps, r.np, &ao);
    r.x = cg_rand(&g, CG_FLOAT32, CG_SHAPE(256, 8));
    r.y = cg_rand(&g, CG_FLOAT32, CG_SHAPE(256, 1));
    return r;
}

static void teardown(run *r) {
    cg_optim_free(r->opt);
    cg_module_free(r->m);
}

/* Train up to EPOCHS, resuming from path if it exists, checkpointing every epoch. */
static void train(run *r, const char *path) {
    int start = 0;
    if (access(path, F_OK) == 0) ck_assert_int_eq(cg_checkpoint_load(path, r->m, r->opt, &start, NULL), CG_OK);
    cg_callback cb = {.kind = CG_CALLBACK_CHECKPOINT, .path = path};
    cg_fit_opts o = cg_fit_defaults();
    o.epochs = EPOCHS;
    o.initial_epoch = start;
    o.verbose = 0;
    o.seed = 4;
    o.callbacks = &cb;
    o.n_callbacks = 1;
    cg_history *h = cg_fit(r->m, r->opt, CG_LOSS_MSE, CG_METRIC_NONE, r->x, r->y, &o);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->status, CG_OK);
    cg_history_free(h);
}

static void weights(run *r, float *out) {
    for (int i = 0; i < r->np; i++) {
        memcpy(out, cg_data_f32(r->ps[i]), sizeof(float) * (size_t)cg_numel(r->ps[i]));
        out += cg_numel(r->ps[i]);
    }
}

START_TEST(sigkill_never_corrupts_and_resume_is_exact) {
    char dir[] = "/tmp/cgrad_kill_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], ref[256];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
    srand((unsigned)time(NULL));
    int kills = 0, finished = 0;
    for (int round = 0; round < 40 && !finished; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            run r = setup();
            train(&r, path);
            _exit(0);
        }
        usleep((useconds_t)(2000 + rand() % 60000));
        if (kill(pid, SIGKILL) == 0) kills++;
        int status;
        waitpid(pid, &status, 0);
        finished = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        ck_assert_msg(WIFEXITED(status) ? WEXITSTATUS(status) == 0 : WTERMSIG(status) == SIGKILL,
                      "the training process failed on its own");
        if (access(path, F_OK) != 0) continue; /* killed before the first checkpoint */
        /* whatever the moment of the kill, the checkpoint there is whole */
        run check = setup();
        int epoch = -1;
        ck_assert_msg(cg_checkpoint_load(path, check.m, check.opt, &epoch, NULL) == CG_OK, "round %d: %s", round,
                      cg_last_error());
        ck_assert_int_ge(epoch, 1);
        teardown(&check);
    }
    ck_assert_int_ge(kills, 5);
    /* finish from the last checkpoint, and compare with one uninterrupted run */
    run resumed = setup();
    train(&resumed, path);
    run straight = setup();
    train(&straight, ref);
    int64_t n = cg_module_param_count(resumed.m, false);
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    weights(&resumed, a);
    weights(&straight, b);
    ck_assert_msg(memcmp(a, b, sizeof(float) * (size_t)n) == 0, "resumed weights differ from an uninterrupted run");
    free(a);
    free(b);
    teardown(&resumed);
    teardown(&straight);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("checkpoint_kill");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sigkill_never_corrupts_and_resume_is_exact);
    suite_add_tcase(s, tc);
    return cgt_run(s);
}
