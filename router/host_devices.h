#pragma once
// The devices askd budgets besides local GPUs: host memory (/proc/meminfo's MemTotal and
// MemAvailable, the installed size where there is no /proc, or the config's declared size)
// and the devices of llama.cpp rpc-servers (gpus.rpc: the declared size, or what a preset's
// llama-server lists for the server at start). Both join the inventory as entries of
// their own kind (router/inventory.h DeviceKind): the scheduler budgets them like GPUs,
// placement puts layers on rpc devices and charges host memory with every plan's host
// buffers. docs/inventory.md.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "core/error.h"
#include "router/inventory.h"
#include "router/llama_build.h"
#include "router/probe.h"
#include "router/tool_runner.h"

namespace ask::router {

struct HostMemory {
  std::uint64_t total = 0;                // MemTotal
  std::optional<std::uint64_t> available; // MemAvailable; none on kernels before 3.14
};

// MemTotal and MemAvailable from /proc/meminfo's text ("MemTotal:       24683784 kB").
// Fails (bad_request) when MemTotal is missing, malformed or zero; a malformed MemAvailable
// is left unknown.
core::Result<HostMemory> parse_meminfo(std::string_view text);
// Reads and parses a file in that format; fails when it cannot be read.
core::Result<HostMemory> read_meminfo(const std::filesystem::path& path);
// This machine's: /proc/meminfo on Linux; elsewhere (core/platform.h) the installed size
// alone, with free memory unknown. Fails when neither can be read.
core::Result<HostMemory> read_meminfo();

// What one rpc-server reported of its devices, in its own device order.
struct RpcServerReport {
  std::string binary; // the llama-server that asked
  std::vector<RpcListedDevice> devices;
  std::vector<std::string> warnings; // from the listing
};
// Per endpoint: its report, or why it could not be asked.
using RpcReports = std::map<std::string, core::Result<RpcServerReport>, std::less<>>;

// The llama-servers that may ask rpc-servers: every preset's binary (CPU builds too), with its
// environment, each once, in the order the presets are written.
std::vector<LlamaBinary> rpc_binaries(const config::Config& config);

// Asks the server of every entry of `rpc` that declares no memory, once per endpoint:
// `BINARY --rpc ENDPOINT --list-devices` through `run` (whose deadline bounds each ask: a port
// that accepts but never answers makes llama-server wait forever). The binaries are tried in
// order until one lists devices (a build without RPC fails at once); a timeout, or a server
// that did not answer, stops there (another build would fare no better). No binary: each
// endpoint fails with not_found.
RpcReports ask_rpc_servers(const std::vector<config::RpcSpec>& rpc,
                           const std::vector<LlamaBinary>& binaries, const ToolRunner& run);

// Appends to `inv` the rpc devices of `rpc`. Declared memory is the device's total and cap, with
// no reserve and no reading. Otherwise `reports` size it: the reported total, the reported free
// memory as the first reading, a cap of k_default_cap of the total and `reserve` (gpus.reserve)
// kept free; a device whose server was not asked, could not be asked or lists no such device
// is left out with a warning naming the endpoint, and one that reports all its memory free
// (ggml's CPU device does: the machine's whole memory) is kept with a warning.
void add_rpc_devices(Inventory& inv, const std::vector<config::RpcSpec>& rpc,
                     std::uint64_t reserve = 0, const RpcReports& reports = {});

// Appends host memory to `inv`, id "host": the declared `spec.memory` (then nothing is read),
// else `meminfo`'s total with its MemAvailable as the free reading; cap and reserve from
// `spec`. When neither gives a size, host memory is left out (placement then charges it
// nothing) and a warning says why.
void add_host(Inventory& inv, const config::HostSpec& spec,
              const core::Result<HostMemory>& meminfo);

// The cap of host memory of `total` bytes under `spec`: its bytes (at most the total), else
// its fraction, else config::k_host_default_cap.
std::uint64_t host_cap(const config::HostSpec& spec, std::uint64_t total);

} // namespace ask::router
