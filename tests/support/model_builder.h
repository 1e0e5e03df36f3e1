#pragma once
// Builds the header of a synthetic GGUF model as llama.cpp's converter and llama-quantize
// would lay it out: `<arch>.*` metadata, a synthetic tokenizer of the real vocabulary size
// (the loader needs one; its size sets token_embd, output and the logits buffer), and the
// tensor list, typed by a quant mix at the end. The model zoo describes real models with it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/gguf_writer.h"
#include "tests/support/quant_mix.h"
#include "tests/support/sparse_gguf.h"

namespace ask::testing::gguf {

// A synthetic vocabulary llama.cpp's loader accepts.
//  spm: tokenizer.ggml.model "llama": <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>,
//       then unique "▁tokN" pieces with descending scores (bos 1, eos 2).
//  bpe: tokenizer.ggml.model "gpt2": the 256 byte-level symbols (GPT-2's byte-to-unicode
//       map, so byte fallback and "\n" resolve), unique "ĠtokN" pieces, control tokens
//       "<|im_start|>" at `bos` and "<|im_end|>" at `eos` (an end-of-generation token to
//       llama.cpp), and `n_merges` merges (about the real count: the header's size).
struct Vocab {
  enum class Kind { spm, bpe };
  Kind kind = Kind::bpe;
  std::uint32_t n_tokens = 0;
  std::uint32_t n_merges = 0; // bpe only
  std::string pre;            // tokenizer.ggml.pre (bpe only); must be one llama.cpp knows
  std::uint32_t bos = 1;      // bpe only
  std::uint32_t eos = 2;      // bpe only
};

class ModelBuilder {
public:
  ModelBuilder(std::string arch, const std::string& name);

  const std::string& arch() const { return m_arch; }

  // `<arch>.<key>` metadata, written in the order added.
  ModelBuilder& u32(std::string_view key, std::uint32_t v);
  ModelBuilder& f32(std::string_view key, float v);
  ModelBuilder& boolean(std::string_view key, bool v);
  ModelBuilder& str(std::string_view key, std::string_view v);
  ModelBuilder& i32s(std::string_view key, const std::vector<std::int32_t>& v);
  ModelBuilder& vocab(Vocab v);

  // A tensor as llama.cpp names it (dims ne0 first); its type is chosen by finish().
  ModelBuilder& tensor(std::string name, std::vector<std::uint64_t> dims);
  // "blk.<il>.<suffix>".
  ModelBuilder& layer(std::uint32_t il, std::string_view suffix, std::vector<std::uint64_t> dims);

  std::size_t tensor_count() const { return m_tensors.size(); }

  // The file under file type `ft`: metadata, general.file_type, the tokenizer, then the
  // tensors in llama-quantize's order. Throws std::invalid_argument for a shape `ft`
  // cannot hold (which llama-quantize refuses too).
  Header finish(const FileType& ft, const QuantFacts& facts) const;

private:
  std::string m_arch;
  Writer m_meta;
  Vocab m_vocab;
  std::vector<PlannedTensor> m_tensors;
};

} // namespace ask::testing::gguf
