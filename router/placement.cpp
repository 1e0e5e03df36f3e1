// Placement: which GPUs, how many layers each, and the llama-server command line for it.
//
// Layer ranges and llama.cpp: with --tensor-split t0,…,tn-1, llama.cpp (llama-model.cpp,
// load_tensors) puts layer il on the first device i whose cumulative share
// (t0+…+ti)/Σt exceeds (il − i_gpu_start)/act_gpu_layers, where the output layer counts as
// layer n_layer when every layer is offloaded. Giving it the layer counts themselves (the
// output layer added to the device that holds it) therefore reproduces our split exactly:
// both sides of the comparison are the same float division of the same integers.

#include "router/placement.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <numeric>

namespace ask::router {
namespace {

using config::GpuApi;

struct Candidate {
  const Gpu* gpu = nullptr;
  int ordinal = 0;        // the GPU's device index under the request's API
  std::uint64_t usable = 0;
};

// What a GPU pays before its first layer: overhead and compute buffer, plus — on the GPU
// with the output layer — output weights, logits-sized compute buffer, draft, the MTP
// context's compute buffer and projector.
// Sums saturate: every figure is bounded by estimate() and the inventory, but a declared
// card or a hostile file may still push a total past 2^64, and a wrapped sum would "fit".
std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<std::uint64_t>::max() : r;
}

// With layers left in host memory (`partial`), the first GPU also takes their big ops, and
// with them a copy of their weights (compute_partial over compute_output).
std::uint64_t fixed_cost(const Estimate& e, bool output, bool first = false, bool partial = false) {
  const std::uint64_t extra =
      partial && first && e.compute_partial > e.compute_output ? e.compute_partial - e.compute_output
                                                               : 0;
  if (!output) {
    return sat_add(sat_add(e.gpu_overhead, e.compute_layer), extra);
  }
  std::uint64_t sum = sat_add(e.gpu_overhead, extra);
  for (std::uint64_t v :
       {e.compute_output, e.output_weights, e.draft, e.mtp_compute, e.projector}) {
    sum = sat_add(sum, v);
  }
  return sum;
}

// Layers [first, n) split over `devs` (the last one holds the output layer), in proportion
// to what each can hold after its fixed cost. Returns layer counts, or nullopt when they do
// not fit.
std::optional<std::vector<int>> split_layers(const Estimate& e, const std::vector<Candidate>& devs,
                                             std::size_t first) {
  const std::size_t k = devs.size();
  std::vector<std::uint64_t> room(k);
  for (std::size_t j = 0; j < k; ++j) {
    const std::uint64_t fixed = fixed_cost(e, j + 1 == k, j == 0, first > 0);
    if (devs[j].usable < fixed) {
      return std::nullopt;
    }
    room[j] = devs[j].usable - fixed;
  }
  const long double total_room = std::accumulate(room.begin(), room.end(), 0.0L);
  long double total_bytes = 0;
  for (std::size_t il = first; il < e.layers.size(); ++il) {
    total_bytes += static_cast<long double>(e.layers[il].device_bytes());
  }
  if (total_bytes > total_room) {
    return std::nullopt;
  }
  // Proportional: layer il goes to the device whose share of the cumulative bytes holds the
  // layer's midpoint.
  std::vector<int> counts(k, 0);
  std::vector<std::uint64_t> used(k, 0);
  long double before = 0;
  std::size_t j = 0;
  long double share_end = total_room > 0 ? total_bytes * room[0] / total_room : 0;
  for (std::size_t il = first; il < e.layers.size(); ++il) {
    const std::uint64_t b = e.layers[il].device_bytes();
    const long double mid = before + static_cast<long double>(b) / 2;
    while (j + 1 < k && mid > share_end) {
      ++j;
      share_end += total_bytes * room[j] / total_room;
    }
    ++counts[j];
    used[j] += b;
    before += static_cast<long double>(b);
  }
  bool fits = true;
  for (std::size_t d = 0; d < k; ++d) {
    fits = fits && used[d] <= room[d];
  }
  if (fits) {
    return counts;
  }
  // Rounding pushed a device over: fill greedily in order instead.
  std::fill(counts.begin(), counts.end(), 0);
  std::size_t d = 0;
  std::uint64_t in_d = 0;
  for (std::size_t il = first; il < e.layers.size(); ++il) {
    const std::uint64_t b = e.layers[il].device_bytes();
    while (d < k && in_d + b > room[d]) {
      ++d;
      in_d = 0;
    }
    if (d == k) {
      return std::nullopt;
    }
    ++counts[d];
    in_d += b;
  }
  return counts;
}

std::string join(const std::vector<std::string>& parts, char sep = ',') {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) {
      out += sep;
    }
    out += p;
  }
  return out;
}

