"""Keras 3 reference files for tests/test_keras.c and examples/keras_import.c.

Builds with Keras each lesson's model (small: units 4-8, vocabulary 50), the
layers and options cgrad maps (Bidirectional in every merge mode, stacked
layers, GRU with reset_after True and False, masking from Embedding
(mask_zero=True), Dropout, Activation, Flatten, Dense), trains each for a few
steps on seeded data, and writes into tests/reference/fixtures/:

  keras_<model>.keras, keras_<model>.h5   the model as model.save() writes it
                                          (Keras 3 zip; legacy HDF5)
  keras_<model>.txt   x            inputs (float32, or int64 token ids)
                      pred         Keras' predict(x)
                      y            targets of the fixed batch x
                      loss5        the losses of 5 more train_on_batch(x, y)
                                   steps of the model loaded from the .keras
                                   file, with its stored Adam state
                      w5_<i>       every trainable weight after those steps,
                                   in model.trainable_weights order
                      pred5        predict(x) after them
                      (models with dropout have no continuation: Keras'
                      dropout masks cannot be reproduced)
  keras_tokenizer.json, keras_tokenizer_raw.json   Tokenizer.to_json() output
  keras_tokenizer.txt   the sequences Keras makes of the test texts
                        (<name>_ids: all ids, <name>_len: one length per text)
  keras_keras2_imdb_lstm.h5   keras_imdb_lstm's weights in the layout tf.keras 2.x
                        wrote (written here with h5py: fixed-length strings,
                        "lstm/lstm_cell/kernel:0" names, batch_input_shape on
                        the first layer, Keras 2's Adam layout); predicts the
                        same as keras_imdb_lstm (its .txt)
  keras_bad_missing.keras, keras_bad_missing.h5   keras_imdb_lstm's files with
                        the LSTM's recurrent kernel deleted (a missing dataset)
  keras_imdb_example.keras, keras_imdb_example_tokenizer.json, keras_imdb_example.txt
                        with --data DIR (the folder holding aclImdb_v1.tar.gz):
                        a small IMDB LSTM trained by Keras on 5,000 reviews,
                        its tokenizer, and its accuracy on the test split

The reverse check: `keras_fixtures.py --check FILE...` loads files cgrad wrote
with keras.models.load_model and compares predict() on the fixture's x with
the predictions cgrad stored beside each file (FILE.pred.txt, written by
test_keras when CGRAD_KERAS_OUT is set), or with the fixture's pred when there
is none. It prints one line per file and exits non-zero on a mismatch.

Run in the virtual environment of scripts/venv.sh:
    .venv/bin/python tests/reference/keras_fixtures.py [--data DIR]
    CGRAD_KERAS_OUT=/tmp/k build/tests/test_keras
    .venv/bin/python tests/reference/keras_fixtures.py --check /tmp/k/*.keras /tmp/k/*.h5
"""
import argparse
import io
import json
import os
import re
import sys
import tarfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402
from keras.src.legacy.preprocessing.text import Tokenizer, tokenizer_from_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixtures  # noqa: E402

OUT = os.path.join(HERE, "fixtures")
VOCAB = 50
BATCH = 8


def versions():
    import jax
    import h5py
    return (f"keras {keras.__version__}, backend {keras.backend.backend()} (jax {jax.__version__}), "
            f"h5py {h5py.__version__}, numpy {np.__version__}")


# ------------------------------------------------------------------ models
# name -> (builder, input kind, loss, has_dropout). Input kinds: ("ids", T,
# padding) token ids in [1, VOCAB) with zeros as padding ("pre", "post",
# "both" or None); ("float", T, F).

def imdb_simple_rnn():   # Embedding(20000, 50) + SimpleRNN(5) + Dense(1, sigmoid) on 30 tokens
    return [keras.Input((10,), dtype="int32"), L.Embedding(VOCAB, 8), L.SimpleRNN(5),
            L.Dense(1, activation="sigmoid")]


def imdb_lstm():         # Embedding(20000, 128) + LSTM(128) + Dense(1, sigmoid) on 80 tokens
    return [keras.Input((12,), dtype="int32"), L.Embedding(VOCAB, 8), L.LSTM(8),
            L.Dense(1, activation="sigmoid")]


