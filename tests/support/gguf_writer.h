#pragma once
// A small GGUF writer for tests: builds v2/v3 files with any metadata (nested arrays and raw,
// deliberately wrong values included), tensor infos laid out as ggml lays them out, tiny
// models of several architectures, split files, and helpers to truncate or patch bytes.
// Header-only; uses ask_core's type table for tensor sizes.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/gguf.h"

namespace ask::testing::gguf {

// Little-endian encodings of GGUF fields, for building values by hand.
namespace enc {
inline std::string uint(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    out += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  return out;
}
inline std::string u8(std::uint8_t v) {
  return uint(v, 1);
}
inline std::string u16(std::uint16_t v) {
  return uint(v, 2);
}
inline std::string u32(std::uint32_t v) {
  return uint(v, 4);
}
inline std::string u64(std::uint64_t v) {
  return uint(v, 8);
}
inline std::string i8(std::int8_t v) {
  return uint(static_cast<std::uint8_t>(v), 1);
}
inline std::string i16(std::int16_t v) {
  return uint(static_cast<std::uint16_t>(v), 2);
}
inline std::string i32(std::int32_t v) {
  return uint(static_cast<std::uint32_t>(v), 4);
}
inline std::string i64(std::int64_t v) {
  return uint(static_cast<std::uint64_t>(v), 8);
}
inline std::string f32(float v) {
  return u32(std::bit_cast<std::uint32_t>(v));
}
inline std::string f64(double v) {
  return u64(std::bit_cast<std::uint64_t>(v));
}
inline std::string str(std::string_view s) {
  return u64(s.size()) + std::string(s);
}
// Array header: element type then count; the elements follow.
inline std::string array_header(std::uint32_t element_type, std::uint64_t count) {
  return u32(element_type) + u64(count);
}
} // namespace enc

// GGUF metadata value type ids, named as in the GGUF specification.
// NOLINTBEGIN(readability-identifier-naming)
namespace type {
inline constexpr std::uint32_t u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6,
                               boolean = 7, string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12;
} // namespace type
// NOLINTEND(readability-identifier-naming)

// ggml tensor type ids used by the tests, named as in ggml.h.
// NOLINTBEGIN(readability-identifier-naming)
namespace ggml {
inline constexpr std::uint32_t f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_k = 12, q6_k = 14,
                               bf16 = 30, mxfp4 = 39;
} // namespace ggml
// NOLINTEND(readability-identifier-naming)

class Writer {
public:
  explicit Writer(std::uint32_t version = 3) : m_version(version) {}

