#pragma once
// The operator page (GET /ui): the files of proxy/ui, embedded in askd at build time
// (cmake/EmbedFiles.cmake), so that askd serves the page with nothing fetched from elsewhere.
// With ASK_UI_DIR set, the same names are read from that folder at each request instead, for
// working on the page without rebuilding (docs/operations.md, "The operator page").

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ask::proxy {

struct EmbeddedFile {
  std::string_view name; // "index.html", "app.js", … (no folders)
  std::string_view content;
};
// Every embedded file (generated).
std::span<const EmbeddedFile> embedded_ui_files();

struct UiFile {
  std::string content;
  std::string_view content_type; // "text/html; charset=utf-8", …
};
// The page's file for the path after /ui ("" and "/" are index.html); none for a name that
// is not one of the embedded files (folders, "..", anything else). `dev_dir`, when not
// empty, is read instead of the embedded copy.
std::optional<UiFile> ui_file(std::string_view path, std::string_view dev_dir);

} // namespace ask::proxy
