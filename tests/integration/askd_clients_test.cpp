// Real npm clients against askd: @anthropic-ai/sdk on /v1/messages, the openai SDK on
// /v1/chat/completions, /v1/responses and /v1/models, and the AI SDK (`ai` with
// @ai-sdk/openai-compatible) on chat; each against a model on an OpenAI-compatible backend
// (llm-sim as llama-server), on Ollama (llm-sim --ollama) and managed by askd (llm-sim spawned
// as llama-server). The clients live in tests/clients (pinned in its package-lock.json,
// installed by scripts/install-deps.sh); their scripts check every reply with node:assert
// and print "ok NAME" per group.

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/integration/askd_harness.h"
#include "tests/integration/managed_harness.h"
#include "tests/integration/sim_harness.h"
#include "tests/support/child_process.h"

using namespace ask::testing;

namespace {

const std::filesystem::path k_clients = std::filesystem::path(ASK_SOURCE_DIR) / "tests/clients";

std::string node_binary() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
    const std::filesystem::path p = std::filesystem::path(dir) / "node";
    if (std::filesystem::exists(p)) {
      return p.string();
    }
  }
  return {};
}

// Runs tests/clients/`script` against `askd` for `model`; returns its stdout, failing the
// test (with the script's stderr) when it exits non-zero.
std::string run_client(const std::string& script, const AskdProcess& askd,
                       const std::string& model) {
  const std::string node = node_binary();
  REQUIRE_MESSAGE(!node.empty(), "node is not installed: run scripts/install-deps.sh");
  REQUIRE_MESSAGE(std::filesystem::exists(k_clients / "node_modules"),
                  "the npm clients are not installed: run scripts/install-deps.sh");
  ChildOptions options;
  options.env = {"ASKD_URL=http://127.0.0.1:" + std::to_string(askd.port()), "MODEL=" + model,
                 "NODE_NO_WARNINGS=1"};
  options.stdin_path = "/dev/null";
  ChildProcess client({node, (k_clients / script).string()}, options);
  const auto status = client.wait_exit(std::chrono::seconds(60));
  client.wait_output_closed(std::chrono::seconds(5));
  INFO(script << " for " << model << ":\n" << client.output());
  REQUIRE(status.has_value());
  CHECK(status->exited);
  CHECK(status->code == 0);
  return client.stdout_text();
}

// Models on three backend kinds: "via-openai" (llm-sim as llama-server), "via-ollama"
// (llm-sim as Ollama) and "via-managed" (llm-sim spawned by askd as llama-server).
Json three_kinds_config(int llama_port, int ollama_port) {
  Json cfg = Json::parse(managed_config({{"via-managed", tiny_model()}}));
  cfg["backends"]["sim"] = {{"kind", "openai"},
                            {"url", "http://127.0.0.1:" + std::to_string(llama_port)}};
  cfg["backends"]["ollama"] = {{"kind", "ollama"},
                               {"url", "http://127.0.0.1:" + std::to_string(ollama_port)}};
  cfg["models"]["via-openai"] = {{"backend", "sim"}, {"upstream", "sim-model"}};
  cfg["models"]["via-ollama"] = {{"backend", "ollama"}, {"upstream", "qwen3:8b"}};
  return cfg;
}

struct ThreeKinds {
  SimProcess llama{llama_args()};
  SimProcess ollama{{"--ollama", "--sim-tokens-per-second", "0", "--sim-models", "qwen3:8b"}};
  AskdProcess askd{three_kinds_config(llama.port(), ollama.port()).dump()};
};

} // namespace

TEST_CASE("askd clients: @anthropic-ai/sdk on /v1/messages, every backend kind") {
  ThreeKinds t;
  for (const std::string model : {"via-openai", "via-ollama", "via-managed"}) {
    CAPTURE(model);
    const std::string out = run_client("anthropic.mjs", t.askd, model);
    CHECK(out.find("ok messages.countTokens") != std::string::npos);
  }
  // Every request was logged as the Messages door's.
  for (const Json& line : t.askd.log_lines()) {
    CHECK(line["api"] == "messages");
  }
}

