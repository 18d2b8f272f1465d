#!/usr/bin/env bash
# Every test: installs what is missing, then
#   1. builds (RelWithDebInfo) and runs the unit and integration tests;
#   2. builds again with AddressSanitizer and UBSan and runs them again;
#   3. builds the MPI variant and runs a sweep under mpirun -n 2;
#   4. builds the libFuzzer targets with clang and runs each briefly.
# Prints one closing line "tests: N passed, M failed" and exits non-zero on
# any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
P2PLAB_WITH_MPI=1 "$here/scripts/setup-deps.sh" || exit 1

# The js-libp2p peers of the interop tests, from the committed lockfile.
if ! (cd "$here/tests/interop" && npm ci --no-audit --no-fund >/dev/null 2>&1); then
  echo "== npm ci in tests/interop FAILED (the interop test will fail)"
fi

passed=0
failed=0
fuzz_seconds=${P2PLAB_FUZZ_SECONDS:-20}

# Runs ctest in $1 and adds its counts to the totals.
run_ctest() {
  local dir=$1 label=$2 out
  echo "== $label: ctest in $dir"
  out=$(cd "$dir" && ctest -j"$(nproc)" --output-on-failure 2>&1)
  local rc=$?
  echo "$out"
  local total fails
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' <<<"$out" | tail -1)
  fails=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' <<<"$out" | tail -1)
  if [ -z "$total" ]; then
    echo "== $label: ctest did not run (exit $rc)"
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + total - fails))
  failed=$((failed + fails))
  [ "$rc" -eq 0 ] || [ "$fails" -gt 0 ] || failed=$((failed + 1))
}

if "$here/scripts/build.sh" "$here/build"; then
  run_ctest "$here/build" "default build"
else
  echo "== default build: FAILED to build"
  failed=$((failed + 1))
fi

if "$here/scripts/build.sh" "$here/build-asan" -DCMAKE_BUILD_TYPE=Debug \
    -DP2PLAB_SANITIZE=address,undefined; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest "$here/build-asan" "ASan+UBSan build"
else
  echo "== ASan+UBSan build: FAILED to build"
  failed=$((failed + 1))
fi

# The MPI variant: one small sweep under mpirun -n 2 must give the same
# sweep.json as the process-parallel run.
if "$here/scripts/build.sh" "$here/build-mpi" -DP2PLAB_WITH_MPI=ON \
    -DP2PLAB_TESTS=OFF; then
  echo "== MPI sweep"
  if "$here/tests/scenarios/mpi_sweep.sh" "$here/build-mpi"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
else
  echo "== MPI build: FAILED to build"
  failed=$((failed + 1))
fi

if "$here/scripts/build.sh" "$here/build-fuzz" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DP2PLAB_FUZZ=ON -DP2PLAB_TESTS=OFF; then
  for f in "$here"/build-fuzz/tests/fuzz_*; do
    name=$(basename "$f")
    corpus=$(mktemp -d)
    cp -r "$here/tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
    log=$(mktemp)
    if "$f" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$corpus" \
        >"$log" 2>&1; then
      echo "== fuzz $name for ${fuzz_seconds}s: ok"
      grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log"
      passed=$((passed + 1))
    else
      echo "== fuzz $name: FAILED"
      tail -n 60 "$log"
      failed=$((failed + 1))
    fi
    rm -rf "$corpus" "$log"
  done
else
  echo "== fuzz build: FAILED to build"
  failed=$((failed + 1))
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
