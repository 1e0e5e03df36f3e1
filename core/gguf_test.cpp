#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "core/gguf.h"
#include "tests/support/gguf_writer.h"

namespace gguf = ask::core::gguf;
namespace gw = ask::testing::gguf;
using ask::core::ErrorKind;

namespace {

std::filesystem::path fixture(std::string_view name) {
  return std::filesystem::path(ASK_SOURCE_DIR) / "tests/fixtures/gguf" / name;
}

struct FixtureFacts {
  std::string_view file;
  std::uint64_t bytes;
  std::string_view arch;
  std::uint64_t layers, n_embd, heads, kv_heads, head_dim, n_ff, ctx, vocab;
  std::uint64_t n_tensors, n_main, n_f32; // n_main: tensors of the main weight type
  std::uint32_t main_type;
  std::uint64_t file_type;
};

// The facts tests/fixtures/README.md states for each real file.
const FixtureFacts k_fixtures[] = {
    {"tiny-llama-2L-f16.gguf", 4972480, "llama", 2, 64, 4, 2, 16, 128, 2048, 32000, 20, 15, 5, 1,
     1},
    {"tiny-llama-4L-q8_0.gguf", 3061216, "llama", 4, 64, 4, 2, 16, 128, 2048, 32000, 38, 29, 9, 8,
     7},
    {"tiny-gemma3-2L-swa-f16.gguf", 4972416, "gemma3", 2, 64, 4, 2, 16, 128, 2048, 32000, 28, 15,
     13, 1, 1},
    {"tiny-llama-2L-hd32-f16.gguf", 4972480, "llama", 2, 64, 2, 1, 32, 128, 2048, 32000, 20, 15, 5,
     1, 1},
};

} // namespace

TEST_CASE("gguf: reads the real tiny fixtures exactly as the fixtures README describes them") {
  for (const FixtureFacts& want : k_fixtures) {
    CAPTURE(want.file);
    auto file = gguf::read_file(fixture(want.file));
    REQUIRE_MESSAGE(file.has_value(), (file ? "" : file.error().message));
    CHECK(file->version == 3);
    CHECK(file->file_size == want.bytes);
    CHECK(file->architecture() == want.arch);
    CHECK(file->get_uint("general.file_type") == want.file_type);
    CHECK(file->tensors.size() == want.n_tensors);
    std::uint64_t n_main = 0;
    std::uint64_t n_f32 = 0;
    for (const auto& t : file->tensors) {
      n_main += t.type == want.main_type ? 1 : 0;
      n_f32 += t.type == 0 ? 1 : 0;
    }
    CHECK(n_main == want.n_main);
    CHECK(n_f32 == want.n_f32);
    // ggml pads every tensor (the last included) to the alignment: the data section ends
    // exactly at the end of the file, and the unpadded sizes fit inside it.
    CHECK(file->alignment == 32);
    CHECK(file->data_offset % 32 == 0);
    CHECK(file->data_offset + file->data_size == file->file_size);
    CHECK(file->data_offset + file->tensor_bytes() <= file->file_size);
    CHECK(file->file_size - (file->data_offset + file->tensor_bytes()) < 32 * file->tensors.size());
    // Only the header was read, not the ~4 MB of weights.
    CHECK(file->bytes_read <= (1u << 20));
    CHECK(file->bytes_read >= file->data_offset - 32);

    auto p = gguf::arch_params(*file);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
    CHECK(p->arch == want.arch);
    CHECK(p->n_layer == want.layers);
    CHECK(p->n_embd == want.n_embd);
    CHECK(p->n_ctx_train == want.ctx);
    CHECK(p->n_vocab == want.vocab);
    CHECK(p->n_head == std::vector<std::uint64_t>(want.layers, want.heads));
    CHECK(p->n_head_kv == std::vector<std::uint64_t>(want.layers, want.kv_heads));
    CHECK(p->n_embd_head_k == want.head_dim);
    CHECK(p->n_embd_head_v == want.head_dim);
    CHECK(p->n_ff == std::vector<std::uint64_t>(want.layers, want.n_ff));
    CHECK(p->n_expert == 0);
    CHECK(p->n_layer_recurrent() == 0);
    CHECK(p->n_layer_kv() == want.layers);
  }
}

