#include "router/estimate.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/gguf_writer.h"
#include "tests/support/model_zoo.h"

namespace {

using namespace ask;
using ask::core::ErrorKind;
using ask::router::EstimateInput;
using ask::testing::gguf::Writer;
namespace tg = ask::testing::gguf;

constexpr double k_mib = 1024.0 * 1024.0;
const std::filesystem::path k_root = ASK_SOURCE_DIR;

double mib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / k_mib;
}

std::string read_text_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sum of "<what> = N MiB" over the log's lines (every device); `lines` counts them.
double log_mib(const std::string& log, std::string_view what, int* lines = nullptr) {
  double sum = 0;
  std::size_t at = 0;
  int n = 0;
  while ((at = log.find(what, at)) != std::string::npos) {
    const std::size_t eq = log.find('=', at);
    sum += std::stod(log.substr(eq + 1, 32));
    at = eq;
    ++n;
  }
  if (lines != nullptr) {
    *lines = n;
  }
  return sum;
}

// The number after "<key>" then '=' on the key's first line.
std::uint64_t log_value(const std::string& log, std::string_view key) {
  const std::size_t at = log.find(key);
  REQUIRE(at != std::string::npos);
  return std::stoull(log.substr(log.find('=', at) + 1, 24));
}

core::gguf::SplitModel read_model_fixture(std::string_view name) {
  auto m = core::gguf::read_model(k_root / "tests/fixtures/gguf" / name);
  REQUIRE(m.has_value());
  return *m;
}

core::gguf::SplitModel from_writer(const Writer& w) {
  auto f = core::gguf::parse(w.bytes());
  REQUIRE(f.has_value());
  core::gguf::SplitModel m;
  m.paths.emplace_back("mem.gguf");
  m.parts.push_back(std::move(*f));
  return m;
}

struct Meta {
  std::string arch = "llama";
  std::uint32_t n_layer = 2, n_embd = 64, n_head = 4, n_head_kv = 2, n_ff = 128;
  std::uint32_t n_vocab = 32000, n_ctx = 2048;
  bool head_kv = true; // write a scalar head_count_kv
  bool ctx_key = true; // write context_length
};

// Architecture metadata only (vocab_size instead of a token list).
Writer meta(const Meta& m) {
  Writer w;
  const std::string a = m.arch + ".";
  w.str("general.architecture", m.arch).u32(a + "block_count", m.n_layer);
  w.u32(a + "embedding_length", m.n_embd);
  if (m.ctx_key) {
    w.u32(a + "context_length", m.n_ctx);
  }
  w.u32(a + "feed_forward_length", m.n_ff).u32(a + "attention.head_count", m.n_head);
  w.u32(a + "vocab_size", m.n_vocab);
  if (m.head_kv) {
    w.u32(a + "attention.head_count_kv", m.n_head_kv);
  }
  return w;
}

router::Estimate run(const core::gguf::SplitModel& m, const EstimateInput& in) {
  auto e = router::estimate(m, in);
  REQUIRE(e.has_value());
  return *e;
}

std::uint64_t kv_total(const router::Estimate& e) {
  std::uint64_t s = 0;
  for (const auto& l : e.layers) {
    s += l.kv;
  }
  return s;
}

std::uint64_t weights_total(const router::Estimate& e) {
  std::uint64_t s = e.input_weights + e.output_weights - e.tied_output;
  for (const auto& l : e.layers) {
    s += l.weights + l.host_weights;
  }
  return s;
}

struct FixtureCase {
  const char* log;
  const char* model;
  EstimateInput in;
  double compute_tolerance; // |estimate - log| in MiB; < 0: relative, at most -x above
};

EstimateInput settings(std::uint64_t ctx, int np, bool unified, std::string ct = "f16") {
  EstimateInput in;
  in.ctx = ctx;
  in.parallel = np;
  in.kv_unified = unified;
  in.cache_type_k = in.cache_type_v = std::move(ct);
  return in;
}

