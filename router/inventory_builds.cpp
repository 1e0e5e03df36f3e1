// attach_build_devices: which card each device of a llama-server --list-devices is, so that
// every Gpu knows the name and number each asked build gives it and the free memory that build
// sees (docs/inventory.md, "What a build sees").

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "router/inventory_detail.h"
#include "router/probe_detail.h"

namespace ask::router::detail {
namespace {

using config::GpuApi;
using config::GpuVendor;

// "/opt/llama/bin/llama-server ROCm0 (AMD Radeon Graphics)", for messages.
std::string who(const ProbedGpu& rec) {
  return rec.binary + " " + rec.device + " (" + rec.name + ")";
}

bool vendors_agree(GpuVendor card, GpuVendor build) {
  return card == GpuVendor::other || build == GpuVendor::other || card == build;
}

// True when the build calls the card by a name some tool gave it.
bool named_alike(const Card& card, const ProbedGpu& rec) {
  return std::any_of(card.names.begin(), card.names.end(),
                     [&](const std::string& n) { return same_name(n, rec.name); });
}

// Cards `binary` has already given a device under `api`.
using Claims = std::set<std::tuple<std::string, GpuApi, std::size_t>>;

bool claimed(const Claims& claims, const ProbedGpu& rec, std::size_t card) {
  return claims.contains({rec.binary, rec.api, card});
}

// The card a build's device is, by the rules of merge() in inventory.h; nullopt when none.
std::optional<std::size_t> match(const std::vector<Card>& cards, const Claims& claims,
                                 const ProbedGpu& rec) {
  const auto open = [&](std::size_t i) {
    return !claimed(claims, rec, i) && vendors_agree(cards[i].gpu.vendor, rec.vendor);
  };
  if (!rec.pci.empty()) { // a patched build that prints each device's PCI address
    for (std::size_t i = 0; i < cards.size(); ++i) {
      if (cards[i].gpu.pci == rec.pci) {
        return open(i) ? std::optional(i) : std::nullopt;
      }
    }
    return std::nullopt;
  }
  // The cards a tool numbered under this API, in that order: the build numbers them alike
  // (CUDA in PCI order as askd runs it, HIP's order, the Vulkan loader's order without CPUs).
  std::vector<std::pair<int, std::size_t>> numbered;
  for (std::size_t i = 0; i < cards.size(); ++i) {
    if (const auto idx = cards[i].gpu.index_for(rec.api)) {
      numbered.emplace_back(*idx, i);
    }
  }
  std::sort(numbered.begin(), numbered.end());
  const auto ordinal = static_cast<std::size_t>(rec.index);
  const std::optional<std::size_t> at_ordinal =
      ordinal < numbered.size() && open(numbered[ordinal].second)
          ? std::optional(numbered[ordinal].second)
          : std::nullopt;
  // The same name first (identical cards: the one at the build's position, else the first
  // left), then the position alone (a build may name a card otherwise than its tool does).
  if (at_ordinal && named_alike(cards[*at_ordinal], rec)) {
    return at_ordinal;
  }
  for (const auto& [idx, i] : numbered) {
    if (open(i) && named_alike(cards[i], rec)) {
      return i;
    }
  }
  if (at_ordinal) {
    return at_ordinal;
  }
  // No tool numbered the card under this API: by name among the others, else the one card of
  // that vendor.
  std::vector<std::size_t> others;
  for (std::size_t i = 0; i < cards.size(); ++i) {
    if (!cards[i].gpu.index_for(rec.api) && open(i)) {
      others.push_back(i);
    }
  }
  for (const std::size_t i : others) {
    if (named_alike(cards[i], rec)) {
      return i;
    }
  }
  if (rec.vendor != GpuVendor::other) {
    std::vector<std::size_t> same_vendor;
    std::copy_if(others.begin(), others.end(), std::back_inserter(same_vendor),
                 [&](std::size_t i) { return cards[i].gpu.vendor == rec.vendor; });
    if (same_vendor.size() == 1) {
      return same_vendor.front();
    }
  }
  return std::nullopt;
}

// True when no card could be the device the build lists: none of its vendor (or, for a
// device of unknown vendor, none at all).
bool surely_new(const std::vector<Card>& cards, const ProbedGpu& rec) {
  return std::none_of(cards.begin(), cards.end(), [&](const Card& c) {
    return rec.vendor == GpuVendor::other || c.gpu.vendor == GpuVendor::other ||
           c.gpu.vendor == rec.vendor;
  });
}

void attach(Card& card, const ProbedGpu& rec, std::vector<std::string>& warnings) {
  Gpu& gpu = card.gpu;
  const std::uint64_t free = rec.free_bytes.value_or(0);
  gpu.build_devices.push_back(
      BuildDevice{rec.binary, rec.device, rec.api, rec.index, rec.name, rec.total_bytes, free});
  if (gpu.total_bytes > 0 && !gpu.unified && rec.total_bytes > 0 &&
      (rec.total_bytes / 2 > gpu.total_bytes || gpu.total_bytes / 2 > rec.total_bytes)) {
    warnings.push_back(who(rec) + " reports " + std::to_string(rec.total_bytes >> 20) +
                       " MiB, the tools " + std::to_string(gpu.total_bytes >> 20) + " MiB for " +
                       (gpu.name.empty() ? gpu.pci : gpu.name) +
                       "; is it the same card? (its free memory is used as it is)");
  }
  // The build's index becomes the card's under that API only when no tool gave one.
  absorb(card, rec);
}

} // namespace

void attach_build_devices(std::vector<Card>& cards, const std::vector<const ProbedGpu*>& records,
                          std::vector<std::string>& warnings) {
  // Per binary and API, in the build's order.
  std::vector<const ProbedGpu*> ordered = records;
  std::stable_sort(ordered.begin(), ordered.end(), [](const ProbedGpu* a, const ProbedGpu* b) {
    return std::tie(a->binary, a->api, a->index) < std::tie(b->binary, b->api, b->index);
  });
  Claims claims;
  for (const ProbedGpu* rec : ordered) {
    const std::optional<std::size_t> at = match(cards, claims, *rec);
    if (at) {
      claims.emplace(rec->binary, rec->api, *at);
      attach(cards[*at], *rec, warnings);
      continue;
    }
    const bool address_taken =
        !rec->pci.empty() && std::any_of(cards.begin(), cards.end(),
                                         [&](const Card& c) { return c.gpu.pci == rec->pci; });
    if (!address_taken && (!rec->pci.empty() || surely_new(cards, *rec))) {
      claims.emplace(rec->binary, rec->api, cards.size());
      cards.emplace_back();
      attach(cards.back(), *rec, warnings);
      continue;
    }
    warnings.push_back(who(*rec) + " matches none of the cards the tools saw; ignored");
  }
}

} // namespace ask::router::detail
