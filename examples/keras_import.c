/* A model Keras trained, in cgrad: an IMDB sentiment LSTM saved by Keras 3
 * (model.save("imdb.keras")) and its Tokenizer (tokenizer.to_json()):
 *   load both, evaluate on the aclImdb test split with Keras' word ids,
 *   fine-tune one epoch with Keras' Adam continued from the optimizer state
 *   in the file, evaluate again, and save a .keras file Keras opens again.
 * The default model and tokenizer are the small ones that
 * tests/reference/keras_fixtures.py --data DIR trained with Keras on 5,000
 * reviews (Embedding(1000, 16) -> LSTM(16) -> Dense(1, sigmoid), maxlen 80).
 *
 *     keras_import --data DIR [--model FILE.keras] [--tokenizer FILE.json] [--epochs 1]
 *                  [--limit N] [--seed 1] [--out out/keras_import]
 * (--help lists every flag and its default) */
#include "example_util.h"

#ifndef CGRAD_FIXTURES
#define CGRAD_FIXTURES "tests/reference/fixtures"
#endif

/* Keras' word ids of texts, padded and cut at the front to maxlen, as
 * pad_sequences does by default. */
static cg_tensor *encode(const ex_args *a, const cg_tokenizer *tk, const cg_text_corpus *c, int64_t maxlen) {
    cg_sequences *seq = cg_tokenizer_texts_to_sequences(tk, c->texts, c->n);
    if (!seq) exit(ex_fail(a, "texts_to_sequences"));
    cg_tensor *x = cg_pad_sequences(seq, maxlen, CG_PAD_PRE, CG_PAD_PRE, 0);
    cg_sequences_free(seq);
    if (!x) exit(ex_fail(a, "pad_sequences"));
    return x;
}

int main(int argc, char **argv) {
    ex_args a = {.prog = "keras_import", .takes = EX_DATA | EX_LIMIT | EX_OUT, .data_help = IMDB_DATA_HELP,
                 .limit_help = IMDB_LIMIT_HELP, .epochs = 1, .seed = 1};
    const char *model_path = CGRAD_FIXTURES "/keras_imdb_example.keras";
    const char *tok_path = CGRAD_FIXTURES "/keras_imdb_example_tokenizer.json";
    ex_flag flags[] = {{"--model", &model_path, NULL, false, 0, 0,
                        "the .keras (or .h5) file Keras saved (default: tests/reference/fixtures/keras_imdb_example.keras)",
                        "PATH"},
                       {"--tokenizer", &tok_path, NULL, false, 0, 0,
                        "its Tokenizer.to_json() file (default: tests/reference/fixtures/keras_imdb_example_tokenizer.json)",
                        "PATH"}};
    ex_parse(argc, argv, &a, flags, 2, "an IMDB LSTM trained by Keras: evaluate, fine-tune, save for Keras");

    cg_keras_extra ex;
    cg_module *model = cg_keras_load(model_path, &ex);
    if (!model) return ex_fail(&a, "cg_keras_load");
    printf("loaded %s (written by Keras %s; %s, %lld steps taken; loss %s)\n", model_path,
           ex.keras_version[0] ? ex.keras_version : "?", ex.optimizer[0] ? ex.optimizer : "no optimizer",
           (long long)ex.iterations, ex.loss[0] ? ex.loss : "?");
    if (ex.input_ndim != 1 || ex.input_shape[0] < 1 || !ex.int_input) {
        fprintf(stderr, "%s: %s does not take a fixed number of word ids\n", a.prog, model_path);
        return 1;
    }
    int64_t maxlen = ex.input_shape[0];
    if (a.epochs == 0) { /* summary only */
        cg_status st = cg_summary(model, ex.input_shape, ex.input_ndim, stdout);
        cg_keras_extra_free(&ex);
        cg_module_free(model);
        cg_cleanup();
        return st == CG_OK ? 0 : ex_fail(&a, "cg_summary");
    }
    cg_loss loss;
    if (!cg_keras_loss(&ex, &loss) || loss != CG_LOSS_BINARY_CROSSENTROPY) {
        fprintf(stderr, "%s: the model was not compiled with binary_crossentropy (it says '%s')\n", a.prog, ex.loss);
        return 1;
    }
    cg_tokenizer *tk = cg_tokenizer_load_keras(tok_path);
    if (!tk) return ex_fail(&a, "cg_tokenizer_load_keras");

    /* aclImdb, with Keras' word ids (read before the summary: a data error
     * stops here) */
    cg_text_corpus *train = NULL, *test = NULL;
    if (cg_aclimdb_read(ex_aclimdb_path(&a), &train, &test) != CG_OK) return ex_fail(&a, "reading aclImdb");
    int64_t lim = a.limit;
    const char **texts = lim ? malloc(2 * (size_t)lim * sizeof *texts) : NULL;
    int64_t *labels = lim ? malloc(2 * (size_t)lim * sizeof *labels) : NULL;
    cg_text_corpus tr = ex_corpus_subset(train, lim, texts, labels);
    cg_text_corpus te = ex_corpus_subset(test, lim, texts ? texts + lim : NULL, labels ? labels + lim : NULL);
    cg_tensor *x_train = encode(&a, tk, &tr, maxlen), *x_test = encode(&a, tk, &te, maxlen);
    cg_tensor *y_train = ex_float_labels(cg_text_corpus_labels(&tr)), *y_test = ex_float_labels(cg_text_corpus_labels(&te));
    if (ex_summary(&a, model, ex.input_shape, ex.input_ndim)) return 1;
    printf("aclImdb: %lld train and %lld test reviews, %lld word ids each\n", (long long)tr.n, (long long)te.n,
           (long long)maxlen);

    cg_eval_result before = cg_evaluate(model, loss, CG_METRIC_ACCURACY, x_test, y_test, 256);
    if (before.status != CG_OK) return ex_fail(&a, "evaluate");
    printf("as Keras trained it: test loss %.4f, test accuracy %.4f\n", before.loss, before.metric);

    /* one more epoch with Keras' Adam, continued from the file's state */
    cg_optim *opt = cg_keras_optimizer_new(model, &ex);
    if (!opt) return ex_fail(&a, "cg_keras_optimizer_new");
    cg_fit_opts fo = ex_fit_opts(&a, 32);
    cg_history *h = ex_fit(&a, model, opt, loss, CG_METRIC_ACCURACY, x_train, y_train, &fo);
    if (!h) return 1;
    cg_history_free(h);
    cg_eval_result after = cg_evaluate(model, loss, CG_METRIC_ACCURACY, x_test, y_test, 256);
    if (after.status != CG_OK) return ex_fail(&a, "evaluate");
    printf("fine-tuned in cgrad: test loss %.4f, test accuracy %.4f\n", after.loss, after.metric);

    /* back to Keras, with the optimizer's state */
    if (cg_keras_optimizer_state(opt, model, &ex) != CG_OK) return ex_fail(&a, "cg_keras_optimizer_state");
    const char *out = ex_out_path(&a, "imdb_fine_tuned.keras");
    if (ex_root(&a) && cg_keras_save(model, out, &ex) != CG_OK) return ex_fail(&a, "cg_keras_save");
    printf("saved %s (%lld optimizer steps): keras.models.load_model opens it\n", out, (long long)ex.iterations);

    cg_optim_free(opt);
    free(texts);
    free(labels);
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
    cg_tokenizer_free(tk);
    cg_keras_extra_free(&ex);
    cg_module_free(model);
    cg_cleanup();
    return 0;
}
