// Every validation rule: each test asserts the message, the key path and the line.

#include <doctest/doctest.h>

#include "config/council_prompts.h"
#include "config/testing.h"

namespace ask::config {

using testing::has_diag;
using testing::lines;
using testing::with_managed_models;
using testing::with_models;

TEST_CASE("Config: rejects an unknown key with a suggestion") {
  const auto d = ERRORS_OF(lines({"{", "  \"modles\": {}", "}"}));
  CHECK_DIAG(d, 2, "modles", "unknown key \"modles\" (did you mean \"models\"?)");
}

TEST_CASE("Config: an unknown key without a close match lists the known keys") {
  const auto d = ERRORS_OF(with_models({R"("m": {"backend": "ollama", "colour": "red"})"}));
  CHECK_DIAG(d, 4, "models.m.colour", "unknown key \"colour\"; known keys here: backend,");
}

TEST_CASE("Config: rejects a misspelt model key with a suggestion") {
  const auto d = ERRORS_OF(with_models({R"("m": {"backend": "ollama", "keepalive": "15m"})"}));
  CHECK_DIAG(d, 4, "models.m.keepalive", "(did you mean \"keep_alive\"?)");
}

TEST_CASE("Config: reports wrong types with what was found") {
  const auto d = ERRORS_OF(with_models({
      R"("a": {"backend": "ollama", "keep_alive": true},)",
      R"("b": {"backend": "ollama", "fallbacks": "a"},)",
      R"("c": {"backend": 5},)",
      R"("d": {"backend": "ollama", "max_queue": 1.5, "description": []},)",
      R"("e": "not an object")",
  }));
  CHECK_DIAG(d, 4, "models.a.keep_alive", "expected a duration");
  CHECK_DIAG(d, 4, "models.a.keep_alive", "got boolean");
  CHECK_DIAG(d, 5, "models.b.fallbacks", "expected an array, got string");
  CHECK_DIAG(d, 6, "models.c.backend", "expected a string, got integer");
  CHECK_DIAG(d, 7, "models.d.max_queue", "expected an integer, got 1.5");
  CHECK_DIAG(d, 7, "models.d.description", "expected a string, got array");
  CHECK_DIAG(d, 8, "models.e", "expected an object, got string");
}

TEST_CASE("Config: reports missing required keys at their object") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"o": {"url": "http://h:1"}, "p": {"kind": "openai"}},)",
      R"("models": {"m": {"family": "x"}},)",
      R"("presets": {"pr": {}},)",
      R"("councils": {"c": {}},)",
      R"("gpus": {"devices": [{"name": "x"}]},)",
      R"("groups": {"g": {}})",
      "}",
  }));
  CHECK_DIAG(d, 2, "backends.o", "missing required key \"kind\"");
  CHECK_DIAG(d, 2, "backends.p", "missing required key \"url\"");
  CHECK_DIAG(d, 3, "models.m", "missing required key \"backend\"");
  CHECK_DIAG(d, 4, "presets.pr", "missing required key \"binary\"");
  CHECK_DIAG(d, 4, "presets.pr", "missing required key \"backend\"");
  CHECK_DIAG(d, 5, "councils.c", "missing required key \"members\"");
  CHECK_DIAG(d, 5, "councils.c", "missing required key \"chairman\"");
  CHECK_DIAG(d, 6, "gpus.devices[0]", "missing required key \"id\"");
  CHECK_DIAG(d, 7, "groups.g", "missing required key \"members\"");
}

TEST_CASE("Config: rejects invalid names") {
  const auto d = ERRORS_OF(
      with_models({R"("fast 9b": {"backend": "ollama"},)", R"("": {"backend": "ollama"})"}));
  CHECK_DIAG(d, 4, "models[\"fast 9b\"]", "invalid model name \"fast 9b\"");
  CHECK_DIAG(d, 5, "models[\"\"]", "invalid model name \"\"");
}

TEST_CASE("Config: accepts names with dots and colons") {
  const auto c = VALID(with_models({R"("llama3.2:3b": {"backend": "ollama"})"}));
  CHECK(c.config.find_model("llama3.2:3b") != nullptr);
}

TEST_CASE("Config: rejects a reference to an unknown backend with a suggestion") {
  const auto d = ERRORS_OF(with_models({R"("m": {"backend": "olama"})"}));
  CHECK_DIAG(d, 4, "models.m.backend", "unknown backend \"olama\" (did you mean \"ollama\"?)");
}

