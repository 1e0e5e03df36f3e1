// askd's runtime control end to end: aliases set, re-pointed and deleted through
// /api/aliases route requests at once, show in /v1/models, survive a restart (the state
// file), and cannot shadow a configured model; the operator page's files need no key while
// every API route does; /api/config masks the keys.

#include <doctest/doctest.h>

#include <fstream>

#include "tests/integration/askd_harness.h"

namespace {

using namespace ask::testing;

constexpr const char* k_control_key = "sk-control-test-key-1234567890";

// Two simulated backends, m0 → m1, the configured alias "fast" → m0; with `key`, api_keys.
std::string control_config(const SimProcess& a, const SimProcess& b, bool key = false) {
  Json cfg = Json::parse(chain_config({a.port(), b.port()}));
  cfg["aliases"] = {{"fast", "m0"}};
  if (key) {
    cfg["api_keys"] = Json::array({k_control_key});
  }
  return cfg.dump(2);
}

const Json* model_entry(const Json& models, const std::string& id) {
  for (const Json& m : models["data"]) {
    if (m["id"] == id) {
      return &m;
    }
  }
  return nullptr;
}

} // namespace

TEST_CASE("askd aliases: set at run time, they route at once and survive a restart") {
  SimProcess a(llama_args());
  SimProcess b(llama_args());
  TempFolder state;
  const std::vector<std::string> env = {"XDG_STATE_HOME=" + state.path().string()};
  {
    AskdProcess askd(control_config(a, b), {}, env);
    const Reply set = askd.request("PUT", "/api/aliases/quick", R"({"model": "m1"})");
    REQUIRE(set.status == 200);
    CHECK(Json::parse(set.body) == Json{{"name", "quick"}, {"model", "m1"}, {"source", "runtime"}});
    const Reply routed = askd.chat(chat_body("quick", "hello"));
    CHECK(routed.status == 200);
    CHECK(routed.header("X-Served-By") == "m1");

    // The configured alias re-pointed, then given back to the file's target.
    REQUIRE(askd.request("PUT", "/api/aliases/fast", R"({"model": "m1"})").status == 200);
    CHECK(askd.chat(chat_body("fast", "hello")).header("X-Served-By") == "m1");
    const Reply back = askd.request("DELETE", "/api/aliases/fast");
    REQUIRE(back.status == 200);
    CHECK(Json::parse(back.body)["model"] == "m0");
    CHECK(askd.chat(chat_body("fast", "hello")).header("X-Served-By") == "m0");

    const auto [code, body] = askd.get("/v1/models");
    REQUIRE(code == 200);
    const Json models = Json::parse(body);
    const Json* quick = model_entry(models, "quick");
    REQUIRE(quick != nullptr);
    CHECK((*quick)["alias_of"] == "m1");
    CHECK((*quick)["runtime_alias"] == true);
    CHECK(askd.get("/v1/models/quick").first == 200);
  }
  const auto file = state.path() / "ask" / "aliases.json";
  REQUIRE(std::filesystem::exists(file));
  AskdProcess again(control_config(a, b), {}, env);
  CHECK(again.chat(chat_body("quick", "hello")).header("X-Served-By") == "m1");
  CHECK(again.chat(chat_body("fast", "hello")).header("X-Served-By") == "m0");
  const auto [code, body] = again.get("/api/aliases");
  REQUIRE(code == 200);
  const Json list = Json::parse(body)["aliases"];
  REQUIRE(list.size() == 2);
  CHECK(list[0] == Json{{"name", "fast"}, {"model", "m0"}, {"source", "config"}});
  CHECK(list[1] == Json{{"name", "quick"}, {"model", "m1"}, {"source", "runtime"}});

  REQUIRE(again.request("DELETE", "/api/aliases/quick").status == 200);
  const Reply gone = again.chat(chat_body("quick", "hello"));
  CHECK(gone.status == 404);
}

