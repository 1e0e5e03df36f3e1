#include "router/scheduler.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace ask::router {
namespace {

using namespace std::chrono_literals;
using config::GpuApi;
using Kind = EventRecord::Kind;
using std::chrono::milliseconds;

constexpr std::uint64_t k_gib = 1024ull * 1024 * 1024;

// An estimate of exactly `bytes` on one GPU: 8 equal layers, no fixed costs.
Estimate sized(std::uint64_t bytes) {
  Estimate e;
  e.arch = "llama";
  e.layers.assign(8, LayerEstimate{bytes / 8, 0, 0, 0});
  return e;
}

// A CUDA card with `cap_gib` usable, no reserve and no free reading.
Gpu gpu(std::string id, int ordinal, std::uint64_t cap_gib) {
  Gpu g;
  g.id = std::move(id);
  g.name = g.id;
  g.total_bytes = cap_gib * k_gib;
  g.cap_bytes = cap_gib * k_gib;
  g.reserve_bytes = 0;
  g.index = {{GpuApi::cuda, ordinal}};
  return g;
}

ModelSpec model(std::string name, std::uint64_t gib) {
  ModelSpec m;
  m.name = std::move(name);
  m.estimate = sized(gib * k_gib);
  m.placement = {GpuApi::cuda, {}, false, -1};
  return m;
}

std::optional<InstanceId> assigned(const Outcome& o) {
  if (const Assigned* a = std::get_if<Assigned>(&o)) {
    return a->instance;
  }
  return std::nullopt;
}
bool is_waiting(const Outcome& o) { return std::holds_alternative<Waiting>(o); }
std::optional<core::Error> error_of(const Outcome& o) {
  if (const core::Error* e = std::get_if<core::Error>(&o)) {
    return *e;
  }
  return std::nullopt;
}

bool has_event(const std::vector<EventRecord>& events, Kind kind, std::string_view model_name,
               std::string_view detail = "") {
  return std::any_of(events.begin(), events.end(), [&](const EventRecord& e) {
    return e.kind == kind && e.model == model_name && e.detail.find(detail) != std::string::npos;
  });
}

// Records every call; `live` holds the plans of instances started and not yet exited.
struct FakeSpawner final : Spawner {
  struct Start {
    InstanceId id = 0;
    std::string model;
    Plan plan;
  };
  std::vector<Start> starts;
  std::vector<InstanceId> stops;
  std::map<InstanceId, Plan> live;
  std::string problems; // starts of an id already live, stops of an id not live

  void start(InstanceId id, const ModelSpec& m, const Plan& plan) override {
    if (live.contains(id)) {
      problems += "start of live id " + std::to_string(id) + "; ";
    }
    starts.push_back({id, m.name, plan});
    live[id] = plan;
  }
  void stop(InstanceId id) override {
    if (!live.contains(id)) {
      problems += "stop of dead id " + std::to_string(id) + "; ";
    }
    stops.push_back(id);
  }
  std::uint64_t bytes_on(const std::string& gpu_id) const {
    std::uint64_t sum = 0;
    for (const auto& [id, plan] : live) {
      for (const GpuShare& s : plan.gpus) {
        sum += s.gpu == gpu_id ? s.bytes : 0;
      }
    }
    return sum;
  }
};

struct Fixture {
  core::FakeClock clock;
  FakeSpawner spawner;
  std::unique_ptr<Scheduler> sched;
  SteadyTime t0 = clock.now();