// The environment that shows llama-server exactly `devs`, in this order, so that its
// devices are <API>0, <API>1, … CUDA's default order is fastest-first, not nvidia-smi's
// PCI order, hence CUDA_DEVICE_ORDER.
std::vector<std::pair<std::string, std::string>> visibility_env(GpuApi api,
                                                                const std::vector<Candidate>& devs) {
  std::vector<std::string> ordinals;
  std::vector<std::string> uuids;
  for (const Candidate& c : devs) {
    ordinals.push_back(std::to_string(c.ordinal));
    uuids.push_back(c.gpu->uuid.starts_with("GPU-") ? c.gpu->uuid : std::string{});
  }
  const bool all_uuids =
      std::none_of(uuids.begin(), uuids.end(), [](const std::string& u) { return u.empty(); });
  switch (api) {
  case GpuApi::cuda:
    return {{"CUDA_DEVICE_ORDER", "PCI_BUS_ID"},
            {"CUDA_VISIBLE_DEVICES", join(all_uuids ? uuids : ordinals)}};
  case GpuApi::rocm:
    return {{"HIP_VISIBLE_DEVICES", join(ordinals)}};
  case GpuApi::vulkan:
    return {{"GGML_VK_VISIBLE_DEVICES", join(ordinals)}};
  case GpuApi::sycl:
    return {{"ONEAPI_DEVICE_SELECTOR", "level_zero:" + join(ordinals)}};
  case GpuApi::metal:
  case GpuApi::cpu:
    break;
  }
  return {};
}

// The plan for layers [first, n) over `devs`, the output layer on the last one.
Plan make_plan(const Estimate& e, const PlacementRequest& req, const std::vector<Candidate>& devs,
               const std::vector<int>& counts, std::size_t first) {
  Plan plan;
  plan.api = req.api;
  plan.host_layers = static_cast<int>(first);
  std::vector<std::string> names;
  std::vector<std::string> split;
  std::size_t il = first;
  for (std::size_t j = 0; j < devs.size(); ++j) {
    const bool holds_output = j + 1 == devs.size();
    GpuShare share{devs[j].gpu->id, devs[j].ordinal, counts[j], holds_output,
                   fixed_cost(e, holds_output, j == 0, first > 0), devs[j].usable};
    for (int n = 0; n < counts[j]; ++n, ++il) {
      share.bytes += e.layers[il].device_bytes();
    }
    plan.gpu_layers += counts[j];
    plan.gpu_bytes += share.bytes;
    names.push_back(device_name(req.api, static_cast<int>(j)));
    if (holds_output) {
      plan.output_device = names.back();
    }
    split.push_back(std::to_string(counts[j] + (holds_output ? 1 : 0)));
    plan.gpus.push_back(std::move(share));
  }
  plan.host_bytes = e.host_bytes();
  if (first > 0) { // the host computes the layers it holds
    plan.host_bytes = plan.host_bytes - std::min(plan.host_bytes, e.compute_host) +
                      std::max(e.compute_host, e.compute_host_partial);
  }
  for (std::size_t h = 0; h < first; ++h) {
    plan.host_bytes += e.layers[h].device_bytes();
  }
  plan.args = {"--device", join(names), "-ngl", std::to_string(plan.gpu_layers + 1)};
  if (devs.size() > 1) {
    plan.args.insert(plan.args.end(), {"--split-mode", "layer", "--tensor-split", join(split)});
  }
  plan.env = visibility_env(req.api, devs);
  return plan;
}

// make_plan without the GPUs that got no layers (the output GPU always stays).
Plan partial_plan(const Estimate& e, const PlacementRequest& req, const std::vector<Candidate>& devs,
                  const std::vector<int>& counts, std::size_t first) {
  std::vector<Candidate> used;
  std::vector<int> kept;
  for (std::size_t j = 0; j < devs.size(); ++j) {
    if (counts[j] > 0 || j + 1 == devs.size()) {
      used.push_back(devs[j]);
      kept.push_back(counts[j]);
    }
  }
  return make_plan(e, req, used, kept, first);
}

