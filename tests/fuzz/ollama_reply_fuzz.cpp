// libFuzzer target: the translation of Ollama's replies, which come from the network. The
// input is NDJSON: every line goes through OllamaStreamTranslator, and the whole input (and
// each line) through openai_response_from_ollama. Nothing may throw or crash, and every
// chunk produced must be an object that dumps as valid JSON.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json_text.h"
#include "core/ndjson.h"
#include "proxy/ollama_translate.h"

namespace {

void check_dumps(const ask::core::Json& j) {
  if (!j.is_object()) {
    std::fprintf(stderr, "a translated chunk is not an object\n");
    std::abort();
  }
  const std::string text = j.dump(-1, ' ', false, ask::core::Json::error_handler_t::replace);
  if (!ask::core::parse_json_text(text)) {
    std::fprintf(stderr, "a translated chunk does not parse back\n");
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ask::proxy::ReplyMeta meta{"chatcmpl-fuzz", 1, "fast-9b"};
  if (auto whole = ask::core::parse_json_text(input)) {
    if (auto reply = ask::proxy::openai_response_from_ollama(*whole, meta)) {
      check_dumps(*reply);
    }
  }
  ask::core::NdjsonSplitter splitter(1 << 16);
  std::vector<std::string> lines;
  splitter.feed(input, lines);
  splitter.finish(lines);
  ask::proxy::OllamaStreamTranslator translator(meta, size % 2 == 0);
  for (const std::string& line : lines) {
    auto parsed = ask::core::parse_json_text(line);
    if (!parsed) {
      continue;
    }
    auto chunks = translator.translate(*parsed);
    if (!chunks) {
      continue;
    }
    for (const auto& chunk : *chunks) {
      check_dumps(chunk);
    }
  }
  return 0;
}
