#include "telemetry/jsonl_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using ask::telemetry::JsonlWriter;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A fresh folder per test, removed afterwards.
class TempDir : public ask::testing::TempDir {
public:
  TempDir() : ask::testing::TempDir("jsonl_writer_test") {}
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The file's lines; the file must end with a newline (no partial last line).
std::vector<std::string> read_lines(const fs::path& path) {
  const std::string text = read_file(path);
  std::vector<std::string> lines;
  if (text.empty()) {
    return lines;
  }
  REQUIRE_MESSAGE(text.back() == '\n', "the file ends in the middle of a line");
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Parses one line strictly, as jq would: a line that is not exactly one JSON value fails.
json parse_line(const std::string& line) {
  json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
  INFO("line: ", line.substr(0, 200));
  REQUIRE_FALSE(value.is_discarded());
  return value;
}

// A line whose padding length and content can be checked, so a torn or interleaved line
// shows up as a parse failure or a mismatch.
json numbered_line(int writer, int seq) {
  const auto pad = static_cast<size_t>((seq * 37 + writer * 101) % 3000);
  const char fill = static_cast<char>('a' + (writer + seq) % 26);
  return json{{"writer", writer}, {"seq", seq}, {"pad", std::string(pad, fill)}};
}

// Checks every line is a whole numbered_line and that each (writer, seq) appears once;
// returns how many lines there were.
size_t check_numbered_lines(const fs::path& path, int writers, int per_writer) {
  const auto lines = read_lines(path);
  std::set<std::pair<int, int>> seen;
  for (const auto& line : lines) {
    const json value = parse_line(line);
    const int writer = value.at("writer").get<int>();
    const int seq = value.at("seq").get<int>();
    CHECK(value == numbered_line(writer, seq));
    CHECK(seen.emplace(writer, seq).second);
  }
  CHECK(seen.size() == static_cast<size_t>(writers) * static_cast<size_t>(per_writer));
  CHECK(lines.size() == seen.size());
  return lines.size();
}

// Empties the stdio buffers before a fork, so that no child prints the parent's output again.
void flush_output() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

// Runs `body` in a forked child and returns its exit code (or 128 + signal). The child must
// not use doctest's macros; it reports through its exit code.
int run_in_child(const std::function<int()>& body) {
  flush_output();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  return 128 + WTERMSIG(status);
}

// The descriptor this process holds open on `path`, or -1.
int find_open_fd(const fs::path& path) {
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(entry.path(), ec);
    if (!ec && target == path) {
      return std::stoi(entry.path().filename().string());
    }
  }
  return -1;
}

} // namespace

TEST_CASE("JsonlWriter: every line parses back as one JSON value, awkward strings included") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  JsonlWriter writer(path);
  CHECK(writer.path() == path);

  const std::vector<json> values = {
      json{{"model", "fast-9b"}, {"latency_s", 0.003}, {"cache_hit", true}},
      json{{"text", "two\nlines\r\nand \"quotes\" and \\ and \t tab and \x01 control"}},
      json{{"unicode", "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x99\x82"}},
      json::object(),
      json{{"nested", {{"list", {1, 2, 3}}, {"null", nullptr}}}},
  };
  for (const auto& value : values) {
    REQUIRE(writer.append(value).has_value());
  }
  // Invalid UTF-8 (a stray continuation byte, a truncated sequence) must not throw.
  REQUIRE(writer.append(json{{"bad", std::string("ok\xff\xfe then \xe2\x82")}}).has_value());

  const auto lines = read_lines(path);
  REQUIRE(lines.size() == values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) {
    CHECK(lines[i].find('\n') == std::string::npos);
    CHECK(parse_line(lines[i]) == values[i]);
  }
  const json bad = parse_line(lines.back());
  CHECK(bad.at("bad").get<std::string>() == "ok\xef\xbf\xbd\xef\xbf\xbd then \xef\xbf\xbd");

  // Where jq is installed, it must read the file too (it is what users run over the log).
  if (::access("/usr/bin/jq", X_OK) == 0) {
    const std::string command = "/usr/bin/jq -c . < '" + path.string() + "' > /dev/null";
    CHECK(std::system(command.c_str()) == 0);
  } else {
    MESSAGE("jq not installed; parsed with nlohmann only");
  }
}

TEST_CASE("JsonlWriter: creates the folder 0700 with its parents and the file 0600, and appends") {
  TempDir dir;
  const fs::path path = dir.path() / "a" / "b" / "c" / "log.jsonl";
  {
    JsonlWriter writer(path);
    CHECK_FALSE(fs::exists(path)); // opened lazily, on the first append
    REQUIRE(writer.append(json{{"n", 1}}).has_value());
  }
  struct stat st {};
  for (const fs::path& folder : {dir.path() / "a", dir.path() / "a" / "b", path.parent_path()}) {
    REQUIRE(::stat(folder.c_str(), &st) == 0);
    INFO(folder.string());
    CHECK((st.st_mode & 07777) == 0700);
  }
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  // A second writer on the same file appends; it does not truncate.
  JsonlWriter again(path);
  REQUIRE(again.append(json{{"n", 2}}).has_value());
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  CHECK(parse_line(lines[0]) == json{{"n", 1}});
  CHECK(parse_line(lines[1]) == json{{"n", 2}});
}

TEST_CASE("JsonlWriter: an ordered_json line keeps its keys in insertion order") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  JsonlWriter writer(path);
  nlohmann::ordered_json line = {{"ts", 1.5}, {"model", "m"}, {"a", true}};
  line["bad"] = std::string("\xff");
  REQUIRE(writer.append(line).has_value());
  REQUIRE(writer.append(json{{"z", 1}, {"b", 2}}).has_value());
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "{\"ts\":1.5,\"model\":\"m\",\"a\":true,\"bad\":\"\xEF\xBF\xBD\"}");
  CHECK(lines[1] == "{\"b\":2,\"z\":1}");
}