void check_fixture(const FixtureCase& fc) {
  CAPTURE(fc.log);
  const std::string log = read_text_file(k_root / "tests/fixtures/llama-server" / fc.log);
  const auto e = run(read_model_fixture(fc.model), fc.in);
  CHECK(e.n_ctx == log_value(log, "llama_context: n_ctx "));
  CHECK(e.n_ctx_seq == log_value(log, "llama_context: n_ctx_seq "));
  int kv_lines = 0; // each line is rounded to 0.01 MiB
  const double kv_logged = log_mib(log, "KV buffer size", &kv_lines);
  CHECK(kv_lines >= 1);
  CHECK(std::abs(mib(kv_total(e)) - kv_logged) <= 0.0051 * kv_lines);
  CHECK(std::abs(mib(e.output_buffer) - log_mib(log, "output buffer size")) <= 0.005);
  CHECK(std::abs(mib(weights_total(e)) - log_mib(log, "model buffer size")) <= 0.005);
  // CPU only: the one compute buffer of a load in host memory.
  const double logged = log_mib(log, "compute buffer size");
  const double est = mib(e.compute_cpu);
  if (fc.compute_tolerance >= 0) {
    CHECK(std::abs(est - logged) <= fc.compute_tolerance);
  } else {
    CHECK(est >= logged);
    CHECK(est <= logged * (1 - fc.compute_tolerance));
  }
}

} // namespace

TEST_CASE("estimate: KV, output, weights and compute match tiny-llama c1024 np2 log") {
  check_fixture(
      {"startup-tiny-llama-2L-f16.log", "tiny-llama-2L-f16.gguf", settings(1024, 2, false), 0.01});
}

TEST_CASE("estimate: matches tiny-llama -c 4096 -np 4 -fa on log") {
  check_fixture({"startup-tiny-llama-2L-f16-c4096-np4-fa.log", "tiny-llama-2L-f16.gguf",
                 settings(4096, 4, false), 0.01});
}

TEST_CASE("estimate: matches llama-server defaults log (trained ctx, np 4, unified KV)") {
  const auto in = settings(0, 4, true);
  check_fixture({"startup-tiny-llama-2L-f16-defaults.log", "tiny-llama-2L-f16.gguf", in, 0.01});
  const auto e = run(read_model_fixture("tiny-llama-2L-f16.gguf"), in);
  CHECK(e.n_ctx == 2048);
  CHECK(e.notes.front().find("trained context") != std::string::npos);
}

TEST_CASE("estimate: matches tiny-llama hd32 c1024 np2 log") {
  check_fixture({"startup-tiny-llama-2L-hd32-f16.log", "tiny-llama-2L-hd32-f16.gguf",
                 settings(1024, 2, false), 0.01});
}

TEST_CASE("estimate: matches hd32 q8_0 K and V cache log (34 bytes per 32)") {
  check_fixture({"startup-tiny-llama-2L-hd32-f16-c4096-np4-q8kv-fa.log",
                 "tiny-llama-2L-hd32-f16.gguf", settings(4096, 4, false, "q8_0"), 0.01});
  const auto e =
      run(read_model_fixture("tiny-llama-2L-hd32-f16.gguf"), settings(4096, 4, false, "q8_0"));
  // 1024 cells x 4 streams x (34 + 34) bytes per layer.
  CHECK(e.layers[0].kv == 1024u * 4 * 68);
}

TEST_CASE("estimate: matches gemma3 SWA log: two caches of 512 cells") {
  check_fixture({"startup-tiny-gemma3-2L-swa-f16.log", "tiny-gemma3-2L-swa-f16.gguf",
                 settings(1024, 2, false), 0.01});
  const auto e = run(read_model_fixture("tiny-gemma3-2L-swa-f16.gguf"), settings(1024, 2, false));
  CHECK(e.layers[0].kv == e.layers[1].kv); // min(512, PAD(256 + 512, 256)) = 512
}

