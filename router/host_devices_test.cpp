#include "router/host_devices.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "config/testing.h"
#include "core/platform.h"
#include "router/testing.h"

namespace ask::router {
namespace {

using testkit::k_gib;
using testkit::k_mib;

// The first lines of a real /proc/meminfo (a 24 GB VM).
constexpr std::string_view k_meminfo = "MemTotal:       24683784 kB\n"
                                       "MemFree:         1982164 kB\n"
                                       "MemAvailable:   22272772 kB\n"
                                       "Buffers:           17652 kB\n"
                                       "Cached:         20506892 kB\n";

TEST_CASE("parse_meminfo: MemTotal and MemAvailable in bytes") {
  const auto m = parse_meminfo(k_meminfo);
  REQUIRE(m.has_value());
  CHECK(m->total == 24683784ull * 1024);
  REQUIRE(m->available.has_value());
  CHECK(*m->available == 22272772ull * 1024);
}

TEST_CASE("parse_meminfo: no MemAvailable (before Linux 3.14) leaves it unknown") {
  const auto m = parse_meminfo("MemTotal:  8000000 kB\nMemFree:  100 kB\n");
  REQUIRE(m.has_value());
  CHECK(m->total == 8000000ull * 1024);
  CHECK_FALSE(m->available.has_value());
  const auto odd = parse_meminfo("MemTotal:  8000000 kB\nMemAvailable:  lots\n");
  REQUIRE(odd.has_value());
  CHECK_FALSE(odd->available.has_value());
}

TEST_CASE("parse_meminfo: a missing, malformed or zero MemTotal fails") {
  for (std::string_view text :
       {std::string_view(""), std::string_view("MemFree: 100 kB\n"),
        std::string_view("MemTotal: 100 MB\n"), std::string_view("MemTotal: kB\n"),
        std::string_view("MemTotal: 0 kB\n"), std::string_view("MemTotalX: 100 kB\n"),
        std::string_view("MemTotal: 99999999999999999999 kB\n")}) {
    CAPTURE(text);
    CHECK_FALSE(parse_meminfo(text).has_value());
  }
}

TEST_CASE("read_meminfo: reads the file - a missing one is an error naming it") {
  config::testing::TempDir dir;
  const auto path = dir.path() / "meminfo";
  std::ofstream(path) << k_meminfo;
  const auto m = read_meminfo(path);
  REQUIRE(m.has_value());
  CHECK(m->total == 24683784ull * 1024);
  const auto missing = read_meminfo(dir.path() / "nope");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.find("nope: cannot be read") != std::string::npos);
}

TEST_CASE("read_meminfo(): this machine's, free memory known only from /proc/meminfo") {
  const auto m = read_meminfo();
  REQUIRE(m.has_value());
  CHECK(m->total >= 64ull * 1024 * 1024);
  // The portable path (core/platform.h) reads the installed size alone.
  CHECK(m->available.has_value() == core::platform::meminfo_file().has_value());
  if (const auto installed = core::platform::physical_memory_bytes()) {
    CHECK(m->total <= *installed + *installed / 8); // MemTotal leaves out the kernel's own
  }
}

TEST_CASE("add_host: from meminfo, with the default cap and reserve") {
  Inventory inv;
  add_host(inv, config::HostSpec{}, HostMemory{32 * k_gib, 20 * k_gib});
  REQUIRE(inv.gpus.size() == 1);
  const Gpu* h = inv.host();
  REQUIRE(h != nullptr);
  CHECK(h->id == "host");
  CHECK(h->kind == DeviceKind::host);
  CHECK(h->total_bytes == 32 * k_gib);
  CHECK(h->free_bytes == 20 * k_gib);
  CHECK(h->cap_bytes == static_cast<std::uint64_t>(32.0 * k_gib * 0.9));
  CHECK(h->reserve_bytes == 2 * k_gib);
  CHECK(h->usable_bytes() == 18 * k_gib); // min(cap 28.8, 20 free − 2 reserve)
  CHECK(h->index.empty());                // no API: placement never puts layers on it
}

TEST_CASE("add_host: a declared size wins and nothing is read - a cap in bytes is bounded") {
  Inventory inv;
  config::HostSpec spec;
  spec.memory = 16 * k_gib;
  spec.cap.bytes = 64 * k_gib;
  spec.reserve = 0;
  add_host(inv, spec, HostMemory{32 * k_gib, 1 * k_gib});
  const Gpu* h = inv.host();
  REQUIRE(h != nullptr);
  CHECK(h->total_bytes == 16 * k_gib);
  CHECK_FALSE(h->free_bytes.has_value());
  CHECK(h->cap_bytes == 16 * k_gib);
  CHECK(h->usable_bytes() == 16 * k_gib);
  CHECK(h->sources == std::vector<std::string>{"config"});
}

TEST_CASE("add_host: unknown size leaves host memory out, with a warning") {
  Inventory inv;
  add_host(inv, config::HostSpec{},
           core::fail(core::Error::bad_request("/proc/meminfo: cannot be read")));
  CHECK(inv.host() == nullptr);
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] == "host memory: /proc/meminfo: cannot be read; it is not budgeted "
                           "(declare its size in gpus.host.memory)");
}

