#!/usr/bin/env bash
# Build (once) and import a Debian bookworm base image for `make image` where public images
# cannot be pulled: debootstrap --variant=minbase with python3, python3-venv and CA certificates,
# from the mirror apt's own sources name. The tarball is cached outside the repository
# (PLUMB_CI_CACHE, default /var/cache/plumb-ci), so later runs only `docker import` it, or do
# nothing when the image exists already.
#   scripts/docker_base.sh [IMAGE]      (default plumb-base:bookworm)
set -euo pipefail
IMAGE=${1:-plumb-base:bookworm}
CACHE=${PLUMB_CI_CACHE:-/var/cache/plumb-ci}
TARBALL=$CACHE/debian-bookworm-minbase-python3.tar
DOCKER=${DOCKER:-/usr/bin/docker}

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE exists"
  exit 0
fi
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  # The first deb822 URIs (or classic deb line) apt uses for bookworm's main archive.
  mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$CACHE"
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap bookworm from $mirror (once; cached in $TARBALL)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
  # apt lists and caches are of no use in an image.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
fi
"$DOCKER" import "$TARBALL" "$IMAGE" >/dev/null
echo "imported $IMAGE from $TARBALL"
