// The "models" section: logical models, their default request parameters, and the settings
// of models askd runs itself on a llama-server backend.

#include <algorithm>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "config/llama_args.h"
#include "config/parse.h"

namespace ask::config::detail {

namespace {

constexpr std::array<std::string_view, 12> k_common_keys{
    "backend", "upstream",       "family",   "description",     "keep_alive", "fallbacks",
    "params",  "context_length", "timeouts", "max_concurrency", "max_queue",  "capabilities"};

// clang-format off
constexpr std::array<std::string_view, 26> k_managed_keys{
    "gguf", "preset", "ctx", "parallel", "kv_cache_type", "flash_attn", "batch", "ubatch",
    "kv_unified", "swa_full", "kv_offload", "mmap", "override_tensors", "mmproj", "draft",
    "mtp", "gpus", "max_replicas", "pinned", "preload", "n_gpu_layers", "n_cpu_moe",
    "extra_args", "load_timeout", "allow_partial_offload", "drain_wait"};
// clang-format on

// Ollama's vocabulary, and "rerank" (llama-server --reranking; Ollama has none).
constexpr std::array<std::string_view, 7> k_capabilities{
    "completion", "vision", "tools", "thinking", "embedding", "insert", "rerank"};

constexpr std::array<std::string_view, 9> k_kv_types{"f32",  "f16",    "bf16", "q8_0", "q4_0",
                                                     "q4_1", "iq4_nl", "q5_0", "q5_1"};

std::vector<std::string_view> all_model_keys() {
  std::vector<std::string_view> keys(k_common_keys.begin(), k_common_keys.end());
  keys.insert(keys.end(), k_managed_keys.begin(), k_managed_keys.end());
  return keys;
}

void parse_params(Context& ctx, const Json& value, const std::string& path, Model& m) {
  static constexpr std::array<std::string_view, 3> k_think_levels{"low", "medium", "high"};
  if (!expect_object(ctx, value, path)) {
    return;
  }
  for (const auto& [key, v] : value.items()) {
    const std::string p = path_member(path, key);
    if (key == "model" || key == "messages" || key == "stream") {
      ctx.error(p, fmt::format("\"{}\" belongs to each request, not to a model's defaults", key));
    } else if (key == "temperature") {
      (void)read_number(ctx, v, p, 0, 2);
    } else if (key == "top_p") {
      (void)read_number(ctx, v, p, 0, 1);
    } else if (key == "top_k") {
      (void)read_int(ctx, v, p, 0, k_int_max);
    } else if (key == "max_tokens" || key == "num_ctx") {
      (void)read_int(ctx, v, p, 1, k_int_max);
    } else if (key == "seed") {
      (void)read_int(ctx, v, p, std::numeric_limits<std::int64_t>::min(),
                     std::numeric_limits<std::int64_t>::max());
    } else if (key == "think" && !v.is_boolean()) {
      (void)read_choice(ctx, v, p, k_think_levels);
    } else if (key == "stop" && !v.is_string()) {
      (void)read_strings(ctx, v, p);
    }
  }
  m.params = nlohmann::json(value); // unknown parameters pass through unchecked
}

void parse_kv_cache_type(Context& ctx, const Json& v, const std::string& path, KvCacheType& out) {
  static constexpr std::array<std::string_view, 2> k_keys{"k", "v"};
  if (v.is_string()) {
    if (auto t = read_choice(ctx, v, path, k_kv_types)) {
      out = KvCacheType{*t, *t};
    }
    return;
  }
  if (!v.is_object()) {
    ctx.error(path, fmt::format("expected a cache type such as \"q8_0\" or {{\"k\": \"q8_0\", "
                                "\"v\": \"q4_0\"}}, got {}",
                                type_name(v)));
    return;
  }
  ObjectReader r(ctx, v, path, k_keys);
  out.k = r.choice("k", k_kv_types).value_or(out.k);
  out.v = r.choice("v", k_kv_types).value_or(out.v);
}

void parse_flash_attn(Context& ctx, const Json& v, const std::string& path, ManagedSpec& out) {
  static constexpr std::array<std::string_view, 3> k_modes{"on", "off", "auto"};
  if (v.is_boolean()) {
    out.flash_attn = v.get<bool>() ? FlashAttn::on : FlashAttn::off;
  } else if (auto mode = read_choice(ctx, v, path, k_modes)) {
    out.flash_attn = *mode == "on"    ? FlashAttn::on
                     : *mode == "off" ? FlashAttn::off
                                      : FlashAttn::automatic;
  }
}

void warn_if_missing(Context& ctx, const std::filesystem::path& file, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    ctx.warning(path, fmt::format("file not found: {} (the model cannot load until it exists)",
                                  file.string()));
  }
}

// "draft" (a file, or "auto") and "mtp": llama-server runs one draft context, so a model
// drafts with another model or with its own MTP layers, not both (router/draft.h).
void parse_speculative(Context& ctx, ObjectReader& r, ManagedSpec& s) {
  if (auto draft = r.string("draft")) {
    if (*draft == "auto") {
      s.draft_auto = true;
    } else if (draft->empty()) {
      ctx.error(r.path_of("draft"), "expected a .gguf file or \"auto\", got an empty string");
    } else {
      s.draft = ctx.resolve_path(*draft);
      warn_if_missing(ctx, *s.draft, r.path_of("draft"));
    }
  }
  s.mtp = r.boolean("mtp").value_or(false);
  if (s.mtp && (s.draft || s.draft_auto)) {
    ctx.error(r.path_of("mtp"),
              "\"mtp\" and \"draft\" cannot both be set: llama-server runs one draft context, "
              "either a draft model (-md) or the model's own MTP layers (--spec-type "
              "draft-mtp); remove one");
  }
}

// "override_tensors": ["PATTERN=CPU", ...], each as one item of llama-server's -ot.
void parse_override_tensors(Context& ctx, const Json& list, const std::string& path,
                            ManagedSpec& s) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = path_index(path, i);
    if (auto text = read_string(ctx, list[i], p)) {
      if (auto o = parse_tensor_override(*text)) {
        s.override_tensors.push_back(std::move(*o));
      } else {
        ctx.error(p, o.error());
      }
    }
  }
}

