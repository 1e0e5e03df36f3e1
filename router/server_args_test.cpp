#include "router/server_args.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "config/llama_args.h"

namespace ask::router {
namespace {

std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    out += (out.empty() ? "" : " ") + a;
  }
  return out;
}

Plan two_gpu_plan() {
  Plan p;
  p.api = config::GpuApi::cuda;
  p.output_device = "CUDA1";
  p.args = {"--device", "CUDA0,CUDA1", "-ngl", "33", "--split-mode", "layer", "--tensor-split",
            "20,13"};
  return p;
}

TEST_CASE("server_args: the estimate's settings, then the plan's devices") {
  EstimateInput in;
  in.parallel = 4;
  in.cache_type_k = "q8_0";
  in.cache_type_v = "q4_0";
  Estimate est;
  est.n_ctx = 32768;
  CHECK(joined(server_args({"/m/a.gguf", "", ""}, in, est, two_gpu_plan())) ==
        "-m /m/a.gguf -c 32768 -np 4 -ctk q8_0 -ctv q4_0 -fa on --device CUDA0,CUDA1 -ngl 33 "
        "--split-mode layer --tensor-split 20,13");
  in.flash_attn = false;
  in.kv_unified = true;
  in.n_cpu_moe = 12;
  const std::string s = joined(server_args({"/m/a.gguf", "", ""}, in, est, two_gpu_plan()));
  CHECK(s.find("-fa off --kv-unified --n-cpu-moe 12 --device") != std::string::npos);
}

TEST_CASE("server_args: draft and projector go on the output device, where they were charged") {
  EstimateInput in;
  in.cache_type_k = "q8_0";
  in.cache_type_v = "q8_0";
  Estimate est;
  est.n_ctx = 8192;
  const std::string s =
      joined(server_args({"/m/big.gguf", "/m/small.gguf", "/m/mmproj.gguf"}, in, est, two_gpu_plan()));
  CHECK(s.find("-md /m/small.gguf -devd CUDA1 -ngld 999 -ctkd q8_0 -ctvd q8_0") !=
        std::string::npos);
  CHECK(s.find("--mmproj /m/mmproj.gguf -mmdev CUDA1") != std::string::npos);

  Plan cpu;
  cpu.api = config::GpuApi::cpu;
  cpu.output_device = "none";
  cpu.args = {"--device", "none", "-ngl", "0"};
  const std::string c = joined(server_args({"/m/big.gguf", "/m/small.gguf", "/m/mmproj.gguf"}, in,
                                           est, cpu));
  CHECK(c.find("-devd none -ngld 0") != std::string::npos);
  CHECK(c.find("-mmdev none") != std::string::npos);
}

TEST_CASE("server_args: a draft model runs as draft-simple - MTP as draft-mtp without -md") {
  EstimateInput in;
  in.cache_type_k = "q8_0";
  in.cache_type_v = "q4_0";
  Estimate est;
  est.n_ctx = 8192;
  // Explicit: a draft whose last layer has NextN tensors would be taken for an MTP head.
  const std::string drafted = joined(server_args({"/m/big.gguf", "/m/small.gguf", ""}, in, est,
                                                 two_gpu_plan()));
  CHECK(drafted.find("--spec-type draft-simple -md /m/small.gguf -devd CUDA1") !=
        std::string::npos);
  CHECK(drafted.find("draft-mtp") == std::string::npos);
  in.mtp = true;
  const std::string mtp = joined(server_args({"/m/big.gguf", "", ""}, in, est, two_gpu_plan()));
  CHECK(mtp.find("-fa on --spec-type draft-mtp -ctkd q8_0 -ctvd q4_0 --device CUDA0,CUDA1") !=
        std::string::npos);
  CHECK(mtp.find("-md ") == std::string::npos);
  CHECK(mtp.find("draft-simple") == std::string::npos);
}

