/* SimpleRNN vs LSTM on a short real series — the lesson on deaths.csv:
 *   monthly UK deaths from lung diseases 1974-1979 (72 values), clipped at
 *   2000, standardized; each window of 7 months predicts the next month
 *   SimpleRNN(100) -> Dense(1)  vs  LSTM(100) -> Dense(1); MSE, Adam, 1000 epochs
 * The lesson's figures: both fitted curves against the data, and the final MSEs.
 *
 *     deaths_rnn_vs_lstm --data DIR [--epochs 1000] [--clip 2000] [--seed 1] [--out out/deaths_rnn_vs_lstm] */
#include "example_util.h"

/* Train one model on (x, y); its predictions (malloc'ed) go to *pred. */
static int train(const ex_args *a, cg_module *model, cg_tensor *x, cg_tensor *y, const char *label, double **pred,
                 double *mse, double *sec) {
    printf("\n%s\n", label);
    int np, every;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, np, &ao);
    cg_callback cb;
    cg_fit_opts o = ex_fit_opts(a, 32, &cb, &every);
    cg_history *h = opt ? ex_fit(a, model, opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o) : NULL;
    cg_optim_free(opt);
    if (!h) return opt ? 1 : ex_fail(a, "cg_adam_new");
    *mse = cg_history_last(h, "loss");
    *sec = ex_seconds_per_epoch(h);
    cg_history_free(h);
    *pred = ex_values(cg_predict(model, x, 256));
    return *pred ? 0 : ex_fail(a, "predict");
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "deaths_rnn_vs_lstm", .epochs = 1000, .seed = 1};
    double clip = 2000;
    ex_flag flags[] = {{"--clip", NULL, &clip, "clip the series at this value first (0: no clipping)"}};
    ex_parse(argc, argv, &a, flags, 1, "SimpleRNN(100) vs LSTM(100) on monthly deaths from lung diseases");
    const int64_t step = 7, units = 100;

    cg_rnn_opts rnn_o = {.name = "simple_rnn"};
    cg_module *rnn = cg_sequential_new("rnn_model"), *lstm = cg_sequential_new("lstm_model");
    cg_sequential_add(rnn, cg_simple_rnn_new(1, units, &rnn_o));
    cg_sequential_add(rnn, cg_dense_new(units, 1, CG_ACT_LINEAR, NULL));
    cg_sequential_add(lstm, cg_lstm_new(1, units, NULL));
    cg_sequential_add(lstm, cg_dense_new(units, 1, CG_ACT_LINEAR, NULL));
    if (cg_summary(rnn, CG_SHAPE(step, 1), stdout) != CG_OK) return ex_fail(&a, "cg_summary");
    ex_summary(&a, lstm, CG_SHAPE(step, 1));

    cg_table *t = cg_read_csv(ex_data_path(&a, "deaths.csv"), NULL);
    cg_tensor *series = t ? cg_table_column(t, "value", CG_FLOAT32) : NULL;
    cg_table_free(t);
    if (!series) return ex_fail(&a, "reading deaths.csv");
    if (a.limit && a.limit < cg_numel(series)) series = cg_slice(series, 0, 0, a.limit, 1);
    if (clip > 0) series = cg_k_clamp(series, -INFINITY, clip);
    cg_scaler *sc = cg_scaler_new(CG_SCALE_STANDARD, 0, 1);
    cg_tensor *x, *y;
    if (!series || !sc || cg_scaler_fit(sc, series) != CG_OK ||
        cg_timeseries_windows(cg_scaler_transform(sc, series), step, false, &x, &y) != CG_OK)
        return ex_fail(&a, "standardizing and windowing");
    cg_scaler_free(sc);
    printf("%lld months%s -> x %s, y %s\n", (long long)cg_numel(series), clip > 0 ? " (clipped)" : "",
           cg_shape_str(x), cg_shape_str(y));

    double *p_rnn = NULL, *p_lstm = NULL, mse_rnn, mse_lstm, s_rnn, s_lstm;
    if (train(&a, rnn, x, y, "SimpleRNN(100)", &p_rnn, &mse_rnn, &s_rnn) ||
        train(&a, lstm, x, y, "LSTM(100)", &p_lstm, &mse_lstm, &s_lstm))
        return 1;
    double *target = ex_values(y);
    if (!target) return ex_fail(&a, "reading y");
    const char *names[3] = {"data (standardized)", "SimpleRNN", "LSTM"};
    const double *ys[3] = {target, p_rnn, p_lstm};
    const char *png = ex_out_path(&a, "fit.png");
    if (ex_root(&a))
        ex_report_plot(&a, cg_plot_lines(png, "deaths: data vs one-step predictions", names, ys, 3, cg_numel(y)), png);
    printf("final MSE: SimpleRNN %.4f, LSTM %.4f (training loss %.4f / %.4f; seed %llu; %.3f / %.3f s/epoch)\n",
           ex_mse(target, p_rnn, cg_numel(y)), ex_mse(target, p_lstm, cg_numel(y)), mse_rnn, mse_lstm,
           (unsigned long long)a.seed, s_rnn, s_lstm);
    free(target), free(p_rnn), free(p_lstm);
    cg_module_free(rnn);
    cg_module_free(lstm);
    cg_cleanup();
    return 0;
}