// The memory settings of extra_args go into the model's settings (a setting also given by
// its key is a conflict); what askd decides itself is refused; the rest stays in extra_args
// for llama-server. config/llama_args.h says which is which.
void fold_extra_args(Context& ctx, const ObjectReader& r, ManagedSpec& s) {
  const std::string path = r.path_of("extra_args");
  ParsedLlamaArgs parsed = parse_llama_args(s.extra_args);
  for (const ArgProblem& problem : parsed.problems) {
    ctx.error(path_index(path, problem.index), problem.message);
  }
  for (const LlamaArg& a : parsed.given) {
    const std::string_view key = config_key(a.setting);
    // An argument that stays on the command line (--mlock) may say what the key says.
    const bool agrees = a.kept && a.setting == LlamaSetting::mmap && s.mmap == parsed.settings.mmap;
    if (r.has(key) && !agrees) {
      ctx.error(path_index(path, a.index),
                fmt::format("\"{}\" sets \"{}\", which the model's \"{}\" sets too; keep one",
                            s.extra_args[a.index], key, key));
    }
  }
  fold_llama_settings(parsed.settings, s);
  if (parsed.settings.mmproj) {
    s.mmproj = ctx.resolve_path(*parsed.settings.mmproj);
    warn_if_missing(ctx, *s.mmproj, path);
  }
  s.extra_args = std::move(parsed.rest);
}

// The settings llama-server would otherwise choose itself, askd counts (config/types.h).
void parse_memory_settings(Context& ctx, ObjectReader& r, ManagedSpec& s) {
  if (auto n = r.integer("batch", 1, k_int_max)) {
    s.batch = static_cast<int>(*n);
  }
  if (auto n = r.integer("ubatch", 1, k_int_max)) {
    s.ubatch = static_cast<int>(*n);
  }
  s.kv_unified = r.boolean("kv_unified");
  s.swa_full = r.boolean("swa_full");
  s.kv_offload = r.boolean("kv_offload");
  s.mmap = r.boolean("mmap");
  if (const Json* list = r.array("override_tensors")) {
    parse_override_tensors(ctx, *list, r.path_of("override_tensors"), s);
  }
  if (auto mmproj = r.string("mmproj")) {
    if (mmproj->empty()) {
      ctx.error(r.path_of("mmproj"), "expected a .gguf file, got an empty string");
    } else {
      s.mmproj = ctx.resolve_path(*mmproj);
      warn_if_missing(ctx, *s.mmproj, r.path_of("mmproj"));
    }
  }
}

void parse_managed(Context& ctx, ObjectReader& r, Model& m) {
  ManagedSpec s;
  if (r.require("gguf")) {
    if (auto gguf = r.string("gguf")) {
      s.gguf = ctx.resolve_path(*gguf);
      warn_if_missing(ctx, s.gguf, r.path_of("gguf"));
    }
  }
  s.preset = r.name("preset", "preset").value_or("");
  if (auto ctx_size = r.integer("ctx", 0, k_int_max)) {
    s.ctx = static_cast<int>(*ctx_size);
  }
  // llama.cpp serves at most LLAMA_MAX_SEQ (256) sequences at once.
  if (auto slots = r.integer("parallel", 1, 256)) {
    s.parallel = static_cast<int>(*slots);
  }
  if (const Json* kv = r.find("kv_cache_type")) {
    parse_kv_cache_type(ctx, *kv, r.path_of("kv_cache_type"), s.kv_cache_type);
  }
  if (const Json* fa = r.find("flash_attn")) {
    parse_flash_attn(ctx, *fa, r.path_of("flash_attn"), s);
  }
  parse_memory_settings(ctx, r, s);
  parse_speculative(ctx, r, s);
  s.gpus = r.strings("gpus").value_or(std::vector<std::string>{});
  s.max_replicas = static_cast<int>(r.integer("max_replicas", 1, 1024).value_or(1));
  s.pinned = r.boolean("pinned").value_or(false);
  s.preload = r.boolean("preload").value_or(false);
  s.allow_partial_offload = r.boolean("allow_partial_offload").value_or(false);
  if (auto ngl = r.integer("n_gpu_layers", -1, k_int_max)) {
    s.n_gpu_layers = static_cast<int>(*ngl);
  }
  if (auto moe = r.integer("n_cpu_moe", 0, k_int_max)) {
    s.n_cpu_moe = static_cast<int>(*moe);
  }
  s.extra_args = r.strings("extra_args").value_or(std::vector<std::string>{});
  fold_extra_args(ctx, r, s);
  if (auto t = r.duration("load_timeout")) {
    if (t->is_zero()) {
      ctx.error(r.path_of("load_timeout"), "a load timeout of 0 would fail every load; write "
                                           "\"forever\" for no limit");
    } else {
      s.load_timeout = *t;
    }
  }
  s.drain_wait = r.duration("drain_wait");
  if (!m.context_length && s.ctx && *s.ctx > 0) {
    // One request may fill a unified cache; else llama-server splits -c across its slots.
    m.context_length = s.unified_kv() ? *s.ctx : *s.ctx / s.slots();
  }
  m.managed = std::move(s);
}

