#include "proxy/plan.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "config/bytes.h"
#include "config/llama_args.h"
#include "core/gguf.h"
#include "core/strings.h"
#include "proxy/cli.h"
#include "proxy/plan_report.h"
#include "router/draft.h"
#include "router/estimate.h"
#include "router/host_devices.h"
#include "router/layout.h"
#include "router/llama_build.h"
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
  config::ManagedSpec spec; // the settings: the model's, or llama-server's defaults, then ours
  router::EstimateInput in;
  router::PlacementRequest req;
  bool api_given = false;
  bool pins_from_config = false;
  std::vector<std::string> notes; // what the plan assumed or left out, for the report
};

core::Result<GpuApi> api_from(const std::string& name) {
  const std::string n = core::to_lower(name);
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

// The draft or MTP: the config model's, replaced by --draft or --mtp (llama-server runs one
// draft context, so one replaces the other); "auto" is resolved as askd resolves it when it
// spawns the model, and an "auto" that finds nothing is bad input, as it is there.
core::Result<void> resolve_speculative(const PlanOptions& o, bool draft_auto, Target& t) {
  if (o.draft && o.mtp) {
    return core::fail(core::Error::bad_request(
        "--draft and --mtp: llama-server runs one draft context; give one of them"));
  }
  if (o.draft) {
    draft_auto = *o.draft == "auto";
    t.draft = draft_auto ? std::filesystem::path() : std::filesystem::path(*o.draft);
    if (t.in.mtp) {
      t.notes.push_back("the model's MTP is left out: --draft replaces it");
      t.in.mtp = false;
    }
  }
  if (o.mtp) {
    if (!t.draft.empty() || draft_auto) {
      t.notes.push_back("the model's draft is left out: --mtp replaces it");
    }
    t.draft.clear();
    draft_auto = false;
    t.in.mtp = true;
  }
  if (!draft_auto) {
    return {};
  }
  auto found = router::search_draft(t.model);
  if (!found) {
    return core::fail(std::move(found.error()));
  }
  if (!found->chosen) {
    return core::fail(core::Error::bad_request(found->explain()));
  }
  t.draft = *found->chosen;
  const auto others = std::ranges::count_if(
      found->rejected, [](const router::DraftRejection& r) { return !r.model_file; });
  t.notes.push_back("draft \"auto\": " + t.draft.filename().string() +
                    ", the smallest compatible .gguf file beside the model" +
                    (others == 0 ? std::string()
                                 : " (" + std::to_string(others) + " other" +
                                       (others == 1 ? "" : "s") + " passed over)"));
  return {};
}

// The command line's memory settings over the model's (or llama-server's defaults).
core::Result<void> apply_settings(const PlanOptions& o, config::ManagedSpec& s) {
  if (o.ctx) {
    s.ctx = std::max(0, *o.ctx);
  }
  s.parallel = o.parallel ? o.parallel : s.parallel;
  if (o.kv) {
    s.kv_cache_type = {*o.kv, *o.kv};
  }
  s.kv_cache_type.k = o.kv_k.value_or(s.kv_cache_type.k);
  s.kv_cache_type.v = o.kv_v.value_or(s.kv_cache_type.v);
  if (o.flash_attn) {
    if (*o.flash_attn != "on" && *o.flash_attn != "off" && *o.flash_attn != "auto") {
      return core::fail(core::Error::bad_request("--flash-attn: \"" + *o.flash_attn +
                                                 "\" is not on, off or auto"));
    }
    s.flash_attn = *o.flash_attn == "on"    ? config::FlashAttn::on
                   : *o.flash_attn == "off" ? config::FlashAttn::off
                                            : config::FlashAttn::automatic;
  }
  s.n_gpu_layers = o.n_gpu_layers ? o.n_gpu_layers : s.n_gpu_layers;
  s.n_cpu_moe = o.n_cpu_moe ? o.n_cpu_moe : s.n_cpu_moe;
  s.batch = o.batch ? o.batch : s.batch;
  s.ubatch = o.ubatch ? o.ubatch : s.ubatch;
  s.kv_unified = o.kv_unified ? o.kv_unified : s.kv_unified;
  if (o.swa_full) {
    s.swa_full = true;
  }
  if (o.no_kv_offload) {
    s.kv_offload = false;
  }
  if (o.no_mmap) {
    s.mmap = false;
  }
  if (!o.override_tensors.empty()) {
    s.override_tensors.clear();
  }
  for (const std::string& list : o.override_tensors) {
    auto parsed = config::parse_tensor_override_list(list);
    if (!parsed) {
      return core::fail(core::Error::bad_request("--override-tensor " + parsed.error()));
    }
    s.override_tensors.insert(s.override_tensors.end(), parsed->begin(), parsed->end());
  }
  return {};
}

// A config model's managed settings, then the command line's overrides.
core::Result<Target> resolve(const PlanOptions& o, const config::Config& cfg) {
  Target t;
  bool draft_auto = false;
  const config::Model* m = cfg.find_model(o.target);
  if (m != nullptr && !std::filesystem::exists(o.target)) {
    if (!m->managed) {
      return core::fail(core::Error::bad_request(
          "model \"" + o.target + "\" runs on backend \"" + m->backend +
          "\", which askd does not place (only llama-server models are planned)"));
    }
    const config::ManagedSpec& s = *m->managed;
    t.spec = s;
    t.model = s.gguf;
    draft_auto = s.draft_auto;
    t.draft = s.draft.value_or("");
    t.mmproj = s.mmproj.value_or("");
    t.req.pins = s.gpus;
    t.pins_from_config = !s.gpus.empty();
    t.req.allow_partial = s.allow_partial_offload;
    if (const config::Preset* p = cfg.find_preset(s.preset)) {
      t.req.api = p->api;
      t.api_given = true;
    }
  } else {
    t.model = o.target; // a file alone: llama-server's defaults
    t.spec.gguf = t.model;
  }
  if (auto ok = apply_settings(o, t.spec); !ok) {
    return core::fail(std::move(ok.error()));
  }
  t.in = router::estimate_input(t.spec);
  if (m != nullptr && m->managed) { // as askd would start it: see server_args
    t.in.embeddings = m->has_capability("embedding");
    t.in.reranking = m->has_capability("rerank");
  }
  if (t.spec.flash_attn == config::FlashAttn::automatic) {
    t.notes.push_back("flash attention \"auto\" is passed as -fa on, as estimated (off "
                      "would need larger compute buffers)");
  }
  if (auto ok = resolve_speculative(o, draft_auto, t); !ok) {
    return core::fail(std::move(ok.error()));
  }
  if (o.mmproj) {
    t.mmproj = *o.mmproj;
  }
  if (!o.gpus.empty()) {
    t.req.pins = o.gpus;
    t.pins_from_config = false;
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
  t.req.mmap = t.in.mmap;
  t.req.kv_offload = t.in.kv_offload;
  return t;
}

// The smallest --gpu size taken: a bare number is bytes, and "--gpu cuda:0:24" is a typo.
constexpr std::uint64_t k_min_gpu_bytes = 256ull << 20;

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
  if (!total || *total < k_min_gpu_bytes) {
    return bad(total ? "size " + parts[2] + " is less than 256 MiB; give a unit, e.g. 24GiB"
                     : total.error().message);
  }
  router::ProbedGpu g;
  g.api = *api;
  g.index = index;
  g.name = std::string(config::to_string(*api)) + " " + parts[1];
  g.total_bytes = *total;
  g.source = "command line";
  // Keeps two declared GPUs apart in the merge; the same API and index twice is refused.
  g.pci = "cli:" + std::string(config::to_string(*api)) + ":" + std::to_string(index);
  if (parts.size() == 4) {
    auto free = config::parse_bytes(std::string_view(parts[3]));
    if (!free || *free > *total) {
      return bad(free ? "free is more than the size" : free.error().message);
    }
    g.free_bytes = *free;
  }
  return g;
}

// --rpc HOST:PORT[=SIZE]: device 0 of that rpc-server; without a size, the config's entry
// for that endpoint (its id too), else what the server reports (asked by add_other_devices).
// Others are "rpc0", "rpc1", … by position.
core::Result<config::RpcSpec> parse_rpc_option(const std::string& spec, const config::Config& cfg,
                                               std::size_t position) {
  const std::size_t eq = spec.find('=');
  config::RpcSpec d;
  d.endpoint = spec.substr(0, eq);
  const auto bad = [&](const std::string& why) {
    return core::fail(core::Error::bad_request("--rpc \"" + spec + "\": " + why +
                                               " (write HOST:PORT[=SIZE], e.g. "
                                               "192.168.1.20:50052=24GiB)"));
  };
  if (const std::string why = config::rpc_endpoint_error(d.endpoint); !why.empty()) {
    return bad(why);
  }
  const config::RpcSpec* known = nullptr;
  for (const config::RpcSpec& r : cfg.gpus.rpc) {
    known = known == nullptr && r.endpoint == d.endpoint && r.device == 0 ? &r : known;
  }
  d.id = known != nullptr ? known->id : "rpc" + std::to_string(position);
  d.name = d.endpoint;
  if (eq == std::string::npos) {
    if (known != nullptr) {
      d.memory = known->memory; // none there either: the server is asked
    }
    return d;
  }
  auto size = config::parse_bytes(std::string_view(spec).substr(eq + 1));
  if (!size || *size < k_min_gpu_bytes) {
    return bad(size ? "size " + spec.substr(eq + 1) +
                          " is less than 256 MiB; give a unit, "
                          "e.g. 24GiB"
                    : size.error().message);
  }
  d.memory = *size;
  return d;
}

// --host-memory SIZE[:FREE], as /proc/meminfo would say it.
core::Result<router::HostMemory> parse_host_memory(const std::string& spec) {
  const std::size_t colon = spec.find(':');
  const auto bad = [&](const std::string& why) {
    return core::fail(core::Error::bad_request("--host-memory \"" + spec + "\": " + why +
                                               " (write SIZE[:FREE], e.g. 64GiB or 64GiB:50GiB)"));
  };
  auto total = config::parse_bytes(std::string_view(spec).substr(0, colon));
  if (!total || *total < k_min_gpu_bytes) {
    return bad(total ? "less than 256 MiB; give a unit, e.g. 64GiB" : total.error().message);
  }
  router::HostMemory host{*total, std::nullopt};
  if (colon != std::string::npos) {
    auto free = config::parse_bytes(std::string_view(spec).substr(colon + 1));
    if (!free || *free > *total) {
      return bad(free ? "free is more than the size" : free.error().message);
    }
    host.available = *free;
  }
  return host;
}

// The llama-servers that ask rpc-servers what they have: the model's preset's first, then
// every preset's, else "llama-server" on PATH.
std::vector<router::LlamaBinary> rpc_askers(const config::Config& cfg, const std::string& preset) {
  std::vector<router::LlamaBinary> out;
  if (const config::Preset* p = cfg.find_preset(preset)) {
    out.push_back({p->binary, p->env});
  }
  for (router::LlamaBinary& b : router::rpc_binaries(cfg)) {
    if (std::ranges::find(out, b) == out.end()) {
      out.push_back(std::move(b));
    }
  }
  if (out.empty()) {
    out.push_back({"llama-server", {}});
  }
  return out;
}

// The rpc devices and host memory the plan counts, added to `inv`: --rpc, else the config's
// gpus.rpc, those without a size asked of their server through `run` with `preset`'s
// llama-server first; --host-memory, else (unless --gpu describes another machine) the config's
// declared size or this machine's memory (router::read_meminfo()).
core::Result<void> add_other_devices(const PlanOptions& o, const config::Config& cfg,
                                     const std::string& preset, const router::ToolRunner& run,
                                     router::Inventory& inv, std::vector<std::string>& notes) {
  std::vector<config::RpcSpec> rpc = cfg.gpus.rpc;
  if (!o.rpc.empty()) {
    rpc.clear();
    for (const std::string& spec : o.rpc) {
      auto d = parse_rpc_option(spec, cfg, rpc.size());
      if (!d) {
        return core::fail(std::move(d.error()));
      }
      for (const config::RpcSpec& other : rpc) {
        if (other.endpoint == d->endpoint) {
          return core::fail(core::Error::bad_request("--rpc \"" + spec + "\": " + d->endpoint +
                                                     " is given twice"));
        }
      }
      rpc.push_back(std::move(*d));
    }
  }
  router::add_rpc_devices(inv, rpc, cfg.gpus.reserve,
                          router::ask_rpc_servers(rpc, rpc_askers(cfg, preset), run));
  config::HostSpec host = cfg.gpus.host;
  if (o.host_memory) {
    auto declared = parse_host_memory(*o.host_memory);
    if (!declared) {
      return core::fail(std::move(declared.error()));
    }
    host.memory.reset();
    router::add_host(inv, host, *declared);
  } else if (!o.declare.empty()) {
    notes.push_back("host memory is not checked: --gpu describes another machine (give its "
                    "--host-memory)");
  } else {
    router::add_host(inv, host,
                     o.meminfo ? router::read_meminfo(*o.meminfo) : router::read_meminfo());
  }
  return {};
}

// Pins name GPU ids of the inventory: an unknown one is an error (naming the ids there
// are); one without a device under the API is left out by place(), with a note here.
core::Result<void> check_pins(const Target& t, const router::Inventory& inv,
                              std::vector<std::string>& notes) {
  for (const std::string& pin : t.req.pins) {
    const router::Gpu* g = inv.find(pin);
    if (g == nullptr) {
      std::string ids;
      for (const router::Gpu& each : inv.gpus) {
        if (each.kind != router::DeviceKind::host) {
          ids += (ids.empty() ? "" : ", ") + each.id;
        }
      }
      return core::fail(core::Error::bad_request(
          "GPU \"" + pin + "\" is not in this machine's inventory (" +
          (ids.empty() ? std::string("no GPUs") : "GPUs: " + ids) + ")"));
    }
    if (g->kind == router::DeviceKind::host) {
      return core::fail(core::Error::bad_request(
          "\"host\" is host memory, not a GPU: a model is never pinned to it"));
    }
    if (g->kind == router::DeviceKind::gpu && t.req.api != GpuApi::cpu &&
        !g->index_for(t.req.api)) {
      notes.push_back("pinned GPU \"" + pin + "\" has no " +
                      std::string(config::to_string(t.req.api)) + " device; it is left out");
    }
  }
  return {};
}

} // namespace

