// `askd plan`: in process through run_plan (with a fake tool runner) and run_askd.

#include "proxy/plan.h"

#include <doctest/doctest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "config/testing.h"
#include "proxy/cli.h"
#include "tests/support/gguf_writer.h"

namespace ask::proxy {
namespace {

using config::testing::TempDir;
using config::GpuApi;
namespace tg = ask::testing::gguf;

const std::string k_fixtures = std::string(ASK_SOURCE_DIR) + "/tests/fixtures/";
const std::string k_tiny_gguf = k_fixtures + "gguf/tiny-llama-2L-hd32-f16.gguf";

struct PlanOutcome {
  int status = -1;
  std::string out;
  std::string err;
};

// A tool runner that finds no tool and counts the calls.
struct NoTools {
  int calls = 0;
  router::ToolRunner runner() {
    return [this](const std::vector<std::string>& argv) -> core::Result<std::string> {
      ++calls;
      return core::fail(core::Error::not_found(argv[0] + ": not installed"));
    };
  }
};

PlanOutcome plan(const PlanOptions& opts, const config::Config& cfg, NoTools& tools) {
  std::ostringstream out;
  std::ostringstream err;
  PlanOutcome o;
  o.status = run_plan(opts, cfg, out, err, tools.runner());
  o.out = out.str();
  o.err = err.str();
  return o;
}

PlanOutcome askd(std::vector<std::string> args, const TempDir& home) {
  args.insert(args.begin(), "askd");
  std::vector<const char*> argv;
  argv.reserve(args.size() + 1);
  for (const std::string& a : args) {
    argv.push_back(a.c_str());
  }
  std::ostringstream out;
  std::ostringstream err;
  PlanOutcome o;
  o.status = run_askd(static_cast<int>(argv.size()), argv.data(), out, err,
                      config::testing::fake_env({{"HOME", home.path().string()}}));
  o.out = out.str();
  o.err = err.str();
  return o;
}

bool contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

// A config with a llama-server model "m" of `gguf` on a CPU preset.
config::Config cpu_config(const TempDir& dir, const std::filesystem::path& gguf,
                          const std::string& extra = "") {
  const std::string text = R"({
    "backends": {"l": {"kind": "llama-server"}},
    "presets": {"cpu": {"binary": "llama-server", "backend": "cpu"}},
    "gpus": {"probe": false},
    "models": {"m": {"backend": "l", "gguf": ")" + gguf.string() + R"(", "preset": "cpu",
                     "ctx": 1024)" + extra + R"(}}
  })";
  auto loaded = config::parse_config(text, (dir.path() / "c.jsonc").string(),
                                     config::testing::test_env());
  REQUIRE_MESSAGE(loaded.has_value(), config::testing::dump(loaded.error().diagnostics));
  return loaded->config;
}

// A tiny model of `layers` layers of `width` whose last `nextn` layers are MTP layers.
std::filesystem::path write_model(const std::filesystem::path& path, std::uint32_t layers,
                                  std::uint32_t width, std::uint32_t nextn = 0) {
  tg::TinyModel m;
  m.n_layer = layers;
  m.n_embd = width;
  m.n_ff = 2 * width;
  tg::Writer w;
  tg::tiny_metadata(w, m);
  if (nextn > 0) {
    w.u32("llama.nextn_predict_layers", nextn);
    w.tensor("blk." + std::to_string(layers - 1) + ".nextn.eh_proj.weight", {2ull * width, width},
             tg::ggml::f16);
  }
  for (const tg::TensorSpec& t : tg::tiny_tensors(m)) {
    w.tensor(t.name, t.dims, t.ggml_type);
  }
  return w.write(path);
}

// A model of `layers` layers of `width` as a sparse file: the header, then a hole where the
// zeroed weights would be (nothing of them is written).
std::filesystem::path write_sparse_model(const std::filesystem::path& path, std::uint32_t layers,
                                         std::uint32_t width) {
  tg::TinyModel m;
  m.n_layer = layers;
  m.n_embd = width;
  m.n_ff = 2 * width;
  tg::Writer w;
  tg::tiny_metadata(w, m);
  for (const tg::TensorSpec& t : tg::tiny_tensors(m)) {
    w.tensor(t.name, t.dims, t.ggml_type);
  }
  w.with_data(false).write(path);
  std::filesystem::resize_file(path, w.data_end());
  return path;
}

// A config with a llama-server model "tiny" on the Vulkan preset, pinned to "big", and two
// declared GPUs (probing off).
config::Config managed_config(const TempDir& dir, const std::string& extra = "") {
  const std::string text = R"({
    "backends": {"l": {"kind": "llama-server"}},
    "presets": {"vk": {"binary": "llama-server", "backend": "vulkan"}},
    "gpus": {"probe": false, "reserve": "0 B", "devices": [
      {"id": "small", "vram": "8GiB", "backend_index": {"vulkan": 0}},
      {"id": "big", "vram": "24GiB", "backend_index": {"vulkan": 1}}]},
    "models": {"tiny": {"backend": "l", "gguf": ")" +
                           k_tiny_gguf + R"(", "preset": "vk",
                        "ctx": 4096, "parallel": 4, "kv_cache_type": "q8_0",
                        "gpus": ["big"])" +
                           extra + R"(}}
  })";
  auto loaded = config::parse_config(text, (dir.path() / "c.jsonc").string(),
                                     config::testing::test_env());
  REQUIRE_MESSAGE(loaded.has_value(), config::testing::dump(loaded.error().diagnostics));
  return loaded->config;
}

} // namespace

