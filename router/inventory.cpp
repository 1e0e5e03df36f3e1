#include "router/inventory.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

namespace ask::router {
namespace {

using config::GpuApi;

// Which tool's name and total to believe when several saw one card: the vendor's own tool
// first (its names are the marketing ones; vulkaninfo appends driver names), config last
// (a declared value overrides everything anyway).
int source_rank(std::string_view source) {
  static constexpr std::array<std::string_view, 5> order{"nvidia-smi", "rocm-smi", "xpu-smi",
                                                         "sysfs", "vulkaninfo"};
  const auto it = std::find(order.begin(), order.end(), source);
  return static_cast<int>(it - order.begin());
}

// Hex digits of a UUID, lower-case: "GPU-6f2c…" and Vulkan's "6f2c…-…" compare equal.
std::string uuid_key(std::string_view uuid) {
  if (uuid.starts_with("GPU-")) {
    uuid.remove_prefix(4);
  }
  std::string out;
  for (char c : uuid) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out.size() == 32 ? out : std::string{};
}

void add_index(Gpu& gpu, GpuApi api, int index) {
  const auto same = [api](const auto& p) { return p.first == api; };
  if (std::find_if(gpu.index.begin(), gpu.index.end(), same) == gpu.index.end()) {
    gpu.index.emplace_back(api, index);
  }
}

void add_source(Gpu& gpu, const std::string& source) {
  if (std::find(gpu.sources.begin(), gpu.sources.end(), source) == gpu.sources.end()) {
    gpu.sources.push_back(source);
  }
}

// Folds one record into a card; `best_rank` tracks which source named it.
void absorb(Gpu& gpu, int& best_rank, const ProbedGpu& rec) {
  const int rank = source_rank(rec.source);
  if (gpu.sources.empty() || (rank < best_rank && (!rec.name.empty() || rec.total_bytes > 0))) {
    if (!rec.name.empty()) {
      gpu.name = rec.name;
    }
    if (rec.total_bytes > 0) {
      gpu.total_bytes = rec.total_bytes;
    }
    best_rank = rank;
  } else if (gpu.total_bytes == 0) {
    gpu.total_bytes = rec.total_bytes;
  }
  if (gpu.vendor == config::GpuVendor::other) {
    gpu.vendor = rec.vendor;
  }
  if (gpu.pci.empty()) {
    gpu.pci = rec.pci;
  }
  if (gpu.uuid.empty()) {
    gpu.uuid = rec.uuid;
  }
  if (rec.free_bytes) {
    gpu.free_bytes = gpu.free_bytes ? std::min(*gpu.free_bytes, *rec.free_bytes) : *rec.free_bytes;
  }
  gpu.unified = gpu.unified || rec.unified;
  add_index(gpu, rec.api, rec.index);
  add_source(gpu, rec.source);
}

// The card a record belongs to: same PCI address, else same UUID; -1 when new.
int find_card(const std::vector<Gpu>& cards, const ProbedGpu& rec) {
  const std::string key = uuid_key(rec.uuid);
  for (std::size_t i = 0; i < cards.size(); ++i) {
    const Gpu& c = cards[i];
    if (!rec.pci.empty() && c.pci == rec.pci) {
      return static_cast<int>(i);
    }
    if (!key.empty() && uuid_key(c.uuid) == key) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// The probed card a declared device means: by PCI address, else by an index it declares.
int find_declared(const std::vector<Gpu>& cards, const std::vector<bool>& taken,
                  const config::GpuSpec& spec) {
  for (std::size_t i = 0; i < cards.size(); ++i) {
    if (taken[i]) {
      continue;
    }
    if (!spec.pci.empty()) {
      if (cards[i].pci == spec.pci) {
        return static_cast<int>(i);
      }
      continue;
    }
    for (const auto& [api, idx] : spec.backend_index) {
      if (cards[i].index_for(api) == idx) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

void apply_spec(Gpu& gpu, const config::GpuSpec& spec) {
  gpu.id = spec.id;
  if (spec.name != spec.id || gpu.name.empty()) {
    gpu.name = spec.name;
  }
  if (spec.vendor != config::GpuVendor::other) {
    gpu.vendor = spec.vendor;
  }
  if (spec.vram) {
    gpu.total_bytes = *spec.vram;
    if (gpu.free_bytes) {
      gpu.free_bytes = std::min(*gpu.free_bytes, *spec.vram);
    }
  }
  if (!spec.pci.empty()) {
    gpu.pci = spec.pci;
  }
  gpu.display = spec.display;
  for (const auto& [api, idx] : spec.backend_index) {
    const auto same = [api](const auto& p) { return p.first == api; };
    std::erase_if(gpu.index, same);
    gpu.index.emplace_back(api, idx);
  }
  add_source(gpu, "config");
}

std::uint64_t cap_of(const Gpu& gpu, const config::GpuCap& cap) {
  if (cap.bytes) {
    return std::min(*cap.bytes, gpu.total_bytes);
  }
  const double fraction = cap.fraction ? *cap.fraction
                                       : (gpu.display ? k_display_cap : k_default_cap);
  return static_cast<std::uint64_t>(static_cast<double>(gpu.total_bytes) * fraction);
}

// "gpu0", "gpu1", … for cards the config does not name, skipping ids it uses.
void name_undeclared(std::vector<Gpu>& cards) {
  std::set<std::string, std::less<>> used;
  for (const Gpu& g : cards) {
    if (!g.id.empty()) {
      used.insert(g.id);
    }
  }
  int next = 0;
  for (Gpu& g : cards) {
    if (!g.id.empty()) {
      continue;
    }
    while (used.contains("gpu" + std::to_string(next))) {
      ++next;
    }
    g.id = "gpu" + std::to_string(next++);
    used.insert(g.id);
  }
}

// AMD cards from the amdgpu driver's sysfs files (when rocm-smi is not installed): the
// card<N> entries whose PCI vendor is 0x1002, in N order (which is HIP's order).
void take_amdgpu_sysfs(const std::filesystem::path& drm, std::vector<ProbedGpu>& records,
                       std::vector<std::string>& warnings) {
  std::error_code ec;
  std::vector<std::pair<int, std::filesystem::path>> cards;
  for (const auto& entry : std::filesystem::directory_iterator(drm, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("card") || name.size() == 4 || name.size() > 8 ||
        !std::all_of(name.begin() + 4, name.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      continue; // connectors such as card0-DP-1
    }
    std::ifstream vendor(entry.path() / "device" / "vendor");
    std::string id;
    if (vendor >> id && id == "0x1002") {
      cards.emplace_back(std::stoi(name.substr(4)), entry.path() / "device");
    }
  }
  std::sort(cards.begin(), cards.end());
  int ordinal = 0;
  for (const auto& [n, dir] : cards) {
    Result<ProbedGpu> gpu = read_amdgpu_sysfs(dir, ordinal++);
    if (gpu) {
      records.push_back(std::move(*gpu));
    } else {
      warnings.push_back("sysfs card" + std::to_string(n) + ": " + gpu.error().message);
    }
  }
}

} // namespace

std::optional<int> Gpu::index_for(config::GpuApi api) const {
  for (const auto& [a, i] : index) {
    if (a == api) {
      return i;
    }
  }
  return std::nullopt;
}

std::uint64_t Gpu::usable_bytes() const {
  const std::uint64_t room = free_bytes ? *free_bytes : total_bytes;
  const std::uint64_t ceiling = room > reserve_bytes ? room - reserve_bytes : 0;
  return std::min(cap_bytes, ceiling);
}

const Gpu* Inventory::find(std::string_view id) const {
  for (const Gpu& g : gpus) {
    if (g.id == id) {
      return &g;
    }
  }
  return nullptr;
}

Inventory merge(const std::vector<ProbedGpu>& probed, const config::GpuConfig& declared) {
  Inventory inv;
  std::vector<Gpu> cards;
  std::vector<int> ranks;
  for (const ProbedGpu& rec : probed) {
    if (rec.cpu) {
      continue;
    }
    int at = find_card(cards, rec);
    if (at < 0) {
      cards.emplace_back();
      ranks.push_back(0);
      at = static_cast<int>(cards.size()) - 1;
    }
    absorb(cards[at], ranks[at], rec);
  }
  // Cards in PCI order, unknown addresses last, for stable generated ids.
  std::stable_sort(cards.begin(), cards.end(), [](const Gpu& a, const Gpu& b) {
    return !a.pci.empty() && (b.pci.empty() || a.pci < b.pci);
  });
  std::vector<bool> taken(cards.size(), false);
  std::vector<const config::GpuSpec*> spec_of(cards.size(), nullptr);
  for (const config::GpuSpec& spec : declared.devices) {
    const int at = find_declared(cards, taken, spec);
    if (at >= 0) {
      taken[at] = true;
      spec_of[at] = &spec;
      apply_spec(cards[at], spec);
      continue;
    }
    Gpu gpu;
    apply_spec(gpu, spec);
    if (declared.probe && !probed.empty()) {
      inv.warnings.push_back(
          "gpus: device \"" + spec.id + "\" was not seen by any probe; " +
          (spec.vram ? "using its declared vram" : "it declares no vram, so nothing goes on it"));
    }
    cards.push_back(std::move(gpu));
    taken.push_back(true);
    spec_of.push_back(&spec);
  }
  name_undeclared(cards);
  for (std::size_t i = 0; i < cards.size(); ++i) {
    Gpu& g = cards[i];
    g.cap_bytes = cap_of(g, spec_of[i] ? spec_of[i]->cap : config::GpuCap{});
    g.reserve_bytes = spec_of[i] ? spec_of[i]->reserve : declared.reserve;
  }
  inv.gpus = std::move(cards);
  return inv;
}

Inventory probe(const config::GpuConfig& declared, const ToolRunner& run,
                const std::filesystem::path& sysfs_drm) {
  std::vector<ProbedGpu> records;
  std::vector<std::string> warnings;
  if (!declared.probe) {
    return merge(records, declared);
  }
  const auto take = [&](std::string_view tool, Result<ProbeResult> parsed) {
    if (!parsed) {
      warnings.push_back(std::string(tool) + ": " + parsed.error().message);
      return;
    }
    for (std::string& w : parsed->warnings) {
      warnings.push_back(std::string(tool) + ": " + w);
    }
    records.insert(records.end(), parsed->gpus.begin(), parsed->gpus.end());
  };
  // Runs a tool; a missing one is silent, a failing one a warning.
  const auto output = [&](const std::vector<std::string>& argv) -> std::optional<std::string> {
    Result<std::string> out = run(argv);
    if (!out) {
      if (out.error().kind != core::ErrorKind::not_found) {
        warnings.push_back(argv[0] + ": " + out.error().message);
      }
      return std::nullopt;
    }
    return std::move(*out);
  };
  if (auto out = output({"nvidia-smi", "--query-gpu=" + std::string(k_nvidia_smi_fields),
                         "--format=csv,noheader,nounits"})) {
    take("nvidia-smi", parse_nvidia_smi(*out));
  }
  if (auto out = output({"rocm-smi", "--showid", "--showbus", "--showproductname",
                         "--showmeminfo", "vram", "--showuniqueid", "--json"})) {
    take("rocm-smi", parse_rocm_smi(*out));
  } else {
    take_amdgpu_sysfs(sysfs_drm, records, warnings);
  }
  if (auto out = output({"vulkaninfo"})) {
    take("vulkaninfo", parse_vulkaninfo(*out));
  }
  if (auto out = output({"xpu-smi", "discovery", "-j"})) {
    take("xpu-smi", parse_xpu_smi(*out));
  }
  Inventory inv = merge(records, declared);
  warnings.insert(warnings.end(), inv.warnings.begin(), inv.warnings.end());
  inv.warnings = std::move(warnings);
  return inv;
}

} // namespace ask::router
