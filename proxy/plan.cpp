#include "proxy/plan.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "config/bytes.h"
#include "core/gguf.h"
#include "proxy/cli.h"
#include "proxy/plan_report.h"
#include "router/estimate.h"
#include "router/placement.h"
#include "router/server_args.h"

namespace ask::proxy {
namespace {

using config::GpuApi;
using router::human_bytes;

// What to estimate and how to place it, from the options and (for a model name) the config.
struct Target {
  std::filesystem::path model;
  std::filesystem::path draft;
  std::filesystem::path mmproj;
  router::EstimateInput in;
  router::PlacementRequest req;
  bool api_given = false;
};

std::string to_lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

core::Result<GpuApi> api_from(const std::string& name) {
  const std::string n = to_lower(name);
  if (n == "hip") {
    return GpuApi::rocm;
  }
  for (GpuApi api : {GpuApi::cuda, GpuApi::rocm, GpuApi::vulkan, GpuApi::sycl, GpuApi::metal,
                     GpuApi::cpu}) {
    if (n == config::to_string(api)) {
      return api;
    }
  }
  return core::fail(core::Error::bad_request(
      "--backend: \"" + name + "\" is not one of cuda, rocm, vulkan, sycl, metal, cpu"));
}

// A config model's managed settings, then the command line's overrides.
core::Result<Target> resolve(const PlanOptions& o, const config::Config& cfg) {
  Target t;
  const config::Model* m = cfg.find_model(o.target);
  if (m != nullptr && !std::filesystem::exists(o.target)) {
    if (!m->managed) {
      return core::fail(core::Error::bad_request(
          "model \"" + o.target + "\" runs on backend \"" + m->backend +
          "\", which askd does not place (only llama-server models are planned)"));
    }
    const config::ManagedSpec& s = *m->managed;
    t.model = s.gguf;
    t.in.ctx = static_cast<std::uint64_t>(s.ctx.value_or(0));
    t.in.parallel = s.parallel;
    t.in.cache_type_k = s.kv_cache_type.k;
    t.in.cache_type_v = s.kv_cache_type.v;
    t.in.flash_attn = s.flash_attn != config::FlashAttn::off;
    t.in.n_cpu_moe = s.n_cpu_moe.value_or(0);
    t.in.n_gpu_layers = s.n_gpu_layers.value_or(-1);
    t.draft = s.draft.value_or("");
    t.req.pins = s.gpus;
    t.req.allow_partial = s.allow_partial_offload;
    if (const config::Preset* p = cfg.find_preset(s.preset)) {
      t.req.api = p->api;
      t.api_given = true;
    }
  } else {
    t.model = o.target;
  }
  if (o.ctx) {
    t.in.ctx = static_cast<std::uint64_t>(std::max(0, *o.ctx));
  }
  t.in.parallel = o.parallel.value_or(t.in.parallel);
  if (o.kv) {
    t.in.cache_type_k = t.in.cache_type_v = *o.kv;
  }
  t.in.cache_type_k = o.kv_k.value_or(t.in.cache_type_k);
  t.in.cache_type_v = o.kv_v.value_or(t.in.cache_type_v);
  if (o.flash_attn) {
    if (*o.flash_attn != "on" && *o.flash_attn != "off" && *o.flash_attn != "auto") {
      return core::fail(core::Error::bad_request("--flash-attn: \"" + *o.flash_attn +
                                                 "\" is not on, off or auto"));
    }
    t.in.flash_attn = *o.flash_attn != "off";
  }
  t.in.n_gpu_layers = o.n_gpu_layers.value_or(t.in.n_gpu_layers);
  t.in.n_cpu_moe = o.n_cpu_moe.value_or(t.in.n_cpu_moe);
  if (o.draft) {
    t.draft = *o.draft;
  }
  if (o.mmproj) {
    t.mmproj = *o.mmproj;
  }
  if (!o.gpus.empty()) {
    t.req.pins = o.gpus;
  }
  if (o.backend) {
    auto api = api_from(*o.backend);
    if (!api) {
      return core::fail(std::move(api.error()));
    }
    t.req.api = *api;
    t.api_given = true;
  }
  t.req.allow_partial = t.req.allow_partial || o.allow_partial;
  t.req.n_layers_request = t.in.n_gpu_layers;
  return t;
}

// --gpu API:INDEX:SIZE[:FREE], e.g. "vulkan:0:32GiB" or "cuda:1:24GiB:20GiB".
core::Result<router::ProbedGpu> parse_declared(const std::string& spec) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t at; (at = spec.find(':', start)) != std::string::npos; start = at + 1) {
    parts.push_back(spec.substr(start, at - start));
  }
  parts.push_back(spec.substr(start));
  const auto bad = [&](const std::string& why) {
    return core::fail(core::Error::bad_request("--gpu \"" + spec + "\": " + why +
                                               " (write API:INDEX:SIZE[:FREE], e.g. "
                                               "vulkan:0:32GiB or cuda:1:24GiB:20GiB)"));
  };
  if (parts.size() < 3 || parts.size() > 4) {
    return bad("expected 3 or 4 fields");
  }
  auto api = api_from(parts[0]);
  int index = -1;
  const auto [p, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), index);
  if (!api || *api == GpuApi::cpu || ec != std::errc{} || p != parts[1].data() + parts[1].size() ||
      index < 0 || index > 255) {
    return bad(!api || *api == GpuApi::cpu ? "unknown GPU API" : "index must be 0 to 255");
  }
  auto total = config::parse_bytes(std::string_view(parts[2]));
  if (!total || *total == 0) {
    return bad(total ? "size must be above 0" : total.error().message);
  }
  router::ProbedGpu g;
  g.api = *api;
  g.index = index;
  g.name = std::string(config::to_string(*api)) + " " + parts[1];
  g.total_bytes = *total;
  g.source = "command line";
  g.pci = "cli:" + parts[0] + ":" + parts[1]; // keeps two declared GPUs apart in the merge
  if (parts.size() == 4) {
    auto free = config::parse_bytes(std::string_view(parts[3]));
    if (!free || *free > *total) {
      return bad(free ? "free is more than the size" : free.error().message);
    }
    g.free_bytes = *free;
  }
  return g;
}

