#include "core/sha256.h"

#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <algorithm>

using namespace ask::core;

// Vectors from NIST FIPS 180-2 / the "SHA example" documents.
TEST_CASE("Sha256: NIST test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                 "klmnopqrlmnopqrsmnopqrstnopqrstu") ==
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("Sha256: one million 'a' fed incrementally") {
  Sha256 hasher;
  const std::string block(1000, 'a');
  for (int i = 0; i < 1000; ++i) {
    hasher.update(block);
  }
  CHECK(to_hex(hasher.finish()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("Sha256: incremental hashing equals one-shot at every split") {
  const std::string text = "The quick brown fox jumps over the lazy dog, again and again; "
                           "a message longer than one 64-byte block of SHA-256.";
  const auto expected = sha256(text);
  for (std::size_t i = 0; i <= text.size(); ++i) {
    Sha256 hasher;
    hasher.update(std::string_view(text).substr(0, i));
    hasher.update("");
    hasher.update(std::string_view(text).substr(i));
    if (hasher.finish() != expected) {
      FAIL("split at ", i);
    }
  }
}

TEST_CASE("Sha256: binary input with NUL bytes") {
  using namespace std::string_literals;
  CHECK(sha256_hex("\0"s) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  CHECK(sha256_hex("a\0b"s) != sha256_hex("a"));
}

TEST_CASE("Sha256: hex is 64 lower-case characters") {
  const auto hex = sha256_hex("askd");
  CHECK(hex.size() == 64);
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  Sha256Digest digest{};
  digest[0] = 0xab;
  digest[31] = 0x0f;
  const auto h = to_hex(digest);
  CHECK(h.substr(0, 2) == "ab");
  CHECK(h.substr(62) == "0f");
}

TEST_CASE("Sha256: misuse after finish() throws instead of hashing garbage") {
  Sha256 hasher;
  hasher.update("x");
  (void)hasher.finish();
  CHECK_THROWS_AS(hasher.update("y"), std::logic_error);
  CHECK_THROWS_AS((void)hasher.finish(), std::logic_error);
}

TEST_CASE("Sha256: agrees with OpenSSL's SHA-256 on every length up to 300 bytes") {
  std::string input;
  for (int n = 0; n <= 300; ++n) {
    CAPTURE(n);
    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    REQUIRE(EVP_Digest(input.data(), input.size(), expected, &len, EVP_sha256(), nullptr) == 1);
    ask::core::Sha256Digest want{};
    std::copy(expected, expected + 32, want.begin());
    CHECK(ask::core::sha256(input) == want);
    input.push_back(static_cast<char>((n * 131 + 7) & 0xff));
  }
}
