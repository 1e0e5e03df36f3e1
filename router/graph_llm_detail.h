#pragma once
// The graph builders' shared state and helpers (router/graph_llm.h), one class for the
// helpers of llama.cpp's llm_graph_context and one method per architecture family.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/graph_llm.h"

namespace ask::router::graph::llm {

struct MissingTensor : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool has_other_graph(std::string_view arch);

// The attention inputs of one cache (llm_graph_input_attn_kv): KV indices and the KQ mask.
struct AttnInput {
  Tensor* k_idxs = nullptr;
  Tensor* v_idxs = nullptr;
  Tensor* mask = nullptr;
  Tensor* k_rot = nullptr;
  Tensor* v_rot = nullptr;
  std::int64_t kv_size = 0;
};

enum class Norm { rms, layer };
enum class Act { silu, gelu, relu, swiglu, swiglu_oai };

class Builder {
public:
  Builder(const core::gguf::SplitModel& model, const core::gguf::ArchParams& p,
          const LlmShape& shape, const LlmPlacement& placement);

  void build_llama();
  void build_other();
  void build_gemma(); // gemma, gemma2, gemma3
  void build_glm4();
  void build_phi3();
  void build_gpt_oss();
  void build_deepseek2();
  void build_hybrid(); // qwen3next, qwen35, qwen35moe
  LlmGraph finish();

  // --- weights and hyperparameters ---
  // The tensor `name` ("blk.3.attn_q.weight"), or nullptr when the file has none.
  Tensor* w(const std::string& name, int layer = -1);
  Tensor* w_required(const std::string& name, int layer = -1);
  // A tensor llama.cpp loads once per layer (TENSOR_DUPLICATED for every layer but the
  // first: rope_freqs, rope factors): layer il's own copy, on the layer's device.
  Tensor* w_per_layer(const std::string& name, int layer);
  Tensor* lw(int il, std::string_view suffix) { return w(blk(il, suffix), il); }
  Tensor* lw_required(int il, std::string_view suffix) { return w_required(blk(il, suffix), il); }
  static std::string blk(int il, std::string_view suffix);
  std::optional<std::uint64_t> key_uint(std::string_view key) const;
  std::optional<double> key_float(std::string_view key) const;

  // --- llm_graph_context helpers ---
  Tensor* inp_embd();                          // build_inp_embd
  Tensor* inp_pos(std::int64_t per_token = 1); // build_inp_pos
  Tensor* inp_out_ids();                       // build_inp_out_ids
  // The inputs of one KV cache (build_attn_inp_kv; build_attn_inp_k for a K-only cache).
  AttnInput attn_inp(std::int64_t kv_size, bool swa, bool k_only = false);
  Tensor* norm(Tensor* cur, Tensor* mw, Tensor* mb, Norm type, int il);
  struct Qkv {
    Tensor *q, *k, *v;
  };
  Qkv qkv(int il, Tensor* cur, std::int64_t head_dim, std::int64_t n_head, std::int64_t n_head_kv);
  // build_attn with a KV cache: store K and V, attend, project by wo.
  Tensor* attn(const AttnInput& in, int il, Tensor* wo, Tensor* wo_b, Tensor* q, Tensor* k,
               Tensor* v, Tensor* sinks = nullptr, bool soft_cap = false);
  // build_attn with a K-only cache (MLA): V is the first columns of K, v_mla decompresses.
  Tensor* attn_k(const AttnInput& in, int il, Tensor* wo, Tensor* q, Tensor* k, Tensor* v,
                 Tensor* v_mla);
  Tensor* attn_mha(Tensor* q, Tensor* k, Tensor* v, Tensor* mask, Tensor* sinks, Tensor* v_mla,
                   bool soft_cap);
  Tensor* ffn(Tensor* cur, Tensor* up, Tensor* up_b, Tensor* gate, Tensor* gate_b, Tensor* down,
              Tensor* down_b, Act act, bool parallel_gate, int il);
  struct Moe {
    Tensor* gate_inp = nullptr;
    Tensor* gate_inp_b = nullptr;
    Tensor* up = nullptr;
    Tensor* up_b = nullptr;
    Tensor* gate = nullptr;
    Tensor* gate_b = nullptr;
    Tensor* down = nullptr;
    Tensor* down_b = nullptr;
    Tensor* gate_up = nullptr;
    Tensor* exp_probs_b = nullptr;
    std::int64_t n_expert = 0;
    std::int64_t n_expert_used = 0;
    Act act = Act::silu;
    bool norm_w = false;
    bool scale_w = false;
    enum class Gating { softmax, sigmoid, softmax_weight } gating = Gating::softmax;
    std::int64_t n_groups = 0, n_group_used = 0;
  };
  // Layer il's routed experts as llama.cpp's create_tensor reads them: the router and
  // ffn_down_exps required, the fused ffn_gate_up_exps or else ffn_up_exps (required) and
  // ffn_gate_exps, biases and exp_probs_b where the file has them; n_expert, n_expert_used.
  // The caller sets the gating, norm and scale, and what its architecture requires beyond.
  Moe experts(int il);
  Tensor* moe_ffn(Tensor* cur, const Moe& m, int il);
  Tensor* get_rows_out(Tensor* cur, Tensor* out_ids) { return g().get_rows(cur, out_ids); }
  struct OutputOptions {
    bool soft_cap = false;        // final logit soft-capping (gemma2): scale, tanh, scale
    Tensor* bias = nullptr;       // output.bias (phi3)
    bool embd_is_h_nextn = false; // deepseek2: result_norm is also t_h_nextn
  };
  // result_norm and result_output, marked as outputs (llm_graph_result::set_outputs).
  void output(Tensor* cur, Tensor* norm_w, Tensor* norm_b, Norm type, const OutputOptions& o);

