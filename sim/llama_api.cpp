#include "sim/llama_api.h"

#include <algorithm>
#include <chrono>
#include <expected>
#include <type_traits>

#include "core/json_text.h"
#include "core/sse.h"
#include "sim/chat_input.h"
#include "sim/embedding.h"
#include "sim/llama_messages.h"
#include "sim/llama_requests.h"
#include "sim/stream.h"

namespace ask::sim {

namespace {

using llama::ErrorReply;
using llama::OJson;
using llama::parse_body;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct ChatPlan {
  bool stream = false;
  bool include_usage = false;
  ChatInput input;
  GenerationRequest gen;
  OJson params = OJson::object(); // the request's settings as /slots shows them
};

std::unexpected<ErrorReply> invalid(std::string message) {
  return std::unexpected(
      ErrorReply{400, std::move(message), "invalid_request_error", OJson::object()});
}

// A number field read like llama-server: a wrong type is an error quoting nlohmann's text.
template <class T>
std::expected<std::optional<T>, ErrorReply> number_field(const Json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) {
    return std::optional<T>();
  }
  try {
    const double value = body[key].get<double>(); // throws type_error.302 with the type's name
    if (std::is_integral_v<T> && !(value >= -9e18 && value <= 9e18)) {
      return invalid(std::string("Field '") + key + "': value out of range");
    }
    return std::optional<T>(body[key].get<T>());
  } catch (const Json::exception& e) {
    return invalid(std::string("Field '") + key + "': " + e.what());
  }
}

bool wants_reasoning(const Json& body) {
  auto is_on = [](const Json& v) { return v.is_string() && v.get<std::string>() != "none"; };
  if (body.contains("chat_template_kwargs") && body["chat_template_kwargs"].is_object()) {
    const Json& kw = body["chat_template_kwargs"];
    if (kw.contains("enable_thinking") && kw["enable_thinking"].is_boolean() &&
        kw["enable_thinking"].get<bool>()) {
      return true;
    }
  }
  return (body.contains("reasoning_effort") && is_on(body["reasoning_effort"])) ||
         (body.contains("reasoning_format") && is_on(body["reasoning_format"]));
}

std::optional<std::string> chosen_tool(const Json& body) {
  if (!body.contains("tool_choice")) {
    return std::nullopt;
  }
  const Json& c = body["tool_choice"];
  if (c.is_string() && c.get<std::string>() == "required") {
    return std::string();
  }
  if (c.is_object() && c.contains("function") && c["function"].is_object() &&
      c["function"].contains("name") && c["function"]["name"].is_string()) {
    return c["function"]["name"].get<std::string>();
  }
  return std::nullopt;
}

std::vector<std::string> stop_strings(const Json& body) {
  std::vector<std::string> out;
  if (!body.contains("stop")) {
    return out;
  }
  const Json& s = body["stop"];
  if (s.is_string()) {
    out.push_back(s.get<std::string>());
  } else if (s.is_array()) {
    for (const auto& v : s) {
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      }
    }
  }
  return out;
}

std::expected<ChatPlan, ErrorReply> read_numbers(const Json& body, ChatPlan plan,
                                                 long long n_predict) {
  auto max_tokens = number_field<long long>(
      body, body.contains("max_completion_tokens")
                ? "max_completion_tokens"
                : (body.contains("max_tokens") ? "max_tokens" : "n_predict"));
  auto temperature = number_field<double>(body, "temperature");
  auto seed = number_field<long long>(body, "seed");
  auto top_p = number_field<double>(body, "top_p");
  for (const auto* r : {&temperature, &top_p}) {
    if (!*r) {
      return std::unexpected(r->error());
    }
  }
  if (!max_tokens || !seed) {
    return std::unexpected(!max_tokens ? max_tokens.error() : seed.error());
  }
  long long limit = max_tokens->value_or(n_predict);
  if (limit < -1 || limit > 2147483647) {
    return invalid("Field 'max_tokens': Value must be between -1 <= value <= 2147483647, but got " +
                   std::to_string(limit));
  }
  plan.gen.max_tokens = limit >= 0 ? std::optional<long long>(limit) : std::nullopt;
  plan.gen.temperature = *temperature;
  plan.gen.seed = *seed;
  plan.params["max_tokens"] = limit;
  plan.params["n_predict"] = limit;
  if (*temperature) {
    plan.params["temperature"] = **temperature;
  }
  return plan;
}

