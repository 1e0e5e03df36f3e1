// The GGUF reader on broken and hostile files: every truncation, lengths and counts that
// would make a naive reader allocate terabytes, impossible shapes, wrong versions.

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "core/gguf.h"
#include "tests/support/gguf_writer.h"

namespace gguf = ask::core::gguf;
namespace gw = ask::testing::gguf;
namespace enc = ask::testing::gguf::enc;
using ask::core::ErrorKind;

namespace {

// A small but complete file: every value type, a nested array, a 1-layer model.
gw::Writer small_file() {
  gw::TinyModel m;
  m.n_layer = 1;
  m.n_embd = 32;
  m.n_ff = 32;
  m.n_vocab = 4;
  gw::Writer w;
  gw::tiny_metadata(w, m);
  w.u8("x.u8", 1).i8("x.i8", -1).u16("x.u16", 2).i16("x.i16", -2).i32("x.i32", -3);
  w.u64("x.u64", 4).i64("x.i64", -4).f32("x.f32", 0.5f).f64("x.f64", 0.25).boolean("x.b", true);
  w.raw_kv("x.nested", gw::type::array,
           enc::array_header(gw::type::array, 1) + enc::array_header(gw::type::u8, 2) + "ab");
  for (const gw::TensorSpec& t : gw::tiny_tensors(m)) {
    w.tensor(t.name, t.dims, t.ggml_type);
  }
  return w;
}

// The error message of parsing `bytes`, which must fail with bad_request.
std::string error_of(std::string_view bytes) {
  auto f = gguf::parse(bytes);
  REQUIRE_FALSE(f.has_value());
  CHECK(f.error().kind == ErrorKind::bad_request);
  CHECK(f.error().message.starts_with("gguf: "));
  return f.error().message;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Magic, version, tensor count, metadata count.
constexpr std::size_t k_header = 24;

} // namespace

TEST_CASE("gguf: a file cut at any byte fails cleanly, never reads past the end") {
  const gw::Writer w = small_file();
  const std::string bytes = w.bytes();
  REQUIRE(gguf::parse(bytes).has_value());
  const std::size_t header_end = w.header().size();
  REQUIRE(header_end < bytes.size());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    // std::string keeps a terminator after the data; a fresh buffer of exactly n bytes lets
    // AddressSanitizer catch a read one past the end.
    const std::string cut = gw::truncated(bytes, n);
    auto copy = std::make_unique<char[]>(n == 0 ? 1 : n);
    std::copy(cut.begin(), cut.end(), copy.get());
    auto f = gguf::parse(std::string_view(copy.get(), n));
    CHECK(f.has_value() == (n >= w.data_end()));
    if (!f) {
      CHECK(f.error().kind == ErrorKind::bad_request);
      CHECK(f.error().message.starts_with("gguf: offset "));
      const std::string& msg = f.error().message;
      if (n >= header_end) {
        CHECK(contains(msg, "truncated?"));
      } else {
        CHECK((contains(msg, "file ends while reading") || contains(msg, "cannot fit") ||
               contains(msg, "bytes left in the file")));
      }
    }
    // As a prefix of the whole file, the header alone is enough.
    auto prefix = gguf::parse(std::string_view(copy.get(), n), bytes.size());
    CHECK(prefix.has_value() == (n >= header_end));
  }
}

TEST_CASE("gguf: random byte damage never crashes the parser") {
  const std::string bytes = small_file().bytes();
  std::mt19937 rng(12345);
  std::uniform_int_distribution<std::size_t> where(0, k_header + 600);
  std::uniform_int_distribution<int> value(0, 255);
  int failures = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string damaged = bytes;
    for (int hits = 1 + round % 4; hits > 0; --hits) {
      damaged[where(rng) % damaged.size()] = static_cast<char>(value(rng));
    }
    auto f = gguf::parse(damaged);
    failures += f.has_value() ? 0 : 1;
    if (f) {
      (void)gguf::arch_params(*f); // may fail, must not crash
    }
  }
  CHECK(failures > 0);
}

