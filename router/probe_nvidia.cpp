// parse_nvidia_smi: the CSV of `nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using detail::add_warning;
using detail::quote;

constexpr std::string_view k_nvidia_smi = "nvidia-smi";

// The columns the parser uses; a header may name others, which are ignored.
enum class Column { index, uuid, pci, name, total, used, free, other };

Column column_of(std::string_view field) {
  // "memory.total [MiB]" -> "memory.total"
  const std::size_t bracket = field.find(" [");
  if (bracket != std::string_view::npos) {
    field = core::trim(field.substr(0, bracket));
  }
  if (field == "index") {
    return Column::index;
  }
  if (field == "uuid" || field == "gpu_uuid") {
    return Column::uuid;
  }
  if (field == "pci.bus_id" || field == "gpu_bus_id") {
    return Column::pci;
  }
  if (field == "name" || field == "gpu_name") {
    return Column::name;
  }
  if (field == "memory.total") {
    return Column::total;
  }
  if (field == "memory.used") {
    return Column::used;
  }
  if (field == "memory.free") {
    return Column::free;
  }
  return Column::other;
}

// True when every field looks like a query field name ("memory.total [MiB]", "pid").
bool is_header(const std::vector<std::string_view>& fields) {
  for (std::string_view field : fields) {
    const std::size_t bracket = field.find(" [");
    if (bracket != std::string_view::npos) {
      if (field.back() != ']') {
        return false;
      }
      field = field.substr(0, bracket);
    }
    if (field.empty() || field.front() < 'a' || field.front() > 'z') {
      return false;
    }
    for (const char c : field) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) {
        return false;
      }
    }
  }
  return true;
}

std::vector<Column> columns_of(const std::vector<std::string_view>& fields) {
  std::vector<Column> columns;
  columns.reserve(fields.size());
  for (const std::string_view field : fields) {
    columns.push_back(column_of(field));
  }
  return columns;
}

bool has_gpu_column(const std::vector<Column>& columns) {
  for (const Column c : columns) {
    if (c != Column::other) {
      return true;
    }
  }
  return false;
}

// A memory value in MiB: "24576", "24576 MiB". nullopt when unknown or unreadable; `bad` is
// set when the text was neither a number nor a placeholder.
std::optional<std::uint64_t> memory_value(std::string_view text, bool& bad) {
  text = core::trim(text);
  if (detail::is_unknown_value(text)) {
    return std::nullopt;
  }
  if (text.size() >= 3 && text.substr(text.size() - 3) == "MiB") {
    text = core::trim(text.substr(0, text.size() - 3));
  }
  const auto mib = detail::parse_u64(text);
  const auto bytes = mib ? detail::mib_to_bytes(*mib) : std::nullopt;
  if (!bytes) {
    bad = true;
  }
  return bytes;
}

struct Row {
  std::array<std::string_view, 8> values{}; // by Column
  std::array<bool, 8> present{};
};

Row row_of(const std::vector<Column>& columns, const std::vector<std::string_view>& fields) {
  Row row;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto c = static_cast<std::size_t>(columns[i]);
    if (!row.present[c]) {
      row.values[c] = fields[i];
      row.present[c] = true;
    }
  }
  return row;
}

std::string_view value(const Row& row, Column c) {
  return row.values[static_cast<std::size_t>(c)];
}
bool present(const Row& row, Column c) {
  return row.present[static_cast<std::size_t>(c)];
}

