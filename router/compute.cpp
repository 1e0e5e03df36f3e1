// llama_context::sched_reserve and graph_reserve (src/llama-context.cpp, build b10587) over
// the graph model.

#include "router/compute.h"

#include <algorithm>

#include "router/graph_llm.h"

namespace ask::router {

using core::Error;
using core::fail;

namespace {

// graph_reserve(n_tokens, n_seqs, n_outputs): the ubatch llama.cpp reserves for.
graph::LlmShape shape_for(const ComputeContext& ctx, std::uint64_t n_tokens, std::uint64_t n_seqs,
                          std::uint64_t n_outputs, bool full_offload) {
  if (n_tokens % n_seqs != 0) {
    n_tokens = (n_tokens + n_seqs - 1) / n_seqs * n_seqs;
  }
  graph::LlmShape s;
  s.n_tokens = static_cast<std::int64_t>(n_tokens);
  s.n_seqs = static_cast<std::int64_t>(n_seqs);
  s.n_outputs = static_cast<std::int64_t>(n_outputs);
  s.n_stream = ctx.kv_unified ? 1 : static_cast<std::int64_t>(ctx.n_seq_max);
  s.kv_size = static_cast<std::int64_t>(ctx.kv_size);
  s.kv_size_swa = static_cast<std::int64_t>(ctx.kv_size_swa);
  s.flash_attn = ctx.flash_attn;
  s.type_k = ctx.type_k;
  s.type_v = ctx.type_v;
  s.full_offload = full_offload;
  return s;
}

} // namespace

core::Result<ComputeBuffers> compute_buffers(const core::gguf::SplitModel& model,
                                             const core::gguf::ArchParams& params,
                                             const ComputeContext& ctx,
                                             const ComputeDevices& devices) {
  if (devices.backends.empty() || ctx.n_seq_max == 0) {
    return fail(Error::bad_request("compute buffers: no backend or no slot"));
  }
  const std::uint64_t n_seqs = ctx.n_seq_max;
  const std::uint64_t n_tokens = std::min(ctx.n_ctx, ctx.n_ubatch);
  const std::uint64_t n_outputs_pp = std::min(n_tokens, ctx.n_outputs_max);
  graph::LlmPlacement placement{devices.weight_device, devices.layer_device};
  graph::Reservation reservation(devices.backends.size());
  ComputeBuffers out;
  // A full ubatch, one token per sequence, then the full ubatch again.
  const std::uint64_t passes[2][3] = {{n_tokens, n_seqs, n_outputs_pp}, {n_seqs, n_seqs, n_seqs}};
  for (const auto& pass : passes) {
    auto built = graph::build_graph(
        model, params, shape_for(ctx, pass[0], pass[1], pass[2], devices.full_offload), placement);
    if (!built) {
      return fail(std::move(built.error()));
    }
    reservation.add(
        graph::reserve(*built->graph, devices.backends, devices.trace, devices.n_copies));
    for (std::string& n : built->notes) {
      if (std::find(out.notes.begin(), out.notes.end(), n) == out.notes.end()) {
        out.notes.push_back(std::move(n));
      }
    }
  }
  out.bytes = reservation.sizes();
  return out;
}

core::Result<std::size_t> graph_nodes(const core::gguf::SplitModel& model,
                                      const core::gguf::ArchParams& params,
                                      const ComputeContext& ctx, const ComputeDevices& devices) {
  const std::uint64_t n_tokens = std::min(ctx.n_ctx, ctx.n_ubatch);
  graph::LlmPlacement placement{devices.weight_device, devices.layer_device};
  auto built =
      graph::build_graph(model, params,
                         shape_for(ctx, n_tokens, ctx.n_seq_max,
                                   std::min(n_tokens, ctx.n_outputs_max), devices.full_offload),
                         placement);
  if (!built) {
    return fail(std::move(built.error()));
  }
  return built->graph->nodes().size();
}

bool pipeline_parallel(const std::vector<graph::Backend>& devices, bool full_offload,
                       bool kv_offload, bool overrides) {
  std::size_t gpus = 0;
  for (const graph::Backend& b : devices) {
    if (b.cpu) {
      continue;
    }
    if (b.name.starts_with("RPC")) {
      return false; // no async copies, no events
    }
    ++gpus;
  }
  return gpus > 1 && full_offload && kv_offload && !overrides;
}

ComputeDevices host_only() {
  ComputeDevices d;
  graph::Backend cpu;
  cpu.name = "CPU";
  cpu.cpu = true;
  d.backends.push_back(cpu);
  d.layer_device = [](int) { return 0; };
  d.weight_device = [](const std::string&, int) { return 0; };
  return d;
}

} // namespace ask::router
