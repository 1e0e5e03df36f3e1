#include "proxy/chat.h"

#include <array>
#include <cstdio>
#include <deque>
#include <random>

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "core/json_text.h"
#include "council/council.h"
#include "proxy/attempt.h"
#include "proxy/chain_completer.h"
#include "proxy/count_tokens.h"
#include "proxy/prepare.h"

namespace ask::proxy {

namespace {

using Clock = std::chrono::steady_clock;
using net::Headers;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// True when a stream chunk carries something a client sees: content, reasoning, a tool call,
// a finish reason, or usage. Chunks before it (llama-server's role-only opener) are held back
// until it arrives, so that a stream that dies before its first content can still fall back.
bool has_content(const core::Json& chunk) {
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) {
    return chunk.contains("usage");
  }
  for (const core::Json& choice : *choices) {
    if (!choice.is_object()) {
      continue;
    }
    if (auto fr = choice.find("finish_reason"); fr != choice.end() && !fr->is_null()) {
      return true;
    }
    // A text completion's chunk carries its text on the choice itself.
    if (auto text = choice.find("text");
        text != choice.end() && text->is_string() && !text->get_ref<const std::string&>().empty()) {
      return true;
    }
    auto delta = choice.find("delta");
    if (delta == choice.end() || !delta->is_object()) {
      continue;
    }
    for (const char* key : {"content", "reasoning_content", "reasoning"}) {
      if (auto it = delta->find(key);
          it != delta->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        return true;
      }
    }
    if (auto tc = delta->find("tool_calls"); tc != delta->end() && tc->is_array() && !tc->empty()) {
      return true;
    }
  }
  return choices->empty() && chunk.contains("usage");
}

// A text completion's prompt and suffix at about four bytes a token.
long long estimate_completion_tokens(const core::Json& body) {
  std::size_t bytes = 0;
  for (const char* key : {"prompt", "suffix"}) {
    auto it = body.find(key);
    if (it == body.end()) {
      continue;
    }
    if (it->is_string()) {
      bytes += it->get_ref<const std::string&>().size();
    } else if (it->is_array()) {
      for (const core::Json& part : *it) {
        bytes += part.is_string() ? part.get_ref<const std::string&>().size() : 4;
      }
    }
  }
  return static_cast<long long>((bytes + 3) / 4) + 1;
}

// The whole reply of `op` from `upstream`.
core::Result<core::Json> call_upstream(Upstream& upstream, Operation op, const core::Json& body,
                                       const CallContext& ctx) {
  switch (op) {
  case Operation::chat:
    break;
  case Operation::completion:
    return upstream.complete(body, ctx);
  case Operation::embedding:
    return upstream.embed(body, ctx);
  case Operation::rerank:
    return upstream.rerank(body, ctx);
  }
  return upstream.chat(body, ctx);
}

std::optional<core::Usage> usage_of(const core::Json& response) {
  auto it = response.find("usage");
  if (it == response.end() || !it->is_object()) {
    return std::nullopt;
  }
  core::Usage u;
  u.prompt_tokens = it->value("prompt_tokens", 0LL);
  u.completion_tokens = it->value("completion_tokens", 0LL);
  return u;
}

// One request's way through the handler.
class ChatCall {
public:
  ChatCall(const ChatDeps& deps, const net::HttpRequest& request, net::Exchange& exchange,
           const Dialect& door, const core::Json* body)
      : m_deps(deps), m_request(request), m_ex(exchange), m_door(door), m_op(door.operation()),
        m_given_body(body), m_start(deps.clock.now()) {
    m_rec.ts = core::unix_seconds(deps.clock.wall_now());
    m_rec.id = new_request_id();
    m_rec.client = exchange.peer();
    m_rec.api = std::string(door.name());
  }

  void run();

private:
  enum class Outcome { served, failed_over, finished };