std::expected<ChatPlan, ErrorReply> parse_chat(std::expected<Json, ErrorReply> body,
                                               const Options& options) {
  if (!body) {
    return std::unexpected(body.error());
  }
  if (!body->is_object() || !body->contains("messages")) {
    return invalid("'messages' is required");
  }
  const Json& messages = (*body)["messages"];
  if (!messages.is_array()) {
    return invalid("Expected 'messages' to be an array");
  }
  if (messages.empty()) {
    return std::unexpected(ErrorReply{
        500, "The model produced output that does not match the expected peg-native format",
        "server_error", OJson::object()});
  }
  ChatPlan plan;
  plan.stream = flag_field(*body, "stream");
  plan.include_usage =
      body->contains("stream_options") && flag_field((*body)["stream_options"], "include_usage");
  plan.input = read_chat_input(messages, body->value("tools", Json()));
  plan.gen.reasoning = wants_reasoning(*body);
  plan.gen.tool_call = plan.input.tools.empty() ? std::nullopt : chosen_tool(*body);
  plan.gen.stop = stop_strings(*body);
  plan.params["stream"] = plan.stream;
  return read_numbers(*body, std::move(plan), options.n_predict);
}

// The chat body a door's request becomes, or the door's error.
std::expected<Json, ErrorReply> door_chat_body(const std::string& text, bool responses) {
  auto body = parse_body(text);
  if (!body) {
    return std::unexpected(body.error());
  }
  return responses ? llama::responses_to_chat(*body) : llama::messages_to_chat(*body);
}

// Faults that change what is generated rather than how it is delivered.
void apply_content_faults(const FaultSpec& fault, GenerationRequest& gen) {
  gen.reasoning = gen.reasoning || fault.think;
  if (fault.tool && !gen.tools.empty()) {
    gen.tool_call = *fault.tool;
  }
  gen.exact_tokens = fault.tokens;
  gen.repeat = fault.repeat;
}

ErrorReply context_overflow(long long prompt, long long n_ctx) {
  return ErrorReply{
      400,
      "request (" + std::to_string(prompt) + " tokens) exceeds the available context size (" +
          std::to_string(n_ctx) + " tokens), try increasing it",
      "exceed_context_size_error", OJson{{"n_prompt_tokens", prompt}, {"n_ctx", n_ctx}}};
}

double ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Streams one answer the way llama-server does: the role chunk travels with the first
// token, each further token is one HTTP chunk, the final chunk (and the usage chunk)
// another, then "data: [DONE]".
class StreamSink final : public TokenSink {
public:
  StreamSink(Exchange& ex, const llama::CompletionMeta& meta, const Answer& answer, bool usage,
             llama::Timings t)
      : timings(t), m_ex(ex), m_meta(meta), m_answer(answer), m_usage(usage) {}

  bool open() override {
    m_first = SteadyClock::now();
    m_pending = llama::sse(llama::chunk(m_meta, llama::role_delta()));
    return m_ex.begin_chunked(200, llama::sse_headers(m_ex.keep_alive_allowed()));
  }
  bool token(std::size_t i) override {
    std::string event = llama::sse(llama::chunk(m_meta, llama::token_delta(m_answer.token(i))));
    return m_ex.send_chunk(take_pending() + event);
  }
  bool flush() override { return m_ex.send_chunk(take_pending()); }
  bool finish() override {
    if (m_answer.tool_call) {
      std::string call =
          llama::sse(llama::chunk(m_meta, llama::tool_call_delta(*m_answer.tool_call)));
      if (!m_ex.send_chunk(take_pending() + call)) {
        return false;
      }
    }
    timings.predicted_ms = ms_between(m_first, SteadyClock::now());
    std::string tail = take_pending();
    tail += llama::sse(llama::final_chunk(m_meta, m_answer.finish_reason,
                                          m_usage ? std::nullopt : std::optional(timings)));
    if (m_usage) {
      tail += llama::sse(llama::usage_chunk(m_meta, m_answer.prompt_tokens,
                                            m_answer.completion_tokens(), timings));
    }
    return m_ex.send_chunk(tail) && m_ex.send_chunk(core::encode_sse_done()) && m_ex.end_chunked();
  }

