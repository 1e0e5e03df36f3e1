#pragma once
// What llama-server prints from start to "listening" and at exit, and the model "load"
// behind it: read the GGUF file (or the fake model), plan the context and memory, and
// report failures with llama-server's own lines (missing file, bad KV type, port in use).

#include <optional>
#include <string>

#include "sim/log.h"
#include "sim/memory_log.h"
#include "sim/model_info.h"
#include "sim/options.h"

namespace ask::sim {

struct LoadedModel {
  ModelInfo model;
  ContextPlan ctx;
  MemoryPlan memory;
};

class LlamaStartup {
public:
  LlamaStartup(const Options& options, Log& log) : m_options(options), m_log(log) {}

  // Build info, verbosity, devices, the CORS warning, "binding port".
  void log_header();
  void log_bind_failure(int port);
  // Reads the model and prints the loading lines; nullopt (after printing llama-server's
  // error lines) when the model cannot be loaded.
  std::optional<LoadedModel> load_model();
  // "model loaded", "listening on http://HOST:PORT", "all slots are idle".
  void log_ready(int port);
  // "cleaning up before exit..." and the memory breakdown.
  void log_shutdown(const MemoryPlan& memory);

private:
  std::string model_path() const;
  void log_load_failure(const std::string& path, const core::Error& error);
  void log_context_failure(const std::string& path, const core::Error& error);
  void log_context_ready(const ContextPlan& ctx);

  const Options& m_options;
  Log& m_log;
};

} // namespace ask::sim
