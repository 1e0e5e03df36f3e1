#pragma once
// llama-server's command line read the way llama.cpp's common/arg.cpp reads it (build b10587):
// every alias, "--long_name" as "--long-name", each flag's values taken whatever they look
// like, the last of a repeated setting winning. It sorts the arguments of a model's extra_args
// or a preset's args into the memory settings askd counts (folded into the model's settings,
// config/types.h ManagedSpec), the ones only askd may set (the model file, the draft, the
// placement, what it cannot count), refused, and the rest, which pass through unread.
// A pure parser: no files, no regex beyond compiling -ot patterns.

#include <cstddef>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"

namespace ask::config {

// A memory setting a llama-server argument can carry, named as the config key that sets it.
enum class LlamaSetting {
  ctx,              // -c
  parallel,         // -np
  cache_type_k,     // -ctk (config key kv_cache_type)
  cache_type_v,     // -ctv (config key kv_cache_type)
  flash_attn,       // -fa
  batch,            // -b
  ubatch,           // -ub
  kv_unified,       // -kvu, -no-kvu
  swa_full,         // --swa-full
  kv_offload,       // -kvo, -nkvo
  mmap,             // --mmap, --no-mmap, -lm, --mlock, -dio, -ndio
  n_cpu_moe,        // -ncmoe
  override_tensors, // -ot, -cmoe
  mmproj,           // -mm
};

// The config key of `setting`: "ctx", "kv_cache_type", "override_tensors", ...
std::string_view config_key(LlamaSetting setting);

// What a command line sets; none = not given (llama-server's default).
struct LlamaSettings {
  std::optional<int> ctx;
  std::optional<int> parallel; // k_parallel_auto: -np -1 (or any negative), llama-server's auto
  std::optional<std::string> cache_type_k;
  std::optional<std::string> cache_type_v;
  std::optional<FlashAttn> flash_attn;
  std::optional<int> batch;
  std::optional<int> ubatch;
  std::optional<bool> kv_unified;
  std::optional<bool> swa_full;
  std::optional<bool> kv_offload;
  std::optional<bool> mmap;
  std::optional<int> n_cpu_moe;
  std::vector<TensorOverride> override_tensors; // in order; -cmoe adds the experts' pattern
  std::optional<std::string> mmproj;            // as written
};

inline constexpr int k_parallel_auto = -1;

// One memory setting found on the command line.
struct LlamaArg {
  LlamaSetting setting;
  std::size_t index; // of its flag in the argument vector
  // Whether the argument stays on the command line: it does more than the setting
  // (--mlock also locks the weights in memory, -dio reads them with direct I/O).
  bool kept = false;
};

// An argument askd refuses, and why (the message names the flag; the caller adds the path).
struct ArgProblem {
  std::size_t index;
  std::string message;
};

struct ParsedLlamaArgs {
  LlamaSettings settings;
  std::vector<LlamaArg> given;      // every setting found, in command-line order
  std::vector<std::string> rest;    // what passes through to llama-server, in order
  std::vector<ArgProblem> problems; // refused arguments; empty = every argument was read
};

// Reads a llama-server argument vector (without the program name).
ParsedLlamaArgs parse_llama_args(std::span<const std::string> args);

// Writes every setting `from` gives into `into` (-np -1 as parallel unset, llama-server's
// automatic slots; mmproj as written; the overrides after `into`'s own), leaving the others.
void fold_llama_settings(const LlamaSettings& from, ManagedSpec& into);

// "PATTERN=CPU", as -ot takes each item of its comma-separated list; an error message when
// there is no '=', the pattern is empty, holds a ',' (llama-server splits -ot at commas) or is
// not an ECMAScript regular expression, or the buffer type is not "CPU" (a device: askd's
// placement decides what goes on which GPU).
std::expected<TensorOverride, std::string> parse_tensor_override(std::string_view text);

// A comma-separated list of PATTERN=CPU items, as -ot takes it; the error names the first bad
// item ("\"exps\": expected PATTERN=CPU, …").
std::expected<std::vector<TensorOverride>, std::string>
parse_tensor_override_list(std::string_view list);

// The -ot pattern of llama-server's -cmoe / --cpu-moe: every expert tensor of every layer.
inline constexpr std::string_view k_cpu_moe_pattern = R"(\.ffn_(up|down|gate|gate_up)_(ch)?exps)";

// How many values llama-server b10587 reads after the flag NAME ("-c": 1, "--jinja": 0,
// "--control-vector-layer-range": 2); 0 also for a name it does not have.
int llama_flag_values(std::string_view name);

// The llama-server argument an environment variable stands for when it is a memory or
// placement setting askd decides ("LLAMA_ARG_UBATCH" → "-ub"); nullopt for any other name.
// llama-server reads LLAMA_ARG_* variables for the flags its command line does not give.
std::optional<std::string_view> llama_env_flag(std::string_view name);

} // namespace ask::config
