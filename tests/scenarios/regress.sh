#!/usr/bin/env bash
# Scenario regression: runs each shipped scenario with `p2plab check` and
# compares its summary.json with the stored reference in reference/NAME.json
# (every field exactly, wall_time_s aside: see summary_diff.c), and the NAT
# matrix sweep's sweep.json with reference/nat-matrix-sweep.json. A behaviour
# change fails here until the reference is regenerated with
#   tests/scenarios/regress.sh BUILD_DIR --update
# and committed with the reason in the commit message.
#   regress.sh BUILD_DIR [--update]
set -u
build=$1
update=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for scen in udp-holepunch nat-matrix relay-gossip; do
  out="$tmp/$scen"
  if ! "$build/p2plab" check "$root/scenarios/$scen.yaml" --quiet --out "$out" >/dev/null; then
    echo "FAIL $scen: p2plab check exited $?"
    fail=1
    continue
  fi
  ref="$here/reference/$scen.json"
  if [ "$update" = --update ]; then
    cp "$out/summary.json" "$ref"
    echo "updated $ref"
  elif ! "$build/tests/summary_diff" "$ref" "$out/summary.json"; then
    echo "FAIL $scen: summary differs from $ref"
    fail=1
  else
    echo "ok $scen"
  fi
done
# gossip-1k scaled down (40 browsers over 2 relays that peer with each
# other): its expect: clauses (delivery >= 0.99) must hold. Not pinned: the
# full-size run is a benchmark (tests/bench/bench_scale).
if "$build/p2plab" check "$root/scenarios/gossip-1k.yaml" --quiet --out "$tmp/g1k" \
    --set hosts.browser.count=30 --set hosts.relay.count=2 >/dev/null; then
  echo "ok gossip-1k (40 browsers, 2 relays)"
else
  echo "FAIL gossip-1k (40 browsers, 2 relays): p2plab check exited $?"
  fail=1
fi
# The NAT matrix sweep: every preset pair x 3 seeds, pinned point by point.
out="$tmp/nat-matrix-sweep"
ref="$here/reference/nat-matrix-sweep.json"
if ! "$build/p2plab" sweep "$root/scenarios/nat-matrix.yaml" --quiet --out "$out" >/dev/null; then
  echo "FAIL nat-matrix sweep: p2plab sweep exited $?"
  fail=1
elif [ "$update" = --update ]; then
  cp "$out/sweep.json" "$ref"
  echo "updated $ref"
elif ! "$build/tests/summary_diff" "$ref" "$out/sweep.json"; then
  echo "FAIL nat-matrix sweep: sweep.json differs from $ref"
  fail=1
else
  echo "ok nat-matrix sweep"
fi
exit $fail
