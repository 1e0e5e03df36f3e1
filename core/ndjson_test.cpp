#include "core/ndjson.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace ask::core;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::filesystem::path> ndjson_fixtures() {
  std::vector<std::filesystem::path> out;
  const auto dir = std::filesystem::path(ASK_SOURCE_DIR) / "tests/fixtures/ollama";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".ndjson") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> split_whole(std::string_view input) {
  NdjsonSplitter splitter;
  auto lines = splitter.feed(input);
  splitter.finish(lines);
  CHECK_FALSE(splitter.failed());
  return lines;
}

// The non-blank lines of `text`, split with the standard library, "\r" dropped.
std::vector<std::string> reference_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.find_first_not_of(" \t") != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

void check_every_split(std::string_view input, const std::vector<std::string>& whole) {
  for (std::size_t i = 0; i <= input.size(); ++i) {
    NdjsonSplitter splitter;
    std::vector<std::string> lines;
    splitter.feed(input.substr(0, i), lines);
    splitter.feed(input.substr(i), lines);
    splitter.finish(lines);
    if (lines != whole) {
      FAIL("split at byte ", i, " of ", input.size(), " gave ", lines.size(), " lines");
    }
  }
  NdjsonSplitter splitter;
  std::vector<std::string> lines;
  for (char c : input) {
    splitter.feed(std::string_view(&c, 1), lines);
  }
  splitter.finish(lines);
  CHECK(lines == whole);
}

} // namespace

TEST_CASE("NdjsonSplitter: splits the Ollama recordings into JSON lines") {
  const auto files = ndjson_fixtures();
  REQUIRE(files.size() >= 5);
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto text = read_file(path);
    const auto lines = split_whole(text);
    CHECK(lines == reference_lines(text));
    CHECK_FALSE(lines.empty());
    for (const auto& line : lines) {
      CHECK(nlohmann::json::accept(line));
    }
  }
}

TEST_CASE("NdjsonSplitter: accepts the Ollama recordings split at every byte") {
  for (const auto& path : ndjson_fixtures()) {
    INFO(path.filename().string());
    const auto text = read_file(path);
    check_every_split(text, split_whole(text));
  }
}

TEST_CASE("NdjsonSplitter: CRLF line ends and blank lines") {
  const std::string input = "{\"a\":1}\r\n\r\n\n{\"b\":2}\n  \n\t\r\n{\"c\":3}\r\n";
  const std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"};
  CHECK(split_whole(input) == expected);
  check_every_split(input, expected);
}

TEST_CASE("NdjsonSplitter: a last line without a newline comes out at finish()") {
  NdjsonSplitter splitter;
  auto lines = splitter.feed("{\"a\":1}\n{\"done\":true}");
  CHECK(lines == std::vector<std::string>{"{\"a\":1}"});
  splitter.finish(lines);
  CHECK(lines == std::vector<std::string>{"{\"a\":1}", "{\"done\":true}"});

  NdjsonSplitter cr_end;
  auto cr_lines = cr_end.feed("{\"x\":1}\r");
  cr_end.finish(cr_lines);
  CHECK(cr_lines == std::vector<std::string>{"{\"x\":1}"});

  NdjsonSplitter blank_end;
  auto blank_lines = blank_end.feed("{\"x\":1}\n   ");
  blank_end.finish(blank_lines);
  CHECK(blank_lines.size() == 1);
}

TEST_CASE("NdjsonSplitter: a lone CR is not a line end") {
  CHECK(split_whole("{\"a\":\"x\ry\"}\n") == std::vector<std::string>{"{\"a\":\"x\ry\"}"});
}

TEST_CASE("NdjsonSplitter: a line over the limit fails the splitter") {
  NdjsonSplitter splitter(8);
  std::vector<std::string> lines;
  splitter.feed("12345678\n", lines);   // exactly the limit
  splitter.feed("12345678\r\n", lines); // the "\r\n" does not count
  CHECK(lines.size() == 2);
  CHECK_FALSE(splitter.failed());
  splitter.feed("1234", lines);
  splitter.feed("56789", lines); // 9 bytes, no newline yet
  CHECK(splitter.failed());
  CHECK(splitter.error().find("8 bytes") != std::string::npos);
  splitter.feed("\n{}\n", lines);
  splitter.finish(lines);
  CHECK(lines.size() == 2); // nothing after a failure
}

TEST_CASE("NdjsonSplitter: a partial line ending in CR over the limit fails") {
  NdjsonSplitter splitter(4);
  std::vector<std::string> lines;
  splitter.feed("1234\r", lines); // may still be "1234\r\n"
  CHECK_FALSE(splitter.failed());
  splitter.feed("5", lines); // no: the line is "1234\r5"
  CHECK(splitter.failed());
}
