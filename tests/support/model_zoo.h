#pragma once
// The model zoo: synthetic GGUF headers of well-known models at their real dimensions, with
// exactly the metadata keys and tensors (names, shapes, realistic quant types) that
// llama.cpp b10587's loader expects, so that the files load in a real llama-server and the
// VRAM estimator can be checked against what it prints. Files are sparse (see
// sparse_gguf.h): a 671B model is a few MB of disk. Each entry names where its figures come
// from; docs/testing.md lists them and says how to regenerate the files.

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/gguf.h"
#include "tests/support/sparse_gguf.h"

namespace ask::testing::zoo {

struct ZooEntry {
  std::string id;          // "llama-3.1-8b"; also the file name stem
  std::string arch;        // general.architecture, e.g. "gpt-oss"
  std::string description; // what the model is, its shape in a line
  std::string source;      // where its hyperparameters come from
};

// Every model, in a fixed order.
const std::vector<ZooEntry>& zoo_entries();

// nullptr for an unknown id.
const ZooEntry* find_entry(std::string_view id);

// The quant mixes every entry can be built in ("q4_k_m", "q8_0", "q4_0", "iq4_nl", "f16",
// "bf16", "mxfp4_moe"), see quant_mix.h.
std::vector<std::string> variants();

// The mix an entry is built in when none is asked for: what its most downloaded GGUF uses
// (q4_k_m; mxfp4_moe for gpt-oss).
std::string default_variant(std::string_view id);

// The header bytes and file size of entry `id` in mix `variant` (empty: the default).
// Errors: not_found for an unknown id or variant, bad_request for a mix whose block size
// does not divide one of the model's rows.
core::Result<gguf::Header> build(std::string_view id, std::string_view variant = {});

// The file name build() output is written to: "<id>.gguf", or "<id>-<variant>.gguf" for a
// variant other than the default.
std::string file_name(std::string_view id, std::string_view variant = {});

// Writes entry `id` as a sparse file at `path`.
core::Result<void> write_sparse(std::string_view id, std::string_view variant,
                                const std::string& path);

// Entry `id` parsed in memory, as read_model would return it.
core::Result<core::gguf::SplitModel> in_memory(std::string_view id, std::string_view variant = {});

} // namespace ask::testing::zoo
