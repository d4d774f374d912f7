#!/usr/bin/env bash
# Fails when the compiler warned about any of our own files (dependencies
# under .build/ are not ours to fix). Reads a build log on stdin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
warnings=$(grep -E "^${root}/(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:" | sort -u || true)
if [[ -n "$warnings" ]]; then
  echo "compiler warnings in Sendense sources:" >&2
  echo "$warnings" >&2
  exit 1
fi
