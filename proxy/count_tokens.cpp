#include "proxy/count_tokens.h"

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "core/json_text.h"
#include "proxy/prepare.h"

namespace ask::proxy {

namespace {

void send(net::Exchange& exchange, int status, const core::Json& body, net::Headers headers) {
  std::string text = core::dump_json(body);
  headers.emplace_back("Content-Type", "application/json");
  headers.emplace_back("Content-Length", std::to_string(text.size()));
  if (!exchange.keep_alive_allowed()) {
    headers.emplace_back("Connection", "close");
  }
  exchange.send_response(status, headers, text);
}

} // namespace

long long estimate_prompt_tokens(const core::Json& chat_request) {
  constexpr long long k_per_message = 4; // role markers and separators
  constexpr long long k_per_tool = 10;
  auto quarter = [](std::size_t bytes) { return static_cast<long long>((bytes + 3) / 4); };
  long long n = 3; // the assistant's turn header
  if (auto messages = chat_request.find("messages");
      messages != chat_request.end() && messages->is_array()) {
    for (const core::Json& m : *messages) {
      n += k_per_message;
      auto content = m.find("content");
      if (content == m.end()) {
        continue;
      }
      if (content->is_string()) {
        n += quarter(content->get_ref<const std::string&>().size());
      } else if (content->is_array()) {
        for (const core::Json& part : *content) {
          if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
              part["text"].is_string()) {
            n += quarter(part["text"].get_ref<const std::string&>().size());
          }
        }
      }
      if (auto calls = m.find("tool_calls"); calls != m.end()) {
        n += quarter(core::dump_json(*calls).size());
      }
    }
  }
  if (auto tools = chat_request.find("tools"); tools != chat_request.end() && tools->is_array()) {
    for (const core::Json& tool : *tools) {
      n += k_per_tool + quarter(core::dump_json(tool).size());
    }
  }
  return n;
}

void TokenCounter::handle(const net::HttpRequest& request, net::Exchange& exchange,
                          const Dialect& door) {
  const std::string id = new_request_id();
  auto refuse = [&](int status, const core::Error& error) {
    m_deps.metrics.rejected(status == 404 ? "unknown_model" : "bad_request");
    spdlog::info("{} count_tokens rejected ({}): {}", id, status, error.message);
    send(exchange, status, door.error_body(status, core::to_json(core::error_body_for(error))),
         {{"X-Request-Id", id}});
  };
  auto body = core::parse_json_text(request.body);
  if (!body) {
    refuse(400, core::Error::bad_request("invalid JSON: " + body.error().what));
    return;
  }
  auto chat = door.to_openai_for_count(*body);
  if (!chat) {
    refuse(400, chat.error());
    return;
  }
  const std::string requested = chat->value("model", "");
  auto resolved = m_deps.resolve(requested);
  // A model a peer offers here: counted by estimate (the peer's tokenizer is not asked).
  const auto offered = !resolved && m_deps.peers != nullptr ? m_deps.peers->catalog() : nullptr;
  const config::Model* model = offered ? offered->find(requested) : nullptr;
  if (!resolved && model == nullptr) {
    refuse(404, resolved.error());
    return;
  }
  if (model == nullptr) {
    // A council's answer is the chairman's: its prompt is what must fit.
    auto chain = config::fallback_chain(
        m_deps.config, resolved->council ? resolved->council->chairman : resolved->name);
    model = chain && !chain->empty() ? m_deps.config.find_model(chain->front()) : nullptr;
    if (model == nullptr) {
      refuse(400, chain ? core::Error::bad_request("no model to count for") : chain.error());
      return;
    }
  }
  const core::Json prepared = prepare_request(*chat, *model, false);
  std::optional<long long> counted;
  if (auto up = m_deps.upstreams.find(model->backend); up != m_deps.upstreams.end()) {
    CallContext ctx;
    ctx.model = model;
    ctx.timeouts = client_timeouts(model->timeouts, m_deps.clock.now());
    ctx.watch = exchange.watch();
    ctx.meta = {id, 0, model->name};
    auto n = up->second->count_tokens(prepared, ctx);
    if (n) {
      counted = *n;
    } else {
      spdlog::info("{} count_tokens: {} could not count ({}); estimating", id, model->name,
                   n.error().describe());
    }
  }
  const bool exact = counted.has_value();
  send(exchange, 200, {{"input_tokens", exact ? *counted : estimate_prompt_tokens(prepared)}},
       {{"X-Request-Id", id},
        {"X-Served-By", model->name},
        {"X-Token-Count", exact ? "tokenizer" : "estimate"}});
}

} // namespace ask::proxy
