#include "ask/attach.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

using ask::cli::Attachment;
using ask::cli::AttachmentArg;
using ask::cli::AttachmentKind;
using ask::cli::classify_input;
using ask::cli::load_attachment;
using ask::cli::load_attachments;
using ask::cli::user_content;

namespace {

// The 1x1 images in tests/fixtures/attach (made as its README says).
std::string attach_test_fixture(const std::string& name) {
  return std::string(ASK_SOURCE_DIR) + "/tests/fixtures/attach/" + name;
}

std::string attach_test_read(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

void attach_test_write(const std::filesystem::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// A file of `size` bytes that starts with `head` and is a hole after it: sizes past the limits
// without writing megabytes.
void attach_test_sparse(const std::filesystem::path& path, std::string_view head, off_t size) {
  attach_test_write(path, head);
  REQUIRE(::truncate(path.c_str(), size) == 0);
}

// Collects warn() calls.
struct AttachTestWarnings {
  std::vector<std::string> lines;
  ask::cli::AttachWarn fn() {
    return [this](const std::string& line) { lines.push_back(line); };
  }
};

ask::core::Result<Attachment> attach_test_load(const std::string& arg, bool text_only = false) {
  return load_attachment(arg, text_only, std::nullopt, nullptr);
}

std::string attach_test_error(const ask::core::Result<Attachment>& r) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ask::core::ErrorKind::bad_request);
  return r.error().message;
}

constexpr std::string_view k_attach_test_png_base64 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mP4z8AAAAMBAQD3A0FDAAAAAElFTkSuQmCC";

} // namespace

TEST_CASE("attach: PNG, JPEG, GIF and WebP are told by their content") {
  const struct {
    const char* file;
    const char* media_type;
  } cases[] = {{"pixel.png", "image/png"},
               {"pixel.jpg", "image/jpeg"},
               {"pixel.gif", "image/gif"},
               {"pixel.webp", "image/webp"}};
  for (const auto& c : cases) {
    CAPTURE(c.file);
    const std::string path = attach_test_fixture(c.file);
    auto a = attach_test_load(path);
    REQUIRE(a.has_value());
    CHECK(a->kind == AttachmentKind::image);
    CHECK(a->media_type == c.media_type);
    CHECK(a->label == path);
    CHECK(a->data == attach_test_read(path));
  }
}

TEST_CASE("attach: the file name does not decide the type") {
  ask::testing::TempDir dir;
  const std::string jpeg = attach_test_read(attach_test_fixture("pixel.jpg"));
  attach_test_write(dir.path() / "photo.png", jpeg);
  attach_test_write(dir.path() / "notes.txt", jpeg);
  attach_test_write(dir.path() / "image.png", "just some text\n");
  for (const char* name : {"photo.png", "notes.txt"}) {
    auto a = attach_test_load(dir.path() / name);
    REQUIRE(a.has_value());
    CHECK(a->kind == AttachmentKind::image);
    CHECK(a->media_type == "image/jpeg");
  }
  auto text = attach_test_load(dir.path() / "image.png");
  REQUIRE(text.has_value());
  CHECK(text->kind == AttachmentKind::text);
  CHECK(text->media_type == "text/plain");
}

TEST_CASE("attach: a PNG becomes a byte-exact data URL after the text") {
  const std::string path = attach_test_fixture("pixel.png");
  auto a = attach_test_load(path);
  REQUIRE(a.has_value());
  const nlohmann::json content = user_content("what colour is this?", {*a});
  const nlohmann::json want = nlohmann::json::parse(
      R"([{"type":"text","text":"what colour is this?"},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,)" +
      std::string(k_attach_test_png_base64) + R"("}}])");
  CHECK(content == want);
}

