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
                           bool stream) {
  core::Json body = merge_params(client_request, model.params);
  body["model"] = model.upstream.empty() ? model.name : model.upstream;
  body["stream"] = stream;
  if (!stream) {
    body.erase("stream_options");
  }
  return body;
}

} // namespace ask::proxy