TEST_CASE("estimate: q8_0 K on head size 16 fails like startup-fail-q8kv-headdim16.log") {
  const std::string log =
      read_text_file(k_root / "tests/fixtures/llama-server/startup-fail-q8kv-headdim16.log");
  REQUIRE(log.find("does not divide n_embd_head_k=16") != std::string::npos);
  auto e = router::estimate(read_model_fixture("tiny-llama-2L-f16.gguf"),
                            settings(1024, 2, false, "q8_0"));
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().kind == ErrorKind::bad_request);
  CHECK(e.error().message.find("cache_type_k") != std::string::npos);
  CHECK(e.error().message.find("head size 16") != std::string::npos);
}

TEST_CASE("estimate: q8_0 tensor sizes of tiny-llama-4L-q8_0 summed per layer") {
  const auto m = read_model_fixture("tiny-llama-4L-q8_0.gguf");
  const auto e = run(m, settings(1024, 1, false));
  REQUIRE(e.layers.size() == 4);
  std::uint64_t blk0 = 0;
  for (const auto& t : m.first().tensors) {
    blk0 += t.name.starts_with("blk.0.") ? t.n_bytes : 0;
  }
  CHECK(blk0 > 0);
  CHECK(e.layers[0].weights == blk0);
  CHECK(weights_total(e) == m.tensor_bytes());
}

TEST_CASE("estimate: Llama-3.1-8B shape at 8192 ctx f16 KV is 1024 MiB (docs/vram.md example)") {
  Meta mt;
  mt.n_layer = 32, mt.n_embd = 4096, mt.n_head = 32, mt.n_head_kv = 8, mt.n_ff = 14336;
  mt.n_vocab = 128256, mt.n_ctx = 131072;
  const auto m = from_writer(meta(mt));
  const auto e = run(m, settings(8192, 1, false));
  CHECK(kv_total(e) == 1024ull << 20);
  CHECK(e.layers[31].kv == 32ull << 20);
  CHECK(e.output_buffer == 128256u * 4);
}

TEST_CASE("estimate: a file without its tensors falls back to the old approximation, with a margin") {
  Meta mt;
  mt.n_layer = 32, mt.n_embd = 4096, mt.n_head = 32, mt.n_head_kv = 8, mt.n_ff = 14336;
  mt.n_vocab = 128256, mt.n_ctx = 131072;
  auto in = settings(8192, 1, false);
  in.build = router::k_recorded_build;
  const auto e = run(from_writer(meta(mt)), in); // metadata only: no graph to build
  CHECK(e.margin == doctest::Approx(0.5));
  CHECK(e.margin_reason.find("token_embd.weight") != std::string::npos);
  // FA: f16 mask 8 MiB + FFN activations 512*4*(2*14336 + 4*4096) = 88 MiB + inputs, x1.5.
  CHECK(mib(e.compute_output) == doctest::Approx(96.01 * 1.5).epsilon(0.0005));
  CHECK(e.compute_cpu == e.compute_output);
}

TEST_CASE("estimate: an older build's estimate is not below its published buffers (2024 log)") {
  // ollama log of a 2024 llama.cpp: n_ctx 8192, np 4, unified cache, flash_attn 0, a logit
  // row per ubatch token: CUDA0 compute 560.00 MiB, CUDA_Host compute 24.01 MiB. Its graph
  // differs from b10587's in many small ways; what must hold is the margin: never below.
  auto m = testing::zoo::in_memory("llama-3.1-8b");
  REQUIRE(m.has_value());
  auto in = settings(8192, 4, true);
  in.flash_attn = false;
  in.build = 3000; // before PR #23861: n_batch logit rows
  const auto e = run(*m, in);
  CHECK(e.margin == doctest::Approx(0.1));
  CHECK(e.margin_reason.find("build 3000") != std::string::npos);
  CHECK(mib(e.compute_output) >= 560.00);
  CHECK(mib(e.compute_output) <= 560.00 * 1.15);
  CHECK(mib(e.compute_host) >= 24.01);
  CHECK(kv_total(e) == 1024ull << 20);
  in.build = router::k_recorded_build; // one row per slot: the logits shrink 128-fold
  CHECK(run(*m, in).compute_output < e.compute_output);
}

