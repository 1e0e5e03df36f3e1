#include "proxy/dialect_openai.h"

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

// One of OpenAI's doors: the body passes once `check` accepts it (chat's is checked by the
// handler's parse_chat_request), and replies and errors are OpenAI's own.
class OpenAiDialect final : public Dialect {
public:
  using Check = core::Result<core::Json> (*)(const core::Json&);
  constexpr OpenAiDialect(std::string_view name, Operation op, Check check)
      : m_name(name), m_op(op), m_check(check) {}

  std::string_view name() const override { return m_name; }
  Operation operation() const override { return m_op; }
  core::Result<core::Json> to_openai(const core::Json& body) const override {
    return m_check != nullptr ? m_check(body) : core::Result<core::Json>(body);
  }
  core::Json reply(core::Json completion, const DialectMeta& meta) const override {
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

private:
  std::string_view m_name;
  Operation m_op;
  Check m_check;
};

} // namespace

const Dialect& chat_dialect() {
  static const OpenAiDialect k_chat("chat", Operation::chat, nullptr);
  return k_chat;
}

const Dialect& completions_dialect() {
  static const OpenAiDialect k_completions("completions", Operation::completion,
                                           completion_request);
  return k_completions;
}

const Dialect& embeddings_dialect() {
  static const OpenAiDialect k_embeddings("embeddings", Operation::embedding, embedding_request);
  return k_embeddings;
}

const Dialect& rerank_dialect() {
  static const OpenAiDialect k_rerank("rerank", Operation::rerank, rerank_request);
  return k_rerank;
}

} // namespace ask::proxy
