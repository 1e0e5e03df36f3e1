// ResponsesDialect, the reply side: chat replies and chunks as response objects and events,
// checked against llama-server's own /v1/responses recordings
// (tests/fixtures/llama-server/responses) and replayed the way the OpenAI SDKs' stream
// helpers accumulate them; error bodies. The request side is dialect_responses_test.cpp.
#include "proxy/dialect_responses.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/sse.h"
#include "core/test_fixtures.h"

using ask::core::ErrorKind;
using ask::core::Json;
using ask::core::testing::http_body;
using ask::core::testing::read_fixture;
using ask::proxy::DialectMeta;
using ask::proxy::ResponsesDialect;

// A named namespace around helpers and tests alike: in a unity build other tests' anonymous
// helpers (another k_meta) share this file's scope, and names found here hide them.
namespace responses_reply_test {

const DialectMeta k_meta{"chatcmpl-abc123", 1700000000, "fast-9b"};

struct Event {
  std::string name;
  Json data;
};

std::vector<Event> events_of(const std::string& sse) {
  ask::core::SseParser parser;
  std::vector<Event> out;
  for (auto& event : parser.feed(sse)) {
    out.push_back({event.event, Json::parse(event.data)});
  }
  REQUIRE(parser.finish());
  return out;
}

std::vector<std::string> names_of(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) {
    out.push_back(event.name);
  }
  return out;
}

// Feeds `chunks` to a fresh encoder, then finish(); every event checked for the framing
// rules: event name = data.type, sequence numbers 0, 1, 2, … in order.
std::vector<Event> encode(const std::vector<Json>& chunks, const ResponsesDialect& dialect = {}) {
  auto encoder = dialect.stream(k_meta);
  std::string sse;
  for (const auto& chunk : chunks) {
    encoder->chunk(chunk, sse);
  }
  encoder->finish(sse);
  auto events = events_of(sse);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].data.at("type") == events[i].name);
    CHECK(events[i].data.at("sequence_number") == i);
  }
  return events;
}

Json chunk_with(const Json& delta, const Json& finish_reason = nullptr) {
  return Json{{"id", "chatcmpl-abc123"},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", "fast-9b"},
              {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}}}};
}

Json usage_chunk(long long prompt, long long completion) {
  return Json{{"id", "chatcmpl-abc123"},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", "fast-9b"},
              {"choices", Json::array()},
              {"usage",
               {{"prompt_tokens", prompt},
                {"completion_tokens", completion},
                {"total_tokens", prompt + completion}}}};
}

// What the OpenAI SDKs' stream helpers (ResponseStreamState in openai-python, the same in
// openai-node) build from the events: a snapshot from response.created, items appended on
// output_item.added, parts and text placed by output_index and content_index. Returns the
// snapshot's output, to compare with the terminal event's.
Json accumulate_like_sdk(const std::vector<Event>& events) {
  Json snapshot;
  for (const auto& [name, data] : events) {
    if (name == "response.created") {
      snapshot = data.at("response");
    } else if (name == "response.output_item.added") {
      snapshot.at("output").push_back(data.at("item"));
    } else if (name == "response.content_part.added") {
      snapshot.at("output").at(data.at("output_index").get<std::size_t>())["content"].push_back(
          data.at("part"));
    } else if (name == "response.output_text.delta") {
      auto& part = snapshot.at("output")
                       .at(data.at("output_index").get<std::size_t>())
                       .at("content")
                       .at(data.at("content_index").get<std::size_t>());
      part["text"] = part.at("text").get<std::string>() + data.at("delta").get<std::string>();
    } else if (name == "response.function_call_arguments.delta") {
      auto& item = snapshot.at("output").at(data.at("output_index").get<std::size_t>());
      item["arguments"] =
          item.at("arguments").get<std::string>() + data.at("delta").get<std::string>();
    } else if (name == "response.output_item.done") {
      snapshot.at("output").at(data.at("output_index").get<std::size_t>()) = data.at("item");
    }
  }
  return snapshot.at("output");
}

