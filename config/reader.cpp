#include "config/reader.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <fmt/format.h>

#include "config/bytes.h"
#include "config/suggest.h"
#include "core/json_text.h"

namespace ask::config::detail {

namespace {

std::string got(const Json& v) {
  return fmt::format("got {}", type_name(v));
}

std::string format_number(double d) {
  return fmt::format("{}", d);
}

} // namespace

void Context::error(const std::string& path, std::string message) {
  diags.error(path, line(path), std::move(message));
}

void Context::warning(const std::string& path, std::string message) {
  diags.warning(path, line(path), std::move(message));
}

bool Context::declared(std::string_view section, std::string_view name) const {
  if (root == nullptr || !root->is_object()) {
    return false;
  }
  const auto it = root->find(section);
  return it != root->end() && it->is_object() && it->contains(name);
}

std::filesystem::path Context::resolve_path(const std::string& text) const {
  std::filesystem::path p = core::expand_home(text, env);
  if (p.is_relative() && !base_dir.empty()) {
    p = base_dir / p;
  }
  return p.lexically_normal();
}

bool is_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  return std::ranges::all_of(
      name, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string invalid_name_message(std::string_view what, std::string_view name) {
  return fmt::format("invalid {} name {}: names are 1 to 128 letters, digits and . _ : -", what,
                     core::dump_json(Json(std::string(name))));
}

std::optional<std::string> read_string(Context& ctx, const Json& v, const std::string& path) {
  if (!v.is_string()) {
    ctx.error(path, "expected a string, " + got(v));
    return std::nullopt;
  }
  return v.get<std::string>();
}

std::optional<std::string> read_name(Context& ctx, const Json& v, const std::string& path,
                                     std::string_view what) {
  auto s = read_string(ctx, v, path);
  if (s && !is_valid_name(*s)) {
    ctx.error(path, invalid_name_message(what, *s));
    return std::nullopt;
  }
  return s;
}

std::optional<bool> read_bool(Context& ctx, const Json& v, const std::string& path) {
  if (!v.is_boolean()) {
    ctx.error(path, "expected true or false, " + got(v));
    return std::nullopt;
  }
  return v.get<bool>();
}

std::optional<std::int64_t> read_int(Context& ctx, const Json& v, const std::string& path,
                                     std::int64_t min, std::int64_t max) {
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max))) {
    if (v.is_number_unsigned()) {
      ctx.error(path, fmt::format("must be at most {}, got {}", max, v.dump()));
    } else {
      ctx.error(path, "expected an integer, " + (v.is_number() ? "got " + v.dump() : got(v)));
    }
    return std::nullopt;
  }
  const auto i = v.get<std::int64_t>();
  if (i < min || i > max) {
    if (max >= k_int_max) { // no meaningful upper bound
      ctx.error(path, fmt::format("must be at least {}, got {}", min, i));
    } else {
      ctx.error(path, fmt::format("must be between {} and {}, got {}", min, max, i));
    }
    return std::nullopt;
  }
  return i;
}

std::optional<double> read_number(Context& ctx, const Json& v, const std::string& path, double min,
                                  double max) {
  if (!v.is_number()) {
    ctx.error(path, "expected a number, " + got(v));
    return std::nullopt;
  }
  const auto d = v.get<double>();
  if (d < min || d > max) {
    ctx.error(path, fmt::format("must be between {} and {}, got {}", format_number(min),
                                format_number(max), v.dump()));
    return std::nullopt;
  }
  return d;
}

std::optional<core::Duration> read_duration(Context& ctx, const Json& v, const std::string& path) {
  core::Result<core::Duration> d;
  if (v.is_string()) {
    d = core::parse_duration(std::string_view(v.get_ref<const std::string&>()));
  } else if (v.is_number()) {
    d = core::parse_duration(nlohmann::json(v));
  } else {
    ctx.error(path, "expected a duration such as \"15m\", \"30s\", \"1h30m\" or a number of "
                    "seconds, " +
                        got(v));
    return std::nullopt;
  }
  if (!d) {
    ctx.error(path, d.error().message);
    return std::nullopt;
  }
  return *d;
}

std::optional<std::uint64_t> read_bytes(Context& ctx, const Json& v, const std::string& path) {
  auto b = parse_bytes(v);
  if (!b) {
    ctx.error(path, b.error().message);
    return std::nullopt;
  }
  return *b;
}

std::optional<std::string> read_choice(Context& ctx, const Json& v, const std::string& path,
                                       std::span<const std::string_view> choices) {
  auto s = read_string(ctx, v, path);
  if (!s) {
    return std::nullopt;
  }
  for (std::string_view c : choices) {
    if (c == *s) {
      return s;
    }
  }
  ctx.error(path, fmt::format("unknown value \"{}\"{}; expected one of: {}", *s,
                              did_you_mean(*s, choices), join_names(choices)));
  return std::nullopt;
}

