/*
 * cgrad/nn.h — layers, models, losses, weights on disk.
 *
 * A module is a small struct with a type vtable and named parameters. Layers
 * are built only from autograd ops, so the tape does backpropagation through
 * time. A recurrent layer is a cell run by one sequence loop (see "recurrent
 * cells" below): an LSTM is one input-projection GEMM for all steps, then per
 * step an addmm with the recurrent kernel and one fused program for the gates
 * (sigmoid, tanh, mul, add of i, f, g, o, c', h': one node a step).
 *
 *     cg_module *model = cg_sequential_new(NULL);
 *     cg_sequential_add(model, cg_embedding_new(20000, 128, NULL));
 *     cg_sequential_add(model, cg_lstm_new(128, 128, NULL));
 *     cg_sequential_add(model, cg_dense_new(128, 1, CG_ACT_LINEAR, NULL));
 *     cg_summary(model, CG_SHAPE(80), stdout);          // Keras-style table
 *     ...
 *     cg_scope *s = cg_scope_begin();
 *     cg_tensor *logits = cg_module_forward(model, ids);   // ids: int64 [B, 80]
 *     cg_tensor *loss = cg_bce_with_logits(cg_reshape(logits, CG_SHAPE(-1)), y);
 *     cg_backward(loss);  ...  cg_scope_end(s);
 *     cg_module_free(model);                            // frees every parameter
 *
 * Writing a layer of your own (the common case):
 *
 *     typedef struct { cg_module base; cg_tensor *w; cg_module *inner; } my_layer;
 *     static cg_tensor *my_forward(cg_module *m, cg_tensor *x) {
 *         my_layer *l = (my_layer *)m;
 *         return cg_module_forward(l->inner, cg_tanh(cg_matmul(x, l->w)));
 *     }
 *     static const cg_module_type my_type = {"MyLayer", my_forward};
 *     cg_module *my_layer_new(int in, int out) {
 *         my_layer *l = calloc(1, sizeof *l);
 *         cg_module_init(&l->base, &my_type, NULL);            // name "my_layer"
 *         l->w = cg_module_add_param(&l->base, "kernel", CG_SHAPE(in, out),
 *                                    cg_init_glorot_uniform(), NULL);
 *         l->inner = cg_module_add_child(&l->base, cg_dense_new(out, 1, CG_ACT_LINEAR, NULL));
 *         return &l->base;
 *     }
 *
 * Parameters live in the module's arena until cg_module_free. Names follow
 * Keras: a layer is named after its type ("lstm", then "lstm_1", ...) and
 * its parameters "lstm.kernel", "lstm.recurrent_kernel", "lstm.bias".
 *
 * Recurrent layers take batch-first input [B, T, F]. Conventions and their
 * PyTorch equivalents (PyTorch computes x W^T, cgrad x W):
 *   SimpleRNN  kernel [F, H]   = weight_ih_l0^T   recurrent_kernel [H, H]   = weight_hh_l0^T
 *              bias [H]        = bias_ih_l0 + bias_hh_l0   (two_biases: bias = bias_ih_l0,
 *                                                          recurrent_bias = bias_hh_l0; LSTM and GRU too)
 *   LSTM       gates i, f, g, o in that order in both libraries
 *              kernel [F, 4H]  = weight_ih_l0^T   recurrent_kernel [H, 4H]  = weight_hh_l0^T
 *              bias [4H]       = bias_ih_l0 + bias_hh_l0
 *   GRU        "reset after" (Keras 2 default, PyTorch's only form):
 *              n = tanh(x W_h + b_h + r * (h U_h + c_h)); h' = z * h + (1 - z) * n
 *              Keras gate order z, r, h; PyTorch orders r, z, n — blocks are reordered
 *              kernel [F, 3H], recurrent_kernel [H, 3H], bias [2, 3H] (input, recurrent)
 * Keras' weight arrays are the same matrices in the same gate order.
 * cg_module_save_torch / cg_module_load_torch use these mappings; a
 * Bidirectional layer maps to one PyTorch module with bidirectional=True
 * (the backward half's tensors are "weight_ih_l0_reverse", ...). Stacked
 * PyTorch layers (num_layers=2: "weight_ih_l1") are not mapped: export each
 * layer as its own module. Exporting an RNN/LSTM with one bias writes it as
 * bias_ih_l0 and zeros as bias_hh_l0 (the sum is what the layer uses); load
 * with two_biases to train on as PyTorch does.
 * Defaults are Keras': glorot-uniform kernels, orthogonal recurrent kernels,
 * zero biases, LSTM forget-gate bias 1; cg_rnn_opts.torch_init switches to
 * PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
 */
