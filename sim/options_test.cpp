#include "sim/options.h"

#include <doctest/doctest.h>

using namespace ask::sim;
using namespace std::chrono_literals;

namespace {

Options parse(const std::vector<std::string>& args) {
  auto o = parse_options(args);
  REQUIRE_MESSAGE(o, (o ? "" : o.error().message));
  return *o;
}

} // namespace

TEST_CASE("parse_options: the llama-server flags the simulation reads") {
  Options o = parse({"-m",      "/m/a.gguf",
                     "--host",  "0.0.0.0",
                     "--port",  "0",
                     "-c",      "4096",
                     "-np",     "4",
                     "-ngl",    "99",
                     "-ts",     "3,1",
                     "-dev",    "CUDA0,Vulkan1",
                     "-md",     "/m/draft.gguf",
                     "-a",      "fast-9b,fast",
                     "-ctk",    "q8_0",
                     "-ctv",    "q4_0",
                     "-fa",     "on",
                     "-t",      "8",
                     "--jinja", "--metrics",
                     "-lv",     "4",
                     "-ub",     "256",
                     "-b",      "1024",
                     "-kvu",    "--n-cpu-moe",
                     "3",       "-n",
                     "64",      "--api-key",
                     "k1"});
  CHECK(o.model_path == "/m/a.gguf");
  CHECK(o.host == "0.0.0.0");
  CHECK(o.effective_port() == 0);
  CHECK(o.ctx_size == 4096);
  CHECK(o.n_parallel == 4);
  CHECK(o.gpu_layers == "99");
  CHECK(o.tensor_split == std::vector<double>{3, 1});
  CHECK(o.devices == std::vector<std::string>{"CUDA0", "Vulkan1"});
  CHECK(o.model_draft == "/m/draft.gguf");
  CHECK(o.aliases == std::vector<std::string>{"fast-9b", "fast"});
  CHECK(o.cache_type_k == "q8_0");
  CHECK(o.cache_type_v == "q4_0");
  CHECK(o.flash_attn == "on");
  CHECK(o.threads == 8);
  CHECK(o.metrics);
  CHECK(o.verbosity == 4);
  CHECK(o.n_ubatch == 256);
  CHECK(o.n_batch == 1024);
  CHECK(o.kv_unified == true);
  CHECK(o.n_predict == 64);
  CHECK(o.api_keys == std::vector<std::string>{"k1"});
  CHECK(o.ignored_flags.empty());
}

TEST_CASE("parse_options: long names, = values and the optional value of -fa") {
  Options o =
      parse({"--model=/x.gguf", "--ctx-size", "2048", "--n-gpu-layers", "all", "-fa", "--jinja"});
  CHECK(o.model_path == "/x.gguf");
  CHECK(o.gpu_layers == "all");
  CHECK(o.flash_attn == "on"); // -fa without a value
  CHECK(parse({"-fa", "off"}).flash_attn == "off");
  CHECK(parse({"--no-kv-unified"}).kv_unified == false);
  CHECK(parse({"-no-kvu"}).kv_unified == false);
  CHECK(parse({"--no-slots"}).slots_endpoint == false);
  CHECK(parse({"-v"}).verbosity == 99);
}

TEST_CASE("parse_options: unknown flags are kept for the log, with a following value") {
  Options o = parse({"--frobnicate", "7", "--switch", "--jinja", "--neg", "-5", "stray"});
  CHECK(o.ignored_flags ==
        std::vector<std::string>{"--frobnicate 7", "--switch", "--neg -5", "stray"});
  CHECK(o.ignored_flags.size() == 4); // --jinja, between them, is llama-server's
}

TEST_CASE("parse_options: llm-sim's own options") {
  Options o =
      parse({"--ollama", "--sim-load-time", "1.5s", "--sim-ttft", "20ms", "--sim-tokens-per-second",
             "0", "--sim-fault", "status=503", "--sim-seed", "42", "--sim-vram", "24576",
             "--sim-models", "a:1b,b", "--sim-fake-model", "--sim-max-connections", "8"});
  CHECK(o.mode == Mode::ollama);
  CHECK(o.effective_port() == 11434);
  CHECK(o.load_time == 1500ms);
  CHECK(o.ttft == 20ms);
  CHECK(o.tokens_per_second == 0);
  CHECK(o.fault.status == 503);
  CHECK(o.fault_text == "status=503");
  CHECK(o.seed == 42);
  CHECK(o.vram_mib == 24576);
  CHECK(o.models == std::vector<std::string>{"a:1b", "b"});
  CHECK(o.fake_model);
  CHECK(o.max_connections == 8);
  CHECK(parse({}).effective_port() == 8080);
}

TEST_CASE("parse_options: bad values are errors that name the flag") {
  auto error_of = [](const std::vector<std::string>& args) {
    auto o = parse_options(args);
    REQUIRE(!o);
    return o.error().message;
  };
  CHECK(error_of({"-c", "lots"}).find("-c") != std::string::npos);
  CHECK(error_of({"-c"}).find("expected a value") != std::string::npos);
  CHECK(error_of({"--port", "80x"}).find("--port") != std::string::npos);
  CHECK(error_of({"-fa", "maybe"}).find("on, off or auto") != std::string::npos);
  CHECK(error_of({"-ngl", "many"}).find("-ngl") != std::string::npos);
  CHECK(error_of({"-ts", "3,x"}).find("-ts") != std::string::npos);
  CHECK(error_of({"--sim-load-time", "soon"}).find("--sim-load-time") != std::string::npos);
  CHECK(error_of({"--sim-fault", "stauts=1"}).find("unknown fault 'stauts'") != std::string::npos);
  CHECK(error_of({"--sim-fualt", "x"}).find("unknown llm-sim option --sim-fualt") !=
        std::string::npos);
  CHECK(error_of({"--sim-ttft"}).find("needs a value") != std::string::npos);
}

TEST_CASE("parse_options: help and version") {
  CHECK(parse({"-h"}).help);
  CHECK(parse({"--usage"}).help);
  CHECK(parse({"--version"}).version);
}

TEST_CASE("help_text documents every option and every fault with an example") {
  const std::string help = help_text();
  for (const char* needle :
       {"--ollama", "--sim-load-time", "--sim-ttft", "--sim-tokens-per-second", "--sim-fault",
        "--sim-seed", "--sim-vram", "--sim-models", "--sim-fake-model", "--sim-max-connections",
        "--sim-request-log", "/sim/requests", "/sim/stats", "/sim/reset", "X-Sim-Fault",
        "[[sim:"}) {
    CAPTURE(needle);
    CHECK(help.find(needle) != std::string::npos);
  }
  std::string keys(fault_keys());
  std::size_t start = 0;
  while (start < keys.size()) {
    std::size_t end = keys.find(',', start);
    std::string key =
        keys.substr(start, end == std::string::npos ? std::string::npos : end - start);
    key.erase(0, key.find_first_not_of(' '));
    CAPTURE(key);
    CHECK(help.find("    " + key) != std::string::npos); // documented
    const bool has_example = help.find("[[sim: " + key) != std::string::npos ||
                             help.find("X-Sim-Fault: " + key) != std::string::npos ||
                             help.find("--sim-fault \"status=429 " + key) != std::string::npos;
    CHECK(has_example);
    start = end == std::string::npos ? keys.size() : end + 1;
  }
}
