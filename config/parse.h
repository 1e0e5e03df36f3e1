#pragma once
// Internal to the config module: JSON -> Config, one section at a time. The parse functions
// check types, ranges and unknown keys, apply per-field defaults and keep names as written;
// validate() then resolves references across sections, finds cycles and adds warnings.

#include <array>
#include <functional>
#include <string_view>

#include "config/reader.h"
#include "config/types.h"

namespace ask::config::detail {

// Reads every section of the root object into `config`.
void parse_root(Context& ctx, const Json& root, Config& config);

void parse_backends(Context& ctx, const Json& section, Config& config);
void parse_models(Context& ctx, const Json& section, Config& config);
void parse_councils(Context& ctx, const Json& section, Config& config);
void parse_presets(Context& ctx, const Json& section, Config& config);
void parse_gpus(Context& ctx, const Json& section, Config& config);
void parse_timeouts(Context& ctx, const Json& value, const std::string& path, Timeouts& out);
// "http://host:port/prefix" -> Url; errors reported at `path`.
std::optional<Url> parse_url(Context& ctx, const std::string& text, const std::string& path);

// Cross-section checks; replaces alias names by what they mean. See validate.cpp.
void validate(Context& ctx, Config& config);
// The checks that need resolved names (validate_more.cpp); validate() calls it last.
void validate_references(Context& ctx, Config& config);

// Visits `root`, then its fallbacks depth-first, each model once, until `visit` returns false
// (then returns false). Iterative: a long chain cannot exhaust the stack. fallback_chain
// is built on it.
bool walk_chain(const Config& config, const Model& root,
                const std::function<bool(const Model&)>& visit);

// The GPU APIs a preset's "backend" or a device's "backend_index" may name.
inline constexpr std::array<std::string_view, 7> k_gpu_api_names{"cuda", "rocm",  "hip", "vulkan",
                                                                 "sycl", "metal", "cpu"};
GpuApi gpu_api_from(std::string_view name);

} // namespace ask::config::detail
