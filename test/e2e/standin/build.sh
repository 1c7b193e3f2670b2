#!/usr/bin/env bash
# Builds the e2e stand-in image (no registry is reachable in CI) from Debian's
# busybox-static and bash-static plus ./rootfs, and prints its tag. The tag is
# a hash of everything that goes into the image, so a second run with the same
# inputs finds the image and returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for bin in /bin/busybox /bin/bash-static; do
  [ -x "$bin" ] || { echo "standin: $bin is missing; run .ci/docker.sh (installs busybox-static, bash-static)" >&2; exit 1; }
done
hash=$(
  cd "$here"
  {
    sha256sum /bin/busybox /bin/bash-static build.sh
    find rootfs -type f | sort | xargs sha256sum
    find rootfs -type f -perm -u+x | sort
  } | sha256sum | cut -c1-12
)
tag="po-standin:$hash"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$here/rootfs/." "$tmp/"
mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/proc" "$tmp/sys" "$tmp/dev"
chmod 1777 "$tmp/tmp"
cp /bin/busybox "$tmp/bin/busybox"
cp /bin/bash-static "$tmp/bin/bash"
for applet in $(/bin/busybox --list); do
  [ -e "$tmp/bin/$applet" ] || ln -s busybox "$tmp/bin/$applet"
done
tar -C "$tmp" --numeric-owner --owner=0 --group=0 -c . |
  docker import \
    --change 'ENTRYPOINT ["/standin"]' \
    --change 'ENV PATH=/usr/local/bin:/bin' \
    --change "LABEL pt.portugalodyssey.standin=$hash" \
    - "$tag" >&2
echo "$tag"
