// CalibrationStore against real files in a temp folder: round trip, every key part, the
// damaged files it must survive (corrupt, truncated, wrong types, another version), the cap,
// atomic writes and two stores sharing one file.

#include "router/calibration_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using ask::router::CalibratedDevice;
using ask::router::CalibrationKey;
using ask::router::CalibrationStore;
using ask::router::DeviceBuffers;
using ask::router::EstimateInput;
using ask::router::FileIdentity;
using ask::router::memory_settings;
using ask::router::StoredCalibration;
using ask::testing::TempDir;
using Json = nlohmann::json;

constexpr double k_now = 1'780'000'000.0;

CalibrationKey key() {
  CalibrationKey k;
  k.model = {FileIdentity{"/models/tiny.gguf", 123456, 1'700'000'000'123'456'789}};
  k.build = 10587;
  k.binary = FileIdentity{"/opt/llama/llama-server", 9999, 1'700'000'001'000'000'000};
  k.settings = memory_settings(EstimateInput{});
  k.settings["api"] = "cuda";
  return k;
}

const std::vector<CalibratedDevice> k_gpu0 = {{"gpu0", "NVIDIA GeForce RTX 4090", "CUDA0"}};

StoredCalibration entry(double at = k_now, CalibrationKey k = key(),
                        std::vector<CalibratedDevice> devices = k_gpu0) {
  StoredCalibration e;
  e.key = std::move(k);
  e.devices = std::move(devices);
  e.model = "tiny";
  e.measured.devices = {DeviceBuffers{"CUDA0", 1000, 200, 0, 300, 0},
                        DeviceBuffers{"CPU_Mapped", 50, 0, 0, 0, 0},
                        DeviceBuffers{"CPU", 0, 0, 0, 40, 7}};
  e.measured.layers_offloaded = 3;
  e.measured.layers_total = 3;
  e.correction = {1.01, 1.0, 1.25};
  e.calibrated_at = at;
  return e;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& item : fs::directory_iterator(dir)) {
    out.push_back(item.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A file with one good entry and `bad` (JSON) as a second.
std::string file_with(const Json& bad) {
  Json doc = ask::router::to_json({entry()});
  doc["entries"].push_back(bad);
  return doc.dump(2);
}

} // namespace

TEST_CASE("CalibrationStore: a missing file is an empty store, without a warning") {
  TempDir dir;
  CalibrationStore store(dir.path() / "calibration.json");
  CHECK(store.load(k_now).empty());
  CHECK(store.entries().empty());
  CHECK(store.find(key(), k_gpu0) == nullptr);
  CHECK(listing(dir.path()).empty()); // reading creates nothing
}

TEST_CASE("CalibrationStore: what is saved is found again after a restart, field for field") {
  TempDir dir;
  const fs::path file = dir.path() / "state" / "ask" / "calibration.json"; // folders made
  {
    CalibrationStore store(file);
    CHECK(store.load(k_now).empty());
    CHECK(store.save(entry(), k_now).empty());
    REQUIRE(store.find(key(), k_gpu0) != nullptr);
  }
  CalibrationStore again(file);
  CHECK(again.load(k_now + 60).empty());
  const StoredCalibration* found = again.find(key(), k_gpu0);
  REQUIRE(found != nullptr);
  const StoredCalibration want = entry();
  CHECK(found->key == want.key);
  CHECK(found->devices == want.devices);
  CHECK(found->model == "tiny");
  CHECK(found->calibrated_at == doctest::Approx(k_now));
  CHECK(found->correction.weights == doctest::Approx(1.01));
  CHECK(found->correction.kv == doctest::Approx(1.0));
  CHECK(found->correction.compute == doctest::Approx(1.25));
  REQUIRE(found->measured.devices.size() == 3);
  CHECK(found->measured.devices[0].device == "CUDA0");
  CHECK(found->measured.devices[0].model == 1000);
  CHECK(found->measured.devices[0].kv == 200);
  CHECK(found->measured.devices[0].compute == 300);
  CHECK(found->measured.devices[2].output == 7);
  CHECK(found->measured.layers_offloaded == 3);
  CHECK(found->measured.layers_total == 3);
  // The file is the documented format, readable with jq.
  const Json doc = Json::parse(read_text(file));
  CHECK(doc["version"] == 1);
  CHECK(doc["entries"][0]["key"]["model_files"][0]["path"] == "/models/tiny.gguf");
  CHECK(doc["entries"][0]["key"]["build"] == 10587);
  CHECK(doc["entries"][0]["key"]["settings"]["ctx"] == 0);
  CHECK(doc["entries"][0]["devices"][0]["gpu"] == "gpu0");
}

TEST_CASE("CalibrationStore: an entry does not hold when any part of its key differs") {
  TempDir dir;
  CalibrationStore store(dir.path() / "calibration.json");
  store.save(entry(), k_now);
  REQUIRE(store.find(key(), k_gpu0) != nullptr);

  auto why = [&](const CalibrationKey& k, const std::vector<CalibratedDevice>& present) {
    CHECK(store.find(k, present) == nullptr);
    return store.why_not("tiny", k, present).value_or("(holds)");
  };
  SUBCASE("the model file was replaced") {
    CalibrationKey k = key();
    k.model[0].mtime_ns += 1;
    CHECK(why(k, k_gpu0).find("the model file changed") != std::string::npos);
    k = key();
    k.model[0].size += 1;
    CHECK(why(k, k_gpu0).find("the model file changed") != std::string::npos);
    k = key();
    k.model[0].path = "/models/other.gguf";
    CHECK(why(k, k_gpu0).find("another model file") != std::string::npos);
    k = key();
    k.model.push_back(FileIdentity{"/models/tiny-00002-of-00002.gguf", 1, 1});
    CHECK(why(k, k_gpu0).find("another model file") != std::string::npos);
  }
  SUBCASE("another llama.cpp build, or the binary rebuilt in place") {
    CalibrationKey k = key();
    k.build = 0;
    CHECK(why(k, k_gpu0).find("build 10587, now 0") != std::string::npos);
    k = key();
    k.binary->mtime_ns += 1'000'000'000;
    CHECK(why(k, k_gpu0).find("binary changed") != std::string::npos);
    k = key();
    k.binary.reset();
    CHECK(why(k, k_gpu0).find("binary changed") != std::string::npos);
  }
  SUBCASE("a setting that changes memory, named") {
    CalibrationKey k = key();
    k.settings["ctx"] = 4096;
    k.settings["parallel"] = 2;
    CHECK(why(k, k_gpu0) == "settings changed: ctx, parallel");
    k = key();
    k.settings["api"] = "vulkan";
    CHECK(why(k, k_gpu0) == "settings changed: api");
    k = key();
    k.settings.erase("mtp");
    CHECK(why(k, k_gpu0) == "settings changed: mtp");
  }
  SUBCASE("the GPU it ran on is gone, or is another card now") {
    CHECK(why(key(), {{"gpu1", "NVIDIA GeForce RTX 4090", "CUDA0"}}).find("does not have now") !=
          std::string::npos);
    CHECK(why(key(), {{"gpu0", "AMD Radeon AI PRO R9700", "Vulkan0"}}).find("gpu0 (NVIDIA") !=
          std::string::npos);
    // On the CPU now: a GPU's correction does not hold.
    CHECK(why(key(), {}) == "measured on GPUs; it runs on the CPU now");
  }
  SUBCASE("more GPUs than it ran on is fine; the llama.cpp device name is not compared") {
    const std::vector<CalibratedDevice> two = {{"gpu1", "Other", "CUDA1"},
                                               {"gpu0", "NVIDIA GeForce RTX 4090", "CUDA1"}};
    CHECK(store.find(key(), two) != nullptr);
    CHECK_FALSE(store.why_not("tiny", key(), two).has_value());
  }
}

TEST_CASE("CalibrationStore: an entry measured on the CPU alone holds only for the CPU") {
  TempDir dir;
  CalibrationStore store(dir.path() / "calibration.json");
  store.save(entry(k_now, key(), {}), k_now);
  CHECK(store.find(key(), {}) != nullptr);
  CHECK(store.find(key(), k_gpu0) == nullptr);
  CHECK(store.why_not("tiny", key(), k_gpu0) == "measured on the CPU alone; it runs on GPUs now");
}

TEST_CASE("CalibrationStore: the newest entry that holds wins - a same key and devices replace") {
  TempDir dir;
  CalibrationStore store(dir.path() / "calibration.json");
  const std::vector<CalibratedDevice> gpu1 = {{"gpu1", "NVIDIA GeForce RTX 4090", "CUDA0"}};
  StoredCalibration on_gpu1 = entry(k_now + 10, key(), gpu1);
  on_gpu1.correction.compute = 2.0;
  store.save(entry(k_now), k_now);
  store.save(on_gpu1, k_now + 10);
  std::vector<CalibratedDevice> both = k_gpu0;
  both.push_back(gpu1[0]);
  CHECK(store.find(key(), both)->correction.compute == 2.0);
  CHECK(store.find(key(), k_gpu0)->correction.compute == 1.25);
  CHECK(store.entries().size() == 2);

  StoredCalibration again = entry(k_now + 20);
  again.correction.compute = 1.5;
  store.save(again, k_now + 20);
  CHECK(store.entries().size() == 2); // replaced, not added
  CHECK(store.find(key(), both)->correction.compute == 1.5);
}

TEST_CASE("CalibrationStore: a corrupt file is reported with its position, moved aside, and "
          "the store starts afresh") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  write_text(file, "{\"version\": 1,\n \"entries\": [ nonsense ]}\n");
  CalibrationStore store(file);
  const auto problems = store.load(k_now);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find(file.string()) != std::string::npos);
  CHECK(problems[0].find("line 2") != std::string::npos);
  CHECK(problems[0].find("calibration.json.corrupt-1780000000") != std::string::npos);
  CHECK(store.entries().empty());
  CHECK(listing(dir.path()) == std::vector<std::string>{"calibration.json.corrupt-1780000000"});
  CHECK(read_text(dir.path() / "calibration.json.corrupt-1780000000").find("nonsense") !=
        std::string::npos); // kept for a look

  // The next calibration starts a good file; a second bad one in the same second gets ".1".
  CHECK(store.save(entry(), k_now).empty());
  CHECK(CalibrationStore(file).load(k_now).empty());
  write_text(file, "garbage");
  CHECK(CalibrationStore(file).load(k_now).size() == 1);
  CHECK(fs::exists(dir.path() / "calibration.json.corrupt-1780000000.1"));
}