#ifndef CGRAD_NN_H
#define CGRAD_NN_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ activations */

typedef enum cg_activation {
    CG_ACT_DEFAULT = 0, /* in options: the layer's default (linear for Dense) */
    CG_ACT_LINEAR,
    CG_ACT_RELU,
    CG_ACT_TANH,
    CG_ACT_SIGMOID,
    CG_ACT_SOFTMAX, /* over the last axis */
    CG_ACT_SOFTSIGN,
    CG_ACT_COUNT
} cg_activation;

cg_tensor *cg_activate(cg_tensor *x, cg_activation act);
const char *cg_activation_name(cg_activation act);

/* ----------------------------------------------------------- initializers */

typedef enum cg_init_kind {
    CG_INIT_DEFAULT = 0, /* in options: the layer's default */
    CG_INIT_ZEROS,
    CG_INIT_ONES,
    CG_INIT_GLOROT_UNIFORM, /* U(±sqrt(6 / (fan_in + fan_out))) */
    CG_INIT_ORTHOGONAL,     /* Keras Orthogonal(gain = a) */
    CG_INIT_IDENTITY,       /* gain a times the identity (2-D, square or not) */
    CG_INIT_RANDOM_NORMAL,  /* N(0, a) */
    CG_INIT_UNIFORM         /* U(-a, a); PyTorch's RNN/Linear init is a = 1/sqrt(H) */
} cg_init_kind;

typedef struct cg_init {
    cg_init_kind kind;
    double a; /* gain, stddev or limit, as the kind says */
} cg_init;

static inline cg_init cg_init_zeros(void) { return (cg_init){CG_INIT_ZEROS, 0}; }
static inline cg_init cg_init_glorot_uniform(void) { return (cg_init){CG_INIT_GLOROT_UNIFORM, 0}; }
static inline cg_init cg_init_orthogonal(double gain) { return (cg_init){CG_INIT_ORTHOGONAL, gain}; }
static inline cg_init cg_init_identity(double gain) { return (cg_init){CG_INIT_IDENTITY, gain}; }
static inline cg_init cg_init_normal(double stddev) { return (cg_init){CG_INIT_RANDOM_NORMAL, stddev}; }
static inline cg_init cg_init_uniform(double limit) { return (cg_init){CG_INIT_UNIFORM, limit}; }

/* Fill t in place. Fans are taken from t's shape the way Keras does
 * (2-D [in, out]: fan_in = in, fan_out = out). rng NULL: the default. */
cg_status cg_init_fill(cg_tensor *t, cg_init init, cg_rng *rng);

/* ---------------------------------------------------------------- modules */

typedef struct cg_module cg_module;
/* The Keras options of a layer that cg_keras_load or cg_keras_from_config
 * made (private to nn/keras.c). */
typedef struct cg_keras_layer cg_keras_layer;

typedef struct cg_module_type {
    const char *name; /* the type's display name: "LSTM" */
    /* y = f(x). Required. */
    cg_tensor *(*forward)(cg_module *m, cg_tensor *x);
    /* Optional: forward with a [B, T] mask of valid steps (1/0, any dtype);
     * sets *mask_out to the mask for the next layer (or NULL). */
    cg_tensor *(*forward_masked)(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out);
    /* Optional: the output shape for an input shape, both without the batch
     * dim (-1 = unknown). For cg_summary. */
    bool (*output_shape)(const cg_module *m, const int64_t *in, int nin, int64_t *out, int *nout);
    /* Optional: release what the type holds beyond the base struct. */
    void (*free)(cg_module *m);
    /* Optional: parameters under PyTorch's names and layouts (prefix
     * prepended), for cg_module_save_torch / cg_module_load_torch. */
    int (*torch_export)(cg_module *m, const char *prefix, cg_named_tensor *out, int max);
    cg_status (*torch_import)(cg_module *m, const cg_safetensors *f, const char *prefix, bool apply);
} cg_module_type;

