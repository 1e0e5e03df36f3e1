#include "proxy/peers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "core/strings.h"
#include "proxy/backend_http.h"
#include "proxy/metrics.h"

namespace ask::proxy {

namespace {

using TimePoint = std::chrono::steady_clock::time_point;

double seconds(std::chrono::steady_clock::duration d) {
  return std::round(std::chrono::duration<double>(d).count() * 10.0) / 10.0;
}

bool is_hex_id(std::string_view s) {
  return s.size() == 16 && std::ranges::all_of(s, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A name that can be labelled `name@machine` and listed in X-Fallback-Path: printable, no
// separator of those headers, not too long.
std::optional<std::string> bad_name(std::string_view name) {
  if (name.empty() || name.size() > 256) {
    return "its name is empty or longer than 256 bytes";
  }
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return "its name has a control character";
    }
    if (c == '@' || c == ',' || c == '>' || c == '=') {
      return std::string("its name has '") + c + "', which separates labels in askd's headers";
    }
  }
  return std::nullopt;
}

// Timeouts of one probe: short, a peer that hangs must not hold the others back for long.
net::ClientTimeouts probe_timeouts() {
  net::ClientTimeouts t;
  t.connect = std::chrono::milliseconds(1'000);
  t.first_byte = std::chrono::milliseconds(2'000);
  t.idle = std::chrono::milliseconds(2'000);
  t.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3'000);
  return t;
}

// The part of an askd's /api/status the page shows of a peer's machine.
core::Json remote_summary(const core::Json& health, const core::Json* status) {
  core::Json out = {{"instance", health.value("instance", std::string())}};
  if (status == nullptr || !status->is_object()) {
    return out;
  }
  out["managed"] = status->value("managed", true);
  core::Json gpus = core::Json::array();
  if (auto it = status->find("gpus"); it != status->end() && it->is_array()) {
    for (const core::Json& g : *it) {
      if (!g.is_object() || gpus.size() >= 64) {
        continue;
      }
      core::Json one = core::Json::object();
      for (const char* key : {"id", "kind", "name"}) {
        if (auto v = g.find(key); v != g.end() && v->is_string()) {
          one[key] = v->get<std::string>().substr(0, 128);
        }
      }
      for (const char* key :
           {"total_bytes", "cap_bytes", "used_by_askd_bytes", "available_bytes"}) {
        if (auto v = g.find(key); v != g.end() && v->is_number_unsigned()) {
          one[key] = *v;
        }
      }
      gpus.push_back(std::move(one));
    }
  }
  out["gpus"] = std::move(gpus);
  return out;
}

} // namespace

std::string new_instance_id() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<std::uint64_t>(device()) << 32) ^ device());
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(rng()));
  return text;
}

