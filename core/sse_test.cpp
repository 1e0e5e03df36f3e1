#include "core/sse.h"

#include <doctest/doctest.h>

#include "core/test_fixtures.h"

using namespace ask::core;
using ask::core::testing::read_fixture;
using ask::core::testing::restore_blank_lines;

namespace {

bool same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id ||
        a[i].retry_ms != b[i].retry_ms) {
      return false;
    }
  }
  return true;
}

std::vector<SseEvent> parse_whole(std::string_view input) {
  SseParser parser;
  auto events = parser.feed(input);
  CHECK_FALSE(parser.failed());
  return events;
}

// Feeds [0,i) then [i,n) for every i and byte by byte; each must give the whole parse.
void check_every_split(std::string_view input, const std::vector<SseEvent>& whole) {
  for (std::size_t i = 0; i <= input.size(); ++i) {
    SseParser parser;
    std::vector<SseEvent> events;
    parser.feed(input.substr(0, i), events);
    parser.feed(input.substr(i), events);
    if (!same(events, whole)) {
      FAIL("split at byte ", i, " of ", input.size(), " gave ", events.size(), " events");
    }
  }
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : input) {
    parser.feed(std::string_view(&c, 1), events);
  }
  CHECK(same(events, whole));
}

// The number of lines that start with "data: ", counted without the parser.
std::size_t count_data_lines(std::string_view text) {
  std::size_t n = text.starts_with("data: ") ? 1 : 0;
  for (std::size_t pos = text.find("\ndata: "); pos != std::string_view::npos;
       pos = text.find("\ndata: ", pos + 1)) {
    ++n;
  }
  return n;
}

std::vector<std::string> data_of(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const auto& e : events) {
    out.push_back(e.data);
  }
  return out;
}

} // namespace

TEST_CASE("SseParser: parses the llama-server recording") {
  const auto body = read_fixture("llama-server/chat-stream.body.sse");
  const auto events = parse_whole(body);
  // The role chunk, 16 token chunks, the finish chunk with timings, [DONE].
  REQUIRE(events.size() == 19);
  CHECK(events.size() == count_data_lines(body));
  CHECK(events.front().data.starts_with("{\"choices\":[{\"finish_reason\":null"));
  CHECK(events.front().event.empty());
  CHECK(events.back().is_done());
  CHECK_FALSE(events[events.size() - 2].is_done());
  CHECK(events[events.size() - 2].data.find("\"timings\"") != std::string::npos);
  SseParser parser;
  parser.feed(body);
  CHECK(parser.finish());
}

TEST_CASE("SseParser: accepts the llama-server recording split at every byte") {
  const auto body = read_fixture("llama-server/chat-stream.body.sse");
  check_every_split(body, parse_whole(body));
}

TEST_CASE("SseParser: accepts the Ollama /v1 recordings split at every byte") {
  for (const char* name :
       {"ollama/v1-chat-completions-sse-parallel-tool_calls-qwen2.5-coder-7b.txt",
        "ollama/v1-chat-completions-sse-qwen2.5-coder-32b-chinese.txt",
        "ollama/v1-chat-completions-sse-tail-reasoning-content-tool_calls-"
        "usage-ollama-cloud.txt"}) {
    INFO(name);
    auto body = read_fixture(name);
    if (std::string_view(name).find("ollama-cloud") != std::string_view::npos) {
      body = restore_blank_lines(body);
    }
    const auto whole = parse_whole(body);
    CHECK_FALSE(whole.empty());
    check_every_split(body, whole);
  }
}

