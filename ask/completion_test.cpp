#include "ask/completion.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "tests/support/child_process.h"

// The scripts are tested in the real shells: each test sources the generated script, asks the
// shell to complete a few command lines, and compares what it offers. A shell that is not
// installed is skipped with a message (scripts/install-deps.sh installs zsh and fish).

namespace {

using ask::cli::CompletionCommand;
using ask::cli::CompletionOption;
using ask::cli::CompletionSpec;
using ask::cli::Shell;
using CompletionValue = CompletionOption::Value;

// A help text and model names that would run something if a script let the shell read them
// as code; the tests check that nothing was touched and that they complete literally.
const std::string k_completion_marker = "completion-test-pwned";

CompletionSpec completion_test_spec(const std::filesystem::path& dir) {
  const std::string trap = "$(touch " + (dir / k_completion_marker).string() + ")";
  CompletionSpec spec;
  spec.options = {
      {{"-h", "--help"}, "Print this help and exit"},
      {{"--version"}, "Print the version and exit"},
      {{"--9b"}, "Ask fast-9b (the default)"},
      {{"--think"}, "Ask think-9b"},
      {{"-m", "--model"}, "Any logical model, council or alias", CompletionValue::model},
      {{"-s", "--system"}, "A system prompt", CompletionValue::text},
      {{"-a", "--attach"}, "Attach a file", CompletionValue::file},
      {{"--timeout"}, "Give up after this long (\"90s\"); exit 5", CompletionValue::duration},
      {{"--url"}, "askd's address: $ASK_URL", CompletionValue::url},
      {{"-q", "--quiet"}, "No progress line"},
      {{"--config"},
       "The config: it's `" + trap + "` \"x\" $HOME \\ [a] ; | &\nsecond line",
       CompletionValue::file},
      {{"--bad name", "-x;y"}, "left out: no plain name"},
  };
  CompletionCommand cache{"cache", "the prompt cache", {}, {}};
  for (const char* sub : {"stats", "prune", "clear"}) {
    cache.subcommands.push_back({sub,
                                 std::string("cache ") + sub,
                                 {{{"--config"}, "The config file", CompletionValue::file}},
                                 {}});
  }
  spec.commands = {
      {"stats",
       "calls: per model",
       {{{"--since"}, "Only calls since WHEN", CompletionValue::text}, {{"--json"}, "JSON"}},
       {}},
      cache,
      {"models", "the logical models: what askd serves", {{{"--json"}, "JSON"}}, {}},
      {"completion", "print a completion script", {}, {}, CompletionValue::shell},
      {"bad;name", "left out", {}, {}},
  };
  spec.models = {"fast-9b", "fast-3b", "think-9b", "qwen:7b", "it's", trap, "bad\nmodel"};
  return spec;
}

// A temporary folder for one test, removed at the end.
class CompletionTestDir {
public:
  CompletionTestDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ask-completion-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    m_path = tmpl;
  }
  ~CompletionTestDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  CompletionTestDir(const CompletionTestDir&) = delete;
  CompletionTestDir& operator=(const CompletionTestDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(m_path / name, std::ios::binary) << text;
    return m_path / name;
  }

private:
  std::filesystem::path m_path;
};

