#include "router/host_devices.h"

#include <charconv>
#include <fstream>
#include <iterator>

#include "core/platform.h"

namespace ask::router {
namespace {

// The kB value of "NAME:   1234 kB" lines; none when absent or malformed (or past 2^54 kB).
std::optional<std::uint64_t> meminfo_field(std::string_view text, std::string_view name) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.starts_with(name) || line.size() <= name.size() || line[name.size()] != ':') {
      continue;
    }
    line.remove_prefix(name.size() + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    std::uint64_t kib = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), kib);
    const std::string_view unit(end, static_cast<std::size_t>(line.data() + line.size() - end));
    if (ec != std::errc{} || end == line.data() || kib > (std::uint64_t{1} << 54) ||
        (unit != " kB" && unit != " kB\r")) {
      return std::nullopt;
    }
    return kib * 1024;
  }
  return std::nullopt;
}

} // namespace

core::Result<HostMemory> parse_meminfo(std::string_view text) {
  const auto total = meminfo_field(text, "MemTotal");
  if (!total || *total == 0) {
    return core::fail(core::Error::bad_request("meminfo: no readable MemTotal line"));
  }
  return HostMemory{*total, meminfo_field(text, "MemAvailable")};
}

core::Result<HostMemory> read_meminfo(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return core::fail(core::Error::bad_request(path.string() + ": cannot be read"));
  }
  // /proc/meminfo is about 1.5 KiB; a bounded read keeps an odd file from costing much.
  std::string text(64 * 1024, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto parsed = parse_meminfo(text);
  if (!parsed) {
    return core::fail(core::Error::bad_request(path.string() + ": " + parsed.error().message));
  }
  return parsed;
}

core::Result<HostMemory> read_meminfo() {
  if (const auto file = core::platform::meminfo_file()) {
    return read_meminfo(*file);
  }
  if (const auto installed = core::platform::physical_memory_bytes()) {
    return HostMemory{*installed, std::nullopt};
  }
  return core::fail(core::Error::bad_request("the installed memory cannot be read here"));
}

std::uint64_t host_cap(const config::HostSpec& spec, std::uint64_t total) {
  if (spec.cap.bytes) {
    return std::min(*spec.cap.bytes, total);
  }
  const double fraction = spec.cap.fraction.value_or(config::k_host_default_cap);
  return static_cast<std::uint64_t>(static_cast<double>(total) * fraction);
}

void add_rpc_devices(Inventory& inv, const std::vector<config::RpcSpec>& rpc) {
  for (const config::RpcSpec& d : rpc) {
    Gpu g;
    g.id = d.id;
    g.name = d.name.empty() ? d.endpoint : d.name;
    g.kind = DeviceKind::rpc;
    g.endpoint = d.endpoint;
    g.rpc_device = d.device;
    g.total_bytes = d.memory;
    g.cap_bytes = d.memory;
    g.reserve_bytes = 0;
    g.sources = {"config"};
    inv.gpus.push_back(std::move(g));
  }
}

void add_host(Inventory& inv, const config::HostSpec& spec,
              const core::Result<HostMemory>& meminfo) {
  Gpu host;
  host.id = std::string(k_host_id);
  host.name = "host memory";
  host.kind = DeviceKind::host;
  if (spec.memory) {
    host.total_bytes = *spec.memory;
    host.sources = {"config"};
  } else if (meminfo) {
    host.total_bytes = meminfo->total;
    host.free_bytes = meminfo->available;
    host.sources = {"meminfo"};
  } else {
    inv.warnings.push_back("host memory: " + meminfo.error().message +
                           "; it is not budgeted (declare its size in gpus.host.memory)");
    return;
  }
  host.cap_bytes = host_cap(spec, host.total_bytes);
  host.reserve_bytes = spec.reserve;
  inv.gpus.push_back(std::move(host));
}

} // namespace ask::router
