// supervisor_probe: a child for supervisor_test that does what its arguments say, in order.
//   --say TEXT          prints TEXT and a newline on stdout (--say-err: on stderr)
//   --lines N           prints "line 1" ... "line N" on stdout
//   --env NAME          prints "NAME=value", or "NAME unset"
//   --ignore-term       ignores SIGTERM from now on (say something after it to announce it)
//   --exit N            exits with status N now
//   --sleep             blocks until killed
//   --supervise SIM PORT
//       runs a Supervisor that starts `SIM --sim-fake-model --port PORT` from a short-lived
//       thread, prints "child PID" once it is ready, and blocks until killed: the test
//       SIGKILLs this process and expects the simulator to die with it (PR_SET_PDEATHSIG).

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include <unistd.h>

#include "router/supervisor.h"

namespace {

[[noreturn]] void block_forever() {
  for (;;) {
    ::pause();
  }
}

[[noreturn]] void supervise(const std::string& sim, const std::string& port) {
  std::promise<void> ready;
  ask::router::SupervisorOptions options;
  options.stop_grace = std::chrono::milliseconds(1000);
  options.health_interval = std::chrono::milliseconds(20);
  ask::router::Supervisor supervisor({[&](std::uint64_t) { ready.set_value(); },
                                      [](std::uint64_t, const ask::router::ProcessExit& e) {
                                        std::printf("exited %d %s\n", e.status, e.tail.c_str());
                                        std::fflush(stdout);
                                        std::_Exit(1);
                                      }},
                                     options);
  ask::router::LaunchSpec spec;
  spec.binary = sim;
  spec.args = {"--sim-fake-model", "-a", "probe", "--host", "127.0.0.1", "--port", port};
  spec.port = std::stoi(port);
  int pid = 0;
  // Launched from a thread that ends at once: the child must outlive it.
  std::thread([&] { pid = supervisor.launch(1, spec); }).join();
  ready.get_future().wait();
  std::printf("child %d\n", pid);
  std::fflush(stdout);
  block_forever();
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--say" || arg == "--say-err") {
      std::fprintf(arg == "--say" ? stdout : stderr, "%s\n", value);
      std::fflush(nullptr);
      ++i;
    } else if (arg == "--lines") {
      for (int n = 1, last = std::atoi(value); n <= last; ++n) {
        std::printf("line %d\n", n);
      }
      std::fflush(stdout);
      ++i;
    } else if (arg == "--env") {
      const char* v = std::getenv(value);
      v != nullptr ? std::printf("%s=%s\n", value, v) : std::printf("%s unset\n", value);
      std::fflush(stdout);
      ++i;
    } else if (arg == "--ignore-term") {
      std::signal(SIGTERM, SIG_IGN);
    } else if (arg == "--exit") {
      return std::atoi(value);
    } else if (arg == "--sleep") {
      block_forever();
    } else if (arg == "--supervise" && i + 2 < argc) {
      supervise(argv[i + 1], argv[i + 2]);
    } else {
      std::fprintf(stderr, "supervisor_probe: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  return 0;
}
