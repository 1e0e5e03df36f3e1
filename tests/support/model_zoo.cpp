#include "tests/support/model_zoo.h"

#include <functional>
#include <stdexcept>
#include <utility>

#include "tests/support/model_zoo_layouts.h"

namespace ask::testing::zoo {
namespace {

using gguf::ModelBuilder;
using gguf::QuantFacts;
using gguf::Vocab;
using layout::Block;
using layout::Common;
using layout::Experts;

// A model ready to be typed by a quant mix.
struct Built {
  ModelBuilder model;
  QuantFacts facts;
};

struct Recipe {
  ZooEntry entry;
  std::string default_variant;
  std::function<Built()> build;
};

// Tokenizers. Vocabulary sizes are the real ones (the token list length of the published
// GGUF, padding included); merge counts are the real ones where known, else close to them
// (they only change the header's size). Special-token ids are those of config.json.
Vocab llama3_vocab() {
  return {Vocab::Kind::bpe, 128256, 280147, "llama-bpe", 128000, 128009};
}
Vocab qwen2_vocab(std::uint32_t n_tokens) {
  return {Vocab::Kind::bpe, n_tokens, 151387, "qwen2", 151643, 151645};
}
Vocab tekken_vocab() {
  return {Vocab::Kind::bpe, 131072, 269443, "tekken", 1, 2};
}
Vocab spm_vocab(std::uint32_t n_tokens) {
  return {Vocab::Kind::spm, n_tokens, 0, "", 1, 2};
}

QuantFacts facts(const Common& c, std::uint32_t n_expert = 0) {
  return {c.n_layer, n_expert, false, c.n_head / c.n_head_kv};
}

// The models. clang-format would put each designated initializer on a line of its own.
// clang-format off

// Llama 3.1: rope type "llama3" becomes a rope_freqs tensor (n_rot / 2 factors), no keys.
Built llama31(const char* name, Common c) {
  ModelBuilder b("llama", name);
  layout::common_hparams(b, c);
  b.u32("vocab_size", 128256).vocab(llama3_vocab());
  layout::io_tensors(b, c, 128256);
  b.tensor("rope_freqs.weight", {c.n_rot / 2});
  layout::dense_blocks(b, c, {});
  return {std::move(b), facts(c)};
}

// meta-llama/Llama-3.1-8B-Instruct config.json.
Built llama31_8b() {
  return llama31("Llama 3.1 8B Instruct", {.n_layer = 32, .n_embd = 4096, .n_head = 32,
                                           .n_head_kv = 8, .n_ff = 14336, .n_ctx_train = 131072,
                                           .rope_base = 500000.0f, .n_rot = 128});
}

// meta-llama/Llama-3.1-70B-Instruct config.json; llama-quantize gives its attn_v Q5_K.
Built llama31_70b() {
  Built m = llama31("Llama 3.1 70B Instruct", {.n_layer = 80, .n_embd = 8192, .n_head = 64,
                                               .n_head_kv = 8, .n_ff = 28672,
                                               .n_ctx_train = 131072, .rope_base = 500000.0f,
                                               .n_rot = 128});
  m.facts.is_70b = true;
  return m;
}

// mistralai/Mistral-7B-Instruct-v0.3 config.json (SentencePiece vocabulary of 32768).
Built mistral_7b() {
  const Common c{.n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8, .n_ff = 14336,
                 .n_ctx_train = 32768, .rope_base = 1000000.0f, .n_rot = 128};
  ModelBuilder b("llama", "Mistral 7B Instruct v0.3");
  layout::common_hparams(b, c);
  b.u32("vocab_size", 32768).vocab(spm_vocab(32768));
  layout::io_tensors(b, c, 32768);
  layout::dense_blocks(b, c, {});
  return {std::move(b), facts(c)};
}

// mistralai/Mistral-Small-24B-Instruct-2501 config.json: llama arch, head_dim 128 (not
// 5120 / 32), Tekken vocabulary.
Built mistral_small_24b() {
  const Common c{.n_layer = 40, .n_embd = 5120, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
                 .head_dim_key = true, .n_ff = 32768, .n_ctx_train = 32768,
                 .rope_base = 100000000.0f, .n_rot = 128};
  ModelBuilder b("llama", "Mistral Small 24B Instruct 2501");
  layout::common_hparams(b, c);
  b.u32("vocab_size", 131072).vocab(tekken_vocab());
  layout::io_tensors(b, c, 131072);
  layout::dense_blocks(b, c, {});
  return {std::move(b), facts(c)};
}

// mistralai/Ministral-3-3B-Instruct-2512 text_config: yarn x16 from 16384, attention
// temperature (llama_4_scaling_beta), tied embeddings (conversion/mistral3.py).
Built ministral3_3b() {
  const Common c{.n_layer = 26, .n_embd = 3072, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
                 .head_dim_key = true, .n_ff = 9216, .n_ctx_train = 262144,
                 .rope_base = 1000000.0f, .n_rot = 128, .tied = true};
  ModelBuilder b("mistral3", "Ministral 3 3B Instruct 2512");
  layout::common_hparams(b, c);
  b.str("rope.scaling.type", "yarn").f32("rope.scaling.factor", 16.0f);
  b.u32("rope.scaling.original_context_length", 16384);
  b.f32("rope.scaling.yarn_beta_fast", 32.0f).f32("rope.scaling.yarn_beta_slow", 1.0f);
  b.f32("rope.scaling.yarn_log_multiplier", 1.0f).f32("attention.temperature_scale", 0.1f);
  b.u32("vocab_size", 131072).vocab(tekken_vocab());
  layout::io_tensors(b, c, 131072);
  layout::dense_blocks(b, c, {});
  return {std::move(b), facts(c)};
}

// Qwen/Qwen2.5-7B-Instruct config.json: q/k/v biases; 152064 tokens (padded vocabulary).
Built qwen25_7b() {
  const Common c{.n_layer = 28, .n_embd = 3584, .n_head = 28, .n_head_kv = 4, .n_ff = 18944,
                 .n_ctx_train = 32768, .rope_base = 1000000.0f, .rms_eps = 1e-6f};
  ModelBuilder b("qwen2", "Qwen2.5 7B Instruct");
  layout::common_hparams(b, c);
  b.vocab(qwen2_vocab(152064));
  layout::io_tensors(b, c, 152064);
  layout::dense_blocks(b, c, {.qkv_bias = true});
  return {std::move(b), facts(c)};
}

// Qwen/Qwen3-8B config.json: head_dim 128, q/k norms.
Built qwen3_8b() {
  const Common c{.n_layer = 36, .n_embd = 4096, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
                 .head_dim_key = true, .n_ff = 12288, .n_ctx_train = 40960,
                 .rope_base = 1000000.0f, .rms_eps = 1e-6f};
  ModelBuilder b("qwen3", "Qwen3 8B");
  layout::common_hparams(b, c);
  b.vocab(qwen2_vocab(151936));
  layout::io_tensors(b, c, 151936);
  layout::dense_blocks(b, c, {.qk_norm = true});
  return {std::move(b), facts(c)};
}

// Qwen/Qwen3-30B-A3B config.json: 128 experts, 8 used, moe_intermediate_size 768.
Built qwen3_30b_a3b() {
  const Common c{.n_layer = 48, .n_embd = 2048, .n_head = 32, .n_head_kv = 4, .head_dim = 128,
                 .head_dim_key = true, .n_ff = 6144, .n_ctx_train = 40960,
                 .rope_base = 1000000.0f, .rms_eps = 1e-6f};
  const Experts e{.n_expert = 128, .n_expert_used = 8, .n_ff_exp = 768};
  ModelBuilder b("qwen3moe", "Qwen3 30B A3B");
  layout::common_hparams(b, c);
  layout::expert_hparams(b, e);
  b.vocab(qwen2_vocab(151936));
  layout::io_tensors(b, c, 151936);
  layout::qwen3moe_blocks(b, c, e);
  return {std::move(b), facts(c, e.n_expert)};
}

// google/gemma-7b-it config.json: head_dim 256, MHA, output tied to token_embd.
Built gemma_7b() {
  const Common c{.n_layer = 28, .n_embd = 3072, .n_head = 16, .n_head_kv = 16, .head_dim = 256,
                 .head_dim_key = true, .n_ff = 24576, .n_ctx_train = 8192, .rms_eps = 1e-6f,
                 .tied = true};
  ModelBuilder b("gemma", "Gemma 7B IT");
  layout::common_hparams(b, c);
  b.vocab(spm_vocab(256000));
  layout::io_tensors(b, c, 256000);
  layout::dense_blocks(b, c, {});
  return {std::move(b), facts(c)};
}

// google/gemma-2-9b-it config.json: every other layer (0, 2, ...) a 4096-token window,
// logit soft-capping 50 / 30, post-norms.
Built gemma2_9b() {
  const Common c{.n_layer = 42, .n_embd = 3584, .n_head = 16, .n_head_kv = 8, .head_dim = 256,
                 .head_dim_key = true, .n_ff = 14336, .n_ctx_train = 8192, .rms_eps = 1e-6f,
                 .tied = true};
  ModelBuilder b("gemma2", "Gemma 2 9B IT");
  layout::common_hparams(b, c);
  b.f32("attn_logit_softcapping", 50.0f).f32("final_logit_softcapping", 30.0f);
  b.u32("attention.sliding_window", 4096);
  b.vocab(spm_vocab(256000));
  layout::io_tensors(b, c, 256000);
  layout::dense_blocks(b, c, {.post_norms = true});
  return {std::move(b), facts(c)};
}

// Gemma 3: a 1024-token window on five layers of six (llama.cpp's built-in period 6, no
// pattern key in converted files), linear rope x8 on the global layers, local base 10000.
Built gemma3(const char* name, Common c) {
  c.n_ctx_train = 131072, c.rope_base = 1000000.0f, c.rms_eps = 1e-6f, c.tied = true;
  c.head_dim_key = true;
  ModelBuilder b("gemma3", name);
  layout::common_hparams(b, c);
  b.f32("rope.freq_base_swa", 10000.0f);
  b.str("rope.scaling.type", "linear").f32("rope.scaling.factor", 8.0f);
  b.u32("attention.sliding_window", 1024);
  b.vocab(spm_vocab(262208));
  layout::io_tensors(b, c, 262208);
  layout::dense_blocks(b, c, {.qk_norm = true, .post_norms = true});
  return {std::move(b), facts(c)};
}

// google/gemma-3-12b-it text_config.
Built gemma3_12b() {
  return gemma3("Gemma 3 12B IT", {.n_layer = 48, .n_embd = 3840, .n_head = 16, .n_head_kv = 8,
                                   .head_dim = 256, .n_ff = 15360});
}

// google/gemma-3-27b-it text_config.
Built gemma3_27b() {
  return gemma3("Gemma 3 27B IT", {.n_layer = 62, .n_embd = 5376, .n_head = 32, .n_head_kv = 16,
                                   .head_dim = 128, .n_ff = 21504});
}

// openai/gpt-oss-20b config.json: 24 layers alternating a 128-token window and full
// attention, 32 experts (4 used) with biases, attention sinks, yarn x32 from 4096; o200k
// vocabulary (201088 tokens).
Built gpt_oss_20b() {
  const Common c{.n_layer = 24, .n_embd = 2880, .n_head = 64, .n_head_kv = 8, .head_dim = 64,
                 .head_dim_key = true, .n_ff = 2880, .n_ctx_train = 131072, .rope_base = 150000.0f};
  const Experts e{.n_expert = 32, .n_expert_used = 4, .n_ff_exp = 2880};
  ModelBuilder b("gpt-oss", "gpt-oss 20b");
  layout::common_hparams(b, c);
  layout::expert_hparams(b, e);
  b.u32("attention.sliding_window", 128);
  b.str("rope.scaling.type", "yarn").f32("rope.scaling.factor", 32.0f);
  b.u32("rope.scaling.original_context_length", 4096);
  b.vocab({Vocab::Kind::bpe, 201088, 446189, "gpt-4o", 199998, 200002});
  layout::io_tensors(b, c, 201088);
  layout::gpt_oss_blocks(b, c, e);
  return {std::move(b), facts(c, e.n_expert)};
}

// deepseek-ai/DeepSeek-V2-Lite-Chat config.json: MLA without a q LoRA, 64 routed experts (6
// used) and 2 shared, first layer dense, yarn x40 from 4096 (mscale_all_dim 0.707).
Built deepseek_v2_lite() {
  const Common c{.n_layer = 27, .n_embd = 2048, .n_head = 16, .n_head_kv = 1, .n_ff = 10944,
                 .n_ctx_train = 163840, .rms_eps = 1e-6f};
  const Experts e{.n_expert = 64, .n_expert_used = 6, .n_ff_exp = 1408};
  const layout::Mla m{.kv_lora_rank = 512, .qk_nope_dim = 128, .qk_rope_dim = 64,
                      .v_head_dim = 128, .n_dense_lead = 1, .n_expert_shared = 2};
  ModelBuilder b("deepseek2", "DeepSeek V2 Lite Chat");
  layout::common_hparams(b, c);
  layout::expert_hparams(b, e);
  layout::deepseek2_hparams(b, m);
  b.f32("expert_weights_scale", 1.0f).u32("expert_gating_func", 1); // softmax
  b.str("rope.scaling.type", "yarn").f32("rope.scaling.factor", 40.0f);
  b.u32("rope.scaling.original_context_length", 4096);
  b.f32("rope.scaling.yarn_log_multiplier", 0.0707f);
  b.u32("vocab_size", 102400);
  b.vocab({Vocab::Kind::bpe, 102400, 99757, "deepseek-llm", 100000, 100001});
  layout::io_tensors(b, c, 102400);
  layout::deepseek2_blocks(b, c, e, m);
  return {std::move(b), facts(c, e.n_expert)};
}

// deepseek-ai/DeepSeek-V3 config.json (671B): q LoRA 1536, 256 routed experts (8 used, in
// 8 groups of which 4 are used, sigmoid router with a bias) and 1 shared, 3 dense layers;
// the MTP layer is left out as the converter does by default.
Built deepseek_v3() {
  const Common c{.n_layer = 61, .n_embd = 7168, .n_head = 128, .n_head_kv = 1, .n_ff = 18432,
                 .n_ctx_train = 163840, .rms_eps = 1e-6f};
  const Experts e{.n_expert = 256, .n_expert_used = 8, .n_ff_exp = 2048};
  const layout::Mla m{.q_lora_rank = 1536, .kv_lora_rank = 512, .qk_nope_dim = 128,
                      .qk_rope_dim = 64, .v_head_dim = 128, .n_dense_lead = 3,
                      .n_expert_shared = 1, .exp_probs_bias = true};
  ModelBuilder b("deepseek2", "DeepSeek V3");
  layout::common_hparams(b, c);
  layout::expert_hparams(b, e);
  layout::deepseek2_hparams(b, m);
  b.u32("expert_group_count", 8).u32("expert_group_used_count", 4);
  b.f32("expert_weights_scale", 2.5f).boolean("expert_weights_norm", true);
  b.u32("expert_gating_func", 2); // sigmoid
  b.str("rope.scaling.type", "yarn").f32("rope.scaling.factor", 40.0f);
  b.u32("rope.scaling.original_context_length", 4096);
  b.f32("rope.scaling.yarn_log_multiplier", 0.1f);
  b.u32("vocab_size", 129280);
  b.vocab({Vocab::Kind::bpe, 129280, 127741, "deepseek-v3", 0, 1});
  layout::io_tensors(b, c, 129280);
  layout::deepseek2_blocks(b, c, e, m);
  return {std::move(b), facts(c, e.n_expert)};
}

// THUDM/GLM-4-9B-0414 config.json: 2 KV heads, q/k/v biases, half-rotary (64 of 128),
// fused gate+up, post-norms.
Built glm4_9b() {
  const Common c{.n_layer = 40, .n_embd = 4096, .n_head = 32, .n_head_kv = 2, .head_dim = 128,
                 .head_dim_key = true, .n_ff = 13696, .n_ctx_train = 32768, .n_rot = 64};
  ModelBuilder b("glm4", "GLM-4 9B 0414");
  layout::common_hparams(b, c);
  b.vocab({Vocab::Kind::bpe, 151552, 318088, "glm4", 151331, 151329});
  layout::io_tensors(b, c, 151552);
  layout::dense_blocks(b, c, {.qkv_bias = true, .post_norms = true, .fused_up = true});
  return {std::move(b), facts(c)};
}

// microsoft/Phi-3-mini-4k-instruct config.json: fused qkv and gate+up, MHA; its
// sliding_window 2047 is written but llama.cpp disables SWA for phi3.
Built phi3_mini() {
  const Common c{.n_layer = 32, .n_embd = 3072, .n_head = 32, .n_head_kv = 32, .n_ff = 8192,
                 .n_ctx_train = 4096, .n_rot = 96};
  ModelBuilder b("phi3", "Phi 3 Mini 4k Instruct");
  layout::common_hparams(b, c);
  b.u32("rope.scaling.original_context_length", 4096).u32("attention.sliding_window", 2047);
  b.vocab(spm_vocab(32064));
  layout::io_tensors(b, c, 32064);
  layout::dense_blocks(b, c, {.fused_qkv = true, .fused_up = true});
  return {std::move(b), facts(c)};
}

// Qwen/Qwen3-Next-80B-A3B-Instruct config.json: 36 gated delta-net layers (16 key heads,
// 32 value heads of 128) and 12 gated attention layers (every 4th), 512 experts (10 used)
// plus a shared one, partial rotary 0.25 of 256; no MTP layer.
Built qwen3_next() {
  const Common c{.n_layer = 48, .n_embd = 2048, .n_head = 16, .n_head_kv = 2, .head_dim = 256,
                 .head_dim_key = true, .n_ff = 5120, .n_ctx_train = 262144,
                 .rope_base = 10000000.0f, .rms_eps = 1e-6f, .n_rot = 64};
  const Experts e{.n_expert = 512, .n_expert_used = 10, .n_ff_exp = 512};
  const layout::DeltaNet n{.head_k_dim = 128, .n_k_heads = 16, .n_v_heads = 32, .n_ff_shexp = 512};
  ModelBuilder b("qwen3next", "Qwen3 Next 80B A3B Instruct");
  layout::common_hparams(b, c);
  layout::expert_hparams(b, e);
  layout::delta_net_hparams(b, n);
  b.vocab(qwen2_vocab(151936));
  layout::io_tensors(b, c, 151936);
  layout::delta_net_blocks(b, c, e, n);
  return {std::move(b), facts(c, e.n_expert)};
}

// Qwen/Qwen3.5-35B-A3B (config as in THUDM/slime scripts/models/qwen3.5-35B-A3B.sh and the
// model card: 40 layers, 30 delta-net + 10 attention, 256 experts, 8 used + 1 shared,
// 248320 tokens); interleaved M-RoPE sections [11, 11, 10, 0]; no MTP layer, as in the
// published 733-tensor GGUF.
Built qwen35_35b_a3b() {
  const Common c{.n_layer = 40, .n_embd = 2048, .n_head = 16, .n_head_kv = 2, .head_dim = 256,
                 .head_dim_key = true, .n_ctx_train = 262144, .rope_base = 10000000.0f,
                 .rms_eps = 1e-6f, .n_rot = 64};
  const Experts e{.n_expert = 256, .n_expert_used = 8, .n_ff_exp = 512};
  const layout::DeltaNet n{.head_k_dim = 128, .n_k_heads = 16, .n_v_heads = 32, .n_ff_shexp = 512,
                           .split_beta_alpha = true};
  ModelBuilder b("qwen35moe", "Qwen3.5 35B A3B");
  layout::common_hparams(b, c);
  layout::expert_hparams(b, e);
  layout::delta_net_hparams(b, n);
  b.i32s("rope.dimension_sections", {11, 11, 10, 0});
  b.vocab({Vocab::Kind::bpe, 248320, 247587, "qwen35", 248044, 248046});
  layout::io_tensors(b, c, 248320);
  layout::delta_net_blocks(b, c, e, n);
  return {std::move(b), facts(c, e.n_expert)};
}

// clang-format on

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> k_recipes = {
      {{"llama-3.1-8b", "llama", "Llama 3.1 8B Instruct: 32 layers, GQA 32/8, 128k ctx",
        "meta-llama/Llama-3.1-8B-Instruct config.json"},
       "q4_k_m",
       llama31_8b},
      {{"llama-3.1-70b", "llama", "Llama 3.1 70B Instruct: 80 layers, GQA 64/8",
        "meta-llama/Llama-3.1-70B-Instruct config.json"},
       "q4_k_m",
       llama31_70b},
      {{"mistral-7b-v0.3", "llama", "Mistral 7B Instruct v0.3: 32 layers, 32768-token SPM vocab",
        "mistralai/Mistral-7B-Instruct-v0.3 config.json"},
       "q4_k_m",
       mistral_7b},
      {{"mistral-small-24b", "llama", "Mistral Small 24B 2501: 40 layers, head_dim 128, Tekken",
        "mistralai/Mistral-Small-24B-Instruct-2501 config.json"},
       "q4_k_m",
       mistral_small_24b},
      {{"ministral-3-3b", "mistral3", "Ministral 3 3B 2512: yarn x16, attention temperature",
        "mistralai/Ministral-3-3B-Instruct-2512 config.json (text_config)"},
       "q4_k_m",
       ministral3_3b},
      {{"qwen2.5-7b", "qwen2", "Qwen2.5 7B Instruct: q/k/v biases, 152064-token vocab",
        "Qwen/Qwen2.5-7B-Instruct config.json"},
       "q4_k_m",
       qwen25_7b},
      {{"qwen3-8b", "qwen3", "Qwen3 8B: 36 layers, q/k norms", "Qwen/Qwen3-8B config.json"},
       "q4_k_m",
       qwen3_8b},
      {{"qwen3-30b-a3b", "qwen3moe", "Qwen3 30B A3B: 128 experts, 8 used",
        "Qwen/Qwen3-30B-A3B config.json"},
       "q4_k_m",
       qwen3_30b_a3b},
      {{"gemma-7b", "gemma", "Gemma 7B IT: MHA 16 heads of 256, tied output",
        "google/gemma-7b-it config.json"},
       "q4_k_m",
       gemma_7b},
      {{"gemma-2-9b", "gemma2", "Gemma 2 9B IT: 4096-token window on every other layer",
        "google/gemma-2-9b-it config.json"},
       "q4_k_m",
       gemma2_9b},
      {{"gemma-3-12b", "gemma3", "Gemma 3 12B IT: 1024-token window on 5 layers of 6",
        "google/gemma-3-12b-it config.json (text_config)"},
       "q4_k_m",
       gemma3_12b},
      {{"gemma-3-27b", "gemma3", "Gemma 3 27B IT: 1024-token window on 5 layers of 6",
        "google/gemma-3-27b-it config.json (text_config)"},
       "q4_k_m",
       gemma3_27b},
      {{"gpt-oss-20b", "gpt-oss", "gpt-oss 20b: MXFP4 experts (32, 4 used), sinks, iSWA 128",
        "openai/gpt-oss-20b config.json"},
       "mxfp4_moe",
       gpt_oss_20b},
      {{"deepseek-v2-lite", "deepseek2", "DeepSeek V2 Lite: MLA (kv_lora 512), 64+2 experts",
        "deepseek-ai/DeepSeek-V2-Lite-Chat config.json"},
       "q4_k_m",
       deepseek_v2_lite},
      {{"deepseek-v3", "deepseek2", "DeepSeek V3 671B: MLA, 256+1 experts, 61 layers",
        "deepseek-ai/DeepSeek-V3 config.json"},
       "q4_k_m",
       deepseek_v3},
      {{"glm-4-9b", "glm4", "GLM-4 9B 0414: 2 KV heads, half rotary, post-norms",
        "THUDM/GLM-4-9B-0414 config.json"},
       "q4_k_m",
       glm4_9b},
      {{"phi-3-mini-4k", "phi3", "Phi 3 Mini 4k: fused qkv, MHA 32 heads",
        "microsoft/Phi-3-mini-4k-instruct config.json"},
       "q4_k_m",
       phi3_mini},
      {{"qwen3-next-80b-a3b", "qwen3next",
        "Qwen3 Next 80B A3B: 36 delta-net + 12 attention "
        "layers, 512 experts",
        "Qwen/Qwen3-Next-80B-A3B-Instruct config.json"},
       "q4_k_m",
       qwen3_next},
      {{"qwen3.5-35b-a3b", "qwen35moe",
        "Qwen3.5 35B A3B: 30 delta-net + 10 attention layers, "
        "256 experts",
        "Qwen/Qwen3.5-35B-A3B (THUDM/slime scripts/models/qwen3.5-35B-A3B.sh, model card)"},
       "q4_k_m",
       qwen35_35b_a3b},
  };
  return k_recipes;
}

const Recipe* find_recipe(std::string_view id) {
  for (const Recipe& r : recipes()) {
    if (r.entry.id == id) {
      return &r;
    }
  }
  return nullptr;
}

} // namespace

