#pragma once
// How much memory a model takes, per layer and per component, before anything is loaded:
// weights from the real tensor sizes in the GGUF file, KV cache (GQA, sliding-window layers,
// per-layer head counts), recurrent state of hybrid layers, compute buffers, the per-GPU
// fixed overhead, a draft model and a multimodal projector. placement.h splits the layers
// over GPUs with these figures. docs/vram.md gives every formula and its llama.cpp source.

#include <cstdint>
#include <string>
#include <vector>

#include "config/types.h"
#include "core/error.h"
#include "core/gguf.h"
#include "router/calibration.h"
#include "router/probe.h" // Result

namespace ask::router {

// Measured ÷ estimated per component, learnt from a calibration (1 = no correction).
struct Correction {
  double weights = 1.0;
  double kv = 1.0;
  double compute = 1.0;
};

// `-ot PATTERN=BUFFER_TYPE`: tensors whose name matches the regular expression go to that
// buffer type ("CPU" keeps them in host memory).
struct TensorOverride {
  std::string pattern;     // ECMAScript regex, matched with regex_search as llama.cpp does
  std::string buffer_type; // "CPU", or a device's buffer type such as "CUDA0"
  friend bool operator==(const TensorOverride&, const TensorOverride&) = default;
};

// The llama-server settings that change memory use. A field added here must also be added
// to router::memory_settings() (router/calibration_key.cpp): a stored calibration applies
// only while every setting is unchanged.
struct EstimateInput {
  std::uint64_t ctx = 0; // -c: total context over all slots; 0 = the model's trained context
  int parallel = 1;      // -np: slots
  std::string cache_type_k = "f16"; // -ctk: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1
  std::string cache_type_v = "f16"; // -ctv
  bool flash_attn = true;           // -fa (auto resolves to on where the GPU supports it)
  bool kv_unified = false;          // --kv-unified: one KV buffer shared by all slots
  bool swa_full = false;            // --swa-full: sliding-window layers keep a full-size cache
  bool kv_offload = true;           // -nkvo (false): the KV cache stays in host memory
  bool mmap = true;                 // --no-mmap (false): weights are read into host buffers
  int n_gpu_layers = -1; // -ngl; -1 = all (the output layer counts as one more, as in llama.cpp)
  int n_cpu_moe = 0;     // --n-cpu-moe: expert tensors of the first N layers stay in host memory
  std::uint32_t n_batch = 2048;
  std::uint32_t n_ubatch = 512;
  // Logit rows the worst-case graph reserves: 0 = min(n_ubatch, parallel), as llama-server
  // reserves since llama.cpp PR #23861 (2026-05); builds before it reserve n_ubatch rows.
  std::uint32_t n_outputs_max = 0;
  const core::gguf::SplitModel* draft = nullptr; // speculative-decoding draft model, if any
  int draft_ctx = 0;                             // draft context; 0 = same as the model's
  // --spec-type draft-mtp: the model drafts with its own MTP (NextN) layers, which must be
  // in the file (router/draft.h check_mtp). Not with `draft`: llama-server has one draft
  // context.
  bool mtp = false;
  std::uint64_t projector_bytes = 0; // mmproj tensor bytes (vision/audio projector), 0 = none
  // -ot PATTERN=BUFFER_TYPE, in the order given (llama.cpp takes the first match). Only host
  // targets ("CPU") are placed by askd; a device target is refused where the settings are read.
  std::vector<TensorOverride> overrides;
  // The llama.cpp build number of the binary that will run (`llama-server --version`:
  // "version: 10587 (3f545becc)"); 0 = unknown. Builds outside the recorded grid get a margin.
  int build = 0;
  // The preset's backend: CUDA, ROCm, Vulkan and SYCL copy host weights into their compute
  // buffer for large batches (partial offload, experts on the CPU); the others do not.
  config::GpuApi api = config::GpuApi::cuda;
  Correction correction;             // from an earlier load of this model
  // --embeddings / --reranking (config capabilities "embedding" / "rerank"): server_args
  // passes them; the estimate does not model embeddings mode (router/server_args.h).
  bool embeddings = false;
  bool reranking = false;
};

// The llama.cpp build the memory model was recorded against (tests/fixtures/llama-server/
// grid/): b10587, commit 3f545bec. Builds from 9460 (PR #23861, 2026-06-01) reserve one logit
// row per slot; older ones a row per ubatch token.
inline constexpr int k_recorded_build = 10587;
inline constexpr int k_outputs_limit_build = 9460;

// One repeating layer (blk.N.*).
struct LayerEstimate {
  std::uint64_t weights = 0;      // tensors that go to the layer's device
  std::uint64_t host_weights = 0; // expert tensors kept in host memory by --n-cpu-moe
  std::uint64_t kv = 0;           // K + V cache of this layer, all slots
  std::uint64_t recurrent = 0;    // recurrent (SSM / RWKV / conv) state, all slots
  std::uint64_t device_bytes() const { return weights + kv + recurrent; }
};

struct Estimate {
  std::string arch;
  std::uint64_t n_ctx = 0;     // total context after defaults
  std::uint64_t n_ctx_seq = 0; // per slot
  std::uint64_t n_ctx_swa = 0; // cells per stream of the sliding-window cache
  std::vector<LayerEstimate> layers;
  std::uint64_t input_weights =
      0; // token embeddings: llama.cpp keeps the input layer in host memory
  std::uint64_t output_weights = 0; // output head and final norm: on the device of the output layer
  // Compute buffers: every GPU that holds layers allocates one; the GPU holding the output
  // layer also holds the logits and is charged `compute_output` instead of `compute_layer`.
  std::uint64_t compute_output = 0;
  std::uint64_t compute_layer = 0;
  std::uint64_t compute_host = 0;  // host-side compute buffer of a load on GPUs
  std::uint64_t compute_cpu = 0;   // the one compute buffer when everything is in host memory
  // A load with its first layers in host memory: the first GPU takes the host layers' big
  // ops (CUDA, ROCm, Vulkan and SYCL copy their weights into its compute buffer), and the
  // host computes the rest of them. compute_partial is a one-GPU load's GPU buffer (output
  // included), compute_host_partial its host buffer.
  std::uint64_t compute_partial = 0;
  std::uint64_t compute_host_partial = 0;
  std::uint64_t output_buffer = 0; // host: n_vocab f32 logits per slot (output_reserve(n_seq_max))
  std::uint64_t gpu_overhead = 0;  // per GPU used: driver context, cuBLAS/hipBLAS workspace
  std::uint64_t draft = 0;         // draft model: weights + KV + compute, with the output layer
  // Multi-token prediction (EstimateInput::mtp). The file's MTP layers are its last
  // n_layer_nextn layers; llama.cpp loads them only for MTP. Their weights and the MTP
  // context's KV cache are in `layers` (llama.cpp keeps both on those layers' device), and
  // mtp_weights / mtp_kv say how much of that is MTP's. mtp_compute, the MTP context's own
  // compute buffer, goes with the output layer; its host buffers are in compute_host and
  // output_buffer.
  std::uint64_t n_layer_nextn = 0;
  std::uint64_t mtp_weights = 0;
  std::uint64_t mtp_kv = 0;
  std::uint64_t mtp_compute = 0;
  std::uint64_t mtp_compute_host = 0; // the MTP context's host buffer, part of compute_host
  std::uint64_t projector = 0;     // mmproj: with the output layer
  // No output.weight: output_weights includes this copy of token_embd (0 when not tied).
  std::uint64_t tied_output = 0;
  std::vector<std::string> notes; // assumptions made ("flash attention assumed on", …)
  // Where the estimate is less certain (an architecture without a graph model, a llama.cpp
  // build other than the recorded one): the compute buffers above already include this
  // fraction on top, and margin_reason says why.
  double margin = 0.0;
  std::string margin_reason;

