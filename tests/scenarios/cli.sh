#!/usr/bin/env bash
# The p2plab command's contract: exit statuses, --help for every command,
# and `plot` redrawing a run's graphs from its events.
#   cli.sh BUILD_DIR
set -u
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p2plab="$build/p2plab"
scen="$root/scenarios/udp-holepunch.yaml"
fail() { echo "FAIL: $*"; exit 1; }

for c in run check sweep plot demo; do
  "$p2plab" "$c" --help | grep -q "^usage: p2plab $c" || fail "$c --help"
done
"$p2plab" --help | grep -q "^usage: p2plab COMMAND" || fail "--help"

# check: 0 when every expectation holds, 1 when one fails; run: 0 either way.
"$p2plab" check "$scen" --quiet --out "$tmp/ok" >/dev/null; st=$?
[ $st -eq 0 ] || fail "check of a passing scenario exited $st"
"$p2plab" check "$scen" --quiet --set nats.home_b.preset=symmetric \
  --out "$tmp/bad" >/dev/null; st=$?
[ $st -eq 1 ] || fail "check with a failing expectation exited $st, not 1"
grep -q '"ok": false' "$tmp/bad/summary.json" || fail "summary.json lacks ok: false"
"$p2plab" run "$scen" --set nats.home_b.preset=symmetric --out "$tmp/run" \
  >"$tmp/run.txt"; st=$?
[ $st -eq 0 ] || fail "run with a failing expectation exited $st, not 0"
grep -q "FAIL" "$tmp/run.txt" || fail "run does not report the failed clause"
grep -q "failed: timeout x 1" "$tmp/run.txt" || fail "run does not report the failure reason"

# Bad arguments exit 2.
"$p2plab" run 2>/dev/null; st=$?
[ $st -eq 2 ] || fail "run without a scenario exited $st"
"$p2plab" run "$scen" --seed -1 2>/dev/null; st=$?
[ $st -eq 2 ] || fail "--seed -1 exited $st"
"$p2plab" run "$scen" --set nosuch.key=1 2>"$tmp/err"; st=$?
[ $st -eq 2 ] || fail "--set nosuch.key exited $st"
grep -q "no such setting" "$tmp/err" || fail "--set nosuch.key message: $(cat "$tmp/err")"
"$p2plab" run "$tmp/missing.yaml" 2>/dev/null; st=$?
[ $st -eq 2 ] || fail "a missing scenario file exited $st"
"$p2plab" sweep "$scen" 2>"$tmp/err"; st=$?
[ $st -eq 2 ] || fail "sweep of a scenario without sweep: exited $st"

# plot redraws the graphs from events.csv alone.
rm -f "$tmp/ok"/*.png
"$p2plab" plot "$tmp/ok" | grep -q "^1 graph in" || fail "plot"
head -c 8 "$tmp/ok/time_to_direct_cdf.png" | od -An -c | grep -q "P   N   G" \
  || fail "plot wrote no PNG"
"$p2plab" plot "$tmp/nowhere" 2>/dev/null; st=$?
[ $st -eq 2 ] || fail "plot of a missing folder exited $st"
echo "ok: exit statuses, --help, plot"