/* What a model keeps for cg_train_batch's shards between steps: shard k's
 * arena and the gradient sink in it (its gradient buffers are reused). */
#define CG_MAX_SHARDS 64
typedef struct cg_module_shards {
    cg_scope *arena[CG_MAX_SHARDS];
    cg_grad_sink *sink[CG_MAX_SHARDS];
} cg_module_shards;

struct cg_module {
    const cg_module_type *type;
    char name[64];
    cg_scope *arena; /* parameters and names live here */
    bool training;
    int n_params, cap_params;
    cg_tensor **params;
    int n_children, cap_children;
    cg_module **children;
    cg_module_shards *shards; /* cg_train_batch's, kept between steps; freed with the module */
    cg_keras_layer *keras;    /* the layer's Keras options when a Keras file made it; freed with the module */
};

/* Set up the base of a module struct (allocated by the caller, usually
 * with calloc; cg_module_free frees it). name NULL: Keras-style automatic
 * name from the type ("SimpleRNN" -> "simple_rnn", "simple_rnn_1", ...). */
cg_status cg_module_init(cg_module *m, const cg_module_type *type, const char *name);
/* A new trainable parameter "<module>.<pname>" (float32) in the module's
 * arena, filled by init. Returns it; NULL on error. */
cg_tensor *cg_module_add_param(cg_module *m, const char *pname, const int64_t *shape, int ndim, cg_init init,
                               cg_rng *rng);
/* m takes ownership of child (freed with m). Returns child. */
cg_module *cg_module_add_child(cg_module *m, cg_module *child);
/* Free m, its children and all their parameters. NULL is a no-op. */
void cg_module_free(cg_module *m);

/* x -> y (no mask). */
cg_tensor *cg_module_forward(cg_module *m, cg_tensor *x);
/* With a mask of valid time steps ([B, T]); mask_out may be NULL. */
cg_tensor *cg_module_forward_masked(cg_module *m, cg_tensor *x, const cg_tensor *mask, const cg_tensor **mask_out);
/* Training mode (dropout active) on m and its children; eval = false. */
void cg_module_train(cg_module *m, bool training);
/* Inference over many batches of x (cg_predict and cg_evaluate do this):
 * with the model in eval mode, begin, then forwards of parts of x, then end;
 * the weights must not change in between, and no other thread may run the
 * model. In a Sequential, a recurrent layer right after an Embedding then
 * projects the whole vocabulary through its input kernel once, at begin, and
 * each forward with recording off looks up rows of that table instead of
 * projecting every token (a forward with recording on runs as always): done
 * when x (the token ids) holds more tokens than the vocabulary has rows and
 * the table takes at most 64 MiB. The table lives in the current scope until
 * end (or until that scope ends). The results equal those of plain forwards
 * within float rounding (one product over the vocabulary instead of one over
 * the batch's tokens; the same bits in the tests here). begin: CG_OK also
 * when nothing is made; m or x NULL is an error. */
cg_status cg_module_inference_begin(cg_module *m, const cg_tensor *x);
void cg_module_inference_end(cg_module *m);
/* Freeze or unfreeze: parameters stop or start requiring grad. */
void cg_module_set_trainable(cg_module *m, bool trainable);

/* All parameters of m and its children, in order (own first). Writes up to
 * max to out and returns the total count. */
int cg_module_parameters(const cg_module *m, cg_tensor **out, int max);
/* Number of scalar parameters (trainable only, or all). */
int64_t cg_module_param_count(const cg_module *m, bool trainable_only);
/* A parameter by full name ("lstm.kernel"), searching children; NULL if none. */
cg_tensor *cg_module_param(const cg_module *m, const char *name);
/* Convert every parameter to dt (float32 or float64; float64 is for
 * gradcheck). Gradients are dropped. Inputs must then use the same dtype. */
