#include "router/server_args.h"

#include <doctest/doctest.h>

#include <algorithm>

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

TEST_CASE("server_args: a draft model runs as draft-simple; MTP as draft-mtp without -md") {
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

TEST_CASE("shell_quote: plain words stay, the rest is single-quoted") {
  CHECK(shell_quote({"-m", "/a b/c.gguf", "it's", ""}) == "-m '/a b/c.gguf' 'it'\\''s' ''");
  CHECK(shell_quote({"CUDA0,CUDA1", "--tensor-split", "20,13"}) == "CUDA0,CUDA1 --tensor-split 20,13");
}

} // namespace
} // namespace ask::router
