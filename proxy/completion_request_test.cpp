// The check of POST /v1/completions bodies: what passes as it is, and each malformed field
// refused with a 400 that names it.
#include <doctest/doctest.h>

#include "proxy/dialect_openai.h"

using ask::core::Json;
using ask::proxy::completion_request;

namespace {

// The error message for `body`, which must be refused as a bad request.
std::string refusal(const std::string& body) {
  auto r = completion_request(Json::parse(body));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ask::core::ErrorKind::bad_request);
  CHECK(r.error().status_for_client() == 400);
  return r.error().message;
}

} // namespace

TEST_CASE("completion_request: well-formed bodies pass unchanged") {
  for (const char* body : {
           R"({"model":"m","prompt":"def f(x):"})",
           R"({"model":"m","prompt":["one"],"suffix":"return y","max_tokens":0})",
           R"({"model":"m","prompt":"a","suffix":"","stream":true,
               "stream_options":{"include_usage":true}})",
           R"({"model":"m","prompt":"a","suffix":null,"temperature":0.2,"top_p":1,
               "stop":["\n\n","END"],"seed":7,"n":1,"best_of":1,"echo":false,"logprobs":null})",
           R"({"model":"m","prompt":"a","stop":"\n","max_tokens":16.0,"stream":false,
               "stream_options":null,"presence_penalty":0.5,"user":"u","top_k":40})",
           R"({"model":"m","prompt":[1,15043,3186]})",
           R"({"model":"m","prompt":[[1,15043]],"logprobs":2})",
           R"({"model":"m","prompt":""})",
       }) {
    CAPTURE(body);
    const Json in = Json::parse(body);
    auto r = completion_request(in);
    REQUIRE(r.has_value());
    CHECK(*r == in);
  }
}

TEST_CASE("completion_request: malformed bodies are 400s naming the field") {
  struct Case {
    const char* body;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"([1,2])", "body: expected an object"},
           {R"("text")", "body"},
           {R"({"prompt":"a"})", "model: required"},
           {R"({"model":3,"prompt":"a"})", "model: expected a string"},
           {R"({"model":"m"})", "prompt: required"},
           {R"({"model":"m","prompt":null})", "prompt: expected a string"},
           {R"({"model":"m","prompt":7})", "prompt: expected a string"},
           {R"({"model":"m","prompt":{"text":"a"}})", "prompt: expected a string"},
           {R"({"model":"m","prompt":[]})", "prompt: an empty array"},
           {R"({"model":"m","prompt":["a","b"]})", "one prompt per request; got 2"},
           {R"({"model":"m","prompt":[["a"]]})", "prompt[0][0]: expected an integer"},
           {R"({"model":"m","prompt":[[]]})", "prompt[0]: an empty array"},
           {R"({"model":"m","prompt":[[1],[2]]})", "one prompt per request"},
           {R"({"model":"m","prompt":[1,"a"]})", "prompt[1]: expected an integer"},
           {R"({"model":"m","prompt":[1,-2]})", "prompt[1]: expected a token id"},
           {R"({"model":"m","prompt":[1.5]})", "prompt[0]"},
           {R"({"model":"m","prompt":[null]})", "prompt: expected a string, an array"},
           {R"({"model":"m","prompt":[1,2],"suffix":"x"})", "suffix needs a text prompt"},
           {R"({"model":"m","prompt":"a","suffix":3})", "suffix: expected a string"},
           {R"({"model":"m","prompt":"a","suffix":["x"]})", "suffix: expected a string"},
           {R"({"model":"m","prompt":"a","max_tokens":-1})",
            "max_tokens: expected an integer >= 0"},
           {R"({"model":"m","prompt":"a","max_tokens":"16"})", "max_tokens: expected an integer"},
           {R"({"model":"m","prompt":"a","max_tokens":1.5})", "max_tokens"},
           {R"({"model":"m","prompt":"a","temperature":"hot"})", "temperature: expected a number"},
           {R"({"model":"m","prompt":"a","top_p":true})", "top_p: expected a number"},
           {R"({"model":"m","prompt":"a","seed":"7"})", "seed: expected an integer"},
           {R"({"model":"m","prompt":"a","stop":5})", "stop: expected a string or an array"},
           {R"({"model":"m","prompt":"a","stop":["a",1]})", "stop[1]: expected a string"},
           {R"({"model":"m","prompt":"a","n":2})", "n: askd returns one choice"},
           {R"({"model":"m","prompt":"a","n":"1"})", "n: expected an integer"},
           {R"({"model":"m","prompt":"a","best_of":3})", "best_of: askd returns one choice"},
           {R"({"model":"m","prompt":"a","echo":true})", "echo: echoing the prompt"},
           {R"({"model":"m","prompt":"a","echo":"no"})", "echo: expected a boolean"},
           {R"({"model":"m","prompt":"a","logprobs":true})", "logprobs: expected an integer"},
           {R"({"model":"m","prompt":"a","logprobs":21})", "logprobs: expected an integer from"},
           {R"({"model":"m","prompt":"a","stream":"yes"})", "stream: expected a boolean"},
           {R"({"model":"m","prompt":"a","stream_options":true})", "stream_options: expected an"},
           {R"({"model":"m","prompt":"a","stream_options":{"include_usage":1}})",
            "stream_options.include_usage: expected a boolean"},
       }) {
    CAPTURE(c.body);
    const std::string message = refusal(c.body);
    CAPTURE(message);
    CHECK(message.find(c.says) != std::string::npos);
  }
}
