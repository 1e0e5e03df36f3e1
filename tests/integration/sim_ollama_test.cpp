// llm-sim in Ollama mode (--ollama), over real sockets: NDJSON streams, think, tools,
// options, keep_alive and /api/ps, load and unload calls, the OpenAI-compatible /v1.

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

#include "tests/integration/sim_harness.h"

namespace {

using namespace ask::testing;

std::vector<std::string> ollama_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--ollama", "--sim-tokens-per-second", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

Json chat(const std::string& model, const std::string& text, const Json& extra = Json::object()) {
  Json body{{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}};
  body.update(extra);
  return body;
}

// RFC 3339 UTC for now + `ahead`, comparable as a string with the sim's expires_at.
std::string utc_in(std::chrono::seconds ahead) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + ahead);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string joined(const std::vector<Json>& lines, const char* key) {
  std::string text;
  for (const Json& l : lines) {
    if (l.contains("message") && l["message"].contains(key)) {
      text += l["message"][key].get<std::string>();
    }
  }
  return text;
}

} // namespace

TEST_CASE("llm-sim ollama: /api/chat streams NDJSON by default and ends with the counters") {
  SimProcess sim(ollama_args());
  Reply r = post(sim, "/api/chat", chat("llama3.2:1b", "Say hello"));
  REQUIRE(r.status == 200);
  CHECK(r.headers.find("Content-Type")->second == "application/x-ndjson");
  auto lines = ndjson_lines(r.body);
  REQUIRE(lines.size() >= 2);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    CHECK(lines[i]["done"] == false);
    CHECK(lines[i]["model"] == "llama3.2:1b");
    CHECK(lines[i]["message"]["role"] == "assistant");
  }
  const Json& last = lines.back();
  CHECK(last["done"] == true);
  CHECK(last["done_reason"] == "stop");
  for (const char* key : {"total_duration", "load_duration", "prompt_eval_count",
                          "prompt_eval_duration", "eval_count", "eval_duration"}) {
    CHECK(last[key].is_number_integer());
  }
  CHECK(last["eval_count"] == static_cast<int>(lines.size()) - 1);
  CHECK(!joined(lines, "content").empty());
}

TEST_CASE("llm-sim ollama: stream false returns one object with the same text") {
  SimProcess sim(ollama_args());
  auto streamed = ndjson_lines(post(sim, "/api/chat", chat("llama3.2:1b", "Say hello")).body);
  Reply r = post(sim, "/api/chat", chat("llama3.2:1b", "Say hello", {{"stream", false}}));
  CHECK(r.headers.find("Content-Type")->second == "application/json; charset=utf-8");
  Json whole = Json::parse(r.body);
  CHECK(whole["done"] == true);
  CHECK(whole["message"]["content"] == joined(streamed, "content"));
}

TEST_CASE("llm-sim ollama: think streams thinking before content") {
  SimProcess sim(ollama_args());
  auto lines =
      ndjson_lines(post(sim, "/api/chat", chat("qwen3:8b", "2+2?", {{"think", "high"}})).body);
  CHECK(lines.front()["message"].contains("thinking"));
  CHECK(lines.front()["message"]["content"] == "");
  CHECK(!joined(lines, "thinking").empty());
  CHECK(!joined(lines, "content").empty());
}

TEST_CASE("llm-sim ollama: a tool call carries its arguments as an object") {
  SimProcess sim(ollama_args());
  Json tools = Json::parse(R"([{"type":"function","function":{"name":"get_weather","parameters":
      {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])");
  Json body =
      chat("llama3.2:3b", "Weather in Paris? [[sim: tool]]", {{"tools", tools}, {"stream", false}});
  Json whole = Json::parse(post(sim, "/api/chat", body).body);
  const Json& call = whole["message"]["tool_calls"][0];
  CHECK(call["function"]["name"] == "get_weather");
  CHECK(call["function"]["arguments"].is_object());
  CHECK(call["function"]["arguments"]["city"].is_string());
}

