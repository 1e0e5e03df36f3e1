// llama.cpp's hybrid graphs: full-attention layers between recurrent gated-delta-net layers
// (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp, delta-net-base.cpp), with the
// recurrent half of llama_memory_hybrid (src/llama-memory-recurrent.cpp) and its graph
// helpers (llm_graph_context::build_inp_mem_hybrid, build_rs in src/llama-graph.cpp).
//
// The gated delta net is modelled on the path llama.cpp takes on the CPU backend:
// llama_context::resolve_fused_ops probes both fused variants (autoregressive and chunked)
// and the CPU backend supports GGML_OP_GATED_DELTA_NET, so both stay enabled and every ubatch
// size runs llm_build_delta_net_base::build_delta_net_fused (one op, no chunking graph).
// Speculative rollback (cparams.n_rs_seq > 0) is not modelled: llama-server leaves it at 0
// unless a draft model needs it.

#include <algorithm>

#include "router/graph_llm_detail.h"

namespace ask::router::graph::llm {

// The graph builders keep llama.cpp's own local names (P for the hyperparameters, inpL, inpSA,
// Q, K, V, S, T) so that they read side by side with src/models/*.cpp.
// NOLINTBEGIN(readability-identifier-naming)

namespace {

bool is_qwen35(const std::string& arch) {
  return arch == "qwen35" || arch == "qwen35moe";
}

} // namespace

// build_rs_inp_impl with the memory of llama_memory_recurrent::init_full: n_rs is the whole
// memory (std::max(1, n_seq_max) cells; llama_context reserves with n_seqs = n_seq_max), so the
// "extra" view is empty.
Builder::RsInput Builder::rs_inp() {
  RsInput in;
  const std::int64_t n_seqs = m_shape.n_seqs;
  in.n_rs = std::max<std::int64_t>(1, n_seqs);
  Tensor* s_copy = g().input(i32, in.n_rs);
  s_copy->name = "inp_s_copy";
  in.s_copy_main = g().view_1d(s_copy, n_seqs, 0);
  in.s_copy_extra = g().view_1d(s_copy, in.n_rs - n_seqs, row_size(i32, n_seqs));
  return in;
}

// llama_memory_recurrent: r_l[il] (conv state) and s_l[il] (ssm state), f32, one row per cell
// (n_rs_seq = 0), in the layer's device buffer when offloaded.
Tensor* Builder::rs_cache(int il, bool s, std::int64_t n_embd, std::int64_t n_rs) {
  Tensor* t = g().weight(f32, {n_embd, n_rs, 1, 1}, m_placement.layer_device(il), false);
  t->name = (s ? "cache_s_l" : "cache_r_l") + std::to_string(il);
  return t;
}

// llm_graph_context::build_rs (the ggml_get_rows variant): clear the rs_z state in place
// (rs_z is 0 when reserving), gather the ubatch's states, copy the other cells' states.
Tensor* Builder::rs(const RsInput& in, Tensor* s, std::int64_t state_size) {
  const std::int64_t n_seqs = m_shape.n_seqs;
  Tensor* states = g().reshape_2d(s, state_size, s->ne[1]);
  Tensor* zero = g().view_1d(states, state_size, 0);
  // ggml_scale_inplace: a SCALE node that is a view of its source.
  Tensor* cleared = g().view(zero, zero->ne, {zero->nb[1], zero->nb[2], zero->nb[3]}, 0);
  cleared->op = Op::scale;
  g().expand(cleared);
  Tensor* out = g().get_rows(states, in.s_copy_main);
  g().expand(out);
  Tensor* extra = g().get_rows(states, in.s_copy_extra);
  Tensor* dst = g().view_2d(s, state_size, in.n_rs - n_seqs, s->nb[1],
                            static_cast<std::uint64_t>(n_seqs) * s->nb[1]);
  g().expand(g().cpy(extra, dst));
  return out;
}

// build_layer_attn_linear of qwen3next.cpp / qwen35.cpp / qwen35moe.cpp, with build_qkvz,
// llm_build_delta_net_base::build_conv_state, build_recurrent_attn (n_rs_seq = 0) and
// build_delta_net_fused, and build_norm_gated.
Tensor* Builder::gdn_layer(const RsInput& in, Tensor* cur, int il) {
  const auto& P = p();
  const bool next = P.arch == "qwen3next";
  const std::int64_t d_inner = static_cast<std::int64_t>(P.ssm_d_inner);
  const std::int64_t hk = static_cast<std::int64_t>(P.ssm_d_state); // head_k_dim
  const std::int64_t nk = static_cast<std::int64_t>(P.ssm_n_group); // num_k_heads
  const std::int64_t nv = static_cast<std::int64_t>(P.ssm_dt_rank); // num_v_heads
  if (nk <= 0 || nv <= 0 || nv % nk != 0) {
    throw MissingTensor("ssm.group_count / ssm.time_step_rank do not describe a gated delta net");
  }
  const std::int64_t hv = d_inner / nv; // head_v_dim
  const std::int64_t S = m_shape.n_seqs;
  const std::int64_t T = n_tokens() / S; // n_seq_tokens
  const std::int64_t n_embd = static_cast<std::int64_t>(P.n_embd);

  // build_qkvz
  Tensor* qkv_mixed = nullptr;
  Tensor* z = nullptr;
  // qwen35 always has attn_qkv; qwen3next falls back to the legacy ssm_in.
  Tensor* wqkv = next ? lw(il, "attn_qkv.weight") : lw_required(il, "attn_qkv.weight");
  if (wqkv != nullptr) {
    qkv_mixed = g().mul_mat(wqkv, cur);
    qkv_mixed = g().reshape_3d(qkv_mixed, qkv_mixed->ne[0], T, S);
    z = g().mul_mat(lw_required(il, "attn_gate.weight"), cur);
  } else {
    // qwen3next's legacy ssm_in: q, k, v and z interleaved per key head.
    Tensor* qkvz = g().mul_mat(lw_required(il, "ssm_in.weight"), cur);
    const std::int64_t per = hv * (nv / nk);
    qkvz = g().reshape_4d(qkvz, 2 * hk + 2 * per, nk, T, S);
    auto part = [&](std::int64_t n, std::int64_t at) {
      return g().view_4d(qkvz, n, nk, T, S, qkvz->nb[1], qkvz->nb[2], qkvz->nb[3],
                         row_size(qkvz->type, at));
    };
    Tensor* q = part(hk, 0);
    Tensor* k = part(hk, hk);
    Tensor* v = part(per, 2 * hk);
    z = g().cont(part(per, 2 * hk + per));
    Tensor* q_flat = g().cont(q, {hk * nk, T, S, 1});
    Tensor* k_flat = g().cont(k, {hk * nk, T, S, 1});
    Tensor* v_flat = g().cont(v, {hv * nv, T, S, 1});
    qkv_mixed = g().concat(g().concat(q_flat, k_flat, 0), v_flat, 0);
  }

  // beta and the decay gate
  Tensor* beta = nullptr;
  Tensor* gate = nullptr;
  if (next) {
    Tensor* ba = g().mul_mat(lw_required(il, "ssm_ba.weight"), cur);
    const std::int64_t per = nv / nk;
    ba = g().reshape_4d(ba, 2 * per, nk, T, S);
    Tensor* b = g().view_4d(ba, per, nk, T, S, ba->nb[1], ba->nb[2], ba->nb[3], 0);
    Tensor* a =
        g().view_4d(ba, per, nk, T, S, ba->nb[1], ba->nb[2], ba->nb[3], row_size(ba->type, per));
    b = g().cont(b);
    beta = g().unary(Op::unary, b); // sigmoid
    Tensor* alpha = g().cont(a, {nv, T, S, 1});
    alpha = g().binary(Op::add, alpha, lw_required(il, "ssm_dt.bias"));
    alpha = g().unary(Op::unary, alpha); // softplus
    gate = g().binary(Op::mul, alpha, lw_required(il, "ssm_a"));
    beta = g().reshape_4d(beta, 1, nv, T, S);
    gate = g().reshape_4d(gate, 1, nv, T, S);
  } else {
    beta = g().mul_mat(lw_required(il, "ssm_beta.weight"), cur);
    beta = g().reshape_4d(beta, 1, nv, T, S);
    beta = g().unary(Op::unary, beta); // sigmoid
    Tensor* alpha = g().mul_mat(lw_required(il, "ssm_alpha.weight"), cur);
    alpha = g().reshape_3d(alpha, nv, T, S);
    alpha = g().binary(Op::add, alpha, lw_required(il, "ssm_dt.bias"));
    alpha = g().unary(Op::unary, alpha); // softplus
    gate = g().binary(Op::mul, alpha, lw_required(il, "ssm_a"));
    gate = g().reshape_4d(gate, 1, nv, T, S);
  }

  Tensor* kernel = lw_required(il, "ssm_conv1d.weight");
  const std::int64_t d_conv = kernel->ne[0];
  const std::int64_t channels = d_inner + 2 * nk * hk;
  const std::int64_t n_embd_r = (d_conv - 1) * channels; // llama_hparams::n_embd_r
  const std::int64_t n_embd_s = hk * d_inner;            // llama_hparams::n_embd_s
  Tensor* r_all = rs_cache(il, false, n_embd_r, in.n_rs);
  Tensor* s_all = rs_cache(il, true, n_embd_s, in.n_rs);

  // build_conv_state: the last d_conv - 1 inputs of each sequence go back to the r cache.
  Tensor* conv_states = rs(in, r_all, n_embd_r);
  conv_states = g().reshape_3d(conv_states, d_conv - 1, channels, S);
  Tensor* conv_input = g().concat(conv_states, g().transpose(qkv_mixed), 0);
  {
    const std::int64_t s_idx = conv_input->ne[0] - conv_states->ne[0];
    Tensor* last = g().view_3d(conv_input, d_conv - 1, channels, S, conv_input->nb[1],
                               conv_input->nb[2], row_size(conv_input->type, s_idx));
    Tensor* update = g().view_2d(r_all, n_embd_r, S, r_all->nb[1], 0);
    g().expand(g().cpy(last, update));
  }

  Tensor* state = rs(in, s_all, n_embd_s);
  state = g().reshape_4d(state, hv, hv, nv, S);

  // ggml_ssm_conv: [channels, n_seq_tokens, n_seqs]; then silu.
  Tensor* conv = g().op(Op::ssm_conv, f32,
                        {kernel->ne[1], conv_input->ne[0] - d_conv + 1, conv_input->ne[2], 1},
                        {conv_input, kernel});
  conv = g().unary(Op::unary, conv);
  const std::uint64_t nb1 = row_size(conv->type, 2 * hk * nk + hv * nv);
  const std::uint64_t nb2 = nb1 * static_cast<std::uint64_t>(T);
  Tensor* q = g().view_4d(conv, hk, nk, T, S, row_size(conv->type, hk), nb1, nb2, 0);
  Tensor* k = g().view_4d(conv, hk, nk, T, S, row_size(conv->type, hk), nb1, nb2,
                          row_size(conv->type, hk * nk));
  Tensor* v = g().view_4d(conv, hv, nv, T, S, row_size(conv->type, hv), nb1, nb2,
                          row_size(conv->type, 2 * hk * nk));
  q = g().unary(Op::l2_norm, q);
  k = g().unary(Op::l2_norm, k);
  if (nk != nv && next) {
    // qwen3next repeats the key heads for every value head, fused or not.
    const std::int64_t rf = nv / nk;
    Tensor* qr = g().reshape_4d(q, hk, 1, nk, T * S);
    Tensor* kr = g().reshape_4d(k, hk, 1, nk, T * S);
    qr = g().repeat(qr, {hk, rf, nk, T * S});
    kr = g().repeat(kr, {hk, rf, nk, T * S});
    q = g().reshape_4d(qr, hk, nk * rf, T, S);
    k = g().reshape_4d(kr, hk, nk * rf, T, S);
  }
  // qwen35 repeats only when a delta net variant is not fused: never on the CPU.

  // build_delta_net_fused: ggml_gated_delta_net with one state snapshot (K = 1): the
  // outputs [S_v * H_v, n_tokens], then the final states [S_v * H_v, S_v * n_seqs].
  Tensor* gdn = g().op(Op::gated_delta_net, f32, {hv * nv, T * S + hv * S, 1, 1},
                       {q, k, v, gate, beta, state});
  Tensor* output = g().view_4d(gdn, hv, nv, T, S, row_size(f32, hv), row_size(f32, hv * nv),
                               row_size(f32, hv * nv * T), 0);
  Tensor* new_state = g().view_4d(gdn, hv, hv, nv, S, row_size(f32, hv), row_size(f32, hv * hv),
                                  row_size(f32, hv * hv * nv), row_size(f32, hv * nv * T * S));
  // build_recurrent_attn: the new states go back to the s cache.
  g().expand(g().cpy(new_state, g().view_2d(s_all, n_embd_s, S, s_all->nb[1], 0)));

  // build_norm_gated(output, ssm_norm, z)
  Tensor* z_4d = g().reshape_4d(z, hv, nv, T, S);
  Tensor* normed = norm(output, lw_required(il, "ssm_norm.weight"), nullptr, Norm::rms, il);
  Tensor* gated = g().binary(Op::mul, normed, g().unary(Op::unary, z_4d)); // silu(z)
  Tensor* flat = g().reshape_3d(gated, hv * nv, T, S);
  cur = g().mul_mat(lw_required(il, "ssm_out.weight"), flat);
  return g().reshape_2d(cur, n_embd, T * S);
}

// build_layer_attn of qwen3next.cpp (rope_ext) and qwen35.cpp / qwen35moe.cpp (rope_multi):
// one projection holds each head's query and its output gate; q/k RMS norms; attention
// without wo; sigmoid(gate) times the attention; then wo.
Tensor* Builder::gated_attn_layer(const AttnInput& in, Tensor* cur, Tensor* pos, int il) {
  const auto& P = p();
  const auto ul = static_cast<std::size_t>(il);
  const std::int64_t hd = head_v(il);
  const std::int64_t n_head = static_cast<std::int64_t>(P.n_head[ul]);
  const std::int64_t n_head_kv = static_cast<std::int64_t>(P.n_head_kv[ul]);
  const std::int64_t T = n_tokens();
  Tensor* q_full = g().mul_mat(lw_required(il, "attn_q.weight"), cur);
  Tensor* q = nullptr;
  Tensor* gate = nullptr;
  if (!is_qwen35(P.arch)) {
    // qwen3next: a 4-D reshape, then the query and gate halves of each head as views.
    q_full = g().reshape_4d(q_full, hd * 2, n_head, T, 1);
    q = g().view_4d(q_full, hd, n_head, T, 1, q_full->nb[1], q_full->nb[2], q_full->nb[3], 0);
    gate = g().view_4d(q_full, hd, n_head, T, 1, q_full->nb[1], q_full->nb[2], q_full->nb[3],
                       row_size(q_full->type, hd));
  } else {
    const std::uint64_t nb1 = row_size(q_full->type, hd * 2);
    q = g().view_3d(q_full, hd, n_head, T, nb1, nb1 * static_cast<std::uint64_t>(n_head), 0);
    gate = g().view_3d(q_full, hd, n_head, T, nb1, nb1 * static_cast<std::uint64_t>(n_head),
                       row_size(q_full->type, hd));
  }
  Tensor* k = g().mul_mat(lw_required(il, "attn_k.weight"), cur);
  Tensor* v = g().mul_mat(lw_required(il, "attn_v.weight"), cur);
  k = g().reshape_3d(k, hd, n_head_kv, T);
  v = g().reshape_3d(v, hd, n_head_kv, T);
  q = norm(q, lw_required(il, "attn_q_norm.weight"), nullptr, Norm::rms, il);
  k = norm(k, lw_required(il, "attn_k_norm.weight"), nullptr, Norm::rms, il);
  gate = g().cont(gate, {hd * n_head, T, 1, 1});
  q = g().rope(q, pos);
  k = g().rope(k, pos);
  cur = attn(in, il, nullptr, nullptr, q, k, v);
  cur = g().binary(Op::mul, cur, g().unary(Op::unary, gate)); // sigmoid
  return g().mul_mat(lw_required(il, "attn_output.weight"), cur);
}

// build_layer_ffn: qwen3next / qwen35moe route to experts (softmax gating, normalized
// weights, no scale: neither loads expert_weights_scale) and add a shared expert scaled by
// sigmoid(ffn_gate_inp_shexp); qwen35 (and a dense qwen3next layer) has a SwiGLU FFN.
Tensor* Builder::hybrid_ffn(Tensor* cur, int il) {
  if (Tensor* gate_inp = lw(il, "ffn_gate_inp.weight"); gate_inp != nullptr) {
    Moe m = experts(il);
    if (m.gate_up == nullptr) {
      m.gate = lw_required(il, "ffn_gate_exps.weight");
    }
    m.norm_w = true;
    Tensor* moe_out = moe_ffn(cur, m, il);
    Tensor* up_sh = lw(il, "ffn_up_shexp.weight");
    if (up_sh == nullptr) {
      return moe_out;
    }
    Tensor* shexp = ffn(cur, up_sh, nullptr, lw_required(il, "ffn_gate_shexp.weight"), nullptr,
                        lw_required(il, "ffn_down_shexp.weight"), nullptr, Act::silu, true, il);
    Tensor* sh_gate = g().mul_mat(lw_required(il, "ffn_gate_inp_shexp.weight"), cur);
    sh_gate = g().unary(Op::unary, sh_gate); // sigmoid
    shexp = g().binary(Op::mul, shexp, sh_gate);
    return g().binary(Op::add, moe_out, shexp);
  }
  return ffn(cur, lw_required(il, "ffn_up.weight"), nullptr, lw_required(il, "ffn_gate.weight"),
             nullptr, lw_required(il, "ffn_down.weight"), nullptr, Act::silu, true, il);
}

Tensor* Builder::lm_head() {
  if (Tensor* head = w("output.weight"); head != nullptr) {
    return head;
  }
  // Tied embeddings: token_embd loaded again (TENSOR_DUPLICATED) for the output layer.
  const auto info = m_infos.find("token_embd.weight");
  if (info == m_infos.end()) {
    throw MissingTensor("tensor 'token_embd.weight' is missing");
  }
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};
  for (std::size_t i = 0; i < info->second->dims.size() && i < 4; ++i) {
    ne[i] = static_cast<std::int64_t>(info->second->dims[i]);
  }
  Tensor* head = g().weight(info->second->type, ne, m_placement.weight_device("output.weight", -1));
  head->name = "output.weight (token_embd)";
  m_weights.emplace("output.weight", head);
  return head;
}