TEST_CASE("attach: text files are labelled fragments before the prompt") {
  ask::testing::TempDir dir;
  attach_test_write(dir.path() / "a.txt", "alpha\n");
  attach_test_write(dir.path() / "b.md", "# beta\r\n");
  attach_test_write(dir.path() / "c", "gamma"); // no trailing newline
  std::vector<Attachment> all;
  for (const char* name : {"a.txt", "b.md", "c"}) {
    auto a = attach_test_load(dir.path() / name, true);
    REQUIRE(a.has_value());
    CHECK(a->kind == AttachmentKind::text);
    all.push_back(*a);
  }
  CHECK(all[0].data == "alpha\n"); // kept as read; only the rendering drops the newline
  const std::string d = dir.path().string();
  const nlohmann::json content = user_content("compare them", all);
  REQUIRE(content.is_string());
  CHECK(content.get<std::string>() == "<file name=\"" + d + "/a.txt\">\nalpha\n</file>\n\n" +
                                          "<file name=\"" + d + "/b.md\">\n# beta\n</file>\n\n" +
                                          "<file name=\"" + d + "/c\">\ngamma\n</file>\n\n" +
                                          "compare them");
}

TEST_CASE("attach: user_content with nothing, text only, images only and both") {
  CHECK(user_content("hi", {}) == "hi");
  CHECK(user_content("", {}) == "");

  const Attachment text{AttachmentKind::text, "notes \"v2\" <&>\n.txt", "text/plain", "a\n"};
  // The label cannot close its attribute; the text goes as it is, "</file>" included.
  const Attachment tricky{AttachmentKind::text, "x", "text/plain", "see </file> here\n\n"};
  CHECK(user_content("q", {text}) ==
        "<file name=\"notes &quot;v2&quot; &lt;&amp;&gt;&#10;.txt\">\na\n</file>\n\nq");
  CHECK(user_content("q", {tricky}) == "<file name=\"x\">\nsee </file> here\n\n</file>\n\nq");
  CHECK(user_content("", {text, tricky}) ==
        "<file name=\"notes &quot;v2&quot; &lt;&amp;&gt;&#10;.txt\">\na\n</file>\n\n"
        "<file name=\"x\">\nsee </file> here\n\n</file>");

  const Attachment gif{AttachmentKind::image, "p.gif", "image/gif", "GIF89a"};
  const Attachment url{AttachmentKind::image_url, "https://example.com/cat.jpg?s=1", "",
                       "https://example.com/cat.jpg?s=1"};
  // Images only, no prompt: no empty text part.
  CHECK(user_content("", {gif}) ==
        nlohmann::json::parse(
            R"([{"type":"image_url","image_url":{"url":"data:image/gif;base64,R0lGODlh"}}])"));
  // Mixed: text first whatever the order given, then the images in order.
  CHECK(user_content("and these?", {gif, text, url}) == nlohmann::json::parse(R"([
          {"type":"text","text":"<file name=\"notes &quot;v2&quot; &lt;&amp;&gt;&#10;.txt\">\na\n</file>\n\nand these?"},
          {"type":"image_url","image_url":{"url":"data:image/gif;base64,R0lGODlh"}},
          {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg?s=1"}}])"));
  // Invalid UTF-8 in a prompt or a label never makes the JSON unwritable.
  const Attachment odd{AttachmentKind::text, "caf\xE9.txt", "text/plain", "x"};
  CHECK(user_content("\xFF", {odd}).dump() ==
        "\"<file name=\\\"caf\xEF\xBF\xBD.txt\\\">\\nx\\n</file>\\n\\n\xEF\xBF\xBD\"");
}

TEST_CASE("attach: -f refuses an image, -a takes it") {
  auto f = attach_test_load(attach_test_fixture("pixel.png"), true);
  CHECK(attach_test_error(f) ==
        "-f " + attach_test_fixture("pixel.png") +
            ": a PNG image; -f takes text files only: attach images with -a");
  auto stdin_png =
      load_attachment("-", true, attach_test_read(attach_test_fixture("pixel.gif")), nullptr);
  CHECK(attach_test_error(stdin_png) ==
        "-f -: a GIF image; -f takes text files only: attach images with -a");
}

TEST_CASE("attach: binary files are refused, saying what they seem to be") {
  ask::testing::TempDir dir;
  const struct {
    const char* name;
    std::string bytes;
    const char* what;
  } cases[] = {
      {"report.txt", std::string("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n"), "a PDF document"},
      {"tool",
       std::string("\x7F"
                   "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
                   16),
       "an ELF executable or library"},
      {"log.gz", std::string("\x1F\x8B\x08\0\0\0\0\0\0\x03", 10), "gzip-compressed data"},
      {"doc.docx", std::string("PK\x03\x04\x14\0\x06\0", 8), "a zip archive"},
      {"pic.heic",
       std::string("\0\0\0\x18"
                   "ftypheic\0\0\0\0",
                   16),
       "a HEIC image"},
      {"utf16.txt", std::string("\xFF\xFEh\0i\0", 6), "UTF-16 text"},
      {"random.bin", std::string("\x93\xC4\x1E\xF0\x81\x7F\x02\xAB\xCD\x99", 10), "binary data"},
      {"bmp.png", std::string("BM\x3A\0\0\0\0\0\0\0\x36\0\0\0", 14), "a BMP image"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    attach_test_write(dir.path() / c.name, c.bytes);
    const std::string msg = attach_test_error(attach_test_load(dir.path() / c.name));
    CHECK(msg.starts_with("-a " + (dir.path() / c.name).string() + ": " + c.what));
    CHECK(msg.find("ask attaches UTF-8 text files and PNG, JPEG, GIF and WebP images") !=
          std::string::npos);
  }
  const std::string pdf = attach_test_error(attach_test_load(dir.path() / "report.txt"));
  CHECK(pdf.find("pdftotext") != std::string::npos); // a hint where there is one
  // A text file that merely starts with a weak signature's letters is still text.
  attach_test_write(dir.path() / "bm.txt", "BMW sales by year\n");
  auto bm = attach_test_load(dir.path() / "bm.txt");
  REQUIRE(bm.has_value());
  CHECK(bm->kind == AttachmentKind::text);
}

TEST_CASE("attach: a NUL byte makes a file binary") {
  ask::testing::TempDir dir;
  attach_test_write(dir.path() / "nul.txt", std::string("plain text\0more text\n", 21));
  CHECK(attach_test_error(attach_test_load(dir.path() / "nul.txt"))
            .ends_with(": binary data, which ask cannot attach: ask attaches UTF-8 text files and "
                       "PNG, JPEG, GIF "
                       "and WebP images"));
}

TEST_CASE("attach: a few bytes that are not UTF-8 become U+FFFD, with a warning") {
  ask::testing::TempDir dir;
  // Latin-1 "café crème" in a longer line: 2 bad bytes of 40.
  attach_test_write(dir.path() / "menu.txt", "un caf\xE9 et une cr\xE8me, s'il vous plait\n");
  AttachTestWarnings warnings;
  auto a = load_attachment((dir.path() / "menu.txt").string(), false, std::nullopt, warnings.fn());
  REQUIRE(a.has_value());
  CHECK(a->kind == AttachmentKind::text);
  CHECK(a->data == "un caf\xEF\xBF\xBD et une cr\xEF\xBF\xBDme, s'il vous plait\n");
  REQUIRE(warnings.lines.size() == 1);
  CHECK(warnings.lines[0] == "-a " + (dir.path() / "menu.txt").string() +
                                 ": 2 bytes are not UTF-8 (Latin-1 or another legacy encoding?) "
                                 "and went as U+FFFD; convert the file for a faithful copy "
                                 "(iconv -f LATIN1 -t UTF-8)");
  // Valid UTF-8, a byte order mark (dropped), tabs, ESC colours and a stray control byte:
  // text, no warning.
  attach_test_write(dir.path() / "ok.txt",
                    "\xEF\xBB\xBF\x1B[1mh\xC3\xA9llo\x1B[0m\t\x01 w\xE2\x86\x92rld\n");
  auto ok = load_attachment((dir.path() / "ok.txt").string(), false, std::nullopt, warnings.fn());
  REQUIRE(ok.has_value());
  CHECK(ok->data == "\x1B[1mh\xC3\xA9llo\x1B[0m\t\x01 w\xE2\x86\x92rld\n");
  CHECK(warnings.lines.size() == 1);
  // More than one byte in ten outside UTF-8 text: binary.
  attach_test_write(dir.path() / "mostly.bin", "ab\xE9\xE9\xE9\xE9 cdefgh");
  CHECK(attach_test_error(attach_test_load(dir.path() / "mostly.bin")).find("binary data") !=
        std::string::npos);
  // Exactly one in ten is still text.
  attach_test_write(dir.path() / "edge.txt", "abcdefghi\xE9");
  auto edge = attach_test_load(dir.path() / "edge.txt");
  REQUIRE(edge.has_value());
  CHECK(edge->data == "abcdefghi\xEF\xBF\xBD");
}

TEST_CASE("attach: empty, missing, a directory, a device, not a directory") {
  ask::testing::TempDir dir;
  attach_test_write(dir.path() / "empty.txt", "");
  const std::string d = dir.path().string();
  CHECK(attach_test_error(attach_test_load(d + "/empty.txt")) ==
        "-a " + d + "/empty.txt: the file is empty");
  CHECK(attach_test_error(attach_test_load(d + "/missing.png")) ==
        "-a " + d + "/missing.png: No such file or directory");
  CHECK(attach_test_error(attach_test_load(d, true)) == "-f " + d + ": a directory, not a file");
  CHECK(attach_test_error(attach_test_load("/dev/null")) == "-a /dev/null: a device, not a file");
  CHECK(attach_test_error(attach_test_load(d + "/empty.txt/x")) ==
        "-a " + d + "/empty.txt/x: Not a directory");
  CHECK(attach_test_error(attach_test_load("")) ==
        "-a: an empty argument; give a file, - for standard input, or an http(s) image URL");
  CHECK(attach_test_error(attach_test_load("", true)) ==
        "-f: an empty argument; give a file, - for standard input");
  if (::geteuid() != 0) { // root reads whatever the mode says
    attach_test_write(dir.path() / "secret.txt", "x");
    REQUIRE(::chmod((dir.path() / "secret.txt").c_str(), 0) == 0);
    CHECK(attach_test_error(attach_test_load(d + "/secret.txt")) ==
          "-a " + d + "/secret.txt: Permission denied");
  }
}

TEST_CASE("attach: a pipe is read to its end (ask -a <(cmd))") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string gif = attach_test_read(attach_test_fixture("pixel.gif"));
  REQUIRE(::write(fds[1], gif.data(), gif.size()) == static_cast<ssize_t>(gif.size()));
  ::close(fds[1]);
  auto a = attach_test_load("/dev/fd/" + std::to_string(fds[0]));
  ::close(fds[0]);
  REQUIRE(a.has_value());
  CHECK(a->media_type == "image/gif");
  CHECK(a->data == gif);
}

TEST_CASE("attach: a pipe that goes on past the limit is refused") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGPIPE, &ignore, &old) == 0);
  std::thread writer([fd = fds[1]] {
    const std::string chunk(1024 * 1024, 'a');
    for (int i = 0; i < 22; ++i) {
      if (::write(fd, chunk.data(), chunk.size()) < 0) {
        break; // the reader gave up: EPIPE
      }
    }
    ::close(fd);
  });
  auto a = attach_test_load("/dev/fd/" + std::to_string(fds[0]));
  ::close(fds[0]);
  writer.join();
  ::sigaction(SIGPIPE, &old, nullptr);
  CHECK(attach_test_error(a).ends_with(
      ": more than 20 MiB; ask attaches at most 20 MiB per image and 16 MiB per text file"));
}

