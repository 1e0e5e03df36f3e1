#include "tests/integration/managed_harness.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/eventually.h"

namespace ask::testing {

Json tiny_model(const Json& extra) {
  Json model = {{"backend", "local"},
                {"gguf", fixture_path("gguf/tiny-llama-2L-f16.gguf")},
                {"ctx", 1024},
                {"load_timeout", "30s"}};
  model.update(extra);
  return model;
}

Json declared_gpu(const std::string& id, int cuda_index, const Json& vram, const Json& cap) {
  Json gpu = {
      {"id", id}, {"vendor", "nvidia"}, {"vram", vram}, {"backend_index", {{"cuda", cuda_index}}}};
  if (!cap.is_null()) {
    gpu["cap"] = cap;
  }
  return gpu;
}

std::string managed_config(const Json& models, const Json& gpus) {
  const Json devices =
      gpus.is_null() ? Json::array({declared_gpu("gpu0", 0), declared_gpu("gpu1", 1)}) : gpus;
  const Json config = {{"backends", {{"local", {{"kind", "llama-server"}, {"preset", "sim"}}}}},
                       {"presets", {{"sim", {{"binary", LLM_SIM_PATH}, {"backend", "cuda"}}}}},
                       {"gpus", {{"probe", false}, {"devices", devices}}},
                       {"models", models}};
  return config.dump(2);
}

std::string managed_cpu_config(const Json& models, const Json& host) {
  const Json config = {{"backends", {{"local", {{"kind", "llama-server"}, {"preset", "sim"}}}}},
                       {"presets", {{"sim", {{"binary", LLM_SIM_PATH}, {"backend", "cpu"}}}}},
                       {"gpus", {{"probe", false}, {"host", host}}},
                       {"models", models}};
  return config.dump(2);
}

Json status(const AskdProcess& askd) {
  const auto [code, body] = askd.get("/api/status");
  REQUIRE_MESSAGE(code == 200, body);
  return Json::parse(body);
}

bool wait_no_instances(const AskdProcess& askd, std::chrono::milliseconds limit) {
  const auto none = [](const Json& s) { return s["instances"].empty(); };
  return none(wait_status(askd, none, limit));
}

bool process_gone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) {
    return true;
  }
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

bool wait_gone(int pid, std::chrono::milliseconds limit) {
  return eventually([&] { return process_gone(pid); }, limit, 20ms);
}

std::string cmdline(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

std::uint64_t tiny_estimate_bytes() {
  static const std::uint64_t bytes = [] {
    AskdProcess askd(managed_config({{"tiny", tiny_model({{"keep_alive", "forever"}})}}));
    const Reply loaded = askd.request("POST", "/api/models/tiny/load");
    if (loaded.status != 200) {
      throw std::runtime_error("cannot load tiny to measure its estimate: " + loaded.body);
    }
    // The estimate is there from the start of the load; no need to wait for it to be ready.
    const Json s = status(askd);
    if (s["instances"].size() != 1) {
      throw std::runtime_error("no tiny instance after its load: " + s.dump());
    }
    return s["instances"][0]["estimated_bytes"].get<std::uint64_t>();
  }();
  return bytes;
}

std::uint64_t tiny_host_estimate_bytes() {
  static const std::uint64_t bytes = [] {
    AskdProcess askd(managed_cpu_config({{"tiny", tiny_model({{"keep_alive", "forever"}})}},
                                        {{"memory", "1GiB"}, {"reserve", 0}}));
    const Reply loaded = askd.request("POST", "/api/models/tiny/load");
    if (loaded.status != 200) {
      throw std::runtime_error("cannot load tiny to measure its host estimate: " + loaded.body);
    }
    const Json s = status(askd);
    if (s["instances"].size() != 1) {
      throw std::runtime_error("no tiny instance after its load: " + s.dump());
    }
    return s["instances"][0]["host"]["estimated_bytes"].get<std::uint64_t>();
  }();
  return bytes;
}

} // namespace ask::testing
