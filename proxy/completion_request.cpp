// The check of POST /v1/completions bodies (OpenAI's text completions, with the "suffix" of
// fill-in-the-middle): what askd itself must read is checked here, with the field named;
// the rest passes to the backend as the client wrote it.
#include "core/json_fields.h"
#include "proxy/dialect_openai.h"

namespace ask::proxy {

core::Result<core::Json> completion_request(const core::Json& body) {
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
  auto prompt = body.find("prompt");
  if (prompt == body.end()) {
    return core::fail(json::invalid("prompt", "required"));
  }
  if (prompt->is_array()) {
    // One prompt per request: askd relays one stream of one choice.
    if (prompt->size() != 1 || !(*prompt)[0].is_string()) {
      return core::fail(json::invalid("prompt", "expected a string or an array of one string"));
    }
  } else if (!prompt->is_string()) {
    return core::fail(json::type_error("prompt", "a string", *prompt));
  }
  if (auto suffix = body.find("suffix"); suffix != body.end() && !suffix->is_null()) {
    if (auto s = json::read_string(*suffix, "suffix"); !s) {
      return core::fail(std::move(s.error()));
    }
  }
  if (auto stream = body.find("stream");
      stream != body.end() && !stream->is_null() && !stream->is_boolean()) {
    return core::fail(json::type_error("stream", "a boolean", *stream));
  }
  return body;
}

} // namespace ask::proxy