TEST_CASE("attach: size limits per file, said before reading a big file") {
  ask::testing::TempDir dir;
  const std::string d = dir.path().string();
  // 21 MiB, a hole: refused from its size alone.
  attach_test_sparse(dir.path() / "huge.png", "\x89PNG\r\n\x1A\n", 21 * 1024 * 1024);
  CHECK(attach_test_error(attach_test_load(d + "/huge.png")) ==
        "-a " + d +
            "/huge.png: 21.0 MiB; ask attaches at most 20 MiB per image and 16 MiB per text file");
  // Exactly 20 MiB of image is fine.
  attach_test_sparse(dir.path() / "big.png", "\x89PNG\r\n\x1A\n", 20 * 1024 * 1024);
  auto big = attach_test_load(d + "/big.png");
  REQUIRE(big.has_value());
  CHECK(big->data.size() == 20u * 1024 * 1024);
  // Text: 16 MiB is fine, one byte more is not.
  std::string text(16 * 1024 * 1024, 'a');
  attach_test_write(dir.path() / "full.txt", text);
  auto full = attach_test_load(d + "/full.txt");
  REQUIRE(full.has_value());
  CHECK(full->data.size() == text.size());
  text += 'a';
  attach_test_write(dir.path() / "long.txt", text);
  CHECK(attach_test_error(attach_test_load(d + "/long.txt")) ==
        "-a " + d + "/long.txt: 16.0 MiB of text, more than the 16 MiB ask attaches per text file");
  // An image on standard input over the limit.
  std::string png("\x89PNG\r\n\x1A\n");
  png.resize(20 * 1024 * 1024 + 1, 'x');
  CHECK(attach_test_error(load_attachment("-", false, png, nullptr)) ==
        "-a -: an image of 20.0 MiB, more than the 20 MiB ask attaches per image");
}

