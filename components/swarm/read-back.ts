/**
 * How the Docker provider reads a swarm service back into state, and so the
 * form every input of components/swarm/ must be sent in: a value the provider
 * reads back in another form is a diff on every `preview` and an update on
 * every `up`, which on Swarm is a rolling restart of every task.
 *
 * The rules, from github:kreuzwerker/terraform-provider-docker (the provider
 * pulumi-docker bridges), internal/provider/resource_docker_service_structures.go:
 * - durations (healthcheck interval/timeout/start_period, update and rollback
 *   delay/monitor, restart delay/window, stop_grace_period) are read back
 *   through `shortDur`: Go's Duration.String() with a trailing "m0s"/"h0m"
 *   cut, so `1m` and `90s` read back as `1m` and `1m30s` (`shortDur`);
 * - a network attachment is read back as `id` = the network's ID, whatever
 *   was sent (`flattenTaskNetworksAdvanced`); the schema says to send
 *   `docker_network.id`, and a name would replace the service every run;
 * - `max_failure_ratio` is a string read back `%.1f` (`flattenServiceUpdateOrRollbackConfig`);
 * - `env` is a map, read back from `KEY=value` pairs (`mapStringSliceToMap`);
 * - a secret reference is read back with file_uid/file_gid (default "0") and
 *   file_mode (default 0o444) (`flattenServiceSecrets`), so all three are sent;
 * - the healthcheck has no start_interval (`flattenServiceHealthcheck`), so
 *   none is sent: a task's checks run at `interval` from the start;
 * - the image is read back as the daemon stores it: a reference with a digest
 *   stays as given, a tag alone is pinned to `tag@sha256:…` by the manager
 *   (moby daemon/cluster/services.go, CreateService), a diff every run; so
 *   only digests are sent.
 */

const UNITS = [
  ["h", 3600_000],
  ["m", 60_000],
  ["s", 1000],
] as const;

/**
 * The provider's read-back form of a whole number of milliseconds
 * (Go `time.Duration.String`, then `shortDur`).
 */
export function shortDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`duration ${ms} ms: expected a whole, non-negative number of milliseconds`);
  if (ms === 0) return "0s";
  // Go prints sub-second durations in ms; longer ones as h, m and fractional s.
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = "";
  for (const [unit, size] of UNITS.slice(0, 2)) {
    const n = Math.floor(rest / size);
    if (n > 0 || out) out += `${n}${unit}`;
    rest -= n * size;
  }
  const seconds = rest / 1000;
  out += `${seconds}s`;
  if (out.endsWith("m0s")) out = out.slice(0, -2);
  if (out.endsWith("h0m")) out = out.slice(0, -2);
  return out;
}

/** `10s`, `1m30s`, `500ms` → milliseconds (the subset of Go's ParseDuration this project writes). */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) throw new Error(`cannot read duration "${text}"`);
  const size: Record<string, number> = { h: 3600_000, m: 60_000, s: 1000, ms: 1 };
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * size[unit], 0);
}

/** A duration as the provider reads it back: what to send instead of `text`. */
export const readBackDuration = (text: string) => shortDuration(parseDuration(text));

/** Memory in the form the service reads back (`memory_bytes`, an integer). */
export const memoryBytes = (mib: number) => mib * 1024 * 1024;

/** CPUs as `nano_cpus` (an integer): two decimals of a core, as the container renderer rounds them. */
export const nanoCpus = (cpus: number) => Math.round(cpus * 100) * 10_000_000;

/** A tmpfs option string of the plan (`rw,noexec,nosuid,size=64m`) → `size_bytes`; Swarm's tmpfs mount takes size and mode only. */
export function tmpfsSizeBytes(options: string): number {
  const size = /(?:^|,)size=(\d+)([kmg]?)(?:,|$)/.exec(options);
  if (!size) throw new Error(`tmpfs options "${options}" name no size; a swarm tmpfs mount needs one`);
  const scale: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return Number(size[1]) * scale[size[2]];
}
