#include "sim/memory_log.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace ask::sim {

namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;

struct CacheTypeRow {
  const char* name;
  std::uint32_t block;
  std::uint32_t bytes;
};

// ggml's block sizes for the KV cache types llama-server accepts.
constexpr std::array<CacheTypeRow, 9> k_cache_types = {{
    {"f32", 1, 4},
    {"f16", 1, 2},
    {"bf16", 1, 2},
    {"q8_0", 32, 34},
    {"q4_0", 32, 18},
    {"q4_1", 32, 20},
    {"iq4_nl", 32, 18},
    {"q5_0", 32, 22},
    {"q5_1", 32, 24},
}};

long long pad(long long n, long long to) {
  return (n + to - 1) / to * to;
}

std::string format(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

std::uint64_t row_bytes(const CacheType& t, std::uint64_t n) {
  return n / t.block * t.bytes;
}

bool is_swa(const ModelInfo& m, std::uint64_t layer) {
  return m.arch.sliding_window > 0 && layer < m.arch.is_swa_layer.size() &&
         m.arch.is_swa_layer[layer];
}

std::uint64_t n_head_kv(const ModelInfo& m, std::uint64_t layer) {
  return layer < m.arch.n_head_kv.size() ? m.arch.n_head_kv[layer] : 0;
}

std::uint64_t max_ff(const ModelInfo& m) {
  std::uint64_t ff = 0;
  for (std::uint64_t l = 0; l < m.arch.n_layer; ++l) {
    ff = std::max(ff, m.n_ff(l));
  }
  return ff;
}

std::vector<std::string> gpu_names(const Options& o) {
  std::vector<std::string> names;
  if (!o.devices.empty() && !(o.devices.size() == 1 && o.devices[0] == "none")) {
    names = o.devices;
  } else if (!o.tensor_split.empty()) {
    for (std::size_t i = 0; i < o.tensor_split.size(); ++i) {
      names.push_back("CUDA" + std::to_string(i));
    }
  }
  return names;
}

int gpu_layers_wanted(const Options& o, int n_layer) {
  if (o.gpu_layers == "auto" || o.gpu_layers == "all") {
    return n_layer + 1;
  }
  int n = std::stoi(o.gpu_layers);
  return n < 0 ? n_layer + 1 : std::min(n, n_layer + 1);
}

// Which GPU holds offloaded layer `i` of `n` (llama.cpp: cumulative split fractions).
std::size_t device_for(double i, double n, const std::vector<double>& cumulative) {
  double f = i / n;
  auto it = std::upper_bound(cumulative.begin(), cumulative.end(), f);
  return std::min<std::size_t>(static_cast<std::size_t>(it - cumulative.begin()),
                               cumulative.size() - 1);
}

std::vector<double> cumulative_split(const Options& o, std::size_t devices) {
  std::vector<double> split(devices, 1.0);
  if (!o.tensor_split.empty()) {
    for (std::size_t i = 0; i < devices; ++i) {
      split[i] = i < o.tensor_split.size() ? o.tensor_split[i] : 0.0;
    }
  }
  double total = std::accumulate(split.begin(), split.end(), 0.0);
  if (total <= 0) {
    split.assign(devices, 1.0);
    total = static_cast<double>(devices);
  }
  double sum = 0;
  for (double& s : split) {
    sum += s / total;
    s = sum;
  }
  return split;
}

// Layer `l`'s K and V cache, held by `d`, counted in the plan's totals.
void add_layer_kv(MemoryPlan& mem, DeviceMemory& d, const ModelInfo& m, const ContextPlan& c,
                  std::uint64_t l) {
  const bool swa = is_swa(m, l);
  const auto cells = static_cast<std::uint64_t>(swa ? c.swa_cells : c.cells);
  const std::uint64_t scale = static_cast<std::uint64_t>(c.n_stream) * cells;
  const std::uint64_t kb = scale * row_bytes(c.type_k, m.arch.n_embd_head_k * n_head_kv(m, l));
  const std::uint64_t vb = scale * row_bytes(c.type_v, m.arch.n_embd_head_v * n_head_kv(m, l));
  d.layers += 1;
  d.kv += kb + vb;
  if (swa) {
    d.kv_swa += kb + vb;
    mem.swa_k_bytes += kb;
    mem.swa_v_bytes += vb;
    mem.swa_layers += 1;
  } else {
    mem.k_bytes += kb;
    mem.v_bytes += vb;
    mem.kv_layers += 1;
  }
}

void add_kv_lines(std::vector<std::string>& out, const MemoryPlan& mem, bool swa_cache) {
  for (const DeviceMemory& d : mem.gpus) {
    std::uint64_t bytes = swa_cache ? d.kv_swa : d.kv - d.kv_swa;
    if (bytes > 0) {
      out.push_back(format("llama_kv_cache: %10s KV buffer size = %s MiB", d.name.c_str(),
                           mib(bytes).c_str()));
    }
  }
  std::uint64_t host = swa_cache ? mem.host.kv_swa : mem.host.kv - mem.host.kv_swa;
  if (host > 0) {
    out.push_back(format("llama_kv_cache: %10s KV buffer size = %s MiB", "CPU", mib(host).c_str()));
  }
}

void add_kv_summary(std::vector<std::string>& out, const ContextPlan& ctx, std::uint64_t k,
                    std::uint64_t v, long long cells, int layers, const ModelInfo& m) {
  out.push_back(format("llama_kv_cache: size = %s MiB (%6lld cells, %3d layers, %2d/%d seqs), "
                       "K (%s): %s MiB, V (%s): %s MiB",
                       mib(k + v, 7).c_str(), cells, layers, ctx.n_seq, ctx.n_stream,
                       ctx.type_k.name.c_str(), mib(k, 7).c_str(), ctx.type_v.name.c_str(),
                       mib(v, 7).c_str()));
  const unsigned long long head = m.arch.n_embd_head_k;
  out.push_back(format("llama_kv_cache: attn_rot_k = 0, n_embd_head_k_all = %llu", head));
  out.push_back(format("llama_kv_cache: attn_rot_v = 0, n_embd_head_k_all = %llu", head));
}

unsigned long long ull(std::uint64_t v) {
  return static_cast<unsigned long long>(v);
}

// llama_model_loader and print_info: what the file holds.
void add_model_lines(std::vector<std::string>& out, const ModelInfo& m) {
  const auto& a = m.arch;
  out.push_back(format("llama_model_loader: loaded meta data with %zu key-value pairs and %zu "
                       "tensors from %s (version GGUF V%u (latest))",
                       m.n_metadata, m.tensors.size(), m.path.c_str(), m.gguf_version));
  for (const auto& [id, type] : m.tensor_types) {
    out.push_back(
        format("llama_model_loader: - type %4s: %4d tensors", type.first.c_str(), type.second));
  }
  out.push_back(format("print_info: file format = GGUF V%u (latest)", m.gguf_version));
  out.push_back("print_info: file type   = " + ftype_name(m.file_type));
  const double bpw =
      m.n_params ? static_cast<double>(m.tensor_bytes) * 8 / static_cast<double>(m.n_params) : 0;
  out.push_back(format("print_info: file size   = %.2f MiB (%.2f BPW) ",
                       static_cast<double>(m.tensor_bytes) / k_mib, bpw));
  out.push_back("print_info: arch                  = " + a.arch);
  const std::pair<const char*, std::uint64_t> numbers[] = {
      {"n_ctx_train", a.n_ctx_train},
      {"n_embd", a.n_embd},
      {"n_layer", a.n_layer},
      {"n_head", a.n_head.empty() ? 0 : a.n_head[0]},
      {"n_head_kv", a.n_head_kv.empty() ? 0 : a.n_head_kv[0]},
      {"n_swa", a.sliding_window},
      {"n_embd_head_k", a.n_embd_head_k},
      {"n_embd_head_v", a.n_embd_head_v},
      {"n_ff", m.n_ff(0)},
  };
  for (const auto& [name, value] : numbers) {
    out.push_back(format("print_info: %-21s = %llu", name, ull(value)));
  }
  out.push_back("print_info: model params          = " + params_text(m.n_params));
  out.push_back("print_info: general.name          = " + m.name);
  out.push_back(format("print_info: n_vocab               = %llu", ull(a.n_vocab)));
}

// load_tensors: where the weights go.
void add_tensor_lines(std::vector<std::string>& out, const ModelInfo& m, const MemoryPlan& mem) {
  out.push_back("load_tensors: loading model tensors, this can take a while... (load_mode = mmap)");
  if (!mem.gpus.empty()) {
    out.push_back(
        format("load_tensors: offloading %d repeating layers to GPU", mem.offloaded_layers));
    if (mem.output_offloaded) {
      out.push_back("load_tensors: offloading output layer to GPU");
    }
    out.push_back(format("load_tensors: offloaded %d/%llu layers to GPU",
                         mem.offloaded_layers + (mem.output_offloaded ? 1 : 0),
                         ull(m.arch.n_layer + 1)));
    for (const DeviceMemory& d : mem.gpus) {
      if (d.model > 0) {
        out.push_back(format("load_tensors: %12s model buffer size = %s MiB", d.name.c_str(),
                             mib(d.model).c_str()));
      }
    }
  }
  out.push_back(format("load_tensors: %12s model buffer size = %s MiB", "CPU_Mapped",
                       mib(mem.host.model).c_str()));
}

// llama_context: the context's shape and the output buffer.
void add_context_lines(std::vector<std::string>& out, const ModelInfo& m, const ContextPlan& c,
                       const MemoryPlan& mem) {
  out.push_back("llama_context: constructing llama_context");
  out.push_back(format("llama_context: n_seq_max             = %d", c.n_seq));
  out.push_back(format("llama_context: n_ctx                 = %lld", c.n_ctx));
  out.push_back(format("llama_context: n_ctx_seq             = %lld", c.n_ctx_seq));
  out.push_back(format("llama_context: n_batch               = %lld", c.n_batch));
  out.push_back(format("llama_context: n_ubatch              = %lld", c.n_ubatch));
  out.push_back("llama_context: causal_attn           = 1");
  out.push_back("llama_context: flash_attn            = " + c.flash_attn);
  out.push_back(std::string("llama_context: kv_unified            = ") +
                (c.kv_unified ? "true" : "false"));
  out.push_back(format("llama_context: n_outputs_max         = %d", c.n_seq));
  if (c.n_ctx_seq < static_cast<long long>(m.arch.n_ctx_train)) {
    out.push_back(format("llama_context: n_ctx_seq (%lld) < n_ctx_train (%llu) -- the full "
                         "capacity of the model will not be utilized",
                         c.n_ctx_seq, ull(m.arch.n_ctx_train)));
  }
  out.push_back(format("llama_context: %10s  output buffer size = %s MiB",
                       mem.host_buffer_name().c_str(), mib(mem.output).c_str()));
}

} // namespace

