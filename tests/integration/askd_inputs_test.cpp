// askd end to end: what it does with input it cannot serve (malformed JSON and fields,
// unknown models and routes, wrong methods, bodies over the limit, missing or wrong API
// keys, broken HTTP) and what it says about itself (/v1/models, /health, aliases, councils).
// Every error is OpenAI's shape, leaves a request-log line, and askd keeps serving.

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "tests/integration/askd_harness.h"

namespace {

using namespace ask::testing;

// The error object of an OpenAI-shaped error body; fails the test when the shape is wrong.
Json openai_error(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), body);
  REQUIRE_MESSAGE(j.contains("error"), body);
  const Json& e = j["error"];
  REQUIRE_MESSAGE(e.is_object(), body);
  CHECK(e["message"].is_string());
  CHECK(!e["message"].get<std::string>().empty());
  CHECK(e["type"].is_string());
  CHECK(e["code"].is_string());
  return e;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// askd is still there and answering.
void check_alive(AskdProcess& askd) {
  CHECK(askd.process().running());
  auto [status, body] = askd.get("/health");
  CHECK(status == 200);
  CHECK(body.starts_with(R"({"api_key_required":)"));
  CHECK(body.find(R"("status":"ok")") != std::string::npos);
}

const std::string k_key = "k-1234567890abcdef";

// A config with one model per port (chain_config) and the API key above.
std::string config_with_key(const std::vector<int>& ports) {
  Json cfg = Json::parse(chain_config(ports));
  cfg["api_keys"] = Json::array({k_key});
  return cfg.dump();
}

} // namespace

TEST_CASE("askd inputs: a malformed chat request is a 400 naming the problem, logged") {
  AskdProcess askd(chain_config({closed_port()}));
  struct Case {
    const char* what;
    std::string body;
    std::string message; // a part of the error message
    const char* requested;
  };
  const std::string hi = R"([{"role":"user","content":"hi"}])";
  const std::vector<Case> cases = {
      {"invalid JSON", R"({"model": "m0", "messages": )", "invalid JSON", ""},
      {"an empty body", "", "invalid JSON", ""},
      {"an array", R"([{"model":"m0"}])", "expected a JSON object, got an array", ""},
      {"a string", R"("hello")", "expected a JSON object, got a string", ""},
      {"no model", R"({"messages":)" + hi + "}", "model: required", ""},
      {"an empty model", R"({"model":"","messages":)" + hi + "}", "model: must not be empty", ""},
      {"no messages", R"({"model":"m0"})", "messages: required", "m0"},
      {"empty messages", R"({"model":"m0","messages":[]})", "messages: must contain at least",
       "m0"},
      {"messages a string", R"({"model":"m0","messages":"hi"})", "messages: expected an array",
       "m0"},
      {"model a number", R"({"model":7,"messages":)" + hi + "}", "model: expected a string", ""},
      {"stream a string", R"({"model":"m0","stream":"yes","messages":)" + hi + "}",
       "stream: expected a boolean", "m0"},
      {"temperature a string", R"({"model":"m0","temperature":"hot","messages":)" + hi + "}",
       "temperature", "m0"},
      {"temperature out of range", R"({"model":"m0","temperature":7,"messages":)" + hi + "}",
       "temperature", "m0"},
      {"max_tokens negative", R"({"model":"m0","max_tokens":-3,"messages":)" + hi + "}",
       "max_tokens", "m0"},
      {"content a number", R"({"model":"m0","messages":[{"role":"user","content":5}]})",
       "messages[0].content", "m0"},
      {"no role", R"({"model":"m0","messages":[{"content":"hi"}]})", "messages[0].role: required",
       "m0"},
      {"tools an object", R"({"model":"m0","tools":{},"messages":)" + hi + "}",
       "tools: expected an array", "m0"},
  };
  std::map<std::string, const Case*> by_id; // X-Request-Id -> case
  for (const Case& c : cases) {
    CAPTURE(std::string(c.what));
    Reply r = post(askd.port(), "/v1/chat/completions", c.body);
    CHECK(r.status == 400);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.header("X-Request-Id").starts_with("chatcmpl-"));
    by_id[r.header("X-Request-Id")] = &c;
    Json e = openai_error(r.body);
    CHECK(e["type"] == "invalid_request_error");
    CHECK_MESSAGE(contains(e["message"].get<std::string>(), c.message), e["message"]);
  }
  check_alive(askd);

  // Lines of concurrent requests may be written in any order: match them by id.
  auto lines = askd.wait_log_lines(cases.size());
  REQUIRE(lines.size() == cases.size());
  for (const Json& line : lines) {
    REQUIRE(by_id.contains(line["id"]));
    const Case& c = *by_id[line["id"]];
    CAPTURE(std::string(c.what));
    CHECK(line["status"] == 400);
    CHECK(line["requested"] == c.requested);
    CHECK(line["model"] == "");
    CHECK(line["served_by"] == "");
    CHECK(contains(line["error"].get<std::string>(), c.message));
  }
  MetricSamples m = askd.metrics();
  CHECK(m.get(R"(askd_rejected_total{reason="invalid_json"})") == 2);
  CHECK(m.get(R"(askd_rejected_total{reason="bad_request"})") ==
        static_cast<double>(cases.size() - 2));
  CHECK(m.sum("askd_upstream_in_flight") == 0);
  // docs/metrics.md: a request whose model did not resolve counts as requested="unknown".
  CHECK(m.get(R"(askd_requests_total{requested="unknown",served="",status="400"})") ==
        static_cast<double>(cases.size()));
  CHECK(m.sum("askd_requests_in_flight") == 0);
}

