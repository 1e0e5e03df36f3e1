#include "bench/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/platform.h"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX has it in no header

namespace ask::bench {

namespace {

using namespace std::chrono_literals;

// Live child process groups, for the signal handler and atexit (async-signal-safe access).
std::array<std::atomic<pid_t>, 256> g_groups{};

void register_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pgid)) {
      return;
    }
  }
}

void unregister_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t expected = pgid;
    if (slot.compare_exchange_strong(expected, 0)) {
      return;
    }
  }
}

void kill_all_groups() {
  for (auto& slot : g_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) {
      ::kill(-pgid, SIGKILL);
    }
  }
}

extern "C" void on_stop_signal(int sig) {
  kill_all_groups();
  std::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

void install_cleanup_handlers() {
  static bool installed = false;
  if (installed) {
    return;
  }
  installed = true;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    ::sigaction(sig, &sa, nullptr);
  }
  std::signal(SIGPIPE, SIG_IGN); // a server that goes away shows as a failed write
  std::atexit(kill_all_groups);
}

Process::Process(std::vector<std::string> argv, std::filesystem::path log_file)
    : m_argv(std::move(argv)), m_log(std::move(log_file)) {
  if (m_argv.empty()) {
    throw std::runtime_error("Process: empty argv");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, m_log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0); // its own group, so the whole tree can be killed
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETPGROUP |
                                                     POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETSIGDEF));

  std::vector<char*> args;
  args.reserve(m_argv.size() + 1);
  for (std::string& a : m_argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  const int rc = ::posix_spawn(&m_pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + m_argv[0] + ": " + std::strerror(rc));
  }
  register_group(m_pid);
}

Process::~Process() {
  if (!m_status) {
    ::kill(-m_pid, SIGKILL);
    reap(true);
  }
}

void Process::reap(bool block) {
  if (m_status) {
    return;
  }
  int status = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(m_pid, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == m_pid) {
    m_status = status;
    // The leader is gone; whatever it left in its group goes too.
    ::kill(-m_pid, SIGKILL);
    unregister_group(m_pid);
  }
}

bool Process::running() {
  reap(false);
  return !m_status;
}

void Process::stop(std::chrono::milliseconds grace) {
  if (m_status) {
    return;
  }
  ::kill(-m_pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  if (!m_status) {
    ::kill(-m_pid, SIGKILL);
    reap(true);
  }
}

std::optional<std::string> Process::wait_for_line(std::string_view needle,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const bool alive = running(); // before reading: a line printed just before exit counts
    const std::string text = read_file(m_log);
    std::size_t start = 0;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos;
         start = nl + 1, nl = text.find('\n', start)) {
      std::string_view line(text.data() + start, nl - start);
      if (line.find(needle) != std::string_view::npos) {
        return std::string(line);
      }
    }
    if (!alive || std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(2ms);
  }
}

std::string Process::log_tail(std::size_t max_bytes) const {
  std::string text = read_file(m_log);
  if (text.size() > max_bytes) {
    text.erase(0, text.size() - max_bytes);
  }
  return text;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) {
    return "exited " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "ended (status " + std::to_string(status) + ")";
}

int free_port() {
  const int fd = core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    const int fd = core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

std::optional<int> port_in_line(std::string_view line) {
  auto scheme = line.find("://");
  if (scheme == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = line.substr(scheme + 3);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    rest.remove_prefix(close + 1);
  } else {
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    rest.remove_prefix(colon);
  }
  if (rest.empty() || rest.front() != ':') {
    return std::nullopt;
  }
  rest.remove_prefix(1);
  int port = 0;
  std::size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9' && digits < 6) {
    port = port * 10 + (rest[digits] - '0');
    ++digits;
  }
  if (digits == 0 || port <= 0 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

std::optional<std::filesystem::path> find_program(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string_view p(path);
    while (!p.empty()) {
      auto colon = p.find(':');
      dirs.emplace_back(p.substr(0, colon));
      p.remove_prefix(colon == std::string_view::npos ? p.size() : colon + 1);
    }
  }
  dirs.emplace_back("/usr/sbin");
  dirs.emplace_back("/sbin");
  for (const std::string& d : dirs) {
    if (d.empty()) {
      continue;
    }
    std::filesystem::path candidate = std::filesystem::path(d) / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

TempDir::TempDir(std::string_view prefix) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  m_path = pattern;
}

TempDir::~TempDir() {
  if (!m_keep) {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& text) const {
  auto p = m_path / name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

int start_port_of(Process& p, std::string_view line_start, std::string_view what) {
  auto line = p.wait_for_line(line_start, std::chrono::seconds(15));
  auto port = line ? port_in_line(*line) : std::nullopt;
  if (!port) {
    throw std::runtime_error(std::string(what) + " did not start (" + p.argv()[0] + "):\n" +
                             p.log_tail());
  }
  return *port;
}

} // namespace ask::bench