  // Metadata; values are written in the order added (duplicates allowed, to test them).
  Writer& raw_kv(const std::string& key, std::uint32_t value_type, const std::string& value_bytes) {
    m_kv += enc::str(key) + enc::u32(value_type) + value_bytes;
    ++m_kv_count;
    return *this;
  }
  Writer& u8(const std::string& k, std::uint8_t v) { return raw_kv(k, type::u8, enc::u8(v)); }
  Writer& i8(const std::string& k, std::int8_t v) { return raw_kv(k, type::i8, enc::i8(v)); }
  Writer& u16(const std::string& k, std::uint16_t v) { return raw_kv(k, type::u16, enc::u16(v)); }
  Writer& i16(const std::string& k, std::int16_t v) { return raw_kv(k, type::i16, enc::i16(v)); }
  Writer& u32(const std::string& k, std::uint32_t v) { return raw_kv(k, type::u32, enc::u32(v)); }
  Writer& i32(const std::string& k, std::int32_t v) { return raw_kv(k, type::i32, enc::i32(v)); }
  Writer& u64(const std::string& k, std::uint64_t v) { return raw_kv(k, type::u64, enc::u64(v)); }
  Writer& i64(const std::string& k, std::int64_t v) { return raw_kv(k, type::i64, enc::i64(v)); }
  Writer& f32(const std::string& k, float v) { return raw_kv(k, type::f32, enc::f32(v)); }
  Writer& f64(const std::string& k, double v) { return raw_kv(k, type::f64, enc::f64(v)); }
  Writer& boolean(const std::string& k, bool v) { return raw_kv(k, type::boolean, enc::u8(v)); }
  Writer& str(const std::string& k, std::string_view v) {
    return raw_kv(k, type::string, enc::str(v));
  }
  Writer& u32s(const std::string& k, const std::vector<std::uint32_t>& v) {
    std::string bytes = enc::array_header(type::u32, v.size());
    for (auto x : v) {
      bytes += enc::u32(x);
    }
    return raw_kv(k, type::array, bytes);
  }
  Writer& i32s(const std::string& k, const std::vector<std::int32_t>& v) {
    std::string bytes = enc::array_header(type::i32, v.size());
    for (auto x : v) {
      bytes += enc::i32(x);
    }
    return raw_kv(k, type::array, bytes);
  }
  Writer& bools(const std::string& k, const std::vector<bool>& v) {
    std::string bytes = enc::array_header(type::boolean, v.size());
    for (bool x : v) {
      bytes += enc::u8(x ? 1 : 0);
    }
    return raw_kv(k, type::array, bytes);
  }
  Writer& strs(const std::string& k, const std::vector<std::string>& v) {
    std::string bytes = enc::array_header(type::string, v.size());
    for (const auto& x : v) {
      bytes += enc::str(x);
    }
    return raw_kv(k, type::array, bytes);
  }
  // general.alignment (uint32); also used to lay out the data section.
  Writer& alignment(std::uint32_t a) {
    if (a != 0 && (a & (a - 1)) == 0) { // a bad value is written but not used for layout
      m_alignment = a;
    }
    return u32("general.alignment", a);
  }

  // A tensor whose data follows the previous one's, padded to the alignment.
  Writer& tensor(const std::string& name, const std::vector<std::uint64_t>& dims,
                 std::uint32_t ggml_type) {
    const std::uint64_t size = n_bytes(dims, ggml_type);
    const std::uint64_t offset = m_data_end;
    m_data_end += pad(size);
    m_last_end = offset + size;
    return raw_tensor(name, static_cast<std::uint32_t>(dims.size()), dims, ggml_type, offset);
  }
  // A tensor info written exactly as given (no layout bookkeeping).
  Writer& raw_tensor(const std::string& name, std::uint32_t n_dims,
                     const std::vector<std::uint64_t>& dims, std::uint32_t ggml_type,
                     std::uint64_t offset) {
    m_tensors += enc::str(name) + enc::u32(n_dims);
    for (auto d : dims) {
      m_tensors += enc::u64(d);
    }
    m_tensors += enc::u32(ggml_type) + enc::u64(offset);
    ++m_tensor_count;
    return *this;
  }

  Writer& tensor_count(std::uint64_t n) { // overrides the header field
    m_tensor_count_override = n;
    return *this;
  }
  Writer& kv_count(std::uint64_t n) {
    m_kv_count_override = n;
    return *this;
  }
  Writer& magic(std::string m) {
    m_magic = std::move(m);
    return *this;
  }
  Writer& with_data(bool on) { // false: stop after the header padding
    m_with_data = on;
    return *this;
  }

  std::string header() const {
    std::string out = m_magic + enc::u32(m_version);
    if (m_version == 1) {
      out += enc::u32(static_cast<std::uint32_t>(m_tensor_count_override.value_or(m_tensor_count)));
      out += enc::u32(static_cast<std::uint32_t>(m_kv_count_override.value_or(m_kv_count)));
    } else {
      out += enc::u64(m_tensor_count_override.value_or(m_tensor_count));
      out += enc::u64(m_kv_count_override.value_or(m_kv_count));
    }
    return out + m_kv + m_tensors;
  }
  // The whole file: header, padding, zeroed tensor data (the last tensor padded too).
  std::string bytes() const {
    std::string out = header();
    out.resize(pad(out.size()), '\0');
    if (m_with_data) {
      out.resize(out.size() + m_data_end, '\0');
    }
    return out;
  }
  std::uint64_t data_offset() const { return pad(header().size()); }
  // End of the last tensor's data (unpadded), relative to the file start.
  std::uint64_t data_end() const { return data_offset() + m_last_end; }

