/**
 * One backup run: every part staged under a temporary directory, described in
 * a manifest, sent to restic as a `staging` snapshot, read back, and only then
 * tagged `complete`. Any failure on the way leaves no complete snapshot: the
 * previous one stays the latest, and the drill and restore never see the
 * partial one.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BACKUP_TAGS } from "../model/naming";
import { repositoryEnvironments } from "../config/validate";
import { backupElasticsearch, fetchApi, pruneLiveSnapshots, type ElasticsearchConnection, type ElasticsearchManifest } from "./elasticsearch";
import { backupRabbitmq, type RabbitmqConnection, type RabbitmqManifest } from "./rabbitmq";
import { backupRedis, type RedisConnection, type RedisManifest } from "./redis";
import { Restic, type ResticRepository } from "./restic";
import { dumpDatabase, dumpGlobals, listDatabases, serverVersion, toolVersion, type DatabaseManifest, type PostgresConnection } from "./postgres";
import type { Retention } from "./retention";
import { sha256File } from "./hash";
import { backupUploads, type UploadsManifest } from "./uploads";

export const MANIFEST_FILE = "manifest.json";

/** Each run stages under `<stagingRoot>/run-XXXXXX`. */
const RUN_PREFIX = "run-";

export interface Manifest {
  env: string;
  startedAt: string;
  finishedAt: string;
  tools: Record<string, string>;
  servers: Record<string, string>;
  /** SHA-256 and size of every staged file, by path in the snapshot. */
  files: Record<string, { sha256: string; bytes: number }>;
  postgres: { globals: string; databases: DatabaseManifest[] };
  redis?: RedisManifest;
  rabbitmq?: RabbitmqManifest;
  elasticsearch?: ElasticsearchManifest & { path: string };
  uploads?: UploadsManifest;
}

export interface BackupJob {
  env: string;
  restic: ResticRepository;
  retention: Retention;
  /** Parent of the temporary staging directory. */
  stagingRoot: string;
  postgres: PostgresConnection;
  redis?: RedisConnection;
  rabbitmq?: RabbitmqConnection;
  elasticsearch?: ElasticsearchConnection & { snapshotsDir: string };
  uploadsDir?: string;
  /** Backdates the snapshot (restic --time): how the tests simulate months of nightly runs. */
  time?: Date;
  /** Between staging and tagging: the tests use it to stand in for what a broken dump would look like. */
  beforeUpload?: (stageDir: string, manifest: Manifest) => Promise<void>;
}

export class RefusedError extends Error {}

/**
 * A job works on its own environment's repository only: the location must name
 * the environment, and no snapshot in it may belong to another one.
 */
export async function assertOwnRepository(env: string, restic: Restic, repository: string, knownEnvironments: string[] = []): Promise<void> {
  const named = repositoryEnvironments(repository, [env, ...knownEnvironments, "qual", "prod"]);
  if (!named.includes(env) || named.some((e) => e !== env)) {
    throw new RefusedError(`refusing: repository "${repository}" is not environment ${env}'s (its path names ${named.length ? named.join(", ") : "no environment"})`);
  }
  const foreign = (await restic.allSnapshots()).flatMap((s) => s.tags ?? []).filter((t) => t.startsWith("env=") && t !== BACKUP_TAGS.environment(env));
  if (foreign.length > 0) throw new RefusedError(`refusing: repository "${repository}" holds snapshots of ${[...new Set(foreign)].join(", ")}, not only ${env}`);
}

export { sha256File };

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

