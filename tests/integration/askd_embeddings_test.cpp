// askd's POST /v1/embeddings and /v1/rerank end to end, on every backend kind: llm-sim as
// llama-server (kind openai, started with --embeddings / --reranking as a user would),
// llm-sim as Ollama (/api/embed translated; no rerank: a 501 that falls back), and managed
// models that askd itself starts with the flag their capabilities call for. Capabilities
// gate the doors both ways; malformed bodies get OpenAI's 400.

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "tests/integration/askd_harness.h"
#include "tests/integration/managed_harness.h"
#include "tests/integration/sim_harness.h"

using namespace ask::testing;

namespace {

// The models of the simulated Ollama: one chat model, one embedding-only ("embed" in the name).
const char* const k_ollama_models = "qwen3:8b,nomic-embed-text";

struct Embeddings {
  SimProcess emb{llama_args({"--embeddings", "--pooling", "mean"})};
  SimProcess rr{llama_args({"--reranking"})};
  SimProcess plain{llama_args()}; // a llama-server started without --embeddings
  SimProcess ollama{{"--ollama", "--sim-tokens-per-second", "0", "--sim-models", k_ollama_models}};
  AskdProcess askd{config().dump()};

  Json config() const {
    // Managed: a generative GGUF has no pooling of its own, so an embedding model made of it
    // needs --pooling (as llama-server b10587 needs it: embeddings.http #1).
    Json cfg = Json::parse(managed_config(
        {{"emb-managed",
          tiny_model({{"capabilities", {"embedding"}}, {"extra_args", {"--pooling", "mean"}}})},
         {"rr-managed", tiny_model({{"capabilities", {"rerank"}}})}}));
    const auto url = [](const SimProcess& sim) {
      return "http://127.0.0.1:" + std::to_string(sim.port());
    };
    cfg["backends"]["emb"] = {{"kind", "openai"}, {"url", url(emb)}};
    cfg["backends"]["rr"] = {{"kind", "openai"}, {"url", url(rr)}};
    cfg["backends"]["plain"] = {{"kind", "openai"}, {"url", url(plain)}};
    cfg["backends"]["ollama"] = {{"kind", "ollama"}, {"url", url(ollama)}};
    Json& m = cfg["models"];
    m["emb-openai"] = {{"backend", "emb"}, {"upstream", "sim-model"}, {"capabilities", {"embedding"}}};
    m["emb-ollama"] = {{"backend", "ollama"},
                       {"upstream", "nomic-embed-text"},
                       {"capabilities", {"embedding"}},
                       {"context_length", 64},
                       {"keep_alive", "10m"}};
    // Started without --embeddings: llama-server's 501 moves the request on.
    m["emb-broken"] = {{"backend", "plain"},
                       {"upstream", "sim-model"},
                       {"capabilities", {"embedding"}},
                       {"fallbacks", {"emb-ollama"}}};
    m["chat-only"] = {{"backend", "plain"}, {"upstream", "sim-model"}, {"capabilities", {"completion", "tools"}}};
    // Skipped as a fallback of an embedding model: it lacks the capability.
    m["emb-skip"] = {{"backend", "plain"},
                     {"upstream", "sim-model"},
                     {"capabilities", {"embedding"}},
                     {"fallbacks", {"chat-only", "emb-openai"}}};
    m["rr-openai"] = {{"backend", "rr"}, {"upstream", "sim-model"}, {"capabilities", {"rerank"}}};
    // Ollama has no rerank: askd's 501 moves it on.
    m["rr-ollama"] = {{"backend", "ollama"},
                      {"upstream", "nomic-embed-text"},
                      {"capabilities", {"rerank"}},
                      {"fallbacks", {"rr-openai"}}};
    return cfg;
  }

  Reply post(const std::string& path, const Json& body) const {
    return askd.request("POST", path, body.dump());
  }
};

// The float32 values of OpenAI's base64 embedding.
std::vector<float> decode_base64_floats(const std::string& text) {
  static const std::string k_alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') {
      break;
    }
    const auto v = k_alphabet.find(c);
    REQUIRE(v != std::string::npos);
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  REQUIRE(bytes.size() % 4 == 0);
  std::vector<float> out(bytes.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t u = 0;
    for (int k = 3; k >= 0; --k) {
      u = (u << 8) | static_cast<unsigned char>(bytes[i * 4 + static_cast<std::size_t>(k)]);
    }
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

// Checks OpenAI's list shape with `n` vectors under `model`; returns the parsed body.
Json check_list(const Reply& r, const std::string& model, std::size_t n) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  Json j = Json::parse(r.body);
  CHECK(j["object"] == "list");
  CHECK(j["model"] == model);
  REQUIRE(j["data"].size() == n);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(j["data"][i]["object"] == "embedding");
    CHECK(j["data"][i]["index"] == i);
  }
  CHECK(j["usage"]["prompt_tokens"].get<long long>() > 0);
  return j;
}

