#pragma once
// The metadata keys and tensor lists of each architecture in the model zoo, as llama.cpp
// b10587 reads them: load_arch_hparams / load_arch_tensors in src/models/<arch>.cpp and the
// shared keys in llama_model_base::load_hparams (src/llama-model.cpp). The loader refuses a
// file with a missing, extra or wrongly shaped tensor, so a zoo file that loads in
// llama-server proves its layout. Internal to the zoo (model_zoo.cpp fills in the numbers).

#include <cstdint>
#include <vector>

#include "tests/support/model_builder.h"

namespace ask::testing::zoo::layout {

using gguf::ModelBuilder;

// What every decoder in the zoo has.
struct Common {
  std::uint32_t n_layer = 0;
  std::uint32_t n_embd = 0;
  std::uint32_t n_head = 0;
  std::uint32_t n_head_kv = 0;
  std::uint32_t head_dim = 0; // attention.key_length / value_length
  bool head_dim_key = false;  // write them (the converter does when config.json has head_dim)
  std::uint32_t n_ff = 0;     // 0: no feed_forward_length key
  std::uint32_t n_ctx_train = 0;
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  std::uint32_t n_rot = 0; // rope.dimension_count; 0: none written
  bool tied = false;       // no output.weight: llama.cpp reuses token_embd
};

// context_length, embedding_length, block_count, feed_forward_length, head counts, rope
// base, rms epsilon, and key_length / value_length / rope.dimension_count when set.
void common_hparams(ModelBuilder& b, const Common& c);

// token_embd, output_norm and (unless tied) output.
void io_tensors(ModelBuilder& b, const Common& c, std::uint32_t n_vocab);

// Options of a dense attention + SwiGLU block.
struct Block {
  bool qkv_bias = false;   // attn_q/k/v.bias (qwen2, glm4)
  bool qk_norm = false;    // attn_q_norm / attn_k_norm (qwen3, gemma3)
  bool post_norms = false; // post_attention_norm and post_ffw_norm (gemma2, gemma3, glm4)
  bool fused_qkv = false;  // one attn_qkv (phi3)
  bool fused_up = false;   // ffn_up of 2 n_ff and no ffn_gate (phi3, glm4)
};

// Layer il's attention tensors (norm, q/k/v/output and options).
void attention(ModelBuilder& b, const Common& c, const Block& o, std::uint32_t il);
// Layer il's dense feed-forward tensors (ffn_norm, gate/up/down and options).
void feed_forward(ModelBuilder& b, const Common& c, const Block& o, std::uint32_t il);
// A dense model's blocks: attention and feed_forward for every layer.
void dense_blocks(ModelBuilder& b, const Common& c, const Block& o);

// Routed experts: ffn_gate_inp and stacked gate/up/down experts of n_ff_exp rows.
struct Experts {
  std::uint32_t n_expert = 0;
  std::uint32_t n_expert_used = 0;
  std::uint32_t n_ff_exp = 0;
};
// expert_count, expert_used_count, expert_feed_forward_length.
void expert_hparams(ModelBuilder& b, const Experts& e);
void expert_tensors(ModelBuilder& b, const Common& c, const Experts& e, std::uint32_t il);

// qwen3moe: qwen3 attention (q/k norms) with routed experts in every layer.
void qwen3moe_blocks(ModelBuilder& b, const Common& c, const Experts& e);

// gpt-oss (llama.cpp's openai-moe): biased attention with per-head sinks, 32 experts with
// biases in every layer, alternating sliding-window and full layers.
void gpt_oss_blocks(ModelBuilder& b, const Common& c, const Experts& e);

// deepseek2 with MLA as converted since llama.cpp split wkv_b into attn_k_b / attn_v_b.
struct Mla {
  std::uint32_t q_lora_rank = 0; // 0: a plain attn_q (V2-Lite)
  std::uint32_t kv_lora_rank = 0;
  std::uint32_t qk_nope_dim = 0;
  std::uint32_t qk_rope_dim = 0;
  std::uint32_t v_head_dim = 0;
  std::uint32_t n_dense_lead = 0; // leading dense blocks
  std::uint32_t n_expert_shared = 0;
  bool exp_probs_bias = false; // exp_probs_b.bias (V3's sigmoid router)
};
void deepseek2_hparams(ModelBuilder& b, const Mla& m);
void deepseek2_blocks(ModelBuilder& b, const Common& c, const Experts& e, const Mla& m);

// qwen3next / qwen35moe: gated delta-net (linear attention) layers with a full gated
// attention layer every `full_attention_interval`, routed plus one gated shared expert.
struct DeltaNet {
  std::uint32_t conv_kernel = 4;
  std::uint32_t head_k_dim = 0; // ssm.state_size
  std::uint32_t n_k_heads = 0;  // ssm.group_count
  std::uint32_t n_v_heads = 0;  // ssm.time_step_rank
  std::uint32_t full_attention_interval = 4;
  std::uint32_t n_ff_shexp = 0;
  bool split_beta_alpha = false; // qwen35*: ssm_beta and ssm_alpha; qwen3next: one ssm_ba
};
void delta_net_hparams(ModelBuilder& b, const DeltaNet& d);
void delta_net_blocks(ModelBuilder& b, const Common& c, const Experts& e, const DeltaNet& d);

} // namespace ask::testing::zoo::layout