core::Result<CacheType> cache_type(const std::string& name) {
  for (const CacheTypeRow& row : k_cache_types) {
    if (name == row.name) {
      return CacheType{name, row.block, row.bytes};
    }
  }
  return core::fail(core::Error::bad_request("Unsupported cache type: " + name));
}

core::Result<ContextPlan> plan_context(const Options& o, const ModelInfo& m) {
  ContextPlan c;
  auto k = cache_type(o.cache_type_k);
  auto v = cache_type(o.cache_type_v);
  if (!k || !v) {
    return core::fail(!k ? k.error() : v.error());
  }
  c.type_k = *k;
  c.type_v = *v;
  c.n_seq = o.n_parallel <= 0 ? 4 : o.n_parallel;
  c.kv_unified = o.kv_unified.value_or(o.n_parallel <= 0);
  c.n_stream = c.kv_unified ? 1 : c.n_seq;
  c.n_ctx = o.ctx_size > 0 ? o.ctx_size : static_cast<long long>(m.arch.n_ctx_train);
  c.n_ctx_seq = c.kv_unified ? c.n_ctx : c.n_ctx / c.n_seq;
  c.cells = pad(std::max(1LL, c.n_ctx_seq), 256);
  c.n_batch = std::min(o.n_batch, c.n_ctx);
  c.n_ubatch = std::min(o.n_ubatch, c.n_batch);
  c.flash_attn = o.flash_attn == "on" ? "enabled" : (o.flash_attn == "off" ? "disabled" : "auto");
  c.flash_attn_on = o.flash_attn != "off";
  bool any_swa = false;
  for (std::uint64_t l = 0; l < m.arch.n_layer; ++l) {
    any_swa = any_swa || is_swa(m, l);
  }
  if (any_swa) {
    long long want =
        static_cast<long long>(m.arch.sliding_window) * (c.kv_unified ? c.n_seq : 1) + c.n_ubatch;
    c.swa_cells = o.swa_full ? c.cells : std::min(c.cells, pad(want, 256));
  }
  auto check = [&](const CacheType& t, const char* which,
                   std::uint64_t head) -> core::Result<void> {
    if (t.quantized() && head % t.block != 0) {
      return core::fail(core::Error::bad_request(
          format("%s cache type %s with block size %u does not divide n_embd_head_%c=%llu", which,
                 t.name.c_str(), t.block, which[0] == 'K' ? 'k' : 'v',
                 static_cast<unsigned long long>(head))));
    }
    return {};
  };
  if (auto r = check(c.type_k, "K", m.arch.n_embd_head_k); !r) {
    return core::fail(r.error());
  }
  if (auto r = check(c.type_v, "V", m.arch.n_embd_head_v); !r) {
    return core::fail(r.error());
  }
  if (c.type_v.quantized() && !c.flash_attn_on) {
    return core::fail(core::Error::bad_request("V cache quantization requires flash_attn"));
  }
  return c;
}

