#!/usr/bin/env bash
# The lab swarm: three dockerd on this machine, each in its own network
# namespace with its own data root, exec root, pidfile and socket, their
# namespaces joined by a bridge in a namespace of their own. Node 1 runs
# `swarm init`, the others `swarm join` as managers (three managers: the
# swarm keeps a Raft quorum when one node is drained or lost). The images
# named (default: every po-standin image) are copied from the default daemon
# with `docker save | docker load`.
# The default daemon (/var/run/docker.sock) is only read from.
#
# The lab's registry: Debian's docker-registry (the distribution registry) in
# the LAN namespace, on the bridge's own address, plain HTTP with htpasswd
# (bcrypt) auth; every node's dockerd names it with --insecure-registry. Its
# login is generated per lab and kept in $ROOT/registry/credentials (root only,
# never printed): the swarm e2e pushes the app images there, and the nodes pull
# them with the login the manager hands out.
#
#   .ci/swarm.sh up [IMAGE...]   start (or reuse) the swarm and its registry; prints one `node<i>=unix:///…sock`
#                                line per node and `registry=<address:port>`
#   .ci/swarm.sh load IMAGE...   copy more images from the default daemon onto every node
#   .ci/swarm.sh down            stop the daemons and the registry, remove namespaces, bridge and data
#   .ci/swarm.sh status          exit 0 when every node answers and sees 3 ready nodes, and the registry
#                                refuses an anonymous request and accepts its login
#
#   PO_SWARM_NODES   node count (default 3)
#   PO_SWARM_ROOT    state directory (default /var/lib/po-swarm; sockets and exec roots under /run/po-swarm)
#   PO_SWARM_WAIT    seconds to wait for a daemon (default 60)
#
# This kernel has no IPVS: service VIPs answer "no route to host", so the
# services use endpoint_mode dnsrr and no port goes through the ingress
# routing mesh. Encrypted overlays are created but drop traffic between
# nodes, so the overlays are not encrypted (docs/swarm.md).
set -euo pipefail

NODES="${PO_SWARM_NODES:-3}"
ROOT="${PO_SWARM_ROOT:-/var/lib/po-swarm}"
RUN=/run/po-swarm
LAN_NS=po-swarm-lan
LAN_BRIDGE=po-swarm-br
# The nodes' "LAN": outside the model's pinned edge subnets and Docker's default pools.
LAN_PREFIX=192.168.251
# Overlay subnets the swarm allocates (docker swarm init --default-addr-pool).
ADDR_POOL=10.251.0.0/16
# The registry listens on the LAN bridge's own address, below the nodes' (.11 and up).
REGISTRY="$LAN_PREFIX.2:5000"
REGISTRY_DIR="$ROOT/registry"
REGISTRY_PID="$RUN/registry.pid"

ns() { echo "po-swarm-n$1"; }
sock() { echo "$RUN/n$1.sock"; }
addr() { echo "$LAN_PREFIX.$((10 + $1))"; }
dk() { local n=$1; shift; docker -H "unix://$(sock "$n")" "$@"; }
log() { echo "swarm.sh: $*" >&2; }

