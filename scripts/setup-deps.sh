#!/usr/bin/env bash
# Installs the Debian 12 packages p2plab needs to build and test, only those
# that are missing. Runs as root, or through sudo when it is available.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  clang libclang-rt-14-dev          # libFuzzer and the sanitizers
  libsodium-dev                     # core crypto (Ed25519, X25519, ChaCha20-Poly1305)
  nettle-dev                        # SHA-1 and HMAC-SHA1 (WebSocket, STUN)
  libprotobuf-c-dev protobuf-c-compiler
  check                             # unit test framework
  libyaml-dev                       # scenario loader
  gnuplot-nox                       # graphs
  valgrind
)
if [ "${P2PLAB_WITH_MPI:-0}" = 1 ]; then pkgs+=(libopenmpi-dev openmpi-bin); fi
# Node.js for the js-libp2p interop peers: js-libp2p 3.x needs Node >= 20,
# which the project's machines carry; Debian's own nodejs is only a fallback.
if ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "p2plab: installing missing packages: ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
    echo "p2plab: need root (or sudo) to install: ${missing[*]}" >&2; exit 2
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
