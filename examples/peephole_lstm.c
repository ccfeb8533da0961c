/* A peephole LSTM (Gers & Schmidhuber 2000), a cell written with the public
 * cell interface (cells/peephole_lstm_cell.h), against the built-in LSTM on
 * the long-dependency lesson of long_dependency.c — the same data and
 * training:
 *   1000 sequences of 100 steps, 2 features: a U(0,1) value and a marker
 *   that is 1 at two steps; the target is the product of the two marked values
 *   each model: RNN(30, return_sequences) -> RNN(30) -> Dense(1); MSE, Adam,
 *   batch 32, validation_split 0.2, 200 epochs
 * Both models see the same data (made first, from --seed) and the same
 * shuffling.
 *
 * loss.png draws each model in its own colour, loss solid and val_loss
 * dashed, with the variance of the validation targets as a dashed grey line.
 *
 *     peephole_lstm [--epochs 200] [--limit 1000] [--steps 100] [--seed 1] [--out out/peephole_lstm]
 * (--help lists every flag and its default) */
#include "cells/peephole_lstm_cell.h"
#include "example_util.h"

/* A sequence layer running a peephole cell (NULL with the error on failure). */
static cg_module *peephole_layer(int in, int units, const cg_rnn_opts *o) {
    cg_cell *c = peephole_lstm_cell_new(units);
    return c ? cg_rnn_new(c, in, o) : NULL;
}

/* RNN(30, return_sequences) -> RNN(30) -> Dense(1) with peephole or built-in LSTM layers. */
static cg_module *stacked(bool peephole, const char *name, int units) {
    cg_rnn_opts first = {.return_sequences = true}, second = {0};
    cg_module *l1 = peephole ? peephole_layer(2, units, &first) : cg_lstm_new(2, units, &first);
    cg_module *l2 = l1 ? (peephole ? peephole_layer(units, units, &second) : cg_lstm_new(units, units, &second)) : NULL;
    if (!l1 || !l2) {
        cg_module_free(l1);
        cg_module_free(l2);
        return NULL;
    }
    cg_module *m = cg_sequential_new(name);
    cg_sequential_add(m, l1);
    cg_sequential_add(m, l2);
    cg_sequential_add(m, cg_dense_new(units, 1, CG_ACT_LINEAR, NULL));
    return m;
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "peephole_lstm", .takes = EX_LIMIT | EX_OUT,
                 .limit_help = "sequences to make (the last 20% validate)", .limit_min = 10, .limit_zero = "1000",
                 .epochs = 200, .seed = 1};
    double steps = 100;
    ex_flag flags[] = {{"--steps", NULL, &steps, true, 2, 100000, "sequence length", NULL}};
    ex_parse(argc, argv, &a, flags, 1, "peephole LSTM vs LSTM on the multiplication problem");
    const int64_t n = a.limit ? a.limit : 1000, T = (int64_t)steps;
    const char *names[2] = {"PeepholeLSTM", "LSTM"};

    /* the data first (before the models draw their weights) */
    cg_tensor *x = NULL, *y = NULL;
    if (a.epochs > 0 && cg_multiplication_problem(NULL, CG_FLOAT32, n, T, &x, &y) != CG_OK)
        return ex_fail(&a, "making the data");
    cg_module *models[2] = {stacked(true, "peephole_lstm_model", 30), stacked(false, "lstm_model", 30)};
    int rc = 1;
    double *curves[5] = {0}, final[2];
    if (!models[0] || !models[1]) {
        ex_fail(&a, "building the models");
        goto done;
    }
    if (ex_summary(&a, models[0], CG_SHAPE(T, 2)) || ex_summary(&a, models[1], CG_SHAPE(T, 2))) goto done;
    if (a.epochs == 0) {
        rc = 0;
        goto done;
    }
    cg_tensor *yv = cg_slice(y, 0, n - n / 5, n, 1);
    double var = cg_item(cg_k_reduce(CG_MEAN, cg_k_unary(CG_SQUARE, cg_k_binary(CG_SUB, yv,
                            cg_k_reduce(CG_MEAN, yv, NULL, 0, false))), NULL, 0, false));
    printf("x %s, y %s; variance of the validation targets %.4f\n", cg_shape_str(x), cg_shape_str(y), var);

    cg_plot_line lines[5];
    char name_buf[4][48];
    for (int i = 0; i < 2; i++) {
        printf("\n%s x 2\n", names[i]);
        int np;
        cg_tensor **params = ex_params(models[i], &np);
        cg_adam_opts ao = cg_adam_keras();
        cg_optim *opt = cg_adam_new(params, np, &ao);
        cg_fit_opts o = ex_fit_opts(&a, 32);
        o.validation_split = 0.2;
        cg_history *h = opt ? ex_fit(&a, models[i], opt, CG_LOSS_MSE, CG_METRIC_NONE, x, y, &o) : NULL;
        cg_optim_free(opt);
        if (!h) {
            if (!opt) ex_fail(&a, "cg_adam_new");
            goto done;
        }
        final[i] = cg_history_last(h, "val_loss");
        printf("%s: val_loss %.4f, %.2f s/epoch\n", names[i], final[i], ex_seconds_per_epoch(h));
        ex_loss_lines(h, names[i], i + 1, curves + 2 * i, name_buf + 2 * i, lines + 2 * i);
        cg_history_free(h);
    }
    ex_level_line(var, a.epochs, "variance of the validation targets", &curves[4], &lines[4]);
    cg_plot_opts po = {.title = "multiplication problem: peephole LSTM vs LSTM, two layers of 30 units",
                       .xlabel = "epoch", .ylabel = "mean squared error", .x0 = 1};
    const char *png = ex_out_path(&a, "loss.png");
    if (ex_root(&a)) ex_report_plot(&a, cg_plot(png, lines, 5, a.epochs, &po), png);
    printf("val_loss: PeepholeLSTM %.4f, LSTM %.4f (target variance %.4f; seed %llu)\n", final[0], final[1], var,
           (unsigned long long)a.seed);
    rc = 0;
done:
    for (int i = 0; i < 5; i++) free(curves[i]);
    for (int i = 0; i < 2; i++) cg_module_free(models[i]);
    cg_cleanup();
    return rc;
}
