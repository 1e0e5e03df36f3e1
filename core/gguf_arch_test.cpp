// arch_params on generated files of several architectures: dense, sliding window, MoE,
// hybrid recurrent, and their malformed variants.

#include <doctest/doctest.h>

#include <string>

#include "core/gguf.h"
#include "tests/support/gguf_writer.h"

namespace gguf = ask::core::gguf;
namespace gw = ask::testing::gguf;
using ask::core::ErrorKind;

namespace {

gguf::ArchParams params_of(const gw::Writer& w) {
  auto f = gguf::parse(w.bytes());
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  auto p = gguf::arch_params(*f);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  return *p;
}

std::string error_of(const gw::Writer& w) {
  auto f = gguf::parse(w.bytes());
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  auto p = gguf::arch_params(*f);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().kind == ErrorKind::bad_request);
  return p.error().message;
}

gw::TinyModel model(std::string arch, std::uint32_t layers) {
  gw::TinyModel m;
  m.arch = std::move(arch);
  m.n_layer = layers;
  return m;
}

// "1" for each true entry: {true, false, true} -> "101".
std::string bits(const std::vector<bool>& v) {
  std::string out;
  for (bool b : v) {
    out += b ? '1' : '0';
  }
  return out;
}

} // namespace

TEST_CASE("gguf: arch_params of a dense llama: sizes, heads, vocabulary from the tokens") {
  auto p = params_of(gw::tiny_model(model("llama", 3)));
  CHECK(p.arch == "llama");
  CHECK(p.n_layer == 3);
  CHECK(p.n_embd == 64);
  CHECK(p.n_ctx_train == 2048);
  CHECK(p.n_vocab == 32); // no llama.vocab_size: the length of tokenizer.ggml.tokens
  CHECK(p.n_head == std::vector<std::uint64_t>{4, 4, 4});
  CHECK(p.n_head_kv == std::vector<std::uint64_t>{2, 2, 2});
  CHECK(p.n_embd_head_k == 16); // n_embd / n_head
  CHECK(p.n_embd_head_v == 16);
  CHECK(p.n_embd_head_k_swa == 16);
  CHECK(p.n_ff == std::vector<std::uint64_t>{128, 128, 128});
  CHECK(p.sliding_window == 0);
  CHECK(bits(p.is_swa_layer) == "000");
  CHECK(bits(p.is_recurrent_layer) == "000");
  CHECK(bits(p.has_kv_layer) == "111");
  CHECK(p.n_expert == 0);
}

TEST_CASE("gguf: arch_params takes key/value lengths, vocab_size and per-layer arrays") {
  gw::Writer v;
  v.str("general.architecture", "openelm").u32("openelm.block_count", 4);
  v.u32("openelm.embedding_length", 64).u32s("openelm.attention.head_count", {4, 4, 8, 8});
  v.i32s("openelm.attention.head_count_kv", {1, 2, 2, 4});
  v.u32s("openelm.feed_forward_length", {100, 200, 300, 400});
  v.u32("openelm.attention.key_length", 128).u32("openelm.vocab_size", 151936);
  auto p = params_of(v);
  CHECK(p.n_head == std::vector<std::uint64_t>{4, 4, 8, 8});
  CHECK(p.n_head_kv == std::vector<std::uint64_t>{1, 2, 2, 4});
  CHECK(p.n_ff == std::vector<std::uint64_t>{100, 200, 300, 400});
  CHECK(p.n_embd_head_k == 128);
  CHECK(p.n_embd_head_v == 16); // value_length absent: n_embd / n_head of layer 0
  CHECK(p.n_vocab == 151936);
  CHECK(p.n_ctx_train == 0);
  CHECK(bits(p.is_recurrent_layer) == "0000"); // no ssm sizes: not a hybrid
}

