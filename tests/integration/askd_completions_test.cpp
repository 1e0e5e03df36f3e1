// askd's POST /v1/completions (OpenAI text completions, with fill-in-the-middle) end to end,
// on the three backend kinds: llm-sim as llama-server behind the `openai` kind (passed
// through), llm-sim as Ollama (/api/generate: raw without a suffix, the FIM template with
// one) and llm-sim spawned as a managed llama-server (/infill with a suffix). llm-sim starts a
// FIM answer with "[fim LAST..FIRST] " (the last word of the prefix, the first of the
// suffix), so the tests see that both halves reached the model.

#include <doctest/doctest.h>

#include "tests/integration/askd_harness.h"
#include "tests/integration/managed_harness.h"
#include "tests/integration/sim_harness.h"

using namespace ask::testing;

namespace {

Json completions_config(int llama_port, int ollama_port, int dead_port) {
  Json cfg = Json::parse(managed_config(
      {{"via-managed", tiny_model()},
       // A model without FIM tokens: /infill answers 501, and the chain moves on.
       {"managed-no-fim",
        tiny_model({{"extra_args", {"--sim-no-fim"}}, {"fallbacks", {"via-ollama"}}})}}));
  cfg["backends"]["sim"] = {{"kind", "openai"},
                            {"url", "http://127.0.0.1:" + std::to_string(llama_port)}};
  cfg["backends"]["ollama"] = {{"kind", "ollama"},
                               {"url", "http://127.0.0.1:" + std::to_string(ollama_port)}};
  cfg["backends"]["dead"] = {{"kind", "openai"},
                             {"url", "http://127.0.0.1:" + std::to_string(dead_port)}};
  cfg["models"]["via-openai"] = {{"backend", "sim"}, {"upstream", "sim-model"}};
  cfg["models"]["via-ollama"] = {{"backend", "ollama"},
                                 {"upstream", "qwen2.5-coder:1.5b"},
                                 {"context_length", 8192},
                                 {"keep_alive", "10m"}};
  cfg["models"]["ollama-plain"] = {
      {"backend", "ollama"}, {"upstream", "llama3.2:1b"}, {"capabilities", {"completion"}}};
  // No capabilities in the config: Ollama itself refuses the suffix (its 400 "does not
  // support insert"), which askd takes as the model's limit and falls back from.
  cfg["models"]["ollama-no-insert"] = {
      {"backend", "ollama"}, {"upstream", "llama3.2:1b"}, {"fallbacks", {"via-managed"}}};
  cfg["models"]["broken"] = {{"backend", "dead"}, {"upstream", "x"}, {"fallbacks", {"via-openai"}}};
  return cfg;
}

struct Completions {
  SimProcess llama{llama_args()};
  SimProcess ollama{{"--ollama", "--sim-tokens-per-second", "0", "--sim-models",
                     "qwen2.5-coder:1.5b,llama3.2:1b"}};
  AskdProcess askd{completions_config(llama.port(), ollama.port(), closed_port()).dump()};

  Reply complete(const Json& body) const {
    return post(askd.port(), "/v1/completions", body.dump(), {}, 30s);
  }
};

Json body_for(const std::string& model, const Json& extra = Json::object()) {
  Json body = {{"model", model}, {"prompt", "def add(a, b):\n    c ="}, {"max_tokens", 12}};
  body.update(extra);
  return body;
}

// The text_completion chunks of a streamed answer; checks the [DONE] at the end.
std::vector<Json> chunks_of(const Reply& r) {
  auto events = sse_events(r.body);
  REQUIRE(!events.empty());
  CHECK(events.back().is_done());
  std::vector<Json> out;
  for (const auto& e : events) {
    if (!e.is_done()) {
      out.push_back(Json::parse(e.data));
    }
  }
  return out;
}

std::string text_of(const std::vector<Json>& chunks) {
  std::string text;
  for (const Json& c : chunks) {
    for (const Json& choice : c["choices"]) {
      text += choice.value("text", "");
    }
  }
  return text;
}

// The last request llm-sim received on `path`.
Json last_request(const SimProcess& sim, const std::string& path) {
  Json requests = sim.get_json("/sim/requests")["requests"];
  for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
    if ((*it)["path"] == path) {
      return (*it)["json"];
    }
  }
  FAIL("no request to ", path);
  return {};
}

} // namespace

