#!/usr/bin/env bash
# Lays out every file of the runtime image in DIR, so that scripts/release/build-image.sh (podman, no
# registry) and the Dockerfile (any builder with a registry) ship the same files:
#
#   scripts/release/image-rootfs.sh BINARY DIR
#
#   usr/local/bin/gcp-token-agent        the binary (static on x86_64: it needs nothing else)
#   etc/ssl/certs/ca-certificates.crt    the CA bundle rustls reads (the usual Debian path;
#                                        openssl-probe finds it, SSL_CERT_FILE overrides it)
#   etc/passwd, etc/group                root and nonroot (65532:65532, distroless' numbers),
#                                        so that tools mapping ids to names find one
#
# No shell, no package manager, no libc beyond what the binary links in. The CA bundle is the
# host's (GCP_TOKEN_AGENT_CA_BUNDLE names another file): Debian's ca-certificates, or Fedora's
# /etc/pki/tls/certs/ca-bundle.crt.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/release/image-rootfs.sh BINARY DIR" >&2; exit 64; }
binary=$1 dir=$2

ca=${GCP_TOKEN_AGENT_CA_BUNDLE:-}
if [ -z "$ca" ]; then
  for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -s "$candidate" ]; then ca=$candidate && break; fi
  done
fi
[ -s "${ca:-}" ] || {
  echo "image-rootfs: no CA bundle (Debian: apt-get install ca-certificates); or set GCP_TOKEN_AGENT_CA_BUNDLE=FILE" >&2
  exit 64
}
[ -x "$binary" ] || { echo "image-rootfs: $binary is not an executable binary" >&2; exit 64; }

mkdir -p "$dir"
install -D -m 0755 "$binary" "$dir/usr/local/bin/gcp-token-agent"
install -D -m 0644 "$ca" "$dir/etc/ssl/certs/ca-certificates.crt"
# nologin shells: there is no shell in the image, and no account can log in.
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >"$dir/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$dir/etc/group"
chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
