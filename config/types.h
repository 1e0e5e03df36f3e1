#pragma once
// The resolved configuration of ask and askd: what a config file says once it has been
// parsed, validated and completed with defaults. Names are resolved (aliases followed to the
// model or council they mean), paths expanded, durations and sizes parsed. A Config is a
// plain value; readers share one through a shared_ptr<const Config> when it can be reloaded.
// docs/config.md describes every key.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "core/url.h"

namespace ask::config {

using namespace std::chrono_literals;

enum class BackendKind {
  ollama,       // Ollama's native API (/api/chat): keep_alive and think are honoured
  openai,       // any OpenAI-compatible server: passthrough with the model name rewritten
  llama_server, // llama.cpp's llama-server, spawned and supervised by askd ("managed")
  askd,         // another askd (a peer): its models discovered, its answers labelled `@name`
};
// "ollama", "openai", "llama-server", "askd".
std::string_view to_string(BackendKind kind);

// The GPU programming interface a llama.cpp build uses. "hip" in a file reads as rocm.
enum class GpuApi { cuda, rocm, vulkan, sycl, metal, cpu };
std::string_view to_string(GpuApi api);

enum class GpuVendor { nvidia, amd, intel, apple, other };
std::string_view to_string(GpuVendor vendor);

enum class FlashAttn { on, off, automatic };
// "on", "off", "auto".
std::string_view to_string(FlashAttn mode);

// A backend's base URL, split for an HTTP client (the rules are in core/url.h).
using Url = core::HttpUrl;

struct Timeouts {
  core::Duration connect;    // to open the TCP (and TLS) connection
  core::Duration first_byte; // from sending the request to the first response byte (cold loads)
  core::Duration idle;       // between two chunks of a streamed response
  core::Duration total;      // for the whole request; forever = no limit
};
// Used where neither the model nor its backend says otherwise.
inline constexpr Timeouts k_default_timeouts{
    core::Duration::seconds(5), core::Duration::seconds(300), core::Duration::seconds(120),
    core::Duration::forever()};

// Concurrency limits: at most `max_concurrency` requests at once (0 = unlimited), then at
// most `max_queue` waiting; beyond that the proxy answers 429.
inline constexpr int k_default_max_queue = 32;

struct Backend {
  std::string name;
  BackendKind kind = BackendKind::ollama;
  std::optional<Url> url; // required for ollama and openai; never for llama-server
  std::vector<std::pair<std::string, std::string>> headers; // sent with every request
  std::string api_key_env; // env var holding the bearer token, read when used; "" = none
  Timeouts timeouts = k_default_timeouts; // defaults for this backend's models
  int max_concurrency = 0;                // across all of this backend's models; 0 = unlimited
  int max_queue = k_default_max_queue;
  std::string preset; // llama-server only: the default preset of its models
  // askd (a peer) only. Its models are offered here as `prefix` + their name there ("" = their
  // own names); `peer_fallback` lets the peer walk its own fallback chains (else it is asked
  // to try the model named and nothing else); `refresh`: how often its list is read again.
  std::string prefix;
  bool peer_fallback = false;
  core::Duration refresh = core::Duration::seconds(30);

