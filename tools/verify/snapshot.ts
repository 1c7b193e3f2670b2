/**
 * One read of the Docker host: every container (running or not), network and
 * volume, reduced to what the checks look at. Checks are pure functions of a
 * snapshot, so they are tested without a daemon.
 */
import type Docker from "dockerode";

export interface ContainerView {
  id: string;
  name: string;
  /** The reference the container was created from (an image ID when Pulumi created it). */
  image: string;
  /** The ID of the image it runs. */
  imageId: string;
  /** That image's registry digests (`repository@sha256:…`): what it was pulled or pushed as. */
  repoDigests: string[];
  labels: Record<string, string>;
  /** Docker's state: running, exited, created, restarting, paused, dead. */
  state: string;
  /** healthy, unhealthy, starting; undefined without a healthcheck. */
  health?: string;
  /** Network name → the container's address and aliases on it. */
  networks: Record<string, { ip: string; aliases: string[] }>;
}

export interface HostSnapshot {
  containers: ContainerView[];
  networks: {
    id: string;
    name: string;
    internal: boolean;
    /** Its IPAM subnets (CIDR). */
    subnets: string[];
    /** Names of the containers attached to it. */
    containers: string[];
  }[];
  volumes: { name: string }[];
}

export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** What Docker answered, or `gone` when the object was removed since it was listed. */
const unlessGone = <T>(answer: Promise<T>, gone: T) =>
  answer.catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404) return gone;
    throw err;
  });

export async function takeSnapshot(docker: Docker): Promise<HostSnapshot> {
  const [listed, networkList, volumeList] = await Promise.all([
    docker.listContainers({ all: true }),
    docker.listNetworks(),
    docker.listVolumes(),
  ]);
  const found = (await mapBounded(listed, 8, (c) => unlessGone(docker.getContainer(c.Id).inspect().then((i) => [i]), []))).flat();
  const imageIds = [...new Set(found.map((c) => c.Image))];
  const digests = await mapBounded(imageIds, 8, (id) => unlessGone(docker.getImage(id).inspect().then((i) => i.RepoDigests ?? []), []));
  const repoDigestsOf = new Map(imageIds.map((id, i) => [id, digests[i]]));
  const containers: ContainerView[] = found.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ""),
    image: c.Config.Image,
    imageId: c.Image,
    repoDigests: repoDigestsOf.get(c.Image) ?? [],
    labels: c.Config.Labels ?? {},
    state: c.State.Status,
    health: c.State.Health?.Status,
    networks: Object.fromEntries(
      Object.entries(c.NetworkSettings.Networks ?? {}).map(([net, ep]) => [net, { ip: ep.IPAddress ?? "", aliases: ep.Aliases ?? [] }]),
    ),
  }));
  const networks = networkList.map((n) => ({
    id: n.Id,
    name: n.Name,
    internal: n.Internal ?? false,
    subnets: (n.IPAM?.Config ?? []).flatMap((c) => (c.Subnet ? [c.Subnet] : [])),
    containers: containers.filter((c) => n.Name in c.networks).map((c) => c.name),
  }));
  return { containers, networks, volumes: (volumeList.Volumes ?? []).map((v) => ({ name: v.Name })) };
}
