// VRAM estimator: follows llama.cpp's allocation code (see docs/vram.md for each formula and
// the function it comes from). Every product of untrusted model dimensions is overflow-checked.

#include "router/estimate.h"

#include "router/compute.h"
#include "router/draft.h"
#include "router/estimate_detail.h"
#include "router/graph_llm.h"
#include "router/tensor_names.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ask::router {
namespace {

using core::gguf::ArchParams;
using core::gguf::SplitModel;
using core::gguf::TypeTraits;
using u64 = std::uint64_t;

constexpr u64 k_mib = 1ull << 20;
constexpr u64 k_max_ctx = 1ull << 24;            // our bound on -c (llama.cpp takes a uint32)
constexpr int k_max_parallel = 256;              // LLAMA_MAX_SEQ (src/llama-cparams.h)
constexpr u64 k_ctx_pad = 256;                   // llama_context: n_ctx = GGML_PAD(n_ctx, 256)
constexpr u64 k_swa_pad = 256;                   // n_pad of llama_kv_cache_iswa (upper bound)
constexpr u64 k_f32 = 4;                         // recurrent state, activations, logits
constexpr u64 k_input_words = 5;                 // per-token graph inputs: ids, pos, out_ids, ...
constexpr u64 k_gpu_overhead = 457 * k_mib;      // ollama discover/gpu.go cudaMinimumMemory
constexpr u64 k_projector_compute = 384 * k_mib; // clip warmup compute buffer (see vram.md)
constexpr double k_min_ratio = 0.5, k_max_ratio = 4.0;
constexpr double k_unmodelled_margin = 0.5; // compute buffers of an architecture not modelled
constexpr double k_other_build_margin = 0.1; // compute buffers under another llama.cpp build

// Overflow-checked arithmetic: a result past 2^64 sets `overflow` and saturates.
struct Checked {
  bool overflow = false;
  u64 mul(u64 a, u64 b) {
    u64 r = 0;
    if (__builtin_mul_overflow(a, b, &r)) {
      overflow = true;
      return std::numeric_limits<u64>::max();
    }
    return r;
  }
  u64 mul(u64 a, u64 b, u64 c) { return mul(mul(a, b), c); }
  u64 add(u64 a, u64 b) {
    u64 r = 0;
    if (__builtin_add_overflow(a, b, &r)) {
      overflow = true;
      return std::numeric_limits<u64>::max();
    }
    return r;
  }
};

u64 pad(u64 n, u64 to) {
  return (n + to - 1) / to * to;
}

// llama-server's accepted -ctk/-ctv values (common/arg.cpp kv_cache_types) and their ggml ids.
std::optional<TypeTraits> cache_type(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::uint32_t>, 9> k_types = {{
      {"f32", 0},
      {"f16", 1},
      {"bf16", 30},
      {"q8_0", 8},
      {"q4_0", 2},
      {"q4_1", 3},
      {"iq4_nl", 20},
      {"q5_0", 6},
      {"q5_1", 7},
  }};
  for (const auto& [n, id] : k_types) {
    if (n == name) {
      return core::gguf::type_traits(id);
    }
  }
  return std::nullopt;
}

std::uint32_t cache_type_id(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::uint32_t>, 9> k_ids = {{
      {"f32", 0}, {"f16", 1}, {"bf16", 30}, {"q8_0", 8}, {"q4_0", 2},
      {"q4_1", 3}, {"iq4_nl", 20}, {"q5_0", 6}, {"q5_1", 7},
  }};
  for (const auto& [n, id] : k_ids) {
    if (n == name) {
      return id;
    }
  }
  return 1;
}

// ggml_row_size: bytes of `n` elements of a type (n must be a multiple of the block size).
u64 row_size(const TypeTraits& t, u64 n, Checked& c) {
  return c.mul(n / t.block_size, t.type_size);
}

// The context sizes llama_context's constructor settles on (src/llama-context.cpp).
struct Context {
  u64 n_ctx = 0;
  u64 n_ctx_seq = 0; // cells per stream of the base KV cache
  u64 n_stream = 1;  // 1 when unified, else parallel
  u64 n_tokens = 0;  // worst-case ubatch: min(n_ctx, n_ubatch)
  u64 n_outputs = 0; // logit rows in the worst-case graph
  u64 size_swa = 0;  // cells per stream of the SWA cache
};

Result<Context> resolve_context(const ArchParams& p, const EstimateInput& in,
                                std::vector<std::string>& notes) {
  Context c;
  c.n_ctx = in.ctx != 0 ? in.ctx : p.n_ctx_train;
  if (c.n_ctx == 0) {
    return fail(Error::bad_request("ctx: the model has no context_length; set ctx"));
  }
  if (in.ctx == 0) {
    notes.push_back("ctx defaulted to the trained context (" + std::to_string(c.n_ctx) + ")");
    if (c.n_ctx > k_max_ctx) {
      c.n_ctx = k_max_ctx;
      notes.push_back("trained context capped at 16777216 tokens");
    }
  }
  const u64 parallel = static_cast<u64>(in.parallel);
  c.n_ctx = pad(c.n_ctx, k_ctx_pad);
  if (in.kv_unified) {
    c.n_ctx_seq = c.n_ctx;
  } else {
    c.n_ctx_seq = pad(c.n_ctx / parallel, k_ctx_pad);
    c.n_ctx = c.n_ctx_seq * parallel;
    c.n_stream = parallel;
  }
  if (in.ctx != 0 && c.n_ctx != in.ctx) {
    notes.push_back("ctx " + std::to_string(in.ctx) + " rounded up to " + std::to_string(c.n_ctx) +
                    " (llama.cpp pads each slot's context to a multiple of " +
                    std::to_string(k_ctx_pad) + ")");
  }
  const u64 n_batch = std::min<u64>(c.n_ctx, in.n_batch);
  c.n_tokens = std::min<u64>(n_batch, in.n_ubatch);
  const u64 outputs_max = in.n_outputs_max != 0 ? in.n_outputs_max : parallel;
  c.n_outputs = std::min(c.n_tokens, outputs_max);
  // llama_kv_cache_iswa: size_swa = min(size_base, PAD(n_swa*(unified ? n_seq_max : 1) +
  // n_ubatch, n_pad)).
  Checked ck;
  const u64 window = ck.add(ck.mul(p.sliding_window, in.kv_unified ? parallel : 1), c.n_tokens);
  c.size_swa = std::min(c.n_ctx_seq, ck.overflow ? c.n_ctx_seq : pad(window, k_swa_pad));
  if (in.swa_full) {
    c.size_swa = c.n_ctx_seq;
  }
  return c;
}

Result<void> validate(const EstimateInput& in) {
  if (in.parallel < 1 || in.parallel > k_max_parallel) {
    return fail(Error::bad_request("parallel: " + std::to_string(in.parallel) +
                                   " is out of range (1 to 256)"));
  }
  if (in.ctx > k_max_ctx) {
    return fail(Error::bad_request("ctx: " + std::to_string(in.ctx) +
                                   " tokens is beyond the limit of 16777216"));
  }
  if (in.n_batch == 0 || in.n_ubatch == 0) {
    return fail(Error::bad_request("n_batch and n_ubatch must be at least 1"));
  }
  if (in.n_cpu_moe < 0 || in.draft_ctx < 0) {
    return fail(Error::bad_request(in.n_cpu_moe < 0 ? "n_cpu_moe must not be negative"
                                                    : "draft_ctx must not be negative"));
  }
  return {};
}

// A cache type for `setting` whose block divides every head size it will store
// (llama_init_from_model refuses "K cache type q8_0 with block size 32 does not divide
// n_embd_head_k=16").
Result<TypeTraits> checked_cache_type(std::string_view setting, const std::string& name,
                                      std::initializer_list<u64> head_sizes) {
  auto t = cache_type(name);
  if (!t) {
    return fail(Error::bad_request(std::string(setting) + ": unknown cache type '" + name +
                                   "' (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)"));
  }
  for (u64 h : head_sizes) {
    if (h % t->block_size != 0) {
      return fail(Error::bad_request(std::string(setting) + ": " + name + " has block size " +
                                     std::to_string(t->block_size) +
                                     ", which does not divide the head size " + std::to_string(h)));
    }
  }
  return *t;
}

// Weights from the real tensor sizes (llama_model::load_tensors' layer assignment). The MTP
// layers (il >= n_trunk) are loaded only for MTP: the loaders create their tensors with
// TENSOR_SKIP unless ml.load_mtp (llama.cpp PR #26296).
void assign_weights(const SplitModel& model, const EstimateInput& in, u64 n_trunk, Estimate& e,
                    Checked& c) {
  const u64 n_cpu_moe = static_cast<u64>(in.n_cpu_moe);
  bool has_output = false;
  u64 token_embd = 0;
  for (const auto& part : model.parts) {
    for (const auto& t : part.tensors) {
      if (auto blk = block_of(t.name); blk && blk->first < e.layers.size()) {
        if (blk->first >= n_trunk && !in.mtp) {
          continue;
        }
        if (blk->first >= n_trunk) {
          e.mtp_weights = c.add(e.mtp_weights, t.n_bytes);
        }
        LayerEstimate& l = e.layers[blk->first];
        if ((blk->first < n_cpu_moe && is_expert(blk->second)) || overridden_to_host(t.name, in.overrides)) {
          l.host_weights = c.add(l.host_weights, t.n_bytes);
        } else {
          l.weights = c.add(l.weights, t.n_bytes);
        }
      } else if (is_input(t.name)) {
        e.input_weights = c.add(e.input_weights, t.n_bytes);
        token_embd = t.name == "token_embd.weight" ? t.n_bytes : token_embd;
      } else {
        has_output = has_output || t.name == "output.weight";
        e.output_weights = c.add(e.output_weights, t.n_bytes);
      }
    }
  }
  if (!has_output && token_embd != 0) {
    // create_tensor(tn(LLM_TENSOR_TOKEN_EMBD), ..., TENSOR_DUPLICATED): a copy on the
    // output layer's device.
    e.tied_output = token_embd;
    e.output_weights = c.add(e.output_weights, token_embd);
    e.notes.push_back("tied embeddings: token_embd is duplicated as the output layer");
  }
}

// llama_hparams::n_embd_r / n_embd_s (src/llama-hparams.cpp), elements per sequence.
u64 n_embd_r(const ArchParams& p, Checked& c) {
  if (p.wkv_head_size != 0) {
    return c.mul(p.token_shift_count, p.n_embd);
  }
  if (p.shortconv_l_cache != 0) {
    return c.mul(p.n_embd, p.shortconv_l_cache - 1);
  }
  const u64 width = c.add(p.ssm_d_inner, c.mul(2, p.ssm_n_group, p.ssm_d_state));
  return c.mul(p.ssm_d_conv > 0 ? p.ssm_d_conv - 1 : 0, width);
}

u64 n_embd_s(const ArchParams& p, Checked& c) {
  return p.wkv_head_size != 0 ? c.mul(p.n_embd, p.wkv_head_size)
                              : c.mul(p.ssm_d_state, p.ssm_d_inner);
}

struct CacheTypes {
  TypeTraits k, v;
};

// KV cache (llama_kv_cache: one [n_embd_k_gqa(il), kv_size, n_stream] tensor per layer for K
// and V) and recurrent state (llama_memory_recurrent: r_l and s_l of n_seq_max cells, f32).
// The target context's caches cover the trunk, layers below n_layer() = n_trunk. With MTP
// the MTP context (ctx_type LLAMA_CONTEXT_TYPE_MTP, same n_ctx and slots, the -ctkd/-ctvd
// types) holds a plain attention cache for the MTP layers only (create_memory's
// `il >= n_layer()` filter), full size: the MTP heads attend over the whole context.
void assign_memory(const ArchParams& p, const Context& ctx, const CacheTypes& types,
                   const EstimateInput& in, bool mla, Estimate& e, Checked& c) {
  const u64 state = c.mul(c.add(n_embd_r(p, c), n_embd_s(p, c)), k_f32, in.parallel);
  const u64 n_trunk = p.n_layer - p.n_layer_nextn;
  for (u64 il = n_trunk; il < p.n_layer && in.mtp; ++il) {
    const u64 row = c.add(row_size(types.k, c.mul(p.n_embd_head_k, p.n_head_kv[il]), c),
                          row_size(types.v, c.mul(p.n_embd_head_v, p.n_head_kv[il]), c));
    e.layers[il].kv = c.mul(row, ctx.n_ctx_seq, ctx.n_stream);
    e.mtp_kv = c.add(e.mtp_kv, e.layers[il].kv);
  }
  for (u64 il = 0; il < n_trunk; ++il) {
    LayerEstimate& l = e.layers[il];
    if (p.is_recurrent_layer[il]) {
      l.recurrent = state;
    }
    if (!p.has_kv_layer[il]) {
      continue;
    }
    const bool swa = p.sliding_window != 0 && p.is_swa_layer[il];
    const u64 hk = swa ? p.n_embd_head_k_swa : p.n_embd_head_k;
    const u64 hv = swa ? p.n_embd_head_v_swa : p.n_embd_head_v;
    // MLA (key_length_mla): the cache holds K only, the compressed KV and the rope part;
    // V is read from it (llama_kv_cache makes no V tensors).
    const u64 row = c.add(row_size(types.k, c.mul(hk, p.n_head_kv[il]), c),
                          mla ? 0 : row_size(types.v, c.mul(hv, p.n_head_kv[il]), c));
    l.kv = c.mul(row, swa ? ctx.size_swa : ctx.n_ctx_seq, ctx.n_stream);
  }
}

// Widest feed-forward activation: dense n_ff, or n_expert_used rows of the expert width
// (ggml_mul_mat_id output [n_ff_exp, n_expert_used, n_tokens]).
u64 ffn_width(const SplitModel& model, const ArchParams& p, Checked& c) {
  u64 width = 0;
  for (u64 f : p.n_ff) {
    width = std::max(width, f);
  }
  if (p.n_expert == 0) {
    return width;
  }
  u64 n_ff_exp = model.first().get_uint(p.arch + ".expert_feed_forward_length").value_or(0);
  for (const auto& part : model.parts) {
    for (const auto& t : part.tensors) {
      auto blk = block_of(t.name);
      if (n_ff_exp == 0 && blk && blk->second.starts_with("ffn_up_exps") && t.dims.size() >= 2) {
        n_ff_exp = t.dims[1];
      }
    }
  }
  return std::max(width, c.mul(n_ff_exp, std::max<u64>(p.n_expert_used, 1)));
}

// The MTP context's compute buffer: its own scheduler reserves the graph of graph_mtp — one
// full-attention block fed [enorm(token embedding); hnorm(target hidden state)] (2 n_embd
// wide) through eh_proj, then the output head — for the same n_tokens and min(n_tokens, np)
// logit rows (common_base_params_to_speculative sets n_outputs_max = n_parallel). The host
// builds the token embeddings, the hidden-state rows and the f32 mask.
void assign_mtp_compute(const ArchParams& p, const Context& ctx, const EstimateInput& in,
                        u64 act_ffn, u64 n_head, Estimate& e, Checked& c) {
  const u64 t = ctx.n_tokens;
  const u64 cells = c.mul(ctx.n_ctx_seq, t);
  const u64 kq = in.flash_attn ? 0 : c.mul(cells, n_head, k_f32);
  const u64 concat = c.mul(t, k_f32, c.mul(2, p.n_embd));
  const u64 act = c.add(std::max(act_ffn, c.add(c.mul(t, k_f32, c.mul(4, p.n_embd)), kq)), concat);
  const u64 logits = c.mul(p.n_vocab, std::min<u64>(t, static_cast<u64>(in.parallel)), k_f32);
  const u64 slack = c.mul(t, k_f32, k_input_words);
  e.mtp_compute = c.add(c.add(c.mul(cells, in.flash_attn ? 2 : 4), std::max(act, logits)), slack);
  e.mtp_compute_host = c.add(c.add(concat, c.mul(cells, k_f32)), slack);
  e.compute_host = c.add(e.compute_host, e.mtp_compute_host);
}

// The compute buffers of the worst-case graph (llama_context::sched_reserve): an
// approximation of ggml-alloc's peak, validated against startup logs (docs/vram.md).
void assign_compute(const SplitModel& model, const ArchParams& p, const Context& ctx,
                    const EstimateInput& in, Estimate& e, Checked& c) {
  const u64 t = ctx.n_tokens;
  bool base = false, swa = false, recurrent = false;
  for (u64 il = 0; il + p.n_layer_nextn < p.n_layer; ++il) {
    const bool w = p.sliding_window != 0 && p.is_swa_layer[il];
    base = base || (p.has_kv_layer[il] && !w);
    swa = swa || (p.has_kv_layer[il] && w);
    recurrent = recurrent || p.is_recurrent_layer[il];
  }
  // KQ mask [n_kv, n_tokens/n_stream, 1, n_stream]: f16 with flash attention, else f32; one
  // per cache (base, SWA). The host builds it in f32.
  const u64 mask_elems =
      c.add(base ? c.mul(ctx.n_ctx_seq, t) : 0, swa ? c.mul(ctx.size_swa, t) : 0);
  const u64 masks = c.mul(mask_elems, in.flash_attn ? 2 : 4);
  u64 n_head = 0;
  for (u64 h : p.n_head) {
    n_head = std::max(n_head, h);
  }
  const u64 kq_cells = base ? ctx.n_ctx_seq : (swa ? ctx.size_swa : 0);
  const u64 kq = in.flash_attn ? 0 : c.mul(c.mul(kq_cells, t), n_head, k_f32);
  const u64 act_ffn = c.mul(t, k_f32, c.add(c.mul(2, ffn_width(model, p, c)), c.mul(4, p.n_embd)));
  const u64 act_attn = c.add(c.mul(t, k_f32, c.mul(4, p.n_embd)), kq);
  u64 act_rec = 0;
  if (recurrent) {
    const u64 inner = std::max(p.ssm_d_inner, p.n_embd);
    const u64 cols = c.add(c.mul(3, inner), c.mul(2, p.ssm_n_group, p.ssm_d_state));
    const u64 states = c.mul(2, c.add(n_embd_r(p, c), n_embd_s(p, c)), k_f32 * in.parallel);
    act_rec = c.add(c.mul(t, k_f32, cols), states);
  }
  const u64 act = std::max({act_ffn, act_attn, act_rec});
  const u64 slack = c.mul(t, k_f32, k_input_words);
  const u64 logits = c.mul(p.n_vocab, ctx.n_outputs, k_f32);
  e.compute_layer = c.add(c.add(masks, act), slack);
  e.compute_output = c.add(c.add(masks, std::max(act, logits)), slack);
  e.compute_host = c.add(c.add(c.mul(t, k_f32, p.n_embd), c.mul(mask_elems, k_f32)), slack);
  if (in.mtp) {
    assign_mtp_compute(p, ctx, in, act_ffn, n_head, e, c);
  }
  if (!in.flash_attn) {
    e.notes.push_back("flash attention off: KQ scores of " + std::to_string(n_head) +
                      " heads counted in the compute buffer");
  } else {
    e.notes.push_back("flash attention assumed on");
  }
  if (recurrent) {
    e.notes.push_back("recurrent layers: compute buffer approximated");
  }
}

// The compute buffers from the graph model (router/compute.h) in three shapes of load:
// everything in host memory (compute_cpu); every layer on one GPU (compute_output on the
// GPU, compute_host on the host); the layers over two GPUs (compute_layer, the first GPU's).
// Architectures without a graph model keep the older approximation, with a margin.
Result<void> simulate_compute(const SplitModel& model, const ArchParams& p, const EstimateInput& in,
                              Estimate& e) {
  auto approximate = [&](const std::string& why) {
    e.compute_cpu = e.compute_output;
    e.compute_partial = e.compute_output;
    e.compute_host_partial = e.compute_host;
    e.margin = std::max(e.margin, k_unmodelled_margin);
    e.margin_reason = why + ": compute buffers approximated, with a 50% margin";
    return Result<void>{};
  };
  if (!graph::has_graph(p.arch)) {
    return approximate("no compute graph model for architecture '" + p.arch + "'");
  }
  const ComputeContext cc = compute_context(e, in);
  const int n_layer = static_cast<int>(p.n_layer);
  auto run = [&](const ComputeDevices& d) -> Result<std::vector<u64>> {
    auto r = compute_buffers(model, p, cc, d);
    if (!r) {
      return fail(std::move(r.error()));
    }
    for (std::string& n : r->notes) {
      e.notes.push_back(std::move(n));
    }
    return std::move(r->bytes);
  };
  ComputeDevices host = devices_for(in, {}, [](int) { return -1; }, -1);
  host.full_offload = false;
  auto cpu = run(host);
  if (!cpu) {
    // A file the graph cannot be built from (a tensor missing): llama.cpp would refuse it
    // too, but the estimate stays useful.
    return approximate(cpu.error().message);
  }
  e.compute_cpu = (*cpu)[0];
  if (in.api == config::GpuApi::cpu) {
    // A CPU build places layers on rpc devices only. Each is charged the whole graph's
    // compute_cpu (a little more than an rpc-server allocates: docs/vram.md), but the host
    // keeps a compute buffer of its own beside them — 10.01 MiB for an 8-layer 2048-wide
    // model over two rpc-servers (tests/fixtures/llama-server/askd-rpc2-startup.log) — which
    // is simulated with one RPC device.
    e.compute_output = e.compute_layer = e.compute_partial = e.compute_cpu;
    auto rpc = run(devices_for(in, {device_backend("RPC0")}, [](int) { return 0; }, 0));
    if (!rpc) {
      return fail(std::move(rpc.error()));
    }
    e.compute_host = e.compute_host_partial = (*rpc)[1] + e.mtp_compute_host;
    return {};
  }
  const std::string api = device_prefix(in.api);
  auto one = run(devices_for(in, {device_backend(api + "0")}, [](int) { return 0; }, 0));
  if (!one) {
    return fail(std::move(one.error()));
  }
  e.compute_output = (*one)[0];
  e.compute_host = (*one)[1] + e.mtp_compute_host; // the MTP context has a graph of its own
  ComputeDevices pair = devices_for(in, {device_backend(api + "0"), device_backend(api + "1")},
                                    [n_layer](int il) { return il < n_layer / 2 ? 0 : 1; }, 1);
  if (pipeline_parallel(pair.backends, true, in.kv_offload,
                        !in.overrides.empty() || in.n_cpu_moe > 0)) {
    pair.n_copies = k_pipeline_copies;
  }
  auto two = run(pair);
  if (!two) {
    return fail(std::move(two.error()));
  }
  e.compute_layer = (*two)[0];
  auto partial = run(devices_for(in, {device_backend(api + "0")},
                                 [n_layer](int il) { return il < n_layer / 2 ? -1 : 0; }, 0));
  if (!partial) {
    return fail(std::move(partial.error()));
  }
  e.compute_partial = (*partial)[0];
  e.compute_host_partial = (*partial)[1] + e.mtp_compute_host;
  return {};
}

u64 scaled(u64 v, double f) {
  const double r = std::round(static_cast<double>(v) * f);
  return r >= 1.8e19 ? std::numeric_limits<u64>::max() : static_cast<u64>(r);
}

double clamp_ratio(double r) {
  return std::isfinite(r) ? std::clamp(r, k_min_ratio, k_max_ratio) : 1.0;
}

void apply_correction(const Correction& raw, Estimate& e) {
  const Correction k{clamp_ratio(raw.weights), clamp_ratio(raw.kv), clamp_ratio(raw.compute)};
  if (k.weights == 1.0 && k.kv == 1.0 && k.compute == 1.0) {
    return;
  }
  for (LayerEstimate& l : e.layers) {
    l.weights = scaled(l.weights, k.weights);
    l.host_weights = scaled(l.host_weights, k.weights);
    l.kv = scaled(l.kv, k.kv);
    l.recurrent = scaled(l.recurrent, k.kv);
  }
  e.input_weights = scaled(e.input_weights, k.weights);
  e.output_weights = scaled(e.output_weights, k.weights);
  e.compute_output = scaled(e.compute_output, k.compute);
  e.compute_layer = scaled(e.compute_layer, k.compute);
  e.compute_host = scaled(e.compute_host, k.compute);
  e.compute_cpu = scaled(e.compute_cpu, k.compute);
  e.compute_partial = scaled(e.compute_partial, k.compute);
  e.compute_host_partial = scaled(e.compute_host_partial, k.compute);
  e.mtp_weights = scaled(e.mtp_weights, k.weights);
  e.mtp_kv = scaled(e.mtp_kv, k.kv);
  e.mtp_compute = scaled(e.mtp_compute, k.compute);
  e.notes.push_back("correction applied from an earlier load");
}

// Another llama.cpp build than the recorded one may allocate differently: a stated margin.
void build_margin(const EstimateInput& in, Estimate& e) {
  if (in.build == 0) {
    e.notes.push_back("llama.cpp build unknown: the rules of b" + std::to_string(k_recorded_build) +
                      " assumed");
    return;
  }
  if (in.build != k_recorded_build && e.margin < k_other_build_margin) {
    e.margin = k_other_build_margin;
    e.margin_reason = "llama.cpp build " + std::to_string(in.build) +
                      " is not the recorded b" + std::to_string(k_recorded_build) +
                      ": a 10% margin on the compute buffers";
  }
}

void apply_margin(Estimate& e) {
  if (e.margin <= 0.0) {
    return;
  }
  const double f = 1.0 + e.margin;
  for (u64* v : {&e.compute_output, &e.compute_layer, &e.compute_host, &e.compute_cpu,
                 &e.compute_partial, &e.compute_host_partial, &e.mtp_compute}) {
    *v = scaled(*v, f);
  }
  e.notes.push_back(e.margin_reason);
}

void mtp_notes(const ArchParams& p, const EstimateInput& in, Estimate& e) {
  if (p.n_layer_nextn == 0) {
    return;
  }
  const std::string layers = std::to_string(p.n_layer_nextn) + " MTP layer" +
                             (p.n_layer_nextn == 1 ? "" : "s") + " (nextn_predict_layers)";
  e.notes.push_back(in.mtp ? layers + " loaded, with the MTP context's KV cache and compute "
                                      "buffer"
                           : layers + " not loaded: mtp is off");
}

Result<u64> draft_bytes(const EstimateInput& in, u64 n_ctx) {
  EstimateInput d = in;
  d.ctx = in.draft_ctx > 0 ? static_cast<u64>(in.draft_ctx) : n_ctx;
  d.draft = nullptr;
  d.draft_ctx = 0;
  d.mtp = false; // a draft-simple context does not load the draft's own MTP layers
  d.projector_bytes = 0;
  d.n_cpu_moe = 0;
  d.correction = {};
  auto de = estimate(*in.draft, d);
  if (!de) {
    return fail(Error::bad_request("draft: " + de.error().message));
  }
  Checked c;
  const u64 bytes = c.add(c.add(de->layer_bytes(), de->output_weights), de->compute_output);
  if (c.overflow) {
    return fail(Error::bad_request("draft: dimensions too large to estimate"));
  }
  return bytes;
}

} // namespace

