#include "proxy/model_facts.h"

namespace ask::proxy {

namespace {

std::optional<std::int64_t> positive_integer(const core::Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) {
    return std::nullopt;
  }
  const auto value = it->get<std::int64_t>();
  return value > 0 ? std::optional<std::int64_t>(value) : std::nullopt;
}

bool flag(const core::Json& object, std::string_view section, std::string_view key) {
  auto s = object.find(section);
  if (s == object.end() || !s->is_object()) {
    return false;
  }
  auto it = s->find(key);
  return it != s->end() && it->is_boolean() && it->get<bool>();
}

} // namespace

core::Result<ModelFacts> facts_from_props(const core::Json& props) {
  if (!props.is_object()) {
    return core::fail(core::Error::malformed_reply("/props reply is not an object"));
  }
  ModelFacts out;
  if (auto settings = props.find("default_generation_settings");
      settings != props.end() && settings->is_object()) {
    out.context_length = positive_integer(*settings, "n_ctx");
  }
  out.capabilities.emplace_back("completion");
  if (flag(props, "modalities", "vision")) {
    out.capabilities.emplace_back("vision");
  }
  if (flag(props, "chat_template_caps", "supports_tools")) {
    out.capabilities.emplace_back("tools");
  }
  return out;
}

core::Result<ModelFacts> facts_from_ollama_show(const core::Json& show) {
  if (!show.is_object()) {
    return core::fail(core::Error::malformed_reply("/api/show reply is not an object"));
  }
  ModelFacts out;
  if (auto caps = show.find("capabilities"); caps != show.end() && caps->is_array()) {
    for (const core::Json& c : *caps) {
      if (c.is_string() && !c.get_ref<const std::string&>().empty()) {
        out.capabilities.push_back(c.get<std::string>());
      }
    }
  }
  if (auto info = show.find("model_info"); info != show.end() && info->is_object()) {
    if (auto arch = info->find("general.architecture"); arch != info->end() && arch->is_string()) {
      out.context_length = positive_integer(*info, arch->get<std::string>() + ".context_length");
    }
  }
  return out;
}

} // namespace ask::proxy
