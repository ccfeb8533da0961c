"""Write tests/reference/fixtures/torch_written.safetensors from torch tensors.

The file follows the published safetensors format
(https://github.com/huggingface/safetensors, "Format"):

    8 bytes   N: the header length, an unsigned 64-bit little-endian integer
    N bytes   UTF-8 JSON mapping each tensor name to
              {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
              with an optional "__metadata__" object of string values; offsets
              count from the first byte after the header. The reference writer
              pads the header with spaces to a multiple of 8 bytes.
    the rest  each tensor's bytes, row-major, little-endian, back to back

Debian packages no `safetensors` module, so the layout is written out here with
struct and json, the way the reference writer lays it out: "__metadata__"
first, tensors ordered by dtype size (largest first) then name, compact JSON.
tests/test_safetensors.c reads the file and checks the values below, which are
exact in binary so the C side can state them.

The script also writes the seed corpus of tests/fuzz/fuzz_safetensors.c
(tests/fuzz/corpus/safetensors/): a few small valid files and a few broken ones.

Run with: /usr/bin/python3 tests/reference/safetensors_fixtures.py
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "torch_written.safetensors")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus", "safetensors")

CODES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}

TENSORS = {
    # -1.25 -0.75 -0.25 / 0.25 0.75 1.25
    "layer.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.25,
    # -0, inf, -inf, nan, the largest float32, the smallest subnormal
    "special": torch.tensor([-0.0, float("inf"), float("-inf"), float("nan"),
                             torch.finfo(torch.float32).max, 2.0 ** -149], dtype=torch.float32),
    "ids": torch.tensor([[0, -1], [2 ** 63 - 1, -2 ** 63]], dtype=torch.int64),
    "bias64": torch.tensor([1 / 3, -2.5, 1e300], dtype=torch.float64),
    "scalar": torch.tensor(3.5, dtype=torch.float32),
    "empty": torch.zeros(0, 4, dtype=torch.float32),
}
METADATA = {"format": "pt", "source": "safetensors_fixtures.py", "unicode": "h\u00e9llo \u2713"}


def serialize(tensors, metadata):
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, blobs, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in order:
        t = tensors[name].contiguous()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def check(blob, tensors, metadata):
    """Read the bytes back the way a consumer would: json + torch.frombuffer."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    assert header.pop("__metadata__") == metadata
    dtypes = {v: k for k, v in CODES.items()}
    for name, info in header.items():
        b, e = info["data_offsets"]
        data = bytearray(blob[8 + n + b:8 + n + e])
        t = torch.frombuffer(data, dtype=dtypes[info["dtype"]]) if data else torch.empty(0, dtype=dtypes[info["dtype"]])
        t = t.reshape(info["shape"])
        assert torch.equal(t.nan_to_num(), tensors[name].nan_to_num()), name


def raw(header, data=b"", hlen=None):
    """A file from a header given as bytes or a dict (padded), with any length field."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":")).encode()
        header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header) if hlen is None else hlen) + header + data


def f32(shape, offs):
    return {"dtype": "F32", "shape": shape, "data_offsets": offs}


CORPUS_FILES = {
    "valid_empty.safetensors": raw(b"{}      "),
    "valid_small.safetensors": serialize({"w": torch.tensor([[1.0, -2.0], [0.5, 3.0]]),
                                          "ids": torch.tensor([7, -1]),
                                          "s": torch.tensor(0.25, dtype=torch.float64),
                                          "e": torch.zeros(0, 3)}, {"format": "pt"}),
    "bad_truncated.safetensors": raw({"w": f32([4], [0, 16])}, bytes(9)),
    "bad_overlap.safetensors": raw({"a": f32([2], [0, 8]), "b": f32([2], [4, 12])}, bytes(12)),
    "bad_dtype.safetensors": raw({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)),
    "bad_shape.safetensors": raw({"w": f32([-1, 1.5], [0, 4])}, bytes(4)),
    "bad_json.safetensors": raw(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}', bytes(4)),
    "bad_hlen.safetensors": raw(b"{}", hlen=2 ** 64 - 1),
    "bad_dup.safetensors": raw(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                               b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)),
}


if __name__ == "__main__":
    blob = serialize(TENSORS, METADATA)
    check(blob, TENSORS, METADATA)
    n = struct.unpack("<Q", blob[:8])[0]
    assert blob[8 + n - 1:8 + n] == b" ", "the fixture should exercise header padding; change the metadata"
    with open(OUT, "wb") as f:
        f.write(blob)
    print(f"wrote {OUT} ({len(blob)} bytes)")
    os.makedirs(CORPUS, exist_ok=True)
    for name, data in dict(CORPUS_FILES, **{"valid_torch.safetensors": blob}).items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(CORPUS_FILES) + 1} files to {os.path.normpath(CORPUS)}")
