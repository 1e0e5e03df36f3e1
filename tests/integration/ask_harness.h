#pragma once
// More helpers for the tests of the real `ask` binary, on top of ask_process.h (AskWorld,
// AskUser): ask run with an environment of the test's choosing (HOME only, XDG variables
// unset), what a simulator received, and ask's outputs read back (stderr lines, `ask cache
// stats` counts, the key order of a telemetry line).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/ask_process.h"

namespace ask::testing {

// The variables that steer ask; ask_env() unsets each one it does not set.
inline const std::vector<std::string> k_ask_variables = {
    "HOME",    "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
    "ASK_URL", "ASK_CONFIG",      "ASK_API_KEY",    "NO_COLOR"};

// Environment changes for ChildProcess: every variable of k_ask_variables unset, then `set`
// ("NAME=value") applied. (AskUser always sets the XDG folders; this can leave them out.)
std::vector<std::string> ask_env(const std::vector<std::string>& set);

// Runs ask with `args` and the environment changes `env` (see ask_env), standard input from
// /dev/null, and waits for it (killed after `timeout`).
AskResult run_ask(const std::vector<std::string>& args, const std::vector<std::string>& env,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

// `text` split at '\n'; a final newline adds no empty piece.
std::vector<std::string> lines_of(const std::string& text);
bool contains(const std::string& text, const std::string& part);

// The parsed body of the last request `sim` received (fails the test when there is none).
Json last_request(const SimProcess& sim);
// The text of the last user message of the last request `sim` received.
std::string last_user_text(const SimProcess& sim);

// What `ask cache stats` says: "entries: N (M expired; ...".
struct CacheCounts {
  long long entries = -1;
  long long expired = -1;
};
CacheCounts cache_counts(const AskUser& user);

// The keys of one JSON object, in the order they are written in `text` (fails the test when
// `text` is not an object).
std::vector<std::string> key_order(const std::string& text);

// The order and names every telemetry line starts with (docs/telemetry.md, "Stable fields").
inline const std::vector<std::string> k_stable_fields = {
    "ts",        "model",     "served_by", "prompt_hash", "prompt_chars", "response_chars",
    "latency_s", "cache_hit", "demoted",   "exit_code"};

// The "models" of ask_config() with `change` merged in (a JSON merge patch: a null deletes),
// to hand to AskWorld: AskWorld(Json{{"models", models_with({{"fast-1b", {{"max_queue", 0}}}})}}).
Json models_with(const Json& change);

} // namespace ask::testing
