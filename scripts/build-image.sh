#!/usr/bin/env bash
# Builds the operator's container image (Dockerfile, FROM scratch) and saves it as an OCI archive.
#
#   scripts/build-image.sh [--arch amd64|arm64] [--binary PATH] [--tag NAME:TAG]
#
# Stages target/image/context/rootfs-<arch>/ (the binary, the shared libraries it loads, the CA
# bundle, /etc/passwd, /etc/group, /etc/nsswitch.conf), builds the image with $CONTAINER_ENGINE
# (default podman), tags it natgw-operator:<Cargo.toml version> and writes
# target/image/natgw-operator-<arch>.tar, whose path it prints on stdout (`ctr -n k8s.io images
# import` and `skopeo copy oci-archive:` read it). Progress and the image size go to stderr.
# Without --binary it builds the release binary with the same command as
# .ci/check-operator-binary, so CI compiles it once.
set -euo pipefail
say() { printf '[image] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

arch=amd64 binary= tag=
while (($#)); do
  case $1 in
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --tag) tag=${2:?--tag needs NAME:TAG}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
# Resolved before the cd below, so a relative --binary means relative to the caller.
if [[ -n $binary ]]; then
  resolved=$(realpath -e -- "$binary" 2>/dev/null) || die "--binary $binary: no such file"
  binary=$resolved
fi
cd "$(dirname "$0")/.."
# Files staged by a root with a restrictive umask must still be readable by user 65532.
umask 022

case $arch in
  amd64) triple=x86_64-unknown-linux-gnu gnu=x86_64-linux-gnu machine='X86-64' ;;
  arm64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu machine='AArch64' ;;
  *) die "--arch $arch: amd64 or arm64" ;;
esac
case $(uname -m) in
  x86_64) host_arch=amd64 ;;
  aarch64) host_arch=arm64 ;;
  *) host_arch=$(uname -m) ;;
esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[[ -n $version ]] || die "no version in Cargo.toml"
tag=${tag:-natgw-operator:$version}
engine=${CONTAINER_ENGINE:-podman}

case $engine in
  podman) hint="apt-get install podman (Debian/Ubuntu), or set CONTAINER_ENGINE=docker" ;;
  docker) hint="install Docker Engine, or use podman (the default)" ;;
  *) die "CONTAINER_ENGINE=$engine: podman or docker" ;;
esac
command -v "$engine" >/dev/null || die "$engine not found: $hint"
command -v readelf >/dev/null || die "readelf not found: apt-get install binutils"
ca=/etc/ssl/certs/ca-certificates.crt
[[ -f $ca ]] || die "$ca not found: apt-get install ca-certificates"
if [[ $arch != "$host_arch" ]]; then
  command -v "$gnu-gcc" >/dev/null ||
    die "no $gnu-gcc (links the binary; the image's $arch libraries come from it): apt-get install gcc-${gnu//_/-}"
fi

