#pragma once
// Helpers for tests that run the real `ask` binary: a world of two llm-sim backends (Ollama
// and llama-server) behind a real askd, and an `ask` environment per test (its own HOME,
// XDG cache and data folders, the config file, ASK_URL), so that no test touches the real ~
// and each starts with an empty cache and telemetry log.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/askd_harness.h"

namespace ask::testing {

// The config every ask test uses: fast-9b (Ollama qwen3.5:9b) → fast-3b (Ollama llama3.2:3b)
// → fast-1b (llama-server gemma), think-9b, a council of two fast-9b chaired by think-9b, a
// council "mixed" (think-9b and fast-1b, chaired by fast-1b),
// tiers 9b, think, council, tiny (fast-1b), default 9b, alias fast → fast-9b. `extra` is
// merged into the top level (e.g. {"api_keys": [...]}, {"telemetry": {...}}).
Json ask_config(int ollama_port, int llama_port, const Json& extra = Json::object());

// Two simulators and askd in front of them.
class AskWorld {
public:
  explicit AskWorld(const Json& extra_config = Json::object());
  SimProcess& ollama() { return *m_ollama; }
  SimProcess& llama() { return *m_llama; }
  AskdProcess& askd() { return *m_askd; }
  // Stops the Ollama simulator (fast-9b and fast-3b then fail: the chain falls back).
  void stop_ollama() { m_ollama.reset(); }
  const Json& config() const { return m_config; }
  // Requests the llama-server simulator has received (not /sim/ ones).
  std::size_t llama_requests() const;
  std::size_t ollama_requests() const;

private:
  std::unique_ptr<SimProcess> m_ollama;
  std::unique_ptr<SimProcess> m_llama;
  Json m_config;
  std::unique_ptr<AskdProcess> m_askd;
};

struct AskResult {
  int code = -1;   // exit code; -1 when killed by a signal or still running after the timeout
  std::string out; // stdout
  std::string err; // stderr
};

// The files and environment of one user of ask.
class AskUser {
public:
  // `config` is written to the folder and named by ASK_CONFIG; ASK_URL points at askd_port.
  AskUser(const Json& config, int askd_port);

  // Runs ask with `args`; standard input is `stdin_text` (or /dev/null when none).
  AskResult run(const std::vector<std::string>& args,
                const std::optional<std::string>& stdin_text = std::nullopt,
                std::vector<std::string> env = {},
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // Starts ask without waiting (for signals and concurrency).
  std::unique_ptr<ChildProcess> start(const std::vector<std::string>& args,
                                      const std::optional<std::string>& stdin_text = std::nullopt,
                                      std::vector<std::string> env = {}) const;

  const std::filesystem::path& dir() const { return m_dir.path(); }
  std::filesystem::path cache_file() const { return dir() / "cache" / "ask" / "cache.sqlite"; }
  std::filesystem::path log_file() const { return dir() / "data" / "ask" / "log.jsonl"; }
  // The telemetry log: its raw lines, and parsed.
  std::vector<std::string> log_text_lines() const;
  std::vector<Json> log_lines() const;
  // The last telemetry line (fails the test when there is none).
  Json last_line() const;

  // The environment changes every run of this user gets (HOME, XDG folders, ASK_CONFIG,
  // ASK_URL; ASK_API_KEY and NO_COLOR removed), then `extra`: for ChildOptions::env and
  // PtyOptions::env.
  std::vector<std::string> environment(std::vector<std::string> extra = {}) const;

private:

  TempFolder m_dir;
  std::filesystem::path m_config;
  int m_port;
  mutable int m_stdin_files = 0;
};

// The result of a finished ChildProcess as an AskResult (after waiting up to `timeout`).
AskResult finish(ChildProcess& child, std::chrono::milliseconds timeout);

} // namespace ask::testing