TEST_CASE("askd plan: a model name takes its settings, preset API and pins from the config") {
  TempDir dir;
  const config::Config cfg = managed_config(dir);
  NoTools tools;
  PlanOptions opts;
  opts.target = "tiny";
  const PlanOutcome o = plan(opts, cfg, tools);
  CHECK(o.status == k_exit_ok);
  CHECK(o.err.empty());
  // Probing is off in this config: the one tool asked is the preset's `--version`.
  CHECK(tools.calls == 1);
  CHECK(contains(o.out, "context  4096 tokens (1024 per slot × 4)"));
  CHECK(contains(o.out, "placement (vulkan)"));
  CHECK(contains(o.out, "  big  Vulkan0  2 layers + output"));
  CHECK(contains(o.out, "-c 4096 -np 4 -ctk q8_0 -ctv q8_0 -fa on --device Vulkan0 -ngl 3"));
  CHECK(contains(o.out, "\nGGML_VK_VISIBLE_DEVICES=1 llama-server -m "));
  CHECK(contains(o.out, "note: flash attention \"auto\" is passed as -fa on, as estimated"));
}

TEST_CASE("askd plan: command-line settings override the model's - --json is one document") {
  TempDir dir;
  const config::Config cfg = managed_config(dir);
  NoTools tools;
  PlanOptions opts;
  opts.target = "tiny";
  opts.ctx = 2048;
  opts.parallel = 1;
  opts.kv = "f16";
  opts.gpus = {"small"};
  opts.json = true;
  const PlanOutcome o = plan(opts, cfg, tools);
  REQUIRE(o.status == k_exit_ok);
  const auto j = nlohmann::json::parse(o.out);
  CHECK(j["fits"] == true);
  CHECK(j["backend"] == "vulkan");
  CHECK(j["estimate"]["n_ctx"] == 2048);
  CHECK(j["estimate"]["layers"].size() == 2);
  CHECK(j["plan"]["gpus"][0]["gpu"] == "small");
  CHECK(j["plan"]["env"]["GGML_VK_VISIBLE_DEVICES"] == "0");
  const auto& args = j["plan"]["args"];
  CHECK(args[0] == "-m");
  CHECK(args[1] == k_tiny_gguf);
  CHECK(std::find(args.begin(), args.end(), "-ctk") + 1 != args.end());
  CHECK(*(std::find(args.begin(), args.end(), "-ctk") + 1) == "f16");
  CHECK(j["gpus"].size() == 2);
}

TEST_CASE("askd plan: --gpu declares the machine instead of probing - too small does not fit") {
  TempDir dir;
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  opts.declare = {"cuda:0:300MiB", "cuda:1:256MiB:200MiB"};
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK(tools.calls == 0);
  CHECK(o.status == k_exit_failure);
  CHECK(contains(o.out, "does not fit: needs "));
  CHECK(contains(o.out, "usable on 2 GPUs"));
  CHECK(contains(o.out, ", short by "));
  CHECK_FALSE(contains(o.out, "llama-server -m"));
  // With room, the same model fits on the smaller GPU that holds it.
  opts.declare = {"cuda:0:24GiB", "cuda:1:8GiB:6GiB"};
  const PlanOutcome fits = plan(opts, config::Config{}, tools);
  CHECK(fits.status == k_exit_ok);
  CHECK(contains(fits.out, "CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=1 llama-server"));
}

TEST_CASE("askd plan: notes say what the plan assumed: -fa auto - a draft \"auto\" resolved") {
  TempDir dir;
  NoTools tools;
  PlanOptions path;
  path.target = k_tiny_gguf;
  CHECK(contains(plan(path, config::Config{}, tools).out, "-fa on, as estimated"));
  path.flash_attn = "on";
  CHECK_FALSE(contains(plan(path, config::Config{}, tools).out, "as estimated"));
  const config::Config cfg = managed_config(dir, R"(, "draft": "auto", "flash_attn": "off")");
  PlanOptions named;
  named.target = "tiny";
  named.kv = "f16"; // a quantized V cache needs flash attention
  // "auto" is resolved as askd resolves it at spawn: nothing in the fixtures folder fits.
  const PlanOutcome o = plan(named, cfg, tools);
  CHECK(o.status == k_exit_usage);
  CHECK(o.out.empty());
  CHECK(contains(o.err, "draft \"auto\": no draft model for tiny-llama-2L-hd32-f16.gguf in "));
  CHECK(contains(o.err, "tiny-gemma3-2L-swa-f16.gguf: architecture gemma3 is not of the "
                        "model's family (llama)"));
  CHECK(contains(o.err, "tiny-llama-2L-f16.gguf: not smaller than the model"));
  named.draft = k_tiny_gguf; // a draft given here replaces "auto" and is counted
  const PlanOutcome drafted = plan(named, cfg, tools);
  CHECK(drafted.status == k_exit_ok);
  CHECK(contains(drafted.out, "draft model"));
  CHECK(contains(drafted.out, "draft    " + k_tiny_gguf));
  CHECK_FALSE(contains(drafted.out, "as estimated"));
  CHECK(contains(drafted.out, "-fa off"));
}

