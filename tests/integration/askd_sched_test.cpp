// askd's scheduler end to end: the real askd, llm-sim as the llama-server binary of a preset,
// a declared GPU inventory. An idle model is evicted for another when the GPU cannot hold
// both, but never one with a request in flight (the other waits for the drain); a busy model
// gets a replica; an instance that crashes is forgotten and the next request starts a new
// one, and a model that keeps crashing is refused with a backoff error (503, Retry-After).

#include <doctest/doctest.h>

#include <future>

#include "tests/integration/managed_harness.h"

namespace {

using namespace ask::testing;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Models alpha and beta, both the tiny fixture and both answering as "tiny" (so the same
// question gets the same text from either), on one GPU that holds one of them but not two.
std::string two_models_one_gpu() {
  const std::uint64_t one = tiny_estimate_bytes();
  const Json gpus = Json::array({declared_gpu("gpu0", 0, "8GiB", one + one / 2)});
  const Json settings = {{"keep_alive", "5m"}, {"upstream", "tiny"}};
  return managed_config({{"alpha", tiny_model(settings)}, {"beta", tiny_model(settings)}}, gpus);
}

// The content of a non-streamed chat reply ("" when there is none).
std::string reply_content(const Reply& reply) {
  const Json body = Json::parse(reply.body, nullptr, false);
  if (!body.is_object() || !body.contains("choices") || body["choices"].empty()) {
    return "";
  }
  return body["choices"][0]["message"].value("content", "");
}

// A chat reply and when the client had all of it.
struct TimedReply {
  Reply reply;
  SteadyClock::time_point done;
};

std::future<TimedReply> chat_async(const AskdProcess& askd, const Json& body) {
  return std::async(std::launch::async, [&askd, body] {
    Reply reply = askd.chat(body, {}, 30s);
    return TimedReply{std::move(reply), SteadyClock::now()};
  });
}

// GET /sim/stats of the llm-sim listening on `port` (null when it does not answer).
Json sim_stats(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5s);
  const auto res = client.Get("/sim/stats");
  return res && res->status == 200 ? Json::parse(res->body) : Json();
}

TEST_CASE("askd sched: an idle model is evicted to make room for another") {
  AskdProcess askd(two_models_one_gpu());
  const std::uint64_t one = tiny_estimate_bytes();
  REQUIRE(status(askd)["gpus"][0]["cap_bytes"] == one + one / 2);

  const Reply a = askd.chat(chat_body("alpha", "hello"), {}, 30s);
  REQUIRE_MESSAGE(a.status == 200, a.body);
  const Json with_a = status(askd);
  REQUIRE(with_a["instances"].size() == 1);
  CHECK(with_a["instances"][0]["estimated_bytes"] == one);
  const int pid_a = with_a["instances"][0]["pid"].get<int>();
  CHECK_FALSE(process_gone(pid_a));

  const Reply b = askd.chat(chat_body("beta", "hello"), {}, 30s);
  REQUIRE_MESSAGE(b.status == 200, b.body);
  CHECK(b.header("X-Served-By") == "beta");
  CHECK(reply_content(b) == reply_content(a)); // the same question, the same "tiny"
  // beta starts only once alpha has exited (been reaped): no waiting needed.
  CHECK(process_gone(pid_a));
  const Json with_b = status(askd);
  REQUIRE(with_b["instances"].size() == 1);
  CHECK(with_b["instances"][0]["model"] == "beta");
  CHECK(with_b["instances"][0]["state"] == "ready");
  CHECK(with_b["instances"][0]["pid"] != pid_a);
  CHECK(with_b["gpus"][0]["used_by_askd_bytes"] == one);
}

TEST_CASE("askd sched: a busy instance is not evicted - the other model waits for it to drain") {
  AskdProcess askd(two_models_one_gpu());
  // alpha's answer waits 2 s before its first byte: beta is asked meanwhile.
  auto a = chat_async(askd, chat_body("alpha", "tell me about the sea [[sim: ttft=2s]]"));
  const Json busy = wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 1 && s["instances"][0]["in_flight"] == 1;
  });
  REQUIRE(busy["instances"].size() == 1);
  REQUIRE(busy["instances"][0]["in_flight"] == 1);
  const int pid_a = busy["instances"][0]["pid"].get<int>();

  auto b = chat_async(askd, chat_body("beta", "tell me about the sea"));
  const Json queued = wait_status(askd, [](const Json& s) { return s["queued"] == 1; });
  CHECK(queued["queued"] == 1);
  REQUIRE(queued["instances"].size() == 1); // no beta started, alpha not stopped
  CHECK(queued["instances"][0]["model"] == "alpha");
  CHECK(queued["instances"][0]["state"] == "ready");
  CHECK(queued["instances"][0]["in_flight"] == 1);
  CHECK_FALSE(process_gone(pid_a));

  const TimedReply ra = a.get();
  REQUIRE_MESSAGE(ra.reply.status == 200, ra.reply.body);
  CHECK(ra.reply.header("X-Served-By") == "alpha");
  const TimedReply rb = b.get();
  REQUIRE_MESSAGE(rb.reply.status == 200, rb.reply.body);
  CHECK(rb.reply.header("X-Served-By") == "beta");
  CHECK(rb.done >= ra.done);
  // alpha's answer came whole: the text beta gives to the same question (directives are not
  // part of it), finished normally.
  CHECK_FALSE(reply_content(ra.reply).empty());
  CHECK(reply_content(ra.reply) == reply_content(rb.reply));
  CHECK(Json::parse(ra.reply.body)["choices"][0]["finish_reason"] == "stop");

  CHECK(process_gone(pid_a)); // beta started only after alpha had exited
  const Json after = status(askd);
  REQUIRE(after["instances"].size() == 1);
  CHECK(after["instances"][0]["model"] == "beta");
  CHECK(after["queued"] == 0);
}