  bool managed() const { return kind == BackendKind::llama_server; }
  bool peer() const { return kind == BackendKind::askd; }
};

// K and V cache types; each one of f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1.
struct KvCacheType {
  std::string k = "f16";
  std::string v = "f16";
  friend bool operator==(const KvCacheType&, const KvCacheType&) = default;
};

// `-ot PATTERN=BUFFER_TYPE`: tensors whose name matches PATTERN (an ECMAScript regular
// expression, searched as llama.cpp does) are kept in that buffer type. A config accepts only
// "CPU" (host memory): which GPU holds which tensor is askd's placement's decision.
struct TensorOverride {
  std::string pattern;
  std::string buffer_type = "CPU";
  friend bool operator==(const TensorOverride&, const TensorOverride&) = default;
};

// llama-server's own defaults (b10587, common/arg.cpp and tools/server/server.cpp), which a
// managed model gets where its config sets nothing.
inline constexpr int k_llama_auto_slots = 4;       // -np not given ("auto"): 4 slots, unified KV
inline constexpr int k_llama_default_batch = 2048; // -b
inline constexpr int k_llama_default_ubatch = 512; // -ub

// How askd runs a model on a llama-server backend. The memory settings that are optional
// take llama-server's own default when unset; extra_args that set one of them were folded in
// here when the config was read (config/llama_args.h).
struct ManagedSpec {
  std::filesystem::path gguf; // the model file, ~ expanded, relative to the config's folder
  std::string preset;         // the binary preset (model's, else backend's, else the only one)
  std::optional<int> ctx;     // -c; 0 = the model's trained context; none = the same (default)
  // --parallel: slots, i.e. concurrent requests per instance; none = llama-server's "auto"
  // (k_llama_auto_slots slots sharing one KV cache), which askd passes as explicit -np 4 -kvu.
  std::optional<int> parallel;
  KvCacheType kv_cache_type;
  FlashAttn flash_attn = FlashAttn::automatic;
  std::optional<int> batch;       // -b: logical batch; none = k_llama_default_batch
  std::optional<int> ubatch;      // -ub: physical batch; none = k_llama_default_ubatch
  std::optional<bool> kv_unified; // -kvu / -no-kvu; none = on when parallel is auto, else off
  std::optional<bool> swa_full;   // --swa-full: full-size sliding-window cache; none = off
  std::optional<bool> kv_offload; // false: -nkvo, the KV cache stays in host memory; none = on
  std::optional<bool> mmap;       // false: --no-mmap (or a load mode without it); none = on
  std::vector<TensorOverride> override_tensors; // -ot, in order; buffer type always "CPU"
  std::optional<std::filesystem::path> mmproj;  // --mmproj: projector, with the output layer
  std::optional<std::filesystem::path> draft;   // speculative-decoding draft model file
  bool draft_auto = false;                      // "draft": "auto": pick one beside the model file
  bool mtp = false; // draft with the model's own MTP (NextN) layers: --spec-type draft-mtp
  std::vector<std::string> gpus; // ids from gpus.devices to place it on; empty = any
  int max_replicas = 1;
  bool pinned = false;                // never evicted
  bool preload = false;               // loaded when askd starts
  bool allow_partial_offload = false; // may keep layers in host memory when GPUs are short
  std::optional<int> n_gpu_layers;    // -ngl; -1 = all
  std::optional<int> n_cpu_moe;       // --n-cpu-moe
  // What else goes on llama-server's command line, as written (less what was folded into
  // the settings above).
  std::vector<std::string> extra_args;
  core::Duration load_timeout = core::Duration::seconds(600); // spawn to /health ready
  // How long a request may wait for busy instances to free room before "cannot place";
  // none = the scheduler's default (2 min), 0 = at once (straight to the fallback chain).
  std::optional<core::Duration> drain_wait;

  // Slots per instance: `parallel`, else llama-server's automatic k_llama_auto_slots.
  int slots() const { return parallel.value_or(k_llama_auto_slots); }
  // One KV cache shared by every slot: `kv_unified`, else llama-server's default, on exactly
  // when the slots are automatic.
  bool unified_kv() const { return kv_unified.value_or(!parallel.has_value()); }
};

// keep_alive when a model does not set one: Ollama's own default, and the managed default.
inline constexpr core::Duration k_default_keep_alive = core::Duration::seconds(300);

// A logical model: the name clients ask for, and where and how it runs.
struct Model {
  std::string name;
  std::string backend;  // a Backend's name
  std::string upstream; // the backend's name for it; defaults to `name`
  std::string family;   // "qwen", "llama", ...; "" = unknown
  std::string description;
  std::optional<core::Duration> keep_alive; // none = k_default_keep_alive / Ollama's default
  std::vector<std::string> fallbacks;       // model names (aliases resolved), in order
  nlohmann::json params = nlohmann::json::object(); // defaults for requests that omit them
  std::optional<std::int64_t> context_length;
  Timeouts timeouts = k_default_timeouts; // the model's, else its backend's, else defaults
  int max_concurrency = 0;                // 0 = unlimited
  int max_queue = k_default_max_queue;
  // completion, vision, tools, thinking, embedding, insert, rerank; empty = not said
  std::vector<std::string> capabilities;
  std::optional<ManagedSpec> managed; // set exactly when the backend is llama-server

