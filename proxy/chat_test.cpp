// ChatHandler (and ChainCompleter) against FakeUpstream: the fallback chain on every failure
// the rules distinguish, the response head held back until the first content, errors after
// it, and clients that leave. The client is a real socket (one end of a socketpair, the
// other wrapped in the handler's net::Exchange) whose bytes the test parses as an HTTP client
// would; the request log is a real file, the metrics the real /metrics text, time a FakeClock.

#include "proxy/chat.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "config/testing.h"
#include "core/sse.h"
#include "net/response_parser.h"
#include "proxy/chain_completer.h"
#include "proxy/dialect_anthropic.h"
#include "proxy/dialect_openai.h"
#include "proxy/dialect_responses.h"
#include "proxy/fake_upstream.h"

namespace ask::proxy {

namespace {

using namespace std::chrono_literals;
using core::Error;
using core::Json;

// Three models chained across two backends (big > small > tiny), and one without fallbacks.
// big has its own first-byte timeout and a concurrency limit of one with no queue; beta, the
// backend of small and tiny, likewise.
constexpr const char* k_chat_config = R"({
  "backends": {
    "alpha": {"kind": "openai", "url": "http://127.0.0.1:9"},
    "beta": {"kind": "openai", "url": "http://127.0.0.1:9", "max_concurrency": 1, "max_queue": 0}
  },
  "models": {
    "big": {"backend": "alpha", "upstream": "big-q8", "family": "qwen", "fallbacks": ["small"],
            "timeouts": {"first_byte": "7s"}, "max_concurrency": 1, "max_queue": 0},
    "small": {"backend": "beta", "family": "llama", "fallbacks": ["tiny"]},
    "tiny": {"backend": "beta", "family": "gemma"},
    "solo": {"backend": "alpha"}
  },
  "aliases": {"fast": "big"}
})";

config::Config chat_config(std::string_view text) {
  auto loaded = config::testing::parse(text);
  REQUIRE_MESSAGE(loaded.has_value(),
                  (loaded ? std::string() : config::testing::dump(loaded.error().diagnostics)));
  return std::move(loaded->config);
}

// A client connection. askd's end is wrapped in a net::Exchange; the test reads the other.
// leave() is a client hanging up (askd's end sees the FIN; what askd wrote stays readable),
// vanish() a client gone for good (askd's next write fails).
class ClientSocket {
public:
  ClientSocket() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    m_askd = fds[0];
    m_client = fds[1];
    REQUIRE(::pipe2(m_stop, O_CLOEXEC) == 0);
    m_exchange = std::make_unique<net::Exchange>(m_askd, m_stop[0], m_stopping, true);
    m_exchange->set_peer("127.0.0.1:40404");
  }
  ~ClientSocket() {
    for (int fd : {m_askd, m_client, m_stop[0], m_stop[1]}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }
  ClientSocket(const ClientSocket&) = delete;
  ClientSocket& operator=(const ClientSocket&) = delete;

  net::Exchange& exchange() { return *m_exchange; }
  void leave() { ::shutdown(m_client, SHUT_WR); }
  void vanish() {
    arrived();
    ::close(m_client);
    m_client = -1;
  }
  // The bytes that have arrived so far, without waiting.
  const std::string& arrived() {
    read_available(MSG_DONTWAIT);
    return m_received;
  }
  // Everything askd wrote, once the handler has returned.
  const std::string& all() {
    ::shutdown(m_askd, SHUT_WR);
    read_available(0);
    return m_received;
  }

private:
  void read_available(int flags) {
    char buf[4096];
    while (m_client >= 0) {
      const ssize_t n = ::recv(m_client, buf, sizeof buf, flags);
      if (n <= 0) {
        return;
      }
      m_received.append(buf, static_cast<std::size_t>(n));
    }
  }

  int m_askd = -1;
  int m_client = -1;
  int m_stop[2] = {-1, -1};
  std::atomic<bool> m_stopping{false};
  std::unique_ptr<net::Exchange> m_exchange;
  std::string m_received;
};

// The response as a client reads it.
struct ClientView {
  std::string raw;
  int status = 0; // 0: not even a status line arrived
  net::ResponseHead head;
  std::string body;      // decoded (chunk framing removed)
  bool complete = false; // the body ended as its framing says (not cut off)

  std::optional<std::string> header(std::string_view name) const {
    auto v = head.header(name);
    return v ? std::optional<std::string>(*v) : std::nullopt;
  }
  Json json() const { return Json::parse(body); }
  // The data of each SSE event, in order.
  std::vector<std::string> events() const {
    core::SseParser parser;
    std::vector<std::string> out;
    for (const core::SseEvent& e : parser.feed(body)) {
      out.push_back(e.data);
    }
    return out;
  }
  // The event name of each SSE event, in order ("" for none).
  std::vector<std::string> event_names() const {
    core::SseParser parser;
    std::vector<std::string> out;
    for (const core::SseEvent& e : parser.feed(body)) {
      out.push_back(e.event);
    }
    return out;
  }
  // Each SSE event but [DONE] as JSON.
  std::vector<Json> chunks() const {
    std::vector<Json> out;
    for (const std::string& data : events()) {
      if (data != "[DONE]") {
        out.push_back(Json::parse(data));
      }
    }
    return out;
  }
};

ClientView read_response(std::string raw) {
  ClientView view;
  view.raw = std::move(raw);
  net::ResponseParser parser;
  parser.reset();
  std::string_view in = view.raw;
  while (!in.empty()) {
    const std::size_t n = parser.feed(in, view.body);
    if (n == 0) {
      break;
    }
    in.remove_prefix(n);
  }
  if (parser.state() == net::ResponseParser::State::body) {
    parser.finish(); // askd's end is shut: an unterminated body fails here
  }
  if (parser.state() == net::ResponseParser::State::body ||
      parser.state() == net::ResponseParser::State::complete ||
      (parser.state() == net::ResponseParser::State::failed && parser.head().status != 0)) {
    view.head = parser.head();
    view.status = view.head.status;
  }
  view.complete = parser.state() == net::ResponseParser::State::complete;
  return view;
}

// The handler with its dependencies, FakeUpstreams for both backends, and a request log in a
// temporary folder.
struct ChatBench {
  explicit ChatBench(std::string_view text = k_chat_config)
      : config(chat_config(text)), limiters(config) {
    auto a = std::make_unique<FakeUpstream>(&clock);
    auto b = std::make_unique<FakeUpstream>(&clock);
    alpha = a.get();
    beta = b.get();
    upstreams.emplace("alpha", std::move(a));
    upstreams.emplace("beta", std::move(b));
  }

  ChatDeps deps() {
    return {config, upstreams, limiters, metrics, log, clock, nullptr, nullptr, "0123456789abcdef"};
  }

  ClientView post(const Json& body, ClientSocket& client) {
    return post_to(chat_dialect(), body.dump(), client);
  }
  // The request text `body` through `door` (its own path does not matter to the handler).
  ClientView post_to(const Dialect& door, const std::string& body, ClientSocket& client) {
    net::HttpRequest request;
    request.method = "POST";
    request.target = request.path = "/v1/door";
    request.version = "HTTP/1.1";
    request.body = body;
    ChatHandler(deps()).handle(request, client.exchange(), door);
    return read_response(client.all());
  }
  ClientView post_to(const Dialect& door, const Json& body) {
    ClientSocket client;
    return post_to(door, body.dump(), client);
  }
  ClientView post(const Json& body) {
    ClientSocket client;
    return post(body, client);
  }

