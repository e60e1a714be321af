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
  # What no compile reads stays out of the image: a smaller toolchain layer is a faster pull on
  # a fresh CI runner (--cache-from). Documentation, translations, Go's own test suite and the
  # compiled packages of Go's commands (only rebuilding the Go toolchain itself reads those).
  cat >/etc/dpkg/dpkg.cfg.d/plugin-builder-slim <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/go-*/test/*
path-exclude=/usr/lib/go-*/pkg/*/cmd/*
EOF
  apt-get update
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y --no-install-recommends $missing
  # The downloaded .debs (apt keeps them: 125 MB for C, 202 MB with Go) and the lists are
  # not the toolchain, and would be most of a pushed builder layer.
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
elif command -v apk >/dev/null 2>&1; then
  apk add --no-cache "$@"
else
  echo "plugin-builder: the base image has neither apt-get nor apk, so '$*' cannot be installed." >&2
  echo "Fix: set builder.base in builder.config.json to an image with the same C library and a package manager." >&2
  exit 1
fi
