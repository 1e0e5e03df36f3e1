#pragma once
// Graceful shutdown on SIGTERM/SIGINT without async-signal-unsafe handlers: the signals are
// blocked in every thread and one thread takes them with sigwait(), then raises a flag
// that the main thread waits on.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ask::sim {

class ShutdownSignal {
public:
  // Blocks SIGTERM, SIGINT and SIGUSR1 (and ignores SIGPIPE) in the calling thread, which
  // every thread started later inherits; call it before starting threads.
  ShutdownSignal();
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // Raises the flag without a signal.
  void request();
  bool requested() const;
  // Waits until the flag is raised or `timeout` passes; true when raised.
  bool wait_for(std::chrono::nanoseconds timeout);
  void wait();
  // The signal that raised the flag, 0 if none did.
  int signal() const;

private:
  void watch();

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_requested = false;
  int m_signal = 0;
  std::thread m_thread;
};

// Starts a detached thread that ends the process (status 1, no clean-up) once process `pid`
// is gone: kill(pid, 0) says ESRCH, or `pid` was our parent and we have been re-parented.
// Polls every 200 ms. Call it after ShutdownSignal so the thread inherits the signal mask.
void exit_when_process_gone(long long pid);

} // namespace ask::sim