  void make(std::vector<Gpu> gpus, std::vector<ModelSpec> models, SchedulerOptions o = {}) {
    Inventory inv;
    inv.gpus = std::move(gpus);
    sched = std::make_unique<Scheduler>(clock, spawner, std::move(inv), std::move(models), o);
  }
  Scheduler& s() { return *sched; }
  void advance(milliseconds d) { clock.advance(d); }
  long long ms(SteadyTime t) const {
    return std::chrono::duration_cast<milliseconds>(t - t0).count();
  }
  long long now_ms() const { return ms(clock.now()); }
  void exit(InstanceId id, ExitInfo info = {}) {
    spawner.live.erase(id);
    sched->exited(id, info);
  }
  std::optional<InstanceView> view(InstanceId id) const {
    for (const InstanceView& v : sched->instances()) {
      if (v.id == id) {
        return v;
      }
    }
    return std::nullopt;
  }
  InstanceState state(InstanceId id) const {
    const auto v = view(id);
    REQUIRE(v.has_value());
    return v->state;
  }
  // Loads `name` through a request (taking `load` to become ready), serves and finishes it:
  // the instance is left ready and idle. Returns its id.
  InstanceId warm(std::string_view name, milliseconds load = 0ms) {
    const std::size_t before = spawner.starts.size();
    const RequestId r = sched->submit(name);
    REQUIRE(spawner.starts.size() == before + 1);
    const InstanceId id = spawner.starts.back().id;
    advance(load);
    sched->ready(id);
    REQUIRE(assigned(sched->outcome(r)) == id);
    sched->finish(r);
    return id;
  }
  // A request served at once by a ready instance, then finished.
  void serve_once(std::string_view name) {
    const RequestId r = sched->submit(name);
    REQUIRE(assigned(sched->outcome(r)).has_value());
    sched->finish(r);
  }
};

TEST_CASE("scheduler: concurrent requests for a cold model share one load") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 10)});
  const RequestId r1 = f.s().submit("alpha");
  REQUIRE(f.spawner.starts.size() == 1);
  const FakeSpawner::Start& st = f.spawner.starts[0];
  CHECK(st.model == "alpha");
  REQUIRE(st.plan.gpus.size() == 1);
  CHECK(st.plan.gpus[0].gpu == "gpu0");
  CHECK(st.plan.gpus[0].bytes == 10 * k_gib);
  CHECK(is_waiting(f.s().outcome(r1)));
  CHECK(f.state(st.id) == InstanceState::starting);
  CHECK(f.s().gpus()[0].ours == 10 * k_gib);

  const RequestId r2 = f.s().submit("alpha");
  CHECK(f.spawner.starts.size() == 1);
  CHECK(is_waiting(f.s().outcome(r2)));
  CHECK(f.s().waiting() == 2);

  f.s().ready(st.id);
  CHECK(assigned(f.s().outcome(r1)) == st.id);
  CHECK(assigned(f.s().outcome(r2)) == st.id);
  CHECK(f.s().waiting() == 0);
  const auto v = f.view(st.id);
  REQUIRE(v);
  CHECK(v->state == InstanceState::ready);
  CHECK(v->in_flight == 2);
  CHECK(has_event(f.s().take_events(), Kind::ready, "alpha"));
}

TEST_CASE("scheduler: keep_alive counts from the end of the last request") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 10)});
  const RequestId r1 = f.s().submit("alpha");
  const RequestId r2 = f.s().submit("alpha");
  REQUIRE(f.spawner.starts.size() == 1);
  const InstanceId id = f.spawner.starts[0].id;
  f.s().ready(id);
  f.advance(90s);
  f.s().finish(r1);
  CHECK_FALSE(f.view(id)->expires.has_value()); // still busy with r2
  f.advance(30s);
  f.s().finish(r2);
  const auto v = f.view(id);
  REQUIRE(v);
  CHECK(v->in_flight == 0);
  CHECK(f.ms(v->idle_since) == 120'000);
  REQUIRE(v->expires.has_value());
  CHECK(f.ms(*v->expires) == 420'000);
  REQUIRE(f.s().next_wakeup().has_value());
  CHECK(f.ms(*f.s().next_wakeup()) == 420'000);
  f.s().take_events();

  f.advance(300s - 1ms);
  f.s().tick();
  CHECK(f.spawner.stops.empty());
  CHECK(f.state(id) == InstanceState::ready);

  f.advance(1ms);
  f.s().tick();
  CHECK(f.spawner.stops == std::vector<InstanceId>{id});
  CHECK(f.state(id) == InstanceState::stopping);
  CHECK(has_event(f.s().take_events(), Kind::stop, "alpha", "keep_alive"));
  CHECK(f.s().gpus()[0].ours == 10 * k_gib); // held until it exits

  f.exit(id);
  CHECK(f.s().instances().empty());
  CHECK(f.s().gpus()[0].ours == 0);
  const auto events = f.s().take_events();
  CHECK(has_event(events, Kind::exit, "alpha"));
  CHECK_FALSE(has_event(events, Kind::crash, "alpha"));
}

TEST_CASE("scheduler: keep_alive zero stops at once, forever never") {
  Fixture f;
  ModelSpec zero = model("alpha", 4);
  zero.keep_alive = core::Duration::zero();
  ModelSpec forever = model("omega", 4);
  forever.keep_alive = core::Duration::forever();
  f.make({gpu("gpu0", 0, 24)}, {zero, forever});

  const InstanceId a = f.warm("alpha");
  CHECK(f.spawner.stops == std::vector<InstanceId>{a}); // in finish(), no tick
  CHECK(f.state(a) == InstanceState::stopping);

  const InstanceId o = f.warm("omega");
  CHECK_FALSE(f.view(o)->expires.has_value());
  for (int i = 0; i < 5; ++i) {
    f.advance(std::chrono::hours(24 * 365));
    f.s().tick();
  }
  CHECK(f.spawner.stops == std::vector<InstanceId>{a});
  CHECK(f.state(o) == InstanceState::ready);
}

TEST_CASE("scheduler: an idle instance is evicted for another model, which starts on its exit") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 14), model("beta", 14)});
  const InstanceId a = f.warm("alpha");
  f.s().take_events();

  const RequestId rb = f.s().submit("beta");
  CHECK(f.spawner.stops == std::vector<InstanceId>{a});
  CHECK(f.state(a) == InstanceState::stopping);
  CHECK(has_event(f.s().take_events(), Kind::stop, "alpha", "beta"));
  CHECK(f.spawner.starts.size() == 1); // alpha's memory is held until it exits
  CHECK(is_waiting(f.s().outcome(rb)));
  CHECK(f.s().gpus()[0].ours == 14 * k_gib);

  f.exit(a);
  REQUIRE(f.spawner.starts.size() == 2);
  CHECK(f.spawner.starts[1].model == "beta");
  f.s().ready(f.spawner.starts[1].id);
  CHECK(assigned(f.s().outcome(rb)) == f.spawner.starts[1].id);
}