TEST_CASE("add_rpc_devices: declared memory is the total and the cap - no reading") {
  Inventory inv;
  add_rpc_devices(inv, {{"box", "", "10.0.0.2:50052", 0, 48 * k_gib},
                        {"box-b", "second", "10.0.0.2:50052", 1, 24 * k_gib}});
  REQUIRE(inv.gpus.size() == 2);
  const Gpu& a = inv.gpus[0];
  CHECK(a.kind == DeviceKind::rpc);
  CHECK(a.name == "10.0.0.2:50052");
  CHECK(a.endpoint == "10.0.0.2:50052");
  CHECK(a.rpc_device == 0);
  CHECK(a.cap_bytes == 48 * k_gib);
  CHECK(a.reserve_bytes == 0);
  CHECK(a.usable_bytes() == 48 * k_gib);
  CHECK(inv.gpus[1].name == "second");
  CHECK(inv.gpus[1].rpc_device == 1);
  CHECK(inv.host() == nullptr);
}

// A runner that answers `llama-server --rpc ENDPOINT --list-devices` from a table of
// endpoint → output (or error), and records every command line it was given.
struct FakeRpcRunner {
  std::map<std::string, core::Result<std::string>> answers; // by endpoint
  std::vector<std::vector<std::string>> ran;
  std::set<std::string> no_rpc; // binaries built without RPC: they fail at once

  ToolRunner runner() {
    return [this](const ToolCommand& c) -> core::Result<std::string> {
      ran.push_back(c.argv);
      REQUIRE(c.argv.size() == 4);
      CHECK(c.merge_stderr);
      if (no_rpc.contains(c.argv[0])) {
        return core::fail(core::Error::internal(c.argv[0] + ": exited with status 1: error: "
                                                            "invalid argument: --rpc"));
      }
      const auto it = answers.find(c.argv[2]);
      return it == answers.end() ? core::fail(core::Error::internal("unexpected endpoint"))
                                 : it->second;
    };
  }
};

std::string list_output(const std::string& endpoint, std::uint64_t total_mib,
                        std::uint64_t free_mib, int devices = 1) {
  std::string out = "Available devices:\n";
  for (int i = 0; i < devices; ++i) {
    out += "  RPC" + std::to_string(i) + ": " + endpoint + " (" + std::to_string(total_mib) +
           " MiB, " + std::to_string(free_mib) + " MiB free)\n";
  }
  return out;
}

config::RpcSpec rpc_spec(std::string id, std::string endpoint, int device = 0,
                         std::optional<std::uint64_t> memory = std::nullopt) {
  return {std::move(id), "", std::move(endpoint), device, memory};
}

bool warnings_have(const std::vector<std::string>& warnings, std::string_view part) {
  return std::ranges::any_of(warnings, [&](const std::string& w) { return w.contains(part); });
}

