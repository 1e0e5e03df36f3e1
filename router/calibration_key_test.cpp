// The parts of a calibration's key: file identities on real files, the binary found on a
// PATH, and the settings that change memory.

#include "router/calibration_key.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using ask::router::EstimateInput;
using ask::router::identify_binary;
using ask::router::identify_file;
using ask::router::memory_settings;
using ask::testing::TempDir;

void write_bytes(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

} // namespace

TEST_CASE("identify_file: size and modification time - a replaced file is another identity") {
  TempDir dir;
  const fs::path file = dir.path() / "model.gguf";
  CHECK_FALSE(identify_file(file).has_value());
  write_bytes(file, "GGUF one");
  const auto first = identify_file(file);
  REQUIRE(first.has_value());
  CHECK(first->path == file.string());
  CHECK(first->size == 8);
  CHECK(first->mtime_ns > 0);
  CHECK(identify_file(file) == first); // stable while untouched

  // Same size, newer time (a re-download of a same-sized file).
  write_bytes(file, "GGUF two");
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
  const auto second = identify_file(file);
  CHECK(second->size == 8);
  CHECK(second != first);
}

TEST_CASE("identify_binary: a path as given, a bare name on PATH, nothing when not found") {
  TempDir dir;
  fs::create_directories(dir.path() / "a");
  fs::create_directories(dir.path() / "b");
  const fs::path not_exec = dir.path() / "a" / "llama-server";
  const fs::path exec = dir.path() / "b" / "llama-server";
  write_bytes(not_exec, "not executable");
  write_bytes(exec, "#!/bin/sh\n");
  ::chmod(exec.c_str(), 0755);
  const std::string path_var = (dir.path() / "a").string() + ":" + (dir.path() / "b").string();

  const auto found = identify_binary("llama-server", path_var);
  REQUIRE(found.has_value());
  CHECK(found->path == exec.string()); // the first executable one, as execve would run
  CHECK(identify_binary(not_exec, "")->path == not_exec.string()); // a path: taken as it is
  CHECK_FALSE(identify_binary("llama-server", (dir.path() / "a").string()).has_value());
  CHECK_FALSE(identify_binary("", path_var).has_value());
}

TEST_CASE("memory_settings: every setting that changes memory changes it") {
  const EstimateInput base;
  const nlohmann::json before = memory_settings(base);
  using Change = std::function<void(EstimateInput&)>;
  const std::vector<std::pair<std::string, Change>> changes = {
      {"ctx", [](EstimateInput& in) { in.ctx = 8192; }},
      {"parallel", [](EstimateInput& in) { in.parallel = 4; }},
      {"cache_type_k", [](EstimateInput& in) { in.cache_type_k = "q8_0"; }},
      {"cache_type_v", [](EstimateInput& in) { in.cache_type_v = "q8_0"; }},
      {"flash_attn", [](EstimateInput& in) { in.flash_attn = false; }},
      {"kv_unified", [](EstimateInput& in) { in.kv_unified = true; }},
      {"swa_full", [](EstimateInput& in) { in.swa_full = true; }},
      {"kv_offload", [](EstimateInput& in) { in.kv_offload = false; }},
      {"mmap", [](EstimateInput& in) { in.mmap = false; }},
      {"n_gpu_layers", [](EstimateInput& in) { in.n_gpu_layers = 10; }},
      {"n_cpu_moe", [](EstimateInput& in) { in.n_cpu_moe = 4; }},
      {"n_batch", [](EstimateInput& in) { in.n_batch = 512; }},
      {"n_ubatch", [](EstimateInput& in) { in.n_ubatch = 256; }},
      {"n_outputs_max", [](EstimateInput& in) { in.n_outputs_max = 512; }},
      {"draft_ctx", [](EstimateInput& in) { in.draft_ctx = 4096; }},
      {"mtp", [](EstimateInput& in) { in.mtp = true; }},
      {"projector_bytes", [](EstimateInput& in) { in.projector_bytes = 1 << 20; }},
      {"overrides",
       [](EstimateInput& in) {
         in.overrides.push_back({"exps", "CPU"});
       }},
  };
  for (const auto& [name, change] : changes) {
    CAPTURE(name);
    EstimateInput in;
    change(in);
    const nlohmann::json after = memory_settings(in);
    CHECK(after != before);
    CHECK(after[name] != before[name]);
  }
  // Not part of the settings: the correction (what is learnt) and the build (its own key part).
  EstimateInput in;
  in.correction.compute = 2.0;
  in.build = 10587;
  CHECK(memory_settings(in) == before);
}
