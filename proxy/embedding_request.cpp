// The checks of POST /v1/embeddings and POST /v1/rerank bodies: what askd itself must read
// (and what a backend would answer with a 500 rather than a 400: llama-server b10587 does
// for an input that is a number or an empty array) is checked here, with the field named;
// the rest passes to the backend as written.
#include <limits>

#include "core/json_fields.h"
#include "proxy/dialect_openai.h"

namespace ask::proxy {

namespace {

namespace json = core::json;

// OpenAI's limit on the inputs of one embeddings request, and on the documents of a rerank
// (Cohere's is 1000; llama-server has none): each is a separate task for the backend.
constexpr std::size_t k_max_inputs = 2048;

core::Result<void> check_model(const core::Json& body) {
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

// A non-empty string (an empty input has no tokens to embed: llama-server refuses it for
// models without a BOS token and embeds the BOS alone for the others).
core::Result<void> check_text(const core::Json& value, const std::string& path) {
  auto text = json::read_string(value, path);
  if (!text) {
    return core::fail(std::move(text.error()));
  }
  if (text->empty()) {
    return core::fail(json::invalid(path, "must not be empty"));
  }
  return {};
}

// A token id: an integer from 0 to INT32_MAX (llama.cpp's llama_token).
core::Result<void> check_token(const core::Json& value, const std::string& path) {
  auto id = json::read_integer(value, path);
  if (!id) {
    return core::fail(std::move(id.error()));
  }
  if (*id < 0 || *id > std::numeric_limits<std::int32_t>::max()) {
    return core::fail(json::invalid(path, "expected a token id (an integer from 0)"));
  }
  return {};
}

// A non-empty array of token ids.
core::Result<void> check_tokens(const core::Json& value, const std::string& path) {
  if (!value.is_array()) {
    return core::fail(json::type_error(path, "an array of token ids", value));
  }
  if (value.empty()) {
    return core::fail(json::invalid(path, "must not be empty"));
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (auto ok = check_token(value[i], json::index_path(path, i)); !ok) {
      return ok;
    }
  }
  return {};
}

// OpenAI's four shapes: a string, an array of strings, an array of token ids (one input),
// an array of token-id arrays.
core::Result<void> check_input(const core::Json& input) {
  if (input.is_string()) {
    return check_text(input, "input");
  }
  if (!input.is_array()) {
    return core::fail(json::type_error("input", "a string or an array", input));
  }
  if (input.empty()) {
    return core::fail(json::invalid("input", "must not be an empty array"));
  }
  if (input.size() > k_max_inputs) {
    return core::fail(
        json::invalid("input", "at most " + std::to_string(k_max_inputs) + " inputs per request"));
  }
  if (input[0].is_number()) {
    return check_tokens(input, "input");
  }
  for (std::size_t i = 0; i < input.size(); ++i) {
    const std::string path = json::index_path("input", i);
    const core::Json& item = input[i];
    // Every item the shape of the first: a mix is none of OpenAI's four.
    core::Result<void> ok;
    if (input[0].is_array()) {
      ok = check_tokens(item, path);
    } else if (item.is_string()) {
      ok = check_text(item, path);
    } else {
      ok = core::fail(json::type_error(path, "a string", item));
    }
    if (!ok) {
      return ok;
    }
  }
  return {};
}

// An optional integer ≥ 1 (null = absent).
core::Result<void> check_positive(const core::Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    return {};
  }
  auto n = json::read_integer(*it, key);
  if (!n) {
    return core::fail(std::move(n.error()));
  }
  if (*n < 1) {
    return core::fail(json::invalid(key, "must be at least 1"));
  }
  return {};
}

// An optional string (null = absent).
core::Result<void> check_optional_string(const core::Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end()) {
    return {};
  }
  if (auto s = json::read_optional_string(*it, key); !s) {
    return core::fail(std::move(s.error()));
  }
  return {};
}

} // namespace

core::Result<core::Json> embedding_request(const core::Json& body) {
  if (auto ok = check_model(body); !ok) {
    return core::fail(std::move(ok.error()));
  }
  auto input = body.find("input");
  if (input == body.end()) {
    return core::fail(json::invalid("input", "required"));
  }
  if (auto ok = check_input(*input); !ok) {
    return core::fail(std::move(ok.error()));
  }
  if (auto format = body.find("encoding_format"); format != body.end() && !format->is_null()) {
    auto f = json::read_string(*format, "encoding_format");
    if (!f) {
      return core::fail(std::move(f.error()));
    }
    if (*f != "float" && *f != "base64") {
      return core::fail(json::invalid("encoding_format", "expected \"float\" or \"base64\", got " +
                                                             json::quoted(*f)));
    }
  }
  if (auto ok = check_positive(body, "dimensions"); !ok) {
    return core::fail(std::move(ok.error()));
  }
  if (auto ok = check_optional_string(body, "user"); !ok) {
    return core::fail(std::move(ok.error()));
  }
  return body;
}

core::Result<core::Json> rerank_request(const core::Json& body) {
  if (auto ok = check_model(body); !ok) {
    return core::fail(std::move(ok.error()));
  }
  auto query = body.find("query");
  if (query == body.end()) {
    return core::fail(json::invalid("query", "required"));
  }
  if (auto ok = check_text(*query, "query"); !ok) {
    return core::fail(std::move(ok.error()));
  }
  auto documents = body.find("documents");
  if (documents == body.end()) {
    return core::fail(json::invalid("documents", "required"));
  }
  // Strings only: llama-server b10587 reads documents as strings and answers anything else
  // (Cohere's {"text": ...} objects included) as if none were given.
  if (!documents->is_array()) {
    return core::fail(json::type_error("documents", "an array of strings", *documents));
  }
  if (documents->empty()) {
    return core::fail(json::invalid("documents", "must not be an empty array"));
  }
  if (documents->size() > k_max_inputs) {
    return core::fail(json::invalid(
        "documents", "at most " + std::to_string(k_max_inputs) + " documents per request"));
  }
  for (std::size_t i = 0; i < documents->size(); ++i) {
    const std::string path = json::index_path("documents", i);
    if (auto d = json::read_string((*documents)[i], path); !d) {
      return core::fail(std::move(d.error()));
    }
  }
  if (auto ok = check_positive(body, "top_n"); !ok) {
    return core::fail(std::move(ok.error()));
  }
  if (auto r = body.find("return_documents");
      r != body.end() && !r->is_null() && !r->is_boolean()) {
    return core::fail(json::type_error("return_documents", "a boolean", *r));
  }
  return body;
}

} // namespace ask::proxy