def stacked_simple_rnn():  # SimpleRNN(30, return_sequences) + SimpleRNN(30) on [None, 2]
    return [keras.Input((None, 2)), L.SimpleRNN(6, return_sequences=True), L.SimpleRNN(6)]


def long_dep_lstm():     # LSTM(30) on [10, 2] (+ Dense(1): the long-dependency lesson)
    return [keras.Input((10, 2)), L.LSTM(6), L.Dense(1)]


def long_dep_gru():      # GRU(30) on [10, 2] (+ Dense(1))
    return [keras.Input((10, 2)), L.GRU(6), L.Dense(1)]


def reviews_softmax():   # Embedding(20000, 300) + LSTM(50) + Dense(2, softmax) on 100 tokens
    return [keras.Input((10,), dtype="int32"), L.Embedding(VOCAB, 8), L.LSTM(6),
            L.Dense(2, activation="softmax")]


def bidi_concat():
    return [keras.Input((6, 3)), L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="concat"),
            L.Flatten(), L.Dense(1)]


def bidi_sum():
    return [keras.Input((6, 3)), L.Bidirectional(L.GRU(4), merge_mode="sum"), L.Dense(1)]


def bidi_mul():
    return [keras.Input((6, 3)), L.Bidirectional(L.SimpleRNN(4, return_sequences=True), merge_mode="mul"),
            L.Bidirectional(L.LSTM(3), merge_mode="concat"), L.Dense(1)]


def bidi_ave():
    return [keras.Input((8,), dtype="int32"), L.Embedding(VOCAB, 6, mask_zero=True),
            L.Bidirectional(L.LSTM(4), merge_mode="ave"), L.Dense(1, activation="sigmoid")]


def stacked():
    return [keras.Input((7, 3)), L.LSTM(6, return_sequences=True), L.GRU(5, return_sequences=True),
            L.SimpleRNN(4), L.Dense(2)]


def gru_reset_before():
    return [keras.Input((7, 3)), L.GRU(5, reset_after=False, return_sequences=True),
            L.GRU(4, reset_after=False, go_backwards=True), L.Dense(1)]


def masked():
    return [keras.Input((9,), dtype="int32"), L.Embedding(VOCAB, 6, mask_zero=True),
            L.LSTM(6, return_sequences=True), L.GRU(5, return_sequences=True), L.SimpleRNN(4),
            L.Dense(1, activation="sigmoid")]


def options():
    return [keras.Input((8, 3)),
            L.SimpleRNN(6, activation="relu", return_sequences=True, go_backwards=True),
            L.LSTM(5, return_sequences=True, use_bias=False, unit_forget_bias=False,
                   recurrent_activation="tanh", activation="sigmoid"),
            L.Flatten(), L.Dense(8, use_bias=False), L.Activation("tanh"), L.Dense(3, activation="softmax")]


def dropout():
    return [keras.Input((8, 3)),
            L.LSTM(6, return_sequences=True, dropout=0.2, recurrent_dropout=0.1),
            L.GRU(5, dropout=0.1), L.Dropout(0.3), L.Dense(1)]


MODELS = {
    "imdb_simple_rnn": (imdb_simple_rnn, ("ids", 10, None), "binary_crossentropy"),
    "imdb_lstm": (imdb_lstm, ("ids", 12, "pre"), "binary_crossentropy"),
    "stacked_simple_rnn": (stacked_simple_rnn, ("float", 5, 2), "mse"),
    "long_dep_lstm": (long_dep_lstm, ("float", 10, 2), "mse"),
    "long_dep_gru": (long_dep_gru, ("float", 10, 2), "mse"),
    "reviews_softmax": (reviews_softmax, ("ids", 10, None), "sparse_categorical_crossentropy"),
    "bidi_concat": (bidi_concat, ("float", 6, 3), "mse"),
    "bidi_sum": (bidi_sum, ("float", 6, 3), "mse"),
    "bidi_mul": (bidi_mul, ("float", 6, 3), "mse"),
    "bidi_ave": (bidi_ave, ("ids", 8, "both"), "binary_crossentropy"),
    "stacked": (stacked, ("float", 7, 3), "mse"),
    "gru_reset_before": (gru_reset_before, ("float", 7, 3), "mse"),
    "masked": (masked, ("ids", 9, "both"), "binary_crossentropy"),
    "options": (options, ("float", 8, 3), "sparse_categorical_crossentropy"),
    "dropout": (dropout, ("float", 8, 3), "mse"),
}


