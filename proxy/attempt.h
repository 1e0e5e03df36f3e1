#pragma once
// What every attempt at one model starts with, for the chat handler and the council's
// members alike: a place under the backend's and the model's concurrency limits.

#include <array>
#include <chrono>
#include <functional>

#include "config/types.h"
#include "core/error.h"
#include "proxy/limiter.h"
#include "proxy/metrics.h"

namespace ask::proxy {

// Waits (until `deadline`, or until `gone` says the client left) for a permit of the
// backend's limiter and then of the model's, keeping the queue gauges current. Errors:
// overloaded (a full queue), timeout, cancelled.
core::Result<std::array<Permit, 2>> acquire_permits(const LimiterSet& limiters,
                                                    ProxyMetrics& metrics,
                                                    const config::Model& model,
                                                    std::chrono::steady_clock::time_point deadline,
                                                    const std::function<bool()>& gone);

} // namespace ask::proxy
