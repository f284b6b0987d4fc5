#!/usr/bin/env bash
# What the Helm chart's tests (tests/e2e/helm.rs) need, cached per user and version beside the API
# server binaries so that only the first run pays for it:
#  - `helm`, built from Go modules (helm.sh/helm/v3);
#  - the Prometheus Operator's ServiceMonitor CRD, from its Go module, so that the ServiceMonitor
#    the chart can render is checked against the real schema.
# crates/testenv/build.sh runs it (and so scripts/setup.sh); the tests run it too
# (`natgw_testenv::helm_tools`). Prints the directory holding both (`helm`,
# `servicemonitor-crd.yaml`) on stdout; progress goes to stderr.
set -euo pipefail

HELM_VERSION=v3.22.0
# The newest the module proxy serves here; its example/ holds the CRDs it generates.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
CACHE_ROOT=${NATGW_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator/testenv}
OUT=$CACHE_ROOT/helm-$HELM_VERSION
SERVICE_MONITOR_CRD=$OUT/servicemonitor-crd.yaml
CRD_STAMP="prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
say() { printf '[testenv] %s\n' "$*" >&2; }

crd_cached() { [[ -f $SERVICE_MONITOR_CRD && "$(cat "$SERVICE_MONITOR_CRD.stamp" 2>/dev/null)" == "$CRD_STAMP" ]]; }
if [[ -x $OUT/helm ]] && crd_cached; then
  echo "$OUT"
  exit 0
fi
command -v go >/dev/null || { say "Go is required to build helm (install Go 1.24+)"; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d "$CACHE_ROOT/helm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Outside any module: `go install pkg@version` and `go mod download` use the named module's own graph.
cd "$WORK"

# A module's Dir, Zip or GoMod in the module cache, downloading it on the first run.
module_file() {
  go mod download -json "$1" | sed -n "s/.*\"$2\": \"\(.*\)\".*/\1/p"
}

if [[ ! -x $OUT/helm ]]; then
  say "fetching helm.sh/helm/v3@$HELM_VERSION's go.mod from the module proxy"
  HELM_MOD=$(module_file "helm.sh/helm/v3@$HELM_VERSION" GoMod)
  [[ -f $HELM_MOD ]] || { say "could not download helm.sh/helm/v3@$HELM_VERSION"; exit 1; }
  # helm's go.mod has no `replace` lines (unlike the API server's), so its own module graph builds
  # as published: `go install pkg@version`, which would refuse a module with any.
  if grep -q '^replace' "$HELM_MOD"; then
    say "helm.sh/helm/v3@$HELM_VERSION's go.mod has replace lines: build it in a module of its own"
    exit 1
  fi
  # As helm's Makefile: the Kubernetes version `helm template` and `helm lint` assume without a
  # cluster is the one of the client-go it is built with (v0.Y.Z is Kubernetes 1.Y).
  CLIENT_GO=$(sed -n 's#^\s*k8s.io/client-go \(v[^ ]*\).*#\1#p' "$HELM_MOD")
  K8S_MINOR=${CLIENT_GO#v0.}
  K8S_MINOR=${K8S_MINOR%%.*}
  LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  LDFLAGS+=" -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in pkg/lint/rules pkg/chartutil; do
    LDFLAGS+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$K8S_MINOR"
  done
  say "building helm $HELM_VERSION (Kubernetes 1.$K8S_MINOR client; a few minutes on 2 cores the first time)"
  start=$SECONDS
  GOBIN=$WORK CGO_ENABLED=0 go install -trimpath -ldflags="$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  mv -f "$WORK/helm" "$OUT/helm" # a rename: a concurrent run never sees half a binary
  say "built helm in $((SECONDS - start)) s"
fi

if ! crd_cached; then
  say "fetching the ServiceMonitor CRD of github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
  DIR=$(module_file "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" Dir)
  CRD=$DIR/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
  [[ -f $CRD ]] || { say "$CRD is missing"; exit 1; }
  cp "$CRD" "$WORK/crd.yaml"
  mv -f "$WORK/crd.yaml" "$SERVICE_MONITOR_CRD"
  echo "$CRD_STAMP" > "$SERVICE_MONITOR_CRD.stamp"
fi
say "cached in $OUT"
echo "$OUT"