// Everything in host memory: the weights (a tied output head shares the mapped token_embd
// instead of being copied), KV cache, one compute buffer for the whole graph (the host-side
// buffer of a GPU load is not made), logits, draft, MTP compute buffer and projector.
Plan host_only_plan(const Estimate& e) {
  Plan plan;
  plan.api = GpuApi::cpu;
  plan.host_layers = static_cast<int>(e.layers.size());
  std::uint64_t sum = sat_add(e.input_weights, e.layer_bytes());
  for (const LayerEstimate& l : e.layers) {
    sum = sat_add(sum, l.host_weights);
  }
  for (std::uint64_t v : {e.output_weights - std::min(e.output_weights, e.tied_output),
                          e.compute_cpu, e.output_buffer, e.draft, e.mtp_compute,
                          e.projector}) {
    sum = sat_add(sum, v);
  }
  plan.host_bytes = sum;
  plan.output_device = "none";
  plan.args = {"--device", "none", "-ngl", "0"};
  return plan;
}

// Candidates under the request's API and pins; an error text when there are none.
std::expected<std::vector<Candidate>, std::string> candidates(const Inventory& inv,
                                                              const PlacementRequest& req) {
  std::vector<Candidate> out;
  for (const std::string& pin : req.pins) {
    if (inv.find(pin) == nullptr) {
      return std::unexpected("pinned GPU \"" + pin + "\" is not in the inventory");
    }
  }
  for (const Gpu& g : inv.gpus) {
    const bool pinned_out =
        !req.pins.empty() && std::find(req.pins.begin(), req.pins.end(), g.id) == req.pins.end();
    const std::optional<int> ordinal = g.index_for(req.api);
    if (pinned_out || !ordinal) {
      continue;
    }
    // One device index, one card: two would be given twice the memory of one.
    for (const Candidate& c : out) {
      if (c.ordinal == *ordinal) {
        return std::unexpected("GPUs \"" + c.gpu->id + "\" and \"" + g.id + "\" both claim " +
                               std::string(config::to_string(req.api)) + " device " +
                               std::to_string(*ordinal));
      }
    }
    out.push_back({&g, *ordinal, g.usable_bytes()});
  }
  if (out.empty()) {
    return std::unexpected("no GPU " + std::string(req.pins.empty() ? "" : "among the pinned ones ") +
                           "has a " + std::string(config::to_string(req.api)) + " device");
  }
  return out;
}

// The `k` candidates with the most usable memory (of equal cards the lowest ordinals), the
// largest last (it takes the output layer and the logits; of equal ones the highest
// ordinal, so the others keep their order in front of it: CUDA_VISIBLE_DEVICES=0,1, not
// 1,0), the others in device order.
std::vector<Candidate> largest(std::vector<Candidate> all, std::size_t k) {
  std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    return a.usable != b.usable ? a.usable > b.usable : a.ordinal < b.ordinal;
  });
  all.resize(k);
  std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    return a.ordinal < b.ordinal;
  });
  const auto output = std::max_element(all.begin(), all.end(),
                                       [](const Candidate& a, const Candidate& b) {
                                         return a.usable != b.usable ? a.usable < b.usable
                                                                     : a.ordinal < b.ordinal;
                                       });
  std::rotate(output, output + 1, all.end());
  return all;
}

// The shortfall of layers [first, n) and the output over `devs`, split in proportion to
// what each can hold.
NoFit no_fit(const Estimate& e, const std::vector<Candidate>& devs, std::size_t first,
             std::string why) {
  NoFit nf;
  std::uint64_t room = 0;
  for (const Candidate& c : devs) {
    room = sat_add(room, c.usable);
  }
  std::uint64_t layers = 0;
  for (std::size_t il = first; il < e.layers.size(); ++il) {
    layers = sat_add(layers, e.layers[il].device_bytes());
  }
  for (std::size_t j = 0; j < devs.size(); ++j) {
    const bool output = j + 1 == devs.size();
    const long double share =
        room == 0 ? 1.0L / static_cast<long double>(devs.size())
                  : static_cast<long double>(devs[j].usable) / static_cast<long double>(room);
    const std::uint64_t need =
        sat_add(fixed_cost(e, output, j == 0, first > 0),
                static_cast<std::uint64_t>(share * static_cast<long double>(layers)));
    nf.needed = sat_add(nf.needed, need);
    nf.available = sat_add(nf.available, devs[j].usable);
    nf.per_gpu.push_back({devs[j].gpu->id, need, devs[j].usable});
  }
  nf.reason = why.empty() ? "needs " + human_bytes(nf.needed) + ", " + human_bytes(nf.available) +
                                " usable on " + std::to_string(devs.size()) + " GPU" +
                                (devs.size() == 1 ? "" : "s")
                          : std::move(why);
  return nf;
}

