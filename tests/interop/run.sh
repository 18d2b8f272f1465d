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

# 3. The whole stack, C dials js-libp2p: multistream-select, Noise XX (the
#    js peer must prove the dialled peer ID), yamux chosen in the Noise
#    extensions, identify both ways, 3 pings.
peer=$(sed -n 's/.*"peer":"\([^"]*\)".*/\1/p' "$tmp/js.log" | head -1)
"$build/tests/stack_probe" "$port" "$peer" 3 >"$tmp/stack.log" 2>&1 \
  || fail "stack probe against js: $(cat "$tmp/stack.log")"
grep -q "\"event\":\"connected\",\"peer\":\"$peer\"" "$tmp/stack.log" || fail "no authenticated connection: $(cat "$tmp/stack.log")"
grep -q '"event":"identify".*"agent":"js-libp2p/.*"/ipfs/ping/1.0.0"' "$tmp/stack.log" || fail "C did not identify js: $(cat "$tmp/stack.log")"
[ "$(grep -c '"event":"ping","rtt_ms"' "$tmp/stack.log")" -eq 3 ] || fail "pings: $(cat "$tmp/stack.log")"
for _ in $(seq 30); do grep -q '"agent":"p2plab/stack_probe"' "$tmp/js.log" && break; sleep 0.1; done
grep -q '"event":"identify".*"agent":"p2plab/stack_probe","protocols":\["/ipfs/id/1.0.0","/ipfs/ping/1.0.0"\]' "$tmp/js.log" \
  || fail "js did not identify C: $(cat "$tmp/js.log")"
echo "ok: C dials js-libp2p: Noise, yamux, identify both ways, 3 pings"

# 4. Dialling with the wrong /p2p/ peer ID fails on the C side, clearly.
other=12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq
if "$build/tests/stack_probe" "$port" "$other" 1 >"$tmp/wrong.log" 2>&1; then
  fail "a wrong peer ID was accepted"
fi
grep -q "remote peer id does not match the expected one" "$tmp/wrong.log" \
  || fail "wrong peer ID message: $(cat "$tmp/wrong.log")"
echo "ok: a wrong /p2p/ peer ID is refused: $(cat "$tmp/wrong.log")"

# 5. The whole stack, js-libp2p dials C: the C side is the Noise responder
#    and yamux server; js identifies it and pings it 3 times, and C
#    identifies js.
"$build/tests/stack_probe" listen >"$tmp/cl.log" 2>&1 &
cpid=$!
pids+=($cpid)
for _ in $(seq 50); do grep -q listening "$tmp/cl.log" && break; sleep 0.1; done
caddr=$(sed -n 's/.*"addrs":\["\([^"]*\)".*/\1/p' "$tmp/cl.log" | head -1)
[ -n "$caddr" ] || fail "C listener did not start: $(cat "$tmp/cl.log")"
timeout 30 node "$here/peer.mjs" --dial "$caddr" --identify --ping 3 >"$tmp/jsd.log" 2>&1 \
  || fail "js dialling C: $(cat "$tmp/jsd.log")"
wait "$cpid" || fail "C listener: $(cat "$tmp/cl.log")"
grep -q '"event":"identify".*"agent":"p2plab/stack_probe"' "$tmp/jsd.log" || fail "js did not identify C: $(cat "$tmp/jsd.log")"
[ "$(grep -c '"event":"ping"' "$tmp/jsd.log")" -eq 3 ] || fail "js pings: $(cat "$tmp/jsd.log")"
grep -q '"event":"identify".*"agent":"js-libp2p/' "$tmp/cl.log" || fail "C did not identify js: $(cat "$tmp/cl.log")"
echo "ok: js-libp2p dials C: Noise, yamux, identify both ways, 3 pings"