TEST_CASE("CalibrationStore: a truncated file (a write cut short) is moved aside") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  const std::string good = ask::router::to_json({entry(), entry(k_now + 1, key(), {})}).dump(2);
  write_text(file, good.substr(0, good.size() / 2));
  CalibrationStore store(file);
  const auto problems = store.load(k_now);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("is not valid JSON") != std::string::npos);
  CHECK(store.entries().empty());
  CHECK_FALSE(fs::exists(file));
}

TEST_CASE("CalibrationStore: a file of another shape or version is moved aside too") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  for (const std::string text :
       {"[]", R"({"entries": []})", R"({"version": 2, "entries": []})",
        R"({"version": 1, "entries": {}})", R"({"version": "1", "entries": []})"}) {
    CAPTURE(text);
    write_text(file, text);
    CalibrationStore store(file);
    const auto problems = store.load(k_now);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("is not a calibration file") != std::string::npos);
    CHECK_FALSE(fs::exists(file));
  }
}

TEST_CASE("CalibrationStore: a folder where the file should be is moved aside, not a crash") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  fs::create_directory(file);
  CalibrationStore store(file);
  const auto problems = store.load(k_now);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("not a regular file") != std::string::npos);
  CHECK(store.save(entry(), k_now).empty());
  CHECK(fs::is_regular_file(file));
}