// The OpenAI-shaped error of `r`: {"error":{"message","type",...}}.
std::string error_message(const Reply& r) {
  INFO(r.body);
  Json j = Json::parse(r.body);
  REQUIRE(j["error"].is_object());
  CHECK(j["error"]["type"] == "invalid_request_error");
  return j["error"]["message"];
}

} // namespace

TEST_CASE("askd embeddings: a string, an array and base64 on every backend kind") {
  Embeddings t;
  for (const std::string model : {"emb-openai", "emb-ollama", "emb-managed"}) {
    CAPTURE(model);
    Reply one = t.post("/v1/embeddings", {{"model", model}, {"input", "the giant panda"}});
    CHECK(one.header("X-Served-By") == model);
    const Json a = check_list(one, model, 1);
    const Json& vec = a["data"][0]["embedding"];
    REQUIRE(vec.is_array());
    REQUIRE(vec.size() >= 2);

    Reply two = t.post("/v1/embeddings",
                       {{"model", model}, {"input", {"the giant panda", "a quiet harbor"}}});
    const Json b = check_list(two, model, 2);
    CHECK(b["data"][0]["embedding"] == vec); // deterministic, and in order
    CHECK(b["data"][1]["embedding"] != vec);

    // base64: float32 little-endian, the same vector (askd encodes it for Ollama itself).
    Reply packed = t.post("/v1/embeddings", {{"model", model},
                                             {"input", "the giant panda"},
                                             {"encoding_format", "base64"}});
    const Json c = check_list(packed, model, 1);
    REQUIRE(c["data"][0]["embedding"].is_string());
    const auto floats = decode_base64_floats(c["data"][0]["embedding"]);
    REQUIRE(floats.size() == vec.size());
    for (std::size_t i = 0; i < floats.size(); ++i) {
      CHECK(floats[i] == doctest::Approx(vec[i].get<double>()).epsilon(1e-6));
    }
  }
  // Every one logged as the embeddings door's.
  const auto lines = t.askd.wait_log_lines(9);
  CHECK(lines.size() == 9);
}

TEST_CASE("askd embeddings: what askd sends Ollama's /api/embed") {
  Embeddings t;
  Reply r = t.post("/v1/embeddings",
                   {{"model", "emb-ollama"}, {"input", {"a", "b"}}, {"dimensions", 32}});
  const Json j = check_list(r, "emb-ollama", 2);
  CHECK(j["data"][0]["embedding"].size() == 32);
  Json requests = t.ollama.get_json("/sim/requests")["requests"];
  REQUIRE(!requests.empty());
  CHECK(requests.back()["path"] == "/api/embed");
  CHECK(requests.back()["json"] == Json{{"model", "nomic-embed-text"},
                                        {"input", {"a", "b"}},
                                        {"truncate", false},
                                        {"dimensions", 32},
                                        {"options", {{"num_ctx", 64}}},
                                        {"keep_alive", 600}});
  // Longer than the model's context (64 tokens): Ollama's error, not a cut text's vector.
  Reply long_input =
      t.post("/v1/embeddings", {{"model", "emb-ollama"}, {"input", std::string(2000, 'x')}});
  CHECK(long_input.status == 400);
  CHECK(error_message(long_input).find("exceeds the context length") != std::string::npos);
  // Token ids: Ollama takes text only.
  Reply tokens = t.post("/v1/embeddings", {{"model", "emb-ollama"}, {"input", {1, 2, 3}}});
  CHECK(tokens.status == 400);
  CHECK(error_message(tokens).find("Ollama embeds text only") != std::string::npos);
}

TEST_CASE("askd embeddings: a failing embedding model falls back - a chat-only one is skipped") {
  Embeddings t;
  Reply r = t.post("/v1/embeddings", {{"model", "emb-broken"}, {"input", "hello"}});
  check_list(r, "emb-ollama", 1);
  CHECK(r.header("X-Requested-Model") == "emb-broken");
  CHECK(r.header("X-Served-By") == "emb-ollama");
  CHECK(r.header("X-Fallback-Path") == "emb-broken>emb-ollama");

  Reply skip = t.post("/v1/embeddings", {{"model", "emb-skip"}, {"input", "hello"}});
  check_list(skip, "emb-openai", 1);
  CHECK(skip.header("X-Served-By") == "emb-openai");
  // chat-only was passed over without a call, and the log says why.
  CHECK(skip.header("X-Fallback-Path") == "emb-skip>emb-openai");
  const auto lines = t.askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1]["api"] == "embeddings");
  bool skipped = false;
  for (const Json& a : lines[1]["attempts"]) {
    skipped = skipped || (a["model"] == "chat-only" && a["reason"] == "capability");
  }
  CHECK(skipped);
}