TEST_CASE("server_args: batch sizes, SWA, KV offload, mmap and -ot only where not the default") {
  EstimateInput in;
  Estimate est;
  est.n_ctx = 4096;
  const auto args = [&] { return joined(server_args({"/m/a.gguf", "", ""}, in, est, Plan{})); };
  CHECK(args() == "-m /m/a.gguf -c 4096 -np 1 -ctk f16 -ctv f16 -fa on");
  in.n_batch = 4096;
  in.n_ubatch = 1024;
  in.swa_full = true;
  in.kv_offload = false;
  in.mmap = false;
  in.n_cpu_moe = 2;
  in.overrides = {{"blk\\.1\\.ffn_.*", "CPU"}, {"exps", "CPU"}};
  CHECK(args() == "-m /m/a.gguf -c 4096 -np 1 -ctk f16 -ctv f16 -fa on -b 4096 -ub 1024 "
                  "--swa-full -nkvo --no-mmap --n-cpu-moe 2 -ot blk\\.1\\.ffn_.*=CPU,exps=CPU");
  in.n_batch = 2048;
  in.n_ubatch = 512;
  CHECK(args().find(" -b ") == std::string::npos);
  CHECK(args().find(" -ub ") == std::string::npos);
}

TEST_CASE("server_args: embedding and rerank models start with the flag that opens their door") {
  EstimateInput in;
  Estimate est;
  est.n_ctx = 4096;
  const auto args = [&] { return joined(server_args({"/m/e.gguf", "", ""}, in, est, two_gpu_plan())); };
  CHECK(args().find("--embeddings") == std::string::npos);
  CHECK(args().find("--reranking") == std::string::npos);
  in.embeddings = true;
  CHECK(args() == "-m /m/e.gguf -c 4096 -np 1 -ctk f16 -ctv f16 -fa on --embeddings --device "
                  "CUDA0,CUDA1 -ngl 33 --split-mode layer --tensor-split 20,13");
  // --reranking implies --embeddings (with rank pooling): one flag, not both.
  in.reranking = true;
  CHECK(args().find(" --reranking --device") != std::string::npos);
  CHECK(args().find("--embeddings") == std::string::npos);
  in.embeddings = false;
  CHECK(args().find(" --reranking --device") != std::string::npos);
}

namespace {

// The settings an EstimateInput carries that a command line can say (not the draft, the
// projector's bytes, -ngl of the plan, the build or a correction).
void check_same_settings(const EstimateInput& got, const EstimateInput& want) {
  CHECK(got.ctx == want.ctx);
  CHECK(got.parallel == want.parallel);
  CHECK(got.kv_unified == want.kv_unified);
  CHECK(got.cache_type_k == want.cache_type_k);
  CHECK(got.cache_type_v == want.cache_type_v);
  CHECK(got.flash_attn == want.flash_attn);
  CHECK(got.n_batch == want.n_batch);
  CHECK(got.n_ubatch == want.n_ubatch);
  CHECK(got.swa_full == want.swa_full);
  CHECK(got.kv_offload == want.kv_offload);
  CHECK(got.mmap == want.mmap);
  CHECK(got.n_cpu_moe == want.n_cpu_moe);
  CHECK(got.overrides == want.overrides);
}

} // namespace