// The shell's path on $PATH, or empty.
std::filesystem::path completion_find_shell(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

// Runs argv; its stdout split into one section per completed line (the drivers print
// "--done--" after each), every section sorted.
std::vector<std::vector<std::string>> completion_run(std::vector<std::string> argv,
                                                     const CompletionTestDir& dir,
                                                     const std::vector<std::string>& env = {}) {
  const std::string d = dir.path().string();
  ask::testing::ChildOptions options;
  options.stdin_path = "/dev/null";
  options.env = {"HOME=" + d,
                 "XDG_CONFIG_HOME=" + d + "/config",
                 "XDG_DATA_HOME=" + d + "/data",
                 "XDG_CACHE_HOME=" + d + "/cache",
                 "ZDOTDIR=" + d,
                 "EDITOR",
                 "VISUAL",
                 "COMP_WORDBREAKS"};
  options.env.insert(options.env.end(), env.begin(), env.end());
  ask::testing::ChildProcess child(std::move(argv), options);
  auto status = child.wait_exit(std::chrono::seconds(60));
  if (!status) {
    child.terminate();
  }
  child.wait_output_closed(std::chrono::seconds(5));
  INFO("stderr: ", child.stderr_text());
  REQUIRE(status.has_value());
  CHECK(status->exited);
  CHECK(status->code == 0);
  std::vector<std::vector<std::string>> sections(1);
  std::stringstream out(child.stdout_text());
  for (std::string line; std::getline(out, line);) {
    if (line == "--done--") {
      std::ranges::sort(sections.back());
      sections.emplace_back();
    } else if (!line.empty()) {
      sections.back().push_back(line.substr(0, line.find('\t'))); // fish: "word<TAB>help"
    }
  }
  sections.pop_back();
  return sections;
}

using Words = std::vector<std::string>;

// The lines every shell is asked to complete, and what each must offer (sorted).
struct CompletionCase {
  std::string line;
  Words expected;
};

std::vector<CompletionCase> completion_cases() {
  return {
      {"ask ", {"cache", "completion", "models", "stats"}},
      {"ask --mo", {"--model"}},
      {"ask -m f", {"fast-3b", "fast-9b"}},
      {"ask -q cache ", {"clear", "prune", "stats"}},
      {"ask --config x ca", {"cache"}},     // a command after an option and its value
      {"ask -m fast-9b st", {"stats"}},     // the value of -m is not a command
      {"ask cache prune --", {"--config"}}, // the subcommand's own options
      {"ask stats --", {"--json", "--since"}},
      {"ask completion ", {"bash", "fish", "zsh"}},
      {"ask hello ", {}},              // a prompt word: no commands after it
      {"ask hello --qu", {"--quiet"}}, // but options still
      {"ask -- --q", {}},              // after --, only the prompt
      {"ask --timeout ", {}},          // a duration: nothing to offer
      {"ask --9", {"--9b"}},
  };
}

std::string completion_join(const Words& words) {
  std::string out;
  for (const std::string& w : words) {
    out += (out.empty() ? "" : " | ") + w;
  }
  return out;
}

void completion_check_cases(const std::vector<std::vector<std::string>>& got,
                            const std::vector<CompletionCase>& cases, const std::string& shell) {
  REQUIRE(got.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(shell);
    CAPTURE(cases[i].line);
    CHECK(completion_join(got[i]) == completion_join(cases[i].expected));
  }
}

// files/conf.jsonc and files/conf-dir/, for the options that take a file; returns
// ".../files/conf", the prefix the tests type.
std::string completion_prepare_files(const CompletionTestDir& dir) {
  std::filesystem::create_directories(dir.path() / "files" / "conf-dir");
  dir.write("files/conf.jsonc", "{}");
  return (dir.path() / "files" / "conf").string();
}

std::vector<std::string> completion_lines(const std::vector<CompletionCase>& cases) {
  std::vector<std::string> lines;
  for (const CompletionCase& c : cases) {
    lines.push_back(c.line);
  }
  return lines;
}

// Completes each line (cursor at the end) the way bash calls a `complete -F` function.
const char* const k_bash_driver = R"(source "$1"; shift
for COMP_LINE; do
  COMP_POINT=${#COMP_LINE}
  read -ra COMP_WORDS <<<"$COMP_LINE"
  COMP_CWORD=${#COMP_WORDS[@]}
  [[ $COMP_LINE == *' ' ]] || COMP_CWORD=$((COMP_CWORD - 1))
  _ask
  printf '%s\n' "${COMPREPLY[@]}" --done--
done
)";

// An interactive zsh on a pseudo-terminal (zsh/zpty) with compinit and the script loaded;
// each line is typed, then TAB, then ^U. compadd is wrapped to write the matches it adds.
const char* const k_zsh_setup = R"(PROMPT= RPROMPT=
bindkey -e
autoload -U compinit && compinit -u -D
source $ASK_TEST_SCRIPT
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) && print -rl -- ${(Q)__hits} >>$ASK_TEST_OUT
  builtin compadd "$@"
}
_ask_test_complete() {
  _main_complete
  print -r -- --done-- >>$ASK_TEST_OUT
}
zle -C ask-test-complete complete-word _ask_test_complete
bindkey '^I' ask-test-complete
)";