std::uint64_t compute_buffer_bytes(const ModelInfo& m, const ContextPlan& c) {
  const std::uint64_t ub = static_cast<std::uint64_t>(c.n_ubatch);
  const std::uint64_t n_kv = static_cast<std::uint64_t>(c.cells); // cells per stream
  std::uint64_t bytes = n_kv * ub * 2;
  bytes += ub * 4 * (2 * m.arch.n_embd + 3 * max_ff(m));
  bytes += ub * 16;
  if (c.swa_cells > 0) {
    bytes += ub * (4 * m.arch.n_embd + 8);
  }
  if (!c.flash_attn_on) {
    std::uint64_t heads =
        m.arch.n_head.empty() ? 1 : *std::max_element(m.arch.n_head.begin(), m.arch.n_head.end());
    bytes += n_kv * ub * 4 * (heads + 1);
  }
  return bytes;
}

MemoryPlan plan_memory(const Options& o, const ModelInfo& m, const ContextPlan& c) {
  MemoryPlan mem;
  mem.host.name = "CPU";
  const int n_layer = static_cast<int>(m.arch.n_layer);
  std::vector<std::string> names = gpu_names(o);
  for (const std::string& n : names) {
    mem.gpus.push_back(DeviceMemory{n, 0, 0, 0, 0, 0});
  }
  const int ngl = names.empty() ? 0 : gpu_layers_wanted(o, n_layer);
  const int start = n_layer - std::min(ngl, n_layer); // llama.cpp offloads the last layers
  mem.offloaded_layers = n_layer - start;
  mem.output_offloaded = ngl > n_layer;
  const std::vector<double> cum = cumulative_split(o, std::max<std::size_t>(1, names.size()));
  const double act = static_cast<double>(mem.offloaded_layers + (mem.output_offloaded ? 1 : 0));
  auto holder = [&](int layer) -> DeviceMemory& {
    return (names.empty() || layer < start) ? mem.host
                                            : mem.gpus[device_for(layer - start, act, cum)];
  };
  for (int l = 0; l < n_layer; ++l) {
    add_layer_kv(mem, holder(l), m, c, static_cast<std::uint64_t>(l));
  }
  // Tied embeddings (no output.weight): llama.cpp loads token_embd again as the output head
  // (TENSOR_DUPLICATED), a copy on the output layer's GPU; on the CPU the mapping is shared.
  const bool tied = std::none_of(m.tensors.begin(), m.tensors.end(), [](const TensorGroup& t) {
    return t.name == "output.weight";
  });
  for (const TensorGroup& t : m.tensors) {
    if (t.layer >= 0 && t.layer < n_layer) {
      holder(t.layer).model += t.bytes;
    } else if (t.is_output && mem.output_offloaded) {
      holder(n_layer).model += t.bytes;
    } else {
      mem.host.model += t.bytes;
      if (tied && t.name == "token_embd.weight" && mem.output_offloaded && !names.empty()) {
        holder(n_layer).model += t.bytes;
      }
    }
  }
  mem.output = m.arch.n_vocab * 4 * static_cast<std::uint64_t>(c.n_seq);
  // --sim-compute-scale: a build whose graph needs more (or less) than llama.cpp's own.
  const auto scaled = [&](std::uint64_t bytes) {
    return static_cast<std::uint64_t>(std::llround(static_cast<double>(bytes) * o.compute_scale));
  };
  const std::uint64_t full = scaled(compute_buffer_bytes(m, c));
  for (DeviceMemory& d : mem.gpus) {
    d.compute = d.model > 0 ? full : 0; // a device holding only the output layer computes too
  }
  mem.host.compute = (mem.host.layers > 0 || mem.gpus.empty())
                         ? full
                         : scaled(static_cast<std::uint64_t>(c.n_ubatch) * m.arch.n_embd * 8);
  return mem;
}

