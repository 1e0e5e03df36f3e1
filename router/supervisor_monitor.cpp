// Supervisor, its threads and what runs on them (the public API side is supervisor.cpp, the
// Impl both share supervisor_impl.h). Threads, all started by the constructor and joined by
// the destructor:
// - the launcher forks (and only forks): PR_SET_PDEATHSIG (Linux) is bound to the forking
//   thread, so it must outlive every child; launch() hands it a prepared ExecPlan and waits
//   for the pid;
// - the monitor polls every output pipe and exit watch (core/platform.h: a pidfd on Linux, a
//   SIGCHLD self-pipe elsewhere): it appends output to the rings and log
//   files, reaps exited processes by pid (never waitpid(-1), which would steal the statuses
//   of other children of askd), sends the SIGKILLs that follow a grace period and delivers
//   exited();
// - the health thread polls GET /health of the processes still loading and delivers ready().
// Callbacks are serialised by m_callback_mutex and run without m_mutex held, so a callback may
// call back into launch() and terminate().

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "router/supervisor_impl.h"

namespace ask::router {

namespace {

// These directives reach the rest of a unity batch (every router file's unnamed namespace is
// the same one there): spawn's and supervisor_detail's names must stay distinct from the
// file-local names of other router files.
using namespace spawn;
using namespace supervisor_detail;

constexpr std::size_t k_read_chunk = 64 * 1024;
constexpr std::chrono::milliseconds k_health_timeout{2000};
// How long the output of a reaped process may stay open (a descendant that left the process
// group still holds the pipe) before exited() is delivered without the rest.
constexpr std::chrono::milliseconds k_drain_grace{2000};
// Between waitid(WNOHANG) rounds for a process without an exit watch (Linux < 5.3, or the
// portable path's pool of 64 spent).
constexpr std::chrono::milliseconds k_reap_poll{50};

ProcessExit decode_status(int status) {
  ProcessExit e;
  if (WIFSIGNALED(status)) {
    e.signaled = true;
    e.status = WTERMSIG(status);
  } else {
    e.status = WEXITSTATUS(status);
  }
  return e;
}

// The last lines of `text`, at most k_tail_bytes, starting at a line boundary when cut
// (here, or before: `cut_before` when `text` itself lost its beginning).
std::string last_lines(std::string_view text, bool cut_before) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  if (text.size() > k_tail_bytes || cut_before) {
    text = text.substr(text.size() - std::min(text.size(), k_tail_bytes));
    const std::size_t eol = text.find('\n');
    if (eol != std::string_view::npos) {
      text.remove_prefix(eol + 1);
    }
  }
  return std::string(text);
}

} // namespace

// --- starting and stopping the threads ----------------------------------------------------

void Supervisor::Impl::start_threads() {
  if (!core::open_cloexec_pipe(m_wake_read, m_wake_write)) {
    throw std::system_error(errno, std::generic_category(), "supervisor: pipe");
  }
  core::set_nonblocking(m_wake_read.get());
  core::set_nonblocking(m_wake_write.get());
  m_launcher = std::thread([this] { launcher_loop(); });
  m_monitor = std::thread([this] { monitor_loop(); });
  m_health = std::thread([this] { health_loop(); });
}

void Supervisor::Impl::wake_monitor() const {
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(m_wake_write.get(), &byte, 1); // full: awake anyway
}

void Supervisor::Impl::stop_threads() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
    for (const auto& [id, proc] : m_procs) {
      if (proc->pid > 0 && !proc->reaped) {
        ::kill(-proc->pid, SIGKILL); // unreaped, so the group id is still this child's
      }
    }
  }
  {
    std::lock_guard lock(m_fork_mutex);
    m_fork_stop = true;
  }
  m_fork_changed.notify_all();
  m_health_changed.notify_all();
  wake_monitor();
  m_health.join();
  m_launcher.join();
  m_monitor.join(); // reaps what the SIGKILLs above ended
}

// --- the launcher: every fork, on one long-lived thread ---------------------------------

void Supervisor::Impl::launcher_loop() {
  for (;;) {
    std::shared_ptr<ForkJob> job;
    {
      std::unique_lock lock(m_fork_mutex);
      m_fork_changed.wait(lock, [this] { return m_fork_stop || !m_fork_queue.empty(); });
      if (m_fork_queue.empty()) {
        return;
      }
      job = m_fork_queue.front();
      m_fork_queue.pop_front();
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      exec_child(*job->plan, job->out_fd, job->status_fd);
    }
    const int err = errno;
    job->result.set_value(pid < 0 ? -err : pid); // the plan may be gone after this
  }
}

