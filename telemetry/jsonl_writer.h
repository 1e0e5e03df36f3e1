#pragma once
// JsonlWriter: an append-only JSON Lines file (askd's request log, ask's telemetry log). Each
// line goes out in one write(2) on an O_APPEND descriptor, so lines from concurrent threads
// and processes never tear or interleave, and `jq` can read the file while it grows.

#include <filesystem>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ask::telemetry {

class JsonlWriter {
public:
  // The file is opened (and its folder created, mode 0700) on the first append.
  explicit JsonlWriter(std::filesystem::path path);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  // Appends `line` (an object, dumped on one line, invalid UTF-8 replaced) and a newline.
  // Thread-safe. Errors (folder or file cannot be created, disk full, short write) are
  // `internal` errors naming the path and the OS reason; the caller decides whether to warn.
  core::Result<void> append(const nlohmann::json& line);
  // The same with the keys in insertion order (ask's telemetry line keeps its documented order).
  core::Result<void> append(const nlohmann::ordered_json& line);
  const std::filesystem::path& path() const { return m_path; }

private:
  // Writes `text` and a newline in one write(2).
  core::Result<void> append_text(std::string text);

  std::filesystem::path m_path;
  std::mutex m_mutex;
  int m_fd = -1;
};

} // namespace ask::telemetry
