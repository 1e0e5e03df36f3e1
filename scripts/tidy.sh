#!/usr/bin/env bash
# clang-tidy (.clang-tidy's checks) over every source of the project: the libraries, the
# programs, the tests and the benchmarks. Any warning fails (exit status 1).
#   scripts/tidy.sh              everything, in build-tidy/ (configured, never built)
#   scripts/tidy.sh REGEX...     only the translation units whose path matches a REGEX
#   ASK_TIDY_UNITY=OFF scripts/tidy.sh   one clang-tidy run per source file (slower)
#
# Debian 12's clang-tidy is 14, which knows no -std=c++23 and crashes on this code; 16 comes
# from the clang-tidy-16 package (scripts/install-deps.sh installs it). Like the fuzz build
# (tests/fuzz/CMakeLists.txt), clang 16 needs __cpp_concepts raised before libstdc++ 12
# declares std::expected (undefined first: clang-tidy reports a redefinition as an error
# whatever -Wno-macro-redefined says).
#
# Speed: most of a run goes to parsing and matching the same headers (nlohmann/json,
# httplib, spdlog, the standard library) in every file, so by default clang-tidy reads the
# unity batches that scripts/test.sh compiles (16 sources per run, -DCMAKE_UNITY_BUILD=ON):
# the same code, each header once per batch, about 4 times faster. The sources of a batch
# are #included by it, so the header filter below names the project's folders for .cpp
# files as well as headers; a source outside every batch (a target that is not a unity
# build) is checked by itself as usual.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ASK_TIDY_DIR:-$root/build-tidy}
unity=${ASK_TIDY_UNITY:-ON}
tidy=${CLANG_TIDY:-clang-tidy-16}
runner=${RUN_CLANG_TIDY:-run-clang-tidy-16}
for tool in "$tidy" "$runner"; do
  command -v "$tool" >/dev/null || { echo "tidy.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DASK_BUILD_TESTS=ON -DASK_BUILD_BENCH=ON -DCMAKE_UNITY_BUILD="$unity" \
  -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 >/dev/null

# Every folder of ours; not build*/ (generated unity batches and precompiled-header stubs).
modules='core|config|net|telemetry|cache|council|sim|router|proxy|ask|tests|bench'
header_filter="^$root/($modules)/"
# Our sources and the unity batches; not the precompiled-header stubs (cmake_pch.hxx.cxx).
files=("$@")
[[ ${#files[@]} -eq 0 ]] && files=("^$root/($modules)/.*\.cpp$" "^$build/.*/Unity/unity_.*\.cxx$")

# -quiet: no per-file banner or suppressed-warning counts, only findings.
# -Wno-shadow: g++ already builds with -Wshadow -Werror; in a unity batch clang also sees one
# file's `using u64 = ...` shadow a neighbour's, which no single compile has.
status=0
"$runner" -clang-tidy-binary "$(command -v "$tidy")" -p "$build" -j "$(nproc)" -quiet \
  -header-filter="$header_filter" -extra-arg=-std=c++2b \
  -extra-arg=-U__cpp_concepts -extra-arg=-D__cpp_concepts=202002L -extra-arg=-Wno-shadow \
  "${files[@]}" || status=$?
echo "tidy.sh: $((SECONDS / 60)) min $((SECONDS % 60)) s, exit status $status" >&2
exit "$status"