  bool check_via();
  bool parse();
  // A model of this askd's config, else one a peer offers here.
  const config::Model* find_model(std::string_view name) const;
  bool check_capability(const config::Model& requested);
  bool run_council(const config::Council& council);
  void add_council_usage(core::Json& reply) const;
  Outcome try_model(const config::Model& model);
  std::optional<core::Error> context_overflow(const config::Model& model, Upstream& upstream,
                                              const CallContext& ctx) const;
  Outcome relay_stream(const config::Model& model, ChunkStream& stream);
  // The attempt under way answered: who served (a peer's answer labelled with its machine),
  // the path and the failures it adds, and when.
  void served(const config::Model& model);
  // What a peer tried before it answered or gave up (its X-Fallback-Path and -Reasons,
  // labelled), spliced into this request's path and attempts in place of `name@machine`;
  // `last`: the peer's failure when it gave up, kept with its last attempt.
  void take_peer_route(const config::Model& model, std::optional<core::Error> last);
  Outcome attempt_failed(const config::Model& model, core::Error error, std::string reason);
  // `retry_after_s`: Retry-After of a 503 (a 429 always says 1); 0 = none.
  void respond_error(int status, const core::Json& body, const std::string& message,
                     int retry_after_s = 0);
  void reject(int status, std::string_view reason, const core::Error& error);
  void client_gone(const std::string& what);
  Headers headers(std::string_view content_type) const;
  bool write_chunk(core::Json& chunk);
  DialectMeta meta_for(const config::Model& model) const;
  void finish(int status);

