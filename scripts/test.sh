#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing, builds with
# warnings as errors, runs every unit and integration test through CTest.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   also an ASan+UBSan build in build-asan/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

# Unity builds (16 sources per compiler run) halve the compile time: most of it goes to the
# same headers (nlohmann/json, httplib, spdlog) and the same template instances in every file.
run_suite() {
  local dir=$1; shift
  ASK_BUILD_DIR=$dir "$root/scripts/build.sh" -DASK_WERROR=ON -DCMAKE_UNITY_BUILD=ON \
    -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 "$@"
  (cd "$dir" && ctest --output-on-failure --parallel "$(nproc)" --timeout 300)
}

run_suite "$root/build"
if [[ "${1:-}" == "--sanitize" ]]; then
  # The benchmarks are built (and so compiled) by the first suite; not again here.
  run_suite "$root/build-asan" -DASK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DASK_BUILD_BENCH=OFF
fi
