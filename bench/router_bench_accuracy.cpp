#include "bench/report.h"
#include "bench/router_bench_accuracy.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string_view>

#include "bench/router_bench_models.h"
#include "core/gguf.h"
#include "router/calibration.h"
#include "router/estimate.h"

namespace ask::bench {
namespace {

namespace fs = std::filesystem;
using router::Calibration;
using router::Estimate;
using router::EstimateInput;

double mib(std::uint64_t b) {
  return static_cast<double>(b) / k_mib;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The word after "<key> ... =" on the first line holding `key` ("" when absent).
std::string log_value(std::string_view log, std::string_view key) {
  const auto at = log.find(key);
  if (at == std::string_view::npos) {
    return "";
  }
  const auto eol = log.find('\n', at);
  std::string_view line = log.substr(at, eol == std::string_view::npos ? eol : eol - at);
  const auto eq = line.find('=');
  if (eq == std::string_view::npos) {
    return "";
  }
  std::istringstream ss{std::string(line.substr(eq + 1))};
  std::string word;
  ss >> word;
  return word;
}

// "f16" from "K (f16):" on the KV-size line.
std::string cache_type(std::string_view log, std::string_view which) {
  const auto at = log.find(std::string(which) + " (");
  if (at == std::string_view::npos) {
    return "f16";
  }
  const auto start = at + which.size() + 2;
  return std::string(log.substr(start, log.find(')', start) - start));
}

std::uint64_t weights(const Estimate& e, std::size_t from, std::size_t count) {
  std::uint64_t sum = 0;
  for (std::size_t i = from; i < std::min(e.layers.size(), from + count); ++i) {
    sum += e.layers[i].weights;
  }
  return sum;
}

std::uint64_t kv(const Estimate& e, std::size_t from, std::size_t count) {
  std::uint64_t sum = 0;
  for (std::size_t i = from; i < std::min(e.layers.size(), from + count); ++i) {
    sum += e.layers[i].kv + e.layers[i].recurrent;
  }
  return sum;
}

std::uint64_t all_weights(const Estimate& e) {
  std::uint64_t host = 0;
  for (const auto& l : e.layers) {
    host += l.host_weights;
  }
  return weights(e, 0, e.layers.size()) + host + e.input_weights + e.output_weights;
}

struct Sums {
  std::uint64_t model = 0, kv = 0, compute = 0, output = 0;
};

Sums sums(const Calibration& cal) {
  Sums s;
  for (const auto& d : cal.devices) {
    s.model += d.model, s.kv += d.kv + d.recurrent, s.compute += d.compute, s.output += d.output;
  }
  return s;
}

struct Case {
  std::string model, settings, source;
  std::vector<AccuracyRow> rows;
  void add(std::string component, std::uint64_t measured, std::uint64_t estimated) {
    if (measured > 0) {
      rows.push_back({model, settings, std::move(component), mib(measured), mib(estimated),
                      source});
    }
  }
};

// A CPU-only fixture: every buffer is host memory; the tied output copy is not made.
void fixture_rows(const fs::path& root, const fs::path& log_path, std::vector<AccuracyRow>& out) {
  const std::string log = read_text(log_path);
  const std::string key = "loading model '";
  const auto at = log.find(key);
  if (at == std::string::npos) {
    return;
  }
  const auto end = log.find('\'', at + key.size());
  const fs::path model_name = fs::path(log.substr(at + key.size(), end - at - key.size()))
                                  .filename();
  const fs::path model_path = root / "tests/fixtures/gguf" / model_name;
  const Calibration cal = router::parse_startup_log(log);
  auto model = core::gguf::read_model(model_path);
  if (cal.devices.empty() || !model) {
    return;
  }
  EstimateInput in;
  in.build = router::k_recorded_build; // the fixtures' build
  in.api = config::GpuApi::cpu;
  in.ctx = std::stoull("0" + log_value(log, "llama_context: n_ctx "));
  in.parallel = std::stoi("0" + log_value(log, "llama_context: n_seq_max"));
  in.n_ubatch = static_cast<std::uint32_t>(std::stoul("0" + log_value(log, "n_ubatch")));
  in.kv_unified = log_value(log, "llama_context: kv_unified") == "true";
  const std::string fa = log_value(log, "llama_context: flash_attn");
  in.flash_attn = fa == "enabled" ||
                  (fa == "auto" && log.find("Flash Attention enabled") != std::string::npos);
  in.cache_type_k = cache_type(log, "K");
  in.cache_type_v = cache_type(log, "V");
  const auto e = router::estimate(*model, in);
  if (!e) {
    return;
  }
  Case c{model_name.string(),
         "c" + std::to_string(in.ctx) + " np" + std::to_string(in.parallel) +
             (in.kv_unified ? " unified" : "") + (in.flash_attn ? " FA" : " noFA") + " " +
             in.cache_type_k + " KV",
         "tests/fixtures/llama-server/" + log_path.filename().string(),
         {}};
  const Sums s = sums(cal);
  c.add("model (CPU_Mapped)", s.model, all_weights(*e) - e->tied_output);
  c.add("KV (CPU)", s.kv, kv(*e, 0, e->layers.size()));
  c.add("compute (CPU)", s.compute, e->compute_cpu);
  c.add("output (CPU)", s.output, e->output_buffer);
  out.insert(out.end(), c.rows.begin(), c.rows.end());
}

// Public logs: the buffer lines quoted verbatim from the source.
constexpr const char* k_llama31_8b_log = R"(
llm_load_tensors:        CPU buffer size =   281.81 MiB
llm_load_tensors:      CUDA0 buffer size =  4156.00 MiB
llama_kv_cache_init:      CUDA0 KV buffer size =  1024.00 MiB
llama_new_context_with_model:  CUDA_Host  output buffer size =     2.02 MiB
llama_new_context_with_model:      CUDA0 compute buffer size =   560.00 MiB
llama_new_context_with_model:  CUDA_Host compute buffer size =    24.01 MiB
)";
constexpr const char* k_mistral_2k_log = R"(
llama_kv_cache_init:      CUDA0 KV buffer size =   256.00 MiB
llama_new_context_with_model:  CUDA_Host  output buffer size =     0.12 MiB
llama_new_context_with_model:      CUDA0 compute buffer size =   164.00 MiB
llama_new_context_with_model:  CUDA_Host compute buffer size =    12.01 MiB
)";
constexpr const char* k_mistral_32k_log = R"(
llama_kv_cache_init:      CUDA0 KV buffer size =  4096.00 MiB
llama_new_context_with_model:  CUDA_Host  output buffer size =     0.12 MiB
llama_new_context_with_model:      CUDA0 compute buffer size =  2144.00 MiB
llama_new_context_with_model:  CUDA_Host compute buffer size =    72.01 MiB
)";
constexpr const char* k_llama2_4gpu_log = R"(
llm_load_tensors:      CUDA3 buffer size =  3088.25 MiB
llama_kv_cache_init:      CUDA0 KV buffer size =   512.00 MiB
llama_kv_cache_init:      CUDA1 KV buffer size =   512.00 MiB
llama_kv_cache_init:      CUDA2 KV buffer size =   512.00 MiB
llama_kv_cache_init:      CUDA3 KV buffer size =   512.00 MiB
llama_new_context_with_model:  CUDA_Host  output buffer size =     0.12 MiB
llama_new_context_with_model:      CUDA0 compute buffer size =   320.50 MiB
llama_new_context_with_model:      CUDA1 compute buffer size =   296.00 MiB
llama_new_context_with_model:      CUDA2 compute buffer size =   296.00 MiB
llama_new_context_with_model:      CUDA3 compute buffer size =   296.00 MiB
llama_new_context_with_model:  CUDA_Host compute buffer size =    16.01 MiB
)";

