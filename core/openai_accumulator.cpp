// ChunkAccumulator: a stream of chunks merged into the non-streaming response.
#include "core/openai.h"

#include "core/json_text.h"

namespace ask::core {

namespace {

// The bytes a JSON value adds when kept: its text, or a small charge for scalars.
std::size_t json_bytes(const std::string& key, const Json& value) {
  return key.size() + dump_json(value).size();
}

} // namespace

ChunkAccumulator::ChunkAccumulator(std::size_t max_bytes) : m_max_bytes(max_bytes) {}

bool ChunkAccumulator::take(std::size_t bytes) {
  if (m_overflowed || bytes > m_max_bytes - m_bytes) {
    m_overflowed = true;
    return false;
  }
  m_bytes += bytes;
  return true;
}

void ChunkAccumulator::append(std::string& target, const std::string& piece) {
  if (take(piece.size())) {
    target += piece;
  }
}

void ChunkAccumulator::add(const ChatChunk& chunk) {
  add_header(chunk);
  for (const auto& choice : chunk.choices) {
    if (choice.index == 0) { // only the first choice is accumulated
      add_choice(choice);
    }
  }
}

void ChunkAccumulator::add_header(const ChatChunk& chunk) {
  const auto set_once = [this](std::string& field, const std::string& value) {
    if (field.empty() && take(value.size())) {
      field = value;
    }
  };
  set_once(m_resp.id, chunk.id);
  set_once(m_resp.model, chunk.model);
  if (m_resp.created == 0) {
    m_resp.created = chunk.created;
  }
  if (chunk.system_fingerprint) {
    m_resp.system_fingerprint = chunk.system_fingerprint;
  }
  if (chunk.usage) {
    m_resp.usage = chunk.usage;
  }
  if (!chunk.extra.is_object()) {
    return;
  }
  for (const auto& [key, v] : chunk.extra.items()) {
    // A key seen before is replaced (the last chunk's value wins); a new one is charged.
    if (m_resp.extra.contains(key) || take(json_bytes(key, v))) {
      m_resp.extra[key] = v;
    }
  }
}

void ChunkAccumulator::add_choice(const ChunkChoice& choice) {
  const Delta& delta = choice.delta;
  if (delta.role) {
    m_role = delta.role;
  }
  if (delta.content) {
    m_has_content = true;
    append(m_content, *delta.content);
    m_saw_content = m_saw_content || !delta.content->empty();
  }
  if (delta.reasoning_content) {
    m_has_reasoning = true;
    append(m_reasoning, *delta.reasoning_content);
    m_saw_content = m_saw_content || !delta.reasoning_content->empty();
  }
  for (const auto& call : delta.tool_calls) {
    add_tool_call(call);
  }
  if (choice.finish_reason) {
    m_finish = choice.finish_reason;
  }
}

void ChunkAccumulator::add_tool_call(const ToolCallDelta& delta) {
  m_saw_content = true;
  if (delta.index < 0 || delta.index > k_max_tool_index) {
    m_dropped_tool_calls = true;
    return;
  }
  const auto [slot, inserted] = m_tool_slots.try_emplace(delta.index, m_tool_calls.size());
  if (inserted) {
    m_tool_calls.emplace_back();
  }
  ToolCall& call = m_tool_calls[slot->second];
  if (delta.id && !delta.id->empty() && call.id.empty() && take(delta.id->size())) {
    call.id = *delta.id;
  }
  if (delta.type && !delta.type->empty() && take(delta.type->size())) {
    call.type = *delta.type;
  }
  if (delta.name && !delta.name->empty() && call.function.name.empty() &&
      take(delta.name->size())) {
    call.function.name = *delta.name;
  }
  if (delta.arguments) {
    append(call.function.arguments, *delta.arguments);
  }
  merge_extras(delta.extra, call.extra, true);
}

void ChunkAccumulator::merge_extras(const Json& from, Json& into, bool top_level) {
  if (!from.is_object()) {
    return;
  }
  for (const auto& [key, v] : from.items()) {
    if (top_level && key == "function" && v.is_object()) {
      Json& fn = into[key];
      if (!fn.is_object()) {
        fn = Json::object();
      }
      merge_extras(v, fn, false);
    } else if (!v.is_null() && !into.contains(key) && take(json_bytes(key, v))) {
      into[key] = v;
    }
  }
}

ChatResponse ChunkAccumulator::result() const {
  ChatResponse resp = m_resp;
  resp.object = "chat.completion";
  Choice choice;
  choice.message.role = m_role.value_or("assistant");
  if (m_has_content) {
    choice.message.content = m_content;
  } else {
    choice.message.extra["content"] = nullptr; // as OpenAI writes a tool-call-only reply
  }
  if (m_has_reasoning) {
    choice.message.reasoning_content = m_reasoning;
  }
  choice.message.tool_calls = m_tool_calls;
  choice.finish_reason = m_finish;
  resp.choices.push_back(std::move(choice));
  return resp;
}

} // namespace ask::core
