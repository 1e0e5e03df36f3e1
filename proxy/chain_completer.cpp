#include "proxy/chain_completer.h"

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "proxy/attempt.h"
#include "proxy/fallback.h"
#include "proxy/prepare.h"

namespace ask::proxy {

ChainCompleter::ChainCompleter(const ChatDeps& deps, net::Watch watch, std::string request_id,
                               std::string via)
    : m_deps(deps), m_watch(std::move(watch)), m_id(std::move(request_id)), m_via(std::move(via)) {}

core::Result<core::Completion> ChainCompleter::complete(const core::Json& request) {
  const std::string name = request.value("model", std::string());
  auto chain = config::fallback_chain(m_deps.config, name);
  if (!chain) {
    return core::fail(chain.error());
  }
  std::vector<Attempt> attempts;
  std::vector<std::string> path;
  for (std::size_t i = 0; i < chain->size(); ++i) {
    const config::Model* model = m_deps.config.find_model((*chain)[i]);
    auto up = model != nullptr ? m_deps.upstreams.find(model->backend) : m_deps.upstreams.end();
    if (up == m_deps.upstreams.end()) {
      continue;
    }
    path.push_back(model->name);
    const auto now = m_deps.clock.now();
    CallContext ctx;
    ctx.model = model;
    ctx.timeouts = client_timeouts(model->timeouts, now);
    ctx.watch = m_watch;
    ctx.meta = {m_id, static_cast<long long>(core::unix_seconds(m_deps.clock.wall_now())),
                model->name};
    ctx.via = m_via;
    core::Result<core::Json> reply = core::fail(core::Error::internal("not asked"));
    if (auto down = up->second->unavailable()) {
      reply = core::fail(std::move(*down)); // a peer known to be down: on at once
    } else if (auto permits = acquire_permits(m_deps.limiters, m_deps.metrics, *model,
                                              now + ctx.timeouts.first_byte,
                                              [this] { return net::watch_fired(m_watch); });
               !permits) {
      reply = core::fail(std::move(permits.error()));
    } else {
      m_deps.metrics.upstream_started(model->backend, model->name);
      reply = up->second->chat(prepare_request(request, *model, false), ctx);
      m_deps.metrics.upstream_finished(model->backend, model->name);
    }
    if (reply) {
      auto parsed = core::parse_chat_response(*reply);
      if (parsed) {
        if (auto usage = parsed->usage) {
          m_deps.metrics.tokens(model->name, usage->prompt_tokens, usage->completion_tokens);
        }
        return core::Completion{std::move(*parsed), model->name, path_text(path)};
      }
      reply = core::fail(std::move(parsed.error()));
    }
    core::Error& e = reply.error();
    if (e.kind == core::ErrorKind::cancelled || !falls_back(e)) {
      return core::fail(std::move(e));
    }
    const std::string reason = reason_for(e);
    m_deps.metrics.upstream_error(model->backend, model->name, reason);
    if (i + 1 < chain->size()) {
      m_deps.metrics.fallback(model->name, (*chain)[i + 1], reason);
      spdlog::warn("{} council member {}: {} failed ({}), falling back to {}", m_id, name,
                   model->name, e.message, (*chain)[i + 1]);
    }
    attempts.push_back({model->name, model->backend, reason, std::move(e)});
  }
  ChainFailure failure = chain_failure(attempts);
  return core::fail(
      core::Error::upstream(failure.status, failure.body["error"]["message"].get<std::string>()));
}

} // namespace ask::proxy
