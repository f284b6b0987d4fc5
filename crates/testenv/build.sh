#!/usr/bin/env bash
# Builds what the tests and the demo run, from Go modules, and caches it per user and version so
# only the first run pays for the build. Each caller asks for what it runs:
#
#   build.sh [COMPONENT...]
#     apiserver      etcd, kube-apiserver and kubectl (the default: the demo, every e2e test)
#     node           the API server's and a real node's binaries (crates/testenv/src/node.rs):
#                    kubelet, kube-controller-manager, kube-scheduler from the same module graph,
#                    a tiny static `pause` for the pod sandbox image (`--node` says the same), and
#                    kube-router
#     kube-router    kube-router's NetworkPolicy firewall (go/kube-router), which the real node runs
#                    beside the kubelet so the pods' policies are enforced
#     kstatus        Flux's and kpt's status reader (go/kstatus), for tests/e2e/kstatus.rs
#     argocd-health  Argo CD's health-check runner (go/argocd-health), for tests/offline/argocd_health.rs
#     promtool       Prometheus' rule checker (go/promtool), for tests/offline/monitoring.rs
#     helm           helm and the ServiceMonitor CRD (build-helm.sh), for the chart's tests
#     all            all of these but node and kube-router (scripts/setup.sh adds node, which
#                    brings kube-router, when it runs as root)
#
# Each tool under go/ is a module of its own (go.sum pinned), so no tool's dependencies meet the
# API server's replace block; go/k8s (etcd, pause, the Kubernetes commands) is built in the
# module graph of k8s.io/kubernetes itself, whose go.mod this script writes from that release's.
# Prints the directory holding the binaries on stdout; progress goes to stderr: what is built,
# about how long it takes on 2 cores (measured), and the total so far.
set -euo pipefail

K8S_VERSION=v1.34.4
# kube-apiserver v1.34.4 itself requires etcd server v3.6.4; building etcd from the same module graph
# keeps the two versions consistent.
CACHE_ROOT=${NATGW_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator/testenv}
OUT=$CACHE_ROOT/k8s-$K8S_VERSION
TESTENV=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GO_TOOLS=$TESTENV/go
say() { printf '[testenv %4ss] %s\n' "$SECONDS" "$*" >&2; }

COMPONENTS=()
NODE=0
for arg in "$@"; do
  case $arg in
    apiserver | kstatus | argocd-health | promtool | helm | kube-router) COMPONENTS+=("$arg") ;;
    node | --node) NODE=1 COMPONENTS+=(apiserver kube-router) ;;
    all) COMPONENTS+=(apiserver kstatus argocd-health promtool helm) ;;
    *) say "unknown component $arg: apiserver, node, kstatus, argocd-health, promtool, helm, kube-router or all"; exit 2 ;;
  esac
