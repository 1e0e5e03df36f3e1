#include "ask/completion.h"

#include <algorithm>
#include <utility>

namespace ask::cli {
namespace {

using Value = CompletionOption::Value;

// One command of the tree, flattened: `path` names it as the scripts do ("" for the question,
// "cache", "cache stats").
struct CompletionNode {
  std::string path;
  std::vector<const CompletionOption*> options;
  std::vector<const CompletionCommand*> commands;
  Value arguments = Value::none;
};

bool completion_is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// "cache", "9b": the names the scripts put in case patterns and conditions unescaped-safe.
bool completion_plain_command(std::string_view name) {
  return !name.empty() && name.front() != '-' && std::ranges::all_of(name, completion_is_word_char);
}

// "-m", "--model", "--9b".
bool completion_plain_option(std::string_view name) {
  const std::size_t dashes = name.starts_with("--") ? 2 : name.starts_with('-') ? 1 : 0;
  const std::string_view rest = name.substr(dashes);
  return dashes > 0 && !rest.empty() && rest.front() != '-' &&
         std::ranges::all_of(rest, completion_is_word_char);
}

bool completion_has_control(std::string_view s) {
  return std::ranges::any_of(
      s, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Help text on one line: a newline or tab in it would end an entry of the script.
std::string completion_one_line(std::string_view s) {
  std::string out(s);
  std::ranges::replace_if(
      out, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
  return out;
}

std::vector<std::string> completion_option_names(const CompletionOption& o) {
  std::vector<std::string> names;
  std::ranges::copy_if(o.names, std::back_inserter(names),
                       [](const std::string& n) { return completion_plain_option(n); });
  return names;
}

void completion_flatten(const std::string& path, const std::vector<CompletionOption>& options,
                        const std::vector<CompletionCommand>& commands, Value arguments,
                        std::vector<CompletionNode>& out) {
  CompletionNode node{path, {}, {}, arguments};
  for (const CompletionOption& o : options) {
    if (!completion_option_names(o).empty()) {
      node.options.push_back(&o);
    }
  }
  for (const CompletionCommand& c : commands) {
    if (completion_plain_command(c.name)) {
      node.commands.push_back(&c);
    }
  }
  out.push_back(node);
  for (const CompletionCommand* c : node.commands) {
    completion_flatten(path.empty() ? c->name : path + " " + c->name, c->options, c->subcommands,
                       c->arguments, out);
  }
}

std::vector<CompletionNode> completion_nodes(const CompletionSpec& spec) {
  std::vector<CompletionNode> nodes;
  completion_flatten("", spec.options, spec.commands, Value::text, nodes);
  return nodes;
}

std::vector<std::string> completion_models(const CompletionSpec& spec) {
  std::vector<std::string> models;
  std::ranges::copy_if(spec.models, std::back_inserter(models), [](const std::string& m) {
    return !m.empty() && !completion_has_control(m);
  });
  return models;
}

std::string_view completion_kind(Value v) {
  switch (v) {
  case Value::none:
    return "none";
  case Value::text:
    return "text";
  case Value::file:
    return "file";
  case Value::model:
    return "model";
  case Value::shell:
    return "shell";
  case Value::duration:
    return "duration";
  case Value::url:
    return "url";
  }
  return "none";
}

// The value kinds an option of `node` may take, in a fixed order, each with the names of the
// options that take it.
std::vector<std::pair<Value, std::vector<std::string>>>
completion_value_groups(const CompletionNode& node) {
  std::vector<std::pair<Value, std::vector<std::string>>> groups;
  for (Value v :
       {Value::text, Value::file, Value::model, Value::shell, Value::duration, Value::url}) {
    std::vector<std::string> names;
    for (const CompletionOption* o : node.options) {
      if (o->value == v) {
        auto n = completion_option_names(*o);
        names.insert(names.end(), n.begin(), n.end());
      }
    }
    if (!names.empty()) {
      groups.emplace_back(v, std::move(names));
    }
  }
  return groups;
}

// 'text' for bash and zsh: nothing inside single quotes is special but the quote itself.
std::string completion_sh_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// 'text' for fish: inside single quotes, \\ and \' are the escapes.
std::string completion_fish_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') {
      out += '\\';
    }
    out += c;
  }
  return out + "'";
}

template <typename Quote>
std::string completion_join_quoted(const std::vector<std::string>& words, Quote quote,
                                   std::string_view separator = " ") {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) {
      out += separator;
    }
    out += quote(w);
  }
  return out;
}

