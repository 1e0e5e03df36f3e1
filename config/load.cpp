#include <fmt/format.h>

#include "config/config.h"
#include "config/defaults.h"
#include "config/parse.h"
#include "core/small_file.h"

namespace ask::config {

namespace {

constexpr std::uintmax_t k_max_file_size = 4u << 20;

ConfigError file_error(core::ErrorKind kind, const std::string& source, std::string message) {
  ConfigError e;
  e.kind = kind;
  e.diagnostics.push_back(Diagnostic{Severity::error, source, 0, 0, "", std::move(message)});
  return e;
}

ConfigResult<std::string> read_file(const std::filesystem::path& path, const std::string& source) {
  auto text = core::read_small_file(path, k_max_file_size);
  if (text) {
    return std::move(*text);
  }
  using Problem = core::ReadProblem::Kind;
  switch (text.error().kind) {
  case Problem::missing:
    return std::unexpected(file_error(core::ErrorKind::not_found, source, "no such file"));
  case Problem::directory:
    return std::unexpected(
        file_error(core::ErrorKind::bad_request, source, "is a directory, not a config file"));
  case Problem::too_large:
    return std::unexpected(file_error(core::ErrorKind::bad_request, source,
                                      fmt::format("file is {} bytes; a config file may be at "
                                                  "most {} bytes",
                                                  text.error().size, k_max_file_size)));
  case Problem::unreadable:
    break;
  }
  return std::unexpected(file_error(core::ErrorKind::internal, source,
                                    "cannot read: " + text.error().reason));
}

} // namespace

ConfigResult<LoadedConfig> parse_config(std::string_view text, const ParseOptions& options) {
  Diagnostics diags(options.source_name);
  auto doc = parse_jsonc(text);
  if (!doc) {
    diags.add(Diagnostic{Severity::error, options.source_name, doc.error().pos.line,
                         doc.error().pos.column, "", doc.error().message});
    return std::unexpected(ConfigError{core::ErrorKind::bad_request, diags.all()});
  }
  for (const JsoncError& dup : doc->duplicate_keys) {
    diags.add(Diagnostic{Severity::error, options.source_name, dup.pos.line, dup.pos.column, "",
                         dup.message});
  }
  detail::Context ctx{
      *doc,       diags, options.env, core::XdgDirs::from_env(options.env), options.base_dir,
      &doc->value};
  LoadedConfig loaded;
  loaded.source = options.source_name;
  detail::parse_root(ctx, doc->value, loaded.config);
  if (doc->value.is_object()) {
    detail::validate(ctx, loaded.config);
  }
  diags.sort_by_line();
  if (diags.has_errors()) {
    return std::unexpected(ConfigError{core::ErrorKind::bad_request, diags.all()});
  }
  loaded.warnings = diags.warnings();
  return loaded;
}

ConfigResult<LoadedConfig> parse_config(std::string_view text, std::string_view source_name,
                                        const core::EnvLookup& env) {
  ParseOptions options;
  options.source_name = std::string(source_name);
  options.env = env;
  return parse_config(text, options);
}

ConfigLocation locate_config(const LoadOptions& options) {
  if (options.explicit_path) {
    return {ConfigLocation::Origin::explicit_path, options.explicit_path};
  }
  if (const auto env = options.env("ASK_CONFIG"); env && !env->empty()) {
    return {ConfigLocation::Origin::env_var, std::filesystem::path(*env)};
  }
  const auto xdg = core::XdgDirs::from_env(options.env).ask_config() / "config.jsonc";
  std::error_code ec;
  if (std::filesystem::exists(xdg, ec)) {
    return {ConfigLocation::Origin::xdg, xdg};
  }
  return {ConfigLocation::Origin::builtin, std::nullopt};
}

ConfigResult<LoadedConfig> load_config(const LoadOptions& options) {
  const ConfigLocation where = locate_config(options);
  ParseOptions parse;
  parse.env = options.env;
  if (!where.path) {
    parse.source_name = std::string(k_builtin_source);
    return parse_config(k_builtin_config, parse);
  }
  parse.source_name = where.path->string();
  auto text = read_file(*where.path, parse.source_name);
  if (!text) {
    if (where.origin == ConfigLocation::Origin::env_var &&
        text.error().kind == core::ErrorKind::not_found) {
      text.error().diagnostics.front().message = "no such file (named by $ASK_CONFIG)";
    }
    return std::unexpected(std::move(text.error()));
  }
  std::error_code ec;
  parse.base_dir = std::filesystem::absolute(*where.path, ec).parent_path();
  auto loaded = parse_config(*text, parse);
  if (loaded) {
    loaded->path = where.path;
  }
  return loaded;
}

} // namespace ask::config