ComputeContext compute_context(const Estimate& e, const EstimateInput& in) {
  ComputeContext cc;
  cc.n_ctx = e.n_ctx;
  cc.kv_size = e.n_ctx_seq;
  cc.kv_size_swa = e.n_ctx_swa;
  cc.n_seq_max = static_cast<u64>(in.parallel);
  cc.kv_unified = in.kv_unified;
  cc.n_batch = std::min<u64>(e.n_ctx, in.n_batch);
  cc.n_ubatch = std::min<u64>(cc.n_batch, in.n_ubatch);
  // llama-server asks for one logit row per slot since PR #23861 (server_output_limits);
  // before it llama_context reserved n_batch rows.
  const bool old_build = in.build != 0 && in.build < k_outputs_limit_build;
  const u64 rows = in.n_outputs_max != 0 ? in.n_outputs_max
                   : old_build           ? cc.n_batch
                                         : static_cast<u64>(in.parallel);
  cc.n_outputs_max = std::min<u64>(cc.n_batch, rows);
  cc.flash_attn = in.flash_attn;
  cc.type_k = cache_type_id(in.cache_type_k);
  cc.type_v = cache_type_id(in.cache_type_v);
  return cc;
}

graph::Backend device_backend(const std::string& name) {
  graph::Backend b;
  b.name = name;
  // ggml_backend_*_offload_op: CUDA, ROCm, Vulkan and SYCL take ops whose weights are in
  // host memory once the batch reaches 32 tokens, copying the weights into their compute
  // buffer. RPC and Metal do not.
  for (std::string_view api : {"CUDA", "ROCm", "Vulkan", "SYCL"}) {
    if (name.starts_with(api)) {
      b.offload_min_batch = 32;
    }
  }
  b.alignment = name.starts_with("CUDA") || name.starts_with("ROCm") ? 128 : 32;
  return b;
}