cg_status cg_module_set_dtype(cg_module *m, cg_dtype dt);
/* Zero every parameter's gradient. */
void cg_module_zero_grad(cg_module *m);

/* Keras-like table: layer name (type), output shape with None for the
 * batch, param #, then total / trainable / non-trainable counts.
 * input_shape excludes the batch (-1 = None). */
cg_status cg_summary(const cg_module *m, const int64_t *input_shape, int ndim, FILE *f);

/* Weights as safetensors under our names ("lstm.kernel"), in parameter
 * order. Saving is atomic. Loading takes each parameter by name when all
 * names are in the file, else by position (the file's first tensors in
 * order, like Keras' load_weights) so a model built again in the same
 * process, whose automatic names count on ("dense_1"), loads too. Every
 * tensor is checked (present, shape, dtype) before any changes, so a bad
 * file leaves the model unchanged. */
cg_status cg_module_save(const cg_module *m, const char *path);
cg_status cg_module_load(cg_module *m, const char *path);
/* Load from an open file (a checkpoint holding more than the model); path
 * is only used in messages. */
cg_status cg_module_load_from(cg_module *m, const cg_safetensors *f, const char *path);
/* Would cg_module_load_from succeed? Checks every tensor, changes nothing. */
cg_status cg_module_check_file(cg_module *m, const cg_safetensors *f, const char *path);
/* The same with PyTorch's names and layouts (Linear, Embedding, RNN, LSTM,
 * GRU: "weight_ih_l0", ...), prefix prepended to each name ("" or "rnn."). */
cg_status cg_module_save_torch(cg_module *m, const char *path, const char *prefix);
cg_status cg_module_load_torch(cg_module *m, const char *path, const char *prefix);

/* ------------------------------------------------------------- containers */

cg_module *cg_sequential_new(const char *name);
/* Append a layer (the model takes ownership). Returns model, NULL on error. */
cg_module *cg_sequential_add(cg_module *model, cg_module *layer);
int cg_sequential_len(const cg_module *model);
cg_module *cg_sequential_at(const cg_module *model, int i);

/* ----------------------------------------------------------------- layers */

/* x: [..., in] -> act(x @ kernel + bias): [..., units]. kernel glorot-uniform,
 * bias zeros. name NULL: automatic. */
cg_module *cg_dense_new(int in, int units, cg_activation act, const char *name);
/* Full form. */
typedef struct cg_dense_opts {
    cg_activation activation;
    bool no_bias;
    cg_init kernel_init, bias_init; /* CG_INIT_DEFAULT (zeroed): glorot-uniform, zeros */
    bool torch_init;                /* PyTorch Linear: U(±1/sqrt(in)) for both */
    cg_rng *rng;
    const char *name;
} cg_dense_opts;
cg_module *cg_dense_new_ex(int in, int units, const cg_dense_opts *o);

/* ids: int64 [B, T] -> [B, T, dim]; weight U(±0.05) (Keras). mask_zero makes
 * id 0 a padding id: the layer emits a [B, T] mask of ids != 0. */
cg_module *cg_embedding_new(int vocab, int dim, const char *name);
typedef struct cg_embedding_opts {
    bool mask_zero;
    cg_init init; /* default U(±0.05); PyTorch's nn.Embedding is N(0, 1) */
    cg_rng *rng;
    const char *name;
} cg_embedding_opts;
cg_module *cg_embedding_new_ex(int vocab, int dim, const cg_embedding_opts *o);

/* Inverted dropout with rate p while training; identity in eval mode. */
cg_module *cg_dropout_new(double p, cg_rng *rng, const char *name);
/* [B, d1, d2, ...] -> [B, d1*d2*...]. */
cg_module *cg_flatten_new(const char *name);
cg_module *cg_activation_new(cg_activation act, const char *name);

/* --------------------------------------------------------- recurrent layers */

