#pragma once
// Which ggml type each tensor of a model gets under a llama-quantize file type ("q4_k_m",
// "q8_0", "mxfp4_moe", ...): an own, simplified transcription of the rules in llama.cpp's
// src/llama-quant.cpp (build b10587) for the handful of file types the model zoo offers. Real
// files made with an importance matrix or by other tools (Unsloth's dynamic quants) differ.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ask::testing::gguf {

// ggml tensor type ids (ggml.h) the mixes use, named as there.
// NOLINTBEGIN(readability-identifier-naming)
namespace gt {
inline constexpr std::uint32_t f32 = 0, f16 = 1, q4_0 = 2, q5_0 = 6, q5_1 = 7, q8_0 = 8, q4_k = 12,
                               q5_k = 13, q6_k = 14, iq4_nl = 20, bf16 = 30, mxfp4 = 39;
} // namespace gt
// NOLINTEND(readability-identifier-naming)

// A llama-quantize file type: its name, general.file_type value (llama.h LLAMA_FTYPE_*) and
// the ggml type of the weights it does not single out.
struct FileType {
  std::string_view name;
  std::uint32_t ftype = 0;
  std::uint32_t base = 0;
};
// Every file type the mixes know, in a fixed order.
const std::vector<FileType>& file_types();
// nullptr for a name not in file_types().
const FileType* file_type(std::string_view name);

// A tensor before its type is chosen: llama.cpp's name and ggml dims (ne0 first).
struct PlannedTensor {
  std::string name;
  std::vector<std::uint64_t> dims;
  std::uint32_t type = gt::f32; // set by assign_types()
};

// What the rules ask of the model (llama_hparams / llm_type in llama-quant.cpp).
struct QuantFacts {
  std::uint32_t n_layer = 0;  // block_count (n_layer_all)
  std::uint32_t n_expert = 0; // expert_count
  bool is_70b = false;        // llama.cpp's LLM_TYPE_70B (Llama 2/3 70B): attn_v one step up
  std::uint32_t n_gqa = 1;    // n_head / n_head_kv
};

// The layer of "blk.N.*", or -1.
int layer_of(std::string_view name);

// llama-quant.cpp use_more_bits: the layers (of n) whose attn_v and ffn_down Q4_K_M and
// Q5_K_M raise to Q6_K: the first and last eighth and every third one between.
bool use_more_bits(int i, int n);

// llama-quantize's order: tensors outside blocks first, then block by block, each group
// sorted by name (llama_model_loader::weight_name_comparer). Quantized files list their
// tensors in this order.
void sort_like_quantize(std::vector<PlannedTensor>& tensors);

// Sets every tensor's type for file type `ft`, visiting them in the order given (attn_v's
// "more bits" rule counts attn_v-like tensors in that order). Tensors llama-quantize leaves
// alone (1-D, norms, router gates, conv kernels) are F32, as the converter writes them.
void assign_types(std::vector<PlannedTensor>& tensors, const FileType& ft, const QuantFacts& m);

} // namespace ask::testing::gguf
