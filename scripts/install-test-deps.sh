#!/usr/bin/env bash
# Installs the real daemons the test suite runs on loopback: a caching resolver and an authoritative
# DNS server, promtool/Prometheus/Alertmanager, blackbox_exporter (benchmark peer), PostgreSQL, openssl.
# Debian installs start no service here; tests run each daemon themselves in a temp dir.
set -euo pipefail
pkgs=(unbound nsd dnsutils prometheus prometheus-alertmanager prometheus-blackbox-exporter postgresql openssl iproute2 ca-certificates)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "test deps: all present"; exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "test deps: installed ${missing[*]}"
