// ManagedRouter in process: the event history behind GET /api/events, the periodic GPU
// re-reading, and configuration reload. Processes that really start are covered end to end
// by tests/integration/askd_managed_test.cpp; here the preset's binary does not exist, so a
// load fails at once (a real failed exec) and no model ever runs.

#include "proxy/managed_router.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "config/testing.h"
#include "router/host_devices.h"

namespace ask::proxy {
namespace {

using config::testing::TempDir;
using namespace std::chrono_literals;

const std::string k_tiny =
    std::string(ASK_SOURCE_DIR) + "/tests/fixtures/gguf/tiny-llama-2L-hd32-f16.gguf";

struct Setup {
  std::string keep_alive = "5m";
  std::string gguf = k_tiny;
  std::string binary = "/nonexistent/llama-server";
  int max_replicas = 1;
  bool second_model = false;
  std::string listen = "127.0.0.1:11436";
  std::string mmproj; // "" = none
};

std::string config_text(const Setup& s) {
  nlohmann::json model = {{"backend", "local"}, {"gguf", s.gguf},       {"ctx", 1024},
                          {"keep_alive", s.keep_alive}, {"max_replicas", s.max_replicas}};
  nlohmann::json cfg = {
      {"listen", s.listen},
      {"backends", {{"local", {{"kind", "llama-server"}, {"preset", "p"}}}}},
      {"presets", {{"p", {{"binary", s.binary}, {"backend", "cuda"}}}}},
      {"gpus",
       {{"probe", false},
        {"devices",
         {{{"id", "gpu0"}, {"vendor", "nvidia"}, {"vram", "8GiB"}, {"backend_index", {{"cuda", 0}}}}}}}},
      {"models", {{"tiny", model}}}};
  if (s.second_model) {
    cfg["models"]["other"] = model;
  }
  if (!s.mmproj.empty()) {
    cfg["models"]["tiny"]["mmproj"] = s.mmproj;
  }
  return cfg.dump();
}

config::Config parse(const Setup& s) {
  config::ParseOptions options;
  options.env = config::testing::test_env();
  auto loaded = config::parse_config(config_text(s), options);
  REQUIRE_MESSAGE(loaded.has_value(), config_text(s));
  return loaded->config;
}

router::Inventory one_gpu(const config::Config& cfg) { return router::merge({}, cfg.gpus); }

struct Router {
  explicit Router(const Setup& s, ManagedRouterOptions options = {})
      : config(parse(s)), router(config, one_gpu(config), clock, std::move(options)) {}
  config::Config config;
  core::SystemClock clock;
  ManagedRouter router;
};

bool contains(const std::vector<std::string>& list, std::string_view needle) {
  for (const std::string& s : list) {
    if (s.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST_CASE("managed router: events come in order with sequence numbers, and say when some were lost") {
  ManagedRouterOptions options;
  options.event_history = 3;
  Router r(Setup{}, options);
  CHECK(r.router.events().last() == 0);
  const auto deadline = [] { return std::chrono::steady_clock::now() + 10s; };

  REQUIRE(r.router.load("tiny").has_value()); // starts an instance whose exec fails
  std::vector<RouterEvent> seen;
  while (seen.empty() || seen.back().kind != "crash") { // a failed exec: exit 127
    auto got = r.router.events().after(seen.empty() ? 0 : seen.back().seq, deadline());
    REQUIRE(got.resumed);
    REQUIRE_FALSE(got.events.empty()); // an empty answer means the deadline passed
    seen.insert(seen.end(), got.events.begin(), got.events.end());
  }
  REQUIRE(seen.size() >= 2);
  CHECK(seen.front().kind == "load");
  CHECK(seen.front().seq == 1);
  CHECK(seen.front().data["model"] == "tiny");
  CHECK(seen.front().data["time"].get<double>() > 1.7e9); // Unix seconds
  for (std::size_t i = 1; i < seen.size(); ++i) {
    CHECK(seen[i].seq == seen[i - 1].seq + 1);
  }
  const std::string detail = seen.back().data["detail"].get<std::string>();
  CHECK(detail.find("/nonexistent/llama-server") != std::string::npos);
  CHECK(r.router.events().last() == seen.back().seq);
  CHECK(r.router.status()["last_event"] == seen.back().seq);

  // Nothing new: the wait ends at the deadline, empty.
  const auto quiet = r.router.events().after(seen.back().seq, std::chrono::steady_clock::now() + 50ms);
  CHECK(quiet.events.empty());
  CHECK(quiet.resumed);

  // More than the history holds since `after` (each reload is an event): the reader must
  // start again from a status.
  r.router.reload(r.config);
  r.router.reload(r.config);
  CHECK(r.router.events().last() == seen.back().seq + 2);
  const auto late = r.router.events().after(0, deadline());
  CHECK_FALSE(late.resumed);
  REQUIRE(late.events.size() == 3); // the history's size
  CHECK(late.events.back().kind == "reload");
  CHECK(r.router.events().after(seen.back().seq, deadline()).resumed);
}

TEST_CASE("managed router: GPU free memory is re-read and limits what may be placed") {
  std::uint64_t free = 8ull << 30;
  int reads = 0;
  ManagedRouterOptions options;
  options.gpu_reader = [&] {
    ++reads;
    return GpuReading{{"gpu0", free}, {"no-such-gpu", 1}};
  };
  options.gpu_refresh = std::chrono::hours(1); // the thread reads once an hour: the test calls
  Router r(Setup{}, options);
  const auto before = r.router.status()["gpus"][0];
  CHECK(before["free_reading_bytes"].is_null()); // declared, never read

  free = 100ull << 20; // someone else took the card
  r.router.refresh_gpus();
  CHECK(reads == 1);
  const auto after = r.router.status()["gpus"][0];
  CHECK(after["free_reading_bytes"] == 100ull << 20);
  CHECK(after["available_bytes"] == 0); // 100 MiB free is below the 512 MiB reserve

  // The model no longer fits: a load is refused, saying what it needs.
  const auto load = r.router.load("tiny");
  REQUIRE_FALSE(load.has_value());
  CHECK(load.error().kind == core::ErrorKind::overloaded);

  free = 6ull << 30;
  r.router.refresh_gpus();
  CHECK(r.router.status()["gpus"][0]["available_bytes"].get<std::uint64_t>() > (5ull << 30));
}

TEST_CASE("managed router: host memory and rpc devices are in the status - host memory is "
          "re-read") {
  const config::Config cfg = parse(Setup{});
  router::Inventory inv = one_gpu(cfg);
  router::add_rpc_devices(inv, {{"box", "", "10.0.0.2:50052", 0, 16ull << 30}});
  config::HostSpec host;
  host.memory = 32ull << 30;
  host.reserve = 1ull << 30;
  router::add_host(inv, host, core::fail(core::Error::bad_request("unused")));
  std::uint64_t available = 10ull << 30;
  ManagedRouterOptions options;
  options.gpu_reader = [&] { return GpuReading{{"host", available}}; };
  options.gpu_refresh = std::chrono::hours(1);
  core::SystemClock clock;
  ManagedRouter router(cfg, inv, clock, options);
  const auto before = router.status();
  REQUIRE(before["gpus"].size() == 2); // the GPU and the rpc device; host memory apart
  CHECK(before["gpus"][0]["kind"] == "gpu");
  CHECK(before["gpus"][1]["kind"] == "rpc");
  CHECK(before["gpus"][1]["endpoint"] == "10.0.0.2:50052");
  CHECK(before["gpus"][1]["cap_bytes"] == 16ull << 30);
  CHECK(before["host"]["kind"] == "host");
  CHECK(before["host"]["total_bytes"] == 32ull << 30);
  CHECK(before["host"]["free_reading_bytes"].is_null());
  CHECK(before["host"]["available_bytes"] ==
        static_cast<std::uint64_t>(static_cast<double>(32ull << 30) * 0.9));

  router.refresh_gpus(); // MemAvailable, as the reader thread passes it on
  const auto after = router.status()["host"];
  CHECK(after["free_reading_bytes"] == 10ull << 30);
  CHECK(after["available_bytes"] == 9ull << 30); // less the reserve
  available = 512ull << 20;                      // something else took the host's memory
  router.refresh_gpus();
  const auto load = router.load("tiny");
  REQUIRE_FALSE(load.has_value());
  CHECK(load.error().message.find("host memory: needs") != std::string::npos);
}

TEST_CASE("managed router: a reload applies keep_alive and replicas, and names what needs a restart") {
  Router r(Setup{});
  CHECK(r.router.status()["models"]["tiny"]["keep_alive"] == "5m");

  Setup changed;
  changed.keep_alive = "30m";
  changed.max_replicas = 2;
  const ReloadReport report = r.router.reload(parse(changed));
  CHECK(contains(report.applied, "tiny: keep_alive 5m → 30m"));
  CHECK(contains(report.applied, "tiny: max_replicas 1 → 2"));
  CHECK(report.restart.empty());
  CHECK(report.problems.empty());
  CHECK(r.router.status()["models"]["tiny"]["keep_alive"] == "30m");

  // The same again: nothing to apply.
  CHECK(r.router.reload(parse(changed)).applied.empty());

  // A new binary applies to instances started from now on.
  Setup rebuilt = changed;
  rebuilt.binary = "/opt/llama.cpp/build/bin/llama-server";
  CHECK(contains(r.router.reload(parse(rebuilt)).applied, "for instances started from now on"));

  // What askd cannot change while it runs.
  Setup other = rebuilt;
  other.listen = "127.0.0.1:9999";
  other.second_model = true;
  const ReloadReport restart = r.router.reload(parse(other));
  CHECK(contains(restart.restart, "listen changed"));
  CHECK(contains(restart.restart, "models.other changed"));
  CHECK_FALSE(r.router.status()["models"].contains("other"));

  // A file that cannot be read keeps the model as it was.
  TempDir dir;
  Setup broken = rebuilt;
  broken.gguf = dir.write("bad.gguf", "not a gguf file").string();
  broken.keep_alive = "1h";
  const ReloadReport bad = r.router.reload(parse(broken));
  REQUIRE(bad.problems.size() == 1);
  CHECK(bad.problems[0].find("bad.gguf") != std::string::npos);
  CHECK(r.router.status()["models"]["tiny"]["keep_alive"] == "30m");
}

TEST_CASE("managed router: a model whose file was unreadable at start becomes available on reload") {
  TempDir dir;
  const auto file = dir.write("model.gguf", "garbage");
  Setup s;
  s.gguf = file.string();
  Router r(s);
  REQUIRE(r.router.problems().size() == 1);
  CHECK(r.router.status()["unavailable"].contains("tiny"));
  const auto refused = r.router.load("tiny");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message.find("model.gguf") != std::string::npos);

  std::filesystem::copy_file(k_tiny, file, std::filesystem::copy_options::overwrite_existing);
  const ReloadReport report = r.router.reload(parse(s));
  CHECK(contains(report.applied, "tiny: available now"));
  CHECK_FALSE(r.router.status()["unavailable"].contains("tiny"));
  CHECK(r.router.status()["models"].contains("tiny"));
}

TEST_CASE("managed router: a model's mmproj is read and counted - an unreadable one is named") {
  Router plain(Setup{});
  Setup with;
  with.mmproj = k_tiny; // any GGUF file stands in for a projector here
  Router vision(with);
  REQUIRE(vision.router.problems().empty());
  const auto bytes = [](const Router& r) {
    return r.router.status()["models"]["tiny"]["estimated_bytes"].get<std::uint64_t>();
  };
  CHECK(bytes(vision) > bytes(plain) + std::filesystem::file_size(k_tiny) / 2);

  TempDir dir;
  Setup broken;
  broken.mmproj = dir.write("mmproj.gguf", "not a gguf file").string();
  Router r(broken);
  REQUIRE(r.router.problems().size() == 1);
  CHECK(r.router.problems()[0].find("mmproj " + broken.mmproj + ": ") != std::string::npos);
}

} // namespace
} // namespace ask::proxy
