// Checks across sections: names that must be unique across models, aliases and councils;
// references (backends, presets, GPUs, models); alias and fallback cycles; the listen
// address; and the warnings about fallback chains that cannot help.

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "config/config.h"
#include "config/parse.h"
#include "config/suggest.h"

namespace ask::config::detail {

namespace {

std::vector<std::string> model_names(const Config& c) {
  std::vector<std::string> out;
  for (const Model& m : c.models) {
    out.push_back(m.name);
  }
  return out;
}

std::string arrow_join(const std::vector<std::string>& names) {
  return join_names(names, " \u2192 ");
}

// Resolves names through the aliases and reports what cannot be resolved.
class Resolver {
public:
  Resolver(Context& ctx, Config& config) : m_ctx(ctx), m_config(config) {}

  void check_unique_names();
  void resolve_aliases();
  // The model or council `name` means; reports at `path` and returns "" when unknown, or
  // when it is a council and `allow_council` is false.
  std::string resolve(const std::string& name, const std::string& path, bool allow_council,
                      std::string_view role);

private:
  std::string follow_alias(const Alias& alias);

  Context& m_ctx;
  Config& m_config;
  // What follow_alias found for each alias already resolved ("" for a cycle), so that long
  // alias chains cost linear time.
  std::unordered_map<std::string, std::string> m_followed;
};

void Resolver::check_unique_names() {
  for (const Council& c : m_config.councils) {
    if (m_config.find_model(c.name) != nullptr) {
      m_ctx.error(path_member("councils", c.name),
                  fmt::format("\"{}\" is already the name of a model; a name must mean one "
                              "thing",
                              c.name));
    }
  }
  for (const Alias& a : m_config.aliases) {
    const char* other = m_config.find_model(a.name)     ? "a model"
                        : m_config.find_council(a.name) ? "a council"
                                                        : nullptr;
    if (other != nullptr) {
      m_ctx.error(path_member("aliases", a.name),
                  fmt::format("alias \"{}\" has the name of {}; a name must mean one thing", a.name,
                              other));
    }
  }
}

// Follows aliases from `alias` to the first name that is not one; "" when they loop. Each
// cycle is reported once, at the alias of the cycle that comes first in the file.
std::string Resolver::follow_alias(const Alias& alias) {
  std::vector<std::string> chain{alias.name};
  std::string current = alias.written;
  while (true) {
    const Alias* next = m_config.find_alias(current);
    if (next == nullptr || m_config.find_model(current) || m_config.find_council(current)) {
      return current;
    }
    if (const auto known = m_followed.find(current); known != m_followed.end()) {
      return known->second; // a cycle it leads into was reported at the cycle
    }
    const auto loop = std::ranges::find(chain, current);
    if (loop != chain.end()) {
      std::vector<std::string> cycle(loop, chain.end());
      cycle.push_back(current);
      const auto first = std::ranges::find_if(m_config.aliases, [&](const Alias& a) {
        return std::ranges::find(cycle, a.name) != cycle.end();
      });
      if (loop == chain.begin() && first->name == alias.name) {
        m_ctx.error(path_member("aliases", alias.name), "alias cycle: " + arrow_join(cycle));
      }
      return "";
    }
    chain.push_back(current);
    current = next->written;
  }
}

void Resolver::resolve_aliases() {
  for (Alias& alias : m_config.aliases) {
    const std::string final_name = follow_alias(alias);
    m_followed.emplace(alias.name, final_name);
    if (final_name.empty()) {
      alias.target.clear();
      continue;
    }
    if (m_config.find_model(final_name) || m_config.find_council(final_name)) {
      alias.target = final_name;
      continue;
    }
    alias.target.clear();
    if (final_name == alias.written && !m_ctx.declared("models", final_name) &&
        !m_ctx.declared("councils", final_name)) { // a chain's broken link: reported at its alias
      std::vector<std::string> known = model_names(m_config);
      for (const Council& c : m_config.councils) {
        known.push_back(c.name);
      }
      for (const Alias& a : m_config.aliases) {
        known.push_back(a.name);
      }
      m_ctx.error(
          path_member("aliases", alias.name),
          fmt::format("unknown model \"{}\"{}", final_name, did_you_mean(final_name, known)));
    }
  }
}

std::string Resolver::resolve(const std::string& name, const std::string& path, bool allow_council,
                              std::string_view role) {
  std::string target = name;
  if (const Alias* a = m_config.find_alias(name);
      a != nullptr && !m_config.find_model(name) && !m_config.find_council(name)) {
    if (a->target.empty()) {
      return ""; // a broken alias, reported where it is defined
    }
    target = a->target;
  }
  if (m_config.find_model(target) != nullptr) {
    return target;
  }
  if (m_config.find_council(target) != nullptr) {
    if (allow_council) {
      return target;
    }
    m_ctx.error(path, fmt::format("\"{}\" is a council; {} must be a plain model", name, role));
    return "";
  }
  if (m_ctx.declared("models", target) || m_ctx.declared("councils", target)) {
    return ""; // declared with errors, reported there
  }
  std::vector<std::string> known = model_names(m_config);
  for (const Alias& a : m_config.aliases) {
    known.push_back(a.name);
  }
  if (allow_council) {
    for (const Council& c : m_config.councils) {
      known.push_back(c.name);
    }
  }
  m_ctx.error(path, fmt::format("unknown model \"{}\"{}", name, did_you_mean(name, known)));
  return "";
}

void check_backend_refs(Context& ctx, Config& config) {
  std::vector<std::string> backends;
  for (const Backend& b : config.backends) {
    backends.push_back(b.name);
  }
  for (const Model& m : config.models) {
    if (!m.backend.empty() && config.find_backend(m.backend) == nullptr &&
        !ctx.declared("backends", m.backend)) {
      ctx.error(
          path_member(path_member("models", m.name), "backend"),
          fmt::format("unknown backend \"{}\"{}", m.backend, did_you_mean(m.backend, backends)));
    }
  }
}

std::vector<std::string> preset_names(const Config& config) {
  std::vector<std::string> out;
  for (const Preset& p : config.presets) {
    out.push_back(p.name);
  }
  return out;
}

bool check_preset(Context& ctx, const Config& config, const std::string& name,
                  const std::string& path) {
  if (config.find_preset(name) != nullptr || ctx.declared("presets", name)) {
    return true;
  }
  ctx.error(path,
            fmt::format("unknown preset \"{}\"{}", name, did_you_mean(name, preset_names(config))));
  return false;
}

void check_managed_refs(Context& ctx, Config& config) {
  for (const Backend& b : config.backends) {
    if (!b.preset.empty()) {
      check_preset(ctx, config, b.preset, path_member(path_member("backends", b.name), "preset"));
    }
  }
  std::vector<std::string> gpu_ids;
  for (const GpuSpec& g : config.gpus.devices) {
    gpu_ids.push_back(g.id);
  }
  for (const RpcSpec& d : config.gpus.rpc) {
    gpu_ids.push_back(d.id);
  }
  for (Model& m : config.models) {
    if (!m.managed) {
      continue;
    }
    const std::string path = path_member("models", m.name);
    ManagedSpec& s = *m.managed;
    const Backend* b = config.find_backend(m.backend);
    if (!s.preset.empty()) {
      check_preset(ctx, config, s.preset, path_member(path, "preset"));
    } else if (b != nullptr && !b->preset.empty()) {
      s.preset = b->preset;
    } else if (config.presets.size() == 1) {
      s.preset = config.presets.front().name;
    } else {
      ctx.error(path, fmt::format("no preset: set \"preset\" here or on backend \"{}\" (there "
                                  "are {} presets, so none is implied)",
                                  m.backend, config.presets.size()));
    }
    for (std::size_t i = 0; i < s.gpus.size(); ++i) {
      if (config.find_gpu(s.gpus[i]) == nullptr && config.find_rpc(s.gpus[i]) == nullptr) {
        ctx.error(path_index(path_member(path, "gpus"), i),
                  fmt::format("unknown GPU \"{}\"{}; pins name an id from gpus.devices or "
                              "gpus.rpc",
                              s.gpus[i], did_you_mean(s.gpus[i], gpu_ids)));
      }
    }
  }
}

void resolve_fallbacks(Context& ctx, Config& config, Resolver& resolver) {
  for (Model& m : config.models) {
    const std::string base = path_member(path_member("models", m.name), "fallbacks");
    std::vector<std::string> resolved;
    for (std::size_t i = 0; i < m.fallbacks.size(); ++i) {
      const std::string path = path_index(base, i);
      const std::string name = resolver.resolve(m.fallbacks[i], path, false, "a fallback");
      if (name.empty()) {
        continue;
      }
      if (name == m.name) {
        ctx.error(path, fmt::format("model \"{}\" cannot fall back to itself", m.name));
      } else if (std::ranges::find(resolved, name) != resolved.end()) {
        ctx.error(path, fmt::format("\"{}\" is listed twice", name));
      } else {
        resolved.push_back(name);
      }
    }
    m.fallbacks = std::move(resolved);
  }
}

// Depth-first search over fallback edges, iterative so that a long chain cannot exhaust
// the stack; each back edge closes a cycle, reported once at the fallbacks entry that closes
// it.
class CycleFinder {
public:
  CycleFinder(Context& ctx, const Config& config) : m_ctx(ctx), m_config(config) {}
  void run() {
    for (const Model& m : m_config.models) {
      if (!m_state.contains(m.name)) {
        visit(m);
      }
    }
  }

private:
  struct Frame {
    const Model* model;
    std::size_t next = 0; // the fallback to look at next
  };

