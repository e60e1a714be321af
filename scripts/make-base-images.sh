#!/usr/bin/env bash
# Make the offline base images the example and the tests use, idempotently.
# No container registry is reachable here, so they are made with debootstrap from Debian's
# mirror and `docker import`ed. An image that already exists is reused.
#
#   plugin-builder/debian:bookworm        glibc 2.36, Debian's nodejs 18  (the example's host base)
#   plugin-builder/debian:trixie          glibc 2.41, Debian's nodejs 20  (drift / mismatch tests)
#   plugin-builder/debian:bookworm-arm64  the same as bookworm, for linux/arm64 (runs under qemu here:
#                                         scripts/ensure-emulation.sh first; `docker import` records
#                                         amd64 in the image config whatever the files are)
#
# Toolchains are NOT in these images: the builder image installs them with the host's
# package manager (Dockerfile.builder), as it would on a real user's host image.
set -euo pipefail

say() { printf '[base-images] %s\n' "$*" >&2; }

# name:packages, where name is the suite, or suite-arch for another architecture
images=(
  "bookworm:nodejs,ca-certificates"
  "trixie:nodejs,ca-certificates"
  "bookworm-arm64:nodejs,ca-certificates"
)
only="${1:-}"

make_one() {
  local name=$1 pkgs=$2 ref="plugin-builder/debian:$1"
  local suite=${name%%-*} arch=()
  [ "$suite" != "$name" ] && arch=(--arch="${name#*-}")
  if docker image inspect "$ref" >/dev/null 2>&1; then
    say "$ref present, reused."
    return 0
  fi
  local dir
  dir=$(mktemp -d "/tmp/pb-rootfs-$name.XXXXXX")
  trap 'rm -rf "$dir"' RETURN
  say "Making $ref with debootstrap (a minute or so)..."
  local start=$SECONDS
  if ! debootstrap "${arch[@]}" --variant=minbase --include="$pkgs" "$suite" "$dir" >"$dir.log" 2>&1; then
    say "debootstrap $name failed; last lines of $dir.log:"
    tail -n 20 "$dir.log" >&2
    return 1
  fi
  # apt lists and caches are not needed in the image and only make it bigger.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$ref" >/dev/null
  rm -f "$dir.log"
  say "$ref made in $((SECONDS - start)) s."
}

missing=()
for entry in "${images[@]}"; do
  suite=${entry%%:*}
  [ -n "$only" ] && [ "$only" != "$suite" ] && continue
  docker image inspect "plugin-builder/debian:$suite" >/dev/null 2>&1 || missing+=("$suite")
done
# Installed once, before the parallel makers: two concurrent apt-get runs fight over dpkg's lock.
if [ ${#missing[@]} -gt 0 ] && ! command -v debootstrap >/dev/null 2>&1; then
  say "Installing debootstrap (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; }
fi

pids=()
for entry in "${images[@]}"; do
  suite=${entry%%:*}
  [ -n "$only" ] && [ "$only" != "$suite" ] && continue
  make_one "$suite" "${entry#*:}" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