def make_data(rng, kind, loss, n, n_out):
    if kind[0] == "ids":
        _, t, pad = kind
        x = rng.integers(1, VOCAB, size=(n, t))
        if pad:
            for i in range(n):  # a few padded steps at the start, the end or either
                k = int(rng.integers(0, t // 2 + 1))
                side = pad if pad != "both" else ("pre" if i % 2 == 0 else "post")
                if k:
                    if side == "pre":
                        x[i, :k] = 0
                    else:
                        x[i, t - k:] = 0
        x = x.astype(np.int32)
    else:
        _, t, f = kind
        x = rng.normal(size=(n, t, f)).astype(np.float32)
    if loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    elif loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, n_out, size=(n,)).astype(np.int32)
    else:
        y = rng.normal(size=(n, n_out)).astype(np.float32)
    return x, y


def has_dropout(model):
    for layer in model.layers:
        cfg = layer.get_config()
        inner = [cfg] + [cfg[k]["config"] for k in ("layer", "backward_layer") if isinstance(cfg.get(k), dict)]
        if isinstance(layer, L.Dropout) or any(c.get("dropout") or c.get("recurrent_dropout") for c in inner):
            return True
    return False


def build_model(name, seed):
    builder, kind, loss = MODELS[name]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(builder(), name=name)
    n_out = model.output_shape[-1]
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss)
    rng = np.random.default_rng(seed)
    x_train, y_train = make_data(rng, kind, loss, 32, n_out)
    model.fit(x_train, y_train, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)  # 8 steps
    x, y = make_data(rng, kind, loss, BATCH, n_out)
    return model, x, y


def make_model_fixtures(header):
    for k, name in enumerate(MODELS):
        model, x, y = build_model(name, 1000 + k)
        base = os.path.join(OUT, f"keras_{name}")
        model.save(base + ".keras")
        model.save(base + ".h5")
        fx = {"x": x, "pred": model.predict(x, verbose=0), "y": y}
        if not has_dropout(model):
            again = keras.models.load_model(base + ".keras")
            assert int(again.optimizer.iterations.numpy()) == 8
            fx["loss5"] = np.array([float(again.train_on_batch(x, y)) for _ in range(5)], dtype=np.float64)
            for i, w in enumerate(again.trainable_weights):
                fx[f"w5_{i}"] = np.asarray(w.numpy())
            fx["pred5"] = again.predict(x, verbose=0)
        write_fixtures(base + ".txt", fx, f"keras_fixtures.py: {name}; {header}")
        print(f"keras_{name}: {sum(int(np.prod(w.shape)) for w in model.weights)} weights, "
              f"{'no continuation (dropout)' if 'loss5' not in fx else 'loss5 ' + str(fx['loss5'])}")


def bad_fixtures():
    import h5py
    import shutil
    import tempfile
    import zipfile
    src = os.path.join(OUT, "keras_imdb_lstm")
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(src + ".keras") as z:
            members = {n: z.read(n) for n in z.namelist()}
        h5 = os.path.join(tmp, "w.h5")
        with open(h5, "wb") as f:
            f.write(members["model.weights.h5"])
        with h5py.File(h5, "r+") as f:
            del f["layers/lstm/cell/vars/1"]
        with open(h5, "rb") as f:
            members["model.weights.h5"] = f.read()
        with zipfile.ZipFile(os.path.join(OUT, "keras_bad_missing.keras"), "w") as z:
            for n, data in members.items():
                z.writestr(n, data)
    shutil.copyfile(src + ".h5", os.path.join(OUT, "keras_bad_missing.h5"))
    with h5py.File(os.path.join(OUT, "keras_bad_missing.h5"), "r+") as f:
        g = f["model_weights"]
        lstm = [k for k in g.keys() if k.startswith("lstm")][0]
        wn = [w.decode() if hasattr(w, "decode") else w for w in g[lstm].attrs["weight_names"]]
        del g[lstm][[w for w in wn if w.endswith("recurrent_kernel")][0]]


