#include "proxy/prepare.h"

namespace ask::proxy {

core::Json merge_params(core::Json request, const core::Json& params) {
  if (!params.is_object() || !request.is_object()) {
    return request;
  }
  for (const auto& [key, value] : params.items()) {
    auto it = request.find(key);
    if (it == request.end() || it->is_null()) {
      request[key] = value;
      continue;
    }
    if (it->is_object() && value.is_object()) {
      for (const auto& [inner_key, inner_value] : value.items()) {
        auto inner = it->find(inner_key);
        if (inner == it->end() || inner->is_null()) {
          (*it)[inner_key] = inner_value;
        }
      }
    }
  }
  return request;
}

core::Json prepare_request(const core::Json& client_request, const config::Model& model,
                           bool stream, Operation op) {
  const bool generates = operation_streams(op);
  core::Json body = generates ? merge_params(client_request, model.params) : client_request;
  body["model"] = model.upstream.empty() ? model.name : model.upstream;
  if (generates) {
    body["stream"] = stream;
  }
  if (!stream) {
    body.erase("stream_options");
  }
  return body;
}

std::optional<std::string> missing_capability(const config::Model& model, Operation op,
                                              bool fill_in_middle) {
  if (model.capabilities.empty()) {
    return std::nullopt;
  }
  std::string_view needed = "completion";
  if (op == Operation::embedding) {
    needed = "embedding";
  } else if (op == Operation::rerank) {
    needed = "rerank";
  } else if (op == Operation::completion && fill_in_middle && model.has_capability("completion")) {
    needed = "insert";
  }
  if (model.has_capability(needed)) {
    return std::nullopt;
  }
  return std::string(needed);
}

} // namespace ask::proxy
