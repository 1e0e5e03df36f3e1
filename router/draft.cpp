// Draft models and MTP: which file "draft": "auto" means, and whether a model file carries
// the MTP layers "mtp" needs. The compatibility rules are llama-server's own
// (common/speculative.cpp: common_speculative_are_compatible for a draft's vocabulary,
// common_speculative_types_from_gguf for an MTP head), so that what askd picks is what
// llama-server accepts.

#include "router/draft.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <system_error>
#include <utility>

#include "core/strings.h"

namespace ask::router {
namespace {

namespace fs = std::filesystem;
using core::Error;
using core::fail;
using core::gguf::File;
using core::gguf::SplitModel;

constexpr std::size_t k_max_examined = 64;         // candidate headers read per search
constexpr std::size_t k_max_listed = 4096;         // folder entries looked at per search
constexpr std::uint64_t k_max_vocab_diff = 128;    // SPEC_VOCAB_MAX_SIZE_DIFFERENCE
constexpr std::uint64_t k_first_checked_token = 5; // SPEC_VOCAB_CHECK_START_TOKEN_ID
constexpr std::string_view k_tokens = "tokenizer.ggml.tokens";

std::string file_name_of(const fs::path& p) {
  return p.filename().string();
}

// "1.5 GiB": sizes in rejection reasons.
std::string size_text(std::uint64_t bytes) {
  constexpr const char* k_units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(k_units)) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, k_units[u]);
  return buf;
}

const core::gguf::Array* token_list(const File& f) {
  const core::gguf::Value* v = f.find(k_tokens);
  const core::gguf::Array* a = v != nullptr ? v->as_array() : nullptr;
  return a != nullptr && a->element_type == core::gguf::ValueType::string ? a : nullptr;
}

std::uint64_t parameters(const SplitModel& m) {
  std::uint64_t n = 0;
  for (const File& part : m.parts) {
    for (const auto& t : part.tensors) {
      n = t.n_elements > std::numeric_limits<std::uint64_t>::max() - n
              ? std::numeric_limits<std::uint64_t>::max()
              : n + t.n_elements;
    }
  }
  return n;
}

// "1.5B", "494M": parameter counts in rejection reasons.
std::string count_text(std::uint64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  } else if (n >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.0fM", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  }
  return buf;
}

bool has_tensor(const SplitModel& m, const std::string& name) {
  return std::ranges::any_of(m.parts,
                             [&](const File& f) { return f.find_tensor(name) != nullptr; });
}

// A file of MTP layers only (a gemma4 assistant, a Qwen "FastMTP" sidecar): every layer is
// a NextN layer, or the file has the NextN tensors of its last layer but no layer 0.
bool is_mtp_head(const SplitModel& m) {
  const File& f = m.first();
  const std::string arch = f.architecture();
  const std::uint64_t layers = f.get_uint(arch + ".block_count").value_or(0);
  const std::uint64_t nextn = f.get_uint(arch + ".nextn_predict_layers").value_or(0);
  if (layers == 0) {
    return false;
  }
  if (nextn >= layers) {
    return true;
  }
  const bool trunk = std::ranges::any_of(m.parts, [](const File& part) {
    return std::ranges::any_of(part.tensors,
                               [](const auto& t) { return t.name.starts_with("blk.0."); });
  });
  return !trunk && has_tensor(m, "blk." + std::to_string(layers - 1) + ".nextn.eh_proj.weight");
}

// BOS/EOS handling (llama_vocab_get_add_bos/eos and the token ids): where both files say,
// they must agree; the ids matter only when the token is added.
std::optional<std::string> special_mismatch(const File& a, const File& b, std::string_view what) {
  const std::string add_key = "tokenizer.ggml.add_" + std::string(what) + "_token";
  const std::string id_key = "tokenizer.ggml." + std::string(what) + "_token_id";
  const auto add_a = a.get_uint(add_key), add_b = b.get_uint(add_key);
  if (add_a && add_b && *add_a != *add_b) {
    return *add_b != 0 ? "it adds a " + std::string(what) + " token, the model does not"
                       : "the model adds a " + std::string(what) + " token, it does not";
  }
  // An unset add_bos is true for most tokenizers; an unset add_eos false (llama-vocab.cpp).
  const bool added = what == "bos" ? add_a.value_or(1) != 0 && add_b.value_or(1) != 0
                                   : add_a.value_or(0) != 0 && add_b.value_or(0) != 0;
  const auto id_a = a.get_uint(id_key), id_b = b.get_uint(id_key);
  if (added && id_a && id_b && *id_a != *id_b) {
    return std::string(what) + " token id " + std::to_string(*id_b) + ", the model's is " +
           std::to_string(*id_a);
  }
  return std::nullopt;
}