std::string device_prefix(config::GpuApi api) {
  switch (api) {
  case config::GpuApi::cuda:
    return "CUDA";
  case config::GpuApi::rocm:
    return "ROCm";
  case config::GpuApi::vulkan:
    return "Vulkan";
  case config::GpuApi::sycl:
    return "SYCL";
  case config::GpuApi::metal:
    return "MTL";
  case config::GpuApi::cpu:
    break;
  }
  return "GPU";
}

ComputeDevices devices_for(const EstimateInput& in, std::vector<graph::Backend> gpus,
                           std::function<int(int)> layer_gpu, int output) {
  ComputeDevices d;
  const int cpu = static_cast<int>(gpus.size());
  graph::Backend host;
  host.name = "CPU";
  host.cpu = true;
  d.backends = std::move(gpus);
  d.backends.push_back(host);
  d.layer_device = [layer_gpu = std::move(layer_gpu), cpu](int il) {
    const int g = layer_gpu(il);
    return g < 0 ? cpu : g;
  };
  d.weight_device = [in, layer_dev = d.layer_device, cpu, output](const std::string& name,
                                                                  int il) {
    if (is_input(name) || overridden_to_host(name, in.overrides)) {
      return cpu;
    }
    if (auto blk = block_of(name)) {
      if (static_cast<int>(blk->first) < in.n_cpu_moe && is_expert(blk->second)) {
        return cpu;
      }
      return layer_dev(static_cast<int>(blk->first));
    }
    return il >= 0 ? layer_dev(il) : (output < 0 ? cpu : output);
  };
  d.full_offload = true;
  return d;
}

