#include "proxy/fallback.h"

#include <doctest/doctest.h>

namespace ask::proxy {

using core::Error;

TEST_CASE("falls_back: network failures, timeouts, capacity and server errors move on") {
  CHECK(falls_back(Error::connect("refused")));
  CHECK(falls_back(Error::timeout("first byte")));
  CHECK(falls_back(Error::overloaded("queue full")));
  for (int status : {500, 502, 503, 504, 429, 408, 401, 403, 404}) {
    CAPTURE(status);
    CHECK(falls_back(Error::upstream(status, "x")));
  }
  CHECK(falls_back(Error::malformed_reply("not JSON")));
}

TEST_CASE("falls_back: the client's own mistakes do not move on") {
  CHECK_FALSE(falls_back(Error::bad_request("messages: expected an array")));
  CHECK_FALSE(falls_back(Error::not_found("unknown model")));
  CHECK_FALSE(falls_back(Error::cancelled("client gone")));
  CHECK_FALSE(falls_back(Error::internal("bug")));
  for (int status : {400, 413, 422}) {
    CAPTURE(status);
    CHECK_FALSE(falls_back(Error::upstream(status, "x")));
  }
}

TEST_CASE("reason_for: the kind, or status_NNN for upstream statuses") {
  CHECK(reason_for(Error::connect("x")) == "connect");
  CHECK(reason_for(Error::timeout("x")) == "timeout");
  CHECK(reason_for(Error::upstream(503, "x")) == "status_503");
  CHECK(reason_for(Error::malformed_reply("x")) == "status_502");
}

TEST_CASE("falls_back: a prompt too long for one model's window moves on, reason context") {
  const Error e = Error::context_exceeded("too long", {5000, 4096, false});
  CHECK(falls_back(e));
  CHECK(reason_for(e) == "context");
}

TEST_CASE("chain_failure: a prompt that fits nowhere is a 400 with the tokenizer's count") {
  std::vector<Attempt> attempts = {
      {"a", "x", "context", Error::context_exceeded("a too small", {3000, 2048, true})},
      {"b", "x", "capability", Error::bad_request("b lacks the 'completion' capability")},
      {"c", "y", "context", Error::context_exceeded("c too small", {3100, 3072, false})},
  };
  ChainFailure f = chain_failure(attempts);
  CHECK(f.status == 400);
  CHECK(f.body["error"]["code"] == "context_length_exceeded");
  CHECK(f.body["error"]["prompt_tokens"] == 3100); // counted beats estimated
  CHECK(f.body["error"]["message"] ==
        "the prompt (3100 tokens) does not fit the context window of any model in the chain: a "
        "2048 (estimated count), c 3072 tokens");
  CHECK(f.body["error"]["attempts"].size() == 3);
  // Anything else among the failures keeps the 502: it might have fitted there.
  attempts.push_back({"d", "y", "connect", Error::connect("refused")});
  CHECK(chain_failure(attempts).status == 502);
  CHECK(reasons_text(attempts) == "a=context,b=capability,c=context,d=connect");
}

TEST_CASE("chain_failure: 502 naming every attempt, 429 when all queues were full") {
  std::vector<Attempt> attempts = {
      {"fast-9b", "ollama", "connect", Error::connect("connect to 127.0.0.1:11434: refused")},
      {"fast-1b", "llamacpp", "status_503", Error::upstream(503, "llamacpp answered 503")}};
  ChainFailure f = chain_failure(attempts);
  CHECK(f.status == 502);
  const auto& err = f.body["error"];
  CHECK(err["type"] == "server_error");
  CHECK(err["code"] == "all_models_failed");
  CHECK(err["message"] ==
        "every model in the chain failed: fast-9b (connect: connect to 127.0.0.1:11434: "
        "refused); fast-1b (status_503: llamacpp answered 503)");
  REQUIRE(err["attempts"].size() == 2);
  CHECK(err["attempts"][1] == core::Json{{"model", "fast-1b"},
                                         {"backend", "llamacpp"},
                                         {"reason", "status_503"},
                                         {"message", "llamacpp answered 503"}});

  ChainFailure full = chain_failure({{"m", "b", "queue_full", Error::overloaded("queue full")}});
  CHECK(full.status == 429);
  CHECK(full.body["error"]["type"] == "rate_limit_error");
  attempts.push_back({"m", "b", "queue_full", Error::overloaded("queue full")});
  CHECK(chain_failure(attempts).status == 502);
}

TEST_CASE("chain_failure: 503 with the soonest Retry-After when no model could be placed or run") {
  Error backoff = Error::overloaded("fast-9b crashed 3 times in a row; next start in 4.0 s");
  backoff.retry_after_s = 4;
  Error later = Error::overloaded("fast-1b crashed 4 times in a row; next start in 8.0 s");
  later.retry_after_s = 8;
  const Error cannot = Error::overloaded("cannot place fast-3b within 120 s: ...");
  std::vector<Attempt> attempts = {{"fast-9b", "llama-server", "overloaded", later},
                                   {"fast-3b", "llama-server", "overloaded", cannot},
                                   {"fast-1b", "llama-server", "overloaded", backoff}};
  ChainFailure f = chain_failure(attempts);
  CHECK(f.status == 503);
  CHECK(f.retry_after_s == 4);
  CHECK(f.body["error"]["code"] == "unavailable");
  CHECK(f.body["error"]["type"] == "server_error");

  // Nobody knows when: 503 without Retry-After.
  ChainFailure unknown = chain_failure({{"fast-3b", "llama-server", "overloaded", cannot}});
  CHECK(unknown.status == 503);
  CHECK(unknown.retry_after_s == 0);

  // One attempt failed otherwise: 502, and no Retry-After.
  attempts.push_back({"fast-0b", "ollama", "connect", Error::connect("refused")});
  ChainFailure mixed = chain_failure(attempts);
  CHECK(mixed.status == 502);
  CHECK(mixed.retry_after_s == 0);
  CHECK(mixed.body["error"]["code"] == "all_models_failed");
}

TEST_CASE("reason_for: Ollama's missing model is not_pulled, other 404s keep their status") {
  CHECK(reason_for(Error::upstream(404, "model 'qwen3.5:9b' not found")) == "not_pulled");
  CHECK(reason_for(Error::upstream(404, "model \"qwen3.5:9b\" not found, try pulling it first")) ==
        "not_pulled");
  CHECK(reason_for(Error::upstream(404, "404 page not found")) == "status_404");
  CHECK(reason_for(Error::upstream(500, "model 'x' not found")) == "status_500");
}

TEST_CASE("server_timing_text: each attempt, the served one, then queue and load, in ms") {
  std::vector<Attempt> failed;
  failed.push_back({"fast-9b", "ollama", "not_pulled", Error::upstream(404, "x"), 0.0123});
  failed.push_back({"odd\"name", "b", "capability", Error::bad_request("x"), 0.0});
  Timings t{&failed, std::make_pair(std::string("fast-1b"), 0.5), 0.002, 1.25};
  CHECK(server_timing_text(t) ==
        "attempt;desc=\"fast-9b\";dur=12.3, "
        "attempt;desc=\"odd\\\"name\";dur=0.0, "
        "served;desc=\"fast-1b\";dur=500.0, queue;dur=2.0, load;dur=1250.0");
  CHECK(server_timing_text(Timings{}).empty());
}

} // namespace ask::proxy