TEST_CASE("JsonlWriter: the descriptor is O_APPEND and close-on-exec") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  JsonlWriter writer(path);
  REQUIRE(writer.append(json{{"n", 1}}).has_value());
  const int fd = find_open_fd(path);
  REQUIRE(fd >= 0);
  CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(fd, F_GETFL) & O_APPEND) != 0);
}

TEST_CASE("JsonlWriter: 8 threads x 2000 lines land whole, none lost") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  JsonlWriter writer(path);
  constexpr int k_threads = 8;
  constexpr int k_lines = 2000;
  std::vector<int> failures(k_threads, 0);
  std::vector<std::thread> threads;
  threads.reserve(k_threads);
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&writer, &failures, t] {
      for (int i = 0; i < k_lines; ++i) {
        if (!writer.append(numbered_line(t, i))) {
          ++failures[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(std::count(failures.begin(), failures.end(), 0) == k_threads);
  CHECK(check_numbered_lines(path, k_threads, k_lines) == k_threads * k_lines);
}

TEST_CASE("JsonlWriter: several processes appending at once lose and tear nothing") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  constexpr int k_children = 4;
  constexpr int k_lines = 2000;

  // Children wait on a pipe so that they all start writing together.
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::vector<pid_t> children;
  flush_output();
  for (int c = 0; c < k_children; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(gate[1]);
      char byte = 0;
      while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      int code = 0;
      {
        JsonlWriter writer(path); // each process has its own descriptor
        for (int i = 0; i < k_lines; ++i) {
          if (!writer.append(numbered_line(c, i))) {
            code = 1;
          }
        }
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]); // opens the gate: every child's read returns 0

  // The parent writes too, from its own descriptor.
  JsonlWriter writer(path);
  for (int i = 0; i < k_lines; ++i) {
    REQUIRE(writer.append(numbered_line(k_children, i)).has_value());
  }
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(check_numbered_lines(path, k_children + 1, k_lines) == (k_children + 1) * k_lines);
}

TEST_CASE("JsonlWriter: a file where the folder should be is an error naming the path") {
  TempDir dir;
  const fs::path blocker = dir.path() / "blocker";
  { std::ofstream(blocker) << "not a folder\n"; }
  const fs::path path = blocker / "logs" / "log.jsonl";
  JsonlWriter writer(path);

  auto result = writer.append(json{{"n", 1}});
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().kind == ask::core::ErrorKind::internal);
  CHECK(result.error().message.find(path.string()) != std::string::npos);
  CHECK(result.error().message.find("not a folder") != std::string::npos);
  CHECK(read_file(blocker) == "not a folder\n");

  // The failure is not sticky: once the obstacle is gone the next append opens the file.
  fs::remove(blocker);
  REQUIRE(writer.append(json{{"n", 2}}).has_value());
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 1);
  CHECK(parse_line(lines[0]) == json{{"n", 2}});
}

TEST_CASE("JsonlWriter: a folder where the file should be is an error naming the path") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  fs::create_directory(path);
  JsonlWriter writer(path);
  auto result = writer.append(json{{"n", 1}});
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().kind == ask::core::ErrorKind::internal);
  CHECK(result.error().message.find(path.string()) != std::string::npos);
  CHECK(result.error().message.find("Is a directory") != std::string::npos);
}

TEST_CASE("JsonlWriter: a short write is reported, not completed by a second write") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  // RLIMIT_FSIZE makes write(2) stop short at the limit; set it in a child so the test
  // process keeps its own limits.
  constexpr rlim_t k_limit = 100;
  const int code = run_in_child([&path] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{k_limit, k_limit};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
      return 10;
    }
    JsonlWriter writer(path);
    auto first = writer.append(json{{"pad", std::string(1000, 'x')}});
    if (first.has_value()) {
      return 11;
    }
    if (first.error().message.find("short write") == std::string::npos ||
        first.error().message.find(path.string()) == std::string::npos) {
      return 12;
    }
    // At the limit the next write fails outright (EFBIG): also an error, not a crash.
    auto second = writer.append(json{{"n", 1}});
    if (second.has_value() || second.error().message.find(path.string()) == std::string::npos) {
      return 13;
    }
    return 0;
  });
  CHECK(code == 0);
  // Exactly one write happened: the file holds the limit's worth of bytes, no more.
  CHECK(fs::file_size(path) == k_limit);
}

TEST_CASE("JsonlWriter: a 1 MiB line stays whole among concurrent small lines") {
  TempDir dir;
  const fs::path path = dir.path() / "log.jsonl";
  JsonlWriter writer(path);
  std::string big(size_t{1} << 20, ' ');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('0' + i % 10);
  }
  constexpr int k_big = 4;
  constexpr int k_small = 500;
  bool big_ok = true;
  bool small_ok = true;
  std::thread big_writer([&] {
    for (int i = 0; i < k_big; ++i) {
      big_ok = writer.append(json{{"big", i}, {"text", big}}).has_value() && big_ok;
    }
  });
  std::thread small_writer([&] {
    for (int i = 0; i < k_small; ++i) {
      small_ok = writer.append(json{{"small", i}}).has_value() && small_ok;
    }
  });
  big_writer.join();
  small_writer.join();
  CHECK(big_ok);
  CHECK(small_ok);

  const auto lines = read_lines(path);
  REQUIRE(lines.size() == k_big + k_small);
  int bigs = 0;
  for (const auto& line : lines) {
    const json value = parse_line(line);
    if (value.contains("big")) {
      ++bigs;
      CHECK(value.at("text").get<std::string>() == big);
    }
  }
  CHECK(bigs == k_big);
}