std::uint64_t Estimate::layer_bytes() const {
  Checked c;
  u64 sum = 0;
  for (const LayerEstimate& l : layers) {
    sum = c.add(sum, l.device_bytes());
  }
  return sum;
}

std::uint64_t Estimate::single_gpu_bytes() const {
  Checked c;
  u64 sum = c.add(layer_bytes(), output_weights);
  for (u64 v : {compute_output, gpu_overhead, draft, mtp_compute, projector}) {
    sum = c.add(sum, v);
  }
  return sum;
}

std::uint64_t Estimate::host_bytes() const {
  Checked c;
  u64 sum = c.add(input_weights, compute_host);
  sum = c.add(sum, output_buffer);
  for (const LayerEstimate& l : layers) {
    sum = c.add(sum, l.host_weights);
  }
  return sum;
}

std::uint64_t Estimate::host_only_bytes() const {
  Checked c;
  u64 sum = c.add(input_weights, layer_bytes());
  for (const LayerEstimate& l : layers) {
    sum = c.add(sum, l.host_weights);
  }
  for (u64 v : {output_weights - std::min(output_weights, tied_output), compute_cpu,
                output_buffer, draft, mtp_compute, projector}) {
    sum = c.add(sum, v);
  }
  return sum;
}

Result<Estimate> estimate(const core::gguf::SplitModel& model, const EstimateInput& in) {
  if (auto ok = validate(in); !ok) {
    return fail(std::move(ok.error()));
  }
  if (model.parts.empty()) {
    return fail(Error::bad_request("model: no GGUF parts"));
  }
  auto params = core::gguf::arch_params(model.first());
  if (!params) {
    return fail(Error::bad_request("model: " + params.error().message));
  }
  const ArchParams& p = *params;
  if (in.mtp && in.draft != nullptr) {
    return fail(Error::bad_request("mtp: not with a draft model: llama-server runs one draft "
                                   "context, a draft model's or the MTP layers'"));
  }
  if (auto ok = in.mtp ? check_mtp(model) : Result<std::uint64_t>(0); !ok) {
    return fail(std::move(ok.error()));
  }
  const bool any_swa = p.n_layer_swa() != 0;
  auto tk = checked_cache_type("cache_type_k", in.cache_type_k,
                               {p.n_embd_head_k, any_swa ? p.n_embd_head_k_swa : 0});
  auto tv = checked_cache_type("cache_type_v", in.cache_type_v,
                               {p.n_embd_head_v, any_swa ? p.n_embd_head_v_swa : 0});
  if (!tk || !tv) {
    return fail(std::move(!tk ? tk.error() : tv.error()));
  }
  if (!in.flash_attn && tv->block_size > 1) {
    return fail(Error::bad_request("cache_type_v: a quantized V cache (" + in.cache_type_v +
                                   ") needs flash attention"));
  }
  Estimate e;
  e.arch = p.arch;
  auto ctx = resolve_context(p, in, e.notes);
  if (!ctx) {
    return fail(std::move(ctx.error()));
  }
  e.n_ctx = ctx->n_ctx;
  e.n_ctx_seq = ctx->n_ctx_seq;
  e.layers.resize(p.n_layer);
  Checked c;
  e.n_layer_nextn = p.n_layer_nextn;
  assign_weights(model, in, p.n_layer - p.n_layer_nextn, e, c);
  const bool mla = model.first().get_uint(p.arch + ".attention.key_length_mla").has_value();
  if (mla && in.cache_type_k != in.cache_type_v) {
    // llama_init_from_model: "model does not support different K and V cache types".
    return fail(Error::bad_request("cache_type_v: " + p.arch +
                                   " with multi-head latent attention keeps V inside the K "
                                   "cache: K and V cache types must be the same (" +
                                   in.cache_type_k + " and " + in.cache_type_v + " given)"));
  }
  assign_memory(p, *ctx, {*tk, *tv}, in, mla, e, c);
  assign_compute(model, p, *ctx, in, e, c);
  e.n_ctx_swa = p.n_layer_swa() != 0 ? ctx->size_swa : 0;
  if (auto ok = simulate_compute(model, p, in, e); !ok) {
    return fail(std::move(ok.error()));
  }
  // llama_context::output_reserve(n_seq_max): n_vocab f32 logits per output row (and as
  // many again for the MTP context).
  e.output_buffer = c.mul(p.n_vocab, k_f32, static_cast<u64>(in.parallel) * (in.mtp ? 2 : 1));
  mtp_notes(p, in, e);
  e.gpu_overhead = k_gpu_overhead;
  if (in.projector_bytes != 0) {
    e.projector = c.add(in.projector_bytes, k_projector_compute);
  }
  if (c.overflow) {
    return fail(Error::bad_request("model: dimensions too large to estimate"));
  }
  apply_correction(in.correction, e);
  build_margin(in, e);
  apply_margin(e);
  if (in.draft != nullptr) {
    auto d = draft_bytes(in, e.n_ctx);
    if (!d) {
      return fail(std::move(d.error()));
    }
    e.draft = *d;
  }
  // Every total placement takes (one GPU's share, the host's) is a sum of these: keep the
  // grand total below 2^64, so no such sum can wrap.
  Checked total;
  u64 all = total.add(e.single_gpu_bytes(), e.host_bytes());
  all = total.add(all, e.compute_layer);
  if (total.overflow || all == std::numeric_limits<u64>::max()) {
    return fail(Error::bad_request("model: dimensions too large to estimate"));
  }
  return e;
}

