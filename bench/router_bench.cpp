// router_bench: how fast the router reads a model, estimates its memory and places it, and
// how close the estimate comes to what llama.cpp allocated (docs/benchmarks.md, "router").
//
// Speed: read_model on the fixtures and on synthetic headers with real model shapes (full
// tokenizer, sparse data section), estimate() on metadata already read, place() on four
// seed rigs, and the three together; median and p99 over --iterations, file in page cache.
// Targets: place well under 1 ms (issue 6); estimate under 50 ms, once per model and settings
// (issue 19: it replays llama.cpp's allocator); a large header read under 10 ms.
// Accuracy: estimate vs the buffers of llama-server startup logs (the fixtures, and public
// logs of well-known models quoted in router_bench_accuracy.cpp), per component.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/report.h"
#include "bench/router_bench_accuracy.h"
#include "bench/router_bench_grid.h"
#include "bench/router_bench_models.h"
#include "core/gguf.h"
#include "router/estimate.h"
#include "router/inventory.h"
#include "router/placement.h"
#include "tests/support/gguf_writer.h"

namespace ask::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr std::uint64_t k_gib = 1ull << 30;
// place() runs on every scheduling decision; estimate() once per model and settings (at start,
// after a calibration, in askd plan): it replays llama.cpp's allocator over five simulated
// loads, so its budget is that of a start, not of a request.
constexpr double k_target_place_us = 1000.0;
constexpr double k_target_estimate_us = 50000.0;
constexpr double k_target_read_us = 10000.0;

struct Stats {
  double median_us = 0;
  double p99_us = 0;
};

Stats stats(std::vector<double> us) {
  if (us.empty()) {
    return {};
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(us.size())));
    return us[std::clamp<std::size_t>(rank, 1, us.size()) - 1];
  };
  return {at(0.5), at(0.99)};
}

// Runs `fn` `n` times (after one untimed call) and returns the per-call statistics.
Stats time_it(int n, const std::function<void()>& fn) {
  fn();
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return stats(std::move(us));
}

struct Rig {
  std::string name;
  config::GpuApi api = config::GpuApi::cuda;
  router::Inventory inv;
};

router::Gpu gpu(int i, std::string name, std::uint64_t gib, config::GpuVendor vendor,
                config::GpuApi api, bool unified = false) {
  router::Gpu g;
  g.id = "gpu" + std::to_string(i);
  g.name = std::move(name);
  g.vendor = vendor;
  g.total_bytes = gib * k_gib;
  g.free_bytes = g.total_bytes - k_gib / 2; // the desktop / driver already holds some
  g.unified = unified;
  g.index = {{api, i}};
  g.sources = {"bench"};
  g.cap_bytes = static_cast<std::uint64_t>(static_cast<double>(g.total_bytes) *
                                           (unified ? 0.75 : router::k_default_cap));
  return g;
}

std::vector<Rig> seed_rigs() {
  using config::GpuApi;
  using config::GpuVendor;
  std::vector<Rig> rigs(4);
  rigs[0].name = "4x32GB+1x24GB";
  for (int i = 0; i < 4; ++i) {
    rigs[0].inv.gpus.push_back(gpu(i, "RTX 5090", 32, GpuVendor::nvidia, GpuApi::cuda));
  }
  rigs[0].inv.gpus.push_back(gpu(4, "RTX 4090", 24, GpuVendor::nvidia, GpuApi::cuda));
  rigs[1].name = "2x24GB";
  for (int i = 0; i < 2; ++i) {
    rigs[1].inv.gpus.push_back(gpu(i, "RTX 3090", 24, GpuVendor::nvidia, GpuApi::cuda));
  }
  rigs[2].name = "1x16GB";
  rigs[2].inv.gpus.push_back(gpu(0, "RTX 4080", 16, GpuVendor::nvidia, GpuApi::cuda));
  rigs[3].name = "24GB unified";
  rigs[3].api = GpuApi::metal;
  rigs[3].inv.gpus.push_back(gpu(0, "Apple M4 Pro", 24, GpuVendor::apple, GpuApi::metal, true));
  return rigs;
}

