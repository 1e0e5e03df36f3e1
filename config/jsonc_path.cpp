// The small public helpers of jsonc.h: key paths, positions, messages.

#include "config/jsonc.h"
#include "core/json_text.h"

#include <fmt/format.h>

namespace ask::config {

namespace {

bool is_plain_key(std::string_view key) {
  if (key.empty()) {
    return false;
  }
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

std::string JsoncError::to_string(std::string_view source_name) const {
  if (pos.line == 0) {
    return fmt::format("{}: {}", source_name, message);
  }
  return fmt::format("{}:{}:{}: {}", source_name, pos.line, pos.column, message);
}

SourcePos JsoncDocument::position(const std::string& path) const {
  const auto it = positions.find(path);
  return it == positions.end() ? SourcePos{} : it->second;
}

std::string path_member(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (is_plain_key(key)) {
    if (!out.empty()) {
      out += '.';
    }
    out += key;
  } else {
    out += "[";
    out += core::dump_json(Json(std::string(key)));
    out += "]";
  }
  return out;
}

std::string path_index(std::string_view parent, std::size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

std::string_view type_name(const Json& value) {
  switch (value.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return "boolean";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
    return "integer";
  case Json::value_t::number_float:
    return "number";
  case Json::value_t::string:
    return "string";
  case Json::value_t::array:
    return "array";
  case Json::value_t::object:
    return "object";
  default:
    return "value";
  }
}

} // namespace ask::config
