#pragma once
// Small files read whole with a size cap (config files, askd's runtime aliases, the operator
// page's files during development) and state files written whole or not at all (askd's
// calibrations, its runtime aliases).

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

namespace ask::core {

// Writes `text` to `path` whole or not at all: a temp file beside it (a name no other process
// uses), fsync, rename over `path`, fsync of the folder; the folder is created when missing.
// nullopt on success, else why not (a sentence naming the file).
std::optional<std::string> write_atomically(const std::filesystem::path& path,
                                            const std::string& text);

// Why read_small_file() gave nothing.
struct ReadProblem {
  enum class Kind { missing, directory, too_large, unreadable };
  Kind kind = Kind::unreadable;
  std::uintmax_t size = 0; // too_large: the file's size
  std::string reason;      // unreadable: the system's words ("Permission denied")
};
// The whole of `path` when it is a file of at most `max_bytes`.
std::expected<std::string, ReadProblem> read_small_file(const std::filesystem::path& path,
                                                        std::uintmax_t max_bytes);

} // namespace ask::core
