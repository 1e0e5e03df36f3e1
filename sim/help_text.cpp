// The text `llm-sim --help` prints. Kept apart from the parser so the two read easily.

#include "sim/options.h"

namespace ask::sim {

std::string help_text() {
  return R"(llm-sim: a stand-in for llama-server and Ollama, for tests, benchmarks and demos.

usage: llm-sim [llama-server flags] [llm-sim options]
       llm-sim --ollama [llm-sim options]

It serves llama-server's HTTP API (default) or Ollama's (--ollama) on loopback, answers
with deterministic text (same request, same answer), and injects faults on request.

LLAMA-SERVER FLAGS
  Every flag `llama-server --help` lists is accepted (the table comes from llama.cpp build
  10587). These shape the simulation:
    -m,  --model FNAME          GGUF file: sizes in the startup log, /props, /v1/models
    -a,  --alias NAME[,NAME]    model id in /v1/models and responses (default: the path)
         --host HOST            address to listen on (default: 127.0.0.1)
         --port PORT            port (default: 8080; 11434 with --ollama; 0 = any free one)
    -c,  --ctx-size N           context size (default: the model's training context)
    -np, --parallel N           slots; more concurrent requests wait (default: auto = 4)
    -ngl, --n-gpu-layers N      layers offloaded; with --device or --tensor-split the
                                startup log prints per-device buffer lines
    -ts, --tensor-split A,B     proportions of the offloaded layers per device
    -dev, --device D1,D2        device names for those lines (e.g. CUDA0,Vulkan1)
    -ctk/-ctv TYPE              KV cache types: f32 f16 bf16 q8_0 q4_0 q4_1 iq4_nl q5_0 q5_1
    -fa, --flash-attn on|off|auto, -b N, -ub N, -kvu, --swa-full: as llama-server
    -n,  --predict N            default max tokens per request
    -lv, --verbosity N          log verbosity; 4 prints the buffer-size lines (default: 3)
         --metrics              serve /metrics
         --api-key K1[,K2]      require "Authorization: Bearer K" (or X-Api-Key) except on
                                /health and /v1/models, answering 401 like llama-server
    -md, --model-draft FNAME    logged as loaded (no memory lines of its own)
  Other flags are accepted and ignored. Flags llama-server does not know are accepted too
  and logged ("llm-sim: ignoring unknown flag --foo"); a following non-flag token is taken
  as their value.

LLM-SIM OPTIONS
  --ollama                      serve Ollama's API instead of llama-server's
  --sim-fake-model              no GGUF needed: built-in tiny llama parameters; the model
                                id is -a, else -m, else "llm-sim"
  --sim-load-time DUR           /health answers 503 "Loading model" this long after start
                                (Ollama mode: a model's cold load takes this long)
  --sim-ttft DUR                delay before the first token of every answer (default: 0)
  --sim-tokens-per-second N     streaming rate (default: 200; 0 = as fast as possible)
  --sim-fault SPEC              a fault for every request (grammar below)
  --sim-seed N                  seeds response ids (the text depends only on the request)
  --sim-vram MiB                memory per device for the offload report
  --sim-compute-scale F         multiply the compute buffers of the startup log by F (a
                                build whose graph needs more than estimated; default: 1)
  --sim-no-fim                  the model has no FIM tokens: /infill answers 501 like
                                llama-server with such a model (default: FIM works)
  --sim-models A,B,C            Ollama mode: the installed models (default:
                                llama3.2:1b,llama3.2:3b,qwen3:8b); NAME@CAPS sets a
                                model's capabilities (completion+tools+thinking+insert+
                                embedding, joined by +), NAME@CAPS@ctx=N its context
                                length; names with "embed" are embedding-only, names
                                with "code" also get insert (FIM)
  --sim-max-connections N       open connections before answering 503 (default: 1024)
  --sim-request-log N           requests kept for GET /sim/requests (default: 256)
  --sim-parent-pid PID          exit (status 1) soon after process PID is gone, so a test
                                that dies does not leave the simulator running
  -h, --help                    this text

  DUR is a duration: 500ms, 2s, 1m, 1h30m (a bare number is seconds).

FAULTS
  Choose faults for the whole process (--sim-fault SPEC), per request with a directive
  anywhere in the last user message ("[[sim: SPEC]]", removed before the answer is
  derived), or with the request header "X-Sim-Fault: SPEC". SPEC is key=value items
  separated by commas or spaces; quote values with spaces. Key by key the header wins over
  the directive, which wins over --sim-fault (switches such as hang add up). An unknown key
  or a bad value is a 400 naming it.

    ttft=DUR              wait DUR before the first byte (headers included)
                          e.g. [[sim: ttft=300ms]]
    status=CODE           answer CODE with the backend's error body
                          e.g. X-Sim-Fault: status=503
    retry_after=SECONDS   Retry-After with status=429 (default 1)
                          e.g. --sim-fault "status=429 retry_after=2"
    close_before_headers  close the connection (FIN) without any response
                          e.g. [[sim: close_before_headers]]
    reset                 reset the connection (RST) without any response
                          e.g. [[sim: reset]]
    drop_after=N          send the headers and N tokens, then close without the end of
                          the stream (no [DONE], no final chunk); N=0: headers only
                          e.g. [[sim: drop_after=3]]
    hang                  accept the request and never answer, until the client leaves
                          e.g. [[sim: hang]]
    hang_after=N          send N tokens, then nothing more, keeping the connection open
                          e.g. [[sim: hang_after=2]]
    crash                 the whole process dies at once (SIGKILL to itself: no shutdown
                          lines, exit by signal 9), as an OOM kill would
                          e.g. [[sim: crash]]
    crash_after=N         ... after sending N tokens
                          e.g. [[sim: crash_after=5]]
    repeat=PHRASE         answer PHRASE over and over until max_tokens (or num_predict),
                          the context is full, or the client goes away
                          e.g. [[sim: repeat="all work and no play"]]
    tokens=N              answer exactly N tokens (before max_tokens)
                          e.g. [[sim: tokens=5]]
    tps=N                 stream this request at N tokens per second
                          e.g. [[sim: tps=20]]
    think                 reason before answering (reasoning_content / thinking)
                          e.g. [[sim: think]]
    tool[=NAME]           call tool NAME (default: the first one in "tools")
                          e.g. [[sim: tool=get_weather]]
  A fault "after N tokens" does not fire when the answer is shorter than N tokens.

REQUESTS
  Reasoning is produced when the request asks for it: llama mode: "reasoning_format" set
  (not "none"), chat_template_kwargs.enable_thinking true, or "reasoning_effort"; Ollama:
  "think" true/"low"/"medium"/"high". A tool call is produced when "tools" is given and
  tool_choice is "required" or names a function, or when the tool fault asks (Ollama's
  native API has no tool_choice: use [[sim: tool]]).

SIM-ONLY ENDPOINTS (both modes)
  GET  /sim/requests   the last requests: method, path, headers (Authorization masked),
                       body, arrival time
  GET  /sim/stats      requests total, in flight, completed, client disconnects, deferred,
                       faults, per model; ?until=NAME&at_least=N[&timeout_ms=T] holds the
                       answer until that counter reaches N (default wait 5000 ms)
  POST /sim/reset      clears both

LOG
  stderr carries llama-server's log lines (Ollama's in --ollama mode) and lines starting
  "llm-sim:". "llm-sim: bound http://HOST:PORT" comes right after the socket is bound
  (before the model "loads"); llama-server's "listening on http://HOST:PORT" comes once
  the model is loaded. SIGTERM or SIGINT stops the server gracefully (exit status 0).
)";
}

} // namespace ask::sim
