#include "sim/ollama_models.h"

#include <doctest/doctest.h>

#include "sim/log.h"

using namespace ask::sim;
using namespace std::chrono_literals;
using ask::core::Duration;
using ask::core::FakeClock;

namespace {

OllamaModels make(FakeClock& clock, std::chrono::milliseconds load = 0ms) {
  return OllamaModels(clock, ollama_catalog({"llama3.2:1b", "qwen3"}), load);
}

} // namespace

TEST_CASE("OllamaModels: a model loads on first use and expires keep_alive after the request") {
  FakeClock clock;
  OllamaModels models = make(clock, 250ms);
  CHECK(models.running().empty());
  CHECK(models.begin_use("llama3.2:1b") == 250ms); // cold: the caller waits the load time
  clock.advance(10s);
  models.end_use("llama3.2:1b", Duration::seconds(300));
  auto ps = models.running();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].spec.name == "llama3.2:1b");
  CHECK(!ps[0].forever);
  CHECK(ps[0].expires_at == clock.wall_now() + 300s);
  CHECK(rfc3339_nano(ps[0].expires_at) == "2026-01-01T00:05:10Z");
  clock.advance(299s);
  CHECK(models.is_loaded("llama3.2:1b"));
  CHECK(models.begin_use("llama3.2:1b") == 0ms); // warm
  models.end_use("llama3.2:1b", Duration::seconds(300));
  clock.advance(301s);
  CHECK(models.running().empty());
}

TEST_CASE("OllamaModels: keep_alive 0 unloads at the end of the request") {
  FakeClock clock;
  OllamaModels models = make(clock);
  models.begin_use("qwen3");
  CHECK(models.is_loaded("qwen3:latest"));
  models.end_use("qwen3:latest", Duration::zero());
  CHECK(models.running().empty());
}

TEST_CASE("OllamaModels: a negative keep_alive keeps the model forever") {
  FakeClock clock;
  OllamaModels models = make(clock);
  models.begin_use("llama3.2:1b");
  models.end_use("llama3.2:1b", Duration::forever());
  clock.advance(std::chrono::hours(24 * 365));
  auto ps = models.running();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].forever);
}

TEST_CASE("OllamaModels: a model in use never expires - unload waits for the last request") {
  FakeClock clock;
  OllamaModels models = make(clock);
  models.begin_use("llama3.2:1b");
  models.begin_use("llama3.2:1b");
  clock.advance(std::chrono::hours(1)); // far past the default 5m while in use
  REQUIRE(models.running().size() == 1);
  CHECK(models.running()[0].in_use);
  models.unload("llama3.2:1b");
  models.end_use("llama3.2:1b", Duration::zero());
  CHECK(models.is_loaded("llama3.2:1b")); // one request still runs
  models.end_use("llama3.2:1b", Duration::zero());
  CHECK(!models.is_loaded("llama3.2:1b"));
}

TEST_CASE("OllamaModels: the most recently used model is listed first") {
  FakeClock clock;
  OllamaModels models = make(clock);
  models.begin_use("llama3.2:1b");
  models.end_use("llama3.2:1b", Duration::seconds(600));
  clock.advance(1s);
  models.begin_use("qwen3");
  models.end_use("qwen3", Duration::seconds(600));
  auto ps = models.running();
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].spec.name == "qwen3:latest");
  CHECK(ps[1].spec.name == "llama3.2:1b");
}

TEST_CASE("ollama_catalog: names get a tag, a family and a size") {
  auto catalog = ollama_catalog({"mistral", "gemma3:270m", "qwen3:8b"});
  CHECK(catalog[0].name == "mistral:latest");
  CHECK(catalog[0].family == "mistral");
  CHECK(catalog[1].parameter_size == "270M");
  CHECK(catalog[2].parameter_size == "8B");
  CHECK(catalog[2].size > catalog[1].size);
  CHECK(catalog[0].digest.size() == 64);
  CHECK(ollama_catalog({}).size() == 3);
  CHECK(normalize_model_name("x") == "x:latest");
  CHECK(normalize_model_name("x:1b") == "x:1b");
}
