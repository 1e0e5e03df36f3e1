#pragma once
// Reading the bodies of llama-server's non-chat endpoints the way b10587 does, errors
// included (status, message and type as recorded in tests/fixtures/llama-server:
// v1-completions-errors.http, infill.http, embeddings.http, rerank.http).

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/llama_format.h"

namespace ask::sim::llama {

// A text prompt: its text (token arrays become their ids joined by spaces) and tokens.
struct TextPrompt {
  std::string text;
  long long tokens = 0; // with the BOS token
};

// "prompt" of /v1/completions and /completion: a string, an array of one string, or a
// token array. Errors: missing (400, nlohmann's out_of_range text), a wrong type (400).
// More than one prompt is refused (400): llm-sim answers one prompt per request.
std::expected<TextPrompt, ErrorReply> read_prompt(const nlohmann::json& body);

struct InfillInput {
  std::string prefix;
  std::string suffix;
  std::string prompt;
  std::vector<std::string> extra; // input_extra texts (filename and text)
  long long tokens = 0;           // the FIM prompt, special tokens and BOS included
};

// /infill's fields. A missing or non-string input_prefix / input_suffix is a 500 (the
// server throws where it meant to answer 400); a bad input_extra is a 400; a non-string
// prompt is ignored, as b10587 does.
std::expected<InfillInput, ErrorReply> read_infill(const nlohmann::json& body);

// /embeddings input: each entry one text to embed (token arrays become their ids).
struct EmbeddingInputs {
  std::vector<TextPrompt> items;
};

// "input" (else "content"): a string, an array of strings (one item each), an array of
// token arrays, or a mixed array of strings and tokens (one item). Errors as recorded.
std::expected<EmbeddingInputs, ErrorReply> read_embedding_inputs(const nlohmann::json& body);

struct RerankInput {
  std::string query;
  std::vector<std::string> documents;
  bool tei = false; // "texts" instead of "documents": the TEI reply form
  bool return_text = false;
  std::size_t top_n = 0;
};

std::expected<RerankInput, ErrorReply> read_rerank(const nlohmann::json& body);

// The JSON body, or llama-server's 500 with nlohmann's parse error text.
std::expected<nlohmann::json, ErrorReply> parse_body(const std::string& text);

} // namespace ask::sim::llama
