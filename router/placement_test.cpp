#include "router/placement.h"
#include "router/testing.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <sstream>

namespace ask::router {
namespace {

using testkit::args_of;
using testkit::k_gib;
using testkit::k_mib;
using testkit::placement_gpu;

using config::GpuApi;

// An estimate with `n` equal layers and round fixed costs.
Estimate make_estimate(int n, std::uint64_t layer, std::uint64_t output = 1 * k_gib) {
  Estimate e;
  e.arch = "llama";
  e.layers.assign(static_cast<std::size_t>(n), LayerEstimate{layer, 0, 0, 0});
  e.input_weights = 500 * k_mib;
  e.output_weights = output;
  e.compute_output = 800 * k_mib;
  e.compute_layer = 200 * k_mib;
  e.gpu_overhead = 300 * k_mib;
  return e;
}

std::string env_of(const Plan& p, const std::string& name) {
  for (const auto& [k, v] : p.env) {
    if (k == name) {
      return v;
    }
  }
  return "<unset>";
}

// llama.cpp's own layer → device rule (llama-model.cpp load_tensors), to check that the
// --tensor-split we print reproduces our plan.
std::vector<int> llama_cpp_assignment(int n_layer, int n_gpu_layers,
                                      const std::vector<float>& tensor_split) {
  const int i_gpu_start = std::max(n_layer + 1 - n_gpu_layers, 0);
  const int act_gpu_layers = std::min(n_gpu_layers, n_layer + 1);
  std::vector<float> splits(tensor_split.size());
  float sum = 0;
  for (std::size_t i = 0; i < splits.size(); ++i) {
    sum += tensor_split[i];
    splits[i] = sum;
  }
  for (float& s : splits) {
    s /= sum;
  }
  std::vector<int> counts(tensor_split.size(), 0);
  for (int il = 0; il < n_layer; ++il) {
    if (il < i_gpu_start || il - i_gpu_start >= act_gpu_layers) {
      continue;
    }
    const auto at = std::upper_bound(splits.begin(), splits.end(),
                                     float(il - i_gpu_start) / float(act_gpu_layers));
    ++counts[static_cast<std::size_t>(at - splits.begin())];
  }
  return counts;
}

TEST_CASE("place: a model that fits on one GPU goes on the smallest one it fits") {
  Inventory inv;
  inv.gpus = {placement_gpu("big", GpuApi::cuda, 0, 48 * k_gib, "GPU-aaaa"),
              placement_gpu("mid", GpuApi::cuda, 1, 24 * k_gib, "GPU-bbbb"),
              placement_gpu("small", GpuApi::cuda, 2, 8 * k_gib, "GPU-cccc")};
  const Estimate e = make_estimate(32, 400 * k_mib); // 12.5 + 1 + 0.8 + 0.3 GiB
  const auto plan = place(e, inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 1);
  CHECK(plan->gpus[0].gpu == "mid");
  CHECK(plan->gpus[0].layers == 32);
  CHECK(plan->gpus[0].output);
  CHECK(plan->gpus[0].bytes == e.single_gpu_bytes());
  CHECK(plan->host_layers == 0);
  CHECK(args_of(*plan) == "--device CUDA0 -ngl 33");
  CHECK(env_of(*plan, "CUDA_VISIBLE_DEVICES") == "GPU-bbbb");
  CHECK(env_of(*plan, "CUDA_DEVICE_ORDER") == "PCI_BUS_ID");
}

TEST_CASE("place: too big for any one GPU, split over the fewest, in proportion to room") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::rocm, 0, 16 * k_gib),
              placement_gpu("b", GpuApi::rocm, 1, 32 * k_gib),
              placement_gpu("c", GpuApi::rocm, 2, 32 * k_gib),
              placement_gpu("d", GpuApi::rocm, 3, 8 * k_gib)};
  // 80 layers of 512 MiB = 40 GiB: needs two of the 32 GiB cards, not the 16 or the 8.
  const Estimate e = make_estimate(80, 512 * k_mib);
  const auto plan = place(e, inv, {GpuApi::rocm, {}, false, -1});
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 2);
  // The output goes to the last device listed; of the two equal cards the higher ordinal.
  CHECK(plan->gpus[0].gpu == "b");
  CHECK(plan->gpus[1].gpu == "c");
  CHECK(plan->gpus[1].output);
  CHECK(plan->gpus[0].layers + plan->gpus[1].layers == 80);
  // Room after fixed costs: 32 GiB − 0.5 GiB on b, 32 − 2.1 GiB on c: b takes more layers.
  CHECK(plan->gpus[0].layers == 41);
  CHECK(plan->gpus[1].layers == 39);
  for (const GpuShare& s : plan->gpus) {
    CHECK(s.bytes <= s.available);
  }
  CHECK(args_of(*plan) == "--device ROCm0,ROCm1 -ngl 81 --split-mode layer --tensor-split 41,40");
  CHECK(env_of(*plan, "HIP_VISIBLE_DEVICES") == "1,2");
  // Each GPU pays its compute buffer and overhead; the output GPU the bigger one.
  CHECK(plan->gpus[0].bytes == 41 * 512 * k_mib + 200 * k_mib + 300 * k_mib);
  CHECK(plan->gpus[1].bytes == 39 * 512 * k_mib + 800 * k_mib + 300 * k_mib + 1 * k_gib);
}