def keras2_fixture():
    """keras_imdb_lstm as tf.keras 2.x saved it to .h5: Keras 2's JSON
    (no module keys, batch_input_shape and dtype strings), fixed-length
    byte strings, weight names with ':0', and Keras 2's optimizer layout
    (iter, then every m, then every v), which cgrad does not read."""
    import h5py
    model = keras.models.load_model(os.path.join(OUT, "keras_imdb_lstm.keras"))
    emb, lstm, dense = model.layers
    def layer(cls, cfg):
        return {"class_name": cls, "config": cfg}
    cfg = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        layer("InputLayer", {"batch_input_shape": [None, 12], "dtype": "float32", "sparse": False,
                             "ragged": False, "name": "embedding_input"}),
        layer("Embedding", {"name": "embedding", "trainable": True, "batch_input_shape": [None, 12],
                            "dtype": "float32", "input_dim": VOCAB, "output_dim": 8,
                            "embeddings_initializer": {"class_name": "RandomUniform",
                                                       "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
                            "embeddings_regularizer": None, "activity_regularizer": None,
                            "embeddings_constraint": None, "mask_zero": False, "input_length": 12}),
        layer("LSTM", {"name": "lstm", "trainable": True, "dtype": "float32", "return_sequences": False,
                       "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
                       "time_major": False, "units": 8, "activation": "tanh", "recurrent_activation": "sigmoid",
                       "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                       "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
                       "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
                       "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
                       "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
                       "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}),
        layer("Dense", {"name": "dense", "trainable": True, "dtype": "float32", "units": 1, "activation": "sigmoid",
                        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
                        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                        "bias_constraint": None})]}}
    weights = {"embedding": [("embedding/embeddings:0", emb.weights[0])],
               "lstm": [("lstm/lstm_cell/kernel:0", lstm.weights[0]),
                        ("lstm/lstm_cell/recurrent_kernel:0", lstm.weights[1]),
                        ("lstm/lstm_cell/bias:0", lstm.weights[2])],
               "dense": [("dense/kernel:0", dense.weights[0]), ("dense/bias:0", dense.weights[1])]}
    with h5py.File(os.path.join(OUT, "keras_keras2_imdb_lstm.h5"), "w") as f:
        f.attrs["keras_version"] = np.bytes_("2.13.1")
        f.attrs["backend"] = np.bytes_("tensorflow")
        f.attrs["model_config"] = np.bytes_(json.dumps(cfg))
        f.attrs["training_config"] = np.bytes_(json.dumps({
            "loss": "binary_crossentropy", "metrics": None, "weighted_metrics": None, "loss_weights": None,
            "optimizer_config": {"class_name": "Adam", "config": {
                "name": "Adam", "learning_rate": 0.001, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999,
                "epsilon": 1e-07, "amsgrad": False}}}))
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"embedding", b"lstm", b"dense"])
        g.attrs["backend"] = np.bytes_("tensorflow")
        g.attrs["keras_version"] = np.bytes_("2.13.1")
        for lname, ws in weights.items():
            lg = g.create_group(lname)
            lg.attrs["weight_names"] = np.array([n.encode() for n, _ in ws])
            for n, w in ws:
                lg.create_dataset(n, data=np.asarray(w.numpy()))
        o = f.create_group("optimizer_weights")
        names = [b"Adam/iter:0"] + [f"Adam/{n[:-2]}/m:0".encode() for ws in weights.values() for n, _ in ws] + \
                [f"Adam/{n[:-2]}/v:0".encode() for ws in weights.values() for n, _ in ws]
        o.attrs["weight_names"] = np.array(names)
        o.create_dataset("Adam/iter:0", data=np.int64(8))
        for ws in weights.values():
            for n, w in ws:
                for slot in ("m", "v"):
                    o.create_dataset(f"Adam/{n[:-2]}/{slot}:0", data=np.zeros(w.shape, np.float32))


# --------------------------------------------------------------- tokenizer