TEST_CASE("llm-sim ollama: options num_predict limits the answer - seed changes it") {
  SimProcess sim(ollama_args());
  Json limited = Json::parse(
      post(sim, "/api/chat",
           chat("llama3.2:1b", "Story", {{"stream", false}, {"options", {{"num_predict", 4}}}}))
          .body);
  CHECK(limited["eval_count"] == 4);
  CHECK(limited["done_reason"] == "length");
  auto text = [&](Json options) {
    return Json::parse(post(sim, "/api/chat",
                            chat("llama3.2:1b", "Story", {{"stream", false}, {"options", options}}))
                           .body)["message"]["content"];
  };
  CHECK(text({{"seed", 1}}) == text({{"seed", 1}}));
  CHECK(text({{"seed", 1}}) != text({{"seed", 2}}));
}

TEST_CASE(
    "llm-sim ollama: keep_alive 0 unloads after the request - a long keep_alive shows in /api/ps") {
  SimProcess sim(ollama_args());
  CHECK(sim.get_json("/api/ps") == Json::parse(R"({"models":[]})"));
  post(sim, "/api/chat", chat("llama3.2:1b", "hi", {{"keep_alive", 0}}));
  CHECK(sim.get_json("/api/ps")["models"].empty());
  post(sim, "/api/chat", chat("llama3.2:3b", "hi", {{"keep_alive", "1h"}}));
  Json ps = sim.get_json("/api/ps");
  REQUIRE(ps["models"].size() == 1);
  const Json& m = ps["models"][0];
  CHECK(m["name"] == "llama3.2:3b");
  CHECK(m["size_vram"] == m["size"]);
  std::string expires = m["expires_at"];
  CHECK(expires > utc_in(std::chrono::minutes(59)));
  CHECK(expires < utc_in(std::chrono::minutes(61)));
}

TEST_CASE(
    "llm-sim ollama: an empty generate loads - keep_alive 0 unloads (done_reason load/unload)") {
  SimProcess sim(ollama_args());
  Json loaded = Json::parse(post(sim, "/api/generate", Json{{"model", "llama3.2:3b"}}).body);
  CHECK(loaded["done_reason"] == "load");
  CHECK(loaded["response"] == "");
  CHECK(loaded["done"] == true);
  CHECK(sim.get_json("/api/ps")["models"].size() == 1);
  Json unloaded = Json::parse(
      post(sim, "/api/generate", Json{{"model", "llama3.2:3b"}, {"keep_alive", 0}}).body);
  CHECK(unloaded["done_reason"] == "unload");
  CHECK(sim.get_json("/api/ps")["models"].empty());
}

TEST_CASE("llm-sim ollama: a cold model takes --sim-load-time - a warm one does not") {
  SimProcess sim(ollama_args({"--sim-load-time", "200ms"}));
  Json cold = Json::parse(post(sim, "/api/generate",
                               Json{{"model", "llama3.2:1b"}, {"prompt", "hi"}, {"stream", false}})
                              .body);
  CHECK(cold["load_duration"].get<long long>() >= 200'000'000);
  Json warm = Json::parse(post(sim, "/api/generate",
                               Json{{"model", "llama3.2:1b"}, {"prompt", "hi"}, {"stream", false}})
                              .body);
  CHECK(warm["load_duration"] == 0);
  CHECK(!warm["response"].get<std::string>().empty());
}

TEST_CASE("llm-sim ollama: an unknown model is a 404 in Ollama's words") {
  SimProcess sim(ollama_args());
  Reply r = post(sim, "/api/chat", chat("nope:7b", "hi"));
  CHECK(r.status == 404);
  CHECK(Json::parse(r.body) ==
        Json{{"error", "model \"nope:7b\" not found, try pulling it first"}});
  Reply v1 = post(sim, "/v1/chat/completions", chat("nope:7b", "hi"));
  CHECK(v1.status == 404);
  CHECK(Json::parse(v1.body)["error"]["type"] == "not_found_error");
}

TEST_CASE("llm-sim ollama: /api/tags, /api/show, /api/version and / describe the install") {
  SimProcess sim(ollama_args({"--sim-models", "gemma3:4b,mistral"}));
  Json tags = sim.get_json("/api/tags");
  REQUIRE(tags["models"].size() == 2);
  CHECK(tags["models"][0]["name"] == "gemma3:4b");
  CHECK(tags["models"][1]["name"] == "mistral:latest");
  CHECK(tags["models"][0]["details"]["family"] == "gemma");
  CHECK(tags["models"][0]["digest"].get<std::string>().size() == 64);
  Reply show = post(sim, "/api/show", Json{{"model", "mistral"}});
  CHECK(Json::parse(show.body)["details"]["format"] == "gguf");
  CHECK(sim.get_json("/api/version")["version"].is_string());
  CHECK(sim.client().Get("/")->body == "Ollama is running");
}