core::Result<std::vector<std::string>> parse_via(std::string_view header) {
  std::vector<std::string> ids;
  std::size_t start = 0;
  while (start <= header.size()) {
    const std::size_t comma = header.find(',', start);
    const std::string_view one = core::trim_blanks(header.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!is_hex_id(one)) {
      return core::fail(core::Error::bad_request(
          std::string(k_via_header) + " must list askd instance ids (16 hex digits) separated "
                                      "by commas"));
    }
    if (ids.size() > k_max_hops) {
      return core::fail(core::Error::bad_request(std::string(k_via_header) + " lists more than " +
                                                 std::to_string(k_max_hops + 1) + " askds"));
    }
    ids.emplace_back(one);
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return ids;
}

core::Result<PeerListing> parse_peer_models(const core::Json& body) {
  const auto data = body.is_object() ? body.find("data") : body.end();
  if (!body.is_object() || data == body.end() || !data->is_array()) {
    return core::fail(core::Error::malformed_reply("its /v1/models reply has no \"data\" list"));
  }
  PeerListing out;
  std::set<std::string, std::less<>> seen;
  for (const core::Json& e : *data) {
    if (out.models.size() >= k_max_peer_models) {
      out.skipped.push_back("entries after the first " + std::to_string(k_max_peer_models));
      break;
    }
    const auto id = e.is_object() ? e.find("id") : e.end();
    if (!e.is_object() || id == e.end() || !id->is_string()) {
      out.skipped.push_back("an entry without an \"id\" string");
      continue;
    }
    const std::string& name = id->get_ref<const std::string&>();
    if (auto why = bad_name(name)) {
      out.skipped.push_back(core::Json(name.substr(0, 64)).dump() + ": " + *why);
      continue;
    }
    if (auto peer = e.find("peer"); peer != e.end() && !peer->is_null()) {
      out.skipped.push_back(name + ": it is served by another askd (" +
                            (peer->is_string() ? peer->get<std::string>() : peer->dump()) +
                            "); only a machine's own models are offered");
      continue;
    }
    if (!seen.insert(name).second) {
      out.skipped.push_back(name + ": listed twice");
      continue;
    }
    PeerModel m;
    m.name = name;
    if (auto caps = e.find("capabilities"); caps != e.end() && caps->is_array()) {
      for (const core::Json& c : *caps) {
        if (c.is_string() && c.get_ref<const std::string&>().size() <= 64 &&
            m.capabilities.size() < 32) {
          m.capabilities.push_back(c.get<std::string>());
        }
      }
    }
    if (auto ctx = e.find("context_length");
        ctx != e.end() && ctx->is_number_integer() && ctx->get<std::int64_t>() > 0) {
      m.context_length = ctx->get<std::int64_t>();
    }
    if (auto d = e.find("description"); d != e.end() && d->is_string()) {
      m.description = d->get<std::string>().substr(0, 1'024);
    }
    m.council = e.value("council", false) == true;
    out.models.push_back(std::move(m));
  }
  return out;
}

// ---- PeerHealth --------------------------------------------------------------------------

bool PeerHealth::enter(State state, TimePoint now) {
  if (m_state == state) {
    return false;
  }
  m_state = state;
  m_since = now;
  return true;
}

bool PeerHealth::succeeded(TimePoint now) {
  m_failures = 0;
  m_backoff = k_first_backoff;
  m_last_error.clear();
  m_next_probe = now + k_interval;
  return enter(State::up, now);
}

bool PeerHealth::failed(TimePoint now, std::string why) {
  ++m_failures;
  m_last_error = std::move(why);
  // A request that fails while a probe is already due sooner does not push it back.
  if (m_state != State::down || m_next_probe <= now || m_next_probe > now + m_backoff) {
    m_next_probe = now + m_backoff;
  }
  m_backoff = std::min(m_backoff * 2, k_max_backoff);
  return enter(State::down, now);
}

bool PeerHealth::looped(TimePoint now, std::string why) {
  m_last_error = std::move(why);
  m_next_probe = now + k_max_backoff;
  return enter(State::loop, now);
}

std::string_view to_string(PeerHealth::State state) {
  switch (state) {
  case PeerHealth::State::unknown:
    return "unknown";
  case PeerHealth::State::up:
    return "up";
  case PeerHealth::State::down:
    return "down";
  case PeerHealth::State::loop:
    return "loop";
  }
  return "unknown";
}

// ---- Peer ----------------------------------------------------------------------------------

Peer::Peer(const config::Backend& backend, const core::Clock& clock)
    : m_name(backend.name), m_clock(clock), m_health(clock.now()) {}

std::optional<core::Error> Peer::unavailable() const {
  std::lock_guard lock(m_mutex);
  if (m_health.usable()) {
    return std::nullopt;
  }
  const auto now = m_clock.now();
  const auto next = m_health.next_probe() > now ? m_health.next_probe() - now
                                                : std::chrono::steady_clock::duration::zero();
  char text[96];
  std::snprintf(text, sizeof text, " since %.1f s: ", seconds(now - m_health.since()));
  const bool loop = m_health.state() == PeerHealth::State::loop;
  std::string message =
      m_name + (loop ? " is refused as a loop" : " is down") + text + m_health.last_error();
  std::snprintf(text, sizeof text, "; next probe in %.1f s", seconds(next));
  return core::Error::connect(message + text);
}

void Peer::request_failed(const core::Error& error) {
  if (error.kind != core::ErrorKind::connect) {
    return;
  }
  {
    std::lock_guard lock(m_mutex);
    if (m_health.state() == PeerHealth::State::loop) {
      return;
    }
    m_health.failed(m_clock.now(), "a request could not reach it: " + error.message);
  }
  if (m_on_change) {
    m_on_change();
  }
}

void Peer::request_succeeded() {
  bool changed = false;
  {
    std::lock_guard lock(m_mutex);
    if (m_health.state() == PeerHealth::State::up) {
      return;
    }
    changed = m_health.succeeded(m_clock.now());
  }
  if (changed && m_on_change) {
    m_on_change();
  }
}

// ---- PeerDirectory -------------------------------------------------------------------------

struct PeerDirectory::Entry {
  const config::Backend* backend = nullptr;
  std::shared_ptr<Peer> peer;
  std::unique_ptr<BackendHttp> http;
  // Guarded by the directory's mutex:
  std::optional<PeerListing> listing; // the last one read (kept while the peer is down)
  std::optional<TimePoint> listed_at;
  core::Json remote = nullptr;
  std::vector<std::string> offered;
  std::vector<std::string> shadowed;
  std::uint64_t probe_failures = 0;
  PeerHealth::State reported = PeerHealth::State::unknown; // the last state published
};

PeerDirectory::PeerDirectory(const config::Config& config, std::string instance,
                             const core::Clock& clock, EventLog* events)
    : m_config(config), m_instance(std::move(instance)), m_clock(clock), m_events(events),
      m_catalog(std::make_shared<PeerCatalog>()) {
  for (const config::Backend& b : config.backends) {
    if (!b.peer()) {
      continue;
    }
    auto e = std::make_unique<Entry>();
    e->backend = &b;
    e->peer = std::make_shared<Peer>(b, clock);
    e->http = std::make_unique<BackendHttp>(b);
    e->peer->m_on_change = [this] {
      {
        std::lock_guard lock(m_mutex);
        m_woken = true;
      }
      m_wake.notify_all();
    };
    m_peers[b.name] = e->peer;
    m_entries.push_back(std::move(e));
  }
}

PeerDirectory::~PeerDirectory() {
  stop();
}

std::shared_ptr<Peer> PeerDirectory::peer(std::string_view name) const {
  auto it = m_peers.find(name);
  return it == m_peers.end() ? nullptr : it->second;
}

void PeerDirectory::start() {
  if (m_entries.empty() || m_thread.joinable()) {
    return;
  }
  m_thread = std::thread([this] { run(); });
}

void PeerDirectory::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void PeerDirectory::refresh_all() {
  for (auto& e : m_entries) {
    probe(*e);
  }
}

void PeerDirectory::run() {
  for (;;) {
    TimePoint next = m_clock.now() + std::chrono::minutes(1);
    for (auto& e : m_entries) {
      TimePoint due;
      {
        std::lock_guard lock(e->peer->m_mutex);
        due = e->peer->m_health.next_probe();
      }
      if (due <= m_clock.now()) {
        probe(*e);
        std::lock_guard lock(e->peer->m_mutex);
        due = e->peer->m_health.next_probe();
      }
      publish_change(*e); // a request may have found it down
      next = std::min(next, due);
    }
    std::unique_lock lock(m_mutex);
    const auto wait = next - m_clock.now();
    m_wake.wait_for(lock, std::max(wait, std::chrono::steady_clock::duration::zero()),
                    [this] { return m_stopping || m_woken; });
    if (m_stopping) {
      return;
    }
    m_woken = false;
  }
}

void PeerDirectory::probe(Entry& e) {
  Peer& peer = *e.peer;
  const std::string& name = e.backend->name;
  const std::string where = name + " (" + e.backend->url->to_string() + ")";
  auto fail = [&](std::string why) {
    {
      std::lock_guard lock(peer.m_mutex);
      peer.m_health.failed(m_clock.now(), std::move(why));
    }
    std::lock_guard lock(m_mutex);
    ++e.probe_failures;
  };
  auto health = e.http->get_json("/health", probe_timeouts());
  if (!health) {
    fail(health.error().message);
  } else if (!health->is_object() || !health->contains("instance") ||
             !(*health)["instance"].is_string()) {
    fail(where + " answered /health without an instance id: it is not an askd (use kind "
                 "\"openai\" for other OpenAI-compatible servers)");
  } else if ((*health)["instance"].get_ref<const std::string&>() == m_instance) {
    std::lock_guard lock(peer.m_mutex);
    peer.m_health.looped(m_clock.now(), where + " is this askd itself: a peer must be another "
                                                "askd, or requests would come back here");
  } else {
    bool due = false;
    bool was_up = false;
    {
      std::lock_guard lock(peer.m_mutex);
      was_up = peer.m_health.state() == PeerHealth::State::up;
    }
    {
      std::lock_guard lock(m_mutex);
      due = !was_up || !e.listed_at || m_clock.now() - *e.listed_at >= e.backend->refresh.value();
    }
    std::optional<std::string> problem;
    if (due) {
      auto models = e.http->get_json("/v1/models", probe_timeouts());
      auto listing = models ? parse_peer_models(*models)
                            : core::Result<PeerListing>(core::fail(std::move(models.error())));
      if (!listing) {
        problem = "GET /v1/models: " + listing.error().message;
      } else {
        auto status = e.http->get_json("/api/status", probe_timeouts());
        std::lock_guard lock(m_mutex);
        e.listing = std::move(*listing);
        e.listed_at = m_clock.now();
        e.remote = remote_summary(*health, status ? &*status : nullptr);
      }
    }
    if (problem) {
      fail(*problem);
    } else {
      std::lock_guard lock(peer.m_mutex);
      peer.m_health.succeeded(m_clock.now());
    }
    if (due && !problem) {
      rebuild_catalog();
    }
  }
  publish_change(e);
}

void PeerDirectory::publish_change(Entry& e) {
  Peer& peer = *e.peer;
  const std::string& name = e.backend->name;
  const std::string where = name + " (" + e.backend->url->to_string() + ")";
  PeerHealth::State now_state;
  std::string error;
  {
    std::lock_guard lock(peer.m_mutex);
    now_state = peer.m_health.state();
    error = peer.m_health.last_error();
  }
  bool publish = false;
  {
    std::lock_guard lock(m_mutex);
    publish = now_state != e.reported;
    e.reported = now_state;
  }
  if (publish) {
    if (now_state == PeerHealth::State::up) {
      spdlog::info("peer {} is up", where);
    } else {
      spdlog::warn("peer {} is {}: {}", where, to_string(now_state), error);
    }
    if (m_events != nullptr) {
      core::Json data = {{"peer", name}, {"state", to_string(now_state)}};
      if (!error.empty()) {
        data["detail"] = error;
      }
      m_events->publish("peer", std::move(data));
    }
  }
}

void PeerDirectory::rebuild_catalog() {
  auto fresh = std::make_shared<PeerCatalog>();
  std::lock_guard lock(m_mutex);
  for (auto& e : m_entries) {
    e->offered.clear();
    e->shadowed.clear();
    if (!e->listing) {
      continue;
    }
    for (const PeerModel& pm : e->listing->models) {
      std::string offered = e->backend->prefix + pm.name;
      if (m_config.find_model(offered) != nullptr || m_config.find_council(offered) != nullptr ||
          m_config.find_alias(offered) != nullptr || fresh->find(offered) != nullptr) {
        e->shadowed.push_back(std::move(offered));
        continue;
      }
      config::Model m;
      m.name = offered;
      m.backend = e->backend->name;
      m.upstream = pm.name;
      m.description = pm.description;
      m.context_length = pm.context_length;
      m.capabilities = pm.capabilities;
      m.timeouts = e->backend->timeouts;
      e->offered.push_back(offered);
      fresh->models.emplace(std::move(offered), std::move(m));
    }
  }
  m_catalog = std::move(fresh);
}

std::shared_ptr<const PeerCatalog> PeerDirectory::catalog() const {
  std::lock_guard lock(m_mutex);
  return m_catalog;
}

core::Json PeerDirectory::status() const {
  core::Json out = core::Json::array();
  const auto now = m_clock.now();
  for (const auto& e : m_entries) {
    PeerHealth health(now);
    {
      std::lock_guard lock(e->peer->m_mutex);
      health = e->peer->m_health;
    }
    core::Json j = {{"name", e->backend->name},
                    {"url", e->backend->url->to_string()},
                    {"prefix", e->backend->prefix},
                    {"peer_fallback", e->backend->peer_fallback},
                    {"state", to_string(health.state())},
                    {"since_s", seconds(now - health.since())},
                    {"failures", health.failures()},
                    {"next_probe_in_s", seconds(std::max(health.next_probe() - now,
                                                         std::chrono::steady_clock::duration{}))}};
    j["last_error"] = health.last_error().empty() ? core::Json() : core::Json(health.last_error());
    std::lock_guard lock(m_mutex);
    j["models"] = e->offered;
    j["shadowed"] = e->shadowed;
    j["skipped"] = e->listing ? core::Json(e->listing->skipped) : core::Json::array();
    j["listed_s_ago"] = e->listed_at ? core::Json(seconds(now - *e->listed_at)) : core::Json();
    j["remote"] = e->remote;
    out.push_back(std::move(j));
  }
  return out;
}

void PeerDirectory::render_metrics(std::string& out) const {
  if (m_entries.empty()) {
    return;
  }
  std::string up = "# HELP askd_peer_up Whether the peer askd answered its last probe.\n"
                   "# TYPE askd_peer_up gauge\n";
  std::string models = "# HELP askd_peer_models Models the peer askd offers here.\n"
                       "# TYPE askd_peer_models gauge\n";
  std::string failures =
      "# HELP askd_peer_probe_failures_total Probes of the peer askd that failed.\n"
      "# TYPE askd_peer_probe_failures_total counter\n";
  for (const auto& e : m_entries) {
    bool is_up = false;
    {
      std::lock_guard lock(e->peer->m_mutex);
      is_up = e->peer->m_health.state() == PeerHealth::State::up;
    }
    const std::string label = "{peer=\"" + escape_label_value(e->backend->name) + "\"} ";
    std::lock_guard lock(m_mutex);
    up += "askd_peer_up" + label + (is_up ? "1\n" : "0\n");
    models += "askd_peer_models" + label + std::to_string(e->offered.size()) + "\n";
    failures += "askd_peer_probe_failures_total" + label + std::to_string(e->probe_failures) + "\n";
  }
  out += up + models + failures;
}

} // namespace ask::proxy
