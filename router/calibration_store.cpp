#include "router/calibration_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <ranges>
#include <set>

#include "core/small_file.h"
#include "core/json_text.h"
#include "core/unique_fd.h"

namespace ask::router {

namespace fs = std::filesystem;

namespace {

constexpr int k_format_version = 1;

// --- reading the file's JSON strictly ------------------------------------------------------

// One JSON object's fields, read strictly. The first problem (not an object, a field missing
// or of the wrong type, a field not read) goes to `error`, shared by the nested readers of one
// entry; after it every read returns a default.
class Fields {
public:
  Fields(const nlohmann::json& json, std::string where, std::optional<std::string>& error)
      : m_json(json), m_where(std::move(where)), m_error(error) {
    if (!m_json.is_object()) {
      fail(m_where + " is not an object");
    }
  }

  const nlohmann::json* get(std::string_view key) {
    m_seen.emplace(key);
    if (m_error || !m_json.is_object()) {
      return nullptr;
    }
    const auto it = m_json.find(key);
    if (it == m_json.end()) {
      fail(path(key) + " is missing");
      return nullptr;
    }
    return &*it;
  }
  std::string string(std::string_view key) {
    const nlohmann::json* v = typed(key, &nlohmann::json::is_string, "a string");
    return v != nullptr ? v->get<std::string>() : "";
  }
  std::uint64_t count(std::string_view key) {
    const nlohmann::json* v =
        typed(key, &nlohmann::json::is_number_unsigned, "a whole number of 0 or more");
    return v != nullptr ? v->get<std::uint64_t>() : 0;
  }
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const nlohmann::json* v = typed(key, &nlohmann::json::is_number_integer, "a whole number");
    if (v == nullptr) {
      return 0;
    }
    // An unsigned value above INT64_MAX is out of every range asked for.
    const bool fits = v->is_number_unsigned()
                          ? v->get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                          : v->get<std::int64_t>() >= min && v->get<std::int64_t>() <= max;
    if (!fits) {
      fail(path(key) + " is out of range");
      return 0;
    }
    return v->get<std::int64_t>();
  }
  // A finite number above 0.
  double positive(std::string_view key) {
    const nlohmann::json* v = typed(key, &nlohmann::json::is_number, "a number");
    if (v == nullptr) {
      return 0;
    }
    const double d = v->get<double>();
    if (!std::isfinite(d) || d <= 0) {
      fail(path(key) + " must be a number above 0");
      return 0;
    }
    return d;
  }
  const nlohmann::json* array(std::string_view key) {
    return typed(key, &nlohmann::json::is_array, "an array");
  }
  // Records the first field that was never read: a field this askd does not know.
  void done() {
    if (m_error || !m_json.is_object()) {
      return;
    }
    for (const auto& [k, v] : m_json.items()) {
      if (!m_seen.contains(k)) {
        fail("unknown field \"" + path(k) + "\"");
        return;
      }
    }
  }
  std::string path(std::string_view key) const {
    return m_where.empty() ? std::string(key) : m_where + "." + std::string(key);
  }

private:
  const nlohmann::json* typed(std::string_view key, bool (nlohmann::json::*is)() const noexcept,
                              const char* what) {
    const nlohmann::json* v = get(key);
    if (v != nullptr && !(v->*is)()) {
      fail(path(key) + " must be " + what + ", not " + v->type_name());
      return nullptr;
    }
    return v;
  }
  void fail(std::string message) {
    if (!m_error) {
      m_error = std::move(message);
    }
  }

