// The checks of /v1/embeddings and /v1/rerank bodies: OpenAI's (and Jina's) shapes pass
// untouched; malformed ones are bad_request naming the field.
#include <string>

#include <doctest/doctest.h>

#include "proxy/dialect_openai.h"

// Named, not anonymous: in a unity build this file shares a translation unit with others.
namespace embedding_request_test {

using ask::core::ErrorKind;
using ask::core::Json;

Json request_json(const char* text) {
  return Json::parse(text);
}

Json embed_body(const Json& patch) {
  Json body = {{"model", "embed"}, {"input", "hello"}};
  if (!patch.is_null()) { // {} is null to nlohmann
    body.update(patch);
  }
  return body;
}

Json rerank_body(const Json& patch) {
  Json body = request_json(R"({"model": "rr", "query": "q", "documents": ["a", "b"]})");
  if (!patch.is_null()) { // {} is null to nlohmann
    body.update(patch);
  }
  return body;
}

// The message of the bad_request `body` gets, "" when it passes.
std::string embed_error(const Json& body) {
  auto out = ask::proxy::embedding_request(body);
  if (out) {
    CHECK(*out == body); // passes as written
    return "";
  }
  CHECK(out.error().kind == ErrorKind::bad_request);
  return out.error().message;
}

std::string rerank_error(const Json& body) {
  auto out = ask::proxy::rerank_request(body);
  if (out) {
    CHECK(*out == body);
    return "";
  }
  CHECK(out.error().kind == ErrorKind::bad_request);
  return out.error().message;
}

TEST_CASE("embedding_request: OpenAI's four input shapes and its options pass as written") {
  CHECK(embed_error(embed_body({})) == "");
  CHECK(embed_error(embed_body(request_json(R"({"input": ["a", "b"]})"))) == "");
  CHECK(embed_error(embed_body(request_json(R"({"input": [1, 2, 3]})"))) == "");
  CHECK(embed_error(embed_body(request_json(R"({"input": [[1, 2], [3]]})"))) == "");
  CHECK(embed_error(embed_body(request_json(R"({"input": [1.0, 2]})"))) ==
        ""); // integral floats are ids
  CHECK(embed_error(embed_body({{"encoding_format", "float"}})) == "");
  CHECK(embed_error(embed_body({{"encoding_format", "base64"}})) == "");
  CHECK(embed_error(embed_body({{"encoding_format", nullptr}})) == "");
  CHECK(embed_error(embed_body({{"dimensions", 256}, {"user", "u-1"}, {"extra", true}})) == "");
  CHECK(embed_error(embed_body({{"dimensions", nullptr}, {"user", nullptr}})) == "");
}

TEST_CASE("embedding_request: malformed bodies are refused naming the field") {
  CHECK(embed_error(Json::array()) == "body: expected an object, got an array");
  CHECK(embed_error(Json{{"input", "x"}}) == "model: required");
  CHECK(embed_error(embed_body({{"model", 3}})) == "model: expected a string, got an integer");
  CHECK(embed_error(Json{{"model", "m"}}) == "input: required");
  CHECK(embed_error(embed_body({{"input", nullptr}})) ==
        "input: expected a string or an array, got null");
  CHECK(embed_error(embed_body({{"input", 7}})) ==
        "input: expected a string or an array, got an integer");
  CHECK(embed_error(embed_body({{"input", ""}})) == "input: must not be empty");
  CHECK(embed_error(embed_body({{"input", Json::array()}})) == "input: must not be an empty array");
  CHECK(embed_error(embed_body(request_json(R"({"input": ["a", ""]})"))) ==
        "input[1]: must not be empty");
  CHECK(embed_error(embed_body(request_json(R"({"input": ["a", 3]})"))) ==
        "input[1]: expected a string, got an integer");
  CHECK(embed_error(embed_body(request_json(R"({"input": ["a", [1]]})"))) ==
        "input[1]: expected a string, got an array");
  CHECK(embed_error(embed_body(request_json(R"({"input": [1, "a"]})"))) ==
        "input[1]: expected an integer, got a string");
  CHECK(embed_error(embed_body(request_json(R"({"input": [1, -1]})"))) ==
        "input[1]: expected a token id (an integer from 0)");
  CHECK(embed_error(embed_body(request_json(R"({"input": [1, 1.5]})"))).starts_with("input[1]: "));
  CHECK(embed_error(embed_body(request_json(R"({"input": [1, 4294967296]})"))) ==
        "input[1]: expected a token id (an integer from 0)");
  CHECK(embed_error(embed_body(request_json(R"({"input": [[1], []]})"))) ==
        "input[1]: must not be empty");
  CHECK(embed_error(embed_body(request_json(R"({"input": [[1], "a"]})"))) ==
        "input[1]: expected an array of token ids, got a string");
  CHECK(embed_error(embed_body(request_json(R"({"input": [[1], [2, "x"]]})"))) ==
        "input[1][1]: expected an integer, got a string");
  CHECK(embed_error(embed_body(request_json(R"({"input": [null]})"))) ==
        "input[0]: expected a string, got null");
  CHECK(embed_error(embed_body({{"input", Json(std::vector<std::string>(2049, "a"))}})) ==
        "input: at most 2048 inputs per request");
  CHECK(embed_error(embed_body({{"encoding_format", "int8"}})) ==
        "encoding_format: expected \"float\" or \"base64\", got \"int8\"");
  CHECK(embed_error(embed_body({{"encoding_format", 1}})) ==
        "encoding_format: expected a string, got an integer");
  CHECK(embed_error(embed_body({{"dimensions", 0}})) == "dimensions: must be at least 1");
  CHECK(embed_error(embed_body({{"dimensions", -3}})) == "dimensions: must be at least 1");
  CHECK(embed_error(embed_body({{"dimensions", "256"}})).starts_with("dimensions: "));
  CHECK(embed_error(embed_body({{"dimensions", 2.5}})).starts_with("dimensions: "));
  CHECK(embed_error(embed_body({{"user", 5}})).starts_with("user: "));
}

TEST_CASE("rerank_request: Jina's shape passes as written") {
  CHECK(rerank_error(rerank_body({})) == "");
  CHECK(rerank_error(rerank_body({{"top_n", 1}, {"return_documents", true}})) == "");
  CHECK(rerank_error(rerank_body({{"top_n", nullptr}, {"return_documents", nullptr}})) == "");
  CHECK(rerank_error(rerank_body(request_json(R"({"documents": [""]})"))) ==
        ""); // scored like any other
}

TEST_CASE("rerank_request: malformed bodies are refused naming the field") {
  CHECK(rerank_error(Json("x")) == "body: expected an object, got a string");
  CHECK(rerank_error(request_json(R"({"query": "q", "documents": ["a"]})")) == "model: required");
  CHECK(rerank_error(request_json(R"({"model": "m", "documents": ["a"]})")) == "query: required");
  CHECK(rerank_error(rerank_body({{"query", 1}})) == "query: expected a string, got an integer");
  CHECK(rerank_error(rerank_body({{"query", ""}})) == "query: must not be empty");
  CHECK(rerank_error(Json{{"model", "m"}, {"query", "q"}}) == "documents: required");
  CHECK(rerank_error(rerank_body({{"documents", "a"}})) ==
        "documents: expected an array of strings, got a string");
  CHECK(rerank_error(rerank_body({{"documents", Json::array()}})) ==
        "documents: must not be an empty array");
  CHECK(rerank_error(rerank_body(request_json(R"({"documents": ["a", {"text": "b"}]})"))) ==
        "documents[1]: expected a string, got an object");
  CHECK(rerank_error(rerank_body({{"documents", Json(std::vector<std::string>(2049, "d"))}})) ==
        "documents: at most 2048 documents per request");
  CHECK(rerank_error(rerank_body({{"top_n", 0}})) == "top_n: must be at least 1");
  CHECK(rerank_error(rerank_body({{"top_n", "2"}})).starts_with("top_n: "));
  CHECK(rerank_error(rerank_body({{"return_documents", "yes"}})) ==
        "return_documents: expected a boolean, got a string");
}

} // namespace embedding_request_test
