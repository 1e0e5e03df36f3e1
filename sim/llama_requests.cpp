#include "sim/llama_requests.h"

#include <algorithm>

#include "sim/embedding.h"

namespace ask::sim::llama {

namespace {

using Json = nlohmann::json;

std::unexpected<ErrorReply> fail(int status, std::string message) {
  return std::unexpected(ErrorReply{status, std::move(message), error_type(status), OJson::object()});
}

const char* const k_prompt_type_error =
    "\"prompt\" elements must be a string, a list of tokens, a JSON object containing a "
    "prompt string, or a list of mixed strings & tokens.";

bool is_token_array(const Json& v) {
  return v.is_array() && !v.empty() &&
         std::all_of(v.begin(), v.end(), [](const Json& t) { return t.is_number_integer(); });
}

// One prompt: a string, or an array of strings and token ids (mixed).
std::optional<TextPrompt> one_prompt(const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return TextPrompt{s, 1 + text_tokens(s)};
  }
  if (!v.is_array()) {
    return std::nullopt;
  }
  TextPrompt p{"", 1};
  for (const Json& t : v) {
    if (t.is_number_integer()) {
      p.text += (p.text.empty() ? "" : " ") + std::to_string(t.get<long long>());
      ++p.tokens;
    } else if (t.is_string()) {
      p.text += t.get<std::string>();
      p.tokens += text_tokens(t.get_ref<const std::string&>());
    } else {
      return std::nullopt;
    }
  }
  return p;
}

// nlohmann's text for reading a non-string value as a string.
std::string type_error_302(const Json& v) {
  return std::string("[json.exception.type_error.302] type must be string, but is ") +
         v.type_name();
}

std::expected<std::string, ErrorReply> required_string(const Json& body, const char* key) {
  if (!body.is_object() || !body.contains(key)) {
    return fail(500, std::string("[json.exception.out_of_range.403] key '") + key + "' not found");
  }
  if (!body[key].is_string()) {
    return fail(500, type_error_302(body[key]));
  }
  return body[key].get<std::string>();
}

} // namespace

std::expected<Json, ErrorReply> parse_body(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return std::unexpected(ErrorReply{500, e.what(), "server_error", OJson::object()});
  }
}

std::expected<TextPrompt, ErrorReply> read_prompt(const Json& body) {
  if (!body.is_object() || !body.contains("prompt")) {
    return fail(400, "[json.exception.out_of_range.403] key 'prompt' not found");
  }
  const Json& p = body["prompt"];
  if (p.is_array() && !p.empty() && !is_token_array(p)) {
    if (p.size() > 1) {
      return fail(400, "llm-sim: one prompt per request is simulated (got " +
                           std::to_string(p.size()) + ")");
    }
    auto one = one_prompt(p[0]);
    if (!one) {
      return fail(400, k_prompt_type_error);
    }
    return *one;
  }
  auto one = one_prompt(p);
  if (!one) {
    return fail(400, k_prompt_type_error);
  }
  return *one;
}

std::expected<InfillInput, ErrorReply> read_infill(const Json& body) {
  InfillInput in;
  const Json extra = body.is_object() && body.contains("input_extra") ? body["input_extra"]
                                                                     : Json::array();
  if (!extra.is_array()) {
    return fail(400, "\"input_extra\" must be an array of {\"filename\": string, \"text\": string}");
  }
  for (const Json& chunk : extra) {
    if (!chunk.is_object() || !chunk.contains("text") || !chunk["text"].is_string()) {
      return fail(400, "extra_context chunk must contain a \"text\" field with a string value");
    }
    if (chunk.contains("filename") && !chunk["filename"].is_string()) {
      return fail(400, "extra_context chunk's \"filename\" field must be a string");
    }
    std::string file = chunk.value("filename", std::string());
    in.extra.push_back((file.empty() ? "" : file + "\n") + chunk["text"].get<std::string>());
  }
  auto prefix = required_string(body, "input_prefix");
  if (!prefix) {
    return std::unexpected(prefix.error());
  }
  auto suffix = required_string(body, "input_suffix");
  if (!suffix) {
    return std::unexpected(suffix.error());
  }
  in.prefix = std::move(*prefix);
  in.suffix = std::move(*suffix);
  if (body.contains("prompt") && body["prompt"].is_string()) {
    in.prompt = body["prompt"].get<std::string>();
  }
  in.tokens = 4 + text_tokens(in.prefix) + text_tokens(in.suffix) + text_tokens(in.prompt);
  for (const std::string& e : in.extra) {
    in.tokens += 1 + text_tokens(e);
  }
  return in;
}

std::expected<EmbeddingInputs, ErrorReply> read_embedding_inputs(const Json& body) {
  const char* key = body.is_object() && body.contains("input")
                        ? "input"
                        : (body.is_object() && body.contains("content") ? "content" : nullptr);
  if (key == nullptr) {
    return fail(400, "\"input\" or \"content\" must be provided");
  }
  const Json& v = body[key];
  EmbeddingInputs out;
  if (v.is_array() && v.empty()) {
    return fail(500, "\"prompt\" must not be empty");
  }
  const bool list = v.is_array() && std::all_of(v.begin(), v.end(), [](const Json& e) {
                      return e.is_string() || e.is_array();
                    });
  if (list) {
    for (const Json& e : v) {
      auto one = one_prompt(e);
      if (!one) {
        return fail(500, k_prompt_type_error);
      }
      out.items.push_back(std::move(*one));
    }
    return out;
  }
  auto one = one_prompt(v);
  if (!one) {
    return fail(500, k_prompt_type_error);
  }
  out.items.push_back(std::move(*one));
  return out;
}

std::expected<RerankInput, ErrorReply> read_rerank(const Json& body) {
  if (!body.is_object() || !body.contains("query")) {
    return fail(400, "\"query\" must be provided");
  }
  if (!body["query"].is_string()) {
    return fail(400, "\"query\" must be a string");
  }
  RerankInput in;
  in.query = body["query"].get<std::string>();
  in.tei = body.contains("texts");
  const char* key = body.contains("documents") ? "documents" : "texts";
  const Json docs = body.contains(key) ? body[key] : Json();
  const bool strings = docs.is_array() && std::all_of(docs.begin(), docs.end(), [](const Json& d) {
                         return d.is_string();
                       });
  if (!strings || docs.empty()) {
    return fail(400, "\"documents\" must be a non-empty string array");
  }
  for (const Json& d : docs) {
    in.documents.push_back(d.get<std::string>());
  }
  in.return_text = body.contains("return_text") && body["return_text"].is_boolean() &&
                   body["return_text"].get<bool>();
  in.top_n = in.documents.size();
  if (body.contains("top_n") && body["top_n"].is_number_integer()) {
    in.top_n = static_cast<std::size_t>(std::clamp<long long>(
        body["top_n"].get<long long>(), 0, static_cast<long long>(in.documents.size())));
  }
  return in;
}

} // namespace ask::sim::llama
