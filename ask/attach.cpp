#include "ask/attach.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ask/prompt.h"
#include "core/base64.h"
#include "core/excerpt.h"
#include "core/strings.h"
#include "core/unique_fd.h"

namespace ask::cli {

namespace {

// Names here start with attach_: a unity build compiles this file with the rest of ask_cli.

constexpr std::string_view k_attach_what_we_take =
    "ask attaches UTF-8 text files and PNG, JPEG, GIF and WebP images";

// A file's signature: `magic` at `offset` (and, for RIFF and ISO media, `magic2` at
// `offset2`). `media_type` is set for the images ask attaches. A weak signature is made of
// bytes a text file could start with ("BM", "MZ"): it only names data already found binary.
struct AttachMagic {
  std::string_view magic;
  std::size_t offset = 0;
  std::string_view what;
  std::string_view media_type;
  std::string_view hint;
  bool weak = false;
  std::string_view magic2 = {};
  std::size_t offset2 = 0;
};

using namespace std::string_view_literals;

// Constructors for the table below, each field named once.
constexpr AttachMagic attach_sig(std::string_view magic, std::string_view what,
                                 std::string_view hint = {}) {
  AttachMagic m;
  m.magic = magic;
  m.what = what;
  m.hint = hint;
  return m;
}
constexpr AttachMagic attach_image(std::string_view magic, std::string_view what,
                                   std::string_view media_type) {
  AttachMagic m = attach_sig(magic, what);
  m.media_type = media_type;
  return m;
}
constexpr AttachMagic attach_weak(std::string_view magic, std::string_view what,
                                  std::string_view hint = {}) {
  AttachMagic m = attach_sig(magic, what, hint);
  m.weak = true;
  return m;
}
// A signature past the start (ISO media's "ftyp" box, tar's "ustar") is weak: what comes
// before it (a box size, a file name padded with NULs) already makes the data binary, and text
// could hold the same letters there.
constexpr AttachMagic attach_at(std::size_t offset, std::string_view magic, std::string_view what,
                                std::string_view hint = {}) {
  AttachMagic m = attach_weak(magic, what, hint);
  m.offset = offset;
  return m;
}
// RIFF containers: "RIFF", a 4-byte size, then the form type.
constexpr AttachMagic attach_riff(std::string_view form, std::string_view what,
                                  std::string_view media_type = {}) {
  AttachMagic m = attach_image("RIFF", what, media_type);
  m.magic2 = form;
  m.offset2 = 8;
  return m;
}

constexpr std::string_view k_attach_convert = "convert it to PNG or JPEG first";
constexpr std::string_view k_attach_iconv16 =
    "convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8)";
constexpr std::string_view k_attach_iconv32 =
    "convert it to UTF-8 first (iconv -f UTF-32 -t UTF-8)";

// Ordered: the first match wins, so the more specific RIFF and ftyp forms come first.
constexpr AttachMagic k_attach_magics[] = {
    attach_image("\x89PNG\r\n\x1A\n"sv, "a PNG image", "image/png"),
    attach_image("\xFF\xD8\xFF"sv, "a JPEG image", "image/jpeg"),
    attach_image("GIF87a"sv, "a GIF image", "image/gif"),
    attach_image("GIF89a"sv, "a GIF image", "image/gif"),
    attach_riff("WEBP"sv, "a WebP image", "image/webp"),
    attach_riff("WAVE"sv, "a WAV audio file"),
    attach_riff("AVI "sv, "an AVI video"),
    attach_at(4, "ftypheic"sv, "a HEIC image", k_attach_convert),
    attach_at(4, "ftypheix"sv, "a HEIC image", k_attach_convert),
    attach_at(4, "ftypmif1"sv, "a HEIF image", k_attach_convert),
    attach_at(4, "ftypavif"sv, "an AVIF image", k_attach_convert),
    attach_at(4, "ftyp"sv, "an MP4 or QuickTime video"),
    attach_sig("II*\0"sv, "a TIFF image", k_attach_convert),
    attach_sig("MM\0*"sv, "a TIFF image", k_attach_convert),
    attach_sig("\0\0\0\x0CJXL \r\n\x87\n"sv, "a JPEG XL image", k_attach_convert),
    attach_sig("\xFF\x0A"sv, "a JPEG XL image", k_attach_convert),
    attach_weak("8BPS"sv, "a Photoshop image", k_attach_convert),
    attach_weak("BM"sv, "a BMP image", k_attach_convert),
    attach_sig("%PDF-"sv, "a PDF document",
               "extract its text first (pdftotext FILE - | ask -f - ...), or attach its pages "
               "as images"),
    attach_sig("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"sv, "an old Microsoft Office document",
               "save it as text first"),
    attach_sig("PK\x03\x04"sv,
               "a zip archive (or a document stored as one: .docx, .xlsx, .odt, .jar)",
               "extract the text you want to ask about first"),
    attach_sig("PK\x05\x06"sv, "an empty zip archive"),
    attach_sig("\x1F\x8B"sv, "gzip-compressed data",
               "decompress it first (zcat FILE | ask -f - ...)"),
    attach_weak("BZh"sv, "bzip2-compressed data",
                "decompress it first (bzcat FILE | ask -f - ...)"),
    attach_sig("\xFD\x37zXZ\0"sv, "xz-compressed data",
               "decompress it first (xzcat FILE | ask -f - ...)"),
    attach_sig("\x28\xB5\x2F\xFD"sv, "zstd-compressed data",
               "decompress it first (zstdcat FILE | ask -f - ...)"),
    attach_sig("7z\xBC\xAF\x27\x1C"sv, "a 7-Zip archive"),
    attach_sig("Rar!\x1A\x07"sv, "a RAR archive"),
    attach_at(257, "ustar"sv, "a tar archive"),
    attach_sig("\x7F\x45LF"sv, "an ELF executable or library"),
    attach_sig("\xFE\xED\xFA\xCE"sv, "a Mach-O executable"),
    attach_sig("\xFE\xED\xFA\xCF"sv, "a Mach-O executable"),
    attach_sig("\xCE\xFA\xED\xFE"sv, "a Mach-O executable"),
    attach_sig("\xCF\xFA\xED\xFE"sv, "a Mach-O executable"),
    attach_sig("\xCA\xFE\xBA\xBE"sv, "a Java class file or a Mach-O universal binary"),
    attach_weak("MZ"sv, "a Windows executable"),
    attach_sig("\0asm"sv, "a WebAssembly module"),
    attach_sig("SQLite format 3\0"sv, "an SQLite database",
               "query it first (sqlite3 FILE .dump | ask -f - ...)"),
    attach_weak("GGUF"sv, "a GGUF model file"),
    attach_weak("OggS"sv, "an Ogg audio or video file"),
    attach_weak("fLaC"sv, "a FLAC audio file"),
    attach_weak("ID3"sv, "an MP3 audio file"),
    attach_sig("\x1A\x45\xDF\xA3"sv, "a Matroska or WebM video"),
    // UTF-16 and UTF-32 text is full of NUL bytes: say so rather than "binary data".
    attach_sig("\xFF\xFE\0\0"sv, "UTF-32 text", k_attach_iconv32),
    attach_sig("\0\0\xFE\xFF"sv, "UTF-32 text", k_attach_iconv32),
    attach_sig("\xFF\xFE"sv, "UTF-16 text", k_attach_iconv16),
    attach_sig("\xFE\xFF"sv, "UTF-16 text", k_attach_iconv16),
};

bool attach_has_at(std::string_view bytes, std::size_t offset, std::string_view magic) {
  return bytes.size() >= offset + magic.size() && bytes.substr(offset, magic.size()) == magic;
}

// The first signature `bytes` match, strong ones only unless `binary`; nullptr for none.
const AttachMagic* attach_sniff(std::string_view bytes, bool binary) {
  for (const AttachMagic& m : k_attach_magics) {
    if ((!m.weak || binary) && attach_has_at(bytes, m.offset, m.magic) &&
        (m.magic2.empty() || attach_has_at(bytes, m.offset2, m.magic2))) {
      return &m;
    }
  }
  return nullptr;
}

// What text checking found: NUL bytes, control bytes text does not use, and bytes outside
// well-formed UTF-8 sequences.
struct AttachTextScan {
  std::size_t nul = 0;
  std::size_t control = 0;
  std::size_t invalid = 0;
};

AttachTextScan attach_scan_text(std::string_view bytes) {
  AttachTextScan scan;
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      if (c == 0) {
        ++scan.nul;
      } else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' &&
                  c != '\b' && c != 0x1B) ||
                 c == 0x7F) {
        ++scan.control; // tab, newlines, FF, VT, backspace (man pages) and ESC (colours) are text
      }
      ++i;
      continue;
    }
    const std::size_t n = core::detail::utf8_sequence_length(bytes, i);
    if (n == 0) {
      ++scan.invalid;
      ++i;
    } else {
      i += n;
    }
  }
  return scan;
}