struct Model {
  std::string name;
  fs::path path;
  std::uint64_t header_bytes = 0;
  std::uint64_t file_bytes = 0;
  bool large = false; // a synthetic header of a real model: the 10 ms target applies
  Header header;      // synthetic models: the bytes, for the in-memory parse figure
  core::gguf::SplitModel meta;
  router::EstimateInput in;
};

struct PlaceResult {
  std::string rig;
  std::string where; // "gpu0", "gpu0+gpu1 (40+41 layers)", "no fit: …"
  Stats place;
  Stats estimate_place;
};

struct SpeedRow {
  Model model;
  Stats read;
  Stats parse; // core::gguf::parse of the header already in memory (synthetic models)
  Stats estimate;
  Stats all_three; // read + estimate + place on the first rig
  std::vector<PlaceResult> places;
};

std::string where(const std::expected<router::Plan, router::NoFit>& plan) {
  if (!plan) {
    return "no fit (needs " + router::human_bytes(plan.error().needed) + ")";
  }
  std::string ids, layers;
  for (const auto& g : plan->gpus) {
    ids += (ids.empty() ? "" : "+") + g.gpu;
    layers += (layers.empty() ? "" : "+") + std::to_string(g.layers);
  }
  return ids + " (" + layers + " layers, " + router::human_bytes(plan->gpu_bytes) + ")";
}

router::PlacementRequest request(const Rig& rig) {
  router::PlacementRequest req;
  req.api = rig.api;
  return req;
}

SpeedRow measure(Model m, const std::vector<Rig>& rigs, int n) {
  SpeedRow row;
  row.read = time_it(n, [&] { (void)core::gguf::read_model(m.path); });
  if (m.large) {
    row.parse = time_it(n, [&] { (void)core::gguf::parse(m.header.bytes, m.header.file_size); });
  }
  row.estimate = time_it(n, [&] { (void)router::estimate(m.meta, m.in); });
  const auto est = router::estimate(m.meta, m.in);
  for (const Rig& rig : rigs) {
    PlaceResult pr;
    pr.rig = rig.name;
    if (est) {
      const auto req = request(rig);
      pr.where = where(router::place(*est, rig.inv, req));
      pr.place = time_it(n, [&] { (void)router::place(*est, rig.inv, req); });
      pr.estimate_place = time_it(n, [&] {
        auto e = router::estimate(m.meta, m.in);
        if (e) {
          (void)router::place(*e, rig.inv, req);
        }
      });
    } else {
      pr.where = "estimate failed: " + est.error().message;
    }
    row.places.push_back(std::move(pr));
  }
  const auto req0 = request(rigs.front());
  row.all_three = time_it(n, [&] {
    auto model = core::gguf::read_model(m.path);
    if (model) {
      auto e = router::estimate(*model, m.in);
      if (e) {
        (void)router::place(*e, rigs.front().inv, req0);
      }
    }
  });
  row.model = std::move(m);
  return row;
}

router::EstimateInput typical_input(std::uint64_t ctx) {
  router::EstimateInput in;
  in.ctx = ctx;
  in.parallel = 1;
  in.flash_attn = true;
  return in;
}

// The four fixtures and the four synthetic headers, read once (warming the page cache).
std::vector<Model> models(const fs::path& tmp, std::string& error) {
  std::vector<Model> out;
  const fs::path dir = fs::path(ASK_SOURCE_DIR) / "tests/fixtures/gguf";
  for (const char* f : {"tiny-llama-2L-f16.gguf", "tiny-llama-2L-hd32-f16.gguf",
                        "tiny-llama-4L-q8_0.gguf", "tiny-gemma3-2L-swa-f16.gguf"}) {
    Model m;
    m.name = f;
    m.path = dir / f;
    m.in = typical_input(1024);
    out.push_back(std::move(m));
  }
  for (const ModelSpec& s :
       {llama31_8b_q4_k_m(), qwen3_30b_a3b_q4_k_m(), llama31_70b_q4_k_m(), gemma3_27b_q4_k_m()}) {
    Model m;
    m.name = s.name + " (synthetic)";
    m.path = tmp / (s.arch + "-" + std::to_string(s.n_layer) + "L.gguf");
    m.large = true;
    m.in = typical_input(8192);
    m.header = build_header(s);
    if (!write_sparse(m.header, m.path, error)) {
      return {};
    }
    out.push_back(std::move(m));
  }
  for (Model& m : out) {
    auto r = core::gguf::read_model(m.path);
    if (!r) {
      error = m.path.string() + ": " + r.error().message;
      return {};
    }
    m.header_bytes = r->first().data_offset;
    m.file_bytes = r->file_size();
    m.meta = std::move(*r);
  }
  return out;
}

