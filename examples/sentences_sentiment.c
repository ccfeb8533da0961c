/* Sentiment of short restaurant reviews with a one-unit SimpleRNN — the lesson
 * on the UCI Yelp sentences (yelp_labelled.txt, 1000 sentences, 1 = positive):
 *   a vocabulary ranked by word frequency (Keras Tokenizer) on the first 900
 *   sentences; each sentence padded (post) or cut to 10 words
 *   Embedding(vocab, 64) -> SimpleRNN(1, sigmoid, recurrent kernel zeros)
 *   -> Dense(1, sigmoid); binary_crossentropy, Adam, 500 epochs on the first 900
 * The lesson's figure: the accuracy on the last 100 sentences.
 *
 *     sentences_sentiment --data DIR [--epochs 500] [--limit 1000] [--seed 1] [--out out/sentences_sentiment]
 * (--help lists every flag and its default) */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a = {.prog = "sentences_sentiment", .takes = EX_DATA | EX_LIMIT | EX_OUT,
                 .data_help = "sentiment_labelled_sentences/yelp_labelled.txt",
                 .limit_help = "use the first N sentences (the last tenth of them test)", .limit_min = 10,
                 .epochs = 500, .seed = 1};
    ex_parse(argc, argv, &a, NULL, 0, "Yelp sentence sentiment with Embedding(64) -> SimpleRNN(1) -> Dense(1)");
    const int64_t maxlen = 10;

    cg_text_corpus *c = cg_read_tsv(ex_data_path(&a, "sentiment_labelled_sentences/yelp_labelled.txt"), NULL);
    if (!c) return ex_fail(&a, "reading yelp_labelled.txt");
    const int64_t n = a.limit && a.limit < c->n ? a.limit : c->n, n_train = n * 9 / 10;
    cg_tokenizer *tk = cg_tokenizer_new(NULL);
    cg_sequences *seq = NULL;
    if (!tk || cg_tokenizer_fit(tk, c->texts, n_train) != CG_OK ||
        !(seq = cg_tokenizer_texts_to_sequences(tk, c->texts, n)))
        return ex_fail(&a, "tokenizing");
    const int64_t vocab = cg_tokenizer_vocab_size(tk) + 1;
    cg_tensor *x = cg_pad_sequences(seq, maxlen, CG_PAD_POST, CG_PAD_POST, 0);
    cg_tensor *y = ex_float_labels(cg_slice(cg_text_corpus_labels(c), 0, 0, n, 1));
    if (!x || !y) return ex_fail(&a, "padding");
    printf("%lld sentences, vocabulary of %lld words; \"%s\" -> ", (long long)n, (long long)vocab - 1, c->texts[0]);
    cg_print(cg_select(x, 0, 0));

    cg_rnn_opts ro = {.activation = CG_ACT_SIGMOID, .recurrent_init = cg_init_zeros()};
    cg_module *model = cg_sequential_new(NULL);
    cg_sequential_add(model, cg_embedding_new((int)vocab, 64, NULL));
    cg_sequential_add(model, cg_simple_rnn_new(64, 1, &ro));
    cg_sequential_add(model, cg_dense_new(1, 1, CG_ACT_SIGMOID, NULL));
    if (ex_summary(&a, model, CG_SHAPE(maxlen))) return 1;
    if (a.epochs == 0) return 0;

    int np;
    cg_tensor **params = ex_params(model, &np);
    cg_adam_opts ao = cg_adam_keras();
    cg_optim *opt = cg_adam_new(params, np, &ao);
    cg_fit_opts o = ex_fit_opts(&a, 32);
    cg_tensor *x_train = cg_slice(x, 0, 0, n_train, 1), *y_train = cg_slice(y, 0, 0, n_train, 1);
    cg_history *h = opt ? ex_fit(&a, model, opt, CG_LOSS_BINARY_CROSSENTROPY, CG_METRIC_ACCURACY, x_train, y_train, &o)
                        : NULL;
    if (!h) return opt ? 1 : ex_fail(&a, "cg_adam_new");
    const char *png = ex_out_path(&a, "history.png");
    if (ex_root(&a))
        ex_report_plot(&a, cg_history_plot(h, png, "Yelp sentences: Embedding -> SimpleRNN(1), training on the first 90%"),
                       png);

    cg_eval_result r = cg_evaluate(model, CG_LOSS_BINARY_CROSSENTROPY, CG_METRIC_ACCURACY,
                                   cg_slice(x, 0, n_train, n, 1), cg_slice(y, 0, n_train, n, 1), 32);
    if (r.status != CG_OK) return ex_fail(&a, "evaluate");
    printf("training accuracy %.4f\ntest accuracy: %.4f on the last %lld sentences (seed %llu, %.3f s/epoch)\n",
           cg_history_last(h, "accuracy"), r.metric, (long long)(n - n_train), (unsigned long long)a.seed,
           ex_seconds_per_epoch(h));
    cg_history_free(h);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_sequences_free(seq);
    cg_tokenizer_free(tk);
    cg_text_corpus_free(c);
    cg_cleanup();
    return 0;
}