int Supervisor::Impl::fork_on_launcher(const ExecPlan& plan, int out_fd, int status_fd) {
  auto job = std::make_shared<ForkJob>();
  job->plan = &plan;
  job->out_fd = out_fd;
  job->status_fd = status_fd;
  std::future<int> result = job->result.get_future();
  {
    std::lock_guard lock(m_fork_mutex);
    if (m_fork_stop) {
      return -ECANCELED;
    }
    m_fork_queue.push_back(std::move(job));
  }
  m_fork_changed.notify_one();
  return result.get();
}

// --- the monitor: output, reaping, SIGKILL timers, exited() -------------------------------

// Called by the monitor, or by launch() before the process is registered.
void Supervisor::Impl::append_output(Proc& proc, const char* data, std::size_t size) {
  std::string note;
  if (proc.log.valid()) {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(proc.log.get(), data + done, size - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        note = "supervisor: log file write failed: " + errno_text(errno) + "; the log ends here\n";
        proc.log.reset(); // the server runs on; only the ring keeps its output now
        break;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  std::lock_guard lock(m_mutex);
  proc.ring.append(data, size);
  proc.ring += note;
  if (proc.ring.size() > 2 * m_keep) { // trimmed in batches, not on every read
    proc.ring.erase(0, proc.ring.size() - m_keep);
    proc.ring_cut = true;
  }
}

void Supervisor::Impl::read_output(Proc& proc) {
  std::array<char, k_read_chunk> buf;
  const ssize_t n = ::read(proc.out.get(), buf.data(), buf.size());
  if (n > 0) {
    append_output(proc, buf.data(), static_cast<std::size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    proc.out.reset(); // end of output: every writer has exited (or closed it)
  }
}

// Reaps `proc` if it has exited. Called with m_mutex held, which keeps terminate() from
// signalling a pid just released for reuse.
void Supervisor::Impl::try_reap(Proc& proc, SupClock::time_point now) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(proc.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == ECHILD) { // someone else reaped it (SIGCHLD ignored?): the status is lost
      proc.reaped = true;
      proc.exit.status = -1;
      proc.drain_until = now + k_drain_grace;
    }
    return;
  }
  if (info.si_pid == 0) {
    return; // still running
  }
  // Whatever it left in its group would hold the output pipe open; the zombie still pins the
  // group id, so this reaches no one else.
  ::kill(-proc.pid, SIGKILL);
  int status = 0;
  wait_blocking(proc.pid, &status);
  const ProcessExit decoded = decode_status(status);
  proc.exit.status = decoded.status;
  proc.exit.signaled = decoded.signaled;
  proc.reaped = true;
  proc.kill_at.reset();
  proc.drain_until = now + k_drain_grace;
}

int Supervisor::Impl::monitor_timeout(SupClock::time_point now) const {
  std::optional<SupClock::time_point> next;
  auto consider = [&](SupClock::time_point t) { next = next ? std::min(*next, t) : t; };
  for (const auto& [id, proc] : m_procs) {
    if (proc->reaped && !proc->out.valid() && !proc->finished) {
      return 0; // an exit to deliver
    }
    if (proc->kill_at) {
      consider(*proc->kill_at);
    }
    if (proc->drain_until && proc->out.valid()) {
      consider(*proc->drain_until);
    }
    if (!proc->reaped && !proc->exit_watch.valid()) {
      consider(now + k_reap_poll);
    }
  }
  return next ? ms_until(*next) : -1;
}

void Supervisor::Impl::run_timers(SupClock::time_point now) {
  std::lock_guard lock(m_mutex);
  for (const auto& [id, proc] : m_procs) {
    if (!proc->reaped && !proc->exit_watch.valid()) {
      try_reap(*proc, now);
    }
    if (proc->kill_at && now >= *proc->kill_at && !proc->reaped) {
      ::kill(-proc->pid, SIGKILL);
      proc->kill_at.reset();
    }
    if (proc->drain_until && now >= *proc->drain_until && proc->out.valid()) {
      proc->out.reset();
    }
  }
}

void Supervisor::Impl::deliver_exits() {
  std::vector<std::shared_ptr<Proc>> done;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& [id, proc] : m_procs) {
      if (proc->reaped && !proc->out.valid() && !proc->finished) {
        done.push_back(proc);
      }
    }
  }
  for (const auto& proc : done) {
    std::lock_guard callback(m_callback_mutex);
    ProcessExit exit;
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) {
        return;
      }
      proc->finished = true;
      exit = proc->exit;
      exit.tail = last_lines(proc->ring, proc->ring_cut);
      m_procs.erase(proc->id); // before the callback: it may launch the same id again
    }
    if (m_callbacks.exited) {
      m_callbacks.exited(proc->id, exit);
    }
  }
}