TEST_CASE("SseParser: counts the events of the Ollama recordings") {
  const auto chinese =
      parse_whole(read_fixture("ollama/v1-chat-completions-sse-qwen2.5-coder-32b-chinese.txt"));
  const auto chinese_text =
      read_fixture("ollama/v1-chat-completions-sse-qwen2.5-coder-32b-chinese.txt");
  CHECK(chinese.size() == count_data_lines(chinese_text));
  CHECK(chinese.size() == 98); // 97 chunks and [DONE]
  CHECK(chinese.back().is_done());
  const auto tools = parse_whole(
      read_fixture("ollama/v1-chat-completions-sse-parallel-tool_calls-qwen2.5-coder-7b.txt"));
  // The recording ends after the third data line without its blank line: per the spec that
  // event is never dispatched, and finish() says something was left pending.
  CHECK(tools.size() == 2);
  SseParser tools_parser;
  const auto tools_text =
      read_fixture("ollama/v1-chat-completions-sse-parallel-tool_calls-qwen2.5-coder-7b.txt");
  tools_parser.feed(tools_text);
  CHECK_FALSE(tools_parser.finish());
  CHECK(parse_whole(tools_text + "\n").size() == 3);
  // This trace lost its blank lines: per the spec all its data lines form one event, which
  // is not dispatched because no blank line ever ends it.
  const auto tail_text = read_fixture(
      "ollama/v1-chat-completions-sse-tail-reasoning-content-tool_calls-usage-ollama-cloud.txt");
  CHECK(parse_whole(tail_text).empty());
  const auto tail = parse_whole(restore_blank_lines(tail_text));
  CHECK(tail.size() == count_data_lines(tail_text));
  CHECK(tail.size() == 36);
  CHECK(tail.back().is_done());
}

TEST_CASE("SseParser: CRLF, lone CR and LF line ends give the same events") {
  const std::string lf = "event: a\ndata: one\ndata: two\n\ndata: three\n\n";
  std::string crlf;
  std::string cr;
  for (char c : lf) {
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    cr += c == '\n' ? '\r' : c;
  }
  const auto expected = parse_whole(lf);
  REQUIRE(expected.size() == 2);
  CHECK(expected[0].event == "a");
  CHECK(expected[0].data == "one\ntwo");
  CHECK(expected[1].data == "three");
  CHECK(same(parse_whole(crlf), expected));
  CHECK(same(parse_whole(cr), expected));
  check_every_split(crlf, expected);
  check_every_split(cr, expected);
}

TEST_CASE(
    "SseParser: a CR at the end of one feed and LF at the start of the next is one line end") {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed("data: x\r", events);
  parser.feed("\n", events); // must not count as the blank line
  CHECK(events.empty());
  parser.feed("data: y\r", events);
  parser.feed("\n\r", events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "x\ny");
  parser.feed("\ndata: z\r\r", events); // that "\n" belongs to the "\r" before it
  REQUIRE(events.size() == 2);
  CHECK(events[1].data == "z");
}

TEST_CASE("SseParser: comments, missing space, fields without colon") {
  const auto events = parse_whole(": keep-alive\n"
                                  ":\n"
                                  "data:no-space\n"
                                  "data:  two spaces\n"
                                  "data\n"
                                  "\n"
                                  "data\n"
                                  "\n"
                                  "event\n"
                                  "data: x\n"
                                  "\n");
  REQUIRE(events.size() == 3);
  CHECK(events[0].data == "no-space\n two spaces\n");
  CHECK(events[1].data.empty()); // a lone "data" field still dispatches
  CHECK(events[2].event.empty());
  CHECK(events[2].data == "x");
}

TEST_CASE("SseParser: event, id and retry fields") {
  const auto events = parse_whole("event: update\n"
                                  "id: 42\n"
                                  "retry: 1500\n"
                                  "data: {}\n"
                                  "\n"
                                  "id: 7\n"
                                  "retry: soon\n"
                                  "unknown: ignored\n"
                                  "data: second\n"
                                  "\n"
                                  "id: a\0b\n"
                                  "data: third\n"
                                  "\n");
  REQUIRE(events.size() == 2); // the string literal stops at \0
  CHECK(events[0].event == "update");
  CHECK(events[0].id == "42");
  CHECK(events[0].retry_ms == 1500);
  CHECK(events[1].event.empty());
  CHECK(events[1].id == "7");
  CHECK_FALSE(events[1].retry_ms.has_value());

  using namespace std::string_literals;
  const auto nul = parse_whole("id: a\0b\ndata: third\n\n"s);
  REQUIRE(nul.size() == 1);
  CHECK(nul[0].id.empty()); // ids containing NUL are ignored
}

