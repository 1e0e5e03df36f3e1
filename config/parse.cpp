// The top level and the smaller sections: listen, api_keys, backends, presets, tiers,
// aliases, groups, cache, history, telemetry. Models, councils and gpus have files of their
// own.

#include "config/parse.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "config/config.h"
#include "config/defaults.h"
#include "core/url.h"

namespace ask::config::detail {

namespace {

constexpr std::array<std::string_view, 16> k_root_keys{
    "listen",       "api_keys",  "max_request_body", "backends", "models", "tiers",
    "default_tier", "aliases",   "councils",         "presets",  "gpus",   "groups",
    "cache",        "telemetry", "server",           "history"};

void parse_listen(Context& ctx, const Json& root, Config& config) {
  if (const auto it = root.find("listen"); it != root.end()) {
    const auto text = read_string(ctx, *it, "listen");
    if (!text) {
      return;
    }
    auto address = parse_listen_address(*text);
    if (!address) {
      ctx.error("listen", address.error().message);
      return;
    }
    config.listen.host = address->first;
    config.listen.port = address->second;
  }
}

void parse_api_keys(Context& ctx, const Json& keys, Config& config) {
  if (!expect_array(ctx, keys, "api_keys")) {
    return;
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string path = path_index("api_keys", i);
    auto text = read_string(ctx, keys[i], path);
    if (!text) {
      continue;
    }
    ApiKey key;
    if (text->starts_with("env:")) {
      key.env_var = text->substr(4);
      if (!is_env_name(key.env_var)) {
        ctx.error(path,
                  fmt::format("\"env:{}\" does not name an environment variable", key.env_var));
        continue;
      }
      const auto value = ctx.env(key.env_var);
      if (!value || value->empty()) {
        ctx.error(path, fmt::format("environment variable {} is not set", key.env_var));
        continue;
      }
      key.value = *value;
    } else if (text->starts_with("file:")) {
      // A key file (a systemd credential, /run/secrets/...): read again on every load, so a
      // key rotated in the file is applied by SIGHUP. One line; its line break is not part
      // of the key.
      key.file = ctx.resolve_path(text->substr(5));
      std::ifstream in(key.file, std::ios::binary);
      std::string value;
      if (!in || !std::getline(in, value)) {
        ctx.error(path, fmt::format("cannot read the key file {}", key.file.string()));
        continue;
      }
      if (!value.empty() && value.back() == '\r') {
        value.pop_back();
      }
      if (value.empty()) {
        ctx.error(path, fmt::format("the key file {} is empty", key.file.string()));
        continue;
      }
      key.value = std::move(value);
    } else if (text->empty()) {
      ctx.error(path, "an API key cannot be empty");
      continue;
    } else {
      key.value = std::move(*text);
    }
    config.listen.api_keys.push_back(std::move(key));
  }
}

// "headers" and "api_key_env" of an ollama or openai backend.
void parse_backend_auth(Context& ctx, ObjectReader& r, Backend& b) {
  if (auto headers = r.string_map("headers")) {
    for (const auto& [header, header_value] : *headers) {
      const bool bad_name =
          header.empty() || !std::ranges::all_of(header, [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
          });
      if (bad_name || header_value.find_first_of("\r\n") != std::string::npos) {
        ctx.error(path_member(r.path_of("headers"), header),
                  "invalid header: names are letters, digits, '-' and '_', and values cannot "
                  "contain line breaks");
      }
    }
    b.headers = std::move(*headers);
  }
  if (auto env = r.string("api_key_env")) {
    if (!is_env_name(*env)) {
      ctx.error(r.path_of("api_key_env"),
                fmt::format("\"{}\" is not an environment variable name", *env));
    } else if (const auto v = ctx.env(*env); !v || v->empty()) {
      ctx.warning(r.path_of("api_key_env"),
                  fmt::format("environment variable {} is not set; requests to backend \"{}\" "
                              "go without an API key until askd is started with it",
                              *env, b.name));
    }
    b.api_key_env = std::move(*env);
  }
}

// The keys of a peer (kind askd), refused on other kinds.
void parse_peer(Context& ctx, ObjectReader& r, Backend& b) {
  if (!b.peer()) {
    for (std::string_view k : {"prefix", "peer_fallback", "refresh"}) {
      if (r.has(k)) {
        ctx.error(r.path_of(k), fmt::format("only askd backends (peers) take \"{}\"", k));
      }
    }
    return;
  }
  if (auto prefix = r.string("prefix")) {
    // Offered names are names like any other: no spaces or controls, and short.
    const bool valid = prefix->size() <= 64 && std::ranges::all_of(*prefix, [](char c) {
                         const auto u = static_cast<unsigned char>(c);
                         return u > 0x20 && u != 0x7f && c != ',' && c != '>' && c != '@';
                       });
    if (!valid) {
      ctx.error(r.path_of("prefix"),
                fmt::format("invalid prefix \"{}\": at most 64 characters, none of them a space, "
                            "a control character, ',', '>' or '@' (they separate the labels of "
                            "X-Fallback-Path and X-Served-By)",
                            *prefix));
    } else {
      b.prefix = std::move(*prefix);
    }
  }
  b.peer_fallback = r.boolean("peer_fallback").value_or(false);
  if (auto refresh = r.duration("refresh")) {
    const auto finite = refresh->finite();
    if (!finite || *finite < std::chrono::seconds(1)) {
      ctx.error(r.path_of("refresh"), "refresh must be at least 1s (and not forever)");
    } else {
      b.refresh = *refresh;
    }
  }
}

void parse_backend(Context& ctx, const std::string& name, const Json& value,
                   const std::string& path, Config& config) {
  static constexpr std::array<std::string_view, 12> k_keys{
      "kind",      "url",    "headers",     "api_key_env", "timeouts",      "max_concurrency",
      "max_queue", "preset", "description", "prefix",      "peer_fallback", "refresh"};
  static constexpr std::array<std::string_view, 4> k_kinds{"ollama", "openai", "llama-server",
                                                           "askd"};
  ObjectReader r(ctx, value, path, k_keys);
  if (!r.ok()) {
    return;
  }
  Backend b;
  b.name = name;
  r.require("kind");
  const auto kind = r.choice("kind", k_kinds);
  if (!kind) {
    return; // the rest depends on the kind
  }
  b.kind = *kind == "ollama"         ? BackendKind::ollama
           : *kind == "openai"       ? BackendKind::openai
           : *kind == "llama-server" ? BackendKind::llama_server
                                     : BackendKind::askd;
  if (b.managed()) {
    for (std::string_view k : {"url", "api_key_env", "headers"}) {
      if (r.has(k)) {
        ctx.error(r.path_of(k),
                  fmt::format("a llama-server backend is run by askd itself and takes no "
                              "\"{}\"; to reach a llama-server you run yourself, use kind "
                              "\"openai\"",
                              k));
      }
    }
  } else if (r.require("url")) {
    if (const auto url = r.string("url")) {
      b.url = parse_url(ctx, *url, r.path_of("url"));
    }
  }
  if (r.has("preset") && !b.managed()) {
    ctx.error(r.path_of("preset"), "only llama-server backends take a \"preset\"");
  } else if (auto preset = r.name("preset", "preset")) {
    b.preset = std::move(*preset);
  }
  if (!b.managed()) {
    parse_backend_auth(ctx, r, b);
  }
  parse_peer(ctx, r, b);
  if (const Json* t = r.find("timeouts")) {
    parse_timeouts(ctx, *t, r.path_of("timeouts"), b.timeouts);
  }
  b.max_concurrency = static_cast<int>(r.integer("max_concurrency", 0, k_int_max).value_or(0));
  b.max_queue =
      static_cast<int>(r.integer("max_queue", 0, k_int_max).value_or(k_default_max_queue));
  (void)r.string("description");
  config.backends.push_back(std::move(b));
}

void parse_tiers(Context& ctx, const Json& section, Config& config) {
  if (!expect_object(ctx, section, "tiers")) {
    return;
  }
  for (const auto& [flag, value] : section.items()) {
    const std::string path = path_member("tiers", flag);
    const bool valid = flag.size() >= 2 && flag.size() <= 64 &&
                       std::isalnum(static_cast<unsigned char>(flag[0])) &&
                       std::ranges::all_of(flag, [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                       });
    if (!valid) {
      ctx.error(path, fmt::format("invalid tier flag \"{}\": a tier becomes `ask --{}`, so it "
                                  "must be 2 to 64 of a-z, 0-9 and '-', not starting with '-'",
                                  flag, flag));
      continue;
    }
    if (std::ranges::find(k_reserved_tier_flags, flag) != k_reserved_tier_flags.end()) {
      ctx.error(path,
                fmt::format("tier flag \"{}\" would clash with ask's own option --{}", flag, flag));
      continue;
    }
    if (auto target = read_name(ctx, value, path, "model")) {
      config.tiers.push_back(Tier{flag, std::move(*target)});
    }
  }
}

void parse_aliases(Context& ctx, const Json& section, Config& config) {
  for_each_named(ctx, section, "aliases", "alias",
                 [&](const std::string& name, const Json& value, const std::string& path) {
                   if (auto target = read_name(ctx, value, path, "model")) {
                     config.aliases.push_back(Alias{name, *target, *target});
                   }
                 });
}

void parse_groups(Context& ctx, const Json& section, Config& config) {
  static constexpr std::array<std::string_view, 3> k_keys{"exclusive", "members", "description"};
  for_each_named(ctx, section, "groups", "group",
                 [&](const std::string& name, const Json& value, const std::string& path) {
                   ObjectReader r(ctx, value, path, k_keys);
                   if (!r.ok()) {
                     return;
                   }
                   Group g{name, r.boolean("exclusive").value_or(true), {}};
                   r.require("members");
                   g.members = r.strings("members").value_or(std::vector<std::string>{});
                   (void)r.string("description");
                   config.groups.push_back(std::move(g));
                 });
}

void parse_cache(Context& ctx, const Json* section, Config& config) {
  static constexpr std::array<std::string_view, 3> k_keys{"enabled", "path", "ttl"};
  CacheConfig& c = config.cache;
  c.path = ctx.xdg.ask_cache() / "cache.sqlite";
  if (section == nullptr) {
    return;
  }
  ObjectReader r(ctx, *section, "cache", k_keys);
  c.enabled = r.boolean("enabled").value_or(true);
  if (auto p = r.string("path")) {
    c.path = ctx.resolve_path(*p);
  }
  c.ttl = r.duration("ttl").value_or(c.ttl);
}

void parse_history(Context& ctx, const Json* section, Config& config) {
  static constexpr std::array<std::string_view, 2> k_keys{"enabled", "path"};
  HistoryConfig& h = config.history;
  h.path = ctx.xdg.ask_data() / "history.sqlite";
  if (section == nullptr) {
    return;
  }
  ObjectReader r(ctx, *section, "history", k_keys);
  h.enabled = r.boolean("enabled").value_or(true);
  if (auto p = r.string("path")) {
    h.path = ctx.resolve_path(*p);
  }
}

void parse_server(Context& ctx, const Json* section, Config& config) {
  static constexpr std::array<std::string_view, 8> k_keys{
      "head_timeout",    "body_timeout",
      "body_min_rate",   "idle_timeout",
      "max_connections", "max_connections_per_client",
      "max_body_buffer", "max_body_buffer_per_client"};
  if (section == nullptr) {
    return;
  }
  ServerConfig& s = config.server;
  ObjectReader r(ctx, *section, "server", k_keys);
  auto timeout = [&](std::string_view key, core::Duration& field) {
    const auto d = r.duration(key);
    if (d && (d->is_zero() || d->is_forever())) {
      ctx.error(r.path_of(key), "must be a finite time above 0: a client could otherwise hold a "
                                "connection for ever, or none could finish");
    } else if (d) {
      field = *d;
    }
  };
  auto positive_bytes = [&](std::string_view key, std::uint64_t& field) {
    const auto b = r.bytes(key);
    if (b && *b == 0) {
      ctx.error(r.path_of(key), "must be above 0");
    } else if (b) {
      field = *b;
    }
  };
  timeout("head_timeout", s.head_timeout);
  timeout("body_timeout", s.body_timeout);
  timeout("idle_timeout", s.idle_timeout);
  positive_bytes("body_min_rate", s.body_min_rate);
  positive_bytes("max_body_buffer", s.max_body_buffer);
  positive_bytes("max_body_buffer_per_client", s.max_body_buffer_per_client);
  s.max_connections = r.integer("max_connections", 1, 1'000'000).value_or(s.max_connections);
  s.max_connections_per_client =
      r.integer("max_connections_per_client", 1, 1'000'000).value_or(s.max_connections_per_client);
}

void parse_telemetry(Context& ctx, const Json* section, Config& config) {
  static constexpr std::array<std::string_view, 3> k_keys{"enabled", "ask_log", "askd_log"};
  TelemetryConfig& t = config.telemetry;
  t.ask_log = ctx.xdg.ask_data() / "log.jsonl";
  t.askd_log = ctx.xdg.ask_state() / "askd.jsonl";
  if (section == nullptr) {
    return;
  }
  ObjectReader r(ctx, *section, "telemetry", k_keys);
  t.enabled = r.boolean("enabled").value_or(true);
  if (auto p = r.string("ask_log")) {
    t.ask_log = ctx.resolve_path(*p);
  }
  if (auto p = r.string("askd_log")) {
    t.askd_log = ctx.resolve_path(*p);
  }
}

} // namespace

void parse_root(Context& ctx, const Json& root, Config& config) {
  ObjectReader r(ctx, root, "", k_root_keys);
  if (!r.ok()) {
    return;
  }
  parse_listen(ctx, root, config);
  if (const Json* keys = r.find("api_keys")) {
    parse_api_keys(ctx, *keys, config);
  }
  config.listen.max_request_body = r.bytes("max_request_body").value_or(32ull << 20);
  // Sections that others refer to come first; diagnostics are sorted by line afterwards.
  if (const Json* s = r.find("presets")) {
    parse_presets(ctx, *s, config);
  }
  if (const Json* s = r.find("gpus")) {
    parse_gpus(ctx, *s, config);
  }
  if (const Json* s = r.find("backends")) {
    for_each_named(ctx, *s, "backends", "backend",
                   [&](const std::string& name, const Json& value, const std::string& path) {
                     parse_backend(ctx, name, value, path, config);
                   });
  }
  if (const Json* s = r.find("models")) {
    parse_models(ctx, *s, config);
  }
  if (const Json* s = r.find("councils")) {
    parse_councils(ctx, *s, config);
  }
  if (const Json* s = r.find("tiers")) {
    parse_tiers(ctx, *s, config);
  }
  config.default_tier = r.string("default_tier").value_or("");
  if (const Json* s = r.find("aliases")) {
    parse_aliases(ctx, *s, config);
  }
  if (const Json* s = r.find("groups")) {
    parse_groups(ctx, *s, config);
  }
  parse_cache(ctx, r.object("cache"), config);
  parse_history(ctx, r.object("history"), config);
  parse_telemetry(ctx, r.object("telemetry"), config);
  parse_server(ctx, r.object("server"), config);
}

void parse_timeouts(Context& ctx, const Json& value, const std::string& path, Timeouts& out) {
  static constexpr std::array<std::string_view, 4> k_keys{"connect", "first_byte", "idle", "total"};
  ObjectReader r(ctx, value, path, k_keys);
  auto read = [&](std::string_view key, core::Duration& field) {
    const auto d = r.duration(key);
    if (d && d->is_zero()) {
      ctx.error(r.path_of(key), "a timeout of 0 would fail every request; write \"forever\" "
                                "for no limit");
    } else if (d) {
      field = *d;
    }
  };
  read("connect", out.connect);
  read("first_byte", out.first_byte);
  read("idle", out.idle);
  read("total", out.total);
}

std::optional<Url> parse_url(Context& ctx, const std::string& text, const std::string& path) {
  auto url = core::parse_http_url(text);
  if (!url) {
    std::string why = std::move(url.error().reason);
    if (url.error().problem == core::UrlProblem::user_info) {
      why += "; use \"headers\" or \"api_key_env\"";
    }
    ctx.error(path, fmt::format("invalid URL \"{}\": {}", text, why));
    return std::nullopt;
  }
  // Kept as written (a backend's path is sent as it is), but almost surely a mistake.
  if (core::ends_in_api_root(url->base_path)) {
    ctx.warning(path, "askd appends /v1/... itself; with this URL requests go to "
                      ".../v1/v1/chat/completions (remove the trailing /v1)");
  }
  return std::move(*url);
}

} // namespace ask::config::detail

namespace ask::config {

core::Result<std::pair<std::string, int>> parse_listen_address(std::string_view text) {
  auto address = core::parse_host_port(text, 0);
  if (!address) {
    return core::fail(core::Error::bad_request(
        fmt::format("invalid address \"{}\": expected host:port such as \"127.0.0.1:11436\" "
                    "or \"[::1]:11436\" (port 0 to 65535)",
                    text)));
  }
  return std::move(*address);
}

} // namespace ask::config