TOK_TEXTS = [
    "The cat sat on the mat. The cat was HAPPY!",
    "A dog -- the Dog -- barked at the cat; the mat was red.",
    "Über-cool café: the CAT's naïve café\ttab\nnewline",
    "cat cat dog mat the the the",
]
TOK_TEST = [
    "The cat and the dog sat on a new mat.",
    "Unknown words: zebra, ÜBER, café!",
    "",
    "the,the;the:the",
]


def tokenizer_fixtures(header):
    fx = {}
    configs = {
        "keras_tokenizer": dict(num_words=8, oov_token="<OOV>"),
        "keras_tokenizer_raw": dict(filters="!.,;:", lower=False, split=" "),
    }
    for fname, cfg in configs.items():
        tk = Tokenizer(**cfg)
        tk.fit_on_texts(TOK_TEXTS)
        with open(os.path.join(OUT, fname + ".json"), "w") as f:
            f.write(tk.to_json())
        seqs = tk.texts_to_sequences(TOK_TEST)
        tag = fname.replace("keras_", "")
        fx[f"{tag}_ids"] = np.array([i for s in seqs for i in s], dtype=np.int64)
        fx[f"{tag}_len"] = np.array([len(s) for s in seqs], dtype=np.int64)
        again = tokenizer_from_json(tk.to_json())
        assert again.texts_to_sequences(TOK_TEST) == seqs
    write_fixtures(os.path.join(OUT, "keras_tokenizer.txt"), fx,
                   "keras_fixtures.py: Tokenizer.texts_to_sequences of TOK_TEST (keras_fixtures.py) with "
                   "keras_tokenizer.json (num_words=8, oov_token) and keras_tokenizer_raw.json (filters \"!.,;:\", "
                   f"lower=False); {header}")


# ---------------------------------------------------------------- IMDB LSTM

def read_aclimdb(path, split):
    """(texts, labels) of a split of aclImdb_v1.tar.gz: neg then pos, by file id."""
    out = {0: [], 1: []}
    pat = re.compile(rf"aclImdb/{split}/(pos|neg)/(\d+)_\d+\.txt$")
    with tarfile.open(path) as tar:
        for m in tar:
            g = pat.search(m.name)
            if g:
                text = tar.extractfile(m).read().decode("utf-8")
                out[1 if g.group(1) == "pos" else 0].append((int(g.group(2)), text))
    texts, labels = [], []
    for lab in (0, 1):
        for _, t in sorted(out[lab]):
            texts.append(t)
            labels.append(lab)
    return texts, np.array(labels, dtype=np.float32)


def imdb_fixtures(data, header):
    from keras.utils import pad_sequences
    path = os.path.join(data, "aclImdb_v1.tar.gz")
    num_words, maxlen, n_train = 1000, 80, 5000
    train_texts, train_y = read_aclimdb(path, "train")
    test_texts, test_y = read_aclimdb(path, "test")
    rng = np.random.default_rng(7)
    pick = rng.permutation(len(train_texts))[:n_train]
    texts = [train_texts[i] for i in pick]
    y = train_y[pick]
    tk = Tokenizer(num_words=num_words)
    tk.fit_on_texts(texts)
    # Only words with an index below num_words can appear in a sequence:
    # keep those (the file is small enough for the repository and encodes
    # exactly as the full tokenizer).
    cfg = json.loads(tk.to_json())
    keep = {w: i for w, i in tk.word_index.items() if i < num_words}
    c = cfg["config"]
    c["word_counts"] = json.dumps({w: n for w, n in tk.word_counts.items() if w in keep})
    c["word_docs"] = json.dumps({w: n for w, n in tk.word_docs.items() if w in keep})
    c["index_docs"] = json.dumps({str(i): tk.index_docs[i] for i in keep.values() if i in tk.index_docs})
    c["word_index"] = json.dumps(keep)
    c["index_word"] = json.dumps({str(i): w for w, i in keep.items()})
    small = json.dumps(cfg)
    small_tk = tokenizer_from_json(small)
    assert small_tk.texts_to_sequences(test_texts[:200]) == tk.texts_to_sequences(test_texts[:200])
    with open(os.path.join(OUT, "keras_imdb_example_tokenizer.json"), "w") as f:
        f.write(small)
    x = pad_sequences(tk.texts_to_sequences(texts), maxlen=maxlen)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((maxlen,), dtype="int32"), L.Embedding(num_words, 16), L.LSTM(16),
                              L.Dense(1, activation="sigmoid")], name="imdb_example")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    model.save(os.path.join(OUT, "keras_imdb_example.keras"))
    xt = pad_sequences(tk.texts_to_sequences(test_texts), maxlen=maxlen)
    p = model.predict(xt, batch_size=256, verbose=0)[:, 0]
    acc = float(np.mean((p > 0.5) == (test_y > 0.5)))
    write_fixtures(os.path.join(OUT, "keras_imdb_example.txt"),
                   {"test_accuracy": acc, "test_pred_first": p[:8].astype(np.float32),
                    "test_pred_last": p[-8:].astype(np.float32)},
                   f"keras_fixtures.py: IMDB Embedding(1000, 16) -> LSTM(16) -> Dense(1, sigmoid), maxlen 80, "
                   f"trained 2 epochs on {n_train} train reviews; accuracy and predictions on the "
                   f"{len(test_texts)} test reviews; {header}")
    print(f"keras_imdb_example: test accuracy {acc:.4f} on {len(test_texts)} reviews")


