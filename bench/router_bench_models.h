#pragma once
// Synthetic GGUF headers with the real shapes of well-known models, for router_bench: the
// metadata (a full tokenizer, the part that makes real headers megabytes long) and every
// tensor info with a real quantisation mix. Written to disk with the data section extended
// sparsely (ftruncate), so read_model's bounds checks see a file of the model's real size,
// or parsed in memory for the accuracy cases.

#include <cstdint>
#include <string>

#include "tests/support/sparse_gguf.h"

namespace ask::bench {

// Tensor types per role (ggml ids: f32 0, f16 1, q4_0 2, q8_0 8, q4_K 12, q6_K 14).
struct TypeMix {
  std::uint32_t embd = 12;     // token_embd
  std::uint32_t output = 14;   // output.weight (ignored when tied)
  std::uint32_t attn = 12;     // attn_q / attn_k / attn_output
  std::uint32_t attn_v = 12;   // attn_v (Q4_K_M: q6_K on use_more_bits layers)
  std::uint32_t ffn = 12;      // ffn_gate / ffn_up (and their _exps)
  std::uint32_t ffn_down = 12; // ffn_down (Q4_K_M: q6_K on use_more_bits layers)
  bool q4_k_m = false;         // llama.cpp's Q4_K_M rule: q6_K for attn_v / ffn_down on
                               // the first and last eighth of the layers and every third
};

struct ModelSpec {
  std::string name; // "Llama-3.1-8B Q4_K_M"
  std::string arch = "llama";
  std::uint32_t n_layer = 32;
  std::uint32_t n_embd = 4096;
  std::uint32_t n_head = 32;
  std::uint32_t n_head_kv = 8;
  std::uint32_t head_dim = 0; // attention.key_length / value_length; 0 = n_embd / n_head
  std::uint32_t n_ff = 14336;
  std::uint32_t n_vocab = 128256;
  std::uint32_t n_merges = 280147; // tokenizer.ggml.merges strings (0 = none)
  std::uint32_t n_ctx_train = 131072;
  std::uint32_t n_expert = 0;
  std::uint32_t n_expert_used = 0;
  std::uint32_t n_ff_exp = 0; // expert_feed_forward_length
  std::uint32_t sliding_window = 0;
  bool qk_norm = false;  // attn_q_norm / attn_k_norm (qwen3, gemma3)
  bool qkv_bias = false; // attn_q/k/v bias (qwen2)
  bool tied = false;     // no output.weight
  bool full_tokenizer = true; // token strings, scores, types and merges as in real files
  TypeMix types;
};

// The shapes the speed table uses: Llama-3.1-8B Q4_K_M, Qwen3-30B-A3B Q4_K_M (MoE),
// Llama-3.1-70B Q4_K_M, gemma-3-27B Q4_K_M (sliding window).
ModelSpec llama31_8b_q4_k_m();
ModelSpec qwen3_30b_a3b_q4_k_m();
ModelSpec llama31_70b_q4_k_m();
ModelSpec gemma3_27b_q4_k_m();

// The header bytes of `spec` (GGUF v3, alignment 32) and the file size it describes.
using Header = testing::gguf::Header;
Header build_header(const ModelSpec& spec);

// Sparse files and in-memory parses, shared with the model zoo (tests/support).
using testing::gguf::in_memory;
using testing::gguf::write_sparse;

} // namespace ask::bench
