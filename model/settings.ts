/**
 * What the model reads from a stack: the settings config/ validates and hands
 * over. The model states its own input here, so it never depends on how config
 * is parsed; config/validate.ts passes its parsed result to planEnvironment,
 * and the compiler checks that the schema's output fits this shape.
 */
import type { ServiceName } from "../catalog/services";
import type { StoreName, VolumeKey } from "../catalog/types";
import type { ResourceOverride } from "./resources";

/** One app service's entry in a release manifest. */
export interface ReleasePin {
  /** `repository@sha256:<64 hex>`. */
  image: string;
  /** The source commit the image was built from. */
  commit: string;
  /** The pipeline that built it. */
  pipeline: string;
}

export interface EnvironmentSettings {
  stack: string;
  /** The resolved suffix that ends every name. */
  env: string;
  /** The domain the routed services' hosts hang off. */
  domain: string;
  /** Registry and path the app images are pulled from. */
  registry: string;
  /** The stack's release manifest (releases/<stack>.yaml): every app service's image, pinned by digest. */
  release: Record<ServiceName, ReleasePin>;
  /** The backup container's image from the same manifest; present whenever `backup` is. */
  backupRelease?: ReleasePin;
  /** Releases per service the image housekeeping keeps on the host. */
  keepReleases: number;
  edge: "isolated" | "shared";
  /** Isolated mode: the subnet pinned on the edge network (required there; config/validate.ts). */
  edgeSubnet?: string;
  traefik: { network: string; container: string; entrypoint: string; certResolver: string };
  /** `command`: arguments to the image's entrypoint, instead of the catalog's. */
  services: Partial<Record<ServiceName, ResourceOverride & { command?: string[] }>>;
  stores: Partial<Record<StoreName, ResourceOverride>>;
  resources: { scale: number };
  logs: { maxSize: string; maxFile: number };
  /** `postgresDataAtVolumeRoot`, `rabbitmqHostname`: where a taken-over volume keeps its data (model/volume-layout.ts checks it). */
  data: {
    protect: boolean;
    retainOnDelete: boolean;
    volumes: Partial<Record<VolumeKey, string>>;
    postgresDataAtVolumeRoot: boolean;
    rabbitmqHostname?: string;
  };
  host: { neighbours: string[] };
  /** `docker` (containers, the default) or `swarm` (services; model/swarm.ts). */
  runtime?: "docker" | "swarm";
  /** With `runtime: swarm`: the node count and replicas (config `swarm`). */
  swarm?: { nodes?: number; replicas: number; services: Partial<Record<ServiceName, { replicas?: number }>> };
  /** The backup container's schedule, repository location and limits (docs/backups.md). */
  backup?: {
    /** Where the repositories live; this environment's is `<repository>/<suffix>`. */
    repository: string;
    retention: { daily: number; weekly: number; monthly: number };
    rpoHours: number;
    /** `HH:MM` UTC. */
    schedule: string;
    checkDay: string;
    checkSubset: string;
    memoryMb: number;
  };
}
