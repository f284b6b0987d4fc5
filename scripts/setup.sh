#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently, with progress:
#  - Debian's lua5.1 (runs the Argo CD health script in Argo CD's Lua dialect) and binutils
#    (`nm`, `size`: .ci/check-operator-binary reads the release binary's symbols),
#  - a Python venv with the official cloud SDKs (conformance tests),
#  - etcd, kube-apiserver and kubectl compiled from Go modules (cached per user and version).
# Everything lands outside the clone (~/.cache/natgw-operator), so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[setup] %s\n' "$*" >&2; }
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator

for tool in cargo go python3; do
  command -v "$tool" >/dev/null || { say "$tool is required but not installed"; exit 1; }
done

missing=()
command -v lua5.1 >/dev/null || missing+=(lua5.1)
command -v nm >/dev/null || missing+=(binutils)
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

bash crates/testenv/build.sh >/dev/null
say "ready"
