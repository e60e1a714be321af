#!/usr/bin/env bash
# Build a host image from Dockerfile.host:  make-host-image.sh BASE TAG [ARCH]
# ARCH (arm64, …) when BASE is another architecture's: koffi's native part for it is added from
# the npm registry (npm installs only this machine's).
# The context is a staging copy of dist/ and production node_modules from this machine
# (containers here cannot reach the npm registry; koffi's prebuilt binary works on glibc).
# Docker's layer cache makes an unchanged rebuild take about a second.
set -euo pipefail
base=$1 tag=$2 arch=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[host-image] %s\n' "$*" >&2; }

[ -d "$root/dist" ] || { say "dist/ missing: run npm run build first"; exit 1; }
ctx=$(mktemp -d /tmp/pb-host-context.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp -r "$root/dist" "$root/package.json" "$root/package-lock.json" "$ctx/"
cp -r "$root/node_modules" "$ctx/node_modules"
(cd "$ctx" && npm prune --omit=dev --no-audit --no-fund >/dev/null 2>&1)
rm -f "$ctx/package-lock.json"
if [ -n "$arch" ]; then
  version=$(node -p "require('$root/node_modules/koffi/package.json').version")
  (cd "$ctx" && npm pack --silent "@koromix/koffi-linux-$arch@$version" >/dev/null 2>&1) ||
    { say "cannot fetch @koromix/koffi-linux-$arch@$version from the npm registry"; exit 1; }
  mkdir -p "$ctx/node_modules/@koromix/koffi-linux-$arch"
  tar -C "$ctx/node_modules/@koromix/koffi-linux-$arch" --strip-components=1 -xzf "$ctx"/koromix-koffi-linux-"$arch"-*.tgz
  rm -f "$ctx"/koromix-koffi-linux-"$arch"-*.tgz
fi
# Normalise mtimes so an unchanged context hits the layer cache whatever the copy time.
find "$ctx" -exec touch -h -d @0 {} +
# The legacy builder's deprecation banner is noise here; real errors are shown in full.
if ! id=$(docker build -q -f "$root/Dockerfile.host" --build-arg "BASE=$base" -t "$tag" "$ctx" 2>"$ctx.err"); then
  cat "$ctx.err" >&2; rm -f "$ctx.err"; exit 1
fi
rm -f "$ctx.err"
say "$tag ready (${id:7:12}, base $base)."
