"""Reference values for tests/test_user_cells.c: the two recurrent cells of
examples/cells/ written here as PyTorch modules, in float64.

  LayerNormLSTMCell  as pytorch/benchmarks/fastrnns/custom_lstms.py computes it
                     (PyTorch PR #11335): igates = LN_i(x W_ih^T), hgates =
                     LN_h(h W_hh^T), both nn.LayerNorm(4H); gates = igates + hgates
                     -> i, f, g, o; c' = LN_c(f c + i g), nn.LayerNorm(H); h' = o
                     tanh(c'). eps 1e-5; the LayerNorms' biases are the only biases.
  PeepholeLSTMCell   Gers & Schmidhuber 2000: z = x W_ih^T + h W_hh^T + bias,
                     i = sigmoid(z_i + w_ci c), f = sigmoid(z_f + w_cf c),
                     g = tanh(z_g), c' = f c + i g, o = sigmoid(z_o + w_co c'),
                     h' = o tanh(c').

Each cell runs over a padded batch with a mask exactly as cgrad's sequence
loop (nn/rnn.c) treats one: at a masked step the states are carried through
unchanged and the sequence output is 0; go_backwards runs over the reversed
sequence and returns its outputs in that (processing) order; Bidirectional
flips the backward direction's outputs back to time order and concatenates.

Writes tests/reference/fixtures/user_cells.txt; tags <cell>_<case>, cell
"lnlstm" or "peephole":
  bidi  Bidirectional, return_sequences, the mask, zero initial states:
        out [B, T, 2H], each direction's final states (hn, cn and hn_reverse,
        cn_reverse); loss = sum(out * w)
  init  one layer, return_sequences, the mask, initial states h0, c0: out,
        final hn, cn; loss = sum(out * w) + sum(hn * wh) + sum(cn * wc)
  back  the same layer with go_backwards
Parameters are stored under PyTorch's names and layout (weight_ih [4H, F],
weight_hh [4H, H], layernorm_i_weight = LN_i's gain, ...), the backward
direction's with the suffix _reverse, and every gradient as grad_<name>
(grad_x, grad_h0, grad_c0 for the inputs).

Run with: /usr/bin/python3 tests/reference/cell_fixtures.py
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixtures  # noqa: E402

OUT = os.path.join(HERE, "fixtures")
B, T, FEAT, H = 3, 5, 4, 6
# row 0 full, row 1 pre-padded (its first steps masked), row 2 post-padded
MASK = [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0]]


class LayerNormLSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.weight_ih = nn.Parameter(0.5 * torch.randn(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(0.5 * torch.randn(4 * hidden_size, hidden_size))
        self.layernorm_i = nn.LayerNorm(4 * hidden_size)
        self.layernorm_h = nn.LayerNorm(4 * hidden_size)
        self.layernorm_c = nn.LayerNorm(hidden_size)
        with torch.no_grad():  # gains and biases away from 1 and 0, so every path is exercised
            for ln in (self.layernorm_i, self.layernorm_h, self.layernorm_c):
                ln.weight.add_(0.3 * torch.randn_like(ln.weight))
                ln.bias.add_(0.3 * torch.randn_like(ln.bias))

    def forward(self, x, state):
        hx, cx = state
        igates = self.layernorm_i(torch.mm(x, self.weight_ih.t()))
        hgates = self.layernorm_h(torch.mm(hx, self.weight_hh.t()))
        i, f, g, o = (igates + hgates).chunk(4, 1)
        cy = self.layernorm_c(torch.sigmoid(f) * cx + torch.sigmoid(i) * torch.tanh(g))
        return torch.sigmoid(o) * torch.tanh(cy), cy


class PeepholeLSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.weight_ih = nn.Parameter(0.5 * torch.randn(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(0.5 * torch.randn(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(0.3 * torch.randn(4 * hidden_size))
        self.weight_ci = nn.Parameter(0.5 * torch.randn(hidden_size))
        self.weight_cf = nn.Parameter(0.5 * torch.randn(hidden_size))
        self.weight_co = nn.Parameter(0.5 * torch.randn(hidden_size))

    def forward(self, x, state):
        hx, cx = state
        zi, zf, zg, zo = (x @ self.weight_ih.t() + hx @ self.weight_hh.t() + self.bias).chunk(4, 1)
        i = torch.sigmoid(zi + self.weight_ci * cx)
        f = torch.sigmoid(zf + self.weight_cf * cx)
        cy = f * cx + i * torch.tanh(zg)
        o = torch.sigmoid(zo + self.weight_co * cy)
        return o * torch.tanh(cy), cy


def run_layer(cell, x, mask, state, backwards):
    """cgrad's sequence loop: outputs [B, T, H] in processing order, final (h, c)."""
    h, c = state if state is not None else (x.new_zeros(x.shape[0], H), x.new_zeros(x.shape[0], H))
    outs = []
    for s in range(x.shape[1]):
        t = x.shape[1] - 1 - s if backwards else s
        h2, c2 = cell(x[:, t], (h, c))
        m = mask[:, t, None]
        outs.append(h2 * m)
        h, c = torch.where(m > 0, h2, h), torch.where(m > 0, c2, c)
    return torch.stack(outs, 1), (h, c)


