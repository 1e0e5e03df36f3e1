// libFuzzer target: config text -> parse_config, and on success the printer and the name
// resolution. Must never crash, hang or trip a sanitizer, whatever the bytes.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace {

std::optional<std::string> fuzz_env(const std::string& name) {
  if (name == "HOME") {
    return "/home/fuzz";
  }
  if (name == "FUZZ_KEY") {
    return "fuzz-key-0123456789";
  }
  return std::nullopt;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ask::config::ParseOptions options;
  options.source_name = "fuzz.jsonc";
  options.env = fuzz_env;
  const auto loaded = ask::config::parse_config(text, options);
  if (!loaded) {
    for (const auto& d : loaded.error().diagnostics) {
      (void)d.to_string();
    }
    (void)loaded.error().to_error();
    return 0;
  }
  const ask::config::Config& config = loaded->config;
  (void)ask::config::to_json(config).dump(2);
  for (const auto& model : config.models) {
    (void)ask::config::fallback_chain(config, model.name);
  }
  for (const auto& alias : config.aliases) {
    (void)ask::config::resolve_model_name(config, alias.name);
  }
  return 0;
}
