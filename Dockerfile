# natgw-operator container image: the release binary and the few files it needs, nothing else
# (no shell, no package manager), running as the non-root user 65532.
#
# FROM scratch with a root filesystem staged outside the build: the binary is built once, by the
# same `cargo build --release` that CI checks (.ci/check-operator-binary), and no base image has
# to be pulled. scripts/build-image.sh stages the build context and builds this file:
#   scripts/build-image.sh                  # amd64, with podman; prints the OCI archive's path
# It stages target/image/context/rootfs-<arch>/ for --arch amd64 (default) or arm64. With both
# staged, one multi-arch build of the same context:
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=0.1.0 \
#     -f Dockerfile -t REGISTRY/natgw-operator:0.1.0 --push target/image/context
#
# Each rootfs-<arch>/ holds:
#   /usr/local/bin/natgw-operator           the release binary (glibc, dynamically linked)
#   the dynamic loader and the shared libraries the binary needs (libc, libm, libgcc_s), at the
#     paths the loader looks for them
#   /etc/ssl/certs/ca-certificates.crt      the build host's CA bundle (Debian ca-certificates)
#   /etc/passwd, /etc/group                 root and nonroot (65532), no login shell
#   /etc/nsswitch.conf                      hosts: files dns (glibc's default without this file
#                                           asks DNS first, so /etc/hosts and a pod's hostAliases
#                                           would be ignored)
FROM scratch

# Set by buildx/buildah for each --platform; selects that architecture's staged root filesystem.
ARG TARGETARCH
# The crate version (Cargo.toml), passed by scripts/build-image.sh.
ARG VERSION=unknown

LABEL org.opencontainers.image.title="natgw-operator" \
      org.opencontainers.image.description="Keeps Tencent Cloud and Huawei Cloud NAT gateways at the size and billing mode declared in a NatGateway resource" \
      org.opencontainers.image.source="https://github.com/natgw-io/natgw-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

COPY rootfs-${TARGETARCH}/ /

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# The metrics, /healthz and /readyz port (deploy/base/deployment.yaml).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/natgw-operator"]
CMD ["run", "--log-format", "json"]
