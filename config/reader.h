#pragma once
// Internal to the config module: typed reading of JSON values with every problem reported as
// a diagnostic against its key path and line, so one pass finds all errors in a file.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.h"
#include "config/jsonc.h"
#include "core/duration.h"
#include "core/xdg.h"

namespace ask::config::detail {

// What one parse shares: the document and its positions, the diagnostics being collected,
// the environment, and where relative paths are anchored.
struct Context {
  const JsoncDocument& doc;
  Diagnostics& diags;
  const core::EnvLookup& env;
  core::XdgDirs xdg;
  std::filesystem::path base_dir; // the config file's folder; "" keeps relative paths as is
  const Json* root = nullptr;     // the whole document, for declared()

  // Whether section (e.g. "backends") declares `name`, even if its entry had errors: a
  // reference to a broken entry is not reported a second time as unknown.
  bool declared(std::string_view section, std::string_view name) const;

  int line(const std::string& path) const { return doc.position(path).line; }
  void error(const std::string& path, std::string message);
  void warning(const std::string& path, std::string message);
  // Expands "~/" and anchors a relative path at base_dir.
  std::filesystem::path resolve_path(const std::string& text) const;
};

// The upper bound of counts (slots, queue lengths, token limits): fits an int.
inline constexpr std::int64_t k_int_max = 2147483647;

// Whether `name` can be an environment variable: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(std::string_view name);

// Names of models, backends, presets, ...: non-empty, at most 128 of [A-Za-z0-9._:-].
bool is_valid_name(std::string_view name);
// "invalid name ...: names use ..." for a name is_valid_name rejects.
std::string invalid_name_message(std::string_view what, std::string_view name);

// Readers for one value at `path`: nullopt (and an error reported) when the type is wrong.
std::optional<std::string> read_string(Context& ctx, const Json& v, const std::string& path);
std::optional<std::string> read_name(Context& ctx, const Json& v, const std::string& path,
                                     std::string_view what);
std::optional<bool> read_bool(Context& ctx, const Json& v, const std::string& path);
std::optional<std::int64_t> read_int(Context& ctx, const Json& v, const std::string& path,
                                     std::int64_t min, std::int64_t max);
std::optional<double> read_number(Context& ctx, const Json& v, const std::string& path, double min,
                                  double max);
std::optional<core::Duration> read_duration(Context& ctx, const Json& v, const std::string& path);
std::optional<std::uint64_t> read_bytes(Context& ctx, const Json& v, const std::string& path);
// One of `choices` (an error suggests the closest).
std::optional<std::string> read_choice(Context& ctx, const Json& v, const std::string& path,
                                       std::span<const std::string_view> choices);
std::optional<std::vector<std::string>> read_strings(Context& ctx, const Json& v,
                                                     const std::string& path);
// An object of strings, in file order; members that are not strings are reported and left out.
std::optional<std::vector<std::pair<std::string, std::string>>>
read_string_map(Context& ctx, const Json& v, const std::string& path);
// Reports "expected an object/array" and returns false when `v` is not one.
bool expect_object(Context& ctx, const Json& v, const std::string& path);
bool expect_array(Context& ctx, const Json& v, const std::string& path);

// Calls f(name, value, path) for each member of a section such as "models" whose name is
// valid; invalid names are reported and skipped.
template <class F>
void for_each_named(Context& ctx, const Json& section, const std::string& section_path,
                    std::string_view what, F&& f) {
  if (!expect_object(ctx, section, section_path)) {
    return;
  }
  for (const auto& [name, value] : section.items()) {
    const std::string path = path_member(section_path, name);
    if (!is_valid_name(name)) {
      ctx.error(path, invalid_name_message(what, name));
      continue;
    }
    f(name, value, path);
  }
}

// Reads the members of one object. Construction reports a wrong type and every key not in
// `allowed` (with a "did you mean"); the accessors return nullopt for an absent key and for
// one of the wrong type (reported).
class ObjectReader {
public:
  ObjectReader(Context& ctx, const Json& value, std::string path,
               std::span<const std::string_view> allowed);

  bool ok() const { return m_object != nullptr; }
  const std::string& path() const { return m_path; }
  std::string path_of(std::string_view key) const { return path_member(m_path, key); }
  int line() const { return m_ctx.line(m_path); }
  const Json* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Reports "missing required key" at this object when `key` is absent.
  bool require(std::string_view key);

  std::optional<std::string> string(std::string_view key);
  std::optional<std::string> name(std::string_view key, std::string_view what);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<double> number(std::string_view key, double min, double max);
  std::optional<core::Duration> duration(std::string_view key);
  std::optional<std::uint64_t> bytes(std::string_view key);
  std::optional<std::string> choice(std::string_view key,
                                    std::span<const std::string_view> choices);
  std::optional<std::vector<std::string>> strings(std::string_view key);
  std::optional<std::vector<std::pair<std::string, std::string>>> string_map(std::string_view key);
  // The member if it is an object (else reported); nullptr when absent.
  const Json* object(std::string_view key);
  const Json* array(std::string_view key);

private:
  Context& m_ctx;
  const Json* m_object = nullptr;
  std::string m_path;
};

} // namespace ask::config::detail