TEST_CASE("Config: rejects unknown, council, self and repeated fallbacks") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {)",
      R"(  "fast-9b": {"backend": "o", "fallbacks": ["fast-3b",)",
      R"(                                            "fast-2b"]},)",
      R"(  "fast-3b": {"backend": "o", "fallbacks": ["fast-3b", "c", "x", "x"]},)",
      R"(  "x": {"backend": "o"}},)",
      R"("councils": {"c": {"members": [{"model": "x"}], "chairman": "x"}})",
      "}",
  }));
  CHECK_DIAG(d, 5, "models.fast-9b.fallbacks[1]",
             "unknown model \"fast-2b\" (did you mean \"fast-9b\"?)");
  CHECK_DIAG(d, 6, "models.fast-3b.fallbacks[0]", "model \"fast-3b\" cannot fall back to itself");
  CHECK_DIAG(d, 6, "models.fast-3b.fallbacks[1]",
             "\"c\" is a council; a fallback must be a "
             "plain model");
  CHECK_DIAG(d, 6, "models.fast-3b.fallbacks[3]", "\"x\" is listed twice");
}

TEST_CASE("Config: rejects a fallback cycle, showing it once") {
  const auto r = testing::parse(with_models({
      R"("a": {"backend": "ollama", "fallbacks": ["b"]},)",
      R"("b": {"backend": "ollama", "fallbacks": ["c"]},)",
      R"("c": {"backend": "ollama", "fallbacks": ["a"]})",
  }));
  REQUIRE_FALSE(r.has_value());
  const auto& d = r.error().diagnostics;
  CHECK_DIAG(d, 6, "models.c.fallbacks[0]", "fallback cycle: a \u2192 b \u2192 c \u2192 a");
  CHECK(r.error().errors().size() == 1);
}

TEST_CASE("Config: fallbacks may name aliases, stored as the model they mean") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {"a": {"backend": "o", "family": "x", "fallbacks": ["small"]},)",
      R"(           "b": {"backend": "o", "family": "y"}},)",
      R"("aliases": {"small": "tiny", "tiny": "b"})",
      "}",
  }));
  CHECK(c.config.find_model("a")->fallbacks == std::vector<std::string>{"b"});
  CHECK(c.config.find_alias("small")->target == "b");
  CHECK(c.config.find_alias("small")->written == "tiny");
}

TEST_CASE("Config: rejects alias cycles, unknown targets and shadowing") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {"m": {"backend": "o"}},)",
      R"("councils": {"c": {"members": [{"model": "m"}], "chairman": "m"}},)",
      R"("aliases": {)",
      R"(  "a": "b",)",
      R"(  "b": "a",)",
      R"(  "self": "self",)",
      R"(  "u": "nope",)",
      R"(  "n": "mm",)",
      R"(  "m": "c",)",
      R"(  "c": "m")",
      "}}",
  }));
  CHECK_DIAG(d, 6, "aliases.a", "alias cycle: a \u2192 b \u2192 a");
  CHECK_FALSE(has_diag(d, 7, "aliases.b", "alias cycle"));
  CHECK_DIAG(d, 8, "aliases.self", "alias cycle: self \u2192 self");
  CHECK_DIAG(d, 9, "aliases.u", "unknown model \"nope\"");
  CHECK_DIAG(d, 10, "aliases.n", "unknown model \"mm\" (did you mean \"m\"?)");
  CHECK_DIAG(d, 11, "aliases.m", "alias \"m\" has the name of a model");
  CHECK_DIAG(d, 12, "aliases.c", "alias \"c\" has the name of a council");
}

TEST_CASE("Config: a council may not take a model's name, nor have councils as members") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {"m": {"backend": "o"}},)",
      R"("councils": {"m": {"members": [{"model": "m"}], "chairman": "m"},)",
      R"(  "c": {"members": [{"model": "c2", "temperature": 3}], "chairman": "c2"},)",
      R"(  "c2": {"members": [], "chairman": "mx"}})",
      "}",
  }));
  CHECK_DIAG(d, 4, "councils.m", "\"m\" is already the name of a model");
  CHECK_DIAG(d, 5, "councils.c.members[0].model",
             "\"c2\" is a council; a member must be a "
             "plain model");
  CHECK_DIAG(d, 5, "councils.c.members[0].temperature", "must be between 0 and 2, got 3");
  CHECK_DIAG(d, 5, "councils.c.chairman", "\"c2\" is a council; the chairman must be a plain");
  CHECK_DIAG(d, 6, "councils.c2.members", "a council needs at least one member");
  CHECK_DIAG(d, 6, "councils.c2.chairman", "unknown model \"mx\" (did you mean \"m\"?)");
}

