#!/usr/bin/env bash
# Builds every libFuzzer target with clang 16 into build-fuzz/ and runs each for SECONDS
# (default 30), with a corpus under build-fuzz/corpus/<target> seeded from tests/fixtures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
"$root/scripts/install-deps.sh" --fuzz
build=$root/build-fuzz
CXX=clang++-16 cmake -S "$root" -B "$build" -G Ninja -DASK_FUZZ=ON -DASK_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --parallel "$(nproc)"

seed() { # seed <target> <files...>
  local dir=$build/corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [[ -f $f ]] && head -c 65536 "$f" >"$dir/$(basename "$f")"; done
}
fx=$root/tests/fixtures
seed sse_fuzz "$fx"/llama-server/*.sse "$fx"/ollama/v1-*.txt
seed ndjson_fuzz "$fx"/ollama/*.ndjson
seed openai_fuzz "$fx"/ollama/*.json
seed gguf_fuzz "$fx"/gguf/*.gguf
seed config_fuzz "$root"/examples/*.jsonc
seed http_response_fuzz "$fx"/llama-server/*.http
seed http_request_fuzz "$fx"/llama-server/*.http
seed ollama_reply_fuzz "$fx"/ollama/*.ndjson "$fx"/ollama/*.json
seed ask_stats_fuzz "$fx"/ask/*.jsonl
seed ask_attach_fuzz "$fx"/attach/* "$fx"/ask/*.jsonl
seed gpu_probe_fuzz "$fx"/gpu/*
seed startup_log_fuzz "$fx"/llama-server/*.log "$fx"/llama-server/gpu-logs/*.log

status=0
for bin in "$build"/tests/fuzz/*_fuzz; do
  name=$(basename "$bin")
  mkdir -p "$build/corpus/$name"
  echo "== $name (${seconds}s)"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 "$build/corpus/$name" \
    2>"$build/$name.log" || { status=1; tail -40 "$build/$name.log"; }
  grep -E 'stat::number_of_executed_units|cov:' "$build/$name.log" | tail -2
done
exit $status