TEST_CASE("askd clients: the openai SDK on chat, responses and models, every backend kind") {
  ThreeKinds t;
  for (const std::string model : {"via-openai", "via-ollama", "via-managed"}) {
    CAPTURE(model);
    const std::string out = run_client("openai.mjs", t.askd, model);
    CHECK(out.find("ok responses: previous_response_id is refused clearly") != std::string::npos);
  }
}

TEST_CASE("askd clients: the AI SDK (OpenCode's) on chat") {
  ThreeKinds t;
  for (const std::string model : {"via-openai", "via-ollama", "via-managed"}) {
    CAPTURE(model);
    const std::string out = run_client("ai_sdk.mjs", t.askd, model);
    CHECK(out.find("ok streamText") != std::string::npos);
  }
}

TEST_CASE("askd count_tokens: the backend's tokenizer where it has one, else an estimate") {
  ThreeKinds t;
  const Json body = {{"model", "via-openai"},
                     {"system", "Answer briefly."},
                     {"messages", Json::array({{{"role", "user"}, {"content", "Say hello."}}})}};
  // llm-sim as llama-server: /apply-template, then /tokenize of that prompt (a token per four
  // bytes there).
  Reply exact = t.askd.request("POST", "/v1/messages/count_tokens", body.dump());
  REQUIRE(exact.status == 200);
  CHECK(exact.header("X-Token-Count") == "tokenizer");
  CHECK(exact.header("X-Served-By") == "via-openai");
  auto templated = t.llama.client().Post(
      "/apply-template",
      R"({"messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"Say hello."}]})",
      "application/json");
  REQUIRE(templated);
  const std::string prompt = Json::parse(templated->body)["prompt"];
  CHECK(Json::parse(exact.body) == Json{{"input_tokens", (prompt.size() + 3) / 4}});

  // Ollama has no tokenizer endpoint: estimated, and said so.
  Json on_ollama = body;
  on_ollama["model"] = "via-ollama";
  Reply estimate = t.askd.request("POST", "/v1/messages/count_tokens", on_ollama.dump());
  REQUIRE(estimate.status == 200);
  CHECK(estimate.header("X-Token-Count") == "estimate");
  CHECK(Json::parse(estimate.body)["input_tokens"].get<long long>() > 0);

  // Errors in Anthropic's shape.
  Json unknown = body;
  unknown["model"] = "nope";
  Reply missing = t.askd.request("POST", "/v1/messages/count_tokens", unknown.dump());
  CHECK(missing.status == 404);
  CHECK(Json::parse(missing.body)["error"]["type"] == "not_found_error");
  Reply broken = t.askd.request("POST", "/v1/messages/count_tokens", "{");
  CHECK(broken.status == 400);
  CHECK(Json::parse(broken.body)["type"] == "error");
  CHECK(Json::parse(broken.body)["error"]["type"] == "invalid_request_error");
  Reply wrong_method = t.askd.request("GET", "/v1/messages");
  CHECK(wrong_method.status == 405);
  CHECK(Json::parse(wrong_method.body)["error"]["type"] == "invalid_request_error");
}

