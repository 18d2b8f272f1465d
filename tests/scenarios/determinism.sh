#!/usr/bin/env bash
# End-to-end determinism: the same scenario and seed give the same
# trace_sha256 (and events.csv) on repeated runs, another seed another
# trace; a sweep gives the same sweep.json with --jobs 1 and --jobs 2.
#   determinism.sh BUILD_DIR
set -u
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p2plab="$build/p2plab"
sha() { sed -n 's/.*"trace_sha256": "\([0-9a-f]*\)".*/\1/p' "$1/summary.json"; }
# Jitter and a symmetric NAT (random ports) make the trace depend on the seed.
set_=(--set network.jitter=2ms --set nats.home_b.preset=symmetric)
for i in 1 2; do
  "$p2plab" run "$root/scenarios/udp-holepunch.yaml" "${set_[@]}" --quiet --out "$tmp/r$i" >/dev/null || exit 1
done
"$p2plab" run "$root/scenarios/udp-holepunch.yaml" "${set_[@]}" --quiet --seed 2 --out "$tmp/r3" >/dev/null || exit 1
a=$(sha "$tmp/r1"); b=$(sha "$tmp/r2"); c=$(sha "$tmp/r3")
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL: same seed, traces $a and $b"; exit 1; }
cmp -s "$tmp/r1/events.csv" "$tmp/r2/events.csv" || { echo "FAIL: events.csv differ"; exit 1; }
[ "$a" != "$c" ] || { echo "FAIL: seeds 1 and 2 gave the same trace"; exit 1; }
# The libp2p stack too (relay, browsers, GossipSub, discovery): a short
# relay-gossip twice gives the same events, byte for byte.
short=(--set duration=25s --set hosts.browser.count=8 --set workload.0.gossip.start=15s --set workload.0.gossip.stop=22s)
for i in 1 2; do
  "$p2plab" run "$root/scenarios/relay-gossip.yaml" "${short[@]}" --quiet --out "$tmp/g$i" >/dev/null || exit 1
done
cmp -s "$tmp/g1/events.csv" "$tmp/g2/events.csv" || { echo "FAIL: relay-gossip events.csv differ between runs"; exit 1; }
grep -q gossip.deliver "$tmp/g1/events.csv" || { echo "FAIL: relay-gossip delivered nothing"; exit 1; }
# A small sweep: 2 x 2 presets x 2 seeds.
sweep="$root/tests/scenarios/small-sweep.yaml"
"$p2plab" sweep "$sweep" --jobs 1 --quiet --out "$tmp/s1" >/dev/null || { echo "FAIL: sweep --jobs 1"; exit 1; }
"$p2plab" sweep "$sweep" --jobs 2 --quiet --out "$tmp/s2" >/dev/null || { echo "FAIL: sweep --jobs 2"; exit 1; }
cmp -s "$tmp/s1/sweep.json" "$tmp/s2/sweep.json" || { echo "FAIL: sweep.json differs between --jobs 1 and 2"; diff "$tmp/s1/sweep.json" "$tmp/s2/sweep.json" | head; exit 1; }
cmp -s "$tmp/s1/sweep.csv" "$tmp/s2/sweep.csv" || { echo "FAIL: sweep.csv differs"; exit 1; }
rows=$(($(wc -l < "$tmp/s1/sweep.csv") - 1))
[ "$rows" -eq 8 ] || { echo "FAIL: sweep.csv has $rows rows, expected 8"; exit 1; }
# What the NAT behaviours imply: full-cone x port-restricted punches through,
# symmetric x symmetric never does (column 7 is holepunch.success_rate).
ok=$(awk -F, '$3=="full-cone" && $4=="port-restricted-cone" {print $7}' "$tmp/s1/sweep.csv" | sort -u)
bad=$(awk -F, '$3=="symmetric" && $4=="symmetric" {print $7}' "$tmp/s1/sweep.csv" | sort -u)
[ "$ok" = 1 ] && [ "$bad" = 0 ] || { echo "FAIL: sweep outcomes full-cone x prc '$ok', symmetric x symmetric '$bad'"; exit 1; }
pngs=$(ls "$tmp/s1"/*.png | wc -l)
[ "$pngs" -eq 3 ] || { echo "FAIL: sweep drew $pngs graphs, expected 3 (heatmap, 2 axes)"; exit 1; }
echo "ok: trace $a repeated, sweep.json identical across --jobs"
