// The buffer sizes llm-sim prints, checked against the startup logs of a real llama-server
// (tests/fixtures/llama-server/startup-*.log, CPU only): model, output and KV buffers follow
// llama.cpp's arithmetic and must match to the printed precision; the compute buffer is a
// heuristic calibrated on the same logs (see memory_log.h) and must match them too.

#include "sim/memory_log.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace ask::sim;

namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Run {
  const char* log;
  const char* model;
  std::vector<std::string> flags;
};

// The flag sets of the recorded startup runs (tests/fixtures/README.md).
const std::vector<Run> k_runs = {
    {"startup-tiny-llama-2L-f16.log", "tiny-llama-2L-f16.gguf", {"-c", "1024", "--parallel", "2"}},
    {"startup-tiny-gemma3-2L-swa-f16.log",
     "tiny-gemma3-2L-swa-f16.gguf",
     {"-c", "1024", "--parallel", "2"}},
    {"startup-tiny-llama-2L-f16-c4096-np4-fa.log",
     "tiny-llama-2L-f16.gguf",
     {"-c", "4096", "--parallel", "4", "-fa", "on"}},
    {"startup-tiny-llama-2L-hd32-f16.log",
     "tiny-llama-2L-hd32-f16.gguf",
     {"-c", "1024", "--parallel", "2"}},
    {"startup-tiny-llama-2L-hd32-f16-c4096-np4-q8kv-fa.log",
     "tiny-llama-2L-hd32-f16.gguf",
     {"-c", "4096", "--parallel", "4", "-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on"}},
    {"startup-tiny-llama-2L-f16-defaults.log", "tiny-llama-2L-f16.gguf", {}},
};