// Every key of `theirs` is in `ours`, recursively through objects and through the first
// element of arrays of objects; `path` names where for failure messages.
void check_has_fields_of(const Json& ours, const Json& theirs, const std::string& path) {
  if (!theirs.is_object()) {
    if (theirs.is_array() && !theirs.empty() && theirs[0].is_object()) {
      REQUIRE_MESSAGE(ours.is_array(), path);
      REQUIRE_MESSAGE(!ours.empty(), path);
      check_has_fields_of(ours[0], theirs[0], path + "[0]");
    }
    return;
  }
  REQUIRE_MESSAGE(ours.is_object(), path);
  for (const auto& [key, value] : theirs.items()) {
    if (key == "timings") {
      continue; // llama-server's own statistics
    }
    CHECK_MESSAGE(ours.contains(key), path, ".", key, " missing");
    if (ours.contains(key)) {
      check_has_fields_of(ours[key], value, path + "." + key);
    }
  }
}

std::vector<Json> chat_chunks_fixture(const std::string& name) {
  std::vector<Json> out;
  ask::core::SseParser parser;
  for (auto& event : parser.feed(http_body(read_fixture(name)))) {
    if (!event.is_done()) {
      out.push_back(Json::parse(event.data));
    }
  }
  return out;
}

// ---- reply -------------------------------------------------------------------------------

TEST_CASE("ResponsesDialect: the recorded chat reply becomes a response with every field "
          "llama-server's door writes") {
  // chat-nonstream.http and nonstream.http come from the same request to the same model at
  // temperature 0, so the text and the token counts are the same too.
  const auto completion =
      Json::parse(http_body(read_fixture("llama-server/responses/chat-nonstream.http")));
  const auto theirs = Json::parse(http_body(read_fixture("llama-server/responses/nonstream.http")));
  const auto ours = ResponsesDialect().reply(completion, k_meta);

  check_has_fields_of(ours, theirs, "response");
  CHECK(ours.at("output").size() == 1);
  CHECK(ours.at("output")[0].at("content")[0].at("text") ==
        theirs.at("output")[0].at("content")[0].at("text"));
  CHECK(ours.at("usage").at("input_tokens") == theirs.at("usage").at("input_tokens"));
  CHECK(ours.at("usage").at("output_tokens") == theirs.at("usage").at("output_tokens"));
  CHECK(ours.at("id") == "resp_abc123");
  CHECK(ours.at("object") == "response");
  CHECK(ours.at("created_at") == 1700000000);
  CHECK(ours.at("model") == "fast-9b");
  CHECK(ours.at("output")[0].at("id") == "msg_abc123");
  // The reply stopped at max_tokens: OpenAI says so (llama-server says "completed").
  CHECK(ours.at("status") == "incomplete");
  CHECK(ours.at("incomplete_details") == Json::parse(R"({"reason":"max_output_tokens"})"));
  CHECK(ours.at("output")[0].at("status") == "incomplete");
  CHECK(ours.at("completed_at").is_null());
  CHECK(ours.at("usage") == Json::parse(R"({"input_tokens":59,"output_tokens":8,
      "total_tokens":67,"input_tokens_details":{"cached_tokens":58},
      "output_tokens_details":{"reasoning_tokens":0}})"));
}

