#include "core/xdg.h"

#include <cstdlib>
#include <vector>

#include <pwd.h>
#include <unistd.h>

namespace ask::core {

namespace {

constexpr const char* k_fallback_home = "/tmp";

// The variable's value when it is set, non-empty and an absolute path (per the XDG spec).
std::optional<std::filesystem::path> absolute_var(const EnvLookup& env, const std::string& name) {
  auto value = env(name);
  if (!value || value->empty()) {
    return std::nullopt;
  }
  std::filesystem::path p(*value);
  if (!p.is_absolute()) {
    return std::nullopt;
  }
  return p;
}

// The home directory of the user running the process, from the password database.
std::optional<std::filesystem::path> passwd_home() {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* result = nullptr;
  if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr ||
      pw.pw_dir == nullptr || pw.pw_dir[0] != '/') {
    return std::nullopt;
  }
  return std::filesystem::path(pw.pw_dir);
}

std::filesystem::path home_dir(const EnvLookup& env) {
  if (auto home = absolute_var(env, "HOME")) {
    return *home;
  }
  if (auto home = passwd_home()) {
    return *home;
  }
  return k_fallback_home;
}

std::filesystem::path resolve(const EnvLookup& env, const std::string& var,
                              const std::filesystem::path& home,
                              const std::filesystem::path& default_rel) {
  if (auto p = absolute_var(env, var)) {
    return *p;
  }
  return home / default_rel;
}

} // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

XdgDirs XdgDirs::from_env(const EnvLookup& env) {
  const auto home = home_dir(env);
  XdgDirs dirs;
  dirs.config_home = resolve(env, "XDG_CONFIG_HOME", home, ".config");
  dirs.data_home = resolve(env, "XDG_DATA_HOME", home, ".local/share");
  dirs.cache_home = resolve(env, "XDG_CACHE_HOME", home, ".cache");
  dirs.state_home = resolve(env, "XDG_STATE_HOME", home, ".local/state");
  return dirs;
}

std::filesystem::path expand_home(const std::string& path, const EnvLookup& env) {
  if (path == "~") {
    return home_dir(env);
  }
  if (path.starts_with("~/")) {
    const auto rest = path.find_first_not_of('/', 1);
    return home_dir(env) / (rest == std::string::npos ? std::string() : path.substr(rest));
  }
  return path;
}

} // namespace ask::core
