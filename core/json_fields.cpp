// The JSON field readers of every request parser: errors name the field's path.
#include "core/json_fields.h"

#include <cmath>
#include <limits>

#include "core/excerpt.h"

namespace ask::core::json {

namespace {

// Longest key written into a field path; keys come from the body.
constexpr std::size_t k_path_key_limit = 64;
// Longest value quoted in a message ("unknown role \"...\"").
constexpr std::size_t k_quoted_value_limit = 64;

} // namespace

std::string field_path(const std::string& base, std::string_view key) {
  std::string printable_key = printable_excerpt(key, k_path_key_limit);
  if (base.empty()) {
    return printable_key;
  }
  std::string out = base;
  out += '.';
  out += printable_key;
  return out;
}

std::string quoted(std::string_view value) {
  return "\"" + printable_excerpt(value, k_quoted_value_limit, true) + "\"";
}

std::string index_path(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

Error invalid(const std::string& path, std::string_view what) {
  std::string msg = path;
  msg += ": ";
  msg += what;
  return Error::bad_request(std::move(msg));
}

std::string_view json_kind(const Json& value) {
  switch (value.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return "a boolean";
  case Json::value_t::string:
    return "a string";
  case Json::value_t::array:
    return "an array";
  case Json::value_t::object:
    return "an object";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
    return "an integer";
  case Json::value_t::number_float:
    return "a number";
  default:
    return "a binary value";
  }
}

Error type_error(const std::string& path, std::string_view wanted, const Json& value) {
  std::string what = "expected ";
  what += wanted;
  what += ", got ";
  what += json_kind(value);
  return invalid(path, what);
}

Result<std::string> read_string(const Json& value, const std::string& path) {
  if (!value.is_string()) {
    return fail(type_error(path, "a string", value));
  }
  return value.get<std::string>();
}

Result<long long> read_integer(const Json& value, const std::string& path) {
  if (value.is_number_unsigned()) {
    if (value.get<unsigned long long>() >
        static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
      return fail(invalid(path, "integer out of range"));
    }
    return static_cast<long long>(value.get<unsigned long long>());
  }
  if (value.is_number_integer()) {
    return value.get<long long>();
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if (std::isfinite(d) && d == std::trunc(d) && d >= -9.223372036854775808e18 &&
        d < 9.223372036854775808e18) {
      return static_cast<long long>(d);
    }
    return fail(invalid(path, "expected an integer, got " + value.dump()));
  }
  return fail(type_error(path, "an integer", value));
}

Result<double> read_number(const Json& value, const std::string& path) {
  if (!value.is_number()) {
    return fail(type_error(path, "a number", value));
  }
  const double d = value.get<double>();
  if (!std::isfinite(d)) {
    return fail(invalid(path, "expected a finite number"));
  }
  return d;
}

Result<std::optional<std::string>> read_optional_string(const Json& value,
                                                        const std::string& path) {
  if (value.is_null()) {
    return std::optional<std::string>{};
  }
  auto s = read_string(value, path);
  if (!s) {
    return fail(type_error(path, "a string or null", value));
  }
  return std::optional<std::string>(std::move(*s));
}

} // namespace ask::core::json