TEST_CASE("scheduler: a busy instance is never evicted") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 14), model("beta", 14)});
  const RequestId ra = f.s().submit("alpha");
  const InstanceId a = f.spawner.starts.at(0).id;
  f.s().ready(a);
  REQUIRE(assigned(f.s().outcome(ra)) == a);

  const RequestId rb = f.s().submit("beta");
  CHECK(f.spawner.stops.empty());
  CHECK(is_waiting(f.s().outcome(rb)));
  CHECK(f.spawner.starts.size() == 1);

  SUBCASE("it is evicted when it finishes") {
    f.advance(5s);
    f.s().finish(ra);
    CHECK(f.spawner.stops == std::vector<InstanceId>{a});
    CHECK(f.spawner.starts.size() == 1);
    f.exit(a);
    REQUIRE(f.spawner.starts.size() == 2);
    CHECK(f.spawner.starts[1].model == "beta");
  }
  SUBCASE("the request fails after drain_wait") {
    f.advance(120s - 1ms);
    f.s().tick();
    CHECK(is_waiting(f.s().outcome(rb)));
    f.advance(1ms);
    f.s().tick();
    const auto err = error_of(f.s().outcome(rb));
    REQUIRE(err.has_value());
    CHECK(err->kind == core::ErrorKind::overloaded);
    CHECK(err->message.find("cannot place") != std::string::npos);
    CHECK(f.spawner.stops.empty());
    CHECK(f.s().waiting() == 0);
  }
}

TEST_CASE("scheduler: a model bigger than the machine fails at once") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24), gpu("gpu1", 1, 16)}, {model("huge", 48)});
  const RequestId r = f.s().submit("huge");
  const auto err = error_of(f.s().outcome(r));
  REQUIRE(err.has_value());
  CHECK(err->kind == core::ErrorKind::overloaded);
  CHECK(err->message.find("does not fit even with every other model unloaded") !=
        std::string::npos);
  CHECK(f.spawner.starts.empty());
  CHECK(f.s().waiting() == 0);
  const auto loaded = f.s().load("huge");
  REQUIRE_FALSE(loaded.has_value());
  CHECK(loaded.error().kind == core::ErrorKind::overloaded);
}

TEST_CASE("scheduler: eviction order picks one victim by its policy") {
  Fixture f;
  SchedulerOptions o;
  std::vector<ModelSpec> ms = {model("alpha", 10), model("gamma", 10), model("beta", 10)};
  for (ModelSpec& m : ms) {
    m.keep_alive = core::Duration::seconds(7200);
  }
  InstanceId a = 0;
  InstanceId c = 0;
  SUBCASE("reload_cost: the rarely asked model goes, even when used last") {
    o.eviction = EvictionOrder::reload_cost;
    f.make({gpu("gpu0", 0, 24)}, ms, o);
    a = f.warm("alpha", 5s);
    for (int i = 0; i < 9; ++i) {
      f.serve_once("alpha");
    }
    f.advance(10min);
    c = f.warm("gamma", 5s);
    f.advance(1min);
    f.s().submit("beta");
    CHECK(f.spawner.stops == std::vector<InstanceId>{c});
  }
  SUBCASE("reload_cost: asked ten times recently beats once long ago") {
    o.eviction = EvictionOrder::reload_cost;
    f.make({gpu("gpu0", 0, 24)}, ms, o);
    c = f.warm("gamma", 5s);
    f.advance(40min);
    a = f.warm("alpha", 5s);
    for (int i = 0; i < 9; ++i) {
      f.serve_once("alpha");
    }
    f.advance(1min);
    f.s().submit("beta");
    CHECK(f.spawner.stops == std::vector<InstanceId>{c});
  }
  SUBCASE("seed_score: the longer idle of equal sizes goes") {
    o.eviction = EvictionOrder::seed_score;
    f.make({gpu("gpu0", 0, 24)}, ms, o);
    a = f.warm("alpha", 5s);
    for (int i = 0; i < 9; ++i) {
      f.serve_once("alpha");
    }
    f.advance(10min);
    c = f.warm("gamma", 5s);
    f.advance(1min);
    f.s().submit("beta");
    CHECK(f.spawner.stops == std::vector<InstanceId>{a});
  }
  CHECK(a != c);
  CHECK(f.spawner.starts.size() == 2); // beta waits for the exit
}