  const ChatDeps& m_deps;
  const net::HttpRequest& m_request;
  net::Exchange& m_ex;
  const Dialect& m_door;
  const Operation m_op;
  const core::Json* m_given_body; // the body parsed by the caller, or null
  Clock::time_point m_start;
  Clock::time_point m_attempt_start; // of the attempt under way
  RequestRecord m_rec;
  core::Json m_body;
  core::ChatRequest m_parsed;                 // chat requests only
  bool m_fill_in_middle = false;              // a text completion with a suffix
  std::optional<core::Usage> m_council_usage; // a council's members' tokens, added to the answer
  bool m_stream = false;
  bool m_wants_usage = false;
  bool m_started = false;                   // request_started was counted
  bool m_committed = false;                 // a 200 status line has been (or is being) sent
  std::unique_ptr<StreamEncoder> m_encoder; // the door's, while a stream is relayed
  std::string m_frame;                      // reused for each SSE frame
  std::string m_via;                        // the askds this request went through, this one last
  bool m_no_fallback = false;               // X-Ask-Fallback: off
  std::shared_ptr<const PeerCatalog> m_peer_models; // held while the request runs
  std::string m_label; // the attempt under way: its model, or `name@machine` on a peer
  PeerAnswer m_answer; // what a peer said of its answer to the attempt under way
};

void ChatCall::run() {
  if (!check_via() || !parse()) {
    return;
  }
  auto resolved = m_deps.resolve(m_rec.requested);
  if (!resolved && m_deps.peers != nullptr) {
    // Not a name of this askd's: maybe one a peer offers here.
    m_peer_models = m_deps.peers->catalog();
    if (const config::Model* offered = m_peer_models->find(m_rec.requested)) {
      resolved = config::ResolvedName{offered->name, offered, nullptr};
    }
  }
  if (!resolved) {
    reject(404, "unknown_model", resolved.error());
    return;
  }
  m_rec.model = resolved->name;
  std::string chain_of = resolved->name;
  if (resolved->council != nullptr && m_op != Operation::chat) {
    reject(400, "bad_request",
           core::Error::bad_request("'" + resolved->name +
                                    "' is a council, which answers chat only, not " +
                                    std::string(operation_name(m_op)) + " requests"));
    return;
  }
  if (const config::Model* requested = find_model(resolved->name);
      requested != nullptr && !check_capability(*requested)) {
    return;
  }
  if (resolved->council != nullptr) {
    // The members deliberate; then the chairman's request goes down the chairman's chain
    // like any other (streamed or not), X-Served-By naming the chairman that answered.
    if (!run_council(*resolved->council)) {
      return;
    }
    chain_of = resolved->council->chairman;
  }
  // A peer's model is its own chain: its fallbacks are the peer's business (or none).
  const bool peers_model = m_peer_models != nullptr && m_peer_models->find(chain_of) != nullptr;
  auto chain = peers_model ? core::Result<std::vector<std::string>>({chain_of})
                           : config::fallback_chain(m_deps.config, chain_of);
  if (!chain) {
    reject(chain.error().status_for_client(), "bad_request", chain.error());
    return;
  }
  if (m_no_fallback && chain->size() > 1) {
    chain->resize(1); // another askd asked for this model alone (X-Ask-Fallback: off)
  }
  m_deps.metrics.request_started(m_rec.model);
  m_started = true;
  for (std::size_t i = 0; i < chain->size(); ++i) {
    const config::Model* model = find_model((*chain)[i]);
    if (model == nullptr) {
      continue; // cannot happen: fallback_chain only names models
    }
    const bool has_next = i + 1 < chain->size();
    if (try_model(*model) != Outcome::failed_over) {
      return;
    }
    if (has_next) {
      const Attempt& last = m_rec.attempts.back();
      m_deps.metrics.fallback(model->name, (*chain)[i + 1], last.reason);
      spdlog::warn("{} {}: {} failed ({}: {}), falling back to {}", m_rec.id, m_rec.model,
                   model->name, last.reason, last.error.message, (*chain)[i + 1]);
    }
  }
  ChainFailure failure = chain_failure(m_rec.attempts);
  spdlog::warn("{} {}: every model failed ({})", m_rec.id, m_rec.model, path_text(m_rec.path));
  respond_error(failure.status, failure.body, failure.body["error"]["message"].get<std::string>(),
                failure.retry_after_s);
}

bool ChatCall::check_via() {
  m_via = m_deps.instance;
  if (auto fallback = m_request.header(k_fallback_header)) {
    m_no_fallback = *fallback == "off";
  }
  const auto header = m_request.header(k_via_header);
  if (!header) {
    return true;
  }
  auto ids = parse_via(*header);
  if (!ids) {
    reject(400, "bad_request", ids.error());
    return false;
  }
  const bool back_here = std::ranges::find(*ids, m_deps.instance) != ids->end();
  if (back_here || ids->size() >= k_max_hops) {
    const std::string message =
        back_here ? "loop: this request came back to the askd it went through before (" +
                        std::string(k_via_header) + ": " + std::string(*header) +
                        "; this askd is " + m_deps.instance +
                        "): a model on an askd backend leads back here; check the backends of "
                        "kind askd on each machine"
                  : "loop: this request went through " + std::to_string(ids->size()) +
                        " askds, the most one may (" + std::to_string(k_max_hops) + ")";
    m_deps.metrics.rejected("loop");
    spdlog::warn("{} refused: {}", m_rec.id, message);
    respond_error(508, error_json(message, "server_error", "loop_detected"), message);
    return false;
  }
  m_via = std::string(*header) + "," + m_deps.instance;
  return true;
}

const config::Model* ChatCall::find_model(std::string_view name) const {
  if (const config::Model* m = m_deps.config.find_model(name)) {
    return m;
  }
  return m_peer_models ? m_peer_models->find(name) : nullptr;
}

bool ChatCall::parse() {
  std::expected<core::Json, core::JsonTextError> parsed_here;
  if (m_given_body == nullptr) {
    parsed_here = core::parse_json_text(m_request.body);
    if (!parsed_here) {
      reject(400, "invalid_json",
             core::Error::bad_request("invalid JSON: " + parsed_here.error().what));
      return false;
    }
  }
  const core::Json* body = m_given_body != nullptr ? m_given_body : &*parsed_here;
  if (body->is_object()) {
    if (auto it = body->find("model"); it != body->end() && it->is_string()) {
      m_rec.requested = it->get<std::string>();
    }
  }
  auto chat = m_door.to_openai(*body);
  if (!chat) {
    reject(400, "bad_request", chat.error());
    return false;
  }
  m_body = std::move(*chat);
  if (m_op != Operation::chat) {
    // The door checked the body (proxy/dialect_openai.h); only what the path itself needs.
    m_stream = operation_streams(m_op) && m_body.value("stream", false);
    m_rec.stream = m_stream;
    m_fill_in_middle = m_op == Operation::completion && m_body.contains("suffix") &&
                       m_body["suffix"].is_string() &&
                       !m_body["suffix"].get_ref<const std::string&>().empty();
    const auto options = m_body.find("stream_options");
    m_wants_usage =
        options != m_body.end() && options->is_object() && options->value("include_usage", false);
    return true;
  }
  auto parsed = core::parse_chat_request(m_body);
  if (!parsed) {
    reject(400, "bad_request", parsed.error());
    return false;
  }
  m_stream = parsed->stream;
  m_rec.stream = m_stream;
  m_parsed = std::move(*parsed);
  m_wants_usage = m_door.stream_usage_always() ||
                  (m_parsed.stream_options && m_parsed.stream_options->include_usage);
  return true;
}

// A request the model asked for by name cannot do is the client's mistake, said at once
// with what the model can do (a chat request to an embedding model, or the reverse).
bool ChatCall::check_capability(const config::Model& requested) {
  auto missing = missing_capability(requested, m_op, m_fill_in_middle);
  if (!missing) {
    return true;
  }
  std::string can;
  for (const std::string& c : requested.capabilities) {
    can += (can.empty() ? "" : ", ") + c;
  }
  reject(400, "capability",
         core::Error::bad_request("model '" + requested.name + "' cannot answer " +
                                  std::string(m_door.name()) + " requests: they need the '" +
                                  *missing + "' capability, and its capabilities are " + can));
  return false;
}

bool ChatCall::run_council(const config::Council& council) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  ChainCompleter completer(m_deps, m_ex.watch(), m_rec.id, m_via);
  auto d = council::deliberate(council, m_parsed, completer, rng);
  if (!d) {
    core::Error& e = d.error();
    if (e.kind == core::ErrorKind::cancelled) {
      client_gone(e.message);
    } else if (e.kind == core::ErrorKind::bad_request) {
      reject(400, "bad_request", e);
    } else {
      spdlog::warn("{} {}: {}", m_rec.id, m_rec.model, e.message);
      respond_error(502, error_json(e.message, "server_error", "council_failed"), e.describe());
    }
    return false;
  }
  m_rec.council_members = d->served_list();
  for (const council::MemberOutcome& m : d->members) {
    if (m.error) {
      m_rec.member_errors.push_back(m.label + ": " + m.error->message);
    }
  }
  if (d->answered() < d->members.size()) {
    spdlog::warn("{} {}: {} of {} members answered ({})", m_rec.id, m_rec.model, d->answered(),
                 d->members.size(), m_rec.council_members);
  }
  m_council_usage = d->usage;
  m_body = std::move(d->chairman_request);
  return true;
}

