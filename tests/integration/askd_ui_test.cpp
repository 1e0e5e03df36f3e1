// The operator page (GET /ui) in a real browser: headless Chromium (Debian's `chromium`)
// driven by playwright-core (tests/browser, pinned in its package-lock.json; both installed
// by scripts/install-deps.sh) against a real askd. askd schedules two managed models on one
// simulated GPU that holds only one of them (so loading b evicts a), beside a model on an
// OpenAI-compatible llm-sim and a council; it needs an API key. Its peers (backends of kind
// askd) are a second askd with a managed model of its own and one on a port where nothing
// listens, so the page shows one up and one down. tests/browser/ui_test.mjs
// does the clicking and typing and checks what the page shows (docs/testing.md); this test
// starts askd and the script and says how the script ended. The screenshots of every view
// are left in <build>/ui-screenshots.

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/integration/askd_harness.h"
#include "tests/integration/managed_harness.h"
#include "tests/integration/sim_harness.h"
#include "tests/support/child_process.h"

using namespace ask::testing;

namespace {

const std::filesystem::path k_browser_dir = std::filesystem::path(ASK_SOURCE_DIR) / "tests/browser";
constexpr const char* k_ui_key = "sk-ui-test-0123456789abcdef";

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    if (std::filesystem::exists(p)) {
      return p.string();
    }
  }
  return {};
}

// The peer box2: another askd, with a managed model coder on a 24 GiB gpu0 of its own.
std::string peer_config() {
  return managed_config({{"coder", tiny_model({{"keep_alive", "10m"}})}},
                        Json::array({declared_gpu("gpu0", 0, "24GiB")}));
}

// gpu0 holds one tiny model and a half: a and b cannot sit on it together. box2 offers its
// models as box2/<name>; gone never answers.
std::string ui_config(int remote_port, int peer_port) {
  const std::uint64_t tiny = tiny_estimate_bytes();
  Json cfg = Json::parse(managed_config(
      {{"a", tiny_model({{"keep_alive", "10m"}, {"description", "the first tiny model"}})},
       {"b", tiny_model({{"keep_alive", "10m"}, {"fallbacks", Json::array({"remote"})}})}},
      Json::array({declared_gpu("gpu0", 0, "8GiB", tiny * 3 / 2)})));
  cfg["backends"]["sim"] = {{"kind", "openai"},
                            {"url", "http://127.0.0.1:" + std::to_string(remote_port)}};
  cfg["models"]["remote"] = {{"backend", "sim"}, {"upstream", "sim-model"}};
  cfg["backends"]["box2"] = {{"kind", "askd"},
                             {"url", "http://127.0.0.1:" + std::to_string(peer_port)},
                             {"prefix", "box2/"}};
  cfg["backends"]["gone"] = {{"kind", "askd"},
                             {"url", "http://127.0.0.1:" + std::to_string(closed_port())},
                             {"prefix", "gone/"}};
  cfg["councils"] = {{"panel",
                      {{"members", Json::array({{{"model", "a"}}, {{"model", "remote"}}})},
                       {"chairman", "remote"}}}};
  cfg["aliases"] = {{"fast", "a"}};
  cfg["api_keys"] = Json::array({k_ui_key});
  return cfg.dump(2);
}

} // namespace

TEST_CASE("askd ui: the operator page in headless Chromium") {
  const std::string node = find_program("node");
  const std::string chromium = find_program("chromium");
  REQUIRE_MESSAGE(!node.empty(), "node is not installed: run scripts/install-deps.sh");
  REQUIRE_MESSAGE(!chromium.empty(), "chromium is not installed: run scripts/install-deps.sh");
  REQUIRE_MESSAGE(std::filesystem::exists(k_browser_dir / "node_modules/playwright-core"),
                  "playwright-core is not installed: run scripts/install-deps.sh");
  SimProcess remote(llama_args());
  AskdProcess box2(peer_config());
  AskdProcess askd(ui_config(remote.port(), box2.port()));
  const std::filesystem::path shots = std::filesystem::path(ASK_BINARY_DIR) / "ui-screenshots";
  std::filesystem::remove_all(shots);
  std::filesystem::create_directories(shots);

  ChildOptions options;
  options.env = {"CHROMIUM=" + chromium, "NODE_NO_WARNINGS=1"};
  options.stdin_path = "/dev/null";
  ChildProcess script({node, (k_browser_dir / "ui_test.mjs").string(), "--url",
                       "http://127.0.0.1:" + std::to_string(askd.port()), "--key", k_ui_key,
                       "--out", shots.string()},
                      options);
  const auto status = script.wait_exit(std::chrono::seconds(120));
  script.wait_output_closed(std::chrono::seconds(5));
  INFO("ui_test.mjs:\n" << script.output());
  REQUIRE(status.has_value());
  CHECK(status->exited);
  CHECK(status->code == 0);
  CHECK(std::filesystem::exists(shots / "models.png"));
  CHECK(std::filesystem::exists(shots / "peers.png"));
  MESSAGE(script.stdout_text()); // one "ok - ..." line per check
}
