/**
 * The restore drill: the newest complete snapshot, restored into empty
 * throwaway servers and held to its manifest. Every mismatch is collected and
 * named (database, table, expected, found), so one run says all that is wrong.
 *
 * The servers are reached only through a `DrillTarget`: commands run next to
 * them (`docker exec` in throwaway containers on an `internal` network in
 * production, local processes in the tests), so the same checks run in both.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BACKUP_TAGS, names } from "../model/naming";
import { MANIFEST_FILE, sha256File, type Manifest } from "./job";
import { STORES } from "../catalog/stores";
import { compareDocCounts, restoreForDrill, type EsApi } from "./elasticsearch";
import { checkUploads } from "./uploads";
import { expectedKeys } from "./redis";
import { countDefinitions, missingDefinitions, type RabbitmqManifest } from "./rabbitmq";
import { Restic, type ResticRepository, type ResticSnapshot } from "./restic";

/** Runs a client tool beside a throwaway server; rejects on a non-zero exit. */
export type Exec = (argv: string[]) => Promise<string>;

export interface DrillTarget {
  /** Makes the restored files visible to `postgres` commands; returns the directory they see them under. */
  stage(localDir: string): Promise<string>;
  /** psql / pg_restore against an empty PostgreSQL server, connected as its superuser. */
  postgres: Exec;
  /** Starts a throwaway Redis on the restored RDB; returns its key count. */
  redisKeys?(rdbPath: string): Promise<number>;
  /** Starts an empty throwaway Elasticsearch whose path.repo holds the restored snapshots directory; returns a way to call it. */
  elasticsearch?(snapshotsDir: string): Promise<EsApi>;
}

