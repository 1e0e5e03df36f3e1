// The helpers of llama.cpp's llm_graph_context (src/llama-graph.cpp) and of its KV cache
// (src/llama-kv-cache.cpp) as graph shapes; see router/graph_llm.cpp.

#include <algorithm>

#include "router/graph_llm_detail.h"

namespace ask::router::graph::llm {

Builder::Builder(const core::gguf::SplitModel& model, const core::gguf::ArchParams& p,
                 const LlmShape& shape, const LlmPlacement& placement)
    : m_model(model), m_p(p), m_shape(shape), m_placement(placement),
      m_graph(std::make_unique<Graph>()) {
  for (const auto& part : model.parts) {
    for (const auto& t : part.tensors) {
      m_infos.emplace(std::string_view(t.name), &t);
    }
  }
}

LlmGraph Builder::finish() {
  LlmGraph out;
  out.graph = std::move(m_graph);
  out.notes = std::move(m_notes);
  return out;
}

std::string Builder::blk(int il, std::string_view suffix) {
  return "blk." + std::to_string(il) + "." + std::string(suffix);
}

std::optional<std::uint64_t> Builder::key_uint(std::string_view key) const {
  return m_model.first().get_uint(m_p.arch + "." + std::string(key));
}

std::optional<double> Builder::key_float(std::string_view key) const {
  const core::gguf::Value* v = m_model.first().find(m_p.arch + "." + std::string(key));
  return v != nullptr ? v->as_float() : std::nullopt;
}

Tensor* Builder::w(const std::string& name, int layer) {
  return weight(name, layer, name);
}

Tensor* Builder::w_per_layer(const std::string& name, int layer) {
  return weight(name, layer, name + "#" + std::to_string(layer));
}

Tensor* Builder::weight(const std::string& name, int layer, const std::string& key) {
  if (auto it = m_weights.find(key); it != m_weights.end()) {
    return it->second;
  }
  auto info = m_infos.find(std::string_view(name));
  if (info == m_infos.end()) {
    return nullptr;
  }
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};
  const auto& dims = info->second->dims;
  for (std::size_t i = 0; i < dims.size() && i < 4; ++i) {
    ne[i] = static_cast<std::int64_t>(dims[i]);
  }
  Tensor* t = g().weight(info->second->type, ne, m_placement.weight_device(name, layer));
  t->name = name;
  m_weights.emplace(key, t);
  return t;
}

Builder::Moe Builder::experts(int il) {
  Moe m;
  m.gate_inp = lw_required(il, "ffn_gate_inp.weight");
  m.gate_inp_b = lw(il, "ffn_gate_inp.bias");
  m.gate_up = lw(il, "ffn_gate_up_exps.weight");
  m.up =
      m.gate_up != nullptr ? lw(il, "ffn_up_exps.weight") : lw_required(il, "ffn_up_exps.weight");
  m.up_b = lw(il, "ffn_up_exps.bias");
  m.gate = lw(il, "ffn_gate_exps.weight");
  m.gate_b = lw(il, "ffn_gate_exps.bias");
  m.down = lw_required(il, "ffn_down_exps.weight");
  m.down_b = lw(il, "ffn_down_exps.bias");
  m.exp_probs_b = lw(il, "exp_probs_b.bias");
  m.n_expert = static_cast<std::int64_t>(m_p.n_expert);
  m.n_expert_used = static_cast<std::int64_t>(m_p.n_expert_used);
  return m;
}

Tensor* Builder::w_required(const std::string& name, int layer) {
  Tensor* t = w(name, layer);
  if (t == nullptr) {
    throw MissingTensor("tensor '" + name + "' is missing");
  }
  return t;
}

bool Builder::is_swa(int il) const {
  const auto i = static_cast<std::size_t>(il);
  return m_p.sliding_window != 0 && i < m_p.is_swa_layer.size() && m_p.is_swa_layer[i];
}

