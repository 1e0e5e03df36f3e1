// The estimate of a model with MTP (NextN) layers, with and without --spec-type draft-mtp
// (docs/vram.md "Multi-token prediction").

#include <doctest/doctest.h>

#include <string>

#include "router/estimate.h"
#include "tests/support/gguf_writer.h"

namespace ask::router {
namespace {

namespace tg = ask::testing::gguf;

// tiny-llama shapes: 64 wide, 4 heads of 16, 2 KV heads, n_ff 128, 32 tokens; `layers`
// layers of which the last `nextn` are MTP layers with their NextN tensors.
core::gguf::SplitModel mtp_model(std::uint32_t layers, std::uint32_t nextn) {
  tg::TinyModel m;
  m.n_layer = layers;
  tg::Writer w;
  tg::tiny_metadata(w, m);
  if (nextn > 0) {
    w.u32("llama.nextn_predict_layers", nextn);
  }
  for (const tg::TensorSpec& t : tg::tiny_tensors(m)) {
    w.tensor(t.name, t.dims, t.ggml_type);
  }
  for (std::uint32_t il = layers - nextn; il < layers; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".nextn.";
    w.tensor(b + "eh_proj.weight", {128, 64}, tg::ggml::f16);
    w.tensor(b + "enorm.weight", {64}, tg::ggml::f32);
    w.tensor(b + "hnorm.weight", {64}, tg::ggml::f32);
  }
  auto f = core::gguf::parse(w.bytes());
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  core::gguf::SplitModel sm;
  sm.paths.emplace_back("/models/glm-mtp.gguf");
  sm.parts.push_back(std::move(*f));
  return sm;
}

EstimateInput mtp_settings(bool mtp) {
  EstimateInput in;
  in.ctx = 1024;
  in.parallel = 2;
  in.mtp = mtp;
  return in;
}

Estimate run_mtp(const core::gguf::SplitModel& m, const EstimateInput& in) {
  auto e = estimate(m, in);
  REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.error().message));
  return *e;
}

std::uint64_t mtp_kv_total(const Estimate& e) {
  std::uint64_t s = 0;
  for (const auto& l : e.layers) {
    s += l.kv;
  }
  return s;
}

std::uint64_t weights_of(const Estimate& e) {
  std::uint64_t s = 0;
  for (const auto& l : e.layers) {
    s += l.weights;
  }
  return s;
}

