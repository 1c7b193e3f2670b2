/**
 * The backup container of one environment: what it reaches, mounts and is
 * given. It runs the nightly backup on the host itself, so backups keep
 * happening while CI is down and need no pipeline or person (docs/backups.md).
 */
import type { StoreName, VolumeKey } from "../catalog/types";
import type { ContainerPlan, EnvVar, NetworkKey } from "./container";
import { BACKUP_TAGS, LABELS, PROJECT, names } from "./naming";
import { UNROUTED_LABELS } from "./traefik";
import type { EnvironmentSettings, ReleasePin } from "./settings";
import { credentialsIn } from "./templates";
import { durationOfSeconds } from "./read-back";

/** The backup image's name in release manifests, outputs and `npm run release --service`. */
export const BACKUP_IMAGE = "backup";

/**
 * Rendered like every other container (components/container.ts). The image is
 * built by this project's CI from backup/Dockerfile (node, restic, pg_dump,
 * redis-cli) and pinned `repository@sha256:…` in the release manifest
 * (`backup:` in releases/<stack>.yaml). It joins the stores' own networks, to
 * dump them, and its own, its only way off the host; it mounts the stores'
 * volumes read-only (it only reads what they wrote) and its staging volume
 * read-write; a local repository is a host directory bind-mounted read-write
 * at the same path. It is unhealthy when the last run failed or the last good
 * backup is older than the RPO, so `docker ps` shows it.
 */
export interface BackupPlan extends ContainerPlan {
  kind: "backup";
  name: "backup";
  release: ReleasePin;
}

/** Where the backup container sees each volume it reads. */
export const BACKUP_MOUNTS = {
  "strapi-uploads": "/mnt/strapi-uploads",
  "elasticsearch-snapshots": "/mnt/elasticsearch-snapshots",
} as const satisfies Partial<Record<VolumeKey, string>>;

/** What the scheduler writes after each run; the healthcheck reads it. */
export const BACKUP_STATUS_FILE = "status.json";

/**
 * Healthy while the newest good run is younger than the RPO (or the container
 * is, before its first run) and no run has failed since. Exec form, `node` only:
 * the image has it, the read-only root needs no shell.
 */
const healthProbe = (statusPath: string, rpoHours: number) =>
  `const s=JSON.parse(require('fs').readFileSync('${statusPath}','utf8'));` +
  `const since=Date.parse(s.lastSuccess||s.startedAt);` +
  `process.exit(Date.now()-since<${rpoHours}*3600e3&&!(Date.parse(s.lastFailure||0)>since)?0:1)`;

/** Its staging area, on a volume of its own: tmpfs would hold whole dumps in the container's memory. */
export const BACKUP_STAGING = "/var/backups/portugal-odyssey";

/**
 * Temporary files (TMPDIR) go to the staging volume, not the 16 MiB `/tmp`: restic writes each pack
 * file there before it uploads it (internal/repository/packer_manager.go, a temp file in os.TempDir(),
 * packs of 16 MiB and more), so a backup of any size filled `/tmp`.
 */
export const BACKUP_TMP = `${BACKUP_STAGING}/tmp`;

/**
 * The mount points backup/Dockerfile creates, and their owners. Docker gives a new, empty named volume
 * the owner and mode of the image's directory at its mount point, and leaves it root's 0755 when the
 * image has none (moby daemon/create_unix.go populateVolume, container_unix.go copyExistingContents):
 * - the staging volume is written by the backup's own user;
 * - the Elasticsearch snapshots volume is first mounted by the node, whose image has no such directory
 *   (Elastic's image creates config, data, logs and plugins, 1000:0, mode 0775), so it stays empty and
 *   root's until this container, created after it, mounts it: it then gets the node's owner, 1000:0,
 *   0775, and the node (1000:0) can write its repository. An existing volume that is still empty (every
 *   `PUT /_snapshot` failed on it) is fixed the same way when this container is next created.
 */
export const BACKUP_IMAGE_DIRS = [
  { path: BACKUP_STAGING, owner: "1000:1000", mode: "0750" },
  { path: BACKUP_MOUNTS["elasticsearch-snapshots"], owner: "1000:0", mode: "0775" },
] as const;

/** The plan's names for what the backup container reaches and mounts. */
export interface BackupTargets {
  alias: (store: StoreName) => string;
  networkName: (key: NetworkKey) => string;
  volumeName: (key: VolumeKey) => string;
}

/** The backup's credentials as `{credential}` templates (renderEnvs makes each a secret Output). */
const BACKUP_CREDENTIAL_ENV = {
  RESTIC_PASSWORD: "{resticPassword}",
  PGPASSWORD: "{postgresPassword}",
  REDISCLI_AUTH: "{redisPassword}",
  RABBITMQ_PASSWORD: "{rabbitmqPassword}",
} as const;
/** An s3: repository's keys, under restic's own names (the backup container's env holds nothing else). */
const BACKUP_S3_CREDENTIAL_ENV = { AWS_ACCESS_KEY_ID: "{backupAccessKeyId}", AWS_SECRET_ACCESS_KEY: "{backupSecretAccessKey}" } as const;
/** Where a failed run is posted: a secret (a webhook URL usually embeds a token) the plan cannot know is set, so the components add it. */
export const BACKUP_WEBHOOK_ENV = "PO_BACKUP_WEBHOOK";

