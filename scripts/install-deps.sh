#!/usr/bin/env bash
# Installs the Debian 12 packages ask/askd needs to build and test, skipping those already
# present, then the npm packages of the tests (the versions their package-lock.json pins): the
# clients run against askd (tests/clients) and playwright-core (tests/browser), which drives
# Debian's headless chromium through the operator page (tests/integration/askd_ui_test.cpp).
# zsh and fish run the completion tests (ask/completion_test.cpp), groff renders the man pages
# in the install test. Runs apt-get through sudo when not root.
# Node.js and npm come from Debian (nodejs, npm) unless a `node` and an `npm` are already on
# PATH.
#   scripts/install-deps.sh [--fuzz] [--tidy]
#   --fuzz  clang 16 and its libFuzzer runtime (tests/fuzz)
#   --tidy  clang-tidy 16 (scripts/tidy.sh; Debian's default clang-tidy, 14, crashes on
#           this code and knows no -std=c++23)
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config libcpp-httplib-dev libsqlitecpp-dev
          libsqlite3-dev nlohmann-json3-dev libcli11-dev libssl-dev libspdlog-dev libfmt-dev doctest-dev
          curl jq zsh fish groff-base chromium)
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

# The npm packages, again only when a package-lock.json changed since they were installed (the
# copy of it left in node_modules says which it was).
root=$(cd "$(dirname "$0")/.." && pwd)
for dir in "$root/tests/clients" "$root/tests/browser"; do
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"; then
    echo "installing the npm packages of ${dir#"$root/"}" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"
  fi
done
