// Reading the memory truth grid and comparing it with the estimator (memory_grid.h).

#include "tests/support/memory_grid.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "config/llama_args.h"
#include "router/estimate_detail.h"
#include "tests/support/model_zoo.h"

namespace ask::testing::grid {

namespace fs = std::filesystem;
using u64 = std::uint64_t;

namespace {

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
    try {
      out.push_back(std::stod(v));
    } catch (const std::exception&) {
      out.push_back(0);
    }
  }
  return out;
}

// "gpt-oss-20b-bf16.gguf" -> id "gpt-oss-20b", variant "bf16": the longest zoo id it starts
// with.
void zoo_name(const std::string& file, Run& run) {
  const std::string stem = file.ends_with(".gguf") ? file.substr(0, file.size() - 5) : file;
  for (const auto& e : zoo::zoo_entries()) {
    if (stem == e.id) {
      run.model = e.id;
      run.variant.clear();
      return;
    }
    if (stem.starts_with(e.id + "-") && e.id.size() > run.model.size()) {
      run.model = e.id;
      run.variant = stem.substr(e.id.size() + 1);
    }
  }
}

std::vector<FitRow> fit_rows(const std::string& text) {
  std::vector<FitRow> out;
  std::istringstream s(text);
  for (std::string row; std::getline(s, row, ';');) {
    const auto w = words(row);
    if (w.size() == 4) {
      try {
        out.push_back({w[0], std::stod(w[1]), std::stod(w[2]), std::stod(w[3])});
      } catch (const std::exception&) {
      }
    }
  }
  return out;
}

} // namespace

std::optional<Run> read_run(const fs::path& path) {
  std::ifstream f(path);
  Run run;
  run.name = path.stem().string();
  run.in.build = router::k_recorded_build;
  run.in.api = config::GpuApi::cpu;
  std::string line;
  std::vector<std::string> cmd;
  bool ok = false;
  while (std::getline(f, line)) {
    if (line.starts_with("# cmd: ")) {
      cmd = words(line.substr(7));
    } else if (line.starts_with("# rpc devices: ")) {
      // Every rpc-server of this build reports the host's memory: an even default split.
      try {
        run.rpc_mib.assign(std::stoul(line.substr(15)), 1.0);
      } catch (const std::exception&) {
      }
    } else if (line.starts_with("# rpc endpoints: ")) {
      std::istringstream list(line.substr(17));
      for (std::string e; std::getline(list, e, ',');) {
        if (e != "none") {
          run.rpc_endpoints.push_back(e);
        }
      }
    } else if (line.starts_with("# status: ")) {
      ok = line.find(": ok") != std::string::npos;
    } else if (line.starts_with("# fit-params: ")) {
      run.fit = fit_rows(line.substr(14));
    } else {
      if (const auto at = line.find("graph nodes  = "); at != std::string::npos) {
        try {
          run.graph_nodes = std::stoul(line.substr(at + 15));
        } catch (const std::exception&) {
        }
      }
      if (line.find(" does not ") != std::string::npos ||
          line.find("requires") != std::string::npos) {
        run.refusal = line;
      }
      router::feed_line(run.measured, line);
    }
  }
  if (cmd.size() < 3) {
    return std::nullopt;
  }
  run.refused = !ok;
  zoo_name(cmd[2], run);
  apply_llama_args(std::span(cmd).subspan(1), run);
  return run;
}

void apply_llama_args(std::span<const std::string> args, Run& run) {
  // The memory settings as askd reads a model's extra_args, over llama-server's defaults.
  config::ManagedSpec spec;
  config::fold_llama_settings(config::parse_llama_args(args).settings, spec);
  const int build = run.in.build;
  const config::GpuApi api = run.in.api;
  run.in = router::estimate_input(spec);
  run.in.build = build;
  run.in.api = api;
  // The split, which askd's placement sets itself (the parser refuses these as the user's).
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-ngl" || args[i] == "--n-gpu-layers") {
      try {
        run.n_gpu_layers = std::stoi(args[i + 1]);
      } catch (const std::exception&) {
      }
    } else if (args[i] == "-ts" || args[i] == "--tensor-split") {
      run.tensor_split = numbers(args[i + 1]);
    }
  }
}