TEST_CASE("scheduler: a busy model gets a replica that takes the next request") {
  Fixture f;
  ModelSpec m = model("alpha", 10);
  m.parallel = 1;
  SUBCASE("max_replicas 2") {
    m.max_replicas = 2;
    f.make({gpu("gpu0", 0, 48)}, {m});
    const RequestId r1 = f.s().submit("alpha");
    const InstanceId i1 = f.spawner.starts.at(0).id;
    f.s().ready(i1);
    REQUIRE(assigned(f.s().outcome(r1)) == i1);

    const RequestId r2 = f.s().submit("alpha");
    CHECK(assigned(f.s().outcome(r2)) == i1); // queued on the least busy
    REQUIRE(f.spawner.starts.size() == 2);
    const InstanceId i2 = f.spawner.starts[1].id;
    CHECK(f.spawner.starts[1].model == "alpha");
    CHECK(i2 != i1);
    f.s().ready(i2);
    CHECK(f.view(i1)->in_flight == 2);
    CHECK(f.view(i2)->in_flight == 0);

    const RequestId r3 = f.s().submit("alpha");
    CHECK(assigned(f.s().outcome(r3)) == i2);
    const RequestId r4 = f.s().submit("alpha");
    CHECK(assigned(f.s().outcome(r4)) == i2); // 1 in flight against 2
    CHECK(f.spawner.starts.size() == 2);      // no third
  }
  SUBCASE("max_replicas 1") {
    f.make({gpu("gpu0", 0, 48)}, {m});
    const InstanceId i1 = f.warm("alpha");
    const RequestId r1 = f.s().submit("alpha");
    const RequestId r2 = f.s().submit("alpha");
    CHECK(assigned(f.s().outcome(r1)) == i1);
    CHECK(assigned(f.s().outcome(r2)) == i1);
    CHECK(f.spawner.starts.size() == 1);
  }
  SUBCASE("a replica never evicts another model") {
    m.max_replicas = 2;
    f.make({gpu("gpu0", 0, 24)}, {m, model("gamma", 10)});
    f.warm("gamma");
    const RequestId r1 = f.s().submit("alpha");
    const InstanceId i1 = f.spawner.starts.at(1).id;
    f.s().ready(i1);
    REQUIRE(assigned(f.s().outcome(r1)) == i1);
    const RequestId r2 = f.s().submit("alpha");
    CHECK(assigned(f.s().outcome(r2)) == i1);
    CHECK(f.spawner.starts.size() == 2);
    CHECK(f.spawner.stops.empty());
  }
}

TEST_CASE("scheduler: room made for a waiting request is not taken by a later one") {
  // Two 24 GiB cards; "big" needs both. Without the reservation, the later "small" request
  // would start a new small instance in the room freed for big, big would evict it once it
  // was ready, and the two would chase each other for ever.
  Fixture f;
  f.make({gpu("gpu0", 0, 24), gpu("gpu1", 1, 24)}, {model("small", 7), model("big", 44)});
  const InstanceId s1 = f.warm("small");
  const RequestId rb = f.s().submit("big");
  CHECK(f.spawner.stops == std::vector<InstanceId>{s1});
  const RequestId rs = f.s().submit("small");
  CHECK(f.spawner.starts.size() == 1); // no new small in big's room
  CHECK(is_waiting(f.s().outcome(rs)));

  f.exit(s1);
  REQUIRE(f.spawner.starts.size() == 2);
  CHECK(f.spawner.starts[1].model == "big");
  const InstanceId b = f.spawner.starts[1].id;
  f.s().ready(b);
  CHECK(assigned(f.s().outcome(rb)) == b);
  CHECK(is_waiting(f.s().outcome(rs)));
  f.advance(30s);
  f.s().finish(rb);
  CHECK(f.spawner.stops == std::vector<InstanceId>{s1, b}); // big's turn is over
  f.exit(b);
  REQUIRE(f.spawner.starts.size() == 3);
  CHECK(f.spawner.starts[2].model == "small");
  f.s().ready(f.spawner.starts[2].id);
  CHECK(assigned(f.s().outcome(rs)) == f.spawner.starts[2].id);
}

TEST_CASE("scheduler: an instance whose model has requests waiting is not evicted") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 14), model("beta", 14)});
  // alpha loads; beta waits for it; then a request for alpha queues behind beta. When alpha
  // is ready, beta (earlier) must not evict it before the alpha request is handed to it.
  const RequestId first = f.s().submit("alpha");
  const InstanceId a = f.spawner.starts.at(0).id;
  const RequestId rb = f.s().submit("beta");
  CHECK(is_waiting(f.s().outcome(rb)));
  f.s().finish(first); // abandoned while loading
  const RequestId ra = f.s().submit("alpha");
  f.s().ready(a);
  CHECK(f.spawner.stops.empty());
  CHECK(assigned(f.s().outcome(ra)) == a);
  CHECK(is_waiting(f.s().outcome(rb)));
  f.s().finish(ra);
  CHECK(f.spawner.stops == std::vector<InstanceId>{a});
}

