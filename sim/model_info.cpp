#include "sim/model_info.h"

#include <array>
#include <charconv>
#include <cstdio>

#include "core/strings.h"

namespace ask::sim {

const char* const k_chatml_template =
    "{%- for message in messages -%}\n  {{- '<|im_start|>' + message.role + '\n' + message.content "
    "+ '<|im_end|>\n' -}}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n  {{- "
    "'<|im_start|>assistant\n' -}}\n{%- endif -%}";

namespace {

struct FtypeName {
  std::uint32_t id;
  const char* name;
};

constexpr std::array k_ftypes = {
    FtypeName{0, "all F32"},        FtypeName{1, "F16"},
    FtypeName{2, "Q4_0"},           FtypeName{3, "Q4_1"},
    FtypeName{7, "Q8_0"},           FtypeName{8, "Q5_0"},
    FtypeName{9, "Q5_1"},           FtypeName{10, "Q2_K - Medium"},
    FtypeName{11, "Q3_K - Small"},  FtypeName{12, "Q3_K - Medium"},
    FtypeName{13, "Q3_K - Large"},  FtypeName{14, "Q4_K - Small"},
    FtypeName{15, "Q4_K - Medium"}, FtypeName{16, "Q5_K - Small"},
    FtypeName{17, "Q5_K - Medium"}, FtypeName{18, "Q6_K"},
    FtypeName{32, "BF16"},          FtypeName{38, "MXFP4 MoE"},
};

constexpr std::uint32_t k_f32 = 0; // ggml type ids
constexpr std::uint32_t k_f16 = 1;

// "blk.12.attn_q.weight" -> 12; -1 for tensors outside the repeating layers.
int layer_of(const std::string& name) {
  if (!name.starts_with("blk.")) {
    return -1;
  }
  int layer = -1;
  const char* begin = name.data() + 4;
  auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  return (ec == std::errc() && end != begin) ? layer : -1;
}

void add_tensor(ModelInfo& info, std::string name, std::uint64_t bytes, std::uint32_t type_id,
                std::string_view type) {
  TensorGroup t;
  t.layer = layer_of(name);
  t.is_output = name.starts_with("output");
  t.bytes = bytes;
  t.name = std::move(name);
  info.tensors.push_back(std::move(t));
  auto& [type_name, count] = info.tensor_types[type_id];
  type_name = core::to_lower(type);
  count += 1;
  info.tensor_bytes += bytes;
}

} // namespace

std::uint64_t ModelInfo::n_ff(std::uint64_t layer) const {
  if (layer < arch.n_ff.size() && arch.n_ff[layer] > 0) {
    return arch.n_ff[layer];
  }
  return 4 * arch.n_embd;
}

core::Result<ModelInfo> load_model_info(const std::string& path) {
  auto file = core::gguf::read_file(path);
  if (!file) {
    return core::fail(file.error());
  }
  auto arch = core::gguf::arch_params(*file);
  if (!arch) {
    return core::fail(arch.error());
  }
  ModelInfo info;
  info.path = path;
  info.arch = std::move(*arch);
  info.name = file->get_string("general.name").value_or("");
  info.file_type = static_cast<std::uint32_t>(file->get_uint("general.file_type").value_or(1));
  info.chat_template = file->get_string("tokenizer.chat_template").value_or("");
  info.file_size = file->file_size;
  info.n_metadata = file->metadata.size();
  info.gguf_version = file->version;
  for (const core::gguf::TensorInfo& t : file->tensors) {
    auto traits = core::gguf::type_traits(t.type);
    add_tensor(info, t.name, t.n_bytes, t.type, traits ? traits->name : std::string_view("?"));
    info.n_params += t.n_elements;
  }
  return info;
}

ModelInfo fake_model_info(const std::string& path) {
  ModelInfo info;
  info.path = path;
  info.name = "llm-sim-fake";
  core::gguf::ArchParams& a = info.arch;
  a.arch = "llama";
  a.n_layer = 2;
  a.n_embd = 64;
  a.n_ctx_train = 2048;
  a.n_vocab = 32000;
  a.n_head.assign(2, 4);
  a.n_head_kv.assign(2, 2);
  a.n_embd_head_k = a.n_embd_head_v = 16;
  a.is_swa_layer.assign(2, false);
  a.n_ff.assign(2, 128);
  info.file_size = 4972480;
  info.n_metadata = 26;
  info.chat_template = k_chatml_template;
  const std::uint64_t embd = 32000ull * 64 * 2;
  add_tensor(info, "token_embd.weight", embd, k_f16, "F16");
  add_tensor(info, "output_norm.weight", 64 * 4, k_f32, "F32");
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    add_tensor(info, p + "attn_norm.weight", 64 * 4, k_f32, "F32");
    add_tensor(info, p + "ffn_norm.weight", 64 * 4, k_f32, "F32");
    for (const char* w : {"attn_q", "attn_output"}) {
      add_tensor(info, p + w + ".weight", 64 * 64 * 2, k_f16, "F16");
    }
    for (const char* w : {"attn_k", "attn_v"}) {
      add_tensor(info, p + w + ".weight", 64 * 32 * 2, k_f16, "F16");
    }
    for (const char* w : {"ffn_gate", "ffn_up", "ffn_down"}) {
      add_tensor(info, p + w + ".weight", 64 * 128 * 2, k_f16, "F16");
    }
  }
  info.n_params = 2122048; // as llama-server reports for the fixture
  return info;
}

std::string ftype_name(std::uint32_t file_type) {
  for (const FtypeName& f : k_ftypes) {
    if (f.id == file_type) {
      return f.name;
    }
  }
  return "unknown, may not work";
}

std::string params_text(std::uint64_t n) {
  char buf[32];
  double v = static_cast<double>(n);
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f B", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f K", v / 1e3);
  }
  return buf;
}

} // namespace ask::sim
