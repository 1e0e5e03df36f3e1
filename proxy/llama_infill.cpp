#include "proxy/llama_infill.h"

#include <algorithm>
#include <array>
#include <deque>
#include <limits>
#include <utility>

#include "core/sse.h"
#include "proxy/ollama_generate.h"

namespace ask::proxy {

namespace infill_detail {

namespace {

using core::Json;
using core::Result;

constexpr std::string_view k_infill_reply = "llama-server /infill reply";
constexpr std::string_view k_infill_event = "llama-server /infill stream event";
// Largest token count read, so that prompt + completion cannot overflow.
constexpr long long k_max_tokens = std::numeric_limits<long long>::max() / 4;

// OpenAI fields /infill has no use for, or reads otherwise ("prompt" is the start of the
// middle there), and the ones translated by name.
constexpr std::array<std::string_view, 11> k_not_sent = {
    "prompt",   "suffix",         "max_tokens", "n",    "best_of", "echo",
    "logprobs", "stream_options", "user",       "stop", "stream"};

core::Error bad_reply(std::string_view what, std::string_view reason) {
  return core::Error::malformed_reply(std::string(what) + ": " + std::string(reason));
}

// {"error": ...}: upstream_status with llama-server's message and code (502 unless 4xx/5xx).
std::optional<core::Error> error_object(const Json& body, std::string_view what) {
  const auto it = body.find("error");
  if (it == body.end() || it->is_null()) {
    return std::nullopt;
  }
  auto err = core::parse_error_body(body);
  if (!err) {
    return bad_reply(what, "an error that is not an error object");
  }
  int status = 502;
  if (err->code.is_number_integer()) {
    const auto code = err->code.get<long long>();
    if (code >= 400 && code <= 599) {
      status = static_cast<int>(code);
    }
  }
  return core::Error::upstream(status, "llama-server sent an error: " + err->message);
}

// A token count: absent or null is 0.
Result<long long> count(const Json& body, const char* key, std::string_view what) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    return 0LL;
  }
  long long n = -1;
  if (it->is_number_unsigned()) {
    const auto u = it->get<unsigned long long>();
    n = u > static_cast<unsigned long long>(k_max_tokens) ? -1 : static_cast<long long>(u);
  } else if (it->is_number_integer()) {
    n = it->get<long long>();
  }
  if (n < 0 || n > k_max_tokens) {
    return core::fail(bad_reply(what, std::string(key) + ": expected a token count"));
  }
  return n;
}

struct Native {
  std::string content;
  bool stop = false;
  std::string finish; // when stop
  core::Usage usage;  // when stop
};

// One native object (a whole reply or a stream event).
Result<Native> read_native(const Json& body, std::string_view what) {
  if (!body.is_object()) {
    return core::fail(bad_reply(what, "not an object"));
  }
  if (auto e = error_object(body, what)) {
    return core::fail(std::move(*e));
  }
  Native out;
  if (const auto c = body.find("content"); c != body.end() && !c->is_null()) {
    if (!c->is_string()) {
      return core::fail(bad_reply(what, "content is not a string"));
    }
    out.content = c->get<std::string>();
  }
  const auto stop = body.find("stop");
  if (stop != body.end() && !stop->is_boolean()) {
    return core::fail(bad_reply(what, "stop is not a boolean"));
  }
  out.stop = stop != body.end() && stop->get<bool>();
  if (!out.stop) {
    return out;
  }
  const auto type = body.find("stop_type");
  if (type != body.end() && !type->is_null() && !type->is_string()) {
    return core::fail(bad_reply(what, "stop_type is not a string"));
  }
  // "limit": n_predict ran out; "eos" and "word" (a stop string) are a natural stop.
  out.finish = type != body.end() && *type == "limit" ? "length" : "stop";
  auto prompt = count(body, "tokens_evaluated", what);
  if (!prompt) {
    return core::fail(std::move(prompt.error()));
  }
  auto completion = count(body, "tokens_predicted", what);
  if (!completion) {
    return core::fail(std::move(completion.error()));
  }
  out.usage.prompt_tokens = *prompt;
  out.usage.completion_tokens = *completion;
  out.usage.total_tokens = *prompt + *completion;
  return out;
}

// SSE from /infill: each event one native object; the stop one ends it (no [DONE]).
class InfillChunkStream final : public ChunkStream {
public:
  InfillChunkStream(net::ResponseStream response, const CallContext& ctx, std::string backend)
      : m_response(std::move(response)), m_translator(ctx.meta, ctx.client_wants_usage),
        m_backend(std::move(backend)) {}

  core::Result<std::optional<core::Json>> next() override {
    for (;;) {
      if (!m_chunks.empty()) {
        core::Json chunk = std::move(m_chunks.front());
        m_chunks.pop_front();
        return std::optional<core::Json>(std::move(chunk));
      }
      if (m_translator.done()) {
        return std::optional<core::Json>();
      }
      if (!m_events.empty()) {
        core::SseEvent event = std::move(m_events.front());
        m_events.pop_front();
        auto body = parse_backend_json(event.data, m_backend + " stream event");
        if (!body) {
          return core::fail(std::move(body.error()));
        }
        auto chunks = m_translator.translate(*body);
        if (!chunks) {
          return core::fail(std::move(chunks.error()));
        }
        for (auto& c : *chunks) {
          m_chunks.push_back(std::move(c));
        }
        continue;
      }
      m_buffer.clear();
      auto more = m_response.read(m_buffer);
      if (!more) {
        return core::fail(std::move(more.error()));
      }
      if (!*more) {
        m_parser.finish();
        return core::fail(
            core::Error::connect(m_backend + " ended the /infill stream before its stop event"));
      }
      m_parsed.clear();
      m_parser.feed(m_buffer, m_parsed);
      if (m_parser.failed()) {
        return core::fail(core::Error::malformed_reply(m_backend + ": " + m_parser.error()));
      }
      for (auto& e : m_parsed) {
        m_events.push_back(std::move(e));
      }
    }
  }