TEST_CASE("scheduler: replicas scale down first") {
  Fixture f;
  ModelSpec fast = model("fast", 8);
  fast.max_replicas = 2;
  SchedulerOptions o;
  o.replica_idle = 60s;
  f.make({gpu("gpu0", 0, 24)}, {fast, model("other", 10)}, o);
  const RequestId r1 = f.s().submit("fast");
  const InstanceId i1 = f.spawner.starts.at(0).id;
  f.s().ready(i1);
  const RequestId r2 = f.s().submit("fast");
  REQUIRE(f.spawner.starts.size() == 2);
  const InstanceId i2 = f.spawner.starts[1].id;
  f.s().ready(i2);
  const RequestId r3 = f.s().submit("fast");
  REQUIRE(assigned(f.s().outcome(r3)) == i2);

  SUBCASE("a busy replica drains for another model, which starts when it has") {
    const RequestId ro = f.s().submit("other");
    CHECK(is_waiting(f.s().outcome(ro)));
    CHECK(f.spawner.stops.empty());
    const RequestId r4 = f.s().submit("fast");
    CHECK(assigned(f.s().outcome(r4)) == i1); // the draining replica takes no more
    CHECK(f.spawner.starts.size() == 2);      // nor does a new replica take other's room
    f.s().finish(r3);
    CHECK(f.spawner.stops == std::vector<InstanceId>{i2});
    CHECK(has_event(f.s().take_events(), Kind::stop, "fast", "replica scaled down"));
    f.exit(i2);
    REQUIRE(f.spawner.starts.size() == 3);
    CHECK(f.spawner.starts[2].model == "other");
    CHECK(f.state(i1) == InstanceState::ready);
  }
  SUBCASE("an idle replica stops after replica_idle, the first instance keeps keep_alive") {
    f.s().finish(r1);
    f.s().finish(r2);
    f.s().finish(r3);
    REQUIRE(f.view(i2)->expires.has_value());
    CHECK(f.ms(*f.view(i2)->expires) == 60'000);
    CHECK(f.ms(*f.view(i1)->expires) == 300'000);
    f.advance(60s);
    f.s().tick();
    CHECK(f.spawner.stops == std::vector<InstanceId>{i2});
    CHECK(f.state(i1) == InstanceState::ready);
  }
}

TEST_CASE("scheduler: models of one exclusive group never run together") {
  Fixture f;
  ModelSpec a = model("alpha", 10);
  ModelSpec b = model("beta", 10);
  a.group = b.group = "team-x";
  f.make({gpu("gpu0", 0, 48)}, {a, b});
  SUBCASE("an idle member is stopped") {
    const InstanceId ia = f.warm("alpha");
    f.s().take_events();
    const RequestId rb = f.s().submit("beta");
    CHECK(f.spawner.stops == std::vector<InstanceId>{ia});
    CHECK(has_event(f.s().take_events(), Kind::stop, "alpha", "team-x"));
    CHECK(f.spawner.starts.size() == 1); // memory would allow both
    CHECK(is_waiting(f.s().outcome(rb)));
    f.exit(ia);
    REQUIRE(f.spawner.starts.size() == 2);
    CHECK(f.spawner.starts[1].model == "beta");
  }
  SUBCASE("a busy member is stopped when it finishes") {
    const RequestId ra = f.s().submit("alpha");
    const InstanceId ia = f.spawner.starts.at(0).id;
    f.s().ready(ia);
    const RequestId rb = f.s().submit("beta");
    CHECK(f.spawner.stops.empty());
    CHECK(is_waiting(f.s().outcome(rb)));
    f.advance(3s);
    f.s().finish(ra);
    CHECK(f.spawner.stops == std::vector<InstanceId>{ia});
    CHECK(f.spawner.starts.size() == 1);
    f.exit(ia);
    REQUIRE(f.spawner.starts.size() == 2);
    CHECK(f.spawner.starts[1].model == "beta");
  }
}

TEST_CASE("scheduler: a pinned instance is neither evicted nor expired") {
  Fixture f;
  ModelSpec a = model("alpha", 14);
  a.pinned = true;
  a.keep_alive = core::Duration::seconds(1);
  f.make({gpu("gpu0", 0, 24)}, {a, model("beta", 14)});
  const InstanceId ia = f.warm("alpha");
  f.advance(1h);
  f.s().tick();
  CHECK(f.spawner.stops.empty());
  CHECK_FALSE(f.view(ia)->expires.has_value());

  const RequestId rb = f.s().submit("beta");
  CHECK(f.spawner.stops.empty());
  CHECK(f.spawner.starts.size() == 1);
  const Outcome first = f.s().outcome(rb);
  CHECK((is_waiting(first) || error_of(first)->kind == core::ErrorKind::overloaded));
  f.advance(120s);
  f.s().tick();
  const auto err = error_of(f.s().outcome(rb));
  REQUIRE(err.has_value());
  CHECK(err->kind == core::ErrorKind::overloaded);
  CHECK(f.spawner.stops.empty());
  CHECK(f.state(ia) == InstanceState::ready);
}

TEST_CASE("scheduler: a crash frees the memory and the next request loads again") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 10)});
  const InstanceId ia = f.warm("alpha");
  f.s().take_events();
  f.exit(ia, {139, false, "Segmentation fault"});
  CHECK(has_event(f.s().take_events(), Kind::crash, "alpha"));
  CHECK(f.s().instances().empty());
  CHECK(f.s().gpus()[0].ours == 0);
  const RequestId r = f.s().submit("alpha");
  CHECK(is_waiting(f.s().outcome(r)));
  REQUIRE(f.spawner.starts.size() == 2);
  CHECK(f.spawner.starts[1].id != ia);
}

