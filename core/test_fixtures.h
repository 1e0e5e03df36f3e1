#pragma once
// Test-only helpers for core's tests: reading recorded fixtures under tests/fixtures and
// undoing their HTTP framing. Not part of the library.

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/sse.h"

namespace ask::core::testing {

inline std::string read_fixture(const std::string& rel) {
  std::ifstream in(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/" + rel, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture ", rel);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The body of a recorded HTTP/1.1 response, with chunked transfer encoding undone.
inline std::string http_body(const std::string& response) {
  const auto header_end = response.find("\r\n\r\n");
  REQUIRE(header_end != std::string::npos);
  const auto headers = response.substr(0, header_end);
  std::string rest = response.substr(header_end + 4);
  if (headers.find("Transfer-Encoding: chunked") == std::string::npos) {
    return rest;
  }
  std::string body;
  std::size_t pos = 0;
  while (true) {
    const auto eol = rest.find("\r\n", pos);
    REQUIRE(eol != std::string::npos);
    const auto size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) {
      return body;
    }
    body += rest.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
}

// The ollama.com traces lost their blank lines (see tests/fixtures/ollama/README.md): put
// them back, one after each line.
inline std::string restore_blank_lines(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') {
      out += '\n';
    }
  }
  return out;
}

// The data of each SSE event of a stream body, [DONE] left out; `done` says whether it came.
inline std::vector<std::string> sse_data(const std::string& body, bool* done = nullptr) {
  SseParser parser;
  std::vector<std::string> out;
  for (auto& event : parser.feed(body)) {
    if (event.is_done()) {
      if (done != nullptr) {
        *done = true;
      }
      continue;
    }
    out.push_back(std::move(event.data));
  }
  return out;
}

// Each SSE event's JSON of a stream body, [DONE] left out; `done` says whether it came.
inline std::vector<nlohmann::json> sse_payloads(const std::string& body, bool* done = nullptr) {
  std::vector<nlohmann::json> out;
  for (const auto& data : sse_data(body, done)) {
    out.push_back(nlohmann::json::parse(data));
  }
  return out;
}

} // namespace ask::core::testing
