/*
 * cgrad/train.h — fit / evaluate / predict with Keras' progress line, a
 * History of per-epoch metrics (CSV, PNG plots through gnuplot), line plots, callbacks
 * (early stopping, model checkpoint, CSV logger) and crash-safe checkpoints.
 *
 *     cg_fit_opts o = cg_fit_defaults();          // Keras: batch 32, verbose 1, shuffle
 *     o.epochs = 3;
 *     o.validation_split = 0.2;                   // the last 20% of x, before shuffling
 *     cg_history *h = cg_fit(model, opt, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_ACCURACY,
 *                            x_train, y_train, &o);
 *     //  Epoch 1/3
 *     //  625/625 [==============================] - 12s 19ms/step - loss: 0.4292 - accuracy: 0.7968 - val_loss: 0.3567 - val_accuracy: 0.8427
 *     cg_history_write_csv(h, "out/history.csv");
 *     cg_history_plot(h, "out/loss.png", "IMDB LSTM");   // needs gnuplot
 *     cg_eval_result r = cg_evaluate(model, CG_LOSS_BCE_WITH_LOGITS, CG_METRIC_ACCURACY,
 *                                    x_test, y_test, 32);
 *     cg_history_free(h);
 *
 * fit trains in a scope per batch, so a step allocates nothing after the
 * first. The model is put in training mode for fit and in eval mode for
 * evaluate and predict (which also turn recording off).
 *
 * The progress line is redrawn in place on a terminal; when the output is not
 * a terminal only the final line of each epoch is printed. verbose 0 prints
 * nothing, 2 prints one line per epoch (Keras).
 *
 * Over several processes (dist.h): set o.dist on every rank, pass every rank
 * the whole data set, and run the program under mpirun. o.batch_size is per
 * rank (DDP's): 2 ranks with batch 16 train like one process with batch
 * 32, History included; only rank 0 prints and writes files.
 */
#ifndef CGRAD_TRAIN_H
#define CGRAD_TRAIN_H

#include "datasets.h"
#include "dist.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ losses, metrics */

typedef enum cg_loss {
    CG_LOSS_MSE = 0,
    CG_LOSS_MAE,
    CG_LOSS_HUBER,                    /* delta 1 */
    CG_LOSS_BINARY_CROSSENTROPY,      /* on probabilities (Keras clipping) */
    CG_LOSS_BCE_WITH_LOGITS,          /* on logits */
    CG_LOSS_CATEGORICAL_CROSSENTROPY, /* probabilities, one-hot targets */
    CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, /* probabilities, int64 ids */
    CG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS /* logits, int64 ids */
} cg_loss;

/* CG_METRIC_ACCURACY means what Keras' "accuracy" means for the loss:
 * binary accuracy for binary losses (threshold 0.5 on probabilities, 0 on
 * logits), sparse categorical accuracy for sparse losses. */
typedef enum cg_metric { CG_METRIC_NONE = 0, CG_METRIC_ACCURACY } cg_metric;

const char *cg_loss_name(cg_loss loss);
/* The loss of a batch (0-d, differentiable). */
cg_tensor *cg_loss_apply(cg_loss loss, cg_tensor *pred, cg_tensor *target);
/* The metric of a batch (NaN if the metric does not apply to the loss). */
double cg_metric_apply(cg_metric metric, cg_loss loss, const cg_tensor *pred, const cg_tensor *target);

/* --------------------------------------------------------------- history */

#define CG_HISTORY_MAX_KEYS 8

typedef struct cg_history {
    int n_keys;                             /* "loss", "accuracy", "val_loss", ... */
    char keys[CG_HISTORY_MAX_KEYS][32];
    int epochs;                             /* rows filled */
    int cap;
    double *values;                         /* [cap][n_keys] */
    double *seconds;                        /* wall time per epoch */
    cg_status status;                       /* CG_OK, or why fit stopped early (a NaN loss) */
} cg_history;

/* Value of `key` after epoch (0-based); NaN if absent. */
double cg_history_get(const cg_history *h, const char *key, int epoch);
/* Last value of `key`; NaN if absent. */
double cg_history_last(const cg_history *h, const char *key);
/* epoch,key1,key2,... one row per epoch (atomic replace). */
cg_status cg_history_write_csv(const cg_history *h, const char *path);
/* PNG of the history per epoch (x from 1, as the progress line counts)
 * through gnuplot (pngcairo), like the lessons' matplotlib figures: the
 * losses in one panel (a log axis when they span more than a decade),
 * accuracy beside it when present; a key and its val_ twin share a colour,
 * validation dashed; labelled axes, a legend, `title` on top. Writes
 * <png_path without .png>.csv (cg_history_write_csv's format) and .gp (the
 * gnuplot script) beside it in any case. CG_ERR_IO when gnuplot is not
 * installed (the CSV and script are still written). */
cg_status cg_history_plot(const cg_history *h, const char *png_path, const char *title);
void cg_history_free(cg_history *h);

/* ----------------------------------------------------------------- plots */

