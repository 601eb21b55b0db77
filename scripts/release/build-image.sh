#!/usr/bin/env bash
# Builds the runtime image with podman, pulling nothing: the binary as it ships
# (scripts/release/build-release.sh), a CA bundle and a passwd entry for 65532 on an empty base.
#
#   scripts/release/build-image.sh [--binary FILE] [--tag REF] [--archive FILE] [--base IMAGE]
#
#   --binary FILE   the binary to ship (default: build it with scripts/release/build-release.sh)
#   --tag REF       the image's name (default localhost/gcp-token-agent:VERSION, from Cargo.toml)
#   --archive FILE  also write the image as an OCI archive (`podman load -i FILE` reads it)
#   --base IMAGE    for a dynamically linked binary (aarch64): a glibc base already in podman's
#                   storage, e.g. gcr.io/distroless/cc-debian12:nonroot@sha256:DIGEST.
#                   Default: scratch, which takes only a static binary.
#
# Prints the image ID on stdout; podman's progress goes to stderr. The files are the ones the
# Dockerfile's runtime stage holds (both come from scripts/release/image-rootfs.sh). The image's date
# is the commit's, so the same commit and binary give the same image ID.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
usage() { echo "usage: scripts/release/build-image.sh [--binary FILE] [--tag REF] [--archive FILE] [--base IMAGE]" >&2; exit 64; }

binary="" tag="" archive="" base=scratch
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
  --binary) binary=$2 ;;
  --tag) tag=$2 ;;
  --archive) archive=$2 ;;
  --base) base=$2 ;;
  *) usage ;;
  esac
  shift 2
done

command -v podman >/dev/null || { echo "build-image: podman not found (Debian: apt-get install podman)" >&2; exit 69; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)
tag=${tag:-localhost/gcp-token-agent:$version}
if [ -z "$binary" ]; then
  binary="$(bash "$root/scripts/release/build-release.sh")/gcp-token-agent"
fi
# On scratch there is no dynamic loader: a dynamically linked binary would fail with a bare
# "no such file or directory" at start, so refuse it here.
if [ "$base" = scratch ] && command -v readelf >/dev/null && readelf -l "$binary" | grep -q 'INTERP'; then
  echo "build-image: $binary is linked dynamically; scratch has no libc: pass --base with a glibc image" >&2
  exit 64
fi
"$binary" --version >/dev/null 2>&1 || { echo "build-image: $binary does not run here" >&2; exit 64; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$root/scripts/release/image-rootfs.sh" "$binary" "$work/rootfs"

revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
# The ports: 8443 the admission webhook, 8990 /healthz, /readyz and /metrics. The metadata API
# (run, 127.0.0.1:8989) stays on the pod's loopback and is not exposed. USER is numeric so that
# Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
cat >"$work/Containerfile" <<EOF
FROM $base
COPY rootfs/ /
USER 65532:65532
EXPOSE 8443 8990
ENTRYPOINT ["/usr/local/bin/gcp-token-agent"]
CMD ["--help"]
EOF
podman build --quiet --pull=never --isolation=chroot --timestamp "$epoch" \
  --label org.opencontainers.image.title=gcp-token-agent \
  --label "org.opencontainers.image.description=Google Cloud access and ID tokens for workloads, scripts and kubectl, without gcloud" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label org.opencontainers.image.source=https://github.com/gcp-token-agent/gcp-token-agent \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label "org.opencontainers.image.created=$created" \
  --tag "$tag" --file "$work/Containerfile" "$work" >/dev/null
if [ -n "$archive" ]; then
  rm -f "$archive"
  podman save --quiet --format oci-archive --output "$archive" "$tag"
fi
podman image inspect --format '{{.Id}}' "$tag"