std::string MemoryPlan::host_buffer_name() const {
  if (offloaded_layers == 0 || gpus.empty()) {
    return "CPU";
  }
  std::string backend = gpus.front().name;
  while (!backend.empty() && std::isdigit(static_cast<unsigned char>(backend.back()))) {
    backend.pop_back();
  }
  return backend + "_Host";
}

std::string mib(std::uint64_t bytes, int width) {
  return format("%*.2f", width, static_cast<double>(bytes) / static_cast<double>(k_mib));
}

std::vector<std::string> load_log_lines(const ModelInfo& m, const ContextPlan& c,
                                        const MemoryPlan& mem) {
  std::vector<std::string> out;
  add_model_lines(out, m);
  add_tensor_lines(out, m, mem);
  add_context_lines(out, m, c, mem);
  if (c.swa_cells > 0) {
    out.push_back(
        format("llama_kv_cache_iswa: creating non-SWA KV cache, size = %lld cells", c.cells));
    add_kv_lines(out, mem, false);
    add_kv_summary(out, c, mem.k_bytes, mem.v_bytes, c.cells, mem.kv_layers, m);
    out.push_back(
        format("llama_kv_cache_iswa: creating     SWA KV cache, size = %lld cells", c.swa_cells));
    add_kv_lines(out, mem, true);
    add_kv_summary(out, c, mem.swa_k_bytes, mem.swa_v_bytes, c.swa_cells, mem.swa_layers, m);
  } else {
    add_kv_lines(out, mem, false);
    add_kv_summary(out, c, mem.k_bytes, mem.v_bytes, c.cells, mem.kv_layers, m);
  }
  out.push_back("sched_reserve: reserving ...");
  for (const DeviceMemory& d : mem.gpus) {
    if (d.compute > 0) {
      out.push_back(format("sched_reserve: %10s compute buffer size = %s MiB", d.name.c_str(),
                           mib(d.compute).c_str()));
    }
  }
  out.push_back(format("sched_reserve: %10s compute buffer size = %s MiB",
                       mem.host_buffer_name().c_str(), mib(mem.host.compute).c_str()));
  out.push_back(
      format("sched_reserve: graph splits = %zu", mem.gpus.empty() ? 1 : mem.gpus.size() + 1));
  return out;
}

std::vector<std::string> breakdown_lines(const MemoryPlan& mem) {
  std::vector<std::string> out;
  out.push_back("common_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   "
                "model   context   compute    unaccounted |");
  auto row = [&](const std::string& label, const DeviceMemory& d, std::uint64_t extra_compute) {
    std::uint64_t model = d.model / k_mib, context = d.kv / k_mib;
    std::uint64_t compute = (d.compute + extra_compute) / k_mib;
    out.push_back(format("common_memory_breakdown_print: | %-22s | %20llu = %5llu + %7llu + "
                         "%7llu%16s|",
                         label.c_str(), static_cast<unsigned long long>(model) + context + compute,
                         static_cast<unsigned long long>(model),
                         static_cast<unsigned long long>(context),
                         static_cast<unsigned long long>(compute), ""));
  };
  for (const DeviceMemory& d : mem.gpus) {
    row("  - " + d.name, d, 0);
  }
  row("  - Host", mem.host, mem.output);
  return out;
}

} // namespace ask::sim