TEST_CASE("gguf: the gemma3 fixture has a 256-token window on layer 0 and full attention on 1") {
  auto file = gguf::read_file(fixture("tiny-gemma3-2L-swa-f16.gguf"));
  REQUIRE(file.has_value());
  auto p = gguf::arch_params(*file);
  REQUIRE(p.has_value());
  CHECK(p->sliding_window == 256);
  CHECK(p->is_swa_layer == std::vector<bool>{true, false});
  CHECK(p->n_layer_swa() == 1);
  auto llama = gguf::read_file(fixture("tiny-llama-2L-f16.gguf"));
  REQUIRE(llama.has_value());
  CHECK(gguf::arch_params(*llama)->sliding_window == 0);
  CHECK(gguf::arch_params(*llama)->is_swa_layer == std::vector<bool>{false, false});
}

TEST_CASE("gguf: fixture tensors have the shapes, offsets and sizes llama.cpp would load") {
  auto file = gguf::read_file(fixture("tiny-llama-4L-q8_0.gguf"));
  REQUIRE(file.has_value());
  const gguf::TensorInfo* embd = file->find_tensor("token_embd.weight");
  REQUIRE(embd != nullptr);
  CHECK(embd->dims == std::vector<std::uint64_t>{64, 32000});
  CHECK(embd->type == 8);
  CHECK(embd->offset == 0);
  CHECK(embd->n_elements == 64 * 32000);
  CHECK(embd->n_bytes == 64 * 32000 / 32 * 34);
  const gguf::TensorInfo* k = file->find_tensor("blk.3.attn_k.weight");
  REQUIRE(k != nullptr);
  CHECK(k->dims == std::vector<std::uint64_t>{64, 32});
  CHECK(k->n_bytes == 64 * 32 / 32 * 34);
  CHECK(file->find_tensor("blk.4.attn_k.weight") == nullptr);
  const gguf::Value* tokens = file->find("tokenizer.ggml.tokens");
  REQUIRE(tokens != nullptr);
  REQUIRE(tokens->as_array() != nullptr);
  CHECK(tokens->as_array()->count == 32000);
  CHECK_FALSE(tokens->as_array()->items_kept); // counted and skipped, not stored
}

TEST_CASE("gguf: a file parsed from memory equals the same file read from disk") {
  const std::string bytes = gw::read_bytes(fixture("tiny-llama-2L-f16.gguf"));
  auto mem = gguf::parse(bytes);
  auto disk = gguf::read_file(fixture("tiny-llama-2L-f16.gguf"));
  REQUIRE(mem.has_value());
  REQUIRE(disk.has_value());
  CHECK(mem->tensors.size() == disk->tensors.size());
  CHECK(mem->metadata.size() == disk->metadata.size());
  CHECK(mem->data_offset == disk->data_offset);
  CHECK(mem->tensor_bytes() == disk->tensor_bytes());
  CHECK(mem->bytes_read == 0);
  // The header alone is enough when the true file size is given.
  auto prefix = gguf::parse(std::string_view(bytes).substr(0, mem->data_offset), bytes.size());
  REQUIRE_MESSAGE(prefix.has_value(), (prefix ? "" : prefix.error().message));
  CHECK(prefix->tensor_bytes() == mem->tensor_bytes());
  auto short_prefix = gguf::parse(std::string_view(bytes).substr(0, 4096), bytes.size());
  REQUIRE_FALSE(short_prefix.has_value());
  CHECK(short_prefix.error().message.find("header continues past the 4096 bytes") !=
        std::string::npos);
}