std::int64_t Builder::head_k(int il) const {
  return static_cast<std::int64_t>(is_swa(il) ? m_p.n_embd_head_k_swa : m_p.n_embd_head_k);
}

std::int64_t Builder::head_v(int il) const {
  return static_cast<std::int64_t>(is_swa(il) ? m_p.n_embd_head_v_swa : m_p.n_embd_head_v);
}

void Builder::force_layer_backend(Tensor* t, int il) {
  // llama_context::graph_get_cb: "norm" and "l_last" of a layer stay on the layer's device
  // when every layer is offloaded or the ubatch is small.
  if (il >= 0 && (m_shape.full_offload || m_shape.n_tokens < 32)) {
    t->backend = m_placement.layer_device(il);
  }
}

Tensor* Builder::k_cache(int il, std::int64_t n_embd_k_gqa, std::int64_t kv_size) {
  Tensor*& t = m_k[il];
  if (t == nullptr) {
    t = g().weight(m_shape.type_k, {n_embd_k_gqa, kv_size, m_shape.n_stream, 1},
                   m_placement.layer_device(il), false);
    t->name = "cache_k_l" + std::to_string(il);
  }
  return t;
}

Tensor* Builder::v_cache(int il, std::int64_t n_embd_v_gqa, std::int64_t kv_size) {
  Tensor*& t = m_v[il];
  if (t == nullptr) {
    t = g().weight(m_shape.type_v, {n_embd_v_gqa, kv_size, m_shape.n_stream, 1},
                   m_placement.layer_device(il), false);
    t->name = "cache_v_l" + std::to_string(il);
  }
  return t;
}

Tensor* Builder::inp_embd() {
  Tensor* tok_embd = w_required("token_embd.weight");
  Tensor* tokens = g().input(i32, n_tokens());
  tokens->name = "inp_tokens";
  Tensor* embd = g().input(f32, static_cast<std::int64_t>(m_p.n_embd), n_tokens());
  embd->name = "inp_embd";
  Tensor* rows = g().get_rows(tok_embd, tokens);
  // ggml_build_forward_select: both paths are in the graph, the token path is run.
  g().expand(rows);
  g().expand(embd, false);
  g().expand(rows);
  return rows;
}

Tensor* Builder::inp_pos(std::int64_t per_token) {
  Tensor* t = g().input(i32, n_tokens() * per_token);
  t->name = "inp_pos";
  return t;
}

Tensor* Builder::inp_out_ids() {
  Tensor* t = g().input(i32, m_shape.n_outputs);
  t->name = "inp_out_ids";
  return t;
}

namespace {

bool is_quantized(std::uint32_t type) {
  return type != f32 && type != f16 && type != bf16;
}

} // namespace

AttnInput Builder::attn_inp(std::int64_t kv_size, bool swa, bool k_only) {
  AttnInput in;
  in.kv_size = kv_size;
  // n_embd_v_gqa_max over every layer (llama_hparams::n_embd_v_gqa_max).
  std::int64_t v_gqa_max = 0;
  std::int64_t head_k_all = 0, head_v_all = 0;
  for (std::size_t il = 0; il < m_p.n_layer; ++il) {
    const int l = static_cast<int>(il);
    v_gqa_max = std::max(v_gqa_max, head_v(l) * static_cast<std::int64_t>(m_p.n_head_kv[il]));
    if (!m_p.has_kv_layer[il] || is_swa(l) != swa) {
      continue;
    }
    auto fold = [](std::int64_t& all, std::int64_t h) {
      all = all == 0 ? h : (all > 0 && all != h ? -1 : all);
    };
    fold(head_k_all, head_k(l));
    fold(head_v_all, head_v(l));
  }
  in.k_idxs = g().input(i64, n_tokens());
  if (!k_only) {
    in.v_idxs = g().input(i64, v_trans() ? n_tokens() * v_gqa_max : n_tokens());
  }
  const std::int64_t streams = m_shape.n_stream;
  in.mask = g().input(m_shape.flash_attn ? f16 : f32, kv_size, n_tokens() / streams, 1, streams);
  in.mask->name = swa ? "attn_inp_kq_mask_swa" : "attn_inp_kq_mask";
  // llama_kv_cache: Hadamard rotation of quantized caches whose head size is a multiple of 64.
  if (head_k_all > 0 && is_quantized(m_shape.type_k) &&
      static_cast<std::int64_t>(m_p.n_embd_head_k) % 64 == 0) {
    std::int64_t nrot = 64;
    do {
      nrot *= 2;
    } while (head_k_all % nrot == 0);
    nrot /= 2;
    in.k_rot = g().input(f32, nrot, nrot);
  }
  if (!k_only && head_v_all > 0 && is_quantized(m_shape.type_v) &&
      static_cast<std::int64_t>(m_p.n_embd_head_v) % 64 == 0) {
    in.v_rot = g().input(f32, 64, 64);
  }
  return in;
}

