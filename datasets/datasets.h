/*
 * cgrad/datasets.h — loaders, Keras-semantics text preprocessing, time-series
 * windows, synthetic data and batching. Produces tensors; knows nothing of
 * gradients or layers.
 *
 * IMDB sentiment in the shape of keras.datasets.imdb.load_data:
 *
 *     cg_imdb_options o = cg_imdb_defaults();
 *     o.num_words = 10000;
 *     cg_imdb *d = cg_imdb_load(getenv("CGRAD_DATA"), &o);   // dir or .tar.gz
 *     if (!d) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
 *     cg_tensor *x = cg_pad_sequences(d->x_train, 500, CG_PAD_PRE, CG_PAD_PRE, 0);
 *     cg_tensor *xt, *yt, *xv, *yv;                     // Keras' validation_split=0.2:
 *     cg_train_val_split(x, d->y_train, 0.2, &xt, &yt, &xv, &yv);   // the last 20%
 *     cg_batcher *b = cg_batcher_new(xt, yt, 32, true, 42, false);
 *     for (int epoch = 0; epoch < 10; epoch++) {
 *         cg_batcher_start_epoch(b, epoch);             // seeded: same order on re-run
 *         for (int64_t i = 0; i < cg_batcher_len(b); i++) {
 *             cg_scope *s = cg_scope_begin();
 *             cg_tensor *xb, *yb;
 *             cg_batcher_get(b, i, &xb, &yb);           // xb int64 [32, 500], yb int64 [32]
 *             ...                                       // forward, backward, step
 *             cg_scope_end(s);
 *         }
 *     }
 *     cg_batcher_free(b);
 *     cg_imdb_free(d);
 *
 * Your own texts with a Keras Tokenizer:
 *
 *     cg_tokenizer *tk = cg_tokenizer_new(NULL);          // Keras defaults
 *     cg_tokenizer_fit(tk, texts, n);
 *     cg_sequences *seq = cg_tokenizer_texts_to_sequences(tk, texts, n);
 *     cg_tensor *x = cg_pad_sequences(seq, 100, CG_PAD_POST, CG_PAD_POST, 0);
 *
 * A time series from a CSV column, as in the forecasting lessons:
 *
 *     cg_table *t = cg_read_csv(path, NULL);                    // header row, quoted fields
 *     cg_tensor *v = cg_table_column(t, "value", CG_FLOAT32);   // [72]
 *     cg_tensor *x, *y;
 *     cg_timeseries_windows(v, 12, true, &x, &y);               // x [72, 12, 1], y [72, 1]
 *
 * Ownership: objects made by a *_new / cg_read_* / *_load function (tokenizer,
 * sequences, text corpus, table, scaler, batcher, imdb) belong to the caller
 * and are released with their *_free (NULL is accepted). Tensors returned by
 * functions are allocated in the current scope unless stated otherwise.
 *
 * Errors follow tensor.h: NULL or a cg_status, with cg_last_error() naming
 * the function, and for files the path and line:
 *     "cg_read_tsv: data/x.tsv:17: no tab between sentence and label".
 * A missing file or folder is CG_ERR_IO, malformed content CG_ERR_PARSE.
 * Invalid UTF-8 is never an error: each bad byte becomes U+FFFD.
 */
#ifndef CGRAD_DATASETS_H
#define CGRAD_DATASETS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------- sequences */

/* Ragged lists of token ids: sequence i is ids[offsets[i] .. offsets[i+1]).
 * Fields are read-only for users. */
typedef struct cg_sequences {
    int64_t n;
    int64_t *offsets; /* n + 1 entries */
    int64_t *ids;
    int64_t cap_n, cap_ids; /* private */
} cg_sequences;

cg_sequences *cg_sequences_new(void);
void cg_sequences_free(cg_sequences *s);
/* Append one sequence of len ids (copied). */
cg_status cg_sequences_append(cg_sequences *s, const int64_t *ids, int64_t len);
/* Length of sequence i, and a pointer to its ids (valid until the next append). */
int64_t cg_sequences_len(const cg_sequences *s, int64_t i);
const int64_t *cg_sequences_get(const cg_sequences *s, int64_t i);

