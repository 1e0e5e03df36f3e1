// ChunkAccumulator: a stream of chunks merged into the non-streaming response.
#include "core/openai.h"

namespace ask::core {

namespace {

void merge_tool_call(const ToolCallDelta& delta, ToolCall& call) {
  if (delta.id && !delta.id->empty() && call.id.empty()) {
    call.id = *delta.id;
  }
  if (delta.type && !delta.type->empty()) {
    call.type = *delta.type;
  }
  if (delta.name && !delta.name->empty() && call.function.name.empty()) {
    call.function.name = *delta.name;
  }
  if (delta.arguments) {
    call.function.arguments += *delta.arguments;
  }
}

} // namespace

void ChunkAccumulator::add(const ChatChunk& chunk) {
  if (m_resp.id.empty()) {
    m_resp.id = chunk.id;
  }
  if (m_resp.created == 0) {
    m_resp.created = chunk.created;
  }
  if (m_resp.model.empty()) {
    m_resp.model = chunk.model;
  }
  if (chunk.system_fingerprint) {
    m_resp.system_fingerprint = chunk.system_fingerprint;
  }
  if (chunk.usage) {
    m_resp.usage = chunk.usage;
  }
  if (chunk.extra.is_object()) {
    for (const auto& [key, v] : chunk.extra.items()) {
      m_resp.extra[key] = v;
    }
  }
  for (const auto& choice : chunk.choices) {
    if (choice.index != 0) {
      continue; // only the first choice is accumulated
    }
    const Delta& delta = choice.delta;
    if (delta.role) {
      m_role = delta.role;
    }
    if (delta.content) {
      m_has_content = true;
      m_content += *delta.content;
      m_saw_content = m_saw_content || !delta.content->empty();
    }
    if (delta.reasoning_content) {
      m_has_reasoning = true;
      m_reasoning += *delta.reasoning_content;
      m_saw_content = m_saw_content || !delta.reasoning_content->empty();
    }
    for (const auto& call : delta.tool_calls) {
      std::size_t slot = 0;
      while (slot < m_tool_indices.size() && m_tool_indices[slot] != call.index) {
        ++slot;
      }
      if (slot == m_tool_indices.size()) {
        m_tool_indices.push_back(call.index);
        m_tool_calls.emplace_back();
      }
      merge_tool_call(call, m_tool_calls[slot]);
      m_saw_content = true;
    }
    if (choice.finish_reason) {
      m_finish = choice.finish_reason;
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
