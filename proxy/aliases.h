#pragma once
// AliasStore: the aliases askd serves, those of the config file and those set while it runs
// (PUT /api/aliases/{name}, the operator page). A runtime alias takes effect at once for
// routing, /v1/models and `ask -m`, may re-point a configured alias, can never shadow a
// configured model or council, and is kept in a state file ($XDG_STATE_HOME/ask/aliases.json)
// so that it survives restarts. Thread-safe. docs/proxy.md, "Aliases at run time".

#include <expected>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "config/config.h"

namespace ask::proxy {

// One alias as GET /api/aliases lists it.
struct AliasEntry {
  std::string name;
  std::string model;                       // what it names now
  bool runtime = false;                    // set through the API, not the config file
  std::optional<std::string> config_model; // a runtime alias over a configured one: the file's
};

// Why a change was refused: the HTTP status, error code and a sentence for the client.
struct AliasRefusal {
  int status = 400;
  std::string code;
  std::string message;
};

class AliasStore {
public:
  // `config` must outlive the store. `file` ("" = runtime aliases last as long as askd) is
  // read now; problems() says what in it was skipped (a file that cannot be parsed, entries
  // that no longer hold against the config).
  AliasStore(const config::Config& config, std::filesystem::path file);

  // Every alias in effect, by name: the config's, with runtime ones over them.
  std::vector<AliasEntry> list() const;
  // Sets (or re-points) runtime alias `name` to `model`, a configured model or council, or a
  // configured alias (followed to its target); writes the state file. A write that fails is
  // logged and the alias holds until askd stops.
  std::expected<AliasEntry, AliasRefusal> set(std::string_view name, std::string_view model);
  // Removes runtime alias `name`; the configured alias of that name, if any, holds again
  // (returned; none when there is none).
  std::expected<std::optional<std::string>, AliasRefusal> remove(std::string_view name);

  // What a client's model name means: a runtime alias is followed first, then the config's
  // own resolution (models, councils, configured aliases).
  core::Result<config::ResolvedName> resolve(std::string_view name) const;
  // The runtime alias's target, if `name` is one.
  std::optional<std::string> runtime_target(std::string_view name) const;

  const std::vector<std::string>& problems() const { return m_problems; }

private:
  // Why `name` → `model` cannot be set, if it cannot; `model` is replaced by the name it
  // resolves to.
  std::optional<AliasRefusal> check(std::string_view name, std::string& model) const;
  void save() const; // with m_mutex held

  const config::Config& m_config;
  std::filesystem::path m_file;
  std::vector<std::string> m_problems;
  // Every request reads (resolve); changes are rare: readers share the lock.
  mutable std::shared_mutex m_mutex;
  std::map<std::string, std::string, std::less<>> m_runtime; // guarded by m_mutex
};

} // namespace ask::proxy