  const nlohmann::json& m_json;
  std::string m_where;
  std::optional<std::string>& m_error;
  std::set<std::string, std::less<>> m_seen;
};

nlohmann::json file_json(const FileIdentity& f) {
  return {{"path", f.path}, {"size", f.size}, {"mtime_ns", f.mtime_ns}};
}

FileIdentity read_file_identity(const nlohmann::json& j, const std::string& where,
                                std::optional<std::string>& error) {
  Fields f(j, where, error);
  FileIdentity out;
  out.path = f.string("path");
  out.size = f.count("size");
  out.mtime_ns = f.integer("mtime_ns", std::numeric_limits<std::int64_t>::min(),
                           std::numeric_limits<std::int64_t>::max());
  f.done();
  return out;
}

nlohmann::json entry_json(const StoredCalibration& e) {
  nlohmann::json files = nlohmann::json::array();
  for (const FileIdentity& f : e.key.model) {
    files.push_back(file_json(f));
  }
  nlohmann::json devices = nlohmann::json::array();
  for (const CalibratedDevice& d : e.devices) {
    devices.push_back({{"gpu", d.gpu}, {"name", d.name}, {"device", d.device}});
  }
  nlohmann::json buffers = nlohmann::json::array();
  for (const DeviceBuffers& b : e.measured.devices) {
    buffers.push_back({{"device", b.device},
                       {"model", b.model},
                       {"kv", b.kv},
                       {"recurrent", b.recurrent},
                       {"compute", b.compute},
                       {"output", b.output}});
  }
  return {
      {"model", e.model},
      {"calibrated_at", e.calibrated_at},
      {"key",
       {{"model_files", std::move(files)},
        {"build", e.key.build},
        {"binary", e.key.binary ? file_json(*e.key.binary) : nlohmann::json(nullptr)},
        {"settings", e.key.settings}}},
      {"devices", std::move(devices)},
      {"measured",
       {{"buffers", std::move(buffers)},
        {"layers_offloaded", e.measured.layers_offloaded},
        {"layers_total", e.measured.layers_total}}},
      {"correction",
       {{"weights", e.correction.weights},
        {"kv", e.correction.kv},
        {"compute", e.correction.compute}}},
  };
}

CalibrationKey read_key(const nlohmann::json& j, std::optional<std::string>& error) {
  Fields f(j, "key", error);
  CalibrationKey key;
  if (const nlohmann::json* files = f.array("model_files")) {
    for (std::size_t i = 0; i < files->size(); ++i) {
      key.model.push_back(
          read_file_identity((*files)[i], "key.model_files[" + std::to_string(i) + "]", error));
    }
    if (files->empty() && !error) {
      error = "key.model_files is empty";
    }
  }
  key.build = static_cast<int>(f.integer("build", 0, std::numeric_limits<int>::max()));
  if (const nlohmann::json* binary = f.get("binary"); binary != nullptr && !binary->is_null()) {
    key.binary = read_file_identity(*binary, "key.binary", error);
  }
  if (const nlohmann::json* settings = f.get("settings")) {
    if (settings->is_object()) {
      key.settings = *settings;
    } else if (!error) {
      error = std::string("key.settings must be an object, not ") + settings->type_name();
    }
  }
  f.done();
  return key;
}

Calibration read_measured(const nlohmann::json& j, std::optional<std::string>& error) {
  Fields f(j, "measured", error);
  Calibration cal;
  if (const nlohmann::json* buffers = f.array("buffers")) {
    for (std::size_t i = 0; i < buffers->size(); ++i) {
      Fields b((*buffers)[i], "measured.buffers[" + std::to_string(i) + "]", error);
      DeviceBuffers d;
      d.device = b.string("device");
      d.model = b.count("model");
      d.kv = b.count("kv");
      d.recurrent = b.count("recurrent");
      d.compute = b.count("compute");
      d.output = b.count("output");
      b.done();
      cal.devices.push_back(std::move(d));
    }
  }
  constexpr std::int64_t k_layers_max = 1'000'000;
  cal.layers_offloaded = static_cast<int>(f.integer("layers_offloaded", -1, k_layers_max));
  cal.layers_total = static_cast<int>(f.integer("layers_total", -1, k_layers_max));
  f.done();
  return cal;
}

// One entry of the file; nullopt (and `error` set) when it cannot be taken.
std::optional<StoredCalibration> read_entry(const nlohmann::json& j,
                                            std::optional<std::string>& error) {
  Fields f(j, "", error);
  StoredCalibration e;
  e.model = f.string("model");
  if (const nlohmann::json* at = f.get("calibrated_at")) {
    if (!at->is_number() || !std::isfinite(at->get<double>())) {
      error = error.value_or("calibrated_at must be a number");
    } else {
      e.calibrated_at = at->get<double>();
    }
  }
  if (const nlohmann::json* key = f.get("key")) {
    e.key = read_key(*key, error);
  }
  if (const nlohmann::json* devices = f.array("devices")) {
    for (std::size_t i = 0; i < devices->size(); ++i) {
      Fields d((*devices)[i], "devices[" + std::to_string(i) + "]", error);
      CalibratedDevice dev;
      dev.gpu = d.string("gpu");
      dev.name = d.string("name");
      dev.device = d.string("device");
      d.done();
      e.devices.push_back(std::move(dev));
    }
  }
  if (const nlohmann::json* measured = f.get("measured")) {
    e.measured = read_measured(*measured, error);
  }
  if (const nlohmann::json* correction = f.get("correction")) {
    Fields c(*correction, "correction", error);
    e.correction.weights = c.positive("weights");
    e.correction.kv = c.positive("kv");
    e.correction.compute = c.positive("compute");
    c.done();
  }
  f.done();
  if (error) {
    return std::nullopt;
  }
  return e;
}

// --- the file -----------------------------------------------------------------------------

bool same_slot(const StoredCalibration& a, const StoredCalibration& b) {
  return a.key == b.key && a.devices == b.devices;
}

std::string seconds_text(double now) {
  return std::to_string(static_cast<long long>(std::floor(now)));
}

std::string device_list(const std::vector<CalibratedDevice>& devices) {
  std::string out;
  for (const CalibratedDevice& d : devices) {
    out += (out.empty() ? "" : ", ") + d.gpu + " (" + d.name + ")";
  }
  return out;
}

} // namespace

