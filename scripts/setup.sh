#!/usr/bin/env bash
# Installs what heapdig needs to build and test (Debian packages), if missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev zlib1g-dev libdeflate-dev libgraphviz-dev graphviz
      clang libclang-rt-14-dev  # the fuzzers (libFuzzer)
      python3-dev python3-venv python3-objgraph python3-networkx python3-numpy
      python3-pandas python3-lxml python3-yaml python3-psutil python3-cryptography
      python3-django python3-sphinx mypy  # real programs the memory figures are checked on
      fonts-noto-cjk fonts-noto-color-emoji  # pictures of CJK and emoji text: glyphs, not boxes
      chromium firefox-esr)  # the HTML report's tests run in both, headless
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  # another apt (an unattended upgrade) may hold the lock for a while
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq "${missing[@]}" >/dev/null
fi
