// router/draft.h on generated GGUF files in a temp folder: what "draft": "auto" picks and
// why it rejects the rest, and the MTP check.

#include "router/draft.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/gguf_writer.h"

namespace ask::router {
namespace {

namespace fs = std::filesystem;
namespace tg = ask::testing::gguf;
using tg::TinyModel;
using tg::Writer;

std::vector<std::string> tokens(std::uint32_t n) {
  std::vector<std::string> t;
  for (std::uint32_t i = 0; i < n; ++i) {
    t.push_back("tok" + std::to_string(i));
  }
  return t;
}

// A tiny model with this vocabulary; `extra` adds keys before the tensors.
Writer build(const TinyModel& m, const std::vector<std::string>& vocab,
             const std::string& tokenizer = "llama",
             const std::function<void(Writer&)>& extra = {}) {
  Writer w;
  const std::string a = m.arch + ".";
  w.str("general.architecture", m.arch);
  w.u32(a + "block_count", m.n_layer).u32(a + "embedding_length", m.n_embd);
  w.u32(a + "context_length", m.n_ctx).u32(a + "feed_forward_length", m.n_ff);
  w.u32(a + "attention.head_count", m.n_head).u32(a + "attention.head_count_kv", m.n_head_kv);
  w.str("tokenizer.ggml.model", tokenizer).strs("tokenizer.ggml.tokens", vocab);
  if (extra) {
    extra(w);
  }
  TinyModel shaped = m;
  shaped.n_vocab = static_cast<std::uint32_t>(vocab.size());
  for (const tg::TensorSpec& t : tg::tiny_tensors(shaped)) {
    w.tensor(t.name, t.dims, t.ggml_type);
  }
  return w;
}

// The target: 8 layers of 128 (about 1.2M parameters, 2.4 MB in f16), 64 tokens.
TinyModel big(std::string arch = "llama") {
  TinyModel m;
  m.arch = std::move(arch);
  m.n_layer = 8;
  m.n_embd = 128;
  m.n_head = 8;
  m.n_head_kv = 4;
  m.n_ff = 256;
  return m;
}

// A draft: 2 layers of 64 (about 80k parameters).
TinyModel small(std::string arch = "llama", std::uint32_t weight_type = tg::ggml::f16) {
  TinyModel m;
  m.arch = std::move(arch);
  m.n_layer = 2;
  m.weight_type = weight_type;
  return m;
}

std::string reason_for(const DraftSearch& s, std::string_view file) {
  for (const DraftRejection& r : s.rejected) {
    if (r.file.filename() == file) {
      return r.reason;
    }
  }
  return "(not rejected)";
}

DraftSearch search(const fs::path& model) {
  auto s = search_draft(model);
  REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().message));
  return *s;
}

bool contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

TEST_CASE("find_draft: picks the smallest compatible file beside the model") {
  tg::TempDir dir;
  const auto model = build(big(), tokens(64)).write(dir / "model-f16.gguf");
  build(small(), tokens(64)).write(dir / "draft-f16.gguf");
  build(small("llama", tg::ggml::q8_0), tokens(64)).write(dir / "draft-q8_0.gguf");
  tg::write_bytes(dir / "notes.txt", "not a model");
  const DraftSearch s = search(model);
  REQUIRE(s.chosen.has_value());
  CHECK(s.chosen->filename() == "draft-q8_0.gguf");
  CHECK(s.folder == dir.path());
  CHECK(reason_for(s, "model-f16.gguf") == "the model itself");
  CHECK(reason_for(s, "notes.txt") == "(not rejected)"); // not a .gguf: not looked at
  auto found = find_draft(model);
  REQUIRE(found.has_value());
  CHECK(*found == dir / "draft-q8_0.gguf");

  config::ManagedSpec spec;
  spec.gguf = model;
  spec.draft_auto = true;
  auto resolved = resolve_draft(spec);
  REQUIRE(resolved.has_value());
  CHECK(*resolved == dir / "draft-q8_0.gguf");
}

TEST_CASE("resolve_draft: a named file as it is, none without a draft") {
  config::ManagedSpec spec;
  spec.gguf = "/nonexistent/m.gguf";
  auto none = resolve_draft(spec);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  spec.draft = "/nonexistent/d.gguf"; // read later, by whoever loads it
  auto named = resolve_draft(spec);
  REQUIRE(named.has_value());
  CHECK(*named == fs::path("/nonexistent/d.gguf"));
}

