#!/bin/sh
# Make the Python virtual environment the reference scripts in tests/reference/
# run in: Keras 3 with the JAX backend (CPU) and PyTorch 2.x, from PyPI, at
# the versions pinned in tests/reference/requirements.txt. Tests never need
# it: the scripts write fixtures that are committed.
#
#   scripts/venv.sh [DIR]        default DIR: .venv in the repository
#                                (or $CGRAD_VENV); PYTHON picks the interpreter
#   DIR/bin/python tests/reference/keras_fixtures.py
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${CGRAD_VENV:-$root/.venv}}
python=${PYTHON:-python3}

if ! "$python" -c "import venv, ensurepip" 2>/dev/null; then
    echo "venv.sh: $python has no venv module (apt-get install python3-venv)" >&2
    exit 2
fi
if [ ! -x "$dir/bin/python" ]; then
    echo "venv.sh: creating $dir"
    "$python" -m venv "$dir"
fi
"$dir/bin/python" -m pip install --quiet --upgrade pip
"$dir/bin/python" -m pip install --quiet -r "$root/tests/reference/requirements.txt"
"$dir/bin/python" - <<'PY'
import os
os.environ.setdefault("KERAS_BACKEND", "jax")
import keras, torch, jax, h5py, numpy, tensorflow
print(f"venv.sh: keras {keras.__version__} (backend {keras.backend.backend()}), jax {jax.__version__}, "
      f"torch {torch.__version__}, tensorflow {tensorflow.__version__}, h5py {h5py.__version__}, numpy {numpy.__version__}")
PY
