#!/usr/bin/env bash
# Let this machine run linux/arm64 programs and containers, idempotently: Debian's
# qemu-user-static registered in binfmt_misc as qemu-aarch64 with the F flag (the kernel keeps
# the interpreter open, so containers need no qemu inside them). On an arm64 machine: nothing.
#   --stop   disable the qemu-aarch64 entry again, if this script enabled it
set -euo pipefail
say() { printf '[emulation] %s\n' "$*" >&2; }
# Where "this script enabled it" is remembered: per caller (scripts/test.sh passes one per run),
# so a stale or concurrent run's mark never makes --stop disable what another run relies on.
state=${PB_EMULATION_STATE:-/run/plugin-builder-emulation.enabled}
binfmt=/proc/sys/fs/binfmt_misc

if [ "${1:-}" = --stop ]; then
  if [ -e "$state" ]; then
    update-binfmts --disable qemu-aarch64 >/dev/null 2>&1 || true
    rm -f "$state"
    say "qemu-aarch64 disabled (this script had enabled it)."
  fi
  exit 0
fi

case "$(uname -m)" in
  aarch64 | arm64) say "native arm64: no emulation needed."; exit 0 ;;
esac

if ! command -v qemu-aarch64-static >/dev/null 2>&1 || ! command -v update-binfmts >/dev/null 2>&1; then
  say "Installing qemu-user-static and binfmt-support (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq qemu-user-static binfmt-support >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq qemu-user-static binfmt-support >/dev/null; }
  # The package's install enables the entry itself: still this script's doing, for --stop.
  touch "$state"
fi
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt"
fi
if [ ! -e "$binfmt/qemu-aarch64" ] || ! grep -qx enabled "$binfmt/qemu-aarch64"; then
  update-binfmts --enable qemu-aarch64
  touch "$state"
fi
if ! grep -q '^flags: .*F' "$binfmt/qemu-aarch64"; then
  say "qemu-aarch64 is registered without the F flag: containers would need qemu inside them."
  say "Fix: update-binfmts --disable qemu-aarch64, then install Debian's qemu-user-static (its entry has flags PF)."
  exit 1
fi
say "qemu-aarch64 enabled ($(grep '^flags:' "$binfmt/qemu-aarch64"), interpreter $(grep '^interpreter' "$binfmt/qemu-aarch64" | cut -d' ' -f2))."