typedef enum cg_rnn_kind { CG_SIMPLE_RNN, CG_LSTM, CG_GRU } cg_rnn_kind;

typedef struct cg_rnn_opts {
    /* the layer: what the sequence loop does */
    bool return_sequences;    /* [B, T, H] instead of the last step [B, H] */
    bool go_backwards;        /* process the sequence in reverse */
    double dropout;           /* on the inputs, one mask per sequence (Keras) */
    double recurrent_dropout; /* on h before the recurrent kernel */
    cg_rng *rng;              /* init and dropout; NULL: the default */
    const char *name;
    /* the built-in cells (SimpleRNN, LSTM, GRU) */
    cg_activation activation;           /* default tanh */
    cg_activation recurrent_activation; /* default sigmoid (LSTM/GRU gates) */
    bool no_bias;
    cg_init kernel_init, recurrent_init, bias_init; /* zeroed: the Keras defaults */
    bool no_unit_forget_bias; /* LSTM: Keras sets the forget bias to 1 */
    bool torch_init;          /* PyTorch's U(±1/sqrt(H)) for every weight */
    bool reset_before;        /* GRU: Keras' reset_after=False, r multiplies h before the recurrent
                                 kernel: n = act(x W_h + b_h + (r * h) U_h); one bias [3H] */
    bool two_biases;          /* PyTorch's layout: "bias" (b_ih) and "recurrent_bias" (b_hh), each
                                 [G*H] and trained as two parameters, as PyTorch trains them */
} cg_rnn_opts;

cg_module *cg_simple_rnn_new(int in, int units, const cg_rnn_opts *o);
cg_module *cg_lstm_new(int in, int units, const cg_rnn_opts *o);
cg_module *cg_gru_new(int in, int units, const cg_rnn_opts *o);

/* ------------------------------------------------------------ recurrent cells
 * A recurrent layer is a cell run by one sequence loop (Keras' RNN(cell)).
 * The cell says what one time step does, with ordinary ops; the loop does
 * everything across steps: the input projection of all steps as one GEMM,
 * masking, go_backwards, return_sequences and the final states, initial
 * states, input and recurrent dropout, stacking and Bidirectional. The tape
 * does backpropagation through time. SimpleRNN, LSTM and GRU are three such
 * cells, and a cell of your own gets every one of those features:
 *
 *     typedef struct { cg_cell base; int units; cg_tensor *kernel, *recurrent, *bias; } my_cell;
 *     static int my_size(const cg_cell *c, int k) { (void)k; return ((const my_cell *)c)->units; }
 *     static cg_status my_build(cg_cell *c, cg_module *layer, int in, cg_rng *rng) {
 *         my_cell *m = (my_cell *)c;
 *         m->kernel = cg_module_add_param(layer, "kernel", CG_SHAPE(in, m->units), cg_init_glorot_uniform(), rng);
 *         m->recurrent = cg_module_add_param(layer, "recurrent_kernel", CG_SHAPE(m->units, m->units),
 *                                            cg_init_orthogonal(1.0), rng);
 *         m->bias = cg_module_add_param(layer, "bias", CG_SHAPE(m->units), cg_init_zeros(), rng);
 *         return m->bias ? CG_OK : cg_last_status();
 *     }
 *     static cg_status my_begin(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call) {
 *         *kernel = ((my_cell *)c)->kernel, *bias = ((my_cell *)c)->bias;   // x_t W + b for every step at once
 *         return CG_OK;
 *     }
 *     static cg_tensor *my_step(cg_cell *c, const cg_cell_step *s, cg_tensor **state_out) {
 *         cg_tensor *z = s->h ? cg_addmm(s->x, s->h, ((my_cell *)c)->recurrent) : s->x;
 *         return state_out[0] = cg_tanh(z);                                  // the output is h
 *     }
 *     static const cg_cell_type my_type = {.name = "MyRNN", .size = sizeof(my_cell), .n_states = 1,
 *                                          .state_size = my_size, .build = my_build, .begin = my_begin,
 *                                          .step = my_step};
 *     my_cell *c = calloc(1, sizeof *c);
 *     c->base.type = &my_type, c->units = 32;
 *     cg_module *layer = cg_rnn_new(&c->base, 8, &(cg_rnn_opts){.return_sequences = true});
 *
 * The cell's parameters belong to the layer ("my_rnn.kernel"). A step whose
 * gate arithmetic is one fused program (cg_fused, tensor.h) runs as fast as
 * the built-in cells, which are written exactly so: the LSTM's step is one
 * addmm with the recurrent kernel and one fused program for i, f, g, o, c', h'. */
