// GGUF parser: header, metadata, tensor infos, data layout. The input is untrusted: every
// count and length is checked against the bytes left in the file before anything is read or
// reserved, nested arrays are bounded, and each error names the byte offset of the field.
//
// Layout (ggml/src/gguf.cpp, docs/gguf.md): "GGUF" u32:version u64:n_tensors u64:n_kv,
// n_kv × {string key, u32 type, value}, n_tensors × {string name, u32 n_dims, n_dims × u64,
// u32 ggml_type, u64 offset}, padding to general.alignment, then the data section where
// tensor i starts at `offset` (= sum of the previous tensors' sizes, each padded).
//
// The metadata values (scalars, strings, arrays) are read in gguf_values.cpp; the Parser and
// Cursor both use are declared in gguf_parser.h.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/gguf.h"
#include "core/gguf_detail.h"
#include "core/gguf_parser.h"

namespace ask::core::gguf {
namespace detail {
namespace {

constexpr std::uint64_t k_max_i64 = static_cast<std::uint64_t>(INT64_MAX);
// Smallest encoding of a metadata pair (u64 key length, u32 type, one byte) and of a tensor
// info (u64 name length, u32 n_dims, u32 type, u64 offset).
constexpr std::uint64_t k_min_kv_bytes = 13;
constexpr std::uint64_t k_min_tensor_bytes = 24;

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

} // namespace

std::unexpected<Fail> fail_at(std::uint64_t offset, const Where& w, std::string_view detail) {
  return failure(cat("gguf: offset ", offset, ": ", describe(w), ": ", detail));
}

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
