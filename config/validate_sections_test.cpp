// Validation of the sections that describe machines and processes: GPUs, managed models and
// presets, the listen address and API keys, backend URLs. Each test asserts the message, the
// key path and the line.

#include <doctest/doctest.h>

#include <algorithm>

#include "config/llama_args.h"
#include "config/testing.h"

namespace ask::config {

using testing::has_diag;
using testing::lines;
using testing::with_managed_models;
using testing::with_models;

TEST_CASE("Config: reports bad sizes with the path") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("gpus": {"reserve": "24G", "devices": [)",
      R"(  {"id": "a", "vram": "8GiB", "cap": "9GiB"},)",
      R"(  {"id": "b", "cap": "120%"},)",
      R"(  {"id": "c", "vram": "1GiB", "reserve": "2GiB", "pci": "01:00.0"},)",
      R"(  {"id": "a", "vendor": "nvidai", "backend_index": {"cuda": 0, "opencl": 1}})",
      "]}}",
  }));
  CHECK_DIAG(d, 2, "gpus.reserve", "invalid size \"24G\": \"G\" is ambiguous");
  CHECK_DIAG(d, 3, "gpus.devices[0].cap", "cap 9 GiB is more than the device's vram 8 GiB");
  CHECK_DIAG(d, 4, "gpus.devices[1].cap", "invalid percentage \"120%\"");
  CHECK_DIAG(d, 5, "gpus.devices[2].reserve", "reserve 2 GiB leaves nothing of vram 1 GiB");
  CHECK_DIAG(d, 5, "gpus.devices[2].pci", "invalid PCI address \"01:00.0\"");
  CHECK_DIAG(d, 6, "gpus.devices[3].id", "GPU id \"a\" is used twice");
  CHECK_DIAG(d, 6, "gpus.devices[3].vendor", "unknown value \"nvidai\" (did you mean \"nvidia\"?)");
  CHECK_DIAG(d, 6, "gpus.devices[3].backend_index.opencl", "unknown GPU API \"opencl\"");
}

TEST_CASE("Config: one card is one entry: a PCI address or a device index claimed twice") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("gpus": {"devices": [)",
      R"(  {"id": "a", "pci": "0000:01:00.0", "backend_index": {"cuda": 0, "vulkan": 1}},)",
      R"(  {"id": "b", "pci": "0000:01:00.0"},)",
      R"(  {"id": "c", "backend_index": {"vulkan": 1, "cuda": 1}},)",
      R"(  {"id": "d", "backend_index": {"rocm": 0}}, {"id": "e", "backend_index": {"hip": 0}})",
      "]}}",
  }));
  CHECK_DIAG(d, 4, "gpus.devices[1].pci", "PCI address \"0000:01:00.0\" is already GPU \"a\"");
  CHECK_DIAG(d, 5, "gpus.devices[2].backend_index.vulkan", "vulkan device 1 is already GPU \"a\"");
  CHECK_DIAG(d, 6, "gpus.devices[4].backend_index.hip", "rocm device 0 is already GPU \"d\"");
  CHECK(d.size() == 3);
  const auto same = ERRORS_OF(lines(
      {"{", R"("gpus": {"devices": [{"id": "a", "backend_index": {"hip": 2, "rocm": 2}}]})", "}"}));
  CHECK_DIAG(same, 2, "gpus.devices[0].backend_index.rocm", "rocm device 2 is already GPU \"a\"");
}

TEST_CASE("Config: a probed machine's declared GPU without pci or backend_index is a warning") {
  const auto c = VALID(lines({"{", R"("gpus": {"devices": [{"id": "g", "vram": "8GiB"}]})", "}"}));
  CHECK_DIAG(c.warnings, 2, "gpus.devices[0].id",
             "GPU \"g\" has neither \"pci\" nor \"backend_index\": it matches no probed card");
  const auto fixed = VALID(
      lines({"{", R"("gpus": {"probe": false, "devices": [{"id": "g", "vram": "8GiB"}]})", "}"}));
  CHECK(fixed.warnings.empty());
}

TEST_CASE("Config: a static GPU inventory needs vram") {
  const auto d =
      ERRORS_OF(lines({"{", R"("gpus": {"probe": false, "devices": [{"id": "g"}]})", "}"}));
  CHECK_DIAG(d, 2, "gpus.devices[0]", "missing required key \"vram\" (gpus.probe is false");
}

TEST_CASE("Config: resolves GPU sizes and defaults") {
  const auto c = VALID(lines({
      "{",
      R"("gpus": {"reserve": "1GiB", "devices": [)",
      R"(  {"id": "a", "vram": "24GiB", "cap": "90%", "pci": "0000:0A:00.0",)",
      R"(   "backend_index": {"hip": 1}}, {"id": "b", "reserve": 0}]}})",
  }));
  const GpuSpec& a = *c.config.find_gpu("a");
  CHECK(a.vram == 24ull << 30);
  CHECK(a.cap.fraction == doctest::Approx(0.9));
  CHECK(a.reserve == 1ull << 30);
  CHECK(a.pci == "0000:0a:00.0");
  CHECK(a.name == "a");
  REQUIRE(a.backend_index.size() == 1);
  CHECK(a.backend_index[0] == std::pair{GpuApi::rocm, 1});
  CHECK(c.config.find_gpu("b")->reserve == 0);
}

TEST_CASE("Config: host memory defaults to /proc/meminfo, 90% cap and a 2 GiB reserve") {
  const auto c = VALID(lines({"{", "}"}));
  const HostSpec& h = c.config.gpus.host;
  CHECK_FALSE(h.memory.has_value());
  CHECK_FALSE(h.cap.bytes.has_value());
  CHECK_FALSE(h.cap.fraction.has_value());
  CHECK(h.reserve == 2ull << 30);
  const auto declared = VALID(lines(
      {"{", R"("gpus": {"host": {"memory": "24GiB", "cap": "16GiB", "reserve": "1GiB"}})", "}"}));
  CHECK(declared.config.gpus.host.memory == 24ull << 30);
  CHECK(declared.config.gpus.host.cap.bytes == 16ull << 30);
  CHECK(declared.config.gpus.host.reserve == 1ull << 30);
  const auto percent = VALID(lines({"{", R"("gpus": {"host": {"cap": "75%"}})", "}"}));
  CHECK(percent.config.gpus.host.cap.fraction == doctest::Approx(0.75));
}

