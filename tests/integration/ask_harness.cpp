#include "tests/integration/ask_harness.h"

#include <doctest/doctest.h>

#include <regex>

namespace ask::testing {

std::vector<std::string> ask_env(const std::vector<std::string>& set) {
  std::vector<std::string> env = k_ask_variables; // "NAME" alone unsets
  for (const std::string& s : set) {
    const std::string name = s.substr(0, s.find('='));
    std::erase(env, name);
    env.push_back(s);
  }
  return env;
}

AskResult run_ask(const std::vector<std::string>& args, const std::vector<std::string>& env,
                  std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {ASK_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions options;
  options.env = env;
  options.stdin_path = "/dev/null";
  ChildProcess child(std::move(argv), std::move(options));
  return finish(child, timeout);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    if (nl == std::string::npos) {
      break;
    }
    start = nl + 1;
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Json last_request(const SimProcess& sim) {
  const Json requests = sim.get_json("/sim/requests")["requests"];
  REQUIRE_MESSAGE(!requests.empty(), "the simulator on port ", sim.port(), " got no request");
  return requests.back()["json"];
}

std::string last_user_text(const SimProcess& sim) {
  const Json body = last_request(sim);
  REQUIRE(body.contains("messages"));
  std::string text;
  for (const Json& m : body["messages"]) {
    if (m.value("role", "") == "user") {
      text = m.value("content", "");
    }
  }
  return text;
}

CacheCounts cache_counts(const AskUser& user) {
  const AskResult r = user.run({"cache", "stats"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  std::smatch m;
  REQUIRE_MESSAGE(
      std::regex_search(r.out, m, std::regex(R"(entries: ([0-9]+) \(([0-9]+) expired)")), r.out);
  return {std::stoll(m[1]), std::stoll(m[2])};
}

std::vector<std::string> key_order(const std::string& text) {
  const auto parsed = nlohmann::ordered_json::parse(text, nullptr, false);
  REQUIRE_MESSAGE(parsed.is_object(), "not a JSON object: ", text);
  std::vector<std::string> keys;
  for (const auto& item : parsed.items()) {
    keys.push_back(item.key());
  }
  return keys;
}

Json models_with(const Json& change) {
  Json models = ask_config(0, 0)["models"];
  models.merge_patch(change);
  return models;
}

} // namespace ask::testing
