// libFuzzer target for the memory estimate over untrusted model files: parses arbitrary bytes
// as a GGUF file and, where that works, estimates it (five simulated loads through the graph
// model, router/graph*.h) and lays it out over two devices and the host, at a few settings.
// Whatever the file says — shapes that overflow, expert counts in the millions, a missing
// tensor — the estimate must refuse or fall back with a margin, never crash, hang or wrap a
// size. Seed corpus: the first 64 KiB of the files in tests/fixtures/gguf/ and of model-zoo
// headers (build/bench/model_zoo --out DIR writes them; `head -c 65536`).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/gguf.h"
#include "router/estimate.h"
#include "router/layout.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace gguf = ask::core::gguf;
  using namespace ask::router;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto file = gguf::parse(bytes, size);
  if (!file) {
    return 0;
  }
  gguf::SplitModel model;
  model.paths.emplace_back("fuzz.gguf");
  model.parts.push_back(std::move(*file));
  EstimateInput in;
  in.ctx = 4096;
  in.build = k_recorded_build;
  for (const bool fa : {true, false}) {
    in.flash_attn = fa;
    in.parallel = fa ? 1 : 3;
    auto e = estimate(model, in);
    if (!e) {
      continue;
    }
    const Layout layout = llama_layout(e->layers.size(), 999, {"CUDA0", "RPC0"}, {1.0, 1.0});
    (void)estimate_layout(model, in, layout);
  }
  return 0;
}
