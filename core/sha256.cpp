#include "core/sha256.h"

#include <stdexcept>

#include <openssl/evp.h>

namespace ask::core {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;

  Impl() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx);
      throw std::runtime_error("sha256: cannot initialise OpenSSL digest");
    }
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
  if (m_impl->finished) {
    throw std::logic_error("sha256: update() after finish()");
  }
  if (!bytes.empty() && EVP_DigestUpdate(m_impl->ctx, bytes.data(), bytes.size()) != 1) {
    throw std::runtime_error("sha256: EVP_DigestUpdate failed");
  }
}

Sha256Digest Sha256::finish() {
  if (m_impl->finished) {
    throw std::logic_error("sha256: finish() called twice");
  }
  Sha256Digest digest{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(m_impl->ctx, digest.data(), &len) != 1 || len != digest.size()) {
    throw std::runtime_error("sha256: EVP_DigestFinal_ex failed");
  }
  m_impl->finished = true;
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
