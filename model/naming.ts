/**
 * Every name this project puts on the Docker host is built here, and only here.
 *
 * The suffix `E` (the environment, e.g. `qual`) ends every container, network,
 * volume, network alias and Traefik object name. Two stacks with different
 * suffixes therefore can never produce the same name: that is what keeps a
 * qual container from ever joining a prod router or network.
 */
import type { ServiceName } from "../catalog/services";
import type { StoreName, VolumeKey } from "../catalog/types";

export const PROJECT = "portugal-odyssey";

/** Pulumi type tokens, `pkg:module:Type` as Pulumi component conventions want. */
export const TYPE_TOKENS = {
  environment: `${PROJECT}:platform:Environment`,
  dataStore: `${PROJECT}:platform:DataStore`,
  appService: `${PROJECT}:platform:AppService`,
  credentials: `${PROJECT}:platform:Credentials`,
  edge: `${PROJECT}:platform:Edge`,
  databases: `${PROJECT}:platform:Databases`,
  backup: `${PROJECT}:platform:Backup`,
} as const;

/**
 * Labels that identify what we create: project and environment on every
 * container, network and created volume (a taken-over volume keeps its own);
 * service, role and port on containers. Containers are found by these labels,
 * not by exact name: routed services carry a per-revision name.
 */
export const LABELS = {
  project: "pt.portugalodyssey.project",
  environment: "pt.portugalodyssey.environment",
  service: "pt.portugalodyssey.service",
  role: "pt.portugalodyssey.role",
  port: "pt.portugalodyssey.port",
  /** App services: the `sha256:…` digest the release manifest pins, so `docker ps` and `verify` show what runs. */
  imageDigest: "pt.portugalodyssey.image-digest",
  /** App services: the source commit that image was built from. */
  sourceCommit: "pt.portugalodyssey.source-commit",
} as const;

/** A suffix is a bare lowercase word: a hyphen in it could make `file-service` + `qual` collide with `file` + `service-qual`. */
export const SUFFIX_PATTERN = /^[a-z][a-z0-9]{1,15}$/;

/** Hex characters of a revision hash in a container name: enough to tell revisions apart, short enough for `docker ps`. */
const REVISION_LENGTH = 8;
/** The revision hash a revision container's name ends in (`-` and REVISION_LENGTH hex characters). */
const REVISION_SUFFIX = `-[0-9a-f]{${REVISION_LENGTH}}`;
const REVISION_NAME = new RegExp(`${REVISION_SUFFIX}$`);

