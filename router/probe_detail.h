#pragma once
// Helpers shared by the GPU tool parsers of probe.h (probe_*.cpp): line and CSV splitting,
// bounded number parsing, text made safe to keep, and the warning list with its cap. Private
// to router/; not part of the probe contract.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "core/strings.h"
#include "router/probe.h"

namespace ask::router::detail {

// At most this many devices are read from one tool output; the rest are dropped with a warning.
inline constexpr std::size_t k_max_devices = 256;
// At most this many warnings are kept per parse; one more says how many were dropped.
inline constexpr std::size_t k_max_warnings = 32;
// Names, UUIDs and quoted values are cut to this many bytes.
inline constexpr std::size_t k_max_text_bytes = 160;
// Memory figures above this (1 PiB) are not believed: garbage, or a unit mix-up.
inline constexpr std::uint64_t k_max_plausible_bytes = std::uint64_t{1} << 50;

// One line of a tool's output, without its line end ('\n', "\r\n"), and its 1-based number.
struct Line {
  std::size_t number = 0;
  std::string_view text;
};

// Splits `text` into lines; a last line without '\n' counts, a final '\n' adds none.
std::vector<Line> split_lines(std::string_view text);

// Comma-separated fields, each trimmed. No quoting: nvidia-smi does not quote.
std::vector<std::string_view> split_csv(std::string_view line);

// A non-negative decimal integer made only of digits (after trimming); nullopt on anything
// else, including a sign, a fraction and overflow.
std::optional<std::uint64_t> parse_u64(std::string_view text);
// "0x1f" / "0X1F" as hex, otherwise as parse_u64.
std::optional<std::uint64_t> parse_u64_auto(std::string_view text);
// The run of decimal digits at the start of `text` (after trimming), ignoring what follows
// ("25753026560 (0x5feffffff) (23.98 GiB)"); nullopt when there is none or it overflows.
std::optional<std::uint64_t> parse_leading_u64(std::string_view text);

// `mib` MiB in bytes; nullopt when that is not plausible (see k_max_plausible_bytes).
std::optional<std::uint64_t> mib_to_bytes(std::uint64_t mib);
// `bytes` itself when plausible, else nullopt.
std::optional<std::uint64_t> plausible_bytes(std::optional<std::uint64_t> bytes);

// `total - used`, clamped to [0, total]; nullopt when either is unknown.
std::optional<std::uint64_t> free_from_used(std::optional<std::uint64_t> total,
                                            std::optional<std::uint64_t> used);

// True for the placeholders tools print instead of a value: "", "N/A", "[N/A]",
// "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "unknown" …
bool is_unknown_value(std::string_view text);

// Untrusted tool text made safe to keep and print (valid UTF-8, no control bytes), trimmed and
// cut to k_max_text_bytes.
std::string clean_text(std::string_view text);

// The vendor of a PCI vendor id (0x10de NVIDIA, 0x1002/0x1022 AMD, 0x8086 Intel, 0x106b Apple).
config::GpuVendor vendor_from_pci_id(std::uint64_t vendor_id);
// A vendor guessed from a device name ("NVIDIA …", "AMD …", "Radeon …", "Intel …").
config::GpuVendor vendor_from_name(std::string_view name);

// Appends "<tool> line <n>: <what>" (line 0: "<tool>: <what>"), keeping at most
// k_max_warnings warnings plus one that counts the dropped ones.
void add_warning(ProbeResult& result, std::string_view tool, std::size_t line,
                 std::string_view what);

// A quoted excerpt of untrusted text for a warning: 'first 60 bytes…'.
std::string quote(std::string_view text);

// The first line at which JSON starts ('{' or '[' as the first non-blank character), so that
// lead lines (the command, "WARNING: …") can be skipped; the offset of that line in `text`
// and the number of lines skipped. nullopt when no line starts JSON.
struct JsonStart {
  std::size_t offset = 0;
  std::size_t lines_skipped = 0;
};
std::optional<JsonStart> find_json_start(std::string_view text);

} // namespace ask::router::detail
