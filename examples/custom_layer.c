/* A recurrent layer of your own: the minimal gated unit (Zhou et al. 2016),
 * an RNN with a single gate, written on the nn.h custom-layer pattern from
 * autograd ops only — the tape does backpropagation through time.
 *   f  = sigmoid(x W_f + h U_f + b_f)
 *   h~ = tanh(x W_h + (f * h) U_h + b_h)
 *   h' = h + f * (h~ - h)                  (= (1 - f) * h + f * h~)
 * It is trained for a few epochs on the multiplication problem, then its
 * gradients are checked against central differences in float64
 * (cg_gradcheck); the exit status is 1 if the check fails.
 *
 *     custom_layer [--epochs 5] [--limit 256] [--seed 1]
 * (--help lists every flag and its default) */
#include "example_util.h"

/* ------------------------------------------------------------ the layer */

typedef struct mgu {
    cg_module base;
    int units;
    cg_tensor *kernel, *rec_f, *rec_h, *bias; /* [F, 2H] (f | h), [H, H], [H, H], [2H] */
} mgu;

/* x: [B, T, F] -> the last h: [B, H]. */
static cg_tensor *mgu_forward(cg_module *m, cg_tensor *x) {
    mgu *l = (mgu *)m;
    if (!x || x->ndim != 3) return cg_set_error(CG_ERR_SHAPE, "MGU: x %s is not [B, T, F]", cg_shape_str(x)), NULL;
    cg_tensor *xp = cg_linear(x, l->kernel, l->bias); /* every step's input projection in one GEMM */
    cg_tensor *h = cg_zeros(x->dtype, CG_SHAPE(x->shape[0], l->units)), *g[2];
    for (int64_t t = 0; t < x->shape[1] && h; t++) {
        if (cg_chunk(cg_select(xp, 1, t), 2, 1, g) != 2) return NULL;
        cg_tensor *f = cg_sigmoid(cg_addmm(g[0], h, l->rec_f));
        cg_tensor *cand = cg_tanh(cg_addmm(g[1], cg_mul(f, h), l->rec_h));
        h = cg_add(h, cg_mul(f, cg_sub(cand, h)));
    }
    return h;
}

static bool mgu_output_shape(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout) {
    (void)in, (void)nin;
    out[0] = ((const mgu *)m)->units, *nout = 1;
    return true;
}

static const cg_module_type mgu_type = {.name = "MGU", .forward = mgu_forward, .output_shape = mgu_output_shape};

static cg_module *mgu_new(int in, int units) {
    mgu *l = calloc(1, sizeof *l);
    if (!l || cg_module_init(&l->base, &mgu_type, NULL) != CG_OK) return free(l), NULL;
    l->units = units;
    l->kernel = cg_module_add_param(&l->base, "kernel", CG_SHAPE(in, 2 * units), cg_init_glorot_uniform(), NULL);
    l->rec_f = cg_module_add_param(&l->base, "recurrent_f", CG_SHAPE(units, units), cg_init_orthogonal(1), NULL);
    l->rec_h = cg_module_add_param(&l->base, "recurrent_h", CG_SHAPE(units, units), cg_init_orthogonal(1), NULL);
    l->bias = cg_module_add_param(&l->base, "bias", CG_SHAPE(2 * units), cg_init_zeros(), NULL);
    if (!l->kernel || !l->rec_f || !l->rec_h || !l->bias) return cg_module_free(&l->base), NULL;
    return &l->base;
}

/* ------------------------------------------------------------ using it */

static cg_tensor *model_output(cg_tensor *const *inputs, int n, void *model) {
    (void)n; /* inputs[0] is x, the rest are the parameters the model reads itself */
    return cg_module_forward(model, inputs[0]);
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "custom_layer", .takes = EX_LIMIT, .limit_help = "training sequences", .limit_min = 4, .limit_zero = "256",
                 .epochs = 5, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "a minimal gated unit written as a custom layer, trained and gradient-checked");
    const int64_t n = a.limit ? a.limit : 256, steps = 10;

    cg_module *model = cg_sequential_new(NULL), *cell = mgu_new(2, 16);
    if (!cell) return ex_fail(&a, "mgu_new");
    cg_sequential_add(model, cell);
    cg_sequential_add(model, cg_dense_new(16, 1, CG_ACT_LINEAR, NULL));
    if (a.epochs == 0) return ex_summary(&a, model, CG_SHAPE(steps, 2));

    cg_tensor *x, *y;
    if (cg_multiplication_problem(NULL, CG_FLOAT32, n, steps, &x, &y) != CG_OK) return ex_fail(&a, "making the data");
    if (ex_summary(&a, model, CG_SHAPE(steps, 2))) return 1;
    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    ao.lr = 1e-2;
    cg_optim *opt = cg_adam_new(params, np, &ao);
    cg_fit_opts o = ex_fit_opts(&a, 32);
    cg_history *h = opt ? ex_fit(&a, model, opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o) : NULL;
    if (!h) return opt ? 1 : ex_fail(&a, "cg_adam_new");
    printf("training loss: %.4f after epoch 1, %.4f after epoch %d\n", cg_history_get(h, "loss", 0),
           cg_history_last(h, "loss"), h->epochs);

    /* The gradient check: float64 parameters and a few float64 sequences
     * (x requires grad too, so its gradient is checked as well). */
    if (cg_module_set_dtype(model, CG_FLOAT64) != CG_OK) return ex_fail(&a, "cg_module_set_dtype");
    cg_tensor *inputs[65] = {cg_requires_grad_(cg_to_dtype(cg_slice(x, 0, 0, 4, 1), CG_FLOAT64), true)};
    for (int i = 0; i < np; i++) inputs[1 + i] = params[i];
    cg_gradcheck_opts go = {.eps = 1e-6, .atol = 1e-6, .rtol = 1e-4, .seed = a.seed};
    cg_status st = cg_gradcheck(model_output, model, inputs, 1 + np, &go);
    printf("gradcheck of x and %d parameters: %s\n", np, st == CG_OK ? "ok" : cg_last_error());
    cg_history_free(h);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return st == CG_OK ? 0 : 1;
}
