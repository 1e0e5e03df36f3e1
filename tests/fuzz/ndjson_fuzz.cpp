// libFuzzer target: NdjsonSplitter must give the same lines however the input is split. The
// first byte picks the split point, the rest is the stream.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/ndjson.h"

namespace {

struct Outcome {
  std::vector<std::string> lines;
  bool failed = false;
};

Outcome run(std::string_view first, std::string_view second) {
  ask::core::NdjsonSplitter splitter(64); // small, so the fuzzer reaches the failure path
  Outcome out;
  splitter.feed(first, out.lines);
  splitter.feed(second, out.lines);
  splitter.finish(out.lines);
  out.failed = splitter.failed();
  return out;
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
  if (whole.failed != parts.failed || whole.lines != parts.lines) {
    std::fprintf(stderr, "split at %zu changed the lines\n", split);
    std::abort();
  }
  for (const auto& line : whole.lines) {
    if (line.empty() || line.find('\n') != std::string::npos || line.size() > 64) {
      std::fprintf(stderr, "bad line\n");
      std::abort();
    }
  }
  return 0;
}