TEST_CASE("find_draft: rejects another vocabulary, as llama-server would") {
  tg::TempDir dir;
  const auto model_bos = [](Writer& w) { w.boolean("tokenizer.ggml.add_bos_token", true); };
  const auto model = build(big(), tokens(64), "llama", model_bos).write(dir / "model.gguf");
  auto changed = tokens(64);
  changed[10] = "something else";
  build(small(), changed).write(dir / "a-token.gguf");
  build(small(), tokens(64), "gpt2").write(dir / "b-tokenizer.gguf");
  build(small(), tokens(64 + 129)).write(dir / "c-count.gguf");
  build(small(), tokens(64), "llama", [](Writer& w) {
    w.boolean("tokenizer.ggml.add_bos_token", false);
  }).write(dir / "d-bos.gguf");
  Writer no_tokens;
  no_tokens.str("general.architecture", "llama").u32("llama.block_count", 1);
  no_tokens.str("tokenizer.ggml.model", "llama");
  no_tokens.write(dir / "e-none.gguf");

  DraftSearch s = search(model);
  CHECK_FALSE(s.chosen.has_value());
  CHECK(reason_for(s, "a-token.gguf") == "different vocabulary: token 10 differs");
  CHECK(reason_for(s, "b-tokenizer.gguf") ==
        "different vocabulary: tokenizer \"gpt2\", the model's is \"llama\"");
  CHECK(reason_for(s, "c-count.gguf") ==
        "different vocabulary: 193 tokens, the model has 64 (llama-server allows 128 more or "
        "fewer)");
  CHECK(reason_for(s, "d-bos.gguf") ==
        "different vocabulary: the model adds a bos token, it does not");
  CHECK(reason_for(s, "e-none.gguf") == "different vocabulary: no token list "
                                        "(tokenizer.ggml.tokens)");

  // llama-server compares tokens from id 5 on and allows 128 more or fewer: such a draft is
  // taken.
  auto low = tokens(64 + 100);
  low[2] = "<special>";
  build(small(), low).write(dir / "f-ok.gguf");
  s = search(model);
  REQUIRE(s.chosen.has_value());
  CHECK(s.chosen->filename() == "f-ok.gguf");
}

TEST_CASE("find_draft: rejects another architecture family, takes a sibling architecture") {
  tg::TempDir dir;
  const auto model = build(big("qwen3moe"), tokens(64)).write(dir / "model.gguf");
  build(small("gemma3"), tokens(64)).write(dir / "a.gguf");
  DraftSearch s = search(model);
  CHECK_FALSE(s.chosen.has_value());
  CHECK(reason_for(s, "a.gguf") == "architecture gemma3 is not of the model's family (qwen3moe)");
  build(small("qwen3"), tokens(64)).write(dir / "b.gguf");
  s = search(model);
  REQUIRE(s.chosen.has_value());
  CHECK(s.chosen->filename() == "b.gguf");
}

TEST_CASE("arch_family: leading letters, less a trailing moe") {
  for (const char* arch : {"qwen2", "qwen3", "qwen3moe", "qwen35", "qwen35moe", "qwen3next"}) {
    CHECK(arch_family(arch) == "qwen");
  }
  CHECK(arch_family("llama") == "llama");
  CHECK(arch_family("llama4") == "llama");
  CHECK(arch_family("Gemma3n") == "gemma");
  CHECK(arch_family("gemma-embedding") == "gemma");
  CHECK(arch_family("granitemoe") == "granite");
  CHECK(arch_family("deepseek2") == "deepseek");
  CHECK(arch_family("olmoe") == "olmoe"); // too short to lose "moe"
  CHECK(arch_family("") == "");
}

TEST_CASE("find_draft: never the model, a part of it, a projector or a later split part") {
  tg::TempDir dir;
  auto parts = tg::split_tiny_model(big(), 2);
  // split_tiny_model writes 32 tokens; drafts get the same list.
  parts[0].write(dir / "model-00001-of-00002.gguf");
  parts[1].write(dir / "model-00002-of-00002.gguf");
  const fs::path model = dir / "model-00001-of-00002.gguf";
  fs::create_symlink(model, dir / "alias.gguf");
  build(small(), tokens(32)).write(dir / "mmproj-model-f16.gguf");
  build(TinyModel{.arch = "clip"}, tokens(32)).write(dir / "projector.gguf");
  auto draft_parts = tg::split_tiny_model(small(), 2);
  draft_parts[0].write(dir / "draft-00001-of-00002.gguf");
  draft_parts[1].write(dir / "draft-00002-of-00002.gguf");

  const DraftSearch s = search(model);
  CHECK(reason_for(s, "model-00001-of-00002.gguf") == "part 1 of 2 of the model");
  CHECK(reason_for(s, "model-00002-of-00002.gguf") == "part 2 of 2 of the model");
  CHECK(reason_for(s, "alias.gguf") == "part 1 of 2 of the model");
  CHECK(reason_for(s, "mmproj-model-f16.gguf") == "a multimodal projector (mmproj)");
  CHECK(reason_for(s, "projector.gguf") == "a multimodal projector (mmproj)");
  CHECK(reason_for(s, "draft-00002-of-00002.gguf") == "(not rejected)");
  REQUIRE(s.chosen.has_value());
  CHECK(s.chosen->filename() == "draft-00001-of-00002.gguf"); // a split draft: its first part
  // Given by a later part, the model is still the whole split file.
  const DraftSearch by_part = search(dir / "model-00002-of-00002.gguf");
  REQUIRE(by_part.chosen.has_value());
  CHECK(by_part.chosen->filename() == "draft-00001-of-00002.gguf");
}

