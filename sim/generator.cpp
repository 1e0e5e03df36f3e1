#include "sim/generator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string_view>

#include "core/sha256.h"

namespace ask::sim {

namespace {

constexpr std::array<std::string_view, 96> k_words = {
    "the",      "river",  "bends",    "softly", "under",   "a",        "quiet",   "sky",
    "and",      "every",  "stone",    "keeps",  "its",     "own",      "small",   "secret",
    "while",    "old",    "lanterns", "glow",   "near",    "harbor",   "where",   "sailors",
    "mend",     "their",  "nets",     "at",     "dawn",    "gentle",   "winds",   "carry",
    "songs",    "across", "green",    "hills",  "toward",  "distant",  "towns",   "that",
    "remember", "summer", "rain",     "bright", "fields",  "hold",     "golden",  "wheat",
    "children", "laugh",  "by",       "wooden", "bridges", "clocks",   "tick",    "in",
    "patient",  "rooms",  "letters",  "wait",   "on",      "tables",   "for",     "careful",
    "hands",    "maps",   "show",     "paths",  "through", "forests",  "of",      "pine",
    "birds",    "return", "each",     "spring", "with",    "news",     "from",    "warm",
    "coasts",   "light",  "falls",    "slowly", "over",    "rooftops", "markets", "open",
    "early",    "bakers", "share",    "fresh",  "bread",   "friends",  "travel",  "together",
};

constexpr std::string_view k_call_id_chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// splitmix64: a small, well-mixed generator seeded from the request hash.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : m_state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

private:
  std::uint64_t m_state;
};

std::uint64_t seed_of(const GenerationRequest& r, std::string_view salt) {
  core::Sha256 h;
  h.update(salt);
  h.update("\x1f");
  h.update(r.model);
  for (const ChatTurn& t : r.messages) {
    h.update("\x1e");
    h.update(t.role);
    h.update("\x1f");
    h.update(t.text);
  }
  if (r.seed) {
    h.update("\x1dseed=" + std::to_string(*r.seed));
  }
  if (r.temperature) {
    h.update("\x1dtemp=" + std::to_string(*r.temperature));
  }
  core::Sha256Digest d = h.finish();
  std::uint64_t s = 0;
  for (int i = 0; i < 8; ++i) {
    s = (s << 8) | d[static_cast<std::size_t>(i)];
  }
  return s;
}

std::string capitalise(std::string_view word) {
  std::string w(word);
  if (!w.empty() && w[0] >= 'a' && w[0] <= 'z') {
    w[0] = static_cast<char>(w[0] - 'a' + 'A');
  }
  return w;
}

// `count` tokens of sentences: 5-12 words each, capitalised, ending with a full stop.
std::vector<std::string> sentences(Rng& rng, long long count) {
  std::vector<std::string> tokens;
  tokens.reserve(static_cast<std::size_t>(std::max(0LL, count)));
  long long left_in_sentence = 0;
  for (long long i = 0; i < count; ++i) {
    bool first = left_in_sentence == 0;
    if (first) {
      left_in_sentence = 5 + static_cast<long long>(rng.below(8));
    }
    std::string_view word = k_words[rng.below(k_words.size())];
    std::string token = first ? capitalise(word) : std::string(word);
    --left_in_sentence;
    if (left_in_sentence == 0 || i + 1 == count) {
      token += '.';
      left_in_sentence = 0;
    }
    if (i + 1 < count) {
      token += ' ';
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::vector<std::string> phrase_tokens(const std::string& phrase) {
  std::vector<std::string> tokens;
  std::size_t i = 0;
  while (i < phrase.size()) {
    std::size_t space = phrase.find(' ', i);
    std::size_t end = space == std::string::npos ? phrase.size() : space + 1;
    tokens.push_back(phrase.substr(i, end - i));
    i = end;
  }
  // Words repeat with a space between copies ("loop loop "); a phrase ending in
  // punctuation or whitespace ("\n") repeats as it is.
  if (!tokens.empty() && std::isalnum(static_cast<unsigned char>(tokens.back().back()))) {
    tokens.back() += ' ';
  }
  return tokens;
}

// Cuts `tokens` so their concatenation ends before the first stop string. Returns the stop
// string found (the Anthropic API names it in stop_sequence), if any.
std::optional<std::string> apply_stop(std::vector<std::string>& tokens,
                                      const std::vector<std::string>& stops) {
  std::string text;
  for (const std::string& t : tokens) {
    text += t;
  }
  std::size_t cut = std::string::npos;
  std::optional<std::string> found;
  for (const std::string& s : stops) {
    std::size_t at = s.empty() ? std::string::npos : text.find(s);
    if (at < cut) {
      cut = at;
      found = s;
    }
  }
  if (!found) {
    return std::nullopt;
  }
  std::size_t pos = 0;
  std::vector<std::string> kept;
  for (const std::string& t : tokens) {
    if (pos + t.size() <= cut) {
      kept.push_back(t);
    } else if (pos < cut) {
      kept.push_back(t.substr(0, cut - pos));
    }
    pos += t.size();
  }
  tokens = std::move(kept);
  return found;
}

nlohmann::ordered_json value_for(const nlohmann::json& schema, Rng& rng) {
  if (schema.is_object() && schema.contains("enum") && schema["enum"].is_array() &&
      !schema["enum"].empty()) {
    return schema["enum"][0];
  }
  std::string type = schema.is_object() && schema.contains("type") && schema["type"].is_string()
                         ? schema["type"].get<std::string>()
                         : "string";
  if (type == "integer") {
    return static_cast<long long>(rng.below(100));
  }
  if (type == "number") {
    return static_cast<double>(rng.below(1000)) / 10.0;
  }
  if (type == "boolean") {
    return true;
  }
  if (type == "array") {
    return nlohmann::ordered_json::array();
  }
  if (type == "object") {
    return nlohmann::ordered_json::object();
  }
  if (type == "null") {
    return nullptr;
  }
  return std::string(k_words[rng.below(k_words.size())]);
}

ToolCallPlan plan_tool_call(const ToolDef& tool, Rng& rng) {
  ToolCallPlan plan;
  plan.name = tool.name;
  for (int i = 0; i < 32; ++i) {
    plan.id += k_call_id_chars[rng.below(k_call_id_chars.size())];
  }
  plan.arguments = nlohmann::ordered_json::object();
  const nlohmann::json& p = tool.parameters;
  if (p.is_object() && p.contains("required") && p["required"].is_array()) {
    const nlohmann::json props = p.contains("properties") && p["properties"].is_object()
                                     ? p["properties"]
                                     : nlohmann::json::object();
    for (const auto& name : p["required"]) {
      if (name.is_string()) {
        std::string key = name.get<std::string>();
        plan.arguments[key] = value_for(props.contains(key) ? props[key] : nlohmann::json(), rng);
      }
    }
  }
  plan.tokens = std::max<long long>(
      1, static_cast<long long>((plan.name.size() + plan.arguments.dump().size() + 3) / 4));
  return plan;
}

const ToolDef* chosen_tool(const GenerationRequest& r) {
  if (!r.tool_call || r.tools.empty()) {
    return nullptr;
  }
  if (r.tool_call->empty()) {
    return &r.tools.front();
  }
  for (const ToolDef& t : r.tools) {
    if (t.name == *r.tool_call) {
      return &t;
    }
  }
  return nullptr;
}

long long budget_of(const GenerationRequest& r) {
  long long budget = -1;
  if (r.max_tokens && *r.max_tokens >= 0) {
    budget = *r.max_tokens;
  }
  if (r.context_left > 0 && (budget < 0 || r.context_left < budget)) {
    budget = r.context_left;
  }
  return budget; // -1: unlimited
}

} // namespace

Token Answer::token(std::size_t i) const {
  if (i < m_reasoning.size()) {
    return {TokenKind::reasoning, m_reasoning[i]};
  }
  std::size_t c = i - m_reasoning.size();
  if (!m_repeat.empty()) {
    return {TokenKind::content, m_repeat[c % m_repeat.size()]};
  }
  return {TokenKind::content, m_content[c]};
}

std::string Answer::content() const {
  std::string out;
  for (std::size_t i = m_reasoning.size(); i < size(); ++i) {
    out += token(i).text;
  }
  return out;
}

std::string Answer::reasoning() const {
  std::string out;
  for (const std::string& t : m_reasoning) {
    out += t;
  }
  return out;
}

long long Answer::completion_tokens() const {
  return static_cast<long long>(size()) + (tool_call ? tool_call->tokens : 0);
}

long long count_prompt_tokens(const std::vector<ChatTurn>& messages,
                              const std::vector<ToolDef>& tools) {
  long long n = 3; // the assistant's turn header
  for (const ChatTurn& t : messages) {
    n += 4 + static_cast<long long>((t.text.size() + 3) / 4);
  }
  for (const ToolDef& tool : tools) {
    n += 10 + static_cast<long long>((tool.name.size() + tool.parameters.dump().size()) / 4);
  }
  return n;
}

Answer generate(const GenerationRequest& r) {
  Answer a;
  a.prompt_tokens = count_prompt_tokens(r.messages, r.tools);
  Rng rng(seed_of(r, "answer"));
  Rng think_rng(seed_of(r, "reasoning"));
  long long budget = budget_of(r);
  auto over_budget = [&](long long used) { return budget >= 0 && used > budget; };

  if (r.reasoning) {
    a.m_reasoning = sentences(think_rng, 8 + static_cast<long long>(think_rng.below(9)));
    a.m_reasoning.back() += ' ';
    a.m_reasoning.insert(a.m_reasoning.begin(), "Let me think. ");
  }
  if (budget >= 0 && static_cast<long long>(a.m_reasoning.size()) >= budget) {
    a.m_reasoning.resize(static_cast<std::size_t>(budget));
    a.finish_reason = "length";
    return a;
  }
  long long used = static_cast<long long>(a.m_reasoning.size());
  if (const ToolDef* tool = chosen_tool(r)) {
    ToolCallPlan plan = plan_tool_call(*tool, rng);
    if (over_budget(used + plan.tokens)) {
      a.finish_reason = "length";
      return a;
    }
    a.tool_call = std::move(plan);
    a.finish_reason = "tool_calls";
    return a;
  }
  if (r.repeat && !r.repeat->empty()) {
    a.m_repeat = phrase_tokens(*r.repeat);
    long long limit = budget >= 0 ? budget : k_max_repeat_tokens;
    a.m_content_count = static_cast<std::size_t>(std::max(0LL, limit - used));
    a.finish_reason = "length";
    if (!r.stop.empty()) {
      // Stop strings need the text itself: spell the repetition out and cut it.
      for (std::size_t i = 0; i < a.m_content_count; ++i) {
        a.m_content.push_back(a.m_repeat[i % a.m_repeat.size()]);
      }
      a.m_repeat.clear();
      a.stop_word = apply_stop(a.m_content, r.stop);
      if (a.stop_word) {
        a.finish_reason = "stop";
      }
      a.m_content_count = a.m_content.size();
    }
    return a;
  }
  long long length =
      r.exact_tokens
          ? *r.exact_tokens
          : k_min_answer_tokens +
                static_cast<long long>(rng.below(k_max_answer_tokens - k_min_answer_tokens + 1));
  a.m_content = sentences(rng, length);
  if (!r.lead.empty()) {
    std::vector<std::string> lead = phrase_tokens(r.lead);
    if (!lead.back().ends_with(' ') && !lead.back().ends_with('\n')) {
      lead.back() += ' ';
    }
    a.m_content.insert(a.m_content.begin(), lead.begin(), lead.end());
    length += static_cast<long long>(lead.size());
  }
  if (over_budget(used + length)) {
    a.m_content.resize(static_cast<std::size_t>(budget - used));
    a.finish_reason = "length";
  }
  a.stop_word = apply_stop(a.m_content, r.stop);
  if (a.stop_word) {
    a.finish_reason = "stop";
  }
  a.m_content_count = a.m_content.size();
  return a;
}

} // namespace ask::sim
