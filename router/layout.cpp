// Per-device memory of one split (router/layout.h): llama_model::load_tensors' assignment of
// layers and tensors to devices, the caches on their layers' devices, and the compute buffers
// of that split from the graph model.

#include "router/layout.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "router/estimate_detail.h"
#include "router/graph_llm.h"
#include "router/tensor_names.h"

namespace ask::router {

using core::Error;
using core::fail;
using u64 = std::uint64_t;

Layout llama_layout(std::size_t n_layer, int n_gpu_layers, std::vector<std::string> devices,
                    const std::vector<double>& split) {
  Layout out;
  out.devices = std::move(devices);
  out.layer_device.assign(n_layer, -1);
  const int n_all = static_cast<int>(n_layer);
  const std::size_t n_dev = out.devices.size();
  if (n_dev == 0 || n_gpu_layers <= 0) {
    return out;
  }
  // The split points, as floats: llama.cpp compares float(il - start) / act with them.
  std::vector<float> points(n_dev, 0.0f);
  float sum = 0.0f;
  for (std::size_t i = 0; i < n_dev; ++i) {
    sum += i < split.size() ? static_cast<float>(split[i]) : 0.0f;
    points[i] = sum;
  }
  if (sum <= 0.0f) { // no weights at all: an even split
    for (std::size_t i = 0; i < n_dev; ++i) {
      points[i] = static_cast<float>(i + 1);
    }
    sum = static_cast<float>(n_dev);
  }
  for (float& p : points) {
    p /= sum;
  }
  const int start = std::max(n_all + 1 - n_gpu_layers, 0);
  const int act = std::min(n_gpu_layers, n_all + 1);
  auto device_of = [&](int il) {
    if (il < start || il - start >= act) {
      return -1;
    }
    const float at = static_cast<float>(il - start) / static_cast<float>(act);
    const auto it = std::upper_bound(points.begin(), points.end(), at);
    return static_cast<int>(
        std::min<std::ptrdiff_t>(it - points.begin(), static_cast<std::ptrdiff_t>(n_dev) - 1));
  };
  for (int il = 0; il < n_all; ++il) {
    out.layer_device[static_cast<std::size_t>(il)] = device_of(il);
  }
  out.output_device = device_of(n_all);
  return out;
}

namespace {

// The span of the file llama.cpp maps for host tensors: per file part, from the first host
// tensor's data to the end of the last one (llama_model_loader::get_mapping_range).
u64 mapped_span(const core::gguf::SplitModel& model, const EstimateInput& in,
                const std::vector<int>& layer_device, int output_device) {
  u64 total = 0;
  for (const auto& part : model.parts) {
    u64 first = std::numeric_limits<u64>::max(), last = 0;
    for (const auto& t : part.tensors) {
      bool host = is_input(t.name) || overridden_to_host(t.name, in.overrides);
      if (auto blk = block_of(t.name); !host && blk) {
        host = (blk->first < layer_device.size() && layer_device[blk->first] < 0) ||
               (static_cast<int>(blk->first) < in.n_cpu_moe && is_expert(blk->second));
      } else if (!host) {
        host = output_device < 0; // output.weight, output_norm, …
      }
      if (host) {
        first = std::min(first, t.offset);
        last = std::max(last, t.offset + t.n_bytes);
      }
    }
    if (last > first) {
      total += last - first;
    }
  }
  return total;
}

} // namespace

core::Result<std::vector<DeviceMemory>> estimate_layout(const core::gguf::SplitModel& model,
                                                        const EstimateInput& in,
                                                        const Layout& layout, std::ostream* trace) {
  auto est = estimate(model, in);
  if (!est) {
    return fail(std::move(est.error()));
  }
  const Estimate& e = *est;
  const int n_dev = static_cast<int>(layout.devices.size());
  if (layout.layer_device.size() != e.layers.size() || layout.output_device >= n_dev ||
      std::any_of(layout.layer_device.begin(), layout.layer_device.end(),
                  [n_dev](int d) { return d >= n_dev; })) {
    return fail(Error::bad_request("layout: " + std::to_string(layout.layer_device.size()) +
                                   " layers for a model of " + std::to_string(e.layers.size()) +
                                   ", or a device out of range"));
  }
  std::vector<DeviceMemory> out(layout.devices.size() + 1);
  for (std::size_t i = 0; i < layout.devices.size(); ++i) {
    out[i].device = layout.devices[i];
  }
  DeviceMemory& host = out.back();
  host.device = "host";
  auto at = [&](int d) -> DeviceMemory& { return d < 0 ? host : out[static_cast<std::size_t>(d)]; };
  bool all_host = layout.output_device < 0;
  for (std::size_t il = 0; il < e.layers.size(); ++il) {
    const LayerEstimate& l = e.layers[il];
    DeviceMemory& d = at(layout.layer_device[il]);
    all_host = all_host && layout.layer_device[il] < 0;
    d.weights += l.weights;
    d.kv += in.kv_offload ? l.kv : 0;
    d.recurrent += in.kv_offload ? l.recurrent : 0;
    host.kv += in.kv_offload ? 0 : l.kv;
    host.recurrent += in.kv_offload ? 0 : l.recurrent;
    host.weights += l.host_weights;
  }
  host.weights += e.input_weights;
  // A tied output head in host memory is the mapped token_embd itself, not a copy.
  at(layout.output_device).weights +=
      layout.output_device < 0 ? e.output_weights - e.tied_output : e.output_weights;
  host.output = e.output_buffer;
  host.mapped = in.mmap ? mapped_span(model, in, layout.layer_device, layout.output_device) : 0;

  auto p = core::gguf::arch_params(model.first());
  if (!p) {
    return fail(Error::bad_request("model: " + p.error().message));
  }
  std::vector<graph::Backend> backends;
  for (const std::string& name : layout.devices) {
    backends.push_back(device_backend(name));
  }
  ComputeDevices devices = devices_for(
      in, std::move(backends),
      [&layout](int il) { return layout.layer_device[static_cast<std::size_t>(il)]; },
      layout.output_device);
  devices.trace = trace;
  const bool full = !all_host && layout.output_device >= 0 &&
                    std::none_of(layout.layer_device.begin(), layout.layer_device.end(),
                                 [](int d) { return d < 0; });
  if (pipeline_parallel(devices.backends, full, in.kv_offload,
                        !in.overrides.empty() || in.n_cpu_moe > 0)) {
    devices.n_copies = k_pipeline_copies;
  }
  devices.full_offload = !all_host &&
                         std::none_of(layout.layer_device.begin(), layout.layer_device.end(),
                                      [](int d) { return d < 0; }) &&
                         layout.output_device >= 0;
  auto buffers = compute_buffers(model, *p, compute_context(e, in), devices);
  if (!graph::has_graph(p->arch) || !buffers) {
    // No graph model for this file: the estimate's approximations, with its margin.
    for (std::size_t i = 0; i < layout.devices.size(); ++i) {
      const bool output = static_cast<int>(i) == layout.output_device;
      out[i].compute = output ? e.compute_output : e.compute_layer;
    }
    host.compute = all_host ? e.compute_cpu : e.compute_host;
    return out;
  }
  const double factor = (1.0 + e.margin) * std::clamp(in.correction.compute, 0.5, 4.0);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].compute =
        static_cast<u64>(std::llround(static_cast<double>(buffers->bytes[i]) * factor));
  }
  return out;
}

} // namespace ask::router
