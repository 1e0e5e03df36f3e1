// GGUF parser: header, metadata, tensor infos, data layout. The input is untrusted: every
// count and length is checked against the bytes left in the file before anything is read or
// reserved, nested arrays are bounded, and each error names the byte offset of the field.
//
// Layout (ggml/src/gguf.cpp, docs/gguf.md): "GGUF" u32:version u64:n_tensors u64:n_kv,
// n_kv × {string key, u32 type, value}, n_tensors × {string name, u32 n_dims, n_dims × u64,
// u32 ggml_type, u64 offset}, padding to general.alignment, then the data section where
// tensor i starts at `offset` (= sum of the previous tensors' sizes, each padded).

#include <algorithm>
#include <bit>
#include <limits>
#include <utility>

#include "core/gguf.h"
#include "core/gguf_detail.h"

#define GGUF_TRY(var, expr)                                                                        \
  auto var##_result = (expr);                                                                      \
  if (!var##_result) {                                                                             \
    return std::unexpected(std::move(var##_result.error()));                                       \
  }                                                                                                \
  auto& var = *var##_result // NOLINT(bugprone-macro-parentheses)

namespace ask::core::gguf {
namespace {

using detail::cat;
using detail::Fail;
using detail::failure;
using detail::Parsed;

constexpr std::uint64_t k_none = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t k_max_i64 = static_cast<std::uint64_t>(INT64_MAX);
constexpr std::uint32_t k_value_type_count = 13;
// Smallest encoding of a metadata pair (u64 key length, u32 type, one byte) and of a tensor
// info (u64 name length, u32 n_dims, u32 type, u64 offset).
constexpr std::uint64_t k_min_kv_bytes = 13;
constexpr std::uint64_t k_min_tensor_bytes = 24;

// Smallest encoding of one value of each type: scalars are fixed, a string is at least its
// u64 length, an array at least its u32 type and u64 count.
constexpr std::uint64_t min_value_bytes(std::uint32_t type) {
  constexpr std::uint64_t k_sizes[k_value_type_count] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
  return k_sizes[type];
}
constexpr bool is_fixed_size(std::uint32_t type) {
  return type != 8 && type != 9;
}

// 64-bit FNV-1a (ReadOptions::hash_items).
std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Printable form of a name read from the file, for error messages.
std::string printable(std::string_view name) {
  constexpr std::size_t k_max_shown = 96;
  std::string out;
  for (char c : name.substr(0, k_max_shown)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (name.size() > k_max_shown) {
    out += "...";
  }
  return out;
}

// Which field is being read, for error messages; formatted only when something fails.
struct Where {
  std::string_view kind; // "header", "metadata", "tensor"
  std::uint64_t index = k_none;
  std::string_view name = {};
  std::uint64_t element = k_none;
};

std::string describe(const Where& w) {
  std::string out(w.kind);
  if (w.index != k_none) {
    out += cat(" ", w.index);
  }
  if (!w.name.empty()) {
    out += cat(" '", printable(w.name), "'");
  }
  if (w.element != k_none) {
    out += cat(" element ", w.element);
  }
  return out;
}

std::unexpected<Fail> fail_at(std::uint64_t offset, const Where& w, std::string_view detail) {
  return failure(cat("gguf: offset ", offset, ": ", describe(w), ": ", detail));
}

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

Parsed<std::pair<std::uint64_t, std::uint64_t>> Parser::header() {
  const Where w{"header"};
  GGUF_TRY(magic, m_in.take(4, w, "the magic"));
  if (magic != "GGUF") {
    return fail_at(0, w,
                   cat("bad magic '", printable(magic), "' (expected 'GGUF'): not a GGUF file"));
  }
  GGUF_TRY(v, m_in.read<std::uint32_t>(w, "the version"));
  if (auto ok = version(v, 4); !ok) {
    return std::unexpected(std::move(ok.error()));
  }
  GGUF_TRY(n_tensors, m_in.read<std::uint64_t>(w, "the tensor count"));
  GGUF_TRY(n_kv, m_in.read<std::uint64_t>(w, "the metadata count"));
  if (n_tensors > k_max_tensor_count) {
    return fail_at(8, w,
                   cat("tensor count ", n_tensors, " exceeds the limit of ", k_max_tensor_count));
  }
  if (n_tensors > m_in.left() / k_min_tensor_bytes) {
    return fail_at(
        8, w,
        cat(n_tensors, " tensors cannot fit in the ", m_in.left(), " bytes left in the file"));
  }
  if (n_kv > k_max_metadata_count) {
    return fail_at(16, w,
                   cat("metadata count ", n_kv, " exceeds the limit of ", k_max_metadata_count));
  }
  if (n_kv > m_in.left() / k_min_kv_bytes) {
    return fail_at(
        16, w,
        cat(n_kv, " metadata entries cannot fit in the ", m_in.left(), " bytes left in the file"));
  }
  return std::pair{n_tensors, n_kv};
}

Parsed<void> Parser::version(std::uint32_t v, std::uint64_t at) {
  const Where w{"header"};
  m_file.version = v;
  if (v == 2 || v == 3) {
    return {};
  }
  if (v == 1) {
    return fail_at(at, w,
                   "GGUF version 1 is not supported (it used 32-bit counts); "
                   "re-convert the model with a current llama.cpp");
  }
  if (v != 0 && (v & 0xFFFFu) == 0) {
    return fail_at(at, w,
                   cat("version field ", v,
                       " looks byte-swapped: a big-endian GGUF "
                       "file? Only little-endian files are supported"));
  }
  return fail_at(at, w, cat("unsupported GGUF version ", v, " (supported: 2 and 3)"));
}

Parsed<void> Parser::metadata(std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) {
    Where w{"metadata", i};
    const std::uint64_t key_at = m_in.pos();
    GGUF_TRY(key, string(w, "the key", k_max_key_bytes));
    w.name = key;
    GGUF_TRY(type, element_type(w, "the value type"));
    m_hash_next_array = wants_hashes(key);
    GGUF_TRY(val, value(type, w, 0));
    m_hash_next_array = false;
    if (m_file.metadata.contains(key)) {
      return fail_at(key_at, w, "duplicate key");
    }
    if (key == "general.alignment") {
      if (auto ok = alignment(val, w, key_at); !ok) {
        return ok;
      }
    }
    m_file.metadata.emplace(std::move(key), std::move(val));
  }
  return {};
}

bool Parser::wants_hashes(std::string_view key) const {
  return m_options != nullptr &&
         std::ranges::find(m_options->hash_items, key) != m_options->hash_items.end();
}

// ggml requires general.alignment to be a uint32 power of two (gguf.cpp: "alignment ... is
// not a power of 2"); it defaults to 32.
Parsed<void> Parser::alignment(const Value& v, const Where& w, std::uint64_t at) {
  if (v.type != ValueType::uint32) {
    return fail_at(
        at, w,
        cat("must be a uint32, not ", detail::value_type_name(static_cast<std::uint32_t>(v.type))));
  }
  const std::uint64_t a = v.as_uint().value_or(0);
  if (a == 0 || (a & (a - 1)) != 0) {
    return fail_at(at, w, cat(a, " is not a power of two"));
  }
  m_file.alignment = a;
  return {};
}

Parsed<void> Parser::tensors(std::uint64_t count) {
  if (count > m_in.left() / k_min_tensor_bytes) {
    return fail_at(
        m_in.pos(), Where{"tensor infos"},
        cat(count, " tensors cannot fit in the ", m_in.left(), " bytes left in the file"));
  }
  if (auto ok = m_in.want(count * k_min_tensor_bytes); !ok) {
    return ok;
  }
  const std::uint64_t room = m_in.left_in_prefix() / k_min_tensor_bytes;
  m_file.tensors.reserve(std::min(count, room));
  m_tensor_at.reserve(std::min(count, room));
  for (std::uint64_t i = 0; i < count; ++i) {
    m_tensor_at.push_back(m_in.pos());
    GGUF_TRY(info, tensor_info(i));
    m_file.tensors.push_back(std::move(info));
  }
  std::vector<std::pair<std::string_view, std::uint64_t>> names;
  names.reserve(m_file.tensors.size());
  for (std::uint64_t i = 0; i < m_file.tensors.size(); ++i) {
    names.emplace_back(m_file.tensors[i].name, i);
  }
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end(),
                                [](const auto& a, const auto& b) { return a.first == b.first; });
  if (dup != names.end()) {
    const std::uint64_t i = std::max(dup->second, std::next(dup)->second);
    return fail_at(m_tensor_at[i], Where{"tensor", i, m_file.tensors[i].name},
                   "duplicate tensor name");
  }
  return {};
}

Parsed<TensorInfo> Parser::tensor_info(std::uint64_t index) {
  Where w{"tensor", index};
  const std::uint64_t at = m_in.pos();
  TensorInfo t;
  GGUF_TRY(name, string(w, "the name", k_max_tensor_name));
  t.name = std::move(name);
  w.name = t.name;
  const std::uint64_t dims_at = m_in.pos();
  GGUF_TRY(n_dims, m_in.read<std::uint32_t>(w, "the dimension count"));
  if (n_dims > k_max_dims) {
    return fail_at(dims_at, w, cat(n_dims, " dimensions (at most ", k_max_dims, ")"));
  }
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    GGUF_TRY(dim, m_in.read<std::uint64_t>(w, "a dimension"));
    if (dim > k_max_i64) {
      return fail_at(dims_at, w, cat("dimension ", d, " is ", dim, " (more than 2^63-1)"));
    }
    t.dims.push_back(dim);
  }
  const std::uint64_t type_at = m_in.pos();
  GGUF_TRY(type, m_in.read<std::uint32_t>(w, "the type"));
  t.type = type;
  if (!type_traits(type)) {
    const std::string_view removed = detail::removed_type_name(type);
    return fail_at(type_at, w,
                   removed.empty() ? cat("unknown ggml type ", type)
                                   : cat("ggml type ", type, " (", removed,
                                         ") was removed from ggml; re-quantize the model"));
  }
  GGUF_TRY(offset, m_in.read<std::uint64_t>(w, "the data offset"));
  t.offset = offset;
  if (auto ok = tensor_size(t, w, at); !ok) {
    return std::unexpected(std::move(ok.error()));
  }
  return t;
}

// n_bytes = n_elements / block_size * type_size (ggml_nbytes for contiguous tensors); a row
// must hold whole blocks, and the element count must fit in int64 as ggml requires.
Parsed<void> Parser::tensor_size(TensorInfo& t, const Where& w, std::uint64_t at) {
  const TypeTraits traits = *type_traits(t.type);
  std::uint64_t n = 1;
  for (std::uint64_t dim : t.dims) {
    if (dim != 0 && n > k_max_i64 / dim) {
      return fail_at(at, w, "the product of the dimensions overflows int64");
    }
    n *= dim;
  }
  const std::uint64_t row = t.dims.empty() ? 1 : t.dims[0];
  if (row % traits.block_size != 0) {
    return fail_at(at, w,
                   cat("row length ", row, " is not a multiple of ", traits.name, "'s block size ",
                       traits.block_size));
  }
  const std::uint64_t blocks = n / traits.block_size;
  if (blocks > k_max_i64 / traits.type_size) {
    return fail_at(at, w, "the byte size overflows int64");
  }
  t.n_elements = n;
  t.n_bytes = blocks * traits.type_size;
  return {};
}

Parsed<void> Parser::data_layout() {
  const std::uint64_t align = m_file.alignment;
  const std::uint64_t pos = m_in.pos();
  if (pos > k_max_i64) {
    return fail_at(pos, Where{"data section"}, "offset overflows");
  }
  m_file.data_offset = (pos + align - 1) / align * align;
  std::uint64_t expected = 0;
  for (std::uint64_t i = 0; i < m_file.tensors.size(); ++i) {
    const TensorInfo& t = m_file.tensors[i];
    const Where w{"tensor", i, t.name};
    if (t.offset % align != 0) {
      return fail_at(m_tensor_at[i], w,
                     cat("data offset ", t.offset, " is not a multiple of the alignment ", align));
    }
    if (t.offset != expected) {
      return fail_at(m_tensor_at[i], w,
                     cat("data offset ", t.offset, ", expected ", expected,
                         " (ggml stores tensors in order, each padded to ", align, " bytes)"));
    }
    const std::uint64_t start = m_file.data_offset + t.offset; // both <= 2^63 here
    if (t.n_bytes > m_file.file_size || start > m_file.file_size - t.n_bytes) {
      return fail_at(m_tensor_at[i], w,
                     cat("data [", start, ", ", start + t.n_bytes, ") runs past the end of the ",
                         m_file.file_size, "-byte file (truncated?)"));
    }
    expected += (t.n_bytes + align - 1) / align * align; // n_bytes <= file_size <= 2^63
  }
  m_file.data_size = expected;
  return {};
}

Parsed<std::uint32_t> Parser::element_type(const Where& w, std::string_view what) {
  const std::uint64_t at = m_in.pos();
  GGUF_TRY(type, m_in.read<std::uint32_t>(w, what));
  if (type >= k_value_type_count) {
    return fail_at(at, w, cat("unknown value type ", type));
  }
  return type;
}

Parsed<std::uint64_t> Parser::string_length(const Where& w, std::string_view what,
                                            std::uint64_t max) {
  const std::uint64_t at = m_in.pos();
  GGUF_TRY(len, m_in.read<std::uint64_t>(w, what));
  if (len > max) {
    return fail_at(at, w, cat(what, ": length ", len, " exceeds the limit of ", max));
  }
  if (len > m_in.left()) {
    return fail_at(
        at, w,
        cat(what, ": length ", len, " exceeds the ", m_in.left(), " bytes left in the file"));
  }
  return len;
}

Parsed<std::string> Parser::string(const Where& w, std::string_view what, std::uint64_t max) {
  GGUF_TRY(len, string_length(w, what, max));
  GGUF_TRY(bytes, m_in.take(len, w, what));
  return std::string(bytes);
}

template <class Raw, class Stored>
Parsed<Value> Parser::scalar(ValueType type, const Where& w, std::string_view what) {
  GGUF_TRY(x, m_in.read<Raw>(w, what));
  Value v;
  v.type = type;
  if constexpr (std::same_as<Stored, bool>) {
    v.data = x != 0;
  } else {
    v.data = Stored{x};
  }
  return v;
}

Parsed<Value> Parser::value(std::uint32_t type, const Where& w, std::uint32_t depth) {
  using V = ValueType;
  const auto t = static_cast<V>(type);
  switch (t) {
  case V::uint8:
    return scalar<std::uint8_t, std::uint64_t>(t, w, "a uint8");
  case V::int8:
    return scalar<std::int8_t, std::int64_t>(t, w, "an int8");
  case V::uint16:
    return scalar<std::uint16_t, std::uint64_t>(t, w, "a uint16");
  case V::int16:
    return scalar<std::int16_t, std::int64_t>(t, w, "an int16");
  case V::uint32:
    return scalar<std::uint32_t, std::uint64_t>(t, w, "a uint32");
  case V::int32:
    return scalar<std::int32_t, std::int64_t>(t, w, "an int32");
  case V::uint64:
    return scalar<std::uint64_t, std::uint64_t>(t, w, "a uint64");
  case V::int64:
    return scalar<std::int64_t, std::int64_t>(t, w, "an int64");
  case V::float32:
    return scalar<float, double>(t, w, "a float32");
  case V::float64:
    return scalar<double, double>(t, w, "a float64");
  case V::boolean:
    return scalar<std::uint8_t, bool>(t, w, "a bool");
  case V::array:
    return array(w, depth + 1);
  case V::string:
    break;
  }
  GGUF_TRY(s, string(w, "a string", k_max_string_bytes));
  Value v;
  v.type = V::string;
  v.data = std::move(s);
  return v;
}

Parsed<Value> Parser::array(const Where& w, std::uint32_t depth) {
  const std::uint64_t at = m_in.pos();
  if (depth > k_max_array_depth) {
    return fail_at(at, w, cat("arrays nested more than ", k_max_array_depth, " deep"));
  }
  GGUF_TRY(type, element_type(w, "the array element type"));
  GGUF_TRY(count, m_in.read<std::uint64_t>(w, "the array length"));
  if (count > m_in.left() / min_value_bytes(type)) {
    return fail_at(at, w,
                   cat("array of ", count, " ", detail::value_type_name(type),
                       " values cannot fit in the ", m_in.left(), " bytes left in the file"));
  }
  Array arr;
  arr.element_type = static_cast<ValueType>(type);
  arr.count = count;
  // Only the top-level array of a key in hash_items; its items are strings, which do not nest.
  const bool hash = std::exchange(m_hash_next_array, false) &&
                    type == static_cast<std::uint32_t>(ValueType::string) &&
                    count <= k_max_hashed_items;
  std::vector<std::uint64_t>* hashes = hash ? &arr.item_hashes : nullptr;
  if (hash) {
    arr.items_hashed = true;
    arr.item_hashes.reserve(count); // count <= bytes left / 8 and <= k_max_hashed_items
  }
  if (count <= k_max_kept_array && m_kept_items + count <= k_max_kept_items) {
    m_kept_items += count;
    arr.items_kept = true;
    arr.items.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      Where item = w;
      item.element = i;
      GGUF_TRY(v, value(type, item, depth));
      if (hashes != nullptr) {
        hashes->push_back(fnv1a(*v.as_string()));
      }
      arr.items.push_back(std::move(v));
    }
  } else if (auto ok = skip_items(type, count, w, depth, hashes); !ok) {
    return std::unexpected(std::move(ok.error()));
  }
  Value v;
  v.type = ValueType::array;
  v.data = std::move(arr);
  return v;
}

// Steps over `count` values without keeping them (token lists, merges, scores).
Parsed<void> Parser::skip_items(std::uint32_t type, std::uint64_t count, const Where& w,
                                std::uint32_t depth, std::vector<std::uint64_t>* hashes) {
  if (is_fixed_size(type)) {
    GGUF_TRY(skipped, m_in.take(count * min_value_bytes(type), w, "the array values"));
    (void)skipped;
    return {};
  }
  if (auto ok = m_in.want(count * min_value_bytes(type)); !ok) {
    return ok;
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    Where item = w;
    item.element = i;
    if (type == static_cast<std::uint32_t>(ValueType::string)) {
      GGUF_TRY(len, string_length(item, "a string", k_max_string_bytes));
      GGUF_TRY(skipped, m_in.take(len, item, "a string"));
      if (hashes != nullptr) {
        hashes->push_back(fnv1a(skipped));
      }
      continue;
    }
    const std::uint64_t at = m_in.pos();
    if (depth + 1 > k_max_array_depth) {
      return fail_at(at, item, cat("arrays nested more than ", k_max_array_depth, " deep"));
    }
    GGUF_TRY(inner, element_type(item, "the array element type"));
    GGUF_TRY(n, m_in.read<std::uint64_t>(item, "the array length"));
    if (n > m_in.left() / min_value_bytes(inner)) {
      return fail_at(at, item,
                     cat("array of ", n, " ", detail::value_type_name(inner),
                         " values cannot fit in the ", m_in.left(), " bytes left in the file"));
    }
    if (auto ok = skip_items(inner, n, item, depth + 1); !ok) {
      return ok;
    }
  }
  return {};
}

} // namespace

namespace detail {

Parsed<File> parse_prefix(std::string_view bytes, std::uint64_t file_size, const GrowPrefix& grow,
                          const ReadOptions* options) {
  constexpr std::uint64_t k_max_file_size = 1ull << 62; // keeps offset sums far from overflow
  if (file_size > k_max_file_size) {
    return failure(cat("gguf: file size ", file_size, " exceeds the limit of ", k_max_file_size));
  }
  if (bytes.size() > file_size) {
    bytes = bytes.substr(0, file_size);
  }
  return Parser(bytes, file_size, grow, options).run();
}

} // namespace detail

Result<File> parse(std::string_view bytes) {
  return parse(bytes, bytes.size());
}

Result<File> parse(std::string_view bytes, std::uint64_t file_size) {
  auto parsed = detail::parse_prefix(bytes, file_size);
  if (!parsed) {
    return fail(Error::bad_request(std::move(parsed.error().message)));
  }
  return std::move(*parsed);
}

} // namespace ask::core::gguf

#undef GGUF_TRY
