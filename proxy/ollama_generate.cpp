// OpenAI text completions <-> Ollama /api/generate. The option checks, error objects,
// done_reason and counts are read as the /api/chat translation reads them
// (ollama_translate_detail.h).
#include "proxy/ollama_generate.h"

#include <utility>

#include "proxy/ollama_translate_detail.h"

namespace ask::proxy {

namespace generate_detail {

namespace {

using core::Json;
using core::Result;

constexpr std::string_view k_generate_reply = "Ollama generate reply";
constexpr std::string_view k_generate_stream = "Ollama generate stream object";

// The `response` text of a reply object (absent or null -> "").
Result<std::string> response_text(const Json& body, std::string_view what) {
  const auto it = body.find("response");
  if (it == body.end() || it->is_null()) {
    return std::string();
  }
  if (!it->is_string()) {
    return core::fail(
        ollama_detail::malformed(what, "response", ollama_detail::expected("a string", *it)));
  }
  return it->get<std::string>();
}

} // namespace

} // namespace generate_detail

core::Json text_completion(const ReplyMeta& meta, std::string text,
                           std::string_view finish_reason) {
  core::Json choice = {{"text", std::move(text)}, {"index", 0}, {"logprobs", nullptr}};
  choice["finish_reason"] = finish_reason.empty() ? core::Json() : core::Json(finish_reason);
  return {{"id", meta.id},
          {"object", "text_completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", core::Json::array({std::move(choice)})}};
}

std::optional<std::string> completion_prompt_text(const core::Json& request) {
  const auto it = request.find("prompt");
  if (it == request.end()) {
    return std::nullopt;
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    return (*it)[0].get<std::string>();
  }
  return std::nullopt;
}

std::optional<std::string> completion_suffix(const core::Json& request) {
  const auto it = request.find("suffix");
  if (it == request.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

core::Result<core::Json> ollama_generate_request(const core::Json& openai_request,
                                                 std::string_view upstream_model,
                                                 std::optional<core::Duration> keep_alive,
                                                 bool stream) {
  auto prompt = completion_prompt_text(openai_request);
  if (!prompt) {
    return core::fail(
        core::Error::upstream(501, "Ollama's /api/generate takes a text prompt, not token ids"));
  }
  if (auto lp = openai_request.find("logprobs");
      lp != openai_request.end() && !lp->is_null() && *lp != 0) {
    return core::fail(
        core::Error::bad_request("logprobs: not available from an Ollama backend through askd"));
  }
  core::Json out = core::Json::object();
  out["model"] = std::string(upstream_model);
  out["prompt"] = std::move(*prompt);
  if (auto suffix = completion_suffix(openai_request)) {
    // Ollama lays out prefix, suffix and the FIM tokens with the model's template, which it
    // skips in raw mode (and then ignores the suffix): so no raw here.
    out["suffix"] = std::move(*suffix);
  } else {
    out["raw"] = true;
  }
  // Ollama turns thinking on by default for a model that can think, raw or not, and then
  // moves what comes before the template's closing tag into "thinking", which a text
  // completion has no place for: off unless the request asks (Ollama's own `think`).
  const auto think = openai_request.find("think");
  out["think"] = think != openai_request.end() && think->is_boolean() ? *think : core::Json(false);
  auto options = ollama_detail::request_options(openai_request, false);
  if (!options) {
    return core::fail(std::move(options.error()));
  }
  if (auto max = openai_request.find("max_tokens");
      max != openai_request.end() && !max->is_null()) {
    // The door checked it: an integer >= 0.
    (*options)["num_predict"] = *ollama_detail::as_int64(*max);
  }
  if (!options->empty()) {
    out["options"] = std::move(*options);
  }
  out["stream"] = stream;
  if (keep_alive) {
    out["keep_alive"] = ollama_detail::keep_alive_json(*keep_alive);
  }
  return out;
}

core::Error generate_error(core::Error error) {
  if (error.kind == core::ErrorKind::upstream_status && error.http_status == 400 &&
      error.message.find("does not support insert") != std::string::npos) {
    error.http_status = 501;
  }
  return error;
}

core::Result<core::Json> completion_from_ollama(const core::Json& reply, const ReplyMeta& meta) {
  using generate_detail::k_generate_reply;
  if (auto e = ollama_detail::reply_error(reply, k_generate_reply)) {
    return core::fail(std::move(*e));
  }
  if (const auto done = reply.find("done"); done != reply.end() && *done != true) {
    return core::fail(ollama_detail::malformed(k_generate_reply, "done",
                                               done->is_boolean()
                                                   ? "false in a non-streaming reply"
                                                   : ollama_detail::expected("a boolean", *done)));
  }
  auto text = generate_detail::response_text(reply, k_generate_reply);
  if (!text) {
    return core::fail(std::move(text.error()));
  }
  auto finish = ollama_detail::done_finish_reason(reply, k_generate_reply);
  if (!finish) {
    return core::fail(std::move(finish.error()));
  }
  auto usage = ollama_detail::reply_usage(reply, k_generate_reply);
  if (!usage) {
    return core::fail(std::move(usage.error()));
  }
  core::Json out = text_completion(meta, std::move(*text), *finish);
  out["usage"] = core::to_json(*usage);
  return out;
}

OllamaGenerateTranslator::OllamaGenerateTranslator(ReplyMeta meta, bool include_usage)
    : m_meta(std::move(meta)), m_include_usage(include_usage) {}

core::Result<std::vector<core::Json>> OllamaGenerateTranslator::translate(const core::Json& line) {
  using generate_detail::k_generate_stream;
  if (auto e = ollama_detail::reply_error(line, k_generate_stream)) {
    return core::fail(std::move(*e));
  }
  if (m_done) {
    return core::fail(ollama_detail::malformed(k_generate_stream, "body",
                                               "an object after the final (done) one"));
  }
  const auto done_it = line.find("done");
  if (done_it == line.end() || !done_it->is_boolean()) {
    return core::fail(ollama_detail::malformed(
        k_generate_stream, "done",
        done_it == line.end() ? "required" : ollama_detail::expected("a boolean", *done_it)));
  }
  // Read everything before changing state, so that a bad object leaves no trace.
  auto text = generate_detail::response_text(line, k_generate_stream);
  if (!text) {
    return core::fail(std::move(text.error()));
  }
  std::vector<core::Json> out;
  if (!done_it->get<bool>()) {
    if (!text->empty()) {
      out.push_back(text_completion(m_meta, std::move(*text), ""));
    }
    return out;
  }
  auto finish = ollama_detail::done_finish_reason(line, k_generate_stream);
  if (!finish) {
    return core::fail(std::move(finish.error()));
  }
  auto usage = ollama_detail::reply_usage(line, k_generate_stream);
  if (!usage) {
    return core::fail(std::move(usage.error()));
  }
  // The done object may carry the last text too; the finish rides on it.
  out.push_back(text_completion(m_meta, std::move(*text), *finish));
  m_usage = std::move(*usage);
  m_done = true;
  if (m_include_usage) {
    core::Json last = text_completion(m_meta, "", "");
    last["choices"] = core::Json::array();
    last["usage"] = core::to_json(m_usage);
    out.push_back(std::move(last));
  }
  return out;
}

} // namespace ask::proxy
