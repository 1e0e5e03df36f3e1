#include "proxy/ui_files.h"

#include <doctest/doctest.h>

#include "config/testing.h"

namespace ask::proxy {

TEST_CASE("ui_file: the embedded page, by name only") {
  const auto index = ui_file("/", "");
  REQUIRE(index.has_value());
  CHECK(index->content_type == "text/html; charset=utf-8");
  CHECK(index->content.find("<!doctype html>") != std::string::npos);
  CHECK(ui_file("", "")->content == index->content);
  CHECK(ui_file("/index.html", "")->content == index->content);
  for (const EmbeddedFile& f : embedded_ui_files()) {
    CHECK(ui_file("/" + std::string(f.name), "")->content == f.content);
  }
  using namespace std::string_view_literals;
  for (const std::string_view wrong :
       {"/../CMakeLists.txt"sv, "/nope.js"sv, "//index.html"sv, "/./index.html"sv, "/index.html/"sv,
        "/INDEX.HTML"sv, "/%2e%2e/x"sv, "/index.html\0"sv}) {
    CHECK_FALSE(ui_file(wrong, "").has_value());
  }
}

TEST_CASE("ui_file: ASK_UI_DIR's copy is read at each request, for the same names only") {
  config::testing::TempDir dir;
  dir.write("index.html", "<!doctype html><p>edited</p>");
  dir.write("secret.txt", "not served");
  CHECK(ui_file("/", dir.path().string())->content == "<!doctype html><p>edited</p>");
  CHECK_FALSE(ui_file("/secret.txt", dir.path().string()).has_value());
  dir.write("index.html", "<!doctype html><p>again</p>");
  CHECK(ui_file("/index.html", dir.path().string())->content == "<!doctype html><p>again</p>");
}

} // namespace ask::proxy
