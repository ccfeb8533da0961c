#!/usr/bin/env python3
"""PyTorch inference on the IMDB workloads, as cgrad-bench measures cg_predict:
the peer's models (../shared/peers/torch_bench.py's shapes), 2048 synthetic reviews in
batches of 256, under torch.inference_mode(), one warm-up pass, then the best of 3.
Usage: torch_predict.py [--threads N] [WORKLOAD ...]
Prints: <workload>_predict <samples per second> samples/s (batch 256)"""
import argparse
import time

import torch
import torch.nn as nn

MODELS = {  # name: (cell, hidden, vocab, emb, T)
    "imdb_simple_rnn": (nn.RNN, 32, 10000, 128, 40),
    "imdb_lstm": (nn.LSTM, 128, 20000, 128, 80),
}


class Seq(nn.Module):
    def __init__(self, cell, hidden, vocab, emb):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = cell(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.rnn(self.emb(x))
        return self.out(y[:, -1])


def run(name, n=2048, batch=256):
    cell, hidden, vocab, emb, T = MODELS[name]
    torch.manual_seed(0)
    model = Seq(cell, hidden, vocab, emb).eval()
    x = torch.randint(1, vocab, (n, T), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.inference_mode():
        for rep in range(4):
            t = time.perf_counter()
            for i in range(0, n, batch):
                model(x[i:i + batch])
            dt = time.perf_counter() - t
            if rep:
                best = min(best, dt)
    print(f"{name}_predict {n / best:.0f} samples/s (batch {batch})", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("workloads", nargs="*", default=list(MODELS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for w in a.workloads:
        run(w)
