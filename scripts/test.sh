#!/usr/bin/env bash
# The tests (`npm test`, after its build and lint). Everything they and the processes they start write to the temporary
# folder (run folders, scenes, checkpoints, browser profiles: several GB in all) goes to one folder of this run, which
# is removed at the end however the run ends. Arguments go to node --test (e.g. --test-name-pattern=resume).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(mktemp -d "${TMPDIR:-/tmp}/dsdnet-tests-XXXXXX")"
trap 'rm -rf "$root"' EXIT
TMPDIR="$root" node --test --test-concurrency=1 "$@" dist/test/*.test.js
