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
// Arguments are llama-server's (-np is not a CLI11 short option, hence the plain loop).

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "router/estimate.h"
#include "router/layout.h"

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
  EstimateInput in;
  in.build = k_recorded_build;
  std::vector<std::string> devices;
  std::vector<double> ts;
  int ngl = 999;
  bool trace = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-kvu" || a == "--kv-unified") {
      in.kv_unified = true;
      continue;
    }
    if (a == "--trace") {
      trace = true;
      continue;
    }
    if (a == "--swa-full") {
      in.swa_full = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "compute_sim: %s needs a value (see the source's header)\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    try {
      if (a == "-m") {
        path = v;
      } else if (a == "-c") {
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
      } else if (a == "-ot") {
        in.overrides.push_back({v.substr(0, v.find('=')), v.substr(v.find('=') + 1)});
      } else if (a == "--n-cpu-moe") {
        in.n_cpu_moe = std::stoi(v);
      } else if (a == "--build") {
        in.build = std::stoi(v);
      } else if (a == "--devices") {
        devices = split(v);
      } else if (a == "-ngl") {
        ngl = std::stoi(v);
      } else if (a == "-ts") {
        for (const std::string& x : split(v)) {
          ts.push_back(std::stod(x));
        }
      } else {
        std::fprintf(stderr, "compute_sim: unknown option %s\n", a.c_str());
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "compute_sim: bad value for %s: %s\n", a.c_str(), v.c_str());
      return 2;
    }
  }
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
  const Layout layout =
      llama_layout(e->layers.size(), devices.empty() ? 0 : ngl, devices, ts);
  auto per = estimate_layout(*model, in, layout, trace ? &std::cout : nullptr);
  if (!per) {
    std::fprintf(stderr, "%s\n", per.error().message.c_str());
    return 2;
  }
  for (const DeviceMemory& d : *per) {
    fmt::print("{:>6}: weights {:10.2f} (mapped {:.2f})  KV {:9.2f}  RS {:7.2f}  compute {:9.2f}  "
               "output {:6.2f}  MiB\n",
               d.device, mib(d.weights), mib(d.mapped), mib(d.kv), mib(d.recurrent),
               mib(d.compute), mib(d.output));
  }
  for (const std::string& n : e->notes) {
    fmt::print("note: {}\n", n);
  }
  return 0;
}
