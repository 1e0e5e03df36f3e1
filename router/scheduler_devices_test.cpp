// The scheduler's budget beyond GPUs: host memory (CPU models, loads on unified GPUs, mapped
// weights a MemAvailable reading never shows as used) and rpc-server devices, kept by the same
// rules as a GPU's: admission within min(accounting, reading − reserve), eviction when short.

#include "router/host_devices.h"
#include "router/scheduler_test_fixture.h"

namespace ask::router::sched_test {
namespace {

// Host memory of `cap_gib`, declared (no reading until set_reading), with `reserve_gib` kept.
Gpu host_of(std::uint64_t cap_gib, std::uint64_t reserve_gib = 0) {
  Inventory inv;
  config::HostSpec spec;
  spec.memory = cap_gib * k_gib;
  spec.cap.fraction = 1.0;
  spec.reserve = reserve_gib * k_gib;
  add_host(inv, spec, core::fail(core::Error::bad_request("unused")));
  return inv.gpus.front();
}

// A model on the CPU preset: everything in host memory; `mapped` keeps its weights mapped.
ModelSpec cpu_model(std::string name, std::uint64_t gib, bool mapped = false) {
  ModelSpec m = model(std::move(name), gib);
  m.placement.api = GpuApi::cpu;
  m.placement.mmap = mapped;
  return m;
}

std::uint64_t host_view(Scheduler& s, std::uint64_t GpuView::*field) {
  for (const GpuView& g : s.gpus()) {
    if (g.kind == DeviceKind::host) {
      return g.*field;
    }
  }
  FAIL("no host memory in the view");
  return 0;
}

TEST_CASE(
    "Scheduler: host memory is budgeted: a CPU model evicts an idle one it cannot sit beside") {
  Fixture f;
  f.make({host_of(12)}, {cpu_model("a", 8), cpu_model("b", 8)});
  const InstanceId a = f.warm("a");
  CHECK(host_view(f.s(), &GpuView::ours) == 8 * k_gib);
  CHECK(f.spawner.starts[0].plan.host_charge == 8 * k_gib);
  const RequestId r = f.s().submit("b");
  CHECK(is_waiting(f.s().outcome(r)));
  CHECK(f.state(a) == InstanceState::stopping);
  CHECK(has_event(f.s().take_events(), Kind::stop, "a", "evicted to make room for b"));
  CHECK(f.spawner.starts.size() == 1); // b waits for a to exit: never both at once
  f.exit(a);
  REQUIRE(f.spawner.starts.size() == 2);
  CHECK(f.spawner.starts[1].model == "b");
  CHECK(host_view(f.s(), &GpuView::ours) == 8 * k_gib);
}

TEST_CASE("Scheduler: a CPU model host memory cannot hold even alone fails at once") {
  Fixture f;
  f.make({host_of(12)}, {cpu_model("big", 16)});
  const RequestId r = f.s().submit("big");
  const auto e = error_of(f.s().outcome(r));
  REQUIRE(e.has_value());
  CHECK(e->kind == core::ErrorKind::overloaded);
  CHECK(e->message.find("host memory: needs 16.00 GiB, 12.00 GiB usable") != std::string::npos);
  CHECK(f.spawner.starts.empty());
}

TEST_CASE("Scheduler: host admission uses min(accounting, MemAvailable − reserve)") {
  Fixture f;
  f.make({host_of(32, 2)}, {cpu_model("a", 8), cpu_model("b", 8)});
  f.s().set_reading("host", 9 * k_gib); // other programs hold most of it
  CHECK(host_view(f.s(), &GpuView::available) == 7 * k_gib);
  const RequestId r = f.s().submit("a");
  REQUIRE(error_of(f.s().outcome(r)).has_value());
  f.s().finish(r);
  f.s().set_reading("host", 20 * k_gib); // they let go
  CHECK(host_view(f.s(), &GpuView::available) == 18 * k_gib);
  const InstanceId a = f.warm("a");
  // Not yet in a reading (taken after it was ready): still subtracted from the last one.
  CHECK(host_view(f.s(), &GpuView::available) == 10 * k_gib);
  f.s().set_reading("host", 12 * k_gib); // the reading now shows a's 8 GiB as used
  CHECK(host_view(f.s(), &GpuView::available) == 10 * k_gib);
  CHECK(f.view(a).has_value());
  f.warm("b");
  CHECK(host_view(f.s(), &GpuView::ours) == 16 * k_gib);
}

TEST_CASE("Scheduler: mapped weights stay subtracted from host readings, which count them free") {
  Fixture f;
  f.make({host_of(32)}, {cpu_model("mapped", 8, true), cpu_model("b", 8), cpu_model("c", 13)});
  f.s().set_reading("host", 20 * k_gib);
  const InstanceId id = f.warm("mapped");
  CHECK(f.spawner.starts[0].plan.host_mapped == 8 * k_gib);
  // MemAvailable counts the page cache, the model's mapped weights with it: the reading
  // after the load is unchanged, and askd must not take it for 8 GiB freed.
  f.s().set_reading("host", 20 * k_gib);
  CHECK(host_view(f.s(), &GpuView::available) == 12 * k_gib);
  const RequestId rc = f.s().submit("c");
  CHECK(is_waiting(f.s().outcome(rc)));
  CHECK(f.state(id) == InstanceState::stopping); // c (13 GiB) needs mapped's room
  f.exit(id);
  // Its pages stay cached after it exits: nothing comes back that the reading had not shown.
  CHECK(host_view(f.s(), &GpuView::available) <= 20 * k_gib);
}

TEST_CASE("Scheduler: a unified GPU's load is charged to host memory as well") {
  Fixture f;
  Gpu apu = gpu("apu", 0, 16);
  apu.unified = true;
  f.make({apu, host_of(16)}, {model("on-gpu", 10), cpu_model("on-cpu", 8)});
  const InstanceId g = f.warm("on-gpu");
  const std::vector<GpuView> views = f.s().gpus();
  CHECK(views[0].ours == 10 * k_gib);
  CHECK(views[1].ours == 10 * k_gib); // the same bytes, in host memory
  // 8 GiB of host memory for the CPU model: only if the GPU model goes.
  f.s().submit("on-cpu");
  CHECK(f.state(g) == InstanceState::stopping);
  CHECK(has_event(f.s().take_events(), Kind::stop, "on-gpu", "evicted to make room for on-cpu"));
}

TEST_CASE("Scheduler: without a unified GPU the two live side by side") {
  Fixture f;
  f.make({gpu("dgpu", 0, 16), host_of(16)}, {model("on-gpu", 10), cpu_model("on-cpu", 8)});
  f.warm("on-gpu");
  f.warm("on-cpu");
  CHECK(f.spawner.stops.empty());
}

TEST_CASE("Scheduler: rpc devices are budgeted like GPUs") {
  Fixture f;
  Inventory inv;
  add_rpc_devices(inv, {{"box", "", "10.0.0.2:50052", 0, 16 * k_gib}});
  f.make({inv.gpus.front()}, {cpu_model("a", 10), cpu_model("b", 10)});
  const InstanceId a = f.warm("a");
  REQUIRE(f.spawner.starts[0].plan.gpus.size() == 1);
  CHECK(f.spawner.starts[0].plan.gpus[0].device == "RPC0");
  CHECK(f.s().gpus()[0].kind == DeviceKind::rpc);
  CHECK(f.s().gpus()[0].ours == 10 * k_gib);
  f.s().submit("b");
  CHECK(f.state(a) == InstanceState::stopping);
}

} // namespace
} // namespace ask::router::sched_test
