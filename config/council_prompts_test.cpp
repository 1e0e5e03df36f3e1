#include "config/council_prompts.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace ask::config {

TEST_CASE("CouncilPrompts: defaults use exactly their allowed placeholders") {
  for (PromptKind kind : {PromptKind::member, PromptKind::ranking, PromptKind::chairman}) {
    CAPTURE(to_string(kind));
    const PlaceholderScan scan = scan_placeholders(default_prompt(kind));
    CHECK(scan.error.empty());
    for (const std::string& name : scan.names) {
      CHECK(std::ranges::find(allowed_placeholders(kind), name) !=
            allowed_placeholders(kind).end());
    }
    for (std::string_view name : required_placeholders(kind)) {
      CHECK(std::ranges::find(scan.names, name) != scan.names.end());
    }
  }
}

TEST_CASE("CouncilPrompts: scans placeholders, spaces inside the braces allowed") {
  const PlaceholderScan scan = scan_placeholders("Q: {{question}} A: {{ responses }} {{x}}");
  CHECK(scan.error.empty());
  CHECK(scan.names == std::vector<std::string>{"question", "responses", "x"});
  CHECK(scan_placeholders("no placeholders { } }}").names.empty());
}

TEST_CASE("CouncilPrompts: an unterminated placeholder is an error") {
  const PlaceholderScan scan = scan_placeholders("abc {{question");
  CHECK(scan.error.find("offset 4") != std::string::npos);
}

TEST_CASE("CouncilPrompts: renders in one pass, leaving unknown placeholders") {
  const std::map<std::string, std::string, std::less<>> values{
      {"question", "What is {{responses}}?"}, {"responses", "Response A: 42"}};
  CHECK(render_prompt("Q: {{question}}\n{{ responses }}\n{{rankings}}", values) ==
        "Q: What is {{responses}}?\nResponse A: 42\n{{rankings}}");
  CHECK(render_prompt("tail {{question", values) == "tail {{question");
  CHECK(render_prompt("", values).empty());
}

} // namespace ask::config