  // The request log's lines.
  std::vector<Json> records() const {
    std::vector<Json> out;
    std::ifstream in(dir.path() / "askd.jsonl");
    for (std::string line; std::getline(in, line);) {
      out.push_back(Json::parse(line));
    }
    return out;
  }
  Json last_record() const {
    auto all = records();
    REQUIRE(all.size() == 1);
    return all.back();
  }
  // The value of one series on /metrics, e.g. `askd_fallbacks_total{from="big",...}`; 0 when
  // the series is absent.
  double metric(std::string_view series) const {
    const std::string text = metrics.render();
    const std::string needle = "\n" + std::string(series) + " ";
    const auto at = text.find(needle);
    if (at == std::string::npos) {
      return 0;
    }
    return std::stod(text.substr(at + needle.size()));
  }
  bool has_metric(std::string_view family) const {
    return metrics.render().find("\n" + std::string(family) + "{") != std::string::npos;
  }

  config::Config config;
  core::FakeClock clock;
  FakeUpstream* alpha = nullptr;
  FakeUpstream* beta = nullptr;
  UpstreamMap upstreams;
  LimiterSet limiters;
  ProxyMetrics metrics;
  config::testing::TempDir dir;
  RequestLog log{dir.path() / "askd.jsonl"};
};

Json chat_request(const std::string& model, bool stream) {
  return {
      {"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", stream}};
}

Json delta_chunk(const std::string& id, Json delta, Json finish = nullptr) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", 1},
          {"model", "whoever"},
          {"choices", {{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}}}};
}
Json role_chunk(const std::string& id) {
  return delta_chunk(id, {{"role", "assistant"}});
}
Json text_chunk(const std::string& id, const std::string& text) {
  return delta_chunk(id, {{"content", text}});
}
Json stop_chunk(const std::string& id) {
  return delta_chunk(id, Json::object(), "stop");
}

Json completion(const std::string& id, const std::string& text) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", 1},
          {"model", "whoever"},
          {"choices",
           {{{"index", 0},
             {"message", {{"role", "assistant"}, {"content", text}}},
             {"finish_reason", "stop"}}}},
          {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}};
}

// The usage every scripted stream reports: 5 prompt and 2 completion tokens.
core::Usage five_and_two() {
  core::Usage u;
  u.prompt_tokens = 5;
  u.completion_tokens = 2;
  u.total_tokens = 7;
  return u;
}

FakeScript refusing(Error error, std::chrono::nanoseconds delay = {}) {
  FakeScript s;
  s.refuse = std::move(error);
  s.delay = delay;
  return s;
}
FakeScript stepping(std::vector<FakeStep> steps) {
  FakeScript s;
  s.steps = std::move(steps);
  return s;
}
FakeScript answering(Json reply) {
  return stepping({FakeStep::reply(std::move(reply))});
}
// A whole stream: a role opener, "Hello", " world", a finish reason, the end; 5 + 2 tokens.
FakeScript streaming(const std::string& id) {
  FakeScript s =
      stepping({FakeStep::reply(role_chunk(id)), FakeStep::reply(text_chunk(id, "Hello")),
                FakeStep::reply(text_chunk(id, " world")), FakeStep::reply(stop_chunk(id)),
                FakeStep::end()});
  s.usage = five_and_two();
  return s;
}

std::vector<Json> streamed_chunks(const std::string& id) {
  return {role_chunk(id), text_chunk(id, "Hello"), text_chunk(id, " world"), stop_chunk(id)};
}

} // namespace

// ---- served without falling back ------------------------------------------------------------

TEST_CASE("ChatHandler: a stream its first model serves goes out behind one 200 head") {
  ChatBench b;
  FakeScript s = stepping({FakeStep::reply(role_chunk("b1")),
                           FakeStep::reply(text_chunk("b1", "Hello"), 1500ms),
                           FakeStep::reply(text_chunk("b1", " world"), 250ms),
                           FakeStep::reply(stop_chunk("b1"), 250ms), FakeStep::end()});
  s.usage = five_and_two();
  b.alpha->script("big", s);

  ClientView r = b.post(chat_request("fast", true));
  CHECK(r.status == 200);
  CHECK(r.complete);
  CHECK(r.header("Content-Type") == "text/event-stream");
  CHECK(r.header("X-Served-By") == "big");
  CHECK(r.header("X-Fallback-Path") == "big");
  CHECK(r.header("X-Requested-Model") == "big");
  CHECK(r.chunks() == streamed_chunks("b1"));
  CHECK(r.events().back() == "[DONE]");

  // What the backend was asked, and with what limits.
  REQUIRE(b.alpha->calls().size() == 1);
  const FakeCall call = b.alpha->calls()[0];
  CHECK(call.model == "big");
  CHECK(call.stream);
  CHECK(call.request["model"] == "big-q8");
  CHECK(call.request["stream"] == true);
  CHECK(call.timeouts.first_byte == 7s);
  CHECK(call.timeouts.connect == 5s);
  CHECK(call.meta.model == "big");
  CHECK(call.meta.id == r.header("X-Request-Id"));
  CHECK(call.ended);
  CHECK_FALSE(call.abandoned);
  CHECK(b.beta->calls().empty());

  const Json rec = b.last_record();
  CHECK(rec["id"] == r.header("X-Request-Id"));
  CHECK(rec["requested"] == "fast");
  CHECK(rec["model"] == "big");
  CHECK(rec["served_by"] == "big");
  CHECK(rec["fallback_path"] == Json::array({"big"}));
  CHECK(rec["attempts"] == Json::array());
  CHECK(rec["status"] == 200);
  CHECK(rec["stream"] == true);
  CHECK(rec["ttft_s"] == 1.5); // the FakeClock: first content after 1.5 s
  CHECK(rec["latency_s"] == 2.0);
  CHECK(rec["prompt_tokens"] == 5);
  CHECK(rec["completion_tokens"] == 2);
  CHECK(rec["client"] == "127.0.0.1:40404");
  CHECK_FALSE(rec.contains("error"));

  CHECK(b.metric(R"(askd_requests_total{requested="big",served="big",status="200"})") == 1);
  CHECK(b.metric(R"(askd_tokens_total{model="big",type="completion"})") == 2);
  CHECK(b.metric(R"(askd_time_to_first_token_seconds_sum{served="big"})") == 1.5);
  CHECK(b.metric(R"(askd_upstream_in_flight{backend="alpha",model="big"})") == 0);
  CHECK(b.metric(R"(askd_requests_in_flight{requested="big"})") == 0);
  CHECK_FALSE(b.has_metric("askd_fallbacks_total"));
  CHECK_FALSE(b.has_metric("askd_upstream_errors_total"));
}

TEST_CASE("ChatHandler: a whole reply goes out as the backend gave it, with its length") {
  ChatBench b;
  FakeScript s = answering(completion("b1", "Hello world"));
  s.delay = 3s;
  b.alpha->script("big", s);

  ClientView r = b.post(chat_request("big", false));
  CHECK(r.status == 200);
  CHECK(r.complete);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
  CHECK(r.header("X-Served-By") == "big");
  CHECK(r.json() == completion("b1", "Hello world"));
  REQUIRE(b.alpha->calls().size() == 1);
  CHECK_FALSE(b.alpha->calls()[0].stream);
  CHECK(b.alpha->calls()[0].request["stream"] == false);

  const Json rec = b.last_record();
  CHECK(rec["served_by"] == "big");
  CHECK(rec["status"] == 200);
  CHECK(rec["latency_s"] == 3.0);
  CHECK(rec["ttft_s"].is_null()); // measured for streams only
  CHECK(rec["prompt_tokens"] == 5);
  CHECK(b.metric(R"(askd_tokens_total{model="big",type="prompt"})") == 5);
}