TEST_CASE("askd doors: a key is asked for in the door's own error shape") {
  SimProcess llama{llama_args()};
  Json cfg = Json::parse(chain_config({llama.port()}));
  cfg["api_keys"] = Json::array({"k-test-key-0123456789abcdef"});
  AskdProcess askd(cfg.dump());
  Reply messages = askd.request("POST", "/v1/messages", "{}");
  CHECK(messages.status == 401);
  CHECK(Json::parse(messages.body)["error"]["type"] == "authentication_error");
  Reply responses = askd.request("POST", "/v1/responses", "{}");
  CHECK(responses.status == 401);
  CHECK(Json::parse(responses.body)["error"]["code"] == "invalid_api_key");
  // With the key (as X-Api-Key, the Anthropic SDK's header), the door answers.
  const Json body = {{"model", "m0"},
                     {"max_tokens", 16},
                     {"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}};
  Reply served = askd.request("POST", "/v1/messages", body.dump(),
                              {{"X-Api-Key", "k-test-key-0123456789abcdef"}});
  CHECK(served.status == 200);
  CHECK(Json::parse(served.body)["type"] == "message");
}

TEST_CASE("askd clients: the openai SDK's embeddings.create, float and base64, every backend kind") {
  SimProcess llama{llama_args({"--embeddings", "--pooling", "mean"})};
  SimProcess ollama{{"--ollama", "--sim-models", "nomic-embed-text"}};
  // A generative GGUF has no pooling of its own: the managed model needs --pooling for
  // /v1/embeddings (llama-server b10587 refuses pooling none there).
  Json cfg = Json::parse(managed_config(
      {{"via-managed",
        tiny_model({{"capabilities", {"embedding"}}, {"extra_args", {"--pooling", "mean"}}})}}));
  cfg["backends"]["sim"] = {{"kind", "openai"},
                            {"url", "http://127.0.0.1:" + std::to_string(llama.port())}};
  cfg["backends"]["ollama"] = {{"kind", "ollama"},
                               {"url", "http://127.0.0.1:" + std::to_string(ollama.port())}};
  cfg["models"]["via-openai"] = {
      {"backend", "sim"}, {"upstream", "sim-model"}, {"capabilities", {"embedding"}}};
  cfg["models"]["via-ollama"] = {
      {"backend", "ollama"}, {"upstream", "nomic-embed-text"}, {"capabilities", {"embedding"}}};
  AskdProcess askd(cfg.dump());
  for (const std::string model : {"via-openai", "via-ollama", "via-managed"}) {
    CAPTURE(model);
    const std::string out = run_client("openai_embeddings.mjs", askd, model);
    CHECK(out.find("ok embeddings.create with the default (base64, decoded by the SDK)") !=
          std::string::npos);
    CHECK(out.find("ok embeddings.create refused: an empty input is a 400") != std::string::npos);
  }
}

TEST_CASE("askd clients: the openai SDK on text completions with a suffix, every backend kind") {
  SimProcess llama{llama_args()};
  // qwen3:8b given Ollama's "insert" capability, so that /api/generate takes a suffix.
  SimProcess ollama{
      {"--ollama", "--sim-tokens-per-second", "0", "--sim-models", "qwen3:8b@completion+insert"}};
  AskdProcess askd{three_kinds_config(llama.port(), ollama.port()).dump()};
  const std::string node = node_binary();
  REQUIRE_MESSAGE(!node.empty(), "node is not installed: run scripts/install-deps.sh");
  REQUIRE_MESSAGE(std::filesystem::exists(k_clients / "node_modules"),
                  "the npm clients are not installed: run scripts/install-deps.sh");
  // llama-server's /v1/completions (the openai kind) ignores the suffix; Ollama and the
  // managed instance's /infill fill in the middle.
  for (const auto& [model, fim] : std::vector<std::pair<std::string, bool>>{
           {"via-openai", false}, {"via-ollama", true}, {"via-managed", true}}) {
    CAPTURE(model);
    ChildOptions options;
    options.env = {"ASKD_URL=http://127.0.0.1:" + std::to_string(askd.port()), "MODEL=" + model,
                   std::string("FIM=") + (fim ? "1" : "0"), "NODE_NO_WARNINGS=1"};
    options.stdin_path = "/dev/null";
    ChildProcess client({node, (k_clients / "openai_completions.mjs").string()}, options);
    const auto status = client.wait_exit(std::chrono::seconds(60));
    client.wait_output_closed(std::chrono::seconds(5));
    INFO("openai_completions.mjs for " << model << ":\n" << client.output());
    REQUIRE(status.has_value());
    CHECK(status->exited);
    CHECK(status->code == 0);
    CHECK(client.stdout_text().find("ok completions.create streamed with a suffix") !=
          std::string::npos);
  }
}
