/**
 * What already exists on the Docker host, read through the Engine API. The
 * connection follows DOCKER_HOST (unix://, tcp:// or ssh://), as the docker
 * provider's does, so the program and the provider see the same daemon.
 */
import type Docker from "dockerode";
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
}

export async function readDockerInventory(docker: Docker = dockerClient()): Promise<HostInventory> {
  const [containers, networks, volumes] = await Promise.all([
    docker.listContainers({ all: true }),
    docker.listNetworks(),
    docker.listVolumes(),
  ]);
  return {
    containers: containers.map((c) => ({ name: c.Names[0]?.replace(/^\//, "") ?? c.Id, labels: c.Labels ?? {} })),
    networks: networks.map((n) => ({
      name: n.Name,
      labels: n.Labels ?? {},
      subnets: (n.IPAM?.Config ?? []).flatMap((c) => (c.Subnet ? [c.Subnet] : [])),
    })),
    volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
  };
}
