#pragma once
// llm-sim's command line: llama-server's own flags (every one its --help lists is accepted;
// the few that shape the simulation are read, the rest ignored), unknown flags accepted
// with a log line, and llm-sim's own options, all spelled --sim-* (plus --ollama).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "sim/fault.h"

namespace ask::sim {

enum class Mode { llama_server, ollama };

struct Options {
  Mode mode = Mode::llama_server;

  // llama-server flags the simulation uses.
  std::string model_path;            // -m
  std::vector<std::string> aliases;  // -a a,b
  std::string host = "127.0.0.1";    // --host
  std::optional<int> port;           // --port; default 8080, or 11434 with --ollama
  long long ctx_size = 0;            // -c; 0 = the model's training context
  int n_parallel = -1;               // -np; -1 = auto (4 slots, unified KV)
  std::string gpu_layers = "auto";   // -ngl: a number, "auto" or "all"
  std::vector<double> tensor_split;  // -ts 3,1
  std::vector<std::string> devices;  // -dev CUDA0,CUDA1 ("none" = no offload)
  std::string model_draft;           // -md: logged as loaded
  std::string cache_type_k = "f16";  // -ctk
  std::string cache_type_v = "f16";  // -ctv
  std::string flash_attn = "auto";   // -fa on|off|auto
  int threads = -1;                  // -t
  long long n_batch = 2048;          // -b
  long long n_ubatch = 512;          // -ub
  std::optional<bool> kv_unified;    // -kvu / -no-kvu
  bool swa_full = false;             // --swa-full
  long long n_predict = -1;          // -n: default max tokens per request
  bool metrics = false;              // --metrics
  bool slots_endpoint = true;        // --slots / --no-slots
  int verbosity = 3;                 // -lv N; -v = everything
  std::vector<std::string> api_keys; // --api-key: requests must carry one
  bool embeddings = false;           // --embedding(s): /embeddings and /v1/embeddings
  bool reranking = false;            // --rerank(ing): /rerank (implies embeddings, pooling rank)
  std::string pooling;               // --pooling none|mean|cls|last|rank; "" = the model's (none)

  // llm-sim's own options.
  std::chrono::milliseconds load_time{0}; // --sim-load-time: health says 503 this long
  double tokens_per_second = 200;         // --sim-tokens-per-second; 0 = no pacing
  std::chrono::milliseconds ttft{0};      // --sim-ttft: delay before the first token
  std::string fault_text;                 // --sim-fault SPEC, as given
  FaultSpec fault;                        // ... parsed
  unsigned long long seed = 0;            // --sim-seed: ids and timestamps jitter
  std::optional<long long> vram_mib;      // --sim-vram: memory per device (MiB)
  double compute_scale = 1.0;             // --sim-compute-scale: compute buffers reported × F
  std::vector<std::string> models;        // --sim-models (Ollama mode)
  bool fake_model = false;                // --sim-fake-model: no GGUF file needed
  std::size_t max_connections = 1024;     // --sim-max-connections
  std::size_t request_log_size = 256;     // --sim-request-log
  std::optional<long long> parent_pid;    // --sim-parent-pid: exit when this process is gone
  bool no_fim = false;                    // --sim-no-fim: the model has no FIM tokens (/infill 501)

  // What the command line asked for besides running.
  bool help = false;
  bool version = false;
  std::vector<std::string> ignored_flags; // unknown flags, for the log

  int effective_port() const { return port ? *port : (mode == Mode::ollama ? 11434 : 8080); }
};

// Parses argv (without argv[0]). Errors (bad_request) say which flag and why: a missing
// or malformed value, an invalid --sim-fault.
core::Result<Options> parse_options(const std::vector<std::string>& args);

// The --help text: llm-sim's options, every fault with an example, the /sim/ endpoints.
std::string help_text();

} // namespace ask::sim
