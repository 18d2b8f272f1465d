#!/usr/bin/env bash
# The MPI build spreads a sweep over ranks and gives the same sweep.json as
# the process-parallel run.
#   mpi_sweep.sh MPI_BUILD_DIR
set -u
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scen="$root/tests/scenarios/small-sweep.yaml"
mpi=(mpirun -n 2)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
mpi+=(--oversubscribe)
"$build/p2plab" sweep "$scen" --jobs 2 --quiet --out "$tmp/procs" >/dev/null || { echo "FAIL: process sweep"; exit 1; }
OMPI_MCA_plm_rsh_agent=false "${mpi[@]}" "$build/p2plab" sweep "$scen" --quiet --out "$tmp/mpi" >"$tmp/mpi.log" 2>&1 || { echo "FAIL: mpirun sweep"; cat "$tmp/mpi.log"; exit 1; }
cmp -s "$tmp/procs/sweep.json" "$tmp/mpi/sweep.json" || { echo "FAIL: sweep.json differs between mpirun -n 2 and --jobs 2"; diff "$tmp/procs/sweep.json" "$tmp/mpi/sweep.json" | head; exit 1; }
echo "ok: mpirun -n 2 sweep.json equals the process-parallel one"
