#!/usr/bin/env bash
# Build the example Go host image: examples/go-host/Dockerfile with the pluginhost Go module
# (go/pluginhost) beside the example, as the Dockerfile expects. Build args pass through.
#   scripts/make-go-host-image.sh TAG [--build-arg K=V ...] [--label K=V ...]
#   DOCKERFILE=Dockerfile.musl scripts/make-go-host-image.sh TAG     the musl Go host
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:?usage: make-go-host-image.sh TAG [docker build options]}
shift
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
tar -C "$root/examples/go-host" --exclude=./dist -cf - . | tar -C "$ctx" -xf -
tar -C "$root/go" -cf - pluginhost | tar -C "$ctx" -xf -
docker build -q -f "$ctx/${DOCKERFILE:-Dockerfile}" "$@" -t "$tag" "$ctx"
