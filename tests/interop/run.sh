#!/usr/bin/env bash
# Interop with js-libp2p (pinned in package.json / package-lock.json,
# installed by `npm ci` in this folder): what the C core proves against a
# real js-libp2p peer over TCP on 127.0.0.1.
#   run.sh BUILD_DIR
# Fails (never skips) when Node.js or the npm packages are missing.
set -u
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v node >/dev/null || fail "node is not installed (scripts/setup-deps.sh installs it)"
[ -d "$here/node_modules/libp2p" ] || fail "run 'npm ci' in $here first (scripts/run-tests.sh does)"
probe="$build/tests/mss_probe"

# 1. C dials js-libp2p: our multistream-select dialer gets /noise from a js
#    listener.
node "$here/peer.mjs" --listen /ip4/127.0.0.1/tcp/0 --serve 30 >"$tmp/js.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/js.log" && break; sleep 0.2; done
port=$(sed -n 's/.*"\/ip4\/127.0.0.1\/tcp\/\([0-9]*\)\/p2p.*/\1/p' "$tmp/js.log" | head -1)
[ -n "$port" ] || fail "js listener did not start: $(cat "$tmp/js.log")"
out=$("$probe" dial "$port" /noise) || fail "C dialer against js: $out"
echo "ok: C multistream-select dialer -> js-libp2p listener: $out"

# 2. js-libp2p dials C: our listener accepts the js dialer's /noise proposal
#    (the js side then fails at the Noise handshake, which is not built yet).
"$probe" listen /noise >"$tmp/c.log" &
cpid=$!
pids+=($cpid)
for _ in $(seq 50); do [ -s "$tmp/c.log" ] && break; sleep 0.1; done
lport=$(head -1 "$tmp/c.log")
timeout 20 node "$here/peer.mjs" --dial "/ip4/127.0.0.1/tcp/$lport" >"$tmp/jsdial.log" 2>&1
wait "$cpid" || fail "C listener against js: $(cat "$tmp/c.log")"
grep -q '"selected","protocol":"/noise"' "$tmp/c.log" || fail "C listener: $(cat "$tmp/c.log")"
echo "ok: js-libp2p dialer -> C multistream-select listener: $(tail -1 "$tmp/c.log")"

# 3-5. The whole stack through `p2plab node`, the core's host on the posix
#      backend: multistream-select, Noise XX (remote peer ID checked), yamux
#      chosen through the Noise extensions (early muxer negotiation, as
#      js-libp2p does), identify in both directions and ping.
other=12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq
p2plab="$build/p2plab"
"$p2plab" node --dial "$(sed -n 's/.*"addrs":\["\([^"]*\)".*/\1/p' "$tmp/js.log" | head -1)" \
  --identify --ping 3 >"$tmp/node1.log" 2>"$tmp/node1.err" \
  || fail "p2plab node dialling js: $(cat "$tmp/node1.log" "$tmp/node1.err")"
grep -q '"event":"identify".*"agent":"js-libp2p/.*"protocols":\[.*"/ipfs/id/1.0.0".*"/ipfs/ping/1.0.0"' "$tmp/node1.log" \
  || fail "p2plab node did not identify js (agent, protocols): $(cat "$tmp/node1.log")"
[ "$(grep -c '"event":"ping","rtt_ms"' "$tmp/node1.log")" -eq 3 ] || fail "p2plab node pings: $(cat "$tmp/node1.log")"
echo "ok: p2plab node dials js-libp2p: identify and 3 pings"

"$p2plab" node --listen /ip4/127.0.0.1/tcp/0 --seed 7 --timeout 30 >"$tmp/node2.log" 2>"$tmp/node2.err" &
npid=$!
pids+=($npid)
for _ in $(seq 50); do grep -q listening "$tmp/node2.log" && break; sleep 0.1; done
naddr=$(sed -n 's/.*"addrs":\["\([^"]*\)".*/\1/p' "$tmp/node2.log" | head -1)
[ -n "$naddr" ] || fail "p2plab node did not listen: $(cat "$tmp/node2.log" "$tmp/node2.err")"
timeout 30 node "$here/peer.mjs" --dial "$naddr" --identify --ping 3 >"$tmp/jsd2.log" 2>&1 \
  || fail "js dialling p2plab node: $(cat "$tmp/jsd2.log")"
grep -q '"event":"identify".*"agent":"p2plab/.*"protocols":\["/ipfs/id/1.0.0","/ipfs/id/push/1.0.0","/ipfs/ping/1.0.0"\]' "$tmp/jsd2.log" \
  || fail "js did not identify p2plab node (agent, protocols): $(cat "$tmp/jsd2.log")"
[ "$(grep -c '"event":"ping"' "$tmp/jsd2.log")" -eq 3 ] || fail "js pings of p2plab node: $(cat "$tmp/jsd2.log")"
grep -q '"event":"identify".*"agent":"js-libp2p/.*"/ipfs/ping/1.0.0"' "$tmp/node2.log" \
  || fail "p2plab node did not identify the js dialler: $(cat "$tmp/node2.log")"
kill "$npid" 2>/dev/null; wait "$npid" 2>/dev/null
# --seed gives the same peer ID every time.
"$p2plab" node --listen /ip4/127.0.0.1/tcp/0 --seed 7 --timeout 1 >"$tmp/node3.log" 2>&1
[ "$(sed -n 's/.*"peer":"\([^"]*\)".*/\1/p' "$tmp/node2.log" | head -1)" = \
  "$(sed -n 's/.*"peer":"\([^"]*\)".*/\1/p' "$tmp/node3.log" | head -1)" ] || fail "--seed 7 gave different peer IDs"
echo "ok: js-libp2p dials p2plab node: identify both ways and 3 pings; --seed is stable"

if "$p2plab" node --dial "/ip4/127.0.0.1/tcp/$port/p2p/$other" --ping 1 >"$tmp/node4.log" 2>&1; then
  fail "p2plab node accepted a wrong peer ID"
fi
grep -q '"event":"error","reason":".*does not match' "$tmp/node4.log" || fail "p2plab node wrong peer ID: $(cat "$tmp/node4.log")"
echo "ok: p2plab node refuses a wrong /p2p/ peer ID: $(grep error "$tmp/node4.log")"