TEST_CASE("estimate: a CPU build charges host memory the compute buffer it keeps beside rpc devices") {
  // tests/fixtures/llama-server/startup-llama-3.1-8b-rpc2.log: the zoo's Llama 3.1 8B over two
  // rpc-servers, -c 4096 -np 1 -fa on: "CPU compute buffer size = 20.01 MiB" beside them.
  auto m = testing::zoo::in_memory("llama-3.1-8b");
  REQUIRE(m.has_value());
  auto in = settings(4096, 1, false);
  in.flash_attn = true;
  in.api = config::GpuApi::cpu;
  const auto e = run(*m, in);
  CHECK(mib(e.compute_host) >= 20.01);
  CHECK(mib(e.compute_host) <= 20.01 * 1.05);
  CHECK(e.compute_host_partial == e.compute_host);
  CHECK(e.compute_output == e.compute_cpu); // each rpc device: the whole graph's (docs/vram.md)
}

TEST_CASE("estimate: GQA llama weights per layer and input/output split") {
  tg::TinyModel tm;
  tm.n_vocab = 100;
  auto w = tg::tiny_model(tm);
  w.tensor("output.weight", {64, 100}, tg::ggml::f16);
  const auto m = from_writer(w);
  const auto e = run(m, settings(2048, 1, false));
  // attn q 64x64, k/v 64x32, o 64x64, gate/up/down 64x128, all f16; two f32 norms of 64.
  const std::uint64_t layer = 2 * (4096 + 2048 * 2 + 4096 + 8192 * 3) + 2 * 256;
  CHECK(e.layers[0].weights == layer);
  CHECK(e.layers[1].weights == layer);
  CHECK(e.input_weights == 64u * 100 * 2);
  CHECK(e.output_weights == 64u * 100 * 2 + 256); // output.weight + output_norm
  CHECK(e.tied_output == 0);
  // K and V: 2 kv heads x 16 dims x 2 bytes, 2048 cells.
  CHECK(e.layers[0].kv == 2048u * 2 * 32 * 2);
}

TEST_CASE("estimate: tied embeddings duplicate token_embd as the output layer") {
  tg::TinyModel tm;
  tm.n_vocab = 100;
  const auto e = run(from_writer(tg::tiny_model(tm)), settings(2048, 1, false));
  CHECK(e.tied_output == 64u * 100 * 2);
  CHECK(e.output_weights == 64u * 100 * 2 + 256);
  CHECK(e.input_weights == 64u * 100 * 2);
  bool noted = false;
  for (const auto& n : e.notes) {
    noted = noted || n.find("tied") != std::string::npos;
  }
  CHECK(noted);
}

TEST_CASE("estimate: per-layer head_count_kv array sizes each layer's KV") {
  Meta mt;
  mt.n_layer = 3;
  mt.head_kv = false;
  auto w = meta(mt);
  w.u32s("llama.attention.head_count_kv", {1, 2, 4});
  const auto e = run(from_writer(w), settings(1024, 1, false));
  CHECK(e.layers[0].kv == 1024u * 16 * 2 * 2 * 1);
  CHECK(e.layers[1].kv == 1024u * 16 * 2 * 2 * 2);
  CHECK(e.layers[2].kv == 1024u * 16 * 2 * 2 * 4);
}