TEST_CASE("askd inputs: an unknown model is a 404 that names the known models") {
  Json cfg = Json::parse(chain_config({closed_port(), closed_port()}));
  cfg["aliases"] = {{"fast", "m0"}};
  AskdProcess askd(cfg.dump());
  Reply r = askd.chat(chat_body("m9", "hi"));
  CHECK(r.status == 404);
  CHECK(r.header("X-Served-By").empty());
  Json e = openai_error(r.body);
  CHECK(e["type"] == "not_found_error");
  const std::string message = e["message"];
  CHECK(contains(message, "unknown model \"m9\""));
  CHECK(contains(message, "m0"));
  CHECK(contains(message, "m1"));
  CHECK(contains(message, "fast"));

  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == 404);
  CHECK(lines[0]["requested"] == "m9");
  CHECK(lines[0]["model"] == "");
  CHECK(lines[0]["fallback_path"].empty());
  MetricSamples m = askd.metrics();
  CHECK(m.get(R"(askd_rejected_total{reason="unknown_model"})") == 1);
  // docs/metrics.md: counted as requested="unknown", never under the raw name.
  CHECK(m.get(R"(askd_requests_total{requested="unknown",served="",status="404"})") == 1);
  CHECK(m.get(R"(askd_requests_in_flight{requested="unknown"})").value_or(0) == 0);
  check_alive(askd);
}

TEST_CASE("askd inputs: a body over max_request_body is a 413, logged") {
  Json cfg = Json::parse(chain_config({closed_port()}));
  cfg["max_request_body"] = "1KiB";
  AskdProcess askd(cfg.dump());
  const std::string big = chat_body("m0", std::string(4000, 'x')).dump();
  RawRequest request(askd.port(), raw_post("/v1/chat/completions", big));
  const std::string response = request.response();
  CHECK(raw_status(response) == 413);
  CHECK(contains(response, "Content-Type: application/json"));
  Json e = openai_error(raw_body(response));
  CHECK(e["code"] == "request_too_large");
  CHECK(e["type"] == "invalid_request_error");

  // Just under the limit the body is read and judged on its content.
  Json small = chat_body("m0", std::string(100, 'x'));
  small["stream"] = "no";
  Reply r = askd.chat(small);
  CHECK(r.status == 400);

  auto lines = askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["status"] == 413);
  CHECK(lines[1]["status"] == 400);
  CHECK(askd.metrics().get(R"(askd_rejected_total{reason="too_large"})") == 1);
  check_alive(askd);
}

