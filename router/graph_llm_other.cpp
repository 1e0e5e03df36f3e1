// llama.cpp's graphs beyond the llama family (src/models/gemma*.cpp, glm4.cpp, phi3.cpp,
// openai-moe.cpp, deepseek2.cpp), as shapes.

#include "router/graph_llm_detail.h"

namespace ask::router::graph::llm {

// The graph builders keep llama.cpp's own local names (P for the hyperparameters, inpL, inpSA,
// Q, K, V, S, T) so that they read side by side with src/models/*.cpp.
// NOLINTBEGIN(readability-identifier-naming)

bool has_other_graph(std::string_view arch) {
  for (std::string_view a : {"gemma", "gemma2", "gemma3", "glm4", "phi3", "gpt-oss", "deepseek2",
                             "qwen3next", "qwen35", "qwen35moe"}) {
    if (arch == a) {
      return true;
    }
  }
  return false;
}

void Builder::build_other() {
  const std::string& arch = p().arch;
  if (arch.starts_with("gemma")) {
    build_gemma();
  } else if (arch == "glm4") {
    build_glm4();
  } else if (arch == "phi3") {
    build_phi3();
  } else if (arch == "gpt-oss") {
    build_gpt_oss();
  } else if (arch == "deepseek2") {
    build_deepseek2();
  } else {
    build_hybrid();
  }
}

namespace {

// The attention inputs of a model: one cache, or the full-attention and sliding-window pair
// of llama_kv_cache_iswa.
struct Caches {
  AttnInput base, swa;
  const AttnInput& of(const Builder& b, int il) const { return b.is_swa(il) ? swa : base; }
};

Caches caches(Builder& b) {
  Caches c;
  c.base = b.attn_inp(b.shape().kv_size, false);
  if (b.p().sliding_window != 0) {
    c.swa = b.attn_inp(b.shape().kv_size_swa, true);
  }
  return c;
}

} // namespace

// gemma.cpp, gemma2.cpp, gemma3.cpp: scaled embeddings, GELU feed-forward, and (2, 3)
// post-attention and post-feed-forward norms, q/k norms (3), final logit soft-capping (2).
void Builder::build_gemma() {
  const auto& P = p();
  const bool v2 = P.arch == "gemma2", v3 = P.arch == "gemma3";
  const int n_layer = static_cast<int>(P.n_layer);
  Tensor* inpL = g().unary(Op::scale, inp_embd());
  Tensor* pos = inp_pos();
  const Caches kv = caches(*this);
  Tensor* out_ids = inp_out_ids();
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    Tensor* cur = norm(inpL, lw_required(il, "attn_norm.weight"), nullptr, Norm::rms, il);
    auto [q, k, v] = qkv(il, cur, head_k(il), static_cast<std::int64_t>(P.n_head[ul]),
                         static_cast<std::int64_t>(P.n_head_kv[ul]));
    if (v3) {
      q = norm(q, lw(il, "attn_q_norm.weight"), nullptr, Norm::rms, il);
    }
    q = g().rope(q, pos);
    if (v3) {
      k = norm(k, lw(il, "attn_k_norm.weight"), nullptr, Norm::rms, il);
    }
    k = g().rope(k, pos);
    q = g().unary(Op::scale, q);
    cur = attn(kv.of(*this, il), il, lw_required(il, "attn_output.weight"), nullptr, q, k, v,
               nullptr, v2);
    if (il == n_layer - 1) {
      cur = g().get_rows(cur, out_ids);
      inpL = g().get_rows(inpL, out_ids);
    }
    if (v2 || v3) {
      cur = norm(cur, lw(il, "post_attention_norm.weight"), nullptr, Norm::rms, il);
    }
    Tensor* sa_out = g().binary(Op::add, cur, inpL);
    cur = norm(sa_out, lw_required(il, "ffn_norm.weight"), nullptr, Norm::rms, il);
    cur = ffn(cur, lw_required(il, "ffn_up.weight"), nullptr, lw(il, "ffn_gate.weight"), nullptr,
              lw_required(il, "ffn_down.weight"), nullptr, Act::gelu, true, il);
    if (v2 || v3) {
      cur = norm(cur, lw(il, "post_ffw_norm.weight"), nullptr, Norm::rms, -1);
    }
    inpL = g().binary(Op::add, cur, sa_out);
  }
  g().set_layer(-1);
  OutputOptions o;
  o.soft_cap = v2 || (v3 && key_float("final_logit_softcapping").value_or(0.0) != 0.0);
  output(inpL, w_required("output_norm.weight"), nullptr, Norm::rms, o);
}