TEST_CASE("gguf: gemma3 layers use the window except every N-th (sliding_window_pattern)") {
  auto with = [](std::optional<std::uint32_t> window, std::optional<std::uint32_t> pattern) {
    auto w = gw::tiny_model(model("gemma3", 12));
    if (window) {
      w.u32("gemma3.attention.sliding_window", *window);
    }
    if (pattern) {
      w.u32("gemma3.attention.sliding_window_pattern", *pattern);
    }
    return params_of(w);
  };
  auto p = with(512, 6);
  CHECK(p.sliding_window == 512);
  CHECK(bits(p.is_swa_layer) == "111110111110"); // layers 5 and 11 see everything
  CHECK(p.n_layer_swa() == 10);
  CHECK(bits(with(512, std::nullopt).is_swa_layer) == "111110111110"); // gemma3's default 6
  CHECK(bits(with(512, 4).is_swa_layer) == "111011101110");
  CHECK(bits(with(512, 1).is_swa_layer) == "000000000000");
  CHECK(bits(with(512, 0).is_swa_layer) == "111111111111");
  CHECK(bits(with(std::nullopt, 6).is_swa_layer) == "000000000000"); // no window, no SWA
  CHECK(bits(with(0, 6).is_swa_layer) == "000000000000");
}

TEST_CASE("gguf: built-in SWA layouts: gemma2, llama4 chunks, dense-first, per-layer arrays") {
  auto gemma2 = params_of(gw::tiny_model(model("gemma2", 4)));
  CHECK(gemma2.sliding_window == 4096); // llama.cpp's default for gemma2
  CHECK(bits(gemma2.is_swa_layer) == "1010");
  auto llama4 = params_of(gw::tiny_model(model("llama4", 8)));
  CHECK(llama4.sliding_window == 8192);
  CHECK(llama4.swa_chunked);
  CHECK(bits(llama4.is_swa_layer) == "11101110");
  auto no_chunks = gw::tiny_model(model("llama4", 8));
  no_chunks.u32("llama4.attention.sliding_window", 0);
  CHECK(bits(params_of(no_chunks).is_swa_layer) == "00000000");
  auto thinker = gw::tiny_model(model("smallthinker", 8));
  thinker.u32("smallthinker.attention.sliding_window", 4096);
  CHECK(bits(params_of(thinker).is_swa_layer) == "01110111"); // dense first
  auto gemma4 = gw::tiny_model(model("gemma4", 5));
  gemma4.u32("gemma4.attention.sliding_window", 512);
  gemma4.bools("gemma4.attention.sliding_window_pattern", {true, true, false, true, false});
  gemma4.u32("gemma4.attention.key_length_swa", 256);
  auto g4 = params_of(gemma4);
  CHECK(bits(g4.is_swa_layer) == "11010");
  CHECK(g4.n_embd_head_k_swa == 256);
  CHECK(g4.n_embd_head_k == 16);
  auto mistral = gw::tiny_model(model("llama", 3));
  mistral.u32("llama.attention.sliding_window", 4096);
  CHECK(bits(params_of(mistral).is_swa_layer) == "111"); // a window and no pattern: all
  auto phi3 = gw::tiny_model(model("phi3", 3));
  phi3.u32("phi3.attention.sliding_window", 2047); // as Phi-3 mini's GGUF carries
  auto p3 = params_of(phi3);
  CHECK(p3.sliding_window == 0); // llama.cpp reads it, then turns SWA off for phi3
  CHECK(bits(p3.is_swa_layer) == "000");
}

TEST_CASE("gguf: a MoE model reports its experts") {
  gw::TinyModel m = model("qwen3moe", 2);
  m.n_expert = 8;
  m.n_expert_used = 2;
  auto w = gw::tiny_model(m);
  w.u32("qwen3moe.expert_shared_count", 1);
  auto p = params_of(w);
  CHECK(p.n_expert == 8);
  CHECK(p.n_expert_used == 2);
  CHECK(p.n_expert_shared == 1);
  auto f = gguf::parse(w.bytes());
  const gguf::TensorInfo* exps = f->find_tensor("blk.1.ffn_up_exps.weight");
  REQUIRE(exps != nullptr);
  CHECK(exps->dims == std::vector<std::uint64_t>{64, 128, 8});
  CHECK(exps->n_bytes == 64 * 128 * 8 * 2);
}

