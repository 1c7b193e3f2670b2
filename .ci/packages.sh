# Sourced or executed by the Makefile's test target: installs the Debian
# packages whose real servers the contract tests start (each test starts its
# own instance on a free loopback port, in a temporary directory). Installing
# them must not leave the distribution's own instances running: nothing here
# should listen on a well-known port that a test might mistake for its own.
_po_packages() {
  local wanted="postgresql redis-server rabbitmq-server docker-registry restic apache2-utils"
  local missing="" pkg
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then echo "packages.sh: need root to install$missing" >&2; return 1; fi
  echo "packages.sh: installing$missing" >&2
  # policy-rc.d exit 101 tells invoke-rc.d not to start the packages' services.
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
  local rc=$?
  [ "$had_policy" = 1 ] || rm -f "$policy"
  return $rc
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _po_packages || exit 1
else
  _po_packages || return 1
fi
