#include "ask/run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "ask/askd_client.h"
#include "ask/attach.h"
#include "ask/history.h"
#include "ask/prompt.h"
#include "cache/key.h"
#include "cache/sqlite_cache.h"
#include "core/json_text.h"
#include "telemetry/jsonl_writer.h"

namespace ask::cli {
namespace {

// `v` rounded to `decimals` places, as the double nearest that decimal (so it prints short).
double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// The longest ask waits for the cache or the history while another process holds it locked.
constexpr std::chrono::milliseconds k_busy_wait{3000};

std::string ago(double seconds) {
  long long s = std::llround(std::max(0.0, seconds));
  if (s < 60) {
    return std::to_string(s) + "s ago";
  }
  if (s < 3600) {
    return std::to_string(s / 60) + "m ago";
  }
  if (s < 86400) {
    return std::to_string(s / 3600) + "h ago";
  }
  return std::to_string(s / 86400) + "d ago";
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.0f ms", s * 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  }
  return buf;
}

class Question {
public:
  Question(const AskOptions& o, const config::LoadedConfig& loaded, const Process& p, Terminal& t)
      : m_opts(o), m_config(loaded.config), m_proc(p), m_term(t), m_t0(p.clock.now()),
        m_ts(core::unix_seconds(p.clock.wall_now())),
        m_started_at(std::chrono::steady_clock::now()) {}

  ExitCode run();

private:
  std::optional<ExitCode> choose_model();
  std::optional<ExitCode> assemble();
  std::optional<ExitCode> open_conversation(std::vector<nlohmann::json>& earlier);
  history::History* open_history();
  void remember();
  void choose_cache_mode();
  cache::SqliteCache* open_cache();
  bool answer_from_cache();
  ExitCode ask_askd();
  void on_reply(const ChatReply& reply);
  // What the answer was asked of, after askd's resolution (its X-Requested-Model).
  const std::string& asked() const { return m_resolved_by_askd ? *m_resolved_by_askd : m_model; }
  void note_council_size();
  void note_route();
  void check_length(const ChatReply& reply);
  void store(const ChatReply& reply);
  ExitCode fail(FailureKind kind, const std::string& message);
  ExitCode finish(ExitCode code);
  void write_log(ExitCode code);
  double elapsed() const;
  std::chrono::milliseconds busy_wait() const;
  void warn(const std::string& message) { m_term.note("ask: warning: " + message); }

  const AskOptions& m_opts;
  const config::Config& m_config;
  const Process& m_proc;
  Terminal& m_term;
  core::Clock::SteadyTime m_t0;
  double m_ts;
  // When ask started, for --timeout's deadline (which also bounds waiting for the cache).
  std::chrono::steady_clock::time_point m_started_at;

