#pragma once
// Helpers for tests of askd's managed models: a config whose llama-server preset runs llm-sim
// over a declared GPU inventory, /api/status read and polled, and the spawned llama-server
// processes looked at through /proc (alive, gone, their command line).

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "tests/integration/askd_harness.h"

namespace ask::testing {

// A managed model on the tiny fixture GGUF (ctx 1024, load_timeout 30s, backend "local");
// `extra` is merged in (keep_alive, parallel, max_replicas, upstream, ...).
Json tiny_model(const Json& extra = Json::object());

// A declared CUDA GPU (vendor nvidia, CUDA index `cuda_index`) of `vram`; `cap` (bytes or a
// size string) when not null.
Json declared_gpu(const std::string& id, int cuda_index, const Json& vram = "8GiB",
                  const Json& cap = nullptr);

// A config with one llama-server backend "local" whose preset "sim" runs llm-sim, the GPUs
// `gpus` (declared, not probed; default: two 8 GiB cards gpu0 and gpu1) and `models`
// (name → settings, see tiny_model()).
std::string managed_config(const Json& models, const Json& gpus = nullptr);

// Like managed_config(), but the preset "sim" is a CPU build (backend "cpu"): no GPU, and host
// memory as `host` declares it (gpus.host: memory, cap, reserve), so nothing is read.
std::string managed_cpu_config(const Json& models, const Json& host);

// GET /api/status, parsed; fails the test unless it answers 200.
Json status(const AskdProcess& askd);

// Polls /api/status (up to `limit`) until `pred` holds; returns the last status.
template <class Pred>
Json wait_status(const AskdProcess& askd, Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  Json s = status(askd);
  while (!pred(s) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms); // polling a real process: no clock to advance
    s = status(askd);
  }
  return s;
}

// Polls /api/status (up to `limit`) until it lists no instance; true when it got there.
bool wait_no_instances(const AskdProcess& askd, std::chrono::milliseconds limit = 10s);

// True when process `pid` does not exist or is a zombie.
bool process_gone(int pid);
// Polls process_gone(pid) up to `limit`; returns its last answer.
bool wait_gone(int pid, std::chrono::milliseconds limit = 10s);
// /proc/PID/cmdline with the NULs as spaces ("" when the process is gone).
std::string cmdline(int pid);

// What the managed tiny fixture model is estimated to take on a CUDA GPU (the instance's
// estimated_bytes in /api/status), measured once by loading it in a throwaway askd.
std::uint64_t tiny_estimate_bytes();
// What the same model takes of host memory on a CPU preset (the instance's
// host.estimated_bytes), measured once likewise.
std::uint64_t tiny_host_estimate_bytes();

} // namespace ask::testing