TEST_CASE("Config: malformed gpus.host is reported with its key path") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("gpus": {"host": {"memory": "8GiB", "cap": "9GiB", "reserve": "8GiB",)",
      R"(  "swap": true}})",
      "}",
  }));
  CHECK_DIAG(d, 2, "gpus.host.cap", "cap 9 GiB is more than the host's memory 8 GiB");
  CHECK_DIAG(d, 2, "gpus.host.reserve", "reserve 8 GiB leaves nothing of memory 8 GiB");
  CHECK_DIAG(d, 3, "gpus.host.swap", "unknown key \"swap\"");
  const auto small =
      ERRORS_OF(lines({"{", R"("gpus": {"host": {"memory": 32, "cap": "0%"}})", "}"}));
  CHECK_DIAG(small, 2, "gpus.host.memory", "memory 32 B is less than 256 MiB");
  CHECK_DIAG(small, 2, "gpus.host.cap", "invalid percentage \"0%\"");
  const auto type = ERRORS_OF(lines({"{", R"("gpus": {"host": "24GiB"})", "}"}));
  CHECK_DIAG(type, 2, "gpus.host", "expected an object");
}

TEST_CASE("Config: gpus.rpc lists rpc-server devices - GPU and rpc ids are one namespace") {
  const auto c = VALID(lines({
      "{",
      R"("gpus": {"devices": [{"id": "g0", "backend_index": {"cuda": 0}}],)",
      R"(  "rpc": [{"id": "box", "endpoint": "10.0.0.2:50052", "memory": "48GiB"},)",
      R"(          {"id": "box-b", "endpoint": "10.0.0.2:50052", "device": 1, "memory": "24GiB",)",
      R"(           "name": "the box's second GPU"},)",
      R"(          {"id": "v6", "endpoint": "[fe80::1]:50052", "memory": "8GiB"}]},)",
      R"("backends": {"l": {"kind": "llama-server"}},)",
      R"("presets": {"p": {"binary": "llama-server", "backend": "cpu"}},)",
      R"("models": {"m": {"backend": "l", "gguf": "/m.gguf", "gpus": ["box", "g0"]}})",
      "}",
  }));
  REQUIRE(c.config.gpus.rpc.size() == 3);
  const RpcSpec& box = *c.config.find_rpc("box");
  CHECK(box.endpoint == "10.0.0.2:50052");
  CHECK(box.device == 0);
  CHECK(box.memory == 48ull << 30);
  CHECK(box.name == "10.0.0.2:50052");
  CHECK(c.config.find_rpc("box-b")->device == 1);
  CHECK(c.config.find_rpc("box-b")->name == "the box's second GPU");
}

TEST_CASE("Config: gpus.rpc memory may be left to the server's report") {
  const auto c = VALID(lines({
      "{",
      R"("gpus": {"rpc": [{"id": "asked", "endpoint": "10.0.0.2:50052"},)",
      R"(                 {"id": "declared", "endpoint": "10.0.0.3:50052", "memory": "8GiB"}]},)",
      R"("backends": {"l": {"kind": "llama-server"}},)",
      R"("presets": {"p": {"binary": "llama-server", "backend": "cpu"}},)",
      R"("models": {"m": {"backend": "l", "gguf": "/m.gguf", "gpus": ["asked"]}})",
      "}",
  }));
  CHECK_FALSE(c.config.find_rpc("asked")->memory.has_value());
  CHECK(c.config.find_rpc("declared")->memory == 8ull << 30);
  const Json printed = to_json(c.config);
  CHECK_FALSE(printed["gpus"]["rpc"][0].contains("memory"));
  CHECK(printed["gpus"]["rpc"][1]["memory"] == "8 GiB");
}

TEST_CASE("Config: malformed gpus.rpc entries are reported with their key paths") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("gpus": {"devices": [{"id": "g0", "backend_index": {"cuda": 0}}], "rpc": [)",
      R"(  {"id": "g0", "endpoint": "10.0.0.2", "memory": "8GiB"},)",
      R"(  {"id": "r1", "endpoint": "10.0.0.2:99999", "memory": "8GiB"},)",
      R"(  {"id": "r2", "endpoint": "a,b:50052", "memory": 8},)",
      R"(  {"id": "r3", "endpoint": "h:50052"},)",
      R"(  {"id": "r4", "endpoint": "h:50052", "memory": "8GiB", "device": 2},)",
      R"(  {"id": "r5", "endpoint": "k:50052", "memory": "8GiB"},)",
      R"(  {"id": "r6", "endpoint": "k:50052", "memory": "8GiB", "port": 1},)",
      R"(  {"id": "host", "endpoint": "m:50052", "memory": "8GiB"},)",
      R"(  {"endpoint": "n:50052", "memory": "8GiB"}]})",
      "}",
  }));
  CHECK_DIAG(d, 3, "gpus.rpc[0].id", "GPU id \"g0\" is used twice");
  CHECK_DIAG(d, 3, "gpus.rpc[0].endpoint", "invalid endpoint \"10.0.0.2\": expected host:port");
  CHECK_DIAG(d, 4, "gpus.rpc[1].endpoint", "the port must be a number from 1 to 65535");
  CHECK_DIAG(d, 5, "gpus.rpc[2].endpoint", "the host must be a name, an IPv4 address");
  CHECK_DIAG(d, 5, "gpus.rpc[2].memory", "memory 8 B is less than 256 MiB");
  CHECK_DIAG(d, 7, "gpus.rpc[4].device",
             "device 2 of h:50052 is listed but not device 1: list every device of a server");
  CHECK_DIAG(d, 9, "gpus.rpc[6].endpoint", "device 0 of k:50052 is already rpc device \"r5\"");
  CHECK_DIAG(d, 9, "gpus.rpc[6].port", "unknown key \"port\"");
  CHECK_DIAG(d, 10, "gpus.rpc[7].id", "\"host\" is the id of host memory");
  CHECK_DIAG(d, 11, "gpus.rpc[8]", "missing required key \"id\"");
  const auto host_gpu = ERRORS_OF(
      lines({"{", R"("gpus": {"devices": [{"id": "host", "backend_index": {"cuda": 0}}]})", "}"}));
  CHECK_DIAG(host_gpu, 2, "gpus.devices[0].id", "\"host\" is the id of host memory");
  const auto unified = ERRORS_OF(lines(
      {"{", R"("gpus": {"devices": [{"id": "a", "backend_index": {"cuda": 0}, "unified": 1}]})",
       "}"}));
  CHECK_DIAG(unified, 2, "gpus.devices[0].unified", "expected true or false");
}

