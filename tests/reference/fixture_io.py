"""Write reference tensors in the text format tests/fixture.c reads."""
import numpy as np
import torch

_DT = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64"}


def write_fixtures(path, tensors, comment=None):
    """tensors: dict name -> torch.Tensor or numpy array (float32/float64/int64;
    other integer arrays are written as int64) or number."""
    with open(path, "w") as f:
        if comment:
            for line in comment.splitlines():
                f.write(f"# {line}\n")
        for name, t in tensors.items():
            if isinstance(t, np.ndarray):
                t = np.ascontiguousarray(t)
                t = torch.from_numpy(t.astype(np.int64) if t.dtype.kind in "iu" else t)
            elif not isinstance(t, torch.Tensor):
                t = torch.tensor(t, dtype=torch.float64)
            t = t.detach().contiguous()
            dt = _DT[t.dtype]
            f.write(f"tensor {name} {dt} {t.dim()} {' '.join(str(s) for s in t.shape)}\n")
            vals = t.reshape(-1).tolist()
            fmt = (lambda v: str(int(v))) if dt == "int64" else (lambda v: repr(float(v)))
            for i in range(0, len(vals), 8):
                f.write(" ".join(fmt(v) for v in vals[i:i + 8]) + "\n")
