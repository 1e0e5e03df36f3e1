// The estimator held to every run of the truth grid: real llama-server b10587 startup logs
// (tests/fixtures/llama-server/grid/, README there) of the model zoo's files over settings,
// compared per device and component with estimate_layout() of the same file and settings.
// Targets (issue 19): weights and KV within 0.5 %; compute within 5 % and never more than 2 %
// low; each device's total within 5 %.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "router/calibration.h"
#include "router/layout.h"
#include "tests/support/model_zoo.h"

namespace ask::router {
namespace {

namespace fs = std::filesystem;
using u64 = std::uint64_t;

struct GridRun {
  std::string name;
  std::string model;   // zoo id
  std::string variant; // "" = the zoo's default
  EstimateInput in;
  int n_gpu_layers = 999;
  std::vector<double> tensor_split;
  std::vector<double> rpc_mib; // rpc-server -m per device
  bool refused = false;        // llama-server refused the settings ("# status: failed")
  Calibration measured;
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream s(line);
  std::vector<std::string> out;
  for (std::string w; s >> w;) {
    out.push_back(w);
  }
  return out;
}

std::vector<double> numbers(const std::string& csv) {
  std::vector<double> out;
  std::istringstream s(csv);
  for (std::string v; std::getline(s, v, ',');) {
    out.push_back(std::stod(v));
  }
  return out;
}

// "gpt-oss-20b-bf16" -> id "gpt-oss-20b", variant "bf16".
void zoo_name(const std::string& file, GridRun& run) {
  const std::string stem = file.substr(0, file.size() - std::string(".gguf").size());
  for (const auto& e : testing::zoo::zoo_entries()) {
    if (stem == e.id) {
      run.model = e.id;
      return;
    }
    if (stem.starts_with(e.id + "-") && e.id.size() > run.model.size()) {
      run.model = e.id;
      run.variant = stem.substr(e.id.size() + 1);
    }
  }
}

// One recorded run: "# cmd: llama-server -m FILE ARGS…", "# rpc-server memory (MiB): …",
// "# status: ok …", then the log lines.
std::optional<GridRun> read_run(const fs::path& path) {
  std::ifstream f(path);
  GridRun run;
  run.name = path.stem().string();
  std::string line;
  std::vector<std::string> cmd;
  bool ok = false;
  while (std::getline(f, line)) {
    if (line.starts_with("# cmd: ")) {
      cmd = words(line.substr(7));
    } else if (line.starts_with("# rpc-server memory (MiB): ")) {
      const std::string v = line.substr(27);
      run.rpc_mib = v == "none" ? std::vector<double>{} : numbers(v);
    } else if (line.starts_with("# status: ")) {
      ok = line.find("ok") != std::string::npos;
    } else {
      feed_line(run.measured, line);
    }
  }
  if (cmd.size() < 3) {
    return std::nullopt;
  }
  run.refused = !ok;
  zoo_name(cmd[2], run);
  EstimateInput& in = run.in;
  in.build = k_recorded_build;
  in.api = config::GpuApi::cpu;
  for (std::size_t i = 3; i < cmd.size(); ++i) {
    const std::string& a = cmd[i];
    const std::string v = i + 1 < cmd.size() ? cmd[i + 1] : "";
    if (a == "-c") {
      in.ctx = std::stoull(v);
    } else if (a == "-np") {
      in.parallel = std::stoi(v);
    } else if (a == "-ub") {
      in.n_ubatch = static_cast<std::uint32_t>(std::stoul(v));
    } else if (a == "-b") {
      in.n_batch = static_cast<std::uint32_t>(std::stoul(v));
    } else if (a == "-fa") {
      in.flash_attn = v == "on";
    } else if (a == "-ctk") {
      in.cache_type_k = v;
    } else if (a == "-ctv") {
      in.cache_type_v = v;
    } else if (a == "-ngl") {
      run.n_gpu_layers = std::stoi(v);
    } else if (a == "-ts") {
      run.tensor_split = numbers(v);
    } else if (a == "-ot") {
      const auto eq = v.find('=');
      in.overrides.push_back({v.substr(0, eq), v.substr(eq + 1)});
    } else if (a == "--n-cpu-moe") {
      in.n_cpu_moe = std::stoi(v);
    } else if (a == "-kvu" || a == "-no-kvu" || a == "--swa-full") {
      in.kv_unified = in.kv_unified || a == "-kvu";
      in.swa_full = in.swa_full || a == "--swa-full";
      continue;
    } else {
      continue;
    }
    ++i;
  }
  return run;
}

std::vector<fs::path> grid_logs(const std::string& dir) {
  std::vector<fs::path> out;
  const fs::path root = fs::path(ASK_SOURCE_DIR) / "tests/fixtures/llama-server" / dir;
  if (fs::exists(root)) {
    for (const auto& entry : fs::directory_iterator(root)) {
      if (entry.path().extension() == ".log") {
        out.push_back(entry.path());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The zoo models, built once.
const core::gguf::SplitModel& model_of(const GridRun& run) {
  static std::map<std::string, core::gguf::SplitModel> cache;
  const std::string key = run.model + "/" + run.variant;
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto m = testing::zoo::in_memory(run.model, run.variant);
    REQUIRE_MESSAGE(m.has_value(), run.name, ": ", m ? "" : m.error().message);
    it = cache.emplace(key, std::move(*m)).first;
  }
  return it->second;
}

struct Tally {
  int runs = 0, compute_within = 0, compute_low = 0;
  double worst_compute = 0.0;
};

double pct(u64 est, u64 real) {
  return real == 0 ? 0.0 : 100.0 * (static_cast<double>(est) - static_cast<double>(real)) /
                               static_cast<double>(real);
}

void check_run(const GridRun& run, Tally& tally) {
  const core::gguf::SplitModel& model = model_of(run);
  std::vector<std::string> devices;
  for (std::size_t i = 0; i < run.rpc_mib.size(); ++i) {
    devices.push_back("RPC" + std::to_string(i));
  }
  const auto params = core::gguf::arch_params(model.first());
  REQUIRE(params.has_value());
  const Layout layout =
      llama_layout(params->n_layer, devices.empty() ? 0 : run.n_gpu_layers, devices,
                   run.tensor_split.empty() ? run.rpc_mib : run.tensor_split);
  auto est = estimate_layout(model, run.in, layout);
  ++tally.runs;
  if (run.refused) { // what llama.cpp refuses, the estimator refuses too
    CHECK_MESSAGE(!est.has_value(), run.name, ": llama-server refused these settings");
    return;
  }
  REQUIRE_MESSAGE(est.has_value(), run.name, ": ", est ? "" : est.error().message);
  for (const DeviceMemory& d : *est) {
    // The log names the host's buffers CPU (KV, compute, output) and CPU_Mapped (weights),
    // the devices RPC0[host:port], …
    u64 weights = 0, kv = 0, compute = 0;
    for (const DeviceBuffers& m : run.measured.devices) {
      const bool host = m.device.starts_with("CPU");
      if (d.device == "host" ? host : m.device.starts_with(d.device + "[")) {
        weights += m.model;
        kv += m.kv + m.recurrent;
        compute += m.compute;
      }
    }
    const u64 est_weights = d.device == "host" && run.in.mmap ? d.mapped : d.weights;
    INFO(run.name, " ", d.device, ": weights ", est_weights, " vs ", weights, ", KV ",
         d.kv + d.recurrent, " vs ", kv, ", compute ", d.compute, " vs ", compute);
    CHECK(std::abs(pct(est_weights, weights)) <= 0.5);
    CHECK(std::abs(pct(d.kv + d.recurrent, kv)) <= 0.5);
    if (compute > 1024 * 1024) { // below 1 MiB llama.cpp does not log the buffer
      const double c = pct(d.compute, compute);
      CHECK(c <= 5.0);
      CHECK(c >= -2.0);
      tally.compute_within += std::abs(c) <= 5.0 ? 1 : 0;
      tally.compute_low += c < -2.0 ? 1 : 0;
      tally.worst_compute = std::max(tally.worst_compute, std::abs(c));
    }
    const u64 real_total = weights + kv + compute;
    CHECK(std::abs(pct(est_weights + d.kv + d.recurrent + d.compute, real_total)) <= 5.0);
  }
}

TEST_CASE("estimate: every run of the truth grid (llama-server b10587 logs)") {
  const auto logs = grid_logs("grid");
  REQUIRE(logs.size() >= 1);
  Tally tally;
  for (const fs::path& path : logs) {
    auto run = read_run(path);
    CHECK_MESSAGE(run.has_value(), path.filename().string(), " has no command line");
    if (run) {
      check_run(*run, tally);
    }
  }
  MESSAGE("grid: ", tally.runs, " runs, worst compute error ", tally.worst_compute, " %");
}

} // namespace
} // namespace ask::router
