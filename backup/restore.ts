/**
 * Restores a complete snapshot into the running environment: PostgreSQL
 * databases through `docker exec` into the environment's own postgres
 * container (pg_restore --clean, the dump streamed on stdin), roles first;
 * Redis's RDB, RabbitMQ's definitions, Elasticsearch's indices and Strapi's
 * uploads through `RestoreStores` (docker-restore.ts on the host, local
 * servers and directories in the tests).
 * It says what it will overwrite and asks before it touches anything.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { SERVICE_NAMES, type ServiceName } from "../catalog/services";
import { STORES } from "../catalog/stores";
import { BACKUP_TAGS, names } from "../model/naming";
import { execIn } from "../host/exec";
import { compareDocCounts, type ElasticsearchManifest } from "./elasticsearch";
import { MANIFEST_FILE, type Manifest } from "./job";
import { globalsForRunningServer, LIST_ROLES_SQL } from "./postgres";
import { Restic, type ResticRepository, type ResticSnapshot } from "./restic";

export class RestoreRefused extends Error {}

/** `latest` or an id (full or short) of a complete snapshot of this environment; anything else is refused. */
export async function pickSnapshot(restic: Restic, env: string, wanted: string): Promise<ResticSnapshot> {
  const complete = await restic.snapshots(env, BACKUP_TAGS.complete);
  if (complete.length === 0) throw new RestoreRefused(`no complete backup of ${env} in the repository`);
  if (wanted === "latest") return complete[complete.length - 1];
  const found = complete.find((s) => s.id.startsWith(wanted));
  if (!found) throw new RestoreRefused(`snapshot ${wanted} is not a complete backup of ${env}; complete ones: ${complete.map((s) => `${s.short_id} (${s.time.slice(0, 16)})`).join(", ")}`);
  return found;
}

/** What `--only` selects: `postgres:<service or database>` or one store part; none given: every part the snapshot holds. */
export interface RestoreParts {
  databases: string[];
  redis: boolean;
  rabbitmq: boolean;
  elasticsearch: boolean;
  uploads: boolean;
}

const STORE_PARTS = ["redis", "rabbitmq", "elasticsearch", "uploads"] as const;
type StorePart = (typeof STORE_PARTS)[number];

const storeParts = (chosen: (p: StorePart) => boolean) => ({ redis: chosen("redis"), rabbitmq: chosen("rabbitmq"), elasticsearch: chosen("elasticsearch"), uploads: chosen("uploads") });

export function partsToRestore(manifest: Manifest, env: string, only?: string): RestoreParts {
  const part = STORE_PARTS.find((p) => p === only);
  if (part) {
    if (!manifest[part]) throw new RestoreRefused(`the snapshot holds no ${part} backup`);
    return { databases: [], ...storeParts((p) => p === part) };
  }
  if (only !== undefined && !only.startsWith("postgres:")) throw new RestoreRefused(`--only expects postgres:<service or database>, ${STORE_PARTS.join(", ")}, got ${only}`);
  return { databases: databasesToRestore(manifest, env, only), ...storeParts((p) => !only && Boolean(manifest[p])) };
}

/** Puts restored parts into the running environment's stores and volumes. */
export interface RestoreStores {
  redis(rdbFile: string): Promise<void>;
  rabbitmq(definitionsFile: string): Promise<void>;
  /** Whether the live cluster's own repository still holds the manifest's snapshot. */
  elasticsearchHasSnapshot(manifest: ElasticsearchManifest): Promise<boolean>;
  /**
   * Restores the snapshot's indices in the live cluster: from its own repository, or, given `repositoryCopy` (the
   * restored directory of the repository), from that copy (elasticsearch.ts, restoreFromCopy). Returns the documents
   * per index found after.
   */
  elasticsearch(manifest: ElasticsearchManifest, repositoryCopy: string | undefined, log: (line: string) => void): Promise<Record<string, number>>;
  /** Replaces the uploads volume's content with the restored directory's. */
  uploads(restoredDir: string): Promise<void>;
}

/** `postgres:<service>` or `postgres:<database>` → the databases to restore; none given: all of them. */
export function databasesToRestore(manifest: Manifest, env: string, only?: string): string[] {
  const all = manifest.postgres.databases.map((d) => d.database);
  if (!only) return all;
  const [part, name] = only.split(":", 2);
  if (part !== "postgres" || !name) throw new RestoreRefused(`--only expects postgres:<service or database>, got ${only}`);
  const database = (SERVICE_NAMES as readonly string[]).includes(name) ? names.serviceDatabase(name as ServiceName, env) : name;
  if (!all.includes(database)) throw new RestoreRefused(`the snapshot has no database ${database}; it has: ${all.join(", ")}`);
  return [database];
}