typedef enum cg_pad { CG_PAD_PRE = 0, CG_PAD_POST = 1 } cg_pad;

/* keras.preprocessing.sequence.pad_sequences: -> int64 [n, maxlen] in the
 * current scope. maxlen <= 0 means the longest sequence. Longer sequences
 * lose ids at the start (truncating PRE) or the end (POST); shorter ones get
 * `value` before (padding PRE, the Keras default) or after (POST). */
cg_tensor *cg_pad_sequences(const cg_sequences *s, int64_t maxlen, cg_pad padding, cg_pad truncating,
                            int64_t value);

/* ----------------------------------------------------------- tokenizer */

/* The default Keras filters: !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ plus tab and newline. */
#define CG_KERAS_FILTERS "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n"

typedef struct cg_tokenizer_options {
    int64_t num_words;     /* keep ids < num_words when encoding; 0: no limit */
    const char *filters;   /* UTF-8 characters replaced by `split` (NULL: Keras default, "": none) */
    bool lower;            /* lower-case first (utf8proc simple case mapping) */
    const char *split;     /* one character (UTF-8); NULL: " " */
    bool char_level;       /* every character is a token (no filtering, as Keras) */
    const char *oov_token; /* index 1 and the stand-in for unknown words; NULL: drop them */
} cg_tokenizer_options;

/* Keras' defaults: num_words 0, default filters, lower, split " ", word level, no oov. */
cg_tokenizer_options cg_tokenizer_defaults(void);

/* keras.preprocessing.text.text_to_word_sequence (also honouring char_level):
 * lower-case, replace each filter character by split, split on split, drop
 * empty tokens. As in Keras only `split` separates words: tab and newline
 * do because they are default filters (with filters "" they stay in words). Calls fn(word, nbytes, ctx) per token (word is UTF-8, not
 * NUL-terminated, valid until fn returns) and returns the token count.
 * opt NULL: defaults. Invalid UTF-8 bytes read as U+FFFD. */
typedef void (*cg_word_fn)(const char *word, size_t nbytes, void *ctx);
int64_t cg_text_to_word_sequence(const char *text, const cg_tokenizer_options *opt, cg_word_fn fn,
                                 void *ctx);

/* keras.preprocessing.text.one_hot (the hashing trick): -> int64 [ntokens]
 * with hash(word) % (n - 1) + 1, n >= 2. The hash is FNV-1a 64 of the UTF-8
 * bytes (stable across runs, unlike Python's hash). */
cg_tensor *cg_one_hot(const char *text, int64_t n, const cg_tokenizer_options *opt);

/* keras.preprocessing.text.Tokenizer. word_index ranks words by count
 * (descending; ties keep first appearance), 1 = most frequent, 0 reserved;
 * with an oov_token that token is 1 and the words start at 2 (occurrences of
 * the oov token in texts count toward it). */
typedef struct cg_tokenizer cg_tokenizer;

cg_tokenizer *cg_tokenizer_new(const cg_tokenizer_options *opt); /* NULL: defaults */
void cg_tokenizer_free(cg_tokenizer *tk);
/* fit_on_texts: counts accumulate over calls; the ranking is rebuilt. */
cg_status cg_tokenizer_fit(cg_tokenizer *tk, const char *const *texts, int64_t n);
/* Words in word_index (the oov token included); ids run 1..vocab_size. */
int64_t cg_tokenizer_vocab_size(const cg_tokenizer *tk);
/* word_index[word], 0 if absent. */
int64_t cg_tokenizer_index(const cg_tokenizer *tk, const char *word);
/* index_word[index] (NUL-terminated, owned by tk), NULL if absent. */
const char *cg_tokenizer_word(const cg_tokenizer *tk, int64_t index);
/* word_counts[word], 0 if never seen. */
int64_t cg_tokenizer_count(const cg_tokenizer *tk, const char *word);
/* The i-th entry of word_counts in first-appearance order (i in
 * [0, number of distinct words seen)); returns its count, -1 out of range. */
int64_t cg_tokenizer_count_at(const cg_tokenizer *tk, int64_t i, const char **word);
/* Number of texts fitted (Keras' document_count). */
int64_t cg_tokenizer_document_count(const cg_tokenizer *tk);
/* texts_to_sequences: ids < num_words (when set); unknown or cut words map
 * to the oov index, or are dropped without an oov_token. Texts are encoded in
 * parallel (same result for any thread count). Caller frees the result. */