TEST_CASE("llm-sim ollama: /v1/chat/completions speaks OpenAI with Ollama's fingerprint") {
  SimProcess sim(ollama_args());
  Json body =
      chat("llama3.2:1b", "hi", {{"stream", true}, {"stream_options", {{"include_usage", true}}}});
  Reply r = post(sim, "/v1/chat/completions", body);
  auto events = sse_events(r.body);
  REQUIRE(events.size() >= 3);
  CHECK(events.back().is_done());
  Json first = Json::parse(events.front().data);
  CHECK(first["system_fingerprint"] == "fp_ollama");
  CHECK(first["object"] == "chat.completion.chunk");
  Json usage = Json::parse(events[events.size() - 2].data);
  CHECK(usage["choices"].empty());
  CHECK(usage["usage"]["completion_tokens"].get<int>() > 0);
  body["stream"] = false;
  Json whole = Json::parse(post(sim, "/v1/chat/completions", body).body);
  CHECK(whole["object"] == "chat.completion");
  CHECK(whole["choices"][0]["message"]["content"] == streamed_content(events));
  Json models = sim.get_json("/v1/models");
  CHECK(models["data"][0]["owned_by"] == "library");
}

TEST_CASE("llm-sim ollama: malformed bodies are answered with 400s, never a crash") {
  SimProcess sim(ollama_args());
  auto c = sim.client();
  auto bad_json = c.Post("/api/chat", "{not json", "application/json");
  REQUIRE(bad_json);
  CHECK(bad_json->status == 400);
  CHECK(c.Post("/api/chat", R"({"model":5,"messages":[]})", "application/json")->status == 400);
  CHECK(
      c.Post("/api/generate", R"({"model":"llama3.2:1b","keep_alive":"soon"})", "application/json")
          ->status == 400);
  CHECK(c.Post("/v1/chat/completions", R"({"model":"llama3.2:1b","messages":"hi"})",
               "application/json")
            ->status == 400);
  auto odd_types = c.Post(
      "/v1/chat/completions",
      R"({"model":"llama3.2:1b","stream":"yes","stream_options":7,"tool_choice":{"function":{"name":3}},
                              "messages":[{"role":"user","content":[{"type":5},{"type":"text","text":"hi"}]}]})",
      "application/json");
  REQUIRE(odd_types);
  CHECK(odd_types->status == 200);
  CHECK(sim.process().running());
}

// --- Embeddings, capabilities, FIM and num_ctx.

