#include "router/inventory.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "router/inventory_detail.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace detail {

namespace {

// Which tool's name and total to believe when several saw one card: the vendor's own tool
// first (its names are the marketing ones; vulkaninfo appends driver names), then what a
// llama.cpp build reports, config last (a declared value overrides everything anyway).
int source_rank(std::string_view source) {
  static constexpr std::array<std::string_view, 7> k_order{
      "nvidia-smi", "amd-smi", "rocm-smi", "xpu-smi", "sysfs", "vulkaninfo", "llama-server"};
  const auto it = std::find(k_order.begin(), k_order.end(), source);
  return static_cast<int>(it - k_order.begin());
}

// `name` without a trailing " (…)" and surrounding blanks.
std::string_view without_note(std::string_view name) {
  name = core::trim(name);
  if (name.ends_with(")")) {
    const std::size_t open = name.rfind(" (");
    if (open != std::string_view::npos && open > 0) {
      name = core::trim(name.substr(0, open));
    }
  }
  return name;
}

} // namespace

void add_index(Gpu& gpu, config::GpuApi api, int index) {
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

bool same_name(std::string_view a, std::string_view b) {
  a = without_note(a);
  b = without_note(b);
  return !a.empty() && core::iequals(a, b);
}

void absorb(Card& card, const ProbedGpu& rec) {
  Gpu& gpu = card.gpu;
  const int rank = source_rank(rec.source);
  if (gpu.sources.empty() || (rank < card.rank && (!rec.name.empty() || rec.total_bytes > 0))) {
    if (!rec.name.empty()) {
      gpu.name = rec.name;
    }
    if (rec.total_bytes > 0) {
      gpu.total_bytes = rec.total_bytes;
    }
    card.rank = rank;
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
  if (!rec.name.empty() &&
      std::find(card.names.begin(), card.names.end(), rec.name) == card.names.end()) {
    card.names.push_back(rec.name);
  }
}

} // namespace detail

namespace {

using config::GpuApi;
using detail::Card;

// Hex digits of a UUID, lower-case: "GPU-6f2c…" and Vulkan's "6f2c…-…" compare equal.
std::string uuid_key(std::string_view uuid) {
  if (uuid.starts_with("GPU-")) {
    uuid.remove_prefix(4);
  }
  std::string out;
  for (char c : uuid) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
      out += core::to_lower(c);
    }
  }
  return out.size() == 32 ? out : std::string{};
}

// The card a record belongs to: same PCI address, else same UUID; -1 when new, -2 when the
// record must be dropped (its UUID names several cards and it has no PCI address to choose).
// Two records whose PCI addresses are both known and differ are never one card, whatever
// their UUIDs say: a cloned VM or a vGPU listing can repeat a UUID.
int find_card(const std::vector<Card>& cards, const ProbedGpu& rec,
              std::vector<std::string>& warnings, std::set<std::string>& warned) {
  if (!rec.pci.empty()) {
    for (std::size_t i = 0; i < cards.size(); ++i) {
      if (cards[i].gpu.pci == rec.pci) {
        return static_cast<int>(i);
      }
    }
  }
  const std::string key = uuid_key(rec.uuid);
  if (key.empty()) {
    return -1;
  }
  std::vector<int> same;
  for (std::size_t i = 0; i < cards.size(); ++i) {
    const Gpu& c = cards[i].gpu;
    if (uuid_key(c.uuid) != key) {
      continue;
    }
    if (!rec.pci.empty() && !c.pci.empty()) {
      if (warned.insert(key + " " + c.pci + " " + rec.pci).second) {
        warnings.push_back("UUID " + rec.uuid + " is reported for two cards, " + c.pci + " and " +
                           rec.pci +
                           " (a cloned VM or a vGPU listing?); they are kept as two GPUs");
      }
      continue;
    }
    same.push_back(static_cast<int>(i));
  }
  if (same.size() > 1) {
    warnings.push_back(rec.source + " " + std::string(config::to_string(rec.api)) + " device " +
                       std::to_string(rec.index) + " (" + rec.name + "): its UUID " + rec.uuid +
                       " names " + std::to_string(same.size()) +
                       " cards and it gives no PCI address to tell which; ignored");
    return -2;
  }
  return same.empty() ? -1 : same.front();
}