TEST_CASE("askd plan: a --gpu device given twice, or without a unit, is refused") {
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  for (const auto& [first, second] : {std::pair{"cuda:0:8GiB", "CUDA:00:8GiB"},
                                      std::pair{"rocm:1:8GiB", "hip:1:16GiB"}}) {
    opts.declare = {first, second};
    const PlanOutcome o = plan(opts, config::Config{}, tools);
    CHECK(o.status == k_exit_usage);
    CHECK_MESSAGE(contains(o.err, std::string("--gpu \"") + second +
                                      "\" is the same device as --gpu \"" + first + "\""),
                  o.err);
  }
  opts.declare = {"cuda:0:24"};
  const PlanOutcome bytes = plan(opts, config::Config{}, tools);
  CHECK(bytes.status == k_exit_usage);
  CHECK(contains(bytes.err, "size 24 is less than 256 MiB; give a unit, e.g. 24GiB"));
}

TEST_CASE("askd plan: pins: unknown is bad input, a config's are dropped for --gpu") {
  TempDir dir;
  const config::Config cfg = managed_config(dir);
  NoTools tools;
  PlanOptions opts;
  opts.target = "tiny";
  opts.gpus = {"zz"};
  const PlanOutcome unknown = plan(opts, cfg, tools);
  CHECK(unknown.status == k_exit_usage);
  CHECK(contains(unknown.err,
                 "GPU \"zz\" is not in this machine's inventory (GPUs: small, big)"));
  // The config pins "big"; on a declared machine that id does not exist.
  opts.gpus.clear();
  opts.declare = {"vulkan:0:16GiB", "vulkan:1:16GiB"};
  const PlanOutcome declared = plan(opts, cfg, tools);
  CHECK(declared.status == k_exit_ok);
  CHECK(contains(declared.out, "note: the model's GPU pins are ignored: --gpu describes"));
  // A pin without a device under the API is named, and nothing else is used instead.
  opts.declare.clear();
  opts.backend = "cuda";
  opts.gpus = {"big"};
  const PlanOutcome no_api = plan(opts, cfg, tools);
  CHECK(no_api.status == k_exit_failure);
  CHECK(contains(no_api.out, "note: pinned GPU \"big\" has no cuda device; it is left out"));
  CHECK(contains(no_api.out, "does not fit: no GPU among the pinned ones has a cuda device"));
}

TEST_CASE("askd plan: without --gpu the machine is probed - no GPU places on the CPU") {
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK(tools.calls == 5); // nvidia-smi, amd-smi, rocm-smi, vulkaninfo, xpu-smi
  CHECK(o.status == k_exit_ok);
  CHECK(contains(o.out, "none found"));
  CHECK(contains(o.out, "placement (cpu)"));
  CHECK(contains(o.out, "--device none -ngl 0"));
}

TEST_CASE("askd plan: --measured compares with a real startup log of the same settings") {
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  opts.ctx = 4096;
  opts.parallel = 4;
  opts.kv = "q8_0";
  opts.measured =
      k_fixtures + "llama-server/startup-tiny-llama-2L-hd32-f16-c4096-np4-q8kv-fa.log";
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK(o.status == k_exit_ok);
  CHECK(contains(o.out, "measured (startup log)"));
  CHECK(contains(o.out, "  CPU: model 0.0 MiB, KV 0.5 MiB, compute 2.0 MiB, output 0.5 MiB"));
  CHECK(contains(o.out, "  CPU_Mapped: model 4.1 MiB"));
  // The estimator reproduces this log; KV and compute differ only by the log's rounding
  // (0.53 MiB for 0.53125, 2.01 for 2.0107).
  CHECK(contains(o.out, "measured / estimated: weights 1.000, KV 0.998, compute 0.999"));
  opts.json = true;
  const auto j = nlohmann::json::parse(plan(opts, config::Config{}, tools).out);
  CHECK(j["measured"]["ratio"]["kv"] == doctest::Approx(0.53 / 0.53125).epsilon(1e-6));
  CHECK(j["measured"]["devices"].size() == 2);
  opts.measured = "/nonexistent/startup.log";
  const PlanOutcome missing = plan(opts, config::Config{}, tools);
  CHECK(missing.status == k_exit_usage);
  CHECK(contains(missing.err, "--measured /nonexistent/startup.log: cannot read"));
}