def record_params(fx, tag, cell, sfx=""):
    for name, p in cell.named_parameters():
        name = name.replace(".", "_")
        fx[f"{tag}_{name}{sfx}"] = p
        fx[f"{tag}_grad_{name}{sfx}"] = p.grad.clone()


def cases(fx, name, cls, seed):
    mask = torch.tensor(MASK, dtype=torch.float64)
    torch.manual_seed(seed)
    fwd, bwd = cls(FEAT, H), cls(FEAT, H)
    x = torch.randn(B, T, FEAT, requires_grad=True)
    yf, (hf, cf) = run_layer(fwd, x, mask, None, False)
    yb, (hb, cb) = run_layer(bwd, x, mask, None, True)
    out = torch.cat([yf, yb.flip(1)], -1)
    w = torch.randn(B, T, 2 * H)
    (out * w).sum().backward()
    tag = f"{name}_bidi"
    record_params(fx, tag, fwd)
    record_params(fx, tag, bwd, "_reverse")
    fx.update({f"{tag}_x": x, f"{tag}_mask": mask, f"{tag}_w": w, f"{tag}_out": out, f"{tag}_grad_x": x.grad,
               f"{tag}_hn": hf, f"{tag}_cn": cf, f"{tag}_hn_reverse": hb, f"{tag}_cn_reverse": cb})

    for case, backwards in (("init", False), ("back", True)):
        cell = cls(FEAT, H)
        x = torch.randn(B, T, FEAT, requires_grad=True)
        h0 = torch.randn(B, H, requires_grad=True)
        c0 = torch.randn(B, H, requires_grad=True)
        out, (hn, cn) = run_layer(cell, x, mask, (h0, c0), backwards)
        w, wh, wc = torch.randn(B, T, H), torch.randn(B, H), torch.randn(B, H)
        ((out * w).sum() + (hn * wh).sum() + (cn * wc).sum()).backward()
        tag = f"{name}_{case}"
        record_params(fx, tag, cell)
        fx.update({f"{tag}_x": x, f"{tag}_mask": mask, f"{tag}_h0": h0, f"{tag}_c0": c0, f"{tag}_w": w,
                   f"{tag}_wh": wh, f"{tag}_wc": wc, f"{tag}_out": out, f"{tag}_hn": hn, f"{tag}_cn": cn,
                   f"{tag}_grad_x": x.grad, f"{tag}_grad_h0": h0.grad, f"{tag}_grad_c0": c0.grad})


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    fx = {}
    cases(fx, "lnlstm", LayerNormLSTMCell, 400)
    cases(fx, "peephole", PeepholeLSTMCell, 500)
    write_fixtures(os.path.join(OUT, "user_cells.txt"), fx,
                   f"cell_fixtures.py (torch {torch.__version__}, float64): LayerNorm-LSTM and peephole LSTM cells\n"
                   f"run by cgrad's masked sequence loop, B={B} T={T} F={FEAT} H={H}")
    print("wrote user_cells.txt to", OUT)
