#include "cache/key.h"

#include <utility>

#include "core/json_text.h"
#include "core/sha256.h"

namespace ask::cache {

std::string canonical_form(std::string_view model, const nlohmann::json& request) {
  nlohmann::json body = request;
  if (body.is_object()) {
    body.erase("model");
    body.erase("stream");
    body.erase("stream_options");
  }
  nlohmann::json form = nlohmann::json::array();
  form.push_back(std::string(k_key_version));
  form.push_back(std::string(model));
  form.push_back(std::move(body));
  // Compact, keys sorted (std::map), UTF-8 kept as is, invalid bytes as U+FFFD: never throws.
  return core::dump_json(form);
}

std::string cache_key(std::string_view model, const nlohmann::json& request) {
  return core::sha256_hex(canonical_form(model, request));
}

} // namespace ask::cache
