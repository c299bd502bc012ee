#!/usr/bin/env bash
# A Debian sid root with CPython 3.14 and 3.15 (only sid ships them), made
# once and reused, for building and testing heapdig there.
#
#   scripts/sid-root.sh make          make or update the root; print its path
#   scripts/sid-root.sh sync          copy this checkout into ROOT/work/src
#   scripts/sid-root.sh run CMD...    run CMD inside the root
#   scripts/sid-root.sh build         make, sync, and build in ROOT/work/build
#
# The root lives outside the checkout: $HD_SID_ROOT, or by default
# ${XDG_CACHE_HOME:-~/.cache}/heapdig/sid-root.  Everything inside it runs in
# a private mount namespace (unshare -m), so the /proc mounted for it ends
# with the command and nothing stays mounted under the root; the checkout is
# copied in, never bind-mounted, so removing the root cannot reach it.
# Exit status 77 (ctest's skip) when the root cannot be made here: not root,
# no debootstrap, no network to the Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
ROOT=${HD_SID_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/heapdig/sid-root}
MIRROR=${HD_SID_MIRROR:-http://deb.debian.org/debian}
# What the build and the tests need inside; changing this list updates the
# root on its next use.
PKGS=(python3.14-dev python3.15-dev python3-dev python3.14-venv python3.15-venv gcc make cmake pkg-config git
      libsqlite3-dev zlib1g-dev libdeflate-dev libgraphviz-dev graphviz gdb
      python3-networkx python3-numpy sqlite3 procps util-linux
      fonts-noto-cjk fonts-noto-color-emoji)
STAMP="$ROOT/.heapdig-packages"

# Under CI a root that cannot be made fails the run: 3.14 and 3.15 would
# otherwise go untested with CI green.
skip() {
  if [ "${CI:-}" = "true" ]; then echo "sid-root: FAILED: $*" >&2; exit 1; fi
  echo "sid-root: SKIPPED: $*" >&2; exit 77
}

# Runs "$@" chrooted into the root with /proc, /dev and a tmpfs /tmp mounted
# in a private mount namespace.
in_root() {
  unshare -m --propagation private -- /bin/sh -c '
    root=$1; shift
    mount -t proc proc "$root/proc" &&
    mount --rbind /dev "$root/dev" &&
    mount -t tmpfs tmpfs "$root/tmp" &&
    exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 CI="${CI:-}" "$@"' sh "$ROOT" "$@"
}

make_root() {
  [ "$(id -u)" -eq 0 ] || skip "making a chroot needs root"
  command -v unshare >/dev/null || skip "unshare (util-linux) is missing"
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    if ! command -v debootstrap >/dev/null; then
      apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq debootstrap \
        >/dev/null 2>&1 || skip "cannot install debootstrap"
    fi
    local tmp="$ROOT.new"
    # A half-made root from an interrupted run: nothing is mounted in it
    # (mounts only ever live in the namespaces of in_root).
    rm -rf --one-file-system "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    echo "sid-root: debootstrap sid into $ROOT (about a minute)" >&2
    debootstrap --variant=minbase sid "$tmp" "$MIRROR" >"$tmp.log" 2>&1 ||
      { tail -5 "$tmp.log" >&2; skip "debootstrap failed (see $tmp.log)"; }
    # The mirror is a dated snapshot whose Release files have expired.
    echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99heapdig"
    echo 'APT::Install-Recommends "false";' >>"$tmp/etc/apt/apt.conf.d/99heapdig"
    rm -f "$tmp.log"
    mv "$tmp" "$ROOT"
  fi
  if [ "$(cat "$STAMP" 2>/dev/null)" != "${PKGS[*]}" ]; then
    echo "sid-root: installing ${PKGS[*]}" >&2
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    in_root /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq ${PKGS[*]} >/dev/null" ||
      skip "apt-get inside the root failed"
    echo "${PKGS[*]}" >"$STAMP"
  fi
  echo "$ROOT"
}

# Copies the tracked files (and uncommitted edits) of this checkout into the
# root; build trees are not copied.
sync_src() {
  rm -rf --one-file-system "$ROOT/work/src"
  mkdir -p "$ROOT/work/src"
  if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$SRC" ls-files -z --cached --others --exclude-standard |
      tar -C "$SRC" --null -T - -cf - 2>/dev/null | tar -C "$ROOT/work/src" -xf -
  else
    tar -C "$SRC" --exclude='./build*' -cf - . | tar -C "$ROOT/work/src" -xf -
  fi
  # The README's commands (run by the samples test) say build/.
  ln -s /work/build "$ROOT/work/src/build"
}

build() {
  make_root >/dev/null
  sync_src
  local werror=OFF
  [ "${CI:-}" = "true" ] && werror=ON
  in_root /bin/sh -c "cmake -S /work/src -B /work/build \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHD_WERROR=$werror \
      -DPython3_EXECUTABLE=/usr/bin/python3.14 -DHD_SID_TESTS=OFF \
      '-DHD_TEST_PYTHONS=/usr/bin/python3.14;/usr/bin/python3.15' >/dev/null &&
    cmake --build /work/build -j$(nproc)"
}

case "${1:-}" in
  make) make_root ;;
  sync) sync_src ;;
  run) shift; [ -x "$ROOT/usr/bin/apt-get" ] || skip "no root at $ROOT"; in_root "$@" ;;
  build) build ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