TEST_CASE("CalibrationStore: entries with wrong types or unknown fields are skipped, the rest "
          "kept, each named once") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  Json bad = ask::router::to_json({entry()})["entries"][0];
  std::string expect;
  SUBCASE("a size as a string") {
    bad["key"]["model_files"][0]["size"] = "123456";
    expect = "key.model_files[0].size must be a whole number of 0 or more, not string";
  }
  SUBCASE("a negative size") {
    bad["measured"]["buffers"][0]["kv"] = -1;
    expect = "measured.buffers[0].kv must be a whole number of 0 or more";
  }
  SUBCASE("an unknown field") {
    bad["devices"][0]["uuid"] = "GPU-1234";
    expect = "unknown field \"devices[0].uuid\"";
  }
  SUBCASE("a missing field") {
    bad["correction"].erase("kv");
    expect = "correction.kv is missing";
  }
  SUBCASE("a correction of zero") {
    bad["correction"]["compute"] = 0;
    expect = "correction.compute must be a number above 0";
  }
  SUBCASE("settings that are not an object") {
    bad["key"]["settings"] = Json::array();
    expect = "key.settings must be an object, not array";
  }
  SUBCASE("a build out of range") {
    bad["key"]["build"] = 1e12;
    expect = "key.build must be a whole number, not number";
  }
  SUBCASE("an entry that is not an object") {
    bad = 42;
    expect = "is not an object";
  }
  write_text(file, file_with(bad));
  CalibrationStore store(file);
  const auto problems = store.load(k_now);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find(file.string()) != std::string::npos);
  CHECK(problems[0].find("entry 1 skipped: ") != std::string::npos);
  CHECK_MESSAGE(problems[0].find(expect) != std::string::npos, problems[0]);
  CHECK(store.entries().size() == 1);
  CHECK(store.find(key(), k_gpu0) != nullptr);
  CHECK(fs::exists(file)); // not moved aside: one bad entry is not a bad file
  // The next write drops it, without naming it again.
  CHECK(store.save(entry(k_now + 1, key(), {}), k_now + 1).empty());
  CHECK(CalibrationStore(file).load(k_now).empty());
  CHECK(Json::parse(read_text(file))["entries"].size() == 2);
}

