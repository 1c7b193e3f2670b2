/**
 * The vocabulary of the service catalog. The catalog is plain data: components
 * render it, tests and `verify` read it, and nothing in it knows about Pulumi.
 */
import type { MiddlewareName } from "./middlewares";

export const STORE_NAMES = ["postgres", "redis", "rabbitmq", "elasticsearch"] as const;
export type StoreName = (typeof STORE_NAMES)[number];

export const VOLUME_KEYS = ["strapi-uploads", "postgres-data", "redis-data", "rabbitmq-data", "elasticsearch-data", "elasticsearch-snapshots", "backup-staging"] as const;
export type VolumeKey = (typeof VOLUME_KEYS)[number];

/**
 * Credentials the program generates with @pulumi/random unless the stack sets a
 * config secret of the same name (an existing volume keeps the password it was
 * initialised with, so adopting one means supplying its password).
 */
export const GENERATED_CREDENTIALS = [
  "postgresPassword",
  "rabbitmqPassword",
  "redisPassword",
  "keycloakAdminPassword",
  "strapiAppKeys",
  "strapiApiTokenSalt",
  "strapiAdminJwtSecret",
  "strapiTransferTokenSalt",
  "strapiJwtSecret",
  "jwtSigningKey",
  "jwtRefreshSigningKey",
] as const;
export type GeneratedCredential = (typeof GENERATED_CREDENTIALS)[number];

/** Credentials issued by third parties: the stack must set them as config secrets. */
export const EXTERNAL_SECRETS = ["paymentProviderKey", "paymentWebhookSecret", "smtpPassword"] as const;

/**
 * The backup container's secrets, set as config secrets, never generated: the
 * restic repository's password (losing it loses every backup, so keep a copy
 * outside the stack), the object store's keys of an `s3:` repository, and the
 * URL a failure is posted to (webhook URLs usually embed a token). config/
 * requires the first three when the stack configures backups.
 */
export const BACKUP_SECRETS = ["resticPassword", "backupAccessKeyId", "backupSecretAccessKey", "backupWebhookUrl"] as const;
export type BackupSecret = (typeof BACKUP_SECRETS)[number];
export type ExternalSecret = (typeof EXTERNAL_SECRETS)[number];

/**
 * Each PostgreSQL user's own database password (`<service>DatabasePassword`, built by
 * names.databasePasswordCredential): generated like the others, or set as a config secret of
 * that name. The list follows from the catalog: every service whose `stores` has postgres.
 */
export type DatabaseCredential = `${string}DatabasePassword`;

export type Credential = GeneratedCredential | ExternalSecret | DatabaseCredential | BackupSecret;

/**
 * An env var value, as a template. Placeholders: `{env}` (the suffix),
 * `{alias:<service or store>}` (its DNS name), `{vhost}` (the environment's
 * RabbitMQ vhost), `{publicUrl}` (a routed service's own https URL) and
 * `{heapMb}` (half the memory limit). A service's own PostgreSQL login:
 * `{serviceDatabase}`, `{serviceRole}` and `{postgresPool}` (its catalog pool
 * size); the postgres store's command may use `{maxConnections}`.
 * A `secret` template may also name credentials, `{postgresPassword}`, and
 * `{databasePassword}` stands for the service's own database password; its
 * rendered value is always a secret Output. Which credentials a container
 * needs is read off its templates, so there is no second list to keep in step.
 */
export type EnvValue = string | { secret: string };

export interface Resources {
  /** Hard memory limit, MiB. */
  memoryMb: number;
  /** CPU quota, in cores (may be fractional). */
  cpus: number;
  /**
   * The least memory the software runs in, MiB, whatever the vendor's sizing
   * says: `resources.scale` never takes the limit below it, and config refuses
   * a `memoryMb` below it. Without swap, a container under it is OOM-killed.
   */
  minMemoryMb?: number;
}