void Supervisor::Impl::monitor_loop() {
  std::vector<pollfd> fds;
  std::vector<std::pair<std::shared_ptr<Proc>, bool>> owners; // (proc, is its output fd)
  for (;;) {
    fds.assign(1, pollfd{m_wake_read.get(), POLLIN, 0});
    owners.assign(1, {nullptr, false});
    int timeout = -1;
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) {
        break;
      }
      for (const auto& [id, proc] : m_procs) {
        if (proc->out.valid()) {
          fds.push_back({proc->out.get(), POLLIN, 0});
          owners.emplace_back(proc, true);
        }
        if (!proc->reaped && proc->exit_watch.valid()) {
          fds.push_back({proc->exit_watch.fd(), POLLIN, 0});
          owners.emplace_back(proc, false);
        }
      }
      timeout = monitor_timeout(SupClock::now());
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      continue; // EINVAL/ENOMEM: the next round rebuilds the set
    }
    if ((fds[0].revents & POLLIN) != 0) {
      std::array<char, 64> drain;
      while (::read(m_wake_read.get(), drain.data(), drain.size()) > 0) {
      }
    }
    const auto now = SupClock::now();
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      Proc& proc = *owners[i].first;
      if (owners[i].second) {
        read_output(proc);
      } else if (proc.exit_watch.exited()) { // else the portable path woke for another child
        std::lock_guard lock(m_mutex);
        try_reap(proc, now);
        proc.exit_watch = {};
      }
    }
    run_timers(now);
    deliver_exits();
  }
  kill_and_reap_all();
}

// The destructor's end: everything dies and is reaped, and no callback is made.
void Supervisor::Impl::kill_and_reap_all() {
  std::lock_guard lock(m_mutex);
  for (const auto& [id, proc] : m_procs) {
    if (proc->pid > 0 && !proc->reaped) {
      ::kill(-proc->pid, SIGKILL);
      int status = 0;
      wait_blocking(proc->pid, &status);
      proc->reaped = true;
    }
  }
  m_procs.clear();
}

// --- health --------------------------------------------------------------------------------

void Supervisor::Impl::announce_ready(const std::shared_ptr<Proc>& proc) {
  std::lock_guard callback(m_callback_mutex);
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping || proc->finished || proc->reaped || proc->ready_sent || proc->terminating) {
      return;
    }
    // A 200 from a process that has just died came from someone else on the port.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(proc->pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != 0) {
      return;
    }
    proc->ready_sent = true;
  }
  if (m_callbacks.ready) {
    m_callbacks.ready(proc->id);
  }
}

void Supervisor::Impl::health_loop() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    const auto now = SupClock::now();
    std::optional<SupClock::time_point> next;
    std::vector<std::shared_ptr<Proc>> due;
    for (const auto& [id, proc] : m_procs) {
      if (proc->pid <= 0 || proc->reaped || proc->ready_sent || proc->terminating) {
        continue;
      }
      if (proc->next_health <= now) {
        proc->next_health = now + m_options.health_interval;
        due.push_back(proc);
      }
      next = next ? std::min(*next, proc->next_health) : proc->next_health;
    }
    if (due.empty()) {
      if (next) {
        m_health_changed.wait_until(lock, *next);
      } else {
        m_health_changed.wait(lock);
      }
      continue;
    }
    lock.unlock();
    for (const auto& proc : due) {
      if (health_ok(proc->host, proc->port, k_health_timeout)) {
        announce_ready(proc);
      }
    }
    lock.lock();
  }
}

} // namespace ask::router
