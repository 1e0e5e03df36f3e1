#pragma once
// What net/http_server.cpp and net/exchange.cpp share, and nothing else does.

#include <string_view>

namespace ask::net::detail {

// The interim answer to Expect: 100-continue, and the probe of a half-closed client.
inline constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";

// Writes all of `bytes` (no SIGPIPE); false when the peer is gone.
bool send_all(int fd, std::string_view bytes);

} // namespace ask::net::detail
