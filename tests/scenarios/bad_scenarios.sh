#!/usr/bin/env bash
# Every malformed scenario in tests/scenario/bad/ makes `p2plab run` exit 2
# before anything runs, with the message its first line announces:
#   # expect: LINE:COL: SUBSTRING
#   bad_scenarios.sh BUILD_DIR
set -u
build=$1
here=$(cd "$(dirname "$0")/../scenario/bad" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
for f in "$here"/*.yaml; do
  n=$((n + 1))
  want=$(head -n 1 "$f" | sed -n 's/^# expect: //p')
  pos=${want%%: *}
  sub=${want#*: }
  "$build/p2plab" run "$f" --quiet --out "$tmp/out" >"$tmp/stdout" 2>"$tmp/stderr"
  st=$?
  msg=$(cat "$tmp/stderr")
  if [ "$st" -ne 2 ]; then
    echo "FAIL $f: exit status $st, expected 2"
    fail=1
  elif [[ "$msg" != "$f:$pos: error: "* ]] || [[ "$msg" != *"$sub"* ]]; then
    echo "FAIL $f: message '$msg', expected '$f:$pos: error: ...$sub...'"
    fail=1
  elif [ -e "$tmp/out" ]; then
    echo "FAIL $f: results were written although the scenario is bad"
    fail=1
  fi
done
[ "$n" -ge 30 ] || { echo "FAIL: only $n malformed scenarios"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok: $n malformed scenarios rejected with exit 2"
exit $fail