std::optional<std::vector<std::string>> read_strings(Context& ctx, const Json& v,
                                                     const std::string& path) {
  if (!expect_array(ctx, v, path)) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto s = read_string(ctx, v[i], path_index(path, i));
    if (s) {
      out.push_back(std::move(*s));
    } else {
      ok = false;
    }
  }
  return ok ? std::optional(std::move(out)) : std::nullopt;
}

std::optional<std::vector<std::pair<std::string, std::string>>>
read_string_map(Context& ctx, const Json& v, const std::string& path) {
  if (!expect_object(ctx, v, path)) {
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : v.items()) {
    if (auto s = read_string(ctx, value, path_member(path, key))) {
      out.emplace_back(key, std::move(*s));
    }
  }
  return out;
}

bool expect_object(Context& ctx, const Json& v, const std::string& path) {
  if (!v.is_object()) {
    ctx.error(path, "expected an object, " + got(v));
    return false;
  }
  return true;
}

bool expect_array(Context& ctx, const Json& v, const std::string& path) {
  if (!v.is_array()) {
    ctx.error(path, "expected an array, " + got(v));
    return false;
  }
  return true;
}

ObjectReader::ObjectReader(Context& ctx, const Json& value, std::string path,
                           std::span<const std::string_view> allowed)
    : m_ctx(ctx), m_path(std::move(path)) {
  if (!expect_object(ctx, value, m_path)) {
    return;
  }
  m_object = &value;
  for (const auto& [key, member] : value.items()) {
    bool known = false;
    for (std::string_view a : allowed) {
      known = known || a == key;
    }
    if (known) {
      continue;
    }
    const std::string hint = did_you_mean(key, allowed);
    ctx.error(path_member(m_path, key),
              hint.empty()
                  ? fmt::format("unknown key \"{}\"; known keys here: {}", key, join_names(allowed))
                  : fmt::format("unknown key \"{}\"{}", key, hint));
  }
}

const Json* ObjectReader::find(std::string_view key) const {
  if (m_object == nullptr) {
    return nullptr;
  }
  const auto it = m_object->find(key);
  return it == m_object->end() ? nullptr : &*it;
}

bool ObjectReader::require(std::string_view key) {
  if (!ok() || has(key)) {
    return ok();
  }
  m_ctx.error(m_path, fmt::format("missing required key \"{}\"", key));
  return false;
}

std::optional<std::string> ObjectReader::string(std::string_view key) {
  const Json* v = find(key);
  return v ? read_string(m_ctx, *v, path_of(key)) : std::nullopt;
}

std::optional<std::string> ObjectReader::name(std::string_view key, std::string_view what) {
  const Json* v = find(key);
  return v ? read_name(m_ctx, *v, path_of(key), what) : std::nullopt;
}

std::optional<bool> ObjectReader::boolean(std::string_view key) {
  const Json* v = find(key);
  return v ? read_bool(m_ctx, *v, path_of(key)) : std::nullopt;
}

std::optional<std::int64_t> ObjectReader::integer(std::string_view key, std::int64_t min,
                                                  std::int64_t max) {
  const Json* v = find(key);
  return v ? read_int(m_ctx, *v, path_of(key), min, max) : std::nullopt;
}

std::optional<double> ObjectReader::number(std::string_view key, double min, double max) {
  const Json* v = find(key);
  return v ? read_number(m_ctx, *v, path_of(key), min, max) : std::nullopt;
}

std::optional<core::Duration> ObjectReader::duration(std::string_view key) {
  const Json* v = find(key);
  return v ? read_duration(m_ctx, *v, path_of(key)) : std::nullopt;
}

std::optional<std::uint64_t> ObjectReader::bytes(std::string_view key) {
  const Json* v = find(key);
  return v ? read_bytes(m_ctx, *v, path_of(key)) : std::nullopt;
}

std::optional<std::string> ObjectReader::choice(std::string_view key,
                                                std::span<const std::string_view> choices) {
  const Json* v = find(key);
  return v ? read_choice(m_ctx, *v, path_of(key), choices) : std::nullopt;
}

std::optional<std::vector<std::string>> ObjectReader::strings(std::string_view key) {
  const Json* v = find(key);
  return v ? read_strings(m_ctx, *v, path_of(key)) : std::nullopt;
}

std::optional<std::vector<std::pair<std::string, std::string>>>
ObjectReader::string_map(std::string_view key) {
  const Json* v = find(key);
  return v ? read_string_map(m_ctx, *v, path_of(key)) : std::nullopt;
}

const Json* ObjectReader::object(std::string_view key) {
  const Json* v = find(key);
  return v && expect_object(m_ctx, *v, path_of(key)) ? v : nullptr;
}

const Json* ObjectReader::array(std::string_view key) {
  const Json* v = find(key);
  return v && expect_array(m_ctx, *v, path_of(key)) ? v : nullptr;
}

} // namespace ask::config::detail
