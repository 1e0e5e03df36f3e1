// askd's live view of managed models end to end: the GET /api/events stream follows a load
// (status first, then load, ready, calibrated), the memory llama-server reports in its
// startup log shows in /api/status beside the estimate, and SIGHUP applies a changed
// keep_alive to a running instance. llm-sim stands in for llama-server and prints the
// buffer lines llama.cpp prints at verbosity 4.

#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "tests/integration/managed_harness.h"

namespace {

using namespace ask::testing;
using namespace std::chrono_literals;

struct SseEvent {
  std::string kind;
  std::uint64_t id = 0;
  Json data;
};

// Reads GET /api/events on a thread of its own until `enough` holds for what came so far.
class EventReader {
public:
  EventReader(int port, std::function<bool(const std::vector<SseEvent>&)> enough,
              const httplib::Headers& headers = {})
      : m_enough(std::move(enough)), m_thread([this, port, headers] { run(port, headers); }) {}
  // A check that failed while the stream was open ends the test here: the reader stops at
  // the next chunk (askd sends a comment every 15 s), where it used to read on forever.
  ~EventReader() {
    m_stopping = true;
    m_thread.join();
  }

  // Waits for the reader to be done (or `limit`); returns the events.
  std::vector<SseEvent> wait(std::chrono::milliseconds limit = 15s) {
    std::unique_lock lock(m_mutex);
    m_cv.wait_for(lock, limit, [&] { return m_done; });
    return m_events;
  }
  int status() {
    std::lock_guard lock(m_mutex);
    return m_status;
  }
  // Waits (up to `limit`) until at least `n` events came; how many did.
  std::size_t wait_count(std::size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m_mutex);
    m_cv.wait_for(lock, limit, [&] { return m_done || m_events.size() >= n; });
    return m_events.size();
  }
  std::string content_type() {
    std::lock_guard lock(m_mutex);
    return m_type;
  }

private:
  void run(int port, const httplib::Headers& headers) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(20s);
    std::string buffer;
    auto result = client.Get(
        "/api/events", headers,
        [&](const httplib::Response& r) {
          std::lock_guard lock(m_mutex);
          m_status = r.status;
          m_type = r.get_header_value("Content-Type");
          return true;
        },
        [&](const char* data, std::size_t n) {
          buffer.append(data, n);
          std::lock_guard lock(m_mutex);
          for (auto end = buffer.find("\n\n"); end != std::string::npos;
               end = buffer.find("\n\n")) {
            parse(buffer.substr(0, end));
            buffer.erase(0, end + 2);
          }
          return !m_stopping && !m_enough(m_events);
        });
    (void)result;
    std::lock_guard lock(m_mutex);
    m_done = true;
    m_cv.notify_all();
  }
  void parse(const std::string& block) { // one event; comments (": keep-alive") are skipped
    SseEvent e;
    std::size_t start = 0;
    while (start < block.size()) {
      const auto eol = block.find('\n', start);
      const std::string line = block.substr(start, eol - start);
      start = eol == std::string::npos ? block.size() : eol + 1;
      if (line.starts_with("event: ")) {
        e.kind = line.substr(7);
      } else if (line.starts_with("id: ")) {
        e.id = std::stoull(line.substr(4));
      } else if (line.starts_with("data: ")) {
        e.data = Json::parse(line.substr(6));
      }
    }
    if (!e.kind.empty()) {
      m_events.push_back(std::move(e));
      m_cv.notify_all();
    }
  }

  std::function<bool(const std::vector<SseEvent>&)> m_enough;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<SseEvent> m_events;
  int m_status = 0;
  std::string m_type;
  bool m_done = false;
  std::atomic<bool> m_stopping{false};
  std::thread m_thread;
};

bool has(const std::vector<SseEvent>& events, const std::string& kind) {
  return std::any_of(events.begin(), events.end(),
                     [&](const SseEvent& e) { return e.kind == kind; });
}

const SseEvent* find(const std::vector<SseEvent>& events, const std::string& kind) {
  for (const SseEvent& e : events) {
    if (e.kind == kind) {
      return &e;
    }
  }
  return nullptr;
}