// One GPU from one row; nullopt (after a warning) when the row cannot be read.
std::optional<ProbedGpu> nvidia_gpu_of(const Row& row, std::size_t ordinal, std::size_t line,
                                       ProbeResult& result) {
  ProbedGpu gpu;
  gpu.api = config::GpuApi::cuda;
  gpu.vendor = config::GpuVendor::nvidia;
  gpu.source = std::string(k_nvidia_smi);
  gpu.index = static_cast<int>(ordinal);
  if (present(row, Column::index) && !detail::is_unknown_value(value(row, Column::index))) {
    const auto index = detail::parse_u64(value(row, Column::index));
    if (!index || *index >= detail::k_max_devices) {
      add_warning(result, k_nvidia_smi, line,
                  "index " + quote(value(row, Column::index)) + " is not a GPU index; row skipped");
      return std::nullopt;
    }
    gpu.index = static_cast<int>(*index);
  }
  bool bad = false;
  const auto total = memory_value(value(row, Column::total), bad);
  const auto used = memory_value(value(row, Column::used), bad);
  const auto free = memory_value(value(row, Column::free), bad);
  if (bad) {
    add_warning(result, k_nvidia_smi, line, "memory is not a number of MiB; row skipped");
    return std::nullopt;
  }
  // GB10 (DGX Spark) and Jetson print [N/A] for memory: unified memory the tool cannot size.
  gpu.unified = present(row, Column::total) && !total;
  gpu.total_bytes = total.value_or(0);
  gpu.free_bytes = free ? free : detail::free_from_used(total, used);
  if (gpu.free_bytes && total && *gpu.free_bytes > *total) {
    gpu.free_bytes = total;
  }
  const std::string_view name = value(row, Column::name);
  gpu.name = detail::is_unknown_value(name) ? "NVIDIA GPU" : detail::clean_text(name);
  const std::string_view uuid = value(row, Column::uuid);
  gpu.uuid = detail::is_unknown_value(uuid) ? "" : detail::clean_text(uuid);
  const std::string_view pci = value(row, Column::pci);
  if (!detail::is_unknown_value(pci)) {
    gpu.pci = normalize_pci(pci);
    if (gpu.pci.empty()) {
      add_warning(result, k_nvidia_smi, line, "pci.bus_id " + quote(pci) + " is not a PCI address");
    }
  }
  return gpu;
}

} // namespace

Result<ProbeResult> parse_nvidia_smi(std::string_view out) {
  ProbeResult result;
  std::vector<Column> columns = columns_of(detail::split_csv(k_nvidia_smi_fields));
  bool gpu_table = true; // false after the header of another query (--query-compute-apps)
  bool first = true;
  std::set<int> seen;
  std::size_t ordinal = 0;
  for (const detail::Line& line : detail::split_lines(out)) {
    if (core::trim(line.text).empty()) {
      continue;
    }
    const std::vector<std::string_view> fields = detail::split_csv(line.text);
    if (is_header(fields) && (first || fields.size() > 1)) {
      columns = columns_of(fields);
      gpu_table = has_gpu_column(columns);
      if (!gpu_table) {
        add_warning(result, k_nvidia_smi, line.number,
                    "not a --query-gpu table; its rows are ignored");
      }
      first = false;
      continue;
    }
    first = false;
    if (!gpu_table) {
      continue;
    }
    if (fields.size() != columns.size()) {
      add_warning(result, k_nvidia_smi, line.number,
                  "expected " + std::to_string(columns.size()) + " fields, got " +
                      std::to_string(fields.size()) + ": " + quote(line.text));
      continue;
    }
    auto gpu = nvidia_gpu_of(row_of(columns, fields), ordinal, line.number, result);
    if (!gpu) {
      continue;
    }
    ++ordinal;
    if (!seen.insert(gpu->index).second) {
      add_warning(result, k_nvidia_smi, line.number,
                  "index " + std::to_string(gpu->index) + " repeated; row skipped");
      continue;
    }
    if (result.gpus.size() >= detail::k_max_devices) {
      add_warning(result, k_nvidia_smi, line.number, "too many GPUs; the rest are ignored");
      break;
    }
    result.gpus.push_back(std::move(*gpu));
  }
  if (result.gpus.empty()) {
    std::string message = "nvidia-smi: no GPU in the output";
    if (!result.warnings.empty()) {
      message += " (" + result.warnings.front() + ")";
    }
    return core::fail(core::Error::bad_request(std::move(message)));
  }
  return result;
}

} // namespace ask::router
