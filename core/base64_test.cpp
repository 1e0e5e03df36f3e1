#include "core/base64.h"

#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <string>
#include <vector>

using ask::core::base64_encode;

TEST_CASE("base64_encode: RFC 4648 section 10 test vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64_encode: every byte value, the last alphabet characters, no line breaks") {
  CHECK(base64_encode(std::string("\xFB\xFF\xBF", 3)) == "+/+/");
  CHECK(base64_encode(std::string("\0\0\0", 3)) == "AAAA");
  // Agrees with OpenSSL for all 256 byte values at every length up to 300 (so no 76-column
  // wrapping sneaks in and every tail length is covered).
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>((i * 37 + 11) & 0xFF));
    std::vector<unsigned char> want(4 * ((bytes.size() + 2) / 3) + 1);
    const int n = EVP_EncodeBlock(want.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    REQUIRE(base64_encode(bytes) ==
            std::string(reinterpret_cast<const char*>(want.data()), static_cast<std::size_t>(n)));
  }
}