#define CG_MAX_STATES 4

typedef struct cg_cell cg_cell;
typedef struct cg_cell_type cg_cell_type;
struct cg_cell {
    const cg_cell_type *type; /* the first member of every cell's struct */
};

/* What a step gets. */
typedef struct cg_cell_step {
    cg_tensor *x;            /* [B, P]: this step's slice of x @ kernel + bias (made for all steps at
                                once) when begin gave a kernel, else x_t itself, [B, F] */
    cg_tensor *const *state; /* the states at the step's start: state[k] is [B, state_size(k)] */
    cg_tensor *h;            /* state[0] as the recurrent kernel sees it (recurrent dropout applied);
                                NULL when every state is zero (the first step without an initial
                                state): products with the recurrent kernel are zero and may be skipped */
    int64_t t;               /* the step's time index (in the input's order) */
    void *call;              /* what begin made for this sequence, or NULL */
} cg_cell_step;

struct cg_cell_type {
    const char *name; /* the layer's type ("LSTM"); layers are named after it ("lstm", "lstm_1") */
    size_t size;      /* sizeof the cell's struct (Bidirectional's backward half is a copy, built anew) */
    int n_states;     /* 1..CG_MAX_STATES; state 0 is the output (h) */
    /* [required] state k's size (the units); state 0's is the output's */
    int (*state_size)(const cg_cell *c, int k);
    /* [required] add the parameters to the layer with cg_module_add_param,
     * for `in` input features; rng for their initial values */
    cg_status (*build)(cg_cell *c, cg_module *layer, int in, cg_rng *rng);
    /* [optional] once per sequence, before its steps, in its scope: the
     * kernel [F, P] and bias [P] (or NULL) the loop applies to every step at
     * once (leave *kernel NULL: the steps get x_t), and in *call anything the
     * steps share (a bias made of two; allocate with cg_scope_alloc) */
    cg_status (*begin)(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call);
    /* [optional] the input projection of all steps (or the input, without a
     * kernel) as the steps will read it: [B, T, P], or [T, B, P] when the
     * loop works time-major; the same shape back (a layer norm of every
     * step's projection at once, instead of one per step) */
    cg_tensor *(*project)(cg_cell *c, cg_tensor *xp, void *call);
    /* [required] one step: the new states in state_out, and the output.
     * begin, project and step may run on several threads at once, each on
     * its own rows of a batch (cg_predict; cg_train_batch with shards): keep
     * what a call makes in its scope or in *call, not in the cell. */
    cg_tensor *(*step)(cg_cell *c, const cg_cell_step *s, cg_tensor **state_out);
    /* [optional] release what the cell holds beyond its struct */
    void (*free)(cg_cell *c);
    /* [optional] a new cell with c's settings, for Bidirectional's backward
     * half (which build then gives parameters of its own); NULL: a copy of
     * c's `size` bytes, right unless the cell owns memory through pointers */
    cg_cell *(*copy)(const cg_cell *c);
    /* [optional] PyTorch's names and layout for the cell's parameters, the
     * suffix after each name ("" or "_reverse"); see cg_module_save_torch */
    int (*torch_export)(cg_cell *c, const char *prefix, const char *sfx, cg_named_tensor *out, int max);
    cg_status (*torch_import)(cg_cell *c, const cg_safetensors *f, const char *prefix, const char *sfx, bool apply);
};

/* The sequence layer around a cell (the layer owns it: it is freed with the
 * layer, or on error): x [B, T, in] -> [B, T, H] with return_sequences,
 * else [B, H]. Options: return_sequences, go_backwards, dropout,
 * recurrent_dropout, rng, name (the cells' own options are the cell's). */
