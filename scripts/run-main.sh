#!/usr/bin/env bash
# The main job: installs what is missing, builds p2plab and runs the main
# scenario. Until the scenario runner lands (issue 3) that is the UDP
# hole-punch demo over every pair of NAT presets on netsim.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup-deps.sh"
"$here/scripts/build.sh" "$here/build" -DCMAKE_BUILD_TYPE=Release
exec "$here/build/p2plab" demo "$@"