TEST_CASE("find_draft: an unreadable or garbage .gguf is skipped with the reader's reason") {
  tg::TempDir dir;
  const auto model = build(big(), tokens(64)).write(dir / "model.gguf");
  tg::write_bytes(dir / "garbage.gguf", "this is not a GGUF file");
  const std::string whole = build(small(), tokens(64)).bytes();
  tg::write_bytes(dir / "truncated.gguf", tg::truncated(whole, 200));
  tg::write_bytes(dir / "empty.gguf", "");
  fs::create_directory(dir / "folder.gguf");
  fs::create_symlink(dir / "missing-target.gguf", dir / "dangling.gguf");
  build(small(), tokens(64)).write(dir / "good.gguf");
  const DraftSearch s = search(model);
  CHECK(contains(reason_for(s, "garbage.gguf"), "unreadable: gguf: "));
  CHECK(contains(reason_for(s, "garbage.gguf"), "not a GGUF file"));
  CHECK(contains(reason_for(s, "truncated.gguf"), "unreadable: gguf: "));
  CHECK(contains(reason_for(s, "empty.gguf"), "unreadable: "));
  CHECK(reason_for(s, "folder.gguf") == "(not rejected)");
  CHECK(reason_for(s, "dangling.gguf") == "(not rejected)");
  REQUIRE(s.chosen.has_value());
  CHECK(s.chosen->filename() == "good.gguf");
}

TEST_CASE("find_draft: too large: not smaller than the model, or most of its parameters") {
  tg::TempDir dir;
  const auto model = build(big(), tokens(64)).write(dir / "model-f16.gguf");
  TinyModel q8 = big();
  q8.weight_type = tg::ggml::q8_0;
  build(q8, tokens(64)).write(dir / "model-q8_0.gguf"); // the same model, smaller file
  TinyModel larger = big();
  larger.n_layer = 12;
  build(larger, tokens(64)).write(dir / "larger.gguf");
  build(TinyModel{.arch = "dflash"}, tokens(64)).write(dir / "dflash.gguf");
  build(small(), tokens(64), "llama", [](Writer& w) {
    w.u32("llama.nextn_predict_layers", 2);
  }).write(dir / "mtp-head.gguf");

  const DraftSearch s = search(model);
  CHECK_FALSE(s.chosen.has_value());
  CHECK(contains(reason_for(s, "model-q8_0.gguf"), "parameters, more than half the model's"));
  CHECK(contains(reason_for(s, "larger.gguf"), "not smaller than the model ("));
  CHECK(contains(reason_for(s, "dflash.gguf"), "a DFlash drafter"));
  CHECK(reason_for(s, "mtp-head.gguf") ==
        "an MTP head without a model of its own, not a draft model");
}

TEST_CASE("resolve_draft: auto with nothing to take is an error naming the folder and why") {
  tg::TempDir dir;
  config::ManagedSpec spec;
  spec.draft_auto = true;
  spec.gguf = build(big(), tokens(64)).write(dir / "model.gguf");
  auto alone = resolve_draft(spec);
  REQUIRE_FALSE(alone.has_value());
  CHECK(alone.error().kind == core::ErrorKind::bad_request);
  CHECK(alone.error().message == "draft \"auto\": no draft model for model.gguf in " +
                                     dir.path().string() +
                                     ": no .gguf file there but the model's own. Set \"draft\" "
                                     "to a file, or remove it");

  build(small("gemma3"), tokens(64)).write(dir / "gemma.gguf");
  tg::write_bytes(dir / "junk.gguf", "junk");
  auto none = resolve_draft(spec);
  REQUIRE_FALSE(none.has_value());
  const std::string& m = none.error().message;
  CHECK(contains(m, "no draft model for model.gguf in " + dir.path().string() + ": "));
  CHECK(contains(m, "junk.gguf: unreadable: gguf: "));
  CHECK(contains(m, "gemma.gguf: architecture gemma3 is not of the model's family (llama)"));
  CHECK_FALSE(contains(m, "the model itself")); // listed in the search, not in the message
}

