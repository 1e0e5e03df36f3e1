#include "sim/embedding.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

#include "core/sha256.h"

namespace ask::sim {

namespace {

std::uint64_t hash64(std::string_view salt, std::string_view text) {
  core::Sha256 h;
  h.update(salt);
  h.update("\x1f");
  h.update(text);
  core::Sha256Digest d = h.finish();
  std::uint64_t s = 0;
  for (int i = 0; i < 8; ++i) {
    s = (s << 8) | d[static_cast<std::size_t>(i)];
  }
  return s;
}

// Adds `weight` times a pseudo-random vector in [-1, 1)^dim seeded by `seed` (splitmix64).
void add_noise(std::vector<double>& acc, std::uint64_t seed, double weight) {
  for (double& x : acc) {
    std::uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    x += weight * (static_cast<double>(z >> 11) / 4503599627370496.0 - 1.0);
  }
}

} // namespace

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      word += static_cast<char>(std::tolower(u));
    } else if (!word.empty()) {
      out.push_back(std::exchange(word, std::string()));
    }
  }
  if (!word.empty()) {
    out.push_back(std::move(word));
  }
  return out;
}

std::vector<float> embed_text(std::string_view text, std::size_t dim) {
  std::vector<double> acc(dim, 0.0);
  for (const std::string& w : words_of(text)) {
    add_noise(acc, hash64("word", w), 1.0);
  }
  add_noise(acc, hash64("text", text), 0.25); // tells apart texts with the same words
  double norm = 0;
  for (double x : acc) {
    norm += x * x;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(dim);
  for (std::size_t i = 0; i < dim; ++i) {
    out[i] = static_cast<float>(norm > 0 ? acc[i] / norm : 0.0);
  }
  return out;
}

double relevance(std::string_view query, std::string_view document) {
  std::vector<std::string> q = words_of(query);
  std::set<std::string> wanted(q.begin(), q.end());
  std::vector<std::string> d = words_of(document);
  std::set<std::string> have(d.begin(), d.end());
  std::size_t hits = 0;
  for (const std::string& w : wanted) {
    hits += have.count(w);
  }
  const double tie = static_cast<double>(hash64("tie", document) % 1000) / 1e6;
  return wanted.empty() ? tie : static_cast<double>(hits) / static_cast<double>(wanted.size()) * 0.998 + tie;
}

std::string base64_floats(const std::vector<float>& v) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  bytes.reserve(v.size() * 4);
  for (float f : v) {
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    for (int i = 0; i < 4; ++i) {
      bytes += static_cast<char>((u >> (8 * i)) & 0xff); // little-endian
    }
  }
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) {
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    if (i + 2 < bytes.size()) {
      n |= static_cast<unsigned char>(bytes[i + 2]);
    }
    out += k_alphabet[(n >> 18) & 63];
    out += k_alphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? k_alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k_alphabet[n & 63] : '=';
  }
  return out;
}

long long text_tokens(std::string_view text) {
  return static_cast<long long>((text.size() + 3) / 4);
}

} // namespace ask::sim
