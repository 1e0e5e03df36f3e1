#pragma once
// What `askd plan` prints: the model, the estimate's breakdown, the inventory, and the
// placement with its llama-server command line or the shortfall per GPU — as text for
// people or as JSON for scripts.

#include <expected>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "router/estimate.h"
#include "router/inventory.h"
#include "router/layout.h"
#include "router/placement.h"

namespace ask::proxy {

struct PlanReport {
  const core::gguf::SplitModel& model;
  std::filesystem::path path;
  const router::Estimate& estimate;
  const router::EstimateInput& input;
  const router::Inventory& inventory;
  const router::PlacementRequest& request;
  const std::expected<router::Plan, router::NoFit>& placement;
  std::vector<std::string> command; // llama-server arguments, when it fits
  // --measured: the startup log's buffer sizes and the correction they imply.
  std::optional<router::Calibration> measured;
  router::Correction correction;
  std::vector<std::string> notes; // what the plan assumed or left out (pins ignored, …)
  std::filesystem::path draft;    // the draft model counted; "" = none
  // The memory settings asked for: an unset one is llama-server's default, and the report
  // says so beside the value `input` holds.
  config::ManagedSpec spec;
  // What llama.cpp allocates per device for the plan's split (router/layout.h), the host
  // last; none when it does not fit (or the layout could not be estimated).
  std::optional<std::vector<router::DeviceMemory>> layout;
};

void print_plan(const PlanReport& r, std::ostream& out);
nlohmann::json plan_json(const PlanReport& r);

} // namespace ask::proxy
