#include "proxy/ui_files.h"

#include "core/small_file.h"

namespace ask::proxy {

namespace {

constexpr std::uintmax_t k_max_file_bytes = 16 << 20; // ASK_UI_DIR: a page's file, not a disk

struct ContentType {
  std::string_view extension;
  std::string_view type;
};
constexpr ContentType k_content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"json", "application/json"},
};

std::string_view content_type(std::string_view name) {
  const auto dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  for (const ContentType& t : k_content_types) {
    if (t.extension == ext) {
      return t.type;
    }
  }
  return "application/octet-stream";
}

} // namespace

std::optional<UiFile> ui_file(std::string_view path, std::string_view dev_dir) {
  std::string_view name = path;
  if (name.starts_with('/')) {
    name.remove_prefix(1);
  }
  if (name.empty()) {
    name = "index.html";
  }
  // Only the names askd was built with: never a path into the file system.
  for (const EmbeddedFile& f : embedded_ui_files()) {
    if (f.name != name) {
      continue;
    }
    if (dev_dir.empty()) {
      return UiFile{std::string(f.content), content_type(f.name)};
    }
    auto text = core::read_small_file(std::filesystem::path(dev_dir) / f.name, k_max_file_bytes);
    if (!text) {
      return std::nullopt;
    }
    return UiFile{std::move(*text), content_type(f.name)};
  }
  return std::nullopt;
}

} // namespace ask::proxy