// ---- failures that fall back ---------------------------------------------------------------

namespace {

struct FallbackCase {
  const char* what;
  Error error;
  const char* reason;
};

std::vector<FallbackCase> fallback_cases() {
  Error placed = Error::overloaded("cannot place big within 2m: every GPU is busy");
  return {
      {"connection refused", Error::connect("connect to 127.0.0.1:9: Connection refused"),
       "connect"},
      {"reset before an answer", Error::connect("alpha reset the connection"), "connect"},
      {"first-byte timeout", Error::timeout("no first byte from alpha within 7 s"), "timeout"},
      {"500", Error::upstream(500, "alpha answered 500: boom"), "status_500"},
      {"502", Error::upstream(502, "alpha answered 502"), "status_502"},
      {"503 (loading)", Error::upstream(503, "alpha answered 503: Loading model"), "status_503"},
      {"504", Error::upstream(504, "alpha answered 504"), "status_504"},
      {"429", Error::upstream(429, "alpha answered 429: slow down"), "status_429"},
      {"408", Error::upstream(408, "alpha answered 408"), "status_408"},
      {"401 (the backend's key)", Error::upstream(401, "alpha answered 401: bad key"),
       "status_401"},
      {"403", Error::upstream(403, "alpha answered 403"), "status_403"},
      {"404 (Ollama: model not pulled)",
       Error::upstream(404, "alpha answered 404: model 'big-q8' not found"), "not_pulled"},
      {"404 (another)", Error::upstream(404, "alpha answered 404: 404 page not found"),
       "status_404"},
      {"a 3xx", Error::upstream(302, "alpha answered 302"), "status_302"},
      {"malformed reply", Error::malformed_reply("alpha reply: invalid JSON: unexpected end"),
       "status_502"},
      {"an in-band error", Error::upstream(500, "alpha sent an error: out of memory"),
       "status_500"},
      {"a managed model that cannot be placed", placed, "overloaded"},
  };
}

// Where the failure happens: the whole-reply call, the stream's head, or the stream's first
// chunk (after its head arrived).
enum class FailAt { reply, stream_head, stream_first_chunk };

FakeScript failing(const Error& error, FailAt at) {
  return at == FailAt::stream_first_chunk ? stepping({FakeStep::fail(error)}) : refusing(error);
}

} // namespace

TEST_CASE("ChatHandler: every failure the rules call a backend's moves on to the next model") {
  for (FailAt at : {FailAt::reply, FailAt::stream_head, FailAt::stream_first_chunk}) {
    const bool stream = at != FailAt::reply;
    for (const FallbackCase& c : fallback_cases()) {
      const std::string what = c.what;
      const int where = static_cast<int>(at);
      CAPTURE(what);
      CAPTURE(where);
      ChatBench b;
      b.alpha->script("big", failing(c.error, at));
      b.beta->script("small", stream ? streaming("s1") : answering(completion("s1", "hi")));

      ClientView r = b.post(chat_request("big", stream));
      CHECK(r.status == 200);
      CHECK(r.header("X-Served-By") == "small");
      CHECK(r.header("X-Fallback-Path") == "big>small");
      CHECK(r.header("X-Requested-Model") == "big");
      if (stream) {
        CHECK(r.chunks() == streamed_chunks("s1"));
      } else {
        CHECK(r.json() == completion("s1", "hi"));
      }
      CHECK(b.alpha->models_called() == std::vector<std::string>{"big"});
      CHECK(b.beta->models_called() == std::vector<std::string>{"small"});
      REQUIRE(b.beta->calls().size() == 1);
      CHECK(b.beta->calls()[0].request["model"] == "small");
      CHECK(b.beta->calls()[0].meta.model == "small");

      const Json rec = b.last_record();
      CHECK(rec["status"] == 200);
      CHECK(rec["model"] == "big");
      CHECK(rec["served_by"] == "small");
      CHECK(rec["fallback_path"] == Json::array({"big", "small"}));
      CHECK(rec["attempts"] == Json::array({{{"model", "big"},
                                             {"backend", "alpha"},
                                             {"reason", c.reason},
                                             {"message", c.error.message},
                                             {"seconds", 0.0}}})); // a FakeClock
      CHECK(r.header("Server-Timing") ==
            "attempt;desc=\"big\";dur=0.0, served;desc=\"small\";dur=0.0");
      CHECK_FALSE(rec.contains("error"));

      const std::string reason = c.reason;
      CHECK(b.metric(R"(askd_fallbacks_total{from="big",to="small",reason=")" + reason + "\"}") ==
            1);
      CHECK(b.metric(R"(askd_upstream_errors_total{backend="alpha",model="big",kind=")" + reason +
                     "\"}") == 1);
      CHECK(b.metric(R"(askd_requests_total{requested="big",served="small",status="200"})") == 1);
      CHECK(b.metric(R"(askd_upstream_in_flight{backend="alpha",model="big"})") == 0);
      CHECK(b.metric(R"(askd_upstream_in_flight{backend="beta",model="small"})") == 0);
    }
  }
}

TEST_CASE("ChatHandler: a full queue moves on without asking the backend") {
  ChatBench b;
  auto held = b.limiters.model("big")->acquire(std::chrono::steady_clock::now(), {});
  REQUIRE(held);
  b.beta->script("small", answering(completion("s1", "hi")));

  ClientView r = b.post(chat_request("big", false));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "small");
  CHECK(r.header("X-Fallback-Path") == "big>small");
  CHECK(b.alpha->calls().empty());

  const Json rec = b.last_record();
  REQUIRE(rec["attempts"].size() == 1);
  CHECK(rec["attempts"][0]["reason"] == "queue_full");
  CHECK(rec["attempts"][0]["message"] == "model big: queue full (1 running, 0 waiting)");
  CHECK(b.metric(R"(askd_fallbacks_total{from="big",to="small",reason="queue_full"})") == 1);
  CHECK(b.metric(R"(askd_upstream_errors_total{backend="alpha",model="big",kind="queue_full"})") ==
        1);
  CHECK(b.metric(R"(askd_queued_requests{scope="model",name="big"})") == 0);
}

TEST_CASE("ChatHandler: a stream that ends before any content falls back as empty_stream") {
  ChatBench b;
  b.alpha->script("big", stepping({FakeStep::reply(role_chunk("b1")), FakeStep::end()}));
  b.beta->script("small", streaming("s1"));

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "small");
  CHECK(r.chunks() == streamed_chunks("s1"));
  const Json rec = b.last_record();
  REQUIRE(rec["attempts"].size() == 1);
  CHECK(rec["attempts"][0]["reason"] == "empty_stream");
  CHECK(rec["attempts"][0]["message"] == "big ended its stream before any content");
  CHECK(b.metric(R"(askd_fallbacks_total{from="big",to="small",reason="empty_stream"})") == 1);
}