// The probed card a declared device means: by PCI address, else by an index it declares.
int find_declared(const std::vector<Card>& cards, const config::GpuSpec& spec) {
  for (std::size_t i = 0; i < cards.size(); ++i) {
    if (cards[i].spec != nullptr) {
      continue;
    }
    if (!spec.pci.empty()) {
      if (cards[i].gpu.pci == spec.pci) {
        return static_cast<int>(i);
      }
      continue;
    }
    for (const auto& [api, idx] : spec.backend_index) {
      if (cards[i].gpu.index_for(api) == idx) {
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
  // Apple silicon has no other memory; elsewhere a probe says (integrated GPUs) or the config.
  if (spec.unified) {
    gpu.unified = *spec.unified;
  } else if (spec.vendor == config::GpuVendor::apple) {
    gpu.unified = true;
  }
  for (const auto& [api, idx] : spec.backend_index) {
    const auto same = [api](const auto& p) { return p.first == api; };
    std::erase_if(gpu.index, same);
    gpu.index.emplace_back(api, idx);
  }
  detail::add_source(gpu, "config");
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
void name_undeclared(std::vector<Card>& cards) {
  std::set<std::string, std::less<>> used;
  for (const Card& c : cards) {
    if (!c.gpu.id.empty()) {
      used.insert(c.gpu.id);
    }
  }
  int next = 0;
  for (Card& c : cards) {
    Gpu& g = c.gpu;
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

// The /sys/class/drm/card<N> directories (not connectors such as card0-DP-1), in N order.
std::vector<std::pair<int, std::filesystem::path>> drm_cards(const std::filesystem::path& drm) {
  std::error_code ec;
  std::vector<std::pair<int, std::filesystem::path>> cards;
  for (const auto& entry : std::filesystem::directory_iterator(drm, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("card") || name.size() == 4 || name.size() > 8 ||
        !std::all_of(name.begin() + 4, name.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      continue;
    }
    cards.emplace_back(std::stoi(name.substr(4)), entry.path());
  }
  std::sort(cards.begin(), cards.end());
  return cards;
}

// The first word of a small sysfs file ("0x1002"); "" when it cannot be read.
std::string first_word(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string word;
  in >> word;
  return word;
}

// The card<N> directory whose PCI device is `pci` (its uevent's PCI_SLOT_NAME).
std::optional<std::filesystem::path> drm_card_at(const std::filesystem::path& drm,
                                                 const std::string& pci) {
  for (const auto& [n, dir] : drm_cards(drm)) {
    std::ifstream uevent(dir / "device" / "uevent");
    std::string line;
    while (std::getline(uevent, line)) {
      if (line.starts_with("PCI_SLOT_NAME=") && normalize_pci(line.substr(14)) == pci) {
        return dir;
      }
    }
  }
  return std::nullopt;
}

// AMD cards from the amdgpu driver's sysfs files (when neither amd-smi nor rocm-smi gives
// them): the card<N> entries whose PCI vendor is 0x1002, in N order (which is HIP's order).
void take_amdgpu_sysfs(const std::filesystem::path& drm, std::vector<ProbedGpu>& records,
                       std::vector<std::string>& warnings) {
  std::vector<std::pair<int, std::filesystem::path>> cards;
  for (const auto& [n, dir] : drm_cards(drm)) {
    if (first_word(dir / "device" / "vendor") == "0x1002") {
      cards.emplace_back(n, dir / "device");
    }
  }
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

// `message` without a leading "<tool>: " (the runner's messages name the tool already).
std::string without_name(const std::string& message, const std::string& tool) {
  const std::string prefix = tool + ": ";
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

// AMD GPUs from amd-smi (static for names, addresses and sizes; metric for what is in use).
// False when amd-smi is not installed or gave nothing, so that rocm-smi is asked instead.
template <typename Output, typename Take>
bool take_amd_smi(const Output& output, const Take& take) {
  const auto stat = output({"amd-smi", "static", "--asic", "--bus", "--vram", "--board", "--json"});
  if (!stat) {
    return false;
  }
  const auto metric = output({"amd-smi", "metric", "--mem-usage", "--json"});
  return take("amd-smi", parse_amd_smi(*stat, metric ? std::string_view(*metric) : ""));
}

template <typename Output, typename Take>
bool take_rocm_smi(const Output& output, const Take& take) {
  const auto out = output({"rocm-smi", "--showid", "--showbus", "--showproductname",
                           "--showmeminfo", "vram", "--showuniqueid", "--json"});
  return out && take("rocm-smi", parse_rocm_smi(*out));
}

// The memory of an Intel GPU that `xpu-smi discovery -j` listed without it: its total (and
// free) from `xpu-smi discovery -d N -j`, what is in use from `xpu-smi stats -d N -j`, else
// what the i915 or xe driver publishes in sysfs for its PCI address.
template <typename Output>
void size_intel_gpu(ProbedGpu& gpu, const Output& output, const std::filesystem::path& drm,
                    std::vector<std::string>& warnings) {
  const std::string id = std::to_string(gpu.index);
  const std::string tool = "xpu-smi device " + id;
  if (gpu.total_bytes == 0) {
    if (const auto out = output({"xpu-smi", "discovery", "-d", id, "-j"})) {
      const Result<ProbeResult> one = parse_xpu_smi(*out);
      if (one && one->gpus.size() == 1 && one->gpus[0].total_bytes > 0) {
        gpu.total_bytes = one->gpus[0].total_bytes;
        gpu.free_bytes = one->gpus[0].free_bytes;
      } else {
        warnings.push_back(tool + ": xpu-smi discovery -d " + id + " -j gives no memory size" +
                           (one ? std::string() : " (" + one.error().message + ")"));
      }
    }
  }
  if (gpu.total_bytes > 0 && !gpu.free_bytes) {
    if (const auto out = output({"xpu-smi", "stats", "-d", id, "-j"})) {
      const Result<XpuStats> stats = parse_xpu_smi_stats(*out);
      if (stats && stats->used_bytes) {
        gpu.free_bytes = detail::free_from_used(gpu.total_bytes, stats->used_bytes);
      } else if (!stats) {
        warnings.push_back(tool + ": " + stats.error().message);
      }
    }
  }
  if (gpu.total_bytes == 0 && !gpu.pci.empty()) {
    if (const auto dir = drm_card_at(drm, gpu.pci)) {
      const Result<SysfsMemory> memory = read_intel_sysfs_memory(*dir);
      if (memory) {
        gpu.total_bytes = memory->total_bytes;
        gpu.free_bytes = memory->free_bytes;
      } else if (memory.error().kind != core::ErrorKind::not_found) {
        warnings.push_back(tool + ": " + memory.error().message);
      }
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

const BuildDevice* Gpu::build_device(std::string_view binary) const {
  for (const BuildDevice& d : build_devices) {
    if (d.binary == binary) {
      return &d;
    }
  }
  return nullptr;
}

std::string_view to_string(DeviceKind kind) {
  switch (kind) {
  case DeviceKind::gpu:
    return "gpu";
  case DeviceKind::rpc:
    return "rpc";
  case DeviceKind::host:
    return "host";
  }
  return "gpu";
}

const Gpu* Inventory::host() const {
  for (const Gpu& g : gpus) {
    if (g.kind == DeviceKind::host) {
      return &g;
    }
  }
  return nullptr;
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
  std::vector<Card> cards;
  std::vector<const ProbedGpu*> builds;
  std::set<std::string> warned;
  for (const ProbedGpu& rec : probed) {
    if (rec.cpu) {
      continue;
    }
    if (rec.source == "llama-server") {
      builds.push_back(&rec);
      continue;
    }
    int at = find_card(cards, rec, inv.warnings, warned);
    if (at == -2) {
      continue;
    }
    if (at < 0) {
      cards.emplace_back();
      at = static_cast<int>(cards.size()) - 1;
    }
    detail::absorb(cards[static_cast<std::size_t>(at)], rec);
  }
  // Cards in PCI order, unknown addresses last, for stable generated ids.
  std::stable_sort(cards.begin(), cards.end(), [](const Card& a, const Card& b) {
    return !a.gpu.pci.empty() && (b.gpu.pci.empty() || a.gpu.pci < b.gpu.pci);
  });
  for (const config::GpuSpec& spec : declared.devices) {
    const int at = find_declared(cards, spec);
    if (at >= 0) {
      cards[static_cast<std::size_t>(at)].spec = &spec;
      apply_spec(cards[static_cast<std::size_t>(at)].gpu, spec);
      continue;
    }
    Card card;
    apply_spec(card.gpu, spec);
    card.spec = &spec;
    if (declared.probe && !probed.empty()) {
      inv.warnings.push_back(
          "gpus: device \"" + spec.id + "\" was not seen by any probe; " +
          (spec.vram ? "using its declared vram" : "it declares no vram, so nothing goes on it"));
    }
    cards.push_back(std::move(card));
  }
  detail::attach_build_devices(cards, builds, inv.warnings);
  name_undeclared(cards);
  for (Card& card : cards) {
    Gpu& g = card.gpu;
    g.cap_bytes = cap_of(g, card.spec != nullptr ? card.spec->cap : config::GpuCap{});
    g.reserve_bytes = card.spec != nullptr ? card.spec->reserve : declared.reserve;
    const bool declared_only = g.sources.size() == 1 && g.sources.front() == "config";
    if (g.total_bytes == 0 && !declared_only) {
      inv.warnings.push_back(g.id + " (" + g.name + "): no source could size its memory, so " +
                             "nothing is placed on it; declare its \"vram\" in gpus.devices");
    }
    inv.gpus.push_back(std::move(g));
  }
  return inv;
}

Inventory probe(const config::GpuConfig& declared, const ToolRunner& run,
                const std::filesystem::path& sysfs_drm, const std::vector<LlamaBinary>& builds) {
  std::vector<ProbedGpu> records;
  std::vector<std::string> warnings;
  if (!declared.probe) {
    return merge(records, declared);
  }
  // A parser's messages start with its tool's name ("rocm-smi line 3: …") already.
  const auto named = [](std::string_view tool, const std::string& message) {
    return message.starts_with(tool) ? message : std::string(tool) + ": " + message;
  };
  const auto take = [&](std::string_view tool, Result<ProbeResult> parsed) {
    if (!parsed) {
      warnings.push_back(named(tool, parsed.error().message));
      return false;
    }
    for (const std::string& w : parsed->warnings) {
      warnings.push_back(named(tool, w));
    }
    records.insert(records.end(), parsed->gpus.begin(), parsed->gpus.end());
    return true;
  };
  // Runs a tool; a missing one is silent, a failing one a warning.
  const auto output = [&](const std::vector<std::string>& argv) -> std::optional<std::string> {
    Result<std::string> out = run(argv);
    if (!out) {
      if (out.error().kind != core::ErrorKind::not_found) {
        warnings.push_back(argv[0] + ": " + without_name(out.error().message, argv[0]));
      }
      return std::nullopt;
    }
    return std::move(*out);
  };
  if (auto out = output({"nvidia-smi", "--query-gpu=" + std::string(k_nvidia_smi_fields),
                         "--format=csv,noheader,nounits"})) {
    take("nvidia-smi", parse_nvidia_smi(*out));
  }
  if (!take_amd_smi(output, take) && !take_rocm_smi(output, take)) {
    take_amdgpu_sysfs(sysfs_drm, records, warnings);
  }
  if (auto out = output({"vulkaninfo"})) {
    take("vulkaninfo", parse_vulkaninfo(*out));
  }
  if (auto out = output({"xpu-smi", "discovery", "-j"})) {
    const std::size_t first = records.size();
    if (take("xpu-smi", parse_xpu_smi(*out))) {
      for (std::size_t i = first; i < records.size(); ++i) {
        size_intel_gpu(records[i], output, sysfs_drm, warnings);
      }
    }
  }
  Inventory inv;
  for (const LlamaBinary& binary : builds) {
    LlamaBuild build = ask_llama_build(binary, run);
    if (!build.version) {
      warnings.push_back(build.version.error().message);
    }
    if (!build.devices) {
      warnings.push_back(build.devices.error().message + "; its device list is not used");
    } else {
      for (const std::string& w : build.devices->warnings) {
        warnings.push_back(build.binary + ": " + w);
      }
      if (build.devices->gpus.empty()) {
        warnings.push_back(build.binary + " --list-devices lists no GPU: a model on its preset "
                                          "would run on the CPU");
      }
      records.insert(records.end(), build.devices->gpus.begin(), build.devices->gpus.end());
    }
    inv.builds.push_back(std::move(build));
  }
  Inventory merged = merge(records, declared);
  warnings.insert(warnings.end(), merged.warnings.begin(), merged.warnings.end());
  merged.warnings = std::move(warnings);
  merged.builds = std::move(inv.builds);
  return merged;
}

} // namespace ask::router