  llama::Timings timings;

private:
  std::string take_pending() { return std::exchange(m_pending, std::string()); }

  Exchange& m_ex;
  const llama::CompletionMeta& m_meta;
  const Answer& m_answer;
  bool m_usage;
  SteadyClock::time_point m_first;
  std::string m_pending;
};

class BodySink final : public TokenSink {
public:
  using Build = std::function<OJson(const llama::Timings&)>;
  using Send = std::function<bool(const OJson&)>;
  BodySink(llama::Timings t, Build build, Send send)
      : timings(t), m_build(std::move(build)), m_send(std::move(send)) {}

  bool open() override {
    m_first = SteadyClock::now();
    return true;
  }
  bool token(std::size_t) override { return true; }
  bool flush() override { return true; }
  bool finish() override {
    timings.predicted_ms = ms_between(m_first, SteadyClock::now());
    return m_send(m_build(timings));
  }

  llama::Timings timings;

private:
  Build m_build;
  Send m_send;
  SteadyClock::time_point m_first;
};

// Streams a text or native completion: one SSE event per token in its own HTTP chunk,
// then the tail (final event, and "[DONE]" for the OpenAI shape).
class EventStreamSink final : public TokenSink {
public:
  using Event = std::function<std::string(std::size_t)>;
  using Tail = std::function<std::string(const llama::Timings&)>;
  EventStreamSink(Exchange& ex, llama::Timings t, Event event, Tail tail)
      : timings(t), m_ex(ex), m_event(std::move(event)), m_tail(std::move(tail)) {}

  bool open() override {
    m_first = SteadyClock::now();
    return m_ex.begin_chunked(200, llama::sse_headers(m_ex.keep_alive_allowed()));
  }
  bool token(std::size_t i) override { return m_ex.send_chunk(m_event(i)); }
  bool flush() override { return true; }
  bool finish() override {
    timings.predicted_ms = ms_between(m_first, SteadyClock::now());
    return m_ex.send_chunk(m_tail(timings)) && m_ex.end_chunked();
  }

  llama::Timings timings;

private:
  Exchange& m_ex;
  Event m_event;
  Tail m_tail;
  SteadyClock::time_point m_first;
};

// The first and last words of the text around the hole, shown at the start of an infill
// answer so tests see that prefix and suffix were used.
std::string fim_lead(const std::string& prefix, const std::string& suffix) {
  std::vector<std::string> before = words_of(prefix);
  std::vector<std::string> after = words_of(suffix);
  return "[fim " + (before.empty() ? std::string("^") : before.back()) + ".." +
         (after.empty() ? std::string("$") : after.front()) + "]";
}

} // namespace

LlamaServerApi::LlamaServerApi(const Services& services, const ModelInfo& model,
                               const ContextPlan& ctx)
    : m_services(services), m_model(model),
      m_ctx(ctx), m_served{model, ctx, services.options.aliases,
                           static_cast<long long>(core::unix_seconds(services.clock.wall_now()))},
      m_slots(static_cast<std::size_t>(ctx.n_seq), ctx.n_ctx_seq,
              [&stats = services.stats](int delta) { stats.deferred_changed(delta); }) {}

bool LlamaServerApi::authorized(const HttpRequest& request) const {
  const auto& keys = m_services.options.api_keys;
  if (keys.empty() || request.path == "/health" || request.path == "/v1/health" ||
      request.path == "/models" || request.path == "/v1/models") {
    return true; // llama-server's public endpoints
  }
  std::string given(request.header("X-Api-Key").value_or(""));
  std::string_view auth = request.header("Authorization").value_or("");
  if (auth.starts_with("Bearer ")) {
    given = std::string(auth.substr(7));
  }
  return std::find(keys.begin(), keys.end(), given) != keys.end();
}

