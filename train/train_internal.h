/* Private to train/. */
#ifndef CGRAD_TRAIN_INTERNAL_H
#define CGRAD_TRAIN_INTERNAL_H

#include "train.h"

/* Write path through a temporary file renamed over it. */
cg_status cg__write_atomic(const char *path, void (*emit)(FILE *f, const void *ctx), const void *ctx);

/* Append a row of NaNs to the history (false when out of memory). */
bool cg__history_add_row(cg_history *h);

#endif