cg_sequences *cg_tokenizer_texts_to_sequences(const cg_tokenizer *tk, const char *const *texts, int64_t n);
/* One text: writes up to cap ids to out, returns the full count (like snprintf). */
int64_t cg_tokenizer_encode(const cg_tokenizer *tk, const char *text, int64_t *out, int64_t cap);

/* A tokenizer from Keras' Tokenizer.to_json() (a file, or the text with
 * `label` standing for it in messages): its options, word_counts (in their
 * order), document_count and word_index exactly as Keras has them, so
 * texts encode to the ids Keras gives them (also when word_index was
 * trimmed to the words below num_words). A split longer than one character
 * is refused. NULL with an error naming the file and the entry. */
cg_tokenizer *cg_tokenizer_from_keras_json(const char *json, const char *label);
cg_tokenizer *cg_tokenizer_load_keras(const char *path);

/* --------------------------------------------------------- text corpora */

/* Texts (valid UTF-8, NUL-terminated) with integer labels. Read-only fields. */
typedef struct cg_text_corpus {
    int64_t n;
    const char *const *texts;
    const int64_t *labels;
    int64_t skipped; /* malformed lines skipped when cg_read_options.skip_bad */
    void *priv;
} cg_text_corpus;

void cg_text_corpus_free(cg_text_corpus *c);
/* The labels: int64 [n] in the current scope. */
cg_tensor *cg_text_corpus_labels(const cg_text_corpus *c);

typedef struct cg_read_options {
    bool header;        /* skip the first line */
    int text_column;    /* field holding the text (default 0) */
    int label_column;   /* field holding the label; -1: the last field (default) */
    int64_t num_labels; /* labels must be integers in [0, num_labels) (default 2; <= 0: any) */
    bool skip_bad;      /* skip and count malformed lines instead of failing */
} cg_read_options;

cg_read_options cg_read_defaults(void);

/* Tab-separated labelled text, one record per line (no quoting; a final CR
 * is dropped; empty lines are ignored): the UCI sentiment sentences
 * (`sentence<TAB>label`, the defaults) or NSMC (`id<TAB>document<TAB>label`
 * with a header: header = true, text_column = 1). Malformed lines (a missing
 * field, a label that is not an integer in range) fail with file and line,
 * or are skipped and counted with skip_bad. opt NULL: defaults. */
cg_text_corpus *cg_read_tsv(const char *path, const cg_read_options *opt);
/* The same from memory; `name` stands for the path in messages. */
cg_text_corpus *cg_parse_tsv(const char *data, size_t len, const char *name, const cg_read_options *opt);

/* The Large Movie Review Dataset (aclImdb v1). `path` is the extracted
 * aclImdb folder, a folder containing aclImdb/ or aclImdb_v1.tar.gz, or the
 * .tar.gz itself (read with libarchive, never extracted). Fills *train and
 * *test (either may be NULL to skip it): label 0 = neg, 1 = pos; order:
 * all neg reviews then all pos, each by ascending numeric file id. Raw text
 * (the "<br />" tags are kept). A missing folder or a truncated archive is
 * an error naming the path. */
cg_status cg_aclimdb_read(const char *path, cg_text_corpus **train, cg_text_corpus **test);

/* ------------------------------------------------------------------ IMDB */

typedef struct cg_imdb_options {
    int64_t num_words;  /* ids >= num_words become oov_char; 0: no limit */
    int64_t skip_top;   /* ids < skip_top become oov_char */
    int64_t maxlen;     /* drop reviews with len(seq) >= maxlen (Keras' filter); 0: keep all */
    int64_t start_char; /* 1; first id of every review (0: none) */
    int64_t oov_char;   /* 2 (0: drop such words, Keras' oov_char=None) */
    int64_t index_from; /* 3: word of rank r (1 = most frequent) gets id r + index_from */
    uint64_t seed;      /* 113: reviews shuffled per split with this seed */
    bool shuffle;       /* true */
} cg_imdb_options;

