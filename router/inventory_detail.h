#pragma once
// The merge's working state, shared by inventory.cpp (tool records, declared devices) and
// inventory_builds.cpp (llama-server records). Private to router/.

#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "router/inventory.h"

namespace ask::router::detail {

// A card being assembled.
struct Card {
  Gpu gpu;
  int rank = 0;                   // the source_rank of the source its name and total came from
  std::vector<std::string> names; // every name a source gave it
  const config::GpuSpec* spec = nullptr;
};

// Folds one record into a card: index under its API, sources, name and total from the
// best-ranked source, free the smallest seen.
void absorb(Card& card, const ProbedGpu& rec);

void add_index(Gpu& gpu, config::GpuApi api, int index);
void add_source(Gpu& gpu, const std::string& source);

// True when two device names are the same model: compared without case, and without a
// trailing parenthesised driver note ("AMD Radeon RX 7600 (RADV NAVI33)").
bool same_name(std::string_view a, std::string_view b);

// Matches the llama-server records (see merge() in inventory.h) to `cards`, appending cards
// for devices no tool saw and warnings for those it drops or doubts.
void attach_build_devices(std::vector<Card>& cards, const std::vector<const ProbedGpu*>& records,
                          std::vector<std::string>& warnings);

} // namespace ask::router::detail