  void enter(const Model& m) {
    m_state[m.name] = State::on_path;
    m_path.push_back(m.name);
    m_frames.push_back(Frame{&m});
  }

  void visit(const Model& root) {
    enter(root);
    while (!m_frames.empty()) {
      Frame& frame = m_frames.back();
      const Model& from = *frame.model;
      if (frame.next == from.fallbacks.size()) {
        m_state[from.name] = State::done;
        m_path.pop_back();
        m_frames.pop_back();
        continue;
      }
      const std::size_t i = frame.next++;
      const Model* to = m_config.find_model(from.fallbacks[i]);
      if (to == nullptr) {
        continue;
      }
      const auto state = m_state.find(to->name);
      if (state == m_state.end()) {
        enter(*to);
      } else if (state->second == State::on_path) {
        std::vector<std::string> cycle(std::ranges::find(m_path, to->name), m_path.end());
        cycle.push_back(to->name);
        m_ctx.error(path_index(path_member(path_member("models", from.name), "fallbacks"), i),
                    "fallback cycle: " + arrow_join(cycle));
      }
    }
  }

  enum class State { on_path, done };
  Context& m_ctx;
  const Config& m_config;
  std::unordered_map<std::string, State> m_state; // absent: not visited yet
  std::vector<std::string> m_path;
  std::vector<Frame> m_frames;
};

} // namespace

void validate(Context& ctx, Config& config) {
  Resolver resolver(ctx, config);
  resolver.check_unique_names();
  resolver.resolve_aliases();
  check_backend_refs(ctx, config);
  check_managed_refs(ctx, config);
  resolve_fallbacks(ctx, config, resolver);
  CycleFinder(ctx, config).run();
  for (Tier& t : config.tiers) {
    t.target = resolver.resolve(t.target, path_member("tiers", t.flag), true, "a tier");
  }
  for (Council& c : config.councils) {
    const std::string path = path_member("councils", c.name);
    for (std::size_t i = 0; i < c.members.size(); ++i) {
      const std::string p = path_member(path_index(path_member(path, "members"), i), "model");
      if (!c.members[i].model.empty()) {
        c.members[i].model = resolver.resolve(c.members[i].model, p, false, "a member");
      }
    }
    if (!c.chairman.empty()) {
      c.chairman =
          resolver.resolve(c.chairman, path_member(path, "chairman"), false, "the chairman");
    }
  }
  for (Group& g : config.groups) {
    const std::string path = path_member(path_member("groups", g.name), "members");
    for (std::size_t i = 0; i < g.members.size(); ++i) {
      g.members[i] = resolver.resolve(g.members[i], path_index(path, i), false, "a member");
    }
  }
  validate_references(ctx, config);
}

} // namespace ask::config::detail