TEST_CASE("askd sched: a model's drain_wait 0 answers \"cannot place\" at once, not after a wait") {
  const std::uint64_t one = tiny_estimate_bytes();
  const Json gpus = Json::array({declared_gpu("gpu0", 0, "8GiB", one + one / 2)});
  const Json settings = {{"keep_alive", "5m"}, {"upstream", "tiny"}};
  Json impatient = settings;
  impatient["drain_wait"] = 0;
  AskdProcess askd(managed_config(
      {{"alpha", tiny_model(settings)}, {"beta", tiny_model(impatient)}}, gpus));
  auto a = chat_async(askd, chat_body("alpha", "tell me about the sea [[sim: ttft=3s]]"));
  wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 1 && s["instances"][0]["in_flight"] == 1;
  });

  const Reply b = askd.chat(chat_body("beta", "hello"), {}, 30s);
  CHECK(b.status == 503); // only capacity was missing: "unavailable"
  const Json error = Json::parse(b.body, nullptr, false);
  REQUIRE_MESSAGE(error.is_object(), b.body);
  const std::string message = error["error"].value("message", "");
  CHECK_MESSAGE(message.find("cannot place beta within 0.0 s") != std::string::npos, message);
  CHECK_MESSAGE(message.find("busy instances (alpha)") != std::string::npos, message);
  // alpha was left alone: still on its first request when beta's answer came.
  const Json during = status(askd);
  REQUIRE(during["instances"].size() == 1);
  CHECK(during["instances"][0]["model"] == "alpha");
  CHECK(during["instances"][0]["in_flight"] == 1);

  const TimedReply ra = a.get();
  REQUIRE_MESSAGE(ra.reply.status == 200, ra.reply.body);
  CHECK(ra.reply.header("X-Served-By") == "alpha");
}

TEST_CASE("askd sched: a busy model gets a replica, which serves the next request") {
  AskdProcess askd(managed_config(
      {{"tiny", tiny_model({{"keep_alive", "5m"}, {"parallel", 1}, {"max_replicas", 2}})}}));
  // Two slow requests at once: the first takes the only slot, the second starts a replica
  // and is queued on the first instance meanwhile (docs/scheduler.md).
  auto r1 = chat_async(askd, chat_body("tiny", "first question [[sim: ttft=1s]]"));
  auto r2 = chat_async(askd, chat_body("tiny", "second question [[sim: ttft=1s]]"));
  const Json both = wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 2 && s["instances"][0]["state"] == "ready" &&
           s["instances"][1]["state"] == "ready";
  });
  REQUIRE(both["instances"].size() == 2);
  const Json& first = both["instances"][0];
  const Json& replica = both["instances"][1];
  REQUIRE(replica["state"] == "ready");
  CHECK(first["pid"] != replica["pid"]);
  CHECK(first["port"] != replica["port"]);
  CHECK_FALSE(process_gone(first["pid"].get<int>()));
  CHECK_FALSE(process_gone(replica["pid"].get<int>()));
  CHECK(first["in_flight"].get<int>() >= 1); // 2 until the first answer is out (1 s)
  CHECK(replica["in_flight"] == 0);
  CHECK(cmdline(replica["pid"].get<int>()).find("-np 1") != std::string::npos);

  // The first instance is busy: the next request goes to the idle replica.
  const Reply r3 = askd.chat(chat_body("tiny", "third question"), {}, 30s);
  REQUIRE_MESSAGE(r3.status == 200, r3.body);
  const TimedReply a1 = r1.get();
  const TimedReply a2 = r2.get();
  CHECK_MESSAGE(a1.reply.status == 200, a1.reply.body);
  CHECK_MESSAGE(a2.reply.status == 200, a2.reply.body);
  CHECK_FALSE(reply_content(a1.reply).empty());
  CHECK_FALSE(reply_content(a2.reply).empty());
  CHECK(sim_stats(first["port"].get<int>())["completed"] == 2);
  CHECK(sim_stats(replica["port"].get<int>())["completed"] == 1);
}