void ChatCall::add_council_usage(core::Json& reply) const {
  auto it = reply.find("usage");
  if (!m_council_usage || it == reply.end() || !it->is_object()) {
    return;
  }
  for (const auto& [key, add] :
       {std::pair<const char*, long long>{"prompt_tokens", m_council_usage->prompt_tokens},
        {"completion_tokens", m_council_usage->completion_tokens},
        {"total_tokens", m_council_usage->total_tokens}}) {
    (*it)[key] = it->value(key, 0LL) + add;
  }
}

ChatCall::Outcome ChatCall::try_model(const config::Model& model) {
  if (auto missing = missing_capability(model, m_op, m_fill_in_middle)) {
    // A fallback that cannot do this at all is passed over without a call.
    m_rec.attempts.push_back(
        {model.name, model.backend, "capability",
         core::Error::bad_request(model.name + " lacks the '" + *missing + "' capability"), 0.0});
    return Outcome::failed_over;
  }
  m_attempt_start = m_deps.clock.now();
  m_answer = PeerAnswer{};
  auto up = m_deps.upstreams.find(model.backend);
  m_label = up != m_deps.upstreams.end() && up->second->peer()
                ? model.upstream + "@" + model.backend
                : model.name;
  m_rec.path.push_back(m_label);
  if (up == m_deps.upstreams.end()) {
    return attempt_failed(model, core::Error::internal("no upstream for backend " + model.backend),
                          "internal");
  }
  if (auto down = up->second->unavailable()) {
    // A peer known to be down: moved on at once, not after a connect timeout.
    return attempt_failed(model, std::move(*down), "peer_down");
  }
  const auto now = m_deps.clock.now();
  CallContext ctx;
  ctx.model = &model;
  ctx.timeouts = client_timeouts(model.timeouts, now);
  ctx.watch = m_ex.watch();
  ctx.meta = {m_rec.id, static_cast<long long>(m_rec.ts), model.name};
  ctx.client_wants_usage = m_wants_usage;
  ctx.load_s = &m_rec.load_s;
  ctx.via = m_via;
  ctx.peer = &m_answer;

  Upstream& upstream = *up->second;
  if (auto overflow = context_overflow(model, upstream, ctx)) {
    return attempt_failed(model, std::move(*overflow), "");
  }

  // Concurrency limits: the backend's, then the model's. Waiting counts against first byte.
  auto permits =
      acquire_permits(m_deps.limiters, m_deps.metrics, model, now + ctx.timeouts.first_byte,
                      [this] { return m_ex.client_gone(); });
  m_rec.queue_s += seconds_between(now, m_deps.clock.now());
  if (!permits) {
    const bool full = permits.error().kind == core::ErrorKind::overloaded;
    return attempt_failed(model, std::move(permits.error()), full ? "queue_full" : "");
  }

  core::Json body = prepare_request(m_body, model, m_stream, m_op);
  m_deps.metrics.upstream_started(model.backend, model.name);
  struct Done {
    ProxyMetrics& metrics;
    const config::Model& model;
    ~Done() { metrics.upstream_finished(model.backend, model.name); }
  } done{m_deps.metrics, model};

  if (!m_stream) {
    auto reply = call_upstream(upstream, m_op, body, ctx);
    if (!reply) {
      return attempt_failed(model, std::move(reply.error()), "");
    }
    served(model);
    add_council_usage(*reply);
    if (auto usage = usage_of(*reply)) {
      m_rec.prompt_tokens = usage->prompt_tokens;
      m_rec.completion_tokens = usage->completion_tokens;
    }
    std::string text = core::dump_json(m_door.reply(std::move(*reply), meta_for(model)));
    Headers h = headers("application/json");
    h.emplace_back("Content-Length", std::to_string(text.size()));
    m_committed = true;
    if (!m_ex.send_response(200, h, text)) {
      client_gone("the client left before the answer was sent");
      return Outcome::finished;
    }
    finish(200);
    return Outcome::served;
  }
  auto stream = m_op == Operation::completion ? upstream.complete_stream(body, ctx)
                                              : upstream.chat_stream(body, ctx);
  if (!stream) {
    return attempt_failed(model, std::move(stream.error()), "");
  }
  return relay_stream(model, **stream);
}

