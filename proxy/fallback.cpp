#include "proxy/fallback.h"

namespace ask::proxy {

bool falls_back(const core::Error& error) {
  switch (error.kind) {
  case core::ErrorKind::connect:
  case core::ErrorKind::timeout:
  case core::ErrorKind::overloaded:
    return true;
  case core::ErrorKind::upstream_status: {
    const int s = error.http_status;
    return s >= 500 || s == 429 || s == 408 || s == 401 || s == 403 || s == 404 || s < 400;
  }
  case core::ErrorKind::bad_request:
  case core::ErrorKind::not_found:
  case core::ErrorKind::internal:
  case core::ErrorKind::cancelled:
    return false;
  }
  return false;
}

std::string reason_for(const core::Error& error) {
  if (error.kind == core::ErrorKind::upstream_status) {
    return "status_" + std::to_string(error.http_status);
  }
  return std::string(core::to_string(error.kind));
}

ChainFailure chain_failure(const std::vector<Attempt>& attempts) {
  ChainFailure out;
  bool all_capacity = !attempts.empty();                           // full queues
  bool all_unavailable = !attempts.empty();                        // overloaded, any way
  std::string message = "every model in the chain failed:";
  core::Json list = core::Json::array();
  for (const Attempt& a : attempts) {
    all_capacity = all_capacity && a.reason == "queue_full";
    all_unavailable = all_unavailable && a.error.kind == core::ErrorKind::overloaded;
    if (const int s = a.error.retry_after_s;
        s > 0 && (out.retry_after_s == 0 || s < out.retry_after_s)) {
      out.retry_after_s = s;
    }
    message += " " + a.model + " (" + a.reason + ": " + a.error.message + ");";
    list.push_back({{"model", a.model},
                    {"backend", a.backend},
                    {"reason", a.reason},
                    {"message", a.error.message}});
  }
  if (!attempts.empty()) {
    message.pop_back();
  }
  out.status = all_capacity ? 429 : all_unavailable ? 503 : 502;
  if (out.status != 503) {
    out.retry_after_s = 0;
  }
  out.body = {{"error",
               {{"message", message},
                {"type", all_capacity ? "rate_limit_error" : "server_error"},
                {"code", all_capacity      ? "overloaded"
                         : all_unavailable ? "unavailable"
                                           : "all_models_failed"},
                {"attempts", list}}}};
  return out;
}

std::string path_text(const std::vector<std::string>& path) {
  std::string out;
  for (const std::string& m : path) {
    if (!out.empty()) {
      out += '>';
    }
    out += m;
  }
  return out;
}

} // namespace ask::proxy