export interface RestorePlan {
  env: string;
  snapshot: ResticSnapshot;
  databases: string[];
  container: string;
  /** What will be overwritten, in words, before anything is. */
  summary: string[];
  redis?: boolean;
  rabbitmq?: boolean;
  elasticsearch?: boolean;
  uploads?: boolean;
}

const ES_PATH_REPO = String(STORES.elasticsearch.env["path.repo"]);

/** Where the Elasticsearch restore reads the snapshot: the live repository, or the backup's copy of it, in words. */
function elasticsearchSource(env: string, es: ElasticsearchManifest, fromCopy: boolean): string {
  const live = es.repository ?? names.elasticsearchSnapshotRepository(env);
  const volume = names.volume("elasticsearch-snapshots", env);
  if (!fromCopy) return `  Read from the live cluster's repository ${live} (${ES_PATH_REPO}/${es.location ?? env} on the volume ${volume}).`;
  return `  Snapshot ${es.snapshot} is NOT in the live cluster's repository ${live}: the backup's copy of that repository is put in ${ES_PATH_REPO}/${names.elasticsearchRestoreLocation(es.snapshot)} on the volume ${volume}, registered read-only as ${names.elasticsearchRestoreRepository(env)}, read, then unregistered and removed; the live repository is not written.`;
}

/** The plan's words for the Redis, RabbitMQ, Elasticsearch and uploads parts; `esFromCopy`: the snapshot is read from the backup's copy of its repository. */
export function describeStores(plan: RestorePlan, manifest: Manifest, parts: RestoreParts, esFromCopy = false): RestorePlan {
  const lines: string[] = [];
  if (parts.redis) {
    lines.push(
      `Redis ${names.container("redis", plan.env)} is STOPPED, its data (volume ${names.volume("redis-data", plan.env)}) REPLACED by the backup's RDB (${manifest.redis!.keys} keys), and started again: keys written since the backup are lost.`,
    );
  }
  if (parts.rabbitmq) {
    const c = manifest.rabbitmq!.counts;
    lines.push(`RabbitMQ ${names.container("rabbitmq", plan.env)}: the backup's definitions are imported (${c.users} users, ${c.vhosts} vhosts, ${c.queues} queues, ${c.bindings} bindings); existing ones are updated, none deleted, messages untouched.`);
  }
  if (parts.elasticsearch) {
    const es = manifest.elasticsearch!;
    const indices = Object.entries(es.indices);
    lines.push(
      `Elasticsearch ${names.container("elasticsearch", plan.env)}: these indices are CLOSED and OVERWRITTEN from snapshot ${es.snapshot} (documents indexed since the backup are lost; other indices are untouched):`,
      ...indices.map(([index, n]) => `  - ${index}: ${n} documents in the backup`),
      elasticsearchSource(plan.env, es, esFromCopy),
    );
  }
  if (parts.uploads) {
    const u = manifest.uploads!;
    lines.push(
      `Strapi uploads: ${names.container("strapi-cms", plan.env)} is STOPPED, the volume ${names.volume("strapi-uploads", plan.env)} is EMPTIED and refilled with the backup's ${u.files} files (${u.bytes} bytes), and ${names.container("strapi-cms", plan.env)} is started again if it was running: files uploaded since the backup are lost.`,
    );
  }
  // Without databases, only the first line (which snapshot, which environment) of the PostgreSQL plan applies.
  const summary = parts.databases.length > 0 ? [...plan.summary, ...lines] : [plan.summary[0], ...lines];
  return { ...plan, summary, redis: parts.redis, rabbitmq: parts.rabbitmq, elasticsearch: parts.elasticsearch, uploads: parts.uploads };
}

export function describeRestore(env: string, snapshot: ResticSnapshot, manifest: Manifest, databases: string[]): RestorePlan {
  const container = names.container("postgres", env);
  const summary = [
    `Restore snapshot ${snapshot.short_id} of ${env} (taken ${snapshot.time}) into the RUNNING environment ${env}.`,
    `The roles are re-applied from the backup, and in container ${container} these databases are OVERWRITTEN (every object dropped and recreated from the backup):`,
    ...databases.map((db) => {
      const m = manifest.postgres.databases.find((d) => d.database === db)!;
      return `  - ${db}: ${m.tables.length} tables, ${m.tables.reduce((n, t) => n + t.rows, 0)} rows in the backup`;
    }),
    "Writes made since the backup are lost in these databases.",
  ];
  return { env, snapshot, databases, container, summary };
}

/**
 * Undefined while the live repository holds the snapshot; otherwise the restored directory of the repository (restic
 * keeps the volume's path, and the repository is its `location` in it), which must then be there.
 */
