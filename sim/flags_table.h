#pragma once
// Every command-line flag of llama-server (from its --help), with how many values each
// takes, so llm-sim accepts any command line a real llama-server would. The table is
// generated from tests/fixtures/llama-server/help.txt by sim/tools/gen_flags_table.py.

#include <optional>
#include <span>
#include <string_view>

namespace ask::sim {

enum class Arity {
  none,     // a switch: --jinja
  one,      // one value: --ctx-size N
  optional, // a value when the next token is not a flag: -fa [on|off|auto]
  two,      // two values: --control-vector-layer-range START END
};

struct FlagSpec {
  std::string_view name; // as typed: "-ngl"
  Arity arity = Arity::none;
  std::string_view canonical; // the flag's first long name: "--gpu-layers"
};

std::span<const FlagSpec> llama_server_flags();

// The entry for `name` ("-c", "--ctx-size"), or nullopt when llama-server has no such flag.
std::optional<FlagSpec> find_llama_server_flag(std::string_view name);

} // namespace ask::sim
