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
#include <iterator>
#include <limits>
#include <numeric>

namespace ask::router {
namespace {

using config::GpuApi;

struct Candidate {
  const Gpu* gpu = nullptr;
  int ordinal = 0; // the GPU's device index under the request's API; rpc: its position
  std::uint64_t usable = 0;
  bool remote = false;    // an rpc-server's device
  int order = 0;          // device order: local GPUs by ordinal, then rpc devices as listed
  int server_devices = 1; // rpc: how many devices its server lists (llama.cpp numbers them all)
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
// with them a copy of their weights (compute_partial over compute_output). An rpc device
// pays no driver overhead here (an rpc-server's own is outside the memory it was given) and
// takes no ops on host weights (RPC has no offload_op).
std::uint64_t fixed_cost(const Estimate& e, bool output, bool first = false, bool partial = false,
                         bool remote = false) {
  const std::uint64_t extra = !remote && partial && first && e.compute_partial > e.compute_output
                                  ? e.compute_partial - e.compute_output
                                  : 0;
  const std::uint64_t overhead = remote ? 0 : e.gpu_overhead;
  if (!output) {
    return sat_add(sat_add(overhead, e.compute_layer), extra);
  }
  std::uint64_t sum = sat_add(overhead, extra);
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
    const std::uint64_t fixed = fixed_cost(e, j + 1 == k, j == 0, first > 0, devs[j].remote);
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
    if (c.remote) {
      continue;
    }
    ordinals.push_back(std::to_string(c.ordinal));
    uuids.push_back(c.gpu->uuid.starts_with("GPU-") ? c.gpu->uuid : std::string{});
  }
  const bool all_uuids =
      std::none_of(uuids.begin(), uuids.end(), [](const std::string& u) { return u.empty(); });
  if (ordinals.empty()) { // rpc devices alone: --device names them, no local GPU is used
    return {};
  }
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

// The rpc-server endpoints `devs` use, for --rpc, in inventory order; llama.cpp numbers the
// devices of every listed server in that order (RPC0, RPC1, …).
std::vector<std::string> rpc_endpoints(const std::vector<Candidate>& devs) {
  std::vector<const Candidate*> remote;
  for (const Candidate& c : devs) {
    if (c.remote) {
      remote.push_back(&c);
    }
  }
  std::sort(remote.begin(), remote.end(),
            [](const Candidate* a, const Candidate* b) { return a->order < b->order; });
  std::vector<std::string> out;
  for (const Candidate* c : remote) {
    if (std::find(out.begin(), out.end(), c->gpu->endpoint) == out.end()) {
      out.push_back(c->gpu->endpoint);
    }
  }
  return out;
}

// An rpc device's number in llama.cpp ("RPC<n>") under `endpoints` (--rpc): the devices of
// the servers before its own, then its number on its server.
int rpc_number(const Candidate& c, const std::vector<Candidate>& devs,
               const std::vector<std::string>& endpoints) {
  int n = 0;
  for (const std::string& ep : endpoints) {
    if (ep == c.gpu->endpoint) {
      return n + c.gpu->rpc_device;
    }
    for (const Candidate& d : devs) { // the server's device count, from any device of it
      if (d.remote && d.gpu->endpoint == ep) {
        n += d.server_devices;
        break;
      }
    }
  }
  return n + c.gpu->rpc_device;
}

// Host weights mapped from the file with mmap: the input layer, experts kept in host memory
// and the weights of `host_layers` repeating layers (KV cache and state are never mapped).
std::uint64_t mapped_weights(const Estimate& e, const PlacementRequest& req,
                             std::size_t host_layers) {
  if (!req.mmap) {
    return 0;
  }
  std::uint64_t sum = e.input_weights;
  for (std::size_t il = 0; il < e.layers.size(); ++il) {
    sum = sat_add(sum, e.layers[il].host_weights);
    if (il < host_layers) {
      sum = sat_add(sum, e.layers[il].weights);
    }
  }
  return sum;
}

// The plan for layers [first, n) over `devs`, the output layer on the last one.
Plan make_plan(const Estimate& e, const PlacementRequest& req, const std::vector<Candidate>& devs,
               const std::vector<int>& counts, std::size_t first) {
  Plan plan;
  plan.api = req.api;
  plan.host_layers = static_cast<int>(first);
  plan.rpc = rpc_endpoints(devs);
  std::vector<std::string> names;
  std::vector<std::string> split;
  std::size_t il = first;
  int local = 0; // the visibility environment makes the plan's local GPUs API0, API1, …
  for (std::size_t j = 0; j < devs.size(); ++j) {
    const bool holds_output = j + 1 == devs.size();
    const Candidate& c = devs[j];
    GpuShare share;
    share.gpu = c.gpu->id;
    share.device_index = c.ordinal;
    share.layers = counts[j];
    share.output = holds_output;
    share.bytes = fixed_cost(e, holds_output, j == 0, first > 0, c.remote);
    share.available = c.usable;
    std::uint64_t kv = 0;
    for (int n = 0; n < counts[j]; ++n, ++il) {
      share.bytes += e.layers[il].device_bytes();
      kv += e.layers[il].kv + e.layers[il].recurrent;
    }
    if (!req.kv_offload) { // llama.cpp keeps it in host memory (charged there, and here too)
      plan.host_bytes = sat_add(plan.host_bytes, kv);
    }
    share.remote = c.remote;
    if (c.remote) {
      share.device_index = rpc_number(c, devs, plan.rpc);
      share.device = "RPC" + std::to_string(share.device_index);
      // ggml-rpc names buffers by the device's number on its server and the endpoint.
      share.buffer = "RPC" + std::to_string(c.gpu->rpc_device) + "[" + c.gpu->endpoint + "]";
    } else {
      share.device = device_name(req.api, local++);
      share.buffer = share.device;
    }
    plan.gpu_layers += counts[j];
    plan.gpu_bytes += share.bytes;
    names.push_back(share.device);
    if (holds_output) {
      plan.output_device = names.back();
    }
    split.push_back(std::to_string(counts[j] + (holds_output ? 1 : 0)));
    plan.gpus.push_back(std::move(share));
  }
  std::uint64_t host = e.host_bytes();
  if (first > 0) { // the host computes the layers it holds
    host = host - std::min(host, e.compute_host) + std::max(e.compute_host, e.compute_host_partial);
  }
  for (std::size_t h = 0; h < first; ++h) {
    host = sat_add(host, e.layers[h].device_bytes());
  }
  plan.host_bytes = sat_add(plan.host_bytes, host);
  plan.host_mapped = mapped_weights(e, req, first);
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
Plan host_only_plan(const Estimate& e, const PlacementRequest& req) {
  Plan plan;
  plan.api = GpuApi::cpu;
  plan.host_layers = static_cast<int>(e.layers.size());
  plan.host_bytes = e.host_only_bytes();
  plan.host_mapped = req.mmap
                         ? sat_add(mapped_weights(e, req, e.layers.size()),
                                   e.output_weights - std::min(e.output_weights, e.tied_output))
                         : 0;
  plan.output_device = "none";
  plan.args = {"--device", "none", "-ngl", "0"};
  return plan;
}

// Candidates under the request's API and pins — the GPUs with a device under it, then the rpc
// devices — leaving out unified GPUs when `no_unified`; an error text when there are none.
std::expected<std::vector<Candidate>, std::string>
candidates(const Inventory& inv, const PlacementRequest& req, bool no_unified) {
  std::vector<Candidate> out;
  for (const std::string& pin : req.pins) {
    const Gpu* g = inv.find(pin);
    if (g == nullptr || g->kind == DeviceKind::host) {
      return std::unexpected("pinned GPU \"" + pin + "\" is not in the inventory");
    }
  }
  int position = 0;
  for (const Gpu& g : inv.gpus) {
    const bool pinned_out =
        !req.pins.empty() && std::find(req.pins.begin(), req.pins.end(), g.id) == req.pins.end();
    ++position;
    if (g.kind == DeviceKind::rpc && !pinned_out) {
      const int devices =
          static_cast<int>(std::count_if(inv.gpus.begin(), inv.gpus.end(), [&](const Gpu& o) {
            return o.kind == DeviceKind::rpc && o.endpoint == g.endpoint;
          }));
      out.push_back({&g, position, g.usable_bytes(), true, 1024 + position,
                     std::max(devices, g.rpc_device + 1)});
      continue;
    }
    const std::optional<int> ordinal = g.index_for(req.api);
    if (pinned_out || !ordinal || g.kind != DeviceKind::gpu || (no_unified && g.unified)) {
      continue;
    }
    // One device index, one card: two would be given twice the memory of one.
    for (const Candidate& c : out) {
      if (!c.remote && c.ordinal == *ordinal) {
        return std::unexpected("GPUs \"" + c.gpu->id + "\" and \"" + g.id + "\" both claim " +
                               std::string(config::to_string(req.api)) + " device " +
                               std::to_string(*ordinal));
      }
    }
    out.push_back({&g, *ordinal, g.usable_bytes(), false, *ordinal, 1});
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
    return a.usable != b.usable ? a.usable > b.usable : a.order < b.order;
  });
  all.resize(k);
  std::sort(all.begin(), all.end(),
            [](const Candidate& a, const Candidate& b) { return a.order < b.order; });
  const auto output =
      std::max_element(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
        return a.usable != b.usable ? a.usable < b.usable : a.order < b.order;
      });
  std::rotate(output, output + 1, all.end());
  return all;
}

// "2 GPUs", "1 GPU and 2 rpc devices", "1 rpc device".
std::string device_count(const std::vector<Candidate>& devs) {
  const auto remote = static_cast<std::size_t>(
      std::count_if(devs.begin(), devs.end(), [](const Candidate& c) { return c.remote; }));
  const std::size_t local = devs.size() - remote;
  const auto count = [](std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  if (remote == 0) {
    return count(local, "GPU");
  }
  return local == 0 ? count(remote, "rpc device")
                    : count(local, "GPU") + " and " + count(remote, "rpc device");
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
        sat_add(fixed_cost(e, output, j == 0, first > 0, devs[j].remote),
                static_cast<std::uint64_t>(share * static_cast<long double>(layers)));
    nf.needed = sat_add(nf.needed, need);
    nf.available = sat_add(nf.available, devs[j].usable);
    nf.per_gpu.push_back({devs[j].gpu->id, need, devs[j].usable});
  }
  nf.reason = why.empty() ? "needs " + human_bytes(nf.needed) + ", " + human_bytes(nf.available) +
                                " usable on " + device_count(devs)
                          : std::move(why);
  return nf;
}

// The smallest GPU the whole model fits on (leaving the big ones for big models).
std::optional<Candidate> best_single(const Estimate& e, const std::vector<Candidate>& all) {
  std::optional<Candidate> best;
  for (const Candidate& c : all) {
    const std::uint64_t need =
        c.remote ? e.single_gpu_bytes() - std::min(e.single_gpu_bytes(), e.gpu_overhead)
                 : e.single_gpu_bytes();
    if (c.usable >= need && (!best || c.usable < best->usable)) {
      best = c;
    }
  }
  return best;
}

// Every layer and the output on `devs`: the smallest one that holds it all, else the fewest,
// the largest first.
std::optional<Plan> place_whole(const Estimate& e, const PlacementRequest& req,
                                const std::vector<Candidate>& devs) {
  if (devs.empty()) {
    return std::nullopt;
  }
  if (std::optional<Candidate> one = best_single(e, devs)) {
    return make_plan(e, req, {*one}, {static_cast<int>(e.layers.size())}, 0);
  }
  for (std::size_t k = 2; k <= devs.size(); ++k) {
    const std::vector<Candidate> chosen = largest(devs, k);
    if (auto counts = split_layers(e, chosen, 0)) {
      return make_plan(e, req, chosen, *counts, 0);
    }
  }
  return std::nullopt;
}

// Charges host memory, when the inventory budgets it: the plan's host bytes and its shares on
// unified GPUs (their memory is the host's). Does not fit when host memory cannot hold them.
std::expected<Plan, NoFit> charge_host(Plan plan, const Inventory& inv) {
  const Gpu* host = inv.host();
  if (host == nullptr) {
    return plan;
  }
  std::uint64_t unified = 0;
  for (const GpuShare& s : plan.gpus) {
    const Gpu* g = inv.find(s.gpu);
    unified = sat_add(unified, g != nullptr && g->unified ? s.bytes : 0);
  }
  plan.host = host->id;
  plan.host_charge = sat_add(plan.host_bytes, unified);
  const std::uint64_t usable = host->usable_bytes();
  if (plan.host_charge <= usable) {
    return plan;
  }
  NoFit nf;
  nf.needed = plan.host_charge;
  nf.available = usable;
  nf.per_gpu.push_back({host->id, plan.host_charge, usable});
  nf.reason = "host memory: needs " + human_bytes(plan.host_charge) +
              (unified > 0 ? " (" + human_bytes(unified) + " of it on unified GPUs)" : "") + ", " +
              human_bytes(usable) + " usable";
  return std::unexpected(std::move(nf));
}

std::expected<Plan, NoFit> place_devices(const Estimate& est, const Inventory& inv,
                                         const PlacementRequest& req, bool no_unified);

} // namespace

std::vector<Charge> Plan::charges() const {
  std::vector<Charge> out;
  for (const GpuShare& s : gpus) {
    out.push_back({s.gpu, s.bytes, 0});
  }
  if (!host.empty()) {
    out.push_back({host, host_charge, std::min(host_mapped, host_charge)});
  }
  return out;
}

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
  auto plan = place_devices(est, inv, req, false);
  if (!plan) {
    return plan;
  }
  const bool on_unified = std::any_of(plan->gpus.begin(), plan->gpus.end(), [&](const auto& s) {
    const Gpu* g = inv.find(s.gpu);
    return g != nullptr && g->unified;
  });
  auto charged = charge_host(std::move(*plan), inv);
  if (charged || !on_unified) {
    return charged;
  }
  // Host memory is short with a unified GPU's share charged to it: without unified GPUs the
  // host may hold what remains.
  if (auto other = place_devices(est, inv, req, true)) {
    if (auto without = charge_host(std::move(*other), inv)) {
      return without;
    }
  }
  return charged;
}

