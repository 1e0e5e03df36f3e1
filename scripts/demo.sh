#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing, builds, then shows the
# whole flow against bundled simulated backends. It starts llm-sim twice on free loopback
# ports (once speaking Ollama's API, once llama-server's over a tiny real GGUF model), starts
# askd with the bundled examples/config.jsonc pointed at them, and then:
#   ask --9b answers; the same question again comes from the cache; piped text joins the
#   prompt; the council deliberates; the 9B's backend fails and ask says so
#   ([degraded: fast-9b → fast-1b]); ask stats sums it up; and a look at askd itself
#   (streaming headers, metrics).
# ask's cache and telemetry live in a temporary folder. Everything it starts it stops.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" >/dev/null
bin=${ASK_BUILD_DIR:-$root/build}
sim=$bin/sim/llm-sim
askd=$bin/proxy/askd
ask=$bin/ask/ask
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; }

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

say "two simulated backends: Ollama (the Qwen, Llama and Gemma models) and llama-server"
start_sim ollama --ollama --sim-models qwen3.5:9b,llama3.2:3b,qwen3-coder:30b,gemma3:4b \
  --sim-tokens-per-second 40
oport=$port
start_sim llama -m "$root/tests/fixtures/gguf/tiny-llama-2L-f16.gguf" -c 2048 --parallel 4 \
  -a gemma-3-1b-it-Q4_K_M --sim-load-time 1s --sim-tokens-per-second 40
lport=$port
echo "Ollama on 127.0.0.1:$oport; llama-server on 127.0.0.1:$lport (loading for 1 s)"

# The bundled example config, its two backend URLs pointed at the simulators.
sed -e "s#http://127.0.0.1:11434#http://127.0.0.1:$oport#" \
    -e "s#http://127.0.0.1:8080#http://127.0.0.1:$lport#" \
    "$root/examples/config.jsonc" >"$work/config.jsonc"
export ASK_CONFIG=$work/config.jsonc XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data
echo "askd and ask read examples/config.jsonc (backends moved to the simulators' ports)"

say "askd in front of them"
"$askd" --listen 127.0.0.1:0 --request-log "$work/askd.jsonl" \
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

export ASK_URL=$url

say "ask --9b: a question, answered by fast-9b (Qwen3.5 9B on Ollama)"
show 'ask --9b "Name three uses of a prompt cache."'
"$ask" --9b "Name three uses of a prompt cache." </dev/null

say "the same question again: from the cache, askd is not asked"
show 'ask --9b "Name three uses of a prompt cache."'
"$ask" --9b "Name three uses of a prompt cache." </dev/null
echo "its telemetry line:"
tail -1 "$work/data/ask/log.jsonl" | jq -c '{model, served_by, cache_hit, latency_s}'

say "piped text joins the prompt: the arguments, a blank line, then standard input"
show 'printf "fix: off-by-one in the retry loop\n" | ask --9b "Write a one-line commit message for:"'
printf 'fix: off-by-one in the retry loop\n' | "$ask" --9b "Write a one-line commit message for:"

say "ask --council: two fast-9b answers, anonymised, synthesised by think-9b (-v says who served)"
show 'ask --council -v "Should a cron job that calls an API every minute use a lock file?"'
"$ask" --council -v "Should a cron job that calls an API every minute use a lock file?" </dev/null
curl -s -D "$work/headers" -o /dev/null "$url/v1/chat/completions" \
  -d '{"model":"council","messages":[{"role":"user","content":"Is a lock file enough?"}]}'
grep -iE '^(X-Served-By|X-Council-Members)' "$work/headers" | tr -d '\r'

say "Ollama goes down: fast-9b falls back along its chain (fast-3b, fast-1b on llama-server)"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
show 'ask --9b "Are you still there?"'
"$ask" --9b "Are you still there?" </dev/null
echo "(exit status $?; stdout carries only the answer, the [degraded: ...] line is on stderr)"

say "every model failing: a clear error and exit status 4"
show 'ask --9b "[[sim: status=503]] and now?"'
"$ask" --9b "[[sim: status=503]] and now?" </dev/null || echo "(exit status $?)"

say "ask models and ask stats"
"$ask" models >"$work/models"
head -5 "$work/models"
echo
"$ask" stats

say "askd itself: a stream through curl, its headers committed after the first token"
curl -sN -D "$work/headers" -o "$work/stream" "$url/v1/chat/completions" \
  -H 'Content-Type: application/json' -d '{"model":"fast","stream":true,"max_tokens":6,
       "messages":[{"role":"user","content":"Say hi."}]}'
grep -m 3 '^data:' "$work/stream"
grep -iE '^(HTTP/|X-Served-By|X-Fallback-Path)' "$work/headers" | tr -d '\r'

say "GET /metrics (excerpt)"
curl -s "$url/metrics" >"$work/metrics"
grep -m 8 -E '^askd_(requests_total|fallbacks_total)' "$work/metrics"
say "done: see README.md, docs/ask.md, docs/proxy.md (a running askd also has a page: /ui/, docs/operations.md)"