// glm4.cpp: fused QKV, post norms, a fused gate+up SwiGLU feed-forward.
void Builder::build_glm4() {
  const auto& P = p();
  const int n_layer = static_cast<int>(P.n_layer - P.n_layer_nextn);
  Tensor* inpL = inp_embd();
  Tensor* pos = inp_pos();
  const AttnInput in = attn_inp(shape().kv_size, false);
  Tensor* out_ids = inp_out_ids();
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    Tensor* inpSA = inpL;
    Tensor* cur = norm(inpL, lw_required(il, "attn_norm.weight"), nullptr, Norm::rms, il);
    auto [q, k, v] = qkv(il, cur, head_k(il), static_cast<std::int64_t>(P.n_head[ul]),
                         static_cast<std::int64_t>(P.n_head_kv[ul]));
    q = g().rope(q, pos);
    k = g().rope(k, pos);
    cur = attn(in, il, lw_required(il, "attn_output.weight"), nullptr, q, k, v);
    if (il == n_layer - 1) {
      cur = g().get_rows(cur, out_ids);
      inpSA = g().get_rows(inpSA, out_ids);
    }
    cur = norm(cur, lw(il, "post_attention_norm.weight"), nullptr, Norm::rms, il);
    Tensor* ffn_inp = g().binary(Op::add, cur, inpSA);
    cur = norm(ffn_inp, lw_required(il, "ffn_norm.weight"), nullptr, Norm::rms, il);
    cur = ffn(cur, lw_required(il, "ffn_up.weight"), nullptr, nullptr, nullptr,
              lw_required(il, "ffn_down.weight"), nullptr, Act::swiglu, false, il);
    cur = norm(cur, lw(il, "post_ffw_norm.weight"), nullptr, Norm::rms, il);
    inpL = g().binary(Op::add, cur, ffn_inp);
  }
  g().set_layer(-1);
  output(inpL, w_required("output_norm.weight"), nullptr, Norm::rms, {});
}

// phi3.cpp: fused QKV, rope factors, scaled Q, fused gate+up SwiGLU (or MoE), output bias.
void Builder::build_phi3() {
  const auto& P = p();
  const int n_layer = static_cast<int>(P.n_layer);
  Tensor* inpL = inp_embd();
  Tensor* pos = inp_pos();
  const Caches kv = caches(*this);
  Tensor* out_ids = inp_out_ids();
  // llama_model::get_rope_factors: rope_freqs, else the long factors past the original
  // context, else the short ones; each layer has its own copy.
  const std::int64_t orig = static_cast<std::int64_t>(
      key_uint("rope.scaling.original_context_length").value_or(P.n_ctx_train));
  const std::string factors_name = w("rope_freqs.weight") != nullptr ? "rope_freqs.weight"
                                   : shape().kv_size > orig          ? "rope_factors_long.weight"
                                                                     : "rope_factors_short.weight";
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    Tensor* factors = w_per_layer(factors_name, il);
    Tensor* residual = inpL;
    Tensor* cur =
        norm(inpL, lw_required(il, "attn_norm.weight"), lw(il, "attn_norm.bias"), Norm::rms, il);
    auto [q, k, v] = qkv(il, cur, head_k(il), static_cast<std::int64_t>(P.n_head[ul]),
                         static_cast<std::int64_t>(P.n_head_kv[ul]));
    q = g().rope(q, pos, factors);
    k = g().rope(k, pos, factors);
    q = g().unary(Op::scale, q);
    cur = attn(kv.of(*this, il), il, lw_required(il, "attn_output.weight"),
               lw(il, "attn_output.bias"), q, k, v);
    if (il == n_layer - 1) {
      cur = g().get_rows(cur, out_ids);
      residual = g().get_rows(residual, out_ids);
    }
    cur = g().binary(Op::add, cur, residual);
    residual = cur;
    cur = norm(cur, lw_required(il, "ffn_norm.weight"), lw(il, "ffn_norm.bias"), Norm::rms, il);
    if (lw(il, "ffn_gate_inp.weight") == nullptr) {
      cur = ffn(cur, lw_required(il, "ffn_up.weight"), nullptr, nullptr, nullptr,
                lw_required(il, "ffn_down.weight"), nullptr, Act::swiglu, false, il);
    } else {
      Moe m = experts(il);
      m.norm_w = true;
      cur = moe_ffn(cur, m, il);
    }
    inpL = g().binary(Op::add, residual, cur);
  }
  g().set_layer(-1);
  OutputOptions o;
  o.bias = w("output.bias");
  output(inpL, w_required("output_norm.weight"), w("output_norm.bias"), Norm::rms, o);
}