namespace {

std::expected<Plan, NoFit> place_devices(const Estimate& est, const Inventory& inv,
                                         const PlacementRequest& req, bool no_unified) {
  if (req.n_layers_request == 0) {
    return host_only_plan(est, req);
  }
  auto all = candidates(inv, req, no_unified);
  if (!all) {
    if (req.api == GpuApi::cpu) { // the CPU preset, and no rpc device to offload to
      return host_only_plan(est, req);
    }
    NoFit nf;
    nf.reason = all.error();
    nf.needed = est.single_gpu_bytes();
    return std::unexpected(std::move(nf));
  }
  const std::size_t n_layer = est.layers.size();
  const bool everything =
      req.n_layers_request < 0 || static_cast<std::size_t>(req.n_layers_request) > n_layer;
  if (everything) {
    // Local GPUs alone when they hold it (no network on the way of every token), else the
    // fewest devices of all.
    std::vector<Candidate> local;
    std::copy_if(all->begin(), all->end(), std::back_inserter(local),
                 [](const Candidate& c) { return !c.remote; });
    if (auto plan = place_whole(est, req, local)) {
      return std::move(*plan);
    }
    if (local.size() < all->size()) {
      if (auto plan = place_whole(est, req, *all)) {
        return std::move(*plan);
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
    return std::unexpected(no_fit(
        est, largest(*all, n_gpus), n_layer - g,
        "-ngl " + std::to_string(req.n_layers_request) + " (" + std::to_string(g) +
            " repeating layers and the output layer) does not fit on " + device_count(*all)));
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

} // namespace

} // namespace ask::router
