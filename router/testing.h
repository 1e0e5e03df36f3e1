#pragma once
// Test helpers shared by router's tests: sizes, the recorded GPU tool outputs under
// tests/fixtures/gpu, and the GPUs and plans the placement tests build. Header-only; tests
// only. Shared here rather than copied into each test, so the files of router_test can share
// a unity batch (CI builds with CMAKE_UNITY_BUILD) without two definitions of one name.
// Namespace testkit, not testing: inside ask::router a nested "testing" would hide
// ask::testing (TempDir, gguf) from the tests that use it.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include <doctest/doctest.h>

#include "router/placement.h"
#include "router/probe.h"

namespace ask::router::testkit {

inline constexpr std::uint64_t k_mib = 1024ull * 1024;
inline constexpr std::uint64_t k_gib = 1024 * k_mib;

// The recorded tool output tests/fixtures/gpu/`name`, byte for byte.
inline std::string gpu_fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(ASK_SOURCE_DIR) / "tests/fixtures/gpu" / name,
                   std::ios::binary);
  REQUIRE_MESSAGE(in.good(), name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Whether one of the probe's warnings contains `part`.
inline bool any_warning_has(const ProbeResult& result, const std::string& part) {
  for (const std::string& w : result.warnings) {
    if (w.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// A GPU with `bytes` free (and as its total and cap), known to `api` as device `ordinal`.
inline Gpu placement_gpu(std::string id, config::GpuApi api, int ordinal, std::uint64_t bytes,
                         std::string uuid = "") {
  Gpu g;
  g.id = std::move(id);
  g.name = g.id;
  g.total_bytes = bytes;
  g.free_bytes = bytes;
  g.cap_bytes = bytes;
  g.reserve_bytes = 0;
  g.uuid = std::move(uuid);
  g.index = {{api, ordinal}};
  return g;
}

// The plan's llama-server arguments joined with spaces.
inline std::string args_of(const Plan& p) {
  std::string out;
  for (const std::string& a : p.args) {
    out += (out.empty() ? "" : " ") + a;
  }
  return out;
}

} // namespace ask::router::testkit