TEST_CASE("askd plan: bad input names what is wrong and exits 2") {
  TempDir dir;
  NoTools tools;
  const auto bad = [&](const PlanOptions& opts, std::string_view needle) {
    const PlanOutcome o = plan(opts, config::Config{}, tools);
    CHECK(o.status == k_exit_usage);
    CHECK_MESSAGE(contains(o.err, needle), o.err);
    CHECK(o.out.empty());
  };
  PlanOptions missing;
  missing.target = (dir.path() / "nope.gguf").string();
  bad(missing, "nope.gguf: ");
  PlanOptions garbage;
  garbage.target = dir.write("garbage.gguf", "GGUF\x03\0\0\0 not really").string();
  bad(garbage, "garbage.gguf: ");
  PlanOptions gpu;
  gpu.target = k_tiny_gguf;
  for (const char* spec : {"cuda:0", "opencl:0:8GiB", "cuda:x:8GiB", "cuda:0:8 potatoes",
                           "cuda:0:8GiB:9GiB", "cpu:0:8GiB", "cuda:300:8GiB"}) {
    CAPTURE(spec);
    gpu.declare = {spec};
    bad(gpu, std::string("--gpu \"") + spec + "\"");
  }
  PlanOptions kv;
  kv.target = k_tiny_gguf;
  kv.kv = "q3_k";
  bad(kv, "q3_k");
  PlanOptions backend;
  backend.target = k_tiny_gguf;
  backend.backend = "opengl";
  bad(backend, "--backend: \"opengl\" is not one of");
  PlanOptions fa;
  fa.target = k_tiny_gguf;
  fa.flash_attn = "maybe";
  bad(fa, "--flash-attn");
}

TEST_CASE("askd plan: the default API is a vendor's, but not ROCm seen only through sysfs") {
  const auto card = [](std::vector<std::pair<GpuApi, int>> index, std::vector<std::string> src) {
    router::Gpu g;
    g.index = std::move(index);
    g.sources = std::move(src);
    return g;
  };
  router::Inventory inv;
  const config::GpuConfig none;
  CHECK(default_api(inv, none) == GpuApi::cpu);
  inv.gpus = {card({{GpuApi::rocm, 0}, {GpuApi::vulkan, 0}}, {"sysfs", "vulkaninfo"})};
  inv.gpus[0].id = "radeon";
  CHECK(default_api(inv, none) == GpuApi::vulkan); // no rocm-smi: likely no ROCm runtime
  // A config entry that only sets the cap does not vouch for ROCm; a rocm index does.
  config::GpuConfig declared;
  declared.devices.emplace_back().id = "radeon";
  inv.gpus[0].sources.emplace_back("config");
  CHECK(default_api(inv, declared) == GpuApi::vulkan);
  declared.devices[0].backend_index = {{GpuApi::rocm, 0}};
  CHECK(default_api(inv, declared) == GpuApi::rocm);
  inv.gpus[0].sources = {"rocm-smi", "vulkaninfo"};
  CHECK(default_api(inv, none) == GpuApi::rocm);
  inv.gpus = {card({{GpuApi::rocm, 0}}, {"sysfs"})};
  CHECK(default_api(inv, none) == GpuApi::rocm); // nothing else to run it with
  inv.gpus.push_back(card({{GpuApi::cuda, 0}, {GpuApi::vulkan, 2}}, {"nvidia-smi", "vulkaninfo"}));
  CHECK(default_api(inv, none) == GpuApi::cuda);
}

TEST_CASE("askd plan: a model askd does not place is refused with its backend named") {
  TempDir dir;
  auto loaded = config::testing::parse(config::testing::with_models({R"("m": {"backend": "ollama"})"}));
  REQUIRE(loaded.has_value());
  NoTools tools;
  PlanOptions opts;
  opts.target = "m";
  const PlanOutcome o = plan(opts, loaded->config, tools);
  CHECK(o.status == k_exit_usage);
  CHECK(contains(o.err, "runs on backend \"ollama\""));
}

TEST_CASE("askd plan: the command line parses options and --config after MODEL") {
  TempDir dir;
  const PlanOutcome help = askd({"plan", "--help"}, dir);
  CHECK(help.status == k_exit_ok);
  CHECK(contains(help.out, "API:INDEX:SIZE[:FREE]"));
  CHECK(contains(help.out, "docs/vram.md"));
  const PlanOutcome none = askd({"plan"}, dir);
  CHECK(none.status == k_exit_usage);
  CHECK(contains(none.err, "MODEL is required"));
  const auto cfg = dir.write("c.jsonc", R"({"gpus": {"probe": false, "devices": [
      {"id": "g", "vram": "16GiB", "backend_index": {"rocm": 0}}]}})");
  const PlanOutcome o = askd(
      {"plan", k_tiny_gguf, "--config", cfg.string(), "--ctx", "1024", "--backend", "hip"}, dir);
  CHECK(o.status == k_exit_ok);
  CHECK(contains(o.out, "placement (rocm)"));
  CHECK(contains(o.out, "--device ROCm0"));
  CHECK(contains(o.out, "HIP_VISIBLE_DEVICES=0 llama-server -m "));
  const PlanOutcome range = askd({"plan", k_tiny_gguf, "--parallel", "0"}, dir);
  CHECK(range.status == k_exit_usage);
}

} // namespace ask::proxy

