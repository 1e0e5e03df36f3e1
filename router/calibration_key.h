#pragma once
// What a measured calibration depends on, so that it is used again only where it holds: the
// model file (its size and modification time), the llama.cpp build, the settings that change
// memory, and the GPUs the load ran on. router/calibration_store.h keeps calibrations under
// these keys; docs/vram.md ("Correction").

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "router/estimate.h"

namespace ask::router {

// A file as it is now. Replacing it (a new download, a re-quantisation, a rebuild) changes
// its size or its modification time; reading the file is not needed to notice.
struct FileIdentity {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0; // since the Unix epoch
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

// Size and modification time of `path` (symbolic links followed); nullopt when it cannot be
// stat'ed.
std::optional<FileIdentity> identify_file(const std::filesystem::path& path);

// The binary a preset runs: a path as it is, a bare name looked up on `path_var` (a PATH
// value, as the supervisor does at spawn). nullopt when it is not found.
std::optional<FileIdentity> identify_binary(const std::filesystem::path& binary,
                                            const std::string& path_var);

// The settings of `in` that change memory, as canonical JSON: ctx, parallel, cache types,
// flash attention, kv_unified, swa_full, kv_offload, mmap, -ngl, --n-cpu-moe, batch sizes,
// logit rows, draft_ctx, mtp, projector bytes and tensor overrides. Not the draft (a file:
// the caller adds its identity), the build (a key part of its own) nor the correction.
nlohmann::json memory_settings(const EstimateInput& in);

// What a model's memory use depends on, apart from where it runs.
struct CalibrationKey {
  std::vector<FileIdentity> model;    // every part of the model file, in order
  int build = 0;                      // llama.cpp build number (EstimateInput::build); 0 = unknown
  std::optional<FileIdentity> binary; // the llama-server binary: a rebuild in place changes it
  nlohmann::json settings = nlohmann::json::object(); // memory_settings() and what the caller adds
  friend bool operator==(const CalibrationKey&, const CalibrationKey&) = default;
};

// A GPU an instance ran on.
struct CalibratedDevice {
  std::string gpu;    // askd's GPU id ("gpu0")
  std::string name;   // its product name ("NVIDIA GeForce RTX 4090")
  std::string device; // llama.cpp's name for it in that load ("CUDA0"): which buffers are its
  friend bool operator==(const CalibratedDevice&, const CalibratedDevice&) = default;
};

} // namespace ask::router
