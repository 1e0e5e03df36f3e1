// libFuzzer target: `ask -a -` and the binary-stdin check read whatever is piped into ask (a
// photo, a tarball, a truncated download). classify_input and load_attachment must never
// crash and must agree (text to one is text to the other), an attachment's text must be valid
// UTF-8, and user_content must always give JSON that can be written out.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ask/attach.h"
#include "core/excerpt.h"

namespace {

[[noreturn]] void attach_fuzz_fail(const char* what) {
  std::fprintf(stderr, "ask_attach_fuzz: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const ask::cli::StdinKind kind = ask::cli::classify_input(bytes);
  if (kind.binary) {
    (void)ask::cli::binary_stdin_error(kind);
  }
  // -f - for odd first bytes, -a - for even ones: both paths get every input shape.
  const bool text_only = size > 0 && (data[0] & 1) != 0;
  int warnings = 0;
  auto a = ask::cli::load_attachment("-", text_only, bytes,
                                     [&warnings](const std::string&) { ++warnings; });
  if (a) {
    if (a->kind == ask::cli::AttachmentKind::text) {
      if (kind.binary) {
        attach_fuzz_fail("load_attachment took as text what classify_input called binary");
      }
      if (!ask::core::detail::is_valid_utf8(a->data)) {
        attach_fuzz_fail("an attachment's text is not valid UTF-8");
      }
    } else if (a->kind == ask::cli::AttachmentKind::image) {
      if (!kind.image || text_only || a->data != bytes) {
        attach_fuzz_fail("an image attachment classify_input does not call an image");
      }
    } else {
      attach_fuzz_fail("standard input made a URL attachment");
    }
    // The input also as the prompt and as a label, to reach the escaping with any bytes.
    ask::cli::Attachment label_odd{ask::cli::AttachmentKind::text, std::string(bytes), "text/plain",
                                   "x"};
    const auto content = ask::cli::user_content(bytes, {*a, std::move(label_odd), *a});
    (void)content.dump(); // throws, and so aborts, on invalid UTF-8
  } else if (a.error().kind != ask::core::ErrorKind::bad_request) {
    attach_fuzz_fail("a refusal that is not bad_request");
  } else if (!kind.binary && size > 0 && size <= ask::cli::k_max_text_bytes) {
    attach_fuzz_fail("classify_input called text what load_attachment refused");
  } else if (kind.image && !text_only && size <= ask::cli::k_max_image_bytes) {
    attach_fuzz_fail("classify_input called an image what -a - refused");
  }
  return 0;
}
