// libFuzzer target: llama-server's startup log -> parse_startup_log, and the same bytes fed
// line by line through feed_line. Must never crash, hang or trip a sanitizer; both ways must
// agree, every figure stays within the parser's bounds, and sums never wrap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "router/calibration.h"

namespace {

constexpr std::uint64_t k_max_field = std::uint64_t{1} << 60;
constexpr std::size_t k_max_devices = 64;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "startup_log_fuzz: %s\n", what);
  std::abort();
}

void check_bounds(const ask::router::Calibration& cal) {
  if (cal.devices.size() > k_max_devices) {
    fail("too many devices");
  }
  for (const auto& d : cal.devices) {
    if (d.device.empty() || d.model > k_max_field || d.kv > k_max_field ||
        d.recurrent > k_max_field || d.compute > k_max_field || d.output > k_max_field) {
      fail("device out of bounds");
    }
    if (cal.find(d.device) != &d) {
      fail("device listed twice");
    }
  }
  if ((cal.layers_offloaded < 0) != (cal.layers_total < 0) ||
      cal.layers_offloaded > cal.layers_total) {
    fail("layer counts inconsistent");
  }
  (void)cal.gpu_total();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view log(reinterpret_cast<const char*>(data), size);
  const ask::router::Calibration whole = ask::router::parse_startup_log(log);
  check_bounds(whole);

  ask::router::Calibration fed;
  std::string_view rest = log;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    ask::router::feed_line(fed, rest.substr(0, nl));
    if (nl == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(nl + 1);
  }
  check_bounds(fed);

  if (fed.devices.size() != whole.devices.size() || fed.gpu_total() != whole.gpu_total() ||
      fed.layers_offloaded != whole.layers_offloaded || fed.layers_total != whole.layers_total) {
    fail("line-by-line and whole-log results differ");
  }
  for (std::size_t i = 0; i < fed.devices.size(); ++i) {
    if (fed.devices[i].device != whole.devices[i].device ||
        fed.devices[i].total() != whole.devices[i].total()) {
      fail("line-by-line and whole-log devices differ");
    }
  }
  return 0;
}
