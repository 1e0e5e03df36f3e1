#pragma once
// The bodies of llama-server's introspection endpoints, shaped like the recordings:
// GET /props, GET /v1/models (and /models), GET /metrics. /slots comes from SlotPool.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/memory_log.h"
#include "sim/model_info.h"

namespace ask::sim::llama {

struct ServedModel {
  const ModelInfo& model;
  const ContextPlan& ctx;
  std::vector<std::string> aliases; // -a; empty: the model is known by its path
  long long created = 0;            // unix seconds of start-up

  // The id clients see: the first alias, else the path.
  std::string id() const { return aliases.empty() ? model.path : aliases.front(); }
};

// The sampling defaults a slot reports ("params" in /props and /slots); `overrides` (the
// request's temperature, max_tokens, stream, ...) replace matching keys.
nlohmann::ordered_json
slot_params(const nlohmann::ordered_json& overrides = nlohmann::ordered_json::object());

nlohmann::ordered_json props_json(const ServedModel& served, bool metrics_enabled);
nlohmann::ordered_json models_json(const ServedModel& served);

struct MetricsSnapshot {
  long long prompt_tokens = 0;
  double prompt_seconds = 0;
  long long predicted_tokens = 0;
  double predicted_seconds = 0;
  long long decode_calls = 0;
  long long max_tokens_seen = 0;
  long long processing = 0;
  long long deferred = 0;
};

// Prometheus text in llama-server's order and wording ("llamacpp:prompt_tokens_total", ...).
std::string metrics_text(const MetricsSnapshot& m);

} // namespace ask::sim::llama