namespace {

std::vector<std::string> capability_models() {
  return ollama_args({"--sim-models", "llama3.2:1b,nomic-embed-text,qwen2.5-coder:1.5b"});
}

std::string ollama_fixture(const std::string& name) {
  std::ifstream in(fixture_path("ollama/" + name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

} // namespace

TEST_CASE("llm-sim ollama: /api/embed gives deterministic unit vectors with the counters") {
  SimProcess sim(capability_models());
  Reply r = post(sim, "/api/embed", {{"model", "nomic-embed-text"}, {"input", {"hello world", "bye"}}});
  REQUIRE(r.status == 200);
  Json j = Json::parse(r.body);
  CHECK(j["model"] == "nomic-embed-text");
  REQUIRE(j["embeddings"].size() == 2);
  CHECK(j["embeddings"][0].size() == 768);
  double norm = 0;
  for (const auto& x : j["embeddings"][0]) {
    norm += x.get<double>() * x.get<double>();
  }
  CHECK(std::abs(norm - 1.0) < 1e-4);
  CHECK(j["embeddings"][0] != j["embeddings"][1]);
  CHECK(j["prompt_eval_count"].get<long long>() > 0);
  CHECK(j.contains("total_duration"));
  CHECK(j.contains("load_duration"));
  Json again = Json::parse(
      post(sim, "/api/embed", {{"model", "nomic-embed-text"}, {"input", "hello world"}}).body);
  CHECK(again["embeddings"][0] == j["embeddings"][0]);
  Json small = Json::parse(
      post(sim, "/api/embed", {{"model", "nomic-embed-text"}, {"input", "hi"}, {"dimensions", 8}}).body);
  CHECK(small["embeddings"][0].size() == 8);
  // Empty input only loads (api-embed-empty-input.json).
  Reply empty =
      post(sim, "/api/embed", {{"model", "nomic-embed-text"}, {"input", ""}, {"keep_alive", "5m"}});
  CHECK(empty.body == ollama_fixture("api-embed-empty-input.json"));
  // Malformed and refused.
  CHECK(post(sim, "/api/embed", {{"model", "nomic-embed-text"}, {"input", 5}}).body ==
        R"({"error":"invalid input type"})");
  CHECK(post(sim, "/api/embed", {{"model", "nomic-embed-text"}, {"input", {"a", 1}}}).status == 400);
  CHECK(post(sim.port(), "/api/embed", "{").status == 400);
  CHECK(post(sim, "/api/embed", {{"model", "nope"}, {"input", "a"}}).status == 404);
  Reply chat_model = post(sim, "/api/embed", {{"model", "llama3.2:1b"}, {"input", "a"}});
  CHECK(chat_model.status == 501);
  CHECK(chat_model.body == R"({"error":"this model does not support embeddings"})");
  // Past the context: cut (keeping the start) unless truncate is false.
  std::string long_text(20000, 'a');
  Json cut = Json::parse(
      post(sim, "/api/embed",
           {{"model", "nomic-embed-text"}, {"input", long_text}, {"options", {{"num_ctx", 256}}}})
          .body);
  CHECK(cut["prompt_eval_count"] == 256);
  Reply refused = post(sim, "/api/embed",
                       {{"model", "nomic-embed-text"}, {"input", long_text}, {"truncate", false}});
  CHECK(refused.status == 400);
}

TEST_CASE("llm-sim ollama: legacy /api/embeddings and /v1/embeddings") {
  SimProcess sim(capability_models());
  Json legacy = Json::parse(
      post(sim, "/api/embeddings", {{"model", "nomic-embed-text"}, {"prompt", "hello"}}).body);
  CHECK(legacy["embedding"].size() == 768);
  Json v1 = Json::parse(
      post(sim, "/v1/embeddings", {{"model", "nomic-embed-text"}, {"input", {"a", "b"}}}).body);
  CHECK(v1["object"] == "list");
  REQUIRE(v1["data"].size() == 2);
  CHECK(v1["data"][1]["index"] == 1);
  CHECK(v1["data"][0]["object"] == "embedding");
  CHECK(v1["usage"]["prompt_tokens"].get<long long>() > 0);
  CHECK(v1["data"][0]["embedding"] == Json::parse(post(sim, "/api/embed", {{"model", "nomic-embed-text"},
                                                                          {"input", "a"}})
                                                      .body)["embeddings"][0]);
  Reply bad = post(sim, "/v1/embeddings", {{"model", "nomic-embed-text"}, {"input", ""}});
  CHECK(bad.status == 400);
  CHECK(Json::parse(bad.body)["error"]["type"] == "invalid_request_error");
  CHECK(post(sim, "/v1/embeddings", {{"model", "nope"}, {"input", "a"}}).status == 404);
}

TEST_CASE("llm-sim ollama: capabilities in /api/show, and generate refused by an embedding model") {
  SimProcess sim(ollama_args(
      {"--sim-models", "llama3.2:1b,nomic-embed-text,custom:7b@completion+insert@ctx=32768"}));
  Json embed = Json::parse(post(sim, "/api/show", {{"model", "nomic-embed-text"}}).body);
  CHECK(embed["capabilities"] == Json::array({"embedding"}));
  CHECK(embed["model_info"]["nomic.embedding_length"] == 768);
  Json chat_model = Json::parse(post(sim, "/api/show", {{"model", "llama3.2:1b"}}).body);
  CHECK(chat_model["capabilities"] == Json::array({"completion", "tools", "thinking"}));
  CHECK(chat_model["model_info"]["llama.context_length"] == 131072);
  Json custom = Json::parse(post(sim, "/api/show", {{"model", "custom:7b"}}).body);
  CHECK(custom["capabilities"] == Json::array({"completion", "insert"}));
  CHECK(custom["model_info"]["custom.context_length"] == 32768);
  Reply gen = post(sim, "/api/generate", {{"model", "nomic-embed-text"}, {"keep_alive", "5m"}});
  CHECK(gen.status == 400);
  CHECK(gen.body == ollama_fixture("api-generate-error-embedding-model.json"));
  Reply chat_r = post(sim, "/api/chat", chat("nomic-embed-text", "hi"));
  CHECK(chat_r.body == R"({"error":"\"nomic-embed-text\" does not support chat"})");
}

TEST_CASE("llm-sim ollama: /api/generate with suffix fills in, streamed or not") {
  SimProcess sim(capability_models());
  Json req{{"model", "qwen2.5-coder:1.5b"}, {"prompt", "def add(a, b):"}, {"suffix", "return c"},
           {"stream", false}};
  Reply r = post(sim, "/api/generate", req);
  REQUIRE(r.status == 200);
  Json j = Json::parse(r.body);
  CHECK(j["response"].get<std::string>().starts_with("[fim b..return] "));
  CHECK(j["done"] == true);
  req["stream"] = true;
  auto lines = ndjson_lines(post(sim, "/api/generate", req).body);
  REQUIRE(lines.size() > 2);
  std::string text;
  for (const Json& l : lines) {
    text += l["response"].get<std::string>();
  }
  CHECK(j["response"] == text);
  CHECK(lines.back()["done"] == true);
  // A model whose template has no suffix cannot insert.
  Reply refused = post(sim, "/api/generate",
                       {{"model", "llama3.2:1b"}, {"prompt", "a"}, {"suffix", "b"}, {"stream", false}});
  CHECK(refused.status == 400);
  CHECK(refused.body ==
        R"({"error":"registry.ollama.ai/library/llama3.2:1b does not support insert"})");
  // raw: no template, and no system with it.
  Json raw = Json::parse(post(sim, "/api/generate",
                              {{"model", "llama3.2:1b"}, {"prompt", "abcdefgh"}, {"raw", true},
                               {"stream", false}})
                             .body);
  CHECK(raw["prompt_eval_count"] == 2);
  Reply raw_system = post(sim, "/api/generate",
                          {{"model", "llama3.2:1b"}, {"prompt", "a"}, {"raw", true}, {"system", "s"}});
  CHECK(raw_system.status == 400);
  CHECK(raw_system.body == R"({"error":"raw mode does not support template, system, or context"})");
}

TEST_CASE("llm-sim ollama: a prompt past num_ctx is cut silently, keeping the end") {
  SimProcess sim(ollama_args());
  std::string long_text;
  for (int i = 0; i < 400; ++i) {
    long_text += "word ";
  }
  auto gen = [&](const Json& options) {
    Json body{{"model", "llama3.2:1b"}, {"prompt", long_text + "[[sim: tokens=3]]"}, {"stream", false}};
    if (!options.is_null()) {
      body["options"] = options;
    }
    Reply r = post(sim, "/api/generate", body);
    REQUIRE(r.status == 200);
    return Json::parse(r.body);
  };
  Json full = gen(Json());
  CHECK(full["prompt_eval_count"].get<long long>() > 400); // fits the default 4096
  Json cut = gen({{"num_ctx", 64}});
  CHECK(cut["prompt_eval_count"] == 64);
  CHECK(cut["eval_count"] == 3);
  // Chat: the oldest turns go first, the system prompt stays.
  Json body{{"model", "llama3.2:1b"},
            {"stream", false},
            {"options", {{"num_ctx", 40}}},
            {"messages",
             {{{"role", "system"}, {"content", "be brief"}},
              {{"role", "user"}, {"content", long_text}},
              {{"role", "assistant"}, {"content", "ok"}},
              {{"role", "user"}, {"content", "and now?"}}}}};
  Json chat_cut = Json::parse(post(sim, "/api/chat", body).body);
  CHECK(chat_cut["prompt_eval_count"].get<long long>() <= 40);
  body["options"]["num_ctx"] = 4096;
  CHECK(Json::parse(post(sim, "/api/chat", body).body)["prompt_eval_count"].get<long long>() > 100);
}
