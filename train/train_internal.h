/* Private to train/. */
#ifndef CGRAD_TRAIN_INTERNAL_H
#define CGRAD_TRAIN_INTERNAL_H

#include "train.h"
#include "dist_internal.h"

/* Write path through a temporary file renamed over it. */
cg_status cg__write_atomic(const char *path, void (*emit)(FILE *f, const void *ctx), const void *ctx);

/* cg_train_batch with the backward of scale * the batch's mean loss (for
 * micro-batches that together make one step's batch). */
cg_status cg__train_batch_scaled(cg_module *model, cg_loss loss, cg_metric metric, cg_tensor *x, cg_tensor *y,
                                 int shards, double scale, double *loss_out, double *metric_out);

/* Append a row of NaNs to the history (false when out of memory). */
bool cg__history_add_row(cg_history *h);

#endif