// A prompt that will not fit `model`'s context window (the config's context_length, for a
// managed model its slot's) is not sent: llama-server would refuse it (and that refusal moves
// on too, proxy/backend_http.cpp), Ollama would silently cut its start. Far below the window
// the estimate of about four bytes a token settles it; near or above, the model's own
// template and tokenizer count where its backend has them (llama-server), else the estimate
// stands, and the error says it was one.
std::optional<core::Error> ChatCall::context_overflow(const config::Model& model,
                                                      Upstream& upstream,
                                                      const CallContext& ctx) const {
  if (!model.context_length || !operation_streams(m_op)) {
    return std::nullopt;
  }
  const long long window = *model.context_length;
  long long tokens =
      m_op == Operation::chat ? estimate_prompt_tokens(m_body) : estimate_completion_tokens(m_body);
  if (tokens * 2 < window) {
    return std::nullopt;
  }
  bool estimated = true;
  if (m_op == Operation::chat) {
    if (auto counted = upstream.count_tokens(m_body, ctx); counted && *counted) {
      tokens = **counted;
      estimated = false;
    }
  }
  if (tokens <= window) {
    return std::nullopt;
  }
  return core::Error::context_exceeded(model.name + " holds " + std::to_string(window) +
                                           " tokens and the prompt has " +
                                           (estimated ? "about " : "") + std::to_string(tokens),
                                       {tokens, window, estimated});
}