TEST_CASE("ask_rpc_servers: asks each undeclared server once, with the first binary") {
  FakeRpcRunner fake;
  fake.answers.emplace("10.0.0.2:50052", list_output("10.0.0.2:50052", 24576, 23000, 2));
  const std::vector<config::RpcSpec> rpc = {rpc_spec("a", "10.0.0.2:50052"),
                                            rpc_spec("b", "10.0.0.2:50052", 1),
                                            rpc_spec("declared", "10.0.0.3:50052", 0, 8 * k_gib)};
  const RpcReports reports = ask_rpc_servers(
      rpc, {{"/opt/cpu/llama-server", {{"A", "1"}}}, {"/opt/cuda/llama-server", {}}},
      fake.runner());
  REQUIRE(fake.ran.size() == 1); // one server asked once; the declared one not at all
  CHECK(fake.ran[0] == std::vector<std::string>{"/opt/cpu/llama-server", "--rpc", "10.0.0.2:50052",
                                                "--list-devices"});
  REQUIRE(reports.size() == 1);
  const auto& r = reports.at("10.0.0.2:50052");
  REQUIRE(r);
  CHECK(r->binary == "/opt/cpu/llama-server");
  CHECK(r->devices.size() == 2);
}

TEST_CASE("ask_rpc_servers: a build without RPC passes to the next - a timeout stops") {
  FakeRpcRunner fake;
  fake.no_rpc = {"/opt/old/llama-server"};
  fake.answers.emplace("h:1", list_output("h:1", 8192, 8000));
  fake.answers.emplace("slow:1", core::fail(core::Error::timeout("llama-server: timed out after "
                                                                 "5000 ms")));
  fake.answers.emplace("down:1", "0.00.003.781 E Failed to connect to down:1\n"
                                 "Available devices:\n  (none)\n");
  const std::vector<LlamaBinary> binaries = {{"/opt/old/llama-server", {}},
                                             {"/opt/new/llama-server", {}},
                                             {"/opt/third/llama-server", {}}};
  const RpcReports reports =
      ask_rpc_servers({rpc_spec("a", "h:1"), rpc_spec("b", "slow:1"), rpc_spec("c", "down:1")},
                      binaries, fake.runner());
  // h:1: old (fails), new (answers); slow:1: old, new (times out: third not tried); down:1:
  // old, new (refused: third not tried).
  CHECK(fake.ran.size() == 6);
  REQUIRE(reports.at("h:1"));
  CHECK(reports.at("h:1")->binary == "/opt/new/llama-server");
  REQUIRE_FALSE(reports.at("slow:1"));
  CHECK(reports.at("slow:1").error().kind == core::ErrorKind::timeout);
  REQUIRE_FALSE(reports.at("down:1"));
  CHECK(reports.at("down:1").error().kind == core::ErrorKind::connect);
  CHECK(reports.at("down:1").error().message ==
        "/opt/new/llama-server: Failed to connect to down:1");

  const RpcReports none = ask_rpc_servers({rpc_spec("a", "h:1")}, {}, fake.runner());
  REQUIRE_FALSE(none.at("h:1"));
  CHECK(none.at("h:1").error().kind == core::ErrorKind::not_found);
}

TEST_CASE("add_rpc_devices: a reported device takes the server's figures, a cap and a reserve") {
  FakeRpcRunner fake;
  fake.answers.emplace("gpu-box:50052", list_output("gpu-box:50052", 24576, 23000, 2));
  const std::vector<config::RpcSpec> rpc = {rpc_spec("a", "gpu-box:50052"),
                                            rpc_spec("b", "gpu-box:50052", 1)};
  Inventory inv;
  add_rpc_devices(inv, rpc, 512 * k_mib,
                  ask_rpc_servers(rpc, {{"llama-server", {}}}, fake.runner()));
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 2);
  const Gpu& a = inv.gpus[0];
  CHECK(a.kind == DeviceKind::rpc);
  CHECK(a.total_bytes == 24 * k_gib);
  REQUIRE(a.free_bytes.has_value());
  CHECK(*a.free_bytes == 23000 * k_mib);
  CHECK(a.cap_bytes == static_cast<std::uint64_t>(24.0 * k_gib * k_default_cap));
  CHECK(a.reserve_bytes == 512 * k_mib);
  CHECK(a.usable_bytes() == 23000 * k_mib - 512 * k_mib); // free − reserve, below the cap
  CHECK(a.sources == std::vector<std::string>{"llama-server"});
  CHECK(inv.gpus[1].rpc_device == 1);
}