const char k_completion_shells[] = "bash zsh fish";

// --- bash ----------------------------------------------------------------------------------

// The body shared by bash and zsh: `_ask_value PATH OPTION` sets REPLY to what OPTION takes.
std::string completion_value_function(const std::vector<CompletionNode>& nodes) {
  std::string s =
      "_ask_value() { # _ask_value PATH OPTION: REPLY=what OPTION takes (none: a flag)\n"
      "  REPLY=none\n"
      "  case $1 in\n";
  for (const CompletionNode& n : nodes) {
    auto groups = completion_value_groups(n);
    if (groups.empty()) {
      continue;
    }
    s += "  " + completion_sh_quote(n.path) + ")\n    case $2 in\n";
    for (const auto& [value, names] : groups) {
      s += "    " + completion_join_quoted(names, completion_sh_quote, " | ") +
           ") REPLY=" + std::string(completion_kind(value)) + " ;;\n";
    }
    s += "    esac ;;\n";
  }
  s += "  esac\n}\n";
  return s;
}

std::string completion_arguments_function(const std::vector<CompletionNode>& nodes) {
  std::string s = "_ask_arguments() { # _ask_arguments PATH: REPLY=what its positional words are\n"
                  "  case $1 in\n";
  for (const CompletionNode& n : nodes) {
    if (n.arguments != Value::none && n.arguments != Value::text) {
      s += "  " + completion_sh_quote(n.path) +
           ") REPLY=" + std::string(completion_kind(n.arguments)) + " ;;\n";
    }
  }
  s += "  *) REPLY=none ;;\n  esac\n}\n";
  return s;
}

