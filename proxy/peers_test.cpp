#include "proxy/peers.h"

#include <doctest/doctest.h>

#include "config/testing.h"
#include "proxy/askd_upstream.h"

namespace ask::proxy {

namespace {

using namespace std::chrono_literals;
using State = PeerHealth::State;

const char* const k_a = "0123456789abcdef";
const char* const k_b = "fedcba9876543210";

net::ResponseHead head_with(std::vector<std::pair<std::string, std::string>> headers) {
  net::ResponseHead h;
  h.status = 200;
  h.headers = std::move(headers);
  return h;
}

} // namespace

TEST_CASE("new_instance_id: 16 hex digits, a new one each time") {
  const std::string a = new_instance_id();
  CHECK(a.size() == 16);
  CHECK(parse_via(a).has_value());
  CHECK(new_instance_id() != a);
}

TEST_CASE("parse_via: ids separated by commas - anything else is refused") {
  auto one = parse_via(k_a);
  REQUIRE(one);
  CHECK(*one == std::vector<std::string>{k_a});
  auto two = parse_via(std::string(k_a) + " , " + k_b);
  REQUIRE(two);
  CHECK(two->size() == 2);
  CHECK((*two)[1] == k_b);
  for (const std::string& bad :
       std::vector<std::string>{"", ",", std::string(k_a) + ",", std::string(k_a) + ",,",
                                "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0",
                                "0123456789abcdeg", "not an id", std::string(k_a) + ";" + k_b}) {
    CAPTURE(bad);
    auto r = parse_via(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
  }
  std::string most;
  for (std::size_t i = 0; i <= k_max_hops; ++i) {
    most += (most.empty() ? "" : ",") + std::string(k_a);
  }
  CHECK(parse_via(most).has_value()); // k_max_hops + 1: read, then refused as too many hops
  CHECK_FALSE(parse_via(most + "," + k_a).has_value());
}

TEST_CASE("parse_peer_models: an askd's own models, what it says of them, and what is skipped") {
  const core::Json body = core::Json::parse(R"({"object": "list", "data": [
    {"id": "coder", "capabilities": ["completion", "tools"], "context_length": 32768,
     "description": "Qwen coder"},
    {"id": "panel", "council": true},
    {"id": "far", "peer": "box3"},
    {"id": "x@y"}, {"id": "a,b"}, {"id": "a>b"}, {"id": "a=b"}, {"id": "bell\u0007"},
    {"id": ""}, {"id": 7}, {"name": "no id"}, "a string", null,
    {"id": "coder"},
    {"id": "odd", "capabilities": "tools", "context_length": -4}
  ]})");
  auto got = parse_peer_models(body);
  REQUIRE(got);
  REQUIRE(got->models.size() == 3);
  CHECK(got->models[0].name == "coder");
  CHECK(got->models[0].capabilities == std::vector<std::string>{"completion", "tools"});
  CHECK(got->models[0].context_length == 32768);
  CHECK(got->models[0].description == "Qwen coder");
  CHECK(got->models[1].council);
  CHECK(got->models[2].name == "odd");
  CHECK(got->models[2].capabilities.empty());
  CHECK_FALSE(got->models[2].context_length);
  REQUIRE(got->skipped.size() == 12);
  CHECK(got->skipped[0] == "far: it is served by another askd (box3); only a machine's own "
                           "models are offered");
  CHECK(got->skipped[1] == "\"x@y\": its name has '@', which separates labels in askd's headers");
  CHECK(got->skipped.back() == "coder: listed twice");

  for (const char* bad : {"[]", "{}", R"({"data": {}})", R"({"data": "x"})", "null", "3"}) {
    CAPTURE(bad);
    auto r = parse_peer_models(core::Json::parse(bad));
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("no \"data\" list") != std::string::npos);
  }

  core::Json many = {{"data", core::Json::array()}};
  for (std::size_t i = 0; i < k_max_peer_models + 5; ++i) {
    many["data"].push_back({{"id", "m" + std::to_string(i)}});
  }
  auto capped = parse_peer_models(many);
  REQUIRE(capped);
  CHECK(capped->models.size() == k_max_peer_models);
}

TEST_CASE("PeerHealth: up, down with a doubling backoff, back up - a loop is never used") {
  core::FakeClock clock;
  PeerHealth h(clock.now());
  CHECK(h.state() == State::unknown);
  CHECK(h.usable());
  CHECK(h.next_probe() == clock.now());

  CHECK(h.succeeded(clock.now()));
  CHECK_FALSE(h.succeeded(clock.now())); // no change
  CHECK(h.next_probe() == clock.now() + PeerHealth::k_interval);

  clock.advance(5s);
  CHECK(h.failed(clock.now(), "connection refused"));
  CHECK_FALSE(h.usable());
  CHECK(h.last_error() == "connection refused");
  CHECK(h.since() == clock.now());
  CHECK(h.next_probe() == clock.now() + 1s);
  // Each failed probe doubles the wait, up to 30 s.
  std::vector<long long> waits;
  for (int i = 0; i < 8; ++i) {
    clock.advance(
        std::chrono::duration_cast<std::chrono::milliseconds>(h.next_probe() - clock.now()));
    CHECK_FALSE(h.failed(clock.now(), "still refused"));
    waits.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(h.next_probe() - clock.now()).count());
  }
  CHECK(waits == std::vector<long long>{2, 4, 8, 16, 30, 30, 30, 30});
  CHECK(h.failures() == 9);
  // A request failing meanwhile does not push the probe that is due back.
  clock.advance(10s);
  const auto due = h.next_probe();
  CHECK_FALSE(h.failed(clock.now(), "a request could not reach it"));
  CHECK(h.next_probe() == due);

  CHECK(h.succeeded(clock.now()));
  CHECK(h.failures() == 0);
  CHECK(h.last_error().empty());
  CHECK(h.failed(clock.now(), "reset"));
  CHECK(h.next_probe() == clock.now() + 1s); // the backoff starts over

  CHECK(h.looped(clock.now(), "is this askd itself"));
  CHECK_FALSE(h.usable());
  CHECK(to_string(h.state()) == "loop");
  CHECK(h.next_probe() == clock.now() + PeerHealth::k_max_backoff);
}

