#pragma once
// The replay machinery sched_trace's policies share (sched_trace_sim.cpp), private to
// sched_trace_askd.cpp, sched_trace_baselines.cpp and sched_trace_policies.cpp. Every replay
// is a discrete-event loop over virtual milliseconds: events (an instance ready, an instance
// exited, a request's service done, a keep_alive deadline) come off one queue in time order,
// trace arrivals are merged in, and nothing ever sleeps.
//
// Shared by every policy, so that only the decisions differ:
// - a load takes the model's load_ms from start to ready; a stop takes exit_ms until the
//   process has gone, and its memory is held until then;
// - requests handed to an instance are served FIFO in its `parallel` slots (llama-server
//   queues the rest), each for its service time;
// - a request is "cold" when it is not handed to a running instance on arrival: it waits
//   for a load, for room, or (swap, ollama) behind a request that does;
// - memory per GPU is the per-GPU bytes of router::place()'s plan. The VRAM-aware baselines
//   (swap, ollama) place with it on what their own accounting leaves free, as askd does, so
//   that a split or a fit is the same decision for all of them.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <queue>
#include <vector>

#include "bench/sched_trace_policies.h"
#include "router/placement.h"

namespace ask::bench::sched::detail {

inline constexpr Ms k_never = std::numeric_limits<Ms>::max();

// When a replay still busy is going round in circles: a day after the trace's last arrival.
Ms give_up_at(const std::vector<Arrival>& trace);

enum class EventKind { ready, exited, done, expire };

struct Event {
  Ms at = 0;
  std::uint64_t seq = 0; // insertion order: events at the same time keep it
  EventKind kind = EventKind::done;
  std::uint64_t id = 0;    // instance, or ticket for `done`
  std::uint64_t epoch = 0; // expire: the instance's idle period it was set for
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};

class EventQueue {
public:
  void push(Ms at, EventKind kind, std::uint64_t id, std::uint64_t epoch = 0) {
    m_heap.push({at, m_seq++, kind, id, epoch});
  }
  Ms next_at() const { return m_heap.empty() ? k_never : m_heap.top().at; }
  Event pop() {
    Event e = m_heap.top();
    m_heap.pop();
    return e;
  }

private:
  std::priority_queue<Event, std::vector<Event>, Later> m_heap;
  std::uint64_t m_seq = 0;
};

// One request of the trace as one policy saw it.
struct Ticket {
  Ms arrival = 0;
  Ms service = 0;
  std::size_t model = 0;
  Ms start = -1;     // service start; -1 = never served
  bool cold = false; // not handed to a running instance on arrival
  bool failed = false;
  bool unplaceable = false;   // failed because no set of the rig's GPUs holds the model
  std::uint64_t instance = 0; // 0 = not handed to one yet
  router::RequestId rid = 0;  // askd only
};

// One ticket per arrival, in trace order, none served yet.
std::vector<Ticket> tickets_of(const std::vector<Arrival>& trace);

// The slots of every instance: a request handed to an instance starts service when one of
// its `parallel` slots is free, in the order they were handed over.
class Slots {
public:
  Slots(std::vector<Ticket>& tickets, EventQueue& events) : m_tickets(tickets), m_events(events) {}

  void assign(std::uint64_t instance, int parallel, std::size_t t, Ms now);
  // Ticket `t` is done; the next request queued on its instance starts. Returns the instance.
  std::uint64_t complete(std::size_t t, Ms now);
  // Requests served or queued on `instance`.
  int in_flight(std::uint64_t instance) const;

private:
  struct Queue {
    int parallel = 1;
    int busy = 0;
    std::deque<std::size_t> waiting;
  };
  void begin(Queue& q, std::size_t t, Ms now);

  std::vector<Ticket>& m_tickets;
  EventQueue& m_events;
  std::map<std::uint64_t, Queue> m_queues;
};

// Bytes held per GPU, with the peaks and every load that went past a cap.
class Memory {
public:
  explicit Memory(const Rig& rig);
  void add(const std::vector<std::uint64_t>& bytes, Metrics& m);
  void remove(const std::vector<std::uint64_t>& bytes);
  std::uint64_t available(std::size_t g) const;
  std::size_t size() const { return m_caps.size(); }

private:
  std::vector<std::uint64_t> m_caps;
  std::vector<std::uint64_t> m_used;
};

// The bytes `plan` puts on each of the rig's GPUs, in inventory order.
std::vector<std::uint64_t> plan_bytes(const Rig& rig, const router::Plan& plan);

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p);

// Fills the request counts, waits and per-model splits of `m` from the replayed tickets.
void summarise(const std::vector<Ticket>& tickets, std::size_t n_models, Metrics& m);

// The two replays replay() dispatches to: askd's Scheduler (sched_trace_askd.cpp) and the
// lru-models-max, swap and ollama baselines (sched_trace_baselines.cpp).
Metrics replay_askd(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
                    const std::vector<Arrival>& trace, const ReplayOptions& options);
Metrics replay_baseline(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
                        const std::vector<Arrival>& trace, const ReplayOptions& options);

} // namespace ask::bench::sched::detail
