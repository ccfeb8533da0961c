/* IMDB sentiment with a LayerNorm-LSTM (Ba et al. 2016), a cell written with
 * the public cell interface (cells/layernorm_lstm_cell.h), on the lesson
 * imdb_lstm runs with the built-in LSTM — the same data, model size and
 * training:
 *   imdb.load_data(num_words=20000); pad_sequences(maxlen=80)
 *   Embedding(20000, 128) -> RNN(LayerNormLSTMCell(128)) -> Dense(1, sigmoid)
 *   binary_crossentropy, Adam, batch 32, 2 epochs, validation on the test split
 *
 *     layernorm_lstm --data DIR [--epochs 2] [--limit N] [--seed 1] [--out out/layernorm_lstm]
 * (--help lists every flag and its default) */
#include "cells/layernorm_lstm_cell.h"
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a = {.prog = "layernorm_lstm", .takes = EX_DATA | EX_LIMIT | EX_OUT, .data_help = IMDB_DATA_HELP,
                 .limit_help = IMDB_LIMIT_HELP, .epochs = 2, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "IMDB sentiment with Embedding(128) -> LayerNorm-LSTM(128) -> Dense(1, sigmoid)");
    const int64_t num_words = 20000, maxlen = 80;

    cg_cell *cell = layernorm_lstm_cell_new(128);
    cg_module *rnn = cell ? cg_rnn_new(cell, 128, NULL) : NULL;
    if (!rnn) return ex_fail(&a, "building the LayerNorm-LSTM layer");
    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new(num_words, 128, NULL));
    cg_sequential_add(model, rnn);
    cg_sequential_add(model, cg_dense_new(128, 1, CG_ACT_SIGMOID, NULL));
    int n;
    cg_tensor **params = ex_params(model, &n);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, n, &ao);
    if (!opt) return ex_fail(&a, "cg_adam_new");
    int rc = ex_imdb_lesson(&a, model, opt, num_words, maxlen, 32, "IMDB: Embedding -> LayerNorm-LSTM(128)");

    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return rc;
}
