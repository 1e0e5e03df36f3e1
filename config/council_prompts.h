#pragma once
// The council's prompt templates: the built-in defaults, the placeholders each template may
// use, and rendering. A placeholder is written {{name}} (spaces inside the braces allowed).
// Rendering is one pass: text substituted in (a member's answer) is never expanded again.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ask::config {

enum class PromptKind { member, ranking, chairman };
// "member", "ranking", "chairman": the keys under a council's "prompts".
std::string_view to_string(PromptKind kind);

// The built-in template of each kind.
std::string_view default_prompt(PromptKind kind);
// Placeholders a template of this kind may use, and those it must use.
//   member:   {{question}} (required)
//   ranking:  {{question}}, {{responses}} (both required)
//   chairman: {{question}}, {{responses}} (both required), {{rankings}} ("" without peer review)
std::span<const std::string_view> allowed_placeholders(PromptKind kind);
std::span<const std::string_view> required_placeholders(PromptKind kind);

// The placeholder names in `text`, in order of appearance; an unterminated "{{" is an error.
struct PlaceholderScan {
  std::vector<std::string> names;
  std::string error; // "" when the text is well formed
};
PlaceholderScan scan_placeholders(std::string_view text);

// Replaces each {{name}} found in `values`; others are left as written.
std::string render_prompt(std::string_view text,
                          const std::map<std::string, std::string, std::less<>>& values);

} // namespace ask::config
