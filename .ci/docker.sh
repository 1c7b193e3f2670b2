# Sourced or executed by .ci/run: makes sure a Docker daemon answers, and that
# the packages the e2e stand-in image is built from (busybox-static,
# bash-static) and debootstrap (the backup image's base) are installed.
# CI machines are fresh: nothing else starts Docker.
#   PO_DOCKERD_LOG   where dockerd logs (default /var/log/po-dockerd.log)
#   PO_DOCKER_WAIT   seconds to wait for the daemon (default 60)
# shellcheck source=fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/fds.sh"

_po_docker_up() {
  local missing=""
  command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
  [ -x /bin/busybox ] || missing="$missing busybox-static"
  [ -x /bin/bash-static ] || missing="$missing bash-static"
  # The backup image's root filesystem (.ci/backup-image.sh).
  command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
  if [ -n "$missing" ]; then
    echo "docker.sh: installing$missing" >&2
    if [ "$(id -u)" != 0 ]; then echo "docker.sh: need root to install$missing" >&2; return 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2 || return 1
  fi
  if docker info >/dev/null 2>&1; then
    echo "docker.sh: daemon answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))" >&2
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    echo "docker.sh: DOCKER_HOST=$DOCKER_HOST is set but does not answer; not starting a local daemon" >&2
    return 1
  fi
  local log="${PO_DOCKERD_LOG:-/var/log/po-dockerd.log}"
  echo "docker.sh: starting dockerd (log: $log)" >&2
  (close_inherited_fds; exec nohup dockerd >"$log" 2>&1 </dev/null) &
  local waited=0 limit="${PO_DOCKER_WAIT:-60}"
  until docker info >/dev/null 2>&1; do
    if [ "$waited" -ge "$limit" ]; then
      echo "docker.sh: dockerd did not answer within ${limit}s; last log lines:" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "docker.sh: daemon up after ${waited}s ($(docker version --format '{{.Server.Version}}'))" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _po_docker_up || exit 1
else
  _po_docker_up || return 1
fi