TEST_CASE("scheduler: failed starts respawn once, then back off") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 10)}); // backoff_base 1 s
  const RequestId r = f.s().submit("alpha");
  const InstanceId i1 = f.spawner.starts.at(0).id;
  f.advance(2s);
  f.exit(i1, {1, false, "error loading model"});
  REQUIRE(f.spawner.starts.size() == 2); // the waiting request goes on to a new start
  CHECK(is_waiting(f.s().outcome(r)));
  const InstanceId i2 = f.spawner.starts[1].id;
  CHECK(i2 != i1);

  f.advance(2s);
  f.exit(i2, {1, false, "error loading model"});
  CHECK(f.spawner.starts.size() == 2);
  const auto failed = error_of(f.s().outcome(r));
  REQUIRE(failed.has_value());
  CHECK(failed->kind == core::ErrorKind::overloaded);

  const RequestId during = f.s().submit("alpha");
  const auto err = error_of(f.s().outcome(during));
  REQUIRE(err.has_value());
  CHECK(err->kind == core::ErrorKind::overloaded);
  CHECK(err->message.find("crash") != std::string::npos);
  CHECK(f.spawner.starts.size() == 2);

  f.advance(999ms);
  f.s().tick();
  CHECK(error_of(f.s().outcome(f.s().submit("alpha"))).has_value());
  CHECK(f.spawner.starts.size() == 2);

  f.advance(1ms);
  f.s().tick();
  const RequestId after = f.s().submit("alpha");
  CHECK(is_waiting(f.s().outcome(after)));
  CHECK(f.spawner.starts.size() == 3);
}

TEST_CASE("scheduler: a load that times out is stopped and its requests fail") {
  Fixture f;
  ModelSpec a = model("alpha", 10);
  a.load_timeout = 60s;
  f.make({gpu("gpu0", 0, 24)}, {a});
  const RequestId r = f.s().submit("alpha");
  const InstanceId ia = f.spawner.starts.at(0).id;
  REQUIRE(f.s().next_wakeup().has_value());
  CHECK(f.ms(*f.s().next_wakeup()) <= 60'000);
  f.advance(60s - 1ms);
  f.s().tick();
  CHECK(f.spawner.stops.empty());
  CHECK(is_waiting(f.s().outcome(r)));
  f.advance(1ms);
  f.s().tick();
  CHECK(f.spawner.stops == std::vector<InstanceId>{ia});
  CHECK(f.state(ia) == InstanceState::stopping);
  const auto err = error_of(f.s().outcome(r));
  REQUIRE(err.has_value());
  CHECK(err->kind == core::ErrorKind::timeout);
  CHECK(f.s().waiting() == 0);
}

TEST_CASE("scheduler: GPU readings limit placement and gate memory freed by an exit") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 10), model("beta", 13)});
  const InstanceId ia = f.warm("alpha");
  // Accounting says 14 GiB free; the card says 12 (someone else took 2).
  f.s().set_reading("gpu0", 12 * k_gib);
  REQUIRE(f.s().gpus()[0].reading.has_value());
  CHECK(*f.s().gpus()[0].reading == 12 * k_gib);
  CHECK(f.s().gpus()[0].available == 12 * k_gib);
  const RequestId rb = f.s().submit("beta");
  CHECK(f.spawner.stops == std::vector<InstanceId>{ia}); // 13 GiB fit only without alpha
  CHECK(f.spawner.starts.size() == 1);
  f.advance(1s);
  f.exit(ia); // the reading predates the exit
  CHECK(f.s().gpus()[0].ours == 0);
  CHECK(f.spawner.starts.size() == 1);
  CHECK(is_waiting(f.s().outcome(rb)));

  SUBCASE("trusted after release_wait") {
    f.advance(10s - 1ms);
    f.s().tick();
    CHECK(f.spawner.starts.size() == 1);
    f.advance(1ms);
    f.s().tick();
    REQUIRE(f.spawner.starts.size() == 2);
    CHECK(f.spawner.starts[1].model == "beta");
  }
  SUBCASE("trusted at once when a reading shows it") {
    f.advance(1s);
    f.s().set_reading("gpu0", 22 * k_gib);
    REQUIRE(f.spawner.starts.size() == 2);
    CHECK(f.spawner.starts[1].model == "beta");
  }
}

