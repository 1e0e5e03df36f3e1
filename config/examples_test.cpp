// The bundled example configs and the built-in defaults must stay valid.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "config/defaults.h"
#include "config/testing.h"

namespace ask::config {

namespace {

ConfigResult<LoadedConfig> load_example(std::string_view name) {
  LoadOptions o;
  o.explicit_path = std::filesystem::path(ASK_SOURCE_DIR) / "examples" / name;
  o.env = testing::test_env();
  return load_config(o);
}

LoadedConfig loaded_or_fail(const ConfigResult<LoadedConfig>& r) {
  if (!r) {
    FAIL(testing::dump(r.error().diagnostics));
  }
  return *r;
}

void check_round_trip(const Config& c) {
  const std::string printed = to_json(c).dump(2);
  const auto again = testing::parse(printed);
  REQUIRE_MESSAGE(again.has_value(), (again ? "" : testing::dump(again.error().diagnostics)));
  CHECK(to_json(again->config).dump(2) == printed);
}

std::vector<std::string> names(const Config& c) {
  std::vector<std::string> out;
  out.reserve(c.models.size());
  for (const Model& m : c.models) {
    out.push_back(m.name);
  }
  for (const Council& council : c.councils) {
    out.push_back(council.name);
  }
  return out;
}

} // namespace

TEST_CASE("Examples: config.jsonc is valid and has no warnings") {
  const LoadedConfig loaded = loaded_or_fail(load_example("config.jsonc"));
  CHECK_MESSAGE(loaded.warnings.empty(), testing::dump(loaded.warnings));
}

TEST_CASE("Examples: config.jsonc describes the seed deployment") {
  const Config c = loaded_or_fail(load_example("config.jsonc")).config;
  CHECK(names(c) == std::vector<std::string>{"fast-9b", "fast-3b", "fast-1b", "think-9b",
                                             "coder-30b", "heavy", "vision-4b", "council"});
  CHECK(c.find_model("fast-9b")->keep_alive == core::Duration::seconds(15 * 60));
  CHECK(c.find_model("coder-30b")->keep_alive == core::Duration::seconds(30));
  CHECK(*fallback_chain(c, "fast-9b") == std::vector<std::string>{"fast-9b", "fast-3b", "fast-1b"});
  // the chain crosses families, and its end crosses runtimes
  CHECK(c.find_model("fast-9b")->family != c.find_model("fast-3b")->family);
  CHECK(c.find_model("fast-3b")->family != c.find_model("fast-1b")->family);
  CHECK(c.find_model("fast-9b")->backend != c.find_model("fast-1b")->backend);
  std::string tiers;
  for (const Tier& t : c.tiers) {
    tiers += t.flag + "=" + t.target + " ";
  }
  CHECK(tiers == "9b=fast-9b think=think-9b heavy=heavy council=council ");
  CHECK(c.default_tier == "9b");
  const Council& council = *c.find_council("council");
  REQUIRE(council.members.size() == 2);
  CHECK(council.members[0].model == "fast-9b");
  CHECK(council.members[0].temperature == 0.7);
  CHECK(council.chairman == "think-9b");
  CHECK(c.find_model("vision-4b")->has_capability("vision"));
  check_round_trip(c);
}

TEST_CASE("Examples: workstation.jsonc is valid - only missing files are warned about") {
  const LoadedConfig loaded = loaded_or_fail(load_example("workstation.jsonc"));
  for (const Diagnostic& w : loaded.warnings) {
    CAPTURE(w.to_string());
    const bool missing_file = w.message.find("file not found") != std::string::npos ||
                              w.message.find("is not an executable file") != std::string::npos;
    CHECK(missing_file);
  }
  const Config& c = loaded.config;
  CHECK(c.gpus.devices.size() == 5);
  CHECK(c.find_gpu("rtx3090")->cap.fraction == doctest::Approx(0.9));
  CHECK(c.find_model("fast-9b")->managed->pinned);
  CHECK(c.find_model("fast-9b")->managed->preload);
  CHECK(c.find_model("fast-9b")->keep_alive->is_forever());
  CHECK(c.find_model("coder-30b")->managed->max_replicas == 2);
  CHECK(c.find_model("coder-30b")->managed->preset == "rocm");
  CHECK(c.find_model("gemma-27b")->managed->preset == "vulkan"); // the backend's preset
  CHECK(c.find_group("all-radeons")->exclusive);
  CHECK(c.find_model("llama-70b")->managed->allow_partial_offload);
  CHECK_FALSE(c.find_model("heavy")->managed->allow_partial_offload);
  CHECK(c.find_model("heavy")->managed->drain_wait == core::Duration::seconds(30));
  CHECK_FALSE(c.find_model("llama-70b")->managed->drain_wait.has_value());
  check_round_trip(c);
}

TEST_CASE("Examples: the built-in defaults are valid, warning-free, and like the example") {
  const auto r = parse_config(k_builtin_config, std::string(k_builtin_source), testing::test_env());
  const LoadedConfig loaded = loaded_or_fail(r);
  CHECK_MESSAGE(loaded.warnings.empty(), testing::dump(loaded.warnings));
  const Config example = loaded_or_fail(load_example("config.jsonc")).config;
  CHECK(names(loaded.config) == names(example));
  CHECK(loaded.config.tiers.size() == example.tiers.size());
  CHECK(loaded.config.backends.size() == 1);
  CHECK(loaded.config.backends[0].url->to_string() == "http://127.0.0.1:11434");
  check_round_trip(loaded.config);
}

} // namespace ask::config
