#!/usr/bin/env bash
# Make a Docker engine reachable, idempotently.
# - If `docker info` already answers (local socket or DOCKER_HOST), do nothing.
# - On Debian as root with no engine: install Debian's docker.io, start dockerd in the
#   background (log: /var/log/plugin-builder-dockerd.log) and wait until it answers.
#   The pid of a daemon started here is written to $PB_DOCKERD_PIDFILE (default
#   /run/plugin-builder-dockerd.pid) so the caller that started it can stop it.
# - Elsewhere: explain what to do and exit 1.
set -euo pipefail

pidfile="${PB_DOCKERD_PIDFILE:-/run/plugin-builder-dockerd.pid}"
log=/var/log/plugin-builder-dockerd.log

say() { printf '[ensure-docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  say "Docker engine reachable (${DOCKER_HOST:-unix:///var/run/docker.sock})."
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  say "DOCKER_HOST=$DOCKER_HOST is set but no engine answers there."
  say "Fix: start that engine, or unset DOCKER_HOST to use a local one."
  exit 1
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "No Docker engine answers at unix:///var/run/docker.sock."
  say "Fix: start Docker, or name a reachable engine: DOCKER_HOST=ssh://USER@HOST, or tcp://HOST:2376 with DOCKER_TLS_VERIFY=1, or docker context use NAME."
  say "(This script installs Debian's engine itself only when run as root on Debian.)"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "Installing Debian's docker.io engine (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
fi

say "Starting dockerd (log: $log)..."
# setsid: the daemon must not die with the shell that started it.
setsid dockerd >"$log" 2>&1 < /dev/null &
echo $! >"$pidfile"

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    say "Docker engine up (pid $(cat "$pidfile"))."
    exit 0
  fi
  sleep 1
done
say "dockerd did not answer within 60 s; last log lines:"
tail -n 20 "$log" >&2 || true
exit 1
