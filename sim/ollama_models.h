#pragma once
// Ollama mode's models: the installed ones (--sim-models) and which are loaded. A model
// loads on first use (taking --sim-load-time), stays loaded while requests use it, and
// after the last one for its keep_alive (Ollama's default 5m; 0 unloads at once; negative
// or "forever" never unloads). Expiry is computed from a core::Clock, so tests move a
// FakeClock instead of sleeping. Thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/duration.h"

namespace ask::sim {

inline constexpr std::string_view k_ollama_version = "0.32.7";
inline constexpr std::chrono::minutes k_default_keep_alive{5};

struct OllamaModelSpec {
  std::string name;           // "llama3.2:1b"; a name without a tag gets ":latest"
  std::string family;         // "llama"
  std::string parameter_size; // "1B"
  std::string quantization = "Q4_K_M";
  std::uint64_t size = 0;          // bytes, on disk and in memory when loaded
  std::string digest;              // 64 hex characters
  long long context_length = 4096; // the context a loaded model gets (num_ctx default)
  long long train_context = 131072; // model_info.<arch>.context_length
  long long embedding_length = 2048; // model_info.<arch>.embedding_length: vector size
  // Ollama's capabilities: "completion", "tools", "thinking", "insert" (FIM), "embedding".
  std::vector<std::string> capabilities{"completion", "tools", "thinking"};

  bool has(std::string_view capability) const;
};

// Specs derived from names: the family from the leading letters, the size from a tag
// such as "1b" or "8b". An empty list gives the defaults llama3.2:1b, llama3.2:3b, qwen3:8b.
// A name containing "embed" is embedding-only (capabilities ["embedding"], 768 dims); one
// containing "code" can also insert (FIM). "NAME@CAPS" sets the capabilities (joined by
// "+", e.g. "mymodel@completion+insert"), and a further "@ctx=N" the trained context.
std::vector<OllamaModelSpec> ollama_catalog(const std::vector<std::string>& names);

// "llama3.2" -> "llama3.2:latest"; names with a tag are unchanged.
std::string normalize_model_name(std::string_view name);

struct RunningModel {
  OllamaModelSpec spec;
  bool forever = false;             // keep_alive negative: never expires
  bool in_use = false;              // a request is using it (expires_at is then its
                                    // keep_alive from now, as Ollama shows it)
  core::Clock::WallTime expires_at; // meaningless when forever
};

class OllamaModels {
public:
  OllamaModels(const core::Clock& clock, std::vector<OllamaModelSpec> catalog,
               std::chrono::milliseconds load_time);

  const OllamaModelSpec* find(std::string_view name) const;
  const std::vector<OllamaModelSpec>& catalog() const { return m_catalog; }

  // A request starts using `name` (which must be in the catalog). Returns how long the
  // caller should take to load it: the load time when it was not loaded, else zero.
  std::chrono::milliseconds begin_use(const std::string& name);
  // The request ended: the model stays loaded for `keep_alive` from now.
  void end_use(const std::string& name, core::Duration keep_alive);
  // Unloads at once when no request uses it, else right after the last one ends.
  void unload(const std::string& name);
  // Loaded models, most recently used first; expired ones are unloaded first.
  std::vector<RunningModel> running();
  bool is_loaded(const std::string& name);

private:
  struct State {
    int users = 0;
    bool forever = false;
    core::Duration keep_alive = core::Duration::from(k_default_keep_alive);
    core::Clock::SteadyTime expires_steady;
    core::Clock::WallTime expires_wall;
    core::Clock::SteadyTime last_used;
  };
  void expire_locked();

  const core::Clock& m_clock;
  std::vector<OllamaModelSpec> m_catalog;
  std::chrono::milliseconds m_load_time;
  std::mutex m_mutex;
  std::map<std::string, State> m_loaded;
};

} // namespace ask::sim
