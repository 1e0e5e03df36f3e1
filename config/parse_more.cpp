// The "councils", "presets" and "gpus" sections.

#include <algorithm>
#include <cctype>
#include <charconv>

#include <unistd.h>

#include <fmt/format.h>

#include "config/bytes.h"
#include "config/council_prompts.h"
#include "config/llama_args.h"
#include "config/parse.h"
#include "config/suggest.h"
#include "core/strings.h"

namespace ask::config::detail {

namespace {

void parse_prompt(Context& ctx, ObjectReader& r, PromptKind kind, std::string& out) {
  const std::string key(to_string(kind));
  auto text = r.string(key);
  if (!text) {
    out = default_prompt(kind);
    return;
  }
  const std::string path = r.path_of(key);
  const PlaceholderScan scan = scan_placeholders(*text);
  if (!scan.error.empty()) {
    ctx.error(path, scan.error);
    return;
  }
  const auto allowed = allowed_placeholders(kind);
  bool ok = true;
  for (const std::string& name : scan.names) {
    if (std::ranges::find(allowed, name) == allowed.end()) {
      ctx.error(path, fmt::format("unknown placeholder {{{{{}}}}}{}; a {} prompt may use {}", name,
                                  did_you_mean(name, allowed), key,
                                  "{{" + join_names(allowed, "}}, {{") + "}}"));
      ok = false;
    }
  }
  for (std::string_view name : required_placeholders(kind)) {
    if (std::ranges::find(scan.names, name) == scan.names.end()) {
      ctx.error(path, fmt::format("a {} prompt must contain {{{{{}}}}}", key, name));
      ok = false;
    }
  }
  out = ok ? std::move(*text) : std::string(default_prompt(kind));
}

void parse_member(Context& ctx, const Json& value, const std::string& path, Council& c) {
  static constexpr std::array<std::string_view, 3> k_keys{"model", "temperature", "label"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok()) {
    return;
  }
  r.require("model");
  CouncilMember m;
  m.model = r.name("model", "model").value_or("");
  m.temperature = r.number("temperature", 0, 2);
  m.label = r.string("label").value_or(m.model);
  c.members.push_back(std::move(m));
}

void parse_council(Context& ctx, const std::string& name, const Json& value,
                   const std::string& path, Config& config) {
  static constexpr std::array<std::string_view, 7> k_keys{
      "description", "members",     "chairman", "chairman_temperature",
      "prompts",     "peer_review", "shuffle"};
  static constexpr std::array<std::string_view, 3> k_prompt_keys{"member", "ranking", "chairman"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok()) {
    return;
  }
  Council c;
  c.name = name;
  c.description = r.string("description").value_or("");
  r.require("members");
  if (const Json* members = r.array("members")) {
    if (members->empty()) {
      ctx.error(r.path_of("members"), "a council needs at least one member");
    }
    for (std::size_t i = 0; i < members->size(); ++i) {
      parse_member(ctx, (*members)[i], path_index(r.path_of("members"), i), c);
    }
  }
  r.require("chairman");
  c.chairman = r.name("chairman", "model").value_or("");
  c.chairman_temperature = r.number("chairman_temperature", 0, 2);
  const Json empty = Json::object();
  const Json* prompts = r.object("prompts");
  ObjectReader p(ctx, prompts ? *prompts : empty, r.path_of("prompts"), k_prompt_keys);
  parse_prompt(ctx, p, PromptKind::member, c.prompts.member);
  parse_prompt(ctx, p, PromptKind::ranking, c.prompts.ranking);
  parse_prompt(ctx, p, PromptKind::chairman, c.prompts.chairman);
  c.peer_review = r.boolean("peer_review").value_or(false);
  c.shuffle = r.boolean("shuffle").value_or(true);
  config.councils.push_back(std::move(c));
}

// A preset's args and env go to every model of the preset, so they may not set what askd
// counts per model (a memory setting: set it on the models) nor what it decides itself.
void check_preset_args(Context& ctx, const Preset& p, const std::string& args_path,
                       const std::string& env_path) {
  const ParsedLlamaArgs parsed = parse_llama_args(p.args);
  for (const ArgProblem& problem : parsed.problems) {
    ctx.error(path_index(args_path, problem.index), problem.message);
  }
  for (const LlamaArg& a : parsed.given) {
    ctx.error(path_index(args_path, a.index),
              fmt::format("\"{}\" sets \"{}\", which askd counts per model: set it on each "
                          "model of this preset (\"{}\" or its extra_args)",
                          p.args[a.index], config_key(a.setting), config_key(a.setting)));
  }
  // llama-server reads LLAMA_ARG_* variables for flags its command line lacks.
  for (const auto& [var, value] : p.env) {
    const auto flag = llama_env_flag(var);
    if (!flag) {
      continue;
    }
    std::vector<std::string> as_args{std::string(*flag)};
    if (llama_flag_values(*flag) > 0) {
      as_args.push_back(value);
    }
    const ParsedLlamaArgs read = parse_llama_args(as_args);
    std::string why = "askd decides it";
    if (!read.problems.empty()) {
      why = read.problems.front().message;
    } else if (!read.given.empty()) {
      why = fmt::format("a memory setting askd counts per model; set \"{}\" on each model of "
                        "this preset instead",
                        config_key(read.given.front().setting));
    }
    ctx.error(path_member(env_path, var),
              fmt::format("llama-server reads {} as {}: {}", var, *flag, why));
  }
}

void parse_preset(Context& ctx, const std::string& name, const Json& value, const std::string& path,
                  Config& config) {
  static constexpr std::array<std::string_view, 5> k_keys{"binary", "backend", "args", "env",
                                                          "description"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok()) {
    return;
  }
  Preset p;
  p.name = name;
  r.require("binary");
  if (auto binary = r.string("binary")) {
    if (binary->find('/') == std::string::npos && !binary->starts_with('~')) {
      p.binary = *binary; // a bare name: looked up on PATH when askd starts it
    } else {
      p.binary = ctx.resolve_path(*binary);
      if (::access(p.binary.c_str(), X_OK) != 0) {
        ctx.warning(r.path_of("binary"),
                    fmt::format("{} is not an executable file (yet)", p.binary.string()));
      }
    }
  }
  r.require("backend");
  if (auto api = r.choice("backend", k_gpu_api_names)) {
    p.api = gpu_api_from(*api);
  }
  p.args = r.strings("args").value_or(std::vector<std::string>{});
  if (auto env = r.string_map("env")) {
    for (const auto& [var, v] : *env) {
      if (!is_env_name(var)) {
        ctx.error(path_member(r.path_of("env"), var),
                  fmt::format("\"{}\" is not an environment variable name", var));
      }
    }
    p.env = std::move(*env);
  }
  check_preset_args(ctx, p, r.path_of("args"), r.path_of("env"));
  (void)r.string("description");
  config.presets.push_back(std::move(p));
}

// The smallest host or rpc memory taken: a bare number is bytes, and "memory": 32 is a typo.
constexpr std::uint64_t k_min_host_memory = 256ull << 20;

std::optional<GpuCap> read_cap(Context& ctx, const Json& v, const std::string& path) {
  if (v.is_string() && v.get_ref<const std::string&>().ends_with('%')) {
    const std::string& s = v.get_ref<const std::string&>();
    double pct = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size() - 1, pct);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size() - 1 || !(pct > 0 && pct <= 100)) {
      ctx.error(path, fmt::format("invalid percentage \"{}\": expected more than 0% and at "
                                  "most 100%",
                                  s));
      return std::nullopt;
    }
    return GpuCap{std::nullopt, pct / 100.0};
  }
  auto bytes = read_bytes(ctx, v, path);
  return bytes ? std::optional(GpuCap{*bytes, std::nullopt}) : std::nullopt;
}