Tensor* Builder::norm(Tensor* cur, Tensor* mw, Tensor* mb, Norm type, int il) {
  cur = g().unary(type == Norm::rms ? Op::rms_norm : Op::norm, cur);
  if (mw != nullptr || mb != nullptr) {
    force_layer_backend(cur, il);
  }
  if (mw != nullptr) {
    cur = g().binary(Op::mul, cur, mw);
  }
  if (mb != nullptr) {
    cur = g().binary(Op::add, cur, mb);
  }
  return cur;
}

Builder::Qkv Builder::qkv(int il, Tensor* cur, std::int64_t head_dim, std::int64_t n_head,
                          std::int64_t n_head_kv) {
  const std::int64_t n_embd_q = head_dim * n_head;
  const std::int64_t n_embd_kv = head_dim * n_head_kv;
  if (Tensor* wqkv = lw(il, "attn_qkv.weight"); wqkv != nullptr) {
    Tensor* t = g().mul_mat(wqkv, cur);
    if (Tensor* b = lw(il, "attn_qkv.bias"); b != nullptr) {
      t = g().binary(Op::add, t, b);
    }
    const std::uint64_t rs = row_size(t->type, head_dim);
    return {
        g().view_3d(t, head_dim, n_head, cur->ne[1], rs, t->nb[1], 0),
        g().view_3d(t, head_dim, n_head_kv, cur->ne[1], rs, t->nb[1], row_size(t->type, n_embd_q)),
        g().view_3d(t, head_dim, n_head_kv, cur->ne[1], rs, t->nb[1],
                    row_size(t->type, n_embd_q + n_embd_kv))};
  }
  auto proj = [&](std::string_view name) {
    Tensor* t =
        g().mul_mat(lw_required(il, std::string("attn_") + std::string(name) + ".weight"), cur);
    if (Tensor* b = lw(il, std::string("attn_") + std::string(name) + ".bias"); b != nullptr) {
      t = g().binary(Op::add, t, b);
    }
    return t;
  };
  Tensor* q = proj("q");
  Tensor* k = proj("k");
  Tensor* v = proj("v");
  const std::int64_t t = cur->ne[1];
  return {g().reshape_3d(q, head_dim, n_head, t), g().reshape_3d(k, head_dim, n_head_kv, t),
          g().reshape_3d(v, head_dim, n_head_kv, t)};
}

namespace {

// llama_mul_mat_hadamard (src/llama-impl.h).
Tensor* hadamard(Graph& g, Tensor* cur, Tensor* rot) {
  const std::int64_t n = rot->ne[0];
  Tensor* res = cur->contiguous() ? g.reshape_2d(cur, n, cur->nelements() / n)
                                  : g.cont(cur, {n, cur->nelements() / n, 1, 1});
  res = g.mul_mat(rot, res);
  return g.reshape(res, cur->ne);
}

} // namespace

