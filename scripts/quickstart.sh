#!/usr/bin/env bash
# README quick start, step 1: set up only what the example needs, then build the bundled
# example's plugins for its host image and print the lockfile summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup-example.sh"
cd "$root/examples/hello"
node "$root/dist/builder.js" build "$@"
