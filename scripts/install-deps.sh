#!/usr/bin/env bash
# Installs the Debian 12 packages ask/askd needs to build and test, skipping those already
# present. Runs apt-get through sudo when not root.
#   scripts/install-deps.sh [--fuzz] [--tidy]
#   --fuzz  clang 16 and its libFuzzer runtime (tests/fuzz)
#   --tidy  clang-tidy 16 (scripts/tidy.sh; Debian's default clang-tidy, 14, crashes on
#           this code and knows no -std=c++23)
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config libcpp-httplib-dev libsqlitecpp-dev
          libsqlite3-dev nlohmann-json3-dev libcli11-dev libssl-dev libspdlog-dev libfmt-dev doctest-dev
          curl jq)
for arg in "$@"; do
  case $arg in
    --fuzz) packages+=(clang-16 libclang-rt-16-dev) ;;
    --tidy) packages+=(clang-tidy-16) ;;
    *) echo "usage: scripts/install-deps.sh [--fuzz] [--tidy]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing Debian packages: ${missing[*]}" >&2
sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
