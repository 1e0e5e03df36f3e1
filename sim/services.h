#pragma once
// What both API implementations share: the options, the clock, the log, the counters and
// request log behind /sim/, and random ids; plus the faults that replace a response.

#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>

#include "core/clock.h"
#include "sim/fault.h"
#include "sim/http.h"
#include "sim/introspection.h"
#include "sim/log.h"
#include "sim/options.h"

namespace ask::sim {

// Random ids such as chatcmpl-<32 alphanumerics>; seeded by --sim-seed. Thread-safe.
class IdSource {
public:
  explicit IdSource(std::uint64_t seed);
  std::string alnum(std::size_t n);
  std::string lower_alnum(std::size_t n);
  std::uint64_t number(std::uint64_t below);

private:
  std::mutex m_mutex;
  std::mt19937_64 m_rng;
};

struct Services {
  const Options& options;
  const core::Clock& clock;
  Log& log;
  SimStats& stats;
  RequestLog& requests;
  IdSource& ids;
};

enum class FaultResult {
  none,        // no fault replaces the response: generate as usual
  answered,    // a fault took the response's place
  client_gone, // the client left while the fault held it (ttft, hang)
};

// Applies the faults that take the place of a response, after waiting the fault's ttft:
// close_before_headers, reset, crash, hang, status (answered through `send_status`, which
// gets the status and the Retry-After seconds).
FaultResult
apply_response_faults(Exchange& exchange, const FaultSpec& fault, const Services& services,
                      const std::function<void(int status, int retry_after)>& send_status);

} // namespace ask::sim
