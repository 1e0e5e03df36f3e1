#include "router/host_devices.h"

#include <doctest/doctest.h>

#include <fstream>

#include "config/testing.h"
#include "core/platform.h"
#include "router/testing.h"

namespace ask::router {
namespace {

using testkit::k_gib;

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

TEST_CASE("read_meminfo: reads the file; a missing one is an error naming it") {
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

TEST_CASE("add_host: a declared size wins and nothing is read; a cap in bytes is bounded") {
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

TEST_CASE("add_rpc_devices: declared memory is the total and the cap; no reading") {
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

} // namespace
} // namespace ask::router
