// router_bench --grid: the estimator against the memory truth grid (router_bench_grid.h).

#include "bench/report.h"
#include "bench/router_bench_grid.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "tests/support/memory_grid.h"

namespace ask::bench {
namespace {

namespace grid = ask::testing::grid;

// Errors of one component over every device figure.
struct Errors {
  std::vector<double> pct;
  int within(double limit) const {
    return static_cast<int>(
        std::count_if(pct.begin(), pct.end(), [&](double e) { return std::abs(e) <= limit; }));
  }
  int low(double limit) const {
    return static_cast<int>(
        std::count_if(pct.begin(), pct.end(), [&](double e) { return e < -limit; }));
  }
  double worst_low() const {
    return pct.empty() ? 0 : std::min(0.0, *std::min_element(pct.begin(), pct.end()));
  }
  double worst_high() const {
    return pct.empty() ? 0 : std::max(0.0, *std::max_element(pct.begin(), pct.end()));
  }
};

struct Summary {
  int runs = 0, refused = 0, refused_both = 0, node_counts = 0, node_counts_equal = 0;
  Errors weights, kv, compute, total, fit_compute, fit_total;
  std::map<std::string, Errors> compute_by_arch;
};


void add(Summary& s, const grid::Run& run, const grid::Comparison& c, const std::string& arch) {
  ++s.runs;
  if (run.refused) {
    ++s.refused;
    s.refused_both += c.estimate_refused ? 1 : 0;
    return;
  }
  if (c.estimate_refused) {
    return;
  }
  if (run.graph_nodes != 0) {
    ++s.node_counts;
    s.node_counts_equal += c.graph_nodes == run.graph_nodes ? 1 : 0;
  }
  for (const grid::Device& d : c.devices) {
    s.weights.pct.push_back(grid::error_pct(d.est_weights, d.real_weights));
    s.kv.pct.push_back(grid::error_pct(d.est_kv, d.real_kv));
    if (d.real_compute > 1024 * 1024) {
      const double e = grid::error_pct(d.est_compute, d.real_compute);
      s.compute.pct.push_back(e);
      s.compute_by_arch[arch].pct.push_back(e);
      if (d.fit_compute_mib) {
        const double real = static_cast<double>(d.real_compute) / k_mib;
        s.fit_compute.pct.push_back(100.0 * (*d.fit_compute_mib - real) / real);
      }
    }
    s.total.pct.push_back(grid::error_pct(d.est_total(), d.real_total()));
    if (d.fit_total_mib && d.real_total() > 0) {
      const double real = static_cast<double>(d.real_total()) / k_mib;
      s.fit_total.pct.push_back(100.0 * (*d.fit_total_mib - real) / real);
    }
  }
}

void row(const std::string& what, const Errors& e, double tight) {
  fmt::print("{:<30} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}\n", what, e.pct.size(),
             e.within(tight), e.within(5.0), e.low(2.0), fmt::format("{:+.2f}%", e.worst_low()),
             fmt::format("{:+.2f}%", e.worst_high()));
}

} // namespace

int print_grid(const std::filesystem::path& dir, const std::string& label, bool json) {
  Summary s;
  for (const auto& path : grid::logs(dir)) {
    auto run = grid::read_run(path);
    if (!run) {
      continue;
    }
    const grid::Comparison c = grid::compare(*run);
    std::string arch = run->model;
    if (auto m = grid::model_of(*run)) {
      arch = (*m)->first().architecture();
    }
    add(s, *run, c, arch);
  }
  if (json) {
    auto stats = [](const Errors& e) {
      return fmt::format("{{\"figures\":{},\"within_0_5\":{},\"within_5\":{},\"low_2\":{},"
                         "\"worst_low_pct\":{:.3f},\"worst_high_pct\":{:.3f}}}",
                         e.pct.size(), e.within(0.5), e.within(5.0), e.low(2.0), e.worst_low(),
                         e.worst_high());
    };
    fmt::print("{{\"label\":\"{}\",\"runs\":{},\"refused\":{},\"refused_by_estimate\":{},"
               "\"weights\":{},\"kv\":{},\"compute\":{},\"total\":{},\"fit_params_compute\":{},"
               "\"fit_params_total\":{}}}\n",
               label, s.runs, s.refused, s.refused_both, stats(s.weights), stats(s.kv),
               stats(s.compute), stats(s.total), stats(s.fit_compute), stats(s.fit_total));
    return s.runs;
  }
  fmt::print("\nmemory truth grid ({}): {} runs of llama-server b10587, {} refused by llama.cpp "
             "({} refused by the estimate too); graph node counts equal in {} of {}\n",
             label, s.runs, s.refused, s.refused_both, s.node_counts_equal, s.node_counts);
  fmt::print("error = (estimate - log) / log, per device figure (the host and each device)\n\n");
  fmt::print("{:<30} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "component", "n", "±0.5 %",
             "±5 %", "> 2 % low", "worst low", "worst high");
  row("weights", s.weights, 0.5);
  row("KV cache + recurrent state", s.kv, 0.5);
  row("compute buffers", s.compute, 0.5);
  row("device totals", s.total, 0.5);
  row("llama-fit-params compute", s.fit_compute, 0.5);
  row("llama-fit-params totals", s.fit_total, 0.5);
  fmt::print("\ncompute buffers by architecture:\n");
  for (const auto& [arch, e] : s.compute_by_arch) {
    row("  " + arch, e, 0.5);
  }
  return s.runs;
}

} // namespace ask::bench
