#include "tests/integration/ask_process.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

namespace ask::testing {

Json ask_config(int ollama_port, int llama_port, const Json& extra) {
  auto url = [](int port) { return "http://127.0.0.1:" + std::to_string(port); };
  Json cfg = {
      {"backends",
       {{"ollama",
         {{"kind", "ollama"},
          {"url", url(ollama_port)},
          {"timeouts", {{"connect", "1s"}, {"first_byte", "10s"}}}}},
        {"llamacpp", {{"kind", "openai"}, {"url", url(llama_port)}}}}},
      {"models",
       {{"fast-9b",
         {{"backend", "ollama"},
          {"upstream", "qwen3.5:9b"},
          {"family", "qwen"},
          {"fallbacks", {"fast-3b"}}}},
        {"fast-3b",
         {{"backend", "ollama"},
          {"upstream", "llama3.2:3b"},
          {"family", "llama"},
          {"fallbacks", {"fast-1b"}}}},
        {"fast-1b",
         {{"backend", "llamacpp"}, {"upstream", "gemma-3-1b-it-Q4_K_M"}, {"family", "gemma"}}},
        {"think-9b",
         {{"backend", "ollama"}, {"upstream", "qwen3.5:9b"}, {"params", {{"think", true}}}}}}},
      {"councils",
       {{"council",
         {{"members", Json::array({{{"model", "fast-9b"}}, {{"model", "fast-9b"}}})},
          {"chairman", "think-9b"}}},
        {"mixed",
         {{"members", Json::array({{{"model", "think-9b"}}, {{"model", "fast-1b"}}})},
          {"chairman", "fast-1b"}}}}},
      {"tiers", {{"9b", "fast-9b"}, {"think", "think-9b"}, {"council", "council"}, {"tiny", "fast-1b"}}},
      {"default_tier", "9b"},
      {"aliases", {{"fast", "fast-9b"}}}};
  cfg.update(extra);
  return cfg;
}

AskWorld::AskWorld(const Json& extra_config) {
  m_ollama = std::make_unique<SimProcess>(std::vector<std::string>{
      "--ollama", "--sim-tokens-per-second", "0", "--sim-models", "qwen3.5:9b,llama3.2:3b"});
  m_llama = std::make_unique<SimProcess>(llama_args({"-a", "gemma-3-1b-it-Q4_K_M"}));
  m_config = ask_config(m_ollama->port(), m_llama->port(), extra_config);
  m_askd = std::make_unique<AskdProcess>(m_config.dump(2));
}

namespace {
std::size_t request_count(const SimProcess& sim) {
  return sim.get_json("/sim/requests")["requests"].size();
}
} // namespace

std::size_t AskWorld::llama_requests() const { return request_count(*m_llama); }
std::size_t AskWorld::ollama_requests() const { return request_count(*m_ollama); }

AskUser::AskUser(const Json& config, int askd_port) : m_port(askd_port) {
  m_config = m_dir.write("config.jsonc", config.dump(2));
}

std::vector<std::string> AskUser::environment(std::vector<std::string> extra) const {
  const std::string d = dir().string();
  std::vector<std::string> env = {
      "HOME=" + d,
      "XDG_CACHE_HOME=" + d + "/cache",
      "XDG_DATA_HOME=" + d + "/data",
      "XDG_CONFIG_HOME=" + d + "/config",
      "XDG_STATE_HOME=" + d + "/state",
      "ASK_CONFIG=" + m_config.string(),
      "ASK_URL=http://127.0.0.1:" + std::to_string(m_port),
      "ASK_API_KEY",
      "NO_COLOR",
  };
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::unique_ptr<ChildProcess> AskUser::start(const std::vector<std::string>& args,
                                             const std::optional<std::string>& stdin_text,
                                             std::vector<std::string> env) const {
  ChildOptions options;
  options.env = environment(std::move(env));
  options.stdin_path = "/dev/null";
  if (stdin_text) {
    options.stdin_path = m_dir.write("stdin-" + std::to_string(m_stdin_files++), *stdin_text);
  }
  std::vector<std::string> argv = {ASK_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<ChildProcess>(std::move(argv), std::move(options));
}

AskResult finish(ChildProcess& child, std::chrono::milliseconds timeout) {
  AskResult r;
  auto status = child.wait_exit(timeout);
  if (!status) {
    child.terminate();
  } else if (status->exited) {
    r.code = status->code;
  }
  child.wait_output_closed(std::chrono::seconds(5));
  r.out = child.stdout_text();
  r.err = child.stderr_text();
  return r;
}

AskResult AskUser::run(const std::vector<std::string>& args,
                       const std::optional<std::string>& stdin_text, std::vector<std::string> env,
                       std::chrono::milliseconds timeout) const {
  auto child = start(args, stdin_text, std::move(env));
  return finish(*child, timeout);
}

std::vector<std::string> AskUser::log_text_lines() const {
  std::vector<std::string> lines;
  std::ifstream in(log_file());
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::vector<Json> AskUser::log_lines() const {
  std::vector<Json> out;
  for (const std::string& line : log_text_lines()) {
    out.push_back(Json::parse(line));
  }
  return out;
}

Json AskUser::last_line() const {
  auto lines = log_lines();
  REQUIRE_MESSAGE(!lines.empty(), "no telemetry line in ", log_file().string());
  return lines.back();
}

} // namespace ask::testing
