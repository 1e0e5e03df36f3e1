#pragma once
// Supervisor's private side: the Impl struct behind router/supervisor.h and the few helpers
// both of its files use. supervisor.cpp holds the public API side (launch, terminate, output,
// pid); supervisor_monitor.cpp the threads (launcher, monitor, health) and their loops.
// Internal to those two files.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <sys/types.h>
#include <sys/wait.h>

#include "core/platform.h"
#include "core/unique_fd.h"
#include "router/spawn.h"
#include "router/supervisor.h"

// A named namespace, not an anonymous one: Impl is defined in this header, and g++ flags a
// class in a header whose members use file-local types (-Wsubobject-linkage).
namespace ask::router::supervisor_detail {

using SupClock = std::chrono::steady_clock;
using OwnedFd = core::UniqueFd;

inline constexpr std::size_t k_tail_bytes = 2048;

inline std::string errno_text(int err) {
  return std::strerror(err);
}

inline void wait_blocking(pid_t pid, int* status) {
  while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

} // namespace ask::router::supervisor_detail

namespace ask::router {

struct Supervisor::Impl {
  using SupClock = supervisor_detail::SupClock;
  using OwnedFd = supervisor_detail::OwnedFd;
  using ExecPlan = spawn::ExecPlan;

  struct Proc {
    std::uint64_t id = 0;
    pid_t pid = 0; // 0: never started (the exit is already known)
    std::string host;
    int port = 0;
    OwnedFd out;   // read end of stdout+stderr; reset at EOF. Only the monitor touches it.
    // Readable once the process may have exited (its exited() tells); invalid without one
    // (Linux before 5.3, the portable path's pool spent): the monitor polls waitid instead.
    core::platform::ChildExitWatch exit_watch;
    OwnedFd log;   // the log file; reset after a write error
    std::string ring;
    bool ring_cut = false; // the ring lost its oldest bytes (so starts mid-line, perhaps)
    bool reaped = false;
    ProcessExit exit; // once reaped
    bool ready_sent = false;
    bool finished = false; // exited() delivered (or under way)
    bool terminating = false;
    std::optional<SupClock::time_point> kill_at;     // SIGKILL once stop_grace has passed
    std::optional<SupClock::time_point> drain_until; // give up on the output after reaping
    SupClock::time_point next_health{};
  };

  struct ForkJob {
    const ExecPlan* plan = nullptr;
    int out_fd = -1;
    int status_fd = -1;
    std::promise<int> result; // the pid, or -errno
  };

  Impl(Callbacks callbacks, SupervisorOptions options)
      : m_callbacks(std::move(callbacks)), m_options(options),
        m_keep(std::max(m_options.ring_bytes, supervisor_detail::k_tail_bytes)) {}

  // launch, start_failed, add and terminate are defined in supervisor.cpp; the rest (the
  // threads and what runs on them) in supervisor_monitor.cpp.
  void start_threads();
  void stop_threads();

  int launch(std::uint64_t id, const LaunchSpec& spec);
  int start_failed(const std::shared_ptr<Proc>& proc, const std::string& reason);
  int fork_on_launcher(const ExecPlan& plan, int out_fd, int status_fd);
  bool add(const std::shared_ptr<Proc>& proc);
  void terminate(std::uint64_t id);

  void launcher_loop();
  void monitor_loop();
  void health_loop();

  void append_output(Proc& proc, const char* data, std::size_t size);
  void read_output(Proc& proc);
  void try_reap(Proc& proc, SupClock::time_point now);
  int monitor_timeout(SupClock::time_point now) const;
  void run_timers(SupClock::time_point now);
  void deliver_exits();
  void announce_ready(const std::shared_ptr<Proc>& proc);
  void kill_and_reap_all();
  void wake_monitor() const;

  Callbacks m_callbacks;
  SupervisorOptions m_options;
  std::size_t m_keep; // ring bytes kept: ring_bytes, but never less than a tail

  mutable std::mutex m_mutex; // guards everything below except the fork queue
  std::map<std::uint64_t, std::shared_ptr<Proc>> m_procs;
  bool m_stopping = false;
  std::condition_variable m_health_changed;

  std::mutex m_callback_mutex; // one callback at a time, in a consistent order

  std::mutex m_fork_mutex;
  std::condition_variable m_fork_changed;
  // Shared with the launcher: the promise must outlive its set_value() even when launch()
  // has already returned with the value.
  std::deque<std::shared_ptr<ForkJob>> m_fork_queue;
  bool m_fork_stop = false;

  OwnedFd m_wake_read; // a byte here wakes the monitor's poll
  OwnedFd m_wake_write;
  std::thread m_launcher;
  std::thread m_monitor;
  std::thread m_health;
};

} // namespace ask::router
