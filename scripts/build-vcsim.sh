#!/usr/bin/env bash
# Builds the test vCenter simulator (Tests/vcsim: govmomi's vcsim plus change
# tracking) from Debian's govmomi sources, offline, into .build/vcsim/vcsim.
# Needs golang-go and golang-github-vmware-govmomi-dev (install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/vcsim/vcsim
if [[ -x "$out" && "$out" -nt Tests/vcsim/main.go ]]; then exit 0; fi
mkdir -p .build/vcsim
cd Tests/vcsim
GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$PWD/../../.build/vcsim/cache" \
  go build -o "../../$out" .