// --- matching -----------------------------------------------------------------------------

std::optional<std::string> mismatch(const StoredCalibration& entry, const CalibrationKey& key,
                                    const std::vector<CalibratedDevice>& present) {
  const CalibrationKey& was = entry.key;
  if (was.model != key.model) {
    const bool same_paths =
        std::equal(was.model.begin(), was.model.end(), key.model.begin(), key.model.end(),
                   [](const FileIdentity& a, const FileIdentity& b) { return a.path == b.path; });
    return same_paths ? "the model file changed (size or modification time)"
                      : "measured on another model file";
  }
  if (was.build != key.build) {
    return "measured with llama.cpp build " + std::to_string(was.build) + ", now " +
           std::to_string(key.build) + " (0 = unknown)";
  }
  if (was.binary != key.binary) {
    return "the llama-server binary changed (" +
           (was.binary ? was.binary->path : std::string("not found")) + ")";
  }
  if (was.settings != key.settings) {
    std::set<std::string> names;
    for (const nlohmann::json* s : {&was.settings, &key.settings}) {
      for (const auto& [k, v] : s->items()) {
        const auto a = was.settings.find(k);
        const auto b = key.settings.find(k);
        if (a == was.settings.end() || b == key.settings.end() || *a != *b) {
          names.insert(k);
        }
      }
    }
    std::string list;
    for (const std::string& n : names) {
      list += (list.empty() ? "" : ", ") + n;
    }
    return "settings changed: " + list;
  }
  if (entry.devices.empty() != present.empty()) {
    return entry.devices.empty() ? "measured on the CPU alone; it runs on GPUs now"
                                 : "measured on GPUs; it runs on the CPU now";
  }
  for (const CalibratedDevice& d : entry.devices) {
    const bool here = std::any_of(present.begin(), present.end(), [&](const CalibratedDevice& p) {
      return p.gpu == d.gpu && p.name == d.name;
    });
    if (!here) {
      return "measured on " + device_list(entry.devices) + ", which this machine does not have now";
    }
  }
  return std::nullopt;
}

nlohmann::json to_json(const std::vector<StoredCalibration>& entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const StoredCalibration& e : entries) {
    list.push_back(entry_json(e));
  }
  return {{"version", k_format_version}, {"entries", std::move(list)}};
}

core::Result<ParsedEntries> parse_entries(const nlohmann::json& doc) {
  if (!doc.is_object()) {
    return core::fail(core::Error::bad_request(std::string("the top level is ") + doc.type_name() +
                                               ", not an object"));
  }
  const auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() ||
      version->get<std::int64_t>() != k_format_version) {
    return core::fail(core::Error::bad_request(
        "\"version\" is " + (version == doc.end() ? std::string("missing") : version->dump()) +
        "; this askd reads version " + std::to_string(k_format_version)));
  }
  const auto list = doc.find("entries");
  if (list == doc.end() || !list->is_array()) {
    return core::fail(core::Error::bad_request("\"entries\" is missing or not an array"));
  }
  ParsedEntries out;
  for (const auto& [k, v] : doc.items()) {
    if (k != "version" && k != "entries") {
      out.skipped.push_back("unknown field \"" + k + "\" ignored");
    }
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::optional<std::string> error;
    if (auto e = read_entry((*list)[i], error)) {
      out.entries.push_back(std::move(*e));
    } else {
      out.skipped.push_back("entry " + std::to_string(i) + " skipped: " + *error);
    }
  }
  return out;
}

// --- the store ----------------------------------------------------------------------------

struct CalibrationStore::Read {
  std::vector<StoredCalibration> entries;
  std::vector<std::string> problems;
};

CalibrationStore::CalibrationStore(fs::path file, std::size_t cap)
    : m_file(std::move(file)), m_cap(std::max<std::size_t>(1, cap)) {}