// Text tolerates a few odd bytes (a Latin-1 word, a stray control byte): up to one in ten.
bool attach_is_binary(const AttachTextScan& scan, std::size_t size) {
  return scan.nul > 0 || (scan.control + scan.invalid) * 10 > size;
}

std::string attach_mib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::string attach_limit_mib(std::size_t bytes) {
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

// Why a file is refused for its size alone, after its size.
std::string attach_too_big() {
  return "; ask attaches at most " + attach_limit_mib(k_max_image_bytes) + " per image and " +
         attach_limit_mib(k_max_text_bytes) + " per text file";
}

// "-a photo.png" as the messages name the argument (a path's odd bytes shown as \xNN).
std::string attach_name(std::string_view arg, bool text_only) {
  return std::string(text_only ? "-f " : "-a ") + core::printable_excerpt(arg, 300);
}

core::Error attach_error(std::string_view arg, bool text_only, const std::string& reason) {
  return core::Error::bad_request(attach_name(arg, text_only) + ": " + reason);
}

// "scheme" when `arg` starts like a URL ("scheme://", RFC 3986 section 3.1), else "".
std::string_view attach_url_scheme(std::string_view arg) {
  const std::size_t colon = arg.find("://");
  if (colon == std::string_view::npos || colon == 0) {
    return {};
  }
  const std::string_view scheme = arg.substr(0, colon);
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(scheme[0])) {
    return {};
  }
  for (char c : scheme) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') {
      return {};
    }
  }
  return scheme;
}