/* One line of a plot: `len` values y[0..len-1] drawn at x = x0, x0 + 1, ...
 * Lines with the same colour (1..10: matplotlib's default cycle, blue,
 * orange, green, red, ...) are one model's; dashed for its validation
 * curve. Colour 0: the next colour not given explicitly, in line order. */
typedef struct cg_plot_line {
    const char *name; /* legend entry */
    const double *y;  /* NaN leaves a gap */
    int color;
    bool dashed;
} cg_plot_line;

typedef enum cg_plot_scale {
    CG_PLOT_AUTO = 0, /* log when every value is > 0 and they span more than a decade */
    CG_PLOT_LINEAR,
    CG_PLOT_LOG
} cg_plot_scale;

typedef struct cg_plot_opts {
    const char *title, *xlabel, *ylabel;
    double x0;            /* x of the first value (1 for epochs) */
    cg_plot_scale yscale; /* of the y axis */
} cg_plot_opts;

/* A line plot of n lines of len values each as a PNG through gnuplot, with
 * <png_path without .png>.csv (x, then one column per line) and .gp (the
 * script, which reads the CSV from its own folder) written beside it in any
 * case. o may be NULL (no labels, x from 0, automatic scale). CG_ERR_IO when
 * gnuplot is missing or fails, CG_ERR_VALUE for a path not ending in .png or
 * text with a newline. */
cg_status cg_plot(const char *png_path, const cg_plot_line *lines, int n, int64_t len, const cg_plot_opts *o);

/* cg_plot of n named series with the automatic colours, x = 0..len-1, a
 * title and no axis labels. */
cg_status cg_plot_lines(const char *png_path, const char *title, const char *const *names, const double *const *ys,
                        int n, int64_t len);

/* ------------------------------------------------------------- callbacks */

typedef enum cg_callback_kind {
    CG_CALLBACK_EARLY_STOPPING, /* stop after `patience` epochs without improvement */
    CG_CALLBACK_CHECKPOINT,     /* save model + optimizer (+ epoch, rng) to path */
    CG_CALLBACK_CSV_LOGGER,     /* rewrite path with the history after each epoch */
    CG_CALLBACK_CUSTOM          /* fn(epoch, history, user); return true to stop */
} cg_callback_kind;

typedef struct cg_callback {
    cg_callback_kind kind;
    const char *monitor;       /* default "val_loss" (or "loss" without validation) */
    bool mode_max;             /* a larger monitored value is better */
    double min_delta;          /* early stopping: smaller changes are no improvement */
    int patience;              /* early stopping */
    bool restore_best_weights; /* early stopping: put the best epoch's weights back */
    bool save_best_only;       /* checkpoint: only when the monitor improves */
    const char *path;          /* checkpoint / CSV logger */
    bool (*fn)(int epoch, const cg_history *h, void *user);
    void *user;
} cg_callback;

/* ------------------------------------------------------------------- fit */

typedef struct cg_fit_opts {
    int epochs;              /* default 1 */
    int64_t batch_size;      /* default 32 */
    double validation_split; /* last fraction of x/y, before shuffling */
    cg_tensor *x_val, *y_val; /* or explicit validation data */
    bool shuffle;            /* default true */
    int verbose;             /* 0, 1 (default), 2 */
    uint64_t seed;           /* shuffling */
    int initial_epoch;       /* resume: epochs before this one are skipped */
    const cg_callback *callbacks;
    int n_callbacks;
    double clip_norm;        /* > 0: clip the global gradient norm each step */
    int shards;              /* split each batch over threads: see cg_train_batch (default 0: no) */
    FILE *out;               /* progress output; NULL: stdout */
    int accumulate;          /* micro-batches of batch_size per optimizer step, their gradients summed
                                without communication (DDP's no_sync): the step equals one on a batch
                                accumulate times larger (default 0 or 1: none) */
    cg_dist *dist;           /* train over the ranks of dist (dist.h); NULL: this process alone */
} cg_fit_opts;

cg_fit_opts cg_fit_defaults(void);

/* One batch's forward, loss and backward: adds the gradient of the batch's
 * loss (a mean over its samples) to the parameters' .grad, as cg_backward of
 * that loss would. shards 0 or 1: so, on the calling thread. shards n > 1
 * (-1: one per thread, cg_get_num_threads): the batch's rows are split into
 * n shards run side by side, one per thread (data parallel). Each shard's
 * leaf gradients go to a gradient sink of its own (cg_grad_sink_new), kept
 * with the model between steps, and are added to .grad in shard order: the
 * same bits on every run for a given n, within float rounding of the
 * unsplit batch. Random draws (dropout) come from forked streams
 * (cg_rng_fork_begin), reproducible too. Splitting pays where a batch's ops
 * are too small to spread over threads one by one (small recurrent layers,
 * short sequences); where large products dominate, they are already
 * threaded. *loss_out and *metric_out (either may be NULL) get the batch's
 * loss and metric (NaN for CG_METRIC_NONE). A NaN or infinite loss fails
 * with CG_ERR_NUMERIC; an error in one shard names its rows and, when
 * split, adds nothing to .grad. The model's forward must be
 * safe to run on several threads at once, as the built-in layers' are;
 * leaves with gradient hooks cannot be split (an error). */
