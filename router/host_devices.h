#pragma once
// The devices askd budgets besides local GPUs: host memory (/proc/meminfo's MemTotal and
// MemAvailable, the installed size where there is no /proc, or the config's declared size)
// and the devices of llama.cpp rpc-servers (gpus.rpc). Both join the inventory as entries of
// their own kind (router/inventory.h DeviceKind): the scheduler budgets them like GPUs,
// placement puts layers on rpc devices and charges host memory with every plan's host
// buffers. docs/inventory.md.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "core/error.h"
#include "router/inventory.h"

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

// Appends to `inv` the config's rpc devices: the declared memory is their total and cap, no
// reserve, free unknown (nothing asks an rpc-server, whose CPU device reports the whole host).
void add_rpc_devices(Inventory& inv, const std::vector<config::RpcSpec>& rpc);

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
