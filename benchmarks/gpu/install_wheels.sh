#!/usr/bin/env bash
# ON THE GPU MACHINE (no package index): install each peer from the carried wheels into its
# own folder benchmarks/gpu/site/<peer>. bench_gpu.py runs a peer with that folder on
# PYTHONPATH and the image's python3, whose JAX (CUDA), NumPy and SciPy it then uses.
# Not a venv: the image's python3 is itself a venv (/opt/torch/.venv), and a venv made from
# it with --system-site-packages sees the base interpreter's packages, not that venv's JAX.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
for dir in "$here"/wheels/*/; do
  peer="$(basename "$dir")"
  rm -rf "$here/site/$peer"
  # A peer that fails to install or import is left out (bench_gpu.py records it as not
  # installed); the others go on.
  if "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
       --target "$here/site/$peer" "$dir"*.whl &&
     PYTHONPATH="$here/site/$peer" "$python" -c "import $peer, jax; print('$peer', getattr($peer, '__version__', '?'), 'jax', jax.__version__, jax.devices()[0].device_kind)"; then
    :
  else
    echo "FAILED: $peer (left out)" >&2
    rm -rf "$here/site/$peer"
  fi
done
