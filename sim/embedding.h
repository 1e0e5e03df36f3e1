#pragma once
// Deterministic stand-ins for what an embedding or reranking model computes, shared by
// both personalities: a text's vector is the normalised sum of one pseudo-random vector
// per word (seeded by sha256 of the lower-cased word) plus a small one for the whole
// text, so the same text always gets the same vector, different texts get different
// ones, and texts sharing words point the same way. A rerank score is the share of the
// query's words found in the document.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ask::sim {

// The lower-cased alphanumeric words of `text` ("Hello, World!" -> hello, world).
std::vector<std::string> words_of(std::string_view text);

// A unit-length vector of `dim` floats (dim 0 gives an empty vector).
std::vector<float> embed_text(std::string_view text, std::size_t dim);

// In [0, 1]: the share of the query's distinct words that occur in the document, plus a
// tie-break below 0.001 derived from the document so equal overlaps still order stably.
double relevance(std::string_view query, std::string_view document);

// The floats as little-endian float32 bytes in base64, as OpenAI's encoding_format
// "base64" sends them.
std::string base64_floats(const std::vector<float>& v);

// About four bytes per token, at least one for a non-empty text.
long long text_tokens(std::string_view text);

} // namespace ask::sim
