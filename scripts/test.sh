#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing, builds with
# warnings as errors, runs every unit and integration test through CTest.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   also an ASan+UBSan build in build-asan/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

run_suite() {
  local dir=$1; shift
  ASK_BUILD_DIR=$dir "$root/scripts/build.sh" -DASK_WERROR=ON "$@"
  (cd "$dir" && ctest --output-on-failure --parallel "$(nproc)" --timeout 300)
}

run_suite "$root/build"
if [[ "${1:-}" == "--sanitize" ]]; then
  # The benchmarks are built (and so compiled) by the first suite; not again here.
  run_suite "$root/build-asan" -DASK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DASK_BUILD_BENCH=OFF
fi