TEST_CASE("estimate: gemma3 sliding window: 5 of 6 layers hold n_swa + n_ubatch cells") {
  Meta mt;
  mt.arch = "gemma3", mt.n_layer = 12, mt.n_ctx = 131072;
  auto w = meta(mt);
  w.u32("gemma3.attention.sliding_window", 1024);
  w.u32("gemma3.attention.key_length", 32).u32("gemma3.attention.value_length", 32);
  const auto m = from_writer(w);
  const std::uint64_t row = 2 * 32 * 2 * 2; // K+V, 2 kv heads x 32 dims, f16
  auto e = run(m, settings(32768, 1, false));
  CHECK(e.layers[0].kv == 1536 * row);  // PAD(1024 + 512, 256)
  CHECK(e.layers[5].kv == 32768 * row); // every 6th layer is global
  CHECK(e.layers[11].kv == 32768 * row);
  // 4 slots, unified: n_swa * 4 + 512 = 4608 cells, one stream.
  e = run(m, settings(32768, 4, true));
  CHECK(e.layers[0].kv == 4608 * row);
  // 4 slots, per-slot streams: 8192 cells per slot for global layers, 1536 for SWA ones.
  e = run(m, settings(32768, 4, false));
  CHECK(e.n_ctx_seq == 8192);
  CHECK(e.layers[0].kv == 1536 * 4 * row);
  CHECK(e.layers[5].kv == 8192 * 4 * row);
}

TEST_CASE("estimate: jamba hybrid: Mamba state per slot, KV only on attention layers") {
  Meta mt;
  mt.arch = "jamba", mt.n_layer = 4, mt.head_kv = false;
  auto w = meta(mt);
  w.u32s("jamba.attention.head_count_kv", {0, 0, 0, 2});
  w.u32("jamba.ssm.conv_kernel", 4).u32("jamba.ssm.inner_size", 128);
  w.u32("jamba.ssm.state_size", 16).u32("jamba.ssm.time_step_rank", 4);
  const auto e = run(from_writer(w), settings(1024, 3, false));
  // r = (4-1) * 128 = 384, s = 16 * 128 = 2048 floats per slot.
  CHECK(e.layers[0].recurrent == (384 + 2048) * 4 * 3);
  CHECK(e.layers[0].kv == 0);
  CHECK(e.layers[3].recurrent == 0);
  CHECK(e.layers[3].kv == 512u * 3 * 2 * 32 * 2); // n_ctx_seq = PAD(1024/3, 256) = 512
}

TEST_CASE("estimate: mamba2 state uses groups - rwkv6 and lfm2 use their own state sizes") {
  Meta mt;
  mt.arch = "mamba2", mt.n_layer = 2, mt.n_head = 0, mt.head_kv = false;
  auto w = meta(mt);
  w.u32("mamba2.ssm.conv_kernel", 4).u32("mamba2.ssm.inner_size", 128);
  w.u32("mamba2.ssm.state_size", 16).u32("mamba2.ssm.group_count", 2);
  auto e = run(from_writer(w), settings(4096, 1, false));
  CHECK(e.layers[1].recurrent == (3 * (128 + 2 * 2 * 16) + 16 * 128) * 4);
  CHECK(kv_total(e) == 0);

  mt.arch = "rwkv6";
  auto r = meta(mt);
  r.u32("rwkv6.wkv.head_size", 16).u32("rwkv6.token_shift_count", 2);
  e = run(from_writer(r), settings(4096, 2, false));
  CHECK(e.layers[0].recurrent == (2 * 64 + 64 * 16) * 4 * 2);

  mt.arch = "lfm2", mt.n_head = 4, mt.n_layer = 2;
  auto l = meta(mt);
  l.u32s("lfm2.attention.head_count_kv", {0, 2});
  l.u32("lfm2.shortconv.l_cache", 3);
  e = run(from_writer(l), settings(4096, 1, false));
  CHECK(e.layers[0].recurrent == 64 * 2 * 4);
  CHECK(e.layers[1].kv == 4096u * 2 * 32 * 2);
}