std::uint64_t dev(const Calibration& cal, std::string_view name,
                  std::uint64_t router::DeviceBuffers::*field) {
  const auto* d = cal.find(name);
  return d ? d->*field : 0;
}

// 2024 builds: one KV buffer for all slots, FA off, logits for every n_ubatch row, and the
// 10 % margin of a build that is not the recorded one (ollama's 2024 vendored llama.cpp was
// around build 3600).
EstimateInput old_build(std::uint64_t ctx, int np) {
  EstimateInput in;
  in.build = 3600;
  in.ctx = ctx;
  in.parallel = np;
  in.kv_unified = true;
  in.flash_attn = false;
  in.n_batch = 512;
  in.n_outputs_max = 512;
  return in;
}

ModelSpec small_spec(std::string name, std::uint32_t vocab, std::uint32_t n_ff,
                     std::uint32_t head_kv, std::uint32_t ctx_train, TypeMix types) {
  ModelSpec s;
  s.name = std::move(name);
  s.n_vocab = vocab, s.n_ff = n_ff, s.n_head_kv = head_kv, s.n_ctx_train = ctx_train;
  s.full_tokenizer = false;
  s.types = types;
  return s;
}

void single_gpu(Case& c, const Calibration& cal, const Estimate& e, bool model) {
  using B = router::DeviceBuffers;
  if (model) {
    c.add("model CPU (token_embd)", dev(cal, "CPU", &B::model), e.input_weights);
    c.add("model CUDA0", dev(cal, "CUDA0", &B::model),
          weights(e, 0, e.layers.size()) + e.output_weights);
  }
  c.add("KV CUDA0", dev(cal, "CUDA0", &B::kv), kv(e, 0, e.layers.size()));
  c.add("compute CUDA0", dev(cal, "CUDA0", &B::compute), e.compute_output);
  c.add("compute CUDA_Host", dev(cal, "CUDA_Host", &B::compute), e.compute_host);
  c.add("output CUDA_Host", dev(cal, "CUDA_Host", &B::output), e.output_buffer);
}