bool is_pci_address(std::string_view s) {
  // "0000:01:00.0": domain:bus:device.function, hex digits
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') {
    return false;
  }
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11}) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

// Each API's device index belongs to one card: claimed twice (two entries, or "hip" and
// "rocm" in one), askd would place two models on one card as if it were two.
void parse_backend_index(Context& ctx, const Json& v, const std::string& path, const Config& config,
                         GpuSpec& g) {
  if (!expect_object(ctx, v, path)) {
    return;
  }
  for (const auto& [api, index] : v.items()) {
    const std::string p = path_member(path, api);
    if (std::ranges::find(k_gpu_api_names, api) == k_gpu_api_names.end()) {
      ctx.error(p, fmt::format("unknown GPU API \"{}\"{}; expected one of: {}", api,
                               did_you_mean(api, k_gpu_api_names), join_names(k_gpu_api_names)));
    } else if (auto i = read_int(ctx, index, p, 0, 255)) {
      const std::pair entry{gpu_api_from(api), static_cast<int>(*i)};
      const auto claimed = [&](const GpuSpec& other) {
        return std::ranges::find(other.backend_index, entry) != other.backend_index.end();
      };
      const auto owner = std::ranges::find_if(config.gpus.devices, claimed);
      if (owner != config.gpus.devices.end() || claimed(g)) {
        ctx.error(p, fmt::format("{} device {} is already GPU \"{}\"", to_string(entry.first),
                                 entry.second,
                                 owner != config.gpus.devices.end() ? owner->id : g.id));
      }
      g.backend_index.push_back(entry);
    }
  }
}

