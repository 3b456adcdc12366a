#!/usr/bin/env bash
# Create (or reuse) the virtualenv holding the *peer* NTK implementation
# (neural-tangents on JAX) for benchmarks/bench_ntk.py, which is expected to run
#   bash benchmarks/peers/setup_peers.sh     # last stdout line: PEERS_PYTHON=<path>
#   <path> benchmarks/peers/nt_ntk.py IN.npz OUT.npz --impl 1 3   (see nt_ntk.py)
# It lives apart from the main environment because it needs numpy<2 and old JAX.
#
# Venv:  ${NTKCHECK_PEERS_VENV:-$HOME/.cache/ntkcheck/peers-venv}
# Only the PEERS_PYTHON=... line goes to stdout; progress goes to stderr.
# Idempotent: if the venv already has the pins and imports neural_tangents, nothing
# is installed (~5 s, mostly tensorflow's import).  NTKCHECK_PEERS_FORCE=1 reinstalls.
# A fresh build takes ~2 min and ~2.6 GB: tensorflow is a hard dependency of
# tf2jax, which is a hard dependency of neural-tangents 0.6.5.
#
# Pins: the given set installs as-is from PyPI on CPython 3.11 x86_64, nothing
# changed.  Transitive deps float; the set verified here resolved to
# tensorflow 2.21.0, keras 3.15.1, ml_dtypes 0.5.4, opt_einsum 3.4.0, scipy 1.13.1.
set -euo pipefail

VENV="${NTKCHECK_PEERS_VENV:-$HOME/.cache/ntkcheck/peers-venv}"
PY_BASE="${NTKCHECK_PEERS_BASE_PYTHON:-$(command -v python3.11 || command -v python3)}"
PINS=(
  "neural-tangents==0.6.5"
  "jax==0.4.23"
  "jaxlib==0.4.23"
  "tf2jax==0.3.5"
  "numpy==1.26.4"
  "scipy<1.14"
)

check() {
  TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" - <<'PY' 2>/dev/null
from importlib.metadata import version as v
assert (v("neural-tangents"), v("jax"), v("jaxlib"), v("tf2jax"), v("numpy")) \
    == ("0.6.5", "0.4.23", "0.4.23", "0.3.5", "1.26.4"), "pin drift"
assert tuple(map(int, v("scipy").split(".")[:2])) < (1, 14), "scipy too new"
import jax, neural_tangents  # the real test (imports tensorflow, ~5 s)
PY
}

if [[ "${NTKCHECK_PEERS_FORCE:-0}" != 1 && -x "$VENV/bin/python" ]] && check; then
  echo "peers venv OK (reused): $VENV" >&2
else
  echo "building peers venv at $VENV ..." >&2
  if [[ ! -x "$VENV/bin/python" ]]; then
    mkdir -p "$(dirname "$VENV")"
    "$PY_BASE" -m venv "$VENV"
  fi
  # (grep drops this machine's harmless "Location ... is ignored" pip warnings)
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" 2>&1 \
    | { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2
  check || { echo "peers venv at $VENV failed its import check" >&2; exit 1; }
  echo "peers venv ready: $VENV" >&2
fi
echo "PEERS_PYTHON=$VENV/bin/python"
