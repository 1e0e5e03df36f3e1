#include "ask/commands.h"

#include <cstdio>
#include <ctime>

#include "ask/askd_client.h"
#include "ask/run.h"
#include "cache/sqlite_cache.h"
#include "telemetry/stats.h"

namespace ask::cli {
namespace {

std::string utc_text(double unix_s) {
  if (unix_s <= 0) {
    return "-";
  }
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string human_bytes(long long b) {
  char buf[32];
  if (b < 1024) {
    std::snprintf(buf, sizeof buf, "%lld B", b);
  } else if (b < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1024 * 1024));
  }
  return buf;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

std::optional<double> parse_date(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  std::string str(text);
  int n = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) {
    return std::nullopt;
  }
  if (str.size() > 10) {
    int m = 0;
    int got = std::sscanf(str.c_str() + 10, "T%2d:%2d%n:%2d%n", &h, &mi, &m, &s, &m);
    if (got < 2 || m < 0 || 10 + static_cast<std::size_t>(m) != str.size()) {
      return std::nullopt;
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970) {
    return std::nullopt;
  }
  return static_cast<double>(
      days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
      mi * 60 + s);
}

} // namespace

core::Result<double> parse_when(std::string_view text, double now) {
  if (auto date = parse_date(text)) {
    return *date;
  }
  auto d = core::parse_duration(text);
  if (!d || d->is_forever()) {
    return core::fail(
        core::Error::bad_request("\"" + std::string(text) +
                                 "\": expected a duration back from now (\"7d\", \"24h\") or "
                                 "a date (YYYY-MM-DD)"));
  }
  return now - std::chrono::duration<double>(d->value()).count();
}

ExitCode run_stats(const StatsOptions& o, const config::Config& config, const core::Clock& clock,
                   Terminal& terminal) {
  const double now = core::unix_seconds(clock.wall_now());
  telemetry::StatsOptions so;
  for (auto [text, target] : {std::pair{&o.since, &so.since}, std::pair{&o.until, &so.until}}) {
    if (!*text) {
      continue;
    }
    auto when = parse_when(**text, now);
    if (!when) {
      terminal.error((target == &so.since ? "--since " : "--until ") + when.error().message);
      return ExitCode::usage;
    }
    *target = *when;
  }
  auto report = telemetry::summarize_file(config.telemetry.ask_log, so);
  if (!report) {
    terminal.error(report.error().message);
    return ExitCode::failure;
  }
  if (o.json) {
    terminal.answer(telemetry::to_json(*report).dump(2));
  } else {
    terminal.answer(telemetry::render_table(*report));
  }
  terminal.end_answer();
  return ExitCode::ok;
}

ExitCode run_cache(Command command, const config::Config& config, const core::Clock& clock,
                   Terminal& terminal) {
  cache::SqliteCache::Options opts;
  opts.path = config.cache.path;
  opts.ttl = config.cache.ttl;
  opts.warn = [&terminal](const std::string& m) { terminal.note("ask: warning: " + m); };
  auto c = cache::SqliteCache::open(std::move(opts), clock);
  if (!c) {
    terminal.error(c.error().message);
    return ExitCode::failure;
  }
  if (command == Command::cache_prune || command == Command::cache_clear) {
    auto n = command == Command::cache_prune ? (*c)->prune() : (*c)->clear();
    if (!n) {
      terminal.error(n.error().message);
      return ExitCode::failure;
    }
    terminal.answer((command == Command::cache_prune ? "pruned " : "cleared ") +
                    std::to_string(*n) + (*n == 1 ? " entry" : " entries") + " from " +
                    (*c)->path().string() + "\n");
    return ExitCode::ok;
  }
  auto s = (*c)->stats();
  if (!s) {
    terminal.error(s.error().message);
    return ExitCode::failure;
  }
  std::string out = "cache:   " + s->path.string() + (config.cache.enabled ? "" : " (disabled)") +
                    "\nentries: " + std::to_string(s->entries) + " (" + std::to_string(s->expired) +
                    " expired; ttl " + config.cache.ttl.to_string() +
                    ")\nsize:    " + human_bytes(s->file_bytes) +
                    "\noldest:  " + utc_text(s->oldest) + " UTC\nnewest:  " + utc_text(s->newest) +
                    " UTC\n(hit rates per model: ask stats)\n";
  for (const cache::ModelStats& m : s->by_model) {
    out += "  " + m.model + ": " + std::to_string(m.entries) +
           (m.entries == 1 ? " entry\n" : " entries\n");
  }
  terminal.answer(out);
  return ExitCode::ok;
}

namespace {
// `m[key]` when it is a string, else `fallback`: askd's list is read defensively.
std::string string_or(const core::Json& m, const char* key, std::string fallback) {
  auto it = m.find(key);
  return it != m.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}
} // namespace

ExitCode run_models(const ModelsOptions& o, const core::EnvLookup& env, int stop_fd,
                    Terminal& terminal) {
  auto ep = parse_endpoint(askd_url(o.url, env));
  if (!ep) {
    terminal.error(ep.error().message);
    return ExitCode::usage;
  }
  ClientSettings settings;
  settings.endpoint = *ep;
  settings.api_key = askd_api_key(o.api_key, env);
  settings.stop_fd = stop_fd;
  settings.first_byte_timeout = std::chrono::seconds(30);
  AskdClient client(settings);
  auto list = client.models();
  if (!list) {
    terminal.error(list.error().message);
    return exit_code_for(list.error().kind);
  }
  if (o.json) {
    terminal.answer(list->dump(2));
    terminal.end_answer();
    return ExitCode::ok;
  }
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %-9s %-8s %-18s %s\n", "MODEL", "BACKEND", "CONTEXT",
                "STATE", "DESCRIPTION");
  out += line;
  const core::Json& data = (*list)["data"];
  if (data.is_array()) {
    for (const core::Json& m : data) {
      if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) {
        continue;
      }
      std::string id = m["id"].get<std::string>();
      std::string ctx = "-";
      if (auto it = m.find("context_length"); it != m.end() && it->is_number_integer()) {
        ctx = std::to_string(it->get<long long>());
      }
      std::string state = string_or(m, "state", "-");
      if (auto it = m.find("expires_at"); state == "loaded" && it != m.end() && it->is_string()) {
        const std::string until = it->get<std::string>();
        if (until.size() >= 16) {
          state += " until " + until.substr(11, 5); // HH:MM of the backend's RFC 3339 time
        }
      }
      std::string backend = string_or(m, "backend", "-");
      std::string desc = string_or(m, "description", "");
      if (auto c = m.find("council"); c != m.end() && c->is_boolean() && c->get<bool>()) {
        desc = "council" + (desc.empty() ? "" : ": " + desc);
      }
      if (auto it = m.find("alias_of"); it != m.end() && it->is_string()) {
        desc = "alias of " + it->get<std::string>();
      }
      std::snprintf(line, sizeof line, "%-20s %-9s %-8s %-18s %s\n", id.c_str(), backend.c_str(),
                    ctx.c_str(), state.c_str(), desc.c_str());
      out += line;
    }
  }
  terminal.answer(out);
  return ExitCode::ok;
}

} // namespace ask::cli
