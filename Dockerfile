# gcp-token-agent: the Rust binary alone, with a CA bundle and a non-root user; no shell.
#
#   docker build -t gcp-token-agent .
#   docker run --rm gcp-token-agent --help
#
# The runtime image holds the files scripts/release/image-rootfs.sh lays out, the same files as
# scripts/release/build-image.sh's image (which needs no registry): on linux/amd64 on `scratch`, since
# the binary is a static PIE; on linux/arm64, where it links glibc dynamically, on RUNTIME_IMAGE.
#
# Base images are build arguments, each a full image reference. Pin them by digest, so that a
# re-pushed tag cannot change what is built or shipped: NAME:TAG@sha256:DIGEST (the tag stays
# for readers; the digest alone decides). SECURITY.md ("Supply chain") shows how to look the
# digests up and check them:
#   docker build \
#     --build-arg RUST_IMAGE=rust:1.95-bookworm@sha256:DIGEST \
#     --build-arg RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:DIGEST .
# The defaults below are pinned that way (multi-platform index digests); SECURITY.md says how
# they were found and how to refresh them.
# Builds without a registry can substitute local images (podman 4, buildah 1.28 also need
# --skip-unused-stages=false: they skip the runtime-* stages, which TARGETARCH chooses among,
# and then build all of them, so RUNTIME_IMAGE must be present too):
#   podman build --skip-unused-stages=false --build-arg RUST_IMAGE=localhost/rust:bookworm \
#     --build-arg RUNTIME_IMAGE=scratch .
# Without a registry, scripts/release/build-image.sh builds the same image from a binary built here.
# RUNTIME_IMAGE (linux/arm64 only) must have glibc (Debian 12 or newer); the CA bundle and
# /etc/passwd come from the build stage either way.
ARG RUST_IMAGE=rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
# The platform being built (amd64, arm64): BuildKit, buildah and podman set it.
ARG TARGETARCH

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# .dockerignore keeps target/, node_modules/, .git/ and the Kubernetes files out, so a change
# to a chart does not rebuild the binary.
COPY . .
# scripts/release/build-release.sh builds the binary as it ships: for linux/amd64 a static PIE (glibc
# linked in), for other platforms the dynamic binary (the runtime image has glibc). The cache
# mounts keep crates.io downloads and compiled dependencies between builds (BuildKit, buildah
# and podman all honour them); the binary is copied out of the mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    release=$(bash scripts/release/build-release.sh) \
    && bash scripts/release/image-rootfs.sh "$release/gcp-token-agent" /rootfs

# linux/amd64: the static binary needs nothing from a base image.
FROM scratch AS runtime-amd64
# linux/arm64: the binary is dynamic (scripts/release/build-release.sh) and needs glibc.
FROM ${RUNTIME_IMAGE} AS runtime-arm64

# hadolint ignore=DL3006
FROM runtime-${TARGETARCH}
# The labels scripts/release/build-image.sh sets; the build knows no git, so pass these:
#   --build-arg VERSION=0.2.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#   --build-arg CREATED="$(git log -1 --format=%cI)"
ARG VERSION="" REVISION="" CREATED=""
LABEL org.opencontainers.image.title="gcp-token-agent" \
      org.opencontainers.image.description="Google Cloud access and ID tokens for workloads, scripts and kubectl, without gcloud" \
      org.opencontainers.image.source="https://github.com/gcp-token-agent/gcp-token-agent" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /rootfs/ /
# 65532:65532 is "nonroot" in the image's /etc/passwd (and distroless'). Numeric, so
# Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# 8443: the admission webhook (webhook); 8990: /healthz, /readyz, /metrics. The metadata API
# (run, 127.0.0.1:8989) stays on the pod's loopback and is not exposed.
EXPOSE 8443 8990
ENTRYPOINT ["/usr/local/bin/gcp-token-agent"]
CMD ["--help"]
