// compute_sim: what the estimator predicts llama-server allocates for a GGUF file and
// settings, printed per device as llama.cpp logs it. A development tool for comparing the
// model with real startup logs (tests/fixtures/llama-server/grid/); askd plan prints the
// same figures for people.
//
//   compute_sim -m MODEL.gguf [-c N] [-np N] [-ub N] [-b N] [-fa on|off] [-ctk T] [-ctv T]
//               [-kvu] [--swa-full] [-ot PATTERN=CPU] [--n-cpu-moe N] [--build N]
//               [--devices RPC0,RPC1 [-ngl N] [-ts A,B]] [--trace]
// --trace prints the scheduler's splits and ops of every reserved graph, to set beside
// llama-server's own (GGML_SCHED_DEBUG=2, -lv 5).
// Arguments are llama-server's, read as askd reads a model's extra_args (config/llama_args.h;
// -np is not a CLI11 short option, hence the plain loop); without -np that is llama-server's
// default, 4 slots sharing one KV cache.

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/llama_args.h"
#include "router/estimate.h"
#include "router/layout.h"
#include "tests/support/memory_grid.h"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string v; std::getline(in, v, ',');) {
    out.push_back(v);
  }
  return out;
}

double mib(std::uint64_t b) {
  return static_cast<double>(b) / 1048576.0;
}

} // namespace

int main(int argc, char** argv) {
  using namespace ask::router;
  std::string path;
  std::vector<std::string> devices;
  std::vector<std::string> llama; // llama-server's own arguments
  int build = k_recorded_build;
  bool trace = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--trace") {
      trace = true;
      continue;
    }
    if (a != "-m" && a != "--devices" && a != "--build") {
      llama.push_back(a);
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "compute_sim: %s needs a value (see the source's header)\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "-m") {
      path = v;
    } else if (a == "--devices") {
      devices = split(v);
    } else {
      try {
        build = std::stoi(v);
      } catch (const std::exception&) {
        std::fprintf(stderr, "compute_sim: bad value for --build: %s\n", v.c_str());
        return 2;
      }
    }
  }
  // Read as askd reads a model's extra_args; what it does not read is said, not guessed at.
  for (const std::string& r : ask::config::parse_llama_args(llama).rest) {
    fmt::print(stderr, "compute_sim: not a memory setting, ignored: {}\n", r);
  }
  ask::testing::grid::Run run;
  run.in.build = build;
  run.in.api = ask::config::GpuApi::cpu;
  ask::testing::grid::apply_llama_args(llama, run);
  const EstimateInput& in = run.in;
  const int ngl = run.n_gpu_layers;
  std::vector<double> ts = run.tensor_split;
  auto model = ask::core::gguf::read_model(path);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().message.c_str());
    return 2;
  }
  auto e = estimate(*model, in);
  if (!e) {
    std::fprintf(stderr, "%s\n", e.error().message.c_str());
    return 2;
  }
  fmt::print("n_ctx = {}, n_ctx_seq = {}, SWA cells = {}\n", e->n_ctx, e->n_ctx_seq, e->n_ctx_swa);
  fmt::print("compute: CPU only {:.2f} MiB | one GPU {:.2f} + host {:.2f} | other GPUs {:.2f}\n",
             mib(e->compute_cpu), mib(e->compute_output), mib(e->compute_host),
             mib(e->compute_layer));
  if (ts.empty()) {
    ts.assign(devices.size(), 1.0);
  }
  const Layout layout = llama_layout(e->layers.size(), devices.empty() ? 0 : ngl, devices, ts);
  auto per = estimate_layout(*model, in, layout, trace ? &std::cout : nullptr);
  if (!per) {
    std::fprintf(stderr, "%s\n", per.error().message.c_str());
    return 2;
  }
  for (const DeviceMemory& d : *per) {
    fmt::print("{:>6}: weights {:10.2f} (mapped {:.2f})  KV {:9.2f}  RS {:7.2f}  compute {:9.2f}  "
               "output {:6.2f}  MiB\n",
               d.device, mib(d.weights), mib(d.mapped), mib(d.kv), mib(d.recurrent), mib(d.compute),
               mib(d.output));
  }
  for (const std::string& n : e->notes) {
    fmt::print("note: {}\n", n);
  }
  return 0;
}
