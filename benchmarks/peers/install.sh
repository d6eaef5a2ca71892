#!/usr/bin/env bash
# Install each peer simulator from PyPI into its own virtual environment under
# benchmarks/peers/.venvs/<peer>, so their pins never meet massengine's.
# Usage: benchmarks/peers/install.sh [peer ...]   (default: all)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venvs="$here/.venvs"
python="${PYTHON:-python3}"
declare -A packages=(
  [brainmass]="brainmass"
  [neurolib]="neurolib"
  [tvb]="tvb-library"
  [vbjax]="vbjax tqdm"  # vbjax imports tqdm without declaring it (0.0.19)
  [tvboptim]="tvboptim"
)
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(brainmass neurolib tvb vbjax tvboptim)
mkdir -p "$venvs"
for peer in "${peers[@]}"; do
  spec="${packages[$peer]:?unknown peer $peer (brainmass, neurolib, tvb, vbjax, tvboptim)}"
  echo "== $peer: pip install $spec psutil"
  "$python" -m venv "$venvs/$peer"
  "$venvs/$peer/bin/pip" install -q --upgrade pip
  # psutil measures the peer's peak RSS the same way as ours.
  "$venvs/$peer/bin/pip" install -q $spec psutil
  "$venvs/$peer/bin/pip" freeze > "$here/versions-$peer.txt"
done
