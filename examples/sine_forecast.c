/* Forecasting a noisy sine with a SimpleRNN — the Keras lesson:
 *   x[t] = sin(0.02 t) + 2 U(0,1), t = 0..999; the first 800 points train, the
 *   last 200 test; each window of 4 values predicts the next one (the series
 *   is extended by repeating its last value, as the lesson's np.append).
 *   SimpleRNN(32) -> Dense(8, tanh) -> Dense(1); MSE, RMSprop, 100 epochs, batch 16
 * The lesson's figures: target vs output on the train and the test points.
 *
 *     sine_forecast [--epochs 100] [--limit 1000] [--seed 1] [--out out/sine_forecast]
 * (--help lists every flag and its default) */
#include "example_util.h"

/* Plot target vs prediction of model on (x, y), the first target at time
 * t0; returns their MSE (NaN on error). */
static double plot_fit(const ex_args *a, cg_module *model, cg_tensor *x, cg_tensor *y, double t0, const char *name,
                       const char *title) {
    double *target = ex_values(y), *pred = ex_values(cg_predict(model, x, 256));
    double mse = NAN;
    if (target && pred) {
        cg_plot_line lines[2] = {{.name = "target", .y = target, .color = 8}, {.name = "SimpleRNN", .y = pred, .color = 1}};
        cg_plot_opts po = {.title = title, .xlabel = "t", .ylabel = "sin(0.02 t) + noise", .x0 = t0};
        const char *png = ex_out_path(a, name);
        if (ex_root(a)) ex_report_plot(a, cg_plot(png, lines, 2, cg_numel(y), &po), png);
        mse = ex_mse(target, pred, cg_numel(y));
    }
    free(target);
    free(pred);
    return mse;
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "sine_forecast", .takes = EX_LIMIT | EX_OUT,
                 .limit_help = "points of the series (the first 80% train)", .limit_min = 20, .limit_zero = "1000",
                 .epochs = 100, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "one-step forecasts of a noisy sine with SimpleRNN(32)");
    const int64_t n = a.limit ? a.limit : 1000, n_train = n * 8 / 10, step = 4;

    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_simple_rnn_new(1, 32, NULL));
    cg_sequential_add(model, cg_dense_new(32, 8, CG_ACT_TANH, NULL));
    cg_sequential_add(model, cg_dense_new(8, 1, CG_ACT_LINEAR, NULL));
    if (a.epochs == 0) return ex_summary(&a, model, CG_SHAPE(step, 1));

    cg_tensor *series = cg_noisy_sine(NULL, CG_FLOAT32, n), *x_train, *y_train, *x_test, *y_test;
    if (!series || cg_timeseries_windows(cg_slice(series, 0, 0, n_train, 1), step, true, &x_train, &y_train) ||
        cg_timeseries_windows(cg_slice(series, 0, n_train, n, 1), step, true, &x_test, &y_test))
        return ex_fail(&a, "making the windows");
    if (ex_summary(&a, model, CG_SHAPE(step, 1))) return 1;
    printf("x_train %s, x_test %s\n", cg_shape_str(x_train), cg_shape_str(x_test));

    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_rmsprop_opts ro = cg_rmsprop_keras();
    cg_optim *opt = cg_rmsprop_new(params, np, &ro);
    cg_fit_opts o = ex_fit_opts(&a, 16);
    cg_history *h = opt ? ex_fit(&a, model, opt, CG_LOSS_MSE, CG_METRIC_NONE, x_train, y_train, &o) : NULL;
    if (!h) return opt ? 1 : ex_fail(&a, "cg_rmsprop_new");
    const char *png = ex_out_path(&a, "history.png");
    if (ex_root(&a)) ex_report_plot(&a, cg_history_plot(h, png, "noisy sine: SimpleRNN(32), training loss"), png);

    /* y[i] of a split is the point `step` after its window's start */
    double mse_train = plot_fit(&a, model, x_train, y_train, (double)step, "train.png",
                                "noisy sine, training points: target vs one-step forecast");
    double mse_test = plot_fit(&a, model, x_test, y_test, (double)(n_train + step), "test.png",
                               "noisy sine, test points: target vs one-step forecast");
    printf("train MSE: %.4f, test MSE: %.4f (seed %llu, %.2f s/epoch)\n", mse_train, mse_test,
           (unsigned long long)a.seed, ex_seconds_per_epoch(h));
    int rc = isnan(mse_train) || isnan(mse_test);
    cg_history_free(h);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return rc;
}