TEST_CASE("estimate: --n-cpu-moe keeps expert tensors of the first layers in host memory") {
  tg::TinyModel tm;
  tm.n_vocab = 100, tm.n_expert = 4, tm.n_expert_used = 2, tm.n_layer = 3;
  const auto m = from_writer(tg::tiny_model(tm));
  auto in = settings(2048, 1, false);
  const auto all = run(m, in);
  in.n_cpu_moe = 2;
  const auto e = run(m, in);
  const std::uint64_t experts = 3ull * 64 * 128 * 4 * 2; // gate, up, down x 4 experts, f16
  CHECK(e.layers[0].host_weights == experts);
  CHECK(e.layers[1].host_weights == experts);
  CHECK(e.layers[2].host_weights == 0);
  CHECK(e.layers[0].weights == all.layers[0].weights - experts); // router stays on the GPU
  CHECK(e.host_bytes() == all.host_bytes() + 2 * experts);
  // Expert activations: 2 used x 128 wide > dense n_ff 128.
  CHECK(all.compute_cpu >
        run(from_writer(tg::tiny_model({})), settings(2048, 1, false)).compute_cpu);
}

TEST_CASE("estimate: a split model gives the same estimate as the whole file") {
  tg::TempDir dir;
  tg::TinyModel tm;
  tm.n_vocab = 100, tm.n_layer = 3;
  tg::tiny_model(tm).write(dir / "whole.gguf");
  const auto parts = tg::split_tiny_model(tm, 3);
  for (std::uint32_t i = 0; i < 3; ++i) {
    parts[i].write(core::gguf::split_path(dir / "m", i + 1, 3));
  }
  auto whole = core::gguf::read_model(dir / "whole.gguf");
  auto split = core::gguf::read_model(core::gguf::split_path(dir / "m", 1, 3));
  REQUIRE(whole.has_value());
  REQUIRE(split.has_value());
  REQUIRE(split->parts.size() == 3);
  const auto a = run(*whole, settings(2048, 1, false));
  const auto b = run(*split, settings(2048, 1, false));
  CHECK(a.layer_bytes() == b.layer_bytes());
  CHECK(a.layers[2].weights == b.layers[2].weights);
  CHECK(a.input_weights == b.input_weights);
  CHECK(a.output_weights == b.output_weights);
}

TEST_CASE("estimate: ctx is padded to 256 and split evenly over slots") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  auto e = run(m, settings(1000, 1, false));
  CHECK(e.n_ctx == 1024);
  e = run(m, settings(4096, 3, false)); // PAD(4096/3, 256) = 1536 per slot
  CHECK(e.n_ctx_seq == 1536);
  CHECK(e.n_ctx == 4608);
  CHECK(e.layers[0].kv == 1536u * 3 * 64 * 2);
  e = run(m, settings(4096, 3, true));
  CHECK(e.n_ctx_seq == 4096);
  CHECK(e.layers[0].kv == 4096u * 64 * 2);
}

TEST_CASE("estimate: q4_0 and mixed cache types use their row sizes") {
  const auto m = read_model_fixture("tiny-llama-2L-hd32-f16.gguf");
  auto in = settings(1024, 1, false);
  in.cache_type_k = "q4_0";
  in.cache_type_v = "f32";
  const auto e = run(m, in);
  CHECK(e.layers[0].kv == 1024u * (18 + 32 * 4)); // 1 kv head x 32 dims
}

TEST_CASE("estimate: output buffer holds parallel rows of logits") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  CHECK(run(m, settings(4096, 8, false)).output_buffer == 32000u * 4 * 8);
}

TEST_CASE("estimate: without flash attention the KQ scores enter the compute buffer") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  auto in = settings(4096, 1, false);
  const auto fa = run(m, in);
  in.flash_attn = false;
  const auto no = run(m, in);
  // 4096 cells x 512 tokens x 4 heads x 4 bytes, and an f32 mask instead of f16.
  CHECK(no.compute_layer - fa.compute_layer >= 4096ull * 512 * 4 * 4);
  CHECK(no.compute_cpu - fa.compute_cpu >= 4096ull * 512 * 4 * 4);
  CHECK(no.compute_output - fa.compute_output >= 4096ull * 512 * 4 * 4);
  in.cache_type_v = "q8_0";
  in.cache_type_k = "f16";
  auto bad = router::estimate(read_model_fixture("tiny-llama-2L-hd32-f16.gguf"), in);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("cache_type_v") != std::string::npos);
}