cg_module *cg_rnn_new(cg_cell *cell, int in, const cg_rnn_opts *o);
/* The built-in cells, for cg_rnn_new (cg_lstm_new(in, units, o) is
 * cg_rnn_new(cg_lstm_cell_new(units, o), in, o)). NULL on a bad option. */
cg_cell *cg_simple_rnn_cell_new(int units, const cg_rnn_opts *o);
cg_cell *cg_lstm_cell_new(int units, const cg_rnn_opts *o);
cg_cell *cg_gru_cell_new(int units, const cg_rnn_opts *o);
/* The cell a recurrent layer runs (NULL for another module). */
cg_cell *cg_rnn_cell(cg_module *layer);

/* The full recurrent call: initial state (NULL: zeros; one per state of the
 * cell: LSTM takes h and c, the others h), a [B, T] mask (NULL: none; at
 * masked steps the state is carried through unchanged and, with
 * return_sequences, the output is 0), and the final states. */
typedef struct cg_rnn_result {
    cg_tensor *output;
    cg_tensor *states[CG_MAX_STATES];
    int n_states;
} cg_rnn_result;
cg_status cg_rnn_call(cg_module *rnn, cg_tensor *x, cg_tensor *const *initial_state, const cg_tensor *mask,
                      cg_rnn_result *out);

/* Run a copy of `layer` (a recurrent layer of any cell: same options,
 * go_backwards flipped, parameters of its own) over the reversed sequence
 * and concatenate both outputs along the last axis (Keras Bidirectional,
 * merge_mode="concat"). Owns layer. */
cg_module *cg_bidirectional_new(cg_module *layer, const char *name);
/* Keras' other merge modes: the forward and backward outputs (the backward
 * one in time order) added, multiplied or averaged, [..., H] instead of
 * concat's [..., 2H]. PyTorch's bidirectional modules concatenate only. */
typedef enum cg_merge_mode { CG_MERGE_CONCAT = 0, CG_MERGE_SUM, CG_MERGE_MUL, CG_MERGE_AVE } cg_merge_mode;
cg_module *cg_bidirectional_new_ex(cg_module *layer, cg_merge_mode merge, const char *name);
const char *cg_merge_mode_name(cg_merge_mode merge);

/* ------------------------------------------------------------ Keras files */
/* Keras model files, read and written: `.keras` (Keras 3: a zip archive of
 * config.json, metadata.json and model.weights.h5) and legacy `.h5` (HDF5:
 * the attribute model_config and the group model_weights, as Keras 2 and
 * Keras 3's model.save("x.h5") write them). The model is a Sequential of
 * InputLayer, Embedding (mask_zero), SimpleRNN, LSTM, GRU (reset_after true,
 * or false: cg_rnn_opts.reset_before), Bidirectional (merge modes concat,
 * sum, mul, ave), Dense, Dropout, Activation and Flatten with the options docs/keras.md
 * lists; layer names are kept. Anything else (another class, an option
 * cgrad does not have) is refused with an error naming the file, the place
 * in it and the class or option; nothing is half-built.
 *
 *     cg_keras_extra ex;
 *     cg_module *model = cg_keras_load("imdb_lstm.keras", &ex);
 *     if (!model) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
 *     cg_tensor *p = cg_module_forward(model, ids);           // Keras' numbers
 *     cg_optim *opt = cg_keras_optimizer_new(model, &ex);     // train.h: Keras' Adam, its state
 *     ...                                                     // train on
 *     cg_keras_optimizer_state(opt, model, &ex);              // train.h: the state back
 *     cg_keras_save(model, "tuned.keras", &ex);               // Keras' load_model opens it
 *     cg_keras_extra_free(&ex);
 *     cg_module_free(model);
 */