TEST_CASE("attach: totals over all the attachments of a question") {
  ask::testing::TempDir dir;
  const std::string d = dir.path().string();
  attach_test_sparse(dir.path() / "a.png", "\x89PNG\r\n\x1A\n", 11 * 1024 * 1024);
  attach_test_sparse(dir.path() / "b.png", "\x89PNG\r\n\x1A\n", 11 * 1024 * 1024);
  attach_test_sparse(dir.path() / "c.png", "\x89PNG\r\n\x1A\n", 19 * 1024 * 1024);
  attach_test_write(dir.path() / "t1.txt", std::string(9 * 1024 * 1024, 'a'));
  attach_test_write(dir.path() / "t2.txt", std::string(9 * 1024 * 1024, 'b'));
  attach_test_write(dir.path() / "t3.txt", std::string(6 * 1024 * 1024, 'c'));

  auto one_each = load_attachments({{d + "/a.png"}, {d + "/t1.txt", true}}, std::nullopt, nullptr);
  REQUIRE(one_each.has_value());
  CHECK(one_each->size() == 2);

  auto images = load_attachments({{d + "/a.png"}, {d + "/b.png"}}, std::nullopt, nullptr);
  REQUIRE_FALSE(images.has_value());
  CHECK(images.error().message == "-a " + d +
                                      "/b.png: the images come to 22.0 MiB, more than "
                                      "the 20 MiB ask attaches to one question");
  auto texts = load_attachments({{d + "/t1.txt", true}, {d + "/t2.txt"}}, std::nullopt, nullptr);
  REQUIRE_FALSE(texts.has_value());
  CHECK(texts.error().message == "-a " + d +
                                     "/t2.txt: the text files come to 18.0 MiB, more "
                                     "than the 16 MiB ask attaches to one question");
  // 19 MiB of image is 25.3 MiB of base64; with 6 MiB of text the request would pass 30 MiB.
  auto both = load_attachments({{d + "/c.png"}, {d + "/t3.txt", true}}, std::nullopt, nullptr);
  REQUIRE_FALSE(both.has_value());
  CHECK(both.error().kind == ask::core::ErrorKind::bad_request);
  CHECK(both.error().message.starts_with("-f " + d +
                                         "/t3.txt: the attachments come to 31.3 MiB "
                                         "once encoded (images in base64), more than the 30 MiB"));
}

