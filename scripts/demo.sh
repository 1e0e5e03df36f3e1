#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds, then runs
# askd in front of its bundled simulated backends. It starts llm-sim twice on free loopback
# ports (once speaking Ollama's API, once llama-server's over a tiny real GGUF model), starts
# askd with a config pointing at them, and sends requests through it: streaming and not, an
# alias, a backend going down (the chain falls back, X-Served-By says so), every backend
# failing. Then it shows the request log and metrics. Everything it starts it stops.
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

say "two simulated backends: Ollama (qwen3.5:9b, llama3.2:3b) and llama-server (gemma 1B)"
start_sim ollama --ollama --sim-models qwen3.5:9b,llama3.2:3b --sim-tokens-per-second 40
oport=$port
start_sim llama -m "$root/tests/fixtures/gguf/tiny-llama-2L-f16.gguf" -c 2048 --parallel 4 \
  -a gemma-3-1b-it-Q4_K_M --sim-load-time 1s --sim-tokens-per-second 40
lport=$port
echo "Ollama on 127.0.0.1:$oport; llama-server on 127.0.0.1:$lport (loading for 1 s)"

cat >"$work/config.jsonc" <<EOF
// The demo's config: examples/config.jsonc cut down to three models and pointed at the sims.
{
  "backends": {
    "ollama": { "kind": "ollama", "url": "http://127.0.0.1:$oport",
                "timeouts": { "connect": "1s", "first_byte": "10s" } },
    "llamacpp": { "kind": "openai", "url": "http://127.0.0.1:$lport" }
  },
  "models": {
    "fast-9b": { "backend": "ollama", "upstream": "qwen3.5:9b", "family": "qwen",
                 "keep_alive": "15m", "params": { "think": false, "num_ctx": 16384 },
                 "fallbacks": ["fast-3b"] },
    "fast-3b": { "backend": "ollama", "upstream": "llama3.2:3b", "family": "llama",
                 "keep_alive": "5m", "fallbacks": ["fast-1b"] },
    "fast-1b": { "backend": "llamacpp", "upstream": "gemma-3-1b-it-Q4_K_M", "family": "gemma" }
  },
  "aliases": { "fast": "fast-9b" }
}
EOF

say "askd in front of them"
"$askd" --config "$work/config.jsonc" --listen 127.0.0.1:0 --request-log "$work/askd.jsonl" \
  >"$work/askd.out" 2>"$work/askd.err" &
pids+=($!)
aport=
for _ in $(seq 1 200); do
  aport=$(grep -ohE 'askd: listening on http://127\.0\.0\.1:[0-9]+' "$work/askd.err" \
            2>/dev/null | sed 's/.*://') || true
  [[ -n "$aport" ]] && break
  sleep 0.05
done
[[ -n "$aport" ]] || { echo "askd did not start:" >&2; cat "$work/askd.err" >&2; exit 1; }
url=http://127.0.0.1:$aport
grep -h 'listening on' "$work/askd.err" | head -1
until curl -sf "http://127.0.0.1:$lport/health" >/dev/null; do sleep 0.1; done

say "GET $url/v1/models"
curl -s "$url/v1/models"; echo

chat() { # chat MODEL TEXT [stream]: one request through askd, the status and headers shown
  curl -sN -D "$work/headers" "$url/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$1\",\"stream\":${3:-false},\"max_tokens\":12,
         \"messages\":[{\"role\":\"user\",\"content\":\"$2\"}]}"
  echo
  grep -iE '^(HTTP/|X-Served-By|X-Fallback-Path)' "$work/headers" | tr -d '\r'
}

say "fast-9b (Ollama), streamed: the model's keep_alive goes to Ollama with the request"
chat fast-9b "Say hello in five words." true
echo "GET /api/ps on the Ollama simulator (expires 15 minutes from now):"
curl -s "http://127.0.0.1:$oport/api/ps"; echo

say "the alias 'fast', not streamed"
chat fast "One word, please."

say "Ollama goes down: fast-9b falls back along its chain to fast-1b on llama-server"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
chat fast-9b "Are you still there?" true

say "llama-server answers 503 as well: every model fails, and askd says why"
chat fast-9b "[[sim: status=503]] and now?"

say "the request log: one JSON line per request"
cat "$work/askd.jsonl"

say "GET /metrics (excerpt)"
curl -s "$url/metrics" | grep -E '^askd_(requests_total|fallbacks_total|upstream_errors_total)'

say "askd --check-config examples/config.jsonc (first lines)"
"$askd" --check-config "$root/examples/config.jsonc" >"$work/config.out"
head -8 "$work/config.out"
echo "..."
say "done: docs/proxy.md says what askd promises, docs/operations.md how to run it"
