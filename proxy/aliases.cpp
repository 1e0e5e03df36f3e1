#include "proxy/aliases.h"

#include <spdlog/spdlog.h>

#include "config/reader.h"
#include "core/json_text.h"
#include "core/small_file.h"

namespace ask::proxy {

namespace {

constexpr std::uintmax_t k_max_file_bytes = 1 << 20;
constexpr std::size_t k_max_runtime = 1'000; // aliases set through the API

std::string json_quoted(std::string_view s) {
  return core::dump_json(nlohmann::json(std::string(s)));
}

} // namespace

AliasStore::AliasStore(const config::Config& config, std::filesystem::path file)
    : m_config(config), m_file(std::move(file)) {
  if (m_file.empty()) {
    return;
  }
  const std::string name = m_file.string();
  auto text = core::read_small_file(m_file, k_max_file_bytes);
  if (!text) {
    using Problem = core::ReadProblem::Kind;
    if (text.error().kind == Problem::too_large) {
      m_problems.push_back("aliases: " + name +
                           " is larger than 1 MiB: ignored (the next change through the API "
                           "replaces it)");
    } else if (text.error().kind != Problem::missing) {
      m_problems.push_back("aliases: cannot read " + name +
                           (text.error().kind == Problem::directory ? ": it is a folder"
                                                                    : ": " + text.error().reason));
    }
    return;
  }
  auto doc = core::parse_json_text(*text);
  const nlohmann::json* entries = nullptr;
  if (doc && doc->is_object()) {
    if (const auto it = doc->find("aliases"); it != doc->end()) {
      entries = &*it;
    }
  }
  if (entries == nullptr || !entries->is_object()) {
    m_problems.push_back("aliases: " + name +
                         (doc ? std::string(" has no \"aliases\" object")
                              : " is not JSON (" + doc.error().what + ")") +
                         ": ignored (the next change through the API replaces it)");
    return;
  }
  for (const auto& [alias, target] : entries->items()) {
    std::string model = target.is_string() ? target.get<std::string>() : std::string();
    if (!target.is_string()) {
      m_problems.push_back("aliases: " + name + ": " + json_quoted(alias) +
                           " is not a model name: skipped");
    } else if (auto refused = check(alias, model)) {
      m_problems.push_back("aliases: " + name + ": " + json_quoted(alias) + " → " +
                           json_quoted(target.get<std::string>()) +
                           " skipped: " + refused->message);
    } else if (m_runtime.size() < k_max_runtime) {
      m_runtime[alias] = model;
    }
  }
}

std::optional<AliasRefusal> AliasStore::check(std::string_view name, std::string& model) const {
  if (!config::detail::is_valid_name(name)) {
    return AliasRefusal{400, "invalid_alias", config::detail::invalid_name_message("alias", name)};
  }
  if (m_config.find_model(name) != nullptr || m_config.find_council(name) != nullptr) {
    return AliasRefusal{409, "alias_shadows_model",
                        json_quoted(name) + " is a " +
                            (m_config.find_model(name) != nullptr ? "model" : "council") +
                            " of the config file; an alias cannot shadow it"};
  }
  if (model.empty()) {
    return AliasRefusal{400, "invalid_request_error",
                        "expected {\"model\": \"NAME\"}: the model or council the alias names"};
  }
  // Configured names only: an alias of a runtime alias could form a loop, and would change
  // meaning when the other is re-pointed.
  auto resolved = config::resolve_model_name(m_config, model);
  if (!resolved) {
    return AliasRefusal{404, "model_not_found", resolved.error().message};
  }
  model = resolved->name;
  return std::nullopt;
}

std::vector<AliasEntry> AliasStore::list() const {
  std::map<std::string, AliasEntry, std::less<>> out;
  for (const config::Alias& a : m_config.aliases) {
    out[a.name] = AliasEntry{a.name, a.target, false, std::nullopt};
  }
  std::shared_lock lock(m_mutex);
  for (const auto& [name, model] : m_runtime) {
    const auto configured = out.find(name);
    out[name] = AliasEntry{name, model, true,
                           configured != out.end() ? std::optional(configured->second.model)
                                                   : std::nullopt};
  }
  std::vector<AliasEntry> list;
  for (auto& [name, e] : out) {
    list.push_back(std::move(e));
  }
  return list;
}

std::expected<AliasEntry, AliasRefusal> AliasStore::set(std::string_view name,
                                                        std::string_view model) {
  std::string target(model);
  if (auto refused = check(name, target)) {
    return std::unexpected(std::move(*refused));
  }
  std::lock_guard lock(m_mutex);
  if (!m_runtime.contains(name) && m_runtime.size() >= k_max_runtime) {
    return std::unexpected(AliasRefusal{
        409, "too_many_aliases", "askd keeps at most 1000 runtime aliases: delete one first"});
  }
  m_runtime[std::string(name)] = target;
  save();
  const config::Alias* configured = m_config.find_alias(name);
  return AliasEntry{std::string(name), target, true,
                    configured ? std::optional<std::string>(configured->target) : std::nullopt};
}

std::expected<std::optional<std::string>, AliasRefusal> AliasStore::remove(std::string_view name) {
  const config::Alias* configured = m_config.find_alias(name);
  std::lock_guard lock(m_mutex);
  const auto it = m_runtime.find(name);
  if (it == m_runtime.end()) {
    if (configured != nullptr) {
      return std::unexpected(
          AliasRefusal{409, "alias_in_config",
                       json_quoted(name) +
                           " is an alias of the config file: change it there (a runtime alias "
                           "of the same name may re-point it: PUT /api/aliases/" +
                           std::string(name) + ")"});
    }
    return std::unexpected(
        AliasRefusal{404, "not_found", "there is no runtime alias " + json_quoted(name)});
  }
  m_runtime.erase(it);
  save();
  return configured ? std::optional<std::string>(configured->target) : std::nullopt;
}

core::Result<config::ResolvedName> AliasStore::resolve(std::string_view name) const {
  if (auto target = runtime_target(name)) {
    return config::resolve_model_name(m_config, *target);
  }
  return config::resolve_model_name(m_config, name);
}

std::optional<std::string> AliasStore::runtime_target(std::string_view name) const {
  std::shared_lock lock(m_mutex);
  if (const auto it = m_runtime.find(name); it != m_runtime.end()) {
    return it->second;
  }
  return std::nullopt;
}

void AliasStore::save() const {
  if (m_file.empty()) {
    return;
  }
  nlohmann::json aliases = nlohmann::json::object();
  for (const auto& [name, model] : m_runtime) {
    aliases[name] = model;
  }
  const nlohmann::json doc = {{"version", 1}, {"aliases", std::move(aliases)}};
  if (auto failed = core::write_atomically(m_file, doc.dump(2) + "\n")) {
    spdlog::warn("aliases: {} (the change holds until askd stops)", *failed);
  }
}

} // namespace ask::proxy