TEST_CASE("add_rpc_devices: a CPU device's report is kept with a warning to declare memory") {
  FakeRpcRunner fake;
  fake.answers.emplace("127.0.0.1:50252", list_output("127.0.0.1:50252", 24105, 24105));
  const std::vector<config::RpcSpec> rpc = {rpc_spec("cpu-box", "127.0.0.1:50252")};
  Inventory inv;
  add_rpc_devices(inv, rpc, 512 * k_mib,
                  ask_rpc_servers(rpc, {{"llama-server", {}}}, fake.runner()));
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].total_bytes == 24105 * k_mib);
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] == "rpc device cpu-box (device 0 of 127.0.0.1:50252) reports all of its "
                           "23.54 GiB free, as a CPU device does: that is the whole host's memory "
                           "of that machine; declare memory to budget less");
}

TEST_CASE("add_rpc_devices: a server that cannot be asked leaves its devices out, named") {
  FakeRpcRunner fake;
  fake.answers.emplace("down:1", "0.00.003.781 E Failed to connect to down:1\n"
                                 "Available devices:\n  (none)\n");
  fake.answers.emplace("slow:1", core::fail(core::Error::timeout("llama-server: timed out after "
                                                                 "5000 ms")));
  fake.answers.emplace("one:1", list_output("one:1", 8192, 8000));
  fake.answers.emplace("junk:1", std::string("Segmentation fault\n"));
  const std::vector<config::RpcSpec> rpc = {
      rpc_spec("d", "down:1"), rpc_spec("s", "slow:1"),
      rpc_spec("o", "one:1"),  rpc_spec("o2", "one:1", 1),
      rpc_spec("j", "junk:1"), rpc_spec("kept", "10.0.0.9:50052", 0, 4 * k_gib)};
  Inventory inv;
  add_rpc_devices(inv, rpc, 0, ask_rpc_servers(rpc, {{"llama-server", {}}}, fake.runner()));
  REQUIRE(inv.gpus.size() == 2);
  CHECK(inv.gpus[0].id == "o");
  CHECK(inv.gpus[1].id == "kept");
  CHECK(inv.gpus[1].usable_bytes() == 4 * k_gib);
  REQUIRE(inv.warnings.size() == 4);
  CHECK(inv.warnings[0] == "rpc device d (device 0 of down:1): its server could not be asked: "
                           "llama-server: Failed to connect to down:1; it is left out (declare "
                           "its memory in gpus.rpc)");
  CHECK(inv.warnings[1] == "rpc device s (device 0 of slow:1): its server could not be asked: "
                           "llama-server: timed out after 5000 ms; it is left out (declare its "
                           "memory in gpus.rpc)");
  CHECK(inv.warnings[2] == "rpc device o2 (device 1 of one:1): llama-server lists 1 device of "
                           "that server; it is left out (declare its memory in gpus.rpc)");
  CHECK(warnings_have({inv.warnings[3]},
                      "rpc device j (device 0 of junk:1): its server could not be "
                      "asked: llama-server: llama-server --rpc … --list-devices: "
                      "no \"Available devices:\" line"));

  Inventory not_asked;
  add_rpc_devices(not_asked, {rpc_spec("x", "h:1")});
  CHECK(not_asked.gpus.empty());
  REQUIRE(not_asked.warnings.size() == 1);
  CHECK(not_asked.warnings[0] == "rpc device x (device 0 of h:1): its server was not asked; it is "
                                 "left out (declare its memory in gpus.rpc)");
}

TEST_CASE("add_rpc_devices: warnings of a listing name the server") {
  RpcReports reports;
  reports.emplace("h:1", RpcServerReport{"llama-server", {}, {"line 3: not a device line: 'x'"}});
  Inventory inv;
  add_rpc_devices(inv, {rpc_spec("a", "h:1")}, 0, reports);
  REQUIRE(inv.warnings.size() == 2);
  CHECK(inv.warnings[0] == "rpc h:1: line 3: not a device line: 'x'");
  CHECK(warnings_have(inv.warnings, "llama-server lists 0 devices of that server"));
}

TEST_CASE("rpc_binaries: every preset's binary once, CPU builds too") {
  config::Config c;
  c.presets.push_back({});
  c.presets.back().name = "cpu";
  c.presets.back().binary = "/opt/cpu/llama-server";
  c.presets.back().api = config::GpuApi::cpu;
  c.presets.push_back(c.presets.back());
  c.presets.back().name = "cpu2";
  c.presets.push_back({});
  c.presets.back().name = "none";
  const auto b = rpc_binaries(c);
  REQUIRE(b.size() == 1);
  CHECK(b[0].binary == "/opt/cpu/llama-server");
}

} // namespace
} // namespace ask::router
