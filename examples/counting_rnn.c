/* Learning to count with a SimpleRNN — the Keras lesson:
 *   the sequence 0.0, 0.1, ..., 0.9 cut into 6 windows of 4 steps, each
 *   labelled with the value that follows it ([0.0 0.1 0.2 0.3] -> 0.4, ...)
 *   SimpleRNN(10) -> Dense(1); MSE, Adam, 100 epochs
 * The lesson's figure: predict([-0.1, 0.0, 0.1, 0.2]) ≈ 0.3, a window it never saw.
 *
 *     counting_rnn [--epochs 100] [--seed 1] [--out out/counting_rnn]
 * (--help lists every flag and its default) */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a = {.prog = "counting_rnn", .takes = EX_OUT, .epochs = 100, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "a SimpleRNN(10) learns to continue 0.0, 0.1, 0.2, ...");
    const int64_t step = 4;

    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_simple_rnn_new(1, 10, NULL));
    cg_sequential_add(model, cg_dense_new(10, 1, CG_ACT_LINEAR, NULL));
    if (a.epochs == 0) return ex_summary(&a, model, CG_SHAPE(step, 1));

    cg_tensor *x, *y;
    if (cg_timeseries_windows(cg_counting_sequence(CG_FLOAT32, 10), step, false, &x, &y) != CG_OK)
        return ex_fail(&a, "making the windows");
    if (ex_summary(&a, model, CG_SHAPE(step, 1))) return 1;
    printf("x %s:\n", cg_shape_str(x));
    cg_print(cg_reshape(x, CG_SHAPE(-1, step)));
    printf("y %s:\n", cg_shape_str(y));
    cg_print(cg_reshape(y, CG_SHAPE(-1)));

    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, np, &ao);
    cg_fit_opts o = ex_fit_opts(&a, 32);
    cg_history *h = opt ? ex_fit(&a, model, opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o) : NULL;
    if (!h) return opt ? 1 : ex_fail(&a, "cg_adam_new");
    const char *png = ex_out_path(&a, "history.png");
    if (ex_root(&a)) ex_report_plot(&a, cg_history_plot(h, png, "counting: SimpleRNN(10), training loss"), png);

    cg_tensor *fit = cg_predict(model, x, 32);
    printf("predictions on the training windows:\n");
    cg_print(cg_reshape(fit, CG_SHAPE(-1)));
    cg_tensor *p = cg_predict(model, cg_from_data(CG_FLOAT32, CG_SHAPE(1, step, 1), (float[]){-0.1f, 0, 0.1f, 0.2f}), 1);
    if (!p) return ex_fail(&a, "predict");
    printf("predict(-0.1, 0, 0.1, 0.2): %.4f (expected 0.3; final loss %.5f, seed %llu)\n", cg_item(p),
           cg_history_last(h, "loss"), (unsigned long long)a.seed);
    cg_history_free(h);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return 0;
}