// The API to place with when neither the model's preset nor --backend says: a vendor API
// some GPU has (cuda, rocm, sycl), else vulkan, else the CPU. A ROCm index that only the
// amdgpu sysfs files gave (no rocm-smi, no rocm backend_index declared: likely no ROCm)
// ranks below Vulkan.
GpuApi default_api(const router::Inventory& inv, const config::GpuConfig& declared) {
  const auto rocm_declared = [&](const router::Gpu& g) {
    const config::GpuSpec* spec = nullptr;
    for (const config::GpuSpec& s : declared.devices) {
      spec = s.id == g.id ? &s : spec;
    }
    return spec != nullptr && std::ranges::any_of(spec->backend_index, [](const auto& entry) {
             return entry.first == GpuApi::rocm;
           });
  };
  const auto has = [&](GpuApi api, bool sysfs_counts) {
    return std::ranges::any_of(inv.gpus, [&](const router::Gpu& g) {
      const bool vouched = rocm_declared(g) || std::ranges::any_of(g.sources, [](const auto& s) {
                             return s == "rocm-smi" || s == "command line";
                           });
      return g.index_for(api).has_value() && (sysfs_counts || vouched);
    });
  };
  for (GpuApi api : {GpuApi::cuda, GpuApi::rocm, GpuApi::sycl, GpuApi::vulkan}) {
    if (has(api, api != GpuApi::rocm)) {
      return api;
    }
  }
  for (GpuApi api : {GpuApi::rocm, GpuApi::metal}) {
    if (has(api, true)) {
      return api;
    }
  }
  return GpuApi::cpu;
}