TEST_CASE("askd events: the stream starts with the status and follows a load to its calibration") {
  AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "forever"}})}}));
  EventReader reader(askd.port(),
                     [](const std::vector<SseEvent>& e) { return has(e, "calibrated"); });
  // The stream is open once its first event (the status) is there: the reader signals it.
  REQUIRE(reader.wait_count(1) >= 1);
  REQUIRE(reader.status() == 200);
  CHECK(reader.content_type() == "text/event-stream");
  const Reply loaded = askd.request("POST", "/api/models/tiny/load");
  REQUIRE_MESSAGE(loaded.status == 200, loaded.body);

  const std::vector<SseEvent> events = reader.wait();
  REQUIRE(events.size() >= 4);
  CHECK(events[0].kind == "status");
  CHECK(events[0].data["managed"] == true);
  CHECK(events[0].data["instances"].empty());
  const SseEvent* load = find(events, "load");
  const SseEvent* ready = find(events, "ready");
  const SseEvent* calibrated = find(events, "calibrated");
  REQUIRE(load != nullptr);
  REQUIRE(ready != nullptr);
  REQUIRE(calibrated != nullptr);
  CHECK(load->id == events[0].id + 1); // nothing between the status and the first change
  CHECK(load->id < ready->id);
  CHECK(ready->id < calibrated->id);
  CHECK(load->data["model"] == "tiny");
  CHECK(ready->data["instance"] == load->data["instance"]);

  // What llama-server said it allocated, beside the estimate.
  const auto measured = calibrated->data["measured_bytes"].get<std::uint64_t>();
  const auto estimated = calibrated->data["estimated_bytes"].get<std::uint64_t>();
  CHECK(measured > 0);
  CHECK(measured < estimated); // the estimate adds the per-GPU overhead llama.cpp does not log
  const Json s = status(askd);
  REQUIRE(s["instances"].size() == 1);
  const Json& inst = s["instances"][0];
  CHECK(inst["measured_bytes"] == measured);
  REQUIRE(inst["devices"].size() == 1);
  CHECK(inst["devices"][0]["device"] == "CUDA0");
  CHECK(inst["devices"][0]["measured_bytes"] == measured);
  // The instance was told to log its buffers.
  const std::string args = cmdline(inst["pid"].get<int>());
  CHECK(args.find("-lv 4") != std::string::npos);
}

TEST_CASE("askd events: a reader that reconnects with Last-Event-ID gets what it missed") {
  AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "forever"}})}}));
  REQUIRE(askd.request("POST", "/api/models/tiny/load").status == 200);
  wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 1 && s["instances"][0]["state"] == "ready";
  });
  EventReader reader(
      askd.port(), [](const std::vector<SseEvent>& e) { return has(e, "ready"); },
      {{"Last-Event-ID", "0"}});
  const std::vector<SseEvent> events = reader.wait();
  REQUIRE_FALSE(events.empty());
  CHECK(events[0].kind == "load"); // no status: the reader is resuming
  CHECK(events[0].id == 1);
  CHECK(has(events, "ready"));
}

TEST_CASE("askd events: without managed models the stream carries requests and alias changes") {
  SimProcess sim(llama_args());
  AskdProcess askd(chain_config({sim.port()}));
  EventReader reader(askd.port(), [](const std::vector<SseEvent>& e) {
    return has(e, "request") && has(e, "alias");
  });
  REQUIRE(reader.wait_count(1) >= 1); // the status: the reader is in before the request
  const Reply r = askd.chat(chat_body("m0", "hello"));
  REQUIRE(r.status == 200);
  REQUIRE(askd.request("PUT", "/api/aliases/quick", R"({"model": "m0"})").status == 200);
  const std::vector<SseEvent> events = reader.wait();
  REQUIRE(events.size() >= 3);
  CHECK(events[0].kind == "status");
  CHECK(events[0].data["managed"] == false);
  const SseEvent* request = find(events, "request");
  REQUIRE(request != nullptr);
  CHECK(request->data["id"] == r.header("X-Request-Id"));
  CHECK(request->data["served_by"] == "m0");
  CHECK(request->data["status"] == 200);
  CHECK(request->data["completion_tokens"].is_number());
  const SseEvent* alias = find(events, "alias");
  REQUIRE(alias != nullptr);
  CHECK(alias->data["name"] == "quick");
  CHECK(alias->data["model"] == "m0");
  CHECK(alias->id > request->id);

  // The same request in GET /api/requests, the newest last.
  const auto [code, body] = askd.get("/api/requests?limit=5");
  REQUIRE(code == 200);
  const Json recent = Json::parse(body)["requests"];
  REQUIRE_FALSE(recent.empty());
  CHECK(recent.back()["id"] == r.header("X-Request-Id"));
}