  std::uint64_t layer_bytes() const; // sum of layers[i].device_bytes()
  // Everything on one GPU holding every layer and the output: layers + output weights +
  // compute_output + overhead + draft + MTP compute + projector.
  std::uint64_t single_gpu_bytes() const;
  // Host memory when every layer is on GPUs: input weights, host expert weights, host
  // compute and output buffers.
  std::uint64_t host_bytes() const;
  // Host memory when nothing is offloaded (a CPU preset, -ngl 0): every weight (a tied output
  // head shares the mapped token_embd), KV cache, compute_cpu, logits, draft, MTP compute
  // and projector.
  std::uint64_t host_only_bytes() const;
};

// Fails (bad_request) when the model's architecture parameters cannot be read, a setting
// is out of range (unknown cache type, parallel < 1, ctx beyond 2^24 tokens), or `mtp` is
// asked of a file without MTP layers (the message names the file) or with a draft.
Result<Estimate> estimate(const core::gguf::SplitModel& model, const EstimateInput& in);

// The estimator's input from a model's managed settings in the config (ctx, parallel, KV
// types, flash attention, -ngl, --n-cpu-moe, mtp). The draft and projector files are read
// by the caller (router/draft.h resolve_draft says which draft).
EstimateInput estimate_input(const config::ManagedSpec& spec);

// The component ratios measured ÷ estimated, from a load whose estimate was `predicted`
// and whose startup log gave `measured` (sums over all devices, host included). A
// component the log did not report keeps 1.0; ratios are clamped to [0.5, 4].
Correction correction_from(const Estimate& predicted, const Calibration& measured);

} // namespace ask::router
