#pragma once
// The truth-grid half of router_bench: every recorded llama-server run of the model zoo
// (tests/fixtures/llama-server/grid/) against the estimate for the same file, settings and
// split, component by component and device by device, with llama.cpp's own llama-fit-params
// projection of the same runs beside it (docs/benchmarks.md, "router: memory truth grid").

#include <filesystem>
#include <string>

namespace ask::bench {

// Prints the grid's tables (or one JSON object) for the runs in `dir`; `label` names them
// ("grid", "held out"). Returns the number of runs read.
int print_grid(const std::filesystem::path& dir, const std::string& label, bool json);

} // namespace ask::bench