TEST_CASE("askd events: an eviction comes with its reason - pin keeps an instance from it") {
  // One GPU that holds one tiny model at a time: loading b evicts a, unless a is pinned.
  const std::uint64_t tiny = tiny_estimate_bytes();
  const Json gpus = Json::array({declared_gpu("gpu0", 0, "8GiB", tiny * 3 / 2)});
  AskdProcess askd(managed_config({{"a", tiny_model({{"keep_alive", "forever"}})},
                                   {"b", tiny_model({{"keep_alive", "forever"}})}},
                                  gpus));
  REQUIRE(askd.request("POST", "/api/models/a/load").status == 200);
  wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 1 && s["instances"][0]["state"] == "ready";
  });
  const Reply pinned = askd.request("POST", "/api/models/a/pin");
  REQUIRE(pinned.status == 200);
  CHECK(Json::parse(pinned.body)["pinned"] == true);
  CHECK(status(askd)["models"]["a"]["pinned"] == true);
  // Pinned: b cannot be placed (a request would fall back); a stays.
  CHECK(askd.request("POST", "/api/models/b/load").status != 200);
  CHECK(status(askd)["instances"][0]["model"] == "a");

  EventReader reader(askd.port(), [](const std::vector<SseEvent>& e) {
    return std::any_of(e.begin(), e.end(), [](const SseEvent& x) {
      return x.kind == "stop" && x.data["model"] == "a";
    });
  });
  REQUIRE(reader.wait_count(1) >= 1);
  REQUIRE(askd.request("POST", "/api/models/a/unpin").status == 200);
  REQUIRE(askd.request("POST", "/api/models/b/load").status == 200);
  const std::vector<SseEvent> events = reader.wait();
  const SseEvent* unpin = find(events, "pin");
  std::string seen; // what came instead, when the checks below fail
  for (const SseEvent& e : events) {
    seen += e.kind + " " + e.data.dump() + "\n";
  }
  REQUIRE_MESSAGE(unpin != nullptr, seen);
  CHECK(unpin->data["pinned"] == false);
  const SseEvent* stop = find(events, "stop");
  REQUIRE(stop != nullptr);
  CHECK(stop->data["model"] == "a");
  CHECK(stop->data["detail"].get<std::string>().find("evicted to make room for b") !=
        std::string::npos);
  CHECK(askd.request("POST", "/api/models/nope/pin").status == 404);
  CHECK(askd.request("GET", "/api/models/a/pin").status == 405);
}

TEST_CASE("askd reload: SIGHUP applies a new keep_alive to the running instance") {
  AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "forever"}})}}));
  REQUIRE(askd.chat(chat_body("tiny", "hello"), {}, 30s).status == 200);
  const Json loaded = status(askd);
  REQUIRE(loaded["instances"].size() == 1);
  CHECK(loaded["instances"][0]["expires_in_s"].is_null());
  const int pid = loaded["instances"][0]["pid"].get<int>();

  // The file now says 1s; SIGHUP reads it again: the idle instance expires.
  askd.rewrite_config(managed_config({{"tiny", tiny_model({{"keep_alive", "1s"}})}}));
  askd.process().signal(SIGHUP);
  const Json after = wait_status(askd, [](const Json& s) { return s["instances"].empty(); });
  CHECK(after["instances"].empty());
  CHECK(after["models"]["tiny"]["keep_alive"] == "1s");
  CHECK(wait_gone(pid));

  // A broken file is not applied, and askd runs on.
  askd.rewrite_config("{ \"models\": ");
  askd.process().signal(SIGHUP);
  CHECK(askd.chat(chat_body("tiny", "still there?"), {}, 30s).status == 200);
  CHECK(status(askd)["models"]["tiny"]["keep_alive"] == "1s");
}

} // namespace