# ------------------------------------------------------------ reverse check

def read_fixture(path):
    out, name, dims, vals, dt = {}, None, None, [], None
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.split()
            if parts and parts[0] == "tensor":
                if name is not None:
                    out[name] = np.array(vals, dtype=dt).reshape(dims)
                name, dt, nd = parts[1], parts[2], int(parts[3])
                dims, vals = [int(d) for d in parts[4:4 + nd]], []
            else:
                vals.extend(float(v) for v in parts)
    if name is not None:
        out[name] = np.array(vals, dtype=dt).reshape(dims)
    return out


def check(paths):
    bad = 0
    for path in paths:
        stem = re.sub(r"\.(keras|h5)$", "", os.path.basename(path))
        stem = re.sub(r"^roundtrip_", "keras_", stem)
        note = ""
        try:
            model = keras.models.load_model(path)
        except Exception as err:  # noqa: BLE001
            # Does Keras fail the same way on the file it wrote itself?
            own = os.path.join(OUT, stem + os.path.splitext(path)[1])
            try:
                keras.models.load_model(own)
                own_err = None
            except Exception as e2:  # noqa: BLE001
                own_err = str(e2)
            if own_err is None or own_err.split(":")[0] != str(err).split(":")[0]:
                print(f"BAD {os.path.basename(path)}: load_model failed: {err}")
                bad += 1
                continue
            model = keras.models.load_model(path, compile=False)
            note = f" (compile=False: Keras fails on its own {os.path.basename(own)} too: {own_err[:80]})"
        if not os.path.exists(os.path.join(OUT, f"{stem}.txt")):
            print(f"ok  {os.path.basename(path)}: loads ({len(model.layers)} layers, "
                  f"{model.count_params()} weights; no reference predictions){note}")
            continue
        fixture = read_fixture(os.path.join(OUT, f"{stem}.txt"))
        beside = path + ".pred.txt"
        want = read_fixture(beside)["pred"] if os.path.exists(beside) else fixture["pred"]
        got = model.predict(fixture["x"].astype(np.int32 if fixture["x"].dtype == np.int64 else np.float32),
                            verbose=0)
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
        opt = getattr(model, "optimizer", None)
        steps = int(opt.iterations.numpy()) if opt is not None and opt.built else None
        ok = diff <= 1e-5
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {os.path.basename(path)}: max |keras - cgrad| = {diff:.3g}, "
              f"optimizer iterations {steps}, against {'cgrad' if os.path.exists(beside) else 'the fixture'}{note}")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="folder with aclImdb_v1.tar.gz (the IMDB example model)")
    ap.add_argument("--check", nargs="+", metavar="FILE", help="load files cgrad wrote and compare predictions")
    a = ap.parse_args()
    if a.check:
        print(f"reverse check with {versions()}")
        sys.exit(1 if check(a.check) else 0)
    header = f"written by tests/reference/keras_fixtures.py with {versions()}"
    make_model_fixtures(header)
    keras2_fixture()
    bad_fixtures()
    tokenizer_fixtures(header)
    if a.data:
        imdb_fixtures(a.data, header)


if __name__ == "__main__":
    main()