TEST_CASE("place: the printed --tensor-split makes llama.cpp assign exactly the planned layers") {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    const int n_layer = std::uniform_int_distribution<int>(4, 120)(rng);
    Estimate e = make_estimate(n_layer, 0);
    for (LayerEstimate& l : e.layers) {
      l.weights = std::uniform_int_distribution<std::uint64_t>(100, 900)(rng) * k_mib;
    }
    Inventory inv;
    const int n_gpu = std::uniform_int_distribution<int>(2, 5)(rng);
    for (int i = 0; i < n_gpu; ++i) {
      const std::uint64_t free = std::uniform_int_distribution<std::uint64_t>(4, 48)(rng) * k_gib;
      inv.gpus.push_back(placement_gpu("g" + std::to_string(i), GpuApi::vulkan, i, free));
    }
    const auto plan = place(e, inv, {GpuApi::vulkan, {}, true, -1});
    if (!plan || plan->gpus.size() < 2) {
      continue;
    }
    std::vector<float> ts;
    std::vector<int> want;
    const std::string split = plan->args[plan->args.size() - 1];
    std::stringstream in(split);
    for (std::string part; std::getline(in, part, ',');) {
      ts.push_back(std::stof(part));
    }
    for (const GpuShare& s : plan->gpus) {
      want.push_back(s.layers);
    }
    const int ngl = std::stoi(plan->args[3]);
    CAPTURE(round);
    CAPTURE(split);
    CHECK(llama_cpp_assignment(n_layer, ngl, ts) == want);
  }
}

TEST_CASE("place: does not fit gives the shortfall per GPU - partial offload when allowed") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, 12 * k_gib),
              placement_gpu("b", GpuApi::cuda, 1, 12 * k_gib)};
  const Estimate e = make_estimate(64, 512 * k_mib); // 32 GiB of layers
  const auto nofit = place(e, inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE_FALSE(nofit.has_value());
  CHECK(nofit.error().available == 24 * k_gib);
  CHECK(nofit.error().needed > nofit.error().available);
  REQUIRE(nofit.error().per_gpu.size() == 2);
  for (const Shortfall& s : nofit.error().per_gpu) {
    CHECK(s.needed > s.available);
  }
  CHECK(nofit.error().reason.find("usable on 2 GPUs") != std::string::npos);

  const auto partial = place(e, inv, {GpuApi::cuda, {}, true, -1});
  REQUIRE(partial.has_value());
  CHECK(partial->host_layers > 0);
  CHECK(partial->gpu_layers + partial->host_layers == 64);
  // llama.cpp offloads the output layer first: room (12 − 0.5) + (12 − 2.1) GiB = 21.4 GiB
  // holds 42 layers of 512 MiB, so -ngl 43 (the output counts as one).
  CHECK(partial->gpu_layers == 42);
  CHECK(partial->host_bytes > 22 * 512 * k_mib);
  CHECK(partial->gpus.back().output);
  for (const GpuShare& s : partial->gpus) {
    CHECK(s.bytes <= s.available);
  }
  CHECK(args_of(*partial).starts_with("--device CUDA0,CUDA1 -ngl 43 "));
}

