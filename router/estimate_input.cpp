// The estimator's input from a model's managed settings in the config. An unset setting is
// llama-server's own default (config/types.h), so the estimate counts what llama-server
// would run with, and server_args() passes what differs from that default.

#include "router/estimate.h"

#include <algorithm>

namespace ask::router {

EstimateInput estimate_input(const config::ManagedSpec& s) {
  EstimateInput in;
  in.ctx = static_cast<std::uint64_t>(std::max(0, s.ctx.value_or(0)));
  in.parallel = s.slots();
  in.kv_unified = s.unified_kv();
  in.cache_type_k = s.kv_cache_type.k;
  in.cache_type_v = s.kv_cache_type.v;
  in.flash_attn = s.flash_attn != config::FlashAttn::off;
  in.n_batch = static_cast<std::uint32_t>(s.batch.value_or(config::k_llama_default_batch));
  in.n_ubatch = static_cast<std::uint32_t>(s.ubatch.value_or(config::k_llama_default_ubatch));
  in.swa_full = s.swa_full.value_or(false);
  in.kv_offload = s.kv_offload.value_or(true);
  in.mmap = s.mmap.value_or(true);
  for (const config::TensorOverride& o : s.override_tensors) {
    in.overrides.push_back({o.pattern, o.buffer_type});
  }
  in.n_cpu_moe = s.n_cpu_moe.value_or(0);
  in.n_gpu_layers = s.n_gpu_layers.value_or(-1);
  in.mtp = s.mtp;
  return in;
}

} // namespace ask::router
