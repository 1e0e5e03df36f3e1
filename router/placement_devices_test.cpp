// Placement beyond local GPUs: host memory charged with every plan's host bytes (and with the
// loads on unified GPUs), and llama.cpp rpc-server devices placed like GPUs.

#include "router/placement.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "config/testing.h"
#include "router/calibration.h"
#include "router/host_devices.h"
#include "router/server_args.h"
#include "router/testing.h"

namespace ask::router {
namespace {

using testkit::args_of;
using testkit::k_gib;
using testkit::k_mib;
using testkit::placement_gpu;

using config::GpuApi;

// `n` layers of 300 MiB weights + 100 MiB KV, round fixed costs and host buffers.
Estimate make_estimate(int n) {
  Estimate e;
  e.arch = "llama";
  e.layers.assign(static_cast<std::size_t>(n), LayerEstimate{300 * k_mib, 0, 100 * k_mib, 0});
  e.input_weights = 500 * k_mib;
  e.output_weights = 1 * k_gib;
  e.compute_output = 800 * k_mib;
  e.compute_partial = 800 * k_mib;
  e.compute_layer = 200 * k_mib;
  e.compute_host = 100 * k_mib;
  e.compute_host_partial = 300 * k_mib;
  e.compute_cpu = 900 * k_mib;
  e.output_buffer = 20 * k_mib;
  e.gpu_overhead = 300 * k_mib;
  return e;
}

// Host memory of which `usable` is usable (no reserve, no reading).
void add_host_of(Inventory& inv, std::uint64_t usable) {
  config::HostSpec spec;
  spec.memory = usable;
  spec.cap.fraction = 1.0;
  spec.reserve = 0;
  add_host(inv, spec, core::fail(core::Error::bad_request("unused")));
}

PlacementRequest request(GpuApi api, int ngl = -1, bool partial = false) {
  PlacementRequest r;
  r.api = api;
  r.n_layers_request = ngl;
  r.allow_partial = partial;
  return r;
}

TEST_CASE("place: host memory is charged the plan's host bytes, mapped weights marked") {
  Inventory inv;
  inv.gpus = {placement_gpu("g", GpuApi::cuda, 0, 24 * k_gib)};
  add_host_of(inv, 8 * k_gib);
  const Estimate e = make_estimate(32);
  const auto plan = place(e, inv, request(GpuApi::cuda));
  REQUIRE(plan.has_value());
  CHECK(plan->host == "host");
  CHECK(plan->host_bytes == e.host_bytes()); // 500 + 100 + 20 MiB
  CHECK(plan->host_charge == 620 * k_mib);
  CHECK(plan->host_mapped == 500 * k_mib); // the input embeddings, mapped from the file
  const std::vector<Charge> charges = plan->charges();
  REQUIRE(charges.size() == 2);
  CHECK(charges[0].device == "g");
  CHECK(charges[0].bytes == plan->gpus[0].bytes);
  CHECK(charges[1].device == "host");
  CHECK(charges[1].bytes == 620 * k_mib);
  CHECK(charges[1].unread == 500 * k_mib);

  PlacementRequest no_mmap = request(GpuApi::cuda);
  no_mmap.mmap = false;
  CHECK(place(e, inv, no_mmap)->host_mapped == 0);
}

TEST_CASE("place: without host memory in the inventory nothing is charged there") {
  Inventory inv;
  inv.gpus = {placement_gpu("g", GpuApi::cuda, 0, 24 * k_gib)};
  const auto plan = place(make_estimate(32), inv, request(GpuApi::cuda));
  REQUIRE(plan.has_value());
  CHECK(plan->host.empty());
  CHECK(plan->charges().size() == 1);
}

TEST_CASE("place: host memory too small for the host bytes: does not fit, naming the host") {
  Inventory inv;
  inv.gpus = {placement_gpu("g", GpuApi::cuda, 0, 24 * k_gib)};
  add_host_of(inv, 600 * k_mib);
  const auto plan = place(make_estimate(32), inv, request(GpuApi::cuda));
  REQUIRE_FALSE(plan.has_value());
  CHECK(plan.error().reason == "host memory: needs 620.0 MiB, 600.0 MiB usable");
  REQUIRE(plan.error().per_gpu.size() == 1);
  CHECK(plan.error().per_gpu[0].gpu == "host");
  CHECK(plan.error().per_gpu[0].needed == 620 * k_mib);
  CHECK(plan.error().per_gpu[0].available == 600 * k_mib);
}

TEST_CASE("place: a host-only load is charged everything - its weights are mapped") {
  Inventory inv;
  add_host_of(inv, 32 * k_gib);
  const Estimate e = make_estimate(32);
  const auto plan = place(e, inv, request(GpuApi::cpu));
  REQUIRE(plan.has_value());
  CHECK(plan->gpus.empty());
  CHECK(args_of(*plan) == "--device none -ngl 0");
  // input 500 + 32 × 400 + output 1024 + compute_cpu 900 + logits 20 MiB
  CHECK(plan->host_bytes == (500 + 32 * 400 + 1024 + 900 + 20) * k_mib);
  CHECK(plan->host_charge == plan->host_bytes);
  CHECK(plan->host_mapped == (500 + 32 * 300 + 1024) * k_mib); // KV is never mapped
  Inventory small;
  add_host_of(small, 10 * k_gib);
  const auto refused = place(e, small, request(GpuApi::cpu));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().reason.starts_with("host memory: needs 14.89 GiB, 10.00 GiB usable"));
}

TEST_CASE("place: a partial load charges the host the layers it keeps and their compute") {
  Inventory inv;
  inv.gpus = {placement_gpu("g", GpuApi::cuda, 0, 8 * k_gib)};
  add_host_of(inv, 32 * k_gib);
  const Estimate e = make_estimate(32);
  const auto plan = place(e, inv, request(GpuApi::cuda, -1, true));
  REQUIRE(plan.has_value());
  const auto kept = static_cast<std::uint64_t>(plan->host_layers);
  REQUIRE(kept > 0);
  // host buffers 620 MiB with compute_host 100 replaced by compute_host_partial 300
  CHECK(plan->host_bytes == (820 + kept * 400) * k_mib);
  CHECK(plan->host_mapped == (500 + kept * 300) * k_mib);
  Inventory short_host = inv;
  short_host.gpus.back().cap_bytes = (820 + kept * 400) * k_mib - 1;
  short_host.gpus.back().total_bytes = short_host.gpus.back().cap_bytes;
  CHECK_FALSE(place(e, short_host, request(GpuApi::cuda, -1, true)).has_value());
}

TEST_CASE("place: -nkvo charges the host the KV cache of the offloaded layers") {
  Inventory inv;
  inv.gpus = {placement_gpu("g", GpuApi::cuda, 0, 24 * k_gib)};
  add_host_of(inv, 32 * k_gib);
  PlacementRequest r = request(GpuApi::cuda);
  r.kv_offload = false;
  const auto plan = place(make_estimate(32), inv, r);
  REQUIRE(plan.has_value());
  CHECK(plan->host_bytes == (620 + 32 * 100) * k_mib);
}

TEST_CASE("place: a unified GPU's share is charged to host memory too") {
  Inventory inv;
  inv.gpus = {placement_gpu("apu", GpuApi::vulkan, 0, 24 * k_gib),
              placement_gpu("dgpu", GpuApi::vulkan, 1, 32 * k_gib)};
  inv.gpus[0].unified = true;
  add_host_of(inv, 40 * k_gib);
  const Estimate e = make_estimate(32);
  const auto plan = place(e, inv, request(GpuApi::vulkan));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 1);
  CHECK(plan->gpus[0].gpu == "apu"); // the smallest that holds it
  CHECK(plan->host_charge == plan->host_bytes + plan->gpus[0].bytes);
  const std::vector<Charge> charges = plan->charges();
  REQUIRE(charges.size() == 2);
  CHECK(charges[0].device == "apu");
  CHECK(charges[1].device == "host");
  CHECK(charges[1].bytes == plan->host_charge);

