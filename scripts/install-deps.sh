#!/usr/bin/env bash
# Installs the Debian 12 packages ask/askd needs to build and test, skipping those already
# present, then the npm clients the tests run against askd (tests/clients, the versions its
# package-lock.json pins). zsh and fish run the completion tests (ask/completion_test.cpp),
# groff renders the man pages in the install test. Runs apt-get through sudo when not root.
# Node.js and npm come from Debian (nodejs, npm) unless a `node` and an `npm` are already on
# PATH.
#   scripts/install-deps.sh [--fuzz] [--tidy]
#   --fuzz  clang 16 and its libFuzzer runtime (tests/fuzz)
#   --tidy  clang-tidy 16 (scripts/tidy.sh; Debian's default clang-tidy, 14, crashes on
#           this code and knows no -std=c++23)
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config libcpp-httplib-dev libsqlitecpp-dev
          libsqlite3-dev nlohmann-json3-dev libcli11-dev libssl-dev libspdlog-dev libfmt-dev doctest-dev
          curl jq zsh fish groff-base)
for arg in "$@"; do
  case $arg in
    --fuzz) packages+=(clang-16 libclang-rt-16-dev) ;;
    --tidy) packages+=(clang-tidy-16) ;;
    *) echo "usage: scripts/install-deps.sh [--fuzz] [--tidy]" >&2; exit 2 ;;
  esac
done

command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm clients, again only when package-lock.json changed since they were installed (the
# copy of it left in node_modules says which it was).
clients=$(cd "$(dirname "$0")/../tests/clients" && pwd)
if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.installed-lock.json"; then
  echo "installing the npm clients of tests/clients" >&2
  npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error >/dev/null
  cp "$clients/package-lock.json" "$clients/node_modules/.installed-lock.json"
fi
