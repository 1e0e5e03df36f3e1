// llama-server's command line as askd reads it; see llama_args.h. The flags and their
// values follow llama-server b10587 (tests/fixtures/llama-server/help.txt, common/arg.cpp).

#include "config/llama_args.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <regex>

namespace ask::config {

namespace {

// Every llama-server flag that takes one value, from its --help (llama_args_test.cpp checks
// the list against help.txt). Flags whose help shows "[on|off|auto]" take the value too: arg.cpp
// reads the next argument whatever it is. "--control-vector-layer-range" alone takes two.
// clang-format off
constexpr std::string_view k_one_value[] = {
    "--rpc", // only in builds with RPC support, so not in help.txt
    "-t", "--threads", "-tb", "--threads-batch", "-C", "--cpu-mask", "-Cr", "--cpu-range",
    "--cpu-strict", "--prio", "--poll", "-Cb", "--cpu-mask-batch", "-Crb", "--cpu-range-batch",
    "--cpu-strict-batch", "--prio-batch", "--poll-batch", "-c", "--ctx-size", "-n", "--predict",
    "--n-predict", "-b", "--batch-size", "-ub", "--ubatch-size", "--keep", "-fa",
    "--flash-attn", "--rope-scaling", "--rope-scale", "--rope-freq-base", "--rope-freq-scale",
    "--yarn-orig-ctx", "--yarn-ext-factor", "--yarn-attn-factor", "--yarn-beta-slow",
    "--yarn-beta-fast", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v", "-dt",
    "--defrag-thold", "-lm", "--load-mode", "--numa", "-dev", "--device", "-ot",
    "--override-tensor", "-ncmoe", "--n-cpu-moe", "-ngl", "--gpu-layers", "--n-gpu-layers",
    "-sm", "--split-mode", "-ts", "--tensor-split", "-mg", "--main-gpu", "-fit", "--fit",
    "-fitt", "--fit-target", "-fitc", "--fit-ctx", "--override-kv", "--lora", "--lora-scaled",
    "--control-vector", "--control-vector-scaled", "-m", "--model", "-mu", "--model-url", "-dr",
    "--docker-repo", "-hf", "-hfr", "--hf-repo", "-hff", "--hf-file", "-hft", "--hf-token",
    "--log-file", "--log-colors", "-lv", "--verbosity", "--log-verbosity",
    "--spec-draft-type-k", "-ctkd", "--cache-type-k-draft", "--spec-draft-type-v", "-ctvd",
    "--cache-type-v-draft", "--samplers", "-s", "--seed", "--sampler-seq", "--sampling-seq",
    "--temp", "--temperature", "--top-k", "--top-p", "--min-p", "--top-nsigma", "--top-n-sigma",
    "--xtc-probability", "--xtc-threshold", "--typical", "--typical-p", "--repeat-last-n",
    "--repeat-penalty", "--presence-penalty", "--frequency-penalty", "--dry-multiplier",
    "--dry-base", "--dry-allowed-length", "--dry-penalty-last-n", "--dry-sequence-breaker",
    "--adaptive-target", "--adaptive-decay", "--dynatemp-range", "--dynatemp-exp", "--mirostat",
    "--mirostat-lr", "--mirostat-ent", "-l", "--logit-bias", "--grammar", "--grammar-file",
    "-j", "--json-schema", "-jf", "--json-schema-file", "--spec-draft-hf", "-hfd", "-hfrd",
    "--hf-repo-draft", "--spec-draft-threads", "-td", "--threads-draft",
    "--spec-draft-threads-batch", "-tbd", "--threads-batch-draft", "--spec-draft-cpu-mask",
    "-Cd", "--cpu-mask-draft", "--spec-draft-cpu-range", "-Crd", "--cpu-range-draft",
    "--spec-draft-cpu-strict", "--cpu-strict-draft", "--spec-draft-prio", "--prio-draft",
    "--spec-draft-poll", "--poll-draft", "--spec-draft-cpu-mask-batch", "-Cbd",
    "--cpu-mask-batch-draft", "--spec-draft-cpu-strict-batch", "--cpu-strict-batch-draft",
    "--spec-draft-prio-batch", "--prio-batch-draft", "--spec-draft-poll-batch",
    "--poll-batch-draft", "--spec-draft-override-tensor", "-otd", "--override-tensor-draft",
    "--spec-draft-n-cpu-moe", "--spec-draft-ncmoe", "-ncmoed", "--n-cpu-moe-draft",
    "--spec-draft-n-max", "--spec-draft-n-min", "--spec-draft-p-split", "--draft-p-split",
    "--spec-draft-p-min", "--draft-p-min", "--spec-draft-device", "-devd", "--device-draft",
    "--spec-draft-ngl", "-ngld", "--gpu-layers-draft", "--n-gpu-layers-draft",
    "--spec-draft-model", "-md", "--model-draft", "--spec-type", "--spec-ngram-mod-n-min",
    "--spec-ngram-mod-n-max", "--spec-ngram-mod-n-match", "--spec-ngram-simple-size-n",
    "--spec-ngram-simple-size-m", "--spec-ngram-simple-min-hits", "--spec-ngram-map-k-size-n",
    "--spec-ngram-map-k-size-m", "--spec-ngram-map-k-min-hits", "--spec-ngram-map-k4v-size-n",
    "--spec-ngram-map-k4v-size-m", "--spec-ngram-map-k4v-min-hits", "--draft", "--draft-n",
    "--draft-max", "--draft-min", "--draft-n-min", "--spec-ngram-size-n", "--spec-ngram-size-m",
    "--spec-ngram-min-hits", "-lcs", "--lookup-cache-static", "-lcd", "--lookup-cache-dynamic",
    "-ctxcp", "--ctx-checkpoints", "--swa-checkpoints", "-cms", "--checkpoint-min-step",
    "-cram", "--cache-ram", "-r", "--reverse-prompt", "--pooling", "-np", "--parallel", "-mm",
    "--mmproj", "-mmu", "--mmproj-url", "-mmdev", "--mmproj-device", "--image-min-tokens",
    "--image-max-tokens", "--mtmd-batch-max-tokens", "-a", "--alias", "--tags",
    "--embd-normalize", "--host", "--port", "--path", "--cors-origins", "--cors-methods",
    "--cors-headers", "--api-prefix", "--ui-config", "--webui-config", "--ui-config-file",
    "--webui-config-file", "--tools", "--tools-runtime", "--mcp-servers-config",
    "--mcp-servers-json", "--api-key", "--api-key-file", "--ssl-key-file", "--ssl-cert-file",
    "--chat-template-kwargs", "-to", "--timeout", "--sse-ping-interval", "--threads-http",
    "--cache-reuse", "--slot-save-path", "--media-path", "--models-dir", "--models-preset",
    "--models-max", "--reasoning-format", "-rea", "--reasoning", "--reasoning-effort",
    "--reasoning-budget", "--reasoning-budget-message", "--chat-template",
    "--chat-template-file", "-sps", "--slot-prompt-similarity", "--sleep-idle-seconds",
    "--log-prompts-dir"
};
// clang-format on

enum class Kind {
  ctx,
  parallel,
  batch,
  ubatch,
  kv_unified_on,
  kv_unified_off,
  swa_full,
  kv_offload_on,
  kv_offload_off,
  mmap_on,
  mmap_off,
  load_mode,
  mlock,
  direct_io_on,
  direct_io_off,
  cache_type_k,
  cache_type_v,
  flash_attn,
  override_tensor,
  cpu_moe,
  n_cpu_moe,
  mmproj,
  // Refused:
  gpu_layers,  // -ngl: askd's placement decides; "n_gpu_layers" caps it
  placement,   // which devices, how the model is split: askd's placement
  server,      // --host, --port: askd's
  model,       // the model file: "gguf"
  speculative, // the draft model and the speculative type: "draft", "mtp"
  draft,       // the draft model's placement and cache: askd sets them from the model's
  uncounted,   // loads memory the estimate cannot count
};

struct Known {
  std::string_view flag;
  Kind kind;
  std::string_view env = {}; // the LLAMA_ARG_* variable llama-server reads for it
};

constexpr Known k_known[] = {
    {"-c", Kind::ctx, "LLAMA_ARG_CTX_SIZE"},
    {"--ctx-size", Kind::ctx},
    {"-np", Kind::parallel, "LLAMA_ARG_N_PARALLEL"},
    {"--parallel", Kind::parallel},
    {"-b", Kind::batch, "LLAMA_ARG_BATCH"},
    {"--batch-size", Kind::batch},
    {"-ub", Kind::ubatch, "LLAMA_ARG_UBATCH"},
    {"--ubatch-size", Kind::ubatch},
    {"-kvu", Kind::kv_unified_on, "LLAMA_ARG_KV_UNIFIED"},
    {"--kv-unified", Kind::kv_unified_on},
    {"-no-kvu", Kind::kv_unified_off},
    {"--no-kv-unified", Kind::kv_unified_off},
    {"--swa-full", Kind::swa_full, "LLAMA_ARG_SWA_FULL"},
    {"-kvo", Kind::kv_offload_on, "LLAMA_ARG_KV_OFFLOAD"},
    {"--kv-offload", Kind::kv_offload_on},
    {"-nkvo", Kind::kv_offload_off},
    {"--no-kv-offload", Kind::kv_offload_off},
    {"--mmap", Kind::mmap_on, "LLAMA_ARG_MMAP"},
    {"--no-mmap", Kind::mmap_off},
    {"-lm", Kind::load_mode, "LLAMA_ARG_LOAD_MODE"},
    {"--load-mode", Kind::load_mode},
    {"--mlock", Kind::mlock, "LLAMA_ARG_MLOCK"},
    {"-dio", Kind::direct_io_on, "LLAMA_ARG_DIO"},
    {"--direct-io", Kind::direct_io_on},
    {"-ndio", Kind::direct_io_off},
    {"--no-direct-io", Kind::direct_io_off},
    {"-ctk", Kind::cache_type_k, "LLAMA_ARG_CACHE_TYPE_K"},
    {"--cache-type-k", Kind::cache_type_k},
    {"-ctv", Kind::cache_type_v, "LLAMA_ARG_CACHE_TYPE_V"},
    {"--cache-type-v", Kind::cache_type_v},
    {"-fa", Kind::flash_attn, "LLAMA_ARG_FLASH_ATTN"},
    {"--flash-attn", Kind::flash_attn},
    {"-ot", Kind::override_tensor, "LLAMA_ARG_OVERRIDE_TENSOR"},
    {"--override-tensor", Kind::override_tensor},
    {"-cmoe", Kind::cpu_moe, "LLAMA_ARG_CPU_MOE"},
    {"--cpu-moe", Kind::cpu_moe},
    {"-ncmoe", Kind::n_cpu_moe, "LLAMA_ARG_N_CPU_MOE"},
    {"--n-cpu-moe", Kind::n_cpu_moe},
    {"-mm", Kind::mmproj, "LLAMA_ARG_MMPROJ"},
    {"--mmproj", Kind::mmproj},
    {"-ngl", Kind::gpu_layers, "LLAMA_ARG_N_GPU_LAYERS"},
    {"--gpu-layers", Kind::gpu_layers},
    {"--n-gpu-layers", Kind::gpu_layers},
    {"-ts", Kind::placement, "LLAMA_ARG_TENSOR_SPLIT"},
    {"--tensor-split", Kind::placement},
    {"-sm", Kind::placement, "LLAMA_ARG_SPLIT_MODE"},
    {"--split-mode", Kind::placement},
    {"-mg", Kind::placement, "LLAMA_ARG_MAIN_GPU"},
    {"--main-gpu", Kind::placement},
    {"-dev", Kind::placement, "LLAMA_ARG_DEVICE"},
    {"--device", Kind::placement},
    {"--rpc", Kind::placement, "LLAMA_ARG_RPC"},
    {"-mmdev", Kind::placement, "MTMD_BACKEND_DEVICE"},
    {"--mmproj-device", Kind::placement},
    {"--mmproj-offload", Kind::placement, "LLAMA_ARG_MMPROJ_OFFLOAD"},
    {"--no-mmproj-offload", Kind::placement},
    {"--host", Kind::server, "LLAMA_ARG_HOST"},
    {"--port", Kind::server, "LLAMA_ARG_PORT"},
    {"-m", Kind::model, "LLAMA_ARG_MODEL"},
    {"--model", Kind::model},
    {"-mu", Kind::model, "LLAMA_ARG_MODEL_URL"},
    {"--model-url", Kind::model},
    {"-dr", Kind::model, "LLAMA_ARG_DOCKER_REPO"},
    {"--docker-repo", Kind::model},
    {"-hf", Kind::model, "LLAMA_ARG_HF_REPO"},
    {"-hfr", Kind::model},
    {"--hf-repo", Kind::model},
    {"-hff", Kind::model, "LLAMA_ARG_HF_FILE"},
    {"--hf-file", Kind::model},
    {"-md", Kind::speculative, "LLAMA_ARG_SPEC_DRAFT_MODEL"},
    {"--model-draft", Kind::speculative},
    {"--spec-draft-model", Kind::speculative},
    {"--spec-type", Kind::speculative, "LLAMA_ARG_SPEC_TYPE"},
    {"--spec-draft-hf", Kind::speculative, "LLAMA_ARG_SPEC_DRAFT_HF_REPO"},
    {"-hfd", Kind::speculative},
    {"-hfrd", Kind::speculative},
    {"--hf-repo-draft", Kind::speculative},
    {"-ctkd", Kind::draft, "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_K"},
    {"--cache-type-k-draft", Kind::draft},
    {"--spec-draft-type-k", Kind::draft},
    {"-ctvd", Kind::draft, "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_V"},
    {"--cache-type-v-draft", Kind::draft},
    {"--spec-draft-type-v", Kind::draft},
    {"-devd", Kind::draft},
    {"--device-draft", Kind::draft},
    {"--spec-draft-device", Kind::draft},
    {"-ngld", Kind::draft, "LLAMA_ARG_N_GPU_LAYERS_DRAFT"},
    {"--gpu-layers-draft", Kind::draft},
    {"--n-gpu-layers-draft", Kind::draft},
    {"--spec-draft-ngl", Kind::draft},
    {"-otd", Kind::draft},
    {"--override-tensor-draft", Kind::draft},
    {"--spec-draft-override-tensor", Kind::draft},
    {"-cmoed", Kind::draft, "LLAMA_ARG_SPEC_DRAFT_CPU_MOE"},
    {"--cpu-moe-draft", Kind::draft},
    {"--spec-draft-cpu-moe", Kind::draft},
    {"-ncmoed", Kind::draft, "LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE"},
    {"--n-cpu-moe-draft", Kind::draft},
    {"--spec-draft-n-cpu-moe", Kind::draft},
    {"--spec-draft-ncmoe", Kind::draft},
    {"--lora", Kind::uncounted},
    {"--lora-scaled", Kind::uncounted},
    {"-mmu", Kind::uncounted, "LLAMA_ARG_MMPROJ_URL"},
    {"--mmproj-url", Kind::uncounted},
};

constexpr std::array<std::string_view, 9> k_cache_types{"f32",  "f16",    "bf16", "q8_0", "q4_0",
                                                        "q4_1", "iq4_nl", "q5_0", "q5_1"};

// llama.cpp's largest slot count (LLAMA_MAX_SEQ).
constexpr int k_max_slots = 256;
constexpr int k_int_max = std::numeric_limits<int>::max();

const Known* find_known(std::string_view flag) {
  const auto* it = std::ranges::find(k_known, flag, &Known::flag);
  return it == std::end(k_known) ? nullptr : it;
}

bool refused(Kind kind) {
  return kind >= Kind::gpu_layers;
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

constexpr std::string_view k_see = " (see docs/config.md \"Memory settings\")";

// Why `flag` (as written) is refused.
std::string refusal(Kind kind, std::string_view flag) {
  const std::string f(flag);
  switch (kind) {
  case Kind::gpu_layers:
    return in_quotes(f) + " is decided by askd's placement; set \"n_gpu_layers\" to cap the " +
           "layers on GPUs" + std::string(k_see);
  case Kind::placement:
    return in_quotes(f) + " is decided by askd's placement; remove it" + std::string(k_see);
  case Kind::server:
    return "askd sets " + f + " itself when it starts llama-server";
  case Kind::model:
    return "askd sets " + f + " itself when it starts llama-server: the model file is \"gguf\"";
  case Kind::speculative:
    return "askd sets " + f + " itself when it starts llama-server: set \"draft\" or \"mtp\"";
  case Kind::draft:
    return "askd sets " + f + " itself when it starts llama-server: the draft model goes " +
           "whole to the GPU with the output layer, with the model's KV cache types";
  default: // Kind::uncounted
    return in_quotes(f) + " loads what askd's memory estimate cannot count; remove it" +
           std::string(k_see);
  }
}

std::optional<int> to_int(std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || p != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// Collects what one argument vector says.
class Reader {
public:
  explicit Reader(ParsedLlamaArgs& out) : m_out(out) {}

  void problem(std::size_t index, std::string message) {
    m_out.problems.push_back({index, std::move(message)});
  }

  void given(LlamaSetting setting, std::size_t index, bool kept = false) {
    m_out.given.push_back({setting, index, kept});
  }

  // An integer from `min` to `max`, or a problem naming the flag.
  std::optional<int> integer(std::size_t index, std::string_view flag, std::string_view value,
                             int min, int max = k_int_max) {
    const auto n = to_int(value);
    if (!n || *n < min || *n > max) {
      problem(index, in_quotes(flag) + ": expected a whole number" +
                         (max == k_int_max
                              ? " of at least " + std::to_string(min)
                              : " from " + std::to_string(min) + " to " + std::to_string(max)) +
                         ", got " + in_quotes(value));
      return std::nullopt;
    }
    return n;
  }

  std::optional<std::string> cache_type(std::size_t index, std::string_view flag,
                                        std::string_view value) {
    if (std::ranges::find(k_cache_types, value) == k_cache_types.end()) {
      problem(index, in_quotes(flag) + ": unknown cache type " + in_quotes(value) +
                         " (one of f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)");
      return std::nullopt;
    }
    return std::string(value);
  }

  // One known flag (not refused) and its value ("" for a switch).
  void apply(Kind kind, std::size_t i, std::string_view flag, std::string_view value);

private:
  ParsedLlamaArgs& m_out;
};

void Reader::apply(Kind kind, std::size_t i, std::string_view flag, std::string_view value) {
  LlamaSettings& s = m_out.settings;
  switch (kind) {
  case Kind::ctx:
    if (auto n = integer(i, flag, value, 0)) {
      s.ctx = n;
      given(LlamaSetting::ctx, i);
    }
    return;
  case Kind::parallel: {
    const auto n = to_int(value);
    if (n && *n < 0) { // server.cpp: a negative -np is "auto"
      s.parallel = k_parallel_auto;
      given(LlamaSetting::parallel, i);
    } else if (n == 0) {
      problem(i, in_quotes(flag) + ": 0 slots is refused by llama-server; give 1 to 256, or -1 "
                                   "for its automatic choice");
    } else if (auto slots = integer(i, flag, value, 1, k_max_slots)) {
      s.parallel = slots;
      given(LlamaSetting::parallel, i);
    }
    return;
  }
  case Kind::batch:
  case Kind::ubatch:
    if (auto n = integer(i, flag, value, 1)) {
      (kind == Kind::batch ? s.batch : s.ubatch) = n;
      given(kind == Kind::batch ? LlamaSetting::batch : LlamaSetting::ubatch, i);
    }
    return;
  case Kind::kv_unified_on:
  case Kind::kv_unified_off:
    s.kv_unified = kind == Kind::kv_unified_on;
    given(LlamaSetting::kv_unified, i);
    return;
  case Kind::swa_full:
    s.swa_full = true;
    given(LlamaSetting::swa_full, i);
    return;
  case Kind::kv_offload_on:
  case Kind::kv_offload_off:
    s.kv_offload = kind == Kind::kv_offload_on;
    given(LlamaSetting::kv_offload, i);
    return;
  case Kind::mmap_on:
  case Kind::mmap_off:
  case Kind::direct_io_off: // the load mode "none": no mmap, no direct I/O
    s.mmap = kind == Kind::mmap_on;
    given(LlamaSetting::mmap, i);
    return;
  case Kind::mlock:
  case Kind::direct_io_on: // llama.cpp reads the weights without mmap in both
    s.mmap = false;
    given(LlamaSetting::mmap, i, true);
    return;
  case Kind::load_mode: {
    // llama-model-loader.cpp: mmap for auto, mmap and mmap+mlock.
    static constexpr std::array<std::string_view, 6> k_modes{"auto",  "none",       "mmap",
                                                             "mlock", "mmap+mlock", "dio"};
    if (std::ranges::find(k_modes, value) == k_modes.end()) {
      problem(i, in_quotes(flag) + ": expected auto, none, mmap, mlock, mmap+mlock or dio, got " +
                     in_quotes(value));
      return;
    }
    s.mmap = value == "auto" || value == "mmap" || value == "mmap+mlock";
    given(LlamaSetting::mmap, i, value == "mlock" || value == "mmap+mlock" || value == "dio");
    return;
  }
  case Kind::cache_type_k:
  case Kind::cache_type_v:
    if (auto t = cache_type(i, flag, value)) {
      (kind == Kind::cache_type_k ? s.cache_type_k : s.cache_type_v) = std::move(t);
      given(kind == Kind::cache_type_k ? LlamaSetting::cache_type_k : LlamaSetting::cache_type_v,
            i);
    }
    return;
  case Kind::flash_attn:
    // arg.cpp's is_truthy, is_falsey, is_autoy.
    if (value == "on" || value == "enabled" || value == "true" || value == "1") {
      s.flash_attn = FlashAttn::on;
    } else if (value == "off" || value == "disabled" || value == "false" || value == "0") {
      s.flash_attn = FlashAttn::off;
    } else if (value == "auto" || value == "-1") {
      s.flash_attn = FlashAttn::automatic;
    } else {
      problem(i, in_quotes(flag) + ": expected on, off or auto, got " + in_quotes(value));
      return;
    }
    given(LlamaSetting::flash_attn, i);
    return;
  case Kind::override_tensor:
    if (auto list = parse_tensor_override_list(value)) {
      s.override_tensors.insert(s.override_tensors.end(), list->begin(), list->end());
      given(LlamaSetting::override_tensors, i);
    } else {
      problem(i, in_quotes(flag) + " " + list.error());
    }
    return;
  case Kind::cpu_moe:
    s.override_tensors.push_back({std::string(k_cpu_moe_pattern), "CPU"});
    given(LlamaSetting::override_tensors, i);
    return;
  case Kind::n_cpu_moe:
    if (auto n = integer(i, flag, value, 0)) {
      s.n_cpu_moe = n;
      given(LlamaSetting::n_cpu_moe, i);
    }
    return;
  case Kind::mmproj:
    if (value.empty()) {
      problem(i, in_quotes(flag) + ": expected a file, got an empty string");
      return;
    }
    s.mmproj = std::string(value);
    given(LlamaSetting::mmproj, i);
    return;
  default:
    return; // refused kinds never get here
  }
}

} // namespace

std::string_view config_key(LlamaSetting setting) {
  switch (setting) {
  case LlamaSetting::ctx:
    return "ctx";
  case LlamaSetting::parallel:
    return "parallel";
  case LlamaSetting::cache_type_k:
  case LlamaSetting::cache_type_v:
    return "kv_cache_type";
  case LlamaSetting::flash_attn:
    return "flash_attn";
  case LlamaSetting::batch:
    return "batch";
  case LlamaSetting::ubatch:
    return "ubatch";
  case LlamaSetting::kv_unified:
    return "kv_unified";
  case LlamaSetting::swa_full:
    return "swa_full";
  case LlamaSetting::kv_offload:
    return "kv_offload";
  case LlamaSetting::mmap:
    return "mmap";
  case LlamaSetting::n_cpu_moe:
    return "n_cpu_moe";
  case LlamaSetting::override_tensors:
    return "override_tensors";
  case LlamaSetting::mmproj:
    return "mmproj";
  }
  return "";
}

void fold_llama_settings(const LlamaSettings& from, ManagedSpec& into) {
  if (from.ctx) {
    into.ctx = from.ctx;
  }
  if (from.parallel) {
    into.parallel = *from.parallel == k_parallel_auto ? std::nullopt : from.parallel;
  }
  into.kv_cache_type.k = from.cache_type_k.value_or(into.kv_cache_type.k);
  into.kv_cache_type.v = from.cache_type_v.value_or(into.kv_cache_type.v);
  into.flash_attn = from.flash_attn.value_or(into.flash_attn);
  const auto take = [](const auto& value, auto& field) {
    if (value) {
      field = value;
    }
  };
  take(from.batch, into.batch);
  take(from.ubatch, into.ubatch);
  take(from.kv_unified, into.kv_unified);
  take(from.swa_full, into.swa_full);
  take(from.kv_offload, into.kv_offload);
  take(from.mmap, into.mmap);
  take(from.n_cpu_moe, into.n_cpu_moe);
  into.override_tensors.insert(into.override_tensors.end(), from.override_tensors.begin(),
                               from.override_tensors.end());
  if (from.mmproj) {
    into.mmproj = std::filesystem::path(*from.mmproj);
  }
}

int llama_flag_values(std::string_view name) {
  if (name == "--control-vector-layer-range") {
    return 2;
  }
  return std::ranges::find(k_one_value, name) != std::end(k_one_value) ? 1 : 0;
}

std::optional<std::string_view> llama_env_flag(std::string_view name) {
  if (name.empty()) {
    return std::nullopt;
  }
  const auto* it = std::ranges::find(k_known, name, &Known::env);
  return it == std::end(k_known) ? std::nullopt : std::optional(it->flag);
}

std::expected<TensorOverride, std::string> parse_tensor_override(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return std::unexpected("expected PATTERN=CPU, e.g. \"blk\\.[0-9]+\\.ffn_.*_exps=CPU\"");
  }
  TensorOverride o{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (o.pattern.empty()) {
    return std::unexpected("the pattern is empty (it would match every tensor)");
  }
  if (o.pattern.find(',') != std::string::npos) {
    return std::unexpected("llama-server splits -ot at commas, so a pattern cannot hold a ','");
  }
  if (o.buffer_type != "CPU") {
    std::string lower = o.buffer_type;
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) {
      return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    });
    if (lower == "cpu") {
      return std::unexpected("unknown buffer type " + in_quotes(o.buffer_type) +
                             " (llama.cpp's names are case-sensitive: write \"CPU\")");
    }
    return std::unexpected(
        "buffer type " + in_quotes(o.buffer_type) +
        " would put tensors on a device: which GPU holds what is decided by askd's placement; "
        "only \"CPU\" (host memory) can be given" +
        std::string(k_see));
  }
  try {
    const std::regex compiled(o.pattern); // ECMAScript, as llama.cpp compiles it
  } catch (const std::regex_error& e) {
    return std::unexpected("invalid regular expression " + in_quotes(o.pattern) + ": " + e.what());
  }
  return o;
}

std::expected<std::vector<TensorOverride>, std::string>
parse_tensor_override_list(std::string_view list) {
  // Split at every comma, as parse_tensor_buffer_overrides does: "a=CPU," ends with "".
  std::vector<TensorOverride> out;
  for (std::size_t start = 0;;) {
    const std::size_t comma = list.find(',', start);
    const std::string_view item = list.substr(start, comma - start);
    auto o = parse_tensor_override(item);
    if (!o) {
      return std::unexpected(in_quotes(item) + ": " + o.error());
    }
    out.push_back(std::move(*o));
    if (comma == std::string_view::npos) {
      return out;
    }
    start = comma + 1;
  }
}

ParsedLlamaArgs parse_llama_args(std::span<const std::string> args) {
  ParsedLlamaArgs out;
  Reader reader(out);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& raw = args[i];
    std::string name = raw;
    if (name.starts_with("--")) { // arg.cpp: "--ctx_size" is "--ctx-size"
      std::replace(name.begin(), name.end(), '_', '-');
    }
    const std::size_t eq = name.starts_with("--") ? name.find('=') : std::string::npos;
    if (eq != std::string::npos) {
      // "--flag=value": arg.cpp has no such form; llama-server would stop at "invalid
      // argument". askd's own flags are named as such; other flags it knows are refused here
      // rather than at start-up; anything else passes through.
      const std::string flag = name.substr(0, eq);
      const Known* known = find_known(flag);
      if (known != nullptr && refused(known->kind)) {
        reader.problem(i, refusal(known->kind, raw.substr(0, eq)));
      } else if (known != nullptr || llama_flag_values(flag) > 0) {
        reader.problem(i, "llama-server does not read " + in_quotes(raw) + ": give " +
                              in_quotes(raw.substr(0, eq)) + " and " +
                              in_quotes(raw.substr(eq + 1)) + " as two arguments");
      } else {
        out.rest.push_back(raw);
      }
      continue;
    }
    const auto n_values = static_cast<std::size_t>(llama_flag_values(name));
    if (n_values > args.size() - 1 - i) {
      reader.problem(i, in_quotes(raw) + " expects " +
                            (n_values == 1 ? std::string("a value") : "two values") +
                            ", and the arguments end here");
      break;
    }
    const Known* known = find_known(name);
    const bool keep = known == nullptr;
    const std::size_t before = out.given.size();
    if (known != nullptr && refused(known->kind)) {
      reader.problem(i, refusal(known->kind, raw));
    } else if (known != nullptr) {
      reader.apply(known->kind, i, raw, n_values > 0 ? std::string_view(args[i + 1]) : "");
    }
    const bool kept = out.given.size() > before && out.given.back().kept;
    if (keep || kept) {
      out.rest.insert(out.rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i),
                      args.begin() + static_cast<std::ptrdiff_t>(i + 1 + n_values));
    }
    i += n_values;
  }
  return out;
}

} // namespace ask::config
