// Reading GGUF files from disk: a bounded, growing prefix (never the weights) and models
// split into parts by llama.cpp's gguf-split (`name-00001-of-00003.gguf`).

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "core/gguf.h"
#include "core/gguf_detail.h"

namespace ask::core::gguf {
namespace {

namespace fs = std::filesystem;
using detail::cat;

// First read; grown geometrically while the parser asks for more. Headers are usually well
// under 1 MiB; tokenizers of 150k+ tokens take a few MiB.
constexpr std::uint64_t k_initial_read = 1ull << 20;

// "gguf: offset 24: ..." -> "gguf: /models/x.gguf: offset 24: ...".
std::string with_path(const fs::path& path, std::string message) {
  constexpr std::string_view k_prefix = "gguf: ";
  if (message.starts_with(k_prefix)) {
    message.insert(k_prefix.size(), path.string() + ": ");
    return message;
  }
  return cat("gguf: ", path.string(), ": ", message);
}

// Grows `buf` to `want` bytes read from `in`; false on a short read.
bool fill(std::ifstream& in, std::string& buf, std::uint64_t want) {
  const std::size_t old = buf.size();
  if (want <= old) {
    return true;
  }
  buf.resize(want);
  in.clear();
  in.seekg(static_cast<std::streamoff>(old));
  in.read(buf.data() + old, static_cast<std::streamsize>(want - old));
  return static_cast<std::uint64_t>(in.gcount()) == want - old;
}

Result<std::uint64_t> size_of(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return fail(Error::not_found(cat("gguf: ", path.string(), ": no such file")));
  }
  if (!fs::is_regular_file(st)) {
    return fail(Error::bad_request(cat("gguf: ", path.string(), ": not a regular file")));
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return fail(Error::internal(cat("gguf: ", path.string(), ": ", ec.message())));
  }
  return static_cast<std::uint64_t>(size);
}

struct SplitName {
  std::string prefix; // path without "-00001-of-00003.gguf"
  std::uint32_t part = 0;
  std::uint32_t count = 0;
};

// Parses "<prefix>-NNNNN-of-MMMMM.gguf" (5 digits each, llama.cpp's "%s-%05d-of-%05d.gguf").
std::optional<SplitName> split_name(const fs::path& path) {
  const std::string s = path.string();
  constexpr std::string_view k_shape = "-00000-of-00000.gguf";
  if (s.size() <= k_shape.size()) {
    return std::nullopt;
  }
  const std::string_view tail = std::string_view(s).substr(s.size() - k_shape.size());
  std::uint32_t part = 0;
  std::uint32_t count = 0;
  for (std::size_t i = 0; i < k_shape.size(); ++i) {
    const bool digit_slot = k_shape[i] == '0';
    const char c = tail[i];
    if (digit_slot != (c >= '0' && c <= '9') || (!digit_slot && c != k_shape[i])) {
      return std::nullopt;
    }
    if (digit_slot) {
      std::uint32_t& field = i < 7 ? part : count;
      field = field * 10 + static_cast<std::uint32_t>(c - '0');
    }
  }
  if (part == 0 || count == 0 || part > count) {
    return std::nullopt;
  }
  return SplitName{s.substr(0, s.size() - k_shape.size()), part, count};
}

// split.count from the metadata when present; else the count in the name.
Result<std::uint32_t> split_count(const File& file, const fs::path& path,
                                  const std::optional<SplitName>& name) {
  const Value* meta = file.find("split.count");
  if (meta == nullptr) {
    return name ? name->count : 1;
  }
  const std::optional<std::uint64_t> count = meta->as_uint();
  if (!count || *count == 0 || *count > 99999) {
    return fail(Error::bad_request(with_path(path, "split.count is not a count of 1 to 99999")));
  }
  if (*count > 1 && !name) {
    return fail(Error::bad_request(with_path(
        path, cat("split.count is ", *count, " but the name does not end in -0000N-of-",
                  split_path("", 1, static_cast<std::uint32_t>(*count)).string().substr(10)))));
  }
  if (*count > 1 && name->count != *count) {
    return fail(Error::bad_request(
        with_path(path, cat("split.count is ", *count, " but the name says ", name->count))));
  }
  return static_cast<std::uint32_t>(*count);
}

// Each part must agree on split.count and carry its own 0-based split.no.
Result<void> check_part(const File& file, const fs::path& path, std::uint32_t part,
                        std::uint32_t count) {
  const std::optional<std::uint64_t> no = file.get_uint("split.no");
  if (no && *no != part - 1) {
    return fail(Error::bad_request(with_path(
        path, cat("split.no is ", *no, " but this is part ", part, " (split.no ", part - 1, ")"))));
  }
  const std::optional<std::uint64_t> n = file.get_uint("split.count");
  if (n && *n != count) {
    return fail(Error::bad_request(
        with_path(path, cat("split.count is ", *n, " but part 1 says ", count))));
  }
  return {};
}

Result<void> check_tensors(const SplitModel& model) {
  std::vector<std::pair<std::string_view, std::size_t>> names;
  for (std::size_t p = 0; p < model.parts.size(); ++p) {
    for (const TensorInfo& t : model.parts[p].tensors) {
      names.emplace_back(t.name, p);
    }
  }
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end(),
                                [](const auto& a, const auto& b) { return a.first == b.first; });
  if (dup != names.end()) {
    return fail(Error::bad_request(cat("gguf: tensor '", dup->first, "' is in part ",
                                       dup->second + 1, " and part ", std::next(dup)->second + 1,
                                       " of ", model.paths.front().string())));
  }
  const Value* expected = model.first().find("split.tensors.count");
  const std::optional<std::uint64_t> n = expected ? expected->as_uint() : std::nullopt;
  if (expected != nullptr && n != model.tensor_count()) {
    return fail(Error::bad_request(
        with_path(model.paths.front(), cat("split.tensors.count says ", n.value_or(0),
                                           " tensors but the parts hold ", model.tensor_count()))));
  }
  return {};
}

} // namespace

