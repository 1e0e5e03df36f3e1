// libFuzzer target: the runtime aliases askd reads back at start ($XDG_STATE_HOME/ask/
// aliases.json, which anything may have written) and the names and targets PUT
// /api/aliases/{name} brings. The input is the state file; its first line, split at a tab, is
// also tried as a name and a target. Nothing may throw or crash, every entry that loads must
// resolve to a configured model or council, and the store must stay consistent with what it
// lists.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "config/testing.h"
#include "proxy/aliases.h"

namespace {

constexpr std::string_view k_fuzz_config = R"({
  "backends": {"alpha": {"kind": "openai", "url": "http://127.0.0.1:9"}},
  "models": {"big": {"backend": "alpha"}, "small": {"backend": "alpha"}},
  "councils": {"panel": {"members": [{"model": "big"}, {"model": "small"}], "chairman": "big"}},
  "aliases": {"fast": "small"}
})";

const ask::config::Config& fuzz_config() {
  static const ask::config::Config config = [] {
    auto loaded = ask::config::testing::parse(k_fuzz_config);
    if (!loaded) {
      std::abort();
    }
    return std::move(loaded->config);
  }();
  return config;
}

const std::filesystem::path& state_file() {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("alias_state_fuzz." + std::to_string(::getpid()) + ".json");
  return file;
}

void check_consistent(const ask::proxy::AliasStore& store) {
  for (const ask::proxy::AliasEntry& e : store.list()) {
    auto resolved = store.resolve(e.name);
    if (!resolved || resolved->name != e.model) {
      std::fprintf(stderr, "alias %s lists %s but does not resolve to it\n", e.name.c_str(),
                   e.model.c_str());
      std::abort();
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  {
    std::ofstream out(state_file(), std::ios::binary | std::ios::trunc);
    out.write(input.data(), static_cast<std::streamsize>(input.size()));
  }
  ask::proxy::AliasStore store(fuzz_config(), state_file());
  check_consistent(store);

  const std::string_view line = input.substr(0, input.find('\n'));
  const std::size_t tab = line.find('\t');
  const std::string_view name = line.substr(0, tab);
  const std::string_view target = tab == std::string_view::npos ? "big" : line.substr(tab + 1);
  ask::proxy::AliasStore fresh(fuzz_config(), {}); // no file: no disk write per input
  if (auto set = fresh.set(name, target)) {
    if (fresh.resolve(name)->name != set->model) {
      std::abort();
    }
    if (!fresh.remove(name)) {
      std::abort();
    }
  }
  check_consistent(fresh);
  return 0;
}
