#pragma once
// The accuracy half of router_bench: the VRAM estimate next to the buffers llama.cpp logged,
// per component, for the startup-log fixtures and for public logs of well-known models.

#include <filesystem>
#include <string>
#include <vector>

namespace ask::bench {

struct AccuracyRow {
  std::string model;
  std::string settings;  // "c8192 np4 unified, FA off, f16 KV"
  std::string component; // "KV", "compute CUDA0", "model CUDA0", …
  double measured_mib = 0;
  double estimated_mib = 0;
  std::string source; // fixture path or URL
  double error_pct() const {
    return measured_mib > 0 ? (estimated_mib - measured_mib) / measured_mib * 100.0 : 0.0;
  }
};

// Every row: the fixtures under `root`/tests/fixtures/llama-server/ whose model is in
// tests/fixtures/gguf/, then the published logs.
std::vector<AccuracyRow> accuracy_rows(const std::filesystem::path& root);

} // namespace ask::bench
