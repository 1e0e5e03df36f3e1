#pragma once
// A GGUF file that is all header: metadata and tensor infos written, the data section left
// as a hole (ftruncate), so a 70B model "file" takes a few MB of disk yet has its real size
// for read_model's bounds checks, llama.cpp's loader and mmap. Used by the model zoo and
// router_bench; the header can also be parsed in memory without touching the disk.

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/gguf.h"

namespace ask::testing::gguf {

// The header bytes of a file (padded to its alignment) and the size of the whole file.
struct Header {
  std::string bytes;
  std::uint64_t file_size = 0;
};

// Writes the header to `path` and extends the file to its full size without writing the
// data (a sparse file). Returns false with `error` set on I/O failure.
bool write_sparse(const Header& header, const std::filesystem::path& path, std::string& error);

// The model parsed in memory, as read_model would return it (for estimates without I/O);
// no parts when the header does not parse.
core::gguf::SplitModel in_memory(const Header& header, const std::string& name);

} // namespace ask::testing::gguf
