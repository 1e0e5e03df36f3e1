// Scheduler: loads, keep_alive, eviction, replicas, reservations and exclusive groups.

#include "router/scheduler_test_fixture.h"

#include <algorithm>
#include <random>

namespace ask::router {
namespace {

using namespace sched_test;

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

TEST_CASE("scheduler: a model's own drain_wait bounds how long its requests wait for room") {
  Fixture f;
  ModelSpec impatient = model("beta", 14);
  impatient.drain_wait = 10s;
  ModelSpec at_once = model("gamma", 14);
  at_once.drain_wait = 0ms;
  f.make({gpu("gpu0", 0, 24)}, {model("alpha", 14), impatient, at_once});
  const RequestId ra = f.s().submit("alpha");
  const InstanceId a = f.spawner.starts.at(0).id;
  f.s().ready(a);
  REQUIRE(assigned(f.s().outcome(ra)) == a);

  const RequestId rb = f.s().submit("beta");
  const RequestId rc = f.s().submit("gamma");
  REQUIRE(is_waiting(f.s().outcome(rb)));
  CHECK(f.s().next_wakeup() == f.clock.now()); // gamma's deadline is now
  f.s().tick();
  const auto gamma_err = error_of(f.s().outcome(rc));
  REQUIRE(gamma_err.has_value());
  CHECK(gamma_err->message.find("cannot place gamma within 0.0 s") != std::string::npos);
  CHECK(is_waiting(f.s().outcome(rb)));

  f.advance(10s - 1ms);
  f.s().tick();
  CHECK(is_waiting(f.s().outcome(rb)));
  f.advance(1ms);
  f.s().tick();
  const auto beta_err = error_of(f.s().outcome(rb));
  REQUIRE(beta_err.has_value());
  CHECK(beta_err->kind == core::ErrorKind::overloaded);
  CHECK(beta_err->message.find("cannot place beta within 10 s") != std::string::npos);
  CHECK(f.spawner.stops.empty()); // alpha, busy, was never touched
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

TEST_CASE("scheduler: a replica still loading is cancelled when another model needs its room") {
  Fixture f;
  ModelSpec fast = model("fast", 8);
  fast.max_replicas = 2;
  f.make({gpu("gpu0", 0, 24)}, {fast, model("other", 10)});
  const RequestId r1 = f.s().submit("fast");
  const InstanceId i1 = f.spawner.starts.at(0).id;
  f.s().ready(i1);
  const RequestId r2 = f.s().submit("fast"); // i1 busy: queued on it while a replica loads
  REQUIRE(f.spawner.starts.size() == 2);
  const InstanceId i2 = f.spawner.starts[1].id;
  CHECK(assigned(f.s().outcome(r1)) == i1);
  CHECK(assigned(f.s().outcome(r2)) == i1);
  f.s().take_events();

  const RequestId ro = f.s().submit("other"); // 8 GiB free, needs 10
  CHECK(is_waiting(f.s().outcome(ro)));
  CHECK(f.spawner.stops == std::vector<InstanceId>{i2}); // not after its load: now
  CHECK(has_event(f.s().take_events(), Kind::stop, "fast", "evicted to make room for other"));
  f.exit(i2);
  REQUIRE(f.spawner.starts.size() == 3);
  CHECK(f.spawner.starts[2].model == "other");
  f.s().ready(i2); // a late answer from the cancelled replica changes nothing
  f.s().ready(f.spawner.starts[2].id);
  CHECK(assigned(f.s().outcome(ro)) == f.spawner.starts[2].id);
  CHECK(f.state(i1) == InstanceState::ready);
  CHECK(f.view(i1)->in_flight == 2);
  CHECK(f.spawner.problems.empty());
}

TEST_CASE("scheduler: replicas make way for a model due at its regular gap") {
  // "cron" comes at the top of every hour; "fast" gets a replica when busy. Once cron has
  // come back at the same gap three times, a replica does not start in the room it needs
  // within due_horizon of its next time, and a running one drains before it comes.
  Fixture f;
  ModelSpec fast = model("fast", 8);
  fast.max_replicas = 2;
  fast.keep_alive = core::Duration::forever();
  ModelSpec cron = model("cron", 10);
  cron.keep_alive = core::Duration::zero();
  SchedulerOptions o; // due_horizon and session_gap 60 s
  o.prewarm = false;  // cron would load in the room the replica leaves: its own test
  bool off = false;
  SUBCASE("on") {}
  SUBCASE("off with due_horizon 0") {
    o.due_horizon = 0ms;
    off = true;
  }
  f.make({gpu("gpu0", 0, 24)}, {fast, cron}, o);
  const auto to = [&f](std::chrono::seconds t) { f.advance(t - milliseconds(f.now_ms())); };
  const InstanceId i1 = f.warm("fast");
  for (int h = 1; h <= 4; ++h) { // cron at 1 h, 2 h, 3 h, 4 h: three gaps of an hour
    to(std::chrono::hours(h));
    f.exit(f.warm("cron"));
  }
  // 4 h 50 min: cron is not due for ten minutes; fast is busy and gets a replica.
  to(4h + 50min);
  const RequestId r1 = f.s().submit("fast");
  const RequestId r2 = f.s().submit("fast");
  REQUIRE(f.spawner.starts.size() == 6);
  const InstanceId i2 = f.spawner.starts[5].id;
  f.s().ready(i2);
  const RequestId r3 = f.s().submit("fast");
  REQUIRE(assigned(f.s().outcome(r3)) == i2);
  CHECK(assigned(f.s().outcome(r1)) == i1);
  CHECK(assigned(f.s().outcome(r2)) == i1);
  f.s().take_events();
  const std::size_t crons = f.spawner.stops.size(); // the four cron runs
  const auto stopped_since = [&] {
    return std::vector<InstanceId>(f.spawner.stops.begin() + static_cast<std::ptrdiff_t>(crons),
                                   f.spawner.stops.end());
  };

  const auto wake = f.s().next_wakeup();
  if (off) {
    CHECK_FALSE(wake.has_value()); // both busy, keep_alive forever: nothing timed
    to(4h + 59min + 30s);
    f.s().tick();
    CHECK(stopped_since().empty());
    f.s().finish(r3);
    CHECK(stopped_since().empty()); // the idle replica stays for replica_idle
    const RequestId rc = f.s().submit("cron");
    CHECK(stopped_since() == std::vector<InstanceId>{i2}); // evicted on arrival
    CHECK(is_waiting(f.s().outcome(rc)));
    return;
  }
  // Due from a minute before its time: the scheduler wakes up for it.
  REQUIRE(wake.has_value());
  CHECK(f.ms(*wake) == (4 * 3600 + 59 * 60) * 1000 + 1);
  f.advance(milliseconds(f.ms(*wake) - f.now_ms()));
  f.s().tick();
  CHECK(stopped_since().empty()); // the replica is busy: it drains
  CHECK(has_event(f.s().take_events(), Kind::stop, "fast", "replica scaled down: cron is due"));
  const RequestId r4 = f.s().submit("fast");
  CHECK(assigned(f.s().outcome(r4)) == i1);
  CHECK(f.spawner.starts.size() == 6); // no new replica in cron's room
  f.s().finish(r3);
  CHECK(stopped_since() == std::vector<InstanceId>{i2});
  f.exit(i2);
  f.s().finish(r1);
  f.s().finish(r2);
  const RequestId r5 = f.s().submit("fast");
  const RequestId r6 = f.s().submit("fast"); // i1 busy again: still no replica while cron is due
  CHECK(f.spawner.starts.size() == 6);

  to(5h); // cron comes and starts at once
  const RequestId rc = f.s().submit("cron");
  REQUIRE(f.spawner.starts.size() == 7);
  CHECK(f.spawner.starts[6].model == "cron");
  f.s().ready(f.spawner.starts[6].id);
  CHECK(assigned(f.s().outcome(rc)) == f.spawner.starts[6].id);
  for (RequestId r : {r4, r5, r6}) {
    CHECK(assigned(f.s().outcome(r)) == i1);
  }
  CHECK(f.spawner.problems.empty());
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

} // namespace
} // namespace ask::router
