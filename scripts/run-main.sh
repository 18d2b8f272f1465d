#!/usr/bin/env bash
# The main job: installs what is missing, builds p2plab and runs the main
# scenario, printing a short summary and where the results are.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup-deps.sh"
"$here/scripts/build.sh" "$here/build" -DCMAKE_BUILD_TYPE=Release
cd "$here"
exec ./build/p2plab run scenarios/udp-holepunch.yaml "$@"
