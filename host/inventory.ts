/**
 * What already exists on the Docker host, read through the Engine API. The
 * connection follows DOCKER_HOST (unix://, tcp:// or ssh://), as the docker
 * provider's does, so the program and the provider see the same daemon.
 */
import type Docker from "dockerode";
import { LABELS, PROJECT } from "../model/naming";
import type { EngineFacts } from "../model/read-back";
import { dockerClient } from "./docker";

export interface HostObject {
  name: string;
  labels: Record<string, string>;
}

export interface HostNetwork extends HostObject {
  /** Its IPAM subnets (CIDR), IPv4 and IPv6. */
  subnets?: string[];
}

export interface HostInventory {
  containers: HostObject[];
  networks: HostNetwork[];
  volumes: HostObject[];
  /** What decides how the provider's creates are read back on this engine (model/engine-fit.ts). */
  engine: EngineFacts;
}

export async function readDockerInventory(docker: Docker = dockerClient()): Promise<HostInventory> {
  const [containers, networks, volumes, engine] = await Promise.all([
    docker.listContainers({ all: true }),
    docker.listNetworks(),
    docker.listVolumes(),
    readEngineFacts(docker),
  ]);
  return {
    engine,
    containers: containers.map((c) => ({ name: c.Names[0]?.replace(/^\//, "") ?? c.Id, labels: c.Labels ?? {} })),
    networks: networks.map((n) => ({
      name: n.Name,
      labels: n.Labels ?? {},
      subnets: (n.IPAM?.Config ?? []).flatMap((c) => (c.Subnet ? [c.Subnet] : [])),
    })),
    volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
  };
}

export async function readEngineFacts(docker: Docker): Promise<EngineFacts> {
  const [version, info, jsonFileLogDefaults] = await Promise.all([docker.version(), docker.info(), probeLogDefaults(docker)]);
  return {
    apiVersion: version.ApiVersion,
    swapLimit: info.SwapLimit === true,
    // Probed whatever the daemon's default driver: its daemon.json log-opts fill a json-file container's
    // options when json-file is that default, and their dual-logging cache-* options whatever the default
    // (moby daemon/logs.go, mergeAndVerifyLogConfig, then logcache.MergeDefaultLogConfig). A syslog or
    // fluentd host with `cache-max-size` set hands it to every json-file container, and the provider reads it back.
    jsonFileLogDefaults,
  };
}

/**
 * The log options the daemon adds to a json-file container: `docker info`
 * does not show daemon.json's log-opts, so a container is created (never
 * started, no network) from an image already on the host, inspected and
 * removed. A host with no image at all has nothing of ours yet: it answers
 * none, and the no-change check after `up` names any that appear.
 */
async function probeLogDefaults(docker: Docker): Promise<Record<string, string>> {
  const [image] = await docker.listImages();
  if (!image) return {};
  const probe = await docker.createContainer({
    Image: image.Id,
    Entrypoint: ["true"],
    // Not the project label: nothing that looks for this project's containers should ever count it.
    Labels: { [`${LABELS.project}.log-defaults-probe`]: PROJECT },
    HostConfig: { NetworkMode: "none", LogConfig: { Type: "json-file", Config: {} } },
  });
  try {
    return (await probe.inspect()).HostConfig.LogConfig?.Config ?? {};
  } finally {
    await probe.remove({ force: true });
  }
}
