"""Reference trajectories of torch.optim for tests/test_optim.c.

Run from the repository root:  /usr/bin/python3 tests/reference/optim_fixtures.py
Writes tests/reference/fixtures/optim_*.txt. The option sets below must match
the CASES table of tests/test_optim.c (same names, same values)."""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fixture_io import write_fixtures  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures")
STEPS = 20

CASES = {
    "sgd": (torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.1)),
    "adam": (torch.optim.Adam, dict(lr=0.05)),
    "adam_amsgrad": (torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), amsgrad=True)),
    "adam_wd": (torch.optim.Adam, dict(lr=0.05, weight_decay=0.1, eps=1e-3)),
    "adamw": (torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
    "adamw_amsgrad": (torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.01)),
    "rmsprop_momentum": (torch.optim.RMSprop, dict(lr=0.01, momentum=0.5)),
    "rmsprop_centered": (torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, centered=True)),
    "rmsprop_centered_momentum": (torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    "adagrad": (torch.optim.Adagrad, dict(lr=0.1)),
    "adagrad_decay": (torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1, weight_decay=0.1)),
    "adadelta": (torch.optim.Adadelta, dict()),
    "adadelta_rho": (torch.optim.Adadelta, dict(lr=0.5, rho=0.5, eps=1e-4, weight_decay=0.1)),
}


def quadratic(dtype):
    """loss = 0.5 * ||A x - b||^2 with x: [3]."""
    g = torch.Generator().manual_seed(1)
    A = torch.randn(4, 3, generator=g, dtype=dtype)
    b = torch.randn(4, generator=g, dtype=dtype)
    x0 = torch.randn(3, generator=g, dtype=dtype)
    data = {"A": A, "b": b, "x": x0}
    return data, [x0], lambda ps: 0.5 * ((A @ ps[0] - b) ** 2).sum()


def two_layer(dtype):
    """loss = mean((tanh(x W1 + b1) W2 + b2 - y)^2), x: [8, 4], y: [8, 2]."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 4, generator=g, dtype=dtype)
    y = torch.randn(8, 2, generator=g, dtype=dtype)
    W1 = torch.randn(4, 5, generator=g, dtype=dtype) * 0.5
    b1 = torch.randn(5, generator=g, dtype=dtype) * 0.1
    W2 = torch.randn(5, 2, generator=g, dtype=dtype) * 0.5
    b2 = torch.randn(2, generator=g, dtype=dtype) * 0.1
    data = {"in": x, "target": y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}

    def loss(ps):
        h = torch.tanh(x @ ps[0] + ps[1])
        return ((h @ ps[2] + ps[3] - y) ** 2).mean()

    return data, [W1, b1, W2, b2], loss


def run(params0, loss_fn, make_opt, before_step=None):
    ps = [p.clone().requires_grad_(True) for p in params0]
    opt = make_opt(ps)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(ps)
        loss.backward()
        if before_step:
            before_step(ps)
        losses.append(loss.item())
        opt.step()
    return ps, torch.tensor(losses, dtype=torch.float64)


def trajectories(problem, dtype, cases):
    data, params0, loss_fn = problem(dtype)
    out = dict(data)
    for name in cases:
        cls, kw = CASES[name]
        ps, losses = run(params0, loss_fn, lambda p: cls(p, **kw))
        out[f"{name}.loss"] = losses
        for i, p in enumerate(ps):
            out[f"{name}.p{i}"] = p
    return out, params0, loss_fn


def main():
    torch.set_num_threads(1)
    for fname, problem, dtype, cases in [
        ("optim_quadratic.txt", quadratic, torch.float64, CASES),
        ("optim_model.txt", two_layer, torch.float64, CASES),
        ("optim_model_f32.txt", two_layer, torch.float32, ["sgd_momentum", "adam", "rmsprop_centered", "adagrad"]),
    ]:
        out, params0, loss_fn = trajectories(problem, dtype, cases)
        if fname == "optim_model.txt":
            # Parameter groups: layer 1 at lr 0.05, layer 2 at lr 0.01.
            ps, losses = run(params0, loss_fn, lambda p: torch.optim.Adam(
                [{"params": p[:2], "lr": 0.05}, {"params": p[2:], "lr": 0.01}]))
            out["groups.loss"] = losses
            for i, p in enumerate(ps):
                out[f"groups.p{i}"] = p
            # Clipping before each SGD step.
            for clip, fn in [("clip_norm", lambda q: torch.nn.utils.clip_grad_norm_(q, 0.5)),
                             ("clip_value", lambda q: torch.nn.utils.clip_grad_value_(q, 0.05))]:
                ps, losses = run(params0, loss_fn, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), fn)
                out[f"{clip}.loss"] = losses
                for i, p in enumerate(ps):
                    out[f"{clip}.p{i}"] = p
            # The norm clip_grad_norm_ reports at the first step.
            ps = [p.clone().requires_grad_(True) for p in params0]
            loss_fn(ps).backward()
            out["clip_norm.total0"] = torch.nn.utils.clip_grad_norm_(ps, 0.5).double()
        write_fixtures(os.path.join(OUT, fname), out,
                       f"torch.optim trajectories ({STEPS} steps), torch {torch.__version__}; "
                       "written by tests/reference/optim_fixtures.py")
    write_fixtures(os.path.join(OUT, "optim_schedules.txt"), schedules(),
                   f"torch.optim.lr_scheduler values, torch {torch.__version__}; "
                   "written by tests/reference/optim_fixtures.py")


def schedules():
    def lrs(make_sched, epochs=25, metrics=None):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        s = make_sched(opt)
        out = []
        for e in range(epochs):
            opt.step()
            if metrics is None:
                s.step()
            else:
                s.step(metrics[e])
            out.append(opt.param_groups[0]["lr"])
        return torch.tensor(out, dtype=torch.float64)

    sched = torch.optim.lr_scheduler
    # A loss that improves, stalls, wiggles by less than the threshold, and improves again.
    metric = [1.0, 0.9, 0.8, 0.8, 0.8, 0.7999, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.49995, 0.5, 0.5,
              0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    acc = [1 - m for m in metric]
    return {
        "metric": torch.tensor(metric, dtype=torch.float64),
        "step": lrs(lambda o: sched.StepLR(o, step_size=3, gamma=0.5)),
        "exponential": lrs(lambda o: sched.ExponentialLR(o, gamma=0.9)),
        "cosine": lrs(lambda o: sched.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
        "plateau": lrs(lambda o: sched.ReduceLROnPlateau(o, patience=2, factor=0.5), metrics=metric),
        "plateau_cooldown": lrs(lambda o: sched.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=2,
                                                                   min_lr=0.02), metrics=metric),
        "plateau_max_abs": lrs(lambda o: sched.ReduceLROnPlateau(o, mode="max", patience=1, factor=0.3,
                                                                  threshold=0.01, threshold_mode="abs"),
                               metrics=acc),
    }


if __name__ == "__main__":
    main()
