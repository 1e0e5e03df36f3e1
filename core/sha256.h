#pragma once
// SHA-256 over bytes (FIPS 180-4, self-contained), for the prompt cache key and content hashes.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ask::core {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Incremental hasher: update() any number of times, then finish() once.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view bytes);
  Sha256Digest finish();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

Sha256Digest sha256(std::string_view bytes);
// Lower-case hex of sha256(bytes): 64 characters.
std::string sha256_hex(std::string_view bytes);
std::string to_hex(const Sha256Digest& digest);

} // namespace ask::core