// The reason `file` cannot draft for `target`, or nullopt when it can.
std::optional<std::string> judge(const SplitModel& target, const fs::path& file) {
  auto m = core::gguf::read_model(file, draft_read_options());
  if (!m) {
    return "unreadable: " + m.error().message;
  }
  const File& f = m->first();
  const std::string arch = f.architecture();
  const std::string target_arch = target.first().architecture();
  if (arch.empty()) {
    return std::string("no general.architecture: not a model");
  }
  if (arch == "clip") {
    return std::string("a multimodal projector (mmproj)");
  }
  if (arch == "dflash") {
    return std::string("a DFlash drafter (askd runs draft models and the model's own MTP "
                       "layers)");
  }
  if (is_mtp_head(*m)) {
    return std::string("an MTP head without a model of its own, not a draft model");
  }
  if (arch_family(arch) != arch_family(target_arch)) {
    return "architecture " + arch + " is not of the model's family (" + target_arch + ")";
  }
  if (auto why = vocab_mismatch(target.first(), f)) {
    return "different vocabulary: " + *why;
  }
  const std::uint64_t mine = parameters(*m), theirs = parameters(target);
  if (mine > theirs / 2) {
    return count_text(mine) + " parameters, more than half the model's " + count_text(theirs) +
           " (another quantization of the same model?): too large to speed it up";
  }
  return std::nullopt;
}

struct DraftCandidate {
  fs::path path;
  std::uint64_t size = 0; // all parts
};

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

std::uint64_t size_or_zero(const fs::path& file) {
  std::error_code ec;
  const std::uintmax_t n = fs::file_size(file, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

// The size of a file and, for the first part of a split file, of its other parts (a
// missing part counts 0; reading the file reports it).
std::uint64_t total_size(const fs::path& file) {
  std::uint64_t size = size_or_zero(file);
  const auto split = core::gguf::split_part(file);
  for (std::uint32_t i = 2; split && split->part == 1 && i <= split->count; ++i) {
    size += size_or_zero(core::gguf::split_path(split->prefix, i, split->count));
  }
  return size;
}

// The .gguf files beside the model that may be drafts; the model's own files and projectors
// named as such go to `out.rejected` without being read.
core::Result<std::vector<DraftCandidate>> list_candidates(const SplitModel& target,
                                                          DraftSearch& out) {
  std::error_code ec;
  fs::directory_iterator it(out.folder, ec);
  if (ec) {
    return fail(Error::internal("draft \"auto\": cannot list " + out.folder.string() + ": " +
                                ec.message()));
  }
  std::vector<DraftCandidate> found;
  std::size_t listed = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      out.notes.push_back("listing stopped early: " + ec.message());
      break;
    }
    if (++listed > k_max_listed) {
      out.notes.push_back("only the first " + std::to_string(k_max_listed) +
                          " entries of the folder were looked at");
      break;
    }
    const fs::path& p = it->path();
    std::error_code st;
    if (core::to_lower(p.extension().string()) != ".gguf" || !fs::is_regular_file(p, st)) {
      continue;
    }
    const auto own =
        std::ranges::find_if(target.paths, [&](const fs::path& m) { return same_file(m, p); });
    if (own != target.paths.end()) {
      const auto n = static_cast<std::size_t>(own - target.paths.begin());
      out.rejected.push_back({p,
                              target.paths.size() == 1
                                  ? "the model itself"
                                  : "part " + std::to_string(n + 1) + " of " +
                                        std::to_string(target.paths.size()) + " of the model",
                              true});
      continue;
    }
    if (const auto split = core::gguf::split_part(p); split && split->part > 1) {
      continue; // a later part of another split file: its first part stands for it
    }
    if (core::to_lower(file_name_of(p)).find("mmproj") != std::string::npos) {
      out.rejected.push_back({p, "a multimodal projector (mmproj)"});
      continue;
    }
    found.push_back({p, total_size(p)});
  }
  std::ranges::sort(found, [](const DraftCandidate& a, const DraftCandidate& b) {
    return a.size != b.size ? a.size < b.size : a.path.filename() < b.path.filename();
  });
  return found;
}

} // namespace

core::gguf::ReadOptions draft_read_options() {
  core::gguf::ReadOptions o;
  o.hash_items.emplace_back(k_tokens);
  return o;
}

std::string arch_family(std::string_view arch) {
  std::string letters;
  for (char c : arch) {
    if (std::isalpha(static_cast<unsigned char>(c)) == 0) {
      break;
    }
    letters += core::to_lower(c);
  }
  if (letters.size() >= 6 && letters.ends_with("moe")) {
    letters.resize(letters.size() - 3);
  }
  return letters;
}

std::optional<std::string> vocab_mismatch(const File& target, const File& draft) {
  const auto model_t = target.get_string("tokenizer.ggml.model");
  const auto model_d = draft.get_string("tokenizer.ggml.model");
  if (!model_d) {
    return std::string("no tokenizer (tokenizer.ggml.model)");
  }
  if (model_t != model_d) {
    return "tokenizer \"" + *model_d + "\", the model's is \"" + model_t.value_or("") + "\"";
  }
  const core::gguf::Array* t = token_list(target);
  const core::gguf::Array* d = token_list(draft);
  if (t == nullptr || d == nullptr) {
    return std::string(d == nullptr ? "no token list" : "the model has no token list") +
           " (tokenizer.ggml.tokens)";
  }
  if (!t->items_hashed || !d->items_hashed) {
    return std::string("a token list too long to compare");
  }
  const std::uint64_t nt = t->count, nd = d->count;
  if ((nt > nd ? nt - nd : nd - nt) > k_max_vocab_diff) {
    return std::to_string(nd) + " tokens, the model has " + std::to_string(nt) +
           " (llama-server allows 128 more or fewer)";
  }
  for (std::uint64_t i = k_first_checked_token; i < std::min(nt, nd); ++i) {
    if (t->item_hashes[i] != d->item_hashes[i]) {
      return "token " + std::to_string(i) + " differs";
    }
  }
  if (auto why = special_mismatch(target, draft, "bos")) {
    return why;
  }
  return special_mismatch(target, draft, "eos");
}

