#!/usr/bin/env bash
# A real registry on this machine, idempotently: Debian's docker-registry (Docker
# Distribution 2.8) serving 127.0.0.1:5000 from storage in a directory this script owns.
# - If something already answers http://ADDR/v2/, do nothing (and do not own it).
# - Otherwise, as root on Debian: install docker-registry if missing, write its config, start
#   `docker-registry serve` in the background, write its pid to $PB_REGISTRY_PIDFILE and wait
#   until it answers. The engine pushes to and pulls from 127.0.0.1 without extra settings.
# - `--stop`: stop the registry this script started (by its pid file); nothing else.
# Settings: PB_REGISTRY_ADDR (127.0.0.1:5000), PB_REGISTRY_DIR (/var/lib/plugin-builder-registry),
#           PB_REGISTRY_PIDFILE (/run/plugin-builder-registry.pid).
set -euo pipefail

addr="${PB_REGISTRY_ADDR:-127.0.0.1:5000}"
dir="${PB_REGISTRY_DIR:-/var/lib/plugin-builder-registry}"
pidfile="${PB_REGISTRY_PIDFILE:-/run/plugin-builder-registry.pid}"

say() { printf '[ensure-registry] %s\n' "$*" >&2; }
answers() { curl -fsS -o /dev/null --max-time 2 "http://$addr/v2/" 2>/dev/null; }
ours() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && grep -qa docker-registry "/proc/$(cat "$pidfile")/cmdline"; }

if [ "${1:-}" = --stop ]; then
  if ours; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "Stopped the registry on $addr (pid $pid)."
  fi
  rm -f "$pidfile"
  exit 0
fi

if answers; then
  say "A registry answers on http://$addr/v2/."
  echo "$addr"
  exit 0
fi

if ! command -v docker-registry >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "No registry answers on $addr, and this script installs Debian's docker-registry only as root on Debian."
    say "Fix: run a registry there (docker-registry serve CONFIG, or the registry:2 image), or set PB_REGISTRY_ADDR."
    exit 1
  fi
  say "Installing Debian's docker-registry (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq docker-registry >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq docker-registry >/dev/null; }
fi

mkdir -p "$dir/storage"
cat > "$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
CONFIG
nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
  if answers; then
    say "Registry started on http://$addr (pid $(cat "$pidfile"), storage $dir/storage, log $dir/registry.log)."
    echo "$addr"
    exit 0
  fi
  kill -0 "$(cat "$pidfile")" 2>/dev/null || break
  sleep 0.1
done
say "The registry did not answer on $addr:"
tail -n 20 "$dir/registry.log" >&2 || true
rm -f "$pidfile"
exit 1