void LlamaServerApi::handle(const HttpRequest& request, Exchange& exchange) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (!authorized(request)) {
    send_error(exchange, {401, "Invalid API Key", "authentication_error", OJson::object()});
    return;
  }
  if (get && (path == "/health" || path == "/v1/health")) {
    send_json(exchange, 200, OJson{{"status", "ok"}});
  } else if (get && (path == "/v1/models" || path == "/models")) {
    send_json(exchange, 200, llama::models_json(m_served));
  } else if (get && path == "/props") {
    send_json(exchange, 200, llama::props_json(m_served, m_services.options.metrics));
  } else if (get && path == "/slots" && m_services.options.slots_endpoint) {
    send_json(exchange, 200, m_slots.to_json());
  } else if (get && path == "/metrics") {
    send_metrics(exchange);
  } else if (request.method == "POST" &&
             (path == "/v1/chat/completions" || path == "/chat/completions")) {
    chat(request, exchange);
  } else if (request.method == "POST" && path == "/v1/messages") {
    door(request, exchange, Shape::anthropic);
  } else if (request.method == "POST" && path == "/v1/messages/count_tokens") {
    count_tokens(request, exchange);
  } else if (request.method == "POST" && path == "/v1/responses") {
    door(request, exchange, Shape::responses);
  } else if (request.method == "POST" && path == "/v1/completions") {
    text_completion(request, exchange, Shape::oai_text);
  } else if (request.method == "POST" && (path == "/completion" || path == "/completions")) {
    text_completion(request, exchange, Shape::native);
  } else if (request.method == "POST" && path == "/infill") {
    infill(request, exchange);
  } else if (request.method == "POST" && path == "/v1/embeddings") {
    embeddings(request, exchange, true);
  } else if (request.method == "POST" && (path == "/embeddings" || path == "/embedding")) {
    embeddings(request, exchange, false);
  } else if (request.method == "POST" && (path == "/rerank" || path == "/reranking" ||
                                          path == "/v1/rerank" || path == "/v1/reranking")) {
    rerank(request, exchange);
  } else if (request.method == "POST" && path == "/apply-template") {
    apply_template(request, exchange);
  } else if (request.method == "POST" && path == "/tokenize") {
    tokenize(request, exchange);
  } else {
    std::string body = core::dump_json(llama::not_found_body());
    exchange.send_response(404, llama::json_headers(404, body.size(), false), body);
  }
}

void LlamaServerApi::apply_template(const HttpRequest& request, Exchange& exchange) {
  auto body = core::parse_json_text(request.body);
  if (!body || !body->is_object() || !body->contains("messages") ||
      !(*body)["messages"].is_array()) {
    send_error(exchange, {400, "'messages' is required and must be an array",
                          "invalid_request_error", OJson::object()});
    return;
  }
  const ChatInput input = read_chat_input((*body)["messages"], body->value("tools", Json()));
  std::string prompt;
  for (const ChatTurn& turn : input.messages) {
    prompt += "<|im_start|>" + turn.role + "\n" + turn.text + "<|im_end|>\n";
  }
  for (const ToolDef& tool : input.tools) {
    prompt += "<tool>" + tool.name + " " + core::dump_json(tool.parameters) + "</tool>\n";
  }
  prompt += "<|im_start|>assistant\n";
  send_json(exchange, 200, OJson{{"prompt", prompt}});
}

void LlamaServerApi::tokenize(const HttpRequest& request, Exchange& exchange) {
  auto body = core::parse_json_text(request.body);
  if (!body || !body->is_object() || !body->contains("content") ||
      !(*body)["content"].is_string()) {
    send_error(exchange, {400, "'content' is required and must be a string",
                          "invalid_request_error", OJson::object()});
    return;
  }
  // A token per four bytes, its id made from them: the count is what tests check.
  const std::string& text = (*body)["content"].get_ref<const std::string&>();
  OJson tokens = OJson::array();
  for (std::size_t at = 0; at < text.size(); at += 4) {
    unsigned id = 0;
    for (char c : std::string_view(text).substr(at, 4)) {
      id = id * 31 + static_cast<unsigned char>(c);
    }
    tokens.push_back(id % 32000);
  }
  send_json(exchange, 200, OJson{{"tokens", std::move(tokens)}});
}

void LlamaServerApi::send_loading(Exchange& exchange) {
  // Like 404's, this body has message, type, code in that order.
  std::string body = core::dump_json(OJson{
      {"error", {{"message", "Loading model"}, {"type", "unavailable_error"}, {"code", 503}}}});
  exchange.send_response(503, llama::json_headers(503, body.size(), false), body);
}

