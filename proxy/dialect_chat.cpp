#include "proxy/dialect_chat.h"

#include "core/json_text.h"
#include "core/sse.h"

namespace ask::proxy {

namespace {

class ChatStreamEncoder final : public StreamEncoder {
public:
  void chunk(const core::Json& chunk, std::string& out) override {
    out += "data: ";
    out += core::dump_json(chunk);
    out += "\n\n";
  }
  void finish(std::string& out) override { out += core::encode_sse_done(); }
  void fail(const core::Error& error, std::string& out) override {
    // No [DONE] after it: the stream ends with the error, as OpenAI's does.
    chunk(
        {{"error",
          {{"message", error.message}, {"type", "server_error"}, {"code", "stream_interrupted"}}}},
        out);
  }
};

class ChatDialect final : public Dialect {
public:
  std::string_view name() const override { return "chat"; }
  core::Result<core::Json> to_chat(const core::Json& body) const override { return body; }
  core::Json reply(const core::Json& completion, const DialectMeta& meta) const override {
    (void)meta;
    return completion;
  }
  std::unique_ptr<StreamEncoder> stream(const DialectMeta& meta) const override {
    (void)meta;
    return std::make_unique<ChatStreamEncoder>();
  }
  core::Json error_body(int status, const core::Json& openai_error) const override {
    (void)status;
    return openai_error;
  }
  bool stream_usage_always() const override { return false; }
};

} // namespace

const Dialect& chat_dialect() {
  static const ChatDialect k_chat;
  return k_chat;
}

} // namespace ask::proxy
