// model_zoo: lists the model zoo (tests/support/model_zoo.h) and writes its sparse GGUF
// files, e.g. to load them in a real llama-server (docs/testing.md, "Model zoo").
//
//   model_zoo --list                          id, arch, size, tensors, source of each entry
//   model_zoo --out DIR [--variant V] [ID...]  write DIR/<id>[-<variant>].gguf (all without ID)

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tests/support/model_zoo.h"

namespace ask::bench {
namespace {

namespace zoo = testing::zoo;
constexpr double k_gib = 1024.0 * 1024.0 * 1024.0;

int list(const std::string& variant) {
  fmt::print("{:<20} {:<10} {:<10} {:>9} {:>8}  {}\n", "id", "arch", "variant", "GiB", "tensors",
             "description; source");
  for (const zoo::ZooEntry& e : zoo::zoo_entries()) {
    const std::string v = variant.empty() ? zoo::default_variant(e.id) : variant;
    auto m = zoo::in_memory(e.id, v);
    if (!m) {
      fmt::print(stderr, "{}: {}\n", e.id, m.error().message);
      return 1;
    }
    fmt::print("{:<20} {:<10} {:<10} {:>9.2f} {:>8}  {}; {}\n", e.id, e.arch, v,
               static_cast<double>(m->file_size()) / k_gib, m->tensor_count(), e.description,
               e.source);
  }
  fmt::print("variants: {}\n", fmt::join(zoo::variants(), ", "));
  return 0;
}

int write(const std::filesystem::path& dir, const std::string& variant,
          std::vector<std::string> ids) {
  if (ids.empty()) {
    for (const zoo::ZooEntry& e : zoo::zoo_entries()) {
      ids.push_back(e.id);
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    fmt::print(stderr, "cannot create {}: {}\n", dir.string(), ec.message());
    return 1;
  }
  for (const std::string& id : ids) {
    const std::filesystem::path path = dir / zoo::file_name(id, variant);
    auto ok = zoo::write_sparse(id, variant, path.string());
    if (!ok) {
      fmt::print(stderr, "{}: {}\n", id, ok.error().message);
      return 1;
    }
    fmt::print("{} ({:.2f} GiB)\n", path.string(),
               static_cast<double>(std::filesystem::file_size(path)) / k_gib);
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"The model zoo: sparse GGUF files of real model shapes"};
  bool want_list = false;
  std::string out;
  std::string variant;
  std::vector<std::string> ids;
  app.add_flag("--list", want_list, "List the entries with their size and source");
  app.add_option("--out", out, "Write the files into this folder");
  app.add_option("--variant", variant, "Quant mix (default: each entry's own)");
  app.add_option("ids", ids, "Entries to write (default: all)");
  CLI11_PARSE(app, argc, argv);
  if (want_list) {
    return list(variant);
  }
  if (out.empty()) {
    fmt::print(stderr, "give --list or --out DIR\n");
    return 2;
  }
  return write(out, variant, ids);
}

} // namespace
} // namespace ask::bench

int main(int argc, char** argv) {
  return ask::bench::run(argc, argv);
}
