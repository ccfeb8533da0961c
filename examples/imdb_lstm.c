/* IMDB sentiment with an LSTM — the Keras lesson imdb_lstm:
 *   imdb.load_data(num_words=20000); pad_sequences(maxlen=80)
 *   Embedding(20000, 128) -> LSTM(128) -> Dense(1, sigmoid)
 *   binary_crossentropy, Adam, batch 32, 2 epochs, validation on the test split
 * The lesson's figure: test accuracy 0.82 (0.84 after epoch 1).
 *
 *     imdb_lstm --data DIR [--epochs 2] [--limit N] [--seed 1] [--out out/imdb_lstm]
 * (--help lists every flag and its default) */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a = {.prog = "imdb_lstm", .takes = EX_DATA | EX_LIMIT | EX_OUT, .data_help = IMDB_DATA_HELP,
                 .limit_help = IMDB_LIMIT_HELP, .epochs = 2, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "IMDB sentiment with Embedding(128) -> LSTM(128) -> Dense(1, sigmoid)");
    const int64_t num_words = 20000, maxlen = 80;

    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new(num_words, 128, NULL));
    cg_sequential_add(model, cg_lstm_new(128, 128, NULL));
    cg_sequential_add(model, cg_dense_new(128, 1, CG_ACT_SIGMOID, NULL));
    int n;
    cg_tensor **params = ex_params(model, &n);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, n, &ao);
    if (!opt) return ex_fail(&a, "cg_adam_new");
    int rc = ex_imdb_lesson(&a, model, opt, num_words, maxlen, 32, "IMDB: Embedding -> LSTM(128)");

    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return rc;
}
