#include "config/council_prompts.h"

#include <array>
#include <span>

#include <fmt/format.h>

#include "core/strings.h"

namespace ask::config {

namespace {

constexpr std::string_view k_member = "{{question}}";

constexpr std::string_view k_ranking =
    "You are reviewing anonymised answers to a question.\n"
    "\n"
    "Question:\n"
    "{{question}}\n"
    "\n"
    "{{responses}}\n"
    "\n"
    "Judge each response for correctness, completeness and clarity, briefly. Then end with a "
    "line that says exactly \"FINAL RANKING:\" followed by one line per response, best first, "
    "in the form \"1. Response C\".";

constexpr std::string_view k_chairman =
    "You are the chairman of a council of AI models. Several models answered the question "
    "below independently; their answers follow, anonymised as Response A, Response B, and so "
    "on.\n"
    "\n"
    "Question:\n"
    "{{question}}\n"
    "\n"
    "{{responses}}\n"
    "\n"
    "{{rankings}}\n"
    "\n"
    "Write the single best answer to the question. Keep what is correct and useful in the "
    "responses, resolve their disagreements, fix their mistakes and leave out what is wrong. "
    "Answer the question directly; do not mention the responses, the council or this process.";

constexpr std::array<std::string_view, 1> k_member_allowed{"question"};
constexpr std::array<std::string_view, 2> k_ranking_allowed{"question", "responses"};
constexpr std::array<std::string_view, 3> k_chairman_allowed{"question", "responses", "rankings"};
constexpr std::array<std::string_view, 2> k_chairman_required{"question", "responses"};

} // namespace

std::string_view to_string(PromptKind kind) {
  switch (kind) {
  case PromptKind::member:
    return "member";
  case PromptKind::ranking:
    return "ranking";
  case PromptKind::chairman:
    return "chairman";
  }
  return "member";
}

namespace {

// What each kind of prompt starts as and which placeholders it may and must use.
struct PromptSpec {
  std::string_view text;
  std::span<const std::string_view> allowed;
  std::span<const std::string_view> required;
};

PromptSpec spec(PromptKind kind) {
  switch (kind) {
  case PromptKind::ranking:
    return {k_ranking, k_ranking_allowed, k_ranking_allowed};
  case PromptKind::chairman:
    return {k_chairman, k_chairman_allowed, k_chairman_required};
  case PromptKind::member:
    break;
  }
  return {k_member, k_member_allowed, k_member_allowed};
}

} // namespace

std::string_view default_prompt(PromptKind kind) { return spec(kind).text; }

std::span<const std::string_view> allowed_placeholders(PromptKind kind) {
  return spec(kind).allowed;
}

std::span<const std::string_view> required_placeholders(PromptKind kind) {
  return spec(kind).required;
}

PlaceholderScan scan_placeholders(std::string_view text) {
  PlaceholderScan scan;
  std::size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    const std::size_t close = text.find("}}", pos + 2);
    if (close == std::string_view::npos) {
      scan.error = fmt::format("\"{{{{\" at offset {} is never closed with \"}}}}\"", pos);
      return scan;
    }
    scan.names.emplace_back(core::trim_blanks(text.substr(pos + 2, close - pos - 2)));
    pos = close + 2;
  }
  return scan;
}

std::string render_prompt(std::string_view text,
                          const std::map<std::string, std::string, std::less<>>& values) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t open = text.find("{{", pos);
    const std::size_t close = open == std::string_view::npos ? open : text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out += text.substr(pos);
      return out;
    }
    out += text.substr(pos, open - pos);
    const auto it = values.find(core::trim_blanks(text.substr(open + 2, close - open - 2)));
    if (it != values.end()) {
      out += it->second;
    } else {
      out += text.substr(open, close + 2 - open);
    }
    pos = close + 2;
  }
}

} // namespace ask::config