// The API to place with when neither the model's preset nor --backend says: a vendor API
// some GPU has (cuda, rocm, sycl), else vulkan, else the CPU.
GpuApi default_api(const router::Inventory& inv) {
  for (GpuApi api : {GpuApi::cuda, GpuApi::rocm, GpuApi::sycl, GpuApi::vulkan, GpuApi::metal}) {
    for (const router::Gpu& g : inv.gpus) {
      if (g.index_for(api)) {
        return api;
      }
    }
  }
  return GpuApi::cpu;
}

} // namespace

int run_plan(const PlanOptions& opts, const config::Config& config, std::ostream& out,
             std::ostream& err, const router::ToolRunner& run) {
  auto target = resolve(opts, config);
  if (!target) {
    err << "askd plan: " << target.error().message << '\n';
    return k_exit_usage;
  }
  auto model = core::gguf::read_model(target->model);
  if (!model) {
    err << "askd plan: " << target->model.string() << ": " << model.error().message << '\n';
    return k_exit_usage;
  }
  std::optional<core::gguf::SplitModel> draft;
  if (!target->draft.empty()) {
    auto d = core::gguf::read_model(target->draft);
    if (!d) {
      err << "askd plan: draft " << target->draft.string() << ": " << d.error().message << '\n';
      return k_exit_usage;
    }
    draft = std::move(*d);
    target->in.draft = &*draft;
  }
  if (!target->mmproj.empty()) {
    auto p = core::gguf::read_model(target->mmproj);
    if (!p) {
      err << "askd plan: mmproj " << target->mmproj.string() << ": " << p.error().message << '\n';
      return k_exit_usage;
    }
    target->in.projector_bytes = p->tensor_bytes();
  }
  auto est = router::estimate(*model, target->in);
  if (!est) {
    err << "askd plan: " << target->model.string() << ": " << est.error().message << '\n';
    return k_exit_usage;
  }
  router::Inventory inv;
  if (!opts.declare.empty()) {
    std::vector<router::ProbedGpu> declared;
    for (const std::string& spec : opts.declare) {
      auto g = parse_declared(spec);
      if (!g) {
        err << "askd plan: " << g.error().message << '\n';
        return k_exit_usage;
      }
      declared.push_back(std::move(*g));
    }
    config::GpuConfig gpus = config.gpus;
    gpus.devices.clear(); // the command line describes the whole machine
    inv = router::merge(declared, gpus);
  } else {
    inv = router::probe(config.gpus, run);
  }
  if (!target->api_given) {
    target->req.api = default_api(inv);
  }
  const auto placed = router::place(*est, inv, target->req);
  PlanReport report{*model, target->model, *est, inv, target->req, placed, {}, {}, {}};
  if (opts.measured) {
    std::ifstream in(*opts.measured, std::ios::binary);
    if (!in) {
      err << "askd plan: --measured " << *opts.measured << ": cannot read the file\n";
      return k_exit_usage;
    }
    const std::string log{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    report.measured = router::parse_startup_log(log);
    report.correction = router::correction_from(*est, *report.measured);
  }
  if (placed) {
    report.command = router::server_args({target->model, target->draft, target->mmproj},
                                         target->in, *est, *placed);
  }
  if (opts.json) {
    out << plan_json(report).dump(2) << '\n';
  } else {
    print_plan(report, out);
  }
  return placed ? k_exit_ok : k_exit_failure;
}

} // namespace ask::proxy