TEST_CASE("attach: http and https URLs are sent, not fetched - other schemes are refused") {
  for (const char* url : {"http://example.com/cat.png", "https://example.com/a/b.jpg?w=1#x",
                          "HTTPS://EXAMPLE.COM/x"}) {
    CAPTURE(url);
    auto a = attach_test_load(url);
    REQUIRE(a.has_value());
    CHECK(a->kind == AttachmentKind::image_url);
    CHECK(a->label == url);
    CHECK(a->data == url);
    CHECK(a->media_type.empty());
  }
  CHECK(attach_test_error(attach_test_load("file:///tmp/cat.png")) ==
        "-a file:///tmp/cat.png: ask attaches files and http(s) URLs, not file: URLs (give the "
        "file's path instead)");
  CHECK(attach_test_error(attach_test_load("ftp://host/x.png")) ==
        "-a ftp://host/x.png: ask attaches files and http(s) URLs, not ftp: URLs");
  CHECK(attach_test_error(attach_test_load("https:///x.png")) ==
        "-a https:///x.png: the URL has no host");
  CHECK(attach_test_error(attach_test_load("https://host/a b.png"))
            .ends_with("a URL cannot hold spaces or control bytes (percent-encode them)"));
  CHECK(attach_test_error(attach_test_load("https://host/\xFF.png"))
            .ends_with("the URL is not valid UTF-8"));
  CHECK(attach_test_error(attach_test_load("https://host/" + std::string(9000, 'a')))
            .ends_with("a URL longer than 8192 bytes"));
  CHECK(attach_test_error(attach_test_load("https://example.com/notes.txt", true)) ==
        "-f https://example.com/notes.txt: ask does not fetch URLs; -f reads a local text file "
        "(curl -s URL | ask -f - ...); -a sends an image URL");
  // A path with "://" further on is still a path.
  CHECK(attach_test_error(attach_test_load("./http://x")) ==
        "-a ./http://x: No such file or directory");
}

