#include "sim/ollama_api.h"

#include <expected>
#include <type_traits>
#include <utility>

#include "core/json_text.h"
#include "sim/embedding.h"
#include "sim/log.h"

namespace ask::sim {

namespace {

using ollama::OJson;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Failure {
  int status;
  std::string message;
};

std::unexpected<Failure> failure(int status, std::string message) {
  return std::unexpected(Failure{status, std::move(message)});
}

bool wants_thinking(const Json& think) {
  if (think.is_boolean()) {
    return think.get<bool>();
  }
  return think.is_string() && think.get<std::string>() != "none" &&
         think.get<std::string>() != "false";
}

// obj[key] when it is a number (in range for T), else nullopt.
template <class T> std::optional<T> number_of(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) {
    return std::nullopt;
  }
  const double value = obj[key].get<double>();
  if (std::is_integral_v<T> && !(value >= -9e18 && value <= 9e18)) {
    return std::nullopt;
  }
  return obj[key].get<T>();
}

std::vector<std::string> stops_of(const Json& stop) {
  std::vector<std::string> out;
  if (stop.is_string()) {
    out.push_back(stop.get<std::string>());
  }
  for (const auto& s : stop.is_array() ? stop : Json::array()) {
    if (s.is_string()) {
      out.push_back(s.get<std::string>());
    }
  }
  return out;
}

// Ollama silently drops what does not fit num_ctx, keeping the end: the oldest messages
// after the system prompt first, then the start of what is left. Returns true when it cut.
bool truncate_to_context(std::vector<ChatTurn>& messages, const std::vector<ToolDef>& tools,
                         long long num_ctx) {
  bool cut = false;
  auto too_long = [&] { return count_prompt_tokens(messages, tools) > num_ctx; };
  while (too_long() && messages.size() > 1) {
    auto first = std::find_if(messages.begin(), messages.end() - 1,
                              [](const ChatTurn& t) { return t.role != "system"; });
    if (first == messages.end() - 1) {
      break;
    }
    messages.erase(first);
    cut = true;
  }
  while (too_long() && !messages.empty()) {
    std::string& text = messages.back().text;
    const long long over = count_prompt_tokens(messages, tools) - num_ctx;
    const std::size_t drop = std::min(text.size(), static_cast<std::size_t>(over) * 4);
    if (drop == 0) {
      messages.erase(messages.begin()); // only framing left: drop the system prompt too
    } else {
      text.erase(0, drop);
    }
    cut = true;
  }
  return cut;
}

// Ollama's "options": num_predict (-1 no limit, -2 fill the context), num_ctx, seed,
// temperature, stop.
void apply_options(const Json& options, const OllamaModelSpec& spec, OllamaJob& job) {
  GenerationRequest& gen = job.gen;
  auto num_predict = number_of<long long>(options, "num_predict");
  gen.max_tokens = num_predict && *num_predict >= 0 ? num_predict : std::nullopt;
  long long num_ctx = number_of<long long>(options, "num_ctx").value_or(spec.context_length);
  job.prompt_truncated = truncate_to_context(gen.messages, gen.tools, std::max(1LL, num_ctx));
  // Ollama shifts the context as it generates, so the answer is not cut by the window.
  gen.context_left = 0;
  gen.seed = number_of<long long>(options, "seed");
  gen.temperature = number_of<double>(options, "temperature");
  gen.stop = stops_of(options.is_object() && options.contains("stop") ? options["stop"] : Json());
}

std::expected<Json, Failure> parse_object(const std::string& text) {
  Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded()) {
    return failure(400, "invalid JSON in request body");
  }
  if (!body.is_object()) {
    return failure(400, "request body must be a JSON object");
  }
  return body;
}

