#!/usr/bin/env bash
# Builds the hookwatch image for linux/amd64 and linux/arm64 with buildah (no daemon, chroot isolation, vfs
# storage) from bases assembled locally by base.sh, and writes one OCI image layout holding an index of both:
#   $OUT/oci           OCI layout; tag VERSION = the OCI index, VERSION-amd64 / VERSION-arm64 = each manifest,
#                      VERSION-docker = the same two images as a Docker manifest list (keeps HEALTHCHECK)
#   $OUT/hookwatch.oci.tar  the OCI index as one oci-archive (skopeo copy --all oci-archive:... docker://REGISTRY/...)
# Cached by a hash of every input: a second call with unchanged sources only prints $OUT.
# Prints $OUT (and nothing else) on stdout. Environment: HOOKWATCH_IMAGE_CACHE (default ~/.cache/hookwatch/image).
set -euo pipefail
# Progress goes to stderr; stdout carries only the output directory.
exec 3>&1 1>&2
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
NODE_VERSION=${NODE_VERSION:-24.22.3}
VERSION=$(node -p 'require("./package.json").version')
CACHE=${HOOKWATCH_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookwatch/image}
ARCHES=(amd64 arm64)
mkdir -p "$CACHE"

# Inputs: the paths .dockerignore lets into the build context (its "!path" lines), and the Node version.
mapfile -t inputs < <(sed -n 's/^!//p' .dockerignore | while read -r p; do [ -e "$p" ] && echo "$p"; done; echo .dockerignore)
hash=$( { echo "node $NODE_VERSION"; find "${inputs[@]}" -type f ! -name '*.log' -print0 2>/dev/null | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
OUT="$CACHE/$hash"
if [ -f "$OUT/done" ]; then echo "image cached in $OUT"; echo "$OUT" >&3; exit 0; fi

STORAGE="$CACHE/storage"
BH=(buildah --root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver vfs)
export BUILDAH="${BH[*]}" NODE_VERSION
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Working containers left by an interrupted build hold full rootfs copies: drop them (the storage is ours alone).
"${BH[@]}" rm --all >/dev/null 2>&1 || true

# Bases: built once per Node version and kept in the cache's storage.
build_base="localhost/hookwatch-build-base:node$NODE_VERSION"
"${BH[@]}" inspect --type image "$build_base" >/dev/null 2>&1 || WORK="$WORK/b" bash -c 'mkdir -p "$WORK" && exec bash deploy/image/base.sh build "$0"' "$build_base"
for a in "${ARCHES[@]}"; do
  img="localhost/hookwatch-runtime-base:node$NODE_VERSION-$a"
  "${BH[@]}" inspect --type image "$img" >/dev/null 2>&1 || WORK="$WORK/r$a" bash -c 'mkdir -p "$WORK" && exec bash deploy/image/base.sh runtime "$0" "$1"' "$a" "$img"
done

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
created=$(git log -1 --format=%cI 2>/dev/null || echo 1970-01-01T00:00:00Z)
source_url=$(git remote get-url origin 2>/dev/null || true)
list="localhost/hookwatch:$VERSION"
# npm inside the build stage uses the host's npm cache and, where the host trusts an extra CA for the
# registry (a TLS-inspecting proxy), the same CA file, through a global npmrc of the build base.
npm_cache=$(npm config get cache)
npm_mounts=(-v "$npm_cache:/root/.npm")
cafile=$(npm config get cafile 2>/dev/null || true)
[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ] && { [ "$cafile" = null ] || [ -z "$cafile" ]; } && cafile=$NODE_EXTRA_CA_CERTS
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; then
  mkdir -p "$WORK/npm-etc" && cp "$cafile" "$WORK/npm-etc/build-ca.pem"
  printf 'cafile=/nodejs/etc/build-ca.pem\n' > "$WORK/npm-etc/npmrc"
  npm_mounts+=(-v "$WORK/npm-etc:/nodejs/etc:ro")
fi
"${BH[@]}" manifest rm "$list" >/dev/null 2>&1 || true
for a in "${ARCHES[@]}"; do
  # --layers: the build stage (same build platform for both) runs once; the npm cache is shared with the host.
  # BUILDPLATFORM is passed explicitly: buildah 1.28 otherwise resolves the build stage for the target platform.
  "${BH[@]}" bud --isolation chroot --layers --pull=never --format docker --platform "linux/$a" --build-arg BUILDPLATFORM="linux/$(dpkg --print-architecture)" \
    --build-arg BUILD_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="localhost/hookwatch-runtime-base:node$NODE_VERSION-$a" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$revision" --build-arg CREATED="$created" --build-arg SOURCE="$source_url" \
    "${npm_mounts[@]}" \
    -f deploy/image/Dockerfile -t "localhost/hookwatch:$VERSION-$a" --manifest "$list" .
done

rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
# OCI format: an OCI index of OCI manifests. The OCI image config has no health check field, so the same
# images also go out in Docker format (tag VERSION-docker), which keeps HEALTHCHECK for `docker run`.
for a in "${ARCHES[@]}"; do
  "${BH[@]}" push --quiet --format oci "localhost/hookwatch:$VERSION-$a" "oci:$OUT.tmp/oci:$VERSION-$a"
done
"${BH[@]}" manifest push --quiet --all --format oci "$list" "oci:$OUT.tmp/oci:$VERSION"
"${BH[@]}" manifest push --quiet --all --format v2s2 "$list" "oci:$OUT.tmp/oci:$VERSION-docker"
"${BH[@]}" manifest push --quiet --all --format oci "$list" "oci-archive:$OUT.tmp/hookwatch.oci.tar:hookwatch:$VERSION"
echo "$VERSION" > "$OUT.tmp/version"
touch "$OUT.tmp/done"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
# Keep the bases, drop this build's images and intermediate layers (vfs stores every layer as a full copy)
# and older outputs: the cache stays at the bases plus one output.
"${BH[@]}" manifest rm "$list" >/dev/null 2>&1 || true
for a in "${ARCHES[@]}"; do "${BH[@]}" rmi "localhost/hookwatch:$VERSION-$a" >/dev/null 2>&1 || true; done
"${BH[@]}" rmi --prune >/dev/null 2>&1 || true
find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name storage ! -name "$hash" -exec rm -rf {} +
echo "$OUT" >&3
