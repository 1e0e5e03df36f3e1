#include "tests/support/model_zoo.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>

#include "tests/support/temp_dir.h"

namespace ask::testing::zoo {
namespace {

// What each entry must say, from its config.json and llama.cpp's loader (the tensor counts
// are those of the published GGUF files where one is known: 292 for Llama 3.1 8B, 1025 + 61
// split attn_k_b/attn_v_b for DeepSeek V3, 733 for Qwen3.5 35B A3B, ...).
struct Expected {
  std::string_view id;
  std::uint64_t n_layer, n_vocab, n_tensors, n_head_kv, head_k, n_expert, n_expert_used;
  std::uint64_t sliding_window, n_swa, n_recurrent;
};

// clang-format off
constexpr Expected k_expected[] = {
    // id                  layers vocab  tensors kv  head_k exp used window swa recur
    {"llama-3.1-8b",        32, 128256,  292,   8,  128,   0,   0,    0,  0,  0},
    {"llama-3.1-70b",       80, 128256,  724,   8,  128,   0,   0,    0,  0,  0},
    {"mistral-7b-v0.3",     32,  32768,  291,   8,  128,   0,   0,    0,  0,  0},
    {"mistral-small-24b",   40, 131072,  363,   8,  128,   0,   0,    0,  0,  0},
    {"ministral-3-3b",      26, 131072,  236,   8,  128,   0,   0,    0,  0,  0},
    {"qwen2.5-7b",          28, 152064,  339,   4,  128,   0,   0,    0,  0,  0},
    {"qwen3-8b",            36, 151936,  399,   8,  128,   0,   0,    0,  0,  0},
    {"qwen3-30b-a3b",       48, 151936,  579,   4,  128, 128,   8,    0,  0,  0},
    {"gemma-7b",            28, 256000,  254,  16,  256,   0,   0,    0,  0,  0},
    {"gemma-2-9b",          42, 256000,  464,   8,  256,   0,   0, 4096, 21,  0},
    {"gemma-3-12b",         48, 262208,  626,   8,  256,   0,   0, 1024, 40,  0},
    {"gemma-3-27b",         62, 262208,  808,  16,  128,   0,   0, 1024, 52,  0},
    {"gpt-oss-20b",         24, 201088,  459,   8,   64,  32,   4,  128, 12,  0},
    {"deepseek-v2-lite",    27, 102400,  404,   1,  576,  64,   6,    0,  0,  0},
    {"deepseek-v3",         61, 129280, 1086,   1,  576, 256,   8,    0,  0,  0},
    {"glm-4-9b",            40, 151552,  523,   2,  128,   0,   0,    0,  0,  0},
    {"phi-3-mini-4k",       32,  32064,  195,  32,   96,   0,   0,    0,  0,  0},
    {"qwen3-next-80b-a3b",  48, 151936,  843,   2,  256, 512,  10,    0,  0, 36},
    {"qwen3.5-35b-a3b",     40, 248320,  733,   2,  256, 256,   8,    0,  0, 30},
};
// clang-format on

core::gguf::ArchParams params_of(const core::gguf::SplitModel& m) {
  auto p = core::gguf::arch_params(m.first());
  REQUIRE_MESSAGE(p.has_value(), p.error().message);
  return *p;
}

std::uint64_t q8_0(std::uint64_t n) {
  return n / 32 * 34;
}
std::uint64_t q4_k(std::uint64_t n) {
  return n / 256 * 144;
}
std::uint64_t q6_k(std::uint64_t n) {
  return n / 256 * 210;
}

// Llama 3.1 8B's weights by role, counted from its config (4096 wide, 1024 for K/V, 14336
// for the FFN, 128256 tokens, 32 layers).
constexpr std::uint64_t k_embd = 4096ull * 128256;                     // token_embd, output
constexpr std::uint64_t k_qo = 2 * 4096ull * 4096;                     // attn_q + attn_output
constexpr std::uint64_t k_k = 4096ull * 1024;                          // attn_k (and attn_v)
constexpr std::uint64_t k_ffn = 4096ull * 14336;                       // each of gate, up, down
constexpr std::uint64_t k_f32_bytes = 4 * (32 * 2 * 4096 + 4096 + 64); // norms, rope_freqs

} // namespace

TEST_CASE("ModelZoo: every entry parses, and arch_params reads what its config says") {
  REQUIRE(zoo_entries().size() == std::size(k_expected));
  for (const Expected& x : k_expected) {
    CAPTURE(x.id);
    const ZooEntry* entry = find_entry(x.id);
    REQUIRE(entry != nullptr);
    auto m = in_memory(x.id);
    REQUIRE_MESSAGE(m.has_value(), m.error().message);
    CHECK(m->first().architecture() == entry->arch);
    CHECK(m->tensor_count() == x.n_tensors);
    const core::gguf::ArchParams p = params_of(*m);
    CHECK(p.n_layer == x.n_layer);
    CHECK(p.n_vocab == x.n_vocab);
    CHECK(p.n_head_kv.at(0) == x.n_head_kv);
    CHECK(p.n_embd_head_k == x.head_k);
    CHECK(p.n_expert == x.n_expert);
    CHECK(p.n_expert_used == x.n_expert_used);
    CHECK(p.sliding_window == x.sliding_window);
    CHECK(p.n_layer_swa() == x.n_swa);
    CHECK(p.n_layer_recurrent() == x.n_recurrent);
    const core::gguf::TensorInfo* embd = m->first().find_tensor("token_embd.weight");
    REQUIRE(embd != nullptr);
    CHECK(embd->dims.at(1) == x.n_vocab);
    // The header is the real one's size order (a full tokenizer), the file the model's.
    CHECK(m->first().data_offset > 500'000);
    CHECK(m->file_size() >= m->tensor_bytes());
  }
}

TEST_CASE("ModelZoo: ids are unique and every entry names its source") {
  std::set<std::string> ids;
  for (const ZooEntry& e : zoo_entries()) {
    CAPTURE(e.id);
    CHECK(ids.insert(e.id).second);
    CHECK_FALSE(e.arch.empty());
    CHECK_FALSE(e.description.empty());
    CHECK_FALSE(e.source.empty());
    CHECK(variants().size() >= 5);
    CHECK_FALSE(default_variant(e.id).empty());
  }
}

TEST_CASE("ModelZoo: Llama 3.1 8B Q8_0 weighs what its shapes say") {
  auto m = in_memory("llama-3.1-8b", "q8_0");
  REQUIRE(m.has_value());
  const std::uint64_t quantized = 2 * k_embd + 32 * (k_qo + 2 * k_k + 3 * k_ffn);
  CHECK(m->tensor_bytes() == q8_0(quantized) + k_f32_bytes);
  CHECK(m->first().get_uint("general.file_type") == 7);
}

TEST_CASE("ModelZoo: Llama 3.1 8B Q4_K_M matches llama-quantize's mix (16 layers in Q6_K)") {
  auto m = in_memory("llama-3.1-8b");
  REQUIRE(m.has_value());
  // output Q6_K, token_embd Q4_K; attn_v and ffn_down Q6_K on 16 of the 32 layers.
  const std::uint64_t expected = q6_k(k_embd) + q4_k(k_embd) + 32 * q4_k(k_qo + k_k + 2 * k_ffn) +
                                 16 * (q6_k(k_k) + q6_k(k_ffn)) + 16 * (q4_k(k_k) + q4_k(k_ffn)) +
                                 k_f32_bytes;
  CHECK(m->tensor_bytes() == expected);
  CHECK(expected == 4'912'898'304ull); // the published Q4_K_M file: 4.92 GB with its header
  CHECK(m->first().find_tensor("blk.31.ffn_down.weight")->type == 14);
  CHECK(m->first().find_tensor("blk.4.ffn_down.weight")->type == 12);
}

TEST_CASE("ModelZoo: gpt-oss keeps its experts in MXFP4 and its sinks in F32") {
  auto m = in_memory("gpt-oss-20b");
  REQUIRE(m.has_value());
  const auto& f = m->first();
  CHECK(f.find_tensor("blk.0.ffn_gate_exps.weight")->type == 39);
  CHECK(f.find_tensor("blk.0.ffn_gate_exps.weight")->dims ==
        std::vector<std::uint64_t>{2880, 2880, 32});
  CHECK(f.find_tensor("blk.0.attn_sinks.weight")->type == 0);
  CHECK(f.find_tensor("blk.0.attn_q.weight")->type == 8);
  CHECK(f.get_uint("gpt-oss.attention.sliding_window") == 128);
  const auto p = params_of(*m);
  CHECK(p.is_swa_layer.at(0));
  CHECK_FALSE(p.is_swa_layer.at(1));
}

TEST_CASE("ModelZoo: Gemma 3 has full attention on every sixth layer only") {
  auto m = in_memory("gemma-3-27b");
  REQUIRE(m.has_value());
  const auto p = params_of(*m);
  for (std::uint64_t il = 0; il < p.n_layer; ++il) {
    CAPTURE(il);
    CHECK(p.is_swa_layer.at(il) == (il % 6 != 5));
  }
}

TEST_CASE("ModelZoo: DeepSeek MLA caches one 576-wide head - Qwen3-Next attends every 4th layer") {
  auto ds = in_memory("deepseek-v2-lite");
  REQUIRE(ds.has_value());
  const auto p = params_of(*ds);
  CHECK(p.n_embd_head_v == 512);
  CHECK(p.n_expert_shared == 2);
  CHECK(ds->first().find_tensor("blk.1.attn_k_b.weight")->dims ==
        std::vector<std::uint64_t>{128, 512, 16});
  CHECK(ds->first().find_tensor("blk.0.ffn_gate.weight") != nullptr); // the dense lead layer
  CHECK(ds->first().find_tensor("blk.1.ffn_gate.weight") == nullptr);

  auto qn = in_memory("qwen3-next-80b-a3b");
  REQUIRE(qn.has_value());
  const auto q = params_of(*qn);
  for (std::uint64_t il = 0; il < q.n_layer; ++il) {
    CAPTURE(il);
    CHECK(q.is_recurrent_layer.at(il) == ((il + 1) % 4 != 0));
    CHECK(q.has_kv_layer.at(il) == ((il + 1) % 4 == 0));
  }
  CHECK(q.ssm_d_state == 128);
  CHECK(q.ssm_n_group == 16);
}

TEST_CASE("ModelZoo: every entry builds in every variant, at a size that orders with the bits") {
  for (const ZooEntry& e : zoo_entries()) {
    CAPTURE(e.id);
    std::map<std::string, std::uint64_t> size;
    for (const std::string& v : variants()) {
      CAPTURE(v);
      auto h = build(e.id, v);
      REQUIRE_MESSAGE(h.has_value(), h.error().message);
      size[v] = h->file_size;
    }
    CHECK(size.at("f16") == size.at("bf16"));
    CHECK(size.at("f16") > size.at("q8_0"));
    CHECK(size.at("q8_0") > size.at("q4_k_m"));
    CHECK(size.at("q4_k_m") > size.at("q4_0"));
  }
}

TEST_CASE("ModelZoo: unknown ids and variants are not_found") {
  auto a = build("llama-9b");
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().kind == core::ErrorKind::not_found);
  auto b = build("llama-3.1-8b", "q3_k_xl");
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().kind == core::ErrorKind::not_found);
  CHECK(file_name("llama-3.1-8b") == "llama-3.1-8b.gguf");
  CHECK(file_name("llama-3.1-8b", "q4_k_m") == "llama-3.1-8b.gguf");
  CHECK(file_name("llama-3.1-8b", "q8_0") == "llama-3.1-8b-q8_0.gguf");
}

TEST_CASE("ModelZoo: a sparse file on disk reads back as the in-memory model") {
  TempDir dir("model_zoo");
  const std::string path = (dir.path() / file_name("llama-3.1-70b")).string();
  REQUIRE(write_sparse("llama-3.1-70b", "", path).has_value());
  auto disk = core::gguf::read_model(path);
  REQUIRE_MESSAGE(disk.has_value(), disk.error().message);
  auto mem = in_memory("llama-3.1-70b");
  REQUIRE(mem.has_value());
  CHECK(disk->file_size() == mem->file_size());
  CHECK(disk->tensor_bytes() == mem->tensor_bytes());
  CHECK(std::filesystem::file_size(path) == mem->file_size());
  CHECK(mem->file_size() > 39ull << 30); // 39.6 GiB, as the published Q4_K_M
}

} // namespace ask::testing::zoo