TEST_CASE("CalibrationStore: past its cap the oldest entries go") {
  TempDir dir;
  CalibrationStore store(dir.path() / "calibration.json", 3);
  for (int i = 0; i < 5; ++i) {
    CalibrationKey k = key();
    k.settings["ctx"] = 1024 * (i + 1);
    // Saved out of time order: the times decide, not the order of the calls.
    const double at = k_now + (i == 4 ? -100 : i);
    store.save(entry(at, k), at);
  }
  CalibrationStore again(dir.path() / "calibration.json");
  again.load(k_now);
  std::vector<Json> ctx;
  for (const StoredCalibration& e : again.entries()) {
    ctx.push_back(e.key.settings["ctx"]);
  }
  CHECK(ctx == std::vector<Json>{2048, 3072, 4096}); // the oldest (i = 4, then i = 0) went
}

TEST_CASE("CalibrationStore: a write leaves the file and nothing else - a failed one says why") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  CalibrationStore store(file);
  for (int i = 0; i < 3; ++i) {
    CHECK(store.save(entry(k_now + i), k_now + i).empty());
  }
  CHECK(listing(dir.path()) == std::vector<std::string>{"calibration.json"});

  // Its folder cannot be made (a file is in the way): a warning, no exception.
  write_text(dir.path() / "blocked", "");
  CalibrationStore blocked(dir.path() / "blocked" / "calibration.json");
  const auto problems = blocked.save(entry(), k_now);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("not kept in") != std::string::npos);
  CHECK(blocked.entries().size() == 1); // it holds while askd runs
}

TEST_CASE("CalibrationStore: two stores on one file keep each other's entries - a file deleted "
          "while askd runs stays reset") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  CalibrationStore a(file);
  CalibrationStore b(file);
  a.load(k_now);
  b.load(k_now); // both read the empty file
  CalibrationKey other = key();
  other.settings["ctx"] = 8192;
  a.save(entry(k_now), k_now);
  b.save(entry(k_now + 1, other), k_now + 1); // re-reads the file: a's entry is kept
  CalibrationStore c(file);
  c.load(k_now);
  CHECK(c.entries().size() == 2);

  fs::remove(file); // the documented reset
  a.save(entry(k_now + 2, other, {}), k_now + 2);
  CalibrationStore d(file);
  d.load(k_now);
  CHECK(d.entries().size() == 1);
}

TEST_CASE("CalibrationStore: stores writing one file at the same time never tear it") {
  TempDir dir;
  const fs::path file = dir.path() / "calibration.json";
  auto writer = [&](int who) {
    CalibrationStore store(file);
    for (int i = 0; i < 25; ++i) {
      CalibrationKey k = key();
      k.settings["ctx"] = 1000 * who + i;
      store.save(entry(k_now + i, k), k_now + i);
    }
  };
  std::thread a(writer, 1);
  std::thread b(writer, 2);
  a.join();
  b.join();
  CalibrationStore after(file);
  CHECK(after.load(k_now).empty()); // whole: every write was a rename of a complete file
  // Last writer wins: an entry another store wrote in between may be lost, never garbled.
  CHECK_FALSE(after.entries().empty());
  for (const StoredCalibration& e : after.entries()) {
    CHECK(e.correction.compute == 1.25);
  }
  CHECK(listing(dir.path()) == std::vector<std::string>{"calibration.json"}); // no temp left
}
