#!/usr/bin/env bash
# Make this machine ready for the example and the tests, idempotently:
# Node dependencies, compiled dist/, a Docker engine, the offline base images and the host
# images built from Dockerfile.host. Everything already present is reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "Installing Node dependencies (npm ci)..."
  npm ci --no-audit --no-fund >/dev/null
fi
say "Compiling TypeScript..."
npx --no-install tsc -p tsconfig.json

bash scripts/ensure-docker.sh
bash scripts/make-base-images.sh
bash scripts/make-host-image.sh plugin-builder/debian:bookworm plugin-builder/example-host:bookworm
bash scripts/make-host-image.sh plugin-builder/debian:trixie plugin-builder/example-host:trixie