  Graph& g() { return *m_graph; }
  const core::gguf::ArchParams& p() const { return m_p; }
  const LlmShape& shape() const { return m_shape; }
  std::int64_t n_tokens() const { return m_shape.n_tokens; }
  void note(std::string text) { m_notes.push_back(std::move(text)); }

  // KV cache tensors of layer il (created on first use): [n_embd_gqa, kv_size, n_stream].
  Tensor* k_cache(int il, std::int64_t n_embd_k_gqa, std::int64_t kv_size);
  Tensor* v_cache(int il, std::int64_t n_embd_v_gqa, std::int64_t kv_size);
  bool v_trans() const { return !m_shape.flash_attn; }
  // The dims of layer il's K and V heads (SWA layers may differ).
  std::int64_t head_k(int il) const;
  std::int64_t head_v(int il) const;
  bool is_swa(int il) const;

  // --- the hybrid builders (graph_llm_hybrid.cpp): qwen3next, qwen35, qwen35moe ---
  // llm_graph_input_rs: s_copy and its two views, the sequences the ubatch updates and the
  // other cells of the recurrent memory (none when reserving: n_rs is the memory's size).
  struct RsInput {
    Tensor* s_copy_main = nullptr;
    Tensor* s_copy_extra = nullptr;
    std::int64_t n_rs = 0;
  };
  RsInput rs_inp(); // build_rs_inp_impl
  // llama_memory_recurrent's r_l / s_l of layer il: f32 [n_embd, n_rs], on the layer's device.
  Tensor* rs_cache(int il, bool s, std::int64_t n_embd, std::int64_t n_rs);
  // llm_graph_context::build_rs: clears one state, gathers the ubatch's states.
  Tensor* rs(const RsInput& in, Tensor* s, std::int64_t state_size);
  // qwen3next / qwen35(moe) build_layer_attn_linear: the gated delta net layer.
  Tensor* gdn_layer(const RsInput& in, Tensor* cur, int il);
  // qwen3next / qwen35(moe) build_layer_attn: gated attention with q/k norms.
  Tensor* gated_attn_layer(const AttnInput& in, Tensor* cur, Tensor* pos, int il);
  // qwen3next / qwen35moe build_layer_ffn (routed and gated shared experts), qwen35's dense one.
  Tensor* hybrid_ffn(Tensor* cur, int il);
  // The output head (output.weight, else token_embd duplicated as in output()).
  Tensor* lm_head();

private:
  void force_layer_backend(Tensor* t, int il);
  // The graph's weight tensor for `name` on layer's device, made once per `key`.
  Tensor* weight(const std::string& name, int layer, const std::string& key);

  const core::gguf::SplitModel& m_model;
  const core::gguf::ArchParams& m_p;
  LlmShape m_shape;
  const LlmPlacement& m_placement;
  std::unique_ptr<Graph> m_graph;
  // By name; the views point into the model's tensor table, which outlives the builder.
  std::unordered_map<std::string_view, const core::gguf::TensorInfo*> m_infos;
  std::unordered_map<std::string, Tensor*> m_weights;
  std::map<int, Tensor*> m_k, m_v;
  std::vector<std::string> m_notes;
};

} // namespace ask::router::graph::llm
