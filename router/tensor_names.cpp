// Tensor names and where llama.cpp puts the tensors they name (router/tensor_names.h).

#include "router/tensor_names.h"

#include <charconv>
#include <regex>
#include <string>

namespace ask::router {

std::optional<std::pair<std::uint64_t, std::string_view>> block_of(std::string_view name) {
  constexpr std::string_view k_prefix = "blk.";
  if (!name.starts_with(k_prefix)) {
    return std::nullopt;
  }
  name.remove_prefix(k_prefix.size());
  std::uint64_t il = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), il);
  if (ec != std::errc() || end == name.data() || end == name.data() + name.size() || *end != '.') {
    return std::nullopt;
  }
  return std::pair{il, name.substr(static_cast<std::size_t>(end - name.data()) + 1)};
}

bool is_expert(std::string_view rest) {
  for (std::string_view f : {"ffn_up_", "ffn_down_", "ffn_gate_", "ffn_gate_up_"}) {
    if (rest.starts_with(f)) {
      const std::string_view tail = rest.substr(f.size());
      return tail.starts_with("exps") || tail.starts_with("chexps");
    }
  }
  return false;
}

bool is_input(std::string_view name) {
  for (std::string_view p : {"token_embd.", "token_embd_norm.", "token_types.", "position_embd.",
                             "per_layer_token_embd."}) {
    if (name.starts_with(p)) {
      return true;
    }
  }
  return false;
}

bool overridden_to_host(std::string_view name, const std::vector<TensorOverride>& overrides) {
  for (const TensorOverride& o : overrides) {
    try {
      const std::regex pattern(o.pattern, std::regex::ECMAScript);
      if (std::regex_search(name.begin(), name.end(), pattern)) {
        return o.buffer_type.starts_with("CPU");
      }
    } catch (const std::regex_error&) {
      continue;
    }
  }
  return false;
}

} // namespace ask::router
