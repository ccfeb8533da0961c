"""PyTorch training runs the nn tests repeat: recurrent layers loaded from a
PyTorch state dict, then trained a few Adam steps, must follow PyTorch's
weights step by step (cgrad's two_biases layout trains bias_ih and bias_hh as
two parameters, as PyTorch does).

Writes tests/reference/fixtures/:
  nn_torch_training.safetensors  the initial state dicts: "rnn.", "lstm.",
                                 "gru." (bidirectional: "..._reverse")
  nn_torch_training.txt          per module: the batches x (one per step),
                                 the loss weights w, and after the steps every
                                 parameter ("<tag>_final_<name>") and the output
                                 on the first batch

The loss of a step is sum(module(x)[0] * w); Adam is PyTorch's (lr 0.01,
betas (0.9, 0.999), eps 1e-8). float32 throughout, as a user trains.

Run with: /usr/bin/python3 tests/reference/torch_training_fixtures.py
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixtures  # noqa: E402
from nn_fixtures import save_safetensors  # noqa: E402

OUT = os.path.join(HERE, "fixtures")
B, T, FEAT, H, STEPS = 3, 5, 4, 6, 6
CASES = [("rnn", torch.nn.RNN, False), ("lstm", torch.nn.LSTM, True), ("gru", torch.nn.GRU, True)]


def main():
    fx, state = {}, {}
    for k, (tag, cls, bidi) in enumerate(CASES):
        torch.manual_seed(300 + k)
        m = cls(FEAT, H, batch_first=True, bidirectional=bidi)
        state.update({f"{tag}.{n}": p.clone() for n, p in m.state_dict().items()})
        xs = torch.randn(STEPS, B, T, FEAT)
        w = torch.randn(B, T, H * (2 if bidi else 1))
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        for s in range(STEPS):
            opt.zero_grad()
            loss = (m(xs[s])[0] * w).sum()
            loss.backward()
            opt.step()
        fx[f"{tag}_x"] = xs
        fx[f"{tag}_w"] = w
        for n, p in m.named_parameters():
            fx[f"{tag}_final_{n}"] = p
        with torch.no_grad():
            fx[f"{tag}_final_out"] = m(xs[0])[0]
    save_safetensors(os.path.join(OUT, "nn_torch_training.safetensors"), state)
    write_fixtures(os.path.join(OUT, "nn_torch_training.txt"), fx,
                   comment=f"tests/reference/torch_training_fixtures.py, torch {torch.__version__}")


if __name__ == "__main__":
    main()