void check_device_sizes(Context& ctx, const ObjectReader& r, const GpuSpec& g) {
  if (!g.vram) {
    return;
  }
  if (g.cap.bytes && *g.cap.bytes > *g.vram) {
    ctx.error(r.path_of("cap"), fmt::format("cap {} is more than the device's vram {}",
                                            format_bytes(*g.cap.bytes), format_bytes(*g.vram)));
  }
  if (g.reserve >= *g.vram) {
    ctx.error(r.path_of(r.has("reserve") ? "reserve" : "vram"),
              fmt::format("reserve {} leaves nothing of vram {}", format_bytes(g.reserve),
                          format_bytes(*g.vram)));
  }
}

// One card, one entry: a PCI address claimed twice would make askd place two models on one
// card as if it were two.
void check_device_identity(Context& ctx, const ObjectReader& r, const Config& config,
                           const GpuSpec& g) {
  for (const GpuSpec& other : config.gpus.devices) {
    if (!g.pci.empty() && g.pci == other.pci) {
      ctx.error(r.path_of("pci"), fmt::format("PCI address \"{}\" is already GPU \"{}\"", g.pci,
                                              other.id));
    }
  }
  if (config.gpus.probe && g.pci.empty() && g.backend_index.empty()) {
    ctx.warning(r.path_of("id"),
                fmt::format("GPU \"{}\" has neither \"pci\" nor \"backend_index\": it matches no "
                            "probed card and has no device index, so nothing is placed on it",
                            g.id));
  }
}

// The id of the host-memory device in the inventory: no GPU or rpc device may take it.
constexpr std::string_view k_host_id = "host";

// An id of gpus.devices or gpus.rpc: unique across both, never "host".
void check_device_id(Context& ctx, const std::string& path, const std::string& id,
                     const Config& config) {
  if (id.empty()) {
    return;
  }
  if (id == k_host_id) {
    ctx.error(path, "\"host\" is the id of host memory (gpus.host); give this device another");
  } else if (config.find_gpu(id) != nullptr) {
    ctx.error(path, fmt::format("GPU id \"{}\" is used twice", id));
  } else if (config.find_rpc(id) != nullptr) {
    ctx.error(path, fmt::format("id \"{}\" is already an rpc device", id));
  }
}