CalibrationStore::Read CalibrationStore::read(double now) const {
  Read out;
  const std::string name = m_file.string();
  std::string text;
  std::optional<std::string> unusable;
  struct stat st {}; // of the file read, once opened
  bool opened = false;
  {
    const core::UniqueFd fd(::open(m_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return out; // nothing kept yet: an empty store (a write says what is in the way)
      }
      unusable = std::string("cannot be read: ") + std::strerror(errno);
    } else if (opened = ::fstat(fd.get(), &st) == 0; !opened || !S_ISREG(st.st_mode)) {
      unusable = "is not a regular file";
    } else if (static_cast<std::uintmax_t>(st.st_size) > k_max_file_bytes) {
      unusable = "is larger than " + std::to_string(k_max_file_bytes >> 20) + " MiB";
    } else {
      text.resize(static_cast<std::size_t>(st.st_size));
      std::size_t got = 0;
      while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          if (n < 0) {
            unusable = std::string("cannot be read: ") + std::strerror(errno);
          }
          break;
        }
        got += static_cast<std::size_t>(n);
      }
      text.resize(got);
    }
  }
  if (!unusable) {
    if (auto json = core::parse_json_text(text); !json) {
      unusable = "is not valid JSON (" + json.error().what + ")";
    } else if (auto parsed = parse_entries(*json); !parsed) {
      unusable = "is not a calibration file: " + parsed.error().message;
    } else {
      for (const std::string& s : parsed->skipped) {
        out.problems.push_back("calibration: " + name + ": " + s);
      }
      out.entries = std::move(parsed->entries);
      std::stable_sort(out.entries.begin(), out.entries.end(),
                       [](const StoredCalibration& a, const StoredCalibration& b) {
                         return a.calibrated_at < b.calibrated_at;
                       });
      return out;
    }
  }
  // Moved aside, so that the next write starts a good file and the bad one is kept for a look;
  // unless another askd has replaced it meanwhile (by rename: a new inode).
  struct stat now_st {};
  if (opened && (::stat(m_file.c_str(), &now_st) != 0 || now_st.st_ino != st.st_ino ||
                 now_st.st_dev != st.st_dev)) {
    return out;
  }
  fs::path aside = name + ".corrupt-" + seconds_text(now);
  for (int n = 1; fs::exists(aside) && n < 1000; ++n) {
    aside = name + ".corrupt-" + seconds_text(now) + "." + std::to_string(n);
  }
  if (::rename(m_file.c_str(), aside.c_str()) == 0) {
    out.problems.push_back("calibration: " + name + " " + *unusable + "; moved it to " +
                           aside.string() + " and started afresh");
  } else {
    out.problems.push_back("calibration: " + name + " " + *unusable + "; cannot move it aside (" +
                           std::strerror(errno) +
                           "): starting afresh, the next calibration "
                           "replaces it");
  }
  return out;
}

std::vector<std::string> CalibrationStore::once(std::vector<std::string> problems) {
  std::erase_if(problems, [&](const std::string& p) { return !m_reported.insert(p).second; });
  return problems;
}

std::vector<std::string> CalibrationStore::load(double now) {
  Read r = read(now);
  m_entries = std::move(r.entries);
  return once(std::move(r.problems));
}

const StoredCalibration*
CalibrationStore::find(const CalibrationKey& key,
                       const std::vector<CalibratedDevice>& present) const {
  for (const auto& entry : m_entries | std::views::reverse) { // newest first
    if (!mismatch(entry, key, present)) {
      return &entry;
    }
  }
  return nullptr;
}

std::optional<std::string>
CalibrationStore::why_not(std::string_view model, const CalibrationKey& key,
                          const std::vector<CalibratedDevice>& present) const {
  if (find(key, present) != nullptr) {
    return std::nullopt;
  }
  for (const auto& entry : m_entries | std::views::reverse) {
    if (entry.model == model) {
      return mismatch(entry, key, present);
    }
  }
  return std::nullopt;
}

std::vector<std::string> CalibrationStore::save(StoredCalibration entry, double now) {
  // What the file holds now (another askd may have written since we read it) is the base.
  Read r = read(now);
  std::erase_if(r.entries, [&](const StoredCalibration& e) { return same_slot(e, entry); });
  r.entries.push_back(std::move(entry));
  std::stable_sort(r.entries.begin(), r.entries.end(),
                   [](const StoredCalibration& a, const StoredCalibration& b) {
                     return a.calibrated_at < b.calibrated_at;
                   });
  if (r.entries.size() > m_cap) { // the oldest go
    r.entries.erase(r.entries.begin(),
                    r.entries.begin() + static_cast<std::ptrdiff_t>(r.entries.size() - m_cap));
  }
  m_entries = std::move(r.entries);
  if (auto failed = core::write_atomically(m_file, to_json(m_entries).dump(2) + "\n")) {
    r.problems.push_back("calibration: not kept in " + m_file.string() + ": " + *failed);
  }
  return once(std::move(r.problems));
}

} // namespace ask::router