TEST_CASE("ChatHandler: the chain goes on past a second failure, depth first") {
  ChatBench b;
  b.alpha->script("big", refusing(Error::connect("refused")));
  b.beta->script("small", refusing(Error::upstream(503, "beta answered 503")));
  b.beta->script("tiny", streaming("t1"));

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.header("X-Served-By") == "tiny");
  CHECK(r.header("X-Fallback-Path") == "big>small>tiny");
  CHECK(r.chunks() == streamed_chunks("t1"));
  const Json rec = b.last_record();
  CHECK(rec["fallback_path"] == Json::array({"big", "small", "tiny"}));
  CHECK(rec["attempts"].size() == 2);
  CHECK(b.metric(R"(askd_fallbacks_total{from="big",to="small",reason="connect"})") == 1);
  CHECK(b.metric(R"(askd_fallbacks_total{from="small",to="tiny",reason="status_503"})") == 1);
}

TEST_CASE("ChatHandler: time spent on a failed model counts towards latency and first content") {
  ChatBench b;
  b.alpha->script("big", refusing(Error::timeout("no first byte within 7 s"), 7s));
  FakeScript s = stepping({FakeStep::reply(role_chunk("s1"), 100ms),
                           FakeStep::reply(text_chunk("s1", "Hi"), 400ms),
                           FakeStep::reply(stop_chunk("s1"), 250ms), FakeStep::end()});
  b.beta->script("small", s);

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.header("X-Served-By") == "small");
  const Json rec = b.last_record();
  CHECK(rec["ttft_s"] == 7.5);
  CHECK(rec["latency_s"] == 7.75);
  CHECK(b.metric(R"(askd_time_to_first_token_seconds_sum{served="small"})") == 7.5);
}

// ---- when every model fails ----------------------------------------------------------------

TEST_CASE("ChatHandler: every model failing is a 502 naming each attempt") {
  ChatBench b;
  b.alpha->script("big", refusing(Error::connect("connect to 127.0.0.1:9: Connection refused")));
  b.beta->script("small", refusing(Error::upstream(503, "beta answered 503: Loading model")));
  b.beta->script("tiny", stepping({FakeStep::reply(role_chunk("t1")), FakeStep::end()}));

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.status == 502);
  CHECK(r.complete);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK_FALSE(r.header("X-Served-By").has_value());
  CHECK(r.header("X-Fallback-Path") == "big>small>tiny");
  CHECK_FALSE(r.header("Retry-After").has_value());
  const Json err = r.json()["error"];
  CHECK(err["code"] == "all_models_failed");
  CHECK(err["type"] == "server_error");
  CHECK(err["message"] ==
        "every model in the chain failed: big (connect: connect to 127.0.0.1:9: Connection "
        "refused); small (status_503: beta answered 503: Loading model); tiny (empty_stream: "
        "tiny ended its stream before any content)");
  REQUIRE(err["attempts"].size() == 3);
  CHECK(err["attempts"][2]["reason"] == "empty_stream");

  const Json rec = b.last_record();
  CHECK(rec["status"] == 502);
  CHECK(rec["served_by"] == "");
  CHECK(rec["attempts"].size() == 3);
  CHECK(rec["error"] == err["message"]);
  CHECK(b.metric(R"(askd_requests_total{requested="big",served="",status="502"})") == 1);
  // Two moves along the chain; the last failure has nowhere to go.
  CHECK(b.metric(R"(askd_fallbacks_total{from="small",to="tiny",reason="status_503"})") == 1);
  CHECK(b.metric(
            R"(askd_upstream_errors_total{backend="beta",model="tiny",kind="empty_stream"})") == 1);
}

TEST_CASE("ChatHandler: every queue full is a 429 with Retry-After: 1") {
  ChatBench b;
  auto big = b.limiters.model("big")->acquire(std::chrono::steady_clock::now(), {});
  auto beta = b.limiters.backend("beta")->acquire(std::chrono::steady_clock::now(), {});
  REQUIRE(big);
  REQUIRE(beta);

  ClientView r = b.post(chat_request("big", false));
  CHECK(r.status == 429);
  CHECK(r.header("Retry-After") == "1");
  CHECK(r.json()["error"]["code"] == "overloaded");
  CHECK(r.json()["error"]["type"] == "rate_limit_error");
  CHECK(b.alpha->calls().empty());
  CHECK(b.beta->calls().empty());
  CHECK(b.last_record()["status"] == 429);
  CHECK(b.metric(R"(askd_requests_total{requested="big",served="",status="429"})") == 1);
}

TEST_CASE("ChatHandler: no capacity anywhere is a 503 with the soonest Retry-After") {
  ChatBench b;
  Error backoff = Error::overloaded("big crashed 3 times in a row; next start in 8.0 s");
  backoff.retry_after_s = 8;
  Error sooner = Error::overloaded("small crashed 3 times in a row; next start in 3.0 s");
  sooner.retry_after_s = 3;
  b.alpha->script("big", refusing(backoff));
  b.beta->script("small", refusing(sooner));
  b.beta->script("tiny", refusing(Error::overloaded("cannot place tiny within 2m")));

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.status == 503);
  CHECK(r.header("Retry-After") == "3");
  CHECK(r.json()["error"]["code"] == "unavailable");
  CHECK(b.last_record()["status"] == 503);
}

// ---- failures that do not fall back --------------------------------------------------------

TEST_CASE("ChatHandler: the request's own fault is answered at once, without falling back") {
  struct Case {
    const char* what;
    Error error;
    int status;
    const char* type;
    const char* reason;
  };
  const Case cases[] = {
      {"400", Error::upstream(400, "alpha answered 400: messages[0].content: expected a string"),
       400, "invalid_request_error", "status_400"},
      {"413", Error::upstream(413, "alpha answered 413: prompt too long"), 413,
       "invalid_request_error", "status_413"},
      {"422", Error::upstream(422, "alpha answered 422: bad tool schema"), 422,
       "invalid_request_error", "status_422"},
      {"a request that cannot be sent", Error::bad_request("header value has a line break"), 400,
       "invalid_request_error", "bad_request"},
      {"an impossible state", Error::internal("no upstream for backend alpha"), 500, "server_error",
       "internal"},
  };
  for (bool stream : {false, true}) {
    for (const Case& c : cases) {
      const std::string what = c.what;
      CAPTURE(what);
      CAPTURE(stream);
      ChatBench b;
      b.alpha->script("big", refusing(c.error));

      ClientView r = b.post(chat_request("big", stream));
      CHECK(r.status == c.status);
      CHECK(r.complete);
      CHECK_FALSE(r.header("X-Served-By").has_value());
      CHECK(r.header("X-Fallback-Path") == "big");
      CHECK(r.json()["error"]["message"] == c.error.message);
      CHECK(r.json()["error"]["type"] == c.type);
      CHECK(b.beta->calls().empty());

      const Json rec = b.last_record();
      CHECK(rec["status"] == c.status);
      CHECK(rec["served_by"] == "");
      CHECK(rec["attempts"] == Json::array());
      CHECK(rec["error"] == c.error.describe());
      CHECK(
          b.metric(std::string(R"(askd_upstream_errors_total{backend="alpha",model="big",kind=")") +
                   c.reason + "\"}") == 1);
      CHECK_FALSE(b.has_metric("askd_fallbacks_total"));
    }
  }
}

// ---- the held-back head --------------------------------------------------------------------

