#include "core/sha256.h"

#include <cstring>
#include <stdexcept>

// SHA-256 as FIPS 180-4 defines it, self-contained. It used to go through OpenSSL's EVP
// interface, whose first call loads OpenSSL's configuration and providers: about 1 ms, which
// was most of what an `ask` cache hit cost (docs/benchmarks.md).

namespace ask::core {
namespace {

constexpr std::uint32_t k_round[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

} // namespace

struct Sha256::Impl {
  std::uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char block[64] = {};
  std::size_t block_len = 0;
  std::uint64_t total_bytes = 0;
  bool finished = false;

  void compress(const unsigned char* p) {
    std::uint32_t w[64];
    for (std::size_t i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
             (std::uint32_t{p[4 * i + 2]} << 8) | std::uint32_t{p[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    std::uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                         k_round[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }

  void add(const unsigned char* p, std::size_t n) {
    total_bytes += n;
    if (block_len > 0) {
      std::size_t take = std::min(n, sizeof block - block_len);
      std::memcpy(block + block_len, p, take);
      block_len += take;
      p += take;
      n -= take;
      if (block_len < sizeof block) {
        return;
      }
      compress(block);
      block_len = 0;
    }
    for (; n >= 64; p += 64, n -= 64) {
      compress(p);
    }
    std::memcpy(block, p, n);
    block_len = n;
  }
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
  if (m_impl->finished) {
    throw std::logic_error("sha256: update() after finish()");
  }
  m_impl->add(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

Sha256Digest Sha256::finish() {
  if (m_impl->finished) {
    throw std::logic_error("sha256: finish() called twice");
  }
  Impl& s = *m_impl;
  const std::uint64_t bits = s.total_bytes * 8;
  // The padding: 0x80, zeros up to 56 bytes into a block, then the length in bits, big-endian.
  unsigned char pad[72] = {0x80};
  std::size_t pad_len = (s.block_len < 56 ? 56 : 120) - s.block_len;
  for (int i = 0; i < 8; ++i) {
    pad[pad_len + static_cast<std::size_t>(i)] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  }
  s.add(pad, pad_len + 8);
  Sha256Digest digest{};
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t j = 0; j < 4; ++j) {
      digest[4 * i + j] = static_cast<std::uint8_t>(s.state[i] >> (24 - 8 * j));
    }
  }
  s.finished = true;
  return digest;
}

Sha256Digest sha256(std::string_view bytes) {
  Sha256 hasher;
  hasher.update(bytes);
  return hasher.finish();
}

std::string to_hex(const Sha256Digest& digest) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (auto byte : digest) {
    out += k_hex[byte >> 4];
    out += k_hex[byte & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  return to_hex(sha256(bytes));
}

} // namespace ask::core