cg_imdb_options cg_imdb_defaults(void);

/* keras.datasets.imdb.load_data built from the raw text: each review is
 * "<br />"-stripped, tokenized with the Tokenizer defaults (Keras filters,
 * lower-case), and becomes [start_char] + [rank + index_from ...]; ranks
 * come from word frequencies on the TRAIN split only (test-only words are
 * oov_char). An id is kept when skip_top <= id < num_words, else it becomes
 * oov_char (start_char is never replaced). With maxlen, sequences of length
 * >= maxlen (start_char included) are dropped, as Keras' _remove_long_seq.
 * y tensors are int64 [n] living in the object (valid until cg_imdb_free). */
typedef struct cg_imdb {
    cg_sequences *x_train, *x_test;
    cg_tensor *y_train, *y_test;
    cg_tokenizer *tokenizer; /* fitted on train with oov_token "<OOV>": rank r has index r + 1 */
    cg_imdb_options options;
    cg_scope *arena; /* private */
} cg_imdb;

cg_imdb *cg_imdb_load(const char *path, const cg_imdb_options *opt);
/* The same from corpora already read (e.g. cg_aclimdb_read or fixtures). */
cg_imdb *cg_imdb_from_corpora(const cg_text_corpus *train, const cg_text_corpus *test,
                              const cg_imdb_options *opt);
void cg_imdb_free(cg_imdb *d);
/* Decode one id: the word, "<PAD>" (0), "<START>", "<OOV>", or NULL. */
const char *cg_imdb_word(const cg_imdb *d, int64_t id);

/* ------------------------------------------------------------- CSV/TSV */

typedef struct cg_csv_options {
    char delimiter; /* ',' (use '\t' for TSV) */
    bool header;    /* the first row names the columns (default true) */
    bool quoting;   /* "double-quoted" fields with "" escapes (default true) */
    bool skip_bad;  /* skip and count ragged rows instead of failing */
} cg_csv_options;

cg_csv_options cg_csv_defaults(void);

/* A table of UTF-8 strings read with libcsv. Every row must have as many
 * fields as the first (else an error with file and line, or skipped with
 * skip_bad). Empty lines are ignored; line numbers count physical lines. */
typedef struct cg_table cg_table;

cg_table *cg_read_csv(const char *path, const cg_csv_options *opt);
cg_table *cg_parse_csv(const char *data, size_t len, const char *name, const cg_csv_options *opt);
void cg_table_free(cg_table *t);
int64_t cg_table_rows(const cg_table *t); /* data rows (header excluded) */
int cg_table_cols(const cg_table *t);
int64_t cg_table_skipped(const cg_table *t);
/* Column name (header) or "" without a header; index of a name or -1 (with an error). */
const char *cg_table_column_name(const cg_table *t, int col);
int cg_table_column_index(const cg_table *t, const char *name);
/* The text of a cell (owned by the table), NULL out of range. */
const char *cg_table_cell(const cg_table *t, int64_t row, int col);
/* The line of the file where a row ends (for messages). */
int64_t cg_table_line(const cg_table *t, int64_t row);
/* A numeric column by name -> float32/float64/int64 [rows]. A cell that is
 * not a number fails with file, line and column; "", "NA" and "nan" read as
 * NaN for float dtypes; int64 needs a plain decimal integer. */
cg_tensor *cg_table_column(const cg_table *t, const char *name, cg_dtype dt);
/* A text column and an integer label column as a corpus (labels checked as
 * in cg_read_options with num_labels; num_labels <= 0: any integer). */
cg_text_corpus *cg_table_text_corpus(const cg_table *t, const char *text_col, const char *label_col,
                                     int64_t num_labels);

/* ----------------------------------------------------------- time series */

/* Sliding windows: x[t] = series[t : t+steps], y[t] = series[t+steps].
 * series float [T] or [T, F] -> *x [N, steps, F] and *y [N, F] (F = 1 for a
 * 1-D series), same dtype, current scope. N = T - steps; with pad_tail the
 * last value is repeated `steps` times first (the lesson's
 * np.append(data, np.repeat(data[-1], step))), so N = T. */
cg_status cg_timeseries_windows(const cg_tensor *series, int64_t steps, bool pad_tail, cg_tensor **x,
                                cg_tensor **y);

