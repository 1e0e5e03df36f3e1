// ErrorBody and the errors of backend replies: parse_error_body, error_body_for, and the
// checks every reply parser runs first (nesting depth, an error sent in-band). See
// core/openai.h.
#include "core/excerpt.h"
#include "core/json_text.h"
#include "core/openai.h"
#include "core/openai_detail.h"

namespace ask::core {

namespace {

// Longest backend error message passed on; the rest is cut (at a code-point boundary).
constexpr std::size_t k_backend_message_limit = 4096;

Result<ErrorBody> parse_error_object(const Json& e) {
  const auto bad = [](const std::string& what) {
    return fail(detail::reply_error("error body", what));
  };
  ErrorBody out;
  for (const auto& [key, v] : e.items()) {
    if ((key == "message" || key == "type") && v.is_string()) {
      (key == "message" ? out.message : out.type) = v.get<std::string>();
    } else if (key == "param" && v.is_string()) {
      out.param = v.get<std::string>();
    } else if (key == "code") {
      out.code = v;
    } else if (key == "message" || key == "type" || key == "param") {
      if (!v.is_null()) {
        return bad("error." + key + ": expected a string, got " +
                   std::string(detail::json_kind(v)));
      }
    } else {
      out.extra[key] = v;
    }
  }
  return out;
}

} // namespace

namespace detail {

Error reply_error(std::string_view what, std::string_view reason) {
  std::string msg = "invalid ";
  msg += what;
  msg += ": ";
  msg += reason;
  return Error::malformed_reply(std::move(msg));
}

Result<Json> parse_reply_text(std::string_view text, std::string_view what) {
  auto parsed = parse_json_text(text);
  if (!parsed) {
    const auto& e = parsed.error();
    return fail(reply_error(what, e.too_deep ? e.what : "not valid JSON: " + e.what));
  }
  return std::move(*parsed);
}

std::optional<Error> check_reply_depth(const Json& body, std::string_view what) {
  if (deeper_than(body, k_max_json_depth)) {
    return reply_error(what,
                       "JSON nested deeper than " + std::to_string(k_max_json_depth) + " levels");
  }
  return std::nullopt;
}

std::optional<Error> in_band_error(const Json& body, std::string_view what) {
  const auto it = body.find("error");
  const auto choices = body.find("choices");
  if (it == body.end() || it->is_null() || (choices != body.end() && !choices->is_null())) {
    return std::nullopt;
  }
  const auto err = parse_error_body(body);
  if (!err) {
    return reply_error(what, "an \"error\" field that is not an error body (" +
                                 err.error().message + ")");
  }
  int status = Error::k_malformed_reply_status;
  if (err->code.is_number_integer()) {
    const auto code = err->code.get<long long>(); // a huge unsigned one wraps out of range
    status = code >= 400 && code <= 599 ? static_cast<int>(code) : status;
  }
  std::string message = err->message.empty()
                            ? "the backend sent an error without a message"
                            : printable_excerpt(without_input_quote(err->message), k_backend_message_limit);
  return Error::upstream(status, std::move(message));
}

} // namespace detail

Json to_json(const ErrorBody& err) {
  Json inner = err.extra.is_object() ? err.extra : Json::object();
  inner["message"] = err.message;
  inner["type"] = err.type;
  inner["param"] = err.param ? Json(*err.param) : Json(nullptr);
  inner["code"] = err.code;
  return Json{{"error", std::move(inner)}};
}

Result<ErrorBody> parse_error_body(const Json& body) {
  if (auto deep = detail::check_reply_depth(body, "error body")) {
    return fail(std::move(*deep));
  }
  if (!body.is_object() || !body.contains("error")) {
    return fail(detail::reply_error("error body", "expected an object with an \"error\" field"));
  }
  const Json& e = body.at("error");
  if (e.is_string()) {
    ErrorBody out;
    out.message = e.get<std::string>(); // Ollama's native {"error":"..."}
    return out;
  }
  if (!e.is_object()) {
    return fail(detail::reply_error("error body", "error: expected an object or a string"));
  }
  return parse_error_object(e);
}

Result<ErrorBody> parse_error_body(std::string_view body) {
  auto parsed = detail::parse_reply_text(body, "error body");
  if (!parsed) {
    return fail(parsed.error());
  }
  return parse_error_body(*parsed);
}

ErrorBody error_body_for(const Error& e) {
  ErrorBody out;
  // Messages quote input; one built from bytes that are not UTF-8 would make dump() throw.
  out.message = detail::is_valid_utf8(e.message)
                    ? e.message
                    : detail::printable_excerpt(e.message, e.message.size());
  out.type = std::string(e.openai_type());
  out.code = std::string(to_string(e.kind));
  return out;
}

} // namespace ask::core