TEST_CASE("Config: rejects managed-only keys on models of other backends") {
  const auto d = ERRORS_OF(with_models(
      {R"("m": {"backend": "ollama", "gguf": "/x.gguf",)", R"(      "pinned": true})"}));
  CHECK_DIAG(d, 4, "models.m.gguf",
             "\"gguf\" is only for models on a llama-server backend; "
             "backend \"ollama\" is kind ollama");
  CHECK_DIAG(d, 5, "models.m.pinned", "\"pinned\" is only for models on a llama-server");
}

TEST_CASE("Config: a llama-server backend takes no url, and only it takes a preset") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"l": {"kind": "llama-server", "url": "http://h:1"},)",
      R"(  "o": {"kind": "openai", "url": "http://h:1", "preset": "p"}})",
      "}",
  }));
  CHECK_DIAG(d, 2, "backends.l.url", "a llama-server backend is run by askd itself");
  CHECK_DIAG(d, 3, "backends.o.preset", "only llama-server backends take a \"preset\"");
}

TEST_CASE("Config: checks managed model references: presets and GPU pins") {
  const auto d = ERRORS_OF(with_managed_models({
      R"("a": {"backend": "l", "gguf": "/m.gguf", "preset": "vulkn", "gpus": ["gpu0", "gpu2"]},)",
      R"("b": {"backend": "l", "gguf": "/m.gguf"})",
  }));
  CHECK_DIAG(d, 7, "models.a.preset", "unknown preset \"vulkn\" (did you mean \"vulkan\"?)");
  CHECK_DIAG(d, 7, "models.a.gpus[1]", "unknown GPU \"gpu2\" (did you mean \"gpu0\"?)");
  CHECK_DIAG(d, 8, "models.b", "no preset: set \"preset\" here or on backend \"l\"");
}

TEST_CASE("Config: validates managed model settings") {
  const auto d = ERRORS_OF(with_managed_models({
      R"("a": {"backend": "l", "gguf": "/m.gguf", "preset": "cuda", "parallel": 0,)",
      R"(  "kv_cache_type": "q8", "flash_attn": "maybe", "max_replicas": 0,)",
      R"(  "extra_args": ["--port", "1", "--host=0.0.0.0", "--jinja", "--spec-type=ngram-simple", "-md", "d.gguf"], "load_timeout": 0},)",
      R"("b": {"backend": "l", "preset": "cuda", "kv_cache_type": {"k": "q8_0", "v": "q3"},)",
      R"(  "drain_wait": "soon"})",
  }));
  CHECK_DIAG(d, 7, "models.a.parallel", "must be between 1 and 256, got 0");
  CHECK_DIAG(d, 8, "models.a.kv_cache_type", "unknown value \"q8\"");
  CHECK_DIAG(d, 8, "models.a.flash_attn", "expected one of: on, off, auto");
  CHECK_DIAG(d, 8, "models.a.max_replicas", "must be between 1 and 1024");
  CHECK_DIAG(d, 9, "models.a.extra_args[0]", "askd sets --port itself");
  CHECK_DIAG(d, 9, "models.a.extra_args[2]", "askd sets --host itself");
  CHECK_DIAG(d, 9, "models.a.extra_args[4]", "askd sets --spec-type itself");
  CHECK_DIAG(d, 9, "models.a.extra_args[5]", "askd sets -md itself");
  CHECK_FALSE(has_diag(d, 0, "models.a.extra_args[3]", "")); // --jinja passes
  CHECK_DIAG(d, 9, "models.a.load_timeout", "a load timeout of 0");
  CHECK_DIAG(d, 10, "models.b", "missing required key \"gguf\"");
  CHECK_DIAG(d, 10, "models.b.kv_cache_type.v", "unknown value \"q3\"");
  CHECK_DIAG(d, 11, "models.b.drain_wait", "invalid duration \"soon\"");
}

TEST_CASE("Config: resolves managed models with their defaults") {
  testing::TempDir dir;
  const auto file = dir.write("m.gguf", "GGUF");
  const auto c = VALID(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": ")" + file.string() + R"(",)",
      R"(  "ctx": 32768, "parallel": 4, "kv_cache_type": {"k": "q8_0", "v": "q4_0"},)",
      R"(  "flash_attn": true, "draft": "auto", "gpus": ["gpu1"], "n_gpu_layers": -1,)",
      R"(  "drain_wait": "30s"},)",
      R"("b": {"backend": "l", "preset": "vulkan", "gguf": "~/models/b.gguf"})",
  }));
  const Model& a = *c.config.find_model("a");
  REQUIRE(a.managed);
  CHECK(a.managed->gguf == file);
  CHECK(a.managed->preset == "cuda");
  CHECK(a.managed->ctx == 32768);
  CHECK(a.context_length == 8192); // ctx split over the parallel slots
  CHECK(a.managed->kv_cache_type == KvCacheType{"q8_0", "q4_0"});
  CHECK(a.managed->flash_attn == FlashAttn::on);
  CHECK(a.managed->draft_auto);
  CHECK(a.managed->n_gpu_layers == -1);
  CHECK(a.managed->load_timeout == core::Duration::seconds(600));
  CHECK(a.managed->drain_wait == core::Duration::seconds(30));
  const Model& b = *c.config.find_model("b");
  CHECK_FALSE(b.managed->drain_wait.has_value());
  CHECK(b.managed->gguf == "/home/test/models/b.gguf");
  CHECK_FALSE(b.managed->parallel.has_value()); // llama-server's automatic slots
  CHECK(b.managed->slots() == 4);
  CHECK(b.managed->unified_kv());
  CHECK_FALSE(b.context_length.has_value());
  CHECK(b.managed->max_replicas == 1);
  CHECK(b.managed->flash_attn == FlashAttn::automatic);
  CHECK(testing::has_diag(c.warnings, 11, "models.b.gguf",
                          "file not found: "
                          "/home/test/models/b.gguf"));
  CHECK(testing::has_diag(c.warnings, 4, "presets.cuda.binary", "is not an executable file"));
  CHECK_FALSE(testing::has_diag(c.warnings, 0, "models.a.gguf", ""));
}