TEST_CASE("askd completions: whole and streamed, with and without a suffix, on every kind") {
  Completions t;
  for (const std::string model : {"via-openai", "via-ollama", "via-managed"}) {
    CAPTURE(model);
    // Without a suffix: a plain completion.
    Reply whole = t.complete(body_for(model));
    REQUIRE_MESSAGE(whole.status == 200, whole.body);
    CHECK(whole.header("X-Served-By") == model);
    const Json reply = Json::parse(whole.body);
    CHECK(reply["object"] == "text_completion");
    CHECK(reply["model"] == model);
    REQUIRE(reply["choices"].size() == 1);
    CHECK(reply["choices"][0]["index"] == 0);
    const std::string plain = reply["choices"][0]["text"];
    CHECK(!plain.empty());
    CHECK(plain.rfind("[fim", 0) != 0);
    CHECK(reply["usage"]["completion_tokens"].get<long long>() > 0);
    CHECK(reply["usage"]["prompt_tokens"].get<long long>() > 0);

    // With a suffix: fill-in-the-middle where the backend has it (llama-server's
    // /v1/completions ignores "suffix", so the openai kind answers a plain completion).
    Reply fim = t.complete(body_for(model, {{"suffix", "\n    return c\n"}}));
    REQUIRE_MESSAGE(fim.status == 200, fim.body);
    const Json fim_reply = Json::parse(fim.body);
    const std::string middle = fim_reply["choices"][0]["text"];
    const std::string finish = fim_reply["choices"][0]["finish_reason"];
    CHECK((finish == "stop" || finish == "length"));
    if (model != "via-openai") {
      CHECK_MESSAGE(middle.rfind("[fim c..return] ", 0) == 0, middle);
    }

    // Streamed, with the usage chunk asked for.
    Reply streamed = t.complete(body_for(model, {{"suffix", "\n    return c\n"},
                                                 {"stream", true},
                                                 {"stream_options", {{"include_usage", true}}}}));
    REQUIRE_MESSAGE(streamed.status == 200, streamed.body);
    CHECK(streamed.header("Content-Type").rfind("text/event-stream", 0) == 0);
    const auto chunks = chunks_of(streamed);
    REQUIRE(chunks.size() >= 2);
    for (const Json& c : chunks) {
      CHECK(c["object"] == "text_completion");
      CHECK(c["model"] == model);
    }
    if (model != "via-openai") {
      CHECK(text_of(chunks).rfind("[fim c..return] ", 0) == 0);
    }
    const Json& last = chunks.back();
    CHECK(last["usage"]["completion_tokens"].get<long long>() > 0);
    bool finished = false;
    for (const Json& c : chunks) {
      for (const Json& choice : c["choices"]) {
        finished = finished || !choice["finish_reason"].is_null();
      }
    }
    CHECK(finished);

    // Streamed without usage: no chunk carries it.
    Reply quiet = t.complete(body_for(model, {{"stream", true}}));
    REQUIRE(quiet.status == 200);
    const auto quiet_chunks = chunks_of(quiet);
    CHECK(!text_of(quiet_chunks).empty());
    for (const Json& c : quiet_chunks) {
      CHECK_FALSE(c.contains("usage"));
    }
  }
}

TEST_CASE("askd completions: what Ollama's /api/generate and llama-server's /infill receive") {
  Completions t;
  REQUIRE(t.complete(body_for("via-ollama", {{"temperature", 0.5}, {"stop", "\n\n"}})).status ==
          200);
  Json plain = last_request(t.ollama, "/api/generate");
  CHECK(plain["model"] == "qwen2.5-coder:1.5b");
  CHECK(plain["prompt"] == "def add(a, b):\n    c =");
  CHECK(plain["raw"] == true); // a text completion's prompt is raw text, no chat template
  CHECK_FALSE(plain.contains("suffix"));
  CHECK(plain["options"]["num_predict"] == 12);
  CHECK(plain["options"]["num_ctx"] == 8192); // the model's context_length
  CHECK(plain["options"]["temperature"] == 0.5);
  CHECK(plain["options"]["stop"] == Json::array({"\n\n"}));
  CHECK(plain["keep_alive"] == 600);

  REQUIRE(
      t.complete(body_for("via-ollama", {{"suffix", "return c"}, {"options", {{"num_ctx", 2048}}}}))
          .status == 200);
  Json fim = last_request(t.ollama, "/api/generate");
  CHECK(fim["suffix"] == "return c");
  CHECK_FALSE(fim.contains("raw")); // raw would skip the template that lays out the FIM tokens
  CHECK(fim["options"]["num_ctx"] == 2048);

  // The managed instance: /infill with a suffix, /v1/completions without.
  REQUIRE(t.complete(body_for("via-managed", {{"suffix", "return c"}, {"stop", "END"}})).status ==
          200);
  REQUIRE(t.complete(body_for("via-managed")).status == 200);
  const Json instances = status(t.askd)["instances"];
  REQUIRE(instances.size() == 1);
  httplib::Client instance("127.0.0.1", instances[0]["port"].get<int>());
  auto got = instance.Get("/sim/requests");
  REQUIRE(got);
  const Json received = Json::parse(got->body)["requests"];
  std::vector<std::string> paths;
  Json infill;
  for (const Json& req : received) {
    const std::string path = req["path"];
    if (path == "/infill" || path == "/v1/completions") {
      paths.push_back(path);
    }
    if (path == "/infill") {
      infill = req["json"];
    }
  }
  CHECK(paths == std::vector<std::string>{"/infill", "/v1/completions"});
  CHECK(infill["input_prefix"] == "def add(a, b):\n    c =");
  CHECK(infill["input_suffix"] == "return c");
  CHECK(infill["n_predict"] == 12);
  CHECK(infill["stop"] == Json::array({"END"}));
  CHECK_FALSE(infill.contains("prompt")); // /infill would read it as the start of the middle
}