TEST_CASE("askd inputs: a wrong method is a 405 with Allow - an unknown route a 404 - logged") {
  AskdProcess askd(chain_config({closed_port()}));
  struct Case {
    const char* method;
    const char* path;
    int status;
    const char* allow;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/chat/completions", 405, "POST"},
      {"PUT", "/v1/chat/completions", 405, "POST"},
      {"POST", "/v1/models", 405, "GET"},
      {"DELETE", "/metrics", 405, "GET"},
      {"GET", "/v2/chat/completions", 404, ""},
      {"POST", "/v1/assistants", 404, ""}, // /v1/completions is a route
      {"GET", "/", 404, ""},
  };
  std::multiset<int> statuses;
  for (const Case& c : cases) {
    CAPTURE(std::string(c.method));
    CAPTURE(std::string(c.path));
    statuses.insert(c.status);
    Reply r = askd.request(c.method, c.path, c.method == std::string("GET") ? "" : "{}");
    CHECK(r.status == c.status);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.header("Allow") == c.allow);
    Json e = openai_error(r.body);
    CHECK(e["type"] == (c.status == 405 ? "invalid_request_error" : "not_found_error"));
    CHECK(e["code"] == (c.status == 405 ? "method_not_allowed" : "not_found"));
    CHECK(contains(e["message"].get<std::string>(), c.path));
  }
  check_alive(askd);
  // docs/proxy.md: every error askd answers itself leaves a line in the request log.
  auto lines = askd.wait_log_lines(cases.size());
  std::multiset<int> logged;
  for (const Json& line : lines) {
    logged.insert(line["status"].get<int>());
    CHECK(!line["error"].get<std::string>().empty());
  }
  CHECK(logged == statuses);
  MetricSamples m = askd.metrics();
  CHECK(m.get(R"(askd_rejected_total{reason="not_found_route"})") == 3);
  CHECK(m.get(R"(askd_rejected_total{reason="bad_request"})") == 4);
}

TEST_CASE("askd inputs: a malformed HTTP request is a 400 in OpenAI's shape") {
  AskdProcess askd(chain_config({closed_port()}));
  for (const std::string request :
       {"GARBAGE\r\n\r\n", "GET /health\r\n\r\n", "GET /health HTTP/1.1\r\nNo colon here\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: nope\r\n\r\n"}) {
    CAPTURE(request);
    const std::string response = raw_exchange(askd.port(), request);
    CHECK(raw_status(response) == 400);
    CHECK(contains(response, "Content-Type: application/json"));
    Json e = openai_error(raw_body(response));
    CHECK(e["type"] == "invalid_request_error");
    CHECK(contains(e["message"].get<std::string>(), "askd: "));
  }
  check_alive(askd);
  CHECK(askd.metrics().get(R"(askd_rejected_total{reason="bad_request"})") == 4);
  auto lines = askd.wait_log_lines(4);
  CHECK(lines.size() == 4);
  for (const Json& line : lines) {
    CHECK(line["status"] == 400);
    CHECK(!line["error"].get<std::string>().empty());
  }
}

