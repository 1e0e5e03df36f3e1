// Architecture parameters from `<arch>.*` metadata, following llama.cpp's loader
// (src/llama-model.cpp load_hparams, src/llama-hparams.cpp, src/models/<arch>.cpp):
//
// - n_head / n_head_kv: `attention.head_count[_kv]`, a scalar or one entry per layer
//   (get_key_or_arr: an array must have exactly block_count entries); n_head_kv defaults to
//   n_head. Head sizes: `attention.key_length` / `value_length`, else n_embd / n_head of
//   layer 0 (0 when that is 0, as llama.cpp does).
// - Vocabulary: `<arch>.vocab_size`, else the length of `tokenizer.ggml.tokens`.
// - Sliding window (llama_hparams::set_swa_pattern(n_pattern, dense_first)): layer il uses
//   the window when n_pattern == 0, or il % n_pattern < n_pattern - 1 (dense_first: il %
//   n_pattern != 0). So for gemma3 a pattern N means every N-th layer (il = N-1, 2N-1, ...)
//   has full attention. n_pattern is `attention.sliding_window_pattern` when it is a scalar,
//   else the architecture's built-in period (k_swa_rules), else 0 (every layer windowed).
//   When the key is an array (gemma4, cohere2moe, step35, mimo2: get_key_or_arr into
//   swa_layers) entry il != 0 marks layer il as windowed. No window (sliding_window absent
//   or 0, and no built-in default) means no windowed layers. phi3 files carry a window
//   (Phi-3 mini: 2047) that llama.cpp reads and then turns off (src/models/phi3.cpp:
//   swa_type NONE, n_swa 0): every layer attends to the whole context.
// - Recurrent layers (llama-arch.cpp llm_arch_is_recurrent / llm_arch_is_hybrid and each
//   model's recurrent_layer_arr):
//     mamba, mamba2, rwkv6, rwkv6qwen2, rwkv7, arwkv7  every layer recurrent, no KV cache;
//     falcon-h1                                        every layer both (parallel hybrid:
//                                                      create_memory filters return true);
//     nemotron_h, nemotron_h_moe                       recurrent iff n_head_kv == 0 and
//                                                      n_ff == 0; KV iff n_head_kv > 0 and
//                                                      n_ff == 0; MLP layers hold neither;
//     qwen3next, qwen35, qwen35moe                     recurrent iff attention.recurrent_layers
//                                                      says so, else iff (il + 1) %
//                                                      full_attention_interval != 0 (default 4);
//                                                      MTP layers never;
//     jamba, plamo2, granitehybrid, lfm2, lfm2moe,     recurrent iff n_head_kv(il) == 0;
//     kimi-linear
//     any other architecture                           recurrent iff head_count_kv is an
//                                                      array, its entry is 0 and the file
//                                                      has ssm/wkv/shortconv sizes (our
//                                                      heuristic for hybrids not listed).
//   A layer that is not recurrent holds a KV cache, except the last
//   `attention.shared_kv_layers` layers (gemma3n/gemma4 reuse earlier layers' caches:
//   n_layer_kv_from_start = n_layer - shared_kv_layers).
// - MTP (NextN) layers: `nextn_predict_layers`, the last layers of block_count (GLM-4.5,
//   DeepSeek-V3, Qwen3.5/3.6 and others ship them); n_layer counts them, n_layer_nextn says
//   how many. has_kv_layer / is_recurrent_layer describe them as the rules above do; the
//   estimator decides what they hold (router/estimate.cpp).

#include <algorithm>
#include <array>

#include "core/gguf.h"
#include "core/gguf_detail.h"

namespace ask::core::gguf {
namespace {

using detail::cat;

// llama.cpp keeps per-layer values in arrays of LLAMA_MAX_LAYERS (512); we allow more but
// bound the vectors we build from an untrusted count.
constexpr std::uint64_t k_max_layers = 4096;

// Built-in sliding-window periods, set by llama.cpp before it reads the (optional)
// sliding_window_pattern key. Verified in llama-model.cpp: gemma2 (set_swa_pattern(2),
// n_swa default 4096), gemma3 (swa_period = 6), cohere2 (4), gpt-oss (2), llama4 (4,
// chunked, n_swa = 8192 unless sliding_window is present and 0), smallthinker (4,
// dense_first). The others are from src/models/<arch>.cpp as transcribed by a third-party
// audit (gemma3n 5, gemma-embedding 6, exaone4/olmo2/mellum/exaone-moe/afmoe 4, plamo3 8,
// laguna/cohere2moe 4 dense-first, modern-bert 3 dense-first).
struct SwaRule {
  std::string_view arch;
  std::uint32_t period = 0;
  bool dense_first = false;
  std::uint64_t default_window = 0; // window used when sliding_window is absent
};
constexpr std::array<SwaRule, 17> k_swa_rules = {{
    {"gemma2", 2, false, 4096},
    {"gemma3", 6, false, 0},
    {"gemma3n", 5, false, 0},
    {"gemma-embedding", 6, false, 0},
    {"cohere2", 4, false, 0},
    {"exaone4", 4, false, 0},
    {"olmo2", 4, false, 0},
    {"gpt-oss", 2, false, 0},
    {"mellum", 4, false, 0},
    {"exaone-moe", 4, false, 0},
    {"afmoe", 4, false, 0},
    {"plamo3", 8, false, 0},
    {"llama4", 4, false, 8192},
    {"smallthinker", 4, true, 0},
    {"laguna", 4, true, 0},
    {"cohere2moe", 4, true, 0},
    {"modern-bert", 3, true, 0},
}};

bool is_one_of(std::string_view arch, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), arch) != names.end();
}

