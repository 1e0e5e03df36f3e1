// to_json: the resolved config, in the schema of the file, with secrets masked.

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "config/bytes.h"
#include "config/config.h"
#include "core/strings.h"

namespace ask::config {

namespace {

constexpr std::string_view k_redacted = "<redacted>";

bool looks_secret(std::string_view name) {
  const std::string lower = core::to_lower(name);
  for (std::string_view word : {"auth", "key", "token", "secret", "password", "cookie"}) {
    if (lower.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string mask_key(const ApiKey& key) {
  if (!key.env_var.empty()) {
    return "env:" + key.env_var;
  }
  if (!key.file.empty()) {
    return "file:" + key.file.string();
  }
  if (key.value.size() >= 16) {
    return "****" + key.value.substr(key.value.size() - 4);
  }
  return std::string(k_redacted);
}

Json string_map(const std::vector<std::pair<std::string, std::string>>& items) {
  Json out = Json::object();
  for (const auto& [name, value] : items) {
    out[name] = looks_secret(name) ? std::string(k_redacted) : value;
  }
  return out;
}

Json timeouts_json(const Timeouts& t) {
  return Json{{"connect", t.connect.to_string()},
              {"first_byte", t.first_byte.to_string()},
              {"idle", t.idle.to_string()},
              {"total", t.total.to_string()}};
}

Json backend_json(const Backend& b) {
  Json j = {{"kind", to_string(b.kind)}};
  if (b.url) {
    j["url"] = b.url->to_string();
  }
  if (!b.headers.empty()) {
    j["headers"] = string_map(b.headers);
  }
  if (!b.api_key_env.empty()) {
    j["api_key_env"] = b.api_key_env;
  }
  if (!b.preset.empty()) {
    j["preset"] = b.preset;
  }
  if (b.peer()) {
    j["prefix"] = b.prefix;
    j["peer_fallback"] = b.peer_fallback;
    j["refresh"] = b.refresh.to_string();
  }
  j["timeouts"] = timeouts_json(b.timeouts);
  j["max_concurrency"] = b.max_concurrency;
  j["max_queue"] = b.max_queue;
  return j;
}

void managed_json(const ManagedSpec& s, Json& j) {
  j["gguf"] = s.gguf.string();
  j["preset"] = s.preset;
  if (s.ctx) {
    j["ctx"] = *s.ctx;
  }
  if (s.parallel) { // unset: llama-server's automatic slots
    j["parallel"] = *s.parallel;
  }
  j["kv_cache_type"] = s.kv_cache_type.k == s.kv_cache_type.v
                           ? Json(s.kv_cache_type.k)
                           : Json{{"k", s.kv_cache_type.k}, {"v", s.kv_cache_type.v}};
  j["flash_attn"] = to_string(s.flash_attn);
  // Unset memory settings are llama-server's defaults and stay unset.
  const auto optional = [&j](std::string_view key, const auto& value) {
    if (value) {
      j[std::string(key)] = *value;
    }
  };
  optional("batch", s.batch);
  optional("ubatch", s.ubatch);
  optional("kv_unified", s.kv_unified);
  optional("swa_full", s.swa_full);
  optional("kv_offload", s.kv_offload);
  optional("mmap", s.mmap);
  Json overrides = Json::array();
  for (const TensorOverride& o : s.override_tensors) {
    overrides.push_back(o.pattern + "=" + o.buffer_type);
  }
  j["override_tensors"] = overrides;
  if (s.mmproj) {
    j["mmproj"] = s.mmproj->string();
  }
  if (s.draft_auto) {
    j["draft"] = "auto";
  } else if (s.draft) {
    j["draft"] = s.draft->string();
  }
  if (s.mtp) {
    j["mtp"] = true;
  }
  j["gpus"] = s.gpus;
  j["max_replicas"] = s.max_replicas;
  j["pinned"] = s.pinned;
  j["preload"] = s.preload;
  j["allow_partial_offload"] = s.allow_partial_offload;
  if (s.n_gpu_layers) {
    j["n_gpu_layers"] = *s.n_gpu_layers;
  }
  if (s.n_cpu_moe) {
    j["n_cpu_moe"] = *s.n_cpu_moe;
  }
  j["extra_args"] = s.extra_args;
  j["load_timeout"] = s.load_timeout.to_string();
  if (s.drain_wait) {
    j["drain_wait"] = s.drain_wait->to_string();
  }
}

Json model_json(const Model& m) {
  Json j = {{"backend", m.backend}, {"upstream", m.upstream}};
  if (!m.family.empty()) {
    j["family"] = m.family;
  }
  if (!m.description.empty()) {
    j["description"] = m.description;
  }
  if (m.keep_alive) {
    j["keep_alive"] = m.keep_alive->to_string();
  }
  j["fallbacks"] = m.fallbacks;
  j["params"] = Json(m.params);
  if (m.context_length) {
    j["context_length"] = *m.context_length;
  }
  j["timeouts"] = timeouts_json(m.timeouts);
  j["max_concurrency"] = m.max_concurrency;
  j["max_queue"] = m.max_queue;
  j["capabilities"] = m.capabilities;
  if (m.managed) {
    managed_json(*m.managed, j);
  }
  return j;
}

Json council_json(const Council& c) {
  Json members = Json::array();
  for (const CouncilMember& m : c.members) {
    Json member = {{"model", m.model}};
    if (m.temperature) {
      member["temperature"] = *m.temperature;
    }
    member["label"] = m.label;
    members.push_back(std::move(member));
  }
  Json j = Json::object();
  if (!c.description.empty()) {
    j["description"] = c.description;
  }
  j["members"] = std::move(members);
  j["chairman"] = c.chairman;
  if (c.chairman_temperature) {
    j["chairman_temperature"] = *c.chairman_temperature;
  }
  j["prompts"] = Json{{"member", c.prompts.member},
                      {"ranking", c.prompts.ranking},
                      {"chairman", c.prompts.chairman}};
  j["peer_review"] = c.peer_review;
  j["shuffle"] = c.shuffle;
  return j;
}

Json gpu_json(const GpuSpec& g) {
  Json j = {{"id", g.id}, {"name", g.name}, {"vendor", to_string(g.vendor)}};
  if (g.vram) {
    j["vram"] = format_bytes(*g.vram);
  }
  if (g.cap.bytes) {
    j["cap"] = format_bytes(*g.cap.bytes);
  } else if (g.cap.fraction) {
    j["cap"] = fmt::format("{:g}%", *g.cap.fraction * 100);
  }
  j["reserve"] = format_bytes(g.reserve);
  if (!g.pci.empty()) {
    j["pci"] = g.pci;
  }
  j["display"] = g.display;
  Json index = Json::object();
  for (const auto& [api, i] : g.backend_index) {
    index[std::string(to_string(api))] = i;
  }
  j["backend_index"] = std::move(index);
  if (g.unified) {
    j["unified"] = *g.unified;
  }
  return j;
}

Json cap_json(const GpuCap& cap) {
  if (cap.bytes) {
    return format_bytes(*cap.bytes);
  }
  if (cap.fraction) {
    return fmt::format("{:g}%", *cap.fraction * 100);
  }
  return nullptr;
}

template <class T, class F> Json named(const std::vector<T>& items, F&& to) {
  Json out = Json::object();
  for (const T& item : items) {
    out[item.name] = to(item);
  }
  return out;
}

Json sections_json(const Config& c) {
  Json j = Json::object();
  j["backends"] = named(c.backends, backend_json);
  j["models"] = named(c.models, model_json);
  Json tiers = Json::object();
  for (const Tier& t : c.tiers) {
    tiers[t.flag] = t.target;
  }
  j["tiers"] = std::move(tiers);
  if (!c.default_tier.empty()) {
    j["default_tier"] = c.default_tier;
  }
  j["aliases"] = named(c.aliases, [](const Alias& a) { return a.target; });
  j["councils"] = named(c.councils, council_json);
  j["presets"] = named(c.presets, [](const Preset& p) {
    return Json{{"binary", p.binary.string()},
                {"backend", to_string(p.api)},
                {"args", p.args},
                {"env", string_map(p.env)}};
  });
  Json devices = Json::array();
  for (const GpuSpec& g : c.gpus.devices) {
    devices.push_back(gpu_json(g));
  }
  const HostSpec& h = c.gpus.host;
  // No "memory": read from /proc/meminfo.
  Json host = {{"cap", h.cap.bytes || h.cap.fraction
                           ? cap_json(h.cap)
                           : Json(fmt::format("{:g}%", k_host_default_cap * 100))},
               {"reserve", format_bytes(h.reserve)}};
  if (h.memory) {
    host["memory"] = format_bytes(*h.memory);
  }
  Json rpc = Json::array();
  for (const RpcSpec& d : c.gpus.rpc) {
    Json entry = {{"id", d.id}, {"name", d.name}, {"endpoint", d.endpoint}, {"device", d.device}};
    if (d.memory) { // none: asked of the server
      entry["memory"] = format_bytes(*d.memory);
    }
    rpc.push_back(std::move(entry));
  }
  j["gpus"] = Json{{"probe", c.gpus.probe},
                   {"reserve", format_bytes(c.gpus.reserve)},
                   {"devices", std::move(devices)},
                   {"host", std::move(host)},
                   {"rpc", std::move(rpc)}};
  j["groups"] = named(c.groups, [](const Group& g) {
    return Json{{"exclusive", g.exclusive}, {"members", g.members}};
  });
  return j;
}

} // namespace

Json to_json(const Config& config) {
  Json j = Json::object();
  j["listen"] = config.listen.to_string();
  Json keys = Json::array();
  for (const ApiKey& key : config.listen.api_keys) {
    keys.push_back(mask_key(key));
  }
  j["api_keys"] = std::move(keys);
  j["max_request_body"] = format_bytes(config.listen.max_request_body);
  Json sections = sections_json(config);
  for (auto& [key, value] : sections.items()) {
    j[key] = std::move(value);
  }
  j["cache"] = Json{{"enabled", config.cache.enabled},
                    {"path", config.cache.path.string()},
                    {"ttl", config.cache.ttl.to_string()}};
  j["history"] = Json{{"enabled", config.history.enabled}, {"path", config.history.path.string()}};
  const ServerConfig& server = config.server;
  j["server"] = Json{{"head_timeout", server.head_timeout.to_string()},
                     {"body_timeout", server.body_timeout.to_string()},
                     {"body_min_rate", format_bytes(server.body_min_rate)},
                     {"idle_timeout", server.idle_timeout.to_string()},
                     {"max_connections", server.max_connections},
                     {"max_connections_per_client", server.max_connections_per_client},
                     {"max_body_buffer", format_bytes(server.max_body_buffer)},
                     {"max_body_buffer_per_client", format_bytes(server.max_body_buffer_per_client)}};
  j["telemetry"] = Json{{"enabled", config.telemetry.enabled},
                        {"ask_log", config.telemetry.ask_log.string()},
                        {"askd_log", config.telemetry.askd_log.string()}};
  return j;
}

} // namespace ask::config