namespace ask::proxy {

TEST_CASE("askd plan: draft \"auto\" picks the file askd would spawn with, and counts it") {
  TempDir dir;
  const auto model = write_model(dir.path() / "big.gguf", 8, 128);
  const auto small = write_model(dir.path() / "small.gguf", 2, 64);
  const config::Config cfg = cpu_config(dir, model, R"(, "draft": "auto")");
  NoTools tools;
  PlanOptions opts;
  opts.target = "m";
  const PlanOutcome o = plan(opts, cfg, tools);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "draft    " + small.string()));
  CHECK(contains(o.out, "  draft model "));
  CHECK(contains(o.out, "note: draft \"auto\": small.gguf, the smallest compatible .gguf file "
                        "beside the model\n"));
  tg::write_bytes(dir.path() / "junk.gguf", "junk");
  CHECK(contains(plan(opts, cfg, tools).out, "beside the model (1 other passed over)"));
  CHECK(contains(o.out, "--spec-type draft-simple -md " + small.string() + " -devd none"));
  PlanOptions by_path; // --draft auto on a file
  by_path.target = model.string();
  by_path.draft = "auto";
  by_path.json = true;
  const PlanOutcome j = plan(by_path, config::Config{}, tools);
  CHECK(j.status == k_exit_ok);
  const auto doc = nlohmann::json::parse(j.out);
  CHECK(doc["draft"] == small.string());
  CHECK(doc["mtp"] == false);
  CHECK(doc["estimate"]["draft"].get<std::uint64_t>() > 0);
}

TEST_CASE("askd plan: mtp shows the MTP layers, KV and compute, and passes draft-mtp") {
  TempDir dir;
  const auto model = write_model(dir.path() / "glm.gguf", 4, 64, 1);
  NoTools tools;
  PlanOptions opts;
  opts.target = model.string();
  opts.mtp = true;
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "MTP      the model's 1 MTP layer drafts (--spec-type draft-mtp)"));
  CHECK(contains(o.out, "  MTP layers' weights "));
  CHECK(contains(o.out, "  MTP context KV cache "));
  CHECK(contains(o.out, "  MTP context compute "));
  CHECK(contains(o.out, "--spec-type draft-mtp -ctkd f16 -ctvd f16"));
  opts.json = true;
  const auto doc = nlohmann::json::parse(plan(opts, config::Config{}, tools).out);
  CHECK(doc["mtp"] == true);
  CHECK(doc["estimate"]["n_layer_nextn"] == 1);
  CHECK(doc["estimate"]["mtp_compute"].get<std::uint64_t>() > 0);
  CHECK(doc["estimate"]["mtp_kv"].get<std::uint64_t>() > 0);
  CHECK(contains(doc["plan"]["args"].dump(), "draft-mtp"));

  // Without --mtp the MTP layer is not loaded: the plan says so.
  PlanOptions off;
  off.target = model.string();
  CHECK(contains(plan(off, config::Config{}, tools).out,
                 "note: 1 MTP layer (nextn_predict_layers) not loaded: mtp is off"));
}

TEST_CASE("askd plan: mtp from the config - refused without MTP layers - --draft replaces it") {
  TempDir dir;
  const auto plain = write_model(dir.path() / "plain.gguf", 4, 64);
  NoTools tools;
  PlanOptions opts;
  opts.target = "m";
  const PlanOutcome none = plan(opts, cpu_config(dir, plain, R"(, "mtp": true)"), tools);
  CHECK(none.status == k_exit_usage);
  CHECK(contains(none.err, "mtp: " + plain.string() + " has no MTP layers "
                           "(llama.nextn_predict_layers is missing)"));

  const auto glm = write_model(dir.path() / "glm.gguf", 4, 64, 1);
  const config::Config cfg = cpu_config(dir, glm, R"(, "mtp": true)");
  CHECK(contains(plan(opts, cfg, tools).out, "--spec-type draft-mtp"));
  opts.draft = plain.string();
  const PlanOutcome replaced = plan(opts, cfg, tools);
  CHECK_MESSAGE(replaced.status == k_exit_ok, replaced.err);
  CHECK(contains(replaced.out, "note: the model's MTP is left out: --draft replaces it"));
  CHECK_FALSE(contains(replaced.out, "draft-mtp"));
  opts.mtp = true;
  const PlanOutcome both = plan(opts, cfg, tools);
  CHECK(both.status == k_exit_usage);
  CHECK(contains(both.err, "--draft and --mtp: llama-server runs one draft context"));
}

TEST_CASE("askd plan: --mtp and --draft auto on the command line") {
  TempDir dir;
  const auto model = write_model(dir.path() / "glm.gguf", 4, 64, 1);
  const auto cfg = dir.write("c.jsonc", R"({"gpus": {"probe": false}})").string();
  const PlanOutcome o =
      askd({"plan", model.string(), "--mtp", "--gpu", "vulkan:0:8GiB", "--config", cfg}, dir);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "--spec-type draft-mtp"));
  const PlanOutcome a = askd({"plan", model.string(), "--draft", "auto", "--config", cfg}, dir);
  CHECK(a.status == k_exit_usage);
  CHECK(contains(a.err, "draft \"auto\": no draft model for glm.gguf in "));
}

} // namespace ask::proxy

