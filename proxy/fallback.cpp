#include "proxy/fallback.h"

#include <algorithm>
#include <cstdio>

namespace ask::proxy {

bool falls_back(const core::Error& error) {
  switch (error.kind) {
  case core::ErrorKind::connect:
  case core::ErrorKind::timeout:
  case core::ErrorKind::overloaded:
  case core::ErrorKind::context_exceeded: // a model with a larger window may take it
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
  // Ollama's 404 for a model it does not have ("model 'qwen3.5:9b' not found"): said apart
  // from other 404s, because the remedy is `ollama pull`, and ask says "not pulled".
  const std::string& m = error.message;
  if (error.kind == core::ErrorKind::upstream_status && error.http_status == 404 &&
      (m.find("model '") != std::string::npos || m.find("model \"") != std::string::npos) &&
      m.find(" not found") != std::string::npos) {
    return "not_pulled";
  }
  if (error.kind == core::ErrorKind::upstream_status && error.http_status == 508) {
    return "loop"; // another askd saw this request come back (proxy/peers.h)
  }
  if (error.kind == core::ErrorKind::upstream_status) {
    return "status_" + std::to_string(error.http_status);
  }
  if (error.kind == core::ErrorKind::context_exceeded) {
    return "context";
  }
  return std::string(core::to_string(error.kind));
}

namespace {

// The 400 when the prompt fits no model of the chain: how many tokens, and each window.
ChainFailure too_long(const std::vector<Attempt>& attempts) {
  long long prompt = 0;
  bool estimated_only = true;
  std::string windows;
  core::Json list = core::Json::array();
  for (const Attempt& a : attempts) {
    const core::ContextSize& size = a.error.context_size;
    if (a.error.kind == core::ErrorKind::context_exceeded) {
      // The tokenizer's count wins over an estimate; the largest of several counts (models
      // tokenize differently) is the one that fits nowhere.
      if (!size.estimated && estimated_only) {
        prompt = size.prompt_tokens;
        estimated_only = false;
      } else if (size.estimated == estimated_only) {
        prompt = std::max(prompt, size.prompt_tokens);
      }
      windows += (windows.empty() ? "" : ", ") + a.model + " " +
                 (size.context > 0 ? std::to_string(size.context) : std::string("?")) +
                 (size.estimated ? " (estimated count)" : "");
    }
    core::Json entry = {{"model", a.model}, {"reason", a.reason}, {"message", a.error.message}};
    if (size.context > 0) {
      entry["context_length"] = size.context;
      entry["prompt_tokens"] = size.prompt_tokens;
      entry["estimated"] = size.estimated;
    }
    list.push_back(std::move(entry));
  }
  ChainFailure out;
  out.status = 400;
  std::string message =
      "the prompt (" + std::string(estimated_only ? "about " : "") + std::to_string(prompt) +
      " tokens) does not fit the context window of any model in the chain: " + windows + " tokens";
  out.body = {{"error",
               {{"message", std::move(message)},
                {"type", "invalid_request_error"},
                {"code", "context_length_exceeded"},
                {"prompt_tokens", prompt},
                {"attempts", std::move(list)}}}};
  return out;
}

} // namespace

ChainFailure chain_failure(const std::vector<Attempt>& attempts) {
  // Too long for every model that could take it at all: the client's to shorten.
  const bool context_only =
      std::ranges::any_of(attempts, [](const Attempt& a) { return a.reason == "context"; }) &&
      std::ranges::all_of(attempts, [](const Attempt& a) {
        return a.reason == "context" || a.reason == "capability";
      });
  if (context_only) {
    return too_long(attempts);
  }
  ChainFailure out;
  bool all_capacity = !attempts.empty();    // full queues
  bool all_unavailable = !attempts.empty(); // overloaded, any way
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

std::string reasons_text(const std::vector<Attempt>& attempts) {
  std::string out;
  for (const Attempt& a : attempts) {
    if (!out.empty()) {
      out += ',';
    }
    out += a.model;
    out += '=';
    out += a.reason;
  }
  return out;
}

namespace {
void add_timing(std::string& out, std::string_view name, std::string_view desc, double seconds) {
  if (!out.empty()) {
    out += ", ";
  }
  out += name;
  if (!desc.empty()) {
    out += ";desc=\"";
    for (const char c : desc) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  char dur[32];
  std::snprintf(dur, sizeof dur, ";dur=%.1f", seconds * 1000.0);
  out += dur;
}
} // namespace

std::string server_timing_text(const Timings& t) {
  std::string out;
  if (t.failed) {
    for (const Attempt& a : *t.failed) {
      add_timing(out, "attempt", a.model, a.seconds);
    }
  }
  if (t.served) {
    add_timing(out, "served", t.served->first, t.served->second);
  }
  if (t.queue_s > 0) {
    add_timing(out, "queue", "", t.queue_s);
  }
  if (t.load_s > 0) {
    add_timing(out, "load", "", t.load_s);
  }
  return out;
}

} // namespace ask::proxy