std::string yes_no(bool met) {
  return met ? "met" : "NOT met";
}

std::string us_pair(const Stats& s) {
  return fmt::format("{:.1f} / {:.1f}", s.median_us, s.p99_us);
}

void print_target(const char* what, double limit_us, const Stats& worst) {
  fmt::print("target: {} under {:.0f} us: worst median {:.1f} us ({}), worst p99 {:.1f} us ({})\n",
             what, limit_us, worst.median_us, yes_no(worst.median_us < limit_us), worst.p99_us,
             yes_no(worst.p99_us < limit_us));
}

void worst_of(Stats& worst, const Stats& s) {
  worst.median_us = std::max(worst.median_us, s.median_us);
  worst.p99_us = std::max(worst.p99_us, s.p99_us);
}

void print_targets(const std::vector<SpeedRow>& rows) {
  Stats pl, es, rd; // worst median and worst p99 over models and rigs
  for (const auto& r : rows) {
    for (const auto& p : r.places) {
      worst_of(pl, p.place);
    }
    worst_of(es, r.estimate);
    if (r.model.large) {
      worst_of(rd, r.read);
    }
  }
  fmt::print("\n");
  print_target("place on an estimate", k_target_place_us, pl);
  print_target("estimate on metadata already read", k_target_estimate_us, es);
  print_target("first read of a large header", k_target_read_us, rd);
  fmt::print("\n");
}

void print_speed(const std::vector<SpeedRow>& rows, int n) {
  fmt::print("router_bench: {} iterations per figure, microseconds (median / p99), page cache "
             "warm\n\n",
             n);
  fmt::print("{:<34} {:>10} {:>9} {:>17} {:>17} {:>13} {:>17}\n", "model", "file", "header",
             "read_model", "parse (memory)", "estimate", "read+est+place");
  for (const auto& r : rows) {
    fmt::print("{:<34} {:>10} {:>9} {:>17} {:>17} {:>13} {:>17}\n", r.model.name,
               router::human_bytes(r.model.file_bytes), router::human_bytes(r.model.header_bytes),
               us_pair(r.read), r.model.large ? us_pair(r.parse) : "-", us_pair(r.estimate),
               us_pair(r.all_three));
  }
  fmt::print("\n{:<34} {:<14} {:>13} {:>15}  {}\n", "model", "rig", "place", "estimate+place",
             "placement");
  for (const auto& r : rows) {
    for (const auto& p : r.places) {
      fmt::print("{:<34} {:<14} {:>13} {:>15}  {}\n", r.model.name, p.rig, us_pair(p.place),
                 us_pair(p.estimate_place), p.where);
    }
  }
  print_targets(rows);
}

void print_accuracy(const std::vector<AccuracyRow>& rows) {
  fmt::print("accuracy: estimate vs llama.cpp's logged buffers (MiB; error = (est - log) / log)\n\n");
  fmt::print("{:<28} {:<34} {:<26} {:>9} {:>9} {:>8}\n", "model", "settings", "component",
             "logged", "estimate", "error");
  for (const auto& r : rows) {
    fmt::print("{:<28} {:<34} {:<26} {:>9.2f} {:>9.2f} {:>7.1f}%\n", r.model, r.settings,
               r.component, r.measured_mib, r.estimated_mib, r.error_pct());
  }
  fmt::print("\nsources:\n");
  std::string last;
  for (const auto& r : rows) {
    if (r.source != last) {
      fmt::print("  {}: {}\n", r.model, r.source);
      last = r.source;
    }
  }
}

