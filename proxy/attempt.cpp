#include "proxy/attempt.h"

namespace ask::proxy {

core::Result<std::array<Permit, 2>> acquire_permits(const LimiterSet& limiters,
                                                    ProxyMetrics& metrics,
                                                    const config::Model& model,
                                                    std::chrono::steady_clock::time_point deadline,
                                                    const std::function<bool()>& gone) {
  std::array<Permit, 2> permits;
  std::array<Limiter*, 2> chosen = {limiters.backend(model.backend), limiters.model(model.name)};
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    if (chosen[i] == nullptr) {
      continue;
    }
    metrics.set_queued(chosen[i]->scope(), chosen[i]->name(), chosen[i]->waiting() + 1);
    auto permit = chosen[i]->acquire(deadline, gone);
    metrics.set_queued(chosen[i]->scope(), chosen[i]->name(), chosen[i]->waiting());
    if (!permit) {
      return core::fail(std::move(permit.error()));
    }
    permits[i] = std::move(*permit);
  }
  return permits;
}

} // namespace ask::proxy
