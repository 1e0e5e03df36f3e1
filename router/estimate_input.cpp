// The estimator's input from a model's managed settings in the config.

#include "router/estimate.h"

#include <algorithm>

namespace ask::router {

EstimateInput estimate_input(const config::ManagedSpec& s) {
  EstimateInput in;
  in.ctx = static_cast<std::uint64_t>(std::max(0, s.ctx.value_or(0)));
  in.parallel = s.parallel;
  in.cache_type_k = s.kv_cache_type.k;
  in.cache_type_v = s.kv_cache_type.v;
  in.flash_attn = s.flash_attn != config::FlashAttn::off;
  in.n_cpu_moe = s.n_cpu_moe.value_or(0);
  in.n_gpu_layers = s.n_gpu_layers.value_or(-1);
  in.mtp = s.mtp;
  return in;
}

} // namespace ask::router