ChatCall::Outcome ChatCall::relay_stream(const config::Model& model, ChunkStream& stream) {
  // Hold chunks back until the first one with content: until then the model can still fail
  // over, and nothing has been promised to the client.
  std::vector<core::Json> held;
  for (;;) {
    auto next = stream.next();
    if (!next) {
      return attempt_failed(model, std::move(next.error()), "");
    }
    if (!*next) {
      return attempt_failed(
          model, core::Error::upstream(502, model.name + " ended its stream before any content"),
          "empty_stream");
    }
    const bool content = has_content(**next);
    held.push_back(std::move(**next));
    if (content) {
      break;
    }
  }
  served(model);
  Headers h = headers("text/event-stream");
  h.emplace_back("Cache-Control", "no-cache");
  h.emplace_back("Transfer-Encoding", "chunked");
  m_committed = true;
  m_rec.ttft_s = seconds_between(m_start, m_deps.clock.now());
  // The head and every held chunk leave in one write: the client is woken once.
  m_ex.begin_chunked(200, h, /*defer=*/true);
  m_encoder = m_door.stream(meta_for(model));
  std::string first;
  for (core::Json& chunk : held) {
    add_council_usage(chunk);
    m_encoder->chunk(chunk, first);
  }
  if (!m_ex.send_chunk(first)) {
    client_gone("the client left before the stream began");
    return Outcome::finished;
  }
  for (;;) {
    auto next = stream.next();
    if (!next) {
      core::Error& e = next.error();
      if (e.kind == core::ErrorKind::cancelled) {
        client_gone("the client left mid-stream");
        return Outcome::finished;
      }
      // Too late to fall back: end the stream with an OpenAI-shaped error event.
      m_deps.metrics.stream_aborted(model.name, reason_for(e));
      m_deps.metrics.upstream_error(model.backend, model.name, reason_for(e));
      spdlog::warn("{} {}: stream from {} broke after its first content: {}", m_rec.id, m_rec.model,
                   model.name, e.describe());
      m_rec.error = e.describe();
      m_frame.clear();
      m_encoder->fail(core::Error{e.kind, model.name + " failed mid-stream: " + e.message,
                                  e.http_status, e.retry_after_s},
                      m_frame);
      m_ex.end_chunked(m_frame);
      finish(200);
      return Outcome::finished;
    }
    if (!*next) {
      break;
    }
    if (!write_chunk(**next)) {
      client_gone("the client left mid-stream");
      return Outcome::finished;
    }
  }
  if (auto usage = stream.usage()) {
    m_rec.prompt_tokens =
        usage->prompt_tokens + (m_council_usage ? m_council_usage->prompt_tokens : 0);
    m_rec.completion_tokens =
        usage->completion_tokens + (m_council_usage ? m_council_usage->completion_tokens : 0);
  }
  m_frame.clear();
  m_encoder->finish(m_frame);
  if (!m_ex.end_chunked(m_frame)) {
    client_gone("the client left before the end of the stream");
    return Outcome::finished;
  }
  finish(200);
  return Outcome::served;
}

void ChatCall::served(const config::Model& model) {
  m_rec.served_s = seconds_between(m_attempt_start, m_deps.clock.now());
  m_rec.served_by = m_answer.served_by.empty() ? m_label : m_answer.served_by;
  take_peer_route(model, std::nullopt);
}

void ChatCall::take_peer_route(const config::Model& model, std::optional<core::Error> last) {
  if (!m_answer.path.empty()) {
    m_rec.path.pop_back(); // the peer's own path says more than `name@machine` alone
    m_rec.path.insert(m_rec.path.end(), m_answer.path.begin(), m_answer.path.end());
  }
  const double seconds = seconds_between(m_attempt_start, m_deps.clock.now());
  for (std::size_t i = 0; i < m_answer.failed.size(); ++i) {
    auto& [label, reason] = m_answer.failed[i];
    const bool gave_up = last && i + 1 == m_answer.failed.size();
    core::Error error =
        gave_up ? std::move(*last)
                : core::Error::upstream(502, "failed on " + model.backend + " (" + reason + ")");
    m_rec.attempts.push_back({std::move(label), model.backend, std::move(reason), std::move(error),
                              gave_up ? seconds : 0.0});
  }
  m_answer = PeerAnswer{};
}

bool ChatCall::write_chunk(core::Json& chunk) {
  add_council_usage(chunk);
  m_frame.clear();
  m_encoder->chunk(chunk, m_frame);
  return m_frame.empty() || m_ex.send_chunk(m_frame);
}

DialectMeta ChatCall::meta_for(const config::Model& model) const {
  return {m_rec.id, static_cast<long long>(m_rec.ts), model.name};
}

ChatCall::Outcome ChatCall::attempt_failed(const config::Model& model, core::Error error,
                                           std::string reason) {
  if (error.kind == core::ErrorKind::cancelled) {
    client_gone(error.message);
    return Outcome::finished;
  }
  if (reason.empty()) {
    reason = reason_for(error);
  }
  m_deps.metrics.upstream_error(model.backend, model.name, reason);
  if (!falls_back(error)) {
    // The request itself is at fault (a backend's 400, say): it would fail everywhere.
    const int status = error.status_for_client();
    core::Json body = core::to_json(core::error_body_for(error));
    spdlog::info("{} {}: {} refused the request: {}", m_rec.id, m_rec.model, model.name,
                 error.describe());
    respond_error(status, body, error.describe());
    return Outcome::finished;
  }
  if (!m_answer.failed.empty()) {
    // A peer that failed says what it tried and why each failed: that, labelled, rather than
    // its 502 alone.
    take_peer_route(model, std::move(error));
    return Outcome::failed_over;
  }
  m_rec.attempts.push_back({m_label, model.backend, std::move(reason), std::move(error),
                            seconds_between(m_attempt_start, m_deps.clock.now())});
  return Outcome::failed_over;
}