core::Result<Attachment> attach_url(std::string_view arg, std::string_view scheme, bool text_only) {
  if (!core::iequals(scheme, "http") && !core::iequals(scheme, "https")) {
    return core::fail(attach_error(
        arg, text_only,
        "ask attaches files and http(s) URLs, not " + core::to_lower(scheme) + ": URLs" +
            (core::iequals(scheme, "file") ? " (give the file's path instead)" : "")));
  }
  if (text_only) {
    return core::fail(attach_error(arg, text_only,
                                   "ask does not fetch URLs; -f reads a local text file "
                                   "(curl -s URL | ask -f - ...); -a sends an image URL"));
  }
  if (arg.size() > k_max_url_bytes) {
    return core::fail(attach_error(
        arg, text_only, "a URL longer than " + std::to_string(k_max_url_bytes) + " bytes"));
  }
  const std::string_view rest = arg.substr(scheme.size() + 3);
  const std::size_t host_end = rest.find_first_of("/?#");
  if (rest.substr(0, host_end).empty()) {
    return core::fail(attach_error(arg, text_only, "the URL has no host"));
  }
  for (char ch : arg) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F) {
      return core::fail(attach_error(
          arg, text_only, "a URL cannot hold spaces or control bytes (percent-encode them)"));
    }
  }
  if (!core::detail::is_valid_utf8(arg)) {
    return core::fail(attach_error(arg, text_only, "the URL is not valid UTF-8"));
  }
  return Attachment{AttachmentKind::image_url, std::string(arg), "", std::string(arg)};
}

