// Name resolution, fallback chains and the printed config.

#include <doctest/doctest.h>

#include <fmt/format.h>

#include "config/testing.h"

namespace ask::config {

namespace {

constexpr std::string_view k_config = R"({
  "backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"},
               "l": {"kind": "openai", "url": "http://127.0.0.1:8080"}},
  "models": {
    "fast-9b": {"backend": "o", "family": "qwen", "fallbacks": ["fast-3b", "fast-1b"]},
    "fast-3b": {"backend": "o", "family": "llama", "fallbacks": ["tiny", "fast-9b-b"]},
    "fast-1b": {"backend": "l", "family": "gemma"},
    "fast-9b-b": {"backend": "l", "family": "qwen", "fallbacks": ["fast-1b"]},
    "think-9b": {"backend": "o", "family": "qwen"}
  },
  "councils": {"council": {"members": [{"model": "fast-9b"}], "chairman": "think-9b"}},
  "aliases": {"tiny": "fast-1b", "small": "tiny", "board": "council"}
})";

Config load() {
  auto r = testing::parse(k_config);
  if (!r) {
    FAIL(testing::dump(r.error().diagnostics));
  }
  return std::move(r->config);
}

} // namespace

TEST_CASE("Resolve: a model name is itself") {
  const Config c = load();
  const auto r = resolve_model_name(c, "fast-9b");
  REQUIRE(r.has_value());
  CHECK(r->name == "fast-9b");
  CHECK(r->model == c.find_model("fast-9b"));
  CHECK(r->council == nullptr);
}

TEST_CASE("Resolve: aliases lead to the model or council they mean, through other aliases") {
  const Config c = load();
  CHECK(resolve_model_name(c, "small")->name == "fast-1b");
  CHECK(resolve_model_name(c, "small")->model == c.find_model("fast-1b"));
  const auto board = resolve_model_name(c, "board");
  REQUIRE(board.has_value());
  CHECK(board->council == c.find_council("council"));
  CHECK(board->model == nullptr);
}

TEST_CASE("Resolve: an unknown name is not_found, with a suggestion and the known names") {
  const Config c = load();
  const auto r = resolve_model_name(c, "fast-8b");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == core::ErrorKind::not_found);
  CHECK(r.error().message ==
        "unknown model \"fast-8b\" (did you mean \"fast-9b\"?); known models: fast-9b, "
        "fast-3b, fast-1b, fast-9b-b, think-9b, council, tiny, small, board");
  CHECK(resolve_model_name(Config{}, "x").error().message ==
        "unknown model \"x\"; known models: (none)");
}

TEST_CASE("Resolve: names are case-sensitive") {
  CHECK_FALSE(resolve_model_name(load(), "FAST-9B").has_value());
}

TEST_CASE("FallbackChain: expands depth-first without repeating a model") {
  const Config c = load();
  // fast-9b -> fast-3b -> (tiny = fast-1b) -> fast-9b-b -> (fast-1b already there); fast-1b
  const auto chain = fallback_chain(c, "fast-9b");
  REQUIRE(chain.has_value());
  CHECK(*chain == std::vector<std::string>{"fast-9b", "fast-3b", "fast-1b", "fast-9b-b"});
  CHECK(*fallback_chain(c, "fast-1b") == std::vector<std::string>{"fast-1b"});
  CHECK(*fallback_chain(c, "small") == std::vector<std::string>{"fast-1b"});
}

TEST_CASE("FallbackChain: councils and unknown names are errors") {
  const Config c = load();
  CHECK(fallback_chain(c, "board").error().kind == core::ErrorKind::bad_request);
  CHECK(fallback_chain(c, "board").error().message.find("is a council") != std::string::npos);
  CHECK(fallback_chain(c, "nope").error().kind == core::ErrorKind::not_found);
}

