#include "bench/report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "core/platform.h"

namespace ask::bench {

std::string machine_summary() {
  std::string out = "nproc " + std::to_string(std::thread::hardware_concurrency()) + ", " +
                    core::platform::cpu_model().value_or("unknown CPU");
  utsname u{};
  if (::uname(&u) == 0) {
    out += std::string(", ") + u.sysname + " " + u.release + " " + u.machine;
  }
  return out;
}

std::string load_average() {
  std::array<double, 3> load{};
  if (::getloadavg(load.data(), 3) != 3) {
    return "unknown";
  }
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return text;
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
  return core::platform::group_cpu_seconds(pgid).value_or(std::nan(""));
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