export const names = {
  storeNetwork: (store: StoreName, env: string) => `po-${store}-network-${env}`,
  internalNetwork: (env: string) => `po-internal-${env}`,
  edgeNetwork: (env: string) => `po-edge-${env}`,
  volume: (volume: VolumeKey, env: string) => `${volume}-${env}`,
  /** The fixed container name; routed stateless services append a revision hash to it. */
  container: (service: ServiceName | StoreName, env: string) => `po-${service}-${env}`,
  /** `revision` is a hex digest, cut to REVISION_LENGTH characters here. */
  revisionContainer: (fixedName: string, revision: string) => `${fixedName}-${revision.slice(0, REVISION_LENGTH)}`,
  /** A test for the fixed name or any revision of it (fixed names are `[a-z0-9-]`, nothing to escape). */
  containerOf: (fixedName: string) => {
    const revision = new RegExp(`^${fixedName}${REVISION_SUFFIX}$`);
    return (name: string) => name === fixedName || revision.test(name);
  },
  /** The name is a revision container's: a fixed name with a revision hash appended (revisionContainer). */
  isRevisionContainer: (name: string) => REVISION_NAME.test(name),
  /** The DNS name other containers use, on the networks the two share. */
  alias: (service: ServiceName | StoreName, env: string) => `${service}-${env}`,
  rabbitmqVhost: (env: string) => `portugal_odyssey_${env}`,
  /**
   * The one database every service shared in the Compose deployment being replaced. Nothing
   * connects to it any more; an adopted volume still holds it (docs/databases.md).
   */
  sharedPostgresDatabase: (env: string) => `portugal_odyssey_${env}`,
  /** A service's own database. Same shape as its role's name: see serviceRole. */
  serviceDatabase: (service: ServiceName, env: string) => postgresIdentifier(service, env),
  /** The login role that owns a service's database and nothing else. */
  serviceRole: (service: ServiceName, env: string) => postgresIdentifier(service, env),
  /** The config secret (and generated credential) holding a service's database password, e.g. `bookingServiceDatabasePassword`. */
  databasePasswordCredential: (service: ServiceName) => `${camel(service)}DatabasePassword` as const,
  /** The container that runs this environment's scheduled backups. */
  backupContainer: (env: string) => `po-backup-${env}`,
  /** This environment's restic repository under the configured location: the suffix is its last path segment. */
  backupRepository: (location: string, env: string) => `${location.replace(/\/+$/, "")}/${env}`,
  /** The backup container's own network: its only route out, to the off-host repository. */
  backupNetwork: (env: string) => `po-backup-network-${env}`,
  /** Elasticsearch snapshot repository, registered on this environment's cluster only. */
  elasticsearchSnapshotRepository: (env: string) => `portugal_odyssey_${env}`,
  /**
   * The restore's temporary, read-only repository over the backup's copy of the snapshot repository, and that copy's
   * directory under path.repo: never an environment's own (suffixes have no `-`).
   */
  elasticsearchRestoreRepository: (env: string) => `portugal_odyssey_${env}_restore`,
  elasticsearchRestoreLocation: (snapshot: string) => `restore-${snapshot}`,
  /** Restore drill: an `internal` network and throwaway containers, named apart from anything live. */
  drillNetwork: (env: string) => `po-drill-network-${env}`,
  drillContainer: (store: StoreName, env: string) => `po-drill-${store}-${env}`,
  /** The drill's result file for a stack: CI keeps it as an artifact and `verify --drill-result` reads it. */
  drillResultFile: (stack: string) => `drill-${stack}.json`,
  /**
   * Routers and middlewares carry a digest of their own definition (cut to
   * REVISION_LENGTH): two revisions that define one differently then define two
   * names, where one name would be dropped by Traefik (see model/traefik.ts).
   */
  traefikRouter: (service: ServiceName, env: string, definition: string) => `${service}-${env}-${definition.slice(0, REVISION_LENGTH)}`,
  traefikMiddleware: (middleware: string, env: string, definition: string) => `${middleware}-${env}-${definition.slice(0, REVISION_LENGTH)}`,
  /** Stable across revisions, so both revisions' servers pool in one load balancer. */
  traefikService: (service: ServiceName, env: string) => `${service}-${env}`,
  /** The host a routed service answers on: the apex domain, or `<subdomain>.<domain>`. */
  publicHost: (subdomain: string | undefined, domain: string) => (subdomain ? `${subdomain}.${domain}` : domain),
};

const camel = (kebab: string) => kebab.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/**
 * `po_<service>_<env>`, hyphens made underscores: lowercase letters, digits and `_` only, so it
 * never needs quoting and reads the same in psql, pg_dump and a connection string. Unambiguous:
 * service names have no `_` and suffixes no `_` or `-`, so the last `_` separates the two. The
 * `po_` prefix keeps clear of the reserved `pg_` role prefix, of the superuser (`portugal_odyssey`)
 * and of the shared database the Compose deployment used (`portugal_odyssey_<env>`). Postgres
 * truncates identifiers beyond 63 bytes: the catalog tests hold every service to that with the
 * longest suffix config allows.
 */
const postgresIdentifier = (service: ServiceName, env: string) => `po_${service.replace(/-/g, "_")}_${env}`;

/** Pulumi logical names: children are named `${parent}-x`, as Pulumi component conventions want. */
export const childName = (parent: string, ...parts: string[]) => [parent, ...parts].join("-");

/**
 * Tags on every restic snapshot. A snapshot is written `staging` and becomes
 * `complete` only once every part is verified; restore and the drill take only
 * `complete` snapshots of their own environment.
 */
export const BACKUP_TAGS = {
  environment: (env: string) => `env=${env}`,
  staging: "staging",
  complete: "complete",
} as const;

/** Names on Docker Swarm (`runtime: swarm`, model/swarm.ts). Services, networks and aliases keep the names above. */
export const swarmNames = {
  /** Pulumi type tokens of components/swarm/; its environment keeps TYPE_TOKENS.environment, so a stack's URNs survive the move. */
  typeTokens: {
    service: `${PROJECT}:swarm:Service`,
  },
  /** On every secret and config: the env var or file it holds, so `docker secret ls` says what each is. */
  heldLabel: "pt.portugalodyssey.holds",
  /** The node label (value `true`) on the node that holds this environment's volumes; its stores and backup are pinned there. */
  storesNodeLabel: (env: string) => `pt.portugalodyssey.stores-${env}`,
  /**
   * A Docker secret (or config) of one service: its service name and a digest of the variable's
   * (or file's) name and content, so a rotated value is a new object, hence a rolling update.
   * Docker allows 64 characters (swarmkit validateConfigOrSecretAnnotations), so the variable
   * rides in a label rather than the name; the suffix's limit keeps this under it.
   */
  object: (serviceName: string, digest: string) => `${serviceName}-${digest.slice(0, 12)}`,
};