Error bad(const std::string& key, std::string_view what) {
  return Error::bad_request(cat("gguf: ", key, ": ", what));
}

// An optional unsigned integer key; present with another type is an error.
Result<std::optional<std::uint64_t>> optional_uint(const File& f, const std::string& key) {
  const Value* v = f.find(key);
  if (v == nullptr) {
    return std::optional<std::uint64_t>{};
  }
  const std::optional<std::uint64_t> n = v->as_uint();
  if (!n) {
    return fail(bad(key, cat("expected an unsigned integer, found ",
                             detail::value_type_name(static_cast<std::uint32_t>(v->type)))));
  }
  return n;
}

// A scalar repeated for every layer, or an array with exactly one entry per layer.
Result<std::vector<std::uint64_t>> per_layer(const File& f, const std::string& key,
                                             std::uint64_t n_layer,
                                             const std::vector<std::uint64_t>& fallback) {
  const Value* v = f.find(key);
  if (v == nullptr) {
    return fallback;
  }
  const Array* arr = v->as_array();
  if (arr == nullptr) {
    auto n = optional_uint(f, key);
    if (!n) {
      return fail(std::move(n.error()));
    }
    return std::vector<std::uint64_t>(n_layer, **n);
  }
  if (arr->count != n_layer || !arr->items_kept) {
    return fail(bad(key, cat("array has ", arr->count, " entries for ", n_layer, " layers")));
  }
  std::vector<std::uint64_t> out;
  out.reserve(n_layer);
  for (const Value& item : arr->items) {
    const std::optional<std::uint64_t> n = item.as_uint();
    if (!n) {
      return fail(bad(key, "array entries must be unsigned integers"));
    }
    out.push_back(*n);
  }
  return out;
}

Result<void> read_sizes(const File& f, const std::string& k, ArchParams& p) {
  struct Field {
    std::string_view suffix;
    std::uint64_t* out;
  };
  const std::array<Field, 14> fields = {{
      {"context_length", &p.n_ctx_train},
      {"expert_count", &p.n_expert},
      {"expert_used_count", &p.n_expert_used},
      {"expert_shared_count", &p.n_expert_shared},
      {"ssm.conv_kernel", &p.ssm_d_conv},
      {"ssm.inner_size", &p.ssm_d_inner},
      {"ssm.state_size", &p.ssm_d_state},
      {"ssm.group_count", &p.ssm_n_group},
      {"ssm.time_step_rank", &p.ssm_dt_rank},
      {"wkv.head_size", &p.wkv_head_size},
      {"token_shift_count", &p.token_shift_count},
      {"shortconv.l_cache", &p.shortconv_l_cache},
      {"vocab_size", &p.n_vocab},
      {"embedding_length", &p.n_embd},
  }};
  for (const Field& field : fields) {
    auto n = optional_uint(f, k + std::string(field.suffix));
    if (!n) {
      return fail(std::move(n.error()));
    }
    *field.out = n->value_or(0);
  }
  if (p.n_vocab == 0) {
    const Value* tokens = f.find("tokenizer.ggml.tokens");
    const Array* arr = tokens ? tokens->as_array() : nullptr;
    p.n_vocab = arr ? arr->count : 0;
  }
  return {};
}