  // Host memory cannot take the APU's share as well: the discrete GPU takes the model.
  Inventory tight = inv;
  tight.gpus.back().cap_bytes = 10 * k_gib;
  tight.gpus.back().total_bytes = 10 * k_gib;
  const auto moved = place(e, tight, request(GpuApi::vulkan));
  REQUIRE(moved.has_value());
  CHECK(moved->gpus[0].gpu == "dgpu");
  CHECK(moved->host_charge == moved->host_bytes);

  // With the APU alone, it does not fit, and the reason says why.
  Inventory alone = tight;
  alone.gpus.erase(alone.gpus.begin() + 1);
  const auto refused = place(e, alone, request(GpuApi::vulkan));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().reason.find("of it on unified GPUs") != std::string::npos);
  CHECK(refused.error().per_gpu[0].gpu == "host");
}

TEST_CASE("place: declared devices: a unified APU and host memory from the config") {
  const auto loaded = config::testing::parse(R"({"gpus": {"probe": false,
      "devices": [{"id": "apu", "vendor": "amd", "vram": "24GiB", "cap": "100%", "reserve": 0,
                   "unified": true, "backend_index": {"vulkan": 0}},
                  {"id": "mac", "vendor": "apple", "vram": "24GiB", "backend_index": {"metal": 0}}],
      "host": {"memory": "32GiB", "cap": "20GiB", "reserve": 0}}})");
  REQUIRE(loaded.has_value());
  const config::GpuConfig& gpus = loaded->config.gpus;
  Inventory inv = merge({}, gpus);
  add_rpc_devices(inv, gpus.rpc);
  add_host(inv, gpus.host, core::fail(core::Error::bad_request("not read")));
  REQUIRE(inv.find("apu") != nullptr);
  CHECK(inv.find("apu")->unified);
  CHECK(inv.find("mac")->unified); // Apple silicon has no other memory
  REQUIRE(inv.host() != nullptr);
  CHECK(inv.host()->usable_bytes() == 20 * k_gib);

  // 14.6 GiB on the APU, and so 14.6 GiB (and the host buffers) of the host's 20.
  const Estimate e = make_estimate(32);
  const auto plan = place(e, inv, request(GpuApi::vulkan));
  REQUIRE(plan.has_value());
  CHECK(plan->gpus[0].gpu == "apu");
  CHECK(plan->host_charge == plan->gpus[0].bytes + plan->host_bytes);
  // 20.9 GiB fits the APU's 24 GiB, but not host memory's 20 GiB cap.
  const auto bigger = place(make_estimate(48), inv, request(GpuApi::vulkan));
  REQUIRE_FALSE(bigger.has_value());
  CHECK(bigger.error().reason.starts_with("host memory: needs "));
}

