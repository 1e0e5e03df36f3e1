#include "tests/support/model_zoo_layouts.h"

namespace ask::testing::zoo::layout {
namespace {

using Dims = std::vector<std::uint64_t>;

std::uint64_t head_dim(const Common& c) {
  return c.head_dim != 0 ? c.head_dim : c.n_embd / c.n_head;
}

} // namespace

void common_hparams(ModelBuilder& b, const Common& c) {
  b.u32("context_length", c.n_ctx_train).u32("embedding_length", c.n_embd);
  b.u32("block_count", c.n_layer);
  if (c.n_ff != 0) {
    b.u32("feed_forward_length", c.n_ff);
  }
  b.u32("attention.head_count", c.n_head).u32("attention.head_count_kv", c.n_head_kv);
  b.f32("rope.freq_base", c.rope_base).f32("attention.layer_norm_rms_epsilon", c.rms_eps);
  if (c.head_dim_key) {
    b.u32("attention.key_length", c.head_dim).u32("attention.value_length", c.head_dim);
  }
  if (c.n_rot != 0) {
    b.u32("rope.dimension_count", c.n_rot);
  }
}

void io_tensors(ModelBuilder& b, const Common& c, std::uint32_t n_vocab) {
  b.tensor("token_embd.weight", {c.n_embd, n_vocab});
  b.tensor("output_norm.weight", {c.n_embd});
  if (!c.tied) {
    b.tensor("output.weight", {c.n_embd, n_vocab});
  }
}

void attention(ModelBuilder& b, const Common& c, const Block& o, std::uint32_t il) {
  const std::uint64_t e = c.n_embd, hd = head_dim(c);
  const std::uint64_t q = c.n_head * hd, kv = c.n_head_kv * hd;
  b.layer(il, "attn_norm.weight", {e});
  if (o.fused_qkv) {
    b.layer(il, "attn_qkv.weight", {e, q + 2 * kv});
  } else {
    b.layer(il, "attn_q.weight", {e, q}).layer(il, "attn_k.weight", {e, kv});
    b.layer(il, "attn_v.weight", {e, kv});
  }
  if (o.qkv_bias) {
    b.layer(il, "attn_q.bias", {q}).layer(il, "attn_k.bias", {kv}).layer(il, "attn_v.bias", {kv});
  }
  if (o.qk_norm) {
    b.layer(il, "attn_q_norm.weight", {hd}).layer(il, "attn_k_norm.weight", {hd});
  }
  b.layer(il, "attn_output.weight", {q, e});
  if (o.post_norms) {
    b.layer(il, "post_attention_norm.weight", {e});
  }
}

void feed_forward(ModelBuilder& b, const Common& c, const Block& o, std::uint32_t il) {
  const std::uint64_t e = c.n_embd, f = c.n_ff;
  b.layer(il, "ffn_norm.weight", {e});
  if (o.fused_up) {
    b.layer(il, "ffn_up.weight", {e, 2 * f});
  } else {
    b.layer(il, "ffn_gate.weight", {e, f}).layer(il, "ffn_up.weight", {e, f});
  }
  b.layer(il, "ffn_down.weight", {f, e});
  if (o.post_norms) {
    b.layer(il, "post_ffw_norm.weight", {e});
  }
}

void dense_blocks(ModelBuilder& b, const Common& c, const Block& o) {
  for (std::uint32_t il = 0; il < c.n_layer; ++il) {
    attention(b, c, o, il);
    feed_forward(b, c, o, il);
  }
}

void expert_hparams(ModelBuilder& b, const Experts& e) {
  b.u32("expert_count", e.n_expert).u32("expert_used_count", e.n_expert_used);
  b.u32("expert_feed_forward_length", e.n_ff_exp);
}

void expert_tensors(ModelBuilder& b, const Common& c, const Experts& e, std::uint32_t il) {
  const std::uint64_t d = c.n_embd, f = e.n_ff_exp, x = e.n_expert;
  b.layer(il, "ffn_gate_inp.weight", {d, x});
  b.layer(il, "ffn_gate_exps.weight", Dims{d, f, x});
  b.layer(il, "ffn_up_exps.weight", Dims{d, f, x});
  b.layer(il, "ffn_down_exps.weight", Dims{f, d, x});
}

void qwen3moe_blocks(ModelBuilder& b, const Common& c, const Experts& e) {
  const Block o{.qk_norm = true};
  for (std::uint32_t il = 0; il < c.n_layer; ++il) {
    attention(b, c, o, il);
    b.layer(il, "ffn_norm.weight", {c.n_embd});
    expert_tensors(b, c, e, il);
  }
}

// src/models/openai-moe.cpp: no ffn_norm (post_attention_norm precedes the experts).
void gpt_oss_blocks(ModelBuilder& b, const Common& c, const Experts& e) {
  const std::uint64_t d = c.n_embd, f = e.n_ff_exp, x = e.n_expert;
  for (std::uint32_t il = 0; il < c.n_layer; ++il) {
    attention(b, c, Block{.qkv_bias = true}, il);
    b.layer(il, "post_attention_norm.weight", {d});
    b.layer(il, "attn_output.bias", {d});
    b.layer(il, "attn_sinks.weight", {c.n_head});
    expert_tensors(b, c, e, il);
    b.layer(il, "ffn_gate_inp.bias", {x});
    b.layer(il, "ffn_gate_exps.bias", {f, x}).layer(il, "ffn_up_exps.bias", {f, x});
    b.layer(il, "ffn_down_exps.bias", {d, x});
  }
}

// conversion/deepseek.py: MLA written as MQA with one KV head of kv_lora_rank + rope dims.
void deepseek2_hparams(ModelBuilder& b, const Mla& m) {
  b.u32("leading_dense_block_count", m.n_dense_lead);
  if (m.q_lora_rank != 0) {
    b.u32("attention.q_lora_rank", m.q_lora_rank);
  }
  b.u32("attention.kv_lora_rank", m.kv_lora_rank);
  b.u32("attention.key_length", m.kv_lora_rank + m.qk_rope_dim);
  b.u32("attention.value_length", m.kv_lora_rank);
  b.u32("attention.key_length_mla", m.qk_nope_dim + m.qk_rope_dim);
  b.u32("attention.value_length_mla", m.v_head_dim);
  b.u32("expert_shared_count", m.n_expert_shared);
  b.u32("rope.dimension_count", m.qk_rope_dim);
}

void deepseek2_blocks(ModelBuilder& b, const Common& c, const Experts& e, const Mla& m) {
  const std::uint64_t d = c.n_embd, h = c.n_head, x = e.n_expert, f = e.n_ff_exp;
  const std::uint64_t k_mla = m.qk_nope_dim + m.qk_rope_dim;
  const std::uint64_t shexp = f * m.n_expert_shared;
  for (std::uint32_t il = 0; il < c.n_layer; ++il) {
    b.layer(il, "attn_norm.weight", {d});
    if (m.q_lora_rank != 0) {
      b.layer(il, "attn_q_a_norm.weight", {m.q_lora_rank});
      b.layer(il, "attn_q_a.weight", {d, m.q_lora_rank});
      b.layer(il, "attn_q_b.weight", {m.q_lora_rank, h * k_mla});
    } else {
      b.layer(il, "attn_q.weight", {d, h * k_mla});
    }
    b.layer(il, "attn_kv_a_norm.weight", {m.kv_lora_rank});
    b.layer(il, "attn_kv_a_mqa.weight", {d, m.kv_lora_rank + m.qk_rope_dim});
    b.layer(il, "attn_k_b.weight", Dims{m.qk_nope_dim, m.kv_lora_rank, h});
    b.layer(il, "attn_v_b.weight", Dims{m.kv_lora_rank, m.v_head_dim, h});
    b.layer(il, "attn_output.weight", {h * m.v_head_dim, d});
    b.layer(il, "ffn_norm.weight", {d});
    if (il < m.n_dense_lead) {
      b.layer(il, "ffn_gate.weight", {d, c.n_ff}).layer(il, "ffn_up.weight", {d, c.n_ff});
      b.layer(il, "ffn_down.weight", {c.n_ff, d});
      continue;
    }
    expert_tensors(b, c, e, il);
    if (m.exp_probs_bias) {
      b.layer(il, "exp_probs_b.bias", {x});
    }
    b.layer(il, "ffn_gate_shexp.weight", {d, shexp}).layer(il, "ffn_up_shexp.weight", {d, shexp});
    b.layer(il, "ffn_down_shexp.weight", {shexp, d});
  }
}

// conversion/qwen.py Qwen3NextModel: ssm.state_size is the key head size (also the value
// head size in llama.cpp), ssm.group_count the key heads, ssm.time_step_rank the value heads.
void delta_net_hparams(ModelBuilder& b, const DeltaNet& n) {
  b.u32("ssm.conv_kernel", n.conv_kernel).u32("ssm.state_size", n.head_k_dim);
  b.u32("ssm.group_count", n.n_k_heads).u32("ssm.time_step_rank", n.n_v_heads);
  b.u32("ssm.inner_size", n.head_k_dim * n.n_v_heads);
  b.u32("full_attention_interval", n.full_attention_interval);
  b.u32("expert_shared_feed_forward_length", n.n_ff_shexp);
}

void delta_net_blocks(ModelBuilder& b, const Common& c, const Experts& e, const DeltaNet& n) {
  const std::uint64_t d = c.n_embd, hd = head_dim(c);
  const std::uint64_t key_dim = std::uint64_t{n.head_k_dim} * n.n_k_heads;
  const std::uint64_t value_dim = std::uint64_t{n.head_k_dim} * n.n_v_heads;
  for (std::uint32_t il = 0; il < c.n_layer; ++il) {
    b.layer(il, "attn_norm.weight", {d}).layer(il, "post_attention_norm.weight", {d});
    if ((il + 1) % n.full_attention_interval == 0) { // gated full attention: q and its gate
      b.layer(il, "attn_q.weight", {d, 2 * hd * c.n_head});
      b.layer(il, "attn_k.weight", {d, c.n_head_kv * hd});
      b.layer(il, "attn_v.weight", {d, c.n_head_kv * hd});
      b.layer(il, "attn_output.weight", {c.n_head * hd, d});
      b.layer(il, "attn_q_norm.weight", {hd}).layer(il, "attn_k_norm.weight", {hd});
    } else {
      b.layer(il, "attn_qkv.weight", {d, 2 * key_dim + value_dim});
      b.layer(il, "attn_gate.weight", {d, value_dim});
      b.layer(il, "ssm_conv1d.weight", {n.conv_kernel, 2 * key_dim + value_dim});
      b.layer(il, "ssm_dt.bias", {n.n_v_heads}).layer(il, "ssm_a", {n.n_v_heads});
      if (n.split_beta_alpha) {
        b.layer(il, "ssm_beta.weight", {d, n.n_v_heads});
        b.layer(il, "ssm_alpha.weight", {d, n.n_v_heads});
      } else {
        b.layer(il, "ssm_ba.weight", {d, 2 * std::uint64_t{n.n_v_heads}});
      }
      b.layer(il, "ssm_norm.weight", {n.head_k_dim}).layer(il, "ssm_out.weight", {value_dim, d});
    }
    expert_tensors(b, c, e, il);
    b.layer(il, "ffn_gate_inp_shexp.weight", {d});
    b.layer(il, "ffn_gate_shexp.weight", {d, n.n_ff_shexp});
    b.layer(il, "ffn_up_shexp.weight", {d, n.n_ff_shexp});
    b.layer(il, "ffn_down_shexp.weight", {n.n_ff_shexp, d});
  }
}

} // namespace ask::testing::zoo::layout