/* What a Keras file holds beside the model. */
typedef struct cg_keras_extra {
    char keras_version[32]; /* of the Keras that wrote the file; "" if it does not say */
    /* compile(): the optimizer's class ("Adam"; "" when the model was saved
     * uncompiled) and hyperparameters (NaN when absent), the loss when it
     * is a name ("binary_crossentropy"; else ""). */
    char optimizer[32];
    double learning_rate, beta_1, beta_2, epsilon;
    bool amsgrad;
    char loss[64];
    /* The input shape without the batch (InputLayer's batch_shape; -1 for
     * None), and whether the inputs are integer ids. */
    int64_t input_shape[CG_MAX_DIMS];
    int input_ndim;
    bool int_input;
    /* The Adam state when the file holds one (n_params > 0): the steps taken
     * and the first and second moments of each model parameter, in
     * cg_module_parameters order (NULL for a parameter that is not trained).
     * Tensors owned by the extra. */
    int64_t iterations;
    int n_params;
    cg_tensor **m, **v;
    char *compile_config; /* private: compile()'s JSON, written back by cg_keras_save */
    cg_scope *arena;      /* private: holds m, v */
} cg_keras_extra;

/* Read a .keras or .h5 file (told apart by content) -> a new Sequential
 * model (the caller frees it); extra (may be NULL) is filled, and must be
 * released with cg_keras_extra_free whether the load succeeded or not.
 * NULL with an error naming the file and the place inside it
 * ("x.keras: model.weights.h5: layers/lstm/cell/vars/0: ...") on bad
 * input. */
cg_module *cg_keras_load(const char *path, cg_keras_extra *extra);
/* The same from bytes in memory; `label` stands for the path in messages. */
cg_module *cg_keras_load_memory(const void *data, size_t size, const char *label, cg_keras_extra *extra);
/* A model from a Keras configuration alone (config.json's text, or a
 * legacy model_config): the layers with fresh weights, ready to be saved
 * for Keras. The caller frees it; NULL with an error. */
cg_module *cg_keras_from_config(const char *json, const char *label);
/* Write model as .keras (path ending in ".keras") or legacy .h5 (".h5",
 * ".hdf5") through a temporary file: a failed save leaves what was at path.
 * extra (may be NULL) adds compile() and the optimizer state. Layers made
 * in C are written from what they hold (a recurrent layer from its cell's
 * options); a layer of a user's cell, or one with two_biases, has no Keras
 * form and is refused by name. */
cg_status cg_keras_save(const cg_module *model, const char *path, const cg_keras_extra *extra);
/* Release what a load put in extra (the struct itself is the caller's). */
void cg_keras_extra_free(cg_keras_extra *extra);

/* ----------------------------------------------------------- losses */
/* Each returns a 0-d mean over the batch. A target of shape [B] is accepted
 * for a prediction of shape [B, 1]. */

/* Keras binary_crossentropy on probabilities: p clipped to [eps, 1-eps],
 * eps = 1e-7, -(y log(p + eps) + (1-y) log(1 - p + eps)). */
cg_tensor *cg_binary_crossentropy(cg_tensor *probs, cg_tensor *targets);
cg_tensor *cg_mse(cg_tensor *pred, cg_tensor *targets);
cg_tensor *cg_mae(cg_tensor *pred, cg_tensor *targets);
cg_tensor *cg_huber(cg_tensor *pred, cg_tensor *targets, double delta);
/* Probabilities [..., C] (normalized, clipped like Keras) and one-hot targets. */
cg_tensor *cg_categorical_crossentropy(cg_tensor *probs, cg_tensor *onehot);
/* Probabilities [..., C] and int64 class ids [...]: Keras' formula, which
 * normalizes each row after clipping: -log(p'[id] / sum(p')), p' = clip(p, eps,
 * 1 - eps). From logits: cg_cross_entropy. */
cg_tensor *cg_sparse_categorical_crossentropy(cg_tensor *probs, const cg_tensor *ids);

/* Metrics (no gradient): fractions in [0, 1]. */
double cg_binary_accuracy(const cg_tensor *probs, const cg_tensor *targets, double threshold);
double cg_sparse_categorical_accuracy(const cg_tensor *probs, const cg_tensor *ids);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_NN_H */