Inventory rpc_rig(const std::vector<config::RpcSpec>& rpc) {
  Inventory inv;
  add_rpc_devices(inv, rpc);
  return inv;
}

TEST_CASE("place: a model local GPUs hold stays local, rpc devices or not") {
  Inventory inv = rpc_rig({{"box", "", "10.0.0.2:50052", 0, 64 * k_gib}});
  inv.gpus.insert(inv.gpus.begin(), placement_gpu("g", GpuApi::cuda, 0, 24 * k_gib));
  const auto plan = place(make_estimate(32), inv, request(GpuApi::cuda));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 1);
  CHECK(plan->gpus[0].gpu == "g");
  CHECK(plan->gpus[0].device == "CUDA0");
  CHECK(plan->gpus[0].buffer == "CUDA0");
  CHECK_FALSE(plan->gpus[0].remote);
  CHECK(plan->rpc.empty());
}

TEST_CASE("place: on the CPU preset an rpc device takes the model, without driver overhead") {
  Inventory inv = rpc_rig({{"box", "", "10.0.0.2:50052", 0, 16 * k_gib},
                           {"box2", "", "10.0.0.3:50052", 0, 16 * k_gib}});
  add_host_of(inv, 16 * k_gib);
  const Estimate e = make_estimate(32);
  const auto plan = place(e, inv, request(GpuApi::cpu));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 1);
  const GpuShare& s = plan->gpus[0];
  CHECK(s.gpu == "box");
  CHECK(s.remote);
  CHECK(s.device == "RPC0");
  CHECK(s.buffer == "RPC0[10.0.0.2:50052]");
  CHECK(s.bytes == e.single_gpu_bytes() - e.gpu_overhead);
  CHECK(plan->rpc == std::vector<std::string>{"10.0.0.2:50052"});
  CHECK(args_of(*plan) == "--device RPC0 -ngl 33");
  CHECK(plan->env.empty());
  CHECK(plan->output_device == "RPC0");
  CHECK(plan->host_charge == plan->host_bytes); // an rpc device's memory is not this host's

  // n_gpu_layers 0 keeps everything here even with rpc devices.
  const auto local = place(e, inv, request(GpuApi::cpu, 0));
  REQUIRE(local.has_value());
  CHECK(local->gpus.empty());
  CHECK(args_of(*local) == "--device none -ngl 0");
  CHECK(local->rpc.empty());
}