const char* const k_zsh_driver = R"(zmodload zsh/zpty
: >$ASK_TEST_OUT
zpty z zsh -f -i
zpty -w z "source ${(q)ASK_TEST_SETUP}"
integer n=0
for line; do
  zpty -w -n z "$line"$'\t'
  n+=1
  for i in {1..400}; do # up to 20 s for compinit on a loaded machine
    while zpty -r -t z junk; do :; done
    (( $(grep -cx -- --done-- $ASK_TEST_OUT) >= n )) && break
    sleep 0.05
  done
  zpty -w -n z $'\C-u'
done
zpty -d z
cat $ASK_TEST_OUT
)";

} // namespace

TEST_CASE("completion: parse_shell knows bash, zsh and fish") {
  CHECK(ask::cli::parse_shell("bash") == Shell::bash);
  CHECK(ask::cli::parse_shell("zsh") == Shell::zsh);
  CHECK(ask::cli::parse_shell("fish") == Shell::fish);
  for (const char* bad : {"", "Bash", "sh", "powershell", "bash "}) {
    CAPTURE(bad);
    CHECK_FALSE(ask::cli::parse_shell(bad).has_value());
  }
  for (Shell s : {Shell::bash, Shell::zsh, Shell::fish}) {
    CHECK(ask::cli::parse_shell(ask::cli::to_string(s)) == s);
  }
}

TEST_CASE("completion: names that are not plain words are left out of every script") {
  CompletionTestDir dir;
  const CompletionSpec spec = completion_test_spec(dir.path());
  for (Shell s : {Shell::bash, Shell::zsh, Shell::fish}) {
    CAPTURE(ask::cli::to_string(s));
    const std::string script = ask::cli::completion_script(s, spec);
    CHECK(script.find("bad name") == std::string::npos);
    CHECK(script.find("x;y") == std::string::npos);
    CHECK(script.find("bad;name") == std::string::npos);
    CHECK(script.find("bad\nmodel") == std::string::npos);
    if (s != Shell::bash) {                                   // bash shows no help
      CHECK(script.find("second line") != std::string::npos); // joined onto one line
    }
    CHECK(script.find("--model") != std::string::npos);
  }
}

TEST_CASE("completion: bash completes commands, options, models, files and shells") {
  const auto bash = completion_find_shell("bash");
  if (bash.empty()) {
    MESSAGE("bash is not installed: skipped");
    return;
  }
  CompletionTestDir dir;
  const std::string conf = completion_prepare_files(dir);
  const auto script = dir.write(
      "ask.bash", ask::cli::completion_script(Shell::bash, completion_test_spec(dir.path())));
  const auto driver = dir.write("driver.bash", k_bash_driver);
  auto cases = completion_cases();
  cases.push_back({"ask --config " + conf, {conf + "-dir", conf + ".jsonc"}});
  cases.push_back({"ask --model=th", {"think-9b"}}); // bash replaces what follows the '='
  cases.push_back({"ask --config=" + conf + ".js", {conf + ".jsonc"}});
  cases.push_back({"ask -m it", {"it's"}});
  cases.push_back({"ask -m q", {"qwen:7b"}});
  cases.push_back({"ask -m qwen:", {"7b"}}); // bash replaces only what follows the ':'
  cases.push_back({"ask -m $", {"$(touch " + (dir.path() / k_completion_marker).string() + ")"}});
  std::vector<std::string> argv = {bash.string(), "--norc", "--noprofile", driver.string(),
                                   script.string()};
  for (const std::string& line : completion_lines(cases)) {
    argv.push_back(line);
  }
  completion_check_cases(completion_run(argv, dir), cases, "bash");
  CHECK_FALSE(std::filesystem::exists(dir.path() / k_completion_marker));
}

