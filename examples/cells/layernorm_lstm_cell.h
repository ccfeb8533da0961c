/* The LayerNorm-LSTM (Ba, Kiros & Hinton 2016, "Layer Normalization") as a cell
 * for cg_rnn_new, computed as PyTorch's reference LayerNormLSTMCell computes it
 * (pytorch/benchmarks/fastrnns/custom_lstms.py):
 *     gates = LN_i(x W) + LN_h(h U)     LN_i, LN_h over all 4H pre-activations
 *     i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the gates' quarters
 *     c' = LN_c(f c + i g)              LN_c over the H cells
 *     h' = o tanh(c')
 * Each LN has eps 1e-5 (nn.LayerNorm's), a gain (starts at 1) and a bias (starts at 0); the
 * LN biases are the cell's only biases. Parameters: kernel W [F, 4H] (glorot uniform),
 * recurrent_kernel U [H, 4H] (orthogonal), ln_i_gamma, ln_i_beta, ln_h_gamma, ln_h_beta [4H],
 * ln_c_gamma, ln_c_beta [H]; PyTorch's weight_ih is W transposed, weight_hh U transposed.
 * Like that reference, the state carried to the next step is the normalized c'; Ba et al.'s
 * equations carry f c + i g and normalize it only where it enters h'.
 * The loop projects x W for every step at once and the cell normalizes that whole projection
 * (LN_i, through the cell type's `project`); the gate arithmetic runs as two fused programs on
 * either side of LN_c (a reduction).
 *
 *     cg_module *layer = cg_rnn_new(layernorm_lstm_cell_new(128), 128, NULL);  // owns the cell
 *
 * layernorm_lstm_cell_new: NULL with an error for units <= 0. */
#ifndef LAYERNORM_LSTM_CELL_H
#define LAYERNORM_LSTM_CELL_H

#include <cgrad/cgrad.h>

#include <stdlib.h>

#define LAYERNORM_LSTM_EPS 1e-5

typedef struct layernorm_lstm_cell {
    cg_cell base;
    int units;
    cg_tensor *kernel, *recurrent, *ln[6]; /* gamma, beta of LN_i, LN_h, LN_c */
    cg_fused_prog gates, out;              /* (LN_i, LN_h, c) -> (f c + i g, o); (o, c') -> h' */
} layernorm_lstm_cell;

static inline int layernorm_lstm_size(const cg_cell *c, int k) { return (void)k, ((const layernorm_lstm_cell *)c)->units; }

static inline cg_status layernorm_lstm_build(cg_cell *c, cg_module *layer, int in, cg_rng *rng) {
    static const char *const names[6] = {"ln_i_gamma", "ln_i_beta", "ln_h_gamma", "ln_h_beta", "ln_c_gamma", "ln_c_beta"};
    layernorm_lstm_cell *m = (layernorm_lstm_cell *)c;
    int64_t H = m->units;
    if (!(m->kernel = cg_module_add_param(layer, "kernel", CG_SHAPE(in, 4 * H), cg_init_glorot_uniform(), rng)) ||
        !(m->recurrent = cg_module_add_param(layer, "recurrent_kernel", CG_SHAPE(H, 4 * H), cg_init_orthogonal(1), rng)))
        return cg_last_status();
    for (int k = 0; k < 6; k++)
        if (!(m->ln[k] = cg_module_add_param(layer, names[k], CG_SHAPE(k < 4 ? 4 * H : H),
                                             (cg_init){k % 2 ? CG_INIT_ZEROS : CG_INIT_ONES, 0}, rng)))
            return cg_last_status();
    return CG_OK;
}

/* The loop applies the kernel to every step's x at once (no bias: the LNs have them). */
static inline cg_status layernorm_lstm_begin(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call) {
    return (void)call, *kernel = ((layernorm_lstm_cell *)c)->kernel, *bias = NULL, CG_OK;
}

/* LN_i of every step's projection at once. */
static inline cg_tensor *layernorm_lstm_project(cg_cell *c, cg_tensor *xp, void *call) {
    return (void)call, cg_layer_norm(xp, ((layernorm_lstm_cell *)c)->ln[0], ((layernorm_lstm_cell *)c)->ln[1], LAYERNORM_LSTM_EPS);
}

static inline cg_tensor *layernorm_lstm_step(cg_cell *c, const cg_cell_step *s, cg_tensor **next) {
    layernorm_lstm_cell *m = (layernorm_lstm_cell *)c;
    cg_tensor *const *ln = m->ln, *out[2];
    /* with h = 0 (the first step without an initial state) LN_h(h U) is LN_h's bias */
    cg_tensor *hg = s->h ? cg_layer_norm(cg_matmul(s->h, m->recurrent), ln[2], ln[3], LAYERNORM_LSTM_EPS) : ln[3];
    cg_tensor *in[3] = {s->x, hg, s->state[1]};
    if (cg_fused(&m->gates, in, out) != 2) return NULL;
    cg_tensor *in2[2] = {out[1], next[1] = cg_layer_norm(out[0], ln[4], ln[5], LAYERNORM_LSTM_EPS)};
    return next[0] = cg_fused(&m->out, in2, out) == 1 ? out[0] : NULL;
}

static const cg_cell_type layernorm_lstm_type = {.name = "LayerNormLSTM", .size = sizeof(layernorm_lstm_cell),
                                                 .n_states = 2, .state_size = layernorm_lstm_size,
                                                 .build = layernorm_lstm_build, .begin = layernorm_lstm_begin,
                                                 .project = layernorm_lstm_project, .step = layernorm_lstm_step};

static inline cg_cell *layernorm_lstm_cell_new(int units) {
    if (units <= 0) return cg_set_error(CG_ERR_VALUE, "layernorm_lstm_cell_new: units = %d must be > 0", units), NULL;
    layernorm_lstm_cell *m = calloc(1, sizeof *m);
    if (!m) return cg_set_error(CG_ERR_NOMEM, "layernorm_lstm_cell_new: out of memory"), NULL;
    m->base.type = &layernorm_lstm_type, m->units = units;
    cg_fused_prog *p = &m->gates, *q = &m->out;
    cg_fused_begin(p, "layernorm_lstm_gates");
    int a = cg_fused_input(p, 4), b = cg_fused_input(p, 4), cr = cg_fused_input(p, 1), g[4];
    for (int k = 0; k < 4; k++) g[k] = cg_fused_unary(p, k == 2 ? CG_TANH : CG_SIGMOID, cg_fused_binary(p, CG_ADD, a + k, b + k));
    cg_fused_output(p, cg_fused_binary(p, CG_ADD, cg_fused_binary(p, CG_MUL, g[1], cr), cg_fused_binary(p, CG_MUL, g[0], g[2])));
    cg_fused_output(p, g[3]);
    cg_fused_begin(q, "layernorm_lstm_output");
    int o = cg_fused_input(q, 1), c2 = cg_fused_input(q, 1);
    cg_fused_output(q, cg_fused_binary(q, CG_MUL, o, cg_fused_unary(q, CG_TANH, c2)));
    if (m->gates.bad || m->out.bad) return free(m), NULL;
    return &m->base;
}

#endif /* LAYERNORM_LSTM_CELL_H */