TEST_CASE("scheduler: load, unload and preload") {
  Fixture f;
  ModelSpec a = model("alpha", 10);
  a.max_replicas = 2;
  f.make({gpu("gpu0", 0, 48)}, {a, model("beta", 10), model("huge", 60)});
  SUBCASE("load starts once") {
    const auto id = f.s().load("alpha");
    REQUIRE(id.has_value());
    REQUIRE(f.spawner.starts.size() == 1);
    CHECK(*id == f.spawner.starts[0].id);
    CHECK(f.s().load("alpha").value_or(0) == *id);
    f.s().ready(*id);
    CHECK(f.s().load("alpha").value_or(0) == *id);
    CHECK(f.spawner.starts.size() == 1);
    const auto missing = f.s().load("nope");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().kind == core::ErrorKind::not_found);
  }
  SUBCASE("unload stops idle instances now and busy ones when they drain") {
    const RequestId r1 = f.s().submit("alpha");
    const InstanceId i1 = f.spawner.starts.at(0).id;
    f.s().ready(i1);
    const RequestId r2 = f.s().submit("alpha");
    REQUIRE(f.spawner.starts.size() == 2);
    const InstanceId i2 = f.spawner.starts[1].id;
    f.s().ready(i2);
    REQUIRE(f.view(i1)->in_flight == 2);
    REQUIRE(f.view(i2)->in_flight == 0);
    const auto n = f.s().unload("alpha");
    REQUIRE(n.has_value());
    CHECK(*n == 2);
    CHECK(f.spawner.stops == std::vector<InstanceId>{i2});
    f.s().finish(r1);
    CHECK(f.spawner.stops == std::vector<InstanceId>{i2});
    f.s().finish(r2);
    CHECK(f.spawner.stops == std::vector<InstanceId>{i2, i1});
  }
  SUBCASE("preload loads each and reports the failures") {
    CHECK(f.s().preload({"alpha", "beta"}).empty());
    REQUIRE(f.spawner.starts.size() == 2);
    CHECK(f.spawner.starts[0].model == "alpha");
    CHECK(f.spawner.starts[1].model == "beta");
    const auto errors = f.s().preload({"nope", "huge", "alpha"});
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].kind == core::ErrorKind::not_found);
    CHECK(errors[1].kind == core::ErrorKind::overloaded);
    CHECK(f.spawner.starts.size() == 2);
  }
}

TEST_CASE("scheduler: update_models recomputes keep_alive and stops removed models") {
  Fixture f;
  const std::vector<ModelSpec> both = {model("alpha", 10), model("beta", 10)};
  f.make({gpu("gpu0", 0, 48)}, both);
  SUBCASE("a shorter keep_alive counts from idle_since") {
    const InstanceId ia = f.warm("alpha");
    CHECK(f.ms(*f.view(ia)->expires) == 300'000);
    f.advance(60s);
    std::vector<ModelSpec> shorter = both;
    shorter[0].keep_alive = core::Duration::seconds(100);
    f.s().update_models(shorter);
    const auto v = f.view(ia);
    REQUIRE(v);
    REQUIRE(v->expires.has_value());
    CHECK(f.ms(*v->expires) == 100'000);
    CHECK(f.spawner.stops.empty());
    f.advance(40s);
    f.s().tick();
    CHECK(f.spawner.stops == std::vector<InstanceId>{ia});
  }
  SUBCASE("a removed model's instances stop when idle") {
    const InstanceId ia = f.warm("alpha");
    const InstanceId ib = f.warm("beta");
    const RequestId rb = f.s().submit("beta");
    REQUIRE(assigned(f.s().outcome(rb)) == ib);
    f.s().update_models({both[0]});
    CHECK(f.spawner.stops.empty()); // beta is busy
    f.s().finish(rb);
    CHECK(f.spawner.stops == std::vector<InstanceId>{ib});
    CHECK(f.state(ia) == InstanceState::ready);
    CHECK(error_of(f.s().outcome(f.s().submit("beta")))->kind == core::ErrorKind::not_found);
  }
  SUBCASE("a removed idle model stops at once") {
    f.warm("alpha");
    const InstanceId ib = f.warm("beta");
    f.s().update_models({both[0]});
    CHECK(f.spawner.stops == std::vector<InstanceId>{ib});
  }
}

TEST_CASE("scheduler: unknown models, unknown ids and abandoned requests") {
  Fixture f;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 10)});
  const auto unknown = error_of(f.s().outcome(f.s().submit("nope")));
  REQUIRE(unknown.has_value());
  CHECK(unknown->kind == core::ErrorKind::not_found);
  const auto never = error_of(f.s().outcome(4242));
  REQUIRE(never.has_value());
  CHECK(never->kind == core::ErrorKind::internal);

  const RequestId r = f.s().submit("alpha");
  REQUIRE(f.spawner.starts.size() == 1);
  const InstanceId ia = f.spawner.starts[0].id;
  CHECK(f.s().waiting() == 1);
  f.s().finish(r);
  CHECK(f.s().waiting() == 0);
  CHECK(error_of(f.s().outcome(r))->kind == core::ErrorKind::internal);
  CHECK(f.state(ia) == InstanceState::starting); // the load goes on
  f.s().ready(ia);
  CHECK(f.state(ia) == InstanceState::ready);
  CHECK(f.view(ia)->in_flight == 0);
  CHECK(f.spawner.stops.empty());
}