bool is_memory_line(const std::string& line) {
  for (const char* key :
       {"buffer size", "llama_kv_cache: size", "llama_kv_cache_iswa", "n_ctx ", "n_ctx_seq ",
        "n_seq_max", "n_batch", "n_ubatch", "kv_unified", "flash_attn", "n_outputs_max ",
        "full capacity", "file size", "model params", "type  f"}) {
    if (line.find(key) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("memory_log: buffer lines equal the recorded llama-server startups") {
  for (const Run& run : k_runs) {
    CAPTURE(run.log);
    std::vector<std::string> args{"-m", std::string("/opt/models/tiny-fixtures/") + run.model};
    args.insert(args.end(), run.flags.begin(), run.flags.end());
    auto options = parse_options(args);
    REQUIRE(options);
    auto model = load_model_info(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/gguf/" + run.model);
    REQUIRE_MESSAGE(model, (model ? "" : model.error().message));
    model->path = options->model_path; // as the recording named it
    auto ctx = plan_context(*options, *model);
    REQUIRE(ctx);
    MemoryPlan mem = plan_memory(*options, *model, *ctx);
    const std::string log = read_fixture("llama-server/" + std::string(run.log));
    int checked = 0;
    for (const std::string& line : load_log_lines(*model, *ctx, mem)) {
      if (is_memory_line(line)) {
        CAPTURE(line);
        CHECK(log.find(" I " + line + "\n") != std::string::npos);
        ++checked;
      }
    }
    CHECK(checked >= 12);
    CHECK(log.find(" I " + breakdown_lines(mem).back() + "\n") != std::string::npos);
  }
}

TEST_CASE("memory_log: an unusable KV type fails with llama.cpp's message") {
  auto options =
      parse_options({"-c", "4096", "--parallel", "4", "-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on"});
  ModelInfo model = fake_model_info("/m.gguf"); // head dim 16
  auto ctx = plan_context(*options, model);
  REQUIRE(!ctx);
  CHECK(read_fixture("llama-server/startup-fail-q8kv-headdim16.log")
            .find("E llama_init_from_model: " + ctx.error().message) != std::string::npos);
  auto v_without_fa =
      plan_context(*parse_options({"-ctv", "q8_0", "-fa", "off"}),
                   *load_model_info(std::string(ASK_SOURCE_DIR) +
                                    "/tests/fixtures/gguf/tiny-llama-2L-hd32-f16.gguf"));
  CHECK(!v_without_fa);
  CHECK(!plan_context(*parse_options({"-ctk", "q3_k"}), model));
}

TEST_CASE("memory_log: offloaded layers are split across devices by --tensor-split") {
  ModelInfo model = fake_model_info("/m.gguf");
  auto options = parse_options(
      {"-c", "1024", "-np", "2", "-ngl", "99", "-dev", "CUDA0,Vulkan1", "-ts", "1,1"});
  auto ctx = plan_context(*options, model);
  MemoryPlan mem = plan_memory(*options, model, *ctx);
  // As llama.cpp: the output layer counts as one more layer to split, so with two repeating
  // layers split 1:1, CUDA0 holds both and Vulkan1 the output layer.
  REQUIRE(mem.gpus.size() == 2);
  CHECK(mem.gpus[0].layers == 2);
  CHECK(mem.gpus[1].layers == 0);
  CHECK(mem.host.layers == 0);
  CHECK(mem.gpus[0].kv == mem.total_kv());
  // output_norm and, the output head being tied to token_embd, a copy of token_embd there
  // (llama.cpp's TENSOR_DUPLICATED).
  const std::uint64_t token_embd = 32000ull * 64 * 2;
  CHECK(mem.gpus[1].model == 64 * 4 + token_embd);
  CHECK(mem.output_offloaded);
  CHECK(mem.host_buffer_name() == "CUDA_Host");
  // token_embd stays on the host; the output norm goes with the output layer.
  CHECK(mem.host.model == token_embd);
  CHECK(mem.gpus[0].model + mem.gpus[1].model + mem.host.model == model.tensor_bytes + token_embd);
  std::string text;
  for (const std::string& line : load_log_lines(model, *ctx, mem)) {
    text += line + "\n";
  }
  CHECK(text.find("load_tensors:        CUDA0 model buffer size =") != std::string::npos);
  CHECK(text.find("load_tensors:      Vulkan1 model buffer size =") != std::string::npos);
  CHECK(text.find("llama_kv_cache:      CUDA0 KV buffer size =     0.25 MiB") != std::string::npos);
  CHECK(text.find("llama_kv_cache:    Vulkan1 KV buffer size") == std::string::npos);
  CHECK(text.find("sched_reserve:    Vulkan1 compute buffer size =") != std::string::npos);
  CHECK(text.find("load_tensors: offloaded 3/3 layers to GPU") != std::string::npos);
}

TEST_CASE("memory_log: -ngl below the layer count keeps the first layers on the host") {
  ModelInfo model = fake_model_info("/m.gguf");
  auto options = parse_options({"-ngl", "1", "-ts", "3"});
  MemoryPlan mem = plan_memory(*options, model, *plan_context(*options, model));
  REQUIRE(mem.gpus.size() == 1);
  CHECK(mem.gpus[0].name == "CUDA0");
  CHECK(mem.gpus[0].layers == 1);
  CHECK(mem.host.layers == 1);
  CHECK(!mem.output_offloaded);
  CHECK(mem.host.compute == compute_buffer_bytes(model, *plan_context(*options, model)));
}

TEST_CASE("mib prints llama.cpp's %8.2f") {
  CHECK(mib(4244736) == "    4.05");
  CHECK(mib(131072) == "    0.12"); // 0.125 rounds to even, as printf does
  CHECK(mib(0, 7) == "   0.00");
}

TEST_CASE("memory_log: --sim-compute-scale multiplies the compute buffers, nothing else") {
  ModelInfo model = fake_model_info("/m.gguf");
  auto plain = parse_options({"-c", "1024", "-ngl", "99", "-dev", "CUDA0"});
  auto scaled =
      parse_options({"-c", "1024", "-ngl", "99", "-dev", "CUDA0", "--sim-compute-scale", "2.5"});
  REQUIRE(plain);
  REQUIRE(scaled);
  const ContextPlan ctx = *plan_context(*plain, model);
  const MemoryPlan a = plan_memory(*plain, model, ctx);
  const MemoryPlan b = plan_memory(*scaled, model, ctx);
  REQUIRE(b.gpus.size() == 1);
  CHECK(b.gpus[0].compute == std::llround(2.5 * static_cast<double>(a.gpus[0].compute)));
  CHECK(b.host.compute == std::llround(2.5 * static_cast<double>(a.host.compute)));
  CHECK(b.gpus[0].model == a.gpus[0].model);
  CHECK(b.gpus[0].kv == a.gpus[0].kv);
  CHECK_FALSE(parse_options({"--sim-compute-scale", "0"}));
  CHECK_FALSE(parse_options({"--sim-compute-scale", "x"}));
}
