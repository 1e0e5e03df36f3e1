#include "sim/services.h"

#include "sim/stream.h"

namespace ask::sim {

namespace {

constexpr std::string_view k_alnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view k_lower_alnum = "abcdefghijklmnopqrstuvwxyz0123456789";

} // namespace

IdSource::IdSource(std::uint64_t seed) : m_rng(seed != 0 ? seed : std::random_device{}()) {}

std::string IdSource::alnum(std::size_t n) {
  std::lock_guard lock(m_mutex);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += k_alnum[m_rng() % k_alnum.size()];
  }
  return out;
}

std::string IdSource::lower_alnum(std::size_t n) {
  std::lock_guard lock(m_mutex);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += k_lower_alnum[m_rng() % k_lower_alnum.size()];
  }
  return out;
}

std::uint64_t IdSource::number(std::uint64_t below) {
  std::lock_guard lock(m_mutex);
  return below == 0 ? 0 : m_rng() % below;
}

FaultResult apply_response_faults(Exchange& exchange, const FaultSpec& fault,
                                  const Services& services,
                                  const std::function<void(int, int)>& send_status) {
  bool replaces = fault.close_before_headers || fault.reset || fault.crash || fault.hang ||
                  fault.status.has_value();
  if (!replaces) {
    return FaultResult::none;
  }
  if (fault.ttft && exchange.wait_for(*fault.ttft) != WaitResult::elapsed) {
    return FaultResult::client_gone;
  }
  if (fault.crash) {
    services.log.sim("fault: crash");
    crash_now();
  }
  if (fault.close_before_headers || fault.reset) {
    exchange.close_connection(fault.reset);
    return FaultResult::answered;
  }
  if (fault.hang) {
    return hang(exchange) == Outcome::client_gone ? FaultResult::client_gone
                                                  : FaultResult::answered;
  }
  send_status(*fault.status, fault.retry_after.value_or(1));
  return FaultResult::answered;
}

} // namespace ask::sim
