#include "sim/shutdown.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

namespace ask::sim {

namespace {

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1); // our own wake-up when shutting down without a signal
  return set;
}

} // namespace

void exit_when_process_gone(long long pid) {
  const auto watched = static_cast<pid_t>(pid);
  const bool was_parent = ::getppid() == watched;
  std::thread([watched, was_parent] {
    for (;;) {
      bool gone =
          (::kill(watched, 0) != 0 && errno == ESRCH) || (was_parent && ::getppid() != watched);
      if (gone) {
        std::fprintf(stderr, "llm-sim: process %d is gone (--sim-parent-pid), exiting\n",
                     static_cast<int>(watched));
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }).detach();
}

ShutdownSignal::ShutdownSignal() {
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set = watched_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  m_thread = std::thread([this] { watch(); });
}

ShutdownSignal::~ShutdownSignal() {
  request();
  pthread_kill(m_thread.native_handle(), SIGUSR1);
  m_thread.join();
}

void ShutdownSignal::watch() {
  sigset_t set = watched_signals();
  int sig = 0;
  while (sigwait(&set, &sig) == 0) {
    std::lock_guard lock(m_mutex);
    if (sig != SIGUSR1 && m_signal == 0) {
      m_signal = sig;
    }
    m_requested = true;
    m_cv.notify_all();
    if (sig == SIGUSR1) {
      return;
    }
  }
}

void ShutdownSignal::request() {
  std::lock_guard lock(m_mutex);
  m_requested = true;
  m_cv.notify_all();
}

bool ShutdownSignal::requested() const {
  std::lock_guard lock(m_mutex);
  return m_requested;
}

bool ShutdownSignal::wait_for(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(m_mutex);
  return m_cv.wait_for(lock, timeout, [this] { return m_requested; });
}

void ShutdownSignal::wait() {
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [this] { return m_requested; });
}

int ShutdownSignal::signal() const {
  std::lock_guard lock(m_mutex);
  return m_signal;
}

} // namespace ask::sim