TEST_CASE("ResponsesDialect: reasoning, text and tool calls become output items in order") {
  const auto completion = Json::parse(R"({"id":"chatcmpl-x","object":"chat.completion",
      "created":1,"model":"backend-model","choices":[{"index":0,"finish_reason":"tool_calls",
      "message":{"role":"assistant","reasoning_content":"Think.","content":"Calling.",
        "tool_calls":[
          {"id":"call_A","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
          {"type":"function","function":{"name":"g","arguments":"{}"}}]}}],
      "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
               "completion_tokens_details":{"reasoning_tokens":2}}})");
  const auto ours = ResponsesDialect().reply(completion, k_meta);
  CHECK(ours.at("status") == "completed");
  CHECK(ours.at("incomplete_details").is_null());
  CHECK(ours.at("error").is_null());
  CHECK(ours.at("completed_at") == 1700000000);
  CHECK(ours.at("model") == "fast-9b"); // the logical model, not the backend's file name
  CHECK(ours.at("output") == Json::parse(R"([
      {"id":"rs_abc123","type":"reasoning","status":"completed","summary":[],
       "content":[{"type":"reasoning_text","text":"Think."}]},
      {"id":"msg_abc123","type":"message","status":"completed","role":"assistant",
       "content":[{"type":"output_text","text":"Calling.","annotations":[],"logprobs":[]}]},
      {"id":"fc_abc123_0","type":"function_call","status":"completed","call_id":"call_A",
       "name":"f","arguments":"{\"a\":1}"},
      {"id":"fc_abc123_1","type":"function_call","status":"completed",
       "call_id":"call_abc123_1","name":"g","arguments":"{}"}])"));
  CHECK(ours.at("usage").at("output_tokens_details").at("reasoning_tokens") == 2);
  CHECK(ours.at("usage").at("input_tokens_details").at("cached_tokens") == 0);
}

TEST_CASE("ResponsesDialect: replies echo the request's settings, or the defaults") {
  const auto completion = Json::parse(R"({"id":"x","object":"chat.completion","created":1,
      "model":"m","choices":[{"index":0,"finish_reason":"stop",
      "message":{"role":"assistant","content":"ok"}}]})");
  const auto plain = ResponsesDialect().reply(completion, k_meta);
  CHECK(plain.at("tools") == Json::array());
  CHECK(plain.at("tool_choice") == "auto");
  CHECK(plain.at("instructions").is_null());
  CHECK(plain.at("previous_response_id").is_null());
  CHECK(plain.at("parallel_tool_calls") == true);
  CHECK(plain.at("text") == Json::parse(R"({"format":{"type":"text"}})"));
  CHECK(plain.at("usage").is_null()); // the backend sent none

  const auto request = Json::parse(R"({"model":"m","input":"hi","instructions":"Be brief.",
      "tools":[{"type":"function","name":"f"}],"tool_choice":"required","temperature":0.2,
      "max_output_tokens":64,"reasoning":{"effort":"low","summary":5},
      "text":{"format":{"type":"json_object"}},"metadata":{"k":"v"},"top_p":"bad"})");
  const auto echoed = ResponsesDialect(request).reply(completion, k_meta);
  CHECK(echoed.at("instructions") == "Be brief.");
  CHECK(echoed.at("tools") == request.at("tools"));
  CHECK(echoed.at("tool_choice") == "required");
  CHECK(echoed.at("temperature") == 0.2);
  CHECK(echoed.at("max_output_tokens") == 64);
  CHECK(echoed.at("reasoning") == Json::parse(R"({"effort":"low","summary":null})"));
  CHECK(echoed.at("text") == request.at("text"));
  CHECK(echoed.at("metadata") == request.at("metadata"));
  CHECK(echoed.at("top_p").is_null()); // a wrong type is echoed as the default
  CHECK(ResponsesDialect(Json("not an object")).reply(completion, k_meta).at("tools") ==
        Json::array());
}

TEST_CASE("ResponsesDialect: empty text makes no message item - content_filter is incomplete") {
  const auto completion = Json::parse(R"({"id":"x","object":"chat.completion","created":1,
      "model":"m","choices":[{"index":0,"finish_reason":"content_filter",
      "message":{"role":"assistant","content":""}}]})");
  const auto ours = ResponsesDialect().reply(completion, k_meta);
  CHECK(ours.at("output") == Json::array());
  CHECK(ours.at("status") == "incomplete");
  CHECK(ours.at("incomplete_details").at("reason") == "content_filter");
}

