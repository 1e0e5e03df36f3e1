// askd's managed models end to end: the real askd, with llm-sim as the llama-server binary
// of a preset and a declared two-GPU inventory. A request for a cold model spawns an
// instance with the planned arguments; /api/status shows it; keep_alive unloads it; the
// load and unload endpoints work; and killing askd — even with SIGKILL — leaves no
// llama-server behind.

#include <doctest/doctest.h>

#include <csignal>

#include "core/platform.h"
#include "tests/integration/managed_harness.h"

namespace {

using namespace ask::testing;
using namespace std::chrono_literals;

// One managed model, tiny, on two declared 8 GiB CUDA cards.
std::string tiny_config(const std::string& keep_alive, bool preload = false) {
  return managed_config({{"tiny", tiny_model({{"keep_alive", keep_alive}, {"preload", preload}})}});
}

TEST_CASE("askd managed: a cold model is spawned on demand with the planned arguments") {
  AskdProcess askd(tiny_config("5m"));
  const Json before = status(askd);
  CHECK(before["managed"] == true);
  REQUIRE(before["gpus"].size() == 2);
  CHECK(before["instances"].empty());

  const Reply reply = askd.chat(chat_body("tiny", "hello there"), {}, 30s);
  REQUIRE_MESSAGE(reply.status == 200, reply.body);
  CHECK(reply.header("X-Served-By").find("tiny") != std::string::npos);

  const Json s = status(askd);
  REQUIRE(s["instances"].size() == 1);
  const Json& inst = s["instances"][0];
  CHECK(inst["model"] == "tiny");
  CHECK(inst["state"] == "ready");
  CHECK(inst["in_flight"] == 0);
  REQUIRE(inst["devices"].size() == 1); // a tiny model fits on one GPU: one GPU
  CHECK(inst["devices"][0]["gpu"] == "gpu0");
  CHECK(inst["expires_in_s"].get<double>() > 200);
  CHECK(inst["prewarmed"] == false); // it was loaded for this request
  const int pid = inst["pid"].get<int>();
  const std::string args = cmdline(pid);
  CHECK(args.find("tiny-llama-2L-f16.gguf") != std::string::npos);
  CHECK(args.find("--device CUDA0") != std::string::npos);
  CHECK(args.find("--port " + std::to_string(inst["port"].get<int>())) != std::string::npos);
  CHECK(args.find("-c 1024") != std::string::npos);
  // No "parallel": llama-server's automatic 4 slots sharing one cache, pinned explicitly.
  CHECK(args.find("-np 4 -ctk f16 -ctv f16 -fa on --kv-unified ") != std::string::npos);
  CHECK(s["gpus"][0]["used_by_askd_bytes"].get<std::uint64_t>() > 0);
  CHECK(s["gpus"][1]["used_by_askd_bytes"].get<std::uint64_t>() == 0);

  // A second request reuses the instance: no second load.
  const Reply again = askd.chat(chat_body("tiny", "and again"), {}, 30s);
  REQUIRE(again.status == 200);
  const Json s2 = status(askd);
  REQUIRE(s2["instances"].size() == 1);
  CHECK(s2["instances"][0]["pid"] == pid);
}

TEST_CASE("askd managed: memory settings from keys and extra_args reach the command line once") {
  const Json settings = {
      {"parallel", 2},
      {"ubatch", 256},
      {"override_tensors", Json::array({"output=CPU"})},
      {"extra_args", Json::array({"--jinja", "-nkvo", "-b", "1024", "-t", "2"})}};
  AskdProcess askd(managed_config({{"tiny", tiny_model(settings)}}));
  const Reply reply = askd.chat(chat_body("tiny", "hello"), {}, 30s);
  REQUIRE_MESSAGE(reply.status == 200, reply.body);
  const Json s = status(askd);
  REQUIRE(s["instances"].size() == 1);
  const std::string args = cmdline(s["instances"][0]["pid"].get<int>());
  CHECK_MESSAGE(args.find("-np 2 -ctk f16 -ctv f16 -fa on -b 1024 -ub 256 -nkvo -ot output=CPU "
                          "--device CUDA0") != std::string::npos,
                args);
  CHECK(args.find("--kv-unified") == std::string::npos); // -np given: a cache per slot
  CHECK(args.ends_with(" --jinja -t 2 ")); // what askd does not read, as written, last
  CHECK(args.find("-nkvo") == args.rfind("-nkvo")); // folded: passed once, by askd
}

TEST_CASE("askd managed: keep_alive unloads an idle instance, and the process exits") {
  AskdProcess askd(tiny_config("1s"));
  REQUIRE(askd.chat(chat_body("tiny", "hi"), {}, 30s).status == 200);
  const Json loaded = status(askd);
  REQUIRE(loaded["instances"].size() == 1);
  const int pid = loaded["instances"][0]["pid"].get<int>();
  const Json after = wait_status(askd, [](const Json& s) { return s["instances"].empty(); });
  CHECK(after["instances"].empty());
  CHECK(after["gpus"][0]["used_by_askd_bytes"] == 0);
  CHECK(wait_gone(pid));
}

TEST_CASE("askd managed: load and unload through the API") {
  AskdProcess askd(tiny_config("forever"));
  const Reply loaded = askd.request("POST", "/api/models/tiny/load");
  REQUIRE_MESSAGE(loaded.status == 200, loaded.body);
  const Json ready = wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 1 && s["instances"][0]["state"] == "ready";
  });
  REQUIRE(ready["instances"].size() == 1);
  CHECK(ready["instances"][0]["expires_in_s"].is_null()); // forever
  const int pid = ready["instances"][0]["pid"].get<int>();

  CHECK(askd.request("POST", "/api/models/nope/load").status == 404);
  CHECK(askd.request("GET", "/api/models/tiny/load").status == 405);

  const Reply unloaded = askd.request("POST", "/api/models/tiny/unload");
  REQUIRE_MESSAGE(unloaded.status == 200, unloaded.body);
  CHECK(Json::parse(unloaded.body)["instances"] == 1);
  CHECK(wait_no_instances(askd));
  CHECK(wait_gone(pid));
}

TEST_CASE("askd managed: no llama-server outlives askd, even killed with SIGKILL") {
  AskdProcess askd(tiny_config("forever", /*preload=*/true));
  const Json ready = wait_status(askd, [](const Json& s) {
    return s["instances"].size() == 1 && s["instances"][0]["state"] == "ready";
  });
  REQUIRE(ready["instances"].size() == 1);
  const int pid = ready["instances"][0]["pid"].get<int>();
  CHECK_FALSE(process_gone(pid));
  askd.process().signal(SIGKILL);
  REQUIRE(askd.process().wait_exit(10s).has_value());
  if (!ask::core::platform::children_die_with_parent()) {
    // The portable path has no PR_SET_PDEATHSIG (core/platform.h die_with_parent): the
    // orphan lives on. Checked to be that documented gap, then cleaned up.
    CHECK_FALSE(process_gone(pid));
    ::kill(pid, SIGKILL);
    return;
  }
  CHECK(wait_gone(pid));
}

} // namespace