Result<void> read_heads(const File& f, const std::string& k, ArchParams& p) {
  auto ff =
      per_layer(f, k + "feed_forward_length", p.n_layer, std::vector<std::uint64_t>(p.n_layer, 0));
  auto heads =
      per_layer(f, k + "attention.head_count", p.n_layer, std::vector<std::uint64_t>(p.n_layer, 0));
  if (!ff || !heads) {
    return fail(std::move(!ff ? ff.error() : heads.error()));
  }
  p.n_ff = std::move(*ff);
  p.n_head = std::move(*heads);
  auto kv = per_layer(f, k + "attention.head_count_kv", p.n_layer, p.n_head);
  if (!kv) {
    return fail(std::move(kv.error()));
  }
  p.n_head_kv = std::move(*kv);
  const std::uint64_t head0 = p.n_layer > 0 ? p.n_head[0] : 0;
  const std::uint64_t derived = head0 == 0 ? 0 : p.n_embd / head0;
  std::array<std::pair<std::string_view, std::uint64_t*>, 4> dims = {{
      {"attention.key_length", &p.n_embd_head_k},
      {"attention.value_length", &p.n_embd_head_v},
      {"attention.key_length_swa", &p.n_embd_head_k_swa},
      {"attention.value_length_swa", &p.n_embd_head_v_swa},
  }};
  for (auto& [suffix, out] : dims) {
    auto n = optional_uint(f, k + std::string(suffix));
    if (!n) {
      return fail(std::move(n.error()));
    }
    *out = n->value_or(0);
  }
  // llama.cpp reads key_length/value_length only when n_head(0) > 0, else both are 0.
  p.n_embd_head_k = head0 == 0 ? 0 : (p.n_embd_head_k != 0 ? p.n_embd_head_k : derived);
  p.n_embd_head_v = head0 == 0 ? 0 : (p.n_embd_head_v != 0 ? p.n_embd_head_v : derived);
  p.n_embd_head_k_swa = p.n_embd_head_k_swa ? p.n_embd_head_k_swa : p.n_embd_head_k;
  p.n_embd_head_v_swa = p.n_embd_head_v_swa ? p.n_embd_head_v_swa : p.n_embd_head_v;
  return {};
}

const SwaRule* swa_rule(std::string_view arch) {
  auto it = std::find_if(k_swa_rules.begin(), k_swa_rules.end(),
                         [&](const SwaRule& r) { return r.arch == arch; });
  return it == k_swa_rules.end() ? nullptr : &*it;
}

Result<void> read_swa(const File& f, const std::string& k, ArchParams& p) {
  p.is_swa_layer.assign(p.n_layer, false);
  const SwaRule* rule = swa_rule(p.arch);
  auto window = optional_uint(f, k + "attention.sliding_window");
  if (!window) {
    return fail(std::move(window.error()));
  }
  p.sliding_window = window->value_or(rule ? rule->default_window : 0);
  if (p.arch == "phi3") {
    p.sliding_window = 0; // read, then disabled by llama.cpp
  }
  if (p.arch == "llama4" && p.sliding_window != 0) {
    p.sliding_window = 8192; // llama4 ignores the value: chunked attention, 8192 tokens
    p.swa_chunked = true;
  }
  if (p.sliding_window == 0) {
    return {};
  }
  const std::string key = k + "attention.sliding_window_pattern";
  const Value* pattern = f.find(key);
  if (pattern != nullptr && pattern->as_array() != nullptr) {
    auto flags = per_layer(f, key, p.n_layer, {});
    if (!flags) {
      return fail(std::move(flags.error()));
    }
    for (std::uint64_t il = 0; il < p.n_layer; ++il) {
      p.is_swa_layer[il] = (*flags)[il] != 0;
    }
    return {};
  }
  auto scalar = optional_uint(f, key);
  if (!scalar) {
    return fail(std::move(scalar.error()));
  }
  const std::uint64_t period = scalar->value_or(rule ? rule->period : 0);
  const bool dense_first = rule != nullptr && rule->dense_first;
  for (std::uint64_t il = 0; il < p.n_layer; ++il) {
    p.is_swa_layer[il] = period == 0 || (dense_first ? il % period != 0 : il % period < period - 1);
  }
  return {};
}

struct LayerKind {
  bool recurrent = false;
  bool kv = true;
};