TEST_CASE("Config: draft and mtp: bad values and both at once are errors naming the key") {
  const auto d = ERRORS_OF(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/m/a.gguf", "mtp": "yes"},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/m/b.gguf", "draft": "auto",)",
      R"(      "mtp": true},)",
      R"("c": {"backend": "l", "preset": "cuda", "gguf": "/m/c.gguf", "draft": ""},)",
      R"("d": {"backend": "l", "preset": "cuda", "gguf": "/m/d.gguf", "draft": 3,)",
      R"(      "mtp": 1},)",
      R"("e": {"backend": "l", "preset": "cuda", "gguf": "/m/e.gguf", "draft": "/m/x.gguf",)",
      R"(      "mtp": true})",
  }));
  CHECK_DIAG(d, 7, "models.a.mtp", "expected true or false, got string");
  CHECK_DIAG(d, 9, "models.b.mtp", "\"mtp\" and \"draft\" cannot both be set");
  CHECK_DIAG(d, 10, "models.c.draft", "expected a .gguf file or \"auto\", got an empty string");
  CHECK_DIAG(d, 11, "models.d.draft", "expected a string");
  CHECK_DIAG(d, 12, "models.d.mtp", "expected true or false");
  CHECK_DIAG(d, 14, "models.e.mtp", "llama-server runs one draft context");
  CHECK_MESSAGE(std::ranges::count_if(
                    d, [](const Diagnostic& x) { return x.severity == Severity::error; }) == 6,
                testing::dump(d));
}

TEST_CASE("Config: mtp on a managed model - not on another backend") {
  const auto c = VALID(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/m/a.gguf", "mtp": true},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/m/b.gguf", "mtp": false})",
  }));
  CHECK(c.config.find_model("a")->managed->mtp);
  CHECK_FALSE(c.config.find_model("a")->managed->draft_auto);
  CHECK_FALSE(c.config.find_model("b")->managed->mtp);
  CHECK(config::to_json(c.config)["models"]["a"]["mtp"] == true);
  CHECK_FALSE(config::to_json(c.config)["models"]["b"].contains("mtp"));
  const auto d = ERRORS_OF(with_models({R"("m": {"backend": "ollama", "mtp": true})"}));
  CHECK_DIAG(d, 0, "models.m.mtp", "\"mtp\" is only for models on a llama-server backend");
}

TEST_CASE("Config: a managed model takes the only preset when none is named") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {"l": {"kind": "llama-server"}},)",
      R"("presets": {"only": {"binary": "llama-server", "backend": "cpu"}},)",
      R"("models": {"m": {"backend": "l", "gguf": "/m.gguf"}}})",
  }));
  CHECK(c.config.find_model("m")->managed->preset == "only");
}

TEST_CASE("Config: checks presets") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("presets": {"p": {"binary": "llama-server", "backend": "cdua",)",
      R"(  "args": ["-m", "x"], "env": {"1BAD": "x", "OK": 1}}})",
      "}",
  }));
  CHECK_DIAG(d, 2, "presets.p.backend", "unknown value \"cdua\" (did you mean \"cuda\"?)");
  CHECK_DIAG(d, 3, "presets.p.args[0]", "askd sets -m itself");
  CHECK_DIAG(d, 3, "presets.p.env.1BAD", "is not an environment variable name");
  CHECK_DIAG(d, 3, "presets.p.env.OK", "expected a string, got integer");
}

TEST_CASE("Config: refuses to listen beyond loopback without api_keys") {
  const auto d = ERRORS_OF(lines({"{", R"("listen": "0.0.0.0:11436")", "}"}));
  CHECK_DIAG(d, 2, "listen", "refusing to listen on 0.0.0.0:11436 without api_keys");
  const auto v6 = ERRORS_OF(lines({"{", R"("listen": "[::]:8080")", "}"}));
  CHECK_DIAG(v6, 2, "listen", "refusing to listen on [::]:8080 without api_keys");
  const auto host = ERRORS_OF(lines({"{", R"("listen": "127.example.com:80")", "}"}));
  CHECK_DIAG(host, 2, "listen", "refusing to listen on 127.example.com:80");
}

TEST_CASE("Config: listens anywhere with api_keys, and on loopback without") {
  const auto env = testing::fake_env({{"HOME", "/h"}, {"ASKD_KEY", "from-the-environment"}});
  auto c =
      parse_config(R"({"listen": "0.0.0.0:9000", "api_keys": ["env:ASKD_KEY", "lit"]})", "t", env);
  REQUIRE(c);
  CHECK(c->config.listen.host == "0.0.0.0");
  CHECK(c->config.listen.port == 9000);
  REQUIRE(c->config.listen.api_keys.size() == 2);
  CHECK(c->config.listen.api_keys[0].value == "from-the-environment");
  CHECK(c->config.listen.api_keys[0].env_var == "ASKD_KEY");
  CHECK(c->config.listen.api_keys[1].value == "lit");
  for (const char* loopback : {"127.0.0.1:1", "127.1.2.3:1", "localhost:1", "[::1]:0"}) {
    CAPTURE(loopback);
    CHECK(VALID(std::string("{\"listen\": \"") + loopback + "\"}").config.listen.is_loopback());
  }
}