// openai-moe.cpp (gpt-oss): attention sinks, biases everywhere, iSWA, an MoE feed-forward
// whose router weights are soft-maxed after selection; the last layer runs on every token
// and its output (t_h_nextn) is a graph output.
void Builder::build_gpt_oss() {
  const auto& P = p();
  const int n_layer = static_cast<int>(P.n_layer);
  Tensor* inpL = inp_embd();
  Tensor* pos = inp_pos();
  const Caches kv = caches(*this);
  Tensor* out_ids = inp_out_ids();
  const std::int64_t n_rot =
      static_cast<std::int64_t>(key_uint("rope.dimension_count").value_or(P.n_embd_head_k));
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    Tensor* inpSA = inpL;
    Tensor* cur = norm(inpL, lw_required(il, "attn_norm.weight"), nullptr, Norm::rms, il);
    auto [q, k, v] = qkv(il, cur, n_rot, static_cast<std::int64_t>(P.n_head[ul]),
                         static_cast<std::int64_t>(P.n_head_kv[ul]));
    q = g().rope(q, pos);
    k = g().rope(k, pos);
    cur = attn(kv.of(*this, il), il, lw_required(il, "attn_output.weight"),
               lw(il, "attn_output.bias"), q, k, v, lw(il, "attn_sinks.weight"));
    Tensor* ffn_inp = g().binary(Op::add, cur, inpSA);
    cur = norm(ffn_inp, lw_required(il, "post_attention_norm.weight"), nullptr, Norm::rms, il);
    Moe m = experts(il);
    m.gate = lw_required(il, "ffn_gate_exps.weight");
    m.gating = Moe::Gating::softmax_weight; // no expert_weights_scale for gpt-oss
    cur = moe_ffn(cur, m, il);
    inpL = g().binary(Op::add, cur, ffn_inp);
  }
  g().set_layer(-1);
  inpL->output = true; // t_h_nextn
  inpL = g().get_rows(inpL, out_ids);
  output(inpL, w_required("output_norm.weight"), nullptr, Norm::rms, {});
}