std::string completion_bash(const CompletionSpec& spec) {
  const auto nodes = completion_nodes(spec);
  std::string s = "# bash completion for ask, generated by `ask completion bash`. Load it with\n"
                  "#   source <(ask completion bash)\n"
                  "# or install it as share/bash-completion/completions/ask (cmake --install "
                  "does).\n\n";
  s += "_ask_options() { # _ask_options PATH: _ask_words=the options of the command PATH\n"
       "  case $1 in\n";
  for (const CompletionNode& n : nodes) {
    std::vector<std::string> names;
    for (const CompletionOption* o : n.options) {
      auto more = completion_option_names(*o);
      names.insert(names.end(), more.begin(), more.end());
    }
    s += "  " + completion_sh_quote(n.path) + ") _ask_words=(" +
         completion_join_quoted(names, completion_sh_quote) + ") ;;\n";
  }
  s += "  *) _ask_words=() ;;\n  esac\n}\n";
  s += "_ask_commands() { # _ask_commands PATH: _ask_words=the subcommands of PATH\n"
       "  case $1 in\n";
  for (const CompletionNode& n : nodes) {
    if (n.commands.empty()) {
      continue;
    }
    std::vector<std::string> names;
    for (const CompletionCommand* c : n.commands) {
      names.push_back(c->name);
    }
    s += "  " + completion_sh_quote(n.path) + ") _ask_words=(" +
         completion_join_quoted(names, completion_sh_quote) + ") ;;\n";
  }
  s += "  *) _ask_words=() ;;\n  esac\n}\n";
  s += completion_value_function(nodes);
  s += completion_arguments_function(nodes);
  s += "_ask_models=(" + completion_join_quoted(completion_models(spec), completion_sh_quote) +
       ")\n";
  s += "_ask_has() { # _ask_has WORD: is WORD one of _ask_words?\n"
       "  local w\n"
       "  for w in \"${_ask_words[@]}\"; do [[ $w == \"$1\" ]] && return 0; done\n"
       "  return 1\n"
       "}\n";
  s += R"BASH(
_ask() {
  COMPREPLY=()
  # The line up to the cursor in words (bash's COMP_WORDS would split --model=x and a:b).
  local line=${COMP_LINE:0:COMP_POINT} cur= cmd= positional=0 opt= pre= i w REPLY
  local -a words candidates=()
  read -ra words <<<"$line"
  if [[ $line != *[[:space:]] && ${#words[@]} -gt 1 ]]; then
    cur=${words[${#words[@]}-1]}
    unset "words[${#words[@]}-1]"
  fi
  # The command in effect: the subcommand words before any other positional word, skipping
  # options and their values (`ask --config F cache prune`).
  for ((i = 1; i < ${#words[@]}; i++)); do
    w=${words[i]}
    if [[ $w == -- ]]; then
      return 0 # the rest is the prompt
    elif [[ $w == -* ]]; then
      _ask_value "$cmd" "$w"
      if [[ $REPLY != none ]]; then
        ((i + 1 < ${#words[@]})) || opt=$w # its value is the word being completed
        i=$((i + 1))
      fi
    elif ((positional == 0)) && _ask_commands "$cmd" && _ask_has "$w"; then
      cmd=${cmd:+$cmd }$w
    else
      positional=1
    fi
  done
  if [[ -z $opt && $cur == -*=* ]]; then
    opt=${cur%%=*} pre=${cur%%=*}=
  fi
  if [[ -n $opt ]]; then
    _ask_value "$cmd" "$opt"
  elif [[ $cur == -* ]]; then
    _ask_options "$cmd"
    candidates=("${_ask_words[@]}") REPLY=none
  else
    REPLY=none
    ((positional)) || { _ask_commands "$cmd"; candidates=("${_ask_words[@]}"); }
    ((${#candidates[@]})) || _ask_arguments "$cmd"
  fi
  case $REPLY in
  model) candidates=("${_ask_models[@]}") ;;
  shell) candidates=()BASH";
  s += k_completion_shells;
  s += R"BASH() ;;
  file)
    compopt -o filenames 2>/dev/null
    while IFS= read -r w; do candidates+=("$w"); done < <(compgen -f -- "${cur#"$pre"}")
    ;;
  esac
  # bash replaces only the text after the last word-break character (= and : among them).
  local breaks=${COMP_WORDBREAKS//[^=:]/} keep=0
  if [[ -n $breaks && $cur == *[$breaks]* ]]; then
    w=${cur%[$breaks]*}
    keep=$((${#w} + 1))
  fi
  for w in "${candidates[@]}"; do
    w=$pre$w
    [[ $w == "$cur"* ]] && COMPREPLY+=("${w:keep}")
  done
  return 0
}
complete -F _ask ask
)BASH";
  return s;
}

// --- zsh -----------------------------------------------------------------------------------

// "name:help" for _describe: a colon or backslash in the name is escaped, the help is free.
std::string completion_zsh_item(std::string_view name, std::string_view help) {
  std::string out;
  for (char c : name) {
    if (c == ':' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return completion_sh_quote(out + ":" + completion_one_line(help));
}

std::string completion_zsh(const CompletionSpec& spec) {
  const auto nodes = completion_nodes(spec);
  std::string s = "#compdef ask\n"
                  "# zsh completion for ask, generated by `ask completion zsh`. Install it as _ask "
                  "in a folder\n"
                  "# of $fpath (cmake --install puts it in share/zsh/site-functions), or load it "
                  "after compinit:\n"
                  "#   source <(ask completion zsh)\n\n";
  s += "_ask_options() { # _ask_options CMD: reply=the options of the command CMD, name:help\n"
       "  case $1 in\n";
  for (const CompletionNode& n : nodes) {
    std::string items;
    for (const CompletionOption* o : n.options) {
      for (const std::string& name : completion_option_names(*o)) {
        items += "\n    " + completion_zsh_item(name, o->help);
      }
    }
    s += "  " + completion_sh_quote(n.path) + ") reply=(" + items + "\n  ) ;;\n";
  }
  s += "  *) reply=() ;;\n  esac\n}\n";
  s += "_ask_commands() { # _ask_commands CMD: reply=the subcommands of CMD, name:help\n"
       "  case $1 in\n";
  for (const CompletionNode& n : nodes) {
    if (n.commands.empty()) {
      continue;
    }
    std::string items;
    for (const CompletionCommand* c : n.commands) {
      items += "\n    " + completion_zsh_item(c->name, c->help);
    }
    s += "  " + completion_sh_quote(n.path) + ") reply=(" + items + "\n  ) ;;\n";
  }
  s += "  *) reply=() ;;\n  esac\n}\n";
  s += completion_value_function(nodes);
  s += completion_arguments_function(nodes);
  s += "_ask_models=(" + completion_join_quoted(completion_models(spec), completion_sh_quote) +
       ")\n";
  s += R"ZSH(
_ask() {
  local cmd= positional=0 opt= i w REPLY expl
  local -a reply names
  # The command in effect: the subcommand words before any other positional word, skipping
  # options and their values (`ask --config F cache prune`).
  for ((i = 2; i < CURRENT; i++)); do
    w=${(Q)words[i]}
    if [[ $w == -- ]]; then
      return 1 # the rest is the prompt
    elif [[ $w == -* ]]; then
      _ask_value "$cmd" "$w"
      if [[ $REPLY != none ]]; then
        ((i + 1 < CURRENT)) || opt=$w # its value is the word being completed
        ((i++))
      fi
    else
      _ask_commands "$cmd"
      names=(${reply%%:*})
      if ((positional == 0 && ${names[(Ie)$w]})); then
        cmd=${cmd:+$cmd }$w
      else
        positional=1
      fi
    fi
  done
  if [[ -z $opt && $PREFIX == -*=* ]]; then
    opt=${PREFIX%%=*}
    compset -P '*='
  fi
  if [[ -n $opt ]]; then
    _ask_value "$cmd" "$opt"
  elif [[ $PREFIX == -* ]]; then
    _ask_options "$cmd"
    _describe -t options option reply
    return
  else
    _ask_commands "$cmd"
    if ((positional == 0 && $#reply)); then
      _describe -t commands command reply
      return
    fi
    _ask_arguments "$cmd"
  fi
  case $REPLY in
  model) _wanted models expl model compadd -a _ask_models ;;
  shell) _wanted shells expl shell compadd )ZSH";
  s += k_completion_shells;
  s += R"ZSH( ;;
  file) _files ;;
  *) return 1 ;;
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _ask "$@" # autoloaded from $fpath
else
  compdef _ask ask # sourced
fi
)ZSH";
  return s;
}

// --- fish ----------------------------------------------------------------------------------

// The arguments of `complete` that describe what an option's value is.
std::string completion_fish_value(Value v) {
  switch (v) {
  case Value::none:
    return "";
  case Value::file:
    return " -r -F";
  case Value::model:
    return " -x -a " + completion_fish_quote("(__ask_models)");
  case Value::shell:
    return " -x -a " + completion_fish_quote(k_completion_shells);
  case Value::text:
  case Value::duration:
  case Value::url:
    return " -x";
  }
  return "";
}

// -s m, -l model, -o ab: how `complete` names an option.
std::string completion_fish_name(std::string_view name) {
  if (name.starts_with("--")) {
    return " -l " + completion_fish_quote(name.substr(2));
  }
  name.remove_prefix(1);
  return (name.size() == 1 ? " -s " : " -o ") + completion_fish_quote(name);
}

// "cache stats" as a fish word inside a condition: paths are plain words and spaces.
std::string completion_fish_path(std::string_view path) {
  return "\"" + std::string(path) + "\"";
}

std::string completion_fish(const CompletionSpec& spec) {
  const auto nodes = completion_nodes(spec);
  std::string s = "# fish completion for ask, generated by `ask completion fish`. Load it with\n"
                  "#   ask completion fish | source\n"
                  "# or install it as share/fish/vendor_completions.d/ask.fish (cmake --install "
                  "does).\n\n";
  s += "function __ask_commands --argument-names cmd --description 'ask: the subcommands of "
       "CMD, with their help'\n"
       "    switch $cmd\n";
  for (const CompletionNode& n : nodes) {
    if (n.commands.empty()) {
      continue;
    }
    s += "        case " + completion_fish_quote(n.path) + "\n            printf '%s\\t%s\\n'";
    for (const CompletionCommand* c : n.commands) {
      s += " " + completion_fish_quote(c->name) + " " +
           completion_fish_quote(completion_one_line(c->help));
    }
    s += "\n";
  }
  s += "    end\nend\n\n";
  s += "function __ask_takes_value --argument-names cmd option --description 'ask: does OPTION "
       "of CMD take a value?'\n"
       "    switch $cmd\n";
  for (const CompletionNode& n : nodes) {
    std::vector<std::string> names;
    for (const auto& [value, group] : completion_value_groups(n)) {
      names.insert(names.end(), group.begin(), group.end());
    }
    if (!names.empty()) {
      s += "        case " + completion_fish_quote(n.path) + "\n            contains -- $option " +
           completion_join_quoted(names, completion_fish_quote) + "\n";
    }
  }
  s += "        case '*'\n            return 1\n    end\nend\n\n";
  const auto models = completion_models(spec);
  s += "function __ask_models --description 'ask: the models of the config'\n";
  if (!models.empty()) {
    s += "    printf '%s\\n' " + completion_join_quoted(models, completion_fish_quote) + "\n";
  }
  s += "end\n";
  s += R"FISH(
function __ask_state --description 'ask: 0, 1 after a positional word or 2 after --; then the command in effect'
    set -l cmd ''
    set -l positional 0
    set -l skip 0
    for w in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
        else if test "$w" = --
            set positional 2
            break
        else if string match -q -- '-*' $w
            __ask_takes_value "$cmd" $w; and set skip 1
        else if test $positional = 0; and contains -- $w (__ask_commands "$cmd" | string replace -r '\t.*' '')
            set cmd (string trim -- "$cmd $w")
        else
            set positional 1
        end
    end
    printf '%s\n' $positional $cmd
end

function __ask_in --argument-names want --description 'ask: is WANT the command in effect?'
    set -l state (__ask_state)
    test "$state[1]" != 2; and test "$state[2]" = "$want"
end

function __ask_wants_command --argument-names want --description 'ask: may a subcommand of WANT come next?'
    set -l state (__ask_state)
    test "$state[1]" = 0; and test "$state[2]" = "$want"
end

complete -c ask -f # prompt words are not files
)FISH";
  for (const CompletionNode& n : nodes) {
    const std::string in = completion_fish_quote("__ask_in " + completion_fish_path(n.path));
    for (const CompletionOption* o : n.options) {
      s += "complete -c ask -n " + in;
      for (const std::string& name : completion_option_names(*o)) {
        s += completion_fish_name(name);
      }
      s += " -d " + completion_fish_quote(completion_one_line(o->help)) +
           completion_fish_value(o->value) + "\n";
    }
    if (!n.commands.empty()) {
      s += "complete -c ask -n " +
           completion_fish_quote("__ask_wants_command " + completion_fish_path(n.path)) + " -a " +
           completion_fish_quote("(__ask_commands " + completion_fish_path(n.path) + ")") + "\n";
    }
    switch (n.arguments) {
    case Value::model:
      s += "complete -c ask -n " + in + " -a " + completion_fish_quote("(__ask_models)") + "\n";
      break;
    case Value::shell:
      s += "complete -c ask -n " + in + " -a " + completion_fish_quote(k_completion_shells) + "\n";
      break;
    case Value::file:
      s += "complete -c ask -n " + in + " -F\n";
      break;
    default:
      break;
    }
  }
  return s;
}

} // namespace

std::optional<Shell> parse_shell(std::string_view name) {
  for (Shell s : {Shell::bash, Shell::zsh, Shell::fish}) {
    if (name == to_string(s)) {
      return s;
    }
  }
  return std::nullopt;
}

std::string_view to_string(Shell shell) {
  switch (shell) {
  case Shell::bash:
    return "bash";
  case Shell::zsh:
    return "zsh";
  case Shell::fish:
    return "fish";
  }
  return "bash";
}

std::string completion_script(Shell shell, const CompletionSpec& spec) {
  switch (shell) {
  case Shell::bash:
    return completion_bash(spec);
  case Shell::zsh:
    return completion_zsh(spec);
  case Shell::fish:
    return completion_fish(spec);
  }
  return {};
}

} // namespace ask::cli
