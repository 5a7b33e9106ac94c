#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that the Kubernetes tests run through
# controller-runtime's envtest, from the Go module proxy, once. The binaries are cached
# outside the repository (default ~/.cache/mcp/testbin/k8s-<version>); a second run only
# checks that they are there. Prints the directory to use as KUBEBUILDER_ASSETS.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CACHE=${MCP_TESTBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp/testbin}
OUT="$CACHE/k8s-$K8S_VERSION"
staging_version="v0.${K8S_VERSION#1.}"
minor=${K8S_VERSION#1.}; minor=${minor%%.*}

log() { echo "testenv: $*" >&2; }

if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ]; then
  echo "$OUT"
  exit 0
fi
# --check only reports the cached binaries; it never builds.
[ "${1:-}" = "--check" ] && exit 1
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$OUT/etcd" ]; then
  log "building etcd v$ETCD_VERSION (under a minute)"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init mcp-testenv/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1
  CGO_ENABLED=0 go build -trimpath -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$OUT/etcd.tmp" "$OUT/etcd"
fi

if [ ! -x "$OUT/kube-apiserver" ]; then
  log "building kube-apiserver v$K8S_VERSION from k8s.io/kubernetes (about 8 minutes on 2 cores; once, then cached in $OUT)"
  mkdir -p "$work/kube" && cd "$work/kube"
  dir=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  # The kubernetes module points every staging module at ./staging/src/...; a wrapper
  # module points them at their published releases instead.
  {
    echo "module mcp-testenv/kube"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$dir/go.mod"
    echo ")"
  } >go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  go mod tidy >/dev/null 2>&1 || go mod tidy
  ticker() { while sleep 60; do log "still building kube-apiserver ($(( SECONDS / 60 )) min)"; done; }
  ticker & tick=$!
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  kill $tick 2>/dev/null || true
  mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
fi
log "ready in $OUT"
echo "$OUT"