void LlamaServerApi::send_json(Exchange& exchange, int status, const OJson& body, Headers extra) {
  std::string text = core::dump_json(body);
  Headers headers = llama::json_headers(status, text.size(), exchange.keep_alive_allowed());
  headers.insert(headers.end() - 1, extra.begin(), extra.end());
  exchange.send_response(status, headers, text);
}

void LlamaServerApi::send_error(Exchange& exchange, const ErrorReply& e, Headers extra) {
  send_json(exchange, e.status, llama::error_body(e.status, e.message, e.type, e.extra),
            std::move(extra));
}

void LlamaServerApi::send_metrics(Exchange& exchange) {
  if (!m_services.options.metrics) {
    send_error(exchange,
               {501, "This server does not support metrics endpoint. Start it with `--metrics`",
                "not_supported_error", OJson::object()});
    return;
  }
  llama::MetricsSnapshot snapshot;
  {
    std::lock_guard lock(m_metrics_mutex);
    snapshot = m_metrics;
  }
  snapshot.processing = static_cast<long long>(m_slots.busy());
  snapshot.deferred = static_cast<long long>(m_slots.deferred());
  std::string text = llama::metrics_text(snapshot);
  Headers headers = llama::json_headers(200, text.size(), exchange.keep_alive_allowed(),
                                        "text/plain; version=0.0.4");
  headers.insert(headers.begin() + 2,
                 Header{"Process-Start-Time-Unix", std::to_string(m_served.created)});
  exchange.send_response(200, headers, text);
}

void LlamaServerApi::record_timings(long long prompt_tokens, const llama::Timings& t) {
  std::lock_guard lock(m_metrics_mutex);
  m_metrics.prompt_tokens += prompt_tokens;
  m_metrics.prompt_seconds += t.prompt_ms / 1e3;
  m_metrics.predicted_tokens += t.predicted_n;
  m_metrics.predicted_seconds += t.predicted_ms / 1e3;
  m_metrics.decode_calls += 1 + t.predicted_n;
  m_metrics.max_tokens_seen = std::max(m_metrics.max_tokens_seen, prompt_tokens + t.predicted_n);
}

void LlamaServerApi::send_fault_status(Exchange& exchange, int status, int retry_after) {
  Headers extra;
  if (status == 429) {
    extra.emplace_back("Retry-After", std::to_string(retry_after));
  }
  send_error(exchange,
             {status, "llm-sim: injected fault status=" + std::to_string(status),
              llama::error_type(status), OJson::object()},
             std::move(extra));
}

void LlamaServerApi::chat(const HttpRequest& request, Exchange& exchange) {
  chat_job(request, exchange, parse_body(request.body), Shape::chat);
}

void LlamaServerApi::door(const HttpRequest& request, Exchange& exchange, Shape shape) {
  chat_job(request, exchange, door_chat_body(request.body, shape == Shape::responses), shape);
}

void LlamaServerApi::count_tokens(const HttpRequest& request, Exchange& exchange) {
  auto plan = parse_chat(door_chat_body(request.body, false), m_services.options);
  if (!plan) {
    send_error(exchange, plan.error());
    return;
  }
  send_json(exchange, 200,
            OJson{{"input_tokens", count_prompt_tokens(plan->input.messages, plan->input.tools)}});
}

void LlamaServerApi::chat_job(const HttpRequest& request, Exchange& exchange,
                              std::expected<Json, ErrorReply> body, Shape shape) {
  auto plan = parse_chat(std::move(body), m_services.options);
  if (!plan) {
    send_error(exchange, plan.error());
    return;
  }
  Job job;
  job.shape = shape;
  job.stream = plan->stream;
  job.include_usage = plan->include_usage;
  job.gen = std::move(plan->gen);
  job.gen.messages = plan->input.messages;
  job.gen.tools = plan->input.tools;
  job.prompt_tokens = count_prompt_tokens(job.gen.messages, job.gen.tools);
  job.directive = plan->input.directive;
  job.params = std::move(plan->params);
  run(request, exchange, job);
}

