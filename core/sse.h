#pragma once
// Server-Sent Events framing (the WHATWG EventSource format that OpenAI-style streams use):
// an incremental parser that takes bytes as they arrive, split anywhere, and an encoder.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ask::core {

struct SseEvent {
  std::string event; // the "event:" field; empty means the default "message"
  std::string data;  // "data:" lines joined with '\n'
  std::string id;    // the last "id:" field seen in this event, if any (ids containing NUL
                     // are ignored, per the spec); empty when this event had none
  std::optional<long> retry_ms; // this event's "retry:" field, if any

  // True for OpenAI's end-of-stream sentinel `data: [DONE]`.
  bool is_done() const { return data == "[DONE]"; }
};

// Feeds bytes in any split (even one byte at a time, even between '\r' and '\n') and hands
// back each complete event. Lines end with "\n", "\r\n" or "\r". Comment lines (":...") are
// skipped, one leading space after the colon is dropped, an event is dispatched at a blank
// line and only if it had a data field (per the spec). A UTF-8 byte order mark at the very
// start is skipped; unknown fields and a "retry:" that is not all digits are ignored. A line,
// or an event's joined data, longer than `max_line_bytes` makes the parser fail (`failed()`),
// so a hostile peer cannot grow memory without bound.
//
// Deliberate deviation from the EventSource spec: `id` and `retry_ms` belong to the event
// that carried them and reset at each dispatch, whereas a browser keeps the last event ID
// (and the reconnection time) until changed, to send as Last-Event-ID when it reconnects.
// askd never reconnects a stream (a broken backend stream is an error, and no OpenAI-style
// server sends ids), so there is no state to carry; callers that want "the last id so far"
// keep it themselves from the events that have one.
// Scanning is linear in the input however lines end ("\r" alone included) and however it is
// split across feeds.
class SseParser {
public:
  explicit SseParser(std::size_t max_line_bytes = 16 * 1024 * 1024);

  // Appends the events completed by `bytes` to `out`. After a failure, does nothing.
  void feed(std::string_view bytes, std::vector<SseEvent>& out);
  std::vector<SseEvent> feed(std::string_view bytes);
  // The end of input: an event still waiting for its blank line is dropped (per the spec);
  // returns true when nothing but whitespace was pending.
  bool finish();

  bool failed() const { return m_failed; }
  const std::string& error() const { return m_error; }

private:
  void process_line(std::string_view line, std::vector<SseEvent>& out);
  void process_field(std::string_view name, std::string_view value);
  void dispatch(std::vector<SseEvent>& out);
  void fail_with(std::string message);

  std::size_t m_max_line;
  std::string m_line;
  SseEvent m_pending;
  bool m_has_data = false;
  bool m_saw_any_field = false;
  bool m_last_was_cr = false;
  bool m_at_start = true; // no line processed yet: a leading BOM is still possible
  bool m_failed = false;
  std::string m_error;
};

// "data: <payload>\n\n" with multi-line payloads split into several data lines (any of
// "\n", "\r\n", "\r" breaks a line; the parser gives the payload back with "\n"). `event`
// adds an "event:" line and `id` an "id:" line before the data when not empty; line breaks in
// them are replaced by spaces, and NUL bytes in an id are dropped (a reader ignores such ids).
std::string encode_sse(std::string_view data, std::string_view event = {},
                       std::string_view id = {});
// "data: [DONE]\n\n".
std::string encode_sse_done();
// ": <text>\n\n", a comment (keep-alive ping); a multi-line text becomes several comment lines.
std::string encode_sse_comment(std::string_view text);

} // namespace ask::core
