// Host memory as a budgeted device, end to end: the real askd with llm-sim as the llama-server
// of a CPU preset (no GPU at all) and a declared host memory. A CPU model's host memory shows
// in /api/status (estimated, charged, measured from the startup log); a second CPU model that
// host memory cannot hold beside the first evicts it when it is idle; one that host memory
// cannot hold even alone is refused at once, naming host memory.

#include <doctest/doctest.h>

#include "tests/integration/managed_harness.h"

namespace {

using namespace ask::testing;
using namespace std::chrono_literals;

const Json k_settings = {{"keep_alive", "5m"}, {"upstream", "tiny"}};

TEST_CASE("askd host: a CPU model's host memory is estimated, charged and measured") {
  const std::uint64_t one = tiny_host_estimate_bytes();
  REQUIRE(one > 0);
  AskdProcess askd(managed_cpu_config({{"alpha", tiny_model(k_settings)}},
                                      {{"memory", "1GiB"}, {"cap", 4 * one}, {"reserve", 0}}));
  const Json before = status(askd);
  CHECK(before["gpus"].empty());
  REQUIRE(before["host"].is_object());
  CHECK(before["host"]["kind"] == "host");
  CHECK(before["host"]["total_bytes"] == 1ull << 30);
  CHECK(before["host"]["cap_bytes"] == 4 * one);
  CHECK(before["host"]["free_reading_bytes"].is_null()); // declared: nothing is read
  CHECK(before["host"]["used_by_askd_bytes"] == 0);
  // The model's own figure is for where its preset puts it: host memory, not one GPU.
  CHECK(before["models"]["alpha"]["estimated_for"] == "host");
  CHECK(before["models"]["alpha"]["estimated_bytes"] == one);

  const Reply a = askd.chat(chat_body("alpha", "hello"), {}, 30s);
  REQUIRE_MESSAGE(a.status == 200, a.body);
  const Json s = wait_status(askd, [](const Json& j) {
    return j["instances"].size() == 1 && !j["instances"][0]["host"]["measured_bytes"].is_null();
  });
  REQUIRE(s["instances"].size() == 1);
  const Json& inst = s["instances"][0];
  CHECK(inst["devices"].empty());
  CHECK(inst["estimated_bytes"] == 0); // nothing on GPUs
  CHECK(inst["host"]["estimated_bytes"] == one);
  CHECK(inst["host"]["charged_bytes"] == one);
  CHECK(inst["host"]["layers"] == 2);
  CHECK(inst["host"]["measured_bytes"].get<std::uint64_t>() > 0); // llm-sim's CPU buffers
  CHECK(s["host"]["used_by_askd_bytes"] == one);
  CHECK(s["host"]["available_bytes"] == 3 * one);
  CHECK(cmdline(inst["pid"].get<int>()).find("--device none -ngl 0") != std::string::npos);
}

TEST_CASE(
    "askd host: an idle CPU model is evicted for another that host memory cannot hold beside it") {
  const std::uint64_t one = tiny_host_estimate_bytes();
  AskdProcess askd(
      managed_cpu_config({{"alpha", tiny_model(k_settings)}, {"beta", tiny_model(k_settings)}},
                         {{"memory", "1GiB"}, {"cap", one + one / 2}, {"reserve", 0}}));
  const Reply a = askd.chat(chat_body("alpha", "hello"), {}, 30s);
  REQUIRE_MESSAGE(a.status == 200, a.body);
  const Json with_a = status(askd);
  REQUIRE(with_a["instances"].size() == 1);
  const int pid_a = with_a["instances"][0]["pid"].get<int>();
  CHECK(with_a["host"]["used_by_askd_bytes"] == one);

  const Reply b = askd.chat(chat_body("beta", "hello"), {}, 30s);
  REQUIRE_MESSAGE(b.status == 200, b.body);
  CHECK(b.header("X-Served-By") == "beta");
  CHECK(process_gone(pid_a)); // beta started only once alpha had exited
  const Json with_b = status(askd);
  REQUIRE(with_b["instances"].size() == 1);
  CHECK(with_b["instances"][0]["model"] == "beta");
  CHECK(with_b["host"]["used_by_askd_bytes"] == one);
}

TEST_CASE("askd host: a CPU model host memory cannot hold even alone is refused, naming it") {
  const std::uint64_t one = tiny_host_estimate_bytes();
  AskdProcess askd(managed_cpu_config({{"alpha", tiny_model(k_settings)}},
                                      {{"memory", "1GiB"}, {"cap", one / 2}, {"reserve", 0}}));
  const Reply a = askd.chat(chat_body("alpha", "hello"), {}, 30s);
  CHECK(a.status == 503);
  CHECK_MESSAGE(a.body.find("cannot place alpha") != std::string::npos, a.body);
  CHECK_MESSAGE(a.body.find("host memory: needs") != std::string::npos, a.body);
  CHECK(status(askd)["instances"].empty());
}

} // namespace