// One layer's kind by the rules at the top of this file. `interval` is
// full_attention_interval (qwen3next family), `state` whether the file has recurrent-state
// sizes at all.
LayerKind layer_kind(const ArchParams& p, std::uint64_t il, std::uint64_t interval,
                     const std::vector<std::uint64_t>& recurrent_flags, bool head_kv_array,
                     bool state) {
  const std::string_view a = p.arch;
  const bool no_kv_heads = p.n_head_kv[il] == 0;
  if (is_one_of(a, {"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})) {
    return {true, false};
  }
  if (a == "falcon-h1") {
    return {true, true};
  }
  if (is_one_of(a, {"nemotron_h", "nemotron_h_moe"})) {
    return {no_kv_heads && p.n_ff[il] == 0, !no_kv_heads && p.n_ff[il] == 0};
  }
  bool recurrent = false;
  if (is_one_of(a, {"qwen3next", "qwen35", "qwen35moe"})) {
    // attention.recurrent_layers when the file has it, else every interval-th layer has
    // attention; MTP layers never recur (llama_model_qwen35::load_arch_hparams).
    const bool flagged =
        recurrent_flags.empty() ? (il + 1) % interval != 0 : recurrent_flags[il] != 0;
    recurrent = il + p.n_layer_nextn < p.n_layer && flagged;
  } else if (is_one_of(a, {"jamba", "plamo2", "granitehybrid", "lfm2", "lfm2moe", "kimi-linear"})) {
    recurrent = no_kv_heads;
  } else {
    recurrent = head_kv_array && state && no_kv_heads;
  }
  return {recurrent, !recurrent};
}

Result<void> read_recurrent(const File& f, const std::string& k, ArchParams& p) {
  std::uint64_t interval = 4;
  std::vector<std::uint64_t> recurrent_flags;
  if (is_one_of(p.arch, {"qwen3next", "qwen35", "qwen35moe"})) {
    auto flags = per_layer(f, k + "attention.recurrent_layers", p.n_layer, {});
    if (!flags) {
      return fail(std::move(flags.error()));
    }
    recurrent_flags = std::move(*flags);
    auto n = optional_uint(f, k + "full_attention_interval");
    if (!n) {
      return fail(std::move(n.error()));
    }
    interval = n->value_or(4);
    if (interval == 0) {
      return fail(bad(k + "full_attention_interval", "must not be 0"));
    }
  }
  const Value* head_kv = f.find(k + "attention.head_count_kv");
  const bool head_kv_array = head_kv != nullptr && head_kv->as_array() != nullptr;
  const bool state =
      p.ssm_d_conv != 0 || p.ssm_d_state != 0 || p.wkv_head_size != 0 || p.shortconv_l_cache != 0;
  p.is_recurrent_layer.assign(p.n_layer, false);
  p.has_kv_layer.assign(p.n_layer, true);
  for (std::uint64_t il = 0; il < p.n_layer; ++il) {
    const LayerKind kind = layer_kind(p, il, interval, recurrent_flags, head_kv_array, state);
    p.is_recurrent_layer[il] = kind.recurrent;
    p.has_kv_layer[il] = kind.kv;
  }
  auto shared = optional_uint(f, k + "attention.shared_kv_layers");
  if (!shared) {
    return fail(std::move(shared.error()));
  }
  const std::uint64_t n_shared = std::min(shared->value_or(0), p.n_layer);
  for (std::uint64_t il = p.n_layer - n_shared; il < p.n_layer; ++il) {
    p.has_kv_layer[il] = false;
  }
  return {};
}

} // namespace

Result<ArchParams> arch_params(const File& file) {
  ArchParams p;
  p.arch = file.architecture();
  if (p.arch.empty()) {
    return fail(Error::bad_request("gguf: general.architecture is missing"));
  }
  const std::string k = p.arch + ".";
  auto layers = optional_uint(file, k + "block_count");
  if (!layers) {
    return fail(std::move(layers.error()));
  }
  if (!*layers) {
    return fail(bad(k + "block_count", "missing"));
  }
  if (**layers > k_max_layers) {
    return fail(bad(k + "block_count", cat(**layers, " layers (at most ", k_max_layers, ")")));
  }
  p.n_layer = **layers;
  // llama-model.cpp: ml.get_key(LLM_KV_NEXTN_PREDICT_LAYERS, hparams.n_layer_nextn, false);
  // the MTP layers are the last ones of block_count.
  auto nextn = optional_uint(file, k + "nextn_predict_layers");
  if (!nextn) {
    return fail(std::move(nextn.error()));
  }
  if (nextn->value_or(0) > p.n_layer) {
    return fail(bad(k + "nextn_predict_layers",
                    cat(**nextn, " MTP layers but block_count is ", p.n_layer)));
  }
  p.n_layer_nextn = nextn->value_or(0);
  for (auto step : {read_sizes, read_heads, read_swa, read_recurrent}) {
    if (auto ok = step(file, k, p); !ok) {
      return fail(std::move(ok.error()));
    }
  }
  return p;
}

std::uint64_t ArchParams::n_layer_recurrent() const {
  return static_cast<std::uint64_t>(
      std::count(is_recurrent_layer.begin(), is_recurrent_layer.end(), true));
}

std::uint64_t ArchParams::n_layer_kv() const {
  return static_cast<std::uint64_t>(std::count(has_kv_layer.begin(), has_kv_layer.end(), true));
}

std::uint64_t ArchParams::n_layer_swa() const {
  std::uint64_t n = 0;
  for (std::size_t il = 0; il < has_kv_layer.size() && il < is_swa_layer.size(); ++il) {
    n += has_kv_layer[il] && is_swa_layer[il] ? 1 : 0;
  }
  return n;
}

} // namespace ask::core::gguf
