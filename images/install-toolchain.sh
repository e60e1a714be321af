#!/bin/sh
# Install build packages with whatever package manager the base image has.
# Packages already installed are not touched: on an image that has them, nothing is fetched
# and nothing (in particular not libc) is upgraded.
set -eu
[ $# -eq 0 ] && { echo "no packages requested"; exit 0; }

if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
  done
  if [ -z "$missing" ]; then echo "already installed: $*"; exit 0; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y --no-install-recommends $missing
  rm -rf /var/lib/apt/lists/*
elif command -v apk >/dev/null 2>&1; then
  apk add --no-cache "$@"
else
  echo "plugin-builder: the base image has neither apt-get nor apk, so '$*' cannot be installed." >&2
  echo "Fix: set builder.base in builder.config.json to an image with the same C library and a package manager." >&2
  exit 1
fi