// What runs is what was estimated: for every memory setting, the command line askd writes
// (its own arguments, the plan's, then the model's extra_args), read back as llama-server
// reads it, gives the estimator the same input.
TEST_CASE("server_args: every memory setting survives the command line, read back") {
  using config::ManagedSpec;
  std::vector<std::pair<std::string, ManagedSpec>> specs;
  const auto with = [&](std::string name, auto change) {
    ManagedSpec s;
    change(s);
    specs.emplace_back(std::move(name), std::move(s));
  };
  with("llama-server's defaults: automatic slots, unified KV", [](ManagedSpec&) {});
  with("slots given: a cache per slot", [](ManagedSpec& s) { s.parallel = 2; });
  with("slots given, unified", [](ManagedSpec& s) {
    s.parallel = 2;
    s.kv_unified = true;
  });
  with("automatic slots, not unified", [](ManagedSpec& s) { s.kv_unified = false; });
  with("context", [](ManagedSpec& s) { s.ctx = 8192; });
  with("the model's own context", [](ManagedSpec& s) { s.ctx = 0; });
  with("batch sizes", [](ManagedSpec& s) {
    s.batch = 4096;
    s.ubatch = 1024;
  });
  with("batch sizes at their defaults", [](ManagedSpec& s) {
    s.batch = 2048;
    s.ubatch = 512;
  });
  with("ubatch above batch", [](ManagedSpec& s) { s.ubatch = 4096; });
  with("cache types", [](ManagedSpec& s) { s.kv_cache_type = {"q8_0", "q4_0"}; });
  with("flash attention off", [](ManagedSpec& s) { s.flash_attn = config::FlashAttn::off; });
  with("flash attention on", [](ManagedSpec& s) { s.flash_attn = config::FlashAttn::on; });
  with("full SWA cache", [](ManagedSpec& s) { s.swa_full = true; });
  with("KV cache in host memory", [](ManagedSpec& s) { s.kv_offload = false; });
  with("KV offload said on", [](ManagedSpec& s) { s.kv_offload = true; });
  with("no mmap", [](ManagedSpec& s) { s.mmap = false; });
  with("mlock in extra_args", [](ManagedSpec& s) {
    s.mmap = false;
    s.extra_args = {"--mlock"};
  });
  with("experts of the first layers on the CPU", [](ManagedSpec& s) { s.n_cpu_moe = 5; });
  with("tensor overrides", [](ManagedSpec& s) {
    s.override_tensors = {{"blk\\.(0|1)\\.ffn_.*", "CPU"},
                          {std::string(config::k_cpu_moe_pattern), "CPU"}};
  });
  with("everything and unread extra_args", [](ManagedSpec& s) {
    s.ctx = 16384;
    s.parallel = 3;
    s.kv_unified = true;
    s.batch = 1024;
    s.ubatch = 256;
    s.kv_cache_type = {"q8_0", "q8_0"};
    s.swa_full = true;
    s.kv_offload = false;
    s.mmap = false;
    s.n_cpu_moe = 1;
    s.override_tensors = {{"output", "CPU"}};
    s.extra_args = {"--jinja", "-t", "8", "--pooling", "mean"};
  });
  for (const auto& [name, spec] : specs) {
    CAPTURE(name);
    const EstimateInput in = estimate_input(spec);
    Estimate est;
    est.n_ctx = in.ctx == 0 ? 4096 : in.ctx; // the trained context, as the estimate resolves it
    for (const Plan& plan : {Plan{}, two_gpu_plan()}) {
      std::vector<std::string> argv = server_args({"/m/a.gguf", "", ""}, in, est, plan);
      argv.insert(argv.end(), spec.extra_args.begin(), spec.extra_args.end());
      const config::ParsedLlamaArgs read = config::parse_llama_args(argv);
      for (const config::ArgProblem& p : read.problems) { // the model file and the placement
        CHECK_MESSAGE((argv[p.index] == "-m" || argv[p.index] == "--device" ||
                       argv[p.index] == "-ngl" || argv[p.index] == "--split-mode" ||
                       argv[p.index] == "--tensor-split"),
                      p.message);
      }
      ManagedSpec back;
      back.extra_args = read.rest;
      config::fold_llama_settings(read.settings, back);
      CHECK(back.extra_args == spec.extra_args);
      EstimateInput want = in;
      want.ctx = est.n_ctx;
      check_same_settings(estimate_input(back), want);
    }
  }
}

TEST_CASE("shell_quote: plain words stay, the rest is single-quoted") {
  CHECK(shell_quote({"-m", "/a b/c.gguf", "it's", ""}) == "-m '/a b/c.gguf' 'it'\\''s' ''");
  CHECK(shell_quote({"CUDA0,CUDA1", "--tensor-split", "20,13"}) == "CUDA0,CUDA1 --tensor-split 20,13");
}

} // namespace
} // namespace ask::router