TEST_CASE("Config: rejects malformed listen addresses and api keys") {
  for (const char* bad : {"11436", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80",
                          "[::1]80", "[nonsense]:80", "host name:80", ":80"}) {
    CAPTURE(bad);
    const auto d = ERRORS_OF(lines({"{", std::string("\"listen\": \"") + bad + "\"", "}"}));
    CHECK_DIAG(d, 2, "listen", "invalid address");
  }
  const auto d = ERRORS_OF(lines({"{", R"("api_keys": ["env:MISSING", "", "env:1x", 7])", "}"}));
  CHECK_DIAG(d, 2, "api_keys[0]", "environment variable MISSING is not set");
  CHECK_DIAG(d, 2, "api_keys[1]", "an API key cannot be empty");
  CHECK_DIAG(d, 2, "api_keys[2]", "does not name an environment variable");
  CHECK_DIAG(d, 2, "api_keys[3]", "expected a string, got integer");
}

TEST_CASE(
    "Config: an askd backend (a peer): url, prefix, peer_fallback, refresh - only it takes them") {
  auto ok = testing::parse(lines({
      "{",
      R"("backends": {"box2": {"kind": "askd", "url": "http://100.64.0.2:11436",)",
      R"(  "prefix": "box2/", "peer_fallback": true, "refresh": "10s"},)",
      R"(  "box3": {"kind": "askd", "url": "https://box3.tail.ts.net"}},)",
      R"("models": {"big": {"backend": "box2", "upstream": "coder-30b"}})",
      "}",
  }));
  REQUIRE(ok);
  const Backend& b2 = ok->config.backends[0];
  CHECK(b2.peer());
  CHECK(to_string(b2.kind) == "askd");
  CHECK(b2.prefix == "box2/");
  CHECK(b2.peer_fallback);
  CHECK(b2.refresh == core::Duration::seconds(10));
  const Backend& b3 = ok->config.backends[1];
  CHECK(b3.prefix.empty()); // the peer's own names
  CHECK_FALSE(b3.peer_fallback);
  CHECK(b3.refresh == core::Duration::seconds(30));

  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {"p": {"kind": "askd"},)",
      R"(  "q": {"kind": "askd", "url": "http://h:1", "prefix": "a b", "refresh": "0s"},)",
      R"(  "r": {"kind": "askd", "url": "http://h:1", "prefix": "x@", "peer_fallback": "yes"},)",
      R"(  "o": {"kind": "openai", "url": "http://h:1", "prefix": "o/"}})",
      "}",
  }));
  CHECK_DIAG(d, 2, "backends.p", "missing required key \"url\"");
  CHECK_DIAG(d, 3, "backends.q.prefix", "invalid prefix \"a b\"");
  CHECK_DIAG(d, 3, "backends.q.refresh", "refresh must be at least 1s");
  CHECK_DIAG(d, 4, "backends.r.prefix",
             "none of them a space, a control character, ',', '>' or '@'");
  CHECK_DIAG(d, 4, "backends.r.peer_fallback", "expected true or false, got string");
  CHECK_DIAG(d, 5, "backends.o.prefix", "only askd backends (peers) take \"prefix\"");

  const auto w = VALID(lines({
      "{",
      R"("backends": {"box2": {"kind": "askd", "url": "http://h:1"}},)",
      R"("models": {"big": {"backend": "box2", "keep_alive": "1h"}})",
      "}",
  }));
  CHECK(has_diag(w.warnings, 3, "models.big.keep_alive",
                 "it is another askd, whose own config says"));
}

TEST_CASE("Config: validates backend URLs") {
  const auto d = ERRORS_OF(lines({
      "{",
      R"("backends": {)",
      R"(  "a": {"kind": "ollama", "url": "127.0.0.1:11434"},)",
      R"(  "b": {"kind": "ollama", "url": "http://user:pw@h:1"},)",
      R"(  "c": {"kind": "ollama", "url": "http://h:99999"},)",
      R"(  "d": {"kind": "ollama", "url": "http://h:1/?q=1"},)",
      R"(  "e": {"kind": "ollama", "url": "http://:1"})",
      "}}",
  }));
  CHECK_DIAG(d, 3, "backends.a.url", "expected http://host:port");
  CHECK_DIAG(d, 4, "backends.b.url", "credentials in URLs are not supported");
  CHECK_DIAG(d, 5, "backends.c.url", "the port must be a number from 1 to 65535");
  CHECK_DIAG(d, 6, "backends.d.url", "a query or fragment is not allowed");
  CHECK_DIAG(d, 7, "backends.e.url", "expected a host name or IP address");
}

TEST_CASE("Config: splits backend URLs for the HTTP client") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {)",
      R"(  "a": {"kind": "openai", "url": "HTTPS://api.example.com/proxy/"},)",
      R"(  "b": {"kind": "openai", "url": "http://[::1]:8080"},)",
      R"(  "c": {"kind": "openai", "url": "http://h/v1"})",
      "}}",
  }));
  const Url& a = *c.config.find_backend("a")->url;
  CHECK(a.scheme == "https");
  CHECK(a.host == "api.example.com");
  CHECK(a.port == 443);
  CHECK(a.base_path == "/proxy");
  CHECK(a.to_string() == "https://api.example.com:443/proxy");
  const Url& b = *c.config.find_backend("b")->url;
  CHECK(b.host == "::1");
  CHECK(b.port == 8080);
  CHECK(b.to_string() == "http://[::1]:8080");
  CHECK(c.config.find_backend("c")->url->port == 80);
  CHECK(has_diag(c.warnings, 5, "backends.c.url", "remove the trailing /v1"));
}

