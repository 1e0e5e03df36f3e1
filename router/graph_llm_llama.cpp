// The llama family of llama.cpp's graphs (src/models/llama.cpp, qwen2.cpp, qwen3.cpp,
// qwen3moe.cpp, mistral3.cpp): pre-norm attention with RoPE, optional biases, q/k norms,
// rope factors and attention temperature, then a dense or MoE feed-forward.

#include "router/graph_llm_detail.h"

namespace ask::router::graph::llm {

// The graph builders keep llama.cpp's own local names (P for the hyperparameters, inpL, inpSA,
// Q, K, V, S, T) so that they read side by side with src/models/*.cpp.
// NOLINTBEGIN(readability-identifier-naming)

void Builder::build_llama() {
  const auto& P = p();
  const int n_layer = static_cast<int>(P.n_layer - P.n_layer_nextn);
  Tensor* cur = nullptr;
  Tensor* inpL = inp_embd();
  Tensor* pos = inp_pos();
  Tensor* attn_scale = nullptr;
  if (P.arch == "mistral3" && key_float("attention.temperature_scale").value_or(0.0) != 0.0) {
    attn_scale = g().input(f32, 1, 1, n_tokens()); // build_inp_attn_scale
  }
  const AttnInput in = attn_inp(static_cast<std::int64_t>(shape().kv_size), false);
  Tensor* out_ids = inp_out_ids();
  const bool moe = P.n_expert > 0;
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    Tensor* inpSA = inpL;
    cur = norm(inpL, lw_required(il, "attn_norm.weight"), nullptr, Norm::rms, il);
    // llama_model::get_rope_factors: the layer's own copy of rope_freqs (llama 3).
    Tensor* rope_factors = w_per_layer("rope_freqs.weight", il);
    auto [q, k, v] = qkv(il, cur, head_k(il), static_cast<std::int64_t>(P.n_head[ul]),
                         static_cast<std::int64_t>(P.n_head_kv[ul]));
    Tensor* q_norm = lw(il, "attn_q_norm.weight");
    Tensor* k_norm = lw(il, "attn_k_norm.weight");
    if (q_norm != nullptr) {
      q = norm(q, q_norm, nullptr, Norm::rms, il);
    }
    q = g().rope(q, pos, rope_factors);
    if (k_norm != nullptr) {
      k = norm(k, k_norm, nullptr, Norm::rms, il);
    }
    k = g().rope(k, pos, rope_factors);
    if (attn_scale != nullptr) {
      q = g().binary(Op::mul, q, attn_scale);
    }
    cur = attn(in, il, lw_required(il, "attn_output.weight"), lw(il, "attn_output.bias"), q, k, v);
    if (il == n_layer - 1) {
      cur = g().get_rows(cur, out_ids);
      inpSA = g().get_rows(inpSA, out_ids);
    }
    Tensor* ffn_inp = g().binary(Op::add, cur, inpSA);
    cur = norm(ffn_inp, lw_required(il, "ffn_norm.weight"), nullptr, Norm::rms, il);
    if (!moe) {
      cur = ffn(cur, lw_required(il, "ffn_up.weight"), lw(il, "ffn_up.bias"),
                lw(il, "ffn_gate.weight"), lw(il, "ffn_gate.bias"),
                lw_required(il, "ffn_down.weight"), lw(il, "ffn_down.bias"), Act::silu, true, il);
    } else {
      Moe m = experts(il);
      m.norm_w = true; // llama.cpp reads no expert_weights_scale for these: no scale op
      cur = moe_ffn(cur, m, il);
    }
    cur = g().binary(Op::add, cur, ffn_inp);
    inpL = cur;
  }
  g().set_layer(-1);
  output(inpL, w_required("output_norm.weight"), nullptr, Norm::rms, {});
}

// NOLINTEND(readability-identifier-naming)

} // namespace ask::router::graph::llm
