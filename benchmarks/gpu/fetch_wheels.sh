#!/usr/bin/env bash
# HERE (a machine with PyPI): download the peers' wheels for the GPU machine (Python 3.12,
# x86-64 manylinux) into benchmarks/gpu/wheels/<peer>, and copy the connectomes the benchmark
# reads into benchmarks/gpu/data. Both folders are ignored; the device run carries them
# (benchmarks/gpu/README.md). Then checks that every requirement of every wheel is either
# downloaded or already in the GPU image (image-packages.txt), and prints the sizes.
# Usage: benchmarks/gpu/fetch_wheels.sh [peer ...]   (default: brainmass vbjax tvboptim)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
shared="${BENCH_SHARED_DATA:-$here/../../../shared/data}"
# Pinned to the versions of benchmarks/peers/versions-<peer>.txt. --no-deps: jax, jaxlib,
# numpy, scipy and everything else the image has (image-packages.txt) stay out; the peer's
# other dependencies are named here.
declare -A wheels=(
  [brainmass]="brainmass==0.1.1 brainstate==0.5.4 braintools==0.3.0 brainunit==0.5.2 brainevent==0.2.1 saiunit==0.5.2 array-api-compat==1.16.0"
  [vbjax]="vbjax==0.0.19"  # its undeclared tqdm is in the image
  [tvboptim]="tvboptim==0.4.0 plum-dispatch==2.10.1 beartype==0.23.1 dill==0.4.1"
)
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(brainmass vbjax tvboptim)
for peer in "${peers[@]}"; do
  spec="${wheels[$peer]:?unknown peer $peer (brainmass, vbjax, tvboptim)}"
  rm -rf "$here/wheels/$peer"
  echo "== $peer: $spec"
  # shellcheck disable=SC2086
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$here/wheels/$peer" $spec
done
mkdir -p "$here/data"
for set in tvb_connectivity_76 tvb_connectivity_192 brainmass_example_connectome; do
  if [ -d "$shared/$set" ]; then
    rm -rf "$here/data/$set" && cp -r "$shared/$set" "$here/data/$set" && chmod -R u+w "$here/data/$set"
  else
    echo "warning: $shared/$set is missing: the GPU run would fall back to a synthetic connectome" >&2
  fi
done
"$python" "$here/check_wheels.py" "$here/wheels" "$here/image-packages.txt"
du -sh "$here/wheels"/* "$here/wheels" "$here/data"