TEST_CASE("askd inputs: with api_keys every route but /health needs the right key") {
  SimProcess sim(llama_args());
  AskdProcess askd(config_with_key({sim.port()}));
  const Json body = chat_body("m0", "hi");
  struct Case {
    const char* what;
    httplib::Headers headers;
    int status;
  };
  const std::vector<Case> cases = {
      {"no key", {}, 401},
      {"a wrong key", {{"Authorization", "Bearer k-wrong"}}, 401},
      {"the key with one character more", {{"Authorization", "Bearer " + k_key + "x"}}, 401},
      {"the key without Bearer", {{"Authorization", k_key}}, 401},
      {"an empty bearer", {{"Authorization", "Bearer "}}, 401},
      {"a wrong X-Api-Key", {{"X-Api-Key", "k-wrong"}}, 401},
      {"the right key", {{"Authorization", "Bearer " + k_key}}, 200},
      {"the right X-Api-Key", {{"X-Api-Key", k_key}}, 200},
  };
  std::multiset<int> statuses;
  for (const Case& c : cases) {
    CAPTURE(std::string(c.what));
    statuses.insert(c.status);
    Reply r = askd.chat(body, c.headers);
    CHECK(r.status == c.status);
    if (c.status == 401) {
      CHECK(r.header("WWW-Authenticate") == "Bearer");
      Json e = openai_error(r.body);
      CHECK(e["code"] == "invalid_api_key");
      CHECK(!contains(r.body, "k-wrong")); // the key is never echoed
    } else {
      CHECK(Json::parse(r.body)["model"] == "m0");
    }
  }
  // Only the two authorized requests reached the backend.
  CHECK(sim.get_json("/sim/stats")["requests_total"] == 2);

  const auto [health_status, health_body] = askd.get("/health");
  CHECK(health_status == 200);
  CHECK(Json::parse(health_body)["api_key_required"] == true); // the operator page asks first
  CHECK(askd.get("/v1/models").first == 401);
  CHECK(askd.get("/metrics").first == 401);
  CHECK(askd.get("/v1/models", {{"Authorization", "Bearer " + k_key}}).first == 200);
  CHECK(askd.get("/metrics", {{"X-Api-Key", k_key}}).first == 200);

  // docs/proxy.md: a 401 leaves a line in the request log too (8 chat requests, then the two
  // unauthorized GETs).
  statuses.insert({401, 401});
  auto lines = askd.wait_log_lines(statuses.size());
  std::multiset<int> logged;
  for (const Json& line : lines) {
    logged.insert(line["status"].get<int>());
  }
  CHECK(logged == statuses);
  MetricSamples m = askd.metrics({{"X-Api-Key", k_key}});
  CHECK(m.get(R"(askd_rejected_total{reason="unauthorized"})") == 8);
  const std::string log_text = [&] {
    std::ifstream in(askd.request_log());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  CHECK(!contains(log_text, k_key));
  check_alive(askd);
}

TEST_CASE("askd: refuses to listen beyond loopback without api_keys - starts with them") {
  const int port = closed_port();
  AskdExit refused = run_askd_until_exit(chain_config({port}), {"--listen", "0.0.0.0:0"});
  REQUIRE(refused.status.has_value());
  CHECK(refused.status->exited);
  CHECK(refused.status->code == 2);
  CHECK(contains(refused.output, "refusing to listen on 0.0.0.0:0 without api_keys"));
  CHECK(!contains(refused.output, "listening on"));

  AskdProcess askd(config_with_key({port}), {"--listen", "0.0.0.0:0"});
  const auto [health_status, health_body] = askd.get("/health");
  CHECK(health_status == 200);
  CHECK(Json::parse(health_body)["api_key_required"] == true); // the operator page asks first
  CHECK(askd.get("/v1/models").first == 401);
  auto [status, models] = askd.get("/v1/models", {{"Authorization", "Bearer " + k_key}});
  CHECK(status == 200);
  CHECK(Json::parse(models)["data"][0]["id"] == "m0");
}

TEST_CASE("askd inputs: an alias is served as the model it names - a council is served too") {
  SimProcess sim(llama_args());
  Json cfg = Json::parse(chain_config({sim.port()}));
  cfg["aliases"] = {{"fast", "m0"}, {"quick", "fast"}};
  cfg["councils"] = {
      {"council", {{"members", Json::array({{{"model", "m0"}}})}, {"chairman", "m0"}}}};
  AskdProcess askd(cfg.dump());
  std::map<std::string, std::string> requested_by_id; // X-Request-Id -> the name asked for
  for (const std::string name : {"fast", "quick"}) {
    CAPTURE(name);
    Reply r = askd.chat(chat_body(name, "hi"));
    REQUIRE(r.status == 200);
    requested_by_id[r.header("X-Request-Id")] = name;
    CHECK(r.header("X-Requested-Model") == "m0");
    CHECK(r.header("X-Served-By") == "m0");
    CHECK(Json::parse(r.body)["model"] == "m0");
  }
  Json sent = sim.get_json("/sim/requests")["requests"].back()["json"];
  CHECK(sent["model"] == "sim-model");

  Reply council = askd.chat(chat_body("council", "hi"));
  requested_by_id[council.header("X-Request-Id")] = "council";
  CHECK(council.status == 200);
  CHECK(council.header("X-Requested-Model") == "council");
  CHECK(council.header("X-Served-By") == "m0");
  CHECK(council.header("X-Council-Members") == "m0");
  CHECK(sim.get_json("/sim/stats")["requests_total"] == 4); // two aliases, a member, the chairman

  // Lines are written as requests end, in any order: match them by id. A request is counted
  // in the metrics just before its line is written (after its answer was sent): read the
  // metrics once every line is there.
  auto lines = askd.wait_log_lines(3);
  REQUIRE(lines.size() == 3);
  MetricSamples m = askd.metrics();
  CHECK(m.get(R"(askd_requests_total{requested="m0",served="m0",status="200"})") == 2);
  CHECK(m.get(R"(askd_requests_total{requested="council",served="m0",status="200"})") == 1);
  for (const Json& line : lines) {
    REQUIRE(requested_by_id.contains(line["id"]));
    const std::string requested = requested_by_id[line["id"]];
    CAPTURE(requested);
    CHECK(line["requested"] == requested);
    CHECK(line["model"] == (requested == "council" ? "council" : "m0"));
    CHECK(line["status"] == 200);
  }
  check_alive(askd);
}

TEST_CASE("askd: /v1/models lists models, councils and aliases - /health answers ok") {
  Json cfg = Json::parse(chain_config({closed_port(), closed_port()}));
  cfg["models"]["m0"]["context_length"] = 8192;
  cfg["models"]["m0"]["description"] = "the first";
  cfg["models"]["m0"]["capabilities"] = {"completion", "tools"};
  cfg["aliases"] = {{"fast", "m0"}, {"smart", "council"}};
  cfg["councils"] = {{"council",
                      {{"members", Json::array({{{"model", "m0"}}, {{"model", "m1"}}})},
                       {"chairman", "m1"},
                       {"description", "two heads"}}}};
  AskdProcess askd(cfg.dump());

  Reply r = askd.request("GET", "/v1/models");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  Json list = Json::parse(r.body);
  CHECK(list["object"] == "list");
  std::map<std::string, Json> by_id;
  std::vector<std::string> ids;
  for (const Json& e : list["data"]) {
    CHECK(e["object"] == "model");
    CHECK(e["owned_by"] == "askd");
    CHECK(e["created"].is_number_integer());
    ids.push_back(e["id"]);
    by_id[e["id"]] = e;
  }
  CHECK(ids == std::vector<std::string>{"m0", "m1", "council", "fast", "smart"});
  CHECK(by_id["m0"]["context_length"] == 8192);
  CHECK(by_id["m0"]["description"] == "the first");
  CHECK(by_id["m0"]["capabilities"] == Json::array({"completion", "tools"}));
  CHECK(!by_id["m0"].contains("alias_of"));
  CHECK(!by_id["m1"].contains("context_length"));
  CHECK(by_id["council"]["council"] == true);
  CHECK(by_id["council"]["description"] == "two heads");
  CHECK(by_id["fast"]["alias_of"] == "m0");
  CHECK(by_id["fast"]["context_length"] == 8192);
  CHECK(by_id["smart"]["alias_of"] == "council");

  // GET /v1/models/{id}: the same entry, for a model, a council and an alias; percent escapes
  // decoded; anything else a 404 in OpenAI's shape.
  for (const std::string id : {"m0", "council", "fast", "smart"}) {
    CAPTURE(id);
    Reply one = askd.request("GET", "/v1/models/" + id);
    REQUIRE(one.status == 200);
    CHECK(Json::parse(one.body) == by_id[id]);
  }
  CHECK(Json::parse(askd.request("GET", "/v1/models/%6D0").body) == by_id["m0"]);
  for (const std::string bad : {"nope", "m0%2", "m%00", "m0/extra"}) {
    CAPTURE(bad);
    Reply missing = askd.request("GET", "/v1/models/" + bad);
    CHECK(missing.status == 404);
    const Json err = Json::parse(missing.body)["error"];
    CHECK(err["code"] == "model_not_found");
    CHECK(err["param"] == "model");
    CHECK(err["message"].get<std::string>().find("GET /v1/models") != std::string::npos);
  }
  CHECK(askd.request("POST", "/v1/models/m0", "{}").status == 405);

  Reply health = askd.request("GET", "/health");
  CHECK(health.status == 200);
  CHECK(health.header("Content-Type") == "application/json");
  Json said = Json::parse(health.body);
  // The instance id: 16 hex digits, drawn at start (a peer tells askds apart by it).
  const std::string instance = said.value("instance", "");
  CHECK(instance.size() == 16);
  CHECK(instance.find_first_not_of("0123456789abcdef") == std::string::npos);
  said.erase("instance");
  CHECK(said == Json{{"status", "ok"}, {"api_key_required", false}});
  // The 404s and the 405 are logged like every error askd answers itself; the listings are
  // not. A line is written after its response: wait for the fifth, then make sure no sixth
  // follows the /health that came after the last of them.
  CHECK(askd.wait_log_lines(5).size() == 5);
  CHECK(askd.request("GET", "/v1/models/nope").status == 404);
  const auto lines = askd.wait_log_lines(6);
  REQUIRE(lines.size() == 6);
  CHECK(lines.back()["status"] == 404);
}

TEST_CASE("askd inputs: SIGHUP rotates the API keys, file: keys included") {
  TempFolder dir;
  const auto key_file = dir.write("key", "k-old-file-key-0123456789\n");
  auto config = [&](const std::string& literal) {
    Json cfg = Json::parse(chain_config({closed_port()}));
    cfg["api_keys"] = Json::array({literal, "file:" + key_file.string()});
    return cfg.dump();
  };
  AskdProcess askd(config("k-literal-one-0123456789"), {"--log-level", "info"});
  auto models_with = [&](const std::string& key) {
    return askd.get("/v1/models", {{"Authorization", "Bearer " + key}}).first;
  };
  CHECK(models_with("k-literal-one-0123456789") == 200);
  CHECK(models_with("k-old-file-key-0123456789") == 200);
  CHECK(models_with("k-literal-two-0123456789") == 401);

  // A new literal key and a new key in the file; SIGHUP.
  dir.write("key", "k-new-file-key-0123456789\n");
  askd.rewrite_config(config("k-literal-two-0123456789"));
  askd.process().signal(SIGHUP);
  REQUIRE(askd.process().wait_for_output("reload: .* done", 10s));
  CHECK(models_with("k-literal-two-0123456789") == 200);
  CHECK(models_with("k-new-file-key-0123456789") == 200);
  CHECK(models_with("k-literal-one-0123456789") == 401);
  CHECK(models_with("k-old-file-key-0123456789") == 401);
  // The log names what changed by place, never by value.
  const std::string out = askd.process().output();
  CHECK(contains(out, "reload: applied: api_keys: 2 accepted; new: api_keys[0], api_keys[1] "
                      "(file:" + key_file.string() + "); 2 no longer accepted; 0 unchanged"));
  for (const char* key : {"k-literal-one", "k-literal-two", "k-old-file-key", "k-new-file-key"}) {
    CHECK(!contains(out, key));
  }

  // A file that loses its keys is not applied to a loopback askd... it is: loopback needs
  // none. An unreadable key file keeps everything as it was.
  std::filesystem::remove(key_file);
  askd.process().signal(SIGHUP);
  REQUIRE(askd.process().wait_for_output("cannot read the key file", 10s));
  CHECK(models_with("k-literal-two-0123456789") == 200);
  CHECK(models_with("k-new-file-key-0123456789") == 200);
}

TEST_CASE("askd inputs: no prompt text reaches any log, at debug level either") {
  AskdProcess askd(chain_config({closed_port()}), {"--log-level", "debug"});
  const std::string secret = "the-secret-prompt-text";
  for (const std::string& body :
       {R"({"model":"m0","messages":[{"role":"user","content":")" + secret + R"("}],)",
        R"({"model":"m0","messages":[{"role":"user","content":")" + secret + R"(" ]})",
        R"({"model":"m0","messages":[{"role":"user","content":")" + secret + R"("}]})"}) {
    CAPTURE(body);
    Reply r = post(askd.port(), "/v1/chat/completions", body);
    CHECK(r.status >= 400);
  }
  const auto lines = askd.wait_log_lines(3);
  CHECK(lines.size() == 3);
  const std::string log_text = [&] {
    std::ifstream in(askd.request_log());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  CHECK(contains(log_text, "invalid JSON: parse error at line 1"));
  CHECK(!contains(log_text, secret));
  // askd's stderr is read by another thread: wait for the error's line (debug did log it)
  // before looking through all it wrote for the prompt.
  CHECK(askd.process().wait_for_output("invalid JSON", 5s).has_value());
  CHECK(!contains(askd.process().output(), secret));
}

TEST_CASE("askd inputs: HTTP details real clients use - Expect, chunked bodies, Host, bare LF") {
  SimProcess sim(llama_args());
  AskdProcess askd(config_with_key({sim.port()}));
  const std::string body = chat_body("m0", "hi").dump();
  {
    // Expect: 100-continue with the key: 100, then the answer once the body is sent.
    RawRequest r(askd.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
                              "Authorization: Bearer " + k_key + "\r\nExpect: 100-continue\r\n"
                              "Content-Type: application/json\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n");
    CHECK(r.response(5s) == "HTTP/1.1 100 Continue\r\n\r\n");
  }
  {
    // Without the key: the 401 comes instead of the 100; the body is never read.
    const std::string response =
        raw_exchange(askd.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
                                  "Expect: 100-continue\r\nContent-Length: 31457280\r\n\r\n");
    CHECK(raw_status(response) == 401);
    CHECK(openai_error(raw_body(response))["code"] == "invalid_api_key");
  }
  {
    // A chunked body is served like any other.
    const std::string half = body.substr(0, body.size() / 2);
    const std::string rest = body.substr(body.size() / 2);
    char sizes[64];
    std::snprintf(sizes, sizeof sizes, "%zx", half.size());
    std::string chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: "
                          "Bearer " + k_key + "\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\n" + sizes + "\r\n" + half + "\r\n";
    std::snprintf(sizes, sizeof sizes, "%zx", rest.size());
    chunked += std::string(sizes) + "\r\n" + rest + "\r\n0\r\n\r\n";
    const std::string response = raw_exchange(askd.port(), chunked);
    CHECK(raw_status(response) == 200);
    CHECK(contains(response, "X-Served-By: m0"));
  }
  for (const std::string bad : {"GET /health HTTP/1.1\r\n\r\n", "GET /health HTTP/1.1\nHost: a\n\n"}) {
    CAPTURE(bad);
    CHECK(raw_status(raw_exchange(askd.port(), bad)) == 400);
  }
  MetricSamples m = askd.metrics({{"X-Api-Key", k_key}});
  CHECK(m.get("askd_expect_continue_total") == 1);
  CHECK(m.get(R"(askd_requests_refused_before_body_total{reason="head_check"})") == 1);
  CHECK(m.get("askd_request_body_bytes_buffered") == 0);
  check_alive(askd);
}
