#include "router/host_devices.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>

#include "core/platform.h"
#include "router/placement.h"

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

std::vector<LlamaBinary> rpc_binaries(const config::Config& config) {
  std::vector<LlamaBinary> out;
  for (const config::Preset& preset : config.presets) {
    LlamaBinary b{preset.binary, preset.env};
    if (!preset.binary.empty() && std::ranges::find(out, b) == out.end()) {
      out.push_back(std::move(b));
    }
  }
  return out;
}

namespace {

// One server asked by one binary: its devices, or why there are none.
core::Result<RpcServerReport> ask_rpc_server(const std::string& endpoint, const LlamaBinary& binary,
                                             const ToolRunner& run) {
  const std::string path = binary.binary.string();
  auto out = run(ToolCommand({path, "--rpc", endpoint, "--list-devices"}, binary.env, true));
  if (!out) {
    return core::fail(std::move(out.error()));
  }
  auto listing = parse_rpc_list_devices(*out);
  if (!listing) {
    return core::fail(core::Error::bad_request(path + ": " + listing.error().message));
  }
  RpcServerReport report{path, {}, std::move(listing->warnings)};
  for (RpcListedDevice& d : listing->devices) {
    if (d.endpoint == endpoint) {
      report.devices.push_back(std::move(d));
    }
  }
  if (report.devices.empty() &&
      std::ranges::find(listing->unreachable, endpoint) != listing->unreachable.end()) {
    return core::fail(core::Error::connect(path + ": Failed to connect to " + endpoint));
  }
  return report;
}

} // namespace

RpcReports ask_rpc_servers(const std::vector<config::RpcSpec>& rpc,
                           const std::vector<LlamaBinary>& binaries, const ToolRunner& run) {
  RpcReports reports;
  for (const config::RpcSpec& d : rpc) {
    if (d.memory || reports.contains(d.endpoint)) {
      continue;
    }
    core::Result<RpcServerReport> report =
        core::fail(core::Error::not_found("no preset names a llama-server to ask it with"));
    for (const LlamaBinary& binary : binaries) {
      report = ask_rpc_server(d.endpoint, binary, run);
      if (report || report.error().kind == core::ErrorKind::timeout ||
          report.error().kind == core::ErrorKind::connect) {
        break;
      }
    }
    reports.emplace(d.endpoint, std::move(report));
  }
  return reports;
}

namespace {

// A reported rpc device: the server's figures, under the default cap and `reserve`; none,
// with a warning, when the report has no such device.
std::optional<Gpu> reported_rpc_device(Gpu g, const config::RpcSpec& d, std::uint64_t reserve,
                                       const RpcReports& reports,
                                       std::vector<std::string>& warnings) {
  const std::string who =
      "rpc device " + d.id + " (device " + std::to_string(d.device) + " of " + d.endpoint + ")";
  const std::string left_out = "; it is left out (declare its memory in gpus.rpc)";
  const auto report = reports.find(d.endpoint);
  if (report == reports.end()) {
    warnings.push_back(who + ": its server was not asked" + left_out);
    return std::nullopt;
  }
  if (!report->second) {
    warnings.push_back(who + ": its server could not be asked: " + report->second.error().message +
                       left_out);
    return std::nullopt;
  }
  const RpcServerReport& r = *report->second;
  if (static_cast<std::size_t>(d.device) >= r.devices.size()) {
    warnings.push_back(who + ": " + r.binary + " lists " + std::to_string(r.devices.size()) +
                       (r.devices.size() == 1 ? " device" : " devices") + " of that server" +
                       left_out);
    return std::nullopt;
  }
  const RpcListedDevice& listed = r.devices[static_cast<std::size_t>(d.device)];
  g.total_bytes = listed.total_bytes;
  g.free_bytes = listed.free_bytes;
  g.cap_bytes = static_cast<std::uint64_t>(static_cast<double>(listed.total_bytes) * k_default_cap);
  g.reserve_bytes = reserve;
  g.sources = {r.binary};
  if (listed.free_bytes == listed.total_bytes) {
    // ggml's CPU device reports the machine's physical memory, all of it free
    // (ggml_backend_cpu_device_get_memory); a GPU's driver always holds some. b10587 sends no
    // device type over RPC, so this is the one sign.
    warnings.push_back(who + " reports all of its " + human_bytes(listed.total_bytes) +
                       " free, as a CPU device does: that is the whole host's memory of that "
                       "machine; declare memory to budget less");
  }
  return g;
}

} // namespace

void add_rpc_devices(Inventory& inv, const std::vector<config::RpcSpec>& rpc, std::uint64_t reserve,
                     const RpcReports& reports) {
  for (const auto& [endpoint, report] : reports) {
    if (report) {
      for (const std::string& w : report->warnings) {
        inv.warnings.push_back("rpc " + endpoint + ": " + w);
      }
    }
  }
  for (const config::RpcSpec& d : rpc) {
    Gpu g;
    g.id = d.id;
    g.name = d.name.empty() ? d.endpoint : d.name;
    g.kind = DeviceKind::rpc;
    g.endpoint = d.endpoint;
    g.rpc_device = d.device;
    if (!d.memory) {
      if (auto reported = reported_rpc_device(std::move(g), d, reserve, reports, inv.warnings)) {
        inv.gpus.push_back(std::move(*reported));
      }
      continue;
    }
    g.total_bytes = *d.memory;
    g.cap_bytes = *d.memory;
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
