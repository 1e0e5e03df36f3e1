#include "router/calibration_key.h"

#include <sys/stat.h>
#include <unistd.h>

namespace ask::router {

namespace fs = std::filesystem;

std::optional<FileIdentity> identify_file(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  constexpr std::int64_t k_ns = 1'000'000'000;
  return FileIdentity{path.string(), static_cast<std::uint64_t>(st.st_size),
                      static_cast<std::int64_t>(st.st_mtim.tv_sec) * k_ns + st.st_mtim.tv_nsec};
}

std::optional<FileIdentity> identify_binary(const fs::path& binary, const std::string& path_var) {
  const std::string name = binary.string();
  if (name.empty()) {
    return std::nullopt;
  }
  if (name.find('/') != std::string::npos) {
    return identify_file(binary);
  }
  std::string_view search = path_var;
  for (;;) {
    const std::size_t end = search.find(':');
    const std::string_view dir = search.substr(0, end);
    const fs::path candidate = fs::path(dir.empty() ? "." : std::string(dir)) / name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return identify_file(candidate);
    }
    if (end == std::string_view::npos) {
      return std::nullopt;
    }
    search.remove_prefix(end + 1);
  }
}

nlohmann::json memory_settings(const EstimateInput& in) {
  nlohmann::json overrides = nlohmann::json::array();
  for (const TensorOverride& o : in.overrides) {
    overrides.push_back({{"pattern", o.pattern}, {"buffer_type", o.buffer_type}});
  }
  return {{"ctx", in.ctx},
          {"parallel", in.parallel},
          {"cache_type_k", in.cache_type_k},
          {"cache_type_v", in.cache_type_v},
          {"flash_attn", in.flash_attn},
          {"kv_unified", in.kv_unified},
          {"swa_full", in.swa_full},
          {"kv_offload", in.kv_offload},
          {"mmap", in.mmap},
          {"n_gpu_layers", in.n_gpu_layers},
          {"n_cpu_moe", in.n_cpu_moe},
          {"n_batch", in.n_batch},
          {"n_ubatch", in.n_ubatch},
          {"n_outputs_max", in.n_outputs_max},
          {"draft_ctx", in.draft_ctx},
          {"mtp", in.mtp},
          {"projector_bytes", in.projector_bytes},
          {"overrides", std::move(overrides)},
          {"api", std::string(config::to_string(in.api))}};
}

} // namespace ask::router
