// The checks that run once names are resolved: the default tier, groups, the listen
// address, and the warnings about fallback chains that stay on one runtime and model family.

#include <algorithm>

#include <fmt/format.h>

#include "config/bytes.h"
#include "config/config.h"
#include "config/parse.h"
#include "config/suggest.h"

namespace ask::config::detail {

namespace {

void check_default_tier(Context& ctx, Config& config) {
  std::vector<std::string> flags;
  for (const Tier& t : config.tiers) {
    flags.push_back(t.flag);
  }
  if (config.default_tier.empty()) {
    if (config.find_tier("9b") != nullptr) {
      config.default_tier = "9b";
    }
    return;
  }
  if (config.find_tier(config.default_tier) == nullptr) {
    ctx.error("default_tier",
              flags.empty()
                  ? fmt::format("unknown tier \"{}\": no tiers are defined", config.default_tier)
                  : fmt::format("unknown tier \"{}\"{}; tiers: {}", config.default_tier,
                                did_you_mean(config.default_tier, flags), join_names(flags)));
  }
}

void check_groups(Context& ctx, Config& config) {
  for (Group& g : config.groups) {
    const std::string path = path_member("groups", g.name);
    std::erase(g.members, std::string());
    std::vector<std::string> seen;
    int resident = 0;
    for (const std::string& name : g.members) {
      if (std::ranges::find(seen, name) != seen.end()) {
        ctx.error(path_member(path, "members"), fmt::format("\"{}\" is listed twice", name));
      }
      seen.push_back(name);
      const Model* m = config.find_model(name);
      if (m != nullptr && m->managed && (m->managed->pinned || m->managed->preload)) {
        ++resident;
      }
    }
    if (g.exclusive && resident > 1) {
      ctx.warning(path, fmt::format("{} members are pinned or preloaded, but an exclusive "
                                    "group holds only one loaded model at a time",
                                    resident));
    }
  }
}

// A request as large as max_request_body must fit what one client may buffer.
void check_server(Context& ctx, const Config& config) {
  const ServerConfig& s = config.server;
  if (s.max_body_buffer_per_client < config.listen.max_request_body) {
    ctx.error("server.max_body_buffer_per_client",
              fmt::format("{} is less than max_request_body ({}): a request of the largest "
                          "allowed size could never be read",
                          format_bytes(s.max_body_buffer_per_client),
                          format_bytes(config.listen.max_request_body)));
  }
  if (s.max_body_buffer < s.max_body_buffer_per_client) {
    ctx.error("server.max_body_buffer",
              fmt::format("{} is less than max_body_buffer_per_client ({})",
                          format_bytes(s.max_body_buffer),
                          format_bytes(s.max_body_buffer_per_client)));
  }
  if (s.max_connections_per_client > s.max_connections) {
    ctx.warning("server.max_connections_per_client",
                fmt::format("{} is more than max_connections ({}): one client can take them all",
                            s.max_connections_per_client, s.max_connections));
  }
}

void check_listen(Context& ctx, const Config& config) {
  if (!config.listen.is_loopback() && config.listen.api_keys.empty()) {
    ctx.error("listen", fmt::format("refusing to listen on {} without api_keys: anyone who can "
                                    "reach it could use your models (add \"api_keys\", or "
                                    "listen on 127.0.0.1)",
                                    config.listen.to_string()));
  }
}

// Two models a failure would likely hit alike: same backend and same family (or, when a
// family is unknown, the same upstream model).
bool same_blob(const Model& a, const Model& b) {
  if (a.backend != b.backend) {
    return false;
  }
  if (a.family.empty() || b.family.empty()) {
    return a.upstream == b.upstream;
  }
  return a.family == b.family;
}

void check_chains(Context& ctx, const Config& config) {
  for (const Model& m : config.models) {
    if (m.fallbacks.empty()) {
      continue;
    }
    std::vector<std::string> chain;
    const bool stays = walk_chain(config, m, [&](const Model& other) {
      chain.push_back(other.name);
      return same_blob(m, other); // stops at the first model that leaves
    });
    if (!stays || chain.size() < 2) {
      continue;
    }
    const std::string what = m.family.empty() ? fmt::format("upstream model \"{}\"", m.upstream)
                                              : fmt::format("family \"{}\"", m.family);
    ctx.warning(path_member(path_member("models", m.name), "fallbacks"),
                fmt::format("fallback chain {} stays on backend \"{}\" and {}: a failure of that "
                            "runtime or model repeats down the chain; end it with a model of "
                            "another family or backend",
                            join_names(chain, " \u2192 "), m.backend, what));
  }
}

} // namespace

void validate_references(Context& ctx, Config& config) {
  check_default_tier(ctx, config);
  check_groups(ctx, config);
  check_listen(ctx, config);
  check_server(ctx, config);
  check_chains(ctx, config);
}

} // namespace ask::config::detail