Headers ChatCall::headers(std::string_view content_type) const {
  Headers h;
  h.reserve(10);
  h.emplace_back("Content-Type", std::string(content_type));
  h.emplace_back("X-Request-Id", m_rec.id);
  if (!m_rec.model.empty()) {
    h.emplace_back("X-Requested-Model", m_rec.model);
  }
  if (!m_rec.served_by.empty()) {
    h.emplace_back("X-Served-By", m_rec.served_by);
  }
  if (!m_rec.path.empty()) {
    h.emplace_back("X-Fallback-Path", path_text(m_rec.path));
  }
  if (!m_rec.attempts.empty()) {
    h.emplace_back("X-Fallback-Reasons", reasons_text(m_rec.attempts));
  }
  if (!m_rec.council_members.empty()) {
    h.emplace_back("X-Council-Members", m_rec.council_members);
  }
  Timings timings{&m_rec.attempts, std::nullopt, m_rec.queue_s, m_rec.load_s};
  if (!m_rec.served_by.empty() && m_rec.council_members.empty()) {
    timings.served.emplace(m_rec.served_by, m_rec.served_s);
  }
  if (std::string text = server_timing_text(timings); !text.empty()) {
    h.emplace_back("Server-Timing", std::move(text));
  }
  if (!m_ex.keep_alive_allowed()) {
    h.emplace_back("Connection", "close");
  }
  return h;
}

void ChatCall::respond_error(int status, const core::Json& body, const std::string& message,
                             int retry_after_s) {
  m_rec.error = message;
  Headers h = headers("application/json");
  if (status == 429) {
    h.emplace_back("Retry-After", "1");
  } else if (status == 503 && retry_after_s > 0) {
    h.emplace_back("Retry-After", std::to_string(retry_after_s));
  }
  std::string text = core::dump_json(m_door.error_body(status, body));
  h.emplace_back("Content-Length", std::to_string(text.size()));
  m_ex.send_response(status, h, text);
  finish(status);
}

void ChatCall::reject(int status, std::string_view reason, const core::Error& error) {
  m_deps.metrics.rejected(reason);
  spdlog::info("{} rejected ({} {}): {}", m_rec.id, status, reason, error.message);
  core::Json body = core::to_json(core::error_body_for(error));
  respond_error(status, body, error.describe());
}

void ChatCall::client_gone(const std::string& what) {
  m_deps.metrics.client_disconnected(m_rec.model);
  spdlog::debug("{} {}: {}", m_rec.id, m_rec.model, what);
  m_rec.error = what;
  m_ex.close_connection(false);
  // 200 when the answer had begun, else nginx's 499 "client closed request".
  finish(m_committed ? 200 : 499);
}

void ChatCall::finish(int status) {
  m_rec.status = status;
  m_rec.latency_s = seconds_between(m_start, m_deps.clock.now());
  // A request rejected before it reached a model is still a request answered: counted under
  // its resolved name, or "unknown" when the name did not resolve (docs/metrics.md).
  const std::string_view requested =
      m_rec.model.empty() ? std::string_view("unknown") : std::string_view(m_rec.model);
  if (!m_started) {
    m_deps.metrics.request_started(requested);
    m_started = true;
  }
  m_deps.metrics.request_finished(requested, m_rec.served_by, status, m_stream, m_rec.latency_s,
                                  m_rec.ttft_s);
  if (!m_rec.served_by.empty() && (m_rec.prompt_tokens || m_rec.completion_tokens)) {
    // A council's members were counted under their own models as they answered.
    const core::Usage members = m_council_usage.value_or(core::Usage{});
    m_deps.metrics.tokens(m_rec.served_by, m_rec.prompt_tokens.value_or(0) - members.prompt_tokens,
                          m_rec.completion_tokens.value_or(0) - members.completion_tokens);
  }
  m_deps.log.write(m_rec);
}

} // namespace

void ChatHandler::handle(const net::HttpRequest& request, net::Exchange& exchange,
                         const Dialect& door, const core::Json* body) {
  ChatCall call(m_deps, request, exchange, door, body);
  call.run();
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char text[32];
  std::snprintf(text, sizeof text, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xffffffffULL));
  return std::string("chatcmpl-") + text;
}

core::Json error_json(std::string_view message, std::string_view type, std::string_view code) {
  return {{"error", {{"message", message}, {"type", type}, {"code", code}}}};
}

} // namespace ask::proxy
