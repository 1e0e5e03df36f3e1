// GGUF parser, its metadata values: the value type of a field, strings, scalars of each
// type, and arrays, kept (up to the limits of gguf.h), hashed (ReadOptions::hash_items) or
// stepped over. The rest of the parser is in gguf.cpp; what both share in gguf_parser.h.

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/gguf.h"
#include "core/gguf_detail.h"
#include "core/gguf_parser.h"

namespace ask::core::gguf::detail {
namespace {

constexpr std::uint32_t k_value_type_count = 13;

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

} // namespace

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

} // namespace ask::core::gguf::detail
