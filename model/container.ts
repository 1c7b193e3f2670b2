/**
 * What one container is, as components/container.ts renders it into a
 * docker.Container: the catalog's stores and services (model/environment.ts)
 * and the backup container (model/backup.ts) alike.
 */
import type { ServiceName } from "../catalog/services";
import type { Credential, Resources, StoreName, VolumeKey } from "../catalog/types";
import type { ReleasePin } from "./settings";

export type NetworkKey = StoreName | "internal" | "edge" | "backup";

export interface EnvVar {
  name: string;
  /** Rendered; a secret value may still hold `{credential}` placeholders. */
  value: string;
  secret: boolean;
}

export interface Healthcheck {
  tests: string[];
  interval: string;
  timeout: string;
  startPeriod: string;
  /** How often Docker checks during the start period (Docker >= 25, API 1.44); `interval` applies after it. Unset: Docker's default. */
  startInterval?: string;
  retries: number;
}

/** A file written into the container before it starts; rendered, with no credential in it. */
export interface ConfigFilePlan {
  path: string;
  content: string;
}

/**
 * `fixed-name`: one container named `po-<x>-E`, deleted before its replacement
 * is created. `revisioned`: a name unique per revision, so the replacement can
 * start, turn healthy and take traffic before the old one is removed.
 */
export type Rollout = { strategy: "fixed-name"; reason: string } | { strategy: "revisioned" };

/** One network a container joins, as the key of the resource that creates or looks it up. */
export interface NetworkAttachment {
  key: NetworkKey;
  name: string;
  /** Names it answers to there besides its own; unset sends none. */
  aliases?: string[];
}

/**
 * Everything components/container.ts renders into one docker.Container: every
 * container the stack runs, the backup container (model/backup.ts) included.
 */
export interface ContainerPlan {
  kind: "store" | "service" | "backup";
  name: ServiceName | StoreName | "backup";
  /** The fixed name, or the stem a revision hash is appended to. */
  containerName: string;
  rollout: Rollout;
  /** A store's pinned upstream tag; an app service's (or the backup's) `repository@sha256:…` from the release manifest. */
  image: string;
  /** Pulled images: the manifest entry the image comes from (digest, source commit, pipeline). */
  release?: ReleasePin;
  command?: string[];
  hostname?: string;
  networks: NetworkAttachment[];
  /** In the order the container gets them. */
  env: EnvVar[];
  credentials: Credential[];
  labels: Record<string, string>;
  healthcheck: Healthcheck;
  /**
   * How long the provider waits for healthy before it fails the create: the
   * start period, then as long as Docker takes to call it unhealthy. Longer
   * would wait on a container Docker has given up on; shorter would fail a
   * first boot Docker still grants time. Unset: created without waiting.
   */
  waitTimeoutSeconds?: number;
  /** Written before start; unset sends no upload list at all. */
  configFiles?: ConfigFilePlan[];
  resources: Resources;
  /**
   * Memory plus swap, in MiB: unset is memoryMb (no swap). -1 on a kernel
   * without swap accounting, where Docker discards a limit and reports -1.
   */
  memorySwapMb?: number;
  /** `readOnly` unset is read-write (the provider's default, false). */
  volumes: { key: VolumeKey; volumeName: string; containerPath: string; readOnly?: boolean }[];
  /** Host directories bind-mounted after the volumes. */
  hostMounts?: { hostPath: string; containerPath: string; readOnly: boolean }[];
  security: {
    readOnly: boolean;
    user?: string;
    capDrop: string[];
    capAdd: string[];
    securityOpts: string[];
    tmpfs: Record<string, string>;
  };
  logs: { driver: "json-file"; opts: Record<string, string> };
}
