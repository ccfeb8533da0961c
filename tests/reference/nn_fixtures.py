"""Reference values for the nn/ tests, computed by PyTorch.

Writes tests/reference/fixtures/:
  nn_rnn.txt            RNN/LSTM/GRU (tanh) forward outputs and every parameter
                        gradient: single layer (last step), full sequence, initial
                        state with final states, 2 stacked layers, bidirectional
                        (sequence and last step)
  nn_rnn.safetensors    the state_dicts of the single-layer modules, under
                        "rnn." / "lstm." / "gru.", and of the bidirectional
                        ones under "rnn_bidi." ... ("weight_ih_l0_reverse", ...)
  nn_layers.txt         Linear + activations, Embedding, softmax, losses
  nn_model.safetensors  state_dict of Embedding -> LSTM -> Linear (torch
                        nn.Sequential names "0.", "1.", "2.")
  nn_model.txt          its input ids and output (logits of the last step)

Every loss is sum(output * fixed random weights) so all gradients are
non-trivial. Tensors are stored in PyTorch's layout (weight_ih_l0 is
[gates*H, F], gates i,f,g,o for LSTM and r,z,n for GRU); the tests map them
to cgrad's layout themselves.

Debian packages no `safetensors` module, so the file format is written here
with struct + json: u64 LE header length, JSON {name: {"dtype","shape",
"data_offsets"}}, header space-padded to a multiple of 8, raw LE data.

Run with: /usr/bin/python3 tests/reference/nn_fixtures.py
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixtures  # noqa: E402

OUT = os.path.join(HERE, "fixtures")
B, T, FEAT, H = 3, 5, 4, 6
CLS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def save_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def record(fx, tag, module, x, extra=()):
    """Store the module's parameters and their gradients, and x's gradient."""
    for name, p in module.named_parameters():
        fx[f"{tag}_{name}"] = p
        fx[f"{tag}_grad_{name}"] = p.grad.clone()
    fx[f"{tag}_x"] = x
    fx[f"{tag}_grad_x"] = x.grad
    for name, t in extra:
        fx[f"{tag}_{name}"] = t
        if t.is_leaf and t.requires_grad:
            fx[f"{tag}_grad_{name}"] = t.grad


def rnn_cases():
    fx, state = {}, {}
    for k, (kind, cls) in enumerate(CLS.items()):
        torch.manual_seed(100 + k)
        m = cls(FEAT, H, batch_first=True)
        state.update({f"{kind}.{n}": p for n, p in m.state_dict().items()})

        def run(variant, out_fn, wshape, h0=None):
            m.zero_grad()
            x = torch.randn(B, T, FEAT, requires_grad=True)
            w = torch.randn(*wshape)
            y, hn = m(x, h0) if h0 is not None else m(x)
            out = out_fn(y, hn)
            loss = (out * w).sum()
            extra = [("w", w)]
            if h0 is not None:  # the final states enter the loss too
                hs = hn if isinstance(hn, tuple) else (hn,)
                ws = [torch.randn(B, H) for _ in hs]
                loss = loss + sum((s[0] * v).sum() for s, v in zip(hs, ws))
                extra += [("hn", hs[0][0]), ("wh", ws[0])]
                if kind == "lstm":
                    extra += [("cn", hs[1][0]), ("wc", ws[1])]
            loss.backward()
            record(fx, f"{kind}_{variant}", m, x, extra + [("out", out)])

        run("last", lambda y, hn: y[:, -1], (B, H))
        run("seq", lambda y, hn: y, (B, T, H))
        h0 = torch.randn(1, B, H, requires_grad=True)
        init = (h0, torch.randn(1, B, H, requires_grad=True)) if kind == "lstm" else h0
        run("init", lambda y, hn: y, (B, T, H), init)
        # h0/c0 are [1, B, H] leaves: store their gradients as [B, H]
        for nm, t in (("h0", h0), ("c0", init[1] if kind == "lstm" else None)):
            if t is not None:
                fx[f"{kind}_init_{nm}"] = t[0]
                fx[f"{kind}_init_grad_{nm}"] = t.grad[0]

        torch.manual_seed(200 + k)
        m = cls(FEAT, H, num_layers=2, batch_first=True)
        run("stack", lambda y, hn: y[:, -1], (B, H))

        torch.manual_seed(300 + k)
        m = cls(FEAT, H, bidirectional=True, batch_first=True)
        state.update({f"{kind}_bidi.{n}": p for n, p in m.state_dict().items()})
        run("bidi", lambda y, hn: y, (B, T, 2 * H))
        # last step of each direction: forward final h, backward final h (= y[:, 0, H:])
        run("bidilast", lambda y, hn: torch.cat([y[:, -1, :H], y[:, 0, H:]], -1), (B, 2 * H))
    write_fixtures(os.path.join(OUT, "nn_rnn.txt"), fx, "nn_fixtures.py: torch RNN/LSTM/GRU, batch_first, B=3 T=5 F=4 H=6")
    save_safetensors(os.path.join(OUT, "nn_rnn.safetensors"), state)


def layer_cases():
    torch.manual_seed(7)
    fx = {}
    lin = torch.nn.Linear(4, 5)
    fx["dense_weight"], fx["dense_bias"] = lin.weight, lin.bias
    acts = {"linear": lambda v: v, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "softmax": lambda v: torch.softmax(v, -1)}
    x0 = torch.randn(3, 4)
    for name, act in acts.items():
        lin.zero_grad()
        x = x0.clone().requires_grad_(True)
        w = torch.randn(3, 5)
        out = act(lin(x))
        (out * w).sum().backward()
        fx.update({f"dense_{name}_x": x, f"dense_{name}_w": w, f"dense_{name}_out": out,
                   f"dense_{name}_grad_x": x.grad, f"dense_{name}_grad_weight": lin.weight.grad.clone(),
                   f"dense_{name}_grad_bias": lin.bias.grad.clone()})
        # the bare activation on [2, 3, 5]
        a = torch.randn(2, 3, 5, requires_grad=True)
        wa = torch.randn(2, 3, 5)
        ya = act(a)
        (ya * wa).sum().backward()
        fx.update({f"act_{name}_x": a, f"act_{name}_w": wa, f"act_{name}_out": ya, f"act_{name}_grad_x": a.grad})

    emb = torch.nn.Embedding(10, 4)
    ids = torch.tensor([[1, 3, 3, 0, 9], [3, 1, 7, 7, 7], [0, 0, 2, 9, 1]])
    w = torch.randn(3, 5, 4)
    out = emb(ids)
    (out * w).sum().backward()
    fx.update({"emb_weight": emb.weight, "emb_ids": ids, "emb_w": w, "emb_out": out, "emb_grad_weight": emb.weight.grad})

    def loss_case(name, fn, *args):
        args = [a.clone().requires_grad_(True) if a.is_floating_point() else a for a in args]
        v = fn(*args)
        v.backward()
        fx[f"{name}_value"] = v
        fx[f"{name}_grad"] = args[0].grad
        for i, a in enumerate(args):
            fx[f"{name}_in{i}"] = a

    eps = 1e-7
    logits = torch.randn(4, 3) * 3
    soft = torch.rand(4, 3)
    loss_case("bce_logits", F.binary_cross_entropy_with_logits, logits, soft)
    pred, tgt = torch.randn(4, 3), torch.randn(4, 3) * 1.5
    loss_case("mse", F.mse_loss, pred, tgt)
    loss_case("mae", F.l1_loss, pred, tgt)
    loss_case("huber", torch.nn.HuberLoss(delta=1.0), pred, tgt)
    col = torch.randn(5, 1)
    loss_case("mse_col", lambda p, t: F.mse_loss(p[:, 0], t), col, torch.randn(5))
    ids = torch.tensor([2, 0, 4, 1])
    probs = torch.softmax(torch.randn(4, 5), -1) * torch.tensor([[1.0], [2.0], [0.5], [1.0]])  # not normalized
    onehot = F.one_hot(ids, 5).to(torch.float32)
    loss_case("cce", lambda p, y: -(y * torch.log((p / p.sum(-1, keepdim=True)).clamp(eps, 1 - eps))).sum(-1).mean(),
              probs, onehot)
    lg = torch.randn(4, 5) * 2
    loss_case("xent", F.cross_entropy, lg, ids)
    lg3, ids3 = torch.randn(2, 3, 5), torch.tensor([[0, 4, 2], [1, 1, 3]])
    loss_case("xent3", lambda a, t: F.cross_entropy(a.reshape(-1, 5), t.reshape(-1)), lg3, ids3)
    # Keras sparse_categorical_crossentropy(from_logits=False): clip, log, then
    # softmax cross-entropy on those logits (so rows are normalized)
    keras_scce = lambda p, t: F.cross_entropy(torch.log(p.clamp(eps, 1 - eps)), t)
    sp = torch.softmax(torch.randn(4, 5), -1)
    loss_case("scce", keras_scce, sp, ids)
    loss_case("scce_unnorm", keras_scce, probs, ids)
    # rows that sum to 1: the same value as PyTorch's nll_loss on log p
    fx["scce_nll_value"] = F.nll_loss(torch.log(sp), ids)
    write_fixtures(os.path.join(OUT, "nn_layers.txt"), fx, "nn_fixtures.py: Linear, activations, Embedding, losses")


def model_case():
    torch.manual_seed(11)
    emb, lstm, lin = torch.nn.Embedding(10, 4), torch.nn.LSTM(4, H, batch_first=True), torch.nn.Linear(H, 2)
    ids = torch.randint(0, 10, (B, T))
    with torch.no_grad():
        y, _ = lstm(emb(ids))
        out = lin(y[:, -1])
    state = {}
    for i, mod in enumerate((emb, lstm, lin)):
        state.update({f"{i}.{n}": p for n, p in mod.state_dict().items()})
    save_safetensors(os.path.join(OUT, "nn_model.safetensors"), state)
    fx = {"ids": ids, "out": out}
    fx.update({k.replace(".", "_"): v for k, v in state.items()})
    write_fixtures(os.path.join(OUT, "nn_model.txt"), fx, "nn_fixtures.py: Embedding(10,4) -> LSTM(4,6) -> Linear(6,2)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    rnn_cases()
    layer_cases()
    model_case()
    print("wrote nn_* fixtures to", OUT)
