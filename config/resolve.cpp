#include <algorithm>
#include <functional>
#include <unordered_set>

#include <fmt/format.h>

#include "config/config.h"
#include "config/parse.h"
#include "config/suggest.h"

namespace ask::config {

namespace {

std::vector<std::string> known_names(const Config& config) {
  std::vector<std::string> names;
  for (const Model& m : config.models) {
    names.push_back(m.name);
  }
  for (const Council& c : config.councils) {
    names.push_back(c.name);
  }
  for (const Alias& a : config.aliases) {
    names.push_back(a.name);
  }
  return names;
}

} // namespace

namespace detail {

bool walk_chain(const Config& config, const Model& root,
                const std::function<bool(const Model&)>& visit) {
  struct Frame {
    const Model* model;
    std::size_t next = 0; // the fallback to look at next
  };
  std::unordered_set<std::string_view> seen;
  std::vector<Frame> frames;
  auto enter = [&](const Model& m) {
    seen.insert(m.name);
    frames.push_back(Frame{&m});
    return visit(m);
  };
  if (!enter(root)) {
    return false;
  }
  while (!frames.empty()) {
    Frame& frame = frames.back();
    if (frame.next == frame.model->fallbacks.size()) {
      frames.pop_back();
      continue;
    }
    const Model* next = config.find_model(frame.model->fallbacks[frame.next++]);
    if (next != nullptr && !seen.contains(next->name) && !enter(*next)) {
      return false;
    }
  }
  return true;
}

} // namespace detail

core::Result<ResolvedName> resolve_model_name(const Config& config, std::string_view name) {
  std::string_view target = name;
  if (const Alias* alias = config.find_alias(name)) {
    target = alias->target;
  }
  if (const Model* m = config.find_model(target)) {
    return ResolvedName{m->name, m, nullptr};
  }
  if (const Council* c = config.find_council(target)) {
    return ResolvedName{c->name, nullptr, c};
  }
  const std::vector<std::string> known = known_names(config);
  return core::fail(core::Error::not_found(
      fmt::format("unknown model \"{}\"{}; known models: {}", name, did_you_mean(name, known),
                  known.empty() ? std::string("(none)") : join_names(known))));
}

core::Result<std::vector<std::string>> fallback_chain(const Config& config, std::string_view name) {
  auto resolved = resolve_model_name(config, name);
  if (!resolved) {
    return core::fail(resolved.error());
  }
  if (resolved->council != nullptr) {
    return core::fail(core::Error::bad_request(fmt::format(
        "\"{}\" is a council: its members and its chairman each have their own fallback chain",
        resolved->name)));
  }
  std::vector<std::string> chain;
  detail::walk_chain(config, *resolved->model, [&](const Model& m) {
    chain.push_back(m.name);
    return true;
  });
  return chain;
}

} // namespace ask::config