  // The model.
  std::string m_requested; // as the user named it (tier target, -m value)
  std::string m_model;     // after aliases
  std::optional<std::string> m_tier;
  const config::Council* m_council = nullptr;
  // The request.
  std::string m_prompt;
  nlohmann::json m_request;
  std::string m_key;
  long long m_prompt_chars = 0;
  // The cache.
  // Telemetry's "cache" field: "off", "miss" (read, then write; "hit" once found), "refresh".
  std::string m_cache_mode = "off";
  std::unique_ptr<cache::SqliteCache> m_cache;
  bool m_cache_failed = false;
  // The outcome, for the telemetry line.
  bool m_cache_hit = false;
  std::string m_served_by;
  bool m_demoted = false;
  std::string m_answer;
  std::optional<double> m_ttft;
  std::optional<long long> m_tokens_in;
  std::optional<long long> m_tokens_out;
  std::string m_fallback_path;
  std::string m_council_members;
  std::string m_request_id;
  std::optional<std::string> m_error;
  std::optional<FailureKind> m_error_kind;
  std::optional<std::string> m_resolved_by_askd;
  bool m_answered_by_council = false;
  // How the answer is printed: as it comes (a terminal, --stream), else all at once.
  bool m_stream_out = false;
  std::optional<std::string> m_finish_reason;
  bool m_cut_short = false; // stopped at the length limit without --max-tokens asking for it
  RouteInfo m_route;
  // The conversation.
  std::string m_cid; // "" when the history is off or --no-history
  std::vector<std::string> m_attachment_labels;
  std::unique_ptr<history::History> m_history;
  bool m_history_failed = false;
  std::string m_history_error;
};

ExitCode Question::run() {
  if (auto code = choose_model()) {
    return *code;
  }
  if (auto code = assemble()) {
    return *code;
  }
  choose_cache_mode();
  if (m_cache_mode == "miss" && answer_from_cache()) {
    return finish(ExitCode::ok);
  }
  return ask_askd();
}

std::optional<ExitCode> Question::choose_model() {
  if (m_opts.model) {
    m_requested = *m_opts.model;
  } else {
    std::string flag = m_opts.tier.value_or(m_config.default_tier);
    if (flag.empty()) {
      m_term.error("no model chosen and the config has no default_tier: give a tier flag "
                   "(see ask --help) or -m MODEL");
      return ExitCode::usage;
    }
    const config::Tier* tier = m_config.find_tier(flag);
    if (!tier) {
      m_term.error("default_tier \"" + flag + "\" is not a tier of the config");
      return ExitCode::usage;
    }
    m_tier = flag;
    m_requested = tier->target;
  }
  auto resolved = config::resolve_model_name(m_config, m_requested);
  if (!resolved) {
    // Unknown here; askd may know it (it could run another config): it says so if not.
    m_model = m_requested;
    return std::nullopt;
  }
  m_model = resolved->name;
  m_council = resolved->council;
  return std::nullopt;
}

std::optional<ExitCode> Question::assemble() {
  std::optional<std::string> piped;
  if (!m_proc.stdin_is_tty && !m_opts.no_stdin) {
    auto in = read_all_fd(m_proc.stdin_fd);
    if (!in) {
      return fail(in.error().kind == core::ErrorKind::bad_request ? FailureKind::usage
                                                                  : FailureKind::other,
                  in.error().message);
    }
    piped = std::move(*in);
  }
  // `-a -` takes standard input as an attachment; otherwise it is text for the prompt, and
  // binary data there (a photo, a PDF) is refused rather than sent as U+FFFD soup.
  const bool stdin_attached =
      std::ranges::any_of(m_opts.attachments, [](const AttachmentArg& a) { return a.arg == "-"; });
  std::vector<Attachment> attached;
  if (!m_opts.attachments.empty()) {
    auto loaded = load_attachments(m_opts.attachments,
                                   stdin_attached && piped ? std::optional<std::string_view>(*piped)
                                                           : std::nullopt,
                                   [this](const std::string& msg) { warn(msg); });
    if (!loaded) {
      return fail(FailureKind::usage, loaded.error().message);
    }
    attached = std::move(*loaded);
  }
  std::string piped_text;
  if (piped && !stdin_attached) {
    if (const StdinKind kind = classify_input(*piped); kind.binary) {
      return fail(FailureKind::usage, binary_stdin_error(kind).message);
    }
    piped_text = std::move(*piped);
  }
  if (attached.empty() || !m_opts.words.empty() ||
      piped_text.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto prompt = assemble_prompt(m_opts.words, piped_text);
    if (!prompt) {
      return fail(FailureKind::usage, prompt.error().message);
    }
    m_prompt = std::move(*prompt);
  } // else: attachments alone ("ask -a photo.png") are the question
  for (const Attachment& a : attached) {
    m_attachment_labels.push_back(a.label);
  }
  std::vector<nlohmann::json> earlier;
  if (auto code = open_conversation(earlier)) {
    return code;
  }
  // askd is asked for the name as the user gave it: an alias may have been re-pointed there
  // at run time (PUT /api/aliases, the operator page), and askd's meaning is the one that
  // serves. The cache key takes our resolution (m_model) and ignores the body's model, so
  // `-m fast` and `-m fast-9b` share answers (docs/cache.md).
  RequestParams params{m_requested,        m_opts.system,     user_content(m_prompt, attached),
                       m_opts.temperature, m_opts.max_tokens, !m_opts.json,
                       std::move(earlier)};
  m_request = build_request(params);
  m_key = cache::cache_key(m_model, m_request);
  m_prompt_chars = count_code_points(m_prompt) +
                   (m_opts.system ? count_code_points(to_valid_utf8(*m_opts.system)) : 0);
  for (const Attachment& a : attached) {
    if (a.kind == AttachmentKind::text) {
      m_prompt_chars += count_code_points(a.data);
    }
  }
  return std::nullopt;
}

history::History* Question::open_history() {
  if (m_history || m_history_failed) {
    return m_history.get();
  }
  history::History::Options o;
  o.path = m_config.history.path;
  o.busy_timeout_ms = static_cast<int>(busy_wait().count());
  o.warn = [this](const std::string& msg) { warn(msg); };
  auto opened = history::History::open(std::move(o), m_proc.clock);
  if (!opened) {
    m_history_failed = true;
    m_history_error = opened.error().message;
    return nullptr;
  }
  m_history = std::move(*opened);
  return m_history.get();
}

// The conversation this question belongs to: -c the last one, --cid a named one (new when it
// has no exchanges yet), else a new one. Its earlier turns go before the question.
std::optional<ExitCode> Question::open_conversation(std::vector<nlohmann::json>& earlier) {
  if (!m_config.history.enabled || m_opts.no_history) {
    if (m_opts.continue_last || m_opts.cid) {
      return fail(FailureKind::usage, "the history is off (history.enabled: false in the "
                                      "config), so there is no conversation to continue");
    }
    return std::nullopt;
  }
  if (!m_opts.continue_last && !m_opts.cid) {
    m_cid = history::new_cid(m_proc.clock);
    return std::nullopt;
  }
  history::History* h = open_history();
  if (!h) {
    return fail(FailureKind::other, m_history_error);
  }
  if (m_opts.cid) {
    m_cid = *m_opts.cid;
  } else {
    auto last = h->last_cid();
    if (!last) {
      return fail(FailureKind::other, last.error().message);
    }
    if (!*last) {
      m_term.note("[no earlier conversation: this starts one]");
      m_cid = history::new_cid(m_proc.clock);
      return std::nullopt;
    }
    m_cid = **last;
  }
  auto turns = h->conversation(m_cid);
  if (!turns) {
    return fail(FailureKind::other, turns.error().message);
  }
  earlier = history::as_messages(*turns);
  if (m_opts.system && !earlier.empty() && earlier.front().value("role", "") == "system") {
    earlier.erase(earlier.begin()); // this question's -s replaces the conversation's
  }
  return std::nullopt;
}

// The exchange, into the history (ask logs, -c), once its answer was printed whole.
void Question::remember() {
  if (m_cid.empty() || m_answer.empty()) {
    return;
  }
  if (m_cache_hit && !m_opts.continue_last && !m_opts.cid) {
    // The same question and answer went into the history when a model answered it; a cron
    // job's hourly hit would only repeat it (and opening the history would double the cost
    // of a hit, docs/benchmarks.md). Within a conversation a hit is a turn, and is kept.
    return;
  }
  history::History* h = open_history();
  if (!h) {
    warn(m_history_error + " (the exchange is not in the history)");
    return;
  }
  history::Exchange e;
  e.cid = m_cid;
  e.model = m_model;
  e.served_by = m_served_by;
  if (m_opts.system) {
    e.system = to_valid_utf8(*m_opts.system);
  }
  e.prompt = m_prompt;
  e.answer = m_answer;
  e.attachments = m_attachment_labels;
  e.tokens_in = m_tokens_in;
  e.tokens_out = m_tokens_out;
  e.finish_reason = m_finish_reason;
  if (auto put = h->append(std::move(e)); !put) {
    warn(put.error().message + " (the exchange is not in the history)");
  }
}

void Question::choose_cache_mode() {
  if (!m_config.cache.enabled || m_opts.no_cache || m_council) {
    m_cache_mode = "off";
  } else if (m_opts.refresh) {
    m_cache_mode = "refresh";
  } else {
    m_cache_mode = "miss";
  }
}

cache::SqliteCache* Question::open_cache() {
  if (m_cache || m_cache_failed) {
    return m_cache.get();
  }
  cache::SqliteCache::Options o;
  o.path = m_config.cache.path;
  o.ttl = m_config.cache.ttl;
  o.busy_timeout_ms = static_cast<int>(busy_wait().count());
  o.warn = [this](const std::string& msg) { warn(msg); };
  auto opened = cache::SqliteCache::open(std::move(o), m_proc.clock);
  if (!opened) {
    m_cache_failed = true;
    warn(opened.error().message + " (answering without the cache)");
    return nullptr;
  }
  m_cache = std::move(*opened);
  return m_cache.get();
}

bool Question::answer_from_cache() {
  cache::SqliteCache* c = open_cache();
  if (!c) {
    return false;
  }
  auto got = c->get(m_key);
  if (!got) {
    warn(got.error().message + " (answering without the cache)");
    return false;
  }
  if (!*got) {
    return false;
  }
  const cache::Entry& e = **got;
  m_cache_hit = true;
  m_cache_mode = "hit";
  m_served_by = e.served_by;
  m_answer = e.answer;
  if (m_opts.json) {
    m_term.answer(e.response);
  } else {
    m_term.answer(e.answer);
  }
  m_term.end_answer();
  const TerminalSettings& ts = m_term.settings();
  if (m_opts.verbose || (ts.stderr_is_tty && !m_opts.quiet)) {
    m_term.note("[cached: " + e.served_by + ", " + ago(m_ts - e.created) +
                "; --refresh asks again]");
  }
  return true;
}

ExitCode Question::ask_askd() {
  auto endpoint = parse_endpoint(askd_url(m_opts.url, m_proc.env));
  if (!endpoint) {
    return fail(FailureKind::usage, endpoint.error().message);
  }
  ClientSettings settings;
  settings.endpoint = *endpoint;
  settings.api_key = askd_api_key(m_opts.api_key, m_proc.env);
  settings.stop_fd = m_proc.stop_fd;
  if (m_opts.timeout) {
    // --timeout is the whole call's limit: the first-byte and idle limits may not cut it short.
    const auto ms = m_opts.timeout->finite();
    const std::chrono::milliseconds limit = ms ? *ms : std::chrono::hours(24 * 365);
    settings.first_byte_timeout = std::max(settings.first_byte_timeout, limit);
    settings.idle_timeout = std::max(settings.idle_timeout, limit);
    if (ms) {
      settings.deadline = m_started_at + *ms;
    }
  }
  AskdClient client(settings);
  // On a terminal the answer is printed as it comes; anywhere else (a file, a pipe, cron) only
  // once it is complete, so that a stream that breaks leaves nothing half-written behind.
  m_stream_out = !m_opts.json && (m_term.settings().stdout_is_tty || m_opts.stream);
  StreamSink sink;
  sink.on_text = [this](std::string_view t) {
    if (m_stream_out) {
      m_term.stop_progress();
      m_term.answer(t);
    } else {
      m_term.relabel_progress(m_model + " answering");
    }
  };
  sink.on_reasoning = [this](std::string_view t) {
    if (m_opts.show_thinking) {
      m_term.stop_progress();
      m_term.reasoning(t);
    } else {
      m_term.relabel_progress(m_model + " thinking");
    }
  };
  m_term.start_progress(m_model);
  auto reply = client.chat(m_request, sink);
  m_term.stop_progress();
  if (!reply) {
    ChatFailure& f = reply.error();
    m_served_by = f.served.served_by;
    m_fallback_path = f.served.fallback_path;
    m_request_id = f.served.request_id;
    m_route = route_info(f.served);
    m_answer = f.partial_answer;
    m_ttft = f.ttft_s;
    std::string message = f.message;
    if (!m_answer.empty()) {
      const std::string chars = std::to_string(count_code_points(m_answer)) + " characters";
      if (m_stream_out) {
        m_term.end_answer();
        if (f.kind != FailureKind::interrupted) { // Ctrl-C: the person knows
          m_term.note("[the answer is incomplete: it broke off after " + chars + "]", true);
        }
      } else {
        message += " (the answer broke off after " + chars + "; nothing was printed)";
      }
    }
    if (f.kind == FailureKind::context) {
      message += "; shorten the input, or ask a model with a larger window (ask models)";
    }
    if (m_opts.verbose) {
      note_route();
    }
    return fail(f.kind, message);
  }
  on_reply(*reply);
  if (m_opts.json) {
    m_term.answer(to_json(reply->response).dump(2));
  } else if (!m_stream_out) {
    m_term.answer(m_answer);
  }
  m_term.end_answer();
  if (m_demoted) {
    // For a council, the chairman is what can be demoted. The first failure says why.
    const std::string& expected = m_council ? m_council->chairman : asked();
    std::string why;
    if (!m_route.attempts.empty() && !m_route.attempts.front().reason.empty()) {
      why = " (" + reason_words(m_route.attempts.front().reason) + ")";
    }
    m_term.note("[degraded: " + expected + " → " + m_served_by + why + "]", true);
  }
  if (m_council) {
    note_council_size();
  }
  check_length(*reply);
  if (m_opts.verbose) {
    note_route();
    m_term.note("[" + m_served_by + " via askd, " + format_seconds(elapsed()) +
                (m_ttft ? ", first text after " + format_seconds(*m_ttft) : "") +
                (m_fallback_path.empty() ? "" : ", path " + m_fallback_path) +
                (m_council_members.empty() ? "" : ", members " + m_council_members) +
                (m_request_id.empty() ? "" : ", request " + m_request_id) + "]");
  }
  if (m_answered_by_council) {
    m_cache_mode = "off"; // never cached, even when only askd knew it was a council
  } else if (m_cache_mode != "off") {
    store(*reply);
  }
  return finish(ExitCode::ok);
}

// -v: each model tried, why it failed and how long it took; then askd's waits.
void Question::note_route() {
  for (const AttemptInfo& a : m_route.attempts) {
    std::string line =
        "[" + a.model + ": " + (a.reason.empty() ? "answered" : reason_words(a.reason));
    if (a.seconds) {
      line += ", " + format_seconds(*a.seconds);
      if (a.reason.empty() && m_stream_out) {
        line += " to its first text";
      }
    }
    m_term.note(line + "]");
  }
  // Waits under a millisecond would read "waited 0 ms …, 0 ms …": worth no line.
  constexpr double k_noteworthy_s = 0.001;
  if (m_route.queue_s.value_or(0) >= k_noteworthy_s ||
      m_route.load_s.value_or(0) >= k_noteworthy_s) {
    m_term.note("[waited " + format_seconds(m_route.queue_s.value_or(0)) + " in askd's queue, " +
                format_seconds(m_route.load_s.value_or(0)) + " for the model to load]");
  }
}

// An answer that stopped at the length limit without --max-tokens asking for it ran out of
// context (or into the server's own limit): said, and not cached.
void Question::check_length(const ChatReply& reply) {
  if (reply.response.choices.empty()) {
    return;
  }
  m_finish_reason = reply.response.choices[0].finish_reason;
  if (m_finish_reason != "length") {
    return;
  }
  if (m_opts.max_tokens && m_tokens_out && *m_tokens_out >= *m_opts.max_tokens) {
    return; // the limit the user asked for
  }
  m_cut_short = true;
  std::string line = "[warning: the answer was cut off at the length limit";
  if (m_tokens_out) {
    line += " after " + std::to_string(*m_tokens_out) + " tokens";
  }
  if (m_tokens_in) {
    line += "; the prompt has " + std::to_string(*m_tokens_in) + " tokens";
  }
  const config::Model* served = m_config.find_model(m_served_by);
  if (served && served->context_length) {
    line += " and " + m_served_by + "'s window " + std::to_string(*served->context_length);
  }
  m_term.note(line + "; not cached]", true);
}

void Question::on_reply(const ChatReply& reply) {
  m_served_by = reply.served.served_by.empty() ? m_model : reply.served.served_by;
  m_fallback_path = reply.served.fallback_path;
  m_council_members = reply.served.council_members;
  m_request_id = reply.served.request_id;
  m_route = route_info(reply.served);
  m_answer = reply.answer;
  m_ttft = reply.ttft_s;
  if (reply.response.usage) {
    m_tokens_in = reply.response.usage->prompt_tokens;
    m_tokens_out = reply.response.usage->completion_tokens;
  }
  // askd's own resolution of the name wins over ours (its config may know more aliases).
  if (!reply.served.requested.empty()) {
    m_resolved_by_askd = reply.served.requested;
  }
  // A council is demoted only when its chairman was; a council our config does not know
  // (askd says so with X-Council-Members) cannot be judged, and is never cached.
  m_answered_by_council = m_council != nullptr || !m_council_members.empty();
  if (m_council) {
    m_demoted = m_served_by != m_council->chairman;
  } else {
    // Another askd's answer is labelled with its machine ("coder-30b@box2"): it is what was
    // asked for when askd says nothing failed before it (X-Fallback-Reasons).
    const bool peer_as_asked =
        m_served_by.find('@') != std::string::npos && reply.served.fallback_reasons.empty();
    m_demoted = !m_answered_by_council && !peer_as_asked &&
                m_served_by != m_resolved_by_askd.value_or(m_model);
  }
}

// A council some of whose members failed answered anyway: said on stderr, as a demotion is.
void Question::note_council_size() {
  std::size_t members = 0;
  std::size_t failed = 0;
  std::size_t start = 0;
  while (start <= m_council_members.size() && !m_council_members.empty()) {
    const std::size_t comma = m_council_members.find(',', start);
    const std::string one = m_council_members.substr(start, comma - start);
    ++members;
    failed += one == "-" ? 1 : 0;
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  if (failed > 0) {
    m_term.note("[council: " + std::to_string(members - failed) + " of " + std::to_string(members) +
                    " members answered]",
                true);
  }
}

void Question::store(const ChatReply& reply) {
  if (m_answer.empty() || m_cut_short) {
    return; // nothing worth keeping, or not the whole answer
  }
  if (reply.served.served_by.empty()) {
    // Not askd (ASK_URL at a bare llama-server, say): who answered is unknown, and the key
    // promises the model.
    if (m_opts.verbose) {
      m_term.note("[not cached: the server did not say who served (X-Served-By); is it askd?]");
    }
    return;
  }
  cache::SqliteCache* c = open_cache();
  if (!c) {
    return;
  }
  // A demoted answer is the serving model's answer to this question: stored under that
  // model's key, never under the requested model's (docs/cache.md).
  cache::Entry e;
  e.model = m_served_by;
  e.served_by = m_served_by;
  e.key = m_demoted ? cache::cache_key(m_served_by, m_request) : m_key;
  e.answer = m_answer;
  e.response = core::dump_json(to_json(reply.response), 2);
  e.prompt_chars = static_cast<int>(m_prompt_chars);
  if (auto put = c->put(e); !put) {
    warn(put.error().message + " (the answer was not cached)");
  }
}

ExitCode Question::fail(FailureKind kind, const std::string& message) {
  m_error = message;
  m_error_kind = kind;
  if (kind != FailureKind::interrupted) {
    m_term.error(message);
  }
  return finish(exit_code_for(kind));
}

// How long to wait for a SQLite file another process holds locked: a few seconds, and never
// more than half of what is left of --timeout, so the question itself still has time; then ask
// goes on without it and says so.
std::chrono::milliseconds Question::busy_wait() const {
  std::chrono::milliseconds wait = k_busy_wait;
  if (m_opts.timeout) {
    if (const auto ms = m_opts.timeout->finite()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          m_started_at + *ms - std::chrono::steady_clock::now());
      wait = std::clamp(left / 2, std::chrono::milliseconds(1), wait);
    }
  }
  return wait;
}

double Question::elapsed() const {
  return std::chrono::duration<double>(m_proc.clock.now() - m_t0).count();
}

ExitCode Question::finish(ExitCode code) {
  if (code == ExitCode::ok && m_term.answer_pipe_closed()) {
    // `ask … | head -c 10`: the reader took what it wanted and left. Nothing to say.
  } else if (code == ExitCode::ok && m_term.answer_failed()) {
    // The answer did not reach stdout (a full disk under `>> digest.md`): never exit 0.
    m_error = "cannot write the answer to standard output: " + m_term.answer_error();
    m_error_kind = FailureKind::other;
    m_term.error(*m_error);
    code = ExitCode::failure;
  }
  if (code == ExitCode::ok) {
    remember();
  }
  if (!m_model.empty()) {
    write_log(code);
  }
  return code;
}

void Question::write_log(ExitCode code) {
  if (!m_config.telemetry.enabled) {
    return;
  }
  using J = nlohmann::ordered_json;
  auto or_null = [](const auto& v) { return v ? J(*v) : J(nullptr); };
  auto text_or_null = [](const std::string& s) { return s.empty() ? J(nullptr) : J(s); };
  // The first ten fields, their names, types and order, are promised (docs/telemetry.md).
  J line = {
      {"ts", round_to(m_ts, 3)},
      {"model", m_model},
      {"served_by", m_served_by},
      {"prompt_hash", m_key.empty() ? std::string() : cache::short_hash(m_key)},
      {"prompt_chars", m_prompt_chars},
      {"response_chars", count_code_points(m_answer)},
      {"latency_s", round_to(elapsed(), 6)},
      {"cache_hit", m_cache_hit},
      {"demoted", m_demoted},
      {"exit_code", static_cast<int>(code)},
  };
  line["tier"] = or_null(m_tier);
  line["requested"] = m_opts.model.value_or(m_requested);
  line["cache"] = m_cache_mode;
  line["ttft_s"] = m_ttft ? J(round_to(*m_ttft, 6)) : J(nullptr);
  line["tokens_in"] = or_null(m_tokens_in);
  line["tokens_out"] = or_null(m_tokens_out);
  // Only a path that went past its first model says something.
  line["fallback_path"] =
      m_fallback_path.find('>') == std::string::npos ? J(nullptr) : J(m_fallback_path);
  line["error"] = or_null(m_error);
  line["error_kind"] = m_error_kind ? J(to_string(*m_error_kind)) : J(nullptr);
  if (m_council) {
    line["council_members"] = text_or_null(m_council_members);
  }
  line["request_id"] = text_or_null(m_request_id);
  line["finish_reason"] = or_null(m_finish_reason);
  line["queue_s"] = m_route.queue_s ? J(round_to(*m_route.queue_s, 6)) : J(nullptr);
  line["load_s"] = m_route.load_s ? J(round_to(*m_route.load_s, 6)) : J(nullptr);
  J attempts = J::array();
  for (const AttemptInfo& a : m_route.attempts) {
    attempts.push_back({{"model", a.model},
                        {"reason", a.reason.empty() ? J(nullptr) : J(a.reason)},
                        {"s", a.seconds ? J(round_to(*a.seconds, 6)) : J(nullptr)}});
  }
  line["attempts"] = std::move(attempts);
  line["cid"] = text_or_null(m_cid);
  line["ask_version"] = ASK_VERSION;
  telemetry::JsonlWriter writer(m_config.telemetry.ask_log);
  if (auto w = writer.append(line); !w) {
    warn("telemetry: " + w.error().message + " (the answer is unaffected)");
  }
}

} // namespace

std::string askd_url(const std::optional<std::string>& flag, const core::EnvLookup& env) {
  if (flag) {
    return *flag;
  }
  if (auto v = env("ASK_URL"); v && !v->empty()) {
    return *v;
  }
  return std::string(k_default_askd_url);
}

std::optional<std::string> askd_api_key(const std::optional<std::string>& flag,
                                        const core::EnvLookup& env) {
  if (flag) {
    return flag->empty() ? std::nullopt : flag;
  }
  if (auto v = env("ASK_API_KEY"); v && !v->empty()) {
    return v;
  }
  return std::nullopt;
}

ExitCode run_question(const AskOptions& options, const config::LoadedConfig& loaded,
                      const Process& process, Terminal& terminal) {
  Question q(options, loaded, process, terminal);
  return q.run();
}

} // namespace ask::cli