done
((${#COMPONENTS[@]})) || COMPONENTS=(apiserver)
WANT=(kube-apiserver kubectl etcd)
((NODE)) && WANT+=(kubelet kube-controller-manager kube-scheduler pause)

# Seconds each binary took to build on 2 cores, measured cold (docs/development.md, The two commands); resolving
# and downloading the module graph comes on top the first time (about 1 min).
declare -A SECONDS_TO_BUILD=(
  [kube-apiserver]=200 [kubectl]=25 [etcd]=10
  [kubelet]=70 [kube-controller-manager]=50 [kube-scheduler]=6 [pause]=1
)

# `2 min 30 s` for the binaries named, from SECONDS_TO_BUILD.
estimate() {
  local total=0 name
  for name in "$@"; do total=$((total + ${SECONDS_TO_BUILD[$name]:-60})); done
  if ((total >= 60)); then echo "$((total / 60)) min $((total % 60)) s"; else echo "$total s"; fi
}

# go/NAME, a module of its own, built into $OUT/NAME with `go build -trimpath -o ... ARGS...`
# unless the cached binary was built from the same files. ESTIMATE is shown while it builds.
module_tool() {
  local name=$1 estimate=$2
  shift 2
  local src=$GO_TOOLS/$name stamp work start
  stamp=$(cat "$src"/* | sha256sum | cut -c1-16)
  if [[ -x $OUT/$name && "$(cat "$OUT/$name.stamp" 2>/dev/null)" == "$stamp" ]]; then
    return
  fi
  command -v go >/dev/null || { say "Go is required to build $name (install Go 1.26.7+)"; exit 1; }
  mkdir -p "$OUT"
  work=$(mktemp -d "$CACHE_ROOT/$name.XXXXXX")
  cp "$src"/* "$work/"
  say "building $name from go/$name (about $estimate on 2 cores, module downloads aside)"
  start=$SECONDS
  if (cd "$work" && go build -trimpath -o "$work/$name.bin" "$@" >&2); then
    mv -f "$work/$name.bin" "$OUT/$name" # a rename: a concurrent run never sees half a binary
    echo "$stamp" > "$OUT/$name.stamp"
    rm -rf "$work"
    say "built $name in $((SECONDS - start)) s"
  else
    rm -rf "$work"
    say "building $name failed"
    exit 1
  fi
}

build_go_binaries() {
say "to build: ${MISSING[*]} (about $(estimate "${MISSING[@]}") in all on 2 cores, module downloads aside)"

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

# etcd, pause and the import list of the Kubernetes commands: go/k8s, built in this module.
cp -R "$GO_TOOLS/k8s/." .

export GOFLAGS=-mod=mod
say "resolving the module graph (downloads on the first run)"
go mod tidy >&2 2>&1 | tail -5 >&2 || true
go get "go.etcd.io/etcd/server/v3@$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$UPSTREAM_MOD")" >&2
# Version strings, otherwise "v0.0.0-master+$Format:%H$" (the kubelet reports it in its Node).
MINOR=${K8S_VERSION#v1.}
MINOR=${MINOR%%.*}
LDFLAGS="-s -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=$MINOR -X k8s.io/component-base/version.gitTreeState=clean"
LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
mkdir -p bin "$OUT"
for name in "${MISSING[@]}"; do
  case $name in
    etcd) target=./etcd ;;
    pause) target=./pause ;;
    *) target=k8s.io/kubernetes/cmd/$name ;;
  esac
  say "building $name (about $(estimate "$name") on 2 cores)"
  start=$SECONDS
  if [[ $name == pause ]]; then
    # Static: the sandbox image holds nothing else.
    CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "bin/$name" "$target" >&2
  else
    go build -trimpath -ldflags="$LDFLAGS" -o "bin/$name" "$target" >&2
  fi
  mv -f "bin/$name" "$OUT/$name" # cached at once: an interrupted run keeps what it built
  say "built $name in $((SECONDS - start)) s"
done
}

# The API server, kubectl and etcd (and the node's binaries) that are not cached yet.
build_cluster() {
MISSING=()
for name in "${WANT[@]}"; do
  [[ -x $OUT/$name ]] || MISSING+=("$name")
done
if ((${#MISSING[@]})); then
  build_go_binaries
fi

# The pod sandbox image (containerd's sandbox_image), from the static pause binary: no registry is
# reachable, so it is built FROM scratch with podman in a storage of its own and saved as an OCI
# archive that crates/testenv/src/node.rs imports into containerd.
if [[ $NODE == 1 && ! -f $OUT/pause.oci.tar ]]; then
  command -v podman >/dev/null || { say "podman is required to build the pause image (apt-get install podman)"; exit 1; }
  say "building the pause image with podman"
  PWORK=$(mktemp -d "$CACHE_ROOT/pause.XXXXXX")
  cp "$OUT/pause" "$PWORK/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$PWORK/Containerfile"
  podman=(podman --root "$CACHE_ROOT/podman/root" --runroot "$CACHE_ROOT/podman/run" --storage-driver vfs)
  "${podman[@]}" build -q -t localhost/natgw-pause:1 "$PWORK" >&2
  "${podman[@]}" save --format oci-archive -o "$PWORK/pause.oci.tar" localhost/natgw-pause:1 >&2
  mv -f "$PWORK/pause.oci.tar" "$OUT/pause.oci.tar"
  rm -rf "$PWORK"
fi
}

for component in "${COMPONENTS[@]}"; do
  case $component in
    apiserver) build_cluster ;;
    kstatus) module_tool kstatus "1 min" -ldflags=-s . ;;
    argocd-health) module_tool argocd-health "4 min" -ldflags=-s . ;;
    promtool)
      # Module v0.3XX.Y is Prometheus 3.XX.Y: `promtool --version` says so. Without the
      # service-discovery plugins (cloud SDKs): checking and testing rules needs none.
      module=$(sed -n 's#^require github.com/prometheus/prometheus \(v[^ ]*\)$#\1#p' "$GO_TOOLS/promtool/go.mod")
      version=$(sed -n 's#^v0\.3\([0-9][0-9]\)\.\([0-9]*\)$#3.\1.\2#p' <<<"$module")
      module_tool promtool "3 min" -tags remove_all_sd \
        -ldflags="-s -X github.com/prometheus/common/version.Version=${version:-$module}" \
        github.com/prometheus/prometheus/cmd/promtool
      ;;
    kube-router)
      # The network policy controller is all the node runs of it (--run-firewall), but the binary
      # is the whole of kube-router: its flags choose. The version flag keeps its log from
      # warning about a malformed version.
      module=$(sed -n 's#^require github.com/cloudnativelabs/kube-router/v2 \(v[^ ]*\)$#\1#p' "$GO_TOOLS/kube-router/go.mod")
      module_tool kube-router "2 min" \
        -ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$module" \
        github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
      ;;
    helm) bash "$TESTENV/build-helm.sh" >/dev/null ;;
  esac
done
say "done; cached in $OUT"
echo "$OUT"