TEST_CASE("ChatHandler: nothing reaches the client before the first content") {
  ChatBench b;
  ClientSocket client;
  int looked = 0;
  auto nothing_yet = [&] {
    CHECK(client.arrived().empty());
    ++looked;
  };
  b.alpha->script("big",
                  stepping({FakeStep::reply(role_chunk("b1")), FakeStep::run(nothing_yet),
                            FakeStep::reply(text_chunk("b1", "")), FakeStep::run(nothing_yet),
                            FakeStep::reply(text_chunk("b1", "Hi")), FakeStep::run([&] {
                              // Head and every held chunk left together.
                              ClientView v = read_response(client.arrived());
                              CHECK(v.status == 200);
                              CHECK(v.chunks().size() == 3);
                              ++looked;
                            }),
                            FakeStep::reply(stop_chunk("b1")), FakeStep::end()}));

  ClientView r = b.post(chat_request("big", true), client);
  CHECK(looked == 3);
  CHECK(r.chunks() == std::vector<Json>{role_chunk("b1"), text_chunk("b1", ""),
                                        text_chunk("b1", "Hi"), stop_chunk("b1")});
}

TEST_CASE("ChatHandler: a model that sends only a role and empty deltas, then fails, falls back "
          "unseen") {
  ChatBench b;
  b.alpha->script(
      "big", stepping({FakeStep::reply(role_chunk("unseen-big")),
                       FakeStep::reply(text_chunk("unseen-big", "")),
                       FakeStep::reply(delta_chunk("unseen-big", {{"tool_calls", Json::array()}})),
                       FakeStep::fail(Error::connect("alpha reset the connection"))}));
  b.beta->script("small", streaming("s1"));

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "small");
  CHECK(r.header("X-Fallback-Path") == "big>small");
  CHECK(r.chunks() == streamed_chunks("s1"));
  CHECK(r.raw.find("unseen-big") == std::string::npos); // none of big's chunks
  const Json rec = b.last_record();
  REQUIRE(rec["attempts"].size() == 1);
  CHECK(rec["attempts"][0]["reason"] == "connect");
}

TEST_CASE("ChatHandler: a finish reason alone is content, and commits the stream") {
  ChatBench b;
  b.alpha->script("big", stepping({FakeStep::reply(role_chunk("b1")),
                                   FakeStep::reply(stop_chunk("b1")), FakeStep::end()}));

  ClientView r = b.post(chat_request("big", true));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "big");
  CHECK(r.chunks() == std::vector<Json>{role_chunk("b1"), stop_chunk("b1")});
  CHECK(b.beta->calls().empty());
}

// ---- errors after the first content --------------------------------------------------------

TEST_CASE("ChatHandler: a stream that breaks after its first content ends with an error event") {
  struct Case {
    Error error;
    const char* kind;
  };
  const Case cases[] = {
      {Error::timeout("no chunk from alpha within 2m"), "timeout"},
      {Error::upstream(500, "alpha sent an error: out of memory"), "status_500"},
      {Error::connect("alpha ended the stream without [DONE]"), "connect"},
  };
  for (const Case& c : cases) {
    const std::string kind = c.kind;
    CAPTURE(kind);
    ChatBench b;
    b.alpha->script("big", stepping({FakeStep::reply(role_chunk("b1")),
                                     FakeStep::reply(text_chunk("b1", "Hel"), 1s),
                                     FakeStep::fail(c.error, 2s)}));

    ClientView r = b.post(chat_request("big", true));
    CHECK(r.status == 200);
    CHECK(r.complete); // the chunked body is terminated properly...
    CHECK(r.header("X-Served-By") == "big");
    const std::vector<std::string> events = r.events();
    REQUIRE(events.size() == 3); // ...but without [DONE]
    CHECK(Json::parse(events[1]) == text_chunk("b1", "Hel"));
    CHECK(Json::parse(events[2]) == Json{{"error",
                                          {{"message", "big failed mid-stream: " + c.error.message},
                                           {"type", "server_error"},
                                           {"code", "stream_interrupted"}}}});
    CHECK(b.beta->calls().empty()); // too late to fall back

    const Json rec = b.last_record();
    CHECK(rec["status"] == 200);
    CHECK(rec["served_by"] == "big");
    CHECK(rec["attempts"] == Json::array());
    CHECK(rec["error"] == c.error.describe());
    CHECK(rec["ttft_s"] == 1.0);
    CHECK(rec["latency_s"] == 3.0);

    CHECK(b.metric(R"(askd_stream_aborts_total{model="big",kind=")" + kind + "\"}") == 1);
    CHECK(b.metric(R"(askd_upstream_errors_total{backend="alpha",model="big",kind=")" + kind +
                   "\"}") == 1);
    CHECK(b.metric(R"(askd_requests_total{requested="big",served="big",status="200"})") == 1);
    CHECK_FALSE(b.has_metric("askd_fallbacks_total"));
  }
}

// ---- clients that leave --------------------------------------------------------------------

TEST_CASE("ChatHandler: a client that leaves before the first byte cancels the attempt: 499") {
  for (bool stream : {false, true}) {
    CAPTURE(stream);
    ChatBench b;
    ClientSocket client;
    b.alpha->script(
        "big", stepping({FakeStep::run([&] { client.leave(); }), FakeStep::until_cancelled()}));

    ClientView r = b.post(chat_request("big", stream), client);
    CHECK(r.raw.empty()); // not even a status line
    REQUIRE(b.alpha->calls().size() == 1);
    CHECK(b.alpha->calls()[0].cancelled);
    CHECK(b.beta->calls().empty()); // nobody to fall back for

    const Json rec = b.last_record();
    CHECK(rec["status"] == 499);
    CHECK(rec["served_by"] == "");
    CHECK(rec["fallback_path"] == Json::array({"big"}));
    CHECK(rec["attempts"] == Json::array());
    CHECK(rec["error"] == "the client went away");
    CHECK(b.metric(R"(askd_client_disconnects_total{model="big"})") == 1);
    CHECK(b.metric(R"(askd_requests_total{requested="big",served="",status="499"})") == 1);
    CHECK_FALSE(b.has_metric("askd_upstream_errors_total"));
    CHECK(b.metric(R"(askd_upstream_in_flight{backend="alpha",model="big"})") == 0);
  }
}

TEST_CASE("ChatHandler: a client that leaves while queued gives up its place: 499") {
  ChatBench b(R"({
    "backends": {"alpha": {"kind": "openai", "url": "http://127.0.0.1:9"}},
    "models": {"big": {"backend": "alpha", "max_concurrency": 1, "max_queue": 1,
                       "fallbacks": ["small"]},
               "small": {"backend": "alpha"}}
  })");
  auto held = b.limiters.model("big")->acquire(std::chrono::steady_clock::now(), {});
  REQUIRE(held);
  ClientSocket client;
  client.leave();

  ClientView r = b.post(chat_request("big", true), client);
  CHECK(r.raw.empty());
  CHECK(b.alpha->calls().empty());
  const Json rec = b.last_record();
  CHECK(rec["status"] == 499);
  CHECK(rec["error"] == "gave up waiting for model big");
  CHECK(b.metric(R"(askd_client_disconnects_total{model="big"})") == 1);
  CHECK(b.metric(R"(askd_queued_requests{scope="model",name="big"})") == 0);
}

