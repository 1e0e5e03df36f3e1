#include "tests/support/quant_mix.h"

#include <doctest/doctest.h>

namespace ask::testing::gguf {
namespace {

std::vector<PlannedTensor> layered(std::uint32_t n_layer, std::uint64_t n_embd, bool tied) {
  std::vector<PlannedTensor> t = {{"token_embd.weight", {n_embd, 1000}},
                                  {"output_norm.weight", {n_embd}}};
  if (!tied) {
    t.push_back({"output.weight", {n_embd, 1000}});
  }
  for (std::uint32_t il = 0; il < n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    t.push_back({b + "attn_norm.weight", {n_embd}});
    t.push_back({b + "attn_q.weight", {n_embd, n_embd}});
    t.push_back({b + "attn_v.weight", {n_embd, n_embd / 4}});
    t.push_back({b + "ffn_down.weight", {4 * n_embd, n_embd}});
  }
  return t;
}

std::uint32_t type_of(const std::vector<PlannedTensor>& ts, std::string_view name) {
  for (const PlannedTensor& t : ts) {
    if (t.name == name) {
      return t.type;
    }
  }
  FAIL("no tensor ", name);
  return 0;
}

} // namespace

TEST_CASE("quant_mix: layer_of reads blk.N. and nothing else") {
  CHECK(layer_of("blk.0.attn_q.weight") == 0);
  CHECK(layer_of("blk.17.ffn_down_exps.weight") == 17);
  CHECK(layer_of("token_embd.weight") == -1);
  CHECK(layer_of("blk.x.attn_q.weight") == -1);
  CHECK(layer_of("blk.3") == -1);
}

TEST_CASE("quant_mix: sorts like llama-quantize, blocks by number not by text") {
  std::vector<PlannedTensor> t = {{"blk.10.a.weight", {32}},
                                  {"token_embd.weight", {32}},
                                  {"blk.2.b.weight", {32}},
                                  {"blk.2.a.weight", {32}},
                                  {"output.weight", {32}}};
  sort_like_quantize(t);
  std::vector<std::string> names;
  names.reserve(t.size());
  for (const auto& x : t) {
    names.push_back(x.name);
  }
  CHECK(names == std::vector<std::string>{"output.weight", "token_embd.weight", "blk.2.a.weight",
                                          "blk.2.b.weight", "blk.10.a.weight"});
}

TEST_CASE("quant_mix: Q4_K_M gives Q6_K to output, and to attn_v / ffn_down on 'more bits' "
          "layers") {
  auto t = layered(32, 4096, false);
  assign_types(t, *file_type("q4_k_m"), {32, 0, false, 4});
  CHECK(type_of(t, "token_embd.weight") == gt::q4_k);
  CHECK(type_of(t, "output.weight") == gt::q6_k);
  CHECK(type_of(t, "output_norm.weight") == gt::f32);
  CHECK(type_of(t, "blk.0.attn_q.weight") == gt::q4_k);
  // use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2.
  for (std::uint32_t il : {0u, 3u, 6u, 9u, 27u, 28u, 31u}) {
    CAPTURE(il);
    CHECK(type_of(t, "blk." + std::to_string(il) + ".attn_v.weight") == gt::q6_k);
    CHECK(type_of(t, "blk." + std::to_string(il) + ".ffn_down.weight") == gt::q6_k);
  }
  for (std::uint32_t il : {4u, 5u, 7u, 26u}) {
    CAPTURE(il);
    CHECK(type_of(t, "blk." + std::to_string(il) + ".attn_v.weight") == gt::q4_k);
    CHECK(type_of(t, "blk." + std::to_string(il) + ".ffn_down.weight") == gt::q4_k);
  }
}

TEST_CASE("quant_mix: tied embeddings are typed as the output - 70B attn_v goes to Q5_K") {
  auto t = layered(80, 8192, true);
  assign_types(t, *file_type("q4_k_m"), {80, 0, true, 8});
  CHECK(type_of(t, "token_embd.weight") == gt::q6_k);
  CHECK(type_of(t, "blk.11.attn_v.weight") == gt::q5_k); // not a 'more bits' layer
  CHECK(type_of(t, "blk.0.attn_v.weight") == gt::q6_k);
}

TEST_CASE("quant_mix: rows a K-quant block does not divide fall back as llama-quantize does") {
  std::vector<PlannedTensor> t = {{"token_embd.weight", {2880, 1000}},
                                  {"output.weight", {2880, 1000}},
                                  {"blk.0.ffn_down.weight", {2880, 2880}}};
  assign_types(t, *file_type("q4_k_m"), {1, 0, false, 8});
  CHECK(type_of(t, "token_embd.weight") == gt::q5_0);     // Q4_K -> Q5_0
  CHECK(type_of(t, "output.weight") == gt::q8_0);         // the output rule picks Q8_0 itself
  CHECK(type_of(t, "blk.0.ffn_down.weight") == gt::q8_0); // Q6_K ('more bits') -> Q8_0
}

TEST_CASE("quant_mix: MXFP4_MOE puts experts in MXFP4 and every other weight in Q8_0") {
  std::vector<PlannedTensor> t = {
      {"token_embd.weight", {2880, 1000}},       {"output.weight", {2880, 1000}},
      {"blk.0.attn_q.weight", {2880, 4096}},     {"blk.0.attn_sinks.weight", {64}},
      {"blk.0.ffn_gate_inp.weight", {2880, 32}}, {"blk.0.ffn_up_exps.weight", {2880, 2880, 32}},
      {"blk.0.ffn_up_exps.bias", {2880, 32}}};
  assign_types(t, *file_type("mxfp4_moe"), {1, 32, false, 8});
  CHECK(type_of(t, "token_embd.weight") == gt::q8_0);
  CHECK(type_of(t, "output.weight") == gt::q8_0);
  CHECK(type_of(t, "blk.0.attn_q.weight") == gt::q8_0);
  CHECK(type_of(t, "blk.0.attn_sinks.weight") == gt::f32);
  CHECK(type_of(t, "blk.0.ffn_gate_inp.weight") == gt::f32); // router gates stay F32
  CHECK(type_of(t, "blk.0.ffn_up_exps.weight") == gt::mxfp4);
  CHECK(type_of(t, "blk.0.ffn_up_exps.bias") == gt::f32);
}

TEST_CASE("quant_mix: float file types keep 1-D tensors, norms and conv kernels in F32") {
  std::vector<PlannedTensor> t = {{"blk.0.attn_q.weight", {64, 64}},
                                  {"blk.0.ssm_conv1d.weight", {4, 64}},
                                  {"blk.0.attn_q_norm.weight", {64}},
                                  {"blk.0.ssm_a", {32}}};
  assign_types(t, *file_type("bf16"), {1, 0, false, 1});
  CHECK(type_of(t, "blk.0.attn_q.weight") == gt::bf16);
  CHECK(type_of(t, "blk.0.ssm_conv1d.weight") == gt::f32);
  CHECK(type_of(t, "blk.0.attn_q_norm.weight") == gt::f32);
  CHECK(type_of(t, "blk.0.ssm_a") == gt::f32);
}

TEST_CASE("quant_mix: unknown file types are refused") {
  CHECK(file_type("q4_k_m") != nullptr);
  CHECK(file_type("q3_k_xl") == nullptr);
  CHECK(file_type("") == nullptr);
}

} // namespace ask::testing::gguf
