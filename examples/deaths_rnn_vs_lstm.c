/* SimpleRNN vs LSTM on a short real series — the lesson on deaths.csv:
 *   monthly UK deaths from lung diseases 1974-1979 (72 values), clipped at
 *   2000, standardized; each window of 7 months predicts the next month
 *   SimpleRNN(100) -> Dense(1)  vs  LSTM(100) -> Dense(1); MSE, Adam, 1000 epochs
 * The lesson's figures: both fitted curves against the data, and the final MSEs.
 *
 * Two MSE figures per model are printed: the final MSE of the trained
 * model's predictions over every window (what the figure shows), and the
 * mean training loss of the last epoch (taken while the weights moved).
 *
 *     deaths_rnn_vs_lstm --data DIR [--epochs 1000] [--clip 2000] [--seed 1] [--out out/deaths_rnn_vs_lstm]
 * (--help lists every flag and its default) */
#include "example_util.h"

/* Train one model on (x, y); its predictions (malloc'ed) go to *pred and the
 * last epoch's mean training loss to *train_loss. */
static int train(const ex_args *a, cg_module *model, cg_tensor *x, cg_tensor *y, const char *label, double **pred,
                 double *train_loss, double *sec) {
    printf("\n%s\n", label);
    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, np, &ao);
    cg_fit_opts o = ex_fit_opts(a, 32);
    cg_history *h = opt ? ex_fit(a, model, opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o) : NULL;
    cg_optim_free(opt);
    if (!h) return opt ? 1 : ex_fail(a, "cg_adam_new");
    *train_loss = cg_history_last(h, "loss");
    *sec = ex_seconds_per_epoch(h);
    cg_history_free(h);
    *pred = ex_values(cg_predict(model, x, 256));
    return *pred ? 0 : ex_fail(a, "predict");
}

/* The two models (caller frees both). */
static void build(int64_t units, cg_module **rnn, cg_module **lstm) {
    cg_rnn_opts rnn_o = {.name = "simple_rnn"};
    *rnn = cg_sequential_new("rnn_model"), *lstm = cg_sequential_new("lstm_model");
    cg_sequential_add(*rnn, cg_simple_rnn_new(1, (int)units, &rnn_o));
    cg_sequential_add(*rnn, cg_dense_new((int)units, 1, CG_ACT_LINEAR, NULL));
    cg_sequential_add(*lstm, cg_lstm_new(1, (int)units, NULL));
    cg_sequential_add(*lstm, cg_dense_new((int)units, 1, CG_ACT_LINEAR, NULL));
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "deaths_rnn_vs_lstm", .takes = EX_DATA | EX_LIMIT | EX_OUT, .data_help = "deaths.csv",
                 .limit_help = "use the first N months", .limit_min = 8, .epochs = 1000, .seed = 1};
    double clip = 2000;
    ex_flag flags[] = {{"--clip", NULL, &clip, false, 0, 1e15, "clip the series at this value first, 0: no clipping", NULL}};
    ex_parse(argc, argv, &a, flags, 1, "SimpleRNN(100) vs LSTM(100) on monthly deaths from lung diseases");
    const int64_t step = 7, units = 100;
    cg_module *rnn, *lstm;
    int rc = 1;
    if (a.epochs == 0) { /* the summaries alone */
        build(units, &rnn, &lstm);
        rc = ex_summary(&a, rnn, CG_SHAPE(step, 1)) || ex_summary(&a, lstm, CG_SHAPE(step, 1));
        cg_module_free(rnn);
        cg_module_free(lstm);
        return rc;
    }

    /* the data first: a missing or bad file stops here */
    cg_table *t = cg_read_csv(ex_data_path(&a, "deaths.csv"), NULL);
    cg_tensor *series = t ? cg_table_column(t, "value", CG_FLOAT32) : NULL;
    cg_table_free(t);
    if (!series) return ex_fail(&a, "reading deaths.csv");
    if (a.limit && a.limit < cg_numel(series)) series = cg_slice(series, 0, 0, a.limit, 1);
    if (cg_numel(series) <= step) {
        fprintf(stderr, "%s: deaths.csv has %lld months, too few for windows of %lld\n", a.prog,
                (long long)cg_numel(series), (long long)step);
        return 1;
    }
    if (clip > 0) series = cg_k_clamp(series, -INFINITY, clip);
    cg_scaler *sc = cg_scaler_new(CG_SCALE_STANDARD, 0, 1);
    cg_tensor *x, *y;
    bool ok = series && sc && cg_scaler_fit(sc, series) == CG_OK &&
              cg_timeseries_windows(cg_scaler_transform(sc, series), step, false, &x, &y) == CG_OK;
    cg_scaler_free(sc);
    if (!ok) return ex_fail(&a, "standardizing and windowing");

    build(units, &rnn, &lstm);
    double *p_rnn = NULL, *p_lstm = NULL, *target = NULL, loss_rnn, loss_lstm, s_rnn, s_lstm;
    if (ex_summary(&a, rnn, CG_SHAPE(step, 1)) || ex_summary(&a, lstm, CG_SHAPE(step, 1))) goto done;
    char clipped[64] = ", not clipped";
    if (clip > 0) snprintf(clipped, sizeof clipped, ", clipped at %g", clip);
    printf("%lld months%s, standardized -> x %s, y %s\n", (long long)cg_numel(series), clipped, cg_shape_str(x),
           cg_shape_str(y));

    if (train(&a, rnn, x, y, "SimpleRNN(100)", &p_rnn, &loss_rnn, &s_rnn) ||
        train(&a, lstm, x, y, "LSTM(100)", &p_lstm, &loss_lstm, &s_lstm))
        goto done;
    if (!(target = ex_values(y))) {
        ex_fail(&a, "reading y");
        goto done;
    }
    /* y[i] is month i + step + 1 of the series (1 = January 1974) */
    cg_plot_line lines[3] = {{.name = "data", .y = target, .color = 8},
                             {.name = "SimpleRNN", .y = p_rnn, .color = 1},
                             {.name = "LSTM", .y = p_lstm, .color = 2}};
    cg_plot_opts po = {.title = "UK deaths from lung diseases: data vs one-step predictions",
                       .xlabel = "month (1 = January 1974)", .ylabel = "deaths (standardized)",
                       .x0 = (double)step + 1};
    const char *png = ex_out_path(&a, "fit.png");
    if (ex_root(&a)) ex_report_plot(&a, cg_plot(png, lines, 3, cg_numel(y), &po), png);
    printf("final MSE: SimpleRNN %.4f, LSTM %.4f (the trained models' one-step predictions on all %lld windows, "
           "standardized units)\n", ex_mse(target, p_rnn, cg_numel(y)), ex_mse(target, p_lstm, cg_numel(y)),
           (long long)cg_numel(y));
    printf("mean training loss of the last epoch: SimpleRNN %.4f, LSTM %.4f (seed %llu; %.3f / %.3f s/epoch)\n",
           loss_rnn, loss_lstm, (unsigned long long)a.seed, s_rnn, s_lstm);
    rc = 0;
done:
    free(target), free(p_rnn), free(p_lstm);
    cg_module_free(rnn);
    cg_module_free(lstm);
    cg_cleanup();
    return rc;
}
