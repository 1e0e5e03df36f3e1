// GET /api/events: the router's state changes as a server-sent event stream, for the web UI
// and for scripts (`curl -N`). docs/proxy.md describes the format.
//
//   event: status            the whole /api/status, first (and again after a gap)
//   id: 41
//   data: {"managed":true,"gpus":[…],"instances":[…],…,"last_event":41}
//
//   event: load              then one event per change, in order, with its sequence number
//   id: 42
//   data: {"model":"coder-30b","instance":7,"detail":"request; on gpu0 17.2 GiB","time":…}
//
// A reader that reconnects with Last-Event-ID (as EventSource does) gets the events it missed
// when the router still holds them, else a fresh status. A comment line goes out every 15 s
// of silence so proxies and clients keep the connection.

#include <charconv>

#include <spdlog/spdlog.h>

#include "core/json_text.h"
#include "core/sse.h"
#include "core/url.h"
#include "proxy/server.h"

namespace ask::proxy {

namespace {

constexpr auto k_keep_alive = std::chrono::seconds(15);
// How often the stream looks for a client that went away or a server that stops.
constexpr auto k_check = std::chrono::milliseconds(500);

std::string sse(std::string_view kind, std::uint64_t id, const core::Json& data) {
  return core::encode_sse(core::dump_json(data), kind, std::to_string(id));
}

// The Last-Event-ID header, or ?after=N; nullopt when neither is a number.
std::optional<std::uint64_t> resume_point(const net::HttpRequest& request) {
  std::string_view text;
  if (auto h = request.header("Last-Event-ID")) {
    text = *h;
  } else if (auto after = core::query_param(request.query, "after")) {
    text = *after;
  }
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return n;
}

} // namespace

void ProxyServer::events(const net::HttpRequest& request, net::Exchange& exchange) {
  core::Json status = status_json();
  net::Headers h = {{"Content-Type", "text/event-stream"},
                    {"Cache-Control", "no-cache"},
                    {"X-Accel-Buffering", "no"},
                    {"Transfer-Encoding", "chunked"}};
  if (!exchange.begin_chunked(200, h)) {
    return;
  }
  const std::uint64_t newest = status.value("last_event", std::uint64_t{0});
  std::uint64_t after = resume_point(request).value_or(newest);
  if (after > newest) { // a Last-Event-ID from before askd restarted
    after = newest;
  }
  bool need_status = after == newest; // a resumed reader already has a status
  auto last_write = std::chrono::steady_clock::now();
  while (!exchange.stopping() && !exchange.client_gone()) {
    if (need_status) {
      status = status_json();
      after = status.value("last_event", after);
      if (!exchange.send_chunk(sse("status", after, status))) {
        break;
      }
      need_status = false;
      last_write = std::chrono::steady_clock::now();
    }
    EventLog::Events got = m_router.events().after(after, std::chrono::steady_clock::now() + k_check);
    if (!got.resumed) {
      need_status = true; // events were lost: start again from a whole status
      continue;
    }
    std::string out;
    for (const RouterEvent& e : got.events) {
      out += sse(e.kind, e.seq, e.data);
      after = e.seq;
    }
    const auto now = std::chrono::steady_clock::now();
    if (out.empty() && now - last_write >= k_keep_alive) {
      out = core::encode_sse_comment("keep-alive");
    }
    if (!out.empty()) {
      if (!exchange.send_chunk(out)) {
        break;
      }
      last_write = now;
    }
  }
  exchange.end_chunked();
}

} // namespace ask::proxy