TEST_CASE("askd aliases: what the API refuses, with a sentence that says why") {
  SimProcess a(llama_args());
  SimProcess b(llama_args());
  AskdProcess askd(control_config(a, b));
  struct Case {
    std::string method, path, body;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"PUT", "/api/aliases/m0", R"({"model": "m1"})", 409, "cannot shadow"},
      {"PUT", "/api/aliases/x", R"({"model": "m9"})", 404, "unknown model"},
      {"PUT", "/api/aliases/x", R"({"model": 7})", 400, "expected a JSON object"},
      {"PUT", "/api/aliases/x", "{not json", 400, "invalid JSON"},
      {"PUT", "/api/aliases/x", "[]", 400, "expected a JSON object"},
      {"PUT", "/api/aliases/has%20space", R"({"model": "m1"})", 400, "invalid alias name"},
      {"PUT", "/api/aliases/bad%zz", R"({"model": "m1"})", 400, "percent-encoding"},
      {"DELETE", "/api/aliases/fast", "", 409, "alias of the config file"},
      {"DELETE", "/api/aliases/none", "", 404, "no runtime alias"},
      {"POST", "/api/aliases/x", R"({"model": "m1"})", 405, "PUT or DELETE"},
      {"POST", "/api/aliases", "", 405, "takes GET"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    const Reply r = askd.request(c.method, c.path, c.body, {{"Content-Type", "application/json"}});
    CHECK(r.status == c.status);
    CHECK(r.body.find(c.says) != std::string::npos);
  }
  CHECK(askd.chat(chat_body("m0", "hello")).header("X-Served-By") == "m0");
}

TEST_CASE("askd control: the page needs no key, every API route does - the config is masked") {
  SimProcess a(llama_args());
  SimProcess b(llama_args());
  AskdProcess askd(control_config(a, b, true));
  const httplib::Headers key = {{"Authorization", std::string("Bearer ") + k_control_key}};

  const Reply page = askd.request("GET", "/ui/");
  REQUIRE(page.status == 200);
  CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.body.find("<!doctype html>") != std::string::npos);
  CHECK(page.header("Content-Security-Policy").find("default-src 'self'") != std::string::npos);
  const Reply bare = askd.request("GET", "/ui");
  CHECK(bare.status == 301);
  CHECK(bare.header("Location") == "/ui/");
  CHECK(askd.request("GET", "/ui/no-such.js").status == 404);
  CHECK(askd.request("GET", "/ui/../v1/models").status != 200);
  CHECK(askd.request("POST", "/ui/").status == 405);

  for (const char* path : {"/api/aliases", "/api/requests", "/api/config", "/api/status"}) {
    CAPTURE(path);
    CHECK(askd.get(path).first == 401);
    CHECK(askd.get(path, key).first == 200);
  }
  CHECK(askd.request("PUT", "/api/aliases/quick", R"({"model": "m1"})").status == 401);
  CHECK(askd.request("PUT", "/api/aliases/quick", R"({"model": "m1"})", key).status == 200);

  const auto [code, body] = askd.get("/api/config", key);
  REQUIRE(code == 200);
  CHECK(body.find(k_control_key) == std::string::npos);
  const Json config = Json::parse(body);
  CHECK(config["models"].contains("m0"));
  CHECK(config["api_keys"][0].get<std::string>().find("7890") != std::string::npos); // masked
}

TEST_CASE("askd control: a page of another site cannot change anything through the browser") {
  SimProcess a(llama_args());
  SimProcess b(llama_args());
  AskdProcess askd(control_config(a, b)); // no key: loopback, the default
  const std::string own = "http://127.0.0.1:" + std::to_string(askd.port());
  for (const char* origin :
       {"http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1.evil.example"}) {
    CAPTURE(origin);
    const Reply r = askd.request("PUT", "/api/aliases/quick", R"({"model": "m1"})",
                                 {{"Origin", origin}, {"Content-Type", "text/plain"}});
    CHECK(r.status == 403);
    CHECK(r.body.find("its own page only") != std::string::npos);
    CHECK(askd.request("POST", "/api/models/m0/load", "", {{"Origin", origin}}).status == 403);
  }
  CHECK(askd.get("/api/aliases").first == 200); // reading is no change
  CHECK(askd.chat(chat_body("quick", "hello")).status == 404);
  // The operator page itself, and programs that send no Origin.
  CHECK(askd.request("PUT", "/api/aliases/quick", R"({"model": "m1"})", {{"Origin", own}}).status ==
        200);
  CHECK(askd.request("DELETE", "/api/aliases/quick").status == 200);
}