TEST_CASE("place: pins restrict the GPUs - an unknown pin is a clear error") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::vulkan, 0, 24 * k_gib),
              placement_gpu("b", GpuApi::vulkan, 1, 16 * k_gib)};
  const Estimate e = make_estimate(32, 300 * k_mib);
  const auto pinned = place(e, inv, {GpuApi::vulkan, {"a"}, false, -1});
  REQUIRE(pinned.has_value());
  CHECK(pinned->gpus[0].gpu == "a");
  CHECK(env_of(*pinned, "GGML_VK_VISIBLE_DEVICES") == "0");
  const auto unknown = place(e, inv, {GpuApi::vulkan, {"zz"}, false, -1});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().reason == "pinned GPU \"zz\" is not in the inventory");
}

TEST_CASE("place: only GPUs with a device index under the preset's API are used") {
  Inventory inv;
  inv.gpus = {placement_gpu("nv", GpuApi::cuda, 0, 24 * k_gib),
              placement_gpu("amd", GpuApi::rocm, 0, 32 * k_gib)};
  inv.gpus[0].index.emplace_back(GpuApi::vulkan, 1);
  const Estimate e = make_estimate(32, 300 * k_mib);
  const auto vk = place(e, inv, {GpuApi::vulkan, {}, false, -1});
  REQUIRE(vk.has_value());
  CHECK(vk->gpus[0].gpu == "nv");
  CHECK(vk->gpus[0].device_index == 1);
  CHECK(env_of(*vk, "GGML_VK_VISIBLE_DEVICES") == "1");
  const auto sycl = place(e, inv, {GpuApi::sycl, {}, false, -1});
  REQUIRE_FALSE(sycl.has_value());
  CHECK(sycl.error().reason == "no GPU has a sycl device");
}

TEST_CASE("place: two GPUs claiming one device index are refused, not doubled") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, 24 * k_gib),
              placement_gpu("b", GpuApi::cuda, 0, 24 * k_gib)};
  const auto plan = place(make_estimate(80, 512 * k_mib), inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE_FALSE(plan.has_value());
  CHECK(plan.error().reason == "GPUs \"a\" and \"b\" both claim cuda device 0");
}

TEST_CASE("place: the cpu backend and n_gpu_layers 0 keep everything in host memory") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, 24 * k_gib)};
  const Estimate e = make_estimate(16, 100 * k_mib);
  for (const PlacementRequest& req :
       {PlacementRequest{GpuApi::cpu, {}, false, -1}, PlacementRequest{GpuApi::cuda, {}, false, 0}}) {
    const auto plan = place(e, inv, req);
    REQUIRE(plan.has_value());
    CHECK(plan->gpus.empty());
    CHECK(plan->host_layers == 16);
    CHECK(args_of(*plan) == "--device none -ngl 0");
  }
}

TEST_CASE("place: an explicit n_gpu_layers N puts the output and the last N-1 layers on GPU") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, 24 * k_gib)};
  const Estimate e = make_estimate(32, 100 * k_mib);
  const auto plan = place(e, inv, {GpuApi::cuda, {}, false, 10});
  REQUIRE(plan.has_value());
  CHECK(plan->gpu_layers == 9);
  CHECK(plan->host_layers == 23);
  CHECK(plan->gpus[0].output);
  CHECK(args_of(*plan) == "--device CUDA0 -ngl 10");
}