  // Read to its stop event: take in the rest of the body so the connection can be reused;
  // given up early: closed, which is how llama-server learns that nobody is listening.
  ~InfillChunkStream() override {
    if (m_translator.done()) {
      m_response.finish(k_finish_grace);
    }
  }

  std::optional<core::Usage> usage() const override {
    if (!m_translator.done()) {
      return std::nullopt;
    }
    return m_translator.usage();
  }

private:
  net::ResponseStream m_response;
  InfillStreamTranslator m_translator;
  std::string m_backend;
  core::SseParser m_parser;
  std::vector<core::SseEvent> m_parsed;
  std::deque<core::SseEvent> m_events;
  std::deque<core::Json> m_chunks;
  std::string m_buffer;
};

} // namespace

} // namespace infill_detail

core::Result<core::Json> llama_infill_request(const core::Json& openai_request, bool stream) {
  auto prefix = completion_prompt_text(openai_request);
  if (!prefix) {
    return core::fail(
        core::Error::bad_request("prompt: fill-in-the-middle takes a text prompt, not token ids"));
  }
  if (auto lp = openai_request.find("logprobs");
      lp != openai_request.end() && !lp->is_null() && *lp != 0) {
    return core::fail(core::Error::bad_request(
        "logprobs: not available with a suffix on a managed llama-server (its /infill)"));
  }
  core::Json out = core::Json::object();
  for (const auto& [key, value] : openai_request.items()) {
    if (std::find(infill_detail::k_not_sent.begin(), infill_detail::k_not_sent.end(), key) ==
        infill_detail::k_not_sent.end()) {
      out[key] = value;
    }
  }
  out["input_prefix"] = std::move(*prefix);
  out["input_suffix"] = completion_suffix(openai_request).value_or("");
  if (auto max = openai_request.find("max_tokens");
      max != openai_request.end() && !max->is_null()) {
    out["n_predict"] = *max;
  }
  if (auto stop = openai_request.find("stop"); stop != openai_request.end() && !stop->is_null()) {
    out["stop"] = stop->is_string() ? core::Json::array({*stop}) : *stop;
  }
  out["stream"] = stream;
  return out;
}

core::Result<core::Json> completion_from_infill(const core::Json& reply, const ReplyMeta& meta) {
  auto native = infill_detail::read_native(reply, infill_detail::k_infill_reply);
  if (!native) {
    return core::fail(std::move(native.error()));
  }
  if (!native->stop) {
    // A whole reply is always the final one; without stop it is not one llama-server sends.
    return core::fail(infill_detail::bad_reply(infill_detail::k_infill_reply, "stop is not true"));
  }
  core::Json out = text_completion(meta, std::move(native->content), native->finish);
  out["usage"] = core::to_json(native->usage);
  return out;
}

InfillStreamTranslator::InfillStreamTranslator(ReplyMeta meta, bool include_usage)
    : m_meta(std::move(meta)), m_include_usage(include_usage) {}

core::Result<std::vector<core::Json>> InfillStreamTranslator::translate(const core::Json& event) {
  if (m_done) {
    return core::fail(
        infill_detail::bad_reply(infill_detail::k_infill_event, "an event after the stop event"));
  }
  auto native = infill_detail::read_native(event, infill_detail::k_infill_event);
  if (!native) {
    return core::fail(std::move(native.error()));
  }
  std::vector<core::Json> out;
  if (!native->stop) {
    if (!native->content.empty()) {
      out.push_back(text_completion(m_meta, std::move(native->content), ""));
    }
    return out;
  }
  out.push_back(text_completion(m_meta, std::move(native->content), native->finish));
  m_usage = native->usage;
  m_done = true;
  if (m_include_usage) {
    core::Json last = text_completion(m_meta, "", "");
    last["choices"] = core::Json::array();
    last["usage"] = core::to_json(m_usage);
    out.push_back(std::move(last));
  }
  return out;
}

core::Result<core::Json> infill_with(BackendHttp& http, const core::Json& request,
                                     const CallContext& ctx) {
  auto body = llama_infill_request(request, false);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  auto reply = http.post_for_json("/infill", *body, ctx, "/infill reply");
  if (!reply) {
    return core::fail(std::move(reply.error()));
  }
  return completion_from_infill(*reply, ctx.meta);
}

core::Result<std::unique_ptr<ChunkStream>>
infill_stream_with(BackendHttp& http, const core::Json& request, const CallContext& ctx) {
  auto body = llama_infill_request(request, true);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  auto response = http.post_json("/infill", *body, true, ctx);
  if (!response) {
    return core::fail(std::move(response.error()));
  }
  return std::unique_ptr<ChunkStream>(
      std::make_unique<infill_detail::InfillChunkStream>(std::move(*response), ctx, http.name()));
}

} // namespace ask::proxy