void parse_device(Context& ctx, const Json& value, const std::string& path, Config& config) {
  static constexpr std::array<std::string_view, 10> k_keys{
      "id",      "name", "vendor",  "vram",          "cap",
      "reserve", "pci",  "display", "backend_index", "unified"};
  static constexpr std::array<std::string_view, 5> k_vendors{"nvidia", "amd", "intel", "apple",
                                                             "other"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok() || !r.require("id")) {
    return;
  }
  GpuSpec g;
  g.id = r.name("id", "GPU").value_or("");
  check_device_id(ctx, r.path_of("id"), g.id, config);
  g.name = r.string("name").value_or(g.id);
  if (auto v = r.choice("vendor", k_vendors)) {
    g.vendor = static_cast<GpuVendor>(std::ranges::find(k_vendors, *v) - k_vendors.begin());
  }
  g.vram = r.bytes("vram");
  if (!config.gpus.probe && !r.has("vram")) {
    ctx.error(path, "missing required key \"vram\" (gpus.probe is false, so askd cannot ask "
                    "the driver)");
  }
  if (const Json* cap = r.find("cap")) {
    g.cap = read_cap(ctx, *cap, r.path_of("cap")).value_or(GpuCap{});
  }
  g.reserve = r.bytes("reserve").value_or(config.gpus.reserve);
  if (auto pci = r.string("pci")) {
    *pci = core::to_lower(*pci);
    if (!is_pci_address(*pci)) {
      ctx.error(r.path_of("pci"), fmt::format("invalid PCI address \"{}\": expected "
                                              "domain:bus:device.function such as "
                                              "\"0000:01:00.0\"",
                                              *pci));
    }
    g.pci = std::move(*pci);
  }
  g.display = r.boolean("display").value_or(false);
  g.unified = r.boolean("unified");
  if (const Json* bi = r.find("backend_index")) {
    parse_backend_index(ctx, *bi, r.path_of("backend_index"), config, g);
  }
  check_device_sizes(ctx, r, g);
  check_device_identity(ctx, r, config, g);
  config.gpus.devices.push_back(std::move(g));
}

void parse_host(Context& ctx, const Json& value, const std::string& path, Config& config) {
  static constexpr std::array<std::string_view, 3> k_keys{"memory", "cap", "reserve"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok()) {
    return;
  }
  HostSpec& h = config.gpus.host;
  h.memory = r.bytes("memory");
  if (h.memory && *h.memory < k_min_host_memory) {
    ctx.error(r.path_of("memory"),
              fmt::format("memory {} is less than {}: give a unit, e.g. "
                          "\"32GiB\"",
                          format_bytes(*h.memory), format_bytes(k_min_host_memory)));
  }
  if (const Json* cap = r.find("cap")) {
    h.cap = read_cap(ctx, *cap, r.path_of("cap")).value_or(GpuCap{});
  }
  h.reserve = r.bytes("reserve").value_or(h.reserve);
  if (!h.memory) {
    return;
  }
  if (h.cap.bytes && *h.cap.bytes > *h.memory) {
    ctx.error(r.path_of("cap"), fmt::format("cap {} is more than the host's memory {}",
                                            format_bytes(*h.cap.bytes), format_bytes(*h.memory)));
  }
  if (h.reserve >= *h.memory) {
    ctx.error(r.path_of(r.has("reserve") ? "reserve" : "memory"),
              fmt::format("reserve {} leaves nothing of memory {}", format_bytes(h.reserve),
                          format_bytes(*h.memory)));
  }
}