TEST_CASE("gguf: reads every metadata value type, nested arrays included, in v2 and v3") {
  for (std::uint32_t version : {2u, 3u}) {
    CAPTURE(version);
    gw::Writer w(version);
    w.u8("u8", 200).i8("i8", -5).u16("u16", 60000).i16("i16", -300);
    w.u32("u32", 4000000000u).i32("i32", -70000).f32("f32", 1.5f).boolean("bool", true);
    w.str("str", "h\xc3\xa9llo").u64("u64", 1ull << 40).i64("i64", -(1ll << 40)).f64("f64", 2.25);
    w.u32s("arr.u32", {1, 2, 3}).bools("arr.bool", {true, false}).strs("arr.str", {"a", "", "bc"});
    w.u32s("arr.empty", {});
    namespace enc = gw::enc;
    const std::string nested = enc::array_header(gw::type::array, 2) +
                               enc::array_header(gw::type::i32, 2) + enc::i32(1) + enc::i32(-2) +
                               enc::array_header(gw::type::string, 1) + enc::str("x");
    w.raw_kv("arr.nested", gw::type::array, nested);
    w.raw_kv("arr.big", gw::type::array,
             enc::array_header(gw::type::u8, 5000) + std::string(5000, '\x07'));
    auto f = gguf::parse(w.bytes());
    REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
    CHECK(f->version == version);
    CHECK(f->metadata.size() == 18);
    CHECK(f->get_uint("u8") == 200);
    CHECK(f->find("i8")->as_uint() == std::nullopt); // negative
    CHECK(f->find("i8")->as_float() == -5.0);
    CHECK(f->get_uint("u16") == 60000);
    CHECK(f->find("i16")->as_float() == -300.0);
    CHECK(f->get_uint("u32") == 4000000000u);
    CHECK(f->find("i32")->as_float() == -70000.0);
    CHECK(f->find("f32")->as_float() == 1.5);
    CHECK(f->find("f32")->type == gguf::ValueType::float32);
    CHECK(f->get_uint("bool") == 1);
    CHECK(f->find("bool")->type == gguf::ValueType::boolean);
    CHECK(f->get_string("str") == "h\xc3\xa9llo");
    CHECK(f->get_uint("u64") == (1ull << 40));
    CHECK(f->find("i64")->as_float() == -1099511627776.0);
    CHECK(f->find("f64")->as_float() == 2.25);
    CHECK(f->get_uint("str") == std::nullopt);
    CHECK(f->get_string("u8") == std::nullopt);
    const gguf::Array* u32s = f->find("arr.u32")->as_array();
    REQUIRE(u32s != nullptr);
    CHECK(u32s->element_type == gguf::ValueType::uint32);
    REQUIRE(u32s->items.size() == 3);
    CHECK(u32s->items[2].as_uint() == 3);
    CHECK(f->find("arr.bool")->as_array()->items[1].as_uint() == 0);
    CHECK(*f->find("arr.str")->as_array()->items[2].as_string() == "bc");
    CHECK(f->find("arr.empty")->as_array()->count == 0);
    CHECK(f->find("arr.empty")->as_array()->items_kept);
    const gguf::Array* nest = f->find("arr.nested")->as_array();
    REQUIRE(nest != nullptr);
    REQUIRE(nest->items.size() == 2);
    CHECK(nest->items[0].as_array()->items[1].as_float() == -2.0);
    CHECK(*nest->items[1].as_array()->items[0].as_string() == "x");
    const gguf::Array* big = f->find("arr.big")->as_array();
    CHECK(big->count == 5000);
    CHECK_FALSE(big->items_kept);
    CHECK(big->items.empty());
  }
}

TEST_CASE("gguf: long arrays of strings and of arrays are skipped, not stored") {
  namespace enc = gw::enc;
  std::string strings = enc::array_header(gw::type::string, 6000);
  std::string arrays = enc::array_header(gw::type::array, 6000);
  for (int i = 0; i < 6000; ++i) {
    strings += enc::str("token" + std::to_string(i));
    arrays += enc::array_header(gw::type::u16, 2) + enc::u16(1) + enc::u16(2);
  }
  gw::Writer w;
  w.raw_kv("strings", gw::type::array, strings).raw_kv("arrays", gw::type::array, arrays);
  w.u32("after", 7);
  auto f = gguf::parse(w.bytes());
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  CHECK(f->find("strings")->as_array()->count == 6000);
  CHECK(f->find("arrays")->as_array()->count == 6000);
  CHECK(f->get_uint("after") == 7);
}