/**
 * Every secret variable the backup container can be given: on `runtime: swarm` each arrives as
 * `<NAME>_FILE`, which backup/secret-files.ts reads back into `<NAME>` at start.
 */
export const BACKUP_SECRET_ENV: readonly string[] = [...Object.keys(BACKUP_CREDENTIAL_ENV), ...Object.keys(BACKUP_S3_CREDENTIAL_ENV), BACKUP_WEBHOOK_ENV];

const envVars = (values: Record<string, string>, secret: boolean): EnvVar[] => Object.entries(values).map(([name, value]) => ({ name, value, secret }));

export function planBackup(s: EnvironmentSettings & { backup: NonNullable<EnvironmentSettings["backup"]> }, { alias, networkName, volumeName }: BackupTargets): BackupPlan {
  const env = s.env;
  const b = s.backup;
  const repository = names.backupRepository(b.repository, env);
  const local = repository.startsWith("/") ? repository : undefined;
  const plain = {
    PO_ENV: env,
    PO_STACK: s.stack,
    RESTIC_REPOSITORY: repository,
    // restic keeps its cache under the staging volume: the root filesystem is read-only.
    RESTIC_CACHE_DIR: `${BACKUP_STAGING}/cache`,
    TMPDIR: BACKUP_TMP,
    PO_BACKUP_STAGING: BACKUP_STAGING,
    PO_BACKUP_TAG: BACKUP_TAGS.environment(env),
    PO_BACKUP_SCHEDULE: b.schedule,
    PO_BACKUP_CHECK_DAY: b.checkDay,
    PO_BACKUP_CHECK_SUBSET: b.checkSubset,
    PO_BACKUP_RETENTION: JSON.stringify(b.retention),
    PGHOST: alias("postgres"),
    PGPORT: "5432",
    PGUSER: "portugal_odyssey",
    // pg_dump and psql connect here first to list the databases; it always exists.
    PGDATABASE: "postgres",
    REDIS_HOST: alias("redis"),
    RABBITMQ_API: `http://${alias("rabbitmq")}:15672`,
    RABBITMQ_USER: "portugal_odyssey",
    ELASTICSEARCH_URL: `http://${alias("elasticsearch")}:9200`,
    ELASTICSEARCH_SNAPSHOT_REPOSITORY: names.elasticsearchSnapshotRepository(env),
    ELASTICSEARCH_SNAPSHOTS: BACKUP_MOUNTS["elasticsearch-snapshots"],
    STRAPI_UPLOADS: BACKUP_MOUNTS["strapi-uploads"],
  };
  const secrets: Record<string, string> = { ...BACKUP_CREDENTIAL_ENV, ...(b.repository.startsWith("s3:") ? BACKUP_S3_CREDENTIAL_ENV : {}) };
  return {
    kind: "backup",
    name: "backup",
    containerName: names.backupContainer(env),
    rollout: { strategy: "fixed-name", reason: "owns its staging volume and status file: two would run the same nightly backup into them at once" },
    // Pinned by digest in the release manifest, like the app images (config/ requires it with backup config).
    image: s.backupRelease!.image,
    release: s.backupRelease!,
    networks: [
      ...(["postgres", "redis", "rabbitmq", "elasticsearch"] as const).map((store) => ({ key: store, name: networkName(store) })),
      { key: "backup", name: networkName("backup") },
    ],
    volumes: [
      ...Object.entries(BACKUP_MOUNTS).map(([key, containerPath]) => ({ key: key as VolumeKey, volumeName: volumeName(key as VolumeKey), containerPath, readOnly: true })),
      { key: "backup-staging", volumeName: volumeName("backup-staging"), containerPath: BACKUP_STAGING, readOnly: false },
    ],
    hostMounts: local ? [{ hostPath: local, containerPath: local, readOnly: false }] : [],
    env: [...envVars(plain, false), ...envVars(secrets, true)],
    credentials: [...new Set(Object.values(secrets).flatMap((v) => credentialsIn(v)))],
    labels: {
      [LABELS.project]: PROJECT,
      [LABELS.environment]: env,
      [LABELS.service]: "backup",
      [LABELS.role]: "backup",
      // Never routed, whatever Traefik's exposedByDefault says.
      ...UNROUTED_LABELS,
    },
    resources: { memoryMb: b.memoryMb, cpus: 0.5 },
    // No waitTimeoutSeconds: nothing starts after it, so nothing waits for it to turn healthy.
    healthcheck: {
      tests: ["CMD", "node", "-e", healthProbe(`${BACKUP_STAGING}/${BACKUP_STATUS_FILE}`, b.rpoHours)],
      // Go's time.Duration.String() form, as the provider reads them back.
      interval: durationOfSeconds(5 * 60),
      timeout: durationOfSeconds(10),
      startPeriod: durationOfSeconds(60),
      retries: 1,
    },
    logs: { driver: "json-file", opts: { "max-size": s.logs.maxSize, "max-file": String(s.logs.maxFile) } },
    security: {
      readOnly: true,
      // The image's own unprivileged user (backup/Dockerfile); it only reads the mounted volumes.
      user: "1000:1000",
      capDrop: ["ALL"],
      capAdd: [],
      securityOpts: ["no-new-privileges:true"],
      tmpfs: { "/tmp": "rw,noexec,nosuid,size=16m" },
    },
  };
}
