// askd end to end on context windows: a prompt that does not fit a model goes down its chain
// (llama-server's own 400 exceed_context_size_error, askd's count with the model's tokenizer,
// askd's estimate for Ollama, which would cut the prompt silently), one that fits nowhere is a
// 400 with the tokens and each window, Ollama is sent num_ctx; and /v1/models carries the
// context and capabilities the backends report.

#include <doctest/doctest.h>

#include "tests/integration/askd_harness.h"

namespace {

using namespace ask::testing;

std::string url(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// A chat request whose one message is `bytes` bytes of words (about bytes/4 tokens by askd's
// estimate; llm-sim counts one token a word).
Json long_prompt(const std::string& model, std::size_t bytes) {
  std::string text;
  while (text.size() < bytes) {
    text += "lorem ";
  }
  return {{"model", model},
          {"max_tokens", 8},
          {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
}

std::vector<Json> sim_requests(const SimProcess& sim) {
  return sim.get_json("/sim/requests")["requests"].get<std::vector<Json>>();
}

} // namespace

TEST_CASE(
    "askd context: llama-server's refusal, and askd's own count, move on to a model that fits") {
  SimProcess small(llama_args({"--ctx-size", "512"}));
  SimProcess big(llama_args({"--ctx-size", "16384"}));
  Json cfg = {{"backends",
               {{"small", {{"kind", "openai"}, {"url", url(small.port())}}},
                {"big", {{"kind", "openai"}, {"url", url(big.port())}}}}},
              {"models",
               {// No context_length: only llama-server's own 400 tells.
                {"unsaid", {{"backend", "small"}, {"fallbacks", {"wide"}}}},
                // context_length said: askd counts with /tokenize and never sends the chat.
                {"said", {{"backend", "small"}, {"context_length", 512}, {"fallbacks", {"wide"}}}},
                {"wide", {{"backend", "big"}}}}}};
  AskdProcess askd(cfg.dump());

  Reply r = askd.chat(long_prompt("unsaid", 8000));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "wide");
  CHECK(r.header("X-Fallback-Path") == "unsaid>wide");
  CHECK(r.header("X-Fallback-Reasons") == "unsaid=context");

  const std::size_t before = sim_requests(small).size();
  Reply s = askd.chat(long_prompt("said", 8000));
  CHECK(s.status == 200);
  CHECK(s.header("X-Served-By") == "wide");
  CHECK(s.header("X-Fallback-Reasons") == "said=context");
  // The small server was asked to count, not to answer.
  std::vector<Json> after = sim_requests(small);
  REQUIRE(after.size() > before);
  for (std::size_t i = before; i < after.size(); ++i) {
    CHECK(after[i]["path"] != "/v1/chat/completions");
  }
  CHECK(after.back()["path"] == "/tokenize");

  const std::vector<Json> log = askd.wait_log_lines(2);
  CHECK(log[1]["attempts"][0]["reason"] == "context");
  CHECK(askd.metrics().get(R"(askd_fallbacks_total{from="said",to="wide",reason="context"})") == 1);

  // A short prompt is served by the small model, uncounted.
  Reply t = askd.chat(long_prompt("said", 100));
  CHECK(t.header("X-Served-By") == "said");
}

TEST_CASE("askd context: a prompt that fits no window is a 400 with the tokens and each limit") {
  SimProcess small(llama_args({"--ctx-size", "512"}));
  Json cfg = {{"backends", {{"small", {{"kind", "openai"}, {"url", url(small.port())}}}}},
              {"models",
               {{"a", {{"backend", "small"}, {"fallbacks", {"b"}}}},
                {"b", {{"backend", "small"}, {"context_length", 512}}}}}};
  AskdProcess askd(cfg.dump());
  Reply r = askd.chat(long_prompt("a", 8000));
  CHECK(r.status == 400);
  const Json error = Json::parse(r.body)["error"];
  CHECK(error["code"] == "context_length_exceeded");
  const std::string message = error["message"];
  CAPTURE(message);
  // Both counts are the backend's own (llama-server's 400, then /tokenize): no "about".
  CHECK(message.starts_with("the prompt ("));
  CHECK(message.find("about") == std::string::npos);
  // a's window is its slot's (-c 512 over llm-sim's two slots), as llama-server said it.
  CHECK(message.find("a 256, b 512 tokens") != std::string::npos);
  CHECK(error["prompt_tokens"].get<long long>() > 512);
  CHECK(r.header("X-Fallback-Path") == "a>b");
}

TEST_CASE("askd context: Ollama gets num_ctx, and a prompt over the window is not cut but moved") {
  SimProcess ollama(
      {"--ollama", "--sim-tokens-per-second", "0", "--sim-models", "llama3.2:1b,qwen3:8b"});
  Json cfg = {
      {"backends", {{"ollama", {{"kind", "ollama"}, {"url", url(ollama.port())}}}}},
      {"models",
       {{"short",
         {{"backend", "ollama"},
          {"upstream", "llama3.2:1b"},
          {"context_length", 1024},
          {"fallbacks", {"long"}}}},
        {"long", {{"backend", "ollama"}, {"upstream", "qwen3:8b"}, {"context_length", 32768}}}}}};
  AskdProcess askd(cfg.dump());

  Reply r = askd.chat(long_prompt("short", 200));
  CHECK(r.header("X-Served-By") == "short");
  Json sent = sim_requests(ollama).back();
  CHECK(sent["path"] == "/api/chat");
  CHECK(sent["json"]["options"]["num_ctx"] == 1024);

  // About 2500 tokens by the estimate: over short's 1024, so Ollama never sees it there
  // (it would keep the end of the prompt and say nothing).
  Reply l = askd.chat(long_prompt("short", 10000));
  CHECK(l.status == 200);
  CHECK(l.header("X-Served-By") == "long");
  CHECK(l.header("X-Fallback-Reasons") == "short=context");
  sent = sim_requests(ollama).back();
  CHECK(sent["json"]["model"] == "qwen3:8b");
  CHECK(sent["json"]["options"]["num_ctx"] == 32768);
  // What the model saw is the whole prompt (llm-sim counts a token a word).
  const Json answer = Json::parse(l.body);
  CHECK(answer["usage"]["prompt_tokens"].get<long long>() > 1024);
  const std::vector<Json> log = askd.wait_log_lines(2);
  CHECK(log[1]["attempts"][0]["message"].get<std::string>().find("about") != std::string::npos);
}

TEST_CASE("askd /v1/models: context length and capabilities from the backend where the config is "
          "silent") {
  SimProcess llama(llama_args({"--ctx-size", "2048"}));
  SimProcess ollama({"--ollama", "--sim-models", "llama3.2:1b,nomic-embed-text"});
  Json cfg = {
      {"backends",
       {{"llama", {{"kind", "openai"}, {"url", url(llama.port())}}},
        {"ollama", {{"kind", "ollama"}, {"url", url(ollama.port())}}}}},
      {"models",
       {{"served", {{"backend", "llama"}}},
        {"said", {{"backend", "llama"}, {"context_length", 777}, {"capabilities", {"completion"}}}},
        {"chat", {{"backend", "ollama"}, {"upstream", "llama3.2:1b"}}},
        {"embed", {{"backend", "ollama"}, {"upstream", "nomic-embed-text"}}}}}};
  AskdProcess askd(cfg.dump());
  auto [status, body] = askd.get("/v1/models");
  REQUIRE(status == 200);
  std::map<std::string, Json> by_id;
  const Json listing = Json::parse(body);
  for (const Json& e : listing["data"]) {
    by_id[e["id"]] = e;
  }
  CHECK(by_id["served"]["context_length"] == 1024); // /props n_ctx: a slot of -c 2048 -np 2
  CHECK(by_id["served"]["capabilities"][0] == "completion");
  CHECK(by_id["said"]["context_length"] == 777); // the config wins
  CHECK(by_id["said"]["capabilities"] == Json::array({"completion"}));
  CHECK(by_id["chat"]["context_length"] == 131072); // /api/show's model_info
  CHECK(by_id["embed"]["capabilities"] == Json::array({"embedding"}));
  CHECK(by_id["embed"]["context_length"] == 2048);
}