TEST_CASE("ChatHandler: a client that hangs up mid-stream cancels the upstream stream") {
  ChatBench b;
  ClientSocket client;
  b.alpha->script(
      "big",
      stepping({FakeStep::reply(role_chunk("b1")), FakeStep::reply(text_chunk("b1", "Hel"), 1s),
                FakeStep::run([&] { client.leave(); }), FakeStep::until_cancelled()}));

  ClientView r = b.post(chat_request("big", true), client);
  CHECK(r.status == 200);
  CHECK_FALSE(r.complete); // cut off: no error event, no terminating chunk
  CHECK(r.chunks() == std::vector<Json>{role_chunk("b1"), text_chunk("b1", "Hel")});
  REQUIRE(b.alpha->calls().size() == 1);
  CHECK(b.alpha->calls()[0].cancelled);
  CHECK(b.beta->calls().empty());

  const Json rec = b.last_record();
  CHECK(rec["status"] == 200);
  CHECK(rec["served_by"] == "big");
  CHECK(rec["error"] == "the client left mid-stream");
  CHECK(rec["ttft_s"] == 1.0);
  CHECK(b.metric(R"(askd_client_disconnects_total{model="big"})") == 1);
  CHECK_FALSE(b.has_metric("askd_stream_aborts_total"));
  CHECK_FALSE(b.has_metric("askd_upstream_errors_total"));
}

TEST_CASE("ChatHandler: a write that fails mid-stream gives the upstream stream up") {
  ChatBench b;
  ClientSocket client;
  b.alpha->script("big", stepping({FakeStep::reply(text_chunk("b1", "Hel")),
                                   FakeStep::run([&] { client.vanish(); }),
                                   FakeStep::reply(text_chunk("b1", "lo")),
                                   FakeStep::reply(stop_chunk("b1")), FakeStep::end()}));

  ClientView r = b.post(chat_request("big", true), client);
  CHECK(r.status == 200);
  CHECK(r.chunks() == std::vector<Json>{text_chunk("b1", "Hel")});
  REQUIRE(b.alpha->calls().size() == 1);
  CHECK(b.alpha->calls()[0].abandoned); // destroyed before its end: the connection closes
  CHECK_FALSE(b.alpha->calls()[0].ended);

  const Json rec = b.last_record();
  CHECK(rec["status"] == 200);
  CHECK(rec["error"] == "the client left mid-stream");
  CHECK(b.metric(R"(askd_client_disconnects_total{model="big"})") == 1);
}

TEST_CASE("ChatHandler: a whole reply the client is no longer there for is logged as left") {
  ChatBench b;
  ClientSocket client;
  b.alpha->script("big", stepping({FakeStep::run([&] { client.vanish(); }),
                                   FakeStep::reply(completion("b1", "hi"))}));

  ClientView r = b.post(chat_request("big", false), client);
  CHECK(r.raw.empty());
  const Json rec = b.last_record();
  // The answer was committed (200 chosen) when the write failed.
  CHECK(rec["status"] == 200);
  CHECK(rec["served_by"] == "big");
  CHECK(rec["error"] == "the client left before the answer was sent");
  CHECK(b.metric(R"(askd_client_disconnects_total{model="big"})") == 1);
}

// ---- ChainCompleter: the same rules for a council's members --------------------------------

TEST_CASE("ChainCompleter: walks the chain like a client request and answers whole") {
  ChatBench b;
  b.alpha->script("big", refusing(Error::upstream(503, "alpha answered 503")));
  b.beta->script("small", answering(completion("s1", "member answer")));
  ChatDeps deps = b.deps();
  ChainCompleter completer(deps, {}, "chatcmpl-council", "0123456789abcdef");

  auto done = completer.complete(chat_request("big", false));
  REQUIRE(done);
  CHECK(done->served_by == "small");
  CHECK(done->fallback_path == "big>small");
  CHECK(done->response.choices.at(0).message.content == "member answer");
  REQUIRE(b.beta->calls().size() == 1);
  CHECK(b.beta->calls()[0].meta.id == "chatcmpl-council");
  CHECK(b.beta->calls()[0].request["stream"] == false);
  CHECK(b.metric(R"(askd_fallbacks_total{from="big",to="small",reason="status_503"})") == 1);
  CHECK(b.metric(R"(askd_tokens_total{model="small",type="prompt"})") == 5);
}

TEST_CASE("ChainCompleter: a malformed reply falls back - the request's own fault stops") {
  ChatBench b;
  b.alpha->script("big", answering({{"id", "x"}, {"choices", "none"}}));
  b.beta->script("small", refusing(Error::upstream(400, "beta answered 400: bad")));
  ChatDeps deps = b.deps();
  ChainCompleter completer(deps, {}, "chatcmpl-council", "0123456789abcdef");

  auto done = completer.complete(chat_request("big", false));
  REQUIRE_FALSE(done);
  CHECK(done.error().http_status == 400);
  CHECK(b.beta->models_called() == std::vector<std::string>{"small"}); // tiny never asked
  CHECK(b.metric(R"(askd_fallbacks_total{from="big",to="small",reason="status_502"})") == 1);
}

// ---- other doors: the same chain, the door's shapes ----------------------------------------