TEST_CASE("scheduler: a random workload never overcommits a GPU nor stops a busy instance") {
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    Fixture f;
    std::mt19937 rng(seed);
    auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::vector<Gpu> gpus = {gpu("gpu0", 0, 24), gpu("gpu1", 1, 16)};
    if (seed % 2 == 0) {
      gpus.push_back(gpu("gpu2", 2, 32));
    }
    const core::Duration keeps[] = {core::Duration::zero(), core::Duration::seconds(20),
                                    core::Duration::seconds(300), core::Duration::forever()};
    std::vector<ModelSpec> models;
    for (int i = 0; i < 6; ++i) {
      ModelSpec m = model("m" + std::to_string(i), static_cast<std::uint64_t>(pick(2, 36)));
      m.max_replicas = pick(1, 2);
      m.parallel = pick(1, 2);
      m.keep_alive = keeps[pick(0, 3)];
      m.load_timeout = 120s;
      m.group = i >= 4 ? "pair" : "";
      m.pinned = i == 0 && pick(0, 1) == 1;
      models.push_back(m);
    }
    SchedulerOptions o;
    o.eviction = seed <= 2 ? EvictionOrder::reload_cost : EvictionOrder::seed_score;
    o.drain_wait = 60s;
    o.release_wait = 5s;
    f.make(gpus, models, o);

    std::vector<RequestId> live;
    for (int step = 0; step < 3000; ++step) {
      CAPTURE(step);
      const std::size_t stops_before = f.spawner.stops.size();
      const int op = pick(0, 99);
      const std::vector<InstanceView> insts = f.s().instances();
      if (op < 35) {
        live.push_back(f.s().submit(models[static_cast<std::size_t>(pick(0, 5))].name));
      } else if (op < 60) {
        if (!live.empty()) {
          const auto at = live.begin() + pick(0, static_cast<int>(live.size()) - 1);
          f.s().finish(*at);
          live.erase(at);
        }
      } else if (op < 75) {
        std::vector<InstanceId> starting;
        for (const InstanceView& v : insts) {
          if (v.state == InstanceState::starting) {
            starting.push_back(v.id);
          }
        }
        if (!starting.empty()) {
          f.s().ready(starting[static_cast<std::size_t>(
              pick(0, static_cast<int>(starting.size()) - 1))]);
        }
      } else if (op < 85) {
        if (!insts.empty()) {
          const InstanceView& v =
              insts[static_cast<std::size_t>(pick(0, static_cast<int>(insts.size()) - 1))];
          f.exit(v.id, v.state == InstanceState::stopping ? ExitInfo{} : ExitInfo{1, false, "boom"});
        }
      } else if (op < 95) {
        f.advance(milliseconds(pick(0, 30'000)));
        f.s().tick();
      } else {
        const Gpu& g = gpus[static_cast<std::size_t>(pick(0, static_cast<int>(gpus.size()) - 1))];
        const std::uint64_t used = f.spawner.bytes_on(g.id) +
                                   static_cast<std::uint64_t>(pick(0, 2)) * k_gib;
        f.s().set_reading(g.id, g.total_bytes > used ? g.total_bytes - used : 0);
      }

      std::string problem = f.spawner.problems;
      const std::vector<GpuView> views = f.s().gpus();
      for (std::size_t i = 0; i < gpus.size(); ++i) {
        const std::uint64_t held = f.spawner.bytes_on(gpus[i].id);
        if (held > gpus[i].cap_bytes) {
          problem += gpus[i].id + " overcommitted; ";
        }
        const auto view = std::find_if(views.begin(), views.end(),
                                       [&](const GpuView& g) { return g.id == gpus[i].id; });
        if (view == views.end() || view->ours != held) {
          problem += gpus[i].id + " ours differs from the live plans; ";
        }
      }
      for (std::size_t k = stops_before; k < f.spawner.stops.size(); ++k) {
        const auto v = f.view(f.spawner.stops[k]);
        if (v && v->in_flight > 0) {
          problem += "stopped busy instance " + std::to_string(v->id) + "; ";
        }
      }
      int waiting = 0;
      for (RequestId r : live) {
        waiting += is_waiting(f.s().outcome(r)) ? 1 : 0;
      }
      if (waiting != f.s().waiting()) {
        problem += "waiting() disagrees with the outcomes; ";
      }
      REQUIRE(problem == "");
    }
    CHECK(f.spawner.starts.size() > 20); // the workload did load things
  }
}

} // namespace
} // namespace ask::router
