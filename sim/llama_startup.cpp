#include "sim/llama_startup.h"

#include <thread>

namespace ask::sim {

namespace {

constexpr int k_info = 3;  // shown at llama-server's default verbosity
constexpr int k_debug = 4; // shown with -lv 4
constexpr int k_error = 0; // always shown
constexpr long long k_host_mib = 24105;

std::string quoted(const std::string& path) {
  return "'" + path + "'";
}

} // namespace

std::string LlamaStartup::model_path() const {
  if (!m_options.model_path.empty()) {
    return m_options.model_path;
  }
  if (m_options.fake_model) {
    return m_options.aliases.empty() ? "llm-sim" : m_options.aliases.front();
  }
  return "models/7B/ggml-model-f16.gguf"; // llama-server's default when -m is missing
}

void LlamaStartup::log_header() {
  m_log.llama(k_debug, 'I',
              "cmn  common_param: common_params_print_info: build 10587 (3f545becc) "
              "with GNU 12.2.0 for Linux x86_64");
  m_log.llama(k_info, 'I',
              "cmn  common_param: common_params_print_info: verbosity = " +
                  std::to_string(m_options.verbosity) + " (adjust with the `-lv N` CLI arg)");
  m_log.llama(k_debug, 'I', "cmn  common_param: device_info:");
  long long vram = m_options.vram_mib.value_or(24576);
  for (const std::string& dev : m_options.devices) {
    if (dev != "none") {
      std::string name = dev + std::string(dev.size() < 8 ? 8 - dev.size() : 0, ' ');
      m_log.llama(k_debug, 'I',
                  "cmn  common_param:   - " + name + ": llm-sim GPU (" + std::to_string(vram) +
                      " MiB, " + std::to_string(vram) + " MiB free)");
    }
  }
  m_log.llama(k_debug, 'I',
              "cmn  common_param:   - CPU     : llm-sim (" + std::to_string(k_host_mib) + " MiB, " +
                  std::to_string(k_host_mib) + " MiB free)");
  m_log.llama(k_debug, 'I', "srv          init: using 6 threads for HTTP server");
  if (m_options.api_keys.empty()) {
    m_log.llama(k_info, 'W', "srv  llama_server: -----------------");
    m_log.llama(k_info, 'W',
                "srv  llama_server: CORS is set to allow all origins ('*') and no API key is set");
    m_log.llama(k_info, 'W',
                "srv  llama_server: this can be a security risk (cross-origin attacks)");
    m_log.llama(k_info, 'W',
                "srv  llama_server: more info: https://github.com/ggml-org/llama.cpp/pull/25655");
    m_log.llama(k_info, 'W', "srv  llama_server: -----------------");
  }
  m_log.llama(k_debug, 'I', "srv         start: binding port with default address family");
}

void LlamaStartup::log_bind_failure(int port) {
  m_log.llama(k_error, 'E',
              "srv         start: couldn't bind HTTP server socket, hostname: " + m_options.host +
                  ", port: " + std::to_string(port));
  m_log.llama(k_info, 'I', "srv    operator(): operator(): cleaning up before exit...");
  m_log.llama(k_error, 'E', "srv  llama_server: exiting due to HTTP server error");
}

std::optional<LoadedModel> LlamaStartup::load_model() {
  const std::string path = model_path();
  m_log.llama(k_info, 'I', "srv    load_model: loading model " + quoted(path));
  m_log.llama(k_debug, 'I', "srv    load_model: local path " + quoted(path));
  core::Result<ModelInfo> model =
      m_options.fake_model ? core::Result<ModelInfo>(fake_model_info(path)) : load_model_info(path);
  if (!model) {
    log_load_failure(path, model.error());
    return std::nullopt;
  }
  auto ctx = plan_context(m_options, *model);
  if (!ctx) {
    log_context_failure(path, ctx.error());
    return std::nullopt;
  }
  if (!m_options.model_draft.empty()) {
    m_log.llama(k_info, 'I',
                "srv    load_model: loading draft model " + quoted(m_options.model_draft));
  }
  LoadedModel loaded{std::move(*model), *ctx, {}};
  loaded.memory = plan_memory(m_options, loaded.model, loaded.ctx);
  for (const std::string& line : load_log_lines(loaded.model, loaded.ctx, loaded.memory)) {
    m_log.llama(k_debug, 'I', line);
  }
  log_context_ready(loaded.ctx);
  return loaded;
}

void LlamaStartup::log_context_ready(const ContextPlan& ctx) {
  int threads = m_options.threads > 0
                    ? m_options.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  m_log.llama(k_info, 'I',
              "cmn          init: llama threadpool init, n_threads = " + std::to_string(threads));
  m_log.llama(k_info, 'I',
              "srv    load_model: initializing, n_slots = " + std::to_string(ctx.n_seq) +
                  ", n_ctx_slot = " + std::to_string(ctx.n_ctx_seq) + ", kv_unified = '" +
                  (ctx.kv_unified ? "true" : "false") + "'");
  for (int i = 0; i < ctx.n_seq; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "%2d", i);
    m_log.llama(k_debug, 'I',
                std::string("slot   load_model: id ") + id +
                    " | task -1 | new slot, n_ctx = " + std::to_string(ctx.n_ctx_seq));
  }
}

void LlamaStartup::log_load_failure(const std::string& path, const core::Error& error) {
  if (error.kind == core::ErrorKind::not_found) {
    m_log.llama(k_error, 'E',
                "gguf_init_from_file: failed to open GGUF file " + quoted(path) +
                    " (No such file or directory)");
  } else {
    m_log.llama(k_error, 'E', "gguf_init_from_file_impl: " + error.message);
  }
  m_log.llama(k_error, 'E',
              "llama_model_load: error loading model: llama_model_loader: failed to "
              "load model from " +
                  path);
  m_log.llama(k_error, 'E', "llama_model_load_from_file_impl: failed to load model");
  m_log.llama(k_error, 'E', "cmn  common_init_: failed to load model " + quoted(path));
  m_log.llama(k_error, 'E', "srv    load_model: failed to load model, " + quoted(path));
  m_log.llama(k_info, 'I', "srv    operator(): operator(): cleaning up before exit...");
  m_log.llama(k_error, 'E', "srv  llama_server: exiting due to model loading error");
}

void LlamaStartup::log_context_failure(const std::string& path, const core::Error& error) {
  m_log.llama(k_error, 'E', "llama_init_from_model: " + error.message);
  m_log.llama(k_error, 'E',
              "cmn  common_init_: failed to create context with model " + quoted(path));
  m_log.llama(k_error, 'E',
              "srv    load_model: failed to create_context with model " + quoted(path));
  m_log.llama(k_info, 'I', "srv    operator(): operator(): cleaning up before exit...");
  m_log.llama(k_error, 'E', "srv  llama_server: exiting due to model loading error");
}

void LlamaStartup::log_ready(int port) {
  m_log.llama(k_info, 'I', "srv  llama_server: model loaded");
  m_log.llama(k_info, 'I',
              "srv  llama_server: listening on http://" + m_options.host + ":" +
                  std::to_string(port));
  m_log.llama(k_debug, 'I', "srv  update_slots: all slots are idle");
}

void LlamaStartup::log_shutdown(const MemoryPlan& memory) {
  m_log.llama(k_info, 'I', "srv    operator(): operator(): cleaning up before exit...");
  for (const std::string& line : breakdown_lines(memory)) {
    m_log.llama(k_debug, 'I', line);
  }
}

} // namespace ask::sim
