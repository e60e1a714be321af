#!/usr/bin/env bash
# The README's test command (`npm test`): prepare everything the suite needs (scripts/setup.sh:
# engine, emulation, sshd, images; a registry on 127.0.0.1:5000), run the whole suite, and stop
# what was started here — the engine, the registry, the arm64 emulation — and nothing else.
# Arguments go to vitest (`npm test -- test/unit`). Ends with "N passed, N failed"; a skipped
# test fails the run under CI=true and is reported loudly otherwise.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# One private directory per run for what it started: a stale or concurrent run's files are never ours.
run_dir=$(mktemp -d /tmp/pb-test-run.XXXXXX)
dockerd_pidfile=$run_dir/dockerd.pid
registry_pidfile=$run_dir/registry.pid
results=$run_dir/results.json
export PB_DOCKERD_PIDFILE=$dockerd_pidfile PB_REGISTRY_PIDFILE=$registry_pidfile PB_EMULATION_STATE=$run_dir/emulation.enabled

stop_started() {
  # Every run re-tags the test and builder images it makes: untagged ones of ours would pile up.
  docker image prune -f --filter label=io.plugin-builder.managed=true >/dev/null 2>&1 || true
  bash scripts/ensure-registry.sh --stop
  bash scripts/ensure-emulation.sh --stop
  if [ -s "$dockerd_pidfile" ]; then
    pid=$(cat "$dockerd_pidfile")
    # Only the daemon this run started: the pid must still be a dockerd.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q dockerd; then
      echo "[test] stopping the Docker engine started here (pid $pid)" >&2
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
  fi
  rm -rf "$run_dir"
}
trap stop_started EXIT

if ! bash scripts/setup.sh || ! bash scripts/ensure-registry.sh >/dev/null; then
  echo "[test] setting up failed (above); no test ran" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
node scripts/test-summary.mjs "$results" || status=1
exit $status
