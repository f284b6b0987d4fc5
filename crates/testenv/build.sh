#!/usr/bin/env bash
# Builds the real Kubernetes API server, kubectl and etcd that the end-to-end tests and the demo run,
# from Go modules, and caches them per user and version so only the first run pays for the build.
# With `--node`, also the rest of a real node (crates/testenv/src/node.rs): kubelet,
# kube-controller-manager, kube-scheduler from the same module graph, and a tiny static `pause`
# for the pod sandbox image.
# Prints the directory holding the binaries on stdout; progress goes to stderr.
set -euo pipefail

WANT=(kube-apiserver kubectl etcd)
if [[ ${1:-} == --node ]]; then
  WANT+=(kubelet kube-controller-manager kube-scheduler pause)
fi

K8S_VERSION=v1.34.4
# kube-apiserver v1.34.4 itself requires etcd server v3.6.4; building etcd from the same module graph
# keeps the two versions consistent.
CACHE_ROOT=${NATGW_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator/testenv}
OUT=$CACHE_ROOT/k8s-$K8S_VERSION
say() { printf '[testenv] %s\n' "$*" >&2; }

# kstatus: the status library Flux and kpt read resources with (sigs.k8s.io/cli-utils/pkg/kstatus),
# as a tiny CLI for tests/e2e/kstatus.rs: an object (JSON or YAML) on stdin, {"status","message"} of
# status.Compute on stdout. Its own module, so cli-utils' k8s.io deps never meet the apiserver's
# replace block above. Built (once, cached next to the other binaries) before the apiserver check
# below so that an existing apiserver cache still gains it. Needs Go only when it is missing.
KSTATUS_CLI_UTILS=v0.37.2 # the newest served; pkg/kstatus/status only imports k8s.io/apimachinery
# Bump the revision when main.go below changes so that cached binaries are rebuilt.
KSTATUS_STAMP="cli-utils $KSTATUS_CLI_UTILS rev 2"
if [[ ! -x $OUT/kstatus || "$(cat "$OUT/kstatus.stamp" 2>/dev/null)" != "$KSTATUS_STAMP" ]]; then
  command -v go >/dev/null || { say "Go is required to build kstatus (install Go 1.24+)"; exit 1; }
  mkdir -p "$OUT"
  KWORK=$(mktemp -d "$CACHE_ROOT/kstatus.XXXXXX")
  mkdir -p "$KWORK/src"
  cat > "$KWORK/src/go.mod" <<MOD
module natgw.test/kstatus

go 1.22.0

require (
	sigs.k8s.io/cli-utils $KSTATUS_CLI_UTILS
	sigs.k8s.io/yaml v1.4.0
)
MOD
  cat > "$KWORK/src/main.go" <<'GO'
// kstatus prints what sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute says about the object
// (JSON or YAML) on stdin, as {"status": "...", "message": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// YAML (a superset of JSON) to JSON, then numbers to int64 as in the API machinery:
	// status.Compute reads metadata.generation and status.observedGeneration as int64.
	doc, err := yaml.YAMLToJSON(in)
	if err != nil {
		fail("parsing the object: %v", err)
	}
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(doc, &obj); err != nil {
		fail("parsing the object: %v", err)
	}
	if obj == nil {
		fail("no object on stdin")
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		fail("status.Compute: %v", err)
	}
	out, _ := json.Marshal(map[string]string{"status": res.Status.String(), "message": res.Message})
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}
GO
  say "building kstatus (sigs.k8s.io/cli-utils@$KSTATUS_CLI_UTILS) in its own module"
  kstart=$SECONDS
  if (cd "$KWORK/src" && export GOFLAGS=-mod=mod && go mod tidy >&2 &&
      go build -trimpath -ldflags=-s -o "$KWORK/kstatus" . >&2); then
    mv -f "$KWORK/kstatus" "$OUT/kstatus" # a rename: a concurrent run never sees half a binary
    echo "$KSTATUS_STAMP" > "$OUT/kstatus.stamp"
    rm -rf "$KWORK"
    say "built kstatus in $((SECONDS - kstart)) s, cached in $OUT"
  else
    rm -rf "$KWORK"
    say "building kstatus failed"
    exit 1
  fi
fi