cg_status cg_train_batch(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y, int shards,
                         double *loss_out, double *metric_out);

/* cg_train_batch with options; NULL o: cg_train_batch's defaults. */
typedef struct cg_batch_opts {
    int shards;    /* as cg_train_batch's */
    /* With dist, every rank calls this once per step, in step: the local
     * gradient is summed over the ranks so that .grad becomes the gradient
     * of the mean loss over every rank's samples (of those since the last
     * synchronized call, with no_sync), and *loss_out / *metric_out are
     * those means too. x and y may be NULL (or have 0 rows) on a rank
     * without samples this step. A failure on any rank (a NaN loss, bad
     * input) fails the call on every rank, naming that rank. Call
     * cg_dist_broadcast(dist, opt) first. Random draws (dropout) come from
     * a stream forked per rank; the default generator moves one block per
     * call on every rank, so all ranks keep the same state. */
    cg_dist *dist;
    /* With dist: keep this batch's gradient local, added to .grad (DDP's
     * no_sync); the next call without no_sync averages everything since the
     * last synchronized one. *loss_out and *metric_out are this rank's. An
     * error here is also passed on at that next call. */
    bool no_sync;
} cg_batch_opts;

cg_status cg_train_batch_ex(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                            const cg_batch_opts *o, double *loss_out, double *metric_out);

/* Train model on x -> y (dim 0 = samples). Returns the history (caller
 * frees), or NULL with an error for bad arguments. A NaN/Inf loss stops
 * training: the history holds the finished epochs and its status is
 * CG_ERR_NUMERIC, with cg_last_error() naming the epoch and batch.
 *
 * With o->dist (every rank calls cg_fit with the same data and options):
 * first the ranks check they agree (sample counts, a checksum of x and y,
 * batch size, epochs, ...; a rank whose arguments are bad fails every
 * rank, naming it), then cg_dist_broadcast gives every rank rank 0's
 * parameters, optimizer state and generator, and rank 0's initial_epoch is
 * used (so rank 0 alone may load a checkpoint). Each epoch every rank draws
 * the same permutation (seed, epoch); step i takes the next
 * batch_size * ranks * accumulate samples of it, rank r the ones at
 * positions r, r + ranks, ... (DistributedSampler's interleave), none when
 * the last step is short of samples. loss, accuracy and val_* are the
 * means over all samples (the validation set is split in contiguous parts,
 * one per rank), identical on every rank. Only rank 0 prints (verbose is
 * 0 elsewhere) and runs the checkpoint and CSV logger callbacks; early
 * stopping and custom callbacks run on every rank, and fit stops when any
 * rank's callback says stop. */
cg_history *cg_fit(cg_module *model, cg_optim *opt, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                   const cg_fit_opts *o);

typedef struct cg_eval_result {
    double loss, metric; /* metric NaN when none */
    cg_status status;
} cg_eval_result;

/* Mean loss and metric over x in batches (eval mode, no recording). */
cg_eval_result cg_evaluate(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                           int64_t batch_size);
/* The model's outputs for every sample of x, in batches (eval mode, no
 * recording). A new tensor in the current scope. Each batch's rows are
 * split over the threads (cg_set_num_threads), each part run by a thread of
 * its own, when every part gets 16 rows or more; the outputs are those of
 * the whole batch run at once. Between batches the model keeps an inference
 * table (cg_module_inference_begin, nn.h). */
cg_tensor *cg_predict(cg_module *model, cg_tensor *x, int64_t batch_size);

/* ----------------------------------------------------------- checkpoints */

/* Model parameters, optimizer state (opt may be NULL), the epoch and the
 * random generator in one safetensors file, written atomically (a crash
 * leaves the previous checkpoint intact). */
cg_status cg_checkpoint_save(const char *path, const cg_module *model, cg_optim *opt, int epoch, const cg_rng *rng);
/* Restore what cg_checkpoint_save wrote; epoch/rng may be NULL. Checks
 * everything before changing anything. */
cg_status cg_checkpoint_load(const char *path, cg_module *model, cg_optim *opt, int *epoch, cg_rng *rng);

/* ----------------------------------------------------------- Keras files */
/* Training on a model read by cg_keras_load (nn.h) as Keras would: */

/* Keras' Adam (cg_adam_keras: epsilon added to sqrt(v), Keras 3's update)
 * over the model's trained parameters, with the file's learning rate,
 * betas, epsilon and amsgrad, and its state when the file holds one (the
 * step count and both moments), so the next steps are the ones Keras would
 * take. NULL with an error when the file's optimizer is not Adam or the
 * state does not fit the model. The caller frees the optimizer. */
cg_optim *cg_keras_optimizer_new(cg_module *model, const cg_keras_extra *e);
/* Put opt's state (an Adam over the model's trained parameters, in order)
 * and learning rate into e, for cg_keras_save to write. */
cg_status cg_keras_optimizer_state(cg_optim *opt, const cg_module *model, cg_keras_extra *e);
/* The loss compile() named in the file, when cgrad has it. */
bool cg_keras_loss(const cg_keras_extra *e, cg_loss *out);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_TRAIN_H */
