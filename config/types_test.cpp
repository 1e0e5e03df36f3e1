#include "config/types.h"

#include <doctest/doctest.h>

#include "config/diagnostics.h"

namespace ask::config {

TEST_CASE("Types: loopback addresses") {
  ListenConfig l;
  for (const char* host : {"127.0.0.1", "127.255.0.9", "localhost", "::1", "::ffff:127.0.0.1"}) {
    l.host = host;
    CAPTURE(host);
    CHECK(l.is_loopback());
  }
  for (const char* host : {"0.0.0.0", "::", "192.168.1.2", "127.example.com", "example.com",
                           "::ffff:10.0.0.1", "128.0.0.1"}) {
    l.host = host;
    CAPTURE(host);
    CHECK_FALSE(l.is_loopback());
  }
}

TEST_CASE("Types: addresses print with brackets around IPv6") {
  ListenConfig l;
  l.host = "::1";
  l.port = 11436;
  CHECK(l.to_string() == "[::1]:11436");
  l.host = "127.0.0.1";
  CHECK(l.to_string() == "127.0.0.1:11436");
  const Url u{"http", "fe80::1", 80, "/x"};
  CHECK(u.to_string() == "http://[fe80::1]:80/x");
}

TEST_CASE("Types: enum names match the config file's spelling") {
  CHECK(to_string(BackendKind::llama_server) == "llama-server");
  CHECK(to_string(BackendKind::openai) == "openai");
  CHECK(to_string(GpuApi::rocm) == "rocm");
  CHECK(to_string(GpuVendor::nvidia) == "nvidia");
  CHECK(to_string(FlashAttn::automatic) == "auto");
}

TEST_CASE("Types: lookups by name") {
  Config c;
  c.models.emplace_back().name = "a";
  c.models.emplace_back().name = "b";
  CHECK(c.find_model("b") == &c.models[1]);
  CHECK(c.find_model("c") == nullptr);
  CHECK(c.find_council("a") == nullptr);
  CHECK(c.models[0].upstream.empty());
  c.models[0].capabilities = {"vision"};
  CHECK(c.models[0].has_capability("vision"));
  CHECK_FALSE(c.models[0].has_capability("tools"));
}

TEST_CASE("Diagnostics: format leaves out what is unknown") {
  Diagnostic d{Severity::error, "c.jsonc", 12, 0, "models.a", "bad"};
  CHECK(d.to_string() == "c.jsonc:12: models.a: bad");
  d.line = 0;
  CHECK(d.to_string() == "c.jsonc: models.a: bad");
  d.path.clear();
  CHECK(d.to_string() == "c.jsonc: bad");
  d.line = 3;
  d.column = 7;
  CHECK(d.to_string() == "c.jsonc:3:7: bad");
}

TEST_CASE("Diagnostics: sorted by line with unknown lines last, stable within a line") {
  Diagnostics diags("f");
  diags.error("x", 0, "no line");
  diags.warning("b", 5, "second at 5");
  diags.error("a", 2, "first");
  diags.error("c", 5, "third at 5");
  diags.sort_by_line();
  const auto& all = diags.all();
  CHECK(all[0].message == "first");
  CHECK(all[1].message == "second at 5");
  CHECK(all[2].message == "third at 5");
  CHECK(all[3].message == "no line");
  CHECK(diags.has_errors());
  CHECK(diags.errors().size() == 3);
  CHECK(diags.warnings().size() == 1);
  const ConfigError e{core::ErrorKind::bad_request, diags.all()};
  CHECK(e.to_error().message == "f:2: a: first\nf:5: c: third at 5\nf: x: no line");
}

} // namespace ask::config