TEST_CASE("gguf: hybrids mark layers without KV heads as recurrent (granitehybrid, lfm2)") {
  gw::Writer w;
  w.str("general.architecture", "granitehybrid").u32("granitehybrid.block_count", 6);
  w.u32("granitehybrid.embedding_length", 64).u32("granitehybrid.attention.head_count", 4);
  w.u32s("granitehybrid.attention.head_count_kv", {0, 0, 2, 0, 0, 2});
  w.u32("granitehybrid.ssm.conv_kernel", 4).u32("granitehybrid.ssm.inner_size", 128);
  w.u32("granitehybrid.ssm.state_size", 16).u32("granitehybrid.ssm.group_count", 1);
  w.u32("granitehybrid.ssm.time_step_rank", 8);
  auto p = params_of(w);
  CHECK(bits(p.is_recurrent_layer) == "110110");
  CHECK(bits(p.has_kv_layer) == "001001");
  CHECK(p.n_layer_recurrent() == 4);
  CHECK(p.n_layer_kv() == 2);
  CHECK(p.ssm_d_conv == 4);
  CHECK(p.ssm_d_inner == 128);
  CHECK(p.ssm_d_state == 16);
  CHECK(p.ssm_n_group == 1);
  CHECK(p.ssm_dt_rank == 8);
  gw::Writer lfm;
  lfm.str("general.architecture", "lfm2").u32("lfm2.block_count", 3);
  lfm.u32("lfm2.embedding_length", 64).u32("lfm2.attention.head_count", 4);
  lfm.u32s("lfm2.attention.head_count_kv", {0, 2, 0}).u32("lfm2.shortconv.l_cache", 3);
  auto l = params_of(lfm);
  CHECK(bits(l.is_recurrent_layer) == "101");
  CHECK(l.shortconv_l_cache == 3);
}

TEST_CASE("gguf: qwen3next-style hybrids keep full attention every N-th layer") {
  auto w = gw::tiny_model(model("qwen3next", 8));
  w.u32("qwen3next.ssm.state_size", 128);
  auto p = params_of(w);
  CHECK(bits(p.is_recurrent_layer) == "11101110"); // full_attention_interval defaults to 4
  CHECK(bits(p.has_kv_layer) == "00010001");
  auto q35 = gw::tiny_model(model("qwen35", 6));
  q35.u32("qwen35.full_attention_interval", 3);
  CHECK(bits(params_of(q35).is_recurrent_layer) == "110110");
  auto zero = gw::tiny_model(model("qwen35moe", 2));
  zero.u32("qwen35moe.full_attention_interval", 0);
  CHECK(error_of(zero).find("full_attention_interval: must not be 0") != std::string::npos);
}

TEST_CASE("gguf: nemotron_h, falcon-h1, mamba and rwkv layer kinds") {
  gw::Writer n;
  n.str("general.architecture", "nemotron_h").u32("nemotron_h.block_count", 4);
  n.u32("nemotron_h.embedding_length", 64).u32("nemotron_h.attention.head_count", 4);
  n.u32s("nemotron_h.attention.head_count_kv", {0, 2, 0, 0});
  n.u32s("nemotron_h.feed_forward_length", {0, 0, 256, 0});
  auto nh = params_of(n);
  CHECK(bits(nh.is_recurrent_layer) == "1001"); // mamba layers
  CHECK(bits(nh.has_kv_layer) == "0100");       // attention layers; layer 2 is an MLP
  auto falcon = gw::tiny_model(model("falcon-h1", 3));
  auto fh = params_of(falcon);
  CHECK(bits(fh.is_recurrent_layer) == "111");
  CHECK(bits(fh.has_kv_layer) == "111");
  gw::Writer mamba;
  mamba.str("general.architecture", "mamba2").u32("mamba2.block_count", 2);
  mamba.u32("mamba2.embedding_length", 64).u32("mamba2.ssm.inner_size", 128);
  auto m = params_of(mamba);
  CHECK(bits(m.is_recurrent_layer) == "11");
  CHECK(bits(m.has_kv_layer) == "00");
  CHECK(m.n_head == std::vector<std::uint64_t>{0, 0});
  CHECK(m.n_embd_head_k == 0);
  gw::Writer rwkv;
  rwkv.str("general.architecture", "rwkv7").u32("rwkv7.block_count", 1);
  rwkv.u32("rwkv7.embedding_length", 64).u32("rwkv7.wkv.head_size", 64);
  rwkv.u32("rwkv7.token_shift_count", 2);
  auto r = params_of(rwkv);
  CHECK(r.wkv_head_size == 64);
  CHECK(r.token_shift_count == 2);
  CHECK(bits(r.is_recurrent_layer) == "1");
}

