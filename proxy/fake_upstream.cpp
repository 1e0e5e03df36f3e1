#include "proxy/fake_upstream.h"

#include <poll.h>

namespace ask::proxy {

namespace {

// Long enough for any loaded CI machine to deliver a hang-up that already happened; short
// enough that a test whose client never leaves fails instead of hanging the suite.
constexpr int k_watch_bound_ms = 10'000;

core::Error out_of_steps(const std::string& model) {
  return core::Error::internal("fake upstream: the script of " + model + " has no more steps");
}

// The chunk an OpenAI-compatible backend ends a stream with when asked for usage.
core::Json fake_usage_chunk(const core::Usage& usage) {
  return {{"id", "fake-usage"},
          {"object", "chat.completion.chunk"},
          {"created", 1},
          {"model", "fake"},
          {"choices", core::Json::array()},
          {"usage",
           {{"prompt_tokens", usage.prompt_tokens},
            {"completion_tokens", usage.completion_tokens},
            {"total_tokens", usage.total_tokens}}}};
}

} // namespace

FakeStep FakeStep::reply(core::Json json, std::chrono::nanoseconds after) {
  FakeStep s;
  s.kind = Kind::reply;
  s.json = std::move(json);
  s.after = after;
  return s;
}

FakeStep FakeStep::fail(core::Error error, std::chrono::nanoseconds after) {
  FakeStep s;
  s.kind = Kind::fail;
  s.error = std::move(error);
  s.after = after;
  return s;
}

FakeStep FakeStep::end(std::chrono::nanoseconds after) {
  FakeStep s;
  s.kind = Kind::end;
  s.after = after;
  return s;
}

FakeStep FakeStep::until_cancelled() {
  FakeStep s;
  s.kind = Kind::until_cancelled;
  return s;
}

FakeStep FakeStep::run(std::function<void()> action) {
  FakeStep s;
  s.kind = Kind::action;
  s.action = std::move(action);
  return s;
}

// A stream that takes one scripted step per next() and records how it ended.
class FakeUpstream::Stream final : public ChunkStream {
public:
  Stream(FakeUpstream& owner, std::size_t index, FakeScript script, net::Watch watch,
         bool wants_usage)
      : m_owner(owner), m_index(index), m_script(std::move(script)), m_watch(std::move(watch)),
        m_wants_usage(wants_usage) {}

  ~Stream() override {
    if (!m_done) {
      m_owner.update(m_index, [](FakeCall& c) { c.abandoned = true; });
    }
  }

  core::Result<std::optional<core::Json>> next() override {
    while (m_next < m_script.steps.size()) {
      FakeStep& step = m_script.steps[m_next++];
      m_owner.advance(step.after);
      switch (step.kind) {
      case FakeStep::Kind::action:
        step.action();
        continue;
      case FakeStep::Kind::reply:
        return std::optional<core::Json>(step.json);
      case FakeStep::Kind::end:
        if (m_wants_usage && m_script.usage && !m_usage_sent) {
          // As the real upstreams do for a client that wants usage: a usage-only chunk
          // before the end (the end step is taken again next time).
          m_usage_sent = true;
          --m_next;
          return std::optional<core::Json>(fake_usage_chunk(*m_script.usage));
        }
        m_done = true;
        m_ended = true;
        m_owner.update(m_index, [](FakeCall& c) { c.ended = true; });
        return std::optional<core::Json>();
      case FakeStep::Kind::fail:
        m_done = true;
        return core::fail(step.error);
      case FakeStep::Kind::until_cancelled:
        m_done = true;
        if (!wait_for_watch(m_watch)) {
          return core::fail(core::Error::internal("fake upstream: the client never left"));
        }
        m_owner.update(m_index, [](FakeCall& c) { c.cancelled = true; });
        return core::fail(core::Error::cancelled("the client went away"));
      }
    }
    m_done = true;
    return core::fail(out_of_steps(m_owner.calls()[m_index].model));
  }

  std::optional<core::Usage> usage() const override {
    return m_ended ? m_script.usage : std::nullopt;
  }

private:
  FakeUpstream& m_owner;
  std::size_t m_index;
  FakeScript m_script;
  net::Watch m_watch;
  std::size_t m_next = 0;
  bool m_wants_usage; // the CallContext's client_wants_usage
  bool m_usage_sent = false;
  bool m_done = false;  // ended, failed or cancelled: nothing left to give up
  bool m_ended = false; // reached its end marker
};

void FakeUpstream::script(const std::string& model, FakeScript script) {
  std::lock_guard lock(m_mutex);
  m_scripts[model].push_back(std::move(script));
}

std::vector<FakeCall> FakeUpstream::calls() const {
  std::lock_guard lock(m_mutex);
  return {m_calls.begin(), m_calls.end()};
}

std::vector<std::string> FakeUpstream::models_called() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const FakeCall& c : m_calls) {
    out.push_back(c.model);
  }
  return out;
}