TEST_CASE("completion: fish completes commands, options, models, files and shells") {
  const auto fish = completion_find_shell("fish");
  if (fish.empty()) {
    MESSAGE("fish is not installed: skipped (scripts/install-deps.sh installs it)");
    return;
  }
  CompletionTestDir dir;
  const std::string conf = completion_prepare_files(dir);
  const auto script = dir.write(
      "ask.fish", ask::cli::completion_script(Shell::fish, completion_test_spec(dir.path())));
  auto cases = completion_cases();
  cases.push_back({"ask --config " + conf, {conf + "-dir/", conf + ".jsonc"}});
  cases.push_back({"ask --model=th", {"--model=think-9b"}});
  cases.push_back({"ask -m it", {"it's"}});
  cases.push_back({"ask -m \\$", {"$(touch " + (dir.path() / k_completion_marker).string() + ")"}});
  cases.push_back({"ask --con", {"--config"}}); // its help text holds $(...) and quotes
  std::vector<std::string> argv = {
      fish.string(), "--no-config", "-c",
      "source $argv[1]; for l in $argv[2..-1]; complete -C $l; echo --done--; end",
      script.string()};
  for (const std::string& line : completion_lines(cases)) {
    argv.push_back(line);
  }
  completion_check_cases(completion_run(argv, dir), cases, "fish");
  CHECK_FALSE(std::filesystem::exists(dir.path() / k_completion_marker));
}

TEST_CASE("completion: zsh completes commands, options, models, files and shells") {
  const auto zsh = completion_find_shell("zsh");
  if (zsh.empty()) {
    MESSAGE("zsh is not installed: skipped (scripts/install-deps.sh installs it)");
    return;
  }
  CompletionTestDir dir;
  const std::string conf = completion_prepare_files(dir);
  const auto script =
      dir.write("_ask", ask::cli::completion_script(Shell::zsh, completion_test_spec(dir.path())));
  {
    ask::testing::ChildProcess syntax({zsh.string(), "-n", script.string()});
    auto status = syntax.wait_exit(std::chrono::seconds(20));
    syntax.wait_output_closed(std::chrono::seconds(5));
    INFO(syntax.stderr_text());
    REQUIRE(status.has_value());
    CHECK(status->code == 0);
  }
  const auto setup = dir.write("setup.zsh", k_zsh_setup);
  const auto driver = dir.write("driver.zsh", k_zsh_driver);
  auto cases = completion_cases();
  // zsh offers the file names under the folder typed.
  cases.push_back({"ask --config " + conf, {"conf-dir", "conf.jsonc"}});
  cases.push_back({"ask --model=th", {"think-9b"}});
  cases.push_back({"ask -m it", {"it's"}});
  cases.push_back({"ask -m qw", {"qwen:7b"}});
  cases.push_back({"ask -m \\$", {"$(touch " + (dir.path() / k_completion_marker).string() + ")"}});
  std::vector<std::string> argv = {zsh.string(), "-f", driver.string()};
  for (const std::string& line : completion_lines(cases)) {
    argv.push_back(line);
  }
  // The driver and the setup find their files through the environment.
  const std::vector<std::string> env = {"ASK_TEST_SCRIPT=" + script.string(),
                                        "ASK_TEST_SETUP=" + setup.string(),
                                        "ASK_TEST_OUT=" + (dir.path() / "matches").string()};
  completion_check_cases(completion_run(argv, dir, env), cases, "zsh");
  CHECK_FALSE(std::filesystem::exists(dir.path() / k_completion_marker));
}