TEST_CASE("gguf: bad magic, GGUF v1, unknown and byte-swapped versions are refused") {
  std::string msg = error_of(gw::Writer().magic("GGML").bytes());
  CHECK(contains(msg, "gguf: offset 0: header: bad magic 'GGML' (expected 'GGUF')"));
  msg = error_of(gw::Writer().magic(std::string("\x00\x01GG", 4)).bytes());
  CHECK(contains(msg, "bad magic '??GG'"));
  msg = error_of(gw::Writer(1).u32("a", 1).bytes());
  CHECK(contains(msg, "offset 4: header: GGUF version 1 is not supported"));
  msg = error_of(gw::Writer(4).bytes());
  CHECK(contains(msg, "unsupported GGUF version 4 (supported: 2 and 3)"));
  msg = error_of(gw::Writer(0).bytes());
  CHECK(contains(msg, "unsupported GGUF version 0"));
  msg = error_of(gw::Writer(0x03000000).bytes());
  CHECK(contains(msg, "big-endian"));
}

TEST_CASE("gguf: huge counts are refused before anything is allocated") {
  std::string msg = error_of(gw::Writer().tensor_count(1ull << 40).bytes());
  CHECK(contains(msg, "offset 8: header: tensor count 1099511627776 exceeds the limit"));
  msg = error_of(gw::Writer().tensor_count(1000).bytes());
  CHECK(contains(msg, "1000 tensors cannot fit in the 8 bytes left"));
  msg = error_of(gw::Writer().kv_count(~0ull).bytes());
  CHECK(contains(msg, "offset 16: header: metadata count 18446744073709551615 exceeds"));
  msg = error_of(gw::Writer().u32("a", 1).kv_count(100).bytes());
  CHECK(contains(msg, "100 metadata entries cannot fit"));
  // Counts that pass the header check but not the bytes left after the metadata.
  gw::Writer w;
  w.str("s", std::string(400, 'x')).tensor_count(17);
  msg = error_of(w.bytes());
  CHECK(contains(msg, "tensor infos: 17 tensors cannot fit"));
}

TEST_CASE("gguf: huge string lengths and array counts name the field and its offset") {
  // Key length 2^63 right after the 24-byte header.
  std::string msg = error_of(gw::Writer()
                                 .raw_kv("k", 4, enc::u32(1))
                                 .kv_count(1)
                                 .bytes()
                                 .replace(k_header, 8, enc::u64(1ull << 63)));
  CHECK(contains(msg, "gguf: offset 24: metadata 0: the key: length 9223372036854775808 "
                      "exceeds the limit of 65536"));
  msg = error_of(gw::Writer().raw_kv("k", gw::type::string, enc::u64(100) + "short").bytes());
  CHECK(contains(msg, "offset 37: metadata 0 'k': a string: length 100 exceeds the"));
  msg =
      error_of(gw::Writer().raw_kv("k", gw::type::string, enc::u64(65ull << 20) + "short").bytes());
  CHECK(contains(msg, "length 68157440 exceeds the limit of 67108864"));
  msg = error_of(gw::Writer()
                     .raw_kv("arr", gw::type::array, enc::array_header(gw::type::u64, 1ull << 62))
                     .bytes());
  CHECK(contains(msg, "offset 39: metadata 0 'arr': array of 4611686018427387904 uint64 values "
                      "cannot fit"));
  msg = error_of(
      gw::Writer()
          .raw_kv("arr", gw::type::array,
                  enc::array_header(gw::type::string, 3) + enc::str("a") + enc::u64(1ull << 40))
          .bytes());
  CHECK(contains(msg, "metadata 0 'arr' element 1: a string: length 1099511627776 exceeds"));
  msg = error_of(gw::Writer().raw_kv("t", 13, enc::u32(0)).bytes());
  CHECK(contains(msg, "offset 33: metadata 0 't': unknown value type 13"));
  msg = error_of(gw::Writer().raw_kv("a", gw::type::array, enc::array_header(99, 0)).bytes());
  CHECK(contains(msg, "unknown value type 99"));
}

TEST_CASE("gguf: arrays nested deeper than the limit are refused") {
  // An array value nested `levels` deep: [[[...["z"]...]]].
  auto deep = [](std::uint32_t levels) {
    std::string v;
    for (std::uint32_t i = 1; i < levels; ++i) {
      v += enc::array_header(gw::type::array, 1);
    }
    return v + enc::array_header(gw::type::u8, 1) + "z";
  };
  CHECK(gguf::parse(gw::Writer().raw_kv("a", gw::type::array, deep(8)).bytes()).has_value());
  std::string msg = error_of(gw::Writer().raw_kv("a", gw::type::array, deep(9)).bytes());
  CHECK(contains(msg, "arrays nested more than 8 deep"));
  // The same when the outer array is too long to keep and is skipped.
  std::string skipped = enc::array_header(gw::type::array, 5000) + deep(8);
  for (int i = 1; i < 5000; ++i) {
    skipped += enc::array_header(gw::type::u8, 0);
  }
  msg = error_of(gw::Writer().raw_kv("a", gw::type::array, skipped).bytes());
  CHECK(contains(msg, "arrays nested more than 8 deep"));
}