TEST_CASE("place: equal cards keep their order, the last one holding the output") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, 16 * k_gib),
              placement_gpu("b", GpuApi::cuda, 1, 16 * k_gib)};
  const auto plan = place(make_estimate(40, 512 * k_mib), inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 2);
  CHECK(plan->gpus[1].gpu == "b");
  CHECK(plan->gpus[1].output);
  CHECK(env_of(*plan, "CUDA_VISIBLE_DEVICES") == "0,1");
  CHECK(plan->output_device == "CUDA1");
  // Three equal cards, two needed: the first two, in order.
  inv.gpus.push_back(placement_gpu("c", GpuApi::cuda, 2, 16 * k_gib));
  const auto two_of_three =
      place(make_estimate(40, 512 * k_mib), inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE(two_of_three.has_value());
  CHECK(env_of(*two_of_three, "CUDA_VISIBLE_DEVICES") == "0,1");
  // A bigger card later in order takes the output and goes last.
  inv.gpus[2].free_bytes = inv.gpus[2].cap_bytes = inv.gpus[2].total_bytes = 20 * k_gib;
  const auto bigger = place(make_estimate(60, 512 * k_mib), inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE(bigger.has_value());
  CHECK(env_of(*bigger, "CUDA_VISIBLE_DEVICES") == "0,2");
  CHECK(bigger->gpus.back().gpu == "c");
}

TEST_CASE("place: partial offload leaves out a card too small for its own compute buffer") {
  Inventory inv;
  // 0.4 GiB cannot pay 300 MiB overhead + 200 MiB compute buffer: before, it sank the plan.
  inv.gpus = {placement_gpu("tiny", GpuApi::cuda, 0, 400 * k_mib),
              placement_gpu("big", GpuApi::cuda, 1, 12 * k_gib)};
  const Estimate e = make_estimate(64, 512 * k_mib);
  const auto plan = place(e, inv, {GpuApi::cuda, {}, true, -1});
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 1);
  CHECK(plan->gpus[0].gpu == "big");
  // (12 GiB − 1 GiB output − 800 MiB compute − 300 MiB overhead) / 512 MiB = 19 layers.
  CHECK(plan->gpu_layers == 19);
  CHECK(args_of(*plan) == "--device CUDA0 -ngl 20");
  CHECK(env_of(*plan, "CUDA_VISIBLE_DEVICES") == "1");
}

TEST_CASE("place: partial offload of a 4096-layer model over 16 cards finds the best quickly") {
  Inventory inv;
  for (int i = 0; i < 16; ++i) {
    inv.gpus.push_back(
        placement_gpu("g" + std::to_string(i), GpuApi::vulkan, i, (4 + i % 3) * k_gib));
  }
  const Estimate e = make_estimate(4096, 64 * k_mib); // 256 GiB: never fits
  const auto plan = place(e, inv, {GpuApi::vulkan, {}, true, -1});
  REQUIRE(plan.has_value());
  CHECK(plan->gpus.size() == 16);
  std::uint64_t room = 0;
  for (const GpuShare& s : plan->gpus) {
    CHECK(s.bytes <= s.available);
    room += s.available - s.bytes;
  }
  CHECK(room < 16 * 64 * k_mib); // no card could take one more layer
}

TEST_CASE("place: partial offload prefers more layers on GPUs, then fewer GPUs") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::vulkan, 0, 8 * k_gib),
              placement_gpu("b", GpuApi::vulkan, 1, 8 * k_gib),
              placement_gpu("c", GpuApi::vulkan, 2, 8 * k_gib)};
  const Estimate e = make_estimate(100, 512 * k_mib); // 50 GiB: never fits on 24 GiB
  const auto plan = place(e, inv, {GpuApi::vulkan, {}, true, -1});
  REQUIRE(plan.has_value());
  CHECK(plan->gpus.size() == 3);
  // (8 − 0.5) × 2 + (8 − 2.1) GiB = 20.9 GiB of room: 41 layers of 512 MiB.
  CHECK(plan->gpu_layers == 41);
  CHECK(plan->host_layers == 59);
}