TEST_CASE("gguf: byte sizes of every ggml tensor type match ggml's block layout") {
  struct Want {
    std::uint32_t id;
    std::string_view name;
    std::uint32_t block, size;
  };
  // From ggml-common.h block structs (see gguf_types.cpp); written out again here so that a
  // typo in the table cannot hide.
  const Want types[] = {
      {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
      {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
      {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
      {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
      {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
      {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
      {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
      {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
      {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
      {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
      {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},    {40, "NVFP4", 64, 36},
      {41, "Q1_0", 128, 18},
  };
  gw::Writer w;
  for (const Want& t : types) {
    auto traits = gguf::type_traits(t.id);
    REQUIRE(traits.has_value());
    CHECK(traits->name == t.name);
    CHECK(traits->block_size == t.block);
    CHECK(traits->type_size == t.size);
    w.tensor(std::string(t.name), {std::uint64_t{t.block} * 2, 3, 1, 2}, t.id);
  }
  for (std::uint32_t gone : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 42u, 1000u}) {
    CHECK_FALSE(gguf::type_traits(gone).has_value());
  }
  auto f = gguf::parse(w.bytes());
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  REQUIRE(f->tensors.size() == std::size(types));
  for (std::size_t i = 0; i < std::size(types); ++i) {
    CAPTURE(types[i].name);
    CHECK(f->tensors[i].n_elements == std::uint64_t{types[i].block} * 2 * 3 * 2);
    CHECK(f->tensors[i].n_bytes == std::uint64_t{types[i].size} * 2 * 3 * 2);
  }
}

TEST_CASE("gguf: a custom alignment moves the data section and the tensor offsets") {
  gw::Writer w;
  w.alignment(64).tensor("a", {3}, gw::ggml::f32).tensor("b", {5}, gw::ggml::f16);
  auto f = gguf::parse(w.bytes());
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  CHECK(f->alignment == 64);
  CHECK(f->data_offset % 64 == 0);
  CHECK(f->tensors[1].offset == 64);
  CHECK(f->data_size == 128);
  CHECK(f->data_offset + f->data_size == f->file_size);
}

TEST_CASE("gguf: read_file grows its prefix for a multi-megabyte tokenizer") {
  gw::TempDir dir;
  gw::TinyModel m;
  m.n_vocab = 200000; // ~3.5 MB of token strings, more than the first 1 MiB read
  auto w = gw::tiny_model(m);
  w.with_data(false);
  const auto path = w.write(dir / "big-vocab.gguf");
  std::filesystem::resize_file(path, w.data_end()); // sparse weights
  auto f = gguf::read_file(path);
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  CHECK(f->find("tokenizer.ggml.tokens")->as_array()->count == 200000);
  CHECK(f->bytes_read > (1u << 20));
  CHECK(f->bytes_read <= f->file_size);
  CHECK(gguf::arch_params(*f)->n_vocab == 200000);
}

TEST_CASE("gguf: a 5 GiB file costs one small read, and its truncated twin is refused") {
  gw::TempDir dir;
  gw::Writer w;
  w.str("general.architecture", "llama").tensor("huge", {1024, 1024, 1280}, gw::ggml::f32);
  w.with_data(false);
  const auto path = w.write(dir / "huge.gguf");
  const std::uint64_t five_gib = 5ull << 30;
  std::filesystem::resize_file(path, w.data_offset() + five_gib); // sparse: costs no disk
  auto f = gguf::read_file(path);
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
  CHECK(f->tensor_bytes() == five_gib);
  CHECK(f->bytes_read <= (1u << 20)); // the first read; the 5 GiB are never touched
  std::filesystem::resize_file(path, w.data_offset() + five_gib - 1);
  auto cut = gguf::read_file(path);
  REQUIRE_FALSE(cut.has_value());
  CHECK(cut.error().kind == ErrorKind::bad_request);
  CHECK(cut.error().message.find("truncated") != std::string::npos);
  CHECK(cut.error().message.find("huge.gguf") != std::string::npos);
}

TEST_CASE("gguf: read_file reports a missing file, a directory and a non-GGUF file") {
  gw::TempDir dir;
  auto missing = gguf::read_file(dir / "nope.gguf");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().kind == ErrorKind::not_found);
  CHECK(missing.error().message.find("nope.gguf") != std::string::npos);
  auto directory = gguf::read_file(dir.path());
  REQUIRE_FALSE(directory.has_value());
  CHECK(directory.error().kind == ErrorKind::bad_request);
  gw::write_bytes(dir / "text.gguf", "hello, this is not a model\n");
  auto text = gguf::read_file(dir / "text.gguf");
  REQUIRE_FALSE(text.has_value());
  CHECK(text.error().kind == ErrorKind::bad_request);
  CHECK(text.error().message.find("bad magic 'hell'") != std::string::npos);
  gw::write_bytes(dir / "empty.gguf", "");
  auto empty = gguf::read_file(dir / "empty.gguf");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message.find("file ends while reading the magic") != std::string::npos);
}

TEST_CASE("gguf: read_model sums the tensors of a model split in three parts") {
  gw::TempDir dir;
  gw::TinyModel m;
  m.n_layer = 3;
  auto parts = gw::split_tiny_model(m, 3);
  const auto prefix = dir / "tiny";
  for (std::uint32_t i = 0; i < 3; ++i) {
    parts[i].write(gguf::split_path(prefix, i + 1, 3));
  }
  CHECK(gguf::split_path(prefix, 2, 3).filename() == "tiny-00002-of-00003.gguf");
  const auto whole = gw::tiny_model(m);
  auto single = gguf::parse(whole.bytes());
  REQUIRE(single.has_value());
  for (std::uint32_t given : {1u, 2u, 3u}) {
    CAPTURE(given);
    auto model = gguf::read_model(gguf::split_path(prefix, given, 3));
    REQUIRE_MESSAGE(model.has_value(), (model ? "" : model.error().message));
    REQUIRE(model->parts.size() == 3);
    CHECK(model->paths[0] == gguf::split_path(prefix, 1, 3));
    CHECK(model->first().architecture() == "llama");
    CHECK(model->tensor_count() == single->tensors.size());
    CHECK(model->tensor_bytes() == single->tensor_bytes());
    CHECK(model->file_size() == std::filesystem::file_size(model->paths[0]) +
                                    std::filesystem::file_size(model->paths[1]) +
                                    std::filesystem::file_size(model->paths[2]));
    CHECK(gguf::arch_params(model->first())->n_layer == 3);
  }
}

TEST_CASE("gguf: read_model names a missing split part") {
  gw::TempDir dir;
  auto parts = gw::split_tiny_model(gw::TinyModel{}, 3);
  parts[0].write(dir / "m-00001-of-00003.gguf");
  parts[2].write(dir / "m-00003-of-00003.gguf");
  auto model = gguf::read_model(dir / "m-00001-of-00003.gguf");
  REQUIRE_FALSE(model.has_value());
  CHECK(model.error().kind == ErrorKind::not_found);
  CHECK(model.error().message.find("split part 2 of 3 is missing") != std::string::npos);
  CHECK(model.error().message.find("m-00002-of-00003.gguf") != std::string::npos);
}

TEST_CASE("gguf: read_model refuses split parts that disagree") {
  gw::TempDir dir;
  auto parts = gw::split_tiny_model(gw::TinyModel{}, 2);
  SUBCASE("split.count differs from the name") {
    parts[0].write(dir / "m-00001-of-00003.gguf");
    auto model = gguf::read_model(dir / "m-00001-of-00003.gguf");
    REQUIRE_FALSE(model.has_value());
    CHECK(model.error().message.find("split.count is 2 but the name says 3") != std::string::npos);
  }
  SUBCASE("split.count without a split name") {
    parts[0].write(dir / "m.gguf");
    auto model = gguf::read_model(dir / "m.gguf");
    REQUIRE_FALSE(model.has_value());
    CHECK(model.error().message.find("does not end in -0000N-of-00002.gguf") != std::string::npos);
  }
  SUBCASE("a part carries the wrong split.no") {
    parts[0].write(dir / "m-00001-of-00002.gguf");
    parts[0].write(dir / "m-00002-of-00002.gguf");
    auto model = gguf::read_model(dir / "m-00001-of-00002.gguf");
    REQUIRE_FALSE(model.has_value());
    CHECK(model.error().message.find("split.no is 0 but this is part 2") != std::string::npos);
  }
  SUBCASE("the same tensor in two parts") {
    gw::Writer second;
    second.u16("split.no", 1).u16("split.count", 2).tensor("token_embd.weight", {4}, 0);
    parts[0].write(dir / "m-00001-of-00002.gguf");
    second.write(dir / "m-00002-of-00002.gguf");
    auto model = gguf::read_model(dir / "m-00001-of-00002.gguf");
    REQUIRE_FALSE(model.has_value());
    CHECK(model.error().message.find("tensor 'token_embd.weight' is in part 1 and part 2") !=
          std::string::npos);
  }
  SUBCASE("split.tensors.count does not match the parts") {
    gw::Writer second;
    second.u16("split.no", 1).u16("split.count", 2).tensor("extra", {4}, 0);
    parts[0].write(dir / "m-00001-of-00002.gguf");
    second.write(dir / "m-00002-of-00002.gguf");
    auto model = gguf::read_model(dir / "m-00001-of-00002.gguf");
    REQUIRE_FALSE(model.has_value());
    CHECK(model.error().message.find("split.tensors.count says") != std::string::npos);
  }
}

TEST_CASE("gguf: read_model of an unsplit file gives one part") {
  auto model = gguf::read_model(fixture("tiny-llama-2L-f16.gguf"));
  REQUIRE(model.has_value());
  CHECK(model->parts.size() == 1);
  CHECK(model->tensor_count() == 20);
  CHECK(model->file_size() == 4972480);
}

TEST_CASE("gguf: hash_items hashes a string array item by item, kept or skipped") {
  gw::TempDir dir;
  const auto tokens = [](std::size_t n, std::size_t changed) {
    std::vector<std::string> t;
    for (std::size_t i = 0; i < n; ++i) {
      t.push_back(i == changed ? "other" : "tok" + std::to_string(i));
    }
    return t;
  };
  const gguf::ReadOptions hash{{"tokenizer.ggml.tokens"}};
  for (std::size_t n : {std::size_t{32}, std::size_t{5000}}) { // kept, skipped (> 4096)
    CAPTURE(n);
    gw::Writer a, b;
    a.strs("tokenizer.ggml.tokens", tokens(n, n)).strs("other.list", tokens(3, 3));
    b.strs("tokenizer.ggml.tokens", tokens(n, 7));
    auto fa = gguf::read_file(a.write(dir / "a.gguf"), hash);
    auto fb = gguf::read_file(b.write(dir / "b.gguf"), hash);
    REQUIRE(fa.has_value());
    REQUIRE(fb.has_value());
    const gguf::Array* ta = fa->find("tokenizer.ggml.tokens")->as_array();
    const gguf::Array* tb = fb->find("tokenizer.ggml.tokens")->as_array();
    REQUIRE(ta->items_hashed);
    CHECK(ta->items_kept == (n <= gguf::k_max_kept_array));
    REQUIRE(ta->item_hashes.size() == n);
    REQUIRE(tb->item_hashes.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK_MESSAGE((ta->item_hashes[i] == tb->item_hashes[i]) == (i != 7), i);
    }
    CHECK(ta->item_hashes[0] != ta->item_hashes[1]);
    CHECK_FALSE(fa->find("other.list")->as_array()->items_hashed); // not asked for
    auto plain = gguf::read_file(dir / "a.gguf"); // without options: nothing hashed
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->find("tokenizer.ggml.tokens")->as_array()->items_hashed);
    CHECK(plain->find("tokenizer.ggml.tokens")->as_array()->item_hashes.empty());
  }
}

TEST_CASE("gguf: hash_items leaves arrays of other types and read_model passes the options on") {
  gw::TempDir dir;
  gw::Writer w;
  w.u32s("tokenizer.ggml.tokens", {1, 2, 3});
  auto f = gguf::read_file(w.write(dir / "n.gguf"), gguf::ReadOptions{{"tokenizer.ggml.tokens"}});
  REQUIRE(f.has_value());
  CHECK_FALSE(f->find("tokenizer.ggml.tokens")->as_array()->items_hashed);

  auto parts = gw::split_tiny_model(gw::TinyModel{}, 2);
  parts[0].write(dir / "m-00001-of-00002.gguf");
  parts[1].write(dir / "m-00002-of-00002.gguf");
  for (const char* given : {"m-00001-of-00002.gguf", "m-00002-of-00002.gguf"}) {
    auto m = gguf::read_model(dir / given, gguf::ReadOptions{{"tokenizer.ggml.tokens"}});
    REQUIRE(m.has_value());
    const gguf::Array* t = m->first().find("tokenizer.ggml.tokens")->as_array();
    CHECK(t->items_hashed);
    CHECK(t->item_hashes.size() == 32);
  }
}

TEST_CASE("gguf: split_part reads a split file's name") {
  const auto p = gguf::split_part("/m/q-00002-of-00003.gguf");
  REQUIRE(p.has_value());
  CHECK(p->prefix == "/m/q");
  CHECK(p->part == 2);
  CHECK(p->count == 3);
  CHECK_FALSE(gguf::split_part("/m/q.gguf").has_value());
  CHECK_FALSE(gguf::split_part("/m/q-00004-of-00003.gguf").has_value());
  CHECK_FALSE(gguf::split_part("/m/q-0002-of-00003.gguf").has_value());
}