Correction correction_from(const Estimate& predicted, const Calibration& measured) {
  u64 model = 0, kv = 0, compute = 0;
  int gpus = 0;
  for (const DeviceBuffers& d : measured.devices) {
    const bool host = d.device.starts_with("CPU") || d.device.find("_Host") != std::string::npos;
    model += d.model;
    kv += d.kv + d.recurrent;
    compute += d.compute;
    gpus += !host && d.compute > 0 ? 1 : 0;
  }
  Checked c;
  u64 p_model = c.add(predicted.input_weights, predicted.output_weights);
  u64 p_kv = 0;
  for (const LayerEstimate& l : predicted.layers) {
    p_model = c.add(p_model, c.add(l.weights, l.host_weights));
    p_kv = c.add(p_kv, c.add(l.kv, l.recurrent));
  }
  // Only the CPU computed: the one buffer of a load in host memory.
  u64 p_compute = c.add(gpus == 0 ? predicted.compute_cpu : predicted.compute_output,
                        predicted.mtp_compute);
  if (gpus == 0) {
    // On the CPU the duplicated output shares the mapped token_embd.
    p_model -= std::min(p_model, predicted.tied_output);
  }
  if (gpus > 0) {
    p_compute = c.add(c.add(p_compute, c.mul(static_cast<u64>(gpus - 1), predicted.compute_layer)),
                      predicted.compute_host);
  }
  auto ratio = [](u64 m, u64 p) {
    return m == 0 || p == 0 ? 1.0 : clamp_ratio(static_cast<double>(m) / static_cast<double>(p));
  };
  return {ratio(model, p_model), ratio(kv, p_kv), ratio(compute, p_compute)};
}

} // namespace ask::router