namespace {

// The llama.cpp build of the model's preset: what the inventory asked, else its binary's
// `--version`; 0 (unknown) without a preset, with a note.
int preset_build(const config::Config& config, const std::string& preset_name,
                 const router::Inventory& inv, const router::ToolRunner& run,
                 std::vector<std::string>& notes) {
  const config::Preset* preset = config.find_preset(preset_name);
  if (preset == nullptr) {
    return 0;
  }
  const std::string binary = preset->binary.string();
  for (const router::LlamaBuild& b : inv.builds) {
    if (b.binary == binary && b.version) {
      return static_cast<int>(b.version->build);
    }
  }
  auto text = run(router::ToolCommand({binary, "--version"}, preset->env, true));
  auto version = text ? router::parse_llama_version(*text)
                      : core::Result<router::LlamaVersion>(core::fail(std::move(text.error())));
  if (!version) {
    notes.push_back("the llama.cpp build of preset " + preset_name + " is unknown (" +
                    version.error().message + ")");
    return 0;
  }
  return static_cast<int>(version->build);
}

// What llama.cpp allocates per device for `plan`'s split: the host layers first, then each
// share's layers in plan order, the output on the last share.
std::optional<std::vector<router::DeviceMemory>> layout_of(const core::gguf::SplitModel& model,
                                                           const router::EstimateInput& in,
                                                           const router::Plan& plan) {
  router::Layout layout;
  layout.layer_device.assign(static_cast<std::size_t>(plan.host_layers), -1);
  for (std::size_t j = 0; j < plan.gpus.size(); ++j) {
    layout.devices.push_back(plan.gpus[j].device);
    layout.layer_device.insert(layout.layer_device.end(),
                               static_cast<std::size_t>(plan.gpus[j].layers), static_cast<int>(j));
    if (plan.gpus[j].output) {
      layout.output_device = static_cast<int>(j);
    }
  }
  auto per = router::estimate_layout(model, in, layout);
  if (!per) {
    return std::nullopt;
  }
  return std::move(*per);
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
  router::Inventory inv;
  if (!opts.declare.empty()) {
    std::vector<router::ProbedGpu> declared;
    for (const std::string& spec : opts.declare) {
      auto g = parse_declared(spec);
      if (!g) {
        err << "askd plan: " << g.error().message << '\n';
        return k_exit_usage;
      }
      for (std::size_t i = 0; i < declared.size(); ++i) {
        if (declared[i].pci == g->pci) {
          err << "askd plan: --gpu \"" << spec << "\" is the same device as --gpu \""
              << opts.declare[i] << "\" (" << config::to_string(g->api) << ' ' << g->index
              << ")\n";
          return k_exit_usage;
        }
      }
      declared.push_back(std::move(*g));
    }
    if (target->pins_from_config) {
      target->notes.push_back("the model's GPU pins are ignored: --gpu describes another "
                              "machine (pin there with --gpus gpu0,…)");
      target->req.pins.clear();
    }
    config::GpuConfig gpus = config.gpus;
    gpus.devices.clear(); // the command line describes the whole machine
    inv = router::merge(declared, gpus);
  } else {
    inv = router::probe(config.gpus, run, router::k_sysfs_drm, router::llama_binaries(config));
  }
  if (auto ok = add_other_devices(opts, config, target->spec.preset, run, inv, target->notes);
      !ok) {
    err << "askd plan: " << ok.error().message << '\n';
    return k_exit_usage;
  }
  if (!target->api_given) {
    target->req.api = default_api(inv, config.gpus);
  }
  // The backend decides whether host weights are copied into GPU compute buffers; the build,
  // which rules the estimate follows.
  target->in.api = target->req.api;
  target->in.build = preset_build(config, target->spec.preset, inv, run, target->notes);
  auto est = router::estimate(*model, target->in);
  if (!est) {
    err << "askd plan: " << target->model.string() << ": " << est.error().message << '\n';
    return k_exit_usage;
  }
  if (auto pins = check_pins(*target, inv, target->notes); !pins) {
    err << "askd plan: " << pins.error().message << '\n';
    return k_exit_usage;
  }
  const auto placed = router::place(*est, inv, target->req);
  PlanReport report{*model,        target->model, *est,         target->in,  inv,
                    target->req,   placed,        {},           {},          {},
                    target->notes, target->draft, target->spec, std::nullopt};
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
    report.layout = layout_of(*model, target->in, *placed);
  }
  if (opts.json) {
    out << plan_json(report).dump(2) << '\n';
  } else {
    print_plan(report, out);
  }
  return placed ? k_exit_ok : k_exit_failure;
}

} // namespace ask::proxy
