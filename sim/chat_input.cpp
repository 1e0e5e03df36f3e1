#include "sim/chat_input.h"

namespace ask::sim {

std::string string_field(const nlohmann::json& obj, const char* key) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_string()) {
    return obj[key].get<std::string>();
  }
  return {};
}

bool flag_field(const nlohmann::json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_boolean() && obj[key].get<bool>();
}

std::string content_text(const nlohmann::json& content) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (string_field(part, "type") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        out += out.empty() ? "" : "\n";
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

ChatInput read_chat_input(const nlohmann::json& messages, const nlohmann::json& tools) {
  ChatInput in;
  for (const auto& m : messages) {
    if (!m.is_object()) {
      continue;
    }
    ChatTurn turn;
    turn.role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
    turn.text = m.contains("content") ? content_text(m["content"]) : "";
    in.messages.push_back(std::move(turn));
  }
  for (auto it = in.messages.rbegin(); it != in.messages.rend(); ++it) {
    if (it->role == "user") {
      DirectiveSplit split = extract_directives(it->text);
      it->text = std::move(split.text);
      in.directive = std::move(split.spec);
      break;
    }
  }
  if (tools.is_array()) {
    for (const auto& t : tools) {
      const nlohmann::json& f = t.is_object() && t.contains("function") ? t["function"] : t;
      if (f.is_object() && f.contains("name") && f["name"].is_string()) {
        in.tools.push_back(
            ToolDef{f["name"].get<std::string>(), f.value("parameters", nlohmann::json())});
      }
    }
  }
  return in;
}

core::Result<FaultSpec> request_faults(const FaultSpec& process,
                                       const std::optional<std::string>& directive,
                                       const HttpRequest& request) {
  FaultSpec spec = process;
  if (directive) {
    auto d = parse_fault_spec(*directive);
    if (!d) {
      return core::fail(core::Error::bad_request("llm-sim directive: " + d.error().message));
    }
    spec.merge(*d);
  }
  if (auto header = request.header("X-Sim-Fault")) {
    auto h = parse_fault_spec(*header);
    if (!h) {
      return core::fail(core::Error::bad_request("X-Sim-Fault: " + h.error().message));
    }
    spec.merge(*h);
  }
  return spec;
}

std::vector<std::string> fault_names(const FaultSpec& s) {
  std::vector<std::string> out;
  auto add = [&](bool on, const char* name) {
    if (on) {
      out.emplace_back(name);
    }
  };
  add(s.ttft.has_value(), "ttft");
  add(s.status.has_value(), "status");
  add(s.close_before_headers, "close_before_headers");
  add(s.reset, "reset");
  add(s.drop_after.has_value(), "drop_after");
  add(s.hang, "hang");
  add(s.hang_after.has_value(), "hang_after");
  add(s.crash || s.crash_after.has_value(), "crash");
  add(s.repeat.has_value(), "repeat");
  add(s.tokens.has_value(), "tokens");
  add(s.tps.has_value(), "tps");
  add(s.think, "think");
  add(s.tool.has_value(), "tool");
  return out;
}

} // namespace ask::sim
