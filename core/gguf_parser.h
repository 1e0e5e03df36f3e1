#pragma once
// The GGUF parser's internals, shared by gguf.cpp (header, metadata keys, tensor infos, data
// layout) and gguf_values.cpp (metadata values: scalars, strings, arrays): the GGUF_TRY
// macro, where a field is (for messages), the bounded Cursor over the file's prefix and the
// Parser class. Not part of the module's interface.

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/gguf.h"
#include "core/gguf_detail.h"

// Returns the error of `expr` (a Parsed<T>), else binds its value to `var`. Left defined for
// the files that include this header (no other file defines it).
#define GGUF_TRY(var, expr)                                                                        \
  auto var##_result = (expr);                                                                      \
  if (!var##_result) {                                                                             \
    return std::unexpected(std::move(var##_result.error()));                                       \
  }                                                                                                \
  auto& var = *var##_result // NOLINT(bugprone-macro-parentheses)

namespace ask::core::gguf::detail {

inline constexpr std::uint64_t k_none = std::numeric_limits<std::uint64_t>::max();

// Which field is being read, for error messages; formatted only when something fails.
struct Where {
  std::string_view kind; // "header", "metadata", "tensor"
  std::uint64_t index = k_none;
  std::string_view name = {};
  std::uint64_t element = k_none;
};

// "gguf: offset N: <where>: <detail>", as a Parsed<T>'s error (gguf.cpp).
std::unexpected<Fail> fail_at(std::uint64_t offset, const Where& w, std::string_view detail);

// Reads little-endian fields from a prefix of the file, never past its end.
class Cursor {
public:
  Cursor(std::string_view bytes, std::uint64_t file_size, const detail::GrowPrefix& grow)
      : m_bytes(bytes), m_file_size(file_size), m_grow(grow) {}

  std::uint64_t pos() const { return m_pos; }
  std::uint64_t left() const { return m_file_size - m_pos; }
  std::uint64_t left_in_prefix() const { return m_bytes.size() - m_pos; }

  Parsed<std::string_view> take(std::uint64_t n, const Where& w, std::string_view what) {
    if (n > left()) {
      return fail_at(
          m_pos, w,
          cat("file ends while reading ", what, " (needs ", n, " bytes, ", left(), " left)"));
    }
    if (n > left_in_prefix() && !extend(m_pos + n)) {
      return std::unexpected(Fail{cat("gguf: offset ", m_pos, ": header continues past the ",
                                      m_bytes.size(), " bytes read"),
                                  m_pos + n});
    }
    std::string_view out = m_bytes.substr(m_pos, n);
    m_pos += n;
    return out;
  }

  // When at least `n` more bytes are known to be needed and the prefix holds fewer, asks for
  // them at once (saves read_file a few rounds of growing its prefix).
  Parsed<void> want(std::uint64_t n) {
    if (n <= left() && n > left_in_prefix() && !extend(m_pos + n)) {
      return std::unexpected(Fail{cat("gguf: offset ", m_pos, ": header continues past the ",
                                      m_bytes.size(), " bytes read"),
                                  m_pos + n});
    }
    return {};
  }

  template <class T> Parsed<T> read(const Where& w, std::string_view what) {
    GGUF_TRY(raw, take(sizeof(T), w, what));
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      bits |= static_cast<std::uint64_t>(static_cast<unsigned char>(raw[i])) << (8 * i);
    }
    if constexpr (std::same_as<T, float>) {
      return std::bit_cast<float>(static_cast<std::uint32_t>(bits));
    } else if constexpr (std::same_as<T, double>) {
      return std::bit_cast<double>(bits);
    } else {
      return static_cast<T>(bits);
    }
  }

private:
  // Asks the grow callback for a prefix of at least `need` bytes.
  bool extend(std::uint64_t need) {
    if (!m_grow) {
      return false;
    }
    const std::optional<std::string_view> longer = m_grow(need);
    if (!longer || longer->size() < need) {
      return false;
    }
    m_bytes = longer->substr(0, std::min<std::uint64_t>(longer->size(), m_file_size));
    return true;
  }

  std::string_view m_bytes;
  std::uint64_t m_file_size = 0;
  std::uint64_t m_pos = 0;
  const detail::GrowPrefix& m_grow;
};

class Parser {
public:
  Parser(std::string_view bytes, std::uint64_t file_size, const detail::GrowPrefix& grow,
         const ReadOptions* options)
      : m_in(bytes, file_size, grow), m_options(options) {
    m_file.file_size = file_size;
  }

  Parsed<File> run() {
    GGUF_TRY(counts, header());
    if (auto ok = metadata(counts.second); !ok) {
      return std::unexpected(std::move(ok.error()));
    }
    if (auto ok = tensors(counts.first); !ok) {
      return std::unexpected(std::move(ok.error()));
    }
    if (auto ok = data_layout(); !ok) {
      return std::unexpected(std::move(ok.error()));
    }
    return std::move(m_file);
  }

private:
  Parsed<std::pair<std::uint64_t, std::uint64_t>> header();
  Parsed<void> version(std::uint32_t v, std::uint64_t at);
  Parsed<void> metadata(std::uint64_t count);
  Parsed<void> alignment(const Value& v, const Where& w, std::uint64_t at);
  Parsed<void> tensors(std::uint64_t count);
  Parsed<TensorInfo> tensor_info(std::uint64_t index);
  Parsed<void> tensor_size(TensorInfo& t, const Where& w, std::uint64_t at);
  Parsed<void> data_layout();
  Parsed<Value> value(std::uint32_t type, const Where& w, std::uint32_t depth);
  template <class Raw, class Stored>
  Parsed<Value> scalar(ValueType type, const Where& w, std::string_view what);
  Parsed<Value> array(const Where& w, std::uint32_t depth);
  Parsed<void> skip_items(std::uint32_t type, std::uint64_t count, const Where& w,
                          std::uint32_t depth, std::vector<std::uint64_t>* hashes = nullptr);
  bool wants_hashes(std::string_view key) const;
  Parsed<std::string> string(const Where& w, std::string_view what, std::uint64_t max);
  Parsed<std::uint64_t> string_length(const Where& w, std::string_view what, std::uint64_t max);
  Parsed<std::uint32_t> element_type(const Where& w, std::string_view what);

  Cursor m_in;
  const ReadOptions* m_options = nullptr;
  File m_file;
  std::uint64_t m_kept_items = 0;
  bool m_hash_next_array = false;         // the value being read belongs to a key in hash_items
  std::vector<std::uint64_t> m_tensor_at; // offset of each tensor info, for messages
};

} // namespace ask::core::gguf::detail
