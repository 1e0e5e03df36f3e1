// ggml tensor type sizes, metadata value accessors and File/SplitModel helpers.

#include <algorithm>
#include <array>

#include "core/gguf.h"
#include "core/gguf_detail.h"

namespace ask::core::gguf {
namespace {

// Block sizes (elements) and type sizes (bytes per block) as in ggml's type_traits table
// (ggml/src/ggml.c: `.blck_size = QK_K, .type_size = sizeof(block_q4_K)` ...) with the block
// structs of ggml/src/ggml-common.h (static_assert'ed sizes), checked against llama.cpp
// master (ggml.h enum with GGML_TYPE_COUNT = 42). QK_K = 256, ggml_half = 2 bytes:
//   Q4_0  {half d; u8 qs[16]}              = 18 / 32     Q4_1 {half d, m; u8 qs[16]}  = 20 / 32
//   Q5_0  {half d; u8 qh[4]; u8 qs[16]}    = 22 / 32     Q5_1 {2 half; qh[4]; qs[16]} = 24 / 32
//   Q8_0  {half d; i8 qs[32]}              = 34 / 32     Q8_1 {2 half; i8 qs[32]}     = 36 / 32
//   Q2_K  {scales[16]; qs[64]; 2 half}     = 84 / 256    Q3_K {hmask[32]; qs[64]; scales[12]; half}
//   = 110 Q4_K  {2 half; scales[12]; qs[128]}    = 144 / 256   Q5_K {2 half; scales[12]; qh[32];
//   qs[128]} = 176 Q6_K  {ql[128]; qh[64]; scales[16]; half} = 210      Q8_K {float d; qs[256]; i16
//   bsums[16]} = 292 IQ2_XXS {half; u16 qs[32]}             = 66          IQ2_XS {half; u16 qs[32];
//   scales[8]} = 74 IQ2_S {half; qs[64]; qh[8]; scales[8]} = 82          IQ3_XXS {half; qs[96]} =
//   98 IQ3_S {half; qs[64]; qh[8]; signs[32]; scales[4]} = 110 IQ1_S {half; qs[32]; u16 qh[8]} = 50
//   IQ1_M {qs[32]; qh[16]; scales[8]} = 56 IQ4_NL {half; qs[16]}                  = 18 / 32 IQ4_XS
//   {half; u16; scales_l[4]; qs[128]} = 136 TQ1_0 {qs[48]; qh[4]; half}            = 54 / 256 TQ2_0
//   {qs[64]; half}         = 66 / 256 MXFP4 {u8 e; qs[16]}                   = 17 / 32     NVFP4
//   {u8 d[4]; qs[32]}      = 36 / 64 Q1_0  {half d; qs[16]}                 = 18 / 128
constexpr std::uint32_t k_type_count = 42;
constexpr std::array<TypeTraits, k_type_count> k_types = {{
    {"F32", 1, 4},        {"F16", 1, 2},       {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {"", 0, 0},           {"", 0, 0},          {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},     {"Q8_1", 32, 36},    {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},   {"Q5_K", 256, 176},  {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},         {"I16", 1, 2},       {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},        {"IQ1_M", 256, 56},  {"BF16", 1, 2},       {"", 0, 0},
    {"", 0, 0},           {"", 0, 0},          {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {"", 0, 0},           {"", 0, 0},          {"", 0, 0},           {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},    {"Q1_0", 128, 18},
}};

} // namespace

std::optional<TypeTraits> type_traits(std::uint32_t ggml_type) {
  if (ggml_type >= k_type_count || k_types[ggml_type].block_size == 0) {
    return std::nullopt;
  }
  return k_types[ggml_type];
}

std::optional<std::uint64_t> Value::as_uint() const {
  if (const auto* u = std::get_if<std::uint64_t>(&data)) {
    return *u;
  }
  if (const auto* i = std::get_if<std::int64_t>(&data)) {
    return *i < 0 ? std::nullopt : std::optional<std::uint64_t>(static_cast<std::uint64_t>(*i));
  }
  if (const auto* b = std::get_if<bool>(&data)) {
    return *b ? 1 : 0;
  }
  return std::nullopt;
}

std::optional<double> Value::as_float() const {
  if (const auto* d = std::get_if<double>(&data)) {
    return *d;
  }
  if (const auto* u = std::get_if<std::uint64_t>(&data)) {
    return static_cast<double>(*u);
  }
  if (const auto* i = std::get_if<std::int64_t>(&data)) {
    return static_cast<double>(*i);
  }
  return std::nullopt;
}

const std::string* Value::as_string() const {
  return std::get_if<std::string>(&data);
}

const Array* Value::as_array() const {
  return std::get_if<Array>(&data);
}

const Value* File::find(std::string_view key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

std::optional<std::uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  return v == nullptr ? std::nullopt : v->as_uint();
}

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  const std::string* s = v == nullptr ? nullptr : v->as_string();
  return s == nullptr ? std::nullopt : std::optional<std::string>(*s);
}

std::string File::architecture() const {
  return get_string("general.architecture").value_or("");
}

std::uint64_t File::tensor_bytes() const {
  std::uint64_t total = 0;
  for (const auto& t : tensors) {
    total += t.n_bytes; // each n_bytes <= file_size, and there are at most 2^18 of them
  }
  return total;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = std::find_if(tensors.begin(), tensors.end(),
                         [&](const TensorInfo& t) { return t.name == name; });
  return it == tensors.end() ? nullptr : &*it;
}

std::uint64_t SplitModel::tensor_count() const {
  std::uint64_t n = 0;
  for (const auto& p : parts) {
    n += p.tensors.size();
  }
  return n;
}

std::uint64_t SplitModel::tensor_bytes() const {
  std::uint64_t n = 0;
  for (const auto& p : parts) {
    n += p.tensor_bytes();
  }
  return n;
}

std::uint64_t SplitModel::file_size() const {
  std::uint64_t n = 0;
  for (const auto& p : parts) {
    n += p.file_size;
  }
  return n;
}

namespace detail {

std::string_view removed_type_name(std::uint32_t ggml_type) {
  switch (ggml_type) {
  case 4:
    return "Q4_2";
  case 5:
    return "Q4_3";
  case 31:
    return "Q4_0_4_4";
  case 32:
    return "Q4_0_4_8";
  case 33:
    return "Q4_0_8_8";
  case 36:
    return "IQ4_NL_4_4";
  case 37:
    return "IQ4_NL_4_8";
  case 38:
    return "IQ4_NL_8_8";
  default:
    return {};
  }
}

std::string value_type_name(std::uint32_t type) {
  static constexpr std::array<std::string_view, 13> k_names = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64"};
  if (type < k_names.size()) {
    return std::string(k_names[type]);
  }
  return cat("type ", type);
}

} // namespace detail
} // namespace ask::core::gguf
