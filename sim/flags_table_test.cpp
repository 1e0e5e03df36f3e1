// Checks the generated flag table against llama-server's recorded --help: every flag there
// is in the table with the same number of values, and llm-sim accepts each one.

#include "sim/flags_table.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "sim/options.h"

using namespace ask::sim;

namespace {

struct HelpFlag {
  std::string name;
  Arity arity;
};

// The same rules as sim/tools/gen_flags_table.py, written again so that a stale or
// hand-edited table fails here.
std::string spec_of(const std::string& line) {
  constexpr std::size_t k_column = 40;
  if (line.size() > k_column && line.compare(k_column - 2, 2, "  ") == 0 && line[k_column] != ' ') {
    return line.substr(0, k_column);
  }
  return line;
}

Arity arity_of(std::string value) {
  while (!value.empty() && value.back() == ' ') {
    value.pop_back();
  }
  if (value.empty()) {
    return Arity::none;
  }
  if (value.front() == '[' && value.back() == ']' &&
      std::count(value.begin(), value.end(), ']') == 1) {
    return Arity::optional;
  }
  std::string bare = std::regex_replace(value, std::regex("<[^>]*>"), "X");
  return bare.find(' ') != std::string::npos ? Arity::two : Arity::one;
}

std::vector<HelpFlag> help_flags() {
  std::ifstream in(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/llama-server/help.txt");
  REQUIRE(in);
  const std::regex name_re(R"(^\s*(--?[A-Za-z0-9][A-Za-z0-9_.-]*))");
  std::vector<HelpFlag> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '-' || line.starts_with("-----")) {
      continue;
    }
    std::string spec = spec_of(line);
    std::vector<std::string> names;
    std::smatch m;
    std::string rest = spec;
    while (std::regex_search(rest, m, name_re)) {
      names.push_back(m[1]);
      rest = m.suffix();
      if (!rest.starts_with(",")) {
        break;
      }
      rest.erase(0, 1);
    }
    std::size_t start = rest.find_first_not_of(' ');
    Arity arity = arity_of(start == std::string::npos ? "" : rest.substr(start));
    for (const std::string& n : names) {
      out.push_back({n, arity});
    }
  }
  return out;
}

std::vector<std::string> with_values(const HelpFlag& f) {
  switch (f.arity) {
  case Arity::none:
    return {f.name};
  case Arity::optional:
    return {f.name, "on"};
  case Arity::one:
    return {f.name, "1"};
  case Arity::two:
    return {f.name, "1", "2"};
  }
  return {f.name};
}

} // namespace

TEST_CASE("flags table: every flag of llama-server --help is in the table with its arity") {
  std::vector<HelpFlag> flags = help_flags();
  CHECK(flags.size() > 350);
  CHECK(flags.size() == llama_server_flags().size());
  for (const HelpFlag& f : flags) {
    CAPTURE(f.name);
    auto entry = find_llama_server_flag(f.name);
    REQUIRE(entry);
    CHECK(entry->arity == f.arity);
  }
}

TEST_CASE("flags table: llm-sim accepts every llama-server flag, none logged as unknown") {
  for (const HelpFlag& f : help_flags()) {
    CAPTURE(f.name);
    std::vector<std::string> args = with_values(f);
    if (f.name == "-h" || f.name == "--help" || f.name == "--usage" || f.name == "--version") {
      continue; // these make llm-sim print and exit; checked in options_test
    }
    auto options = parse_options(args);
    REQUIRE_MESSAGE(options, (options ? "" : options.error().message));
    CHECK(options->ignored_flags.empty());
  }
}

TEST_CASE("flags table: canonical names point at the flag's long name") {
  CHECK(find_llama_server_flag("-ngl")->canonical == "--gpu-layers");
  CHECK(find_llama_server_flag("-c")->canonical == "--ctx-size");
  CHECK(find_llama_server_flag("-md")->canonical == "--spec-draft-model");
  CHECK(find_llama_server_flag("--no-jinja")->canonical == "--no-jinja");
  CHECK(find_llama_server_flag("-fa")->arity == Arity::optional);
  CHECK(find_llama_server_flag("--control-vector-layer-range")->arity == Arity::two);
  CHECK(!find_llama_server_flag("--sim-fault"));
}