Tensor* Builder::attn(const AttnInput& in, int il, Tensor* wo, Tensor* wo_b, Tensor* q, Tensor* k,
                      Tensor* v, Tensor* sinks, bool soft_cap) {
  const bool iswa = m_p.sliding_window != 0;
  if (in.k_rot != nullptr) {
    q = hadamard(g(), q, in.k_rot);
    k = hadamard(g(), k, in.k_rot);
  }
  if (in.v_rot != nullptr) {
    v = hadamard(g(), v, in.v_rot);
  }
  // llm_graph_context::build_attn: q, v, k (k last, for rope fusion); the iSWA variant q, k, v.
  g().expand(q);
  g().expand(iswa ? k : v);
  g().expand(iswa ? v : k);

  const auto ul = static_cast<std::size_t>(il);
  const std::int64_t n_head_kv = static_cast<std::int64_t>(m_p.n_head_kv[ul]);
  const std::int64_t hk = head_k(il), hv = head_v(il);
  const std::int64_t kv_size = in.kv_size;
  const std::int64_t ns = m_shape.n_stream;
  Tensor* kc = k_cache(il, hk * n_head_kv, kv_size);
  Tensor* vc = v_cache(il, hv * n_head_kv, kv_size);

  // llama_kv_cache::cpy_k
  {
    const std::int64_t n_embd_gqa = k->ne[0] * k->ne[1];
    Tensor* kcur = g().view_2d(k, n_embd_gqa, k->ne[2], k->nb[2], 0);
    Tensor* dst = ns > 1 ? g().reshape_2d(kc, n_embd_gqa, kv_size * ns) : kc;
    g().expand(g().set_rows(dst, kcur, in.k_idxs));
  }
  // llama_kv_cache::cpy_v
  {
    const std::int64_t n_embd_gqa = v->ne[0] * v->ne[1];
    const std::int64_t tokens = v->ne[2];
    Tensor* stored = nullptr;
    if (!v_trans()) {
      Tensor* vcur = g().view_2d(v, n_embd_gqa, tokens, v->nb[2], 0);
      Tensor* dst = ns > 1 ? g().reshape_2d(vc, n_embd_gqa, kv_size * ns) : vc;
      stored = g().set_rows(dst, vcur, in.v_idxs);
    } else {
      Tensor* vcur = row_size(v->type, n_embd_gqa) == v->nb[2]
                         ? g().reshape_2d(v, n_embd_gqa, tokens)
                         : g().cont(v, {n_embd_gqa, tokens, 1, 1});
      if (n_embd_gqa < vc->ne[0]) {
        vcur = g().pad(vcur, vc->ne[0] - n_embd_gqa);
      }
      Tensor* view = g().reshape_2d(vc, 1, vc->nelements());
      vcur = g().reshape_2d(vcur, 1, vcur->nelements());
      stored = g().set_rows(view, vcur, in.v_idxs);
    }
    g().expand(stored);
  }
  // llama_kv_cache::get_k / get_v: the whole cache when reserving.
  Tensor* kv_k = g().view_4d(kc, hk, n_head_kv, kv_size, ns, row_size(kc->type, hk),
                             row_size(kc->type, hk * n_head_kv),
                             row_size(kc->type, hk * n_head_kv * kv_size), 0);
  Tensor* kv_v = nullptr;
  if (!v_trans()) {
    kv_v = g().view_4d(vc, hv, n_head_kv, kv_size, ns, row_size(vc->type, hv),
                       row_size(vc->type, hv * n_head_kv),
                       row_size(vc->type, hv * n_head_kv * kv_size), 0);
  } else {
    kv_v =
        g().view_4d(vc, kv_size, n_head_kv, hv, ns, row_size(vc->type, kv_size * hv),
                    row_size(vc->type, kv_size), row_size(vc->type, kv_size * hv * n_head_kv), 0);
  }
  Tensor* cur = attn_mha(q, kv_k, kv_v, in.mask, sinks, nullptr, soft_cap);
  if (in.v_rot != nullptr) {
    cur = hadamard(g(), cur, in.v_rot);
  }
  if (wo != nullptr) {
    cur = g().mul_mat(wo, cur);
  }
  if (wo_b != nullptr) {
    cur = g().binary(Op::add, cur, wo_b);
  }
  return cur;
}