namespace {

Json messages_request(const std::string& model, bool stream) {
  return {{"model", model},
          {"max_tokens", 64},
          {"stream", stream},
          {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

} // namespace

TEST_CASE("ChatHandler, Messages door: a stream that falls back goes out as Anthropic events") {
  ChatBench b;
  b.alpha->script("big", refusing(Error::connect("connection refused")));
  b.beta->script("small", streaming("s1"));
  const AnthropicDialect door;
  ClientView r = b.post_to(door, messages_request("big", true));
  REQUIRE(r.status == 200);
  CHECK(r.complete);
  CHECK(r.header("Content-Type") == "text/event-stream");
  CHECK(r.header("X-Served-By") == "small");
  CHECK(r.header("X-Fallback-Path") == "big>small");
  CHECK(r.event_names() == std::vector<std::string>{"message_start", "content_block_start",
                                                    "content_block_delta", "content_block_delta",
                                                    "content_block_stop", "message_delta",
                                                    "message_stop"});
  const std::vector<Json> events = r.chunks();
  CHECK(events[0]["message"]["model"] == "small");
  CHECK(events[2]["delta"] == Json{{"type", "text_delta"}, {"text", "Hello"}});
  CHECK(events[5]["delta"]["stop_reason"] == "end_turn");
  CHECK(events[5]["usage"]["output_tokens"] == 2);
  // The Messages door always reports usage: the backend is asked for it.
  CHECK(b.beta->calls().front().client_wants_usage);
  // What the backend got is a chat request.
  CHECK(b.beta->calls().front().request["messages"] ==
        Json::array({{{"role", "user"}, {"content", "hi"}}}));
  CHECK(b.beta->calls().front().request["max_tokens"] == 64);
  const Json rec = b.last_record();
  CHECK(rec["api"] == "messages");
  CHECK(rec["served_by"] == "small");
  CHECK(rec["completion_tokens"] == 2);
}

TEST_CASE("ChatHandler, Messages door: a whole reply is a Message") {
  ChatBench b;
  b.alpha->script("big", answering(completion("c1", "Hello there")));
  const AnthropicDialect door;
  ClientView r = b.post_to(door, messages_request("fast", false));
  REQUIRE(r.status == 200);
  const Json msg = r.json();
  CHECK(msg["type"] == "message");
  CHECK(msg["role"] == "assistant");
  CHECK(msg["model"] == "big");
  CHECK(msg["content"] == Json::array({{{"type", "text"}, {"text", "Hello there"}}}));
  CHECK(msg["stop_reason"] == "end_turn");
  CHECK(msg["usage"]["input_tokens"] == 5);
  CHECK(msg["usage"]["output_tokens"] == 2);
  CHECK(std::stoul(*r.header("Content-Length")) == r.body.size());
}

TEST_CASE("ChatHandler, Messages door: every error is in Anthropic's shape with its status") {
  const AnthropicDialect door;
  auto error_of = [](const ClientView& r) {
    const Json body = r.json();
    CHECK(body["type"] == "error");
    return body["error"];
  };
  SUBCASE("not JSON") {
    ChatBench b;
    ClientSocket client;
    ClientView r = b.post_to(door, "{nope", client);
    CHECK(r.status == 400);
    CHECK(error_of(r)["type"] == "invalid_request_error");
  }
  SUBCASE("a field Messages requires") {
    ChatBench b;
    Json body = messages_request("big", false);
    body.erase("max_tokens");
    ClientView r = b.post_to(door, body);
    CHECK(r.status == 400);
    CHECK(error_of(r)["message"].get<std::string>().find("max_tokens") != std::string::npos);
    CHECK(b.alpha->calls().empty());
  }
  SUBCASE("an unknown model") {
    ChatBench b;
    ClientView r = b.post_to(door, messages_request("nope", false));
    CHECK(r.status == 404);
    CHECK(error_of(r)["type"] == "not_found_error");
  }
  SUBCASE("every model failing") {
    ChatBench b;
    b.alpha->script("big", refusing(Error::connect("refused")));
    b.beta->script("small", refusing(Error::upstream(500, "boom")));
    b.beta->script("tiny", refusing(Error::timeout("first byte")));
    ClientView r = b.post_to(door, messages_request("big", false));
    CHECK(r.status == 502);
    CHECK(error_of(r)["type"] == "api_error");
    CHECK(error_of(r)["message"].get<std::string>().find("tiny") != std::string::npos);
  }
}

TEST_CASE(
    "ChatHandler, Messages door: a failure after the first content ends with an error event") {
  ChatBench b;
  FakeScript s =
      stepping({FakeStep::reply(role_chunk("b1")), FakeStep::reply(text_chunk("b1", "Hel")),
                FakeStep::fail(Error::connect("reset by peer"))});
  b.alpha->script("big", s);
  const AnthropicDialect door;
  ClientView r = b.post_to(door, messages_request("big", true));
  REQUIRE(r.status == 200);
  CHECK(r.complete);
  const std::vector<std::string> names = r.event_names();
  REQUIRE_FALSE(names.empty());
  CHECK(names.back() == "error");
  CHECK(std::ranges::find(names, "message_stop") == names.end());
  CHECK(r.chunks().back()["error"]["message"].get<std::string>().find("big failed mid-stream") !=
        std::string::npos);
  CHECK(b.beta->calls().empty()); // too late to fall back
}

TEST_CASE("ChatHandler, Responses door: a reply and a stream in the Responses shapes") {
  const Json request = {{"model", "big"}, {"input", "hi"}, {"instructions", "be brief"}};
  SUBCASE("whole") {
    ChatBench b;
    b.alpha->script("big", answering(completion("c1", "Hello there")));
    const ResponsesDialect door(request);
    ClientView r = b.post_to(door, request);
    REQUIRE(r.status == 200);
    const Json resp = r.json();
    CHECK(resp["object"] == "response");
    CHECK(resp["status"] == "completed");
    CHECK(resp["model"] == "big");
    CHECK(resp["instructions"] == "be brief");
    CHECK(resp["output"][0]["content"][0]["text"] == "Hello there");
    CHECK(b.alpha->calls().front().request["messages"][0] ==
          Json{{"role", "system"}, {"content", "be brief"}});
    CHECK(b.last_record()["api"] == "responses");
  }
  SUBCASE("streamed, after a fallback") {
    ChatBench b;
    b.alpha->script("big", refusing(Error::connect("refused")));
    b.beta->script("small", streaming("s1"));
    Json streamed = request;
    streamed["stream"] = true;
    const ResponsesDialect door(streamed);
    ClientView r = b.post_to(door, streamed);
    REQUIRE(r.status == 200);
    CHECK(r.header("X-Served-By") == "small");
    const std::vector<std::string> names = r.event_names();
    REQUIRE(names.size() > 4);
    CHECK(names.front() == "response.created");
    CHECK(names.back() == "response.completed");
    std::string text;
    long long last = -1;
    for (const Json& e : r.chunks()) {
      CHECK(e["sequence_number"].get<long long>() == last + 1);
      last = e["sequence_number"];
      if (e["type"] == "response.output_text.delta") {
        text += e["delta"].get<std::string>();
      }
    }
    CHECK(text == "Hello world");
    CHECK(r.chunks().back()["response"]["usage"]["output_tokens"] == 2);
  }
  SUBCASE("previous_response_id is refused before any backend") {
    ChatBench b;
    Json body = request;
    body["previous_response_id"] = "resp_1";
    const ResponsesDialect door(body);
    ClientView r = b.post_to(door, body);
    CHECK(r.status == 400);
    CHECK(r.json()["error"]["message"].get<std::string>().find("previous_response_id") !=
          std::string::npos);
    CHECK(b.alpha->calls().empty());
  }
}

// ---- other operations, capabilities and context windows -------------------------------------

namespace {

// "chat" answers chat with a 4096-token window and falls back to "wide" (32768); "embed" is an
// embedding model falling back to "embed2", past "chatty" (which cannot embed); "council" is
// not needed here.
constexpr const char* k_ops_config = R"({
  "backends": {
    "alpha": {"kind": "openai", "url": "http://127.0.0.1:9"},
    "beta": {"kind": "ollama", "url": "http://127.0.0.1:9"}
  },
  "models": {
    "chat": {"backend": "alpha", "context_length": 4096, "fallbacks": ["wide"],
             "capabilities": ["completion"]},
    "wide": {"backend": "beta", "context_length": 32768, "capabilities": ["completion"]},
    "narrow": {"backend": "alpha", "context_length": 1024, "fallbacks": ["narrow2"]},
    "narrow2": {"backend": "beta", "context_length": 2048},
    "embed": {"backend": "alpha", "capabilities": ["embedding"], "fallbacks": ["chatty", "embed2"]},
    "chatty": {"backend": "alpha", "capabilities": ["completion"]},
    "embed2": {"backend": "beta", "capabilities": ["embedding"]}
  }
})";

Json long_chat(const std::string& model, std::size_t bytes) {
  return {{"model", model},
          {"messages", {{{"role", "user"}, {"content", std::string(bytes, 'x')}}}}};
}

Json embedding_reply() {
  return {{"object", "list"},
          {"data", {{{"object", "embedding"}, {"index", 0}, {"embedding", {0.5, -0.5}}}}},
          {"model", "whoever"},
          {"usage", {{"prompt_tokens", 3}, {"total_tokens", 3}}}};
}

} // namespace

TEST_CASE("ChatHandler: a chat request to an embedding model is a 400 naming its capabilities") {
  ChatBench b(k_ops_config);
  ClientView r = b.post(chat_request("embed", false));
  CHECK(r.status == 400);
  const std::string message = r.json()["error"]["message"];
  CHECK(message.find("'completion' capability") != std::string::npos);
  CHECK(message.find("capabilities are embedding") != std::string::npos);
  CHECK(b.alpha->calls().empty());
  CHECK(b.metric(R"(askd_rejected_total{reason="capability"})") == 1);

  // And the reverse: embeddings from a chat-only model.
  ClientView e = b.post_to(embeddings_dialect(), Json{{"model", "chatty"}, {"input", "hi"}});
  CHECK(e.status == 400);
  CHECK(e.json()["error"]["message"].get<std::string>().find("'embedding' capability") !=
        std::string::npos);
}

TEST_CASE("ChatHandler: embeddings pass fallbacks that cannot embed without calling them") {
  ChatBench b(k_ops_config);
  b.alpha->script("embed", refusing(Error::connect("refused")));
  b.beta->script("embed2", answering(embedding_reply()));
  ClientView r = b.post_to(embeddings_dialect(), Json{{"model", "embed"}, {"input", "hi"}});
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "embed2");
  CHECK(r.header("X-Fallback-Path") == "embed>embed2");
  CHECK(r.header("X-Fallback-Reasons") == "embed=connect,chatty=capability");
  // Server-Timing: one entry per attempt (the skipped one took no time), then the served one.
  const std::string timing = r.header("Server-Timing").value_or("");
  CHECK(timing.starts_with("attempt;desc=\"embed\";dur="));
  CHECK(timing.find("attempt;desc=\"chatty\";dur=0.0, served;desc=\"embed2\";dur=") !=
        std::string::npos);
  CHECK(r.json()["data"][0]["embedding"] == Json::array({0.5, -0.5}));
  CHECK(b.alpha->models_called() == std::vector<std::string>{"embed"});
  REQUIRE(b.beta->calls().size() == 1);
  CHECK(b.beta->calls()[0].operation == "embedding");
  // Only the model is set: no sampling params, no stream flag.
  CHECK(b.beta->calls()[0].request == Json{{"model", "embed2"}, {"input", "hi"}});
  CHECK(b.last_record()["api"] == "embeddings");
}

