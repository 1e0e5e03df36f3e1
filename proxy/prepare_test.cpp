#include "proxy/prepare.h"

#include <doctest/doctest.h>

namespace ask::proxy {

namespace {

config::Model model_with(core::Json params, std::string upstream = "tag:9b") {
  config::Model m;
  m.name = "fast-9b";
  m.upstream = std::move(upstream);
  m.params = std::move(params);
  return m;
}

} // namespace

TEST_CASE("merge_params: the request's own fields win, missing and null ones come from params") {
  core::Json request = {{"temperature", 0.2}, {"top_p", nullptr}, {"model", "x"}};
  core::Json merged =
      merge_params(request, {{"temperature", 0.7}, {"top_p", 0.9}, {"think", false}});
  CHECK(merged["temperature"] == 0.2);
  CHECK(merged["top_p"] == 0.9);
  CHECK(merged["think"] == false);
  CHECK(merged["model"] == "x");
}

TEST_CASE("merge_params: objects merge one level deep") {
  core::Json request = {{"chat_template_kwargs", {{"enable_thinking", true}}}};
  core::Json merged = merge_params(
      request, {{"chat_template_kwargs", {{"enable_thinking", false}, {"reasoning", "low"}}}});
  CHECK(merged["chat_template_kwargs"]["enable_thinking"] == true);
  CHECK(merged["chat_template_kwargs"]["reasoning"] == "low");
}

TEST_CASE("merge_params: a request field of another type is kept as the client sent it") {
  core::Json merged = merge_params({{"stop", "END"}}, {{"stop", {{"a", 1}}}});
  CHECK(merged["stop"] == "END");
}

TEST_CASE("prepare_request: sets the upstream model name and the stream flag") {
  core::Json client = {{"model", "fast"}, {"stream", true},
                       {"stream_options", {{"include_usage", true}}},
                       {"messages", core::Json::array()}};
  core::Json streamed = prepare_request(client, model_with({{"num_ctx", 8192}}), true);
  CHECK(streamed["model"] == "tag:9b");
  CHECK(streamed["stream"] == true);
  CHECK(streamed["num_ctx"] == 8192);
  CHECK(streamed.contains("stream_options"));
  core::Json plain = prepare_request(client, model_with({}), false);
  CHECK(plain["stream"] == false);
  CHECK(!plain.contains("stream_options"));
}

TEST_CASE("prepare_request: a model without an upstream name sends its own name") {
  CHECK(prepare_request({{"model", "a"}}, model_with({}, ""), false)["model"] == "fast-9b");
}

} // namespace ask::proxy