  bool has_capability(std::string_view capability) const;
};

struct CouncilMember {
  std::string model; // a plain model (aliases resolved; never a council)
  std::optional<double> temperature;
  std::string label; // for logs and headers; defaults to the model name
};

// Prompt templates; placeholders are written {{name}} (see council_prompts.h).
struct CouncilPrompts {
  std::string member;   // what each member is sent: {{question}}
  std::string ranking;  // peer review: {{question}}, {{responses}}
  std::string chairman; // {{question}}, {{responses}}, {{rankings}}
};

struct Council {
  std::string name;
  std::string description;
  std::vector<CouncilMember> members; // at least one
  std::string chairman;               // a plain model
  std::optional<double> chairman_temperature;
  CouncilPrompts prompts;
  bool peer_review = false;
  bool shuffle = true;
};

// A tier flag of `ask` ("9b" is `ask --9b`) and the model or council it selects.
struct Tier {
  std::string flag;
  std::string target; // a model or council name (aliases resolved)
};

struct Alias {
  std::string name;
  std::string target;  // the model or council it finally means
  std::string written; // what the file says it points to (maybe another alias)
};

// A llama-server build: what askd executes for managed models.
struct Preset {
  std::string name;
  std::filesystem::path binary; // a path, or a bare name looked up on PATH at spawn time
  GpuApi api = GpuApi::cpu;     // the key "backend"
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
};

// A per-GPU cap on what askd may use: bytes, or a fraction of the card's memory.
struct GpuCap {
  std::optional<std::uint64_t> bytes;
  std::optional<double> fraction; // 0 < fraction <= 1, written "90%"
};

struct GpuSpec {
  std::string id;
  std::string name; // defaults to id
  GpuVendor vendor = GpuVendor::other;
  std::optional<std::uint64_t> vram; // required when gpus.probe is false
  GpuCap cap;
  std::uint64_t reserve = 0;                         // kept free; defaults to gpus.reserve
  std::string pci;                                   // "0000:01:00.0", lower-case; "" = unknown
  bool display = false;                              // drives a display (its usage fluctuates)
  std::vector<std::pair<GpuApi, int>> backend_index; // device index per API, e.g. vulkan -> 1
  // Its memory is the host's (Apple silicon, AMD APUs): a load on it is charged to the host
  // too. None = as probed (vulkaninfo's integrated GPUs, nvidia-smi's [N/A] memory).
  std::optional<bool> unified;
};

// Host memory, budgeted like a GPU: what models in host memory (the CPU preset, layers and
// buffers of partial loads, every load's host buffers, loads on unified GPUs) may take.
inline constexpr double k_host_default_cap = 0.90;
inline constexpr std::uint64_t k_host_default_reserve = 2ull << 30;
struct HostSpec {
  // Declared size; none = /proc/meminfo's MemTotal, with MemAvailable read as the free
  // memory (at start and every few seconds). Declared, nothing is read: our accounting alone.
  std::optional<std::uint64_t> memory;
  GpuCap cap;                                     // none = k_host_default_cap of the total
  std::uint64_t reserve = k_host_default_reserve; // kept free of the free reading
};

// One device of a llama.cpp rpc-server (ggml-rpc-server) that managed models may use.
struct RpcSpec {
  std::string id;       // unique among GPUs and rpc devices; what models' `gpus` refer to
  std::string name;     // defaults to the endpoint
  std::string endpoint; // "host:port" ("[v6]:port"), as llama-server's --rpc takes it
  int device = 0;       // the device's number on that server (a server may expose several)
  // What askd may place there, all of it. None: what the server reports when askd starts
  // (`llama-server --rpc ENDPOINT --list-devices`), under the default cap and gpus.reserve; a
  // CPU device reports the whole host's memory of its machine.
  std::optional<std::uint64_t> memory;
};

// Why `endpoint` is not "host:port" as llama-server's --rpc takes it (a host name or IPv4
// address, or an IPv6 address in brackets, then a port 1 to 65535); "" when it is.
std::string rpc_endpoint_error(std::string_view endpoint);

struct GpuConfig {
  bool probe = true;
  std::uint64_t reserve = 512ull << 20;
  std::vector<GpuSpec> devices;
  HostSpec host;
  std::vector<RpcSpec> rpc;
};

// Models of which at most one (exclusive) is loaded at a time.
struct Group {
  std::string name;
  bool exclusive = true;
  std::vector<std::string> members; // model names
};

struct CacheConfig {
  bool enabled = true;
  std::filesystem::path path; // default $XDG_CACHE_HOME/ask/cache.sqlite
  core::Duration ttl = core::Duration::seconds(30LL * 24 * 3600);
};

// ask's conversations and their search index (docs/history.md). Unlike telemetry, the file
// holds prompts and answers.
struct HistoryConfig {
  bool enabled = true;
  std::filesystem::path path; // default $XDG_DATA_HOME/ask/history.sqlite
};

struct TelemetryConfig {
  bool enabled = true;
  std::filesystem::path ask_log;  // default $XDG_DATA_HOME/ask/log.jsonl
  std::filesystem::path askd_log; // default $XDG_STATE_HOME/ask/askd.jsonl
};

// One accepted API key. `value` is a secret: never log or print it (to_json masks it).
struct ApiKey {
  std::string value;
  std::string env_var;        // set when the file wrote "env:NAME"
  std::filesystem::path file; // set when the file wrote "file:PATH"
};

struct ListenConfig {
  std::string host = "127.0.0.1"; // without brackets for IPv6
  int port = 11436;
  std::vector<ApiKey> api_keys; // the top-level "api_keys"
  std::uint64_t max_request_body = 32ull << 20;

