#pragma once
// The memory truth grid (tests/fixtures/llama-server/grid/, README there): real llama-server
// b10587 startup logs of the model zoo's files over a grid of settings, each with
// llama-fit-params' own projection, read back and compared with what the estimator says for
// the same file, settings and split. router/estimate_grid_test.cpp holds the estimator to it;
// bench/router_bench prints the tables of docs/benchmarks.md from it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/gguf.h"
#include "router/calibration.h"
#include "router/estimate.h"
#include "router/layout.h"

namespace ask::testing::grid {

// llama-fit-params --fit-print on: "DEVICE model context compute" in whole MiB.
struct FitRow {
  std::string device; // "Host", "RPC0", …
  double model = 0, context = 0, compute = 0;
};

struct Run {
  std::string name;    // the fixture's stem
  std::string model;   // zoo id
  std::string variant; // "" = the zoo's default mix
  router::EstimateInput in;
  int n_gpu_layers = 999;
  std::vector<double> tensor_split;
  std::vector<double> rpc_mib;            // one weight per rpc-server device (the default split's)
  std::vector<std::string> rpc_endpoints; // "127.0.0.1:40695", in --rpc order
  bool refused = false;                   // llama-server refused the settings ("# status: failed")
  std::string refusal;                    // its error line
  router::Calibration measured;
  std::vector<FitRow> fit;
  std::size_t graph_nodes = 0; // "graph nodes = N" (0 when not logged)
};

// llama-server's arguments (after the program name) applied to a run: the memory settings
// read as askd reads a model's extra_args (config::parse_llama_args over llama-server's
// defaults, router::estimate_input), so the grid also holds that reading to the real build;
// -ngl and -ts set the split. Arguments the estimate does not read are skipped; run.in's
// build and api are kept.
void apply_llama_args(std::span<const std::string> args, Run& run);

// One fixture file. nullopt when it has no command line.
std::optional<Run> read_run(const std::filesystem::path& path);

// The .log files of a folder, sorted.
std::vector<std::filesystem::path> logs(const std::filesystem::path& dir);

// The folder of the grid in this source tree ("grid", "grid/held-out").
std::filesystem::path fixtures(const std::string& sub);

// The zoo model of a run, built once per process.
core::Result<const core::gguf::SplitModel*> model_of(const Run& run);

// The split llama.cpp made in the run: rpc devices RPC0…, -ngl, --tensor-split (else even).
router::Layout layout_of(const Run& run, std::size_t n_layer);

struct Device {
  std::string device; // "host", "RPC0", …
  bool found = true;  // the log has this device's buffers (named by its endpoint)
  std::uint64_t est_weights = 0, real_weights = 0; // host: the mapped span vs CPU_Mapped
  std::uint64_t est_kv = 0, real_kv = 0;           // KV + recurrent state
  std::uint64_t est_compute = 0, real_compute = 0;
  std::optional<double> fit_compute_mib; // llama-fit-params' compute for this device
  std::optional<double> fit_total_mib;
  std::uint64_t est_total() const { return est_weights + est_kv + est_compute; }
  std::uint64_t real_total() const { return real_weights + real_kv + real_compute; }
};

struct Comparison {
  bool refused = false; // llama-server refused the settings
  bool estimate_refused = false;
  std::string estimate_error;
  std::vector<Device> devices;
  std::size_t graph_nodes = 0; // the graph model's full-ubatch graph
};

// estimate_layout() of the run's file, settings and split next to what the log says.
Comparison compare(const Run& run);

// (estimate - real) / real in percent; 0 when real is 0.
double error_pct(std::uint64_t est, std::uint64_t real);

} // namespace ask::testing::grid
