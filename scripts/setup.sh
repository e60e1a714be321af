#!/usr/bin/env bash
# Make this machine ready for the whole test suite, idempotently (`npm test` runs it): what the
# example needs (scripts/setup-example.sh), then arm64 emulation, OpenSSH's server, the other
# base images, and the host and fixture images the tests load plugins in. Everything already
# present is reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[setup] %s\n' "$*" >&2; }

bash scripts/setup-example.sh
# linux/arm64 hosts run here under qemu (binfmt_misc); their base image is debootstrapped for arm64.
bash scripts/ensure-emulation.sh
bash scripts/ensure-sshd.sh
bash scripts/ensure-skopeo.sh
bash scripts/make-base-images.sh
bash scripts/make-host-image.sh plugin-builder/debian:trixie plugin-builder/example-host:trixie
bash scripts/make-host-image.sh plugin-builder/debian:bookworm-arm64 plugin-builder/example-host:bookworm-arm64 arm64

# Host images for the loadability and Go plugin tests. Each is rebuilt only when its recipe
# (Dockerfile, context files, build args) changed: the hash is kept in an image label.
build_fixture_image() {
  local tag=$1 dockerfile=$2 context=$3; shift 3
  local recipe
  recipe=$( (cat "$dockerfile"; printf '%s\n' "$@"; cd "$context" && find . -type f \( -path '*/dist/*' -prune -o -print \) | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "io.plugin-builder.recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
    say "$tag present, reused."
    return 0
  fi
  say "Building $tag (apt inside the build: about a minute)..."
  local args=()
  for a in "$@"; do args+=(--build-arg "$a"); done
  if ! docker build -q --force-rm -f "$dockerfile" "${args[@]}" --label "io.plugin-builder.recipe=$recipe" \
      --label io.plugin-builder.managed=true -t "$tag" "$context" >/tmp/pb-fixture-image.log 2>&1; then
    tail -n 30 /tmp/pb-fixture-image.log >&2
    return 1
  fi
}
build_fixture_image plugin-builder/musl-host:trixie images/musl-host/Dockerfile images
# The same on arm64 (apt under qemu: a few minutes), for the loader-rules cells of aarch64's tables.
build_fixture_image plugin-builder/musl-host:bookworm-arm64 images/musl-host/Dockerfile images DEBIAN=plugin-builder/debian:bookworm-arm64 ARCH=aarch64
build_fixture_image plugin-builder/nozlib-host:bookworm images/nozlib-host/Dockerfile images
build_fixture_image plugin-builder/go-dev:bookworm images/go-dev/Dockerfile images
# The Go host example's context: the example plus the pluginhost module beside it (what
# scripts/make-go-host-image.sh assembles; staged here so the recipe hash covers both).
go=$(mktemp -d)
trap 'rm -rf "$go"' EXIT
tar -C examples/go-host --exclude=./dist -cf - . | tar -C "$go" -xf -
tar -C go -cf - pluginhost | tar -C "$go" -xf -
build_fixture_image plugin-builder/go-host:bookworm $go/Dockerfile $go BASE=plugin-builder/debian:bookworm SHARED=v1.0
build_fixture_image plugin-builder/go-host-shared11:bookworm $go/Dockerfile $go BASE=plugin-builder/debian:bookworm SHARED=v1.1
build_fixture_image plugin-builder/go-host:trixie $go/Dockerfile $go BASE=plugin-builder/debian:trixie SHARED=v1.0
build_fixture_image plugin-builder/go-host-notrim:bookworm $go/Dockerfile $go BASE=plugin-builder/debian:bookworm SHARED=v1.0 TRIMPATH=
build_fixture_image plugin-builder/go-host-notrim-elsewhere:bookworm $go/Dockerfile $go BASE=plugin-builder/debian:bookworm SHARED=v1.0 TRIMPATH= SRC=/work/app TAGS=extra
build_fixture_image plugin-builder/go-host-race:bookworm $go/Dockerfile $go BASE=plugin-builder/debian:bookworm SHARED=v1.0 RACE=-race
build_fixture_image plugin-builder/go-host-debug:bookworm $go/Dockerfile $go BASE=plugin-builder/debian:bookworm SHARED=v1.0 "GCFLAGS=all=-N -l"
build_fixture_image plugin-builder/go-musl-host:bookworm $go/Dockerfile.musl $go BASE=plugin-builder/debian:bookworm
