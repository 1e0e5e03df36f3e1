#pragma once
// Byte sizes as people write them in config files: "32GiB", "24GB", "512 MiB", "1.5 GiB",
// "4096", or a JSON integer (bytes). Binary units (KiB, MiB, GiB, TiB, PiB) are powers of
// 1024, decimal ones (KB, MB, GB, TB, PB) powers of 1000, as on a GPU's spec sheet.

#include <cstdint>
#include <string>
#include <string_view>

#include "config/jsonc.h"
#include "core/error.h"

namespace ask::config {

// Parses a size. Units are case-insensitive; a space between number and unit is allowed;
// up to 9 decimal places, a fraction of a byte rounded down. Bare K/M/G/T are rejected as
// ambiguous (the message says to write GiB or GB). Errors are bad_request and quote the text.
core::Result<std::uint64_t> parse_bytes(std::string_view text);
// Also accepts a non-negative JSON integer (bytes); other JSON types are errors.
core::Result<std::uint64_t> parse_bytes(const Json& value);

// The shortest exact text parse_bytes reads back to the same value, with at most two decimal
// places, the larger unit winning a tie: 25769803776 -> "24 GiB", 24000000000 -> "24 GB",
// 1610612736 -> "1.5 GiB", 100 -> "100 B".
std::string format_bytes(std::uint64_t bytes);

} // namespace ask::config
