#pragma once
// What a GGUF tensor's name says about where llama.cpp puts it: its layer ("blk.N."), the
// input layer (always in host memory), MoE expert weights (--n-cpu-moe), and the user's
// tensor overrides (-ot PATTERN=CPU).

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "router/estimate.h"

namespace ask::router {

// The layer index of a "blk.N.rest" name and `rest`; nullopt for other names.
std::optional<std::pair<std::uint64_t, std::string_view>> block_of(std::string_view name);

// --n-cpu-moe's pattern (common/common.h llm_ffn_exps_block_regex), `rest` being the part
// after "blk.N.": ffn_(up|down|gate|gate_up)_(ch|)exps.
bool is_expert(std::string_view rest);

// Input-layer tensors (llm_tensor_info_mapping: LLM_TENSOR_LAYER_INPUT), kept on the CPU.
bool is_input(std::string_view name);

// Whether an override keeps tensor `name` in host memory: the first override whose pattern
// matches (std::regex_search, ECMAScript, as llama.cpp's tensor_buft_overrides) names a host
// buffer type ("CPU", "CPU_Mapped", …). A pattern that does not compile matches nothing.
bool overridden_to_host(std::string_view name, const std::vector<TensorOverride>& overrides);

} // namespace ask::router