// deepseek2.cpp: multi-head latent attention (a K-only cache of the compressed KV and the
// rope part; the query absorbed into the latent space, V decompressed by attn_v_b), dense
// leading layers, then MoE with shared experts.
void Builder::build_deepseek2() {
  const auto& P = p();
  const int n_layer = static_cast<int>(P.n_layer - P.n_layer_nextn);
  const std::int64_t head_k_mla =
      static_cast<std::int64_t>(key_uint("attention.key_length_mla").value_or(0));
  const std::int64_t head_v_mla =
      static_cast<std::int64_t>(key_uint("attention.value_length_mla").value_or(0));
  const bool mla = head_k_mla != 0 && head_v_mla != 0;
  const std::int64_t n_embd_head_k = mla ? head_k_mla : static_cast<std::int64_t>(P.n_embd_head_k);
  const std::int64_t n_embd_head_v = mla ? head_v_mla : static_cast<std::int64_t>(P.n_embd_head_v);
  const std::int64_t rope =
      static_cast<std::int64_t>(key_uint("rope.dimension_count").value_or(64));
  const std::int64_t nope = n_embd_head_k - rope;
  const std::int64_t lora_kv =
      static_cast<std::int64_t>(key_uint("attention.kv_lora_rank").value_or(0));
  const std::int64_t dense_lead =
      static_cast<std::int64_t>(key_uint("leading_dense_block_count").value_or(0));
  const std::int64_t gating = static_cast<std::int64_t>(key_uint("expert_gating_func").value_or(1));
  Tensor* inpL = inp_embd();
  Tensor* attn_scale = nullptr;
  if (key_float("attention.temperature_scale").value_or(0.0) != 0.0) {
    attn_scale = g().input(f32, 1, 1, n_tokens());
  }
  Tensor* pos = inp_pos();
  const AttnInput in = attn_inp(shape().kv_size, false, mla);
  Tensor* out_ids = inp_out_ids();
  const std::int64_t T = n_tokens();
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    const std::int64_t n_head = static_cast<std::int64_t>(P.n_head[ul]);
    Tensor* inpSA = inpL;
    Tensor* cur = norm(inpL, lw_required(il, "attn_norm.weight"), nullptr, Norm::rms, il);
    Tensor* q = nullptr;
    if (Tensor* wq = lw(il, "attn_q.weight"); wq != nullptr) {
      q = g().mul_mat(wq, cur);
    } else {
      q = g().mul_mat(lw_required(il, "attn_q_a.weight"), cur);
      q = norm(q, lw_required(il, "attn_q_a_norm.weight"), nullptr, Norm::rms, il);
      q = g().mul_mat(lw_required(il, "attn_q_b.weight"), q);
    }
    q = g().reshape_3d(q, n_embd_head_k, n_head, T);
    Tensor* kv_pe = g().mul_mat(lw_required(il, "attn_kv_a_mqa.weight"), cur);
    const std::uint64_t stride = row_size(kv_pe->type, lora_kv + rope);
    Tensor* kv_cmpr = g().view_2d(kv_pe, lora_kv, T, stride, 0);
    Tensor* k_pe = g().view_3d(kv_pe, rope, 1, T, stride, stride, row_size(kv_pe->type, lora_kv));
    k_pe = g().rope(k_pe, pos);
    kv_cmpr = norm(kv_cmpr, lw_required(il, "attn_kv_a_norm.weight"), nullptr, Norm::rms, il);
    if (mla) {
      Tensor* q_nope = g().view_3d(q, nope, n_head, T, q->nb[1], q->nb[2], 0);
      Tensor* q_pe = g().view_3d(q, rope, n_head, T, q->nb[1], q->nb[2], row_size(q->type, nope));
      q_pe = g().rope(q_pe, pos);
      q_nope = g().permute(q_nope, 0, 2, 1, 3);
      Tensor* absorbed = g().mul_mat(lw_required(il, "attn_k_b.weight"), q_nope);
      absorbed = g().permute(absorbed, 0, 2, 1, 3);
      Tensor* Q = g().concat(absorbed, q_pe, 0);
      kv_cmpr = g().reshape_3d(kv_cmpr, lora_kv, 1, T);
      Tensor* K = g().concat(kv_cmpr, k_pe, 0);
      if (attn_scale != nullptr) {
        Q = g().binary(Op::mul, Q, attn_scale);
      }
      cur = attn_k(in, il, lw_required(il, "attn_output.weight"), Q, K, kv_cmpr,
                   lw_required(il, "attn_v_b.weight"));
    } else {
      Tensor* kv = g().mul_mat(lw_required(il, "attn_kv_b.weight"), kv_cmpr);
      const std::uint64_t rs = row_size(kv->type, nope + n_embd_head_v);
      Tensor* k_nope =
          g().view_3d(kv, nope, n_head, T, rs, rs * static_cast<std::uint64_t>(n_head), 0);
      Tensor* V = g().view_3d(kv, n_embd_head_v, n_head, T, rs,
                              rs * static_cast<std::uint64_t>(n_head), row_size(kv->type, nope));
      V = g().cont(V);
      Tensor* Q = g().rope(q, pos);
      Tensor* K = g().concat(k_nope, g().repeat(k_pe, {rope, n_head, T, 1}), 0);
      if (attn_scale != nullptr) {
        Q = g().binary(Op::mul, Q, attn_scale);
      }
      cur = attn(in, il, lw_required(il, "attn_output.weight"), nullptr, Q, K, V);
    }
    if (il == n_layer - 1) {
      cur = g().get_rows(cur, out_ids);
      inpSA = g().get_rows(inpSA, out_ids);
    }
    Tensor* ffn_inp = g().binary(Op::add, cur, inpSA);
    cur = norm(ffn_inp, lw_required(il, "ffn_norm.weight"), nullptr, Norm::rms, il);
    if (il < dense_lead) {
      cur = ffn(cur, lw_required(il, "ffn_up.weight"), nullptr, lw(il, "ffn_gate.weight"), nullptr,
                lw_required(il, "ffn_down.weight"), nullptr, Act::silu, true, il);
    } else {
      Moe m = experts(il);
      m.norm_w = key_uint("expert_weights_norm").value_or(0) != 0;
      const double scale = key_float("expert_weights_scale").value_or(0.0);
      m.scale_w = scale != 0.0 && scale != 1.0;
      m.gating = gating == 2 ? Moe::Gating::sigmoid : Moe::Gating::softmax;
      m.n_groups = static_cast<std::int64_t>(key_uint("expert_group_count").value_or(0));
      m.n_group_used = static_cast<std::int64_t>(key_uint("expert_group_used_count").value_or(0));
      Tensor* moe_out = moe_ffn(cur, m, il);
      Tensor* shexp =
          ffn(cur, lw_required(il, "ffn_up_shexp.weight"), nullptr, lw(il, "ffn_gate_shexp.weight"),
              nullptr, lw_required(il, "ffn_down_shexp.weight"), nullptr, Act::silu, true, il);
      cur = g().binary(Op::add, moe_out, shexp);
    }
    inpL = g().binary(Op::add, cur, ffn_inp);
  }
  g().set_layer(-1);
  OutputOptions o;
  o.embd_is_h_nextn = true;
  output(inpL, w_required("output_norm.weight"), nullptr, Norm::rms, o);
}

// NOLINTEND(readability-identifier-naming)

} // namespace ask::router::graph::llm
