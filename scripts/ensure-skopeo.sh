#!/usr/bin/env bash
# Put Debian's skopeo on this machine, idempotently: the registry tests check that a standard OCI
# tool reads and copies what `builder publish` writes.
set -euo pipefail
say() { printf '[skopeo] %s\n' "$*" >&2; }
if command -v skopeo >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "skopeo is not installed and this is not Debian as root: install skopeo to run the registry interop tests."
  exit 1
fi
say "Installing skopeo (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq skopeo >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq skopeo >/dev/null; }
