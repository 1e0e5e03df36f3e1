#include "ask/app.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <fcntl.h>
#include <unistd.h>

#include "ask/cli.h"
#include "ask/commands.h"
#include "ask/logs.h"
#include "ask/run.h"
#include "ask/terminal.h"
#include "config/config.h"
#include "core/platform.h"

namespace ask::cli {
namespace {

int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  int saved = errno;
  if (g_stop_pipe[1] >= 0) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(g_stop_pipe[1], &c, 1);
  }
  errno = saved;
}

// SIGINT and SIGTERM make the stop pipe readable; network waits watch it. SIGPIPE is
// ignored: a closed stdout or socket is an error return, not death.
int install_stop_pipe() {
  std::signal(SIGPIPE, SIG_IGN);
  if (!core::platform::make_pipe_cloexec(g_stop_pipe, true)) {
    return -1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  return g_stop_pipe[0];
}

std::optional<config::LoadedConfig> load(int argc, char** argv, Terminal& term) {
  config::LoadOptions lo;
  if (auto path = find_config_arg(argc, argv)) {
    lo.explicit_path = *path;
  }
  auto loaded = config::load_config(lo);
  if (!loaded) {
    for (const config::Diagnostic& d : loaded.error().diagnostics) {
      term.note((d.severity == config::Severity::error ? "error: " : "warning: ") + d.to_string());
    }
    term.error("the config has errors (check it with `askd --check-config`)");
    return std::nullopt;
  }
  return std::move(*loaded);
}

} // namespace

namespace {
// Ends the process without running destructors: a short-lived ask frees nothing the kernel
// does not reclaim, and tearing down the config and the cache took a measurable part of a
// cache hit (docs/benchmarks.md). Everything that must reach the disk already has: the
// telemetry line was written with write(2), SQLite is crash-safe by design.
[[noreturn]] void exit_now(ExitCode code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(static_cast<int>(code));
}
} // namespace

int ask_main(int argc, char** argv) {
  // A reader that closes the pipe early (`ask completion bash | head -1`) makes writes fail
  // with EPIPE, which every command treats as a quiet end, instead of killing ask (exit 141).
  std::signal(SIGPIPE, SIG_IGN);
  // A closed stdin, stdout or stderr becomes /dev/null, so that no file ask opens (the stop
  // pipe, the cache) takes its number and is read or written as if it were one.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      (void)::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    }
  }
  Terminal early(detect_terminal(true), stdout, stderr);
  auto loaded = load(argc, argv, early);
  if (!loaded) {
    return static_cast<int>(ExitCode::usage);
  }
  auto inv = parse_command_line(argc, argv, loaded->config);
  if (!inv) {
    early.error(inv.error().message + " (see ask --help)");
    return static_cast<int>(ExitCode::usage);
  }
  Terminal term(detect_terminal(inv->ask.quiet), stdout, stderr);
  core::SystemClock clock;
  switch (inv->command) {
  case Command::help:
    term.answer(inv->text);
    return 0;
  case Command::version:
    term.answer("ask " ASK_VERSION "\n");
    return 0;
  case Command::stats:
    return static_cast<int>(run_stats(inv->stats, loaded->config, clock, term));
  case Command::cache_stats:
  case Command::cache_prune:
  case Command::cache_clear:
    return static_cast<int>(run_cache(inv->command, loaded->config, clock, term));
  case Command::models:
    return static_cast<int>(
        run_models(inv->models, core::process_env(), install_stop_pipe(), term));
  case Command::completion:
    term.answer(completion_script(parse_shell(inv->shell).value_or(Shell::bash),
                                  completion_spec(loaded->config)));
    return static_cast<int>(term.answer_failed() && !term.answer_pipe_closed() ? ExitCode::failure
                                                                               : ExitCode::ok);
  case Command::logs:
    return static_cast<int>(run_logs(inv->logs, loaded->config, clock, term));
  case Command::ask:
    break;
  }
  Process proc{core::process_env(), clock, 0, ::isatty(0) == 1, -1};
  proc.stop_fd = install_stop_pipe();
  const ExitCode code = run_question(inv->ask, *loaded, proc, term);
  term.stop_progress();
  exit_now(code);
}

} // namespace ask::cli