std::string json_str(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  return out + "\"";
}

std::string json_stats(const Stats& s) {
  return fmt::format("{{\"median_us\":{:.3f},\"p99_us\":{:.3f}}}", s.median_us, s.p99_us);
}

void print_json(const std::vector<SpeedRow>& rows, const std::vector<AccuracyRow>& acc, int n) {
  std::string out = fmt::format("{{\"iterations\":{},\"speed\":[", n);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out += fmt::format("{}{{\"model\":{},\"file_bytes\":{},\"header_bytes\":{},\"large\":{},"
                       "\"read_model\":{},\"parse\":{},\"estimate\":{},\"read_estimate_place\":{},"
                       "\"place\":[",
                       i ? "," : "", json_str(r.model.name), r.model.file_bytes,
                       r.model.header_bytes, r.model.large, json_stats(r.read),
                       json_stats(r.parse), json_stats(r.estimate), json_stats(r.all_three));
    for (std::size_t j = 0; j < r.places.size(); ++j) {
      const auto& p = r.places[j];
      out += fmt::format("{}{{\"rig\":{},\"result\":{},\"place\":{},\"estimate_place\":{}}}",
                         j ? "," : "", json_str(p.rig), json_str(p.where), json_stats(p.place),
                         json_stats(p.estimate_place));
    }
    out += "]}";
  }
  out += "],\"accuracy\":[";
  for (std::size_t i = 0; i < acc.size(); ++i) {
    const auto& a = acc[i];
    out += fmt::format("{}{{\"model\":{},\"settings\":{},\"component\":{},\"measured_mib\":{:.3f},"
                       "\"estimated_mib\":{:.3f},\"error_pct\":{:.2f},\"source\":{}}}",
                       i ? "," : "", json_str(a.model), json_str(a.settings),
                       json_str(a.component), a.measured_mib, a.estimated_mib, a.error_pct(),
                       json_str(a.source));
  }
  fmt::print("{}]}}\n", out);
}

int run(int argc, char** argv) {
  int iterations = 200;
  bool json = false;
  CLI::App app{"router_bench: speed of read_model / estimate / place and accuracy of the VRAM "
               "estimate against llama.cpp startup logs",
               "router_bench"};
  app.add_option("--iterations,-n", iterations, "timed calls per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_flag("--json", json, "print one JSON object instead of tables");
  std::string grid;
  app.add_option("--grid", grid,
                 "only the memory truth grid: 'grid' (tests/fixtures/llama-server/grid) or "
                 "'held-out' (its held-out runs)")
      ->check(CLI::IsMember({"grid", "held-out"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!grid.empty()) {
    const fs::path dir = fs::path(ASK_SOURCE_DIR) / "tests/fixtures/llama-server/grid" /
                         (grid == "held-out" ? "held-out" : "");
    return print_grid(dir, grid == "held-out" ? "held out" : "grid", json) > 0 ? 0 : 1;
  }
  testing::gguf::TempDir tmp;
  std::string error;
  auto ms = models(tmp.path(), error);
  if (ms.empty()) {
    fmt::print(stderr, "router_bench: {}\n", error);
    return 1;
  }
  const auto rigs = seed_rigs();
  std::vector<SpeedRow> rows;
  for (Model& m : ms) {
    rows.push_back(measure(std::move(m), rigs, iterations));
  }
  const auto acc = accuracy_rows(fs::path(ASK_SOURCE_DIR));
  if (json) {
    print_json(rows, acc, iterations);
  } else {
    print_speed(rows, iterations);
    print_accuracy(acc);
    print_grid(fs::path(ASK_SOURCE_DIR) / "tests/fixtures/llama-server/grid", "grid", false);
  }
  return 0;
}

} // namespace
} // namespace ask::bench

int main(int argc, char** argv) {
  return ask::bench::run(argc, argv);
}
