#pragma once
// Calibrations kept across askd restarts: what a llama-server load measured (the buffers of
// its startup log, router/calibration.h) and the correction askd drew from it, in one JSON
// state file ($XDG_STATE_HOME/ask/calibration.json). An entry is keyed by the model file, the
// llama.cpp build, the settings that change memory and the GPUs it ran on, so a changed file,
// build or setting never inherits an old correction. Pure logic and file I/O: the caller
// supplies the time and logs the warnings. docs/vram.md ("Correction"), docs/operations.md.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "router/calibration.h"
#include "router/calibration_key.h"
#include "router/estimate.h"

namespace ask::router {

struct StoredCalibration {
  CalibrationKey key;
  std::vector<CalibratedDevice> devices; // the fourth key part; empty: it ran on the CPU alone
  std::string model;                     // the logical model that measured it (not a key part)
  Calibration measured;                  // what llama-server reported, per device
  Correction correction;                 // what askd drew from it
  double calibrated_at = 0;              // Unix seconds
};

// Why `entry` does not hold for a model with `key` that may run on the GPUs `present`
// (id and product name; none for a model that runs on the CPU): "the model file changed",
// "another llama.cpp build", "settings changed: ctx, parallel", "measured on gpu1 (…), which
// this machine does not have now", "measured on the CPU alone"; nullopt when it holds. An
// entry holds when the key is equal and every GPU it ran on is present under the same name;
// an entry measured on the CPU alone holds only for a model that runs there, and one measured
// on GPUs only for a model that runs on GPUs.
std::optional<std::string> mismatch(const StoredCalibration& entry, const CalibrationKey& key,
                                    const std::vector<CalibratedDevice>& present);

// The calibrations of one state file, in memory. Not thread-safe: the caller serialises.
// Several askd processes may share the file: each write replaces it whole (temp file, fsync,
// rename), merged with what the file held just before, so it is never torn; when two write at
// the same moment the last rename wins and the other's new entry is lost until its model's
// next load measures it again.
class CalibrationStore {
public:
  static constexpr std::size_t k_default_cap = 256;
  static constexpr std::uintmax_t k_max_file_bytes = 16u << 20;

  explicit CalibrationStore(std::filesystem::path file, std::size_t cap = k_default_cap);

  // Reads the file; returns the problems, one sentence each, naming the file. A missing file
  // is an empty store. A file that cannot be read, is not JSON (the parser's line and column
  // are given), is not this format or is larger than k_max_file_bytes is moved aside to
  // "<file>.corrupt-<unix seconds>" and the store starts empty. An entry with an unknown
  // field, a missing one or a wrong type is skipped. Never throws.
  std::vector<std::string> load(double now);

  // The newest entry that holds for `key` on `present` (see mismatch()); null when none.
  const StoredCalibration* find(const CalibrationKey& key,
                                const std::vector<CalibratedDevice>& present) const;
  // Why the newest entry of logical model `model` does not hold; nullopt when there is none
  // (or when find() would return one).
  std::optional<std::string> why_not(std::string_view model, const CalibrationKey& key,
                                     const std::vector<CalibratedDevice>& present) const;

  // Adds `entry` (replacing one with the same key and devices), merged with what the file
  // holds now, keeps the newest `cap` entries, and writes the file atomically. Returns the
  // problems (the write failing among them: the store in memory has the entry all the same).
  std::vector<std::string> save(StoredCalibration entry, double now);

  const std::vector<StoredCalibration>& entries() const { return m_entries; }
  const std::filesystem::path& file() const { return m_file; }

private:
  struct Read;
  Read read(double now) const;
  // `problems` less those already reported: the same bad entry is named once, not at every
  // write.
  std::vector<std::string> once(std::vector<std::string> problems);

  std::filesystem::path m_file;
  std::size_t m_cap;
  std::vector<StoredCalibration> m_entries; // oldest first
  std::set<std::string, std::less<>> m_reported;
};

// The state file's JSON for `entries`, and back. parse_entries() skips (and describes, with
// its index) every entry it cannot take; it fails (bad_request) only when `doc` as a whole is
// not the format: not an object, no "entries" array, a "version" other than 1.
nlohmann::json to_json(const std::vector<StoredCalibration>& entries);
struct ParsedEntries {
  std::vector<StoredCalibration> entries;
  std::vector<std::string> skipped; // "entry 3: unknown field \"foo\""
};
core::Result<ParsedEntries> parse_entries(const nlohmann::json& doc);

} // namespace ask::router