namespace ask::proxy {

TEST_CASE(
    "askd plan: unset settings are llama-server's defaults, marked so: auto slots share a cache") {
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "context  2048 tokens (one cache shared by 4 slots)"));
  CHECK(contains(o.out, "\nsettings\n  parallel                        4 (llama-server default: "
                        "auto)\n  kv_unified                      on (llama-server default when "
                        "parallel is auto)\n"));
  CHECK(contains(o.out, "  batch                           2048 (llama-server default)\n"));
  CHECK(contains(o.out, "  ubatch                          512 (llama-server default)\n"));
  CHECK(contains(o.out, "  mmap                            on (llama-server default)\n"));
  CHECK(contains(o.out, "  override_tensors                none (llama-server default)\n"));
  // Pinned on the command line all the same: the scheduler counts 4 slots.
  CHECK(contains(o.out, "-c 2048 -np 4 -ctk f16 -ctv f16 -fa on --kv-unified --device none"));
  // -np given: llama-server's default is then a cache per slot.
  opts.parallel = 2;
  const PlanOutcome two = plan(opts, config::Config{}, tools);
  CHECK(contains(two.out, "  parallel                        2\n"));
  CHECK(contains(two.out, "  kv_unified                      off (llama-server default when "
                          "parallel is given)\n"));
  CHECK(contains(two.out, "-np 2 -ctk f16 -ctv f16 -fa on --device none"));
}

TEST_CASE(
    "askd plan: --batch, --ubatch, --swa-full, --no-kv-offload, --no-mmap, --override-tensor") {
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  opts.batch = 1024;
  opts.ubatch = 256;
  opts.kv_unified = false;
  opts.swa_full = true;
  opts.no_kv_offload = true;
  opts.no_mmap = true;
  opts.override_tensors = {"blk\\.0\\.ffn_.*=CPU,output=CPU", "exps=CPU"};
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "-np 4 -ctk f16 -ctv f16 -fa on -b 1024 -ub 256 --swa-full -nkvo "
                        "--no-mmap -ot 'blk\\.0\\.ffn_.*=CPU,output=CPU,exps=CPU' --device none"));
  CHECK(contains(o.out, "  kv_unified                      off\n"));
  CHECK(contains(o.out, "  override_tensors                blk\\.0\\.ffn_.*=CPU, output=CPU, "
                        "exps=CPU\n"));
  opts.json = true;
  const auto j = nlohmann::json::parse(plan(opts, config::Config{}, tools).out);
  CHECK(j["settings"]["values"]["ubatch"] == 256);
  CHECK(j["settings"]["values"]["kv_unified"] == false);
  CHECK(j["settings"]["values"]["mmap"] == false);
  CHECK(j["settings"]["values"]["override_tensors"].size() == 3);
  CHECK(j["settings"]["defaults"] ==
        nlohmann::json::array({"parallel", "ctx", "kv_cache_type", "flash_attn", "n_cpu_moe"}));
}

TEST_CASE("askd plan: a config model's memory settings, and the options over them") {
  TempDir dir;
  const config::Config cfg = managed_config(
      dir, R"(, "ubatch": 128, "kv_unified": true, "override_tensors": ["output=CPU"],)"
           R"( "extra_args": ["-nkvo", "--jinja"])");
  NoTools tools;
  PlanOptions opts;
  opts.target = "tiny";
  const PlanOutcome o = plan(opts, cfg, tools);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "context  4096 tokens (one cache shared by 4 slots)"));
  CHECK(contains(o.out, "  kv_unified                      on\n"));
  CHECK(contains(o.out, "  kv_offload                      off\n")); // from extra_args
  CHECK(contains(o.out, "-fa on --kv-unified -ub 128 -nkvo -ot output=CPU --device"));
  opts.override_tensors = {"exps=CPU"}; // replaces the model's list
  opts.ubatch = 512;
  const PlanOutcome over = plan(opts, cfg, tools);
  CHECK(contains(over.out, "-fa on --kv-unified -nkvo -ot exps=CPU --device"));
  CHECK(contains(over.out, "  ubatch                          512\n")); // asked for: no mark
}

TEST_CASE("askd plan: a bad --override-tensor is bad input, naming the item") {
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  for (const auto& [item, needle] :
       {std::pair{"exps=CUDA0", "--override-tensor \"exps=CUDA0\": buffer type \"CUDA0\" would "
                                "put tensors on a device"},
        std::pair{"a=CPU,(=CPU", "--override-tensor \"(=CPU\": invalid regular expression"},
        std::pair{"exps", "--override-tensor \"exps\": expected PATTERN=CPU"}}) {
    CAPTURE(item);
    opts.override_tensors = {item};
    const PlanOutcome o = plan(opts, config::Config{}, tools);
    CHECK(o.status == k_exit_usage);
    CHECK_MESSAGE(contains(o.err, needle), o.err);
    CHECK(o.out.empty());
  }
}