TEST_CASE("Config: warns when an api_key_env variable is not set") {
  const auto c = VALID(lines({
      "{",
      R"("backends": {"o": {"kind": "openai", "url": "http://h:1", "api_key_env": "OPENAI_KEY"}})",
      "}",
  }));
  CHECK(has_diag(c.warnings, 2, "backends.o.api_key_env",
                 "environment variable OPENAI_KEY is not set"));
  CHECK(c.config.find_backend("o")->api_key_env == "OPENAI_KEY");
}

TEST_CASE("Config: the server section - defaults, values, and what is refused") {
  const auto defaults = VALID(lines({"{", "}"}));
  const ServerConfig& d = defaults.config.server;
  CHECK(d.head_timeout.value() == std::chrono::seconds(20));
  CHECK(d.body_min_rate == 16 * 1024);
  CHECK(d.max_connections_per_client == 1024);
  CHECK(d.max_body_buffer_per_client == 64ull << 20);
  const auto c = VALID(lines({
      "{",
      R"("server": {"head_timeout": "5s", "body_timeout": "1m", "body_min_rate": "1MiB",)",
      R"(  "idle_timeout": "2m", "max_connections": 100, "max_connections_per_client": 10,)",
      R"(  "max_body_buffer_per_client": "40MiB", "max_body_buffer": "1GiB"})",
      "}",
  }));
  const ServerConfig& s = c.config.server;
  CHECK(s.head_timeout.value() == std::chrono::seconds(5));
  CHECK(s.body_timeout.value() == std::chrono::minutes(1));
  CHECK(s.body_min_rate == 1u << 20);
  CHECK(s.idle_timeout.value() == std::chrono::minutes(2));
  CHECK(s.max_connections == 100);
  CHECK(s.max_connections_per_client == 10);
  CHECK(s.max_body_buffer_per_client == 40ull << 20);
  CHECK(s.max_body_buffer == 1ull << 30);

  const auto e = ERRORS_OF(lines({
      "{",
      R"("server": {"head_timeout": "forever", "body_timeout": "0s", "body_min_rate": "0B",)",
      R"(  "max_connections": 0, "max_body_buffer_per_client": "1MiB", "speed": 1})",
      "}",
  }));
  CHECK_DIAG(e, 2, "server.head_timeout", "must be a finite time above 0");
  CHECK_DIAG(e, 2, "server.body_timeout", "must be a finite time above 0");
  CHECK_DIAG(e, 2, "server.body_min_rate", "must be above 0");
  CHECK_DIAG(e, 3, "server.max_connections", "");
  CHECK_DIAG(e, 3, "server.speed", "unknown key");
  CHECK_DIAG(e, 0, "server.max_body_buffer_per_client",
             "1 MiB is less than max_request_body (32 MiB): a request of the largest allowed size "
             "could never be read");
}

TEST_CASE("Config: a file: API key is the file's first line, and a missing one is an error") {
  testing::TempDir dir;
  const auto key = dir.write("key", "k-from-a-file-0123\r\nsecond line ignored\n");
  const auto c = VALID("{\"api_keys\": [\"file:" + key.string() + "\"]}");
  REQUIRE(c.config.listen.api_keys.size() == 1);
  CHECK(c.config.listen.api_keys[0].value == "k-from-a-file-0123");
  CHECK(c.config.listen.api_keys[0].file == key);
  CHECK(to_json(c.config)["api_keys"][0] == "file:" + key.string());
  const auto empty = dir.write("empty", "\n");
  const auto e = ERRORS_OF("{\"api_keys\": [\"file:" + (dir.path() / "nope").string() +
                           "\", \"file:" + empty.string() + "\"]}");
  CHECK_DIAG(e, 1, "api_keys[0]", "cannot read the key file " + (dir.path() / "nope").string());
  CHECK_DIAG(e, 1, "api_keys[1]", "the key file " + empty.string() + " is empty");
}

} // namespace ask::config

namespace ask::config {

namespace {

// The config printed and read again gives the same models (the printed form is a config).
void check_printed_reads_back(const LoadedConfig& c) {
  const std::string printed = to_json(c.config).dump(2);
  const auto again = testing::parse(printed);
  REQUIRE_MESSAGE(again.has_value(), (again ? printed : testing::dump(again.error().diagnostics)));
  CHECK(to_json(again->config).dump(2) == printed);
}

} // namespace

TEST_CASE("Config: memory settings: keys, llama-server's defaults when unset, printed as set") {
  const auto c = VALID(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/m/a.gguf", "ctx": 8192,)",
      R"(  "batch": 4096, "ubatch": 1024, "kv_unified": true, "swa_full": true, "kv_offload": false,)",
      R"(  "mmap": false, "override_tensors": ["blk\\.[0-9]\\.ffn_.*_exps=CPU", "exps=CPU"],)",
      R"(  "mmproj": "/m/mmproj.gguf"},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/m/b.gguf", "ctx": 8192, "parallel": 2},)",
      R"("c": {"backend": "l", "preset": "cuda", "gguf": "/m/c.gguf", "ctx": 8192, "parallel": 2,)",
      R"(  "kv_unified": true},)",
      R"("d": {"backend": "l", "preset": "cuda", "gguf": "/m/d.gguf", "ctx": 8192,)",
      R"(  "kv_unified": false})",
  }));
  const Model& a = *c.config.find_model("a");
  const ManagedSpec& s = *a.managed;
  CHECK(s.batch == 4096);
  CHECK(s.ubatch == 1024);
  CHECK(s.kv_unified == true);
  CHECK(s.swa_full == true);
  CHECK(s.kv_offload == false);
  CHECK(s.mmap == false);
  CHECK(s.override_tensors ==
        std::vector<TensorOverride>{{"blk\\.[0-9]\\.ffn_.*_exps", "CPU"}, {"exps", "CPU"}});
  CHECK(s.mmproj == std::filesystem::path("/m/mmproj.gguf"));
  CHECK(a.context_length == 8192); // automatic slots share one cache: a request may fill it
  // -np given: llama-server's default is one cache per slot, so -c is split over them.
  const Model& b = *c.config.find_model("b");
  CHECK_FALSE(b.managed->unified_kv());
  CHECK(b.context_length == 4096);
  CHECK_FALSE(b.managed->batch);
  CHECK_FALSE(b.managed->mmap);
  CHECK(c.config.find_model("c")->context_length == 8192);
  const Model& d = *c.config.find_model("d"); // automatic slots, but separate caches
  CHECK(d.managed->slots() == 4);
  CHECK_FALSE(d.managed->unified_kv());
  CHECK(d.context_length == 2048);

  const Json j = to_json(c.config);
  CHECK(j["models"]["a"]["ubatch"] == 1024);
  CHECK(j["models"]["a"]["override_tensors"][0] == "blk\\.[0-9]\\.ffn_.*_exps=CPU");
  CHECK(j["models"]["a"]["mmproj"] == "/m/mmproj.gguf");
  CHECK_FALSE(j["models"]["a"].contains("parallel")); // unset: llama-server's automatic slots
  CHECK_FALSE(j["models"]["b"].contains("ubatch"));
  CHECK(j["models"]["b"]["override_tensors"] == Json::array());
  check_printed_reads_back(c);
}

