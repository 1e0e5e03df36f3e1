#include "ask/logs.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

namespace ask::cli {
namespace {

// "2026-12-06 14:02" in the local time zone: when a person asked, as their clock said.
std::string logs_local_minute(double unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  if (localtime_r(&t, &tm) == nullptr) {
    return "(no time)";
  }
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// Each line of `text` after "> " (a prompt reads as quoted, apart from the answer).
void logs_append_quoted(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    out += line.empty() ? ">" : "> ";
    out += line;
    out += '\n';
    if (end == std::string_view::npos) {
      break;
    }
    text.remove_prefix(end + 1);
  }
}

} // namespace

std::string render_exchanges(const std::vector<history::Exchange>& exchanges) {
  std::string out;
  for (const history::Exchange& e : exchanges) {
    if (!out.empty()) {
      out += '\n';
    }
    out += logs_local_minute(e.ts) + "  " + e.model;
    if (!e.served_by.empty() && e.served_by != e.model) {
      out += " (served by " + e.served_by + ")";
    }
    out += "  cid " + e.cid + "\n";
    logs_append_quoted(out, e.prompt);
    if (!e.attachments.empty()) {
      std::string labels;
      for (const std::string& label : e.attachments) {
        labels += (labels.empty() ? "" : ", ") + label;
      }
      logs_append_quoted(out, "[attached: " + labels + "]");
    }
    out += e.answer;
    if (!e.answer.empty() && e.answer.back() != '\n') {
      out += '\n';
    }
  }
  return out;
}

ExitCode run_logs(const LogsOptions& options, const config::Config& config,
                  const core::Clock& clock, Terminal& terminal) {
  if (options.n < 0) {
    terminal.error("-n " + std::to_string(options.n) + ": expected a count (0 for all)");
    return ExitCode::usage;
  }
  if (options.cid && !history::valid_cid(*options.cid)) {
    terminal.error("--cid \"" + options.cid->substr(0, 80) +
                   "\": expected 1 to 64 of A-Z a-z 0-9 . _ -");
    return ExitCode::usage;
  }
  const std::filesystem::path& path = config.history.path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    terminal.note("ask: no history yet (" + path.string() + ")" +
                  (config.history.enabled ? "" : "; it is turned off (history.enabled)"));
    if (options.json) {
      terminal.answer("[]\n");
    }
    return ExitCode::ok;
  }
  history::History::Options ho;
  ho.path = path;
  ho.warn = [&terminal](const std::string& m) { terminal.note("ask: warning: " + m); };
  auto h = history::History::open(std::move(ho), clock);
  if (!h) {
    terminal.error(h.error().message);
    return ExitCode::failure;
  }
  history::Query q;
  q.text = options.query;
  q.cid = options.cid;
  q.limit = options.n;
  auto found = (*h)->search(q);
  if (!found) {
    terminal.error(found.error().message);
    return ExitCode::failure;
  }
  std::vector<history::Exchange>& exchanges = *found;
  if (options.cid) {
    std::reverse(exchanges.begin(), exchanges.end()); // a conversation reads top-down
  }
  if (exchanges.empty()) {
    terminal.note(options.cid ? "ask: no exchanges in conversation " + *options.cid +
                                    (options.query ? " match" : "")
                  : options.query ? std::string("ask: no exchanges match")
                                  : std::string("ask: the history is empty"));
  }
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const history::Exchange& e : exchanges) {
      array.push_back(history::to_json(e));
    }
    terminal.answer(array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    terminal.end_answer();
  } else if (!exchanges.empty()) {
    terminal.answer(render_exchanges(exchanges));
  }
  if (terminal.answer_failed() && !terminal.answer_pipe_closed()) { // `| head`: not an error
    terminal.error("cannot write the output: " + terminal.answer_error());
    return ExitCode::failure;
  }
  return ExitCode::ok;
}

} // namespace ask::cli