TEST_CASE("Config: checks council prompt placeholders") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {"m": {"backend": "o"}},)",
      R"("councils": {"c": {"members": [{"model": "m"}], "chairman": "m", "prompts": {)",
      R"(  "chairman": "{{question}} {{responses}} {{ranking}}",)",
      R"(  "member": "Answer briefly.",)",
      R"(  "ranking": "{{question}} {{responses}")",
      "}}}}",
  }));
  CHECK_DIAG(d, 5, "councils.c.prompts.chairman",
             "unknown placeholder {{ranking}} (did you mean \"rankings\"?); a chairman prompt "
             "may use {{question}}, {{responses}}, {{rankings}}");
  CHECK_DIAG(d, 6, "councils.c.prompts.member", "a member prompt must contain {{question}}");
  CHECK_DIAG(d, 7, "councils.c.prompts.ranking", "is never closed");
}

TEST_CASE("Config: council defaults apply") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {"m": {"backend": "o"}},)",
      R"("aliases": {"mm": "m"},)",
      R"("councils": {"c": {"members": [{"model": "mm", "temperature": 0.7}], "chairman": "mm"}})",
      "}",
  }));
  const Council& council = *c.config.find_council("c");
  CHECK(council.members.at(0).model == "m");
  CHECK(council.members.at(0).label == "mm");
  CHECK(council.members.at(0).temperature == 0.7);
  CHECK(council.chairman == "m");
  CHECK_FALSE(council.peer_review);
  CHECK(council.shuffle);
  CHECK(council.prompts.chairman == default_prompt(PromptKind::chairman));
}

TEST_CASE("Config: checks tiers and the default tier") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},)",
      R"("models": {"fast-9b": {"backend": "o"}},)",
      R"("tiers": {)",
      R"(  "help": "fast-9b",)",
      R"(  "Big": "fast-9b",)",
      R"(  "x": "fast-9b",)",
      R"(  "9b": "fast-8b")",
      R"(},)",
      R"("default_tier": "9c")",
      "}",
  }));
  CHECK_DIAG(d, 5, "tiers.help", "tier flag \"help\" would clash with ask's own option --help");
  CHECK_DIAG(d, 6, "tiers.Big", "invalid tier flag \"Big\"");
  CHECK_DIAG(d, 7, "tiers.x", "invalid tier flag \"x\"");
  CHECK_DIAG(d, 8, "tiers.9b", "unknown model \"fast-8b\" (did you mean \"fast-9b\"?)");
  CHECK_DIAG(d, 10, "default_tier", "unknown tier \"9c\" (did you mean \"9b\"?); tiers: 9b");
}

TEST_CASE("Config: the default tier is 9b when that tier exists") {
  const auto c = VALID(with_models({R"("fast-9b": {"backend": "ollama"}}, "tiers": {"think": )"
                                    R"("fast-9b", "9b": "fast-9b")"}));
  CHECK(c.config.default_tier == "9b");
  REQUIRE(c.config.tiers.size() == 2);
  CHECK(c.config.tiers[0].flag == "think"); // file order
  const auto none = VALID(with_models({R"("m": {"backend": "ollama"}}, "tiers": {"think": "m")"}));
  CHECK(none.config.default_tier.empty());
}

TEST_CASE("Config: reports bad durations with the path and the parser's message") {
  const auto d = ERRORS_OF(with_models({
      R"("m": {"backend": "ollama", "keep_alive": "5x",)",
      R"(      "timeouts": {"connect": 0, "first_byte": "1y"}})",
  }));
  CHECK_DIAG(d, 4, "models.m.keep_alive", "invalid duration \"5x\"");
  CHECK_DIAG(d, 5, "models.m.timeouts.connect", "a timeout of 0 would fail every request");
  CHECK_DIAG(d, 5, "models.m.timeouts.first_byte", "invalid duration \"1y\"");
}