  std::filesystem::path write(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const std::string b = bytes();
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
    if (!out) {
      throw std::runtime_error("cannot write " + path.string());
    }
    return path;
  }

  static std::uint64_t n_bytes(const std::vector<std::uint64_t>& dims, std::uint32_t ggml_type) {
    auto traits = core::gguf::type_traits(ggml_type);
    if (!traits) {
      return 0;
    }
    std::uint64_t n = 1;
    for (auto d : dims) {
      n *= d;
    }
    return n / traits->block_size * traits->type_size;
  }

private:
  std::uint64_t pad(std::uint64_t n) const {
    return (n + m_alignment - 1) / m_alignment * m_alignment;
  }

  std::uint32_t m_version;
  std::string m_magic = "GGUF";
  std::string m_kv;
  std::string m_tensors;
  std::uint64_t m_kv_count = 0;
  std::uint64_t m_tensor_count = 0;
  std::optional<std::uint64_t> m_kv_count_override;
  std::optional<std::uint64_t> m_tensor_count_override;
  std::uint64_t m_alignment = 32;
  std::uint64_t m_data_end = 0;
  std::uint64_t m_last_end = 0;
  bool m_with_data = true;
};

// A tiny transformer in llama.cpp's tensor naming, for arch_params and estimator tests.
struct TinyModel {
  std::string arch = "llama";
  std::uint32_t n_layer = 2;
  std::uint32_t n_embd = 64;
  std::uint32_t n_head = 4;
  std::uint32_t n_head_kv = 2;
  std::uint32_t n_ff = 128;
  std::uint32_t n_vocab = 32;
  std::uint32_t n_ctx = 2048;
  std::uint32_t weight_type = ggml::f16;
  std::uint32_t n_expert = 0; // > 0: MoE feed-forward with stacked expert tensors
  std::uint32_t n_expert_used = 0;
};

struct TensorSpec {
  std::string name;
  std::vector<std::uint64_t> dims;
  std::uint32_t ggml_type = ggml::f32;
};

// The tensors of `m` in llama.cpp's naming and shapes (blk.N.attn_q.weight, ...).
inline std::vector<TensorSpec> tiny_tensors(const TinyModel& m) {
  const std::uint64_t hd = m.n_embd / m.n_head;
  const std::uint32_t wt = m.weight_type;
  std::vector<TensorSpec> t = {{"token_embd.weight", {m.n_embd, m.n_vocab}, wt},
                               {"output_norm.weight", {m.n_embd}, ggml::f32}};
  for (std::uint32_t il = 0; il < m.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    t.push_back({b + "attn_norm.weight", {m.n_embd}, ggml::f32});
    t.push_back({b + "attn_q.weight", {m.n_embd, m.n_head * hd}, wt});
    t.push_back({b + "attn_k.weight", {m.n_embd, m.n_head_kv * hd}, wt});
    t.push_back({b + "attn_v.weight", {m.n_embd, m.n_head_kv * hd}, wt});
    t.push_back({b + "attn_output.weight", {m.n_head * hd, m.n_embd}, wt});
    t.push_back({b + "ffn_norm.weight", {m.n_embd}, ggml::f32});
    if (m.n_expert > 0) {
      t.push_back({b + "ffn_gate_inp.weight", {m.n_embd, m.n_expert}, ggml::f32});
      t.push_back({b + "ffn_gate_exps.weight", {m.n_embd, m.n_ff, m.n_expert}, wt});
      t.push_back({b + "ffn_up_exps.weight", {m.n_embd, m.n_ff, m.n_expert}, wt});
      t.push_back({b + "ffn_down_exps.weight", {m.n_ff, m.n_embd, m.n_expert}, wt});
    } else {
      t.push_back({b + "ffn_gate.weight", {m.n_embd, m.n_ff}, wt});
      t.push_back({b + "ffn_up.weight", {m.n_embd, m.n_ff}, wt});
      t.push_back({b + "ffn_down.weight", {m.n_ff, m.n_embd}, wt});
    }
  }
  return t;
}

// general.*, `<arch>.*` hparams and a tokenizer for `m`; callers add arch-specific keys
// (sliding window, ssm sizes, per-layer arrays) before or after.
inline Writer& tiny_metadata(Writer& w, const TinyModel& m) {
  const std::string a = m.arch + ".";
  w.str("general.architecture", m.arch).str("general.name", "tiny-" + m.arch);
  w.u32(a + "block_count", m.n_layer).u32(a + "embedding_length", m.n_embd);
  w.u32(a + "context_length", m.n_ctx).u32(a + "feed_forward_length", m.n_ff);
  w.u32(a + "attention.head_count", m.n_head).u32(a + "attention.head_count_kv", m.n_head_kv);
  if (m.n_expert > 0) {
    w.u32(a + "expert_count", m.n_expert).u32(a + "expert_used_count", m.n_expert_used);
  }
  std::vector<std::string> tokens;
  for (std::uint32_t i = 0; i < m.n_vocab; ++i) {
    tokens.push_back("tok" + std::to_string(i));
  }
  return w.str("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", tokens);
}

// A whole tiny model: metadata then every tensor.
inline Writer tiny_model(const TinyModel& m, std::uint32_t version = 3) {
  Writer w(version);
  tiny_metadata(w, m);
  for (const TensorSpec& t : tiny_tensors(m)) {
    w.tensor(t.name, t.dims, t.ggml_type);
  }
  return w;
}

// `m` split into `parts` files the way llama.cpp's gguf-split does: part 1 carries the
// model metadata; every part carries split.no (u16, 0-based), split.count (u16) and
// split.tensors.count (i32), and a contiguous share of the tensors.
inline std::vector<Writer> split_tiny_model(const TinyModel& m, std::uint16_t parts) {
  const std::vector<TensorSpec> all = tiny_tensors(m);
  std::vector<Writer> out;
  std::size_t next = 0;
  for (std::uint16_t p = 0; p < parts; ++p) {
    Writer w(3);
    if (p == 0) {
      tiny_metadata(w, m);
    }
    w.u16("split.no", p).u16("split.count", parts);
    w.i32("split.tensors.count", static_cast<std::int32_t>(all.size()));
    const std::size_t end = all.size() * (p + 1u) / parts;
    for (; next < end; ++next) {
      w.tensor(all[next].name, all[next].dims, all[next].ggml_type);
    }
    out.push_back(std::move(w));
  }
  return out;
}

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
public:
  TempDir() {
    std::random_device rd;
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      m_path = base / ("ask-gguf-test-" + std::to_string(rd()) + std::to_string(rd()));
      if (std::filesystem::create_directory(m_path)) {
        return;
      }
    }
    throw std::runtime_error("cannot create a temp dir");
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(std::string_view name) const { return m_path / name; }

private:
  std::filesystem::path m_path;
};

// Byte surgery on a file image.
inline std::string truncated(std::string bytes, std::size_t n) {
  bytes.resize(std::min(n, bytes.size()));
  return bytes;
}
inline std::string patched(std::string bytes, std::size_t offset, std::string_view with) {
  bytes.replace(offset, with.size(), with);
  return bytes;
}
inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline std::string read_bytes(const std::filesystem::path& path, std::size_t max = SIZE_MAX) {
  std::ifstream in(path, std::ios::binary);
  std::string out;
  char buf[65536];
  while (out.size() < max && in.read(buf, sizeof buf), in.gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  return truncated(out, max);
}

} // namespace ask::testing::gguf
