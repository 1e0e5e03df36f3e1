#pragma once
// Speculative decoding for managed models: the draft model a model's "draft" setting means
// (a file, or "auto": the smallest compatible GGUF file beside the model file), and the
// check that a model file carries the MTP (NextN) layers its "mtp" setting needs. Reads
// GGUF metadata only (core/gguf.h), never weights. docs/config.md gives the rules,
// docs/vram.md what a draft and MTP cost.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "core/error.h"
#include "core/gguf.h"

namespace ask::router {

// A file "auto" looked at and did not take, and why ("different vocabulary: token 7
// differs").
struct DraftRejection {
  std::filesystem::path file;
  std::string reason;
  bool model_file = false; // the model itself, or a part of it
};

// What "auto" found in the model's folder.
struct DraftSearch {
  std::filesystem::path model;
  std::filesystem::path folder;
  std::optional<std::filesystem::path> chosen; // the smallest compatible file
  std::vector<DraftRejection> rejected;        // smallest first, as looked at
  std::vector<std::string> notes;              // limits reached ("only the first 4096 …")

  // Why nothing was chosen, naming the folder and each file with its reason: "no draft
  // model for m.gguf in /models: a.gguf: different vocabulary: token 7 differs; …".
  std::string explain() const;
};

// Looks at the .gguf files beside `model` (same folder, symlinks followed), smallest first
// (the sum of a split file's parts), and takes the first that llama-server can use as its
// draft: never the model or one of its parts, a multimodal projector, an MTP head or a
// DFlash drafter; of the model's architecture family (arch_family); with a vocabulary
// llama-server accepts (vocab_mismatch); smaller than the model, with at most half its
// parameters. An unreadable or garbage file is rejected with the reader's error. Reads at
// most 64 headers and lists at most 4096 folder entries.
// Errors: the model unreadable (its reader's kind), or without a token list (bad_request);
// the folder not listable (internal).
core::Result<DraftSearch> search_draft(const std::filesystem::path& model);

// The file "auto" picks for `model`, or nullopt when none fits (search_draft says why).
core::Result<std::optional<std::filesystem::path>> find_draft(const std::filesystem::path& model);

// The draft model a managed model runs with: `spec.draft`, else for "draft": "auto" the
// file find_draft picks, else none. "auto" with no compatible file is an error
// (bad_request, DraftSearch::explain): the user asked for speculative decoding, and
// serving without it would hide why and change what the model costs.
core::Result<std::optional<std::filesystem::path>> resolve_draft(const config::ManagedSpec& spec);

// How many MTP layers `model` has for --spec-type draft-mtp: `<arch>.nextn_predict_layers`,
// with the tensor llama-server detects MTP by (`blk.<block_count-1>.nextn.eh_proj.weight`)
// present. Fails (bad_request, naming the file) when the file has none, declares them
// without that tensor (a quantization that dropped the head), or is an MTP head alone.
core::Result<std::uint64_t> check_mtp(const core::gguf::SplitModel& model);

// The reader options search_draft reads headers with: the token list hashed item by item.
core::gguf::ReadOptions draft_read_options();

// Why llama-server would refuse `draft` as a draft of `target` (common/speculative.cpp
// common_speculative_are_compatible): another tokenizer model, token counts more than 128
// apart, a token of id 5 or above that differs, BOS/EOS handling that differs. nullopt
// when compatible. Both files must be read with draft_read_options().
std::optional<std::string> vocab_mismatch(const core::gguf::File& target,
                                          const core::gguf::File& draft);

// The family of an architecture name: its leading letters, less a trailing "moe" ("qwen2",
// "qwen3moe", "qwen35" are "qwen"; "llama4" is "llama"; "granitemoe" is "granite").
std::string arch_family(std::string_view arch);

} // namespace ask::router
