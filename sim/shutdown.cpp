#include "sim/shutdown.h"

#include <csignal>
#include <pthread.h>

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
