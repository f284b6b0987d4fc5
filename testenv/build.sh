#!/usr/bin/env bash
# Builds the real Kubernetes API server, kubectl and etcd that the end-to-end tests and the demo run,
# from Go modules, and caches them per user and version so only the first run pays for the build.
# Prints the directory holding the binaries on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION=v1.34.4
# kube-apiserver v1.34.4 itself requires etcd server v3.6.4; building etcd from the same module graph
# keeps the two versions consistent.
CACHE_ROOT=${NATGW_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator/testenv}
OUT=$CACHE_ROOT/k8s-$K8S_VERSION
say() { printf '[testenv] %s\n' "$*" >&2; }

if [[ -x $OUT/kube-apiserver && -x $OUT/etcd && -x $OUT/kubectl ]]; then
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || { say "Go is required to build kube-apiserver (install Go 1.24+)"; exit 1; }
mkdir -p "$CACHE_ROOT"
WORK=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

say "fetching k8s.io/kubernetes@$K8S_VERSION's go.mod from the module proxy"
UPSTREAM_MOD=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[[ -f $UPSTREAM_MOD ]] || { say "could not download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
STAGING_VERSION=v0.${K8S_VERSION#v1.}

{
  echo "module natgw.test/testenv"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  # Every staging module of the pinned release becomes its published v0.Y.Z twin.
  sed -n 's#^\s*\(k8s.io/[A-Za-z0-9._-]*\) => ./staging/src/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$UPSTREAM_MOD"
  echo ")"
} > go.mod
say "go.mod replaces $(grep -c '=>' go.mod) staging modules with $STAGING_VERSION"

mkdir -p etcd
cat > etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO

export GOFLAGS=-mod=mod
say "resolving the module graph (downloads on the first run)"
go mod tidy >&2 2>&1 | tail -5 >&2 || true
go get "go.etcd.io/etcd/server/v3@$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$UPSTREAM_MOD")" >&2
mkdir -p bin
for target in k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd; do
  name=$(basename "$target")
  say "building $name (several minutes on 2 cores the first time)"
  start=$SECONDS
  go build -trimpath -ldflags=-s -o "bin/$name" "$target" >&2
  say "built $name in $((SECONDS - start)) s"
done
mkdir -p "$OUT"
mv bin/* "$OUT/"
say "cached in $OUT"
echo "$OUT"