TEST_CASE("FallbackChain: terminates on a cyclic Config built by hand") {
  Config c;
  Model& a = c.models.emplace_back();
  a.name = "a";
  a.fallbacks = {"b"};
  Model b;
  b.name = "b";
  b.fallbacks = {"a", "missing"};
  c.models.push_back(b);
  CHECK(*fallback_chain(c, "a") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("FallbackChain: follows a long chain, and validation finds a long cycle") {
  constexpr int k_models = 2000;
  std::string text = R"({"backends": {"o": {"kind": "ollama", "url": "http://h:1"}}, "models": {)";
  for (int i = 0; i < k_models; ++i) {
    const int next = i + 1 < k_models ? i + 1 : -1;
    text += fmt::format(R"({}"m{}": {{"backend": "o", "family": "f{}", "fallbacks": [{}]}})",
                        i == 0 ? "" : ",", i, i % 2, next < 0 ? "" : fmt::format("\"m{}\"", next));
  }
  const auto r = testing::parse(text + "}}");
  REQUIRE(r.has_value());
  const auto chain = fallback_chain(r->config, "m0");
  REQUIRE(chain->size() == k_models);
  CHECK(chain->back() == "m1999");

  std::string cyclic = text;
  cyclic.replace(cyclic.rfind("[]"), 2, R"(["m0"])");
  const auto bad = testing::parse(cyclic + "}}");
  REQUIRE_FALSE(bad.has_value());
  REQUIRE(bad.error().errors().size() == 1);
  CHECK(bad.error().errors()[0].path == "models.m1999.fallbacks[0]");
  CHECK(bad.error().errors()[0].message.starts_with("fallback cycle: m0 \u2192 m1 \u2192"));
}

TEST_CASE("ToJson: prints resolved names and defaults in the file's schema") {
  const Config c = load();
  const Json j = to_json(c);
  CHECK(j["listen"] == "127.0.0.1:11436");
  CHECK(j["aliases"]["small"] == "fast-1b");
  CHECK(j["models"]["fast-3b"]["fallbacks"] == Json{"fast-1b", "fast-9b-b"});
  CHECK(j["models"]["fast-9b"]["timeouts"]["first_byte"] == "5m");
  CHECK(j["models"]["fast-9b"]["upstream"] == "fast-9b");
  CHECK(j["councils"]["council"]["prompts"]["member"] == "{{question}}");
  CHECK(j["cache"]["ttl"] == "720h");
  CHECK(j["history"]["enabled"] == true);
  CHECK(j["history"]["path"].get<std::string>().ends_with("/ask/history.sqlite"));
  std::string order;
  for (const auto& [key, value] : j["models"].items()) {
    order += key + " ";
  }
  CHECK(order == "fast-9b fast-3b fast-1b fast-9b-b think-9b ");
}

TEST_CASE("ToJson: masks secrets") {
  const auto env = testing::fake_env({{"HOME", "/h"}, {"KEY", "sk-0123456789abcdef"}});
  const auto r = parse_config(R"({
    "listen": "0.0.0.0:1",
    "api_keys": ["env:KEY", "short", "sk-live-0123456789wxyz"],
    "backends": {"o": {"kind": "openai", "url": "http://h:1",
                       "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k",
                                   "X-Title": "ask"}}},
    "presets": {"p": {"binary": "llama-server", "backend": "cpu",
                      "env": {"HF_TOKEN": "hf_x", "GGML_VK_VISIBLE_DEVICES": "0"}}}
  })",
                              "t", env);
  REQUIRE(r.has_value());
  const std::string text = to_json(r->config).dump();
  CHECK(text.find("sk-0123456789abcdef") == std::string::npos);
  CHECK(text.find("short") == std::string::npos);
  CHECK(text.find("0123456789wxyz") == std::string::npos);
  CHECK(text.find("Bearer abc") == std::string::npos);
  CHECK(text.find("hf_x") == std::string::npos);
  const Json j = to_json(r->config);
  CHECK(j["api_keys"] == Json{"env:KEY", "<redacted>", "****wxyz"});
  CHECK(j["backends"]["o"]["headers"]["Authorization"] == "<redacted>");
  CHECK(j["backends"]["o"]["headers"]["X-Api-Key"] == "<redacted>");
  CHECK(j["backends"]["o"]["headers"]["X-Title"] == "ask");
  CHECK(j["presets"]["p"]["env"]["GGML_VK_VISIBLE_DEVICES"] == "0");
}

TEST_CASE("ToJson: the printed config parses back to the same printed config") {
  const Config c = load();
  const std::string printed = to_json(c).dump(2);
  const auto again = testing::parse(printed);
  REQUIRE_MESSAGE(again.has_value(), (again ? "" : testing::dump(again.error().diagnostics)));
  CHECK(to_json(again->config).dump(2) == printed);
}

} // namespace ask::config