TEST_CASE("Config: extra_args that set memory are folded into the settings - the rest stay") {
  testing::TempDir dir;
  auto loaded = parse_config(
      with_managed_models({
          R"("a": {"backend": "l", "preset": "cuda", "gguf": "/m/a.gguf", "extra_args": [)",
          R"(  "--jinja", "-ub", "256", "--ctx_size", "4096", "-np", "2", "-ctk", "q8_0", "-fa", "off",)",
          R"(  "-nkvo", "--no-mmap", "--swa-full", "-kvu", "-b", "1024", "-ot", "x=CPU,y=CPU", "-cmoe",)",
          R"(  "-ncmoe", "3", "-mm", "vision/p.gguf", "-t", "8", "--mlock"]},)",
          R"("b": {"backend": "l", "preset": "cuda", "gguf": "/m/b.gguf", "mmap": false,)",
          R"(  "extra_args": ["-lm", "dio", "-np", "-1"]})",
      }),
      ParseOptions{"c.jsonc", dir.path(), testing::test_env()});
  REQUIRE_MESSAGE(loaded.has_value(), testing::dump(loaded.error().diagnostics));
  const Model& a = *loaded->config.find_model("a");
  const ManagedSpec& s = *a.managed;
  CHECK(s.ubatch == 256);
  CHECK(s.ctx == 4096);
  CHECK(s.parallel == 2);
  CHECK(s.kv_cache_type == KvCacheType{"q8_0", "f16"});
  CHECK(s.flash_attn == FlashAttn::off);
  CHECK(s.kv_offload == false);
  CHECK(s.mmap == false);
  CHECK(s.swa_full == true);
  CHECK(s.kv_unified == true);
  CHECK(s.batch == 1024);
  CHECK(s.override_tensors == std::vector<TensorOverride>{{"x", "CPU"},
                                                          {"y", "CPU"},
                                                          {std::string(k_cpu_moe_pattern), "CPU"}});
  CHECK(s.n_cpu_moe == 3);
  CHECK(s.mmproj == dir.path() / "vision/p.gguf"); // relative to the config's folder, as keys
  CHECK(s.extra_args == std::vector<std::string>{"--jinja", "-t", "8", "--mlock"});
  CHECK(a.context_length == 4096);
  // A load mode that does more than mmap stays, and may agree with the key; -np -1 is auto.
  const ManagedSpec& b = *loaded->config.find_model("b")->managed;
  CHECK(b.mmap == false);
  CHECK(b.extra_args == std::vector<std::string>{"-lm", "dio"});
  CHECK_FALSE(b.parallel);
  CHECK(testing::has_diag(loaded->warnings, 0, "models.a.extra_args", "vision/p.gguf"));
  check_printed_reads_back(*loaded);
}

TEST_CASE("Config: extra_args: a setting its key also sets, askd's own flags, bad values") {
  const auto d = ERRORS_OF(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/m/a.gguf", "ubatch": 512,)",
      R"(  "kv_cache_type": "q8_0", "mmap": true, "ctx": 4096, "parallel": 2, "n_cpu_moe": 2,)",
      R"(  "extra_args": ["-ub", "1024", "-ctv", "q4_0", "--mlock", "-c", "8192", "-np", "-1",)",
      R"(  "--n-cpu-moe", "4"]},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/m/b.gguf", "override_tensors": ["a=CPU"],)",
      R"(  "extra_args": ["-cmoe", "-ts", "1,1", "-ngl", "99", "-ot", "x=CUDA0", "--ctx-size=1",)",
      R"(  "-fa", "yes", "--device", "CUDA0", "-sm", "row", "-mg", "1", "-c"]})",
  }));
  CHECK_DIAG(d, 9, "models.a.extra_args[0]",
             "\"-ub\" sets \"ubatch\", which the model's \"ubatch\" sets too; keep one");
  CHECK_DIAG(d, 9, "models.a.extra_args[2]", "\"-ctv\" sets \"kv_cache_type\"");
  CHECK_DIAG(d, 9, "models.a.extra_args[4]", "\"--mlock\" sets \"mmap\"");
  CHECK_DIAG(d, 9, "models.a.extra_args[5]", "\"-c\" sets \"ctx\"");
  CHECK_DIAG(d, 9, "models.a.extra_args[7]", "\"-np\" sets \"parallel\"");
  CHECK_DIAG(d, 10, "models.a.extra_args[9]", "\"--n-cpu-moe\" sets \"n_cpu_moe\"");
  CHECK_DIAG(d, 12, "models.b.extra_args[0]", "\"-cmoe\" sets \"override_tensors\"");
  CHECK_DIAG(d, 12, "models.b.extra_args[1]",
             "\"-ts\" is decided by askd's placement; remove it (see docs/config.md \"Memory "
             "settings\")");
  CHECK_DIAG(d, 12, "models.b.extra_args[3]", "set \"n_gpu_layers\" to cap the layers on GPUs");
  CHECK_DIAG(d, 12, "models.b.extra_args[5]",
             "\"-ot\" \"x=CUDA0\": buffer type \"CUDA0\" would put tensors on a device");
  CHECK_DIAG(d, 12, "models.b.extra_args[7]", "llama-server does not read \"--ctx-size=1\"");
  CHECK_DIAG(d, 13, "models.b.extra_args[8]", "\"-fa\": expected on, off or auto, got \"yes\"");
  CHECK_DIAG(d, 13, "models.b.extra_args[10]", "\"--device\" is decided by askd's placement");
  CHECK_DIAG(d, 13, "models.b.extra_args[12]", "\"-sm\" is decided by askd's placement");
  CHECK_DIAG(d, 13, "models.b.extra_args[14]", "\"-mg\" is decided by askd's placement");
  CHECK_DIAG(d, 13, "models.b.extra_args[16]", "\"-c\" expects a value");
  CHECK_MESSAGE(std::ranges::count_if(
                    d, [](const Diagnostic& x) { return x.severity == Severity::error; }) == 16,
                testing::dump(d));
}