void parse_rpc(Context& ctx, const Json& value, const std::string& path, Config& config) {
  static constexpr std::array<std::string_view, 5> k_keys{"id", "name", "endpoint", "device",
                                                          "memory"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok()) {
    return;
  }
  const bool has_id = r.require("id");
  const bool has_endpoint = r.require("endpoint");
  RpcSpec d;
  d.id = has_id ? r.name("id", "rpc device").value_or("") : "";
  check_device_id(ctx, r.path_of("id"), d.id, config);
  d.endpoint = has_endpoint ? r.string("endpoint").value_or("") : "";
  if (has_endpoint && !d.endpoint.empty()) {
    if (const std::string why = rpc_endpoint_error(d.endpoint); !why.empty()) {
      ctx.error(r.path_of("endpoint"), fmt::format("invalid endpoint \"{}\": {}", d.endpoint, why));
    }
  }
  d.name = r.string("name").value_or(d.endpoint);
  d.device = static_cast<int>(r.integer("device", 0, 255).value_or(0));
  for (const RpcSpec& other : config.gpus.rpc) {
    if (other.endpoint == d.endpoint && other.device == d.device && !d.endpoint.empty()) {
      ctx.error(r.has("device") ? r.path_of("device") : r.path_of("endpoint"),
                fmt::format("device {} of {} is already rpc device \"{}\"", d.device, d.endpoint,
                            other.id));
    }
  }
  d.memory = r.bytes("memory"); // none: asked of the server at start
  if (d.memory && *d.memory < k_min_host_memory) {
    ctx.error(r.path_of("memory"),
              fmt::format("memory {} is less than {}: give a unit, e.g. "
                          "\"24GiB\"",
                          format_bytes(*d.memory), format_bytes(k_min_host_memory)));
  }
  config.gpus.rpc.push_back(std::move(d));
}

// llama-server numbers rpc devices across servers in --rpc order, each server's in its own
// order: askd can name them only when each server's devices are listed from 0 without a gap.
void check_rpc_numbering(Context& ctx, const Config& config) {
  for (std::size_t i = 0; i < config.gpus.rpc.size(); ++i) {
    const RpcSpec& d = config.gpus.rpc[i];
    for (int n = 0; n < d.device; ++n) {
      const bool listed = std::ranges::any_of(config.gpus.rpc, [&](const RpcSpec& o) {
        return o.endpoint == d.endpoint && o.device == n;
      });
      if (!listed) {
        ctx.error(path_member(path_index("gpus.rpc", i), "device"),
                  fmt::format("device {} of {} is listed but not device {}: list every device "
                              "of a server from 0 (llama-server numbers them across servers)",
                              d.device, d.endpoint, n));
        break;
      }
    }
  }
}

} // namespace

GpuApi gpu_api_from(std::string_view name) {
  if (name == "cuda") {
    return GpuApi::cuda;
  }
  if (name == "rocm" || name == "hip") {
    return GpuApi::rocm;
  }
  if (name == "vulkan") {
    return GpuApi::vulkan;
  }
  if (name == "sycl") {
    return GpuApi::sycl;
  }
  if (name == "metal") {
    return GpuApi::metal;
  }
  return GpuApi::cpu;
}

void parse_councils(Context& ctx, const Json& section, Config& config) {
  for_each_named(ctx, section, "councils", "council",
                 [&](const std::string& name, const Json& value, const std::string& path) {
                   parse_council(ctx, name, value, path, config);
                 });
}

void parse_presets(Context& ctx, const Json& section, Config& config) {
  for_each_named(ctx, section, "presets", "preset",
                 [&](const std::string& name, const Json& value, const std::string& path) {
                   parse_preset(ctx, name, value, path, config);
                 });
}

void parse_gpus(Context& ctx, const Json& section, Config& config) {
  static constexpr std::array<std::string_view, 5> k_keys{"probe", "reserve", "devices", "host",
                                                          "rpc"};
  ObjectReader r(ctx, section, "gpus", k_keys);
  if (!r.ok()) {
    return;
  }
  config.gpus.probe = r.boolean("probe").value_or(true);
  config.gpus.reserve = r.bytes("reserve").value_or(config.gpus.reserve);
  if (const Json* devices = r.array("devices")) {
    for (std::size_t i = 0; i < devices->size(); ++i) {
      parse_device(ctx, (*devices)[i], path_index("gpus.devices", i), config);
    }
  }
  if (const Json* host = r.object("host")) {
    parse_host(ctx, *host, "gpus.host", config);
  }
  if (const Json* rpc = r.array("rpc")) {
    for (std::size_t i = 0; i < rpc->size(); ++i) {
      parse_rpc(ctx, (*rpc)[i], path_index("gpus.rpc", i), config);
    }
    check_rpc_numbering(ctx, config);
  }
}

} // namespace ask::config::detail
