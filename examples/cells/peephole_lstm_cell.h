/* A peephole LSTM (Gers & Schmidhuber 2000, "Recurrent nets that time and count"; the
 * form of Gers, Schraudolph & Schmidhuber 2002) as a cell for cg_rnn_new: the input and
 * forget gates look at the cell state c they update, the output gate at the new one c':
 *     z = x W + h U + b                      split i, f, g, o
 *     i = sigmoid(z_i + p_i c),  f = sigmoid(z_f + p_f c),  g = tanh(z_g)
 *     c' = f c + i g
 *     o = sigmoid(z_o + p_o c'),  h' = o tanh(c')
 * The peephole weights p_i, p_f, p_o [H] are diagonal (one per cell) and broadcast over the
 * batch. Parameters (Keras' PeepholeLSTMCell names and initializers): kernel W [F, 4H]
 * (glorot uniform), recurrent_kernel U [H, 4H] (orthogonal), bias b [4H] (zeros, the forget
 * gate's 1), input_gate_peephole_weights, forget_gate_peephole_weights,
 * output_gate_peephole_weights [H] (glorot uniform). A step is one addmm and one fused program.
 *
 *     cg_module *layer = cg_rnn_new(peephole_lstm_cell_new(30), 2, NULL);  // owns the cell
 *
 * peephole_lstm_cell_new: NULL with an error for units <= 0. */
#ifndef PEEPHOLE_LSTM_CELL_H
#define PEEPHOLE_LSTM_CELL_H

#include <cgrad/cgrad.h>

#include <stdlib.h>

typedef struct peephole_lstm_cell {
    cg_cell base;
    int units;
    cg_tensor *kernel, *recurrent, *bias, *peep[3]; /* p_i, p_f, p_o */
    cg_fused_prog prog;                             /* (z, c, p_i, p_f, p_o) -> (h', c') */
} peephole_lstm_cell;

static inline int peephole_lstm_size(const cg_cell *c, int k) { return (void)k, ((const peephole_lstm_cell *)c)->units; }

static inline cg_status peephole_lstm_build(cg_cell *c, cg_module *layer, int in, cg_rng *rng) {
    static const char *const names[3] = {"input_gate_peephole_weights", "forget_gate_peephole_weights", "output_gate_peephole_weights"};
    peephole_lstm_cell *m = (peephole_lstm_cell *)c;
    int64_t H = m->units;
    if (!(m->kernel = cg_module_add_param(layer, "kernel", CG_SHAPE(in, 4 * H), cg_init_glorot_uniform(), rng)) ||
        !(m->recurrent = cg_module_add_param(layer, "recurrent_kernel", CG_SHAPE(H, 4 * H), cg_init_orthogonal(1), rng)) ||
        !(m->bias = cg_module_add_param(layer, "bias", CG_SHAPE(4 * H), cg_init_zeros(), rng)) ||
        !cg_k_fill_(cg_k_slice(m->bias, 0, H, 2 * H, 1), 1.0)) /* unit forget bias */
        return cg_last_status();
    for (int k = 0; k < 3; k++)
        if (!(m->peep[k] = cg_module_add_param(layer, names[k], CG_SHAPE(H), cg_init_glorot_uniform(), rng)))
            return cg_last_status();
    return CG_OK;
}

/* The loop computes x W + b for every step at once. */
static inline cg_status peephole_lstm_begin(cg_cell *c, cg_tensor **kernel, cg_tensor **bias, void **call) {
    peephole_lstm_cell *m = (peephole_lstm_cell *)c;
    return (void)call, *kernel = m->kernel, *bias = m->bias, CG_OK;
}

static inline cg_tensor *peephole_lstm_step(cg_cell *c, const cg_cell_step *s, cg_tensor **next) {
    peephole_lstm_cell *m = (peephole_lstm_cell *)c;
    cg_tensor *z = s->h ? cg_addmm(s->x, s->h, m->recurrent) : s->x; /* h = 0: h U is 0 */
    cg_tensor *in[5] = {z, s->state[1], m->peep[0], m->peep[1], m->peep[2]}, *out[2];
    if (cg_fused(&m->prog, in, out) != 2) return NULL;
    return next[1] = out[1], next[0] = out[0];
}

static const cg_cell_type peephole_lstm_type = {.name = "PeepholeLSTM", .size = sizeof(peephole_lstm_cell),
                                                .n_states = 2, .state_size = peephole_lstm_size,
                                                .build = peephole_lstm_build, .begin = peephole_lstm_begin,
                                                .step = peephole_lstm_step};

static inline cg_cell *peephole_lstm_cell_new(int units) {
    if (units <= 0) return cg_set_error(CG_ERR_VALUE, "peephole_lstm_cell_new: units = %d must be > 0", units), NULL;
    peephole_lstm_cell *m = calloc(1, sizeof *m);
    if (!m) return cg_set_error(CG_ERR_NOMEM, "peephole_lstm_cell_new: out of memory"), NULL;
    m->base.type = &peephole_lstm_type, m->units = units;
    cg_fused_prog *p = &m->prog;
    cg_fused_begin(p, "peephole_lstm_cell");
    int z = cg_fused_input(p, 4), cr = cg_fused_input(p, 1), pi = cg_fused_input(p, 1), pf = cg_fused_input(p, 1), po = cg_fused_input(p, 1);
    int i = cg_fused_unary(p, CG_SIGMOID, cg_fused_binary(p, CG_ADD, z, cg_fused_binary(p, CG_MUL, pi, cr)));
    int f = cg_fused_unary(p, CG_SIGMOID, cg_fused_binary(p, CG_ADD, z + 1, cg_fused_binary(p, CG_MUL, pf, cr)));
    int g = cg_fused_unary(p, CG_TANH, z + 2);
    int c2 = cg_fused_binary(p, CG_ADD, cg_fused_binary(p, CG_MUL, f, cr), cg_fused_binary(p, CG_MUL, i, g));
    int o = cg_fused_unary(p, CG_SIGMOID, cg_fused_binary(p, CG_ADD, z + 3, cg_fused_binary(p, CG_MUL, po, c2)));
    cg_fused_output(p, cg_fused_binary(p, CG_MUL, o, cg_fused_unary(p, CG_TANH, c2)));
    cg_fused_output(p, c2);
    if (p->bad) return free(m), NULL;
    return &m->base;
}

#endif /* PEEPHOLE_LSTM_CELL_H */