TEST_CASE("search_draft: the model itself unreadable or without tokens is an error") {
  tg::TempDir dir;
  auto missing = search_draft(dir / "nope.gguf");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().kind == core::ErrorKind::not_found);
  CHECK(contains(missing.error().message, "draft \"auto\": " + (dir / "nope.gguf").string()));
  Writer bare;
  bare.str("general.architecture", "llama").u32("llama.block_count", 1);
  auto tokenless = search_draft(bare.write(dir / "bare.gguf"));
  REQUIRE_FALSE(tokenless.has_value());
  CHECK(tokenless.error().kind == core::ErrorKind::bad_request);
  CHECK(contains(tokenless.error().message, "has no token list (tokenizer.ggml.tokens)"));
}

// A model whose last layer is an MTP (NextN) layer, as GLM-4.5 and Qwen3.5 MTP GGUFs are.
Writer with_mtp_layer(std::uint32_t nextn, bool head_tensor) {
  TinyModel m = big("glm4moe");
  return build(m, tokens(64), "gpt2", [&](Writer& w) {
    w.u32("glm4moe.nextn_predict_layers", nextn);
    if (head_tensor) {
      w.tensor("blk.7.nextn.eh_proj.weight", {256, 128}, tg::ggml::f16);
      w.tensor("blk.7.nextn.enorm.weight", {128}, tg::ggml::f32);
    }
  });
}

core::gguf::SplitModel read(const fs::path& p) {
  auto m = core::gguf::read_model(p);
  REQUIRE_MESSAGE(m.has_value(), (m ? "" : m.error().message));
  return *m;
}

TEST_CASE("check_mtp: the MTP layers, or why the file has none, naming it") {
  tg::TempDir dir;
  auto ok = check_mtp(read(with_mtp_layer(1, true).write(dir / "glm.gguf")));
  REQUIRE_MESSAGE(ok.has_value(), (ok ? "" : ok.error().message));
  CHECK(*ok == 1);

  const auto plain = build(big(), tokens(64)).write(dir / "plain.gguf");
  auto none = check_mtp(read(plain));
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().kind == core::ErrorKind::bad_request);
  CHECK(contains(none.error().message, "mtp: " + plain.string() +
                                           " has no MTP layers (llama.nextn_predict_layers is "
                                           "missing)"));

  const auto dropped = with_mtp_layer(1, false).write(dir / "dropped.gguf");
  auto no_head = check_mtp(read(dropped));
  REQUIRE_FALSE(no_head.has_value());
  CHECK(contains(no_head.error().message, dropped.string() + " declares 1 MTP layer(s)"));
  CHECK(contains(no_head.error().message, "no tensor blk.7.nextn.eh_proj.weight"));

  const auto head = with_mtp_layer(8, true).write(dir / "head.gguf");
  auto alone = check_mtp(read(head));
  REQUIRE_FALSE(alone.has_value());
  CHECK(contains(alone.error().message, head.string() + " is an MTP head alone"));

  const auto zero = build(big(), tokens(64), "llama", [](Writer& w) {
                      w.u32("llama.nextn_predict_layers", 0);
                    }).write(dir / "zero.gguf");
  auto z = check_mtp(read(zero));
  REQUIRE_FALSE(z.has_value());
  CHECK(contains(z.error().message, "(llama.nextn_predict_layers is 0)"));
}

TEST_CASE("vocab_mismatch: an EOS that is added must be the same token") {
  tg::TempDir dir;
  const auto eos = [](std::uint32_t id) {
    return [id](Writer& w) {
      w.boolean("tokenizer.ggml.add_eos_token", true).u32("tokenizer.ggml.eos_token_id", id);
    };
  };
  const auto read_with = [&](const Writer& w, const char* name) {
    auto f = core::gguf::read_file(w.write(dir / name), draft_read_options());
    REQUIRE(f.has_value());
    return *f;
  };
  const core::gguf::File a = read_with(build(small(), tokens(64), "llama", eos(2)), "a.gguf");
  const core::gguf::File b = read_with(build(small(), tokens(64), "llama", eos(3)), "b.gguf");
  const core::gguf::File c = read_with(build(small(), tokens(64), "llama", eos(2)), "c.gguf");
  CHECK(vocab_mismatch(a, b) == "eos token id 3, the model's is 2");
  CHECK_FALSE(vocab_mismatch(a, c).has_value());
}

} // namespace
} // namespace ask::router
