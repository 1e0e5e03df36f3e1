#pragma once
// Deterministic answers: the text llm-sim "generates" is derived from sha256 of the model
// name, the messages and the sampling parameters that matter (seed, temperature), so the
// same request always gets the same answer and a different one almost surely another.
// Words come from a fixed list and form English-looking sentences; one token is one word
// and the space after it.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ask::sim {

struct ChatTurn {
  std::string role;
  std::string text;
};

struct ToolDef {
  std::string name;
  nlohmann::json parameters; // JSON schema; may be null
};

struct GenerationRequest {
  std::string model;
  std::vector<ChatTurn> messages;
  std::optional<long long> seed;
  std::optional<double> temperature;
  std::optional<long long> max_tokens; // nullopt or negative: no limit
  long long context_left = 0;          // tokens the context still holds; 0 = unlimited
  std::vector<std::string> stop;       // stop strings: the answer ends before the first
  bool reasoning = false;              // think before answering
  std::vector<ToolDef> tools;
  std::optional<std::string> tool_call;  // call this tool; "" = the first one
  std::optional<long long> exact_tokens; // answer length (before limits)
  std::optional<std::string> repeat;     // answer with this phrase over and over
  std::string lead;                      // the answer starts with these words (infill)
};

enum class TokenKind { reasoning, content };

struct Token {
  TokenKind kind = TokenKind::content;
  std::string text;
};

struct ToolCallPlan {
  std::string id; // 32 alphanumerics, deterministic
  std::string name;
  nlohmann::ordered_json arguments; // built from the schema's required properties
  long long tokens = 0;             // what generating the call "cost"
};

class Answer {
public:
  // Tokens in the order they are streamed: reasoning first, then content.
  std::size_t size() const { return m_reasoning.size() + m_content_count; }
  Token token(std::size_t i) const;
  std::string content() const;
  std::string reasoning() const;
  std::size_t reasoning_tokens() const { return m_reasoning.size(); }
  std::size_t content_tokens() const { return m_content_count; }

  std::optional<ToolCallPlan> tool_call;
  std::string finish_reason = "stop"; // "stop", "length" or "tool_calls"
  std::optional<std::string> stop_word; // the stop string that ended the answer
  long long prompt_tokens = 0;
  long long completion_tokens() const;

private:
  friend Answer generate(const GenerationRequest& request);
  std::vector<std::string> m_reasoning;
  std::vector<std::string> m_content; // empty when repeating
  std::vector<std::string> m_repeat;  // the phrase's tokens, cycled
  std::size_t m_content_count = 0;
};

Answer generate(const GenerationRequest& request);

// About four characters per token plus a few tokens of chat-template framing per message.
long long count_prompt_tokens(const std::vector<ChatTurn>& messages,
                              const std::vector<ToolDef>& tools = {});

// The default answer length range (tokens), before max_tokens and friends.
inline constexpr long long k_min_answer_tokens = 16;
inline constexpr long long k_max_answer_tokens = 32;
// A repeating answer with no other limit stops here.
inline constexpr long long k_max_repeat_tokens = 100'000;

} // namespace ask::sim