TEST_CASE("estimate: older builds' n_ubatch logit rows dominate compute_output") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  auto in = settings(1024, 2, false);
  in.n_outputs_max = 512;
  const auto e = run(m, in);
  // 32000 x 512 x 4 = 62.5 MiB of logits on the GPU holding the output layer; a GPU holding
  // only layers has no logits (its buffer holds the pipeline's four copies of its inputs).
  CHECK(e.compute_output >= 32000u * 512 * 4);
  CHECK(mib(e.compute_output) < 64.0);
  CHECK(mib(e.compute_layer) < 4.0);
}

TEST_CASE("estimate: bad settings are refused naming the setting") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  auto expect_bad = [&](const EstimateInput& in, std::string_view needle) {
    auto e = router::estimate(m, in);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().kind == ErrorKind::bad_request);
    CHECK(e.error().message.find(needle) != std::string::npos);
  };
  auto in = settings(1024, 1, false);
  in.cache_type_k = "q9_9";
  expect_bad(in, "cache_type_k");
  in = settings(1024, 1, false);
  in.cache_type_v = "Q8_0"; // llama-server's names are lower case
  expect_bad(in, "cache_type_v");
  expect_bad(settings(1024, 0, false), "parallel");
  expect_bad(settings(1024, -3, false), "parallel");
  expect_bad(settings(1024, 257, false), "parallel");
  expect_bad(settings((1ull << 24) + 1, 1, false), "ctx");
  in = settings(1024, 1, false);
  in.n_ubatch = 0;
  expect_bad(in, "n_ubatch");
  in = settings(1024, 1, false);
  in.n_cpu_moe = -1;
  expect_bad(in, "n_cpu_moe");
  CHECK(router::estimate(m, settings(1ull << 24, 1, false)).has_value());
}

TEST_CASE("estimate: models without context, with huge dimensions or no parts are refused") {
  Meta mt;
  mt.n_ctx = 0;
  auto w = Writer();
  w.str("general.architecture", "llama").u32("llama.block_count", 2);
  w.u32("llama.embedding_length", 64).u32("llama.attention.head_count", 4);
  auto e = router::estimate(from_writer(w), settings(0, 1, false));
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().message.find("ctx") != std::string::npos);

  mt.head_kv = false;
  auto huge = meta(mt);
  huge.u32("llama.attention.key_length", 4000000000u).u32("llama.attention.value_length", 16);
  huge.u64("llama.attention.head_count_kv", 1ull << 40);
  e = router::estimate(from_writer(huge), settings(1ull << 24, 1, false));
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().kind == ErrorKind::bad_request);
  CHECK(e.error().message.find("too large") != std::string::npos);

  auto no_arch = Writer();
  no_arch.u32("llama.block_count", 2);
  CHECK_FALSE(router::estimate(from_writer(no_arch), settings(1024, 1, false)).has_value());
  CHECK_FALSE(router::estimate(core::gguf::SplitModel{}, settings(1024, 1, false)).has_value());
}

TEST_CASE("estimate: a huge trained context is capped at 2^24 tokens") {
  Meta mt;
  mt.ctx_key = false;
  auto w = meta(mt);
  w.u64("llama.context_length", 1ull << 30);
  const auto e = run(from_writer(w), settings(0, 1, false));
  CHECK(e.n_ctx == 1ull << 24);
}

TEST_CASE("estimate: correction scales components and is clamped") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  auto in = settings(1024, 2, false);
  const auto base = run(m, in);
  in.correction = {1.0, 2.0, 10.0};
  const auto e = run(m, in);
  CHECK(kv_total(e) == 2 * kv_total(base));
  CHECK(e.compute_output == 4 * base.compute_output); // 10 clamped to 4
  CHECK(e.layers[0].weights == base.layers[0].weights);
  in.correction = {std::nan(""), 0.1, 1.0};
  const auto f = run(m, in);
  CHECK(f.layers[0].weights == base.layers[0].weights);
  CHECK(kv_total(f) == kv_total(base) / 2);
}

