# Sourced by the .ci scripts that leave a long-lived process behind (dockerd, the lab swarm's daemons
# and registry). `flock` hands the lock it holds to the command it runs as an open descriptor
# (util-linux flock(1): the lock is held until every copy of that descriptor is closed), so a daemon
# started under `flock /tmp/… make test` would otherwise hold that lock for as long as it runs.

# In the subshell that execs the daemon: drop every descriptor it inherited beyond stdio.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}