void published_rows(std::vector<AccuracyRow>& out) {
  using B = router::DeviceBuffers;
  TypeMix q4_0{2, 14, 2, 2, 2, 2, false};
  TypeMix f16{1, 1, 1, 1, 1, 1, false};
  {
    const auto s = small_spec("Llama-3.1-8B-Instruct Q4_0", 128256, 14336, 8, 131072, q4_0);
    const auto e = router::estimate(in_memory(build_header(s), "l8b"), old_build(8192, 4));
    Case c{s.name, "c8192 np4 unified, FA off, ub512",
           "ollama on a Tesla T4, llama.cpp 1e6f655, 2024-08-30 (public notebook transcript, "
           "no address in the search index; see docs/benchmarks.md)",
           {}};
    if (e) {
      single_gpu(c, router::parse_startup_log(k_llama31_8b_log), *e, true);
    }
    out.insert(out.end(), c.rows.begin(), c.rows.end());
  }
  for (auto [ctx, log] : {std::pair<std::uint64_t, const char*>{2048, k_mistral_2k_log},
                          {32768, k_mistral_32k_log}}) {
    const auto s = small_spec("Mistral-7B-v0.2 shape", 32000, 14336, 8, 32768, q4_0);
    const auto e = router::estimate(in_memory(build_header(s), "m7b"), old_build(ctx, 1));
    Case c{s.name, "c" + std::to_string(ctx) + " np1, FA off, ub512",
           "https://github.com/fedora-copr/logdetective/pull/106", {}};
    if (e) {
      single_gpu(c, router::parse_startup_log(log), *e, false);
    }
    out.insert(out.end(), c.rows.begin(), c.rows.end());
  }
  const auto s = small_spec("Llama-2-7B F16, 4 GPUs", 32000, 11008, 32, 4096, f16);
  const auto e = router::estimate(in_memory(build_header(s), "l2"), old_build(4096, 1));
  Case c{s.name, "c4096 np1, FA off, ub512", "https://github.com/ggml-org/llama.cpp/issues/9229",
         {}};
  if (e) {
    const Calibration cal = router::parse_startup_log(k_llama2_4gpu_log);
    c.add("model CUDA3 (8 layers)", dev(cal, "CUDA3", &B::model), weights(*e, 24, 8));
    c.add("KV CUDA0 (8 layers)", dev(cal, "CUDA0", &B::kv), kv(*e, 0, 8));
    c.add("KV all GPUs", sums(cal).kv, kv(*e, 0, 32));
    c.add("compute CUDA1..3 (layer)", dev(cal, "CUDA1", &B::compute), e->compute_layer);
    c.add("compute CUDA0 (layer)", dev(cal, "CUDA0", &B::compute), e->compute_layer);
    c.add("compute CUDA_Host", dev(cal, "CUDA_Host", &B::compute), e->compute_host);
    c.add("output CUDA_Host", dev(cal, "CUDA_Host", &B::output), e->output_buffer);
  }
  out.insert(out.end(), c.rows.begin(), c.rows.end());
}

} // namespace

std::vector<AccuracyRow> accuracy_rows(const fs::path& root) {
  std::vector<AccuracyRow> out;
  std::vector<fs::path> logs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root / "tests/fixtures/llama-server", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("startup-") && name.ends_with(".log")) {
      logs.push_back(entry.path());
    }
  }
  std::sort(logs.begin(), logs.end());
  for (const auto& p : logs) {
    fixture_rows(root, p, out);
  }
  published_rows(out);
  return out;
}

} // namespace ask::bench