std::expected<OllamaJob, Failure> parse_native(const std::string& text, ollama::Endpoint ep,
                                               const OllamaModels& models) {
  auto body = parse_object(text);
  if (!body) {
    return std::unexpected(body.error());
  }
  std::string name = string_field(*body, "model");
  if (name.empty()) {
    return failure(400, "model is required");
  }
  OllamaJob job;
  job.requested = name;
  job.spec = models.find(name);
  if (job.spec == nullptr) {
    return failure(404, ollama::model_not_found(name));
  }
  if (body->contains("keep_alive") && !(*body)["keep_alive"].is_null()) {
    auto ka = core::parse_duration((*body)["keep_alive"]);
    if (!ka) {
      return failure(400, ka.error().message);
    }
    job.keep_alive = *ka;
  }
  if (body->contains("stream") && (*body)["stream"].is_boolean()) {
    job.stream = (*body)["stream"].get<bool>();
  }
  if (ep == ollama::Endpoint::chat) {
    job.input =
        read_chat_input(body->value("messages", Json::array()), body->value("tools", Json()));
  } else {
    const std::string system = string_field(*body, "system");
    const std::string prompt = string_field(*body, "prompt");
    job.suffix = string_field(*body, "suffix");
    job.raw = flag_field(*body, "raw");
    if (job.raw && (!system.empty() || !string_field(*body, "template").empty() ||
                    (body->contains("context") && !(*body)["context"].is_null()))) {
      return failure(400, "raw mode does not support template, system, or context");
    }
    Json messages = Json::array();
    if (!system.empty()) {
      messages.push_back({{"role", "system"}, {"content", system}});
    }
    if (!prompt.empty()) {
      messages.push_back({{"role", "user"}, {"content", prompt}});
    }
    job.input = read_chat_input(messages, Json());
  }
  // The capability checks of Ollama's handlers (GenerateHandler, ChatHandler).
  if (!job.spec->has("completion")) {
    return failure(400, "\"" + name + "\" does not support " +
                            (ep == ollama::Endpoint::chat ? "chat" : "generate"));
  }
  if (!job.suffix.empty() && !job.spec->has("insert")) {
    return failure(400, "registry.ollama.ai/library/" + job.spec->name + " does not support insert");
  }
  job.gen.model = job.spec->name;
  job.gen.messages = job.input.messages;
  job.gen.tools = job.input.tools;
  job.gen.reasoning = body->contains("think") && wants_thinking((*body)["think"]);
  if (!job.suffix.empty()) {
    // FIM: the model fills in between prompt and suffix; the answer shows both ends.
    job.gen.messages.push_back({"suffix", job.suffix});
    const std::vector<std::string> before = words_of(string_field(*body, "prompt"));
    const std::vector<std::string> after = words_of(job.suffix);
    job.gen.lead = "[fim " + (before.empty() ? std::string("^") : before.back()) + ".." +
                   (after.empty() ? std::string("$") : after.front()) + "]";
  }
  apply_options(body->value("options", Json::object()), *job.spec, job);
  return job;
}

bool is_load_request(const OllamaJob& job) {
  for (const ChatTurn& t : job.input.messages) {
    if (t.role == "user" || t.role == "assistant" || t.role == "tool") {
      return false;
    }
  }
  return true;
}

// NDJSON lines: one chunk per token, the tool call line, then the final line.
class NdjsonSink final : public TokenSink {
public:
  NdjsonSink(Exchange& ex, ollama::Endpoint ep, std::string model, const Answer& answer,
             RunTiming& timing, std::string date, std::function<std::string()> now)
      : m_ex(ex), m_ep(ep), m_model(std::move(model)), m_answer(answer), m_timing(timing),
        m_date(std::move(date)), m_now(std::move(now)) {}

  bool open() override {
    m_timing.first_token = SteadyClock::now();
    return m_ex.begin_chunked(200, ollama::stream_headers("application/x-ndjson", m_date));
  }
  bool token(std::size_t i) override {
    return line(ollama::token_line(m_ep, m_model, m_now(), m_answer.token(i)));
  }
  bool flush() override { return true; }
  bool finish() override {
    if (m_answer.tool_call &&
        !line(ollama::tool_call_line(m_model, m_now(), *m_answer.tool_call,
                                     "call_" + m_answer.tool_call->id.substr(0, 8)))) {
      return false;
    }
    return line(ollama::final_line(m_ep, m_model, m_now(), ollama::done_reason(m_answer),
                                   m_answer.prompt_tokens, m_answer.completion_tokens(),
                                   m_timing.durations())) &&
           m_ex.end_chunked();
  }

private:
  bool line(const OJson& j) { return m_ex.send_chunk(core::dump_json(j) + "\n"); }

  Exchange& m_ex;
  ollama::Endpoint m_ep;
  std::string m_model;
  const Answer& m_answer;
  RunTiming& m_timing;
  std::string m_date;
  std::function<std::string()> m_now;
};

