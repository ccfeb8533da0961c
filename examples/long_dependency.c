/* Long time dependencies: SimpleRNN vs LSTM vs GRU on the multiplication
 * problem of Hochreiter & Schmidhuber (1997) — the lesson:
 *   1000 sequences of 100 steps, 2 features: a U(0,1) value and a marker
 *   that is 1 at two steps; the target is the product of the two marked values
 *   each model: RNN(30, return_sequences) -> RNN(30) -> Dense(1); MSE, Adam,
 *   batch 32, validation_split 0.2, 200 epochs
 * The lesson's figure: the loss curves. GRU and LSTM end with val_loss < 0.01
 * while the SimpleRNN stays near the variance of the target (~0.05).
 *
 * loss.png draws each model in its own colour, loss solid and val_loss dashed,
 * on a log axis, with the variance of the validation targets (the error of
 * always predicting their mean) as a dashed grey line.
 *
 *     long_dependency [--epochs 200] [--limit 1000] [--steps 100] [--seed 1] [--out out/long_dependency]
 * (--help lists every flag and its default) */
#include "example_util.h"

static cg_module *stacked(cg_rnn_kind kind, const char *name, int units) {
    cg_module *(*make)(int, int, const cg_rnn_opts *) =
        kind == CG_LSTM ? cg_lstm_new : kind == CG_GRU ? cg_gru_new : cg_simple_rnn_new;
    cg_rnn_opts first = {.return_sequences = true}, second = {0};
    cg_module *m = cg_sequential_new(name);
    cg_sequential_add(m, make(2, units, &first));
    cg_sequential_add(m, make(units, units, &second));
    cg_sequential_add(m, cg_dense_new(units, 1, CG_ACT_LINEAR, NULL));
    return m;
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "long_dependency", .takes = EX_LIMIT | EX_OUT,
                 .limit_help = "sequences to make (the last 20% validate)", .limit_min = 10, .limit_zero = "1000",
                 .epochs = 200, .seed = 1};
    double steps = 100;
    ex_flag flags[] = {{"--steps", NULL, &steps, true, 2, 100000, "sequence length", NULL}};
    ex_parse(argc, argv, &a, flags, 1, "SimpleRNN vs LSTM vs GRU on the multiplication problem");
    const int64_t n = a.limit ? a.limit : 1000, T = (int64_t)steps;
    const char *names[3] = {"SimpleRNN", "LSTM", "GRU"};
    cg_module *models[3] = {stacked(CG_SIMPLE_RNN, "simple_rnn_model", 30), stacked(CG_LSTM, "lstm_model", 30),
                            stacked(CG_GRU, "gru_model", 30)};
    cg_tensor *x = NULL, *y = NULL; /* the data before anything else is printed */
    if (a.epochs > 0 && cg_multiplication_problem(NULL, CG_FLOAT32, n, T, &x, &y) != CG_OK)
        return ex_fail(&a, "making the data");
    for (int i = 0; i < 3; i++)
        if (ex_summary(&a, models[i], CG_SHAPE(T, 2))) return 1;
    if (a.epochs == 0) return 0;
    cg_tensor *yv = cg_slice(y, 0, n - n / 5, n, 1);
    double var = cg_item(cg_k_reduce(CG_MEAN, cg_k_unary(CG_SQUARE, cg_k_binary(CG_SUB, yv,
                            cg_k_reduce(CG_MEAN, yv, NULL, 0, false))), NULL, 0, false));
    printf("x %s, y %s; variance of the validation targets %.4f\n", cg_shape_str(x), cg_shape_str(y), var);

    double *curves[7] = {0}, final[3];
    cg_plot_line lines[7];
    char name_buf[6][48];
    for (int i = 0; i < 3; i++) {
        printf("\n%s x 2\n", names[i]);
        int np;
        cg_tensor **params = ex_params(models[i], &np);
        cg_adam_opts ao = cg_adam_keras();
        cg_optim *opt = cg_adam_new(params, np, &ao);
        cg_fit_opts o = ex_fit_opts(&a, 32);
        o.validation_split = 0.2;
        cg_history *h = opt ? ex_fit(&a, models[i], opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o) : NULL;
        cg_optim_free(opt);
        if (!h) return opt ? 1 : ex_fail(&a, "cg_adam_new");
        final[i] = cg_history_last(h, "val_loss");
        printf("%s: val_loss %.4f, %.2f s/epoch\n", names[i], final[i], ex_seconds_per_epoch(h));
        ex_loss_lines(h, names[i], i + 1, curves + 2 * i, name_buf + 2 * i, lines + 2 * i);
        cg_history_free(h);
    }
    ex_level_line(var, a.epochs, "variance of the validation targets", &curves[6], &lines[6]);
    cg_plot_opts po = {.title = "multiplication problem: two stacked layers of 30 units each",
                       .xlabel = "epoch", .ylabel = "mean squared error", .x0 = 1};
    const char *png = ex_out_path(&a, "loss.png");
    if (ex_root(&a)) ex_report_plot(&a, cg_plot(png, lines, 7, a.epochs, &po), png);
    printf("val_loss: SimpleRNN %.4f, LSTM %.4f, GRU %.4f (target variance %.4f; seed %llu)\n", final[0], final[1],
           final[2], var, (unsigned long long)a.seed);
    for (int i = 0; i < 7; i++) free(curves[i]);
    for (int i = 0; i < 3; i++) cg_module_free(models[i]);
    cg_cleanup();
    return 0;
}