void LlamaServerApi::text_completion(const HttpRequest& request, Exchange& exchange,
                                     Shape shape) {
  auto body = parse_body(request.body);
  if (!body) {
    send_error(exchange, body.error());
    return;
  }
  auto prompt = llama::read_prompt(*body);
  if (!prompt) {
    send_error(exchange, prompt.error());
    return;
  }
  ChatPlan numbers;
  auto plan = read_numbers(*body, std::move(numbers), m_services.options.n_predict);
  if (!plan) {
    send_error(exchange, plan.error());
    return;
  }
  // llama-server b10587 ignores "suffix" here (v1-completions-suffix.http): no FIM.
  Job job;
  job.shape = shape;
  job.stream = flag_field(*body, "stream");
  job.gen = std::move(plan->gen);
  job.gen.stop = stop_strings(*body);
  DirectiveSplit split = extract_directives(prompt->text);
  job.directive = std::move(split.spec);
  job.gen.messages = {ChatTurn{"prompt", split.text}};
  job.prompt_tokens = prompt->tokens;
  job.params = std::move(plan->params);
  job.params["stream"] = job.stream;
  job.native = {m_served.id(), prompt->text, prompt->tokens, job.stream, job.params};
  run(request, exchange, job);
}

void LlamaServerApi::infill(const HttpRequest& request, Exchange& exchange) {
  if (m_services.options.no_fim) {
    // The model check comes before the body is read (infill-no-fim.http).
    send_error(exchange, {501,
                          "Infill is not supported by this model: prefix token is missing. "
                          "suffix token is missing. middle token is missing. ",
                          "not_supported_error", OJson::object()});
    return;
  }
  auto body = parse_body(request.body);
  if (!body) {
    send_error(exchange, body.error());
    return;
  }
  auto in = llama::read_infill(*body);
  if (!in) {
    send_error(exchange, in.error());
    return;
  }
  ChatPlan numbers;
  auto plan = read_numbers(*body, std::move(numbers), m_services.options.n_predict);
  if (!plan) {
    send_error(exchange, plan.error());
    return;
  }
  Job job;
  job.shape = Shape::native;
  job.stream = flag_field(*body, "stream");
  job.gen = std::move(plan->gen);
  job.gen.stop = stop_strings(*body);
  DirectiveSplit split = extract_directives(in->prefix);
  job.directive = std::move(split.spec);
  for (const std::string& e : in->extra) {
    job.gen.messages.push_back({"extra", e});
  }
  job.gen.messages.push_back({"prefix", split.text});
  job.gen.messages.push_back({"suffix", in->suffix});
  job.gen.messages.push_back({"prompt", in->prompt});
  job.gen.lead = fim_lead(split.text, in->suffix);
  job.prompt_tokens = in->tokens;
  job.params = std::move(plan->params);
  job.params["stream"] = job.stream;
  job.native = {m_served.id(),
                "<FIM_PRE>" + in->prefix + "<FIM_SUF>" + in->suffix + "<FIM_MID>" + in->prompt,
                in->tokens, job.stream, job.params};
  run(request, exchange, job);
}

void LlamaServerApi::embeddings(const HttpRequest& request, Exchange& exchange, bool oai) {
  const Options& o = m_services.options;
  if (!o.embeddings) {
    send_error(exchange,
               {501, "This server does not support embeddings. Start it with `--embeddings`",
                "not_supported_error", OJson::object()});
    return;
  }
  auto body = parse_body(request.body);
  if (!body) {
    send_error(exchange, body.error());
    return;
  }
  // A generative GGUF's own pooling is none (embeddings.http #1).
  const std::string pooling = o.pooling.empty() ? "none" : o.pooling;
  if (oai && pooling == "none") {
    send_error(exchange, {400, "Pooling type 'none' is not OAI compatible. Please use a different "
                               "pooling type",
                          "invalid_request_error", OJson::object()});
    return;
  }
  const std::string format = string_field(*body, "encoding_format");
  if (oai && body->contains("encoding_format") && format != "float" && format != "base64") {
    send_error(exchange,
               {400, "The format to return the embeddings in. Can be either float or base64",
                "invalid_request_error", OJson::object()});
    return;
  }
  auto inputs = llama::read_embedding_inputs(*body);
  if (!inputs) {
    send_error(exchange, inputs.error());
    return;
  }
  const auto dim = static_cast<std::size_t>(std::max<std::uint64_t>(1, m_model.arch.n_embd));
  long long tokens = 0;
  std::vector<std::vector<float>> vectors;
  std::vector<std::vector<std::vector<float>>> rows;
  for (const llama::TextPrompt& item : inputs->items) {
    if (item.tokens > o.n_ubatch) {
      send_error(exchange, {500,
                            "input (" + std::to_string(item.tokens) +
                                " tokens) is too large to process. increase the physical batch "
                                "size (current batch size: " +
                                std::to_string(o.n_ubatch) + ")",
                            "server_error", OJson::object()});
      return;
    }
    tokens += item.tokens;
    vectors.push_back(embed_text(item.text, dim));
    std::vector<std::vector<float>> per_token;
    if (pooling == "none") {
      // One (unnormalised in llama-server, unit here) row per token of about four bytes.
      per_token.push_back(embed_text("<s>", dim));
      for (std::size_t at = 0; at < item.text.size(); at += 4) {
        per_token.push_back(embed_text(item.text.substr(at, 4), dim));
      }
    } else {
      per_token.push_back(vectors.back());
    }
    rows.push_back(std::move(per_token));
  }
  if (!oai) {
    send_json(exchange, 200, llama::native_embeddings(rows));
    return;
  }
  const std::string model = body->contains("model") && (*body)["model"].is_string()
                                ? (*body)["model"].get<std::string>()
                                : m_served.id();
  send_json(exchange, 200, llama::oai_embeddings(model, vectors, tokens, format == "base64"));
}

