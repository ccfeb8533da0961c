/* Private: the optimizer object shared by optim.c (steps, groups) and
 * state.c (checkpoints). */
#ifndef CGRAD_OPTIM_INTERNAL_H
#define CGRAD_OPTIM_INTERNAL_H

#include "optim.h"

#define OPTIM_SLOTS 3         /* state tensors per parameter, at most */
#define OPTIM_GRAIN 32768     /* elements above which loops use OpenMP */

typedef enum optim_kind { K_SGD, K_ADAM, K_ADAMW, K_RMSPROP, K_ADAGRAD, K_ADADELTA } optim_kind;

struct cg_optim {
    optim_kind kind;
    union {
        cg_sgd_opts sgd;
        cg_adam_opts adam;
        cg_rmsprop_opts rms;
        cg_adagrad_opts adagrad;
        cg_adadelta_opts adadelta;
    } o;
    bool used[OPTIM_SLOTS]; /* which state slots this configuration needs */
    double fill[OPTIM_SLOTS]; /* their initial values */
    cg_scope *arena;        /* state tensors, steps, groups, lr */
    int n, cap;
    cg_tensor **params;
    cg_tensor *(*state)[OPTIM_SLOTS];
    int *group_of;
    int ngroups;
    double *base_lr;
    cg_tensor *steps;  /* int64 [n] */
    cg_tensor *groups; /* int64 [ngroups]: parameters per group */
    cg_tensor *lr;     /* float64 [ngroups] */
    char *names;       /* cg_optim_state_tensors' name buffer */
    size_t names_cap;
};

/* "sgd", "adam", ...; and the name of state slot k of this kind. */
const char *cg__optim_kind_name(optim_kind k);
const char *cg__optim_slot_name(const cg_optim *o, int k);

#endif
