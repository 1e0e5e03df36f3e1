// compute_sim: the compute buffers the graph model predicts for a GGUF file and llama-server
// settings, printed as llama.cpp logs them. A development tool for comparing the model with
// real startup logs (tests/fixtures/llama-server/grid/); askd plan prints the same figures.
//   compute_sim -m MODEL.gguf -c 4096 -np 1 -ub 512 -fa on -ctk f16 -ctv f16 [-kvu] [--swa-full]

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "router/estimate.h"

int main(int argc, char** argv) {
  CLI::App app{"compute_sim: predicted llama.cpp buffer sizes"};
  std::string path;
  ask::router::EstimateInput in;
  std::uint64_t ctx = 0;
  std::string fa = "on";
  bool kvu = false;
  app.add_option("-m,--model", path)->required();
  app.add_option("-c,--ctx-size", ctx);
  app.add_option("-np,--parallel", in.parallel);
  app.add_option("-ub,--ubatch-size", in.n_ubatch);
  app.add_option("-b,--batch-size", in.n_batch);
  app.add_option("-fa,--flash-attn", fa);
  app.add_option("-ctk,--cache-type-k", in.cache_type_k);
  app.add_option("-ctv,--cache-type-v", in.cache_type_v);
  app.add_flag("-kvu,--kv-unified", kvu);
  app.add_flag("--swa-full", in.swa_full);
  CLI11_PARSE(app, argc, argv);
  in.ctx = ctx;
  in.flash_attn = fa == "on";
  in.kv_unified = kvu;
  in.n_gpu_layers = 0;
  auto model = ask::core::gguf::read_model(path);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().message.c_str());
    return 2;
  }
  auto e = ask::router::estimate(*model, in);
  if (!e) {
    std::fprintf(stderr, "%s\n", e.error().message.c_str());
    return 2;
  }
  fmt::print("n_ctx = {}, n_ctx_seq = {}\n", e->n_ctx, e->n_ctx_seq);
  std::uint64_t kv = 0;
  for (const auto& l : e->layers) {
    kv += l.kv + l.recurrent;
  }
  fmt::print("KV+RS = {:.2f} MiB\n", static_cast<double>(kv) / 1048576.0);
  fmt::print("CPU output buffer size = {:.2f} MiB\n", static_cast<double>(e->output_buffer) / 1048576.0);
  fmt::print("CPU compute buffer size = {:.2f} MiB (compute_output)\n",
             static_cast<double>(e->compute_output) / 1048576.0);
  for (const auto& n : e->notes) {
    fmt::print("note: {}\n", n);
  }
  return 0;
}