void LlamaServerApi::rerank(const HttpRequest& request, Exchange& exchange) {
  if (!m_services.options.reranking) {
    send_error(exchange,
               {501, "This server does not support reranking. Start it with `--reranking`",
                "not_supported_error", OJson::object()});
    return;
  }
  auto body = parse_body(request.body);
  if (!body) {
    send_error(exchange, body.error());
    return;
  }
  auto in = llama::read_rerank(*body);
  if (!in) {
    send_error(exchange, in.error());
    return;
  }
  std::vector<llama::RankedDocument> ranked;
  long long tokens = 0;
  for (std::size_t i = 0; i < in->documents.size(); ++i) {
    ranked.push_back({static_cast<int>(i), relevance(in->query, in->documents[i]), in->documents[i]});
    tokens += 4 + text_tokens(in->query) + text_tokens(in->documents[i]);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.score > b.score; });
  ranked.resize(in->top_n);
  const std::string model = string_field(*body, "model").empty() ? m_served.id()
                                                                  : string_field(*body, "model");
  send_json(exchange, 200, llama::rerank_reply(model, ranked, tokens, in->tei, in->return_text));
}

void LlamaServerApi::run(const HttpRequest& request, Exchange& exchange, Job& job) {
  InFlight in_flight(m_services.stats, m_served.id());
  auto fault = request_faults(m_services.options.fault, job.directive, request);
  if (!fault) {
    send_error(exchange, {400, fault.error().message, "invalid_request_error", OJson::object()});
    return;
  }
  for (const std::string& name : fault_names(*fault)) {
    m_services.stats.fault_injected(name);
  }
  FaultResult replaced =
      apply_response_faults(exchange, *fault, m_services, [&](int status, int retry) {
        send_fault_status(exchange, status, retry);
      });
  if (replaced != FaultResult::none) {
    in_flight.end(replaced == FaultResult::client_gone ? RequestEnd::client_gone
                                                       : RequestEnd::other);
    return;
  }
  GenerationRequest& gen = job.gen;
  gen.model = m_served.id();
  apply_content_faults(*fault, gen);
  const long long prompt = job.prompt_tokens;
  if (prompt >= m_ctx.n_ctx_seq) {
    send_error(exchange, context_overflow(prompt, m_ctx.n_ctx_seq));
    return;
  }
  gen.context_left = m_ctx.n_ctx_seq - prompt;
  Answer answer = generate(gen);
  answer.prompt_tokens = prompt;
  auto lease = m_slots.acquire(prompt, llama::slot_params(job.params),
                               [&] { return exchange.client_gone() || exchange.stopping(); });
  if (!lease) {
    in_flight.end(RequestEnd::client_gone);
    return;
  }
  Reply reply{job.stream, job.include_usage,
              make_pacing(m_services.options.ttft, m_services.options.tokens_per_second, *fault),
              job.shape, &job.native};
  in_flight.end(request_end(respond(exchange, reply, answer, *lease)));
}