TEST_CASE("askd plan: the memory options on the command line") {
  TempDir dir;
  const auto cfg = dir.write("c.jsonc", R"({"gpus": {"probe": false}})").string();
  const PlanOutcome o =
      askd({"plan", k_tiny_gguf, "--config", cfg, "--ubatch", "64", "--batch", "128",
            "--no-kv-unified", "--swa-full", "--no-kv-offload", "--no-mmap", "--override-tensor",
            "a=CPU", "--override-tensor", "b=CPU"},
           dir);
  CHECK_MESSAGE(o.status == k_exit_ok, o.err);
  CHECK(contains(o.out, "-np 4 -ctk f16 -ctv f16 -fa on -b 128 -ub 64 --swa-full -nkvo --no-mmap "
                        "-ot a=CPU,b=CPU"));
  const PlanOutcome kvu =
      askd({"plan", k_tiny_gguf, "--config", cfg, "--parallel", "2", "--kv-unified"}, dir);
  CHECK(contains(kvu.out, "-np 2 -ctk f16 -ctv f16 -fa on --kv-unified"));
  CHECK(askd({"plan", k_tiny_gguf, "--kv-unified", "--no-kv-unified"}, dir).status == k_exit_usage);
  CHECK(askd({"plan", k_tiny_gguf, "--ubatch", "0"}, dir).status == k_exit_usage);
  const PlanOutcome help = askd({"plan", "--help"}, dir);
  for (const char* option : {"--batch", "--ubatch", "--kv-unified", "--no-kv-unified", "--swa-full",
                             "--override-tensor", "--no-kv-offload", "--no-mmap"}) {
    CAPTURE(option);
    CHECK(contains(help.out, option));
  }
}

TEST_CASE("askd plan: --rpc places on rpc-server devices and says what crosses the network") {
  TempDir dir;
  const auto model = write_sparse_model(dir.path() / "big.gguf", 8, 2048); // about 600 MiB
  NoTools tools;
  PlanOptions opts;
  opts.target = model.string();
  opts.backend = "cpu";
  opts.ctx = 1024;
  opts.parallel = 1;
  opts.rpc = {"127.0.0.1:50152=400MiB", "127.0.0.1:50153=400MiB"};
  opts.host_memory = "8GiB";
  const PlanOutcome o = plan(opts, config::Config{}, tools);
  CHECK_MESSAGE(o.status == k_exit_ok, o.out, o.err);
  CHECK(
      contains(o.out, "rpc devices\n  rpc0  device 0 of 127.0.0.1:50152\n      usable 400.0 MiB"));
  CHECK(contains(o.out, "  rpc0  RPC0  "));
  CHECK(contains(o.out, "  rpc1  RPC1  "));
  CHECK(contains(o.out, " layers + output, "));
  CHECK(contains(o.out, "network: the hidden state (n_embd × 4 B = 8.0 KiB) crosses the network "
                        "3 times per token: 24.0 KiB per token"));
  CHECK(contains(o.out, "and the logits (n_vocab × 4 B = 0.1 KiB per sampled token)"));
  CHECK(
      contains(o.out, "expected buffers (this split, as llama.cpp allocates them)\n  RPC0: model"));
  CHECK(contains(o.out, "llama-server -m " + model.string() +
                            " --rpc 127.0.0.1:50152,127.0.0.1:50153 -c 1024 -np 1"));
  CHECK(contains(o.out, "--device RPC0,RPC1 -ngl 9 --split-mode layer --tensor-split "));

  opts.json = true;
  const auto j = nlohmann::json::parse(plan(opts, config::Config{}, tools).out);
  CHECK(j["fits"] == true);
  CHECK(j["plan"]["rpc"] == nlohmann::json::array({"127.0.0.1:50152", "127.0.0.1:50153"}));
  CHECK(j["plan"]["gpus"][0]["device"] == "RPC0");
  CHECK(j["plan"]["gpus"][0]["remote"] == true);
  CHECK(j["network"]["crossings_per_token"] == 3);
  CHECK(j["network"]["hidden_state_bytes"] == 8192);
  REQUIRE(j["layout"].size() == 3);
  CHECK(j["layout"][2]["device"] == "host");
  CHECK(j["host_memory"]["total"] == 8ull << 30);
  CHECK(j["gpus"][0]["kind"] == "rpc");
  CHECK(j["gpus"][0]["endpoint"] == "127.0.0.1:50152");
}

TEST_CASE("askd plan: a bare --rpc takes the config's size - bad ones are bad input") {
  TempDir dir;
  const auto cfg = dir.write("c.jsonc", R"({"gpus": {"probe": false, "rpc": [
      {"id": "box", "endpoint": "10.0.0.2:50052", "memory": "48GiB"}]}})")
                       .string();
  const PlanOutcome known = askd({"plan", k_tiny_gguf, "--config", cfg, "--backend", "cpu", "--rpc",
                                  "10.0.0.2:50052", "--rpc", "10.0.0.3:50052=1GiB", "--json"},
                                 dir);
  REQUIRE_MESSAGE(known.status == k_exit_ok, known.err);
  const auto j = nlohmann::json::parse(known.out);
  CHECK(j["gpus"][0]["id"] == "box");
  CHECK(j["gpus"][0]["usable"] == 48ull << 30);
  CHECK(j["gpus"][1]["id"] == "rpc1");
  CHECK(j["plan"]["gpus"][0]["gpu"] == "rpc1"); // the smallest device that holds it
  for (const auto& [spec, needle] : std::vector<std::pair<std::string, std::string>>{
           {"nohost=1GiB", "--rpc \"nohost=1GiB\": expected host:port"},
           {"h:0=1GiB", "the port must be a number from 1 to 65535"},
           {"h:50052=24", "size 24 is less than 256 MiB"}}) {
    CAPTURE(spec);
    const PlanOutcome o = askd({"plan", k_tiny_gguf, "--config", cfg, "--rpc", spec}, dir);
    CHECK(o.status == k_exit_usage);
    CHECK_MESSAGE(contains(o.err, needle), o.err);
  }
  const PlanOutcome twice =
      askd({"plan", k_tiny_gguf, "--config", cfg, "--rpc", "h:1=1GiB", "--rpc", "h:1=2GiB"}, dir);
  CHECK(twice.status == k_exit_usage);
  CHECK(contains(twice.err, "--rpc \"h:1=2GiB\": h:1 is given twice"));
}

