#!/usr/bin/env bash
# Installs what heapdig needs to build and test (Debian packages), if missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev zlib1g-dev libdeflate-dev libgraphviz-dev graphviz
      python3-dev python3-venv python3-objgraph python3-networkx python3-numpy
      python3-pandas python3-lxml python3-yaml python3-psutil python3-cryptography
      fonts-noto-cjk fonts-noto-color-emoji  # pictures of CJK and emoji text: glyphs, not boxes
      chromium)  # the HTML report's tests run in it, headless
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
