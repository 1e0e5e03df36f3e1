// The check of POST /v1/completions bodies (OpenAI's text completions, with the "suffix" of
// fill-in-the-middle): what askd itself must read is checked here, with the field named;
// the rest passes to the backend as the client wrote it.
#include "core/json_fields.h"
#include "proxy/dialect_openai.h"

namespace ask::proxy {

// Named, so that a unity build batching this file with the other door checks (whose helpers
// have similar names) keeps them apart.
namespace completion_check {

namespace json = core::json;

// The most token ids one prompt may hold: far past any context, but bounded.
constexpr std::size_t k_max_prompt_tokens = 1 << 20;

// A token id: a non-negative integer.
core::Result<void> check_token_ids(const core::Json& ids, const std::string& path) {
  if (ids.size() > k_max_prompt_tokens) {
    return core::fail(json::invalid(path, "too many token ids"));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto id = json::read_integer(ids[i], json::index_path(path, i));
    if (!id) {
      return core::fail(std::move(id.error()));
    }
    if (*id < 0) {
      return core::fail(json::invalid(json::index_path(path, i), "expected a token id (>= 0)"));
    }
  }
  return {};
}

// "prompt": a string, an array of one string, an array of token ids, or an array of one
// array of token ids (llama-server takes token prompts; one prompt per request, since askd
// relays one stream of one choice). Returns whether the prompt is text.
core::Result<bool> check_prompt(const core::Json& prompt) {
  constexpr std::string_view k_forms =
      "expected a string, an array of one string, or an array of token ids";
  if (prompt.is_string()) {
    return true;
  }
  if (!prompt.is_array()) {
    return core::fail(json::type_error("prompt", "a string", prompt));
  }
  if (prompt.empty()) {
    return core::fail(json::invalid("prompt", "an empty array; " + std::string(k_forms)));
  }
  const core::Json& first = prompt[0];
  if (first.is_string() || first.is_array()) {
    if (prompt.size() != 1) {
      return core::fail(json::invalid("prompt", "askd takes one prompt per request; got " +
                                                    std::to_string(prompt.size())));
    }
    if (first.is_string()) {
      return true;
    }
    if (first.empty()) {
      return core::fail(json::invalid("prompt[0]", "an empty array of token ids"));
    }
    if (auto ok = check_token_ids(first, "prompt[0]"); !ok) {
      return core::fail(std::move(ok.error()));
    }
    return false;
  }
  if (!first.is_number()) {
    return core::fail(json::invalid("prompt", k_forms));
  }
  if (auto ok = check_token_ids(prompt, "prompt"); !ok) {
    return core::fail(std::move(ok.error()));
  }
  return false;
}

// `body[key]` when present and not null.
const core::Json* present(const core::Json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

core::Result<void> check_stop(const core::Json& stop) {
  if (stop.is_string()) {
    return {};
  }
  if (!stop.is_array()) {
    return core::fail(json::type_error("stop", "a string or an array of strings", stop));
  }
  for (std::size_t i = 0; i < stop.size(); ++i) {
    if (auto s = json::read_string(stop[i], json::index_path("stop", i)); !s) {
      return core::fail(std::move(s.error()));
    }
  }
  return {};
}

core::Result<void> check_sampling(const core::Json& body) {
  if (const auto* max_tokens = present(body, "max_tokens")) {
    auto n = json::read_integer(*max_tokens, "max_tokens");
    if (!n) {
      return core::fail(std::move(n.error()));
    }
    if (*n < 0) {
      return core::fail(json::invalid("max_tokens", "expected an integer >= 0"));
    }
  }
  for (const char* key : {"temperature", "top_p", "presence_penalty", "frequency_penalty"}) {
    if (const auto* v = present(body, key)) {
      if (auto n = json::read_number(*v, key); !n) {
        return core::fail(std::move(n.error()));
      }
    }
  }
  if (const auto* seed = present(body, "seed")) {
    if (auto n = json::read_integer(*seed, "seed"); !n) {
      return core::fail(std::move(n.error()));
    }
  }
  if (const auto* stop = present(body, "stop")) {
    return check_stop(*stop);
  }
  return {};
}

// n, best_of, echo and logprobs: what askd can relay (one choice, no echo). llama-server
// refuses echo and best_of too ("Only no echo is supported", "Unsupported param: best_of");
// logprobs pass to the backends that have them (OpenAI-compatible ones).
core::Result<void> check_choices(const core::Json& body) {
  for (const char* key : {"n", "best_of"}) {
    if (const auto* v = present(body, key)) {
      auto n = json::read_integer(*v, key);
      if (!n) {
        return core::fail(std::move(n.error()));
      }
      if (*n != 1) {
        return core::fail(json::invalid(key, "askd returns one choice; only 1 is supported"));
      }
    }
  }
  if (const auto* echo = present(body, "echo")) {
    if (!echo->is_boolean()) {
      return core::fail(json::type_error("echo", "a boolean", *echo));
    }
    if (echo->get<bool>()) {
      return core::fail(json::invalid("echo", "echoing the prompt is not supported"));
    }
  }
  if (const auto* logprobs = present(body, "logprobs")) {
    auto n = json::read_integer(*logprobs, "logprobs");
    if (!n) {
      return core::fail(std::move(n.error()));
    }
    if (*n < 0 || *n > 20) {
      return core::fail(json::invalid("logprobs", "expected an integer from 0 to 20"));
    }
  }
  return {};
}

core::Result<void> check_stream(const core::Json& body) {
  if (const auto* stream = present(body, "stream"); stream != nullptr && !stream->is_boolean()) {
    return core::fail(json::type_error("stream", "a boolean", *stream));
  }
  const auto* options = present(body, "stream_options");
  if (options == nullptr) {
    return {};
  }
  if (!options->is_object()) {
    return core::fail(json::type_error("stream_options", "an object", *options));
  }
  if (const auto* usage = present(*options, "include_usage");
      usage != nullptr && !usage->is_boolean()) {
    return core::fail(json::type_error("stream_options.include_usage", "a boolean", *usage));
  }
  return {};
}

} // namespace completion_check

core::Result<core::Json> completion_request(const core::Json& body) {
  using namespace completion_check;
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
  auto text_prompt = check_prompt(*prompt);
  if (!text_prompt) {
    return core::fail(std::move(text_prompt.error()));
  }
  if (const auto* suffix = present(body, "suffix")) {
    auto s = json::read_string(*suffix, "suffix");
    if (!s) {
      return core::fail(std::move(s.error()));
    }
    // Fill-in-the-middle puts the text between prefix and suffix: both must be text.
    if (!s->empty() && !*text_prompt) {
      return core::fail(json::invalid("prompt", "a suffix needs a text prompt, not token ids"));
    }
  }
  for (auto check : {check_sampling, check_choices, check_stream}) {
    if (auto ok = check(body); !ok) {
      return core::fail(std::move(ok.error()));
    }
  }
  return body;
}

} // namespace ask::proxy
