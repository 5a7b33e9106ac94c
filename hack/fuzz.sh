#!/usr/bin/env bash
# Runs every Fuzz* target in the three modules for a short time each (default 10s): the corpus in
# testdata/fuzz is replayed by `go test` anyway; this looks a little further.
set -euo pipefail
fuzztime=${1:-10s}
go=${GO:-go}
for pkg in $($go list ./... ./runtime/... ./api/agent/...); do
  dir=$($go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort -u || true)
  for t in $targets; do
    echo "fuzz: $pkg $t ($fuzztime)"
    $go test -run='^$' -fuzz="^${t}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/mcp-fuzz.log 2>&1 || { cat /tmp/mcp-fuzz.log; exit 1; }
  done
done
