/**
 * What already exists on the Docker host, read through the Engine API. The
 * connection follows DOCKER_HOST (unix://, tcp:// or ssh://), as the docker
 * provider's does, so the program and the provider see the same daemon.
 */
import { Readable } from "node:stream";
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
    // (moby daemon/logs.go, mergeAndVerifyLogConfig, then daemon/logger/loggerutils/cache/validate.go, MergeDefaultLogConfig). A syslog or
    // fluentd host with `cache-max-size` set hands it to every json-file container, and the provider reads it back.
    jsonFileLogDefaults,
  };
}

/**
 * The log options the daemon adds to a json-file container: `docker info`
 * does not show daemon.json's log-opts, so a container is created (never
 * started, no network), inspected and removed. It is created from an image
 * already on the host; a host with none yet (a new or rebuilt one) gets an
 * empty image imported for the probe and removed with it, so even its first
 * `up` sends the options the daemon will keep.
 */
async function probeLogDefaults(docker: Docker): Promise<Record<string, string>> {
  const [present] = await docker.listImages();
  const imported = present ? undefined : await importEmptyImage(docker);
  try {
    const probe = await docker.createContainer({
      Image: present?.Id ?? imported!,
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
  } finally {
    // Another preview's probe may be using the same (content-identical) image at this moment: it removes it then.
    if (imported) await docker.getImage(imported).remove().catch(() => undefined);
  }
}

/** An image of no files (an empty tar archive, Engine API POST /images/create?fromSrc=-); its ID. */
async function importEmptyImage(docker: Docker): Promise<string> {
  const events: { status?: string; error?: string }[] = await new Promise((resolve, reject) => {
    void docker
      .importImage(Readable.from([Buffer.alloc(1024)]), {})
      .then((stream) => docker.modem.followProgress(stream, (err: Error | null, out: { status?: string; error?: string }[]) => (err ? reject(err) : resolve(out))), reject);
  });
  const failed = events.find((e) => e.error);
  const id = events.map((e) => e.status ?? "").find((status) => /^sha256:[0-9a-f]{64}$/.test(status));
  if (failed || !id) throw new Error(`importing an empty image for the log-defaults probe failed: ${failed?.error ?? JSON.stringify(events)}`);
  return id;
}