TEST_CASE("gguf: impossible tensor shapes and types are refused with the tensor named") {
  const std::size_t at = k_header + 8 + 1; // the n_dims field of tensor 0 't'
  std::string msg =
      error_of(gw::Writer().raw_tensor("t", 9, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 0).bytes());
  CHECK(contains(msg, "gguf: offset " + std::to_string(at) +
                          ": tensor 0 't': 9 dimensions (at most 4)"));
  msg = error_of(gw::Writer().raw_tensor("t", 2, {1ull << 32, 1ull << 32}, 0, 0).bytes());
  CHECK(contains(msg, "tensor 0 't': the product of the dimensions overflows int64"));
  msg = error_of(gw::Writer().raw_tensor("t", 1, {~0ull}, 0, 0).bytes());
  CHECK(contains(msg, "dimension 0 is 18446744073709551615 (more than 2^63-1)"));
  msg = error_of(gw::Writer().raw_tensor("t", 2, {1ull << 40, 1ull << 22}, 0, 0).bytes());
  CHECK(contains(msg, "byte size overflows int64"));
  msg = error_of(gw::Writer().tensor("t", {4}, 99).bytes());
  CHECK(contains(msg, "offset " + std::to_string(at + 4 + 8) +
                          ": tensor 0 't': unknown ggml "
                          "type 99"));
  msg = error_of(gw::Writer().tensor("t", {32}, 31).bytes());
  CHECK(contains(msg, "ggml type 31 (Q4_0_4_4) was removed from ggml"));
  msg = error_of(gw::Writer().tensor("t", {33, 2}, gw::ggml::q4_0).bytes());
  CHECK(contains(msg, "row length 33 is not a multiple of Q4_0's block size 32"));
  msg = error_of(gw::Writer().raw_tensor(std::string(2000, 'n'), 1, {4}, 0, 0).bytes());
  CHECK(contains(msg, "tensor 0: the name: length 2000 exceeds the limit of 1024"));
}

TEST_CASE("gguf: tensor data must be in order, aligned and inside the file") {
  std::string msg = error_of(gw::Writer().raw_tensor("t", 1, {4}, 0, 8).bytes());
  CHECK(contains(msg, "offset 24: tensor 0 't': data offset 8 is not a multiple of the "
                      "alignment 32"));
  msg = error_of(gw::Writer().tensor("a", {4}, 0).raw_tensor("b", 1, {4}, 0, 64).bytes());
  CHECK(contains(msg, "tensor 1 'b': data offset 64, expected 32"));
  msg = error_of(gw::Writer().tensor("t", {1024}, 0).with_data(false).bytes());
  CHECK(contains(msg, "tensor 0 't': data [64, 4160) runs past the end of the 64-byte file "
                      "(truncated?)"));
  msg = error_of(gw::Writer().tensor("t", {4}, 0).tensor("t", {4}, 0).bytes());
  CHECK(contains(msg, "tensor 1 't': duplicate tensor name"));
}

TEST_CASE("gguf: general.alignment must be a uint32 power of two, keys must be unique") {
  std::string msg = error_of(gw::Writer().alignment(48).bytes());
  CHECK(contains(msg, "offset 24: metadata 0 'general.alignment': 48 is not a power of two"));
  msg = error_of(gw::Writer().alignment(0).bytes());
  CHECK(contains(msg, "0 is not a power of two"));
  msg = error_of(gw::Writer().u64("general.alignment", 32).bytes());
  CHECK(contains(msg, "'general.alignment': must be a uint32, not uint64"));
  msg = error_of(gw::Writer().u32("a", 1).str("b", "x").u32("a", 2).bytes());
  CHECK(contains(msg, "metadata 2 'a': duplicate key"));
}

TEST_CASE("gguf: names with control bytes are shown safely in errors") {
  std::string msg = error_of(
      gw::Writer().raw_tensor(std::string("bad\nname\x01", 9), 5, {1, 1, 1, 1, 1}, 0, 0).bytes());
  CHECK(contains(msg, "tensor 0 'bad?name?': 5 dimensions"));
}
