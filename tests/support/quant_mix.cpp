#include "tests/support/quant_mix.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/gguf.h"

namespace ask::testing::gguf {
namespace {

// llama-quant.cpp tensor_get_category: broad roles found by substring, first match wins.
enum class Category {
  output,
  token_embd,
  attn_qkv,
  attn_kv_b,
  attn_v,
  attn_k,
  attn_q,
  attn_output,
  ffn_up,
  ffn_gate,
  ffn_down,
  other,
};

Category category(std::string_view name) {
  if (name == "output.weight") {
    return Category::output;
  }
  if (name == "token_embd.weight") {
    return Category::token_embd;
  }
  const std::pair<std::string_view, Category> by_part[] = {
      {"attn_qkv.weight", Category::attn_qkv},
      {"attn_kv_b.weight", Category::attn_kv_b},
      {"attn_v.weight", Category::attn_v},
      {"attn_k.weight", Category::attn_k},
      {"attn_q.weight", Category::attn_q},
      {"attn_output.weight", Category::attn_output},
      {"ffn_up", Category::ffn_up},
      {"ffn_gate", Category::ffn_gate},
      {"ffn_down", Category::ffn_down},
  };
  for (const auto& [part, cat] : by_part) {
    if (name.find(part) != std::string_view::npos) {
      return cat;
    }
  }
  return Category::other;
}

bool is_attn_v_like(Category c) {
  return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b;
}

// llama-quant.cpp tensor_allows_quantization, for the tensors the zoo writes.
bool quantizable(const PlannedTensor& t) {
  const std::string_view n = t.name;
  return t.dims.size() >= 2 && n.ends_with("weight") && !n.contains("_norm.weight") &&
         !n.contains("ffn_gate_inp.weight") && !n.contains("ssm_conv1d");
}

std::uint32_t block_size(std::uint32_t type) {
  const auto traits = core::gguf::type_traits(type);
  return traits ? traits->block_size : 1;
}

// llama-quant.cpp tensor_type_fallback: a row length the type's block does not divide.
std::uint32_t fallback(std::uint32_t type, std::uint64_t ncols) {
  if (ncols % block_size(type) == 0) {
    return type;
  }
  std::uint32_t out = gt::f16;
  switch (type) {
  case gt::q4_k:
    out = gt::q5_0;
    break;
  case gt::q5_k:
    out = gt::q5_1;
    break;
  case gt::q6_k:
    out = gt::q8_0;
    break;
  default:
    throw std::invalid_argument("quant_mix: no fallback for this type and shape");
  }
  return ncols % block_size(out) == 0 ? out : gt::f16;
}

struct State {
  const FileType& ft;
  const QuantFacts& m;
  bool tied = true;
  int n_attn_v = 0;
  int i_attn_v = 0;
};

std::uint32_t q4_k_m_rule(State& s, Category c, int layer, std::uint32_t type) {
  if (is_attn_v_like(c)) {
    if (use_more_bits(s.i_attn_v, s.n_attn_v)) {
      type = gt::q6_k;
    }
    if (s.m.is_70b && type == gt::q4_k) {
      type = gt::q5_k;
    }
    if (s.m.n_expert == 8) {
      type = gt::q8_0;
    }
  } else if (c == Category::attn_k && s.m.n_expert == 8) {
    type = gt::q8_0;
  } else if (c == Category::ffn_down && use_more_bits(layer, static_cast<int>(s.m.n_layer))) {
    type = gt::q6_k;
  } else if (c == Category::attn_output && s.m.n_expert == 8) {
    type = gt::q5_k;
  }
  return type;
}

std::uint32_t iq4_nl_rule(State& s, Category c, int layer, std::uint32_t type) {
  // Two rules of llama-quant.cpp that give the same type, kept apart as they are there.
  if (is_attn_v_like(c) && s.m.n_gqa >= 4) { // NOLINT(bugprone-branch-clone)
    type = gt::q5_k;
  } else if (c == Category::ffn_down && layer < static_cast<int>(s.m.n_layer) / 8) {
    type = gt::q5_k; // without an importance matrix
  }
  if (is_attn_v_like(c) && s.m.n_expert == 8) {
    type = gt::q8_0;
  }
  return type;
}

// llama-quant.cpp llama_tensor_get_type_impl for a quantized base type.
std::uint32_t quantized_type(State& s, const PlannedTensor& t) {
  const Category c = category(t.name);
  const int layer = layer_of(t.name);
  std::uint32_t type = s.ft.base;
  if (c == Category::output || (s.tied && c == Category::token_embd)) {
    if (s.ft.name == "mxfp4_moe" || t.dims[0] % block_size(type) != 0) {
      type = gt::q8_0;
    } else if (type != gt::q8_0) {
      type = gt::q6_k;
    }
  } else if (s.ft.name == "mxfp4_moe") {
    type = t.dims.size() > 2 && t.dims[2] > 1 ? gt::mxfp4 : gt::q8_0;
  } else if (s.ft.name == "q4_k_m") {
    type = q4_k_m_rule(s, c, layer, type);
  } else if (s.ft.name == "iq4_nl") {
    type = iq4_nl_rule(s, c, layer, type);
  } else if (is_attn_v_like(c) && s.m.n_expert == 8) {
    type = gt::q8_0;
  }
  if (is_attn_v_like(c)) {
    ++s.i_attn_v;
  }
  return fallback(type, t.dims[0]);
}

bool is_float(std::uint32_t type) {
  return type == gt::f32 || type == gt::f16 || type == gt::bf16;
}

} // namespace

const std::vector<FileType>& file_types() {
  static const std::vector<FileType> k_types = {
      {"f16", 1, gt::f16},          {"bf16", 32, gt::bf16}, {"q8_0", 7, gt::q8_0},
      {"q4_k_m", 15, gt::q4_k},     {"q4_0", 2, gt::q4_0},  {"iq4_nl", 25, gt::iq4_nl},
      {"mxfp4_moe", 38, gt::mxfp4},
  };
  return k_types;
}

const FileType* file_type(std::string_view name) {
  for (const FileType& ft : file_types()) {
    if (ft.name == name) {
      return &ft;
    }
  }
  return nullptr;
}

bool use_more_bits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

int layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) {
    return -1;
  }
  int layer = -1;
  const char* begin = name.data() + 4;
  const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  return ec == std::errc{} && end != begin && *end == '.' ? layer : -1;
}

void sort_like_quantize(std::vector<PlannedTensor>& tensors) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    const int la = layer_of(a.name), lb = layer_of(b.name);
    return la != lb ? la < lb : a.name < b.name;
  });
}

void assign_types(std::vector<PlannedTensor>& tensors, const FileType& ft, const QuantFacts& m) {
  State s{ft, m};
  for (const PlannedTensor& t : tensors) {
    s.tied = s.tied && category(t.name) != Category::output;
    s.n_attn_v += is_attn_v_like(category(t.name)) ? 1 : 0;
  }
  for (PlannedTensor& t : tensors) {
    if (!quantizable(t)) {
      t.type = gt::f32;
    } else if (is_float(ft.base)) {
      t.type = ft.base;
    } else {
      t.type = quantized_type(s, t);
    }
  }
}

} // namespace ask::testing::gguf
