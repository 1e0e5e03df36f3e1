#include "ask/prompt.h"

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include "core/excerpt.h"

namespace ask::cli {

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += text[i++];
      continue;
    }
    std::size_t n = core::detail::utf8_sequence_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

long long count_code_points(std::string_view text) {
  long long n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

core::Result<std::string> assemble_prompt(const std::vector<std::string>& words,
                                          std::string_view piped) {
  std::string prompt;
  for (const std::string& w : words) {
    if (!prompt.empty()) {
      prompt += ' ';
    }
    prompt += w;
  }
  if (piped.ends_with("\r\n")) {
    piped.remove_suffix(2);
  } else if (piped.ends_with('\n')) {
    piped.remove_suffix(1);
  }
  if (!piped.empty()) {
    if (!prompt.empty()) {
      prompt += "\n\n";
    }
    prompt += piped;
  }
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return core::fail(core::Error::bad_request(
        "no prompt: give the question as arguments (ask --9b \"...\") or on standard input"));
  }
  return to_valid_utf8(prompt);
}

core::Result<std::string> read_all_fd(int fd) {
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return core::fail(core::Error::internal(std::string("cannot read standard input: ") +
                                              std::strerror(errno)));
    }
    if (n == 0) {
      return out;
    }
    if (out.size() + static_cast<std::size_t>(n) > k_max_stdin_bytes) {
      return core::fail(core::Error::bad_request("standard input is larger than " +
                                                 std::to_string(k_max_stdin_bytes / (1024 * 1024)) +
                                                 " MiB; send a smaller excerpt"));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

nlohmann::json build_request(const RequestParams& p) {
  nlohmann::json messages = nlohmann::json::array();
  if (p.system && !p.system->empty()) {
    messages.push_back({{"role", "system"}, {"content", to_valid_utf8(*p.system)}});
  }
  for (const nlohmann::json& m : p.earlier) {
    messages.push_back(m);
  }
  messages.push_back({{"role", "user"}, {"content", p.content}});
  nlohmann::json req = {
      {"model", p.model}, {"messages", std::move(messages)}, {"stream", p.stream}};
  if (p.stream) {
    req["stream_options"] = {{"include_usage", true}};
  }
  if (p.temperature) {
    req["temperature"] = *p.temperature;
  }
  if (p.max_tokens) {
    req["max_tokens"] = *p.max_tokens;
  }
  return req;
}

} // namespace ask::cli