TEST_CASE("Peer: a request that cannot connect marks it down - other errors do not") {
  auto cfg = config::testing::parse(R"({"backends": {"box2": {"kind": "askd",
      "url": "http://127.0.0.1:9"}}})");
  REQUIRE(cfg);
  core::FakeClock clock;
  Peer peer(cfg->config.backends[0], clock);
  CHECK_FALSE(peer.unavailable());
  peer.request_failed(core::Error::timeout("first byte took too long"));
  peer.request_failed(core::Error::upstream(502, "every model failed"));
  CHECK_FALSE(peer.unavailable());
  peer.request_failed(core::Error::connect("connection refused"));
  clock.advance(2500ms);
  auto down = peer.unavailable();
  REQUIRE(down);
  CHECK(down->kind == core::ErrorKind::connect);
  CHECK(down->message == "box2 is down since 2.5 s: a request could not reach it: connection "
                         "refused; next probe in 0.0 s");
  peer.request_succeeded();
  CHECK_FALSE(peer.unavailable());
}

TEST_CASE("read_peer_answer: a peer's head labelled with its machine - bad values ignored") {
  const PeerAnswer a = read_peer_answer(
      head_with({{"X-Served-By", "small"},
                 {"X-Fallback-Path", "coder>small"},
                 {"X-Fallback-Reasons", "coder=status_503, broken, =x, y=,  mid = connect"}}),
      "box2");
  CHECK(a.served_by == "small@box2");
  CHECK(a.path == std::vector<std::string>{"coder@box2", "small@box2"});
  REQUIRE(a.failed.size() == 2);
  CHECK(a.failed[0] == std::pair<std::string, std::string>{"coder@box2", "status_503"});
  CHECK(a.failed[1] == std::pair<std::string, std::string>{"mid@box2", "connect"});

  const PeerAnswer none = read_peer_answer(head_with({}), "box2");
  CHECK(none.served_by.empty());
  CHECK(none.path.empty());
  CHECK(none.failed.empty());

  const PeerAnswer bad = read_peer_answer(
      head_with({{"X-Served-By", std::string(5'000, 'a')}, {"X-Fallback-Path", "a\x01>b"}}),
      "box2");
  CHECK(bad.served_by.empty());
  CHECK(bad.path.empty());

  std::string long_path;
  for (int i = 0; i < 100; ++i) {
    long_path += (long_path.empty() ? "m" : ">m") + std::to_string(i);
  }
  CHECK(read_peer_answer(head_with({{"X-Fallback-Path", long_path}}), "b").path.size() == 64);
}

TEST_CASE("PeerDirectory: nothing offered before a peer answers - a dead peer is down") {
  auto cfg = config::testing::parse(R"({"backends": {
      "box2": {"kind": "askd", "url": "http://127.0.0.1:1", "prefix": "box2/"},
      "plain": {"kind": "openai", "url": "http://127.0.0.1:1"}}})");
  REQUIRE(cfg);
  core::FakeClock clock;
  EventLog events;
  PeerDirectory dir(cfg->config, new_instance_id(), clock, &events);
  CHECK_FALSE(dir.empty());
  CHECK(dir.peer("box2") != nullptr);
  CHECK(dir.peer("plain") == nullptr);
  CHECK(dir.catalog()->models.empty());
  core::Json status = dir.status();
  REQUIRE(status.size() == 1);
  CHECK(status[0]["state"] == "unknown");
  CHECK(status[0]["remote"].is_null());

  dir.refresh_all(); // port 1: refused at once
  status = dir.status();
  CHECK(status[0]["state"] == "down");
  CHECK(status[0]["failures"] == 1);
  CHECK(status[0]["next_probe_in_s"] == 1.0);
  CHECK(dir.peer("box2")->unavailable().has_value());
  const auto published = events.newest("peer", 5);
  REQUIRE(published.size() == 1);
  CHECK(published[0].data["peer"] == "box2");
  CHECK(published[0].data["state"] == "down");

  std::string metrics;
  dir.render_metrics(metrics);
  CHECK(metrics.find("askd_peer_up{peer=\"box2\"} 0\n") != std::string::npos);
  CHECK(metrics.find("askd_peer_probe_failures_total{peer=\"box2\"} 1\n") != std::string::npos);
}

} // namespace ask::proxy