Tensor* Builder::attn_k(const AttnInput& in, int il, Tensor* wo, Tensor* q, Tensor* k, Tensor* v,
                        Tensor* v_mla) {
  g().expand(q);
  g().expand(v);
  g().expand(k);
  const std::int64_t n_head_kv =
      static_cast<std::int64_t>(m_p.n_head_kv[static_cast<std::size_t>(il)]);
  const std::int64_t hk = head_k(il);
  const std::int64_t kv_size = in.kv_size;
  const std::int64_t ns = m_shape.n_stream;
  Tensor* kc = k_cache(il, hk * n_head_kv, kv_size);
  {
    const std::int64_t n_embd_gqa = k->ne[0] * k->ne[1];
    Tensor* kcur = g().view_2d(k, n_embd_gqa, k->ne[2], k->nb[2], 0);
    Tensor* dst = ns > 1 ? g().reshape_2d(kc, n_embd_gqa, kv_size * ns) : kc;
    g().expand(g().set_rows(dst, kcur, in.k_idxs));
  }
  Tensor* kv_k = g().view_4d(kc, hk, n_head_kv, kv_size, ns, row_size(kc->type, hk),
                             row_size(kc->type, hk * n_head_kv),
                             row_size(kc->type, hk * n_head_kv * kv_size), 0);
  Tensor* kv_v = g().view_4d(kv_k, v->ne[0], kv_k->ne[1], kv_k->ne[2], kv_k->ne[3], kv_k->nb[1],
                             kv_k->nb[2], kv_k->nb[3], 0);
  Tensor* cur = attn_mha(q, kv_k, kv_v, in.mask, nullptr, v_mla, false);
  if (wo != nullptr) {
    cur = g().mul_mat(wo, cur);
  }
  return cur;
}

Tensor* Builder::attn_mha(Tensor* q, Tensor* k, Tensor* v, Tensor* mask, Tensor* sinks,
                          Tensor* v_mla, bool soft_cap) {
  const bool vt = v->nb[1] > v->nb[2];
  const std::int64_t ns = k->ne[3];
  q = g().view_4d(q, q->ne[0], q->ne[1], q->ne[2] / ns, ns, q->nb[1], q->nb[2], q->nb[3] / ns, 0);
  q = g().permute(q, 0, 2, 1, 3);
  k = g().permute(k, 0, 2, 1, 3);
  v = g().permute(v, 0, 2, 1, 3);
  Tensor* cur = nullptr;
  if (m_shape.flash_attn) {
    if (vt) {
      v = g().transpose(v);
    }
    if (k->type == f32) {
      k = g().cast(k, f16);
    }
    if (v->type == f32) {
      v = g().cast(v, f16);
    }
    cur = g().flash_attn_ext(q, k, v, mask, sinks);
    if (v_mla != nullptr) {
      cur = g().permute(cur, 0, 2, 1, 3);
      cur = g().mul_mat(v_mla, cur);
      cur = g().permute(cur, 0, 2, 1, 3);
      cur = g().cont(cur);
    }
    cur = g().reshape_2d(cur, cur->ne[0] * cur->ne[1], cur->ne[2] * cur->ne[3]);
  } else {
    Tensor* kq = g().mul_mat(k, q);
    if (soft_cap) {
      kq = g().unary(Op::scale, kq);
      kq = g().unary(Op::unary, kq); // tanh
      kq = g().unary(Op::scale, kq);
    }
    kq = g().soft_max(kq, mask, sinks);
    if (!vt) {
      v = g().cont(g().transpose(v));
    }
    Tensor* kqv = g().mul_mat(v, kq);
    if (v_mla != nullptr) {
      kqv = g().mul_mat(v_mla, kqv);
    }
    cur = g().permute(kqv, 0, 2, 1, 3);
    cur = g().cont(cur, {cur->ne[0] * cur->ne[1], cur->ne[2] * cur->ne[3], 1, 1});
  }
  g().expand(cur);
  return cur;
}

