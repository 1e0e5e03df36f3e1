// OpenAI /v1/embeddings <-> Ollama /api/embed (see ollama_embed.h).
#include "proxy/ollama_embed.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/base64.h"
#include "core/json_fields.h"
#include "proxy/ollama_translate_detail.h"

namespace ask::proxy {

namespace {

using core::Error;
using core::fail;
using core::Json;
using core::Result;

constexpr std::string_view k_embed_reply = "Ollama embed reply";

// Largest token count read from a reply, as the chat translation bounds it. (Names here differ
// from ollama_translate.cpp's: a unity build compiles both in one translation unit.)
constexpr long long k_max_embed_count = std::numeric_limits<long long>::max() / 4;

Error bad_embed_reply(const std::string& path, std::string_view reason) {
  return Error::malformed_reply("invalid " + std::string(k_embed_reply) + ": " + path + ": " +
                                std::string(reason));
}

// One vector of the reply: finite numbers that fit a float32 (what Ollama computes in).
Result<std::vector<float>> read_vector(const Json& value, const std::string& path) {
  if (!value.is_array()) {
    return fail(bad_embed_reply(path, ollama_detail::expected("an array of numbers", value)));
  }
  std::vector<float> out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const Json& v = value[i];
    if (!v.is_number()) {
      return fail(bad_embed_reply(ollama_detail::index_path(path, i),
                            ollama_detail::expected("a number", v)));
    }
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
      return fail(bad_embed_reply(ollama_detail::index_path(path, i), "not a finite float32"));
    }
    out.push_back(static_cast<float>(d));
  }
  return out;
}

Result<long long> read_prompt_tokens(const Json& reply) {
  const auto it = reply.find("prompt_eval_count");
  if (it == reply.end() || it->is_null()) {
    return 0LL; // Ollama leaves it out when nothing was evaluated
  }
  const auto n = ollama_detail::as_int64(*it);
  if (!n || *n < 0 || *n > k_max_embed_count) {
    return fail(bad_embed_reply("prompt_eval_count", "expected a token count (a non-negative integer)"));
  }
  return *n;
}

} // namespace

core::Result<core::Json> ollama_embed_request(const core::Json& openai_request,
                                              std::string_view upstream_model,
                                              std::optional<core::Duration> keep_alive,
                                              std::optional<std::int64_t> num_ctx) {
  const Json& input = openai_request.at("input"); // embedding_request checked it
  const auto is_token_input = [](const Json& in) {
    return in.is_array() && !in.empty() && (in[0].is_number() || in[0].is_array());
  };
  if (is_token_input(input)) {
    return fail(core::json::invalid(
        "input", "Ollama embeds text only: token ids cannot be sent to an ollama backend"));
  }
  Json out = Json::object();
  out["model"] = std::string(upstream_model);
  out["input"] = input;
  // Ollama cuts an over-long input to the context by default: the embedding of a text the
  // client did not send. False makes it an error the client sees.
  out["truncate"] = false;
  if (auto d = openai_request.find("dimensions"); d != openai_request.end() && !d->is_null()) {
    out["dimensions"] = *d;
  }
  if (num_ctx) {
    out["options"] = Json{{"num_ctx", *num_ctx}};
  }
  if (keep_alive) {
    out["keep_alive"] = ollama_detail::keep_alive_json(*keep_alive);
  }
  return out;
}

core::Result<core::Json> openai_embeddings_from_ollama(const core::Json& reply,
                                                       const std::string& model,
                                                       std::size_t inputs, bool base64) {
  if (!reply.is_object()) {
    return fail(bad_embed_reply("body", ollama_detail::expected("an object", reply)));
  }
  if (auto err = ollama_detail::in_band_error(reply, k_embed_reply)) {
    return fail(std::move(*err));
  }
  const auto embeddings = reply.find("embeddings");
  if (embeddings == reply.end() || !embeddings->is_array()) {
    return fail(bad_embed_reply("embeddings", embeddings == reply.end()
                                            ? "missing"
                                            : ollama_detail::expected("an array", *embeddings)));
  }
  if (embeddings->size() != inputs) {
    return fail(bad_embed_reply("embeddings", std::to_string(embeddings->size()) + " vectors for " +
                                            std::to_string(inputs) + " inputs"));
  }
  auto prompt_tokens = read_prompt_tokens(reply);
  if (!prompt_tokens) {
    return fail(std::move(prompt_tokens.error()));
  }
  Json data = Json::array();
  for (std::size_t i = 0; i < embeddings->size(); ++i) {
    auto vec = read_vector((*embeddings)[i], ollama_detail::index_path("embeddings", i));
    if (!vec) {
      return fail(std::move(vec.error()));
    }
    Json item = {{"object", "embedding"}, {"index", i}};
    // Floats as Ollama wrote them: through a float their shortest text would change.
    item["embedding"] = base64 ? Json(base64_float32(*vec)) : (*embeddings)[i];
    data.push_back(std::move(item));
  }
  return Json{{"object", "list"},
              {"data", std::move(data)},
              {"model", model},
              {"usage", {{"prompt_tokens", *prompt_tokens}, {"total_tokens", *prompt_tokens}}}};
}

std::string base64_float32(const std::vector<float>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (float f : values) {
    const auto bits = std::bit_cast<std::uint32_t>(f);
    for (int shift = 0; shift < 32; shift += 8) { // little-endian whatever the host's order
      bytes.push_back(static_cast<char>((bits >> shift) & 0xFF));
    }
  }
  return core::base64_encode(bytes);
}

} // namespace ask::proxy
