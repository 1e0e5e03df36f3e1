#pragma once
// What llm-sim knows about the model it pretends to serve in llama-server mode: the GGUF
// file's architecture and sizes (read with core/gguf.h, never the weights), or built-in
// parameters for --sim-fake-model.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/gguf.h"

namespace ask::sim {

struct TensorGroup {
  std::string name;       // "blk.3.attn_q.weight"
  int layer = -1;         // repeating layer index; -1 for token_embd, output, ...
  bool is_output = false; // output.weight / output_norm.weight
  std::uint64_t bytes = 0;
};

struct ModelInfo {
  std::string path; // as given with -m
  std::string name; // general.name (may be empty)
  core::gguf::ArchParams arch;
  std::vector<TensorGroup> tensors;
  std::uint64_t tensor_bytes = 0;
  std::uint64_t n_params = 0;
  std::uint64_t file_size = 0;
  std::uint32_t file_type = 1; // general.file_type
  std::size_t n_metadata = 0;
  // ggml type id -> (lower-case name, tensor count), as llama_model_loader prints them.
  std::map<std::uint32_t, std::pair<std::string, int>> tensor_types;
  std::string chat_template; // tokenizer.chat_template; empty when absent
  std::uint32_t gguf_version = 3;

  std::uint64_t n_ff(std::uint64_t layer) const;
};

// Reads `path`. Errors: not_found when missing, bad_request when not a usable GGUF file.
core::Result<ModelInfo> load_model_info(const std::string& path);
// The parameters of tests/fixtures/gguf/tiny-llama-2L-f16.gguf, without reading a file.
ModelInfo fake_model_info(const std::string& path);

// llama.cpp's name for a general.file_type: 1 -> "F16", 7 -> "Q8_0", 15 -> "Q4_K - Medium".
std::string ftype_name(std::uint32_t file_type);
// "2.12 M", "7.24 B": llama.cpp's print_info model params.
std::string params_text(std::uint64_t n_params);

// The ChatML template llama-server falls back to when a model has none.
extern const char* const k_chatml_template;

} // namespace ask::sim
