#include "sim/stream.h"

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace ask::sim {

namespace {

Outcome outcome_of(WaitResult r) {
  return r == WaitResult::stopping ? Outcome::stopping : Outcome::client_gone;
}

bool reached(const std::optional<long long>& limit, std::size_t i) {
  return limit && static_cast<long long>(i) == *limit;
}

} // namespace

Pacing make_pacing(std::chrono::nanoseconds default_ttft, double default_tps,
                   const FaultSpec& fault) {
  Pacing p;
  p.ttft = fault.ttft ? std::chrono::nanoseconds(*fault.ttft) : default_ttft;
  p.tokens_per_second = fault.tps.value_or(default_tps);
  p.drop_after = fault.drop_after;
  p.hang_after = fault.hang_after;
  p.crash_after = fault.crash_after;
  return p;
}

RequestEnd request_end(Outcome outcome) {
  switch (outcome) {
  case Outcome::completed:
    return RequestEnd::completed;
  case Outcome::client_gone:
  case Outcome::hung:
    return RequestEnd::client_gone;
  default:
    return RequestEnd::other;
  }
}

void crash_now() {
  std::fflush(nullptr);
  ::kill(::getpid(), SIGKILL);
  ::_exit(137); // not reached
}

Outcome hang(Exchange& exchange) {
  Outcome o = outcome_of(exchange.wait_for(std::nullopt));
  exchange.close_connection(false); // nothing more will be sent
  return o;
}

Outcome play(Exchange& exchange, const Pacing& pacing, std::size_t n_tokens, TokenSink& sink,
             const PlayHooks& hooks) {
  if (pacing.ttft.count() > 0) {
    if (WaitResult r = exchange.wait_for(pacing.ttft); r != WaitResult::elapsed) {
      return outcome_of(r);
    }
  }
  if (!sink.open()) {
    return Outcome::client_gone;
  }
  const auto interval =
      pacing.tokens_per_second > 0
          ? std::chrono::nanoseconds(static_cast<long long>(1e9 / pacing.tokens_per_second))
          : std::chrono::nanoseconds(0);
  for (std::size_t i = 0; i <= n_tokens; ++i) {
    if (reached(pacing.drop_after, i)) {
      sink.flush();
      exchange.close_connection(false);
      return Outcome::dropped;
    }
    if (reached(pacing.hang_after, i)) {
      sink.flush();
      Outcome o = hang(exchange);
      return o == Outcome::client_gone ? Outcome::hung : o;
    }
    if (reached(pacing.crash_after, i)) {
      sink.flush();
      crash_now();
    }
    if (i == n_tokens) {
      break;
    }
    if (i > 0 && interval.count() > 0) {
      if (WaitResult r = exchange.wait_for(interval); r != WaitResult::elapsed) {
        return outcome_of(r);
      }
    } else if (exchange.client_gone()) {
      return Outcome::client_gone;
    }
    if (!sink.token(i)) {
      return Outcome::client_gone;
    }
    if (hooks.progress) {
      hooks.progress(i + 1);
    }
  }
  if (hooks.before_finish) {
    hooks.before_finish();
  }
  return sink.finish() ? Outcome::completed : Outcome::client_gone;
}

} // namespace ask::sim
