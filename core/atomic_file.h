#pragma once
// Small state files written whole or not at all (askd's calibrations, its runtime aliases).

#include <filesystem>
#include <optional>
#include <string>

namespace ask::core {

// Writes `text` to `path` whole or not at all: a temp file beside it (a name no other process
// uses), fsync, rename over `path`, fsync of the folder; the folder is created when missing.
// nullopt on success, else why not (a sentence naming the file).
std::optional<std::string> write_atomically(const std::filesystem::path& path,
                                            const std::string& text);

} // namespace ask::core