// ---- stream ------------------------------------------------------------------------------

TEST_CASE("ResponsesDialect: the recorded chat chunks give llama-server's event sequence with "
          "its fields and OpenAI's") {
  const auto chunks = chat_chunks_fixture("llama-server/responses/chat-stream.sse");
  const auto theirs = events_of(http_body(read_fixture("llama-server/responses/stream.sse")));
  const auto ours = encode(chunks);

  auto expected = names_of(theirs);
  // llama-server reports a reply cut at max_output_tokens as completed; OpenAI, and askd, as
  // incomplete.
  REQUIRE(expected.back() == "response.completed");
  expected.back() = "response.incomplete";
  REQUIRE(names_of(ours) == expected);

  for (std::size_t i = 0; i < ours.size(); ++i) {
    CAPTURE(ours[i].name);
    check_has_fields_of(ours[i].data, theirs[i].data, "data");
    for (const auto* key : {"delta", "text"}) {
      if (theirs[i].data.contains(key)) {
        CHECK(ours[i].data.at(key) == theirs[i].data.at(key));
      }
    }
  }
  // What OpenAI's events carry beyond llama-server's.
  for (const auto& event : ours) {
    if (event.name.starts_with("response.output_") || event.name.starts_with("response.content_")) {
      CHECK(event.data.at("output_index") == 0);
    }
  }
  CHECK(ours[0].data.at("response").at("output") == Json::array());
  CHECK(ours[0].data.at("response").at("model") == "fast-9b");
  const auto& final_response = ours.back().data.at("response");
  CHECK(final_response.at("status") == "incomplete");
  CHECK(final_response.at("incomplete_details").at("reason") == "max_output_tokens");
  CHECK(final_response.at("usage").at("input_tokens") == 59);
  CHECK(final_response.at("usage").at("output_tokens") == 4);
  CHECK(final_response.at("usage").at("total_tokens") == 63);
  CHECK(final_response.at("output")[0].at("content")[0].at("text") == "\n\n\n\n");
  CHECK(accumulate_like_sdk(ours) == final_response.at("output"));
}

TEST_CASE("ResponsesDialect: streamed tool calls become function_call items, arguments in "
          "deltas, closed in order") {
  const std::vector<Json> chunks{
      chunk_with(Json::parse(R"({"role":"assistant","content":null})")),
      chunk_with(Json::parse(R"({"tool_calls":[{"index":0,"id":"call_A","type":"function",
          "function":{"name":"get_weather","arguments":""}}]})")),
      chunk_with(
          Json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})")),
      chunk_with(
          Json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})")),
      chunk_with(Json::parse(R"({"tool_calls":[{"index":1,"id":"call_B","type":"function",
          "function":{"name":"get_time","arguments":"{}"}}]})")),
      chunk_with(Json::object(), "tool_calls"),
      usage_chunk(20, 9),
  };
  const auto ours = encode(chunks);
  CHECK(names_of(ours) == std::vector<std::string>{
                              "response.created",
                              "response.in_progress",
                              "response.output_item.added",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.done",
                              "response.output_item.done",
                              "response.output_item.added",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.done",
                              "response.output_item.done",
                              "response.completed",
                          });
  // llama-server's function_call item fields (server-task.cpp, to_json_oaicompat_resp).
  const auto& added = ours[2].data;
  CHECK(added.at("output_index") == 0);
  CHECK(added.at("item") == Json::parse(R"({"id":"fc_abc123_0","type":"function_call",
      "status":"in_progress","call_id":"call_A","name":"get_weather","arguments":""})"));
  CHECK(ours[3].data.at("item_id") == "fc_abc123_0");
  CHECK(ours[5].data.at("arguments") == "{\"city\":\"Paris\"}");
  CHECK(ours[5].data.at("name") == "get_weather");
  CHECK(ours[7].data.at("output_index") == 1);
  CHECK(ours[8].data.at("item_id") == "fc_abc123_1");

  const auto& final_response = ours.back().data.at("response");
  CHECK(final_response.at("status") == "completed");
  CHECK(final_response.at("output") == Json::parse(R"([
      {"id":"fc_abc123_0","type":"function_call","status":"completed","call_id":"call_A",
       "name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
      {"id":"fc_abc123_1","type":"function_call","status":"completed","call_id":"call_B",
       "name":"get_time","arguments":"{}"}])"));
  CHECK(final_response.at("usage").at("total_tokens") == 29);
  CHECK(accumulate_like_sdk(ours) == final_response.at("output"));
}

