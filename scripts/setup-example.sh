#!/usr/bin/env bash
# What the bundled example needs, idempotently, and nothing more: the Node dependencies, the
# compiled tool, a Docker engine, the bookworm base image and the example's host image.
# (Everything the test suite needs besides is scripts/setup.sh, which `npm test` runs.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "Installing Node dependencies (npm ci)..."
  npm ci --no-audit --no-fund >/dev/null
fi
say "Compiling TypeScript..."
npm run --silent build
bash scripts/ensure-docker.sh
bash scripts/make-base-images.sh bookworm
bash scripts/make-host-image.sh plugin-builder/debian:bookworm plugin-builder/example-host:bookworm
