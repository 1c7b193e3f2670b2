/**
 * How the Docker provider reads a swarm service back into state, and so the
 * form every input of components/swarm/ must be sent in: a value the provider
 * reads back in another form is a diff on every `preview` and an update on
 * every `up`, which on Swarm is a rolling restart of every task. The rules
 * themselves, field by field with their sources, are model/read-back.ts'
 * READ_BACK_RULES (services, overlays, secrets, configs); the test that runs
 * every registered swarm resource through them is
 * test/components/swarm/read-back.test.ts.
 *
 * What that means for the program, from github:kreuzwerker/terraform-provider-docker
 * (the provider pulumi-docker bridges), internal/provider/resource_docker_service_structures.go:
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
 * - the image is read back as the manager stores it: the moby client the
 *   provider links writes it in its familiar form and, since the provider's
 *   create queries the registry, pins a tag to `tag@sha256:…`
 *   (client/service_create.go, ServiceCreate), a diff every run; so only
 *   digests are sent, in familiar form (no `docker.io/library/`);
 * - the same registry query writes the image's platforms into the placement
 *   (resolveContainerSpecImage), read back into `placement.platforms`: the one
 *   input the program cannot send as it reads back, since only the registry
 *   knows it. Every service ignores changes to it (service.ts), so the
 *   platforms stay those the service was created with;
 * - the edge overlay's gateway is sent: the swarm allocator stores the subnet's
 *   first address otherwise, and `ipam_config` is ForceNew (environment.ts);
 *   an overlay's `options` are not: the overlay driver adds its
 *   `com.docker.network.driver.overlay.vxlanid_list`, which the provider
 *   reads back (resourceDockerNetworkReadRefreshFunc) into a Computed field
 *   that only differs when some options are sent.
 * Not read back at all, so never a diff: `auth`, `converge_config`, a secret's
 * `data` and `labels` (resource_docker_secret.go resourceDockerSecretRead).
 */

import { parseGoDuration, shortDur } from "../../model/read-back";

export { shortDur };

const NS_PER_MS = 1_000_000n;

/** The provider's read-back form of a whole number of milliseconds. */
export function shortDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`duration ${ms} ms: expected a whole, non-negative number of milliseconds`);
  return shortDur(BigInt(ms) * NS_PER_MS);
}

/** A Go duration (`10s`, `1m30s`, `500ms`) in nanoseconds, refused with the text it could not read. */
export function parseDurationNs(text: string): bigint {
  try {
    return parseGoDuration(text);
  } catch (e) {
    throw new Error(`cannot read duration "${text}": ${(e as Error).message}`, { cause: e });
  }
}

/** A Go duration in milliseconds. */
export const parseDuration = (text: string): number => Number(parseDurationNs(text)) / 1e6;

/** A duration as the provider reads it back: what to send instead of `text`. */
export const readBackDuration = (text: string) => shortDur(parseDurationNs(text));

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