TEST_CASE("Config: warns about a fallback chain that stays on one backend and family") {
  const auto c = VALID(with_models({
      R"("fast-9b": {"backend": "ollama", "family": "qwen", "fallbacks": ["fast-9b-q4"]},)",
      R"("fast-9b-q4": {"backend": "ollama", "family": "qwen"},)",
      R"("a": {"backend": "ollama", "upstream": "x:1b", "fallbacks": ["b"]},)",
      R"("b": {"backend": "ollama", "upstream": "x:1b"},)",
      R"("c": {"backend": "ollama", "family": "qwen", "fallbacks": ["fast-9b", "d"]},)",
      R"("d": {"backend": "ollama", "family": "llama"})",
  }));
  CHECK(has_diag(c.warnings, 4, "models.fast-9b.fallbacks",
                 "fallback chain fast-9b \u2192 fast-9b-q4 stays on backend \"ollama\" and "
                 "family \"qwen\": a failure of that runtime or model repeats down the chain"));
  CHECK(has_diag(c.warnings, 6, "models.a.fallbacks", "and upstream model \"x:1b\""));
  CHECK_FALSE(has_diag(c.warnings, 0, "models.c.fallbacks", ""));
  CHECK(c.warnings.size() == 2);
}

TEST_CASE("Config: warns that keep_alive does nothing on an openai backend") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {"o": {"kind": "openai", "url": "http://h:1"}},)",
      R"("models": {"m": {"backend": "o", "keep_alive": "5m"}}})",
  }));
  CHECK(has_diag(c.warnings, 3, "models.m.keep_alive", "keep_alive has no effect"));
}

TEST_CASE("Config: validates known request parameters and passes the rest through") {
  const auto d = ERRORS_OF(with_models({
      R"("m": {"backend": "ollama", "params": {"temperature": 3, "top_p": -0.1,)",
      R"(  "think": "extreme", "stop": [1], "max_tokens": 0, "stream": true}})",
  }));
  CHECK_DIAG(d, 4, "models.m.params.temperature", "must be between 0 and 2, got 3");
  CHECK_DIAG(d, 4, "models.m.params.top_p", "must be between 0 and 1, got -0.1");
  CHECK_DIAG(d, 5, "models.m.params.think", "expected one of: low, medium, high");
  CHECK_DIAG(d, 5, "models.m.params.stop[0]", "expected a string, got integer");
  CHECK_DIAG(d, 5, "models.m.params.max_tokens", "must be at least 1, got 0");
  CHECK_DIAG(d, 5, "models.m.params.stream", "belongs to each request");

  const auto c = VALID(with_models({
      R"("m": {"backend": "ollama", "params": {"think": "high", "stop": "\n",)",
      R"(  "min_p": 0.05, "chat_template_kwargs": {"x": 1}}})",
  }));
  const auto& params = c.config.find_model("m")->params;
  CHECK(params["think"] == "high");
  CHECK(params["min_p"] == 0.05);
  CHECK(params["chat_template_kwargs"]["x"] == 1);
}

TEST_CASE("Config: rejects unknown capabilities with a suggestion") {
  const auto d = ERRORS_OF(with_models({
      R"("m": {"backend": "ollama", "capabilities": ["vison", "tools"]})",
  }));
  CHECK_DIAG(d, 4, "models.m.capabilities[0]",
             "unknown value \"vison\" (did you mean "
             "\"vision\"?)");
}

TEST_CASE("Config: inherits timeouts from the backend, then the built-in defaults") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://h:1",)",
      R"(  "timeouts": {"connect": "2s", "total": "10m"}}},)",
      R"("models": {"m": {"backend": "o", "timeouts": {"first_byte": "5m"}}}})",
  }));
  const Timeouts& t = c.config.find_model("m")->timeouts;
  CHECK(t.connect == core::Duration::seconds(2));
  CHECK(t.first_byte == core::Duration::seconds(300));
  CHECK(t.idle == k_default_timeouts.idle);
  CHECK(t.total == core::Duration::seconds(600));
}

TEST_CASE("Config: checks groups") {
  const auto d = ERRORS_OF(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/a", "pinned": true},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/b"}},)",
      R"("groups": {"g": {"exclusive": "yes", "members": ["a", "c", "a"]},)",
      R"(            "h": {"members": ["a", "b"]})",
  }));
  CHECK_DIAG(d, 9, "groups.g.exclusive", "expected true or false, got string");
  CHECK_DIAG(d, 9, "groups.g.members[1]", "unknown model \"c\"");
  CHECK_DIAG(d, 9, "groups.g.members", "\"a\" is listed twice");
}

TEST_CASE("Config: warns about an exclusive group with several resident members") {
  const auto c = VALID(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/a", "pinned": true},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/b", "preload": true}},)",
      R"("groups": {"g": {"members": ["a", "b"]})",
  }));
  CHECK(has_diag(c.warnings, 9, "groups.g", "2 members are pinned or preloaded"));
  CHECK(c.config.find_group("g")->exclusive);
}