export interface DrillResult {
  ok: boolean;
  env: string;
  snapshot?: string;
  snapshotTime?: string;
  /** Hours between the backup and the drill: fails over the RPO. */
  backupAgeHours?: number;
  rpoHours: number;
  /** Hours between the newest row in the backup and the drill: the data a restore would lose. */
  newestRowAgeHours?: number;
  /** Seconds from fetching the snapshot to every check passed: the recovery time. */
  rtoSeconds?: number;
  problems: string[];
  checkedAt: string;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

export async function newestComplete(restic: Restic, env: string): Promise<ResticSnapshot | undefined> {
  const snaps = await restic.snapshots(env, BACKUP_TAGS.complete);
  return snaps[snaps.length - 1];
}

async function checkPostgres(manifest: Manifest, dir: string, target: DrillTarget, problems: string[]): Promise<void> {
  const seen = await target.stage(dir);
  // Roles first: the dumps' ownership and grants name them. The target's own superuser already exists, so errors are expected and ignored.
  await target.postgres(["psql", "-X", "-q", "-d", "postgres", "-f", join(seen, manifest.postgres.globals)]).catch(() => undefined);
  for (const db of manifest.postgres.databases) {
    try {
      await target.postgres(["pg_restore", "--create", "--exit-on-error", "--dbname", "postgres", join(seen, db.file)]);
    } catch (e) {
      problems.push(`postgres database ${db.database}: pg_restore failed: ${(e as Error).message.split("\n")[0]}`);
    }
    for (const t of db.tables) {
      const name = `${ident(t.schema)}.${ident(t.table)}`;
      const query = `select count(*) from ${name}`;
      const found = await target.postgres(["psql", "-X", "-At", "-d", db.database, "-c", query]).then((o) => Number(o.trim()), () => undefined);
      if (found === undefined) problems.push(`postgres table ${db.database}.${t.schema}.${t.table}: missing after restore (manifest: ${t.rows} rows)`);
      else if (found !== t.rows) problems.push(`postgres table ${db.database}.${t.schema}.${t.table}: ${found} rows restored, manifest says ${t.rows}`);
    }
  }
  const roles = (await target.postgres(["psql", "-X", "-At", "-d", "postgres", "-c", "select rolname from pg_roles"]).catch(() => "")).split("\n");
  const globals = await readFile(join(dir, manifest.postgres.globals), "utf8");
  for (const role of [...globals.matchAll(/^CREATE ROLE (\S+);$/gm)].map((m) => m[1].replace(/^"|"$/g, ""))) {
    if (!roles.includes(role)) problems.push(`postgres role ${role}: missing after restore`);
  }
}

/**
 * The RabbitMQ definitions of a restored snapshot (in `dir`) against the manifest: the count of each
 * kind, then by name every user, vhost and queue the backup saw, and always the catalog's own user and
 * the environment's vhost (a backup without them could not bring the environment back).
 */
export async function checkRabbitmq(rabbitmq: RabbitmqManifest, dir: string, env: string): Promise<string[]> {
  const problems: string[] = [];
  const defs = JSON.parse(await readFile(join(dir, rabbitmq.file), "utf8")) as Record<string, unknown>;
  const counts = countDefinitions(defs);
  for (const [kind, n] of Object.entries(rabbitmq.counts)) {
    if (counts[kind as keyof typeof counts] !== n) problems.push(`rabbitmq ${kind}: ${counts[kind as keyof typeof counts]} in the definitions, manifest says ${n}`);
  }
  const catalog = { users: [String(STORES.rabbitmq.env.RABBITMQ_DEFAULT_USER)], vhosts: [names.rabbitmqVhost(env)] };
  const seen = rabbitmq.names ?? { users: [], vhosts: [], queues: [] };
  problems.push(
    ...missingDefinitions(defs, {
      users: [...new Set([...catalog.users, ...seen.users])],
      vhosts: [...new Set([...catalog.vhosts, ...seen.vhosts])],
      queues: seen.queues,
    }),
  );
  return problems;
}

/** The snapshot restored into a throwaway node and every index's documents held to the manifest; a failed restore is named, not thrown. */
export async function checkElasticsearch(
  m: NonNullable<Manifest["elasticsearch"]>,
  dir: string,
  env: string,
  start: NonNullable<DrillTarget["elasticsearch"]>,
): Promise<string[]> {
  try {
    const api = await start(join(dir, m.path));
    return compareDocCounts(m, await restoreForDrill(api, m, env, m.repository ?? names.elasticsearchSnapshotRepository(env)));
  } catch (e) {
    return [`elasticsearch: snapshot ${m.snapshot} does not restore: ${(e as Error).message.split("\n")[0]}`];
  }
}

/**
 * Restores the newest complete snapshot of `env` and checks it. Never throws for
 * a bad backup: the result says what failed. It throws only when it cannot run.
 */
export async function runDrill(opts: {
  env: string;
  restic: ResticRepository;
  target: DrillTarget;
  rpoHours: number;
  now?: Date;
}): Promise<DrillResult> {
  const now = opts.now ?? new Date();
  const restic = new Restic(opts.restic);
  const problems: string[] = [];
  const result: DrillResult = { ok: false, env: opts.env, rpoHours: opts.rpoHours, problems, checkedAt: now.toISOString() };
  const snapshot = await newestComplete(restic, opts.env);
  if (!snapshot) {
    problems.push(`no complete backup of ${opts.env} in the repository`);
    return result;
  }
  result.snapshot = snapshot.short_id;
  result.snapshotTime = snapshot.time;
  result.backupAgeHours = round((now.getTime() - Date.parse(snapshot.time)) / 3_600_000);
  if (result.backupAgeHours > opts.rpoHours) problems.push(`the newest complete backup is ${result.backupAgeHours} h old, over the RPO of ${opts.rpoHours} h`);

  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "po-drill-"));
  try {
    await restic.restore(snapshot.id, dir);
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as Manifest;
    if (manifest.env !== opts.env) problems.push(`the snapshot's manifest is environment ${manifest.env}'s, not ${opts.env}'s`);
    for (const [file, expected] of Object.entries(manifest.files)) {
      const actual = await sha256File(join(dir, file)).catch(() => undefined);
      if (actual === undefined) problems.push(`${file}: missing from the snapshot`);
      else if (actual !== expected.sha256) problems.push(`${file}: SHA-256 differs from the manifest (the file was changed or truncated)`);
    }
    await checkPostgres(manifest, dir, opts.target, problems);
    if (manifest.redis && opts.target.redisKeys) {
      const keys = await opts.target.redisKeys(join(dir, manifest.redis.file)).catch((e: Error) => {
        problems.push(`redis: the RDB does not load: ${e.message}`);
        return undefined;
      });
      // Keys with an expiry may have expired since; every other key must be back.
      const { min, max } = expectedKeys(manifest.redis);
      if (keys !== undefined && (keys < min || keys > max)) {
        const said = max === manifest.redis.keys && !manifest.redis.keysAfter ? `${max}` : `${manifest.redis.keys} before and ${manifest.redis.keysAfter} after the RDB was taken`;
        problems.push(`redis: ${keys} keys restored, manifest says ${said} (${manifest.redis.expiring} with an expiry)`);
      }
    }
    if (manifest.rabbitmq) problems.push(...(await checkRabbitmq(manifest.rabbitmq, dir, opts.env)));
    if (manifest.elasticsearch && opts.target.elasticsearch) problems.push(...(await checkElasticsearch(manifest.elasticsearch, dir, opts.env, opts.target.elasticsearch)));
    // restic restores a volume at its own path under the target.
    if (manifest.uploads) problems.push(...(await checkUploads(manifest.uploads, dir, join(dir, manifest.uploads.path))));
    const newest = manifest.postgres.databases.flatMap((d) => d.tables.flatMap((t) => (t.newestRow ? [Date.parse(t.newestRow)] : [])));
    if (newest.length > 0) result.newestRowAgeHours = round((now.getTime() - Math.max(...newest)) / 3_600_000);
  } catch (e) {
    problems.push(`the drill could not complete: ${(e as Error).message}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  result.rtoSeconds = round((Date.now() - started) / 1000);
  result.ok = problems.length === 0;
  return result;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** A failed drill or backup is loud: POSTed to the webhook from config, as JSON. The URL is a secret: never printed. */
export async function notify(webhook: string | undefined, result: DrillResult | { ok: false; env: string; problems: string[] }): Promise<void> {
  if (!webhook || result.ok) return;
  const text = `portugal-odyssey ${result.env}: ${result.problems.join("; ")}`;
  const res = await fetch(webhook, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text, result }) });
  if (!res.ok) throw new Error(`the failure webhook answered ${res.status}`);
}