TEST_CASE("correction_from: the CPU fixture's own figures give ratios of about 1") {
  const auto m = read_model_fixture("tiny-llama-2L-f16.gguf");
  const auto e = run(m, settings(1024, 2, false));
  router::Calibration cal;
  // startup-tiny-llama-2L-f16.log: CPU_Mapped 4.05 MiB, CPU KV 0.25, CPU compute 1.51.
  cal.devices.push_back({"CPU_Mapped", static_cast<std::uint64_t>(4.05 * k_mib), 0, 0, 0, 0});
  cal.devices.push_back({"CPU", 0, static_cast<std::uint64_t>(0.25 * k_mib), 0,
                         static_cast<std::uint64_t>(1.51 * k_mib),
                         static_cast<std::uint64_t>(0.24 * k_mib)});
  const auto c = router::correction_from(e, cal);
  CHECK(c.weights == doctest::Approx(1.0).epsilon(0.002));
  CHECK(c.kv == doctest::Approx(1.0));
  CHECK(c.compute == doctest::Approx(1.0).epsilon(0.002));
}

TEST_CASE("correction_from: GPU figures: ratios per component, clamped, 1 when missing") {
  Meta mt;
  mt.n_layer = 32, mt.n_embd = 4096, mt.n_head = 32, mt.n_head_kv = 8, mt.n_ff = 14336;
  mt.n_vocab = 128256, mt.n_ctx = 131072;
  const auto e = run(from_writer(meta(mt)), settings(8192, 1, false));
  router::Calibration cal;
  cal.devices.push_back({"CUDA0", 0, 2048ull << 20, 0, e.compute_output - e.compute_layer, 0});
  cal.devices.push_back({"CUDA1", 0, 0, 0, 100 * e.compute_layer, 0});
  cal.devices.push_back({"CUDA_Host", 0, 0, 0, e.compute_host, 0});
  const auto c = router::correction_from(e, cal);
  CHECK(c.weights == 1.0); // no model buffers reported
  CHECK(c.kv == doctest::Approx(2.0));
  CHECK(c.compute == 4.0);
  CHECK(router::correction_from(e, router::Calibration{}).kv == 1.0);
}

TEST_CASE("estimate: draft and projector are charged with the output layer") {
  const auto m = read_model_fixture("tiny-llama-4L-q8_0.gguf");
  const auto draft = read_model_fixture("tiny-llama-2L-f16.gguf");
  auto in = settings(4096, 1, false);
  const auto plain = run(m, in);
  in.draft = &draft;
  in.draft_ctx = 1024;
  in.projector_bytes = 10 << 20;
  const auto e = run(m, in);
  auto din = settings(1024, 1, false);
  const auto d = run(draft, din);
  CHECK(e.draft == d.layer_bytes() + d.output_weights + d.compute_output);
  CHECK(e.projector == (10ull << 20) + (384ull << 20));
  CHECK(e.single_gpu_bytes() == plain.single_gpu_bytes() + e.draft + e.projector);
  in.draft_ctx = 0; // the draft follows the main context
  CHECK(run(m, in).draft > e.draft);
}

TEST_CASE("Estimate: single_gpu_bytes and host_bytes add their parts") {
  const auto e = run(read_model_fixture("tiny-llama-2L-f16.gguf"), settings(1024, 2, false));
  CHECK(e.layer_bytes() == e.layers[0].device_bytes() + e.layers[1].device_bytes());
  CHECK(e.single_gpu_bytes() ==
        e.layer_bytes() + e.output_weights + e.compute_output + e.gpu_overhead);
  CHECK(e.host_bytes() == e.input_weights + e.compute_host + e.output_buffer);
  CHECK(e.gpu_overhead == 457ull << 20);
}
