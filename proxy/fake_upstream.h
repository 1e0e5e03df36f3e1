#pragma once
// FakeUpstream: an Upstream whose answers each test scripts, step by step, for the unit tests
// of ChatHandler and ChainCompleter (the way ninja tests its Builder with a FakeCommandRunner).
// It records every call (the request, the CallContext) and what became of each stream (read to
// its end, or given up early: how askd cancels a backend), and moves a FakeClock when a step
// says time passes, so tests assert latencies without sleeping. Tests only.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "proxy/upstream.h"

namespace ask::proxy {

// One thing a scripted backend does; `after` is how far the FakeClock moves first.
struct FakeStep {
  enum class Kind {
    reply,           // chat(): the whole reply; chat_stream(): the next chunk
    fail,            // the call or the stream fails with `error`
    end,             // the stream ends (its [DONE])
    until_cancelled, // waits for the CallContext's Watch (the client leaving) → cancelled
    action,          // runs `action` (the test's own move, e.g. the client leaves) and goes on
  };
  Kind kind = Kind::end;
  core::Json json;
  core::Error error;
  std::function<void()> action;
  std::chrono::nanoseconds after{0};

  static FakeStep reply(core::Json json, std::chrono::nanoseconds after = {});
  static FakeStep fail(core::Error error, std::chrono::nanoseconds after = {});
  static FakeStep end(std::chrono::nanoseconds after = {});
  static FakeStep until_cancelled();
  static FakeStep run(std::function<void()> action);
};

// What one model does for one call: chat() takes steps until a reply, a failure or a
// cancellation; chat_stream() fails at once with `refuse` (the response head: connect,
// first-byte timeout, an error status), else hands out a stream that takes one step per
// next(). Running out of steps is an internal error, so a test that scripted too little
// fails loudly instead of falling back.
struct FakeScript {
  std::optional<core::Error> refuse;
  std::vector<FakeStep> steps;
  std::optional<core::Usage> usage;  // what the stream reports once ended
  std::chrono::nanoseconds delay{0}; // the FakeClock moves this far before refusing or answering
};

// One call, as the fake saw it.
struct FakeCall {
  std::string model;              // the logical model attempted (ctx.model)
  std::string operation = "chat"; // "chat", "completion", "embedding", "rerank"
  core::Json request;
  bool stream = false;
  net::ClientTimeouts timeouts;
  ReplyMeta meta;
  bool client_wants_usage = false;
  // Streams: read to the end; given up (destroyed) before its end or an error, which closes
  // a real backend connection; a cancellation the fake answered (the Watch fired).
  bool ended = false;
  bool abandoned = false;
  bool cancelled = false;
};

class FakeUpstream final : public Upstream {
public:
  // `clock` (may be null) moves by the scripts' delays; it must outlive the fake.
  explicit FakeUpstream(core::FakeClock* clock = nullptr) : m_clock(clock) {}

  // Queues `script` for the next call at `model`; calls take their model's scripts in order.
  void script(const std::string& model, FakeScript script);
  // Every call so far, in order.
  std::vector<FakeCall> calls() const;
  // The models called, in order.
  std::vector<std::string> models_called() const;

  core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                         const CallContext& ctx) override;
  // The other operations take the same scripts, the call recording which it was.
  core::Result<core::Json> complete(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> complete_stream(const core::Json& request,
                                                             const CallContext& ctx) override;
  core::Result<core::Json> embed(const core::Json& request, const CallContext& ctx) override;
  core::Result<core::Json> rerank(const core::Json& request, const CallContext& ctx) override;
  // What set_token_count() said for the model, else nullopt (a backend without a tokenizer).
  core::Result<std::optional<long long>> count_tokens(const core::Json& request,
                                                      const CallContext& ctx) override;
  // count_tokens() of `model` answers `tokens` from now on.
  void set_token_count(const std::string& model, long long tokens);

  // Waits (up to a generous bound, so that a broken test fails rather than hangs) for the
  // Watch to fire; true when it did. Exposed for the stream class.
  static bool wait_for_watch(const net::Watch& watch);

private:
  class Stream;
  friend class Stream;

  // Records the call and hands out its script; none when the model has none left.
  std::optional<FakeScript> begin(const core::Json& request, const CallContext& ctx, bool stream,
                                  std::size_t& index);
  void mark_last(std::string_view operation);
  void advance(std::chrono::nanoseconds d) const;
  void update(std::size_t index, const std::function<void(FakeCall&)>& change);

  core::FakeClock* m_clock;
  mutable std::mutex m_mutex;
  std::map<std::string, std::deque<FakeScript>> m_scripts;
  std::deque<FakeCall> m_calls;
  std::map<std::string, long long> m_token_counts;
};

} // namespace ask::proxy
