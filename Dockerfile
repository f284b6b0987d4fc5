# syntax=docker/dockerfile:1
#
# natgw-operator container image: a static (musl) binary on distroless/static, running as the
# image's non-root user 65532.
#
# NOT built in this repository's CI: the CI host has no container engine. deploy/ is tested
# without the image (server-side dry runs and RBAC checks against a real kube-apiserver); build
# and push it from a machine with Docker/BuildKit:
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/natgw-io/natgw-operator:0.1.0 .
# then pin that tag or digest in deploy/kustomization.yaml (`images:`).

# The crate's rust-version; newer toolchains work too.
ARG RUST_VERSION=1.89

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
# ring compiles C and assembly: musl-gcc comes from musl-tools.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
ARG TARGETARCH
# buildx runs this stage once per platform (natively or under emulation), so each build targets
# its own architecture's musl libc.
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace members must be present for Cargo to resolve it; only the operator is built.
COPY crates ./crates
# Cache mounts keep the registry and compiled dependencies between builds; the binary is copied
# out of the cached target directory because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin natgw-operator --target "$(cat /rust-target)" \
 && cp "target/$(cat /rust-target)/release/natgw-operator" /natgw-operator

# distroless/static: no shell, no package manager, CA certificates and /etc/passwd included
# (the operator also bundles the Mozilla roots, so cloud endpoints verify either way).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /natgw-operator /usr/local/bin/natgw-operator
USER 65532:65532
# The metrics, /healthz and /readyz port (deploy/base/deployment.yaml).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/natgw-operator"]
CMD ["run", "--log-format", "json"]
