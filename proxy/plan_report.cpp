#include "proxy/plan_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "router/server_args.h"

namespace ask::proxy {
namespace {

using router::human_bytes;

// "  label ............ value" with the value at column 34.
void row(std::ostream& out, const std::string& label, const std::string& value) {
  std::string line = "  " + label;
  line.resize(std::max<std::size_t>(line.size() + 1, 34), ' ');
  out << line << value << '\n';
}

std::string indices(const router::Gpu& g) {
  std::string s;
  for (const auto& [api, i] : g.index) {
    s += (s.empty() ? "" : ", ") + std::string(config::to_string(api)) + " " + std::to_string(i);
  }
  return s.empty() ? "no device index" : s;
}

// One memory setting of the plan: the config key, the value used, and whether that is
// llama-server's own default (nothing set it), with what the default is.
struct Setting {
  std::string key;
  std::string text;
  nlohmann::json value;
  bool is_default = false;
  std::string default_note = "llama-server default";
};

std::string on_off(bool on) {
  return on ? "on" : "off";
}

std::vector<Setting> settings_of(const config::ManagedSpec& s, const router::EstimateInput& in) {
  std::vector<Setting> out;
  out.push_back({"parallel", std::to_string(in.parallel), in.parallel, !s.parallel,
                 "llama-server default: auto"});
  out.push_back({"kv_unified", on_off(in.kv_unified), in.kv_unified, !s.kv_unified,
                 s.parallel ? "llama-server default when parallel is given"
                            : "llama-server default when parallel is auto"});
  const int ctx = s.ctx.value_or(0);
  out.push_back({"ctx", ctx == 0 ? "0: the model's own" : std::to_string(ctx), ctx, !s.ctx});
  out.push_back({"batch", std::to_string(in.n_batch), in.n_batch, !s.batch});
  out.push_back({"ubatch", std::to_string(in.n_ubatch), in.n_ubatch, !s.ubatch});
  const bool same = in.cache_type_k == in.cache_type_v;
  out.push_back({"kv_cache_type",
                 same ? in.cache_type_k : "k " + in.cache_type_k + ", v " + in.cache_type_v,
                 same ? nlohmann::json(in.cache_type_k)
                      : nlohmann::json{{"k", in.cache_type_k}, {"v", in.cache_type_v}},
                 in.cache_type_k == "f16" && in.cache_type_v == "f16"});
  const bool fa_auto = s.flash_attn == config::FlashAttn::automatic;
  out.push_back({"flash_attn",
                 fa_auto ? "auto, passed as on" : std::string(config::to_string(s.flash_attn)),
                 std::string(config::to_string(s.flash_attn)), fa_auto});
  out.push_back({"swa_full", on_off(in.swa_full), in.swa_full, !s.swa_full});
  out.push_back({"kv_offload", on_off(in.kv_offload), in.kv_offload, !s.kv_offload});
  out.push_back({"mmap", on_off(in.mmap), in.mmap, !s.mmap});
  out.push_back({"n_cpu_moe", std::to_string(in.n_cpu_moe), in.n_cpu_moe, !s.n_cpu_moe});
  std::string overrides;
  nlohmann::json list = nlohmann::json::array();
  for (const router::TensorOverride& o : in.overrides) {
    overrides += (overrides.empty() ? "" : ", ") + o.pattern + "=" + o.buffer_type;
    list.push_back(o.pattern + "=" + o.buffer_type);
  }
  out.push_back(
      {"override_tensors", overrides.empty() ? "none" : overrides, list, overrides.empty()});
  return out;
}

void print_settings(const PlanReport& r, std::ostream& out) {
  out << "\nsettings\n";
  for (const Setting& s : settings_of(r.spec, r.input)) {
    row(out, s.key, s.is_default ? s.text + " (" + s.default_note + ")" : s.text);
  }
}

void print_estimate(const PlanReport& r, std::ostream& out) {
  const router::Estimate& e = r.estimate;
  std::uint64_t weights = 0;
  std::uint64_t host_weights = 0;
  std::uint64_t kv = 0;
  std::uint64_t rs = 0;
  for (const router::LayerEstimate& l : e.layers) {
    weights += l.weights;
    host_weights += l.host_weights;
    kv += l.kv;
    rs += l.recurrent;
  }
  out << "model    " << r.path.string() << "\n         " << e.arch << ", " << e.layers.size()
      << " layers, " << r.model.parts.size() << " file" << (r.model.parts.size() == 1 ? "" : "s")
      << ", " << human_bytes(r.model.tensor_bytes()) << " of tensors\n";
  if (!r.draft.empty()) {
    out << "draft    " << r.draft.string() << "\n";
  }
  if (r.input.mtp) {
    out << "MTP      the model's " << e.n_layer_nextn << " MTP layer"
        << (e.n_layer_nextn == 1 ? " drafts" : "s draft") << " (--spec-type draft-mtp)\n";
  }
  out << "context  " << e.n_ctx << " tokens (";
  if (r.input.kv_unified) {
    out << "one cache shared by " << r.input.parallel << " slots";
  } else {
    out << e.n_ctx_seq << " per slot × " << r.input.parallel;
  }
  out << ")\n";
  print_settings(r, out);
  out << "\nestimate\n";
  row(out, "layer weights", human_bytes(weights));
  if (host_weights > 0) {
    row(out, "expert weights kept in host", human_bytes(host_weights));
  }
  row(out, "output weights", human_bytes(e.output_weights));
  row(out, "KV cache", human_bytes(kv));
  if (rs > 0) {
    row(out, "recurrent state", human_bytes(rs));
  }
  row(out, "compute, GPU with the output", human_bytes(e.compute_output));
  row(out, "compute, other GPUs", human_bytes(e.compute_layer));
  row(out, "compute, host beside GPUs", human_bytes(e.compute_host));
  row(out, "compute, layers in host memory",
      human_bytes(e.compute_partial) + " first GPU, " + human_bytes(e.compute_host_partial) +
          " host");
  row(out, "compute, host only", human_bytes(e.compute_cpu));
  if (e.margin > 0) {
    row(out, "margin in the compute figures",
        std::to_string(std::lround(e.margin * 100)) + "% (" + e.margin_reason + ")");
  }
  row(out, "overhead per GPU", human_bytes(e.gpu_overhead));
  if (e.draft > 0) {
    row(out, "draft model", human_bytes(e.draft));
  }
  if (r.input.mtp) {
    row(out, "MTP layers' weights", human_bytes(e.mtp_weights) + " (in layer weights)");
    row(out, "MTP context KV cache", human_bytes(e.mtp_kv) + " (in KV cache)");
    row(out, "MTP context compute", human_bytes(e.mtp_compute));
  }
  if (e.projector > 0) {
    row(out, "projector", human_bytes(e.projector));
  }
  row(out, "total on one GPU", human_bytes(e.single_gpu_bytes()));
  row(out, "host memory", human_bytes(e.host_bytes()) + " (input embeddings, buffers)");
  for (const std::string& n : e.notes) {
    out << "  note: " << n << '\n';
  }
  for (const std::string& n : r.notes) {
    out << "  note: " << n << '\n';
  }
}

void print_measured(const PlanReport& r, std::ostream& out) {
  if (!r.measured) {
    return;
  }
  out << "\nmeasured (startup log)\n";
  if (r.measured->devices.empty()) {
    out << "  no buffer sizes in the log\n";
  }
  for (const router::DeviceBuffers& d : r.measured->devices) {
    out << "  " << d.device << ": model " << human_bytes(d.model) << ", KV "
        << human_bytes(d.kv + d.recurrent) << ", compute " << human_bytes(d.compute)
        << ", output " << human_bytes(d.output) << '\n';
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "  measured / estimated: weights %.3f, KV %.3f, compute %.3f\n",
                r.correction.weights, r.correction.kv, r.correction.compute);
  out << buf;
}

void print_inventory(const router::Inventory& inv, std::ostream& out) {
  out << "\nGPUs\n";
  const auto of_kind = [&](router::DeviceKind kind) {
    std::vector<const router::Gpu*> list;
    for (const router::Gpu& g : inv.gpus) {
      if (g.kind == kind) {
        list.push_back(&g);
      }
    }
    return list;
  };
  if (of_kind(router::DeviceKind::gpu).empty()) {
    out << "  none found (declare them in the config's \"gpus\" or with --gpu)\n";
  }
  for (const router::Gpu* g : of_kind(router::DeviceKind::gpu)) {
    out << "  " << g->id << "  " << g->name << "  [" << indices(*g) << "]\n      "
        << (g->total_bytes > 0 ? human_bytes(g->total_bytes) + " total" : "memory unknown") << ", "
        << (g->free_bytes ? human_bytes(*g->free_bytes) + " free" : std::string("free unknown"))
        << ", usable " << human_bytes(g->usable_bytes())
        << (g->unified ? " (unified: its loads are charged to host memory too)" : "") << "\n";
  }
  if (const auto rpc = of_kind(router::DeviceKind::rpc); !rpc.empty()) {
    out << "\nrpc devices\n";
    for (const router::Gpu* g : rpc) {
      out << "  " << g->id << "  device " << g->rpc_device << " of " << g->endpoint
          << (g->name != g->endpoint ? "  (" + g->name + ")" : "") << "\n      ";
      if (g->free_bytes) { // reported by the server (gpus.rpc without memory)
        out << human_bytes(g->total_bytes) << " total, " << human_bytes(*g->free_bytes)
            << " free, usable " << human_bytes(g->usable_bytes()) << " (reported)\n";
      } else {
        out << "usable " << human_bytes(g->usable_bytes()) << " (declared)\n";
      }
    }
  }
  out << "\nhost memory\n";
  if (const router::Gpu* h = inv.host()) {
    out << "  " << human_bytes(h->total_bytes) << " total"
        << (h->free_bytes ? ", " + human_bytes(*h->free_bytes) + " available"
                          : std::string(" (declared)"))
        << ", usable " << human_bytes(h->usable_bytes()) << " (cap " << human_bytes(h->cap_bytes)
        << ", reserve " << human_bytes(h->reserve_bytes) << ")\n";
  } else {
    out << "  not checked\n";
  }
  for (const std::string& w : inv.warnings) {
    out << "  warning: " << w << '\n';
  }
}

// What crosses the network per token when rpc devices hold layers: the hidden state (n_embd
// f32 values) at each boundary between devices where one side is an rpc-server (twice between
// two servers: ggml copies through this host), and the logits back from a remote output.
struct Network {
  int crossings = 0;
  std::uint64_t hidden = 0; // bytes per token per crossing
  std::uint64_t logits = 0; // bytes per sampled token from a remote output device; 0 = local
};

std::optional<Network> network_of(const PlanReport& r, const router::Plan& p) {
  const bool remote =
      std::any_of(p.gpus.begin(), p.gpus.end(), [](const router::GpuShare& s) { return s.remote; });
  auto params = core::gguf::arch_params(r.model.first());
  if (!remote || !params) {
    return std::nullopt;
  }
  Network n;
  n.hidden = params->n_embd * 4;
  std::string at; // "" = this machine (the input embeddings are in host memory)
  for (const router::GpuShare& s : p.gpus) {
    const router::Gpu* g = r.inventory.find(s.gpu);
    const std::string next = s.remote && g != nullptr ? g->endpoint : "";
    n.crossings += at == next ? 0 : (at.empty() || next.empty() ? 1 : 2);
    at = next;
  }
  n.logits = at.empty() ? 0 : params->n_vocab * 4;
  return n;
}

// human_bytes, with KiB below a MiB (a hidden state is a few KiB).
std::string small_bytes(std::uint64_t bytes) {
  if (bytes >= 1024 * 1024) {
    return human_bytes(bytes);
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  return buf;
}

void print_network(const PlanReport& r, const router::Plan& p, std::ostream& out) {
  const auto n = network_of(r, p);
  if (!n) {
    return;
  }
  out << "  network: the hidden state (n_embd × 4 B = " << small_bytes(n->hidden)
      << ") crosses the network " << n->crossings << " time" << (n->crossings == 1 ? "" : "s")
      << " per token: " << small_bytes(n->hidden * n->crossings)
      << " per token generated or read (a 4096-token prompt: "
      << small_bytes(n->hidden * n->crossings * 4096) << ")";
  if (n->logits > 0) {
    out << ", and the logits (n_vocab × 4 B = " << small_bytes(n->logits)
        << " per sampled token) come back from the output device";
  }
  out << "; each crossing also waits a network round trip\n";
}

void print_layout(const PlanReport& r, std::ostream& out) {
  if (!r.layout) {
    return;
  }
  out << "\nexpected buffers (this split, as llama.cpp allocates them)\n";
  for (const router::DeviceMemory& d : *r.layout) {
    out << "  " << d.device << ": model " << human_bytes(d.weights) << ", KV "
        << human_bytes(d.kv + d.recurrent) << ", compute " << human_bytes(d.compute) << ", output "
        << human_bytes(d.output);
    if (d.mapped > 0) {
      out << ", mapped from the file " << human_bytes(d.mapped);
    }
    out << '\n';
  }
}

void print_placement(const PlanReport& r, std::ostream& out) {
  out << "\nplacement ("
      << config::to_string(r.placement ? r.placement->api : r.request.api) << ")\n";
  if (!r.placement) {
    const router::NoFit& nf = r.placement.error();
    out << "  does not fit: " << nf.reason << '\n';
    for (const router::Shortfall& s : nf.per_gpu) {
      out << "  " << s.gpu << "  needs " << human_bytes(s.needed) << ", usable "
          << human_bytes(s.available);
      if (s.needed > s.available) {
        out << ", short by " << human_bytes(s.needed - s.available);
      }
      out << '\n';
    }
    return;
  }
  const router::Plan& p = *r.placement;
  for (const router::GpuShare& s : p.gpus) {
    out << "  " << s.gpu << "  " << s.device << "  " << s.layers << " layers"
        << (s.output ? " + output" : "") << ", " << human_bytes(s.bytes) << " of "
        << human_bytes(s.available) << " usable\n";
  }
  out << "  host  " << p.host_layers << " layers, " << human_bytes(p.host_bytes);
  if (p.host_mapped > 0) {
    out << " (" << human_bytes(p.host_mapped) << " of it weights mapped from the file)";
  }
  if (const router::Gpu* h = r.inventory.host(); h != nullptr && !p.host.empty()) {
    out << "; charged " << human_bytes(p.host_charge) << " of " << human_bytes(h->usable_bytes())
        << " usable";
  }
  out << '\n';
  print_network(r, p, out);
  // One line to paste into a shell: the environment, then the command.
  std::vector<std::string> line;
  for (const auto& [k, v] : p.env) {
    line.push_back(k + '=' + v);
  }
  line.emplace_back("llama-server");
  line.insert(line.end(), r.command.begin(), r.command.end());
  out << '\n' << router::shell_quote(line) << '\n';
}

nlohmann::json estimate_json(const router::Estimate& e) {
  nlohmann::json layers = nlohmann::json::array();
  for (const router::LayerEstimate& l : e.layers) {
    layers.push_back({{"weights", l.weights},
                      {"host_weights", l.host_weights},
                      {"kv", l.kv},
                      {"recurrent", l.recurrent}});
  }
  return {{"arch", e.arch},
          {"n_ctx", e.n_ctx},
          {"n_ctx_seq", e.n_ctx_seq},
          {"layers", layers},
          {"input_weights", e.input_weights},
          {"output_weights", e.output_weights},
          {"compute_output", e.compute_output},
          {"compute_cpu", e.compute_cpu},
          {"compute_partial", e.compute_partial},
          {"compute_host_partial", e.compute_host_partial},
          {"margin", e.margin},
          {"margin_reason", e.margin_reason},
          {"compute_layer", e.compute_layer},
          {"compute_host", e.compute_host},
          {"output_buffer", e.output_buffer},
          {"gpu_overhead", e.gpu_overhead},
          {"draft", e.draft},
          {"n_layer_nextn", e.n_layer_nextn},
          {"mtp_weights", e.mtp_weights},
          {"mtp_kv", e.mtp_kv},
          {"mtp_compute", e.mtp_compute},
          {"projector", e.projector},
          {"single_gpu_bytes", e.single_gpu_bytes()},
          {"host_bytes", e.host_bytes()},
          {"notes", e.notes}};
}

// {"values": {key: value}, "defaults": [the keys at llama-server's default]}.
nlohmann::json settings_json(const PlanReport& r) {
  nlohmann::json values = nlohmann::json::object();
  nlohmann::json defaults = nlohmann::json::array();
  for (const Setting& s : settings_of(r.spec, r.input)) {
    values[s.key] = s.value;
    if (s.is_default) {
      defaults.push_back(s.key);
    }
  }
  return {{"values", values}, {"defaults", defaults}};
}

nlohmann::json gpus_json(const router::Inventory& inv) {
  nlohmann::json out = nlohmann::json::array();
  for (const router::Gpu& g : inv.gpus) {
    nlohmann::json index = nlohmann::json::object();
    for (const auto& [api, i] : g.index) {
      index[std::string(config::to_string(api))] = i;
    }
    if (g.kind == router::DeviceKind::host) {
      continue; // "host_memory"
    }
    nlohmann::json j = {{"id", g.id},
                        {"kind", router::to_string(g.kind)},
                        {"name", g.name},
                        {"pci", g.pci},
                        {"total", g.total_bytes},
                        {"free", g.free_bytes ? nlohmann::json(*g.free_bytes) : nlohmann::json()},
                        {"usable", g.usable_bytes()},
                        {"unified", g.unified},
                        {"index", index},
                        {"sources", g.sources}};
    if (g.kind == router::DeviceKind::rpc) {
      j["endpoint"] = g.endpoint;
      j["device"] = g.rpc_device;
    }
    out.push_back(std::move(j));
  }
  return out;
}

} // namespace

void print_plan(const PlanReport& r, std::ostream& out) {
  print_estimate(r, out);
  print_measured(r, out);
  print_inventory(r.inventory, out);
  print_layout(r, out);
  print_placement(r, out);
}

nlohmann::json host_json(const router::Inventory& inv) {
  const router::Gpu* h = inv.host();
  if (h == nullptr) {
    return nullptr;
  }
  return {{"total", h->total_bytes},
          {"free", h->free_bytes ? nlohmann::json(*h->free_bytes) : nlohmann::json()},
          {"cap", h->cap_bytes},
          {"reserve", h->reserve_bytes},
          {"usable", h->usable_bytes()},
          {"sources", h->sources}};
}

nlohmann::json plan_json(const PlanReport& r) {
  nlohmann::json j = {
      {"model", r.path.string()},
      {"estimate", estimate_json(r.estimate)},
      {"gpus", gpus_json(r.inventory)},
      {"host_memory", host_json(r.inventory)},
      {"warnings", r.inventory.warnings},
      {"notes", r.notes},
      {"draft", r.draft.empty() ? nlohmann::json() : nlohmann::json(r.draft.string())},
      {"mtp", r.input.mtp},
      {"settings", settings_json(r)},
      {"backend", config::to_string(r.placement ? r.placement->api : r.request.api)}};
  if (r.measured) {
    nlohmann::json devices = nlohmann::json::array();
    for (const router::DeviceBuffers& d : r.measured->devices) {
      devices.push_back({{"device", d.device}, {"model", d.model}, {"kv", d.kv},
                         {"recurrent", d.recurrent}, {"compute", d.compute}, {"output", d.output}});
    }
    j["measured"] = {{"devices", devices},
                     {"ratio", {{"weights", r.correction.weights},
                                {"kv", r.correction.kv},
                                {"compute", r.correction.compute}}}};
  }
  if (!r.placement) {
    const router::NoFit& nf = r.placement.error();
    nlohmann::json per = nlohmann::json::array();
    for (const router::Shortfall& s : nf.per_gpu) {
      per.push_back({{"gpu", s.gpu}, {"needed", s.needed}, {"available", s.available}});
    }
    j["fits"] = false;
    j["no_fit"] = {{"reason", nf.reason},
                   {"needed", nf.needed},
                   {"available", nf.available},
                   {"per_gpu", per}};
    return j;
  }
  const router::Plan& p = *r.placement;
  nlohmann::json shares = nlohmann::json::array();
  for (const router::GpuShare& s : p.gpus) {
    shares.push_back({{"gpu", s.gpu},
                      {"device", s.device},
                      {"device_index", s.device_index},
                      {"remote", s.remote},
                      {"layers", s.layers},
                      {"output", s.output},
                      {"bytes", s.bytes},
                      {"available", s.available}});
  }
  if (r.layout) {
    nlohmann::json layout = nlohmann::json::array();
    for (const router::DeviceMemory& d : *r.layout) {
      layout.push_back({{"device", d.device},
                        {"weights", d.weights},
                        {"kv", d.kv},
                        {"recurrent", d.recurrent},
                        {"compute", d.compute},
                        {"output", d.output},
                        {"mapped", d.mapped}});
    }
    j["layout"] = std::move(layout);
  }
  if (const auto n = network_of(r, p)) {
    j["network"] = {{"crossings_per_token", n->crossings},
                    {"hidden_state_bytes", n->hidden},
                    {"bytes_per_token", n->hidden * n->crossings},
                    {"logits_bytes_per_sampled_token", n->logits}};
  }
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [k, v] : p.env) {
    env[k] = v;
  }
  j["fits"] = true;
  j["plan"] = {
      {"gpus", shares},
      {"gpu_layers", p.gpu_layers},
      {"host_layers", p.host_layers},
      {"gpu_bytes", p.gpu_bytes},
      {"host_bytes", p.host_bytes},
      {"host_mapped_bytes", p.host_mapped},
      {"host_charged_bytes", p.host.empty() ? nlohmann::json() : nlohmann::json(p.host_charge)},
      {"rpc", p.rpc},
      {"args", r.command},
      {"env", env}};
  return j;
}

} // namespace ask::proxy