// The smallest GPU the whole model fits on (leaving the big ones for big models).
std::optional<Candidate> best_single(const Estimate& e, const std::vector<Candidate>& all) {
  std::optional<Candidate> best;
  const std::uint64_t need = e.single_gpu_bytes();
  for (const Candidate& c : all) {
    if (c.usable >= need && (!best || c.usable < best->usable)) {
      best = c;
    }
  }
  return best;
}

} // namespace

std::string device_name(GpuApi api, int ordinal) {
  switch (api) {
  case GpuApi::cuda:
    return "CUDA" + std::to_string(ordinal);
  case GpuApi::rocm:
    return "ROCm" + std::to_string(ordinal);
  case GpuApi::vulkan:
    return "Vulkan" + std::to_string(ordinal);
  case GpuApi::sycl:
    return "SYCL" + std::to_string(ordinal);
  case GpuApi::metal:
    return "MTL" + std::to_string(ordinal);
  case GpuApi::cpu:
    break;
  }
  return "CPU";
}

std::string human_bytes(std::uint64_t bytes) {
  char buf[32];
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  if (mib < 1024.0) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", mib);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", mib / 1024.0);
  }
  return buf;
}

std::expected<Plan, NoFit> place(const Estimate& est, const Inventory& inv,
                                 const PlacementRequest& req) {
  if (req.api == GpuApi::cpu || req.n_layers_request == 0) {
    return host_only_plan(est);
  }
  auto all = candidates(inv, req);
  if (!all) {
    NoFit nf;
    nf.reason = all.error();
    nf.needed = est.single_gpu_bytes();
    return std::unexpected(std::move(nf));
  }
  const std::size_t n_layer = est.layers.size();
  const bool everything =
      req.n_layers_request < 0 || static_cast<std::size_t>(req.n_layers_request) > n_layer;
  if (everything) {
    if (std::optional<Candidate> one = best_single(est, *all)) {
      return make_plan(est, req, {*one}, {static_cast<int>(n_layer)}, 0);
    }
    for (std::size_t k = 2; k <= all->size(); ++k) {
      const std::vector<Candidate> devs = largest(*all, k);
      if (auto counts = split_layers(est, devs, 0)) {
        return make_plan(est, req, devs, *counts, 0);
      }
    }
    if (!req.allow_partial) {
      return std::unexpected(no_fit(est, largest(*all, all->size()), 0, ""));
    }
  }
  // Partial offload. llama.cpp offloads from the top: -ngl N puts the output layer and the
  // last N−1 repeating layers on GPUs, the first ones stay in host memory. The most layers
  // on GPUs wins, then the fewest GPUs; each k tries the k largest, so a card too small to
  // pay its own compute buffer is left out rather than sinking the plan.
  const std::size_t n_gpus = all->size();
  if (!everything) {
    const std::size_t g = std::min(n_layer, static_cast<std::size_t>(req.n_layers_request) - 1);
    for (std::size_t k = 1; k <= n_gpus; ++k) {
      const std::vector<Candidate> devs = largest(*all, k);
      if (auto counts = split_layers(est, devs, n_layer - g)) {
        return partial_plan(est, req, devs, *counts, n_layer - g);
      }
    }
    return std::unexpected(no_fit(est, largest(*all, n_gpus), n_layer - g,
                                  "-ngl " + std::to_string(req.n_layers_request) + " (" +
                                      std::to_string(g) +
                                      " repeating layers and the output layer) does not fit on " +
                                      std::to_string(n_gpus) + " GPU" + (n_gpus == 1 ? "" : "s")));
  }
  std::optional<std::size_t> best_g;
  std::vector<Candidate> best_devs;
  for (std::size_t k = 1; k <= n_gpus; ++k) {
    std::vector<Candidate> devs = largest(*all, k);
    const auto fits = [&](std::size_t g) {
      return split_layers(est, devs, n_layer - g).has_value();
    };
    // Fewer layers always fit where more do (drop the lowest), so binary-search the most
    // that fit, above the best of fewer GPUs (which wins a tie).
    std::size_t lo = best_g ? *best_g + 1 : 0; // lowest g still worth having
    if (lo > n_layer || !fits(lo)) {
      continue;
    }
    std::size_t hi = n_layer; // lo fits; find the largest g in [lo, hi] that fits
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo + 1) / 2;
      if (fits(mid)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    best_g = lo;
    best_devs = std::move(devs);
  }
  if (best_g) {
    auto counts = split_layers(est, best_devs, n_layer - *best_g);
    return partial_plan(est, req, best_devs, *counts, n_layer - *best_g);
  }
  return std::unexpected(no_fit(
      est, largest(*all, 1), n_layer,
      "not even the output layer fits: it needs " + human_bytes(fixed_cost(est, true)) +
          " on one GPU"));
}

} // namespace ask::router
