"""Reference outputs and gradients of composite expressions for
tests/test_reference_ops.c: one LSTM-cell step, one GRU-cell step, softmax
cross-entropy and an embedding lookup with repeated ids.

Run from the repository root:  /usr/bin/python3 tests/reference/autograd_fixtures.py
Writes tests/reference/fixtures/autograd_*.txt (float32, fixed seeds).

Weight layout: PyTorch's cells store weight_ih as [G*H, in] and compute
x @ weight_ih.T; cgrad computes x @ W with W = weight_ih.T of shape [in, G*H].
The fixtures hold the cgrad layout (w_ih, w_hh and their gradients are
transposed here), with the gate blocks in PyTorch's order along the columns:
LSTM i, f, g, o; GRU r, z, n ("reset after": r multiplies W_hn h + b_hn).
Each loss is a fixed random weighting of the outputs, sum(h1 * wh) (+ sum(c1 * wc)),
so every output element gets a distinct gradient."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture_io import write_fixtures  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures")
B, IN, H = 3, 5, 4


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def cell_fixture(name, cell, gates, with_c):
    torch.manual_seed({"lstm": 1, "gru": 2}[name])
    x, h = leaf(torch.randn(B, IN)), leaf(torch.randn(B, H))
    c = leaf(torch.randn(B, H)) if with_c else None
    wh = torch.randn(B, H)
    wc = torch.randn(B, H) if with_c else None
    if with_c:
        h1, c1 = cell(x, (h, c))
        loss = (h1 * wh).sum() + (c1 * wc).sum()
    else:
        h1 = cell(x, h)
        loss = (h1 * wh).sum()
    loss.backward()
    t = {"x": x, "h": h}
    if with_c:
        t["c"] = c
    t.update({
        "w_ih": cell.weight_ih.t(), "w_hh": cell.weight_hh.t(), "b_ih": cell.bias_ih, "b_hh": cell.bias_hh,
        "wh": wh,
    })
    if with_c:
        t["wc"] = wc
    t["h1"] = h1
    if with_c:
        t["c1"] = c1
    t["loss"] = loss
    t.update({"grad_x": x.grad, "grad_h": h.grad})
    if with_c:
        t["grad_c"] = c.grad
    t.update({
        "grad_w_ih": cell.weight_ih.grad.t(), "grad_w_hh": cell.weight_hh.grad.t(),
        "grad_b_ih": cell.bias_ih.grad, "grad_b_hh": cell.bias_hh.grad,
    })
    write_fixtures(os.path.join(OUT, f"autograd_{name}_cell.txt"), t,
                   f"torch.nn.{type(cell).__name__}({IN}, {H}), batch {B}, gates {gates}; "
                   "w_ih/w_hh in cgrad layout [in, G*H] (PyTorch's weight transposed)")


def cross_entropy_fixture():
    torch.manual_seed(3)
    logits = leaf(torch.randn(6, 5) * 2)
    targets = torch.tensor([0, 4, 2, 2, 1, 3])
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    # [..., C] logits with class ids [...]: PyTorch wants the class dim second
    logits3 = leaf(torch.randn(2, 3, 5) * 2)
    targets3 = torch.tensor([[1, 0, 4], [4, 4, 2]])
    loss3 = F.cross_entropy(logits3.permute(0, 2, 1), targets3, reduction="sum")
    loss3.backward()
    write_fixtures(os.path.join(OUT, "autograd_cross_entropy.txt"), {
        "logits": logits, "targets": targets, "loss": loss, "grad_logits": logits.grad,
        "logits3": logits3, "targets3": targets3, "loss3": loss3, "grad_logits3": logits3.grad,
    }, "F.cross_entropy: [6, 5] logits (mean) and [2, 3, 5] logits over the last dim (sum)")


def embedding_fixture():
    torch.manual_seed(4)
    weight = leaf(torch.randn(7, 3))
    ids = torch.tensor([[1, 3, 1, 6], [3, 3, 0, 1]])  # 1 and 3 repeat; 2, 4, 5 unused
    wout = torch.randn(2, 4, 3)
    out = F.embedding(ids, weight)
    loss = (out * wout).sum()
    loss.backward()
    write_fixtures(os.path.join(OUT, "autograd_embedding.txt"), {
        "weight": weight, "ids": ids, "wout": wout, "out": out, "loss": loss, "grad_weight": weight.grad,
    }, "F.embedding with repeated ids; the weight gradient accumulates repeats")


def main():
    torch.manual_seed(0)
    cell_fixture("lstm", torch.nn.LSTMCell(IN, H), "i,f,g,o", True)
    cell_fixture("gru", torch.nn.GRUCell(IN, H), "r,z,n", False)
    cross_entropy_fixture()
    embedding_fixture()


if __name__ == "__main__":
    main()