std::vector<fs::path> logs(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::exists(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".log") {
        out.push_back(entry.path());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

fs::path fixtures(const std::string& sub) {
  return fs::path(ASK_SOURCE_DIR) / "tests/fixtures/llama-server" / sub;
}

core::Result<const core::gguf::SplitModel*> model_of(const Run& run) {
  static std::mutex mutex;
  static std::map<std::string, core::gguf::SplitModel> cache;
  std::lock_guard lock(mutex);
  const std::string key = run.model + "/" + run.variant;
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto m = zoo::in_memory(run.model, run.variant);
    if (!m) {
      return core::fail(std::move(m.error()));
    }
    it = cache.emplace(key, std::move(*m)).first;
  }
  return &it->second;
}

router::Layout layout_of(const Run& run, std::size_t n_layer) {
  std::vector<std::string> devices;
  for (std::size_t i = 0; i < run.rpc_mib.size(); ++i) {
    devices.push_back("RPC" + std::to_string(i));
  }
  return router::llama_layout(n_layer, devices.empty() ? 0 : run.n_gpu_layers, devices,
                              run.tensor_split.empty() ? run.rpc_mib : run.tensor_split);
}

double error_pct(u64 est, u64 real) {
  return real == 0 ? 0.0
                   : 100.0 * (static_cast<double>(est) - static_cast<double>(real)) /
                         static_cast<double>(real);
}

Comparison compare(const Run& run) {
  Comparison out;
  out.refused = run.refused;
  auto model = model_of(run);
  if (!model) {
    out.estimate_refused = true;
    out.estimate_error = model.error().message;
    return out;
  }
  auto params = core::gguf::arch_params((*model)->first());
  if (!params) {
    out.estimate_refused = true;
    out.estimate_error = params.error().message;
    return out;
  }
  auto est = router::estimate_layout(**model, run.in, layout_of(run, params->n_layer));
  if (!est) {
    out.estimate_refused = true;
    out.estimate_error = est.error().message;
    return out;
  }
  if (auto e = router::estimate(**model, run.in)) {
    const router::Layout layout = layout_of(run, params->n_layer);
    std::vector<router::graph::Backend> backends;
    for (const std::string& name : layout.devices) {
      backends.push_back(router::device_backend(name));
    }
    router::ComputeDevices devices = router::devices_for(
        run.in, std::move(backends),
        [&layout](int il) { return layout.layer_device[static_cast<std::size_t>(il)]; },
        layout.output_device);
    if (auto n =
            router::graph_nodes(**model, *params, router::compute_context(*e, run.in), devices)) {
      out.graph_nodes = *n;
    }
  }
  // The log names the host's buffers CPU (KV, compute, output) and CPU_Mapped (weights), and
  // every rpc-server's device "RPC0[host:port]" (device 0 of each server): they are told
  // apart by endpoint, in the order of --rpc, which is the layout's.
  std::vector<std::string> device_names;
  for (const std::string& endpoint : run.rpc_endpoints) {
    std::string name;
    for (const router::DeviceBuffers& m : run.measured.devices) {
      if (m.device.ends_with("[" + endpoint + "]")) {
        name = m.device;
      }
    }
    device_names.push_back(name);
  }
  for (std::size_t i = 0; i < est->size(); ++i) {
    const router::DeviceMemory& d = (*est)[i];
    Device dev;
    dev.device = d.device;
    const bool host = d.device == "host";
    const std::string name = i < device_names.size() ? device_names[i] : "";
    dev.found = host || !name.empty();
    for (const router::DeviceBuffers& m : run.measured.devices) {
      if (host ? m.device.starts_with("CPU") : m.device == name) {
        dev.real_weights += m.model;
        dev.real_kv += m.kv + m.recurrent;
        dev.real_compute += m.compute;
      }
    }
    dev.est_weights = host && run.in.mmap ? d.mapped : d.weights;
    dev.est_kv = d.kv + d.recurrent;
    dev.est_compute = d.compute;
    for (const FitRow& f : run.fit) {
      if (host ? f.device == "Host" : f.device == d.device) {
        dev.fit_compute_mib = f.compute;
        dev.fit_total_mib = f.model + f.context + f.compute;
      }
    }
    out.devices.push_back(std::move(dev));
  }
  return out;
}

} // namespace ask::testing::grid
