#pragma once
// llm-sim speaks HTTP through the shared server in net/; these names let the simulator's
// code say Exchange and HttpRequest as it always has.

#include "net/http_request.h"
#include "net/http_server.h"

namespace ask::sim {

using net::Exchange;
using net::Handler;
using net::Header;
using net::Headers;
using net::HttpRequest;
using net::HttpServer;
using net::iequals;
using net::reason_phrase;
using net::RequestLimits;
using net::RequestParser;
using net::ServerOptions;
using net::WaitResult;

} // namespace ask::sim