void reject_managed_keys(Context& ctx, const ObjectReader& r, const Backend& backend) {
  for (std::string_view key : k_managed_keys) {
    if (r.has(key)) {
      ctx.error(r.path_of(key),
                fmt::format("\"{}\" is only for models on a llama-server backend; backend "
                            "\"{}\" is kind {}",
                            key, backend.name, to_string(backend.kind)));
    }
  }
}

void parse_common(Context& ctx, ObjectReader& r, Model& m) {
  if (auto upstream = r.string("upstream")) {
    if (upstream->empty() || std::ranges::any_of(*upstream, [](char c) {
          return static_cast<unsigned char>(c) < 0x20;
        })) {
      ctx.error(r.path_of("upstream"), "an upstream model name cannot be empty or hold "
                                       "control characters");
    } else {
      m.upstream = std::move(*upstream);
    }
  }
  m.family = r.string("family").value_or("");
  m.description = r.string("description").value_or("");
  m.keep_alive = r.duration("keep_alive");
  m.fallbacks = r.strings("fallbacks").value_or(std::vector<std::string>{});
  if (const Json* params = r.find("params")) {
    parse_params(ctx, *params, r.path_of("params"), m);
  }
  m.context_length = r.integer("context_length", 1, std::numeric_limits<std::int64_t>::max());
  if (const Json* t = r.find("timeouts")) {
    parse_timeouts(ctx, *t, r.path_of("timeouts"), m.timeouts);
  }
  m.max_concurrency = static_cast<int>(r.integer("max_concurrency", 0, k_int_max).value_or(0));
  m.max_queue =
      static_cast<int>(r.integer("max_queue", 0, k_int_max).value_or(k_default_max_queue));
  if (const Json* caps = r.array("capabilities")) {
    for (std::size_t i = 0; i < caps->size(); ++i) {
      if (auto c = read_choice(ctx, (*caps)[i], path_index(r.path_of("capabilities"), i),
                               k_capabilities)) {
        m.capabilities.push_back(std::move(*c));
      }
    }
  }
}

void parse_model(Context& ctx, const std::string& name, const Json& value, const std::string& path,
                 Config& config) {
  const auto keys = all_model_keys();
  ObjectReader r(ctx, value, path, keys);
  if (!r.ok()) {
    return;
  }
  Model m;
  m.name = name;
  m.upstream = name;
  r.require("backend");
  m.backend = r.name("backend", "backend").value_or("");
  const Backend* backend = config.find_backend(m.backend);
  if (backend != nullptr) {
    m.timeouts = backend->timeouts; // the model's own timeouts override these below
  }
  parse_common(ctx, r, m);
  if (backend != nullptr && backend->managed()) {
    parse_managed(ctx, r, m);
  } else if (backend != nullptr) {
    reject_managed_keys(ctx, r, *backend);
  }
  if (backend != nullptr && backend->kind == BackendKind::openai && m.keep_alive) {
    ctx.warning(r.path_of("keep_alive"),
                fmt::format("keep_alive has no effect on backend \"{}\": the OpenAI API has no "
                            "such field (ollama and llama-server backends honour it)",
                            backend->name));
  }
  if (backend != nullptr && backend->peer() && m.keep_alive) {
    ctx.warning(r.path_of("keep_alive"),
                fmt::format("keep_alive has no effect on backend \"{}\": it is another askd, "
                            "whose own config says how long its models stay loaded",
                            backend->name));
  }
  config.models.push_back(std::move(m));
}

} // namespace

void parse_models(Context& ctx, const Json& section, Config& config) {
  for_each_named(ctx, section, "models", "model",
                 [&](const std::string& name, const Json& value, const std::string& path) {
                   parse_model(ctx, name, value, path, config);
                 });
}

} // namespace ask::config::detail
