#include "proxy/ui_files.h"

#include <fstream>
#include <sstream>

namespace ask::proxy {

namespace {

std::string_view content_type(std::string_view name) {
  const auto dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (ext == "html") {
    return "text/html; charset=utf-8";
  }
  if (ext == "js") {
    return "text/javascript; charset=utf-8";
  }
  if (ext == "css") {
    return "text/css; charset=utf-8";
  }
  if (ext == "svg") {
    return "image/svg+xml";
  }
  if (ext == "png") {
    return "image/png";
  }
  if (ext == "ico") {
    return "image/x-icon";
  }
  if (ext == "json") {
    return "application/json";
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
    std::ifstream in(std::string(dev_dir) + "/" + std::string(f.name), std::ios::binary);
    if (!in) {
      return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return UiFile{text.str(), content_type(f.name)};
  }
  return std::nullopt;
}

} // namespace ask::proxy