TEST_CASE("askd completions: fallback past a model without FIM tokens and a dead backend") {
  Completions t;
  // The managed model has no FIM tokens: its 501 moves the request on to Ollama.
  Reply fim = t.complete(body_for("managed-no-fim", {{"suffix", "return c"}}));
  REQUIRE_MESSAGE(fim.status == 200, fim.body);
  CHECK(fim.header("X-Served-By") == "via-ollama");
  CHECK(fim.header("X-Fallback-Path") == "managed-no-fim>via-ollama");
  CHECK(Json::parse(fim.body)["choices"][0]["text"].get<std::string>().rfind("[fim c..return] ",
                                                                             0) == 0);
  // Streamed likewise, before anything was sent.
  Reply fim_stream =
      t.complete(body_for("managed-no-fim", {{"suffix", "return c"}, {"stream", true}}));
  REQUIRE(fim_stream.status == 200);
  CHECK(fim_stream.header("X-Served-By") == "via-ollama");
  CHECK(text_of(chunks_of(fim_stream)).rfind("[fim c..return] ", 0) == 0);

  // Without a suffix the same model answers itself.
  Reply plain = t.complete(body_for("managed-no-fim"));
  REQUIRE(plain.status == 200);
  CHECK(plain.header("X-Served-By") == "managed-no-fim");

  // Ollama's own refusal of a suffix for a model without "insert".
  for (const bool stream : {false, true}) {
    CAPTURE(stream);
    Reply r =
        t.complete(body_for("ollama-no-insert", {{"suffix", "return c"}, {"stream", stream}}));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(r.header("X-Served-By") == "via-managed");
    CHECK(r.header("X-Fallback-Path") == "ollama-no-insert>via-managed");
  }

  // A backend that is not there.
  for (const bool stream : {false, true}) {
    CAPTURE(stream);
    Reply r = t.complete(body_for("broken", {{"stream", stream}}));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(r.header("X-Served-By") == "via-openai");
    CHECK(r.header("X-Fallback-Path") == "broken>via-openai");
  }
}

TEST_CASE("askd completions: a suffix to a model without the insert capability is a 400") {
  Completions t;
  Reply r = t.complete(body_for("ollama-plain", {{"suffix", "return c"}}));
  CHECK(r.status == 400);
  const Json err = Json::parse(r.body)["error"];
  CHECK(err["type"] == "invalid_request_error");
  CHECK(err["message"].get<std::string>().find("'insert'") != std::string::npos);
  // Nothing reached Ollama.
  const Json received = t.ollama.get_json("/sim/requests")["requests"];
  for (const Json& req : received) {
    CHECK(req["path"] != "/api/generate");
  }
  // Without a suffix (or with an empty one) it answers.
  CHECK(t.complete(body_for("ollama-plain")).status == 200);
  CHECK(t.complete(body_for("ollama-plain", {{"suffix", ""}})).status == 200);
}

TEST_CASE("askd completions: malformed bodies are 400s in OpenAI's shape") {
  Completions t;
  struct Case {
    std::string body;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"{not json", "invalid JSON"},
           {R"({"model":"via-openai"})", "prompt: required"},
           {R"({"model":"via-openai","prompt":["a","b"]})", "one prompt per request"},
           {R"({"model":"via-openai","prompt":"a","suffix":5})", "suffix: expected a string"},
           {R"({"model":"via-openai","prompt":"a","max_tokens":-1})", "max_tokens"},
           {R"({"model":"via-openai","prompt":"a","n":3})", "n: "},
           {R"({"model":"via-openai","prompt":"a","echo":true})", "echo"},
           {R"({"model":"via-openai","prompt":"a","stream":"yes"})", "stream: expected a boolean"},
       }) {
    CAPTURE(c.body);
    Reply r = post(t.askd.port(), "/v1/completions", c.body);
    CHECK(r.status == 400);
    const Json body = Json::parse(r.body);
    REQUIRE(body.contains("error"));
    CHECK(body["error"]["type"] == "invalid_request_error");
    CHECK(body["error"]["message"].get<std::string>().find(c.says) != std::string::npos);
  }
  // None reached a backend.
  CHECK(t.llama.get_json("/sim/requests")["requests"].empty());
}