// Ends the model's use when the request ends, however it ends.
class ModelUse {
public:
  ModelUse(OllamaModels& models, std::string name, core::Duration keep_alive)
      : m_models(models), m_name(std::move(name)), m_keep_alive(keep_alive) {
    m_load = m_models.begin_use(m_name);
  }
  ~ModelUse() { end(); }
  ModelUse(const ModelUse&) = delete;
  ModelUse& operator=(const ModelUse&) = delete;
  // Ends the use now (once): the keep_alive countdown starts.
  void end() {
    if (!std::exchange(m_ended, true)) {
      m_models.end_use(m_name, m_keep_alive);
    }
  }
  std::chrono::milliseconds load() const { return m_load; }

private:
  OllamaModels& m_models;
  std::string m_name;
  core::Duration m_keep_alive;
  std::chrono::milliseconds m_load{0};
  bool m_ended = false;
};

} // namespace

ollama::Durations RunTiming::durations() const {
  const auto now = SteadyClock::now();
  auto ns = [](auto d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
  ollama::Durations d;
  d.total = ns(now - start);
  d.load = load.count();
  d.prompt_eval = std::max(0LL, ns(first_token - start) - d.load);
  d.eval = ns(now - first_token);
  return d;
}

OllamaApi::OllamaApi(const Services& services, OllamaModels& models)
    : m_services(services), m_models(models),
      m_modified_at(rfc3339_nano(services.clock.wall_now())) {}

std::string OllamaApi::now_rfc3339() const {
  return rfc3339_nano(m_services.clock.wall_now());
}

std::string OllamaApi::date() const {
  return http_date(m_services.clock.wall_now());
}

void OllamaApi::handle(const HttpRequest& request, Exchange& exchange) {
  const std::string& p = request.path;
  const std::string& m = request.method;
  const bool get = m == "GET" || m == "HEAD";
  if (get && p == "/") {
    std::string text = "Ollama is running";
    exchange.send_response(
        200, ollama::json_headers(text.size(), date(), "text/plain; charset=utf-8"), text);
  } else if (m == "POST" && p == "/api/chat") {
    native_chat(request, exchange, ollama::Endpoint::chat);
  } else if (m == "POST" && p == "/api/generate") {
    native_chat(request, exchange, ollama::Endpoint::generate);
  } else if (get && p == "/api/tags") {
    send_json(exchange, 200, ollama::tags_json(m_models.catalog(), m_modified_at));
  } else if (get && p == "/api/ps") {
    send_json(exchange, 200, ollama::ps_json(m_models.running(), m_services.clock.wall_now()));
  } else if (m == "POST" && p == "/api/show") {
    show(request, exchange);
  } else if (get && p == "/api/version") {
    send_json(exchange, 200, OJson{{"version", k_ollama_version}});
  } else if (m == "POST" && (p == "/v1/chat/completions" || p == "/v1/chat/completions/")) {
    openai_chat(request, exchange);
  } else if (get && p == "/v1/models") {
    openai_models(exchange);
  } else if (m == "POST" && p == "/api/embed") {
    embed(request, exchange, EmbedApi::embed);
  } else if (m == "POST" && p == "/api/embeddings") {
    embed(request, exchange, EmbedApi::legacy);
  } else if (m == "POST" && p == "/v1/embeddings") {
    embed(request, exchange, EmbedApi::openai);
  } else {
    std::string text = "404 page not found";
    exchange.send_response(404, ollama::json_headers(text.size(), date(), "text/plain"), text);
  }
}

void OllamaApi::send_json(Exchange& exchange, int status, const OJson& body, Headers extra) {
  std::string text = core::dump_json(body);
  Headers headers = ollama::json_headers(text.size(), date());
  headers.insert(headers.end(), extra.begin(), extra.end());
  exchange.send_response(status, headers, text);
}

void OllamaApi::send_error(Exchange& exchange, int status, const std::string& message,
                           Headers extra) {
  send_json(exchange, status, ollama::error_body(message), std::move(extra));
}

void OllamaApi::show(const HttpRequest& request, Exchange& exchange) {
  auto body = parse_object(request.body);
  if (!body) {
    send_error(exchange, body.error().status, body.error().message);
    return;
  }
  std::string name = string_field(*body, "model");
  if (name.empty()) {
    name = string_field(*body, "name");
  }
  const OllamaModelSpec* spec = m_models.find(name);
  if (spec == nullptr) {
    send_error(exchange, 404, "model '" + name + "' not found");
    return;
  }
  send_json(exchange, 200, ollama::show_json(*spec, m_modified_at));
}

void OllamaApi::native_chat(const HttpRequest& request, Exchange& exchange, ollama::Endpoint ep) {
  auto job = parse_native(request.body, ep, m_models);
  if (!job) {
    send_error(exchange, job.error().status, job.error().message);
    return;
  }
  if (is_load_request(*job)) {
    load_or_unload(exchange, *job, ep);
    return;
  }
  const std::string model = job->requested;
  auto fail = [&](int status, const std::string& message, Headers extra) {
    send_error(exchange, status, message, std::move(extra));
  };
  run(exchange, *job, request, fail,
      [&](const Answer& answer, RunTiming& timing) -> std::unique_ptr<TokenSink> {
        if (job->stream) {
          return std::make_unique<NdjsonSink>(exchange, ep, model, answer, timing, date(),
                                              [this] { return now_rfc3339(); });
        }
        return std::make_unique<WholeAnswerSink>(timing, [&, ep] {
          std::string call_id = answer.tool_call ? "call_" + answer.tool_call->id.substr(0, 8) : "";
          send_json(
              exchange, 200,
              ollama::whole_answer(ep, model, now_rfc3339(), answer, call_id, timing.durations()));
          return !exchange.write_failed();
        });
      });
}

void OllamaApi::load_or_unload(Exchange& exchange, const OllamaJob& job, ollama::Endpoint ep) {
  const std::string& name = job.spec->name;
  if (job.keep_alive.is_zero()) {
    m_models.unload(name);
    send_json(exchange, 200, ollama::load_reply(ep, job.requested, now_rfc3339(), "unload"));
    return;
  }
  ModelUse use(m_models, name, job.keep_alive);
  if (use.load().count() > 0 && exchange.wait_for(use.load()) != WaitResult::elapsed) {
    return;
  }
  use.end();
  send_json(exchange, 200, ollama::load_reply(ep, job.requested, now_rfc3339(), "load"));
}

void OllamaApi::run(Exchange& exchange, OllamaJob& job, const HttpRequest& request,
                    const FailFn& fail, const SinkFactory& make_sink) {
  InFlight in_flight(m_services.stats, job.spec->name);
  auto fault = request_faults(m_services.options.fault, job.input.directive, request);
  if (!fault) {
    fail(400, fault.error().message, {});
    return;
  }
  auto send_status = [&](int status, int retry) {
    Headers extra;
    if (status == 429) {
      extra.emplace_back("Retry-After", std::to_string(retry));
    }
    fail(status, "llm-sim: injected fault status=" + std::to_string(status), std::move(extra));
  };
  for (const std::string& name : fault_names(*fault)) {
    m_services.stats.fault_injected(name);
  }
  FaultResult replaced = apply_response_faults(exchange, *fault, m_services, send_status);
  if (replaced != FaultResult::none) {
    in_flight.end(replaced == FaultResult::client_gone ? RequestEnd::client_gone
                                                       : RequestEnd::other);
    return;
  }
  GenerationRequest& gen = job.gen;
  gen.reasoning = gen.reasoning || fault->think;
  if (fault->tool && !gen.tools.empty()) {
    gen.tool_call = *fault->tool;
  }
  gen.exact_tokens = fault->tokens;
  gen.repeat = fault->repeat;
  Answer answer = generate(gen);
  if (job.raw) {
    // No template: the prompt is counted as it is, without chat framing.
    long long n = 0;
    for (const ChatTurn& t : gen.messages) {
      n += text_tokens(t.text);
    }
    answer.prompt_tokens = std::max(1LL, n);
  }
  ModelUse use(m_models, job.spec->name, job.keep_alive);
  RunTiming timing{SteadyClock::now(), use.load(), {}};
  Pacing pacing =
      make_pacing(m_services.options.ttft, m_services.options.tokens_per_second, *fault);
  pacing.ttft += use.load();
  std::unique_ptr<TokenSink> sink = make_sink(answer, timing);
  PlayHooks hooks;
  hooks.before_finish = [&use] { use.end(); };
  in_flight.end(request_end(play(exchange, pacing, answer.size(), *sink, hooks)));
}

void OllamaApi::embed(const HttpRequest& request, Exchange& exchange, EmbedApi api) {
  auto fail = [&](int status, const std::string& message) {
    if (api == EmbedApi::openai) {
      send_openai_error(exchange, status, message);
    } else {
      send_error(exchange, status, message);
    }
  };
  auto body = parse_object(request.body);
  if (!body) {
    fail(body.error().status, body.error().message);
    return;
  }
  const std::string name = string_field(*body, "model");
  if (name.empty()) {
    fail(400, "model is required");
    return;
  }
  const OllamaModelSpec* spec = m_models.find(name);
  if (spec == nullptr) {
    fail(404, api == EmbedApi::openai ? ollama::model_not_found(name)
                                      : "model '" + name + "' not found");
    return;
  }
  // The texts: /api/embed and /v1 take "input" (a string or an array of strings), the
  // legacy endpoint "prompt". An empty string only loads the model.
  std::vector<std::string> texts;
  const Json input = body->value(api == EmbedApi::legacy ? "prompt" : "input", Json());
  if (input.is_string()) {
    if (!input.get_ref<const std::string&>().empty()) {
      texts.push_back(input.get<std::string>());
    }
  } else if (input.is_array()) {
    for (const Json& v : input) {
      if (!v.is_string()) {
        fail(400, api == EmbedApi::openai ? "invalid input" : "invalid input type");
        return;
      }
      texts.push_back(v.get<std::string>());
    }
  } else if (!input.is_null()) {
    fail(400, api == EmbedApi::openai ? "invalid input" : "invalid input type");
    return;
  }
  if (api == EmbedApi::openai && texts.empty()) {
    fail(400, "invalid input");
    return;
  }
  core::Duration keep_alive = core::Duration::from(k_default_keep_alive);
  if (body->contains("keep_alive") && !(*body)["keep_alive"].is_null()) {
    auto ka = core::parse_duration((*body)["keep_alive"]);
    if (!ka) {
      fail(400, ka.error().message);
      return;
    }
    keep_alive = *ka;
  }
  const auto start = SteadyClock::now();
  ModelUse use(m_models, spec->name, keep_alive);
  if (use.load().count() > 0 && exchange.wait_for(use.load()) != WaitResult::elapsed) {
    return;
  }
  const long long load_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(use.load()).count();
  if (texts.empty()) {
    use.end();
    if (api == EmbedApi::legacy) {
      send_json(exchange, 200, OJson{{"embedding", OJson::array()}});
    } else {
      send_json(exchange, 200, OJson{{"model", name}, {"embeddings", OJson::array()}});
    }
    return;
  }
  if (!spec->has("embedding")) {
    // The runner refuses a model without pooling; the handler passes its status on.
    use.end();
    fail(501, "this model does not support embeddings");
    return;
  }
  // Longer inputs are cut to the context (keeping the start) unless truncate is false.
  const Json options = body->value("options", Json::object());
  const long long num_ctx = std::min(
      number_of<long long>(options, "num_ctx").value_or(spec->context_length), spec->train_context);
  const bool truncate = !(body->contains("truncate") && (*body)["truncate"].is_boolean() &&
                          !(*body)["truncate"].get<bool>());
  const auto dimensions = number_of<long long>(*body, "dimensions").value_or(0);
  const auto dim = static_cast<std::size_t>(
      dimensions > 0 && dimensions < spec->embedding_length ? dimensions : spec->embedding_length);
  long long tokens = 0;
  std::vector<std::vector<float>> vectors;
  for (std::string& text : texts) {
    long long n = text_tokens(text) + 2; // BOS and EOS
    if (n > num_ctx) {
      if (!truncate) {
        use.end();
        fail(400, "the input length exceeds the context length");
        return;
      }
      text.resize(static_cast<std::size_t>(std::max(0LL, num_ctx - 2) * 4));
      n = num_ctx;
    }
    tokens += n;
    vectors.push_back(embed_text(text, dim));
  }
  use.end();
  if (api == EmbedApi::legacy) {
    send_json(exchange, 200, OJson{{"embedding", vectors.front()}});
    return;
  }
  if (api == EmbedApi::openai) {
    const bool base64 = string_field(*body, "encoding_format") == "base64";
    OJson data = OJson::array();
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      OJson item{{"object", "embedding"}};
      item["embedding"] = base64 ? OJson(base64_floats(vectors[i])) : OJson(vectors[i]);
      item["index"] = i;
      data.push_back(std::move(item));
    }
    send_json(exchange, 200,
              OJson{{"object", "list"},
                    {"data", std::move(data)},
                    {"model", name},
                    {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
    return;
  }
  const long long total =
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count();
  send_json(exchange, 200,
            OJson{{"model", name},
                  {"embeddings", vectors},
                  {"total_duration", total},
                  {"load_duration", load_ns},
                  {"prompt_eval_count", tokens}});
}

} // namespace ask::sim