/** How the container proves it is healthy; rendered into a Docker healthcheck. */
export type HealthProbe = (
  /** An HTTP GET made by the image's own `node`: a Node.js image always has it, but not always wget or curl (Debian slim and distroless have neither). */
  | { kind: "node-http"; path: string; port?: number }
  | { kind: "command"; test: string[] }
) & {
  /**
   * Grace before failed checks count, in seconds; slow starters (JVMs, stores,
   * a first boot that migrates a schema) need more than the default. The
   * provider's wait for healthy is derived from it, so the two always agree.
   */
  startPeriodSeconds?: number;
};

/**
 * Deviations from the default hardening (read-only root, non-root user,
 * all capabilities dropped). Each one must say why: docs/catalog.md lists them.
 */
export interface HardeningExceptions {
  /** The image's entrypoint starts as root and drops to its own user. */
  runsAsRoot?: { reason: string; capAdd: string[] };
  /** The software writes outside its volume and tmpfs mounts. */
  writableRoot?: { reason: string };
  /** The user's primary group is 0 (the root group, without root's privileges): the image's files are group-owned by root. */
  rootGroup?: { reason: string };
}

export interface VolumeMount {
  volume: VolumeKey;
  path: string;
}

/** A file the program writes into the container before it starts (the docker provider's `uploads`). */
export interface ConfigFile {
  path: string;
  /** A template: `{memoryPercent:N}` is N% of the container's memory limit, in whole MiB. */
  content: string;
}

interface WorkloadSpec {
  port: number;
  /**
   * Arguments to the image's ENTRYPOINT (Docker's Cmd): when the image has no
   * CMD, or the wrong one. A service's can be overridden per stack.
   */
  command?: string[];
  /** Config files the software reads at boot; needs a writable root (uploads are refused on a read-only one). */
  configFiles?: ConfigFile[];
  health: HealthProbe;
  resources: Resources;
  env: Record<string, EnvValue>;
  volumes: VolumeMount[];
  /** Paths mounted as tmpfs when the root filesystem is read-only. */
  scratch: string[];
  user?: string;
  hardening: HardeningExceptions;
}

export interface StoreSpec extends WorkloadSpec {
  name: StoreName;
  /** Pinned upstream image, never `latest`. */
  image: string;
  /** Software that keys its data on the hostname (RabbitMQ's node name) needs a stable one. */
  stableHostname?: boolean;
  /** Env every client of the store receives: how the applications find and log in to it (the variables they already read under Compose). */
  clientEnv: Record<string, EnvValue>;
}

export interface PublicRoute {
  /** `undefined` serves the apex domain. */
  subdomain?: string;
  /** Middlewares (catalog/middlewares.ts) this environment defines for the router, in the order requests pass them. */
  middlewares: MiddlewareName[];
}

/**
 * One application service. `Name` is the catalog's own key type: the service
 * names are the keys of the table in services.ts, so a new service is one entry
 * there, and this file needs no list of them.
 */
export interface ServiceSpec<Name extends string = string> extends WorkloadSpec {
  name: Name;
  /** Repository in the app registry; defaults to the service name. */
  repository?: string;
  /**
   * The GitLab project (its path) whose pipeline builds and pushes this service's image. Only a
   * release request from that project may pin the service (tools/release/request.ts, docs/releases.md).
   */
  builtBy: string;
  /** Prefix of the `<PREFIX>_URL` env var peers use to reach this service. */
  urlVar: string;
  stores: StoreName[];
  /**
   * The most connections this service's PostgreSQL pool opens, for a service whose `stores` has
   * postgres (model/databases.ts's DEFAULT_POSTGRES_POOL when unset). It is the service's
   * `DATABASE_POOL_MAX`, its role's connection limit, and Postgres's max_connections is sized to
   * the sum of them.
   */
  postgresPool?: number;
  peers: Name[];
  route?: PublicRoute;
  /**
   * Why this service must not run two revisions side by side, if it must not.
   * Routed services without it roll out create-before-delete with zero downtime.
   */
  singleton?: string;
}
