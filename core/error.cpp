#include "core/error.h"

namespace ask::core {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::connect:
    return "connect";
  case ErrorKind::timeout:
    return "timeout";
  case ErrorKind::upstream_status:
    return "upstream_status";
  case ErrorKind::overloaded:
    return "overloaded";
  case ErrorKind::bad_request:
    return "bad_request";
  case ErrorKind::context_exceeded:
    return "context_exceeded";
  case ErrorKind::not_found:
    return "not_found";
  case ErrorKind::internal:
    return "internal";
  case ErrorKind::cancelled:
    return "cancelled";
  }
  return "internal"; // an out-of-range value cast into the enum
}

namespace {

constexpr int k_client_closed_request = 499;

bool is_client_error(int status) {
  return status >= 400 && status <= 499;
}

} // namespace

int Error::status_for_client() const {
  switch (kind) {
  case ErrorKind::bad_request:
  case ErrorKind::context_exceeded:
    return 400;
  case ErrorKind::not_found:
    return 404;
  case ErrorKind::overloaded:
    return 429;
  case ErrorKind::timeout:
    return 504;
  case ErrorKind::upstream_status:
    return is_client_error(http_status) ? http_status : 502;
  case ErrorKind::connect:
    return 502;
  case ErrorKind::internal:
    return 500;
  case ErrorKind::cancelled:
    return k_client_closed_request;
  }
  return 500;
}

std::string_view Error::openai_type() const {
  switch (kind) {
  case ErrorKind::bad_request:
  case ErrorKind::context_exceeded:
    return "invalid_request_error";
  case ErrorKind::not_found:
    return "not_found_error";
  case ErrorKind::overloaded:
    return "rate_limit_error";
  case ErrorKind::timeout:
    return "timeout_error";
  case ErrorKind::upstream_status:
    if (http_status == 404) {
      return "not_found_error";
    }
    if (http_status == 429) {
      return "rate_limit_error";
    }
    return is_client_error(http_status) ? "invalid_request_error" : "server_error";
  case ErrorKind::connect:
  case ErrorKind::internal:
  case ErrorKind::cancelled:
    return "server_error";
  }
  return "server_error";
}

std::string Error::describe() const {
  std::string out(to_string(kind));
  if (kind == ErrorKind::upstream_status && http_status != 0) {
    out += " (HTTP " + std::to_string(http_status) + ")";
  }
  out += ": ";
  out += message;
  return out;
}

} // namespace ask::core
