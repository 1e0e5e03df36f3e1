// llama-server's formats, compared byte for byte with the recordings in
// tests/fixtures/llama-server. Only values that differ run to run are taken over from the
// recording (id, created, timings, the random media marker); everything else, key order
// included, must be equal.

#include "sim/llama_format.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/json_text.h"
#include "sim/llama_info.h"
#include "sim/slots.h"

using namespace ask::sim;
using llama::OJson;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/llama-server/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The "data: {...}" payloads of a raw recorded stream, in order.
std::vector<std::string> data_lines(const std::string& raw) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = raw.find("data: ", pos)) != std::string::npos) {
    std::size_t end = raw.find('\n', pos);
    out.push_back(raw.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

std::string body_of(const std::string& http) {
  return http.substr(http.find("\r\n\r\n") + 4);
}

llama::CompletionMeta meta_of(const OJson& chunk) {
  return {chunk["id"], chunk["created"], chunk["model"]};
}

llama::Timings timings_of(const OJson& t) {
  return {t["prompt_n"], t["prompt_ms"], t["predicted_n"], t["predicted_ms"]};
}

} // namespace

TEST_CASE("llama format: stream chunks equal chat-stream.sse byte for byte") {
  std::vector<std::string> recorded = data_lines(fixture("chat-stream.sse"));
  REQUIRE(recorded.size() == 19); // role, 16 tokens, final, [DONE]
  OJson first = OJson::parse(recorded[0]);
  llama::CompletionMeta meta = meta_of(first);
  CHECK(ask::core::dump_json(llama::chunk(meta, llama::role_delta())) == recorded[0]);
  CHECK(ask::core::dump_json(llama::chunk(meta, llama::token_delta({TokenKind::content, "\n"}))) ==
        recorded[1]);
  OJson last = OJson::parse(recorded[17]);
  llama::Timings t = timings_of(last["timings"]);
  last["timings"]["cache_n"] = 0; // the recording reused its prompt cache; the sim has none
  last["timings"]["prompt_per_token_ms"] = t.prompt_ms / static_cast<double>(t.prompt_n);
  last["timings"]["prompt_per_second"] = 1e3 * static_cast<double>(t.prompt_n) / t.prompt_ms;
  CHECK(ask::core::dump_json(llama::final_chunk(meta, "length", t)) == ask::core::dump_json(last));
  CHECK(recorded[18] == "[DONE]");
}

TEST_CASE("llama format: the usage chunk equals chat-stream-usage.sse") {
  std::vector<std::string> recorded = data_lines(fixture("chat-stream-usage.sse"));
  OJson usage = OJson::parse(recorded[18]);
  llama::CompletionMeta meta = meta_of(usage);
  CHECK(ask::core::dump_json(llama::final_chunk(meta, "length", std::nullopt)) == recorded[17]);
  llama::Timings t = timings_of(usage["timings"]);
  OJson expected = usage;
  expected["usage"]["prompt_tokens_details"]["cached_tokens"] = 0;
  expected["timings"] = llama::timings_json(t);
  CHECK(ask::core::dump_json(llama::usage_chunk(meta, 59, 16, t)) == ask::core::dump_json(expected));
  CHECK(expected["timings"]["prompt_per_second"] == usage["timings"]["prompt_per_second"]);
}

TEST_CASE("llama format: a non-streaming completion equals chat-nonstream.http") {
  OJson recorded = OJson::parse(body_of(fixture("chat-nonstream.http")));
  llama::CompletionMeta meta{recorded["id"], recorded["created"], recorded["model"]};
  GenerationRequest r;
  r.messages = {{"user", "x"}};
  r.repeat = "\n";
  r.max_tokens = 16;
  Answer answer = generate(r);
  OJson ours = llama::completion(meta, answer, timings_of(recorded["timings"]));
  ours["usage"] = recorded["usage"]; // prompt tokens are estimated, not tokenized
  CHECK(ask::core::dump_json(ours) == ask::core::dump_json(recorded));
}

TEST_CASE("llama format: error bodies equal errors.http and health-loading.txt") {
  const std::string errors = fixture("errors.http");
  auto recorded = [&](const OJson& body) {
    return errors.find(ask::core::dump_json(body) + "\n") != std::string::npos;
  };
  CHECK(recorded(llama::error_body(400, "'messages' is required", "invalid_request_error")));
  CHECK(recorded(
      llama::error_body(400, "Expected 'messages' to be an array", llama::error_type(400))));
  CHECK(recorded(llama::not_found_body()));
  CHECK(recorded(llama::error_body(
      501, "This server does not support slots action. Start it with `--slot-save-path`",
      llama::error_type(501))));
  CHECK(recorded(llama::error_body(
      400,
      "request (6452 tokens) exceeds the available context size (512 tokens), try increasing it",
      "exceed_context_size_error", OJson{{"n_prompt_tokens", 6452}, {"n_ctx", 512}})));
  CHECK(llama::error_type(500) == "server_error");
  CHECK(llama::error_type(503) == "unavailable_error");
}

TEST_CASE("llama format: response headers in cpp-httplib's order") {
  auto text = [](const Headers& headers) {
    std::string out;
    for (const auto& [k, v] : headers) {
      out.append(k).append(": ").append(v).append("\r\n");
    }
    return out;
  };
  const std::string nonstream = fixture("chat-nonstream.http");
  CHECK(nonstream.find(text(llama::json_headers(200, 685, true)) + "\r\n") != std::string::npos);
  const std::string stream = fixture("chat-stream.sse");
  CHECK(stream.find(text(llama::sse_headers(true)) + "\r\n") != std::string::npos);
  const std::string errors = fixture("errors.http");
  CHECK(errors.find(text(llama::json_headers(400, 88, true))) != std::string::npos); // errors close
}

TEST_CASE("llama format: /slots idle equals slots.json") {
  SlotPool pool(2, 512);
  CHECK(ask::core::dump_json(pool.to_json()) == fixture("slots.json"));
}

TEST_CASE("llama format: /v1/models and /props equal the recordings of models a and b") {
  auto options = parse_options({"-c", "1024", "--parallel", "2"});
  for (const char* name : {"tiny-llama-2L-f16", "tiny-llama-4L-q8_0"}) {
    CAPTURE(name);
    auto model =
        load_model_info(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/gguf/" + name + ".gguf");
    REQUIRE(model);
    model->path = std::string("/opt/models/tiny-fixtures/") + name + ".gguf";
    auto ctx = plan_context(*options, *model);
    REQUIRE(ctx);
    const bool model_a = std::string(name) == "tiny-llama-2L-f16";
    OJson recorded_props =
        OJson::parse(fixture(model_a ? "props.json" : "props-no-template-q8_0.json"));
    llama::ServedModel served{*model, *ctx, {}, 1795305769};
    OJson props = llama::props_json(served, /*metrics_enabled=*/model_a);
    props["media_marker"] = recorded_props["media_marker"];
    CHECK(ask::core::dump_json(props) == ask::core::dump_json(recorded_props));
    if (model_a) {
      CHECK(ask::core::dump_json(llama::models_json(served)) == fixture("models.json"));
    }
  }
}

TEST_CASE("llama format: /metrics has llama-server's names, help and order") {
  const std::string recorded = body_of(fixture("metrics-idle.http"));
  std::string ours = llama::metrics_text({});
  auto names = [](const std::string& text) {
    std::string out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("#")) {
        out += line + "\n";
      }
    }
    return out;
  };
  CHECK(names(ours) == names(recorded));
}