TEST_CASE("Config: memory settings: bad values name the key") {
  const auto d = ERRORS_OF(with_managed_models({
      R"("a": {"backend": "l", "preset": "cuda", "gguf": "/m/a.gguf", "batch": 0, "ubatch": "big",)",
      R"(  "kv_unified": "yes", "swa_full": 1, "kv_offload": null, "mmap": "off", "mmproj": ""},)",
      R"("b": {"backend": "l", "preset": "cuda", "gguf": "/m/b.gguf", "override_tensors": [)",
      R"(  "exps", "exps=CUDA1", 3, "(=CPU", "a,b=CPU", "=CPU", "exps=cpu"]},)",
      R"("c": {"backend": "l", "preset": "cuda", "gguf": "/m/c.gguf", "override_tensors": "x=CPU"},)",
      R"("o": {"backend": "l", "preset": "cuda", "gguf": "/m/o.gguf", "ubatch": 0, "parallel": 0})",
  }));
  CHECK_DIAG(d, 7, "models.a.batch", "must be at least 1, got 0");
  CHECK_DIAG(d, 7, "models.a.ubatch", "expected an integer");
  CHECK_DIAG(d, 8, "models.a.kv_unified", "expected true or false");
  CHECK_DIAG(d, 8, "models.a.swa_full", "expected true or false");
  CHECK_DIAG(d, 8, "models.a.kv_offload", "expected true or false");
  CHECK_DIAG(d, 8, "models.a.mmap", "expected true or false");
  CHECK_DIAG(d, 8, "models.a.mmproj", "expected a .gguf file, got an empty string");
  CHECK_DIAG(d, 10, "models.b.override_tensors[0]", "expected PATTERN=CPU");
  CHECK_DIAG(d, 10, "models.b.override_tensors[1]",
             "buffer type \"CUDA1\" would put tensors on a device: which GPU holds what is "
             "decided by askd's placement");
  CHECK_DIAG(d, 10, "models.b.override_tensors[2]", "expected a string");
  CHECK_DIAG(d, 10, "models.b.override_tensors[3]", "invalid regular expression \"(\"");
  CHECK_DIAG(d, 10, "models.b.override_tensors[4]", "cannot hold a ','");
  CHECK_DIAG(d, 10, "models.b.override_tensors[5]", "the pattern is empty");
  CHECK_DIAG(d, 10, "models.b.override_tensors[6]", "write \"CPU\"");
  CHECK_DIAG(d, 11, "models.c.override_tensors", "expected an array");
  CHECK_DIAG(d, 12, "models.o.ubatch", "must be at least 1, got 0");
  CHECK_DIAG(d, 12, "models.o.parallel", "must be between 1 and 256, got 0");
}

TEST_CASE("Config: a preset's args and env may not set memory or placement for its models") {
  const auto d = ERRORS_OF(testing::lines({
      "{",
      R"("backends": {"l": {"kind": "llama-server", "preset": "p"}},)",
      R"("presets": {"p": {"binary": "llama-server", "backend": "cuda",)",
      R"(  "args": ["--no-webui", "-ub", "1024", "-ts", "1,1", "--metrics", "--port", "9"],)",
      R"(  "env": {"LLAMA_ARG_UBATCH": "1024", "LLAMA_ARG_DEVICE": "CUDA1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID",)",
      R"(          "LLAMA_ARG_N_PARALLEL": "0", "LLAMA_ARG_THREADS": "8"}}},)",
      R"("models": {"m": {"backend": "l", "gguf": "/m/m.gguf"}})",
      "}",
  }));
  CHECK_DIAG(d, 4, "presets.p.args[1]",
             "\"-ub\" sets \"ubatch\", which askd counts per model: set it on each model of this "
             "preset (\"ubatch\" or its extra_args)");
  CHECK_DIAG(d, 4, "presets.p.args[3]", "\"-ts\" is decided by askd's placement");
  CHECK_DIAG(d, 4, "presets.p.args[6]", "askd sets --port itself");
  CHECK_DIAG(d, 5, "presets.p.env.LLAMA_ARG_UBATCH",
             "llama-server reads LLAMA_ARG_UBATCH as -ub: a memory setting askd counts per model; "
             "set \"ubatch\" on each model of this preset instead");
  CHECK_DIAG(
      d, 5, "presets.p.env.LLAMA_ARG_DEVICE",
      "llama-server reads LLAMA_ARG_DEVICE as -dev: \"-dev\" is decided by askd's placement");
  CHECK_DIAG(d, 6, "presets.p.env.LLAMA_ARG_N_PARALLEL", "0 slots is refused");
  CHECK_MESSAGE(std::ranges::count_if(
                    d, [](const Diagnostic& x) { return x.severity == Severity::error; }) == 6,
                testing::dump(d));
}

} // namespace ask::config
