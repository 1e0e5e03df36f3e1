// The checks of POST /v1/embeddings and POST /v1/rerank bodies: what askd itself must read
// is checked here, with the field named; the rest passes to the backend as written.
#include "core/json_fields.h"
#include "proxy/dialect_openai.h"

namespace ask::proxy {

namespace {

core::Result<void> check_model(const core::Json& body) {
  namespace json = core::json;
  if (!body.is_object()) {
    return core::fail(json::type_error("body", "an object", body));
  }
  auto model = body.find("model");
  if (model == body.end()) {
    return core::fail(json::invalid("model", "required"));
  }
  if (auto name = json::read_string(*model, "model"); !name) {
    return core::fail(std::move(name.error()));
  }
  return {};
}

} // namespace

core::Result<core::Json> embedding_request(const core::Json& body) {
  namespace json = core::json;
  if (auto ok = check_model(body); !ok) {
    return core::fail(std::move(ok.error()));
  }
  auto input = body.find("input");
  if (input == body.end()) {
    return core::fail(json::invalid("input", "required"));
  }
  if (!input->is_string() && !input->is_array()) {
    return core::fail(json::type_error("input", "a string or an array", *input));
  }
  return body;
}

core::Result<core::Json> rerank_request(const core::Json& body) {
  namespace json = core::json;
  if (auto ok = check_model(body); !ok) {
    return core::fail(std::move(ok.error()));
  }
  auto query = body.find("query");
  if (query == body.end()) {
    return core::fail(json::invalid("query", "required"));
  }
  if (auto q = json::read_string(*query, "query"); !q) {
    return core::fail(std::move(q.error()));
  }
  auto documents = body.find("documents");
  if (documents == body.end()) {
    return core::fail(json::invalid("documents", "required"));
  }
  if (!documents->is_array()) {
    return core::fail(json::type_error("documents", "an array", *documents));
  }
  return body;
}

} // namespace ask::proxy
