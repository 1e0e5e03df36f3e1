// ResponsesDialect, the reply side: chat replies and chunks as response objects and
// Responses events, errors as Responses error bodies. The request side (to_openai) is in
// dialect_responses_request.cpp. The mapping follows OpenAI's API reference and llama-server
// b10587's own door (tests/fixtures/llama-server/responses/README.md).
#include "proxy/dialect_responses.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_text.h"
#include "core/sse.h"

namespace ask::proxy {

// A named namespace around the anonymous one keeps these helpers apart from those of other
// files in a unity build; dialect_responses_request.cpp adds its own to the same namespace.
namespace responses_detail {
namespace {

using core::Error;
using core::Json;

// The part of askd's request id after "chatcmpl-", for the ids of a response and its items.
std::string id_suffix(const std::string& id) {
  constexpr std::string_view k_prefix = "chatcmpl-";
  const std::string_view view(id);
  const auto suffix = view.starts_with(k_prefix) ? view.substr(k_prefix.size()) : view;
  return suffix.empty() ? std::string("0") : std::string(suffix);
}

// The id of the n-th item of one kind in a response: "msg_X", then "msg_X_1", …
std::string item_id(std::string_view prefix, const std::string& suffix, std::size_t n) {
  auto id = std::string(prefix) + suffix;
  return n == 0 ? id : id + "_" + std::to_string(n);
}

std::string function_item_id(const std::string& suffix, std::size_t n) {
  return "fc_" + suffix + "_" + std::to_string(n);
}

std::string call_id_or_default(const std::string& id, const std::string& suffix, std::size_t n) {
  return id.empty() ? "call_" + suffix + "_" + std::to_string(n) : id;
}

Json output_text_part(const std::string& text) {
  return Json{{"type", "output_text"},
              {"text", text},
              {"annotations", Json::array()},
              {"logprobs", Json::array()}};
}

Json message_item(const std::string& id, std::string_view status, Json content) {
  return Json{{"id", id},
              {"type", "message"},
              {"status", status},
              {"role", "assistant"},
              {"content", std::move(content)}};
}

// Reasoning as llama-server writes it: the model's text as reasoning_text content, no summary.
Json reasoning_item(const std::string& id, std::string_view status, Json content) {
  return Json{{"id", id},
              {"type", "reasoning"},
              {"status", status},
              {"summary", Json::array()},
              {"content", std::move(content)}};
}

Json reasoning_text_part(const std::string& text) {
  return Json{{"type", "reasoning_text"}, {"text", text}};
}

Json function_call_item(const std::string& id, std::string_view status, const std::string& call_id,
                        const std::string& name, const std::string& arguments) {
  return Json{{"id", id},     {"type", "function_call"}, {"status", status}, {"call_id", call_id},
              {"name", name}, {"arguments", arguments}};
}

// A nested integer count from a chat usage's extra fields, 0 when absent.
long long usage_detail(const core::Usage& usage, std::string_view object, std::string_view key) {
  const auto it = usage.extra.find(object);
  if (it == usage.extra.end() || !it->is_object()) {
    return 0;
  }
  const auto count = it->find(key);
  return count != it->end() && count->is_number_integer() ? count->get<long long>() : 0;
}

Json responses_usage(const std::optional<core::Usage>& usage) {
  if (!usage) {
    return nullptr;
  }
  return Json{{"input_tokens", usage->prompt_tokens},
              {"input_tokens_details",
               {{"cached_tokens", usage_detail(*usage, "prompt_tokens_details", "cached_tokens")}}},
              {"output_tokens", usage->completion_tokens},
              {"output_tokens_details",
               {{"reasoning_tokens",
                 usage_detail(*usage, "completion_tokens_details", "reasoning_tokens")}}},
              {"total_tokens", usage->total_tokens}};
}

// incomplete_details for a chat finish_reason; null when the reply is complete.
Json incomplete_details(const std::optional<std::string>& finish_reason) {
  if (finish_reason == "length") {
    return Json{{"reason", "max_output_tokens"}};
  }
  if (finish_reason == "content_filter") {
    return Json{{"reason", "content_filter"}};
  }
  return nullptr;
}

// A response object: the echoed request settings, then what is known of the reply.
Json response_object(const Json& echo, const std::string& suffix, const DialectMeta& meta,
                     std::string_view status, Json output, Json usage, Json incomplete,
                     Json error = nullptr) {
  Json out = echo;
  out["id"] = "resp_" + suffix;
  out["object"] = "response";
  out["created_at"] = meta.created;
  // The meta has the start time only; completed_at repeats it (llama-server too writes both
  // from one clock reading), which SDKs accept and no client times by.
  out["completed_at"] = status == "completed" ? Json(meta.created) : Json(nullptr);
  out["status"] = status;
  out["error"] = std::move(error);
  out["incomplete_details"] = std::move(incomplete);
  out["model"] = meta.model;
  out["output"] = std::move(output);
  out["usage"] = std::move(usage);
  return out;
}

Json default_echo() {
  return Json{{"instructions", nullptr},
              {"max_output_tokens", nullptr},
              {"metadata", Json::object()},
              {"parallel_tool_calls", true},
              {"previous_response_id", nullptr},
              {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
              {"store", false},
              {"temperature", nullptr},
              {"text", {{"format", {{"type", "text"}}}}},
              {"tool_choice", "auto"},
              {"tools", Json::array()},
              {"top_p", nullptr},
              {"truncation", "disabled"}};
}

// OpenAI's response error codes name a few causes; askd's failures are capacity or server.
std::string_view response_error_code(const Error& error) {
  return error.kind == core::ErrorKind::overloaded ? "rate_limit_exceeded" : "server_error";
}

std::string_view type_for_status(int status) {
  if (status == 404) {
    return "not_found_error";
  }
  if (status == 429) {
    return "rate_limit_error";
  }
  return status >= 400 && status < 500 ? "invalid_request_error" : "server_error";
}

// Turns chat chunks into Responses events: items open as their first delta arrives (and the
// item before closes), every event carries the next sequence_number, and the terminal event
// holds the whole response object.
class ResponsesStreamEncoder final : public StreamEncoder {
public:
  ResponsesStreamEncoder(Json echo, DialectMeta meta)
      : m_echo(std::move(echo)), m_meta(std::move(meta)), m_suffix(id_suffix(m_meta.id)) {}

  void chunk(const Json& chunk, std::string& out) override {
    start(out);
    auto parsed = core::parse_chat_chunk(chunk);
    if (!parsed) {
      return; // the chain hands on only chunks it parsed; nothing to show for another
    }
    if (parsed->usage) {
      m_usage = parsed->usage;
    }
    for (const auto& choice : parsed->choices) {
      if (choice.index != 0) {
        continue; // a response has one output; n > 1 is not a Responses notion
      }
      if (choice.finish_reason) {
        m_finish_reason = choice.finish_reason;
      }
      const auto& delta = choice.delta;
      if (delta.reasoning_content && !delta.reasoning_content->empty()) {
        add_text(ItemKind::reasoning, *delta.reasoning_content, out);
      }
      if (delta.content && !delta.content->empty()) {
        add_text(ItemKind::message, *delta.content, out);
      }
      for (const auto& call : delta.tool_calls) {
        add_call_fragment(call, out);
      }
    }
  }

  void finish(std::string& out) override {
    start(out);
    const auto incomplete = incomplete_details(m_finish_reason);
    const std::string_view status = incomplete.is_null() ? "completed" : "incomplete";
    close_all(status, out);
    emit(incomplete.is_null() ? "response.completed" : "response.incomplete",
         Json{{"response", response(status, incomplete)}}, out);
  }

  void fail(const Error& error, std::string& out) override {
    start(out);
    const auto body = core::error_body_for(error);
    emit("error", Json{{"code", body.code}, {"message", body.message}, {"param", nullptr}}, out);
    for (auto& item : m_items) {
      item.status = item.status == "in_progress" ? "incomplete" : item.status;
    }
    const Json failure{{"code", response_error_code(error)}, {"message", body.message}};
    emit("response.failed", Json{{"response", response("failed", nullptr, failure)}}, out);
  }

private:
  enum class ItemKind { reasoning, message, function_call };
  struct Item {
    Item(ItemKind new_kind, std::string new_id) : kind(new_kind), id(std::move(new_id)) {}
    ItemKind kind;
    std::string id;
    std::string text; // reasoning or message text, or a call's arguments
    std::string call_id;
    std::string name;
    std::string status = "in_progress";
  };

  void emit(std::string_view type, Json data, std::string& out) {
    data["type"] = type;
    data["sequence_number"] = m_sequence++;
    out += core::encode_sse(core::dump_json(data), type);
  }

  void start(std::string& out) {
    if (m_started) {
      return;
    }
    m_started = true;
    const auto snapshot = response("in_progress", nullptr);
    emit("response.created", Json{{"response", snapshot}}, out);
    emit("response.in_progress", Json{{"response", snapshot}}, out);
  }

  Json response(std::string_view status, Json incomplete, Json error = nullptr) const {
    Json output = Json::array();
    for (const auto& item : m_items) {
      output.push_back(item_json(item));
    }
    return response_object(m_echo, m_suffix, m_meta, status, std::move(output),
                           status == "in_progress" ? Json(nullptr) : responses_usage(m_usage),
                           std::move(incomplete), std::move(error));
  }

  Json item_json(const Item& item) const {
    switch (item.kind) {
    case ItemKind::reasoning:
      return reasoning_item(item.id, item.status,
                            item.status == "in_progress"
                                ? Json::array()
                                : Json::array({reasoning_text_part(item.text)}));
    case ItemKind::message:
      return message_item(item.id, item.status,
                          item.status == "in_progress"
                              ? Json::array()
                              : Json::array({output_text_part(item.text)}));
    case ItemKind::function_call:
      return function_call_item(item.id, item.status, item.call_id, item.name, item.text);
    }
    return nullptr;
  }

  // Opens an item of `kind` (closing the open one) and announces it.
  std::size_t open(Item item, std::string& out) {
    if (!m_items.empty() && m_items.back().status == "in_progress") {
      close(m_items.size() - 1, "completed", out);
    }
    m_items.push_back(std::move(item));
    const auto index = m_items.size() - 1;
    emit("response.output_item.added",
         Json{{"output_index", index}, {"item", item_json(m_items.back())}}, out);
    if (m_items.back().kind == ItemKind::message) {
      emit("response.content_part.added",
           Json{{"item_id", m_items.back().id},
                {"output_index", index},
                {"content_index", 0},
                {"part", output_text_part("")}},
           out);
    }
    return index;
  }

  void close(std::size_t index, std::string_view status, std::string& out) {
    auto& item = m_items[index];
    const Json where{{"item_id", item.id}, {"output_index", index}};
    switch (item.kind) {
    case ItemKind::reasoning: {
      Json done = where;
      done["content_index"] = 0;
      done["text"] = item.text;
      emit("response.reasoning_text.done", std::move(done), out);
      break;
    }
    case ItemKind::message: {
      Json done = where;
      done["content_index"] = 0;
      done["text"] = item.text;
      done["logprobs"] = Json::array();
      emit("response.output_text.done", std::move(done), out);
      Json part_done = where;
      part_done["content_index"] = 0;
      part_done["part"] = output_text_part(item.text);
      emit("response.content_part.done", std::move(part_done), out);
      break;
    }
    case ItemKind::function_call: {
      Json done = where;
      done["name"] = item.name;
      done["arguments"] = item.text;
      emit("response.function_call_arguments.done", std::move(done), out);
      break;
    }
    }
    item.status = std::string(status);
    emit("response.output_item.done", Json{{"output_index", index}, {"item", item_json(item)}},
         out);
  }

  void close_all(std::string_view status, std::string& out) {
    for (std::size_t i = 0; i < m_items.size(); ++i) {
      if (m_items[i].status == "in_progress") {
        close(i, status, out);
      }
    }
  }

  // Reasoning or message text: extends the open item of that kind, or opens one.
  void add_text(ItemKind kind, const std::string& text, std::string& out) {
    const bool extends =
        !m_items.empty() && m_items.back().kind == kind && m_items.back().status == "in_progress";
    std::size_t index = m_items.size() - 1;
    if (!extends) {
      auto& count = kind == ItemKind::reasoning ? m_reasoning_items : m_message_items;
      index =
          open(Item{kind, item_id(kind == ItemKind::reasoning ? "rs_" : "msg_", m_suffix, count++)},
               out);
    }
    m_items[index].text += text;
    Json delta{{"item_id", m_items[index].id},
               {"output_index", index},
               {"content_index", 0},
               {"delta", text}};
    if (kind == ItemKind::message) {
      delta["logprobs"] = Json::array();
    }
    emit(kind == ItemKind::reasoning ? "response.reasoning_text.delta"
                                     : "response.output_text.delta",
         std::move(delta), out);
  }

  // A tool-call fragment: the first of a call opens its function_call item, later ones
  // stream its arguments. A fragment for a call already closed (a backend interleaving calls)
  // still extends its arguments, so the final response holds them whole.
  void add_call_fragment(const core::ToolCallDelta& call, std::string& out) {
    auto it = m_calls.find(call.index);
    if (it == m_calls.end()) {
      const auto n = m_calls.size();
      Item item{ItemKind::function_call, function_item_id(m_suffix, n)};
      item.call_id = call_id_or_default(call.id.value_or(""), m_suffix, n);
      item.name = call.name.value_or("");
      it = m_calls.emplace(call.index, open(std::move(item), out)).first;
    } else if (call.name && m_items[it->second].name.empty()) {
      m_items[it->second].name = *call.name;
    }
    if (call.arguments && !call.arguments->empty()) {
      auto& item = m_items[it->second];
      item.text += *call.arguments;
      emit("response.function_call_arguments.delta",
           Json{{"item_id", item.id}, {"output_index", it->second}, {"delta", *call.arguments}},
           out);
    }
  }

  Json m_echo;
  DialectMeta m_meta;
  std::string m_suffix;
  long long m_sequence = 0;
  bool m_started = false;
  std::vector<Item> m_items;
  std::map<int, std::size_t> m_calls; // chat tool-call index -> position in m_items
  std::size_t m_reasoning_items = 0;
  std::size_t m_message_items = 0;
  std::optional<std::string> m_finish_reason;
  std::optional<core::Usage> m_usage;
};

} // namespace
} // namespace responses_detail

namespace rd = responses_detail;

ResponsesDialect::ResponsesDialect() : m_echo(rd::default_echo()) {}

ResponsesDialect::ResponsesDialect(const core::Json& request_body) : m_echo(rd::default_echo()) {
  if (!request_body.is_object()) {
    return;
  }
  const auto echo_if = [&](std::string_view key, bool (core::Json::*is_type)() const noexcept) {
    const auto it = request_body.find(key);
    if (it != request_body.end() && ((*it).*is_type)()) {
      m_echo[key] = *it;
    }
  };
  echo_if("instructions", &core::Json::is_string);
  echo_if("max_output_tokens", &core::Json::is_number_integer);
  echo_if("metadata", &core::Json::is_object);
  echo_if("parallel_tool_calls", &core::Json::is_boolean);
  echo_if("temperature", &core::Json::is_number);
  echo_if("top_p", &core::Json::is_number);
  echo_if("tools", &core::Json::is_array);
  echo_if("tool_choice", &core::Json::is_string);
  echo_if("tool_choice", &core::Json::is_object);
  const auto text = request_body.find("text");
  if (text != request_body.end() && text->is_object() && text->contains("format") &&
      (*text)["format"].is_object()) {
    m_echo["text"] = *text;
  }
  const auto reasoning = request_body.find("reasoning");
  if (reasoning != request_body.end() && reasoning->is_object()) {
    for (const std::string_view key : {"effort", "summary"}) {
      const auto value = reasoning->find(key);
      if (value != reasoning->end() && value->is_string()) {
        m_echo["reasoning"][key] = *value;
      }
    }
  }
}

core::Json ResponsesDialect::reply(core::Json completion, const DialectMeta& meta) const {
  using core::Json;
  const auto suffix = rd::id_suffix(meta.id);
  Json output = Json::array();
  std::optional<std::string> finish_reason;
  std::optional<core::Usage> usage;
  if (auto parsed = core::parse_chat_response(completion); parsed) {
    usage = parsed->usage;
    if (!parsed->choices.empty()) {
      const auto& choice = parsed->choices.front();
      finish_reason = choice.finish_reason;
      const auto item_status =
          rd::incomplete_details(finish_reason).is_null() ? "completed" : "incomplete";
      const auto& message = choice.message;
      if (message.reasoning_content && !message.reasoning_content->empty()) {
        output.push_back(
            rd::reasoning_item(rd::item_id("rs_", suffix, 0), item_status,
                               Json::array({rd::reasoning_text_part(*message.reasoning_content)})));
      }
      if (const auto text = message.text(); !text.empty()) {
        output.push_back(rd::message_item(rd::item_id("msg_", suffix, 0), item_status,
                                          Json::array({rd::output_text_part(text)})));
      }
      for (std::size_t i = 0; i < message.tool_calls.size(); ++i) {
        const auto& call = message.tool_calls[i];
        output.push_back(rd::function_call_item(rd::function_item_id(suffix, i), "completed",
                                                rd::call_id_or_default(call.id, suffix, i),
                                                call.function.name, call.function.arguments));
      }
    }
  }
  const auto incomplete = rd::incomplete_details(finish_reason);
  return rd::response_object(m_echo, suffix, meta,
                             incomplete.is_null() ? "completed" : "incomplete", std::move(output),
                             rd::responses_usage(usage), incomplete);
}

std::unique_ptr<StreamEncoder> ResponsesDialect::stream(const DialectMeta& meta) const {
  return std::make_unique<rd::ResponsesStreamEncoder>(m_echo, meta);
}

core::Json ResponsesDialect::error_body(int status, const core::Json& openai_error) const {
  using core::Json;
  Json error = Json::object();
  if (openai_error.is_object()) {
    const auto it = openai_error.find("error");
    if (it != openai_error.end() && it->is_object()) {
      error = *it;
    }
  }
  if (!error.contains("message") || !error["message"].is_string()) {
    error["message"] = "HTTP " + std::to_string(status);
  }
  if (!error.contains("type") || !error["type"].is_string()) {
    error["type"] = rd::type_for_status(status);
  }
  if (!error.contains("param") || !error["param"].is_string()) {
    error["param"] = nullptr;
  }
  if (!error.contains("code")) {
    error["code"] = nullptr;
  }
  return Json{{"error", std::move(error)}};
}

} // namespace ask::proxy