TEST_CASE("ResponsesDialect: streamed reasoning, then text, then a call: three items") {
  const std::vector<Json> chunks{
      chunk_with(Json::parse(R"({"role":"assistant","content":null})")),
      chunk_with(Json::parse(R"({"reasoning_content":"Let me "})")),
      chunk_with(Json::parse(R"({"reasoning_content":"think."})")),
      chunk_with(Json::parse(R"({"content":"Sure"})")),
      chunk_with(Json::parse(R"({"content":""})")),
      chunk_with(Json::parse(R"({"content":"."})")),
      chunk_with(Json::parse(R"({"tool_calls":[{"index":0,"function":{"name":"f",
          "arguments":"{}"}}]})")),
      chunk_with(Json::object(), "tool_calls"),
      usage_chunk(3, 4),
  };
  const auto ours = encode(chunks);
  CHECK(names_of(ours) == std::vector<std::string>{
                              "response.created",
                              "response.in_progress",
                              "response.output_item.added",
                              "response.reasoning_text.delta",
                              "response.reasoning_text.delta",
                              "response.reasoning_text.done",
                              "response.output_item.done",
                              "response.output_item.added",
                              "response.content_part.added",
                              "response.output_text.delta",
                              "response.output_text.delta",
                              "response.output_text.done",
                              "response.content_part.done",
                              "response.output_item.done",
                              "response.output_item.added",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.done",
                              "response.output_item.done",
                              "response.completed",
                          });
  CHECK(ours[2].data.at("item").at("id") == "rs_abc123");
  CHECK(ours[2].data.at("item").at("type") == "reasoning");
  CHECK(ours[5].data.at("text") == "Let me think.");
  CHECK(ours[7].data.at("output_index") == 1);
  CHECK(ours[11].data.at("text") == "Sure.");
  // The call came without an id: askd makes one.
  CHECK(ours[14].data.at("item").at("call_id") == "call_abc123_0");
  const auto& output = ours.back().data.at("response").at("output");
  REQUIRE(output.size() == 3);
  CHECK(output[0].at("content") == Json::parse(R"([{"type":"reasoning_text",
      "text":"Let me think."}])"));
  CHECK(output[1].at("content")[0].at("text") == "Sure.");
  CHECK(output[2].at("name") == "f");
}

TEST_CASE("ResponsesDialect: a stream with no chunks still opens and completes the response") {
  const auto ours = encode({});
  CHECK(names_of(ours) ==
        std::vector<std::string>{"response.created", "response.in_progress", "response.completed"});
  CHECK(ours.back().data.at("response").at("output") == Json::array());
  CHECK(ours.back().data.at("response").at("usage").is_null());
  CHECK(ours[0].data.at("response").at("status") == "in_progress");
}

TEST_CASE("ResponsesDialect: a chunk that is not a chat chunk adds no events") {
  const auto ours = encode(
      {Json(5), Json::parse(R"({"choices":"x"})"), chunk_with(Json::parse(R"({"content":"a"})"))});
  CHECK(names_of(ours) ==
        std::vector<std::string>{"response.created", "response.in_progress",
                                 "response.output_item.added", "response.content_part.added",
                                 "response.output_text.delta", "response.output_text.done",
                                 "response.content_part.done", "response.output_item.done",
                                 "response.completed"});
}