TEST_CASE("SseParser: blank lines without data dispatch nothing and reset the event") {
  const auto events = parse_whole("event: lost\nid: 1\n\n\n\ndata: kept\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].event.empty());
  CHECK(events[0].id.empty());
  CHECK(events[0].data == "kept");
}

TEST_CASE("SseParser: recognises [DONE]") {
  const auto events = parse_whole("data: {\"a\":1}\n\ndata: [DONE]\n\n");
  REQUIRE(events.size() == 2);
  CHECK_FALSE(events[0].is_done());
  CHECK(events[1].is_done());
  CHECK_FALSE(parse_whole("data: [DONE] \n\n")[0].is_done());
}

TEST_CASE("SseParser: skips a UTF-8 byte order mark at the start only") {
  const std::string input = "\xEF\xBB\xBF"
                            "data: a\n\n\xEF\xBB\xBF"
                            "data: b\n\n";
  const auto events = parse_whole(input);
  REQUIRE(events.size() == 1); // the second BOM makes an unknown field
  CHECK(events[0].data == "a");
  check_every_split(input, events);
}

TEST_CASE("SseParser: finish() drops an unterminated event and reports it") {
  SseParser clean;
  CHECK(clean.feed("data: a\n\n").size() == 1);
  CHECK(clean.finish());

  SseParser pending_event;
  CHECK(pending_event.feed("data: a\n").empty());
  CHECK_FALSE(pending_event.finish());

  SseParser partial_line;
  CHECK(partial_line.feed("data: a\n\ndata: b").size() == 1);
  CHECK_FALSE(partial_line.finish());

  SseParser whitespace;
  whitespace.feed("data: a\n\n  ");
  CHECK(whitespace.finish());

  SseParser comment_only;
  comment_only.feed(": ping\n");
  CHECK(comment_only.finish());
}

TEST_CASE("SseParser: a line over the limit fails the parser") {
  SseParser parser(16);
  std::vector<SseEvent> events;
  parser.feed("data: 0123456789\n\n", events); // exactly 16 bytes: fine
  CHECK(events.size() == 1);
  CHECK_FALSE(parser.failed());
  parser.feed("data: 01234", events);
  parser.feed("567890", events); // 17 bytes and no line end yet
  CHECK(parser.failed());
  CHECK(parser.error().find("16") != std::string::npos);
  parser.feed("\n\ndata: x\n\n", events);
  CHECK(events.size() == 1); // nothing after a failure
  CHECK_FALSE(parser.finish());
}

TEST_CASE("SseParser: an event whose data grows over the limit fails the parser") {
  SseParser parser(16);
  std::vector<SseEvent> events;
  for (int i = 0; i < 10; ++i) {
    parser.feed("data: abc\n", events);
  }
  CHECK(parser.failed());
  CHECK(events.empty());
}

TEST_CASE("SseParser: many tiny events in one feed") {
  std::string input;
  for (int i = 0; i < 1000; ++i) {
    input += "data: " + std::to_string(i) + "\n\n";
  }
  const auto events = parse_whole(input);
  REQUIRE(events.size() == 1000);
  CHECK(events[999].data == "999");
}

TEST_CASE("SseParser: a large CR-only input in one feed, and CR-only lines before one LF") {
  // Each line once made the parser search the rest of the feed for a '\n'; with no '\n'
  // at all that was quadratic. 200000 events of 3 lines each in one feed.
  constexpr int k_events = 200'000;
  std::string input;
  for (int i = 0; i < k_events; ++i) {
    input += "id: " + std::to_string(i) + "\rdata: " + std::to_string(i) + "\r\r";
  }
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(input, events);
  REQUIRE(events.size() == k_events);
  CHECK(events.front().data == "0");
  CHECK(events[12'345].data == "12345");
  CHECK(events[12'345].id == "12345");
  CHECK(events.back().data == std::to_string(k_events - 1));
  CHECK(parser.finish());
  // The same with a single '\n' at the very end, and CRLF mixed in the middle.
  SseParser mixed;
  const auto more = mixed.feed(input + "data: a\r\ndata: b\r\n\n");
  REQUIRE(more.size() == k_events + 1);
  CHECK(more.back().data == "a\nb");
}

TEST_CASE("SseEncoder: a large CR-only payload is split into data lines") {
  std::string payload;
  for (int i = 0; i < 100'000; ++i) {
    payload += std::to_string(i) + "\r";
  }
  const auto framed = encode_sse(payload);
  SseParser parser;
  const auto events = parser.feed(framed);
  REQUIRE(events.size() == 1);
  CHECK(events[0].data.starts_with("0\n1\n2\n"));
  CHECK(events[0].data.ends_with("99999\n")); // the trailing "\r" ends a line: one empty more
}

TEST_CASE("SseEncoder: frames data, events and comments") {
  CHECK(encode_sse("{\"a\":1}") == "data: {\"a\":1}\n\n");
  CHECK(encode_sse("x", "error") == "event: error\ndata: x\n\n");
  CHECK(encode_sse("one\ntwo") == "data: one\ndata: two\n\n");
  CHECK(encode_sse("one\r\ntwo\rthree") == "data: one\ndata: two\ndata: three\n\n");
  CHECK(encode_sse("") == "data: \n\n");
  CHECK(encode_sse("x", "bad\nevent") == "event: bad event\ndata: x\n\n");
  CHECK(encode_sse("{}", "load", "42") == "event: load\nid: 42\ndata: {}\n\n");
  CHECK(encode_sse("x", {}, "7") == "id: 7\ndata: x\n\n");
  CHECK(encode_sse("x", {}, std::string_view("a\0b\r\nc", 6)) == "id: ab  c\ndata: x\n\n");
  CHECK(encode_sse_done() == "data: [DONE]\n\n");
  CHECK(encode_sse_comment("ping") == ": ping\n\n");
  CHECK(encode_sse_comment("a\nb") == ": a\n: b\n\n");
}

TEST_CASE("SseEncoder: what it writes the parser reads back") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"choices\":[]}", ""},
      {"line one\nline two\n\nline four", ""},
      {"", ""},
      {"\n", ""},
      {"\n\n\n", "message"},
      {" leading space", "update"},
      {":not a comment", ""},
      {"data: nested", "x"},
      {"[DONE]", ""},
      {"trailing newline\n", ""},
      {"unicode \xE2\x9C\x93", "u"},
  };
  std::string stream = encode_sse_comment("hello\nworld");
  for (const auto& [data, event] : cases) {
    stream += encode_sse(data, event);
    stream += encode_sse_comment("keep-alive");
  }
  stream += encode_sse_done();
  const auto events = parse_whole(stream);
  REQUIRE(events.size() == cases.size() + 1);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO(i);
    CHECK(events[i].data == cases[i].first);
    CHECK(events[i].event == cases[i].second);
  }
  CHECK(events.back().is_done());
  check_every_split(stream, events);
}

TEST_CASE("SseEncoder: an id comes back with its event") {
  const auto events = parse_whole(encode_sse("{\"a\":1}", "status", "41") + encode_sse("x"));
  REQUIRE(events.size() == 2);
  CHECK(events[0].event == "status");
  CHECK(events[0].id == "41");
  CHECK(events[0].data == "{\"a\":1}");
  CHECK(events[1].id.empty()); // an id belongs to its own event (see SseParser)
}

TEST_CASE("SseEncoder: CR and CRLF inside a payload come back as LF") {
  const auto events = parse_whole(encode_sse("a\r\nb\rc"));
  REQUIRE(events.size() == 1);
  CHECK(data_of(events) == std::vector<std::string>{"a\nb\nc"});
}
