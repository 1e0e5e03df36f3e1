#include "bench/report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <ctime>
#include <fstream>
#include <thread>

namespace ask::bench {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
      }
    }
  }
  return "unknown CPU";
}

} // namespace

std::string machine_summary() {
  std::string out = "nproc " + std::to_string(std::thread::hardware_concurrency()) + ", " +
                    cpu_model();
  utsname u{};
  if (::uname(&u) == 0) {
    out += std::string(", ") + u.sysname + " " + u.release + " " + u.machine;
  }
  return out;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

double group_cpu_seconds(pid_t pgid) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path() / "stat");
    std::string text;
    std::getline(in, text);
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    // After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime ...
    std::istringstream fields(text.substr(close + 1));
    std::string field;
    long long pgrp = -1;
    long long utime = 0;
    long long stime = 0;
    for (int i = 0; i < 13 && fields >> field; ++i) {
      if (i == 2) {
        pgrp = std::atoll(field.c_str());
      } else if (i == 11) {
        utime = std::atoll(field.c_str());
      } else if (i == 12) {
        stime = std::atoll(field.c_str());
      }
    }
    if (pgrp == pgid) {
      total += static_cast<double>(utime + stime) / ticks;
    }
  }
  return total;
}

std::string command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (!out.empty()) {
      out += ' ';
    }
    if (a.empty() || a.find_first_of(" \t\"'") != std::string::npos) {
      std::string q = "'";
      for (char ch : a) {
        q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      }
      out += q + "'";
    } else {
      out += a;
    }
  }
  return out;
}

} // namespace ask::bench