TEST_CASE("place: a model no device holds alone is split over the fewest rpc devices") {
  Inventory inv = rpc_rig({{"box", "", "10.0.0.2:50052", 0, 16 * k_gib},
                           {"box2", "", "10.0.0.3:50052", 0, 16 * k_gib}});
  inv.gpus.insert(inv.gpus.begin(), placement_gpu("g", GpuApi::cuda, 0, 8 * k_gib));
  const Estimate e = make_estimate(64); // 25 GiB of layers
  const auto plan = place(e, inv, request(GpuApi::cuda));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 2);
  CHECK(plan->gpus[0].gpu == "box");
  CHECK(plan->gpus[1].gpu == "box2");
  CHECK(plan->gpus[1].output);
  CHECK(plan->gpus[0].device == "RPC0");
  CHECK(plan->gpus[1].device == "RPC1");
  CHECK(plan->gpus[1].buffer == "RPC0[10.0.0.3:50052]"); // each server's device 0
  CHECK(plan->rpc == std::vector<std::string>{"10.0.0.2:50052", "10.0.0.3:50052"});
  CHECK(plan->gpus[0].layers + plan->gpus[1].layers == 64);
  // No overhead on either: box pays compute_layer only, box2 the output's costs.
  CHECK(plan->gpus[0].bytes ==
        (200 + 400 * static_cast<std::uint64_t>(plan->gpus[0].layers)) * k_mib);
  CHECK(plan->gpus[1].bytes ==
        (800 + 1024 + 400 * static_cast<std::uint64_t>(plan->gpus[1].layers)) * k_mib);
  const std::string split =
      std::to_string(plan->gpus[0].layers) + "," + std::to_string(plan->gpus[1].layers + 1);
  CHECK(args_of(*plan) == "--device RPC0,RPC1 -ngl 65 --split-mode layer --tensor-split " + split);
  CHECK(plan->env.empty()); // no local GPU: nothing to make visible
}

TEST_CASE("place: local GPUs and rpc devices together - the visibility covers the local ones") {
  Inventory inv = rpc_rig({{"box", "", "10.0.0.2:50052", 0, 16 * k_gib}});
  inv.gpus.insert(inv.gpus.begin(), placement_gpu("g", GpuApi::cuda, 3, 16 * k_gib, "GPU-aaaa"));
  const auto plan = place(make_estimate(64), inv, request(GpuApi::cuda));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 2);
  CHECK(plan->gpus[0].device == "CUDA0");
  CHECK(plan->gpus[0].bytes >= 300 * k_mib); // a local GPU pays the driver's overhead
  CHECK(plan->gpus[1].device == "RPC0");     // equal room: the later device takes the output
  CHECK(args_of(*plan).starts_with("--device CUDA0,RPC0 -ngl 65 --split-mode layer"));
  CHECK(plan->rpc == std::vector<std::string>{"10.0.0.2:50052"});
  REQUIRE(plan->env.size() == 2);
  CHECK(plan->env[1] == std::pair<std::string, std::string>{"CUDA_VISIBLE_DEVICES", "GPU-aaaa"});
}

TEST_CASE("place: rpc numbers count every device of the servers listed before") {
  // Server A lists two devices: llama.cpp registers both, so B's device 0 is RPC2.
  Inventory inv = rpc_rig({{"a0", "", "a:50052", 0, 1 * k_gib},
                           {"a1", "", "a:50052", 1, 16 * k_gib},
                           {"b0", "", "b:50052", 0, 16 * k_gib}});
  const auto plan = place(make_estimate(64), inv, request(GpuApi::cpu));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 2);
  CHECK(plan->gpus[0].gpu == "a1");
  CHECK(plan->gpus[0].device == "RPC1");
  CHECK(plan->gpus[0].buffer == "RPC1[a:50052]");
  CHECK(plan->gpus[1].gpu == "b0");
  CHECK(plan->gpus[1].device == "RPC2");
  CHECK(plan->gpus[1].buffer == "RPC0[b:50052]");
  CHECK(plan->rpc == std::vector<std::string>{"a:50052", "b:50052"});
}