Outcome LlamaServerApi::respond(Exchange& exchange, const Reply& reply, const Answer& answer,
                                SlotLease& lease) {
  llama::CompletionMeta meta{
      "chatcmpl-" + m_services.ids.alnum(32),
      static_cast<long long>(core::unix_seconds(m_services.clock.wall_now())), m_served.id()};
  llama::Timings timings{answer.prompt_tokens,
                         std::max(static_cast<double>(reply.pacing.ttft.count()) / 1e6, 0.001),
                         answer.completion_tokens(), 0};
  PlayHooks hooks;
  hooks.progress = [&](std::size_t decoded) {
    lease.progress(static_cast<long long>(decoded),
                   static_cast<long long>(answer.size()) - static_cast<long long>(decoded));
  };
  hooks.before_finish = [&] { lease.release(); };
  auto send_body = [&](const OJson& body) {
    send_json(exchange, 200, body);
    return !exchange.write_failed();
  };
  const llama::NativeMeta& native = *reply.native;
  Outcome outcome;
  const bool anthropic = reply.shape == Shape::anthropic;
  if (anthropic || reply.shape == Shape::responses) {
    llama::DoorMeta door{anthropic ? meta.id : "resp_" + m_services.ids.alnum(32),
                         "msg_" + m_services.ids.alnum(32), "fc_" + m_services.ids.alnum(32),
                         meta.created, meta.model};
    if (reply.stream) {
      llama::AnthropicStream messages(door, answer);
      llama::ResponsesStream responses(door, answer);
      // The opening events travel with the first token, or with the end when there is none.
      std::string head = anthropic ? messages.start() : responses.start();
      EventStreamSink::Event event = [&](std::size_t i) {
        return std::exchange(head, std::string()) +
               (anthropic ? messages.token(i) : responses.token(i));
      };
      EventStreamSink::Tail tail = [&](const llama::Timings& t) {
        return std::exchange(head, std::string()) + (anthropic ? messages.end() : responses.end(t));
      };
      EventStreamSink sink(exchange, timings, event, tail);
      outcome = play(exchange, reply.pacing, answer.size(), sink, hooks);
      timings = sink.timings;
    } else {
      BodySink::Build build = [&](const llama::Timings&) {
        return anthropic ? llama::anthropic_message(door, answer)
                         : llama::responses_body(door, answer);
      };
      BodySink sink(timings, build, send_body);
      outcome = play(exchange, reply.pacing, answer.size(), sink, hooks);
      timings = sink.timings;
    }
  } else if (reply.shape == Shape::chat && reply.stream) {
    StreamSink sink(exchange, meta, answer, reply.include_usage, timings);
    outcome = play(exchange, reply.pacing, answer.size(), sink, hooks);
    timings = sink.timings;
  } else if (reply.stream) {
    const long long evaluated = answer.prompt_tokens;
    EventStreamSink::Event event = [&](std::size_t i) {
      return reply.shape == Shape::oai_text
                 ? llama::sse(llama::text_chunk(meta, answer.token(i).text))
                 : llama::sse(llama::native_token(answer.token(i),
                                                  static_cast<long long>(i) + 1, evaluated));
    };
    EventStreamSink::Tail tail = [&](const llama::Timings& t) {
      if (reply.shape == Shape::oai_text) {
        return llama::sse(llama::text_final_chunk(meta, answer.finish_reason, answer.prompt_tokens,
                                                  answer.completion_tokens(), t)) +
               core::encode_sse_done();
      }
      return llama::sse(llama::native_final(native, answer, "", t)); // no [DONE] here
    };
    EventStreamSink sink(exchange, timings, event, tail);
    outcome = play(exchange, reply.pacing, answer.size(), sink, hooks);
    timings = sink.timings;
  } else {
    BodySink::Build build = [&](const llama::Timings& t) {
      switch (reply.shape) {
      case Shape::oai_text:
        return llama::text_completion(meta, answer, t);
      case Shape::native:
        return llama::native_final(native, answer, answer.content(), t);
      case Shape::chat:
      case Shape::anthropic:
      case Shape::responses:
        break;
      }
      return llama::completion(meta, answer, t);
    };
    BodySink sink(timings, build, send_body);
    outcome = play(exchange, reply.pacing, answer.size(), sink, hooks);
    timings = sink.timings;
  }
  record_timings(answer.prompt_tokens, timings);
  return outcome;
}

} // namespace ask::sim