  // "127.0.0.1:11436", "[::1]:11436".
  std::string to_string() const;
  // 127.0.0.0/8, ::1 and "localhost".
  bool is_loopback() const;
};

// The "server" section: how long each part of a request may take and what one client
// address may hold (net::Deadlines and net::PeerLimits; docs/config.md#server).
struct ServerConfig {
  core::Duration head_timeout = core::Duration::seconds(20);
  core::Duration body_timeout = core::Duration::seconds(20);
  std::uint64_t body_min_rate = 16 * 1024; // bytes per second, after body_timeout
  core::Duration idle_timeout = core::Duration::seconds(60);
  std::int64_t max_connections = 4096;
  std::int64_t max_connections_per_client = 1024;
  std::uint64_t max_body_buffer_per_client = 64ull << 20;
  std::uint64_t max_body_buffer = 256ull << 20;
};

struct Config {
  ListenConfig listen;
  ServerConfig server;
  std::vector<Backend> backends; // in file order, as are the lists below
  std::vector<Model> models;
  std::vector<Tier> tiers;
  std::string default_tier; // a tier flag, or "" when there is none
  std::vector<Alias> aliases;
  std::vector<Council> councils;
  std::vector<Preset> presets;
  GpuConfig gpus;
  std::vector<Group> groups;
  CacheConfig cache;
  HistoryConfig history;
  TelemetryConfig telemetry;

  // Lookups by exact name; nullptr when absent. The pointers live as long as the Config.
  const Backend* find_backend(std::string_view name) const;
  const Model* find_model(std::string_view name) const;
  const Council* find_council(std::string_view name) const;
  const Alias* find_alias(std::string_view name) const;
  const Tier* find_tier(std::string_view flag) const;
  const Preset* find_preset(std::string_view name) const;
  const GpuSpec* find_gpu(std::string_view id) const;
  const RpcSpec* find_rpc(std::string_view id) const;
  const Group* find_group(std::string_view name) const;
};

} // namespace ask::config