TEST_CASE("place: pins select rpc devices too - host memory cannot be pinned") {
  Inventory inv = rpc_rig({{"box", "", "10.0.0.2:50052", 0, 16 * k_gib},
                           {"box2", "", "10.0.0.3:50052", 0, 24 * k_gib}});
  add_host_of(inv, 32 * k_gib);
  PlacementRequest r = request(GpuApi::cpu);
  r.pins = {"box2"};
  const auto plan = place(make_estimate(32), inv, r);
  REQUIRE(plan.has_value());
  CHECK(plan->gpus[0].gpu == "box2");
  CHECK(plan->gpus[0].device == "RPC0"); // only its server is given to --rpc
  CHECK(plan->rpc == std::vector<std::string>{"10.0.0.3:50052"});
  PlacementRequest pinned_host = request(GpuApi::cuda);
  pinned_host.pins = {"host"};
  const auto refused = place(make_estimate(32), inv, pinned_host);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().reason == "pinned GPU \"host\" is not in the inventory");
}

TEST_CASE("place: rpc buffer names are the ones a real llama-server logs (b10587, two servers)") {
  // The recorded run had the split this plan prints: 17 layers, then 15 and the output.
  std::ifstream in(std::filesystem::path(ASK_SOURCE_DIR) /
                   "tests/fixtures/llama-server/startup-llama-3.1-8b-rpc2.log");
  const std::string log{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const Calibration cal = parse_startup_log(log);
  Inventory inv = rpc_rig({{"rpc0", "", "127.0.0.1:50152", 0, 8 * k_gib},
                           {"rpc1", "", "127.0.0.1:50153", 0, 8 * k_gib}});
  const auto plan = place(make_estimate(32), inv, request(GpuApi::cpu));
  REQUIRE(plan.has_value());
  REQUIRE(plan->gpus.size() == 2);
  const DeviceBuffers* first = cal.find(plan->gpus[0].buffer);
  const DeviceBuffers* second = cal.find(plan->gpus[1].buffer);
  REQUIRE(first != nullptr);
  REQUIRE(second != nullptr);
  CHECK(first->kv == 272 * k_mib); // 17 layers × 16 MiB
  CHECK(second->kv == 240 * k_mib);
  CHECK_FALSE(first->is_host());
  CHECK(cal.host_total() == cal.find("CPU_Mapped")->model + cal.find("CPU")->total());
  CHECK(cal.gpu_total() == first->total() + second->total());
}

TEST_CASE("server_args: --rpc comes before every argument that names an rpc device") {
  Inventory inv = rpc_rig({{"box", "", "10.0.0.2:50052", 0, 16 * k_gib},
                           {"box2", "", "10.0.0.3:50052", 0, 16 * k_gib}});
  const Estimate e = make_estimate(64);
  const auto plan = place(e, inv, request(GpuApi::cpu));
  REQUIRE(plan.has_value());
  EstimateInput in;
  const auto args = server_args({"/m.gguf", "/draft.gguf", "/mmproj.gguf"}, in, e, *plan);
  const auto at = [&](std::string_view a) {
    return std::find(args.begin(), args.end(), a) - args.begin();
  };
  REQUIRE(at("--rpc") < static_cast<std::ptrdiff_t>(args.size()));
  CHECK(args[static_cast<std::size_t>(at("--rpc")) + 1] == "10.0.0.2:50052,10.0.0.3:50052");
  CHECK(at("--rpc") == 2); // right after -m MODEL
  CHECK(at("--rpc") < at("-devd"));
  CHECK(at("--rpc") < at("-mmdev"));
  CHECK(at("--rpc") < at("--device"));
  CHECK(args[static_cast<std::size_t>(at("-devd")) + 1] == "RPC1");
}

} // namespace
} // namespace ask::router
