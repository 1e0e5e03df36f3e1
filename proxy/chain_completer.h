#pragma once
// ChainCompleter: core::Completer over askd's own fallback machinery, for the council's
// members. Each call walks its model's fallback chain like a client request would (limits,
// default params, the fallback rules, metrics), but answers whole and to the caller instead
// of to a client connection; the askd client's socket is still watched, so a client that
// leaves cancels every member at once.

#include <string>

#include "core/completer.h"
#include "net/http_client.h"
#include "proxy/chat.h"

namespace ask::proxy {

class ChainCompleter final : public core::Completer {
public:
  // `deps` must outlive the completer; `request_id` names the council's request in logs;
  // `via`: the askds the request went through, this one last (X-Ask-Via).
  ChainCompleter(const ChatDeps& deps, net::Watch watch, std::string request_id, std::string via);

  // Thread-safe. Errors: cancelled (the client left), a not-falling-back error of one model
  // (the request's own fault), or upstream_status 502 naming each failed model.
  core::Result<core::Completion> complete(const core::Json& request) override;

private:
  const ChatDeps& m_deps;
  net::Watch m_watch;
  std::string m_id;
  std::string m_via;
};

} // namespace ask::proxy