# wait_until PID SECONDS LOGFILE WHAT COMMAND...: polls COMMAND each second while PID lives, for up to
# SECONDS; on failure shows LOGFILE's last lines and exits, naming WHAT.
wait_until() {
  local pid=$1 limit=$2 logfile=$3 what=$4 waited=0
  shift 4
  until "$@"; do
    if [ "$waited" -ge "$limit" ] || ! kill -0 "$pid" 2>/dev/null; then
      log "$what did not answer within ${limit}s; last log lines:"
      tail -n 30 "$logfile" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# shellcheck source=fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/fds.sh"

need_root() {
  [ "$(id -u)" = 0 ] || { log "needs root (network namespaces and dockerd)"; exit 1; }
  command -v dockerd >/dev/null || { log "dockerd is missing; run .ci/docker.sh"; exit 1; }
  # The overlays are VXLAN between the node namespaces.
  modprobe vxlan 2>/dev/null || true
}

lan_up() {
  ip netns list | grep -qw "$LAN_NS" || ip netns add "$LAN_NS"
  ip -n "$LAN_NS" link show "$LAN_BRIDGE" >/dev/null 2>&1 || {
    ip -n "$LAN_NS" link add "$LAN_BRIDGE" type bridge
    ip -n "$LAN_NS" link set "$LAN_BRIDGE" up
    ip -n "$LAN_NS" link set lo up
  }
  ip -n "$LAN_NS" addr show dev "$LAN_BRIDGE" | grep -qw "${REGISTRY%:*}/24" ||
    ip -n "$LAN_NS" addr add "${REGISTRY%:*}/24" dev "$LAN_BRIDGE"
}

registry_field() { sed -n "s/^$1=//p" "$REGISTRY_DIR/credentials"; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# The HTTP status the registry answers, asked from the LAN namespace. With `login`, the credentials
# reach curl on stdin (a config line), never on a command line.
registry_status() {
  local path=$1 login=${2:-}
  local curl=(nsenter --net="/run/netns/$LAN_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 5)
  if [ -n "$login" ]; then
    printf 'user = "%s:%s"\n' "$(registry_field username)" "$(registry_field password)" | "${curl[@]}" -K - "http://$REGISTRY$path" || true
  else
    "${curl[@]}" "http://$REGISTRY$path" || true
  fi
}

registry_up() {
  if [ -f "$REGISTRY_PID" ] && kill -0 "$(cat "$REGISTRY_PID")" 2>/dev/null && [ "$(registry_status /v2/)" = 401 ]; then return 0; fi
  { command -v docker-registry && command -v htpasswd; } >/dev/null || { log "docker-registry or htpasswd is missing; run .ci/packages.sh"; exit 1; }
  (umask 077 && mkdir -p "$REGISTRY_DIR/data")
  if [ ! -s "$REGISTRY_DIR/credentials" ]; then
    (
      umask 077
      user="lab-$(random_hex 4)"
      password=$(random_hex 24)
      printf 'address=%s\nusername=%s\npassword=%s\n' "$REGISTRY" "$user" "$password" >"$REGISTRY_DIR/credentials"
      # bcrypt (-B): the only hash the registry's htpasswd auth accepts; -i reads the password from stdin.
      printf '%s' "$password" | htpasswd -B -i -c "$REGISTRY_DIR/htpasswd" "$user" 2>/dev/null
    )
  fi
  # The distribution registry's configuration (docs/configuration.md: storage.filesystem, http.addr, auth.htpasswd).
  (
    umask 077
    cat >"$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
http:
  addr: $REGISTRY
  secret: $(random_hex 16)
auth:
  htpasswd:
    realm: po-swarm-lab
    path: $REGISTRY_DIR/htpasswd
YAML
  )
  mkdir -p "$RUN"
  (close_inherited_fds; exec setsid nsenter --net="/run/netns/$LAN_NS" docker-registry serve "$REGISTRY_DIR/config.yml" \
    >"$REGISTRY_DIR/registry.log" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$REGISTRY_PID"
  wait_until "$pid" 30 "$REGISTRY_DIR/registry.log" "the registry on $REGISTRY" registry_wants_login
}

# The registry answers, and only with a login.
registry_wants_login() { [ "$(registry_status /v2/)" = 401 ]; }

registry_down() {
  if [ -f "$REGISTRY_PID" ]; then
    local pid; pid=$(cat "$REGISTRY_PID")
    # Only the registry this script started: its pidfile, and its command line naming our config.
    if grep -qa -- "$REGISTRY_DIR/config.yml" "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
  fi
  rm -rf "$REGISTRY_PID" "$REGISTRY_DIR"
}

node_ns_up() {
  local i=$1 n; n=$(ns "$i")
  ip netns list | grep -qw "$n" && return 0
  ip netns add "$n"
  ip link add "po-sw$i" netns "$LAN_NS" type veth peer name eth0 netns "$n"
  ip -n "$LAN_NS" link set "po-sw$i" master "$LAN_BRIDGE" up
  ip -n "$n" addr add "$(addr "$i")/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" link set lo up
}

# Whether node i's dockerd reaches the lab registry over plain HTTP (--insecure-registry).
trusts_registry() { dk "$1" info --format '{{json .RegistryConfig.IndexConfigs}}' 2>/dev/null | grep -qF "\"$REGISTRY\""; }

daemon_up() {
  local i=$1
  if dk "$i" info >/dev/null 2>&1; then
    trusts_registry "$i" || { log "node $i runs without --insecure-registry $REGISTRY (started by an older swarm.sh); run \`$0 down\` first"; exit 1; }
    return 0
  fi
  mkdir -p "$ROOT/n$i" "$RUN/n$i"
  # Its own containerd namespace and cgroup parent, so nothing it runs is mistaken for the default daemon's.
  # nsenter, not `ip netns exec`: the latter remounts /sys in a new mount namespace, which hides the
  # cgroup v1 hierarchies dockerd needs ("Devices cgroup isn't mounted"). Its own UTS namespace gives
  # each node its own hostname, which is what `docker node ls` and a task's .Node.Hostname show.
  (close_inherited_fds; exec setsid unshare --uts sh -c 'hostname "$1"; shift; exec "$@"' po-swarm-node "$(ns "$i")" \
    nsenter --net="/run/netns/$(ns "$i")" dockerd \
    --host "unix://$(sock "$i")" \
    --data-root "$ROOT/n$i/data" \
    --exec-root "$RUN/n$i" \
    --pidfile "$RUN/n$i.pid" \
    --containerd-namespace "po-swarm-n$i" \
    --containerd-plugins-namespace "po-swarm-n$i-plugins" \
    --cgroup-parent "po-swarm-n$i" \
    --label "pt.portugalodyssey.lab-node=n$i" \
    --insecure-registry "$REGISTRY" \
    >"$ROOT/n$i/dockerd.log" 2>&1 </dev/null) &
  wait_until $! "${PO_SWARM_WAIT:-60}" "$ROOT/n$i/dockerd.log" "node $i" node_answers "$i"
}

node_answers() { dk "$1" info >/dev/null 2>&1; }

swarm_up() {
  if [ "$(dk 1 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    dk 1 swarm init --advertise-addr "$(addr 1)" --listen-addr "$(addr 1):2377" --default-addr-pool "$ADDR_POOL" >/dev/null
  fi
  local token; token=$(dk 1 swarm join-token -q manager)
  for i in $(seq 2 "$NODES"); do
    [ "$(dk "$i" info --format '{{.Swarm.LocalNodeState}}')" = active ] && continue
    dk "$i" swarm join --token "$token" --advertise-addr "$(addr "$i")" --listen-addr "$(addr "$i"):2377" "$(addr 1):2377" >/dev/null
  done
  # Node labels the placement constraints use: lab-node=n<i> names each node for the tests.
  for i in $(seq 1 "$NODES"); do
    local id; id=$(dk "$i" info --format '{{.Swarm.NodeID}}')
    dk 1 node update --label-add "pt.portugalodyssey.lab-node=n$i" "$id" >/dev/null
  done
}

load_images() {
  local images=("$@")
  if [ "${#images[@]}" -eq 0 ]; then
    mapfile -t images < <(docker images --filter 'reference=po-standin' --format '{{.Repository}}:{{.Tag}}')
  fi
  [ "${#images[@]}" -gt 0 ] || { log "no image to load (build the stand-in first: test/e2e/standin/build.sh)"; return 0; }
  local tmp; tmp=$(mktemp -d)
  # One save from the shared daemon, one load per node.
  docker save -o "$tmp/images.tar" "${images[@]}"
  for i in $(seq 1 "$NODES"); do dk "$i" load -q -i "$tmp/images.tar" >/dev/null; done
  rm -rf "$tmp"
  log "loaded ${images[*]} on $NODES nodes"
}

ready_nodes() { dk 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true; }

up() {
  need_root
  lan_up
  registry_up
  for i in $(seq 1 "$NODES"); do node_ns_up "$i"; daemon_up "$i"; done
  swarm_up
  local waited=0
  until [ "$(ready_nodes)" = "$NODES" ]; do
    [ "$waited" -lt 60 ] || { log "only $(ready_nodes) of $NODES nodes ready"; exit 1; }
    sleep 1; waited=$((waited + 1))
  done
  load_images "$@"
  for i in $(seq 1 "$NODES"); do echo "node$i=unix://$(sock "$i")"; done
  echo "registry=$REGISTRY"
}

down() {
  need_root
  for i in $(seq 1 "$NODES"); do
    local pidfile="$RUN/n$i.pid"
    if [ -f "$pidfile" ]; then
      local pid; pid=$(cat "$pidfile")
      # Only the dockerd this script started: its pidfile, and its command line naming our socket.
      if grep -qa -- "$(sock "$i")" "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      fi
    fi
    # dockerd leaves its netns and overlay mounts under its roots; unmount before removing.
    grep -E " ($RUN/n$i|$ROOT/n$i)[/ ]" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    ip netns del "$(ns "$i")" 2>/dev/null || true
    rm -rf "$RUN/n$i" "$RUN/n$i.pid" "$(sock "$i")" "$ROOT/n$i"
  done
  registry_down
  ip netns del "$LAN_NS" 2>/dev/null || true
  rmdir "$RUN" "$ROOT" 2>/dev/null || true
  log "torn down"
}

status() {
  for i in $(seq 1 "$NODES"); do
    dk "$i" info >/dev/null 2>&1 || { log "node $i does not answer"; return 1; }
    trusts_registry "$i" || { log "node $i runs without --insecure-registry $REGISTRY; run \`$0 down\`, then \`$0 up\`"; return 1; }
  done
  [ "$(ready_nodes)" = "$NODES" ] || { log "$(ready_nodes) of $NODES nodes ready"; return 1; }
  [ -r "$REGISTRY_DIR/credentials" ] || { log "the registry has no credentials file ($REGISTRY_DIR/credentials)"; return 1; }
  local anonymous login
  anonymous=$(registry_status /v2/)
  [ "$anonymous" = 401 ] || { log "the registry on $REGISTRY answered an anonymous request with ${anonymous:-nothing}, not 401"; return 1; }
  login=$(registry_status /v2/ login)
  [ "$login" = 200 ] || { log "the registry on $REGISTRY answered its login with ${login:-nothing}, not 200"; return 1; }
}

case "${1:-}" in
  up) shift; up "$@" ;;
  load) shift; need_root; load_images "$@" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up [IMAGE...] | load IMAGE... | down | status" >&2; exit 2 ;;
esac
