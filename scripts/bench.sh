#!/usr/bin/env bash
# Builds a Release tree (build-bench/, or $ASK_BUILD_DIR) and runs the benchmarks:
# bench/proxy_overhead (askd vs direct llm-sim vs nginx), bench/fault_soak (askd through
# failing simulators) and bench/ask_cache_bench (a whole ask process on a cache hit and a
# miss, next to curl). Numbers only; see docs/benchmarks.md for what they mean.
#   scripts/bench.sh            full runs (a few minutes on two cores)
#   scripts/bench.sh --quick    smoke runs with few requests
# Other arguments are rejected; run the programs in $ASK_BUILD_DIR/bench/ directly for their
# own flags (--help). nginx is optional: without it proxy_overhead skips that column
# (Debian: apt-get install -y nginx). The build uses $ASK_BENCH_JOBS jobs (default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ASK_BUILD_DIR:-$root/build-bench}
jobs=${ASK_BENCH_JOBS:-2}

quick=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $arg (only --quick)" >&2; exit 2 ;;
  esac
done

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DASK_BUILD_TESTS=OFF -DASK_BUILD_BENCH=ON >/dev/null
else
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DASK_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --parallel "$jobs" --target askd llm-sim ask proxy_overhead fault_soak \
  ask_cache_bench router_bench

status=0
echo
"$build/bench/proxy_overhead" "${quick[@]}" || status=1
echo
"$build/bench/fault_soak" "${quick[@]}" || status=1
echo
"$build/bench/ask_cache_bench" "${quick[@]}" || status=1
echo
router_args=()
[[ ${#quick[@]} -gt 0 ]] && router_args=(--iterations 20)
"$build/bench/router_bench" "${router_args[@]}" || status=1
exit $status
