/* IMDB sentiment with a SimpleRNN — the Keras lesson:
 *   imdb.load_data(num_words=10000); pad_sequences(maxlen=40)
 *   Embedding(10000, 128) -> SimpleRNN(32) -> Dense(1, sigmoid)
 *   binary_crossentropy, Adam, batch 32, 3 epochs, validation on the test split
 * The lesson's figure: test accuracy 0.76.
 *
 *     imdb_simple_rnn --data DIR [--epochs 3] [--limit N] [--seed 1] [--out out/imdb_simple_rnn]
 * (--help lists every flag and its default) */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a = {.prog = "imdb_simple_rnn", .takes = EX_DATA | EX_LIMIT | EX_OUT, .data_help = IMDB_DATA_HELP,
                 .limit_help = IMDB_LIMIT_HELP, .epochs = 3, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "IMDB sentiment with Embedding(128) -> SimpleRNN(32) -> Dense(1, sigmoid)");
    const int64_t num_words = 10000, maxlen = 40;

    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new(num_words, 128, NULL));
    cg_sequential_add(model, cg_simple_rnn_new(128, 32, NULL));
    cg_sequential_add(model, cg_dense_new(32, 1, CG_ACT_SIGMOID, NULL));
    int n;
    cg_tensor **params = ex_params(model, &n);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, n, &ao);
    if (!opt) return ex_fail(&a, "cg_adam_new");
    int rc = ex_imdb_lesson(&a, model, opt, num_words, maxlen, 32, "IMDB: Embedding -> SimpleRNN(32)");

    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return rc;
}
