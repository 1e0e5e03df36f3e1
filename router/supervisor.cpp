// Supervisor, its public API side: launch() (log file, exec plan, pipes, the fork handed to
// the launcher thread, the exec report), terminate(), the public methods and
// free_loopback_port(). The threads (launcher, monitor, health) and what runs on them are in
// supervisor_monitor.cpp; the Impl both share is in supervisor_impl.h.

#include "router/supervisor.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/platform.h"

#include "router/supervisor_impl.h"

namespace ask::router {

namespace {

// These directives reach the rest of a unity batch (every router file's unnamed namespace is
// the same one there): spawn's and supervisor_detail's names must stay distinct from the
// file-local names of other router files.
using namespace spawn;
using namespace supervisor_detail;

// Opens the log file (and its folders); on failure the ring says why and the process runs on.
OwnedFd open_log(const std::filesystem::path& file, std::string& note) {
  std::error_code ec;
  if (file.has_parent_path()) {
    std::filesystem::create_directories(file.parent_path(), ec);
  }
  OwnedFd fd(::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    note = "supervisor: cannot open log file " + file.string() + ": " + errno_text(errno) + "\n";
  }
  return fd;
}

} // namespace

// --- launching ---------------------------------------------------------------------------

// Registers `proc`; false when its id is in use or the supervisor is stopping.
bool Supervisor::Impl::add(const std::shared_ptr<Proc>& proc) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping || m_procs.contains(proc->id)) {
      return false;
    }
    m_procs.emplace(proc->id, proc);
  }
  m_health_changed.notify_all();
  wake_monitor();
  return true;
}

// A start that failed before the process ran: the monitor reports it as exit 127.
int Supervisor::Impl::start_failed(const std::shared_ptr<Proc>& proc, const std::string& reason) {
  append_output(*proc, reason.data(), reason.size());
  append_output(*proc, "\n", 1);
  proc->reaped = true;
  proc->exit.status = k_start_failed;
  add(proc);
  return 0;
}

int Supervisor::Impl::launch(std::uint64_t id, const LaunchSpec& spec) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping || m_procs.contains(id)) {
      return 0;
    }
  }
  auto proc = std::make_shared<Proc>();
  proc->id = id;
  proc->host = spec.host;
  proc->port = spec.port;
  if (!spec.log_file.empty()) {
    std::string note;
    proc->log = open_log(spec.log_file, note);
    proc->ring = note;
  }
  auto plan = make_exec_plan(spec);
  if (!plan) {
    return start_failed(proc, plan.error().message);
  }
  OwnedFd out_read, out_write, status_read, status_write;
  if (!core::open_cloexec_pipe(out_read, out_write) ||
      !core::open_cloexec_pipe(status_read, status_write)) {
    return start_failed(proc, "supervisor: cannot create pipes: " + errno_text(errno));
  }
  const int pid = fork_on_launcher(*plan, out_write.get(), status_write.get());
  if (pid < 0) {
    return start_failed(proc, "supervisor: fork failed: " + errno_text(-pid));
  }
  ::setpgid(pid, pid); // the child does the same; whichever runs first wins the race
  out_write.reset();
  status_write.reset();
  if (const std::optional<int> err = read_exec_report(status_read.get())) {
    int status = 0;
    wait_blocking(pid, &status);
    return start_failed(proc, plan->path + ": cannot execute: " + errno_text(*err));
  }
  core::set_nonblocking(out_read.get());
  proc->out = std::move(out_read);
  proc->exit_watch = core::platform::ChildExitWatch(pid);
  proc->pid = pid;
  proc->next_health = SupClock::now() + m_options.health_interval;
  if (!add(proc)) { // a racing launch for the same id, or the destructor began meanwhile
    ::kill(-pid, SIGKILL);
    int status = 0;
    wait_blocking(pid, &status);
    return 0;
  }
  return pid;
}

void Supervisor::Impl::terminate(std::uint64_t id) {
  std::lock_guard lock(m_mutex);
  const auto it = m_procs.find(id);
  if (it == m_procs.end()) {
    return;
  }
  Proc& proc = *it->second;
  if (proc.terminating || proc.reaped || proc.pid <= 0) {
    return;
  }
  proc.terminating = true;
  ::kill(-proc.pid, SIGTERM); // unreaped (checked under m_mutex), so the group is still ours
  proc.kill_at = SupClock::now() + m_options.stop_grace;
  wake_monitor();
}

// --- the public face -----------------------------------------------------------------------

Supervisor::Supervisor(Callbacks callbacks, SupervisorOptions options)
    : m_impl(std::make_unique<Impl>(std::move(callbacks), options)) {
  m_impl->start_threads();
}

Supervisor::~Supervisor() {
  m_impl->stop_threads();
}

int Supervisor::launch(std::uint64_t id, const LaunchSpec& spec) {
  return m_impl->launch(id, spec);
}

void Supervisor::terminate(std::uint64_t id) {
  m_impl->terminate(id);
}

std::string Supervisor::output(std::uint64_t id) const {
  std::lock_guard lock(m_impl->m_mutex);
  const auto it = m_impl->m_procs.find(id);
  if (it == m_impl->m_procs.end() || it->second->finished) {
    return "";
  }
  const std::string& ring = it->second->ring;
  const std::size_t keep = std::min(ring.size(), m_impl->m_options.ring_bytes);
  return ring.substr(ring.size() - keep);
}

std::optional<int> Supervisor::pid(std::uint64_t id) const {
  std::lock_guard lock(m_impl->m_mutex);
  const auto it = m_impl->m_procs.find(id);
  if (it == m_impl->m_procs.end() || it->second->pid <= 0 || it->second->reaped) {
    return std::nullopt;
  }
  return it->second->pid;
}

core::Result<int> free_loopback_port() {
  OwnedFd fd(core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0));
  if (!fd.valid()) {
    return core::fail(core::Error::internal("free port: socket: " + errno_text(errno)));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return core::fail(core::Error::internal("free port: bind 127.0.0.1:0: " + errno_text(errno)));
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

} // namespace ask::router
