#pragma once
// Peers: other askds, named as backends of kind `askd` (llama-swap calls them peers). A
// PeerDirectory keeps, for each, whether it is up (a /health probe every few seconds, with a
// backoff while it is down), what it offers (its GET /v1/models, read again every `refresh`)
// and what its machine holds (its GET /api/status), and offers its models here under their
// own names or the backend's prefix (`box2/coder-30b`). A request to one goes through an
// AskdUpstream (proxy/askd_upstream.h); its answer is labelled with the machine
// (`X-Served-By: coder-30b@box2`). Loops are refused twice over: a peer offers only its own
// models, never those it got from its peers, and every request carries the ids of the askds
// it went through (X-Ask-Via), so that one coming back is answered 508. docs/peers.md.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/types.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/openai.h"
#include "proxy/event_log.h"

namespace ask::proxy {

class BackendHttp;

// The ids of the askds a request went through, comma-separated, each 16 hex digits.
inline constexpr std::string_view k_via_header = "X-Ask-Via";
// "off": the askd that receives it tries the model named and nothing else (its fallback
// chain is the asking askd's business).
inline constexpr std::string_view k_fallback_header = "X-Ask-Fallback";
// A request that went through this many askds is refused: a loop that ids alone would not
// catch (an askd restarted draws a new id) still ends.
inline constexpr std::size_t k_max_hops = 8;

// A fresh instance id: 16 lower-case hex digits, drawn when askd starts.
std::string new_instance_id();

// X-Ask-Via's ids. Fails (bad_request) on anything but 1 to k_max_hops + 1 ids of 16 hex
// digits separated by commas (spaces around them allowed).
core::Result<std::vector<std::string>> parse_via(std::string_view header);

// One model another askd offers, from its GET /v1/models.
struct PeerModel {
  std::string name; // its name there
  std::vector<std::string> capabilities;
  std::optional<std::int64_t> context_length;
  std::string description;
  bool council = false;
};
// What a /v1/models reply offers: the models, and what was passed over and why.
struct PeerListing {
  std::vector<PeerModel> models;
  std::vector<std::string> skipped; // "x@y: its name has '@'", "m: a model of its peer box3"
};
// Reads a GET /v1/models reply of an askd. Entries the peer itself has from a peer (`peer`
// set) are passed over: only a machine's own models are offered (no transitive discovery, so
// no loop). Fails (malformed_reply) when the reply is not {"data": [...]}; a bad entry is
// skipped with its reason. At most k_max_peer_models entries are taken.
inline constexpr std::size_t k_max_peer_models = 4'096;
core::Result<PeerListing> parse_peer_models(const core::Json& body);

// Whether a peer is up, over a clock: probes are due every `interval` while it is up, and
// after a backoff (1 s, doubled each failure, at most 30 s) while it is down. Pure logic.
class PeerHealth {
public:
  enum class State { unknown, up, down, loop };
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::milliseconds k_interval{2'000};
  static constexpr std::chrono::milliseconds k_first_backoff{1'000};
  static constexpr std::chrono::milliseconds k_max_backoff{30'000};

  explicit PeerHealth(TimePoint now) : m_since(now), m_next_probe(now) {}

  // A probe or a request reached it. True when that changed its state.
  bool succeeded(TimePoint now);
  // A probe failed, or a request could not connect: down, next probe after the backoff.
  bool failed(TimePoint now, std::string why);
  // Its URL leads back to this askd: never used, probed again at the longest backoff.
  bool looped(TimePoint now, std::string why);

  State state() const { return m_state; }
  // Requests may go there: up, or not probed yet.
  bool usable() const { return m_state == State::up || m_state == State::unknown; }
  TimePoint since() const { return m_since; }
  TimePoint next_probe() const { return m_next_probe; }
  int failures() const { return m_failures; }
  const std::string& last_error() const { return m_last_error; }

private:
  bool enter(State state, TimePoint now);

  State m_state = State::unknown;
  TimePoint m_since;
  TimePoint m_next_probe;
  int m_failures = 0;
  std::chrono::milliseconds m_backoff = k_first_backoff;
  std::string m_last_error;
};

std::string_view to_string(PeerHealth::State state);

// One peer's shared state: what its upstream asks before each request and reports after,
// and what the directory's thread keeps up to date. Thread-safe.
class Peer {
public:
  Peer(const config::Backend& backend, const core::Clock& clock);

  const std::string& name() const { return m_name; }
  // None when requests may go there; else why not ("box2 is down since 12 s: connection
  // refused; next probe in 3 s"), an error that moves the request on down its chain.
  std::optional<core::Error> unavailable() const;
  // A request could not reach it (connect errors only: a slow model is not a dead machine):
  // down at once, so that the next request moves on without waiting; the directory is woken
  // to probe after the backoff.
  void request_failed(const core::Error& error);
  // A request was answered: up.
  void request_succeeded();

private:
  friend class PeerDirectory;

  std::string m_name;
  const core::Clock& m_clock;
  mutable std::mutex m_mutex;
  PeerHealth m_health;               // guarded by m_mutex
  std::function<void()> m_on_change; // wakes the directory; set before any request
};

// The models peers offer here, by the name offered: each a config::Model on its peer's
// backend (upstream = its name there). Immutable once built; requests hold one while they run.
struct PeerCatalog {
  std::map<std::string, config::Model, std::less<>> models;
  const config::Model* find(std::string_view name) const {
    auto it = models.find(name);
    return it == models.end() ? nullptr : &it->second;
  }
};

class PeerDirectory {
public:
  // One Peer per backend of kind askd in `config` (which must outlive the directory);
  // `instance`: this askd's id (a peer that answers with it is this askd itself); `events`:
  // where state changes are published (may be null).
  PeerDirectory(const config::Config& config, std::string instance, const core::Clock& clock,
                EventLog* events);
  ~PeerDirectory();
  PeerDirectory(const PeerDirectory&) = delete;
  PeerDirectory& operator=(const PeerDirectory&) = delete;

  bool empty() const { return m_peers.empty(); }
  // The shared state of the peer behind backend `name`; nullptr when it is not one.
  std::shared_ptr<Peer> peer(std::string_view name) const;
  // Starts the thread that probes and reads the peers; stop() (or the destructor) ends it.
  void start();
  void stop();
  // Probes every peer once now, on the caller's thread (tests, and start()).
  void refresh_all();

  // The models offered now.
  std::shared_ptr<const PeerCatalog> catalog() const;
  // GET /api/status's "peers".
  core::Json status() const;
  // askd_peer_up, askd_peer_models, askd_peer_probe_failures_total.
  void render_metrics(std::string& out) const;

private:
  struct Entry;
  // One probe of `e`: /health, then (when due) /v1/models and /api/status.
  void probe(Entry& e);
  // Logs and publishes `e`'s state when it differs from the last one published.
  void publish_change(Entry& e);
  void rebuild_catalog();
  void run();

  const config::Config& m_config;
  std::string m_instance;
  const core::Clock& m_clock;
  EventLog* m_events;
  std::vector<std::unique_ptr<Entry>> m_entries; // fixed after construction
  std::map<std::string, std::shared_ptr<Peer>, std::less<>> m_peers;

  mutable std::mutex m_mutex; // guards the fields below and every Entry's readings
  std::condition_variable m_wake;
  bool m_stopping = false;
  bool m_woken = false;
  std::shared_ptr<const PeerCatalog> m_catalog;
  std::thread m_thread;
};

} // namespace ask::proxy