typedef enum cg_scaler_kind {
    CG_SCALE_STANDARD, /* (x - mean) / std (population std; std 0 -> 1) */
    CG_SCALE_MINMAX    /* (x - min) / (max - min) * (hi - lo) + lo (range 0 -> 1) */
} cg_scaler_kind;

/* Per-feature scaling (features = the last dim; a 1-D tensor is one
 * feature), fitted once, applied to any tensor with that many features. */
typedef struct cg_scaler cg_scaler;
/* lo/hi: the MINMAX target range (usually 0, 1). */
cg_scaler *cg_scaler_new(cg_scaler_kind kind, double lo, double hi);
void cg_scaler_free(cg_scaler *s);
/* Also clip transformed values to [lo, hi] (inverse leaves them clipped). */
void cg_scaler_set_clip(cg_scaler *s, double lo, double hi);
cg_status cg_scaler_fit(cg_scaler *s, const cg_tensor *x);
/* -> a new tensor (x's shape and float dtype, current scope). */
cg_tensor *cg_scaler_transform(const cg_scaler *s, const cg_tensor *x);
cg_tensor *cg_scaler_inverse(const cg_scaler *s, const cg_tensor *x);

/* ------------------------------------------------------------- synthetic */

/* The lesson's noisy sine: x[t] = sin(0.02 t) + 2 U(0,1), t = 0..n-1 -> [n]. */
cg_tensor *cg_noisy_sine(cg_rng *rng, cg_dtype dt, int64_t n);
/* The counting sequence i / n, i = 0..n-1 -> [n] (n = 10: 0.0, 0.1, ..., 0.9). */
cg_tensor *cg_counting_sequence(cg_dtype dt, int64_t n);
/* The multiplication problem (Hochreiter & Schmidhuber): *x [n, steps, 2]
 * with feature 0 ~ U[0,1) and feature 1 a marker that is 1 at exactly two
 * steps, the first uniform in [0, steps/2), the second in [steps/2, steps);
 * *y [n, 1] = the product of the two marked values. steps >= 2 (100 in the
 * lesson). Float dtype, current scope. */
cg_status cg_multiplication_problem(cg_rng *rng, cg_dtype dt, int64_t n, int64_t steps, cg_tensor **x,
                                    cg_tensor **y);

/* -------------------------------------------------------------- batching */

/* Keras' validation_split: the LAST `fraction` of the samples (dim 0, before
 * any shuffling) become validation, split at floor(n * (1 - fraction)).
 * Views of x and y (no copy). y may be NULL (then *y_* are NULL). */
cg_status cg_train_val_split(const cg_tensor *x, const cg_tensor *y, double fraction, cg_tensor **x_train,
                             cg_tensor **y_train, cg_tensor **x_val, cg_tensor **y_val);

/* Mini-batches over dim 0 of x (and y, same length; may be NULL). Epoch e
 * shuffles with the generator cg_rng_seeded(seed) advanced by e * 2^40
 * blocks, so (seed, epoch) always gives the same order. x and y must
 * outlive the batcher. */
typedef struct cg_batcher cg_batcher;

cg_batcher *cg_batcher_new(const cg_tensor *x, const cg_tensor *y, int64_t batch_size, bool shuffle,
                           uint64_t seed, bool drop_last);
void cg_batcher_free(cg_batcher *b);
/* Batches per epoch (the last may be short unless drop_last). */
int64_t cg_batcher_len(const cg_batcher *b);
/* Draw the order of `epoch` and rewind. */
void cg_batcher_start_epoch(cg_batcher *b, int64_t epoch);
/* Batch i of the current epoch: gathered copies (shuffled) or views
 * (unshuffled) in the current scope, [B, ...]. */
cg_status cg_batcher_get(const cg_batcher *b, int64_t i, cg_tensor **xb, cg_tensor **yb);
/* The next batch; false at the end of the epoch (or on error). */
bool cg_batcher_next(cg_batcher *b, cg_tensor **xb, cg_tensor **yb);
/* The sample order of the current epoch (int64 indices, length n). */
const int64_t *cg_batcher_order(const cg_batcher *b);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_DATASETS_H */
