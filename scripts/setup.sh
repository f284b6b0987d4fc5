#!/usr/bin/env bash
# Installs what the tests, the demo and the image build need, idempotently, with progress:
#  - Debian's binutils (`nm`, `size`: .ci/check-operator-binary reads the release binary's symbols; `readelf`:
#    scripts/build-image.sh finds the libraries the binary loads),
#  - the container tools: podman and runc build and run the image, containerd and the CNI
#    plugins run it on the real-node tests' kubelet, iptables and ipset for the node's
#    NetworkPolicy firewall (kube-router),
#  - a Python venv with the official cloud SDKs (conformance tests),
#  - etcd, kube-apiserver, kubectl and helm compiled from Go modules (cached per user and
#    version), with kstatus, argocd-health and promtool (Flux's, Argo CD's and Prometheus' own
#    readers of our status, health script and rules), and
#    for the real-node tests (root only) the kubelet, kube-controller-manager, kube-scheduler and
#    a pause image from the same modules, and kube-router's firewall.
# Everything lands outside the clone (~/.cache/natgw-operator), so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[setup] %s\n' "$*" >&2; }
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator

for tool in cargo go python3; do
  command -v "$tool" >/dev/null || { say "$tool is required but not installed"; exit 1; }
done

missing=()
command -v nm >/dev/null || missing+=(binutils)
# The image's CA bundle is the host's (scripts/build-image.sh).
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
# Builds the image without a daemon (scripts/build-image.sh).
command -v podman >/dev/null || missing+=(podman)
# The OCI runtime of containerd, and podman's here (crun fails on hybrid cgroups).
command -v runc >/dev/null || missing+=(runc)
# The real node's container runtime: the kubelet talks CRI to it, the image is imported into it.
command -v containerd >/dev/null || missing+=(containerd)
# containerd's CRI sets up each pod sandbox's network with these (ptp, host-local, loopback).
[[ -x /usr/lib/cni/ptp ]] || missing+=(containernetworking-plugins)
# kube-router enforces the real node's NetworkPolicies with iptables rules and ipsets (root only,
# as the node is).
if [[ $(id -u) == 0 ]]; then
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ipset >/dev/null || missing+=(ipset)
fi
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} from Debian's packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "${missing[*]} missing: install (Debian/Ubuntu: sudo apt-get install ${missing[*]})"; exit 1
  fi
fi

VENV=$CACHE/venv
REQS=tests/conformance/requirements.txt
STAMP=$VENV/.requirements-$(sha256sum "$REQS" | cut -c1-16)
if [[ ! -f $STAMP ]]; then
  say "installing the official cloud SDKs into $VENV"
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
  touch "$STAMP"
fi

if [[ $(id -u) == 0 ]]; then
  bash crates/testenv/build.sh all node >/dev/null
else
  say "not root: the real-node tests cannot run here (set NATGW_SKIP_NODE_TESTS=1); building the rest"
  bash crates/testenv/build.sh all >/dev/null
fi
say "ready"
