#include "ask/prompt.h"

#include <doctest/doctest.h>

#include <unistd.h>

using ask::cli::assemble_prompt;

TEST_CASE("ask prompt: arguments, piped text, or both (arguments first)") {
  CHECK(assemble_prompt({"write", "a", "haiku"}, "") == "write a haiku");
  CHECK(assemble_prompt({}, "diff --git a b\n") == "diff --git a b");
  CHECK(assemble_prompt({"commit message"}, "+added\n-removed\n") ==
        "commit message\n\n+added\n-removed");
  CHECK(assemble_prompt({"x"}, "windows\r\n") == "x\n\nwindows");
}

TEST_CASE("ask prompt: nothing to ask is a usage error") {
  CHECK_FALSE(assemble_prompt({}, "").has_value());
  CHECK_FALSE(assemble_prompt({" ", ""}, "\n\n").has_value());
  CHECK(assemble_prompt({}, "").error().kind == ask::core::ErrorKind::bad_request);
}

TEST_CASE("ask prompt: invalid UTF-8 becomes U+FFFD - code points are counted") {
  CHECK(ask::cli::to_valid_utf8("a\xff"
                                "b") == "a\xEF\xBF\xBD"
                                        "b");
  CHECK(ask::cli::to_valid_utf8("\xC3\xA9t\xC3") == "\xC3\xA9t\xEF\xBF\xBD");
  CHECK(ask::cli::count_code_points("héllo →") == 7);
  CHECK(ask::cli::count_code_points("") == 0);
  auto p = assemble_prompt({"bin"}, "\x80\x81");
  REQUIRE(p.has_value());
  CHECK(nlohmann::json(*p).dump().size() > 0); // dumps without throwing
}

TEST_CASE("ask prompt: the request carries exactly what was chosen") {
  ask::cli::RequestParams p{"fast-9b", std::string("be brief"), "hi", 0.5, 32, true, {}};
  auto req = ask::cli::build_request(p);
  CHECK(req["model"] == "fast-9b");
  REQUIRE(req["messages"].size() == 2);
  CHECK(req["messages"][0] == nlohmann::json{{"role", "system"}, {"content", "be brief"}});
  CHECK(req["messages"][1] == nlohmann::json{{"role", "user"}, {"content", "hi"}});
  CHECK(req["stream"] == true);
  CHECK(req["stream_options"]["include_usage"] == true);
  CHECK(req["temperature"] == 0.5);
  CHECK(req["max_tokens"] == 32);
  ask::cli::RequestParams bare{"m", std::nullopt, "q", std::nullopt, std::nullopt, false, {}};
  auto r2 = ask::cli::build_request(bare);
  CHECK(r2["messages"].size() == 1);
  CHECK_FALSE(r2.contains("stream_options"));
  CHECK_FALSE(r2.contains("temperature"));
  CHECK_FALSE(r2.contains("max_tokens"));
}

TEST_CASE("ask prompt: read_all_fd reads a pipe to its end") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::string text(100000, 'x');
  REQUIRE(::write(fds[1], text.data(), 60000) == 60000);
  ::close(fds[1]);
  auto got = ask::cli::read_all_fd(fds[0]);
  ::close(fds[0]);
  REQUIRE(got.has_value());
  CHECK(got->size() == 60000);
  CHECK_FALSE(ask::cli::read_all_fd(-1).has_value());
}
