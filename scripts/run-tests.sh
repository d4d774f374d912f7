#!/usr/bin/env bash
# Runs the Swift tests one at a time (some time cancellation, and all of them
# share 2 cores), printing as they go: `swift test` holds the runner's output
# until it ends, so a run that hangs would show nothing. A run that outlasts
# TEST_TIMEOUT_MINUTES (default 50) prints where the runner's threads are and
# which processes it waits for, and fails: CI ends in words, not at its limit.
# Arguments go to the runner (e.g. --filter LibvirtBackupTests).
set -uo pipefail
cd "$(dirname "$0")/.."
runner="$(swift build --show-bin-path)/SendensePackageTests.xctest"
[ -x "$runner" ] || { echo "no test build: run swift build --build-tests first" >&2; exit 1; }
limit=$(( ${TEST_TIMEOUT_MINUTES:-50} * 60 ))

"$runner" --testing-library swift-testing --no-parallel "$@" &
pid=$!
deadline=$(( SECONDS + limit ))
while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
        echo "tests still running after $limit s; the processes the runner started:"
        pstree -pa "$pid" || true
        echo "its threads:"
        gdb -p "$pid" -batch -ex "thread apply all bt 30" 2>/dev/null | grep -E '^(Thread|#)' || true
        kill -9 "$pid"
        wait "$pid"
        exit 1
    fi
    sleep 2
done
wait "$pid"