TEST_CASE("attach: - is standard input, once") {
  const std::string png = attach_test_read(attach_test_fixture("pixel.png"));
  auto img = load_attachment("-", false, png, nullptr);
  REQUIRE(img.has_value());
  CHECK(img->label == "stdin");
  CHECK(img->media_type == "image/png");
  auto text = load_attachment("-", true, std::string_view("diff --git\n"), nullptr);
  REQUIRE(text.has_value());
  CHECK(text->kind == AttachmentKind::text);
  CHECK(user_content("review", {*text}) == "<file name=\"stdin\">\ndiff --git\n</file>\n\nreview");
  CHECK(attach_test_error(load_attachment("-", false, std::string_view(), nullptr)) ==
        "-a -: standard input is empty");
  CHECK(attach_test_error(load_attachment("-", false, std::nullopt, nullptr)) ==
        "-a -: standard input has nothing to read (it is a terminal): redirect a file into it "
        "(ask -a - \"...\" < FILE)");
  auto twice = load_attachments({{"-"}, {"-", true}}, png, nullptr);
  REQUIRE_FALSE(twice.has_value());
  CHECK(twice.error().message == "-f -: standard input is read once: attach it only once");
}

TEST_CASE("attach: classify_input tells text from binary standard input") {
  CHECK_FALSE(classify_input("").binary);
  CHECK_FALSE(classify_input("plain ascii\n").binary);
  CHECK_FALSE(classify_input("\xEF\xBB\xBFh\xC3\xA9llo \xE2\x86\x92 \xF0\x9F\x98\x80\n").binary);
  CHECK_FALSE(classify_input("un caf\xE9 et une cr\xE8me, s'il vous plait\n").binary);
  CHECK_FALSE(classify_input("BMW\n").binary);

  const auto png = classify_input(attach_test_read(attach_test_fixture("pixel.png")));
  CHECK(png.binary);
  CHECK(png.image);
  CHECK(png.what == "a PNG image");
  CHECK(ask::cli::binary_stdin_error(png).message ==
        "standard input is a PNG image: attach it with -a - (ask -a - \"describe\" < photo.png)");
  CHECK(classify_input(attach_test_read(attach_test_fixture("pixel.webp"))).what == "a WebP image");

  const auto pdf = classify_input("%PDF-1.4\n");
  CHECK(pdf.binary);
  CHECK_FALSE(pdf.image);
  CHECK(ask::cli::binary_stdin_error(pdf).kind == ask::core::ErrorKind::bad_request);
  CHECK(ask::cli::binary_stdin_error(pdf).message.starts_with(
      "standard input is a PDF document, not text: ask reads UTF-8 text on standard input and "
      "attaches PNG, JPEG, GIF and WebP images with -a -; extract its text first"));

  const auto random = classify_input(std::string("\x93\xC4\x1E\xF0\x81\x7F\x02\xAB", 8));
  CHECK(random.binary);
  CHECK(random.what == "binary data");
  CHECK(ask::cli::binary_stdin_error(random).message ==
        "standard input is binary data, not text: ask reads UTF-8 text on standard input and "
        "attaches PNG, JPEG, GIF and WebP images with -a -");
  CHECK(classify_input(std::string("a\0b", 3)).binary);
}
