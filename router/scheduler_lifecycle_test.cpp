// Scheduler: pins, crashes and backoff, load timeouts, GPU readings, the control calls
// (load, unload, preload, update_models), unknown ids, and a randomised workload checked for
// overcommit and busy stops after every step.

#include "router/scheduler_test_fixture.h"

#include <algorithm>
#include <random>

namespace ask::router {
namespace {

using namespace sched_test;

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
  // The message names what holds the memory: not "every other model unloaded" alone.
  CHECK(err->message.find("does not fit beside the pinned alpha") != std::string::npos);
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
  CHECK(err->retry_after_s == 1); // the client's Retry-After: when the backoff ends
  CHECK(f.spawner.starts.size() == 2);

  f.advance(999ms);
  f.s().tick();
  const auto late = error_of(f.s().outcome(f.s().submit("alpha")));
  REQUIRE(late.has_value());
  CHECK(late->retry_after_s == 1); // 1 ms left: rounded up, never 0
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
  // Seeds 5 and 6 use short session gaps, so that models become due (and replicas drain for
  // them) at random times too.
  int due_drains = 0;
  for (unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
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
    if (seed >= 5) {
      o.session_gap = 2s;
      o.due_horizon = 20s;
    }
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
      for (const Gpu& gpu : gpus) {
        const std::uint64_t held = f.spawner.bytes_on(gpu.id);
        if (held > gpu.cap_bytes) {
          problem += gpu.id + " overcommitted; ";
        }
        const auto view = std::find_if(views.begin(), views.end(),
                                       [&](const GpuView& g) { return g.id == gpu.id; });
        if (view == views.end() || view->ours != held) {
          problem += gpu.id + " ours differs from the live plans; ";
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
      if (const auto wake = f.s().next_wakeup(); wake && *wake < f.clock.now()) {
        problem += "next_wakeup() in the past; ";
      }
      for (const EventRecord& e : f.s().take_events()) {
        due_drains += e.detail.find(" is due") != std::string::npos ? 1 : 0;
      }
      REQUIRE(problem == "");
    }
    CHECK(f.spawner.starts.size() > 20); // the workload did load things
  }
  CHECK(due_drains > 0); // replicas did drain for a model due
}


TEST_CASE("scheduler: a model due at its regular gap is prewarmed in free room, never by eviction") {
  // "cron" (keep_alive 0) comes at the top of every hour. Once it has come back at the same
  // gap three times, it is loaded a due_horizon before its time if it fits in free room.
  Fixture f;
  ModelSpec cron = model("cron", 10);
  cron.keep_alive = core::Duration::zero();
  ModelSpec big = model("big", 16);
  big.keep_alive = core::Duration::forever();
  SchedulerOptions o; // due_horizon and session_gap 60 s, prewarm on
  bool off = false;
  SUBCASE("on") {}
  SUBCASE("off") {
    o.prewarm = false;
    off = true;
  }
  f.make({gpu("gpu0", 0, 24)}, {cron, big}, o);
  const auto to = [&f](milliseconds t) { f.advance(t - milliseconds(f.now_ms())); };
  for (int h = 1; h <= 4; ++h) { // three gaps of an hour
    to(std::chrono::hours(h));
    f.exit(f.warm("cron"));
  }
  REQUIRE(f.spawner.starts.size() == 4);
  f.s().take_events();

  const auto wake = f.s().next_wakeup();
  if (off) {
    CHECK_FALSE(wake.has_value()); // nothing up, nothing timed
    to(4h + 59min + 1ms);
    f.s().tick();
    CHECK(f.spawner.starts.size() == 4);
    to(5h);
    const RequestId r = f.s().submit("cron");
    CHECK(is_waiting(f.s().outcome(r))); // it waits for its load, as before
    CHECK(f.spawner.starts.size() == 5);
    return;
  }
  // The scheduler wakes up a minute before 5 h (and a millisecond, for rounding).
  REQUIRE(wake.has_value());
  CHECK(f.ms(*wake) == (4 * 3600 + 59 * 60) * 1000 + 1);
  to(milliseconds(f.ms(*wake)));
  f.s().tick();
  REQUIRE(f.spawner.starts.size() == 5);
  const InstanceId pre = f.spawner.starts[4].id;
  CHECK(f.spawner.starts[4].model == "cron");
  CHECK(has_event(f.s().take_events(), Kind::load, "cron", "prewarm: due soon"));
  f.s().ready(pre);
  CHECK(f.state(pre) == InstanceState::ready); // keep_alive 0, yet kept for its request
  CHECK(f.view(pre)->prewarmed);
  REQUIRE(f.view(pre)->expires.has_value());
  CHECK(f.ms(*f.view(pre)->expires) == f.ms(*wake) + 120'000); // 2 × due_horizon (+ load: 0)

  to(5h); // it comes: served at once, then keep_alive 0 as usual
  const RequestId r = f.s().submit("cron");
  CHECK(assigned(f.s().outcome(r)) == pre);
  CHECK_FALSE(f.view(pre)->prewarmed);
  f.s().finish(r);
  CHECK(f.state(pre) == InstanceState::stopping);
  f.exit(pre);

  // 6 h: "big" holds the room, so cron is not prewarmed: nothing is evicted for a request
  // that has not come. The request evicts big when it comes, as always.
  to(5h + 30min);
  const InstanceId b = f.warm("big"); // 16 of 24 GiB: cron's 10 no longer fit
  REQUIRE(f.spawner.starts.size() == 6);
  to(5h + 59min + 1ms);
  f.s().tick();
  CHECK(f.spawner.starts.size() == 6);
  CHECK(f.state(b) == InstanceState::ready);
  to(6h);
  const RequestId rc = f.s().submit("cron");
  CHECK(f.state(b) == InstanceState::stopping);
  CHECK(is_waiting(f.s().outcome(rc)));
  f.exit(b);
  REQUIRE(f.spawner.starts.size() == 7);
  const InstanceId i6 = f.spawner.starts[6].id;
  f.s().ready(i6);
  CHECK(assigned(f.s().outcome(rc)) == i6);
  f.s().finish(rc);
  f.exit(i6);

  // 7 h: prewarmed, but cron does not come: it stops when the time kept runs out, and is not
  // loaded again before cron's next request.
  to(6h + 59min + 1ms);
  f.s().tick();
  REQUIRE(f.spawner.starts.size() == 8);
  const InstanceId unused = f.spawner.starts[7].id;
  f.s().ready(unused);
  to(7h + 1min + 1ms - 1ms);
  f.s().tick();
  CHECK(f.state(unused) == InstanceState::ready);
  to(7h + 1min + 1ms);
  f.s().tick();
  CHECK(f.state(unused) == InstanceState::stopping);
  CHECK(has_event(f.s().take_events(), Kind::stop, "cron", "prewarmed, but no request came"));
  f.exit(unused);
  for (int k = 0; k < 5; ++k) {
    if (const auto at = f.s().next_wakeup()) {
      to(milliseconds(f.ms(*at)));
      f.s().tick();
    }
  }
  CHECK(f.spawner.starts.size() == 8);
  CHECK(f.spawner.problems.empty());
}

} // namespace
} // namespace ask::router