bool has_note(const Estimate& e, std::string_view needle) {
  for (const std::string& n : e.notes) {
    if (n.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST_CASE("estimate: MTP layers are not loaded and hold no KV cache when mtp is off") {
  const Estimate off = run_mtp(mtp_model(3, 1), mtp_settings(false));
  const Estimate trunk =
      run_mtp(mtp_model(2, 0), mtp_settings(false)); // the same model without its head
  REQUIRE(off.layers.size() == 3); // llama.cpp splits all block_count layers over devices
  CHECK(off.n_layer_nextn == 1);
  CHECK(off.layers[2].weights == 0);
  CHECK(off.layers[2].kv == 0);
  CHECK(weights_of(off) == weights_of(trunk));
  CHECK(mtp_kv_total(off) == mtp_kv_total(trunk));
  CHECK(off.compute_output == trunk.compute_output);
  CHECK(off.compute_host == trunk.compute_host);
  CHECK(off.output_buffer == trunk.output_buffer);
  CHECK(off.mtp_weights == 0);
  CHECK(off.mtp_kv == 0);
  CHECK(off.mtp_compute == 0);
  CHECK(has_note(off, "1 MTP layer (nextn_predict_layers) not loaded: mtp is off"));
}

TEST_CASE("estimate: mtp loads the MTP layers, gives them a KV cache and a compute buffer") {
  const Estimate off = run_mtp(mtp_model(3, 1), mtp_settings(false));
  const Estimate on = run_mtp(mtp_model(3, 1), mtp_settings(true));
  // Layer 2: the usual layer tensors (as blk.0) plus eh_proj (128 x 64 f16) and two norms.
  CHECK(on.layers[2].weights == on.layers[0].weights + 128 * 64 * 2 + 2 * 64 * 4);
  CHECK(on.mtp_weights == on.layers[2].weights);
  // The MTP context: as many cells and streams as the model's (512 per slot x 2 slots), f16:
  // 2 KV heads of 16 for K and for V = 128 bytes a cell.
  CHECK(on.layers[2].kv == 512u * 2 * 128);
  CHECK(on.layers[2].kv == on.layers[0].kv);
  CHECK(on.mtp_kv == on.layers[2].kv);
  CHECK(on.layers[2].recurrent == 0);
  // Its compute buffer, n_tokens = 512: f16 mask 512 x 512 x 2, then the wider of the
  // feed-forward activations (512 x 4 x (2 x 128 + 4 x 64)) plus the [embedding; hidden]
  // input (512 x 4 x 128) and 2 logit rows of 32, then 5 input words a token.
  CHECK(on.mtp_compute == 512u * 512 * 2 + (512u * 4 * 512 + 512u * 4 * 128) + 512u * 4 * 5);
  CHECK(on.compute_output == off.compute_output); // the model's own graph is unchanged
  CHECK(on.single_gpu_bytes() ==
        off.single_gpu_bytes() + on.mtp_weights + on.mtp_kv + on.mtp_compute);
  // Host: a second output buffer and the MTP context's host-side inputs and f32 mask.
  CHECK(on.output_buffer == 2 * off.output_buffer);
  CHECK(on.compute_host == off.compute_host + 512u * 4 * 128 + 512u * 512 * 4 + 512u * 4 * 5);
  CHECK(has_note(on, "1 MTP layer (nextn_predict_layers) loaded"));
}

TEST_CASE("estimate: the MTP context takes the cache types - without flash attention KQ too") {
  EstimateInput in = mtp_settings(true);
  in.cache_type_k = in.cache_type_v = "f32";
  in.ctx = 4096;
  const Estimate f32 = run_mtp(mtp_model(3, 1), in);
  // 2048 cells a slot, 2 slots, K and V of 32 f32 elements.
  CHECK(f32.layers[2].kv == 2048u * 2 * 256);
  CHECK(f32.mtp_kv == f32.layers[2].kv);
  EstimateInput no_fa = mtp_settings(true);
  no_fa.flash_attn = false;
  // An f32 mask; the attention activations (512 x 4 x 4 x 64) and 4 heads of KQ scores over
  // 512 x 512 cells now outgrow the feed-forward's; plus the [embedding; hidden] input.
  CHECK(run_mtp(mtp_model(3, 1), no_fa).mtp_compute ==
        512u * 512 * 4 + (512u * 4 * 4 * 64 + 512u * 512 * 4 * 4 + 512u * 4 * 128) + 512u * 4 * 5);
}

TEST_CASE("estimate: mtp on a file without MTP layers, or with a draft, is refused") {
  auto none = estimate(mtp_model(2, 0), mtp_settings(true));
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().kind == core::ErrorKind::bad_request);
  CHECK(none.error().message.find("mtp: /models/glm-mtp.gguf has no MTP layers "
                                  "(llama.nextn_predict_layers is missing)") == 0);
  const auto draft = mtp_model(2, 0);
  EstimateInput both = mtp_settings(true);
  both.draft = &draft;
  auto refused = estimate(mtp_model(3, 1), both);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message.find("mtp: not with a draft model") == 0);
}

TEST_CASE("estimate: a draft with MTP layers of its own is estimated without them") {
  const auto target = mtp_model(2, 0);
  const auto draft = mtp_model(3, 1);
  EstimateInput in = mtp_settings(false);
  in.draft = &draft;
  const Estimate with_draft = run_mtp(target, in);
  EstimateInput trunk_in = mtp_settings(false);
  const auto trunk = mtp_model(2, 0);
  trunk_in.draft = &trunk;
  CHECK(with_draft.draft == run_mtp(target, trunk_in).draft);
}

TEST_CASE("estimate: mtp from the config - its compute is corrected with the compute buffers") {
  config::ManagedSpec spec;
  spec.mtp = true;
  CHECK(estimate_input(spec).mtp);
  CHECK_FALSE(estimate_input(config::ManagedSpec{}).mtp);
  EstimateInput in = mtp_settings(true);
  const Estimate base = run_mtp(mtp_model(3, 1), in);
  in.correction.compute = 2.0;
  CHECK(run_mtp(mtp_model(3, 1), in).mtp_compute == 2 * base.mtp_compute);
  // A startup log's compute lines include the MTP context's buffer.
  Calibration measured;
  DeviceBuffers cpu;
  cpu.device = "CPU";
  cpu.compute = base.compute_cpu + base.mtp_compute;
  measured.devices.push_back(cpu);
  CHECK(correction_from(base, measured).compute == doctest::Approx(1.0));
}

} // namespace
} // namespace ask::router