core::Result<DraftSearch> search_draft(const fs::path& model) {
  DraftSearch out;
  out.model = model;
  out.folder = model.has_parent_path() ? model.parent_path() : fs::path(".");
  auto target = core::gguf::read_model(model, draft_read_options());
  if (!target) {
    Error e = std::move(target.error());
    e.message = "draft \"auto\": " + model.string() + ": " + e.message;
    return fail(std::move(e));
  }
  if (token_list(target->first()) == nullptr) {
    return fail(Error::bad_request("draft \"auto\": " + model.string() +
                                   " has no token list (tokenizer.ggml.tokens) to compare "
                                   "drafts with"));
  }
  auto candidates = list_candidates(*target, out);
  if (!candidates) {
    return fail(std::move(candidates.error()));
  }
  const std::uint64_t model_size = target->file_size();
  std::size_t examined = 0;
  for (const DraftCandidate& c : *candidates) {
    if (c.size >= model_size) {
      out.rejected.push_back({c.path, "not smaller than the model (" + size_text(c.size) +
                                          ", the model " + size_text(model_size) + ")"});
      continue;
    }
    if (examined++ == k_max_examined) {
      out.notes.push_back("only the " + std::to_string(k_max_examined) +
                          " smallest .gguf files were read");
      break;
    }
    if (auto why = judge(*target, c.path)) {
      out.rejected.push_back({c.path, std::move(*why)});
      continue;
    }
    out.chosen = c.path;
    break;
  }
  return out;
}

std::string DraftSearch::explain() const {
  std::string out =
      "draft \"auto\": no draft model for " + file_name_of(model) + " in " + folder.string();
  if (std::ranges::all_of(rejected, [](const DraftRejection& r) { return r.model_file; })) {
    out += ": no .gguf file there but the model's own";
  }
  bool first = true;
  for (const DraftRejection& r : rejected) {
    if (!r.model_file) {
      out += (first ? ": " : "; ") + file_name_of(r.file) + ": " + r.reason;
      first = false;
    }
  }
  for (const std::string& n : notes) {
    out += " (" + n + ")";
  }
  return out + ". Set \"draft\" to a file, or remove it";
}

core::Result<std::optional<fs::path>> find_draft(const fs::path& model) {
  auto found = search_draft(model);
  if (!found) {
    return fail(std::move(found.error()));
  }
  return found->chosen;
}

core::Result<std::optional<fs::path>> resolve_draft(const config::ManagedSpec& spec) {
  if (spec.draft) {
    return spec.draft;
  }
  if (!spec.draft_auto) {
    return std::optional<fs::path>{};
  }
  auto found = search_draft(spec.gguf);
  if (!found) {
    return fail(std::move(found.error()));
  }
  if (!found->chosen) {
    return fail(Error::bad_request(found->explain()));
  }
  return found->chosen;
}

core::Result<std::uint64_t> check_mtp(const SplitModel& model) {
  const File& f = model.first();
  const std::string file =
      model.paths.empty() ? std::string("the model") : model.paths.front().string();
  const std::string arch = f.architecture();
  const std::string key = arch + ".nextn_predict_layers";
  const std::optional<std::uint64_t> nextn = f.get_uint(key);
  if (!nextn || *nextn == 0) {
    return fail(Error::bad_request(
        "mtp: " + file + " has no MTP layers (" + key + " is " + (nextn ? "0" : "missing") +
        "): MTP needs a model converted with its multi-token prediction (NextN) head, such as "
        "GLM-4.5, DeepSeek-V3 or Qwen3.5 \"MTP\" GGUFs"));
  }
  const std::uint64_t layers = f.get_uint(arch + ".block_count").value_or(0);
  if (*nextn >= layers) {
    return fail(Error::bad_request("mtp: " + file + " is an MTP head alone (" + key + " " +
                                   std::to_string(*nextn) + " of block_count " +
                                   std::to_string(layers) + "), not a model with MTP layers"));
  }
  const std::string tensor = "blk." + std::to_string(layers - 1) + ".nextn.eh_proj.weight";
  if (!has_tensor(model, tensor)) {
    return fail(Error::bad_request(
        "mtp: " + file + " declares " + std::to_string(*nextn) + " MTP layer(s) (" + key +
        ") but has no tensor " + tensor +
        ": the conversion or quantization dropped the MTP head, and llama-server detects MTP "
        "by that tensor"));
  }
  return *nextn;
}

} // namespace ask::router
