#include "sim/options.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

#include "core/duration.h"
#include "sim/flags_table.h"

namespace ask::sim {

namespace {

using core::Error;
using core::Result;

std::vector<std::string> split_list(std::string_view text, std::string_view separators = ",") {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of(separators, start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    if (end > start) {
      out.emplace_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

Error bad_value(std::string_view flag, std::string_view value, std::string_view expected) {
  return Error::bad_request("invalid value for " + std::string(flag) + ": '" + std::string(value) +
                            "' (expected " + std::string(expected) + ")");
}

template <class T> Result<T> parse_number(std::string_view flag, std::string_view text) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return core::fail(bad_value(flag, text, "a number"));
  }
  return v;
}

Result<std::chrono::milliseconds> parse_delay(std::string_view flag, std::string_view text) {
  auto d = core::parse_duration(text);
  if (!d || d->is_forever()) {
    return core::fail(bad_value(flag, text, "a duration such as 500ms, 2s or 1m"));
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(d->value());
}

// A flag's values as the command line gave them.
struct Parsed {
  std::string name; // as typed
  std::vector<std::string> values;
};

using Setter = std::function<Result<void>(Options&, const Parsed&)>;

template <class T, class F> Setter number(F assign) {
  return [assign](Options& o, const Parsed& p) -> Result<void> {
    auto v = parse_number<T>(p.name, p.values.at(0));
    if (!v) {
      return core::fail(v.error());
    }
    assign(o, *v);
    return {};
  };
}

Setter text(std::string Options::*field) {
  return [field](Options& o, const Parsed& p) -> Result<void> {
    o.*field = p.values.at(0);
    return {};
  };
}

Setter flag(bool Options::*field, bool value) {
  return [field, value](Options& o, const Parsed&) -> Result<void> {
    o.*field = value;
    return {};
  };
}

Result<void> set_tensor_split(Options& o, const Parsed& p) {
  o.tensor_split.clear();
  for (const std::string& part : split_list(p.values.at(0), ",/")) {
    auto v = parse_number<double>(p.name, part);
    if (!v || *v < 0 || !std::isfinite(*v)) {
      return core::fail(bad_value(p.name, p.values.at(0), "proportions such as 3,1"));
    }
    o.tensor_split.push_back(*v);
  }
  return {};
}

Result<void> set_compute_scale(Options& o, const Parsed& p) {
  auto v = parse_number<double>(p.name, p.values.at(0));
  if (!v || !std::isfinite(*v) || *v <= 0 || *v > 100) {
    return core::fail(bad_value(p.name, p.values.at(0), "a factor above 0, at most 100"));
  }
  o.compute_scale = *v;
  return {};
}

Result<void> set_flash_attn(Options& o, const Parsed& p) {
  std::string v = p.values.empty() ? "on" : p.values[0];
  if (v != "on" && v != "off" && v != "auto") {
    return core::fail(bad_value(p.name, v, "on, off or auto"));
  }
  o.flash_attn = v;
  return {};
}

Result<void> set_gpu_layers(Options& o, const Parsed& p) {
  const std::string& v = p.values.at(0);
  if (v != "auto" && v != "all" && !parse_number<int>(p.name, v)) {
    return core::fail(bad_value(p.name, v, "a number, auto or all"));
  }
  o.gpu_layers = v;
  return {};
}

// llama-server flags (by canonical name) that shape the simulation.
const std::map<std::string_view, Setter>& llama_setters() {
  static const std::map<std::string_view, Setter> k_setters = {
      {"--model", text(&Options::model_path)},
      {"--alias",
       [](Options& o, const Parsed& p) -> Result<void> {
         o.aliases = split_list(p.values.at(0));
         return {};
       }},
      {"--host", text(&Options::host)},
      {"--port", number<int>([](Options& o, int v) { o.port = v; })},
      {"--ctx-size", number<long long>([](Options& o, long long v) { o.ctx_size = v; })},
      {"--parallel", number<int>([](Options& o, int v) { o.n_parallel = v; })},
      {"--gpu-layers", set_gpu_layers},
      {"--tensor-split", set_tensor_split},
      {"--device",
       [](Options& o, const Parsed& p) -> Result<void> {
         o.devices = split_list(p.values.at(0));
         return {};
       }},
      {"--spec-draft-model", text(&Options::model_draft)},
      {"--cache-type-k", text(&Options::cache_type_k)},
      {"--cache-type-v", text(&Options::cache_type_v)},
      {"--flash-attn", set_flash_attn},
      {"--threads", number<int>([](Options& o, int v) { o.threads = v; })},
      {"--batch-size", number<long long>([](Options& o, long long v) { o.n_batch = v; })},
      {"--ubatch-size", number<long long>([](Options& o, long long v) { o.n_ubatch = v; })},
      {"--kv-unified",
       [](Options& o, const Parsed&) -> Result<void> {
         o.kv_unified = true;
         return {};
       }},
      {"-no-kvu",
       [](Options& o, const Parsed&) -> Result<void> {
         o.kv_unified = false;
         return {};
       }},
      {"--no-kv-unified",
       [](Options& o, const Parsed&) -> Result<void> {
         o.kv_unified = false;
         return {};
       }},
      {"--swa-full", flag(&Options::swa_full, true)},
      {"--predict", number<long long>([](Options& o, long long v) { o.n_predict = v; })},
      {"--metrics", flag(&Options::metrics, true)},
      {"--slots", flag(&Options::slots_endpoint, true)},
      {"--no-slots", flag(&Options::slots_endpoint, false)},
      {"--verbosity", number<int>([](Options& o, int v) { o.verbosity = v; })},
      {"--verbose",
       [](Options& o, const Parsed&) -> Result<void> {
         o.verbosity = 99;
         return {};
       }},
      {"--api-key",
       [](Options& o, const Parsed& p) -> Result<void> {
         for (std::string& k : split_list(p.values.at(0))) {
           o.api_keys.push_back(std::move(k));
         }
         return {};
       }},
      {"--embedding", flag(&Options::embeddings, true)},
      {"--rerank",
       [](Options& o, const Parsed&) -> Result<void> {
         // llama-server: reranking turns embeddings on with rank pooling.
         o.reranking = true;
         o.embeddings = true;
         o.pooling = "rank";
         return {};
       }},
      // none|mean|cls|last|rank; kept as given (anything but none pools one vector).
      {"--pooling", text(&Options::pooling)},
      {"--help", flag(&Options::help, true)},
      {"--version", flag(&Options::version, true)},
  };
  return k_setters;
}

struct SimOption {
  bool takes_value;
  Setter set;
};

Setter delay(std::chrono::milliseconds Options::*field) {
  return [field](Options& o, const Parsed& p) -> Result<void> {
    auto d = parse_delay(p.name, p.values.at(0));
    if (!d) {
      return core::fail(d.error());
    }
    o.*field = *d;
    return {};
  };
}

Result<void> set_fault(Options& o, const Parsed& p) {
  auto spec = parse_fault_spec(p.values.at(0));
  if (!spec) {
    return core::fail(Error::bad_request("--sim-fault: " + spec.error().message));
  }
  o.fault_text = p.values[0];
  o.fault = *spec;
  return {};
}

const std::map<std::string_view, SimOption>& sim_options() {
  static const std::map<std::string_view, SimOption> k_options = {
      {"--ollama",
       {false,
        [](Options& o, const Parsed&) -> Result<void> {
          o.mode = Mode::ollama;
          return {};
        }}},
      {"--sim-load-time", {true, delay(&Options::load_time)}},
      {"--sim-ttft", {true, delay(&Options::ttft)}},
      {"--sim-tokens-per-second",
       {true, number<double>([](Options& o, double v) { o.tokens_per_second = v; })}},
      {"--sim-fault", {true, set_fault}},
      {"--sim-seed",
       {true, number<unsigned long long>([](Options& o, unsigned long long v) { o.seed = v; })}},
      {"--sim-vram", {true, number<long long>([](Options& o, long long v) { o.vram_mib = v; })}},
      {"--sim-compute-scale", {true, set_compute_scale}},
      {"--sim-models",
       {true,
        [](Options& o, const Parsed& p) -> Result<void> {
          o.models = split_list(p.values.at(0));
          return {};
        }}},
      {"--sim-fake-model", {false, flag(&Options::fake_model, true)}},
      {"--sim-no-fim", {false, flag(&Options::no_fim, true)}},
      {"--sim-max-connections",
       {true, number<std::size_t>([](Options& o, std::size_t v) { o.max_connections = v; })}},
      {"--sim-request-log",
       {true, number<std::size_t>([](Options& o, std::size_t v) { o.request_log_size = v; })}},
      {"--sim-parent-pid",
       {true, number<long long>([](Options& o, long long v) { o.parent_pid = v; })}},
  };
  return k_options;
}

bool looks_like_value(const std::vector<std::string>& args, std::size_t i) {
  return i < args.size() &&
         (args[i].empty() || args[i][0] != '-' ||
          (args[i].size() > 1 && std::isdigit(static_cast<unsigned char>(args[i][1]))));
}

class Parser {
public:
  explicit Parser(const std::vector<std::string>& args) : m_args(args) {}

  Result<Options> run() {
    while (m_i < m_args.size()) {
      std::string arg = m_args[m_i++];
      std::optional<std::string> inline_value;
      if (std::size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg.resize(eq);
      }
      Result<void> r = step(arg, inline_value);
      if (!r) {
        return core::fail(r.error());
      }
    }
    return m_options;
  }

private:
  Result<void> step(const std::string& arg, const std::optional<std::string>& inline_value) {
    if (auto it = sim_options().find(arg); it != sim_options().end()) {
      Parsed p{arg, {}};
      if (it->second.takes_value && !take(p, inline_value)) {
        return core::fail(Error::bad_request(arg + " needs a value"));
      }
      return it->second.set(m_options, p);
    }
    if (arg.starts_with("--sim-")) {
      return core::fail(Error::bad_request("unknown llm-sim option " + arg + " (see --help)"));
    }
    std::optional<FlagSpec> spec = find_llama_server_flag(arg);
    if (!spec) {
      return unknown(arg, inline_value);
    }
    return known(*spec, arg, inline_value);
  }

  Result<void> known(const FlagSpec& spec, const std::string& arg,
                     const std::optional<std::string>& inline_value) {
    Parsed p{arg, {}};
    int wanted = spec.arity == Arity::two ? 2 : (spec.arity == Arity::none ? 0 : 1);
    for (int n = 0; n < wanted; ++n) {
      bool optional = spec.arity == Arity::optional;
      if (optional && !inline_value && !looks_like_value(m_args, m_i)) {
        break;
      }
      if (!take(p, n == 0 ? inline_value : std::nullopt)) {
        return core::fail(
            Error::bad_request("error while handling argument \"" + arg + "\": expected a value"));
      }
    }
    auto it = llama_setters().find(spec.canonical);
    if (it == llama_setters().end()) {
      auto self = llama_setters().find(arg);
      return self == llama_setters().end() ? Result<void>{} : self->second(m_options, p);
    }
    return it->second(m_options, p);
  }

  Result<void> unknown(const std::string& arg, const std::optional<std::string>& inline_value) {
    std::string shown = arg;
    if (inline_value) {
      shown += "=" + *inline_value;
    } else if (arg.starts_with("-") && looks_like_value(m_args, m_i)) {
      shown += " " + m_args[m_i++];
    }
    m_options.ignored_flags.push_back(shown);
    return {};
  }

  bool take(Parsed& p, const std::optional<std::string>& inline_value) {
    if (inline_value) {
      p.values.push_back(*inline_value);
      return true;
    }
    if (m_i >= m_args.size()) {
      return false;
    }
    p.values.push_back(m_args[m_i++]);
    return true;
  }

  const std::vector<std::string>& m_args;
  std::size_t m_i = 0;
  Options m_options;
};

} // namespace

Result<Options> parse_options(const std::vector<std::string>& args) {
  return Parser(args).run();
}

} // namespace ask::sim
