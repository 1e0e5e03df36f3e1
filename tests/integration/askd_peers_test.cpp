// askd peers end to end: two and three real askd processes on loopback, each with llm-sim
// backends, one a backend of kind askd of another. Discovery (/v1/models, /api/status),
// routing under the peer's names and a prefix, labels (X-Served-By coder@box2), the peer's
// own fallback off or kept, a peer killed between requests and mid-stream (marked down, the
// fallback moves on, back up when it returns), loops refused (a peer that is askd itself, two
// askds whose models lead to each other, a request that comes back), discovery that never
// passes on what a peer got from its own peers, and keys on every hop.

#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/askd_harness.h"
#include "tests/support/eventually.h"

namespace {

using namespace ask::testing;
using namespace std::chrono_literals;

constexpr const char* k_box2_key = "sk-box2-peer-key-0123456789abcdef";
constexpr const char* k_front_key = "sk-front-client-key-0123456789ab";

std::string url_of(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// box2: `coder` (its sim) falling back to `small` (another sim), behind an API key.
std::string box2_config(const SimProcess& coder, const SimProcess& small) {
  Json cfg = {{"backends",
               {{"sc", {{"kind", "openai"}, {"url", url_of(coder.port())}}},
                {"ss", {{"kind", "openai"}, {"url", url_of(small.port())}}}}},
              {"models",
               {{"coder",
                 {{"backend", "sc"},
                  {"upstream", "sim-model"},
                  {"family", "qwen"},
                  {"capabilities", {"completion", "tools"}},
                  {"context_length", 4096},
                  {"fallbacks", {"small"}}}},
                {"small", {{"backend", "ss"}, {"upstream", "sim-model"}, {"family", "llama"}}}}},
              {"api_keys", {k_box2_key}}};
  return cfg.dump(2);
}

// The front askd: box2 as a peer (prefix "box2/"), the same peer again with its fallback
// kept (prefix "keep/"), a local model, and `big`, declared on box2, falling back to it.
Json front_config(int box2_port, const SimProcess& local) {
  return {{"backends",
           {{"box2",
             {{"kind", "askd"},
              {"url", url_of(box2_port)},
              {"api_key_env", "BOX2_KEY"},
              {"prefix", "box2/"}}},
            {"keep",
             {{"kind", "askd"},
              {"url", url_of(box2_port)},
              {"api_key_env", "BOX2_KEY"},
              {"prefix", "keep/"},
              {"peer_fallback", true}}},
            {"lb", {{"kind", "openai"}, {"url", url_of(local.port())}}}}},
          {"models",
           {{"local", {{"backend", "lb"}, {"upstream", "sim-model"}, {"family", "gemma"}}},
            {"big",
             {{"backend", "box2"},
              {"upstream", "coder"},
              {"family", "qwen"},
              {"fallbacks", {"local"}}}}}}};
}

const std::vector<std::string> k_front_env = {std::string("BOX2_KEY=") + k_box2_key};

Json json_of(const std::pair<int, std::string>& reply) {
  REQUIRE(reply.first == 200);
  return Json::parse(reply.second);
}

const Json* entry(const Json& models, const std::string& id) {
  for (const Json& m : models["data"]) {
    if (m["id"] == id) {
      return &m;
    }
  }
  return nullptr;
}

const Json* peer_status(const AskdProcess& askd, const std::string& name, Json& holder,
                        const httplib::Headers& headers = {}) {
  holder = json_of(askd.get("/api/status", headers));
  if (!holder.contains("peers")) {
    return nullptr;
  }
  for (const Json& p : holder["peers"]) {
    if (p["name"] == name) {
      return &p;
    }
  }
  return nullptr;
}

// Waits until `name`'s state in askd's /api/status is `state`.
bool wait_peer_state(const AskdProcess& askd, const std::string& name, const std::string& state,
                     std::chrono::milliseconds timeout = 10s) {
  return eventually(
      [&] {
        Json holder;
        const Json* p = peer_status(askd, name, holder);
        return p != nullptr && (*p)["state"] == state;
      },
      timeout, 20ms);
}

bool wait_listed(const AskdProcess& askd, const std::string& id) {
  return eventually([&] { return entry(json_of(askd.get("/v1/models")), id) != nullptr; }, 10s,
                    20ms);
}

} // namespace

TEST_CASE("askd peers: discovery, routing under the peer's names, and labels with the machine") {
  SimProcess coder(llama_args());
  SimProcess small(llama_args());
  SimProcess local(llama_args());
  AskdProcess box2(box2_config(coder, small));
  Json cfg = front_config(box2.port(), local);
  cfg["api_keys"] = {k_front_key};
  AskdProcess front(cfg.dump(2), {}, k_front_env);
  const httplib::Headers key = {{"Authorization", std::string("Bearer ") + k_front_key}};

  // Discovery: box2's own models under the prefix, with what box2 says of them.
  // Both peers are read in turn: wait for the second one's list too.
  REQUIRE(eventually(
      [&] {
        const Json listed = json_of(front.get("/v1/models", key));
        return entry(listed, "box2/coder") != nullptr && entry(listed, "keep/coder") != nullptr;
      },
      10s, 20ms));
  const Json models = json_of(front.get("/v1/models?state=1", key));
  const Json* offered = entry(models, "box2/coder");
  REQUIRE(offered != nullptr);
  CHECK((*offered)["peer"] == "box2");
  CHECK((*offered)["peer_model"] == "coder");
  CHECK((*offered)["owned_by"] == "box2");
  CHECK((*offered)["context_length"] == 4096);
  CHECK((*offered)["capabilities"] == Json::array({"completion", "tools"}));
  CHECK((*offered)["state"] == "available");
  CHECK(entry(models, "box2/small") != nullptr);
  CHECK(entry(models, "keep/coder") != nullptr);
  // `big` is declared here on box2: marked as a peer's, so another askd does not take it.
  REQUIRE(entry(models, "big") != nullptr);
  CHECK((*entry(models, "big"))["peer"] == "box2");

  Json holder;
  const Json* status = peer_status(front, "box2", holder, key);
  REQUIRE(status != nullptr);
  CHECK((*status)["state"] == "up");
  CHECK((*status)["url"] == url_of(box2.port()));
  CHECK((*status)["models"] == Json::array({"box2/coder", "box2/small"}));
  CHECK((*status)["last_error"].is_null());
  CHECK((*status)["remote"]["instance"].is_string());
  CHECK((*status)["remote"]["managed"] == false);

  // Routing and labels, whole and streamed.
  const Reply whole = front.chat(chat_body("box2/coder", "hello"), key);
  REQUIRE(whole.status == 200);
  CHECK(whole.header("X-Served-By") == "coder@box2");
  CHECK(whole.header("X-Requested-Model") == "box2/coder");
  CHECK(whole.header("X-Fallback-Path") == "coder@box2");
  CHECK(whole.header("X-Fallback-Reasons").empty());
  CHECK(Json::parse(whole.body)["choices"][0]["message"]["content"].get<std::string>().size() > 0);
  const Reply streamed = front.chat(chat_body("box2/small", "hello", true), key);
  REQUIRE(streamed.status == 200);
  CHECK(streamed.header("X-Served-By") == "small@box2");
  CHECK(streamed.body.find("[DONE]") != std::string::npos);
  const Reply declared = front.chat(chat_body("big", "hello"), key);
  CHECK(declared.header("X-Served-By") == "coder@box2");
  CHECK(declared.header("X-Requested-Model") == "big");

  // Anthropic's count_tokens for a peer's model: askd's estimate.
  const Json count = {{"model", "box2/coder"},
                      {"messages", Json::array({{{"role", "user"}, {"content", "hello"}}})}};
  const Reply counted = front.request("POST", "/v1/messages/count_tokens", count.dump(), key);
  CHECK(counted.status == 200);
  CHECK(counted.header("X-Token-Count") == "estimate");

  const auto lines = front.wait_log_lines(3);
  CHECK(lines[0]["served_by"] == "coder@box2");
  CHECK(lines[1]["served_by"] == "small@box2");
  // box2 was asked for each model alone, with the front's id in X-Ask-Via; box2's own log
  // names its models without a machine.
  const auto box2_lines = box2.wait_log_lines(3);
  CHECK(box2_lines[0]["served_by"] == "coder");

  // Keys on every hop: the front's key is not box2's, and the front never shows box2's.
  const Reply direct = box2.chat(chat_body("coder", "hi"), key);
  CHECK(direct.status == 401);
  for (const std::string path : {"/api/status", "/api/config", "/v1/models", "/metrics"}) {
    CHECK(front.get(path, key).second.find(k_box2_key) == std::string::npos);
  }
  for (const Reply* r : {&whole, &streamed, &declared}) {
    CHECK(r->body.find(k_box2_key) == std::string::npos);
    for (const auto& [name, value] : r->headers) {
      CHECK(value.find(k_box2_key) == std::string::npos);
    }
  }

  const MetricSamples m = front.metrics(key);
  CHECK(m.get("askd_peer_up{peer=\"box2\"}") == 1);
  CHECK(m.get("askd_peer_models{peer=\"box2\"}") == 2);
}

TEST_CASE("askd peers: the peer's own fallback is off unless the backend keeps it") {
  SimProcess coder(llama_args({"--sim-fault", "status=503"}));
  SimProcess small(llama_args());
  SimProcess local(llama_args());
  AskdProcess box2(box2_config(coder, small));
  AskdProcess front(front_config(box2.port(), local).dump(2), {}, k_front_env);
  REQUIRE(wait_listed(front, "box2/coder"));
  REQUIRE(wait_listed(front, "keep/coder"));

  // Off (the default): box2 tries coder alone and fails; `big` moves on here, to `local`.
  const Reply alone = front.chat(chat_body("box2/coder", "hello"));
  CHECK(alone.status == 502);
  CHECK(alone.header("X-Fallback-Reasons") == "coder@box2=status_503");
  const Reply big = front.chat(chat_body("big", "hello"));
  REQUIRE(big.status == 200);
  CHECK(big.header("X-Served-By") == "local");
  CHECK(big.header("X-Fallback-Path") == "coder@box2>local");
  CHECK(big.header("X-Fallback-Reasons") == "coder@box2=status_503");

  // Kept: box2 walks its own chain, and says so; the labels carry it through.
  const Reply kept = front.chat(chat_body("keep/coder", "hello"));
  REQUIRE(kept.status == 200);
  CHECK(kept.header("X-Served-By") == "small@keep");
  CHECK(kept.header("X-Fallback-Path") == "coder@keep>small@keep");
  CHECK(kept.header("X-Fallback-Reasons") == "coder@keep=status_503");
  // A failure on the peer is not the peer being down.
  Json holder;
  CHECK((*peer_status(front, "keep", holder))["state"] == "up");
}

TEST_CASE("askd peers: a peer killed between requests is marked down at once, and back up") {
  SimProcess coder(llama_args());
  SimProcess small(llama_args());
  SimProcess local(llama_args());
  const std::string box2_cfg = box2_config(coder, small);
  auto box2 = std::make_unique<AskdProcess>(box2_cfg);
  const int port = box2->port();
  AskdProcess front(front_config(port, local).dump(2), {}, k_front_env);
  REQUIRE(wait_listed(front, "box2/coder"));
  REQUIRE(front.chat(chat_body("big", "hello")).header("X-Served-By") == "coder@box2");

  box2->process().signal(SIGKILL);
  box2.reset();
  // The first request finds it gone and falls back (unless a probe found it first); it is
  // down from then on, and the next one does not try it at all.
  const Reply first = front.chat(chat_body("big", "hello"));
  REQUIRE(first.status == 200);
  CHECK(first.header("X-Served-By") == "local");
  const std::string why = first.header("X-Fallback-Reasons");
  CHECK_MESSAGE((why == "coder@box2=connect" || why == "coder@box2=peer_down"), why);
  const Reply second = front.chat(chat_body("big", "hello"));
  CHECK(second.header("X-Served-By") == "local");
  CHECK(second.header("X-Fallback-Reasons") == "coder@box2=peer_down");
  const Reply offered = front.chat(chat_body("box2/coder", "hello"));
  CHECK(offered.status == 502);
  CHECK(offered.body.find("box2 is down") != std::string::npos);

  Json holder;
  const Json* status = peer_status(front, "box2", holder);
  REQUIRE(status != nullptr);
  CHECK((*status)["state"] == "down");
  CHECK((*status)["last_error"].get<std::string>().size() > 0);
  CHECK((*status)["models"] == Json::array({"box2/coder", "box2/small"})); // still offered
  const Json models = json_of(front.get("/v1/models?state=1"));
  CHECK((*entry(models, "box2/coder"))["state"] == "unreachable");
  CHECK(front.metrics().get("askd_peer_up{peer=\"box2\"}") == 0);
  // The page's event stream says so: its history (?after=0) has box2 going down, and a fresh
  // stream's first event, the whole status, has the peers.
  auto read_events = [&](const std::string& path, const std::string& until) {
    httplib::Client events("127.0.0.1", front.port());
    events.set_read_timeout(5s);
    std::string stream;
    events.Get(path, [&](const char* data, std::size_t n) {
      stream.append(data, n);
      return stream.find(until) == std::string::npos;
    });
    return stream;
  };
  const std::string history = read_events("/api/events?after=0", R"("state":"down")");
  const std::size_t event = history.find("event: peer");
  REQUIRE(event != std::string::npos);
  CHECK(history.find(R"("peer":"box2")", event) != std::string::npos);
  CHECK(history.find(R"("state":"down")", event) != std::string::npos);
  const std::string fresh = read_events("/api/events", "\n\n");
  CHECK(fresh.starts_with("event: status"));
  CHECK(fresh.find(R"("peers":[)") != std::string::npos);

  // Back on the same port: the next probe finds it (the backoff is at most 30 s).
  AskdProcess again(box2_cfg, {"--listen", "127.0.0.1:" + std::to_string(port)});
  REQUIRE(wait_peer_state(front, "box2", "up", 40s));
  CHECK(front.chat(chat_body("big", "hello")).header("X-Served-By") == "coder@box2");
}

TEST_CASE("askd peers: a peer killed mid-stream ends the stream with an error, then is down") {
  // box2's model sends three chunks, then nothing: the stream is under way when box2 dies.
  SimProcess coder(llama_args({"--sim-fault", "hang_after=3"}));
  SimProcess small(llama_args());
  SimProcess local(llama_args());
  AskdProcess box2(box2_config(coder, small));
  AskdProcess front(front_config(box2.port(), local).dump(2), {}, k_front_env);
  REQUIRE(wait_listed(front, "box2/coder"));

  httplib::Client c("127.0.0.1", front.port());
  c.set_read_timeout(10s);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.set_header("Content-Type", "application/json");
  req.body = chat_body("big", "hello", true).dump();
  std::string body;
  std::string served;
  bool killed = false;
  req.response_handler = [&](const httplib::Response& r) {
    served = r.get_header_value("X-Served-By");
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    body.append(data, n);
    if (!killed && body.find("\"content\"") != std::string::npos) {
      killed = true;
      box2.process().signal(SIGKILL); // the first content is here: too late to fall back
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  c.send(req, res, error);
  REQUIRE(killed);
  CHECK(served == "coder@box2");
  // The stream ends with an error event naming the model, not with a hang or [DONE].
  CHECK(body.find("failed mid-stream") != std::string::npos);
  CHECK(body.find("[DONE]") == std::string::npos);
  REQUIRE(wait_peer_state(front, "box2", "down", 5s));
  const Reply next = front.chat(chat_body("big", "hello"));
  CHECK(next.header("X-Served-By") == "local");
  CHECK(next.header("X-Fallback-Reasons") == "coder@box2=peer_down");
}

TEST_CASE("askd peers: loops are refused") {
  SimProcess sim(llama_args());
  SUBCASE("a peer whose URL is this askd itself") {
    const int port = closed_port();
    const Json cfg = {{"backends", {{"me", {{"kind", "askd"}, {"url", url_of(port)}}}}},
                      {"models", Json::object()}};
    AskdProcess self(cfg.dump(2), {"--listen", "127.0.0.1:" + std::to_string(port)});
    REQUIRE(wait_peer_state(self, "me", "loop"));
    Json holder;
    CHECK((*peer_status(self, "me", holder))["last_error"].get<std::string>().find(
              "is this askd itself") != std::string::npos);
  }
  SUBCASE("two askds whose models lead to each other, and a request that comes back") {
    const int pa = closed_port();
    const int pb = closed_port();
    // a: `x` is b's `y`; b: `y` is a's `x`; each also has a model of its own.
    const Json a_cfg = {{"backends",
                         {{"b", {{"kind", "askd"}, {"url", url_of(pb)}, {"prefix", "b/"}}},
                          {"s", {{"kind", "openai"}, {"url", url_of(sim.port())}}}}},
                        {"models",
                         {{"x", {{"backend", "b"}, {"upstream", "y"}}},
                          {"a-own", {{"backend", "s"}, {"upstream", "sim-model"}}}}}};
    const Json b_cfg = {{"backends",
                         {{"a", {{"kind", "askd"}, {"url", url_of(pa)}, {"prefix", "a/"}}},
                          {"s", {{"kind", "openai"}, {"url", url_of(sim.port())}}}}},
                        {"models",
                         {{"y", {{"backend", "a"}, {"upstream", "x"}}},
                          {"b-own", {{"backend", "s"}, {"upstream", "sim-model"}}}}}};
    AskdProcess a(a_cfg.dump(2), {"--listen", "127.0.0.1:" + std::to_string(pa)});
    AskdProcess b(b_cfg.dump(2), {"--listen", "127.0.0.1:" + std::to_string(pb)});
    REQUIRE(wait_listed(a, "b/b-own"));
    REQUIRE(wait_listed(b, "a/a-own"));

    // Each offers the other's own models only: not what it has from the other (y, x).
    CHECK(entry(json_of(a.get("/v1/models")), "b/y") == nullptr);
    CHECK(entry(json_of(b.get("/v1/models")), "a/x") == nullptr);
    Json holder;
    const Json* seen = peer_status(a, "b", holder);
    REQUIRE(seen != nullptr);
    CHECK((*seen)["models"] == Json::array({"b/b-own"}));
    CHECK((*seen)["skipped"].dump().find("only a machine's own models") != std::string::npos);

    // x → b's y → a's x: back at a, refused there with 508; b and then a say so.
    const Reply looped = a.chat(chat_body("x", "hello"));
    CHECK(looped.status == 502);
    // The reason comes from where it happened: a's `x`, seen through b.
    CHECK(looped.header("X-Fallback-Reasons") == "x@a@b=loop");
    CHECK(looped.body.find("loop") != std::string::npos);
    const auto b_lines = b.wait_log_lines(1);
    CHECK(b_lines[0]["attempts"][0]["reason"] == "loop");

    // A request that says it went through a already.
    const std::string a_id = json_of(a.get("/health"))["instance"];
    const Reply back = a.chat(chat_body("a-own", "hello"), {{"X-Ask-Via", a_id}});
    CHECK(back.status == 508);
    CHECK(Json::parse(back.body)["error"]["code"] == "loop_detected");
    const Reply bad = a.chat(chat_body("a-own", "hello"), {{"X-Ask-Via", "not an id"}});
    CHECK(bad.status == 400);
    std::string many;
    for (int i = 0; i < 8; ++i) {
      many += (many.empty() ? "" : ",") + std::string("00000000000000") + "0" + std::to_string(i);
    }
    CHECK(a.chat(chat_body("a-own", "hello"), {{"X-Ask-Via", many}}).status == 508);
  }
}

TEST_CASE("askd peers: three askds, and only a machine's own models travel") {
  SimProcess sim(llama_args());
  const Json a_cfg = {{"backends", {{"s", {{"kind", "openai"}, {"url", url_of(sim.port())}}}}},
                      {"models", {{"a-own", {{"backend", "s"}, {"upstream", "sim-model"}}}}}};
  AskdProcess a(a_cfg.dump(2));
  const Json b_cfg = {{"backends",
                       {{"a", {{"kind", "askd"}, {"url", url_of(a.port())}, {"prefix", "a/"}}},
                        {"s", {{"kind", "openai"}, {"url", url_of(sim.port())}}}}},
                      {"models", {{"b-own", {{"backend", "s"}, {"upstream", "sim-model"}}}}}};
  AskdProcess b(b_cfg.dump(2));
  const Json c_cfg = {{"backends", {{"b", {{"kind", "askd"}, {"url", url_of(b.port())}}}}},
                      {"models", Json::object()}};
  AskdProcess c(c_cfg.dump(2));
  REQUIRE(wait_listed(b, "a/a-own"));
  REQUIRE(wait_listed(c, "b-own")); // no prefix: b's own names
  CHECK(entry(json_of(c.get("/v1/models")), "a/a-own") == nullptr);
  const Reply r = c.chat(chat_body("b-own", "hello"));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "b-own@b");
  // b reaches a for c's request too: a's request went through c and b.
  const Reply two_hops = b.chat(chat_body("a/a-own", "hello"));
  CHECK(two_hops.header("X-Served-By") == "a-own@a");
}