if [[ -z $binary ]]; then
  build=(cargo build --release --locked -p natgw-operator --bin natgw-operator)
  if [[ $arch == "$host_arch" ]]; then
    binary=target/release/natgw-operator
  else
    rustup target list --installed 2>/dev/null | grep -qx "$triple" ||
      die "the Rust target $triple is not installed: rustup target add $triple"
    # rustc links with the target's gcc and ring compiles C with it, unless the caller chose.
    linker_var=CARGO_TARGET_${triple//-/_} cc_var=CC_${triple//-/_}
    linker_var=${linker_var^^}_LINKER
    export "$linker_var=${!linker_var:-$gnu-gcc}" "$cc_var=${!cc_var:-$gnu-gcc}"
    build+=(--target "$triple")
    binary=target/$triple/release/natgw-operator
  fi
  say "building the release binary: ${build[*]}"
  "${build[@]}"
fi
readelf -h "$binary" 2>/dev/null | grep -q "Machine:.*$machine" ||
  die "$binary is not an ELF binary for $arch ($machine)"

ctx=target/image/context
rootfs=$ctx/rootfs-$arch
say "staging $rootfs from $binary"
rm -rf "$rootfs"
install -D -m 0755 "$binary" "$rootfs/usr/local/bin/natgw-operator"

# stage_lib SOURCE DEST: the library file itself (not a symlink to it) at DEST in the image.
stage_lib() { install -D -m 0755 "$(readlink -f "$1")" "$rootfs$2"; }
interp=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
if [[ -z $interp ]]; then
  say "static binary: no shared libraries to stage"
elif [[ $arch == "$host_arch" ]]; then
  # Exactly what the loader resolves on this host, at the same paths (the image has no
  # ld.so.cache; these are the loader's default directories), and the loader itself.
  ldd_out=$(ldd "$binary") || die "ldd $binary failed"
  ! grep -q 'not found' <<<"$ldd_out" || die "unresolved libraries: $(grep 'not found' <<<"$ldd_out")"
  while read -r lib; do stage_lib "$lib" "$lib"; done < <(sed -n 's/.* => \(\/[^ ]*\) .*/\1/p' <<<"$ldd_out")
  stage_lib "$interp" "$interp"
else
  # A cross-built binary cannot be run through ldd: follow DT_NEEDED into the cross toolchain's
  # libraries and place them in the target's multiarch directory, where its loader looks.
  queue=("$binary") seen=" "
  while ((${#queue[@]})); do
    file=${queue[0]} queue=("${queue[@]:1}")
    for name in $(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
      [[ $seen == *" $name "* || $name == "$(basename "$interp")" ]] && continue
      seen+="$name "
      src=$("$gnu-gcc" -print-file-name="$name")
      [[ $src == /* ]] || die "$name: not found by $gnu-gcc"
      stage_lib "$src" "/lib/$gnu/$name"
      queue+=("$src")
    done
  done
  src=$("$gnu-gcc" -print-file-name="$(basename "$interp")")
  [[ $src == /* ]] || die "the loader $interp not found by $gnu-gcc"
  stage_lib "$src" "$interp"
fi

# Architecture-independent files from the build host.
install -D -m 0644 "$ca" "$rootfs$ca"
# No login shell: /sbin/nologin is not in the image, which is the point.
install -D -m 0644 /dev/stdin "$rootfs/etc/passwd" <<<'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin'
install -D -m 0644 /dev/stdin "$rootfs/etc/group" <<<'nonroot:x:65532:'
# Without this file glibc asks DNS before /etc/hosts, which would ignore a pod's hostAliases.
install -D -m 0644 /dev/stdin "$rootfs/etc/nsswitch.conf" <<<'hosts: files dns'

# The commit time as the image's creation time and file times: the same commit and binary give
# the same image (and, with podman, the same manifest digest in the archive).
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
archive=target/image/natgw-operator-$arch.tar
rm -f "$archive"
case $engine in
  podman)
    # A storage of its own, with the vfs driver (works on any filesystem, needs no fuse or
    # kernel overlay support), so it never clashes with the user's podman storage.
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/natgw-operator/podman
    if [[ $(id -u) == 0 ]]; then runroot=/run/natgw-operator/podman; else runroot=$cache/run; fi
    engine_cmd=(podman --root "$cache/storage" --runroot "$runroot" --storage-driver vfs)
    say "building $tag for linux/$arch with podman (storage $cache/storage)"
    # --layers=false: one COPY is nothing worth caching, and no intermediate images pile up.
    "${engine_cmd[@]}" build --platform "linux/$arch" --build-arg "VERSION=$version" \
      --timestamp "$epoch" --layers=false -f Dockerfile -t "$tag" "$ctx" >&2
    "${engine_cmd[@]}" save --format oci-archive -o "$archive" "$tag" >&2
    # Rebuilding a tag leaves the previous image untagged; vfs keeps full copies, so drop it.
    "${engine_cmd[@]}" image prune -f >/dev/null
    ;;
  docker)
    engine_cmd=(docker)
    say "building $tag for linux/$arch with docker"
    docker build --platform "linux/$arch" --build-arg "VERSION=$version" \
      --build-arg "SOURCE_DATE_EPOCH=$epoch" -f Dockerfile -t "$tag" "$ctx" >&2
    docker save -o "$archive" "$tag"
    ;;
esac

image_bytes=$("${engine_cmd[@]}" image inspect --format '{{.Size}}' "$tag")
archive_bytes=$(stat -c %s "$archive")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "size: $tag $image_bytes bytes ($(mib "$image_bytes")), archive $archive_bytes bytes ($(mib "$archive_bytes"))"
echo "$archive"
