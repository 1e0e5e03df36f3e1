#include "core/json_text.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/excerpt.h"

namespace ask::core::detail {

namespace {

constexpr std::size_t k_parser_message_limit = 256;

} // namespace

std::string_view without_input_quote(std::string_view message) {
  if (const auto pos = message.find("; last read: "); pos != std::string_view::npos) {
    message = message.substr(0, pos);
  }
  return message;
}

int nesting_depth(std::string_view text) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

bool deeper_than(const nlohmann::json& value, int limit) {
  if (!value.is_structured()) {
    return limit < 0;
  }
  std::vector<std::pair<const nlohmann::json*, int>> pending{{&value, 1}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (depth > limit) {
      return true;
    }
    for (const auto& child : *node) {
      if (child.is_structured()) {
        pending.emplace_back(&child, depth + 1);
      }
    }
  }
  return false;
}

std::expected<nlohmann::json, JsonTextError> parse_json_text(std::string_view text) {
  if (nesting_depth(text) > k_max_json_depth) {
    return std::unexpected(JsonTextError{true, "JSON nested deeper than " +
                                                   std::to_string(k_max_json_depth) + " levels"});
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range for 1E400
    std::string_view what = e.what();
    if (const auto pos = what.find("] ");
        what.starts_with("[json.exception") && pos != std::string_view::npos) {
      what.remove_prefix(pos + 2);
    }
    // The parser ends with "; last read: '...'", quoting up to a few hundred bytes of the
    // input: a prompt, in askd. Messages end up in logs, which must not hold prompt text
    // (docs/proxy.md), so the quote goes; the line and column stay.
    return std::unexpected(
        JsonTextError{false, printable_excerpt(without_input_quote(what), k_parser_message_limit)});
  }
}

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string dump_json(const nlohmann::ordered_json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace ask::core::detail