export async function runBackup(job: BackupJob): Promise<{ snapshotId: string; manifest: Manifest }> {
  const restic = new Restic(job.restic);
  await restic.ensureInitialised();
  await assertOwnRepository(job.env, restic, job.restic.repository);
  // A run killed mid-way (SIGKILL, out of memory, a redeploy) leaves its lock, which blocks every later
  // `tag` and `forget --prune`, and its staging directory: both go before this run starts.
  await restic.unlock();
  await mkdir(job.stagingRoot, { recursive: true });
  for (const left of await readdir(job.stagingRoot)) {
    if (left.startsWith(RUN_PREFIX)) await rm(join(job.stagingRoot, left), { recursive: true, force: true });
  }
  // A name of its own per run: a crashed run's leftovers are never mistaken for this one's.
  const stage = await mkdtemp(join(job.stagingRoot, RUN_PREFIX));
  try {
    const startedAt = new Date().toISOString();
    await mkdir(join(stage, "postgres"));
    const databases: DatabaseManifest[] = [];
    for (const database of await listDatabases(job.postgres)) databases.push(await dumpDatabase(job.postgres, database, stage));
    const manifest: Manifest = {
      env: job.env,
      startedAt,
      finishedAt: "",
      tools: { pg_dump: await toolVersion("pg_dump"), restic: await restic.version() },
      servers: { postgres: await serverVersion(job.postgres) },
      files: {},
      postgres: { globals: await dumpGlobals(job.postgres, stage), databases },
    };
    if (job.redis) {
      manifest.redis = await backupRedis(job.redis, stage);
      manifest.servers.redis = manifest.redis.serverVersion;
    }
    if (job.rabbitmq) {
      manifest.rabbitmq = await backupRabbitmq(job.rabbitmq, stage);
      manifest.servers.rabbitmq = manifest.rabbitmq.serverVersion;
    }
    if (job.elasticsearch) {
      const name = `${job.env}-${startedAt.replace(/[:.]/g, "-").toLowerCase()}`;
      manifest.elasticsearch = { ...(await backupElasticsearch(job.elasticsearch, name)), path: job.elasticsearch.snapshotsDir };
      manifest.servers.elasticsearch = manifest.elasticsearch.serverVersion;
    }
    // Last before restic reads the volume: the shorter the gap, the less an upload made meanwhile can differ from the listing.
    if (job.uploadsDir) manifest.uploads = await backupUploads(job.uploadsDir, stage);
    for (const file of await walk(stage)) {
      const rel = file.slice(stage.length + 1);
      manifest.files[rel] = { sha256: await sha256File(file), bytes: (await stat(file)).size };
    }
    for (const db of databases) {
      if (!manifest.files[db.file]?.bytes) throw new Error(`pg_dump wrote an empty file for database ${db.database}`);
    }
    if (job.beforeUpload) await job.beforeUpload(stage, manifest);
    manifest.finishedAt = new Date().toISOString();
    await writeFile(join(stage, MANIFEST_FILE), JSON.stringify(manifest, null, 2));

    const extra = [job.uploadsDir, job.elasticsearch?.snapshotsDir].filter((p): p is string => Boolean(p));
    const staged = await restic.backupStaging(stage, job.env, job.time, extra);
    await verifyStaged(restic, staged, stage, manifest);
    const snapshotId = await restic.markComplete(staged, job.env);
    await restic.forgetStaging(job.env);
    await restic.forget(job.env, job.retention);
    if (job.elasticsearch) {
      // Only now: tonight's Elasticsearch snapshot is safe in restic before older ones leave the live repository.
      const { url, repository } = job.elasticsearch;
      await pruneLiveSnapshots(fetchApi(url), repository).catch((e: Error) => {
        throw new Error(`backup ${snapshotId.slice(0, 8)} is complete, but deleting old snapshots from Elasticsearch repository ${repository} failed: ${e.message}`);
      });
    }
    return { snapshotId, manifest };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Reads the staged snapshot back: every file the manifest lists is in it, and the manifest itself is intact. */
async function verifyStaged(restic: Restic, id: string, stage: string, manifest: Manifest): Promise<void> {
  const present = new Set(await restic.listFiles(id));
  const missing = [MANIFEST_FILE, ...Object.keys(manifest.files)].filter((f) => !present.has(f));
  if (missing.length > 0) throw new Error(`snapshot ${id.slice(0, 8)} lacks ${missing.join(", ")}`);
  const copy = join(stage, ".manifest-readback");
  await restic.dumpFile(id, `/${MANIFEST_FILE}`, copy);
  if ((await readFile(copy, "utf8")) !== (await readFile(join(stage, MANIFEST_FILE), "utf8"))) {
    throw new Error(`snapshot ${id.slice(0, 8)}: the manifest read back differs from the one written`);
  }
}