async function elasticsearchCopy(stores: RestoreStores, manifest: Manifest, dir: string, env: string): Promise<string | undefined> {
  const es = manifest.elasticsearch!;
  if (await stores.elasticsearchHasSnapshot(es)) return undefined;
  const copy = join(dir, es.path, es.location ?? env);
  if (!(await stat(copy).then((s) => s.isDirectory(), () => false))) {
    throw new RestoreRefused(`Elasticsearch snapshot ${es.snapshot} is neither in the live cluster's repository nor in this backup (no ${join(es.path, es.location ?? env)})`);
  }
  return copy;
}

/** Fetches the snapshot, then restores roles and each planned database into the live container. */
export async function restore(opts: {
  docker: Docker;
  repo: ResticRepository;
  env: string;
  snapshot: string;
  only?: string;
  confirm: (plan: RestorePlan) => Promise<boolean>;
  log: (line: string) => void;
  /** Needed when the restore includes Redis, RabbitMQ, Elasticsearch or the uploads. */
  stores?: RestoreStores;
  /**
   * Runs psql / pg_restore (argv, with a file on stdin) beside the live PostgreSQL as its superuser; by
   * default `docker exec` into the environment's postgres container. The tests pass a local server's.
   */
  postgres?: (argv: string[], stdinFile?: string) => Promise<string>;
}): Promise<void> {
  const restic = new Restic(opts.repo);
  const snapshot = await pickSnapshot(restic, opts.env, opts.snapshot);
  const dir = await mkdtemp(join(tmpdir(), "po-restore-"));
  try {
    await restic.restore(snapshot.id, dir);
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as Manifest;
    if (manifest.env !== opts.env) throw new RestoreRefused(`snapshot ${snapshot.short_id} holds environment ${manifest.env}'s data, not ${opts.env}'s`);
    const parts = partsToRestore(manifest, opts.env, opts.only);
    if (STORE_PARTS.some((p) => parts[p]) && !opts.stores) throw new RestoreRefused("this restore cannot reach the environment's stores and volumes");
    const esCopy = parts.elasticsearch ? await elasticsearchCopy(opts.stores!, manifest, dir, opts.env) : undefined;
    const plan = describeStores(describeRestore(opts.env, snapshot, manifest, parts.databases), manifest, parts, esCopy !== undefined);
    if (!(await opts.confirm(plan))) throw new RestoreRefused("not confirmed; nothing was changed");
    if (parts.rabbitmq) {
      opts.log("importing the RabbitMQ definitions ...");
      await opts.stores!.rabbitmq(join(dir, manifest.rabbitmq!.file));
      opts.log("imported the RabbitMQ definitions");
    }
    if (parts.redis) {
      opts.log("restoring Redis ...");
      await opts.stores!.redis(join(dir, manifest.redis!.file));
      opts.log("restored Redis");
    }
    if (plan.databases.length > 0) {
      const postgres = opts.postgres ?? ((argv: string[], stdinFile?: string) => execIn(opts.docker, plan.container, argv, { stdinFile }).then((r) => r.output));
      const psql = ["psql", "-X", "-q", "-U", "portugal_odyssey", "-d", "postgres"];
      // Existing roles keep their current passwords (postgres.ts, globalsForRunningServer): the services hold those.
      const roles = (await postgres([...psql, "-At", "-c", LIST_ROLES_SQL])).split("\n").map((r) => r.trim()).filter(Boolean);
      const globals = join(dir, "globals-for-running-server.sql");
      await writeFile(globals, globalsForRunningServer(await readFile(join(dir, manifest.postgres.globals), "utf8"), roles));
      await postgres([...psql, "-f", "-"], globals).catch((e: Error) => opts.log(`roles: ${e.message}`));
      for (const db of plan.databases) {
        const file = manifest.postgres.databases.find((d) => d.database === db)!.file;
        opts.log(`restoring ${db} ...`);
        await postgres(["pg_restore", "-U", "portugal_odyssey", "--clean", "--if-exists", "--exit-on-error", "--dbname", db], join(dir, file));
        opts.log(`restored ${db}`);
      }
    }
    if (parts.elasticsearch) {
      opts.log("restoring the Elasticsearch indices ...");
      const counts = await opts.stores!.elasticsearch(manifest.elasticsearch!, esCopy, opts.log);
      const off = compareDocCounts(manifest.elasticsearch!, counts);
      for (const p of off) opts.log(`WARNING ${p}`);
      opts.log(`restored the Elasticsearch indices${off.length ? ", with the differences above" : "; every index has the backup's document count"}`);
    }
    if (parts.uploads) {
      opts.log("restoring the Strapi uploads ...");
      // restic restores a volume at its own path under the target.
      await opts.stores!.uploads(join(dir, manifest.uploads!.path));
      opts.log("restored the Strapi uploads");
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
