// libFuzzer target for the GGUF reader: parses arbitrary bytes as a whole file and as the
// prefix of a larger one, then derives the architecture parameters from whatever parsed.
// Seed corpus: the first 64 KiB of the files in tests/fixtures/gguf/.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace gguf = ask::core::gguf;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (const std::uint64_t file_size : {std::uint64_t{size}, std::uint64_t{size} + 4096}) {
    auto file = gguf::parse(bytes, file_size);
    if (!file) {
      continue;
    }
    (void)file->architecture();
    (void)file->tensor_bytes();
    if (auto params = gguf::arch_params(*file)) {
      (void)params->n_layer_kv();
      (void)params->n_layer_swa();
      (void)params->n_layer_recurrent();
    }
  }
  return 0;
}
