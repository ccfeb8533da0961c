/* IMDB sentiment with an IRNN (Le, Jaitly & Hinton 2015: a ReLU SimpleRNN
 * whose recurrent kernel starts as the identity) — the Keras lesson:
 *   imdb.load_data(num_words=20000); pad_sequences(maxlen=30)
 *   Embedding(20000, 50) -> SimpleRNN(5, activation="relu",
 *       kernel_initializer=RandomNormal(stddev=0.001), recurrent_initializer=Identity())
 *   -> Dense(1, sigmoid); binary_crossentropy, RMSprop(lr=1e-4), batch 32, 10 epochs
 * The lesson's figure: test accuracy 0.789.
 *
 *     imdb_irnn --data DIR [--epochs 10] [--limit N] [--seed 1] [--out out/imdb_irnn]
 * (--help lists every flag and its default) */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a = {.prog = "imdb_irnn", .takes = EX_DATA | EX_LIMIT | EX_OUT, .data_help = IMDB_DATA_HELP,
                 .limit_help = IMDB_LIMIT_HELP, .epochs = 10, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "IMDB sentiment with an identity-initialized ReLU SimpleRNN(5)");
    const int64_t num_words = 20000, maxlen = 30;

    cg_rnn_opts ro = {.activation = CG_ACT_RELU,
                      .kernel_init = cg_init_normal(0.001),
                      .recurrent_init = cg_init_identity(1.0)};
    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new(num_words, 50, NULL));
    cg_sequential_add(model, cg_simple_rnn_new(50, 5, &ro));
    cg_sequential_add(model, cg_dense_new(5, 1, CG_ACT_SIGMOID, NULL));
    int n;
    cg_tensor **params = ex_params(model, &n);
    cg_rmsprop_opts opt_o = cg_rmsprop_keras();
    opt_o.lr = 1e-4;
    cg_optim *opt = cg_rmsprop_new(params, n, &opt_o);
    if (!opt) return ex_fail(&a, "cg_rmsprop_new");
    int rc = ex_imdb_lesson(&a, model, opt, num_words, maxlen, 32, "IMDB: Embedding -> IRNN(5)");

    cg_optim_free(opt);
    cg_module_free(model);
    cg_cleanup();
    return rc;
}