Result<File> read_file(const fs::path& path) {
  return read_file(path, ReadOptions{});
}

Result<File> read_file(const fs::path& path, const ReadOptions& options) {
  auto size = size_of(path);
  if (!size) {
    return fail(std::move(size.error()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(Error::internal(cat("gguf: ", path.string(), ": cannot open")));
  }
  std::string buf;
  bool io_error = false;
  // The parser asks for more as it goes: at least what it needs, at least twice what it
  // has (few reads), never past the file or the header limit.
  const detail::GrowPrefix grow = [&](std::uint64_t need) -> std::optional<std::string_view> {
    const std::uint64_t want =
        std::min({*size, k_max_header_bytes, std::max<std::uint64_t>(need, buf.size() * 2)});
    if (want < need) {
      return std::nullopt;
    }
    if (!fill(in, buf, want)) {
      io_error = true;
      return std::nullopt;
    }
    return std::string_view(buf);
  };
  if (!fill(in, buf, std::min(*size, k_initial_read))) {
    return fail(Error::internal(cat("gguf: ", path.string(), ": short read (file changed?)")));
  }
  auto parsed = detail::parse_prefix(buf, *size, grow, &options);
  if (parsed) {
    parsed->bytes_read = buf.size();
    return std::move(*parsed);
  }
  if (io_error) {
    return fail(Error::internal(cat("gguf: ", path.string(), ": short read (file changed?)")));
  }
  if (parsed.error().need_bytes > k_max_header_bytes) {
    return fail(Error::bad_request(with_path(
        path, cat("the header is larger than the limit of ", k_max_header_bytes, " bytes"))));
  }
  return fail(Error::bad_request(with_path(path, std::move(parsed.error().message))));
}

std::optional<SplitPart> split_part(const fs::path& path) {
  auto name = split_name(path);
  if (!name) {
    return std::nullopt;
  }
  return SplitPart{fs::path(name->prefix), name->part, name->count};
}

fs::path split_path(const fs::path& prefix, std::uint32_t part, std::uint32_t count) {
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, "-%05u-of-%05u.gguf", part, count);
  return {prefix.string() + suffix};
}

Result<SplitModel> read_model(const fs::path& path) {
  return read_model(path, ReadOptions{});
}

Result<SplitModel> read_model(const fs::path& path, const ReadOptions& options) {
  auto given = read_file(path, options);
  if (!given) {
    return fail(std::move(given.error()));
  }
  const std::optional<SplitName> name = split_name(path);
  auto count = split_count(*given, path, name);
  if (!count) {
    return fail(std::move(count.error()));
  }
  SplitModel model;
  if (*count == 1) {
    model.paths.push_back(path);
    model.parts.push_back(std::move(*given));
    return model;
  }
  for (std::uint32_t part = 1; part <= *count; ++part) {
    const fs::path part_path = split_path(name->prefix, part, *count);
    // `given` is one part's file, so it is moved from once.
    Result<File> file = part == name->part
                            ? std::move(given) // NOLINT(bugprone-use-after-move)
                            : read_file(part_path, part == 1 ? options : ReadOptions{});
    if (!file && file.error().kind == ErrorKind::not_found) {
      return fail(Error::not_found(
          cat("gguf: split part ", part, " of ", *count, " is missing: ", part_path.string())));
    }
    if (!file) {
      return fail(std::move(file.error()));
    }
    if (auto ok = check_part(*file, part_path, part, *count); !ok) {
      return fail(std::move(ok.error()));
    }
    model.paths.push_back(part_path);
    model.parts.push_back(std::move(*file));
  }
  if (auto ok = check_tensors(model); !ok) {
    return fail(std::move(ok.error()));
  }
  return model;
}

} // namespace ask::core::gguf