Tensor* Builder::ffn(Tensor* cur, Tensor* up, Tensor* up_b, Tensor* gate, Tensor* gate_b,
                     Tensor* down, Tensor* down_b, Act act, bool parallel_gate, int /*il*/) {
  Tensor* tmp = up != nullptr ? g().mul_mat(up, cur) : cur;
  if (up_b != nullptr) {
    tmp = g().binary(Op::add, tmp, up_b);
  }
  if (gate != nullptr) {
    cur = g().mul_mat(gate, parallel_gate ? cur : tmp);
    if (gate_b != nullptr) {
      cur = g().binary(Op::add, cur, gate_b);
    }
  } else {
    cur = tmp;
  }
  if (gate != nullptr && parallel_gate) {
    cur = g().glu_split(cur, tmp); // swiglu / geglu / reglu / swiglu_oai of gate and up
  } else if (act == Act::swiglu) {
    cur = g().glu(cur); // one tensor, gate and up halves (phi3, glm4)
  } else {
    cur = g().unary(Op::unary, cur); // silu / gelu / relu
  }
  if (down != nullptr) {
    cur = g().mul_mat(down, cur);
  }
  if (down_b != nullptr) {
    cur = g().binary(Op::add, cur, down_b);
  }
  return cur;
}

Tensor* Builder::moe_ffn(Tensor* cur, const Moe& m, int il) {
  (void)il;
  const std::int64_t n_embd = cur->ne[0];
  const std::int64_t tokens = cur->ne[1];
  Tensor* logits = g().mul_mat(m.gate_inp, cur);
  if (m.gate_inp_b != nullptr) {
    logits = g().binary(Op::add, logits, m.gate_inp_b);
  }
  Tensor* probs = nullptr;
  switch (m.gating) {
  case Moe::Gating::softmax:
    probs = g().soft_max(logits);
    break;
  case Moe::Gating::sigmoid:
    probs = g().unary(Op::unary, logits);
    break;
  case Moe::Gating::softmax_weight:
    probs = logits;
    break;
  }
  Tensor* selection = probs;
  if (m.exp_probs_b != nullptr) {
    selection = g().binary(Op::add, probs, m.exp_probs_b);
  }
  if (m.n_groups > 1 && tokens > 0) {
    const std::int64_t per_group = m.n_expert / m.n_groups;
    Tensor* groups = g().reshape_3d(selection, per_group, m.n_groups, tokens);
    Tensor* scores = g().argsort_top_k(groups, 2);
    scores = g().get_rows(g().reshape_4d(groups, 1, groups->ne[0], groups->ne[1], groups->ne[2]),
                          scores);
    scores = g().sum_rows(g().reshape_3d(scores, scores->ne[1], scores->ne[2], scores->ne[3]));
    scores = g().reshape_2d(scores, scores->ne[1], scores->ne[2]);
    Tensor* top = g().argsort_top_k(scores, m.n_group_used);
    Tensor* kept = g().get_rows(groups, top);
    selection = g().set_rows(g().unary(Op::fill, groups), kept, top);
    selection = g().reshape_2d(selection, m.n_expert, tokens);
  }
  Tensor* selected = g().argsort_top_k(selection, m.n_expert_used);
  probs = g().reshape_3d(probs, 1, m.n_expert, tokens);
  Tensor* weights = g().get_rows(probs, selected);
  if (m.gating == Moe::Gating::softmax_weight) {
    weights = g().reshape_2d(weights, m.n_expert_used, tokens);
    weights = g().soft_max(weights);
    weights = g().reshape_3d(weights, 1, m.n_expert_used, tokens);
  }
  if (m.norm_w) {
    weights = g().reshape_2d(weights, m.n_expert_used, tokens);
    Tensor* sum = g().sum_rows(weights);
    sum = g().unary(Op::clamp, sum);
    weights = g().binary(Op::div, weights, sum);
    weights = g().reshape_3d(weights, 1, m.n_expert_used, tokens);
  }
  if (m.scale_w) {
    weights = g().unary(Op::scale, weights);
  }
  g().expand(weights);
  cur = g().reshape_3d(cur, n_embd, 1, tokens);

  Tensor* up = nullptr;
  if (m.gate_up != nullptr) {
    Tensor* gate_up = g().mul_mat_id(m.gate_up, cur, selected);
    const std::int64_t n_ff = gate_up->ne[0] / 2;
    cur = g().view_3d(gate_up, n_ff, gate_up->ne[1], gate_up->ne[2], gate_up->nb[1], gate_up->nb[2],
                      0);
    up = g().view_3d(gate_up, n_ff, gate_up->ne[1], gate_up->ne[2], gate_up->nb[1], gate_up->nb[2],
                     static_cast<std::uint64_t>(n_ff) * gate_up->nb[0]);
  } else {
    up = g().mul_mat_id(m.up, cur, selected);
    if (m.up_b != nullptr) {
      up = g().add_id(up, m.up_b, selected);
    }
    cur = m.gate != nullptr ? g().mul_mat_id(m.gate, cur, selected) : up;
    if (m.gate_b != nullptr) {
      cur = g().add_id(cur, m.gate_b, selected);
    }
  }
  const bool has_gate = m.gate != nullptr || m.gate_up != nullptr;
  cur = has_gate ? g().glu_split(cur, up) : g().unary(Op::unary, cur);
  Tensor* experts = g().mul_mat_id(m.down, cur, selected);
  if (m.down_b != nullptr) {
    experts = g().add_id(experts, m.down_b, selected);
  }
  experts = g().binary(Op::mul, experts, weights);
  g().expand(experts);
  std::vector<Tensor*> views;
  for (std::int64_t i = 0; i < m.n_expert_used; ++i) {
    views.push_back(g().view_2d(experts, n_embd, tokens, experts->nb[2],
                                static_cast<std::uint64_t>(i) * experts->nb[1]));
    g().expand(views.back());
  }
  Tensor* out = views[0];
  for (std::size_t i = 1; i < views.size(); ++i) {
    out = g().binary(Op::add, out, views[i]);
    g().expand(out);
  }
  if (views.size() == 1) {
    out = g().cont(out);
  }
  return out;
}