// The whole of the file at `path`, refused when it is not a regular file or a pipe, or when it
// holds more than `limit` bytes (known from fstat before reading, where it can be).
core::Result<std::string> attach_read_file(std::string_view arg, bool text_only,
                                           std::size_t limit) {
  const std::string path(arg);
  const core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    return core::fail(attach_error(arg, text_only, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return core::fail(attach_error(arg, text_only, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return core::fail(attach_error(arg, text_only, "a directory, not a file"));
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    return core::fail(attach_error(arg, text_only, "a device, not a file"));
  }
  const bool regular = S_ISREG(st.st_mode);
  if (regular && static_cast<std::size_t>(st.st_size) > limit) {
    return core::fail(attach_error(
        arg, text_only, attach_mib(static_cast<std::size_t>(st.st_size)) + attach_too_big()));
  }
  std::string out;
  if (regular) {
    out.reserve(static_cast<std::size_t>(st.st_size));
  }
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return core::fail(attach_error(arg, text_only, std::strerror(errno)));
    }
    if (n == 0) {
      return out;
    }
    if (out.size() + static_cast<std::size_t>(n) > limit) {
      return core::fail(
          attach_error(arg, text_only, "more than " + attach_limit_mib(limit) + attach_too_big()));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string attach_refusal(const AttachMagic* magic) {
  std::string out(magic != nullptr ? magic->what : "binary data");
  out += ", which ask cannot attach: ";
  out += k_attach_what_we_take;
  if (magic != nullptr && !magic->hint.empty()) {
    out += "; ";
    out += magic->hint;
  }
  return out;
}

// The attachment `bytes` make (read from `arg`, labelled `label`), by their content.
core::Result<Attachment> attach_from_bytes(std::string_view arg, bool text_only, std::string label,
                                           std::string bytes, const AttachWarn& warn) {
  if (bytes.empty()) {
    return core::fail(
        attach_error(arg, text_only, arg == "-" ? "standard input is empty" : "the file is empty"));
  }
  if (const AttachMagic* magic = attach_sniff(bytes, false);
      magic != nullptr && !magic->media_type.empty()) {
    if (text_only) {
      return core::fail(attach_error(arg, text_only,
                                     std::string(magic->what) +
                                         "; -f takes text files only: attach images with -a"));
    }
    if (bytes.size() > k_max_image_bytes) {
      return core::fail(attach_error(arg, text_only,
                                     "an image of " + attach_mib(bytes.size()) +
                                         ", more than the " + attach_limit_mib(k_max_image_bytes) +
                                         " ask attaches per image"));
    }
    return Attachment{AttachmentKind::image, std::move(label), std::string(magic->media_type),
                      std::move(bytes)};
  }
  const AttachTextScan scan = attach_scan_text(bytes);
  const bool binary = attach_is_binary(scan, bytes.size());
  if (const AttachMagic* magic = attach_sniff(bytes, binary); magic != nullptr || binary) {
    return core::fail(attach_error(arg, text_only, attach_refusal(magic)));
  }
  if (bytes.size() > k_max_text_bytes) {
    return core::fail(attach_error(arg, text_only,
                                   attach_mib(bytes.size()) + " of text, more than the " +
                                       attach_limit_mib(k_max_text_bytes) +
                                       " ask attaches per text file"));
  }
  std::string_view text(bytes);
  if (text.starts_with("\xEF\xBB\xBF")) {
    text.remove_prefix(3); // a byte order mark says nothing to the model
  }
  std::string data;
  if (scan.invalid > 0) {
    data = to_valid_utf8(text);
    if (warn) {
      warn(attach_name(arg, text_only) + ": " + std::to_string(scan.invalid) +
           (scan.invalid == 1 ? " byte is" : " bytes are") +
           " not UTF-8 (Latin-1 or another legacy encoding?) and went as U+FFFD; "
           "convert the file for a faithful copy (iconv -f LATIN1 -t UTF-8)");
    }
  } else {
    data.assign(text);
  }
  return Attachment{AttachmentKind::text, std::move(label), "text/plain", std::move(data)};
}

// Bytes a JSON string of `text` takes, quotes left out: what nlohmann's dump writes (", \ and
// \b \f \n \r \t take two bytes, other control bytes six as \u00XX, the rest as they are).
std::size_t attach_json_size(std::string_view text) {
  std::size_t n = text.size();
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
      n += 1;
    } else if (c < 0x20) {
      n += 5;
    }
  }
  return n;
}

// The label as an XML attribute value: &, <, >, " and control bytes as character references.
std::string attach_escape_label(std::string_view label) {
  std::string out;
  for (char ch : to_valid_utf8(label)) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        out += "&#" + std::to_string(c) + ";";
      } else {
        out += ch;
      }
    }
  }
  return out;
}

std::string attach_data_url(const Attachment& a) {
  return "data:" + a.media_type + ";base64," + core::base64_encode(a.data);
}

} // namespace

core::Result<Attachment> load_attachment(std::string_view arg, bool text_only,
                                         std::optional<std::string_view> stdin_bytes,
                                         const AttachWarn& warn) {
  if (arg.empty()) {
    return core::fail(
        core::Error::bad_request(std::string(text_only ? "-f" : "-a") +
                                 ": an empty argument; give a file, - for standard input" +
                                 (text_only ? "" : ", or an http(s) image URL")));
  }
  if (arg == "-") {
    if (!stdin_bytes) {
      return core::fail(attach_error(
          arg, text_only,
          "standard input has nothing to read (it is a terminal): redirect a file into it (ask " +
              std::string(text_only ? "-f" : "-a") + " - \"...\" < FILE)"));
    }
    return attach_from_bytes(arg, text_only, "stdin", std::string(*stdin_bytes), warn);
  }
  if (const std::string_view scheme = attach_url_scheme(arg); !scheme.empty()) {
    return attach_url(arg, scheme, text_only);
  }
  auto bytes = attach_read_file(arg, text_only, std::max(k_max_image_bytes, k_max_text_bytes));
  if (!bytes) {
    return core::fail(std::move(bytes.error()));
  }
  return attach_from_bytes(arg, text_only, std::string(arg), std::move(*bytes), warn);
}

