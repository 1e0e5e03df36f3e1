#include "bench/router_bench_models.h"

#include <vector>

#include "tests/support/gguf_writer.h"
#include "tests/support/quant_mix.h"

namespace ask::bench {
namespace {

namespace tg = ask::testing::gguf;
using Dims = std::vector<std::uint64_t>;

constexpr std::uint32_t k_f32 = 0;
constexpr std::uint32_t k_q6_k = 14;

void tokenizer(tg::Writer& w, const ModelSpec& s) {
  const bool spm = s.arch.starts_with("gemma");
  w.str("tokenizer.ggml.model", spm ? "llama" : "gpt2");
  std::string tokens = tg::enc::array_header(tg::type::string, s.n_vocab);
  std::string types = tg::enc::array_header(tg::type::i32, s.n_vocab);
  std::string scores = tg::enc::array_header(tg::type::f32, s.n_vocab);
  for (std::uint32_t i = 0; i < s.n_vocab; ++i) {
    tokens += tg::enc::str("\xC4\xA0tok" + std::to_string(i)); // "Ġtok123": ~8 bytes
    types += tg::enc::i32(1);
    scores += tg::enc::f32(-static_cast<float>(i));
  }
  w.raw_kv("tokenizer.ggml.tokens", tg::type::array, tokens);
  if (spm) {
    w.raw_kv("tokenizer.ggml.scores", tg::type::array, scores);
  }
  w.raw_kv("tokenizer.ggml.token_type", tg::type::array, types);
  if (s.n_merges > 0) {
    std::string merges = tg::enc::array_header(tg::type::string, s.n_merges);
    for (std::uint32_t i = 0; i < s.n_merges; ++i) {
      merges += tg::enc::str("\xC4\xA0t ok" + std::to_string(i)); // "Ġt ok123"
    }
    w.raw_kv("tokenizer.ggml.merges", tg::type::array, merges);
  }
  w.u32("tokenizer.ggml.bos_token_id", 1).u32("tokenizer.ggml.eos_token_id", 2);
  w.str("tokenizer.chat_template", std::string(4000, 'x')); // real templates: 1-10 KB
}

void metadata(tg::Writer& w, const ModelSpec& s) {
  const std::string a = s.arch + ".";
  w.str("general.architecture", s.arch).str("general.name", s.name);
  w.u32(a + "block_count", s.n_layer).u32(a + "embedding_length", s.n_embd);
  w.u32(a + "context_length", s.n_ctx_train).u32(a + "feed_forward_length", s.n_ff);
  w.u32(a + "attention.head_count", s.n_head).u32(a + "attention.head_count_kv", s.n_head_kv);
  w.f32(a + "rope.freq_base", 500000.0f).f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  if (s.head_dim != 0) {
    w.u32(a + "attention.key_length", s.head_dim).u32(a + "attention.value_length", s.head_dim);
  }
  if (s.n_expert > 0) {
    w.u32(a + "expert_count", s.n_expert).u32(a + "expert_used_count", s.n_expert_used);
    w.u32(a + "expert_feed_forward_length", s.n_ff_exp);
  }
  if (s.sliding_window > 0) {
    w.u32(a + "attention.sliding_window", s.sliding_window);
  }
  w.u32(a + "vocab_size", s.n_vocab); // read when the token list is left out
  w.u32("general.file_type", 15).u32("general.quantization_version", 2);
  if (s.full_tokenizer) {
    tokenizer(w, s);
  }
}

void layer_tensors(tg::Writer& w, const ModelSpec& s, std::uint32_t il) {
  const std::uint64_t hd = s.head_dim != 0 ? s.head_dim : s.n_embd / s.n_head;
  const std::uint64_t e = s.n_embd, q = s.n_head * hd, kv = s.n_head_kv * hd;
  const TypeMix& t = s.types;
  const bool more =
      t.q4_k_m && tg::use_more_bits(static_cast<int>(il), static_cast<int>(s.n_layer));
  const std::uint32_t v_type = more ? k_q6_k : t.attn_v;
  const std::uint32_t down_type = more ? k_q6_k : t.ffn_down;
  const std::string b = "blk." + std::to_string(il) + ".";
  w.tensor(b + "attn_norm.weight", {e}, k_f32);
  w.tensor(b + "attn_q.weight", {e, q}, t.attn).tensor(b + "attn_k.weight", {e, kv}, t.attn);
  w.tensor(b + "attn_v.weight", {e, kv}, v_type);
  if (s.qkv_bias) {
    w.tensor(b + "attn_q.bias", {q}, k_f32).tensor(b + "attn_k.bias", {kv}, k_f32);
    w.tensor(b + "attn_v.bias", {kv}, k_f32);
  }
  if (s.qk_norm) {
    w.tensor(b + "attn_q_norm.weight", {hd}, k_f32).tensor(b + "attn_k_norm.weight", {hd}, k_f32);
  }
  w.tensor(b + "attn_output.weight", {q, e}, t.attn);
  w.tensor(b + "ffn_norm.weight", {e}, k_f32);
  if (s.n_expert > 0) {
    const std::uint64_t f = s.n_ff_exp, x = s.n_expert;
    w.tensor(b + "ffn_gate_inp.weight", {e, x}, k_f32);
    w.tensor(b + "ffn_gate_exps.weight", Dims{e, f, x}, t.ffn);
    w.tensor(b + "ffn_up_exps.weight", Dims{e, f, x}, t.ffn);
    w.tensor(b + "ffn_down_exps.weight", Dims{f, e, x}, down_type);
  } else {
    w.tensor(b + "ffn_gate.weight", {e, s.n_ff}, t.ffn).tensor(b + "ffn_up.weight", {e, s.n_ff}, t.ffn);
    w.tensor(b + "ffn_down.weight", {s.n_ff, e}, down_type);
  }
}

tg::Writer writer(const ModelSpec& s) {
  tg::Writer w(3);
  metadata(w, s);
  w.tensor("token_embd.weight", {s.n_embd, s.n_vocab}, s.types.embd);
  for (std::uint32_t il = 0; il < s.n_layer; ++il) {
    layer_tensors(w, s, il);
  }
  w.tensor("output_norm.weight", {s.n_embd}, k_f32);
  if (!s.tied) {
    w.tensor("output.weight", {s.n_embd, s.n_vocab}, s.types.output);
  }
  return w.with_data(false);
}

TypeMix q4_k_m() {
  TypeMix t;
  t.q4_k_m = true;
  return t;
}

} // namespace

ModelSpec llama31_8b_q4_k_m() {
  ModelSpec s;
  s.name = "Llama-3.1-8B Q4_K_M";
  s.types = q4_k_m();
  return s;
}

ModelSpec qwen3_30b_a3b_q4_k_m() {
  ModelSpec s;
  s.name = "Qwen3-30B-A3B Q4_K_M";
  s.arch = "qwen3moe";
  s.n_layer = 48, s.n_embd = 2048, s.n_head = 32, s.n_head_kv = 4, s.head_dim = 128;
  s.n_ff = 6144, s.n_vocab = 151936, s.n_merges = 151387, s.n_ctx_train = 40960;
  s.n_expert = 128, s.n_expert_used = 8, s.n_ff_exp = 768, s.qk_norm = true;
  s.types = q4_k_m();
  return s;
}

ModelSpec llama31_70b_q4_k_m() {
  ModelSpec s;
  s.name = "Llama-3.1-70B Q4_K_M";
  s.n_layer = 80, s.n_embd = 8192, s.n_head = 64, s.n_head_kv = 8, s.n_ff = 28672;
  s.types = q4_k_m();
  return s;
}

ModelSpec gemma3_27b_q4_k_m() {
  ModelSpec s;
  s.name = "gemma-3-27B Q4_K_M";
  s.arch = "gemma3";
  s.n_layer = 62, s.n_embd = 5376, s.n_head = 32, s.n_head_kv = 16, s.head_dim = 128;
  s.n_ff = 21504, s.n_vocab = 262208, s.n_merges = 0, s.n_ctx_train = 131072;
  s.sliding_window = 1024, s.qk_norm = true, s.tied = true;
  s.types = q4_k_m();
  s.types.embd = k_q6_k;
  return s;
}

Header build_header(const ModelSpec& spec) {
  const tg::Writer w = writer(spec);
  Header h;
  h.bytes = w.bytes(); // header + padding to the alignment (no data: with_data(false))
  const std::uint64_t end = w.data_end();
  h.file_size = (end + 31) / 32 * 32;
  return h;
}

} // namespace ask::bench
