#!/usr/bin/env bash
# Installs the real daemons the test suite runs on loopback: a caching resolver and an authoritative
# DNS server, promtool/Prometheus/Alertmanager, blackbox_exporter (benchmark peer), PostgreSQL, openssl;
# and the install checks' tools: systemd-analyze (systemd), buildah/umoci/skopeo (the container image,
# no daemon needed), qemu-user (runs the arm64 image's Node under user-mode emulation in a test); chromium
# (the status page browser test drives it with playwright-core).
# Debian installs start no service here; tests run each daemon themselves in a temp dir.
set -euo pipefail
pkgs=(unbound nsd dnsutils prometheus prometheus-alertmanager prometheus-blackbox-exporter postgresql openssl iproute2 ca-certificates
  systemd buildah umoci skopeo qemu-user chromium)
# The image's arm64 variant copies Debian's arm64 libc/libstdc++ (apt-get download; nothing is installed).
if [ "$(dpkg --print-architecture)" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  echo "test deps: added arm64 to dpkg architectures (for the image's arm64 base)"
fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test deps: all Debian packages present"
else
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "test deps: installed ${missing[*]}"
fi

# helm (for test/helm-*.test.ts) is not packaged in Debian: build it once from the Go module proxy
# into a cache dir (the tests look there too). Needs Go; takes a few minutes the first time.
HELM_VERSION=v3.16.4
TOOLS_DIR="${HOOKWATCH_TOOLS_DIR:-$HOME/.cache/hookwatch/bin}"
if command -v helm >/dev/null 2>&1 || [ -x "$TOOLS_DIR/helm" ]; then
  echo "test deps: helm present"
elif command -v go >/dev/null 2>&1; then
  mkdir -p "$TOOLS_DIR"
  GOBIN="$TOOLS_DIR" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "test deps: built helm ${HELM_VERSION} into $TOOLS_DIR"
else
  echo "test deps: helm missing and no Go toolchain to build it; helm chart tests will skip (or fail under HOOKWATCH_REQUIRE_DAEMONS=1)" >&2
fi