// The graphs of llama_model_qwen3next::graph, llama_model_qwen35::graph and
// llama_model_qwen35moe::graph (the MTP layers, if any, are not run in the main graph).
void Builder::build_hybrid() {
  const auto& P = p();
  if (P.arch != "qwen3next" && !is_qwen35(P.arch)) {
    throw MissingTensor("the hybrid graph of '" + P.arch + "' is not modelled");
  }
  const int n_layer = static_cast<int>(P.n_layer - P.n_layer_nextn);
  Tensor* inpL = inp_embd();
  // build_inp_mem_hybrid: the recurrent inputs, then the attention ones.
  const RsInput rs_in = rs_inp();
  const AttnInput attn_in = attn_inp(shape().kv_size, false);
  // qwen35 ropes with IMROPE: four positions per token (llama_hparams::n_pos_per_embd).
  Tensor* pos = inp_pos(is_qwen35(P.arch) ? 4 : 1);
  Tensor* out_ids = inp_out_ids();
  for (int il = 0; il < n_layer; ++il) {
    g().set_layer(il);
    const auto ul = static_cast<std::size_t>(il);
    Tensor* inpSA = inpL;
    Tensor* cur = norm(inpL, lw_required(il, "attn_norm.weight"), nullptr, Norm::rms, il);
    g().expand(cur);
    const bool recurrent = ul < P.is_recurrent_layer.size() && P.is_recurrent_layer[ul];
    cur = recurrent ? gdn_layer(rs_in, cur, il) : gated_attn_layer(attn_in, cur, pos, il);
    // The last layer runs on every token: llama-server never sets embeddings_nextn_masked
    // on the target context, so out_ids are taken after the output norm.
    cur = g().binary(Op::add, cur, inpSA);
    Tensor* ffn_residual = cur;
    cur = norm(cur, lw_required(il, "post_attention_norm.weight"), nullptr, Norm::rms, il);
    cur = hybrid_ffn(cur, il);
    inpL = g().binary(Op::add, cur, ffn_residual);
  }
  g().set_layer(-1);
  Tensor* cur = norm(inpL, w_required("output_norm.weight"), nullptr, Norm::rms, -1);
  cur->output = true; // t_h_nextn
  cur = g().get_rows(cur, out_ids);
  cur->output = true; // result_norm (t_embd)
  cur = g().mul_mat(lm_head(), cur);
  cur->output = true; // result_output (t_logits)
  g().expand(cur);
}

// NOLINTEND(readability-identifier-naming)

} // namespace ask::router::graph::llm
