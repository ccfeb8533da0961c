/* Private to nn/. */
#ifndef CGRAD_NN_INTERNAL_H
#define CGRAD_NN_INTERNAL_H

#include "nn.h"

#include <math.h>
#include <string.h>

/* "<layer> (<Type>): <what> is NULL", keeping an earlier error. */
void *cg__nn_null(const cg_module *m, const char *what);
/* prefix+name from a PyTorch-layout file, checked to be float32 of shape. */
cg_tensor *cg__torch_tensor(const cg_safetensors *f, const char *prefix, const char *name, const int64_t *shape,
                            int ndim);
/* prefix+name as a string in the current scope. */
char *cg__torch_name(const char *prefix, const char *name);
/* An option left at CG_INIT_DEFAULT / CG_ACT_DEFAULT takes the layer's default. */
static inline cg_init cg__init_or(cg_init given, cg_init dflt) { return given.kind == CG_INIT_DEFAULT ? dflt : given; }
static inline cg_activation cg__act_or(cg_activation given, cg_activation dflt) {
    return given == CG_ACT_DEFAULT ? dflt : given;
}
/* The elementwise op an activation is; false for linear and softmax. */
bool cg__act_unop(cg_activation act, cg_unop *op);
/* Allocate a layer struct of `size` bytes and init its base; NULL on error. */
void *cg__layer_alloc(size_t size, const cg_module_type *type, const char *name);

/* What cg_keras_save reads of layers made in C (layers.c); false when m is
 * not of that type. */
/* A recurrent layer's options (the layer's and, for a built-in cell, the
 * cell's: *kind then says which) and its input size; false for another
 * module. *kind is -1 for a cell of the user's. */
bool cg__rnn_info(const cg_module *m, int *kind, int *in, int *units, cg_rnn_opts *o);
/* A Bidirectional's merge mode; false for another module. */
bool cg__bidi_info(const cg_module *m, cg_merge_mode *merge);
/* A built-in cell's kind, units and options; false for a user's cell. */
bool cg__cell_info(const cg_cell *c, cg_rnn_kind *kind, int *units, cg_rnn_opts *o);
bool cg__dense_info(const cg_module *m, int *in, int *units, cg_activation *act, bool *bias);
bool cg__embedding_info(const cg_module *m, int *vocab, int *dim, bool *mask_zero);
bool cg__dropout_info(const cg_module *m, double *rate);

/* An Embedding's checks of its token ids and its mask, without the lookup:
 * the ids contiguous (a recurrent layer above looks them up in its
 * inference table). */
cg_tensor *cg__embedding_ids(cg_module *m, cg_tensor *ids, const cg_tensor **mask_out);
/* An Embedding's weight; NULL for another module. */
cg_tensor *cg__embedding_weight(const cg_module *m);
/* Inference tables (cg_module_inference_begin): a recurrent layer after an
 * Embedding projects the whole vocabulary through its input kernel once.
 * begin makes the table (or nothing, when it does not pay: CG_OK either
 * way); table gives it when made for that embedding, else NULL; the
 * table forward runs the layer on its rows for the token ids [B, T], each
 * step's rows gathered as the step comes. */
cg_status cg__rnn_table_begin(cg_module *rnn, cg_module *emb, int64_t tokens);
void cg__rnn_table_end(cg_module *rnn);
cg_tensor *cg__rnn_table(cg_module *rnn, const cg_module *emb);
cg_tensor *cg__rnn_forward_table(cg_module *rnn, cg_tensor *ids, const cg_tensor *mask, const cg_tensor **mask_out);
bool cg__activation_info(const cg_module *m, cg_activation *act);

#endif
