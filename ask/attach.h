#pragma once
// Attachments to a question: `ask -a FILE` (an image or a text file; repeatable) and
// `ask -f FILE` (a text file only; repeatable), read and checked here, then turned into the
// user message's content. Images are told by their first bytes, never by the file's name.
// What a person sees is described in docs/attachments.md.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ask::cli {

// Limits. askd refuses a body over 32 MiB (max_request_body) and base64 grows by 4/3, so
// 20 MiB of images is 26.7 MiB in the request; text is sent as it is (JSON escapes aside).
// Per image, and all the images of one question together.
inline constexpr std::size_t k_max_image_bytes = 20 * 1024 * 1024;
// Per text file, and all the text files of one question together.
inline constexpr std::size_t k_max_text_bytes = 16 * 1024 * 1024;
// Everything attached to one question, as it will be written in the request (base64 images,
// JSON-escaped text): 2 MiB below askd's default limit, for the prompt, a system prompt and
// the JSON around them.
inline constexpr std::size_t k_max_attached_request_bytes = 30 * 1024 * 1024;
// An image URL longer than this is refused (browsers and servers stop near 8 KiB too).
inline constexpr std::size_t k_max_url_bytes = 8 * 1024;

enum class AttachmentKind {
  image,     // bytes read from a file or standard input
  image_url, // an http(s) URL, sent as it is: the backend (or askd) fetches it, if it can
  text,      // a text file, sent as a labelled fragment of the user message
};

struct Attachment {
  AttachmentKind kind = AttachmentKind::text;
  std::string label;      // the path as given, the URL, or "stdin" for "-"
  std::string media_type; // "image/png", "image/jpeg", "image/gif", "image/webp"; "text/plain"
                          // for text; "" for image_url (unknown until fetched)
  std::string data;       // the image's bytes, the text (valid UTF-8, without a byte order
                          // mark), or the URL
};

using AttachWarn = std::function<void(const std::string&)>;

// Reads one -a (`text_only` false) or -f (`text_only` true) argument:
// - "-" is standard input, whose bytes the caller has read already (`stdin_bytes`; nullopt
//   when there are none to read, e.g. standard input is a terminal: an error).
// - "http://..." or "https://..." (any case) becomes an image_url attachment; nothing is
//   fetched here. Other URL schemes (file://, ftp://...) are refused, as is a URL for -f.
// - Anything else is a file path (regular files, pipes such as <(cmd); not directories or
//   devices), read with POSIX calls.
// The content decides the kind: PNG, JPEG, GIF and WebP images by their magic bytes; text
// when it has no NUL byte and at most 10% of its bytes are control bytes (other than tab,
// newline, CR, FF, VT, backspace, ESC) or bytes that are not well-formed UTF-8. Such bytes
// become U+FFFD and `warn` is told how many (a Latin-1 file, say). Anything else is refused,
// naming what it looks like (a PDF document, an ELF executable, gzip-compressed data...).
// Every failure is bad_request naming the option and the argument: "-a photo.png: No such file
// or directory", an empty file, a file over k_max_image_bytes / k_max_text_bytes, an image
// given to -f.
core::Result<Attachment> load_attachment(std::string_view arg, bool text_only,
                                         std::optional<std::string_view> stdin_bytes,
                                         const AttachWarn& warn);

// One -a or -f argument as the command line gave it.
struct AttachmentArg {
  std::string arg;
  bool text_only = false; // -f
};

// Every -a and -f of one question, in command-line order: load_attachment for each, then the
// totals (k_max_image_bytes of images, k_max_text_bytes of text,
// k_max_attached_request_bytes once encoded), naming the argument that went over; "-" may
// appear only once (standard input is read once).
core::Result<std::vector<Attachment>> load_attachments(const std::vector<AttachmentArg>& args,
                                                       std::optional<std::string_view> stdin_bytes,
                                                       const AttachWarn& warn);

// What standard input holds: text, or binary data described for a person ("a PNG image",
// "a PDF document", "binary data"). The same rules as load_attachment, so what -a - would take
// as text is text here.
struct StdinKind {
  bool binary = false;
  bool image = false; // one ask can attach with -a -
  std::string what;   // "" for text
  std::string hint;   // how to make it usable, "" when there is nothing to add
};
StdinKind classify_input(std::string_view bytes);

// The bad_request for binary standard input given without -a -: for an image "standard
// input is a PNG image: attach it with -a - (ask -a - "describe" < photo.png)"; otherwise
// what it is and what ask can read.
core::Error binary_stdin_error(const StdinKind& kind);

// The user message's content. The text attachments come first, in order, each as
//   <file name="LABEL">\nTEXT\n</file>\n\n
// (one trailing newline of TEXT dropped; LABEL with &, <, >, " and control bytes written as
// XML character references, so a name cannot close the attribute), then `prompt`. TEXT is
// not escaped: a file is sent exactly as it is, so a "</file>" inside it is sent too. The
// tags help the model tell files apart; they are not a security boundary (a file can say
// anything to the model with or without them).
// Without images the content is that string. With images it is OpenAI's array of parts:
// {"type":"text","text":...} (left out when the text is empty), then one
// {"type":"image_url","image_url":{"url":...}} per image in order, the url a
// data:<type>;base64,... URL, or the URL itself for image_url attachments.
nlohmann::json user_content(std::string_view prompt, const std::vector<Attachment>& attachments);

} // namespace ask::cli
