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

# Hosts for the loadability tests: a musl stand-in and a glibc host without zlib.
build_fixture_image() {
  local tag=$1 dockerfile=$2
  if docker image inspect "$tag" >/dev/null 2>&1; then
    say "$tag present, reused."
    return 0
  fi
  say "Building $tag (apt inside the build: about a minute)..."
  if ! docker build -q -f "$dockerfile" -t "$tag" images >/tmp/pb-fixture-image.log 2>&1; then
    tail -n 30 /tmp/pb-fixture-image.log >&2
    return 1
  fi
}
build_fixture_image plugin-builder/musl-host:trixie images/musl-host/Dockerfile
build_fixture_image plugin-builder/nozlib-host:bookworm images/nozlib-host/Dockerfile
