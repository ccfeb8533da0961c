/*
 * cgrad/cgrad.h — everything: tensors, autograd, layers, optimizers,
 * distributed training over MPI, data, training. Include this one header
 * and link with -lcgrad (pkg-config --cflags --libs cgrad, or
 * find_package(cgrad) and target_link_libraries(app cgrad::cgrad)).
 */
#ifndef CGRAD_CGRAD_H
#define CGRAD_CGRAD_H

#include "tensor.h"
#include "autograd.h"
#include "nn.h"
#include "optim.h"
#include "dist.h"
#include "datasets.h"
#include "train.h"

#endif