TEST_CASE("place: an explicit n_gpu_layers uses the fewest GPUs that hold them") {
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, 12 * k_gib),
              placement_gpu("b", GpuApi::cuda, 1, 12 * k_gib)};
  const Estimate e = make_estimate(64, 512 * k_mib);
  const auto one = place(e, inv, {GpuApi::cuda, {}, false, 11}); // 10 layers: one card
  REQUIRE(one.has_value());
  CHECK(one->gpus.size() == 1);
  CHECK(one->gpu_layers == 10);
  CHECK(args_of(*one) == "--device CUDA0 -ngl 11");
  const auto two = place(e, inv, {GpuApi::cuda, {}, false, 31}); // 30 layers: both
  REQUIRE(two.has_value());
  CHECK(two->gpus.size() == 2);
  CHECK(two->gpu_layers == 30);
  const auto none = place(e, inv, {GpuApi::cuda, {}, false, 61});
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().reason ==
        "-ngl 61 (60 repeating layers and the output layer) does not fit on 2 GPUs");
  // The shortfall is of what was asked: 60 layers of 512 MiB and the fixed costs.
  CHECK(none.error().needed == 60 * 512 * k_mib + (300 + 200) * k_mib + (300 + 800 + 1024) * k_mib);
}

TEST_CASE("place: sums past 2^64 saturate instead of wrapping into a fit") {
  constexpr std::uint64_t k_half = std::uint64_t{1} << 63;
  Inventory inv;
  inv.gpus = {placement_gpu("a", GpuApi::cuda, 0, k_half), placement_gpu("b", GpuApi::cuda, 1, k_half)};
  Estimate e = make_estimate(8, k_half / 2);
  e.output_weights = k_half;
  e.compute_output = k_half;
  const auto plan = place(e, inv, {GpuApi::cuda, {}, false, -1});
  REQUIRE_FALSE(plan.has_value());
  CHECK(plan.error().available == std::numeric_limits<std::uint64_t>::max());
  CHECK(plan.error().needed == std::numeric_limits<std::uint64_t>::max());
  const auto partial = place(e, inv, {GpuApi::cuda, {}, true, -1});
  REQUIRE_FALSE(partial.has_value());
  CHECK(partial.error().reason.starts_with("not even the output layer fits"));
  REQUIRE(partial.error().per_gpu.size() == 1); // the largest card, against the output's cost
  CHECK(partial.error().per_gpu[0].needed == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("place: on the CPU the host holds everything once") {
  Estimate e = make_estimate(4, 100 * k_mib);
  e.layers[0].host_weights = 7 * k_mib;
  e.tied_output = 400 * k_mib; // shares the mapped token_embd on the CPU
  e.compute_host = 50 * k_mib; // only made beside a GPU
  e.compute_cpu = 700 * k_mib; // the whole graph on the CPU
  e.output_buffer = 3 * k_mib;
  e.draft = 60 * k_mib;
  e.projector = 90 * k_mib;
  const auto plan = place(e, Inventory{}, {GpuApi::cpu, {}, false, -1});
  REQUIRE(plan.has_value());
  CHECK(plan->host_bytes == 500 * k_mib + 400 * k_mib + 7 * k_mib + (1024 - 400) * k_mib +
                                700 * k_mib + 3 * k_mib + 60 * k_mib + 90 * k_mib);
  CHECK(plan->output_device == "none");
}

TEST_CASE("human_bytes: MiB below a GiB, GiB above") {
  CHECK(human_bytes(0) == "0.0 MiB");
  CHECK(human_bytes(812 * k_mib) == "812.0 MiB");
  CHECK(human_bytes(41 * k_gib + 256 * k_mib) == "41.25 GiB");
}

TEST_CASE("device_name: llama.cpp's device names per API") {
  CHECK(device_name(GpuApi::cuda, 1) == "CUDA1");
  CHECK(device_name(GpuApi::rocm, 0) == "ROCm0");
  CHECK(device_name(GpuApi::vulkan, 3) == "Vulkan3");
  CHECK(device_name(GpuApi::sycl, 0) == "SYCL0");
}

} // namespace
} // namespace ask::router