TEST_CASE("gguf: an unlisted hybrid is recognised from ssm sizes and zero KV heads") {
  gw::Writer w;
  w.str("general.architecture", "future-hybrid").u32("future-hybrid.block_count", 3);
  w.u32("future-hybrid.embedding_length", 64).u32("future-hybrid.attention.head_count", 4);
  w.u32s("future-hybrid.attention.head_count_kv", {2, 0, 2});
  w.u32("future-hybrid.ssm.state_size", 16);
  CHECK(bits(params_of(w).is_recurrent_layer) == "010");
  gw::Writer deci; // attention-free layers without any recurrent state are not recurrent
  deci.str("general.architecture", "deci").u32("deci.block_count", 3);
  deci.u32("deci.embedding_length", 64).u32("deci.attention.head_count", 4);
  deci.u32s("deci.attention.head_count_kv", {2, 0, 2});
  CHECK(bits(params_of(deci).is_recurrent_layer) == "000");
}

TEST_CASE("gguf: shared KV layers (gemma3n) hold no cache of their own") {
  auto w = gw::tiny_model(model("gemma3n", 5));
  w.u32("gemma3n.attention.shared_kv_layers", 2);
  auto p = params_of(w);
  CHECK(bits(p.has_kv_layer) == "11100");
  CHECK(p.n_layer_kv() == 3);
}

TEST_CASE("gguf: arch_params errors name the key") {
  gw::Writer none;
  none.u32("llama.block_count", 2);
  CHECK(error_of(none) == "gguf: general.architecture is missing");
  gw::Writer no_layers;
  no_layers.str("general.architecture", "llama");
  CHECK(error_of(no_layers) == "gguf: llama.block_count: missing");
  gw::Writer too_many;
  too_many.str("general.architecture", "llama").u64("llama.block_count", 1ull << 40);
  CHECK(error_of(too_many).find("llama.block_count: 1099511627776 layers (at most 4096)") !=
        std::string::npos);
  gw::Writer wrong_type;
  wrong_type.str("general.architecture", "llama").str("llama.block_count", "two");
  CHECK(error_of(wrong_type) ==
        "gguf: llama.block_count: expected an unsigned integer, found string");
  gw::Writer short_array;
  short_array.str("general.architecture", "llama").u32("llama.block_count", 3);
  short_array.u32s("llama.attention.head_count", {4, 4});
  CHECK(error_of(short_array) == "gguf: llama.attention.head_count: array has 2 entries for 3 "
                                 "layers");
  gw::Writer negative;
  negative.str("general.architecture", "llama").u32("llama.block_count", 2);
  negative.i32s("llama.attention.head_count_kv", {2, -1});
  CHECK(error_of(negative).find("array entries must be unsigned integers") != std::string::npos);
  gw::Writer bad_pattern;
  bad_pattern.str("general.architecture", "gemma3").u32("gemma3.block_count", 3);
  bad_pattern.u32("gemma3.attention.sliding_window", 512);
  bad_pattern.bools("gemma3.attention.sliding_window_pattern", {true, false});
  CHECK(error_of(bad_pattern).find("sliding_window_pattern: array has 2 entries for 3") !=
        std::string::npos);
}

TEST_CASE("gguf: nextn_predict_layers counts the MTP layers at the end of block_count") {
  gw::Writer plain;
  gw::tiny_metadata(plain, model("glm4moe", 4));
  CHECK(params_of(plain).n_layer_nextn == 0);
  gw::Writer mtp;
  gw::tiny_metadata(mtp, model("glm4moe", 4)).u32("glm4moe.nextn_predict_layers", 1);
  const gguf::ArchParams p = params_of(mtp);
  CHECK(p.n_layer == 4);
  CHECK(p.n_layer_nextn == 1);
  gw::Writer too_many;
  gw::tiny_metadata(too_many, model("glm4moe", 4)).u32("glm4moe.nextn_predict_layers", 5);
  CHECK(error_of(too_many).find(
            "glm4moe.nextn_predict_layers: 5 MTP layers but block_count is 4") !=
        std::string::npos);
  gw::Writer wrong_type;
  gw::tiny_metadata(wrong_type, model("glm4moe", 4)).str("glm4moe.nextn_predict_layers", "1");
  CHECK(error_of(wrong_type).find("glm4moe.nextn_predict_layers: expected an unsigned integer") !=
        std::string::npos);
}