void Builder::output(Tensor* cur, Tensor* norm_w, Tensor* norm_b, Norm type,
                     const OutputOptions& o) {
  cur = norm(cur, norm_w, norm_b, type, -1);
  cur->output = true; // result_norm (t_embd)
  Tensor* head = w("output.weight");
  if (head == nullptr) {
    // Tied embeddings: llama.cpp loads token_embd again (TENSOR_DUPLICATED) on the output
    // layer's device.
    const auto* info = m_infos.find("token_embd.weight")->second;
    std::array<std::int64_t, 4> ne{1, 1, 1, 1};
    for (std::size_t i = 0; i < info->dims.size() && i < 4; ++i) {
      ne[i] = static_cast<std::int64_t>(info->dims[i]);
    }
    head = g().weight(info->type, ne, m_placement.weight_device("output.weight", -1));
    head->name = "output.weight (token_embd)";
    m_weights.emplace("output.weight", head);
  }
  cur = g().mul_mat(head, cur);
  if (o.bias != nullptr) {
    cur = g().binary(Op::add, cur, o.bias);
  }
  if (o.soft_cap) {
    cur = g().unary(Op::scale, cur);
    cur = g().unary(Op::unary, cur); // tanh
    cur = g().unary(Op::scale, cur);
  }
  cur->output = true; // result_output (t_logits)
  g().expand(cur);
}

} // namespace ask::router::graph::llm