TEST_CASE("askd embeddings: capabilities gate both doors with a 400 naming them") {
  Embeddings t;
  Reply chat = t.askd.chat(chat_body("emb-openai", "hi"));
  CHECK(chat.status == 400);
  CHECK(error_message(chat) ==
        "model 'emb-openai' cannot answer chat requests: they need the 'completion' capability, "
        "and its capabilities are embedding");
  Reply embed = t.post("/v1/embeddings", {{"model", "chat-only"}, {"input", "hi"}});
  CHECK(embed.status == 400);
  CHECK(error_message(embed).find("'embedding' capability, and its capabilities are completion, "
                                  "tools") != std::string::npos);
  Reply rerank = t.post("/v1/rerank",
                        {{"model", "emb-openai"}, {"query", "q"}, {"documents", {"a"}}});
  CHECK(rerank.status == 400);
  CHECK(error_message(rerank).find("'rerank' capability") != std::string::npos);
}

TEST_CASE("askd rerank: managed and OpenAI-compatible answer - Ollama's 501 falls back") {
  Embeddings t;
  const Json docs = {"pandas eat bamboo", "harbors shelter boats", "bamboo grows fast"};
  for (const std::string model : {"rr-openai", "rr-managed"}) {
    CAPTURE(model);
    Reply r = t.post("/v1/rerank",
                     {{"model", model}, {"query", "what do pandas eat"}, {"documents", docs},
                      {"top_n", 2}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(r.header("X-Served-By") == model);
    const Json j = Json::parse(r.body);
    REQUIRE(j["results"].size() == 2); // top_n
    double last = INFINITY;
    for (const Json& item : j["results"]) {
      CHECK(item["index"].get<int>() < 3);
      const double score = item["relevance_score"];
      CHECK(score <= last); // highest first, as llama-server sorts them
      last = score;
    }
  }
  Reply r = t.post("/v1/rerank",
                   {{"model", "rr-ollama"}, {"query", "q"}, {"documents", docs}});
  REQUIRE(r.status == 200);
  CHECK(r.header("X-Served-By") == "rr-openai");
  CHECK(r.header("X-Fallback-Path") == "rr-ollama>rr-openai");
}

TEST_CASE("askd embeddings: managed models start with the flag their capability needs") {
  Embeddings t;
  REQUIRE(t.post("/v1/embeddings", {{"model", "emb-managed"}, {"input", "x"}}).status == 200);
  REQUIRE(t.post("/v1/rerank", {{"model", "rr-managed"}, {"query", "q"}, {"documents", {"a"}}})
              .status == 200);
  const Json s = status(t.askd);
  int seen = 0;
  for (const Json& inst : s["instances"]) {
    const std::string cmd = cmdline(inst["pid"].get<int>());
    INFO(cmd);
    if (inst["model"] == "emb-managed") {
      CHECK(cmd.find(" --embeddings ") != std::string::npos);
      CHECK(cmd.find("--reranking") == std::string::npos);
      ++seen;
    } else if (inst["model"] == "rr-managed") {
      CHECK(cmd.find(" --reranking ") != std::string::npos);
      CHECK(cmd.find("--embeddings") == std::string::npos);
      ++seen;
    }
  }
  CHECK(seen == 2);
}

TEST_CASE("askd embeddings: malformed bodies get OpenAI's 400 naming the field") {
  Embeddings t;
  struct Case {
    const char* path;
    const char* body;
    const char* message;
  };
  for (const Case& c : {
           Case{"/v1/embeddings", R"({"model":"emb-openai"})", "input: required"},
           Case{"/v1/embeddings", R"({"model":"emb-openai","input":5})",
                "input: expected a string or an array, got an integer"},
           Case{"/v1/embeddings", R"({"model":"emb-openai","input":[]})",
                "input: must not be an empty array"},
           Case{"/v1/embeddings", R"({"model":"emb-openai","input":"x","encoding_format":"hex"})",
                "encoding_format: expected \"float\" or \"base64\", got \"hex\""},
           Case{"/v1/embeddings", R"({"model":"emb-openai","input":"x","dimensions":0})",
                "dimensions: must be at least 1"},
           Case{"/v1/rerank", R"({"model":"rr-openai","documents":["a"]})", "query: required"},
           Case{"/v1/rerank", R"({"model":"rr-openai","query":"q","documents":[]})",
                "documents: must not be an empty array"},
           Case{"/v1/rerank", R"({"model":"rr-openai","query":"q","documents":["a"],"top_n":0})",
                "top_n: must be at least 1"},
       }) {
    CAPTURE(c.body);
    Reply r = t.askd.request("POST", c.path, c.body);
    CHECK(r.status == 400);
    CHECK(error_message(r) == c.message);
  }
  // Not JSON at all.
  Reply junk = t.askd.request("POST", "/v1/embeddings", "{\"input\":");
  CHECK(junk.status == 400);
  // None of them reached a backend.
  CHECK(t.emb.get_json("/sim/requests")["requests"].empty());
  CHECK(t.rr.get_json("/sim/requests")["requests"].empty());
}
