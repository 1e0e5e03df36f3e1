#include "tests/support/model_builder.h"

#include <utility>

namespace ask::testing::gguf {
namespace {

// llama.cpp's token types (llama_token_type).
constexpr std::int32_t k_normal = 1, k_unknown = 2, k_control = 3, k_byte = 6;

// A short ChatML template: real ones are 1-10 KB of Jinja; llama-server only needs one that
// parses.
constexpr std::string_view k_chat_template =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt "
    "%}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

std::string utf8(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// GPT-2's byte-level alphabet: printable bytes stand for themselves, the other 68 bytes map,
// in order, to U+0100 onwards ("Ġ" is the space).
std::vector<std::string> byte_symbols() {
  std::vector<std::string> out;
  std::uint32_t next = 256;
  for (std::uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    out.push_back(utf8(printable ? b : next++));
  }
  return out;
}

std::string hex_byte(std::uint32_t b) {
  constexpr std::string_view k_hex = "0123456789ABCDEF";
  return std::string("<0x") + k_hex[b >> 4] + k_hex[b & 15] + ">";
}

void write_spm(Writer& w, const Vocab& v) {
  std::string tokens = enc::array_header(type::string, v.n_tokens);
  std::string scores = enc::array_header(type::f32, v.n_tokens);
  std::string types = enc::array_header(type::i32, v.n_tokens);
  for (std::uint32_t i = 0; i < v.n_tokens; ++i) {
    std::string text;
    std::int32_t kind = k_normal;
    if (i < 3) {
      text = i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>";
      kind = i == 0 ? k_unknown : k_control;
    } else if (i < 3 + 256) {
      text = hex_byte(i - 3);
      kind = k_byte;
    } else {
      text = "\xE2\x96\x81tok" + std::to_string(i); // "▁tok300"
    }
    tokens += enc::str(text);
    scores += enc::f32(-static_cast<float>(i));
    types += enc::i32(kind);
  }
  w.str("tokenizer.ggml.model", "llama");
  w.raw_kv("tokenizer.ggml.tokens", type::array, tokens);
  w.raw_kv("tokenizer.ggml.scores", type::array, scores);
  w.raw_kv("tokenizer.ggml.token_type", type::array, types);
  w.u32("tokenizer.ggml.bos_token_id", 1).u32("tokenizer.ggml.eos_token_id", 2);
  w.u32("tokenizer.ggml.unknown_token_id", 0);
}

void write_bpe(Writer& w, const Vocab& v) {
  const std::vector<std::string> bytes = byte_symbols();
  std::string tokens = enc::array_header(type::string, v.n_tokens);
  std::string types = enc::array_header(type::i32, v.n_tokens);
  std::size_t next_byte = 0; // the byte symbols take the first ids bos and eos leave free
  for (std::uint32_t i = 0; i < v.n_tokens; ++i) {
    std::string text;
    std::int32_t kind = k_normal;
    if (i == v.bos || i == v.eos) {
      // ChatML's markers: llama.cpp counts "<|im_end|>" as end of generation, as it does
      // each real model's own end token.
      text = i == v.eos ? "<|im_end|>" : "<|im_start|>";
      kind = k_control;
    } else if (next_byte < bytes.size()) {
      text = bytes[next_byte++];
    } else {
      text = "\xC4\xA0tok" + std::to_string(i); // "Ġtok300"
    }
    tokens += enc::str(text);
    types += enc::i32(kind);
  }
  std::string merges = enc::array_header(type::string, v.n_merges);
  for (std::uint32_t i = 0; i < v.n_merges; ++i) {
    merges += enc::str("\xC4\xA0t ok" + std::to_string(i)); // "Ġt ok12"
  }
  w.str("tokenizer.ggml.model", "gpt2").str("tokenizer.ggml.pre", v.pre);
  w.raw_kv("tokenizer.ggml.tokens", type::array, tokens);
  w.raw_kv("tokenizer.ggml.token_type", type::array, types);
  w.raw_kv("tokenizer.ggml.merges", type::array, merges);
  w.u32("tokenizer.ggml.bos_token_id", v.bos).u32("tokenizer.ggml.eos_token_id", v.eos);
}

} // namespace

ModelBuilder::ModelBuilder(std::string arch, const std::string& name) : m_arch(std::move(arch)) {
  m_meta.str("general.architecture", m_arch).str("general.type", "model");
  m_meta.str("general.name", name);
}

ModelBuilder& ModelBuilder::u32(std::string_view key, std::uint32_t v) {
  m_meta.u32(m_arch + "." + std::string(key), v);
  return *this;
}

ModelBuilder& ModelBuilder::f32(std::string_view key, float v) {
  m_meta.f32(m_arch + "." + std::string(key), v);
  return *this;
}

ModelBuilder& ModelBuilder::boolean(std::string_view key, bool v) {
  m_meta.boolean(m_arch + "." + std::string(key), v);
  return *this;
}

ModelBuilder& ModelBuilder::str(std::string_view key, std::string_view v) {
  m_meta.str(m_arch + "." + std::string(key), v);
  return *this;
}

ModelBuilder& ModelBuilder::i32s(std::string_view key, const std::vector<std::int32_t>& v) {
  m_meta.i32s(m_arch + "." + std::string(key), v);
  return *this;
}

ModelBuilder& ModelBuilder::vocab(Vocab v) {
  m_vocab = std::move(v);
  return *this;
}

ModelBuilder& ModelBuilder::tensor(std::string name, std::vector<std::uint64_t> dims) {
  m_tensors.push_back({std::move(name), std::move(dims), gt::f32});
  return *this;
}

ModelBuilder& ModelBuilder::layer(std::uint32_t il, std::string_view suffix,
                                  std::vector<std::uint64_t> dims) {
  return tensor("blk." + std::to_string(il) + "." + std::string(suffix), std::move(dims));
}

Header ModelBuilder::finish(const FileType& ft, const QuantFacts& facts) const {
  Writer w = m_meta;
  w.u32("general.file_type", ft.ftype).u32("general.quantization_version", 2);
  if (m_vocab.kind == Vocab::Kind::spm) {
    write_spm(w, m_vocab);
  } else {
    write_bpe(w, m_vocab);
  }
  w.str("tokenizer.chat_template", k_chat_template);
  std::vector<PlannedTensor> tensors = m_tensors;
  sort_like_quantize(tensors);
  assign_types(tensors, ft, facts);
  for (const PlannedTensor& t : tensors) {
    w.tensor(t.name, t.dims, t.type);
  }
  w.with_data(false);
  Header h;
  h.bytes = w.bytes(); // header + padding to the alignment, no data
  h.file_size = w.data_offset() + (w.data_end() - w.data_offset() + 31) / 32 * 32;
  return h;
}

} // namespace ask::testing::gguf