TEST_CASE("Config: reports duplicate keys together with every other error") {
  const auto r = testing::parse(lines({
      "{",
      R"("backends": {"o": {"kind": "ollama", "url": "http://h:1"}},)",
      R"("models": {)",
      R"(  "m": {"backend": "o"},)",
      R"(  "m": {"backend": "o"},)",
      R"(  "n": {"backend": "p"}},)",
      R"("modles": 1)",
      "}",
  }));
  REQUIRE_FALSE(r.has_value());
  const auto& d = r.error().diagnostics;
  CHECK_DIAG(d, 5, "", "duplicate key \"m\" in models (first defined on line 4)");
  CHECK_DIAG(d, 6, "models.n.backend", "unknown backend \"p\"");
  CHECK_DIAG(d, 7, "modles", "did you mean \"models\"");
  CHECK(r.error().errors().size() == 3);
  CHECK(d[0].line == 5); // sorted by line
  CHECK(d[2].line == 7);
  CHECK(d[0].to_string() == "test.jsonc:5:3: duplicate key \"m\" in models (first defined on "
                            "line 4)");
}

TEST_CASE("Config: a syntax error is one diagnostic with line and column") {
  const auto r = testing::parse("{\n  \"listen\": \"127.0.0.1:1\"\n  \"models\": {}\n}");
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().diagnostics.size() == 1);
  CHECK(r.error().diagnostics[0].to_string().starts_with("test.jsonc:3:3: expected ',' or '}'"));
  CHECK(r.error().kind == core::ErrorKind::bad_request);
}

TEST_CASE("Config: the root must be an object - an empty object is the minimal config") {
  const auto d = ERRORS_OF("[1, 2]");
  CHECK_DIAG(d, 1, "", "expected an object, got array");
  const auto c = VALID("{}");
  CHECK(c.config.models.empty());
  CHECK(c.config.listen.to_string() == "127.0.0.1:11436");
  CHECK(c.config.cache.path == "/home/test/.cache/ask/cache.sqlite");
  CHECK(c.config.cache.ttl == core::Duration::seconds(30 * 24 * 3600));
  CHECK(c.config.telemetry.ask_log == "/home/test/.local/share/ask/log.jsonl");
  CHECK(c.config.telemetry.askd_log == "/home/test/.local/state/ask/askd.jsonl");
  CHECK(c.config.history.enabled);
  CHECK(c.config.history.path == "/home/test/.local/share/ask/history.sqlite");
  CHECK(c.config.listen.max_request_body == 32ull << 20);
  CHECK(c.config.gpus.probe);
  CHECK(c.config.gpus.reserve == 512ull << 20);
}

TEST_CASE("Config: reads cache and telemetry paths, expanding ~") {
  const auto c = VALID(lines({
      "{",
      R"("cache": {"enabled": false, "path": "~/c.sqlite", "ttl": "1h"},)",
      R"("telemetry": {"ask_log": "/var/log/ask.jsonl", "askd_log": "rel/askd.jsonl"},)",
      R"("max_request_body": "1MiB")",
      "}",
  }));
  CHECK_FALSE(c.config.cache.enabled);
  CHECK(c.config.cache.path == "/home/test/c.sqlite");
  CHECK(c.config.cache.ttl == core::Duration::seconds(3600));
  CHECK(c.config.telemetry.ask_log == "/var/log/ask.jsonl");
  CHECK(c.config.telemetry.askd_log == "rel/askd.jsonl"); // no base folder in parse_config
  CHECK(c.config.listen.max_request_body == 1ull << 20);
}

TEST_CASE("Config: reads the history section, expanding ~ - rejects unknown keys and bad types") {
  const auto c = VALID(R"({"history": {"enabled": false, "path": "~/h.sqlite"}})");
  CHECK_FALSE(c.config.history.enabled);
  CHECK(c.config.history.path == "/home/test/h.sqlite");
  const auto only_enabled = VALID(R"({"history": {"enabled": true}})");
  CHECK(only_enabled.config.history.path == "/home/test/.local/share/ask/history.sqlite");

  const auto d = ERRORS_OF(lines({
      "{",
      R"("history": {"enabled": "yes", "path": 3, "keep": "30d"})",
      "}",
  }));
  CHECK(d.size() == 3);
  CHECK_DIAG(d, 2, "history.enabled", "expected true or false");
  CHECK_DIAG(d, 2, "history.path", "expected a string");
  CHECK_DIAG(d, 2, "history.keep", "unknown key \"keep\"");
  const auto not_object = ERRORS_OF(R"({"history": true})");
  CHECK_DIAG(not_object, 1, "history", "expected an object");
}

} // namespace ask::config
