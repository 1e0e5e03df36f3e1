#include "sim/ollama_models.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/sha256.h"

namespace ask::sim {

namespace {

const std::vector<std::string> k_default_models = {"llama3.2:1b", "llama3.2:3b", "qwen3:8b"};

// "8b" -> 8.0, "1.5b" -> 1.5, "270m" -> 0.27; 7 for tags that say nothing ("latest").
double billions_of(std::string_view tag) {
  double v = 0;
  auto [end, ec] = std::from_chars(tag.data(), tag.data() + tag.size(), v);
  if (ec != std::errc() || end == tag.data() + tag.size() || v <= 0) {
    return 7.0;
  }
  char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(*end)));
  return unit == 'm' ? v / 1000.0 : (unit == 'b' ? v : 7.0);
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(sep, start);
    end = end == std::string_view::npos ? text.size() : end;
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

OllamaModelSpec spec_for(const std::string& entry) {
  OllamaModelSpec s;
  std::vector<std::string> parts = split(entry, '@');
  const std::string raw = parts.front();
  s.name = normalize_model_name(raw);
  if (raw.find("embed") != std::string::npos) {
    s.capabilities = {"embedding"};
    s.embedding_length = 768;
    s.train_context = 2048;
  } else if (raw.find("code") != std::string::npos) {
    s.capabilities.push_back("insert");
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].starts_with("ctx=")) {
      long long n = 0;
      auto [end, ec] = std::from_chars(parts[i].data() + 4, parts[i].data() + parts[i].size(), n);
      if (ec == std::errc() && n > 0) {
        s.train_context = n;
      }
    } else if (!parts[i].empty()) {
      s.capabilities = split(parts[i], '+');
    }
  }
  std::size_t colon = s.name.find(':');
  std::string base = s.name.substr(0, colon);
  std::string tag = s.name.substr(colon + 1);
  std::size_t letters = 0;
  while (letters < base.size() && std::isalpha(static_cast<unsigned char>(base[letters]))) {
    ++letters;
  }
  s.family = letters > 0 ? base.substr(0, letters) : base;
  double b = billions_of(tag);
  char buf[32];
  std::snprintf(buf, sizeof buf, b < 1 ? "%.0fM" : "%gB", b < 1 ? b * 1000 : b);
  s.parameter_size = buf;
  s.size = static_cast<std::uint64_t>(b * 0.6e9) + 300'000'000ULL; // ~Q4_K_M plus context
  s.digest = core::sha256_hex("llm-sim:" + s.name);
  return s;
}

} // namespace

bool OllamaModelSpec::has(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

std::string normalize_model_name(std::string_view name) {
  std::string n(name);
  if (n.find(':') == std::string::npos) {
    n += ":latest";
  }
  return n;
}

std::vector<OllamaModelSpec> ollama_catalog(const std::vector<std::string>& names) {
  std::vector<OllamaModelSpec> out;
  for (const std::string& n : names.empty() ? k_default_models : names) {
    out.push_back(spec_for(n));
  }
  return out;
}

OllamaModels::OllamaModels(const core::Clock& clock, std::vector<OllamaModelSpec> catalog,
                           std::chrono::milliseconds load_time)
    : m_clock(clock), m_catalog(std::move(catalog)), m_load_time(load_time) {}

const OllamaModelSpec* OllamaModels::find(std::string_view name) const {
  std::string n = normalize_model_name(name);
  for (const OllamaModelSpec& s : m_catalog) {
    if (s.name == n) {
      return &s;
    }
  }
  return nullptr;
}

std::chrono::milliseconds OllamaModels::begin_use(const std::string& name) {
  std::lock_guard lock(m_mutex);
  expire_locked();
  std::string n = normalize_model_name(name);
  bool cold = !m_loaded.contains(n);
  State& s = m_loaded[n];
  ++s.users;
  s.last_used = m_clock.now();
  if (cold || !s.forever) {
    s.expires_steady = m_clock.now() + s.keep_alive.value();
    s.expires_wall = m_clock.wall_now() + s.keep_alive.value();
  }
  return cold ? m_load_time : std::chrono::milliseconds(0);
}

void OllamaModels::end_use(const std::string& name, core::Duration keep_alive) {
  std::lock_guard lock(m_mutex);
  auto it = m_loaded.find(normalize_model_name(name));
  if (it == m_loaded.end()) {
    return;
  }
  State& s = it->second;
  s.users = std::max(0, s.users - 1);
  s.keep_alive = keep_alive;
  s.forever = keep_alive.is_forever();
  s.last_used = m_clock.now();
  if (!s.forever) {
    s.expires_steady = m_clock.now() + keep_alive.value();
    s.expires_wall = m_clock.wall_now() + keep_alive.value();
  }
  if (keep_alive.is_zero() && s.users == 0) {
    m_loaded.erase(it);
  }
}

void OllamaModels::unload(const std::string& name) {
  std::lock_guard lock(m_mutex);
  auto it = m_loaded.find(normalize_model_name(name));
  if (it == m_loaded.end()) {
    return;
  }
  if (it->second.users == 0) {
    m_loaded.erase(it);
  } else {
    it->second.keep_alive = core::Duration::zero(); // the last request's end unloads it
    it->second.forever = false;
  }
}

void OllamaModels::expire_locked() {
  const auto now = m_clock.now();
  for (auto it = m_loaded.begin(); it != m_loaded.end();) {
    const State& s = it->second;
    bool expired = s.users == 0 && !s.forever && now >= s.expires_steady;
    it = expired ? m_loaded.erase(it) : std::next(it);
  }
}

std::vector<RunningModel> OllamaModels::running() {
  std::lock_guard lock(m_mutex);
  expire_locked();
  std::vector<std::pair<core::Clock::SteadyTime, RunningModel>> items;
  for (const auto& [name, s] : m_loaded) {
    const OllamaModelSpec* spec = nullptr;
    for (const OllamaModelSpec& c : m_catalog) {
      spec = c.name == name ? &c : spec;
    }
    if (spec != nullptr) {
      items.push_back({s.last_used, RunningModel{*spec, s.forever, s.users > 0, s.expires_wall}});
    }
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<RunningModel> out;
  for (auto& [t, r] : items) {
    out.push_back(std::move(r));
  }
  return out;
}

bool OllamaModels::is_loaded(const std::string& name) {
  std::lock_guard lock(m_mutex);
  expire_locked();
  return m_loaded.contains(normalize_model_name(name));
}

} // namespace ask::sim
