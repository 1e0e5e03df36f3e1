#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds, then shows
# what works today. It starts llm-sim twice on free loopback ports — once speaking
# llama-server's API over a tiny real GGUF model, once speaking Ollama's — and sends each a
# request, then has askd check the bundled example config. Everything it starts it stops.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" >/dev/null
bin=${ASK_BUILD_DIR:-$root/build}
sim=$bin/sim/llm-sim
askd=$bin/proxy/askd
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# start_sim NAME ARGS... : starts llm-sim in the background, waits for the line that says
# which port it bound, and leaves that port in $port.
start_sim() {
  local name=$1; shift
  "$sim" --host 127.0.0.1 --port 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  port=
  for _ in $(seq 1 200); do
    port=$(grep -ohE '(bound|listening on) http://127\.0\.0\.1:[0-9]+' \
             "$work/$name.out" "$work/$name.err" 2>/dev/null | head -1 | sed 's/.*://') || true
    [[ -n "$port" ]] && return 0
    sleep 0.05
  done
  echo "llm-sim ($name) did not start:" >&2; cat "$work/$name.err" >&2; return 1
}

say "llm-sim as llama-server (model: tests/fixtures/gguf/tiny-llama-2L-f16.gguf, 1 s load)"
start_sim llama -m "$root/tests/fixtures/gguf/tiny-llama-2L-f16.gguf" -c 1024 --parallel 2 \
  -lv 4 --sim-load-time 1s
lport=$port
echo "GET /health while loading:"
curl -s "http://127.0.0.1:$lport/health"; echo
until curl -sf "http://127.0.0.1:$lport/health" >/dev/null; do sleep 0.1; done
echo "its startup log, as llama-server prints it (buffer sizes from the GGUF file):"
grep -hE 'buffer size|listening on' "$work/llama.err" "$work/llama.out" | head -8 || true
echo "GET /health when ready:"
curl -s "http://127.0.0.1:$lport/health"; echo

say "POST /v1/chat/completions (streaming) to the llama-server simulator"
curl -sN "http://127.0.0.1:$lport/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Say hello in five words."}],
       "max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}'

say "llm-sim as Ollama (installed models: qwen3.5:9b, gemma3:1b)"
start_sim ollama --ollama --sim-models qwen3.5:9b,gemma3:1b
oport=$port
echo "POST /api/chat (NDJSON stream, keep_alive 15m):"
curl -sN "http://127.0.0.1:$oport/api/chat" \
  -d '{"model":"qwen3.5:9b","messages":[{"role":"user","content":"One word, please."}],
       "options":{"num_predict":3},"keep_alive":"15m"}'
echo "GET /api/ps (the model stays loaded for its keep_alive):"
curl -s "http://127.0.0.1:$oport/api/ps"; echo

say "a fault on request: [[sim: status=503]] in the last user message"
curl -s -w '\nHTTP %{http_code}\n' "http://127.0.0.1:$lport/v1/chat/completions" \
  -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"[[sim: status=503]] hello"}]}'

say "askd --check-config examples/config.jsonc (first lines)"
"$askd" --check-config "$root/examples/config.jsonc" >"$work/config.out"
head -12 "$work/config.out"
echo "..."
say "done: see README.md and docs/ for what comes next"