core::Result<std::vector<Attachment>> load_attachments(const std::vector<AttachmentArg>& args,
                                                       std::optional<std::string_view> stdin_bytes,
                                                       const AttachWarn& warn) {
  std::vector<Attachment> out;
  std::size_t image_bytes = 0;
  std::size_t text_bytes = 0;
  std::size_t request_bytes = 0;
  bool stdin_used = false;
  for (const AttachmentArg& a : args) {
    if (a.arg == "-") {
      if (stdin_used) {
        return core::fail(
            attach_error(a.arg, a.text_only, "standard input is read once: attach it only once"));
      }
      stdin_used = true;
    }
    auto one = load_attachment(a.arg, a.text_only, stdin_bytes, warn);
    if (!one) {
      return core::fail(std::move(one.error()));
    }
    switch (one->kind) {
    case AttachmentKind::image:
      image_bytes += one->data.size();
      request_bytes += 4 * ((one->data.size() + 2) / 3) + one->media_type.size() + 13;
      if (image_bytes > k_max_image_bytes) {
        return core::fail(attach_error(
            a.arg, a.text_only,
            "the images come to " + attach_mib(image_bytes) + ", more than the " +
                attach_limit_mib(k_max_image_bytes) + " ask attaches to one question"));
      }
      break;
    case AttachmentKind::image_url:
      request_bytes += attach_json_size(one->data);
      break;
    case AttachmentKind::text:
      text_bytes += one->data.size();
      request_bytes += attach_json_size(one->data) + attach_json_size(one->label) + 32;
      if (text_bytes > k_max_text_bytes) {
        return core::fail(attach_error(a.arg, a.text_only,
                                       "the text files come to " + attach_mib(text_bytes) +
                                           ", more than the " + attach_limit_mib(k_max_text_bytes) +
                                           " ask attaches to one question"));
      }
      break;
    }
    if (request_bytes > k_max_attached_request_bytes) {
      return core::fail(
          attach_error(a.arg, a.text_only,
                       "the attachments come to " + attach_mib(request_bytes) +
                           " once encoded (images in base64), more than the " +
                           attach_limit_mib(k_max_attached_request_bytes) +
                           " ask sends in one request (askd accepts 32 MiB by default)"));
    }
    out.push_back(std::move(*one));
  }
  return out;
}

StdinKind classify_input(std::string_view bytes) {
  if (const AttachMagic* magic = attach_sniff(bytes, false);
      magic != nullptr && !magic->media_type.empty()) {
    return {true, true, std::string(magic->what), ""};
  }
  const bool binary = attach_is_binary(attach_scan_text(bytes), bytes.size());
  if (const AttachMagic* magic = attach_sniff(bytes, binary); magic != nullptr) {
    return {true, false, std::string(magic->what), std::string(magic->hint)};
  }
  if (binary) {
    return {true, false, "binary data", ""};
  }
  return {};
}

core::Error binary_stdin_error(const StdinKind& kind) {
  if (kind.image) {
    return core::Error::bad_request("standard input is " + kind.what +
                                    ": attach it with -a - (ask -a - \"describe\" < photo.png)");
  }
  std::string msg = "standard input is " + kind.what +
                    ", not text: ask reads UTF-8 text on standard input and attaches PNG, JPEG, "
                    "GIF and WebP images with -a -";
  if (!kind.hint.empty()) {
    msg += "; " + kind.hint;
  }
  return core::Error::bad_request(std::move(msg));
}

nlohmann::json user_content(std::string_view prompt, const std::vector<Attachment>& attachments) {
  std::string text;
  bool images = false;
  for (const Attachment& a : attachments) {
    if (a.kind != AttachmentKind::text) {
      images = true;
      continue;
    }
    std::string_view body(a.data);
    if (body.ends_with("\r\n")) {
      body.remove_suffix(2);
    } else if (body.ends_with('\n')) {
      body.remove_suffix(1);
    }
    text += "<file name=\"" + attach_escape_label(a.label) + "\">\n";
    text += to_valid_utf8(body); // valid already when load_attachment made it; cheap to be sure
    text += "\n</file>\n\n";
  }
  if (prompt.empty()) {
    if (text.ends_with("\n\n")) {
      text.resize(text.size() - 2);
    }
  } else {
    text += to_valid_utf8(prompt);
  }
  if (!images) {
    return text;
  }
  nlohmann::json parts = nlohmann::json::array();
  if (!text.empty()) {
    parts.push_back({{"type", "text"}, {"text", std::move(text)}});
  }
  for (const Attachment& a : attachments) {
    if (a.kind == AttachmentKind::image) {
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", attach_data_url(a)}}}});
    } else if (a.kind == AttachmentKind::image_url) {
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", to_valid_utf8(a.data)}}}});
    }
  }
  return parts;
}

} // namespace ask::cli
