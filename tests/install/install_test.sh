#!/usr/bin/env bash
# cmake --install into a temporary prefix, then: every file cmake/Install.cmake promises is
# there, the installed ask runs, the unit's ExecStart names the installed askd, the man pages
# render without a warning. The completion scripts are checked once `ask completion` exists
# (until then the install leaves them out on purpose).
#   tests/install/install_test.sh BUILD_DIR      ($CMAKE: the cmake to run, default cmake)
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR}
cmake=${CMAKE:-cmake}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ask install XXXXXX") # a blank in the prefix, on purpose
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix%x
failures=0
fail() { echo "install_test: FAIL: $*" >&2; failures=$((failures + 1)); }

"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; echo "install_test: FAIL: cmake --install" >&2; exit 1; }

for f in bin/ask bin/askd bin/llm-sim share/man/man1/ask.1 share/man/man1/askd.1 \
         share/systemd/user/askd.service share/doc/ask/ask.md share/doc/ask/operations.md; do
  [[ -f $prefix/$f ]] || fail "missing $f"
done
src=$(cd "$(dirname "$0")/../.." && pwd)
for doc in "$src"/docs/*.md; do
  [[ -f $prefix/share/doc/ask/$(basename "$doc") ]] || fail "missing share/doc/ask/$(basename "$doc")"
done
for b in ask askd llm-sim; do
  [[ -x $prefix/bin/$b ]] || fail "bin/$b is not executable"
done

version=$("$prefix/bin/ask" --version </dev/null) || fail "ask --version exited $?"
[[ $version == "ask "* ]] || fail "ask --version printed '$version'"
"$prefix/bin/askd" --version </dev/null >/dev/null || fail "askd --version exited $?"

# ExecStart: the installed askd, quoted (the prefix has a blank), % doubled for systemd.
unit=$prefix/share/systemd/user/askd.service
want="ExecStart=\"${prefix//%/%%}/bin/askd\""
grep -qxF -- "$want" "$unit" || fail "the unit's ExecStart is not $want: $(grep ExecStart "$unit")"
grep -qx 'NoNewPrivileges=yes' "$unit" || fail "the unit lost NoNewPrivileges=yes"
grep -q '@[A-Z_]*@' "$unit" "$prefix"/share/man/man1/*.1 && fail "an unreplaced @VARIABLE@"
if command -v systemd-analyze >/dev/null && systemd-analyze --help 2>&1 | grep -q verify; then
  # verify wants the ExecStart binary to exist, which it does; it may still complain about a
  # missing user session in containers, so only its statements about the file count.
  systemd-analyze verify --user "$unit" 2>&1 | grep -F "$unit" && fail "systemd-analyze verify"
fi

if command -v groff >/dev/null; then
  for page in ask askd; do
    warnings=$(groff -man -Tutf8 -ww -z "$prefix/share/man/man1/$page.1" 2>&1)
    [[ -z $warnings ]] || fail "$page.1 renders with warnings: $warnings"
    groff -man -Tutf8 -P-cbou "$prefix/share/man/man1/$page.1" 2>/dev/null | grep -q '^EXIT STATUS' ||
      fail "$page.1 has no EXIT STATUS"
  done
else
  echo "install_test: groff is not installed: the man pages were not rendered" >&2
fi

if ASK_URL=http://127.0.0.1:9 "$build/ask/ask" completion bash </dev/null 2>/dev/null | grep -q '^# bash completion for ask'; then
  for f in share/bash-completion/completions/ask share/zsh/site-functions/_ask \
           share/fish/vendor_completions.d/ask.fish; do
    [[ -s $prefix/$f ]] || fail "missing $f"
  done
  bash -n "$prefix/share/bash-completion/completions/ask" || fail "bash -n on the bash completion"
else
  echo "install_test: ask has no 'completion' command yet: completions not checked" >&2
  grep -q "Not installed: the bash completion" "$tmp/install.log" ||
    fail "the install did not say it left the completions out"
fi

if ((failures)); then
  cat "$tmp/install.log" >&2
  exit 1
fi
echo "install_test: ok ($prefix)"