TEST_CASE("askd sched: a crashed instance is forgotten and the next request starts a new one") {
  AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "5m"}})}}));
  REQUIRE(askd.chat(chat_body("tiny", "hello"), {}, 30s).status == 200);
  const Json loaded = status(askd);
  REQUIRE(loaded["instances"].size() == 1);
  const int pid1 = loaded["instances"][0]["pid"].get<int>();

  const Reply crashed = askd.chat(chat_body("tiny", "hello [[sim: crash]]"), {}, 30s);
  CHECK(crashed.status == 502);
  const Json error = Json::parse(crashed.body, nullptr, false);
  REQUIRE_MESSAGE(error.is_object(), crashed.body);
  const std::string message = error["error"].value("message", "");
  CHECK_MESSAGE(message.find("tiny") != std::string::npos, message);
  // The crash is named, with its exit and last log line, not "reset the connection".
  CHECK_MESSAGE(message.find("llama-server pid " + std::to_string(pid1) +
                             " crashed while serving the request (killed by signal 9: "
                             "llm-sim: fault: crash") != std::string::npos,
                message);
  CHECK(wait_gone(pid1));
  const Json gone = wait_status(askd, [](const Json& s) { return s["instances"].empty(); });
  CHECK(gone["instances"].empty());
  CHECK(gone["gpus"][0]["used_by_askd_bytes"] == 0);

  const Reply again = askd.chat(chat_body("tiny", "hello"), {}, 30s);
  REQUIRE_MESSAGE(again.status == 200, again.body);
  CHECK_FALSE(reply_content(again).empty());
  const Json respawned = status(askd);
  REQUIRE(respawned["instances"].size() == 1);
  const int pid2 = respawned["instances"][0]["pid"].get<int>();
  CHECK(pid2 != pid1);
  CHECK_FALSE(process_gone(pid2));
}

TEST_CASE("askd sched: a model that keeps crashing is refused with a backoff error") {
  AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "5m"}})}}));
  // The first crash mid-stream: the answer has begun, so it ends with an error event.
  const Reply streamed =
      askd.chat(chat_body("tiny", "hello [[sim: crash_after=2]]", true), {}, 30s);
  CHECK(streamed.status == 200);
  const auto events = sse_events(streamed.body);
  REQUIRE_FALSE(events.empty());
  const Json last = Json::parse(events.back().data, nullptr, false);
  REQUIRE_MESSAGE(last.is_object(), streamed.body);
  CHECK(last["error"]["code"] == "stream_interrupted");
  const std::string interrupted = last["error"]["message"].get<std::string>();
  CHECK_MESSAGE(interrupted.find("tiny failed mid-stream: llama-server pid ") == 0, interrupted);
  CHECK_MESSAGE(interrupted.find("crashed while serving the request (killed by signal 9") !=
                    std::string::npos,
                interrupted);
  CHECK(wait_no_instances(askd));

  // The second crash, at once: a new instance starts (one crash is no loop yet) and dies.
  const Reply crashed = askd.chat(chat_body("tiny", "hello [[sim: crash]]"), {}, 30s);
  CHECK(crashed.status == 502);
  CHECK(wait_no_instances(askd));

  // Now in backoff (1 s after the second crash in a row): refused at once, nothing started.
  // 503 (no model could run it) with Retry-After: when the backoff ends, in whole seconds.
  const Reply refused = askd.chat(chat_body("tiny", "hello"), {}, 30s);
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After") == "1");
  const Json error = Json::parse(refused.body, nullptr, false);
  REQUIRE_MESSAGE(error.is_object(), refused.body);
  const std::string message = error["error"].value("message", "");
  CHECK_MESSAGE(message.find("tiny crashed 2 times in a row") != std::string::npos, message);
  CHECK_MESSAGE(message.find("next start in") != std::string::npos, message);
  REQUIRE(error["error"]["attempts"].size() == 1);
  CHECK(error["error"]["attempts"][0]["model"] == "tiny");
  CHECK(error["error"]["attempts"][0]["reason"] == "overloaded");
  CHECK(status(askd)["instances"].empty());
}

// A request in backoff fails with the last exit status and log line (docs/scheduler.md),
// not llama-server's whole start-up log (the supervisor's 2 KiB tail goes to askd's log).
TEST_CASE("askd sched: the backoff error gives the exit status and the last log line only") {
  AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "5m"}})}}));
  for (int i = 0; i < 2; ++i) {
    REQUIRE(askd.chat(chat_body("tiny", "hello [[sim: crash]]"), {}, 30s).status == 502);
    REQUIRE(wait_status(askd, [](const Json& s) { return s["instances"].empty(); })["instances"]
                .empty());
  }
  const Reply refused = askd.chat(chat_body("tiny", "hello"), {}, 30s);
  REQUIRE(refused.status == 503);
  const Json error = Json::parse(refused.body, nullptr, false);
  REQUIRE_MESSAGE(error.is_object(), refused.body);
  REQUIRE(error["error"]["attempts"].size() == 1);
  const std::string message = error["error"]["attempts"][0].value("message", "");
  CHECK_MESSAGE(message.find("killed by signal 9") != std::string::npos, message);
  CHECK_MESSAGE(message.find("llm-sim: fault: crash") != std::string::npos, message);
  // One line, not llama-server's start-up log.
  CHECK_MESSAGE(message.find('\n') == std::string::npos, message);
  CHECK_MESSAGE(message.find("load_model") == std::string::npos, message);
}

} // namespace