TEST_CASE("ChatHandler: a text-completion stream relays text chunks from its first content") {
  ChatBench b(k_ops_config);
  auto text = [](const std::string& t, Json finish = nullptr) {
    return Json{{"object", "text_completion"},
                {"choices", {{{"index", 0}, {"text", t}, {"finish_reason", finish}}}}};
  };
  FakeScript s = stepping({FakeStep::reply(text("")), FakeStep::reply(text("fn main")),
                           FakeStep::reply(text("", "stop")), FakeStep::end()});
  s.usage = five_and_two();
  b.alpha->script("chat", std::move(s));
  ClientView r = b.post_to(completions_dialect(),
                           Json{{"model", "chat"}, {"prompt", "// rust\n"}, {"stream", true}});
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "chat");
  REQUIRE(r.chunks().size() == 3);
  CHECK(r.chunks()[1]["choices"][0]["text"] == "fn main");
  CHECK(r.events().back() == "[DONE]");
  REQUIRE(b.alpha->calls().size() == 1);
  CHECK(b.alpha->calls()[0].operation == "completion");
  CHECK(b.alpha->calls()[0].stream);
}

TEST_CASE("ChatHandler: a council answers chat only") {
  ChatBench b(R"({
    "backends": {"alpha": {"kind": "openai", "url": "http://127.0.0.1:9"}},
    "models": {"m": {"backend": "alpha"}},
    "councils": {"c": {"members": [{"model": "m"}], "chairman": "m"}}
  })");
  ClientView r = b.post_to(embeddings_dialect(), Json{{"model", "c"}, {"input", "hi"}});
  CHECK(r.status == 400);
  CHECK(r.json()["error"]["message"].get<std::string>().find("council") != std::string::npos);
  CHECK(b.alpha->calls().empty());
}

TEST_CASE("ChatHandler: a prompt too long for a model's window goes to the next that fits") {
  SUBCASE("counted by the model's tokenizer") {
    ChatBench b(k_ops_config);
    b.alpha->set_token_count("chat", 5000); // over 4096; the estimate (about 2257) is near it
    b.beta->script("wide", answering(completion("w1", "fits")));
    ClientView r = b.post(long_chat("chat", 9000));
    CHECK(r.status == 200);
    CHECK(r.header("X-Served-By") == "wide");
    CHECK(r.header("X-Fallback-Path") == "chat>wide");
    CHECK(r.header("X-Fallback-Reasons") == "chat=context");
    CHECK(b.alpha->calls().empty()); // never sent: it would have been refused
    CHECK(b.metric(R"(askd_fallbacks_total{from="chat",to="wide",reason="context"})") == 1);
    const Json rec = b.last_record();
    CHECK(rec["attempts"][0]["reason"] == "context");
    CHECK(rec["attempts"][0]["message"].get<std::string>().find("holds 4096 tokens and the "
                                                                "prompt has 5000") !=
          std::string::npos);
  }
  SUBCASE("a count under the window is sent, though the estimate was over it") {
    ChatBench b(k_ops_config);
    b.alpha->set_token_count("chat", 4000);
    b.alpha->script("chat", answering(completion("c1", "fits")));
    ClientView r = b.post(long_chat("chat", 20000)); // about 5000 by the estimate
    CHECK(r.header("X-Served-By") == "chat");
  }
  SUBCASE("far below the window nothing is counted") {
    ChatBench b(k_ops_config);
    b.alpha->set_token_count("chat", 999999); // would refuse if asked
    b.alpha->script("chat", answering(completion("c1", "short")));
    ClientView r = b.post(chat_request("chat", false));
    CHECK(r.header("X-Served-By") == "chat");
  }
  SUBCASE("the backend's own refusal moves on too (llama-server's exceed_context_size_error)") {
    ChatBench b(k_ops_config);
    b.alpha->script("chat", refusing(Error::context_exceeded(
                                "alpha answered 400: request (6452 tokens) exceeds the "
                                "available context size (4096 tokens)",
                                {6452, 4096, false})));
    b.beta->script("wide", answering(completion("w1", "fits")));
    ClientView r = b.post(chat_request("chat", false));
    CHECK(r.header("X-Served-By") == "wide");
    CHECK(r.header("X-Fallback-Reasons") == "chat=context");
  }
}

TEST_CASE("ChatHandler: a prompt that fits no window is a 400 with the tokens and each limit") {
  ChatBench b(k_ops_config);
  // No tokenizer on either backend: both are estimates (12000 bytes: about 3000 tokens).
  ClientView r = b.post(long_chat("narrow", 12000));
  CHECK(r.status == 400);
  const Json error = r.json()["error"];
  CHECK(error["code"] == "context_length_exceeded");
  CHECK(error["type"] == "invalid_request_error");
  const std::string message = error["message"];
  CHECK(message.find("about 3007 tokens") != std::string::npos);
  CHECK(message.find("narrow 1024 (estimated count), narrow2 2048 (estimated count)") !=
        std::string::npos);
  CHECK(error["attempts"].size() == 2);
  CHECK(error["attempts"][1]["context_length"] == 2048);
  CHECK(r.header("X-Fallback-Path") == "narrow>narrow2");
  CHECK(b.alpha->calls().empty());
  CHECK(b.beta->calls().empty());
  CHECK(b.last_record()["status"] == 400);
}

} // namespace ask::proxy
