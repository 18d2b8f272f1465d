#!/usr/bin/env bash
# Configures and builds p2plab into a build directory. The compiler's output
# goes to BUILD_DIR/build.log and is shown only when the build fails.
#   scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$here/build"}
shift || true
mkdir -p "$dir"
if ! { cmake -S "$here" -B "$dir" "$@" && cmake --build "$dir" -j"$(nproc)"; } \
    >"$dir/build.log" 2>&1; then
  cat "$dir/build.log" >&2
  echo "p2plab: the build in $dir failed (log above, also in $dir/build.log)" >&2
  exit 1
fi