# argocd-health: Argo CD's own health-check runner (util/lua of github.com/argoproj/argo-cd/v3) as a
# CLI for tests/offline/argocd_health.rs; its module is crates/testenv/go/argocd-health (go.sum
# pinned), rebuilt when those files change. Needs Go only when it is missing.
ARGOCD_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/go/argocd-health
ARGOCD_STAMP=$(cat "$ARGOCD_SRC"/go.mod "$ARGOCD_SRC"/go.sum "$ARGOCD_SRC"/main.go | sha256sum | cut -c1-16)
if [[ ! -x $OUT/argocd-health || "$(cat "$OUT/argocd-health.stamp" 2>/dev/null)" != "$ARGOCD_STAMP" ]]; then
  command -v go >/dev/null || { say "Go is required to build argocd-health (install Go 1.25+)"; exit 1; }
  mkdir -p "$OUT"
  AWORK=$(mktemp -d "$CACHE_ROOT/argocd-health.XXXXXX")
  cp "$ARGOCD_SRC"/go.mod "$ARGOCD_SRC"/go.sum "$ARGOCD_SRC"/main.go "$AWORK/"
  say "building argocd-health ($(sed -n 's#^\s*github.com/argoproj/argo-cd/v3 \(v[^ ]*\)$#Argo CD \1#p' "$AWORK/go.mod"), its own module; about 2-4 min the first time)"
  astart=$SECONDS
  if (cd "$AWORK" && go build -trimpath -ldflags=-s -o "$AWORK/argocd-health" . >&2); then
    mv -f "$AWORK/argocd-health" "$OUT/argocd-health"
    echo "$ARGOCD_STAMP" > "$OUT/argocd-health.stamp"
    rm -rf "$AWORK"
    say "built argocd-health in $((SECONDS - astart)) s, cached in $OUT"
  else
    rm -rf "$AWORK"
    say "building argocd-health failed"
    exit 1
  fi
fi

# promtool: Prometheus' rule checker and unit-test runner, for tests/offline/monitoring.rs; its module
# is crates/testenv/go/promtool (go.sum pinned), rebuilt when those files change. Built with the
# tag remove_all_sd: the service-discovery plugins (cloud SDKs) are not needed to check and test
# rules. Needs Go only when it is missing.
PROMTOOL_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/go/promtool
PROMTOOL_STAMP=$(cat "$PROMTOOL_SRC"/go.mod "$PROMTOOL_SRC"/go.sum "$PROMTOOL_SRC"/tools.go | sha256sum | cut -c1-16)
if [[ ! -x $OUT/promtool || "$(cat "$OUT/promtool.stamp" 2>/dev/null)" != "$PROMTOOL_STAMP" ]]; then
  command -v go >/dev/null || { say "Go is required to build promtool (install Go 1.26.7+)"; exit 1; }
  mkdir -p "$OUT"
  PROMTOOL_WORK=$(mktemp -d "$CACHE_ROOT/promtool.XXXXXX")
  cp "$PROMTOOL_SRC"/go.mod "$PROMTOOL_SRC"/go.sum "$PROMTOOL_SRC"/tools.go "$PROMTOOL_WORK/"
  # Module v0.3XX.Y is Prometheus 3.XX.Y: `promtool --version` says so.
  PROMTOOL_MODULE=$(sed -n 's#^require github.com/prometheus/prometheus \(v[^ ]*\)$#\1#p' "$PROMTOOL_WORK/go.mod")
  PROMTOOL_VERSION=$(sed -n 's#^v0\.3\([0-9][0-9]\)\.\([0-9]*\)$#3.\1.\2#p' <<<"$PROMTOOL_MODULE")
  say "building promtool (github.com/prometheus/prometheus $PROMTOOL_MODULE, its own module; about 3-6 min the first time)"
  pstart=$SECONDS
  if (cd "$PROMTOOL_WORK" && go build -trimpath -tags remove_all_sd \
      -ldflags="-s -X github.com/prometheus/common/version.Version=${PROMTOOL_VERSION:-$PROMTOOL_MODULE}" \
      -o "$PROMTOOL_WORK/promtool" github.com/prometheus/prometheus/cmd/promtool >&2); then
    mv -f "$PROMTOOL_WORK/promtool" "$OUT/promtool"
    echo "$PROMTOOL_STAMP" > "$OUT/promtool.stamp"
    rm -rf "$PROMTOOL_WORK"
    say "built promtool in $((SECONDS - pstart)) s, cached in $OUT"
  else
    rm -rf "$PROMTOOL_WORK"
    say "building promtool failed"
    exit 1
  fi
fi

# helm, for the chart's tests (tests/e2e/helm.rs): a module and a cache key of its own.
bash "$(dirname "${BASH_SOURCE[0]}")/build-helm.sh" >/dev/null

MISSING=()
for name in "${WANT[@]}"; do
  [[ -x $OUT/$name ]] || MISSING+=("$name")
done

build_go_binaries() {
say "to build: ${MISSING[*]}"

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
# The pod sandbox's process: it only has to hold the pod's namespaces open until it is told to stop.
mkdir -p pause
cat > pause/main.go <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
GO
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO

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
  say "building $name (several minutes on 2 cores the first time)"
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
if ((${#MISSING[@]})); then
  build_go_binaries
fi

# The pod sandbox image (containerd's sandbox_image), from the static pause binary: no registry is
# reachable, so it is built FROM scratch with podman in a storage of its own and saved as an OCI
# archive that crates/testenv/src/node.rs imports into containerd.
if [[ ${1:-} == --node && ! -f $OUT/pause.oci.tar ]]; then
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
say "cached in $OUT"
echo "$OUT"