TEST_CASE("askd plan: a bare --rpc the config does not size is asked of the server") {
  TempDir dir;
  const auto model = write_sparse_model(dir.path() / "big.gguf", 8, 2048);
  config::Config cfg = cpu_config(dir, model);
  cfg.presets.front().binary = "/opt/cpu/llama-server";
  std::vector<std::vector<std::string>> ran;
  const router::ToolRunner run = [&](const router::ToolCommand& c) -> core::Result<std::string> {
    ran.push_back(c.argv);
    if (c.argv.size() == 4 && c.argv[1] == "--rpc" && c.argv[2] == "127.0.0.1:50252") {
      return "Available devices:\n  RPC0: 127.0.0.1:50252 (24105 MiB, 24105 MiB free)\n";
    }
    if (c.argv.size() == 4 && c.argv[1] == "--rpc") {
      return "0.00.003.781 E Failed to connect to " + c.argv[2] +
             "\nAvailable devices:\n  (none)\n";
    }
    return core::fail(core::Error::not_found(c.argv[0] + ": not installed"));
  };
  PlanOptions opts;
  opts.target = "m";
  opts.parallel = 1;
  opts.rpc = {"127.0.0.1:50252", "127.0.0.1:50299"};
  opts.host_memory = "8GiB";
  std::ostringstream out;
  std::ostringstream err;
  const int status = run_plan(opts, cfg, out, err, run);
  CHECK_MESSAGE(status == k_exit_ok, out.str(), err.str());
  const std::vector<std::string> asked = {"/opt/cpu/llama-server", "--rpc", "127.0.0.1:50252",
                                          "--list-devices"};
  CHECK(std::ranges::count(ran, asked) == 1);
  CHECK(contains(out.str(), "rpc devices\n  rpc0  device 0 of 127.0.0.1:50252\n      23.54 GiB "
                            "total, 23.54 GiB free, usable 22.36 GiB (reported)\n"));
  CHECK(contains(out.str(), "warning: rpc device rpc0 (device 0 of 127.0.0.1:50252) reports all "
                            "of its 23.54 GiB free, as a CPU device does"));
  CHECK(contains(out.str(), "warning: rpc device rpc1 (device 0 of 127.0.0.1:50299): its server "
                            "could not be asked: /opt/cpu/llama-server: Failed to connect to "
                            "127.0.0.1:50299; it is left out (declare its memory in gpus.rpc)"));
  CHECK(contains(out.str(), "  rpc0  RPC0  8 layers + output, "));
  CHECK(contains(out.str(), " --rpc 127.0.0.1:50252 -c 1024 -np 1"));
}

TEST_CASE("askd plan: host memory from /proc/meminfo, --host-memory, or not checked with --gpu") {
  TempDir dir;
  NoTools tools;
  PlanOptions opts;
  opts.target = k_tiny_gguf;
  opts.meminfo = dir.write("meminfo", "MemTotal:       24683784 kB\n"
                                      "MemFree:         1982164 kB\n"
                                      "MemAvailable:   22272772 kB\n");
  const PlanOutcome read = plan(opts, config::Config{}, tools);
  CHECK(read.status == k_exit_ok);
  CHECK(contains(read.out, "host memory\n  23.54 GiB total, 21.24 GiB available, usable 19.24 GiB "
                           "(cap 21.19 GiB, reserve 2.00 GiB)"));
  CHECK(contains(read.out, "; charged 8.0 MiB of 19.24 GiB usable"));

  // 2.5 GiB free less the 2 GiB reserve: 512 MiB, too little for a 600 MiB model.
  const auto big = write_sparse_model(dir.path() / "big.gguf", 8, 2048);
  opts.target = big.string();
  opts.ctx = 1024;
  opts.host_memory = "4GiB:2.5GiB";
  const PlanOutcome short_host = plan(opts, config::Config{}, tools);
  CHECK(short_host.status == k_exit_failure);
  CHECK(contains(short_host.out, "does not fit: host memory: needs "));
  CHECK(contains(short_host.out, ", 512.0 MiB usable\n  host  needs "));
  opts.host_memory = "64GiB";
  CHECK(plan(opts, config::Config{}, tools).status == k_exit_ok);
  opts.host_memory = "1GiB:2GiB";
  const PlanOutcome bad = plan(opts, config::Config{}, tools);
  CHECK(bad.status == k_exit_usage);
  CHECK(contains(bad.err, "--host-memory \"1GiB:2GiB\": free is more than the size"));

  opts.host_memory.reset();
  opts.declare = {"cuda:0:24GiB"};
  const PlanOutcome other = plan(opts, config::Config{}, tools);
  CHECK(other.status == k_exit_ok);
  CHECK(contains(other.out, "note: host memory is not checked: --gpu describes another machine"));
  CHECK(contains(other.out, "host memory\n  not checked"));
}

} // namespace ask::proxy
