// libFuzzer target: SseParser must give the same events however the input is split. The
// first byte picks the split point, the rest is the stream.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/sse.h"

namespace {

struct Outcome {
  std::vector<ask::core::SseEvent> events;
  bool failed = false;
  bool clean = false;
};

Outcome run(std::string_view first, std::string_view second) {
  ask::core::SseParser parser(256); // a small limit so the fuzzer reaches the failure path
  Outcome out;
  parser.feed(first, out.events);
  parser.feed(second, out.events);
  out.failed = parser.failed();
  out.clean = parser.finish();
  return out;
}

bool same(const Outcome& a, const Outcome& b) {
  if (a.failed != b.failed || a.clean != b.clean || a.events.size() != b.events.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    const auto& x = a.events[i];
    const auto& y = b.events[i];
    if (x.data != y.data || x.event != y.event || x.id != y.id || x.retry_ms != y.retry_ms) {
      return false;
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = input.empty() ? 0 : data[0] % (input.size() + 1);
  const Outcome whole = run(input, {});
  const Outcome parts = run(input.substr(0, split), input.substr(split));
  if (!same(whole, parts)) {
    std::fprintf(stderr, "split at %zu changed the events\n", split);
    std::abort();
  }
  // Re-encoding each event's data and event name must give it back.
  for (const auto& event : whole.events) {
    if (event.data.find('\r') != std::string::npos ||
        event.event.find_first_of("\r\n") != std::string::npos) {
      continue; // the parser never produces these
    }
    ask::core::SseParser again;
    const auto back = again.feed(ask::core::encode_sse(event.data, event.event));
    if (back.size() != 1 || back[0].data != event.data || back[0].event != event.event) {
      std::fprintf(stderr, "encode_sse did not round-trip\n");
      std::abort();
    }
  }
  return 0;
}