TEST_CASE("ResponsesDialect: a failure mid-stream sends error and response.failed with the "
          "output so far") {
  const ResponsesDialect dialect;
  auto encoder = dialect.stream(k_meta);
  std::string sse;
  encoder->chunk(chunk_with(Json::parse(R"({"role":"assistant","content":"Hel"})")), sse);
  encoder->fail(ask::core::Error::timeout("backend stalled"), sse);
  const auto events = events_of(sse);
  REQUIRE(names_of(events) ==
          std::vector<std::string>{"response.created", "response.in_progress",
                                   "response.output_item.added", "response.content_part.added",
                                   "response.output_text.delta", "error", "response.failed"});
  CHECK(events[5].data.at("message") == "backend stalled");
  CHECK(events[5].data.at("code") == "timeout");
  CHECK(events[5].data.at("param").is_null());
  CHECK(events[5].data.at("sequence_number") == 5);
  const auto& response = events[6].data.at("response");
  CHECK(response.at("status") == "failed");
  CHECK(response.at("error") ==
        Json::parse(R"({"code":"server_error","message":"backend stalled"})"));
  CHECK(response.at("output")[0].at("status") == "incomplete");
  CHECK(response.at("output")[0].at("content")[0].at("text") == "Hel");

  auto overloaded = dialect.stream(k_meta);
  std::string early;
  overloaded->fail(ask::core::Error::overloaded("queue full"), early);
  const auto early_events = events_of(early);
  REQUIRE(names_of(early_events) == std::vector<std::string>{"response.created",
                                                             "response.in_progress", "error",
                                                             "response.failed"});
  CHECK(early_events[3].data.at("response").at("error").at("code") == "rate_limit_exceeded");
}

TEST_CASE("ResponsesDialect: frames are event and data lines, no [DONE]") {
  auto encoder = ResponsesDialect().stream(k_meta);
  std::string sse;
  encoder->finish(sse);
  CHECK(sse.starts_with("event: response.created\ndata: {"));
  CHECK(sse.ends_with("}\n\n"));
  CHECK(sse.find("[DONE]") == std::string::npos);
}

// ---- errors and the rest -------------------------------------------------------------------

TEST_CASE("ResponsesDialect: error bodies keep OpenAI's shape with param") {
  const ResponsesDialect dialect;
  CHECK(dialect.error_body(400, Json::parse(R"({"error":{"message":"input: required",
            "type":"invalid_request_error","code":"bad_request"}})")) ==
        Json::parse(R"({"error":{"message":"input: required","type":"invalid_request_error",
            "param":null,"code":"bad_request"}})"));
  CHECK(dialect.error_body(400, Json::parse(R"({"error":{"message":"m","type":"t",
            "param":"input","code":null,"n_ctx":512}})")) ==
        Json::parse(R"({"error":{"message":"m","type":"t","param":"input","code":null,
            "n_ctx":512}})"));
  CHECK(dialect.error_body(503, Json("garbage")) ==
        Json::parse(R"({"error":{"message":"HTTP 503","type":"server_error","param":null,
            "code":null}})"));
  CHECK(dialect.error_body(429, Json::parse(R"({"error":{"message":7}})")).at("error").at("type") ==
        "rate_limit_error");
  CHECK(dialect.error_body(404, Json::object()).at("error").at("type") == "not_found_error");
  // llama-server's own error for a request askd refuses first has the same shape, less param.
  const auto theirs = Json::parse(
      http_body(read_fixture("llama-server/responses/error-previous-response-id.http")));
  check_has_fields_of(dialect.error_body(400, theirs), theirs, "body");
}

TEST_CASE("ResponsesDialect: name and stream usage") {
  const ResponsesDialect dialect;
  CHECK(dialect.name() == "responses");
  CHECK(dialect.stream_usage_always());
}

} // namespace responses_reply_test