const std::vector<ZooEntry>& zoo_entries() {
  static const std::vector<ZooEntry> k_entries = [] {
    std::vector<ZooEntry> out;
    for (const Recipe& r : recipes()) {
      out.push_back(r.entry);
    }
    return out;
  }();
  return k_entries;
}

const ZooEntry* find_entry(std::string_view id) {
  const Recipe* r = find_recipe(id);
  return r ? &r->entry : nullptr;
}

std::vector<std::string> variants() {
  std::vector<std::string> out;
  for (const gguf::FileType& ft : gguf::file_types()) {
    out.emplace_back(ft.name);
  }
  return out;
}

std::string default_variant(std::string_view id) {
  const Recipe* r = find_recipe(id);
  return r ? r->default_variant : std::string();
}

core::Result<gguf::Header> build(std::string_view id, std::string_view variant) {
  const Recipe* r = find_recipe(id);
  if (r == nullptr) {
    return core::fail(core::Error::not_found("model zoo: no entry " + std::string(id)));
  }
  const gguf::FileType* ft = gguf::file_type(variant.empty() ? r->default_variant : variant);
  if (ft == nullptr) {
    return core::fail(core::Error::not_found("model zoo: no variant " + std::string(variant)));
  }
  const Built m = r->build();
  try {
    return m.model.finish(*ft, m.facts);
  } catch (const std::invalid_argument& e) {
    return core::fail(
        core::Error::bad_request(std::string(id) + " " + std::string(ft->name) + ": " + e.what()));
  }
}

std::string file_name(std::string_view id, std::string_view variant) {
  std::string out(id);
  if (!variant.empty() && variant != default_variant(id)) {
    out += "-" + std::string(variant);
  }
  return out + ".gguf";
}

core::Result<void> write_sparse(std::string_view id, std::string_view variant,
                                const std::string& path) {
  auto h = build(id, variant);
  if (!h) {
    return core::fail(std::move(h.error()));
  }
  std::string error;
  if (!gguf::write_sparse(*h, path, error)) {
    return core::fail(core::Error::internal(error));
  }
  return {};
}

core::Result<core::gguf::SplitModel> in_memory(std::string_view id, std::string_view variant) {
  auto h = build(id, variant);
  if (!h) {
    return core::fail(std::move(h.error()));
  }
  auto f = core::gguf::parse(h->bytes, h->file_size);
  if (!f) {
    return core::fail(std::move(f.error()));
  }
  core::gguf::SplitModel m;
  m.paths.emplace_back(file_name(id, variant));
  m.parts.push_back(std::move(*f));
  return m;
}

} // namespace ask::testing::zoo
