#pragma once
// What ask sends: the prompt assembled from the arguments and standard input, and the chat
// request built from it and the options. The same request is what the cache key covers.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ask::cli {

// The most standard input ask reads (askd's default body limit is 32 MiB).
inline constexpr std::size_t k_max_stdin_bytes = 16 * 1024 * 1024;

// The user message: the words joined with spaces, then, when standard input gave text, a blank
// line and that text (a trailing newline of the piped text removed). Invalid UTF-8 bytes become
// U+FFFD. bad_request when both are empty.
core::Result<std::string> assemble_prompt(const std::vector<std::string>& words,
                                          std::string_view piped);

// Reads all of `fd` (standard input) up to k_max_stdin_bytes; bad_request beyond, internal on
// a read error.
core::Result<std::string> read_all_fd(int fd);

struct RequestParams {
  std::string model; // as askd is asked for it: the name the user gave (askd resolves it)
  std::optional<std::string> system;
  nlohmann::json content; // the user message's content: the prompt, or OpenAI content parts
  std::optional<double> temperature;
  std::optional<long long> max_tokens;
  bool stream = true;
  std::vector<nlohmann::json> earlier; // the conversation so far, before the question
};

// {"model","messages":[system?, earlier..., user],"stream",
// "stream_options":{"include_usage":true} when streaming, "temperature"?, "max_tokens"?}.
nlohmann::json build_request(const RequestParams& params);

// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string to_valid_utf8(std::string_view text);
// Unicode code points in valid UTF-8 `text` (telemetry's prompt_chars, response_chars).
long long count_code_points(std::string_view text);

} // namespace ask::cli