core::Result<core::Json> FakeUpstream::chat(const core::Json& request, const CallContext& ctx) {
  std::size_t index = 0;
  auto script = begin(request, ctx, false, index);
  if (!script) {
    return core::fail(out_of_steps(ctx.model->name));
  }
  advance(script->delay);
  if (script->refuse) {
    return core::fail(*script->refuse);
  }
  for (FakeStep& step : script->steps) {
    advance(step.after);
    switch (step.kind) {
    case FakeStep::Kind::action:
      step.action();
      continue;
    case FakeStep::Kind::reply:
      return step.json;
    case FakeStep::Kind::fail:
      return core::fail(step.error);
    case FakeStep::Kind::until_cancelled:
      if (!wait_for_watch(ctx.watch)) {
        return core::fail(core::Error::internal("fake upstream: the client never left"));
      }
      update(index, [](FakeCall& c) { c.cancelled = true; });
      return core::fail(core::Error::cancelled("the client went away"));
    case FakeStep::Kind::end: // a whole reply has no end without a reply: the script is wrong
      return core::fail(out_of_steps(ctx.model->name));
    }
  }
  return core::fail(out_of_steps(ctx.model->name));
}

core::Result<std::unique_ptr<ChunkStream>> FakeUpstream::chat_stream(const core::Json& request,
                                                                     const CallContext& ctx) {
  std::size_t index = 0;
  auto script = begin(request, ctx, true, index);
  if (!script) {
    return core::fail(out_of_steps(ctx.model->name));
  }
  advance(script->delay);
  if (script->refuse) {
    return core::fail(*script->refuse);
  }
  return std::unique_ptr<ChunkStream>(std::make_unique<Stream>(*this, index, std::move(*script),
                                                               ctx.watch, ctx.client_wants_usage));
}

bool FakeUpstream::wait_for_watch(const net::Watch& watch) {
  pollfd fds[2] = {{watch.client_fd, POLLRDHUP, 0}, {watch.stop_fd, POLLIN, 0}};
  for (;;) {
    const int rc = ::poll(fds, 2, k_watch_bound_ms);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    return rc > 0 && ((fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0 ||
                      (fds[1].revents & POLLIN) != 0);
  }
}

core::Result<core::Json> FakeUpstream::complete(const core::Json& request, const CallContext& ctx) {
  auto reply = chat(request, ctx);
  mark_last("completion");
  return reply;
}

core::Result<std::unique_ptr<ChunkStream>> FakeUpstream::complete_stream(const core::Json& request,
                                                                         const CallContext& ctx) {
  auto stream = chat_stream(request, ctx);
  mark_last("completion");
  return stream;
}

core::Result<core::Json> FakeUpstream::embed(const core::Json& request, const CallContext& ctx) {
  auto reply = chat(request, ctx);
  mark_last("embedding");
  return reply;
}

core::Result<core::Json> FakeUpstream::rerank(const core::Json& request, const CallContext& ctx) {
  auto reply = chat(request, ctx);
  mark_last("rerank");
  return reply;
}

core::Result<std::optional<long long>> FakeUpstream::count_tokens(const core::Json& request,
                                                                  const CallContext& ctx) {
  (void)request;
  std::lock_guard lock(m_mutex);
  auto it = m_token_counts.find(ctx.model->name);
  return it == m_token_counts.end() ? std::optional<long long>() : it->second;
}

void FakeUpstream::set_token_count(const std::string& model, long long tokens) {
  std::lock_guard lock(m_mutex);
  m_token_counts[model] = tokens;
}

// The calls are made one at a time by the tests that use other operations.
void FakeUpstream::mark_last(std::string_view operation) {
  std::lock_guard lock(m_mutex);
  if (!m_calls.empty()) {
    m_calls.back().operation = std::string(operation);
  }
}

std::optional<FakeScript> FakeUpstream::begin(const core::Json& request, const CallContext& ctx,
                                              bool stream, std::size_t& index) {
  std::lock_guard lock(m_mutex);
  FakeCall call;
  call.model = ctx.model->name;
  call.request = request;
  call.stream = stream;
  call.timeouts = ctx.timeouts;
  call.meta = ctx.meta;
  call.client_wants_usage = ctx.client_wants_usage;
  m_calls.push_back(std::move(call));
  index = m_calls.size() - 1;
  auto it = m_scripts.find(ctx.model->name);
  if (it == m_scripts.end() || it->second.empty()) {
    return std::nullopt;
  }
  FakeScript script = std::move(it->second.front());
  it->second.pop_front();
  return script;
}

void FakeUpstream::advance(std::chrono::nanoseconds d) const {
  if (m_clock != nullptr && d > std::chrono::nanoseconds::zero()) {
    m_clock->advance(d);
  }
}

void FakeUpstream::update(std::size_t index, const std::function<void(FakeCall&)>& change) {
  std::lock_guard lock(m_mutex);
  change(m_calls[index]);
}

} // namespace ask::proxy
