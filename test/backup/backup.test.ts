/**
 * The backup job and the restore drill against real PostgreSQL, Redis and
 * restic: what a good backup brings back, and how every kind of failure is
 * refused or caught.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, statSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { backupSchema } from "../../config/schema";
import { BACKUP_TAGS } from "../../model/naming";
import { runDrill, type DrillTarget } from "../../backup/drill";
import { run } from "../../backup/exec";
import { RefusedError, runBackup, sha256File, type BackupJob } from "../../backup/job";
import { libpqEnv } from "../../backup/postgres";
import { keyCounts } from "../../backup/redis";
import { Restic } from "../../backup/restic";
import { listUploads, uploadsDigest } from "../../backup/uploads";
import { startPostgres, startRedis, type LocalPostgres, type LocalRedis } from "./servers";

jest.setTimeout(120_000);

const ENV = "qual";
const RESTIC_ENV = { RESTIC_PASSWORD: "test-restic-password-0000" };
const defaults = backupSchema.parse({ repository: "/unused" });

/** Two service databases, one with a timestamp column, and a service role. */
const FIXTURE: Record<string, string[]> = {
  booking_service_qual: [
    "create table bookings (id serial primary key, guest text, updated_at timestamptz not null default now())",
    "insert into bookings (guest) select 'guest ' || g from generate_series(1, 2500) g",
    "create table rooms (id int primary key)",
    "insert into rooms select generate_series(1, 40)",
  ],
  strapi_qual: ["create table files (id int primary key, name text)", "insert into files select g, 'f' || g from generate_series(1, 7) g"],
};
const ROLE = "booking_service_qual";

async function query<T extends object>(pg: LocalPostgres, database: string, text: string): Promise<T[]> {
  const c = new Client({ ...pg, database });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

async function loadFixture(pg: LocalPostgres) {
  await query(pg, "postgres", `create role ${ROLE} login password 'role-password-0000'`);
  for (const [db, statements] of Object.entries(FIXTURE)) {
    await query(pg, "postgres", `create database ${db} owner ${ROLE}`);
    for (const s of statements) await query(pg, db, s);
  }
}

/** Row counts of every user table, read from the server itself. */
async function liveCounts(pg: LocalPostgres): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const db of Object.keys(FIXTURE)) {
    const tables = await query<{ t: string }>(pg, db, "select tablename as t from pg_tables where schemaname = 'public'");
    for (const { t } of tables) counts[`${db}.${t}`] = Number((await query<{ n: string }>(pg, db, `select count(*) as n from "${t}"`))[0].n);
  }
  return counts;
}

/**
 * A fresh, empty server, driven as the drill drives its throwaway containers:
 * psql and pg_restore over the local socket. (Restoring the roles also restores
 * the superuser's password from the backup, so a password login would break.)
 */
const localTarget = (pg: LocalPostgres, redisStarted: LocalRedis[]): DrillTarget => ({
  stage: async (dir) => dir,
  postgres: (argv) => run(argv, { env: { ...libpqEnv(pg), PGHOST: pg.dir, PGPASSWORD: "" } }),
  redisKeys: async (rdb) => {
    const r = await startRedis("drill-password", rdb);
    redisStarted.push(r);
    return (await keyCounts({ ...r })).keys;
  },
});

let source: LocalPostgres;
let redis: LocalRedis;
let work: string;
const stopLater: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  source = await startPostgres();
  redis = await startRedis();
  await loadFixture(source);
  for (let i = 0; i < 30; i++) await run(["redis-cli", "-p", String(redis.port), "--no-auth-warning", "set", `k${i}`, "v"], { env: { ...process.env, REDISCLI_AUTH: redis.password } });
  await run(["redis-cli", "-p", String(redis.port), "--no-auth-warning", "set", "session", "s", "EX", "3600"], { env: { ...process.env, REDISCLI_AUTH: redis.password } });
});

afterAll(async () => {
  for (const s of [...stopLater, redis, source]) await s?.stop();
});

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "po-backup-test-"));
  makeUploads();
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const repoFor = (env: string) => join(work, "repositories", "portugal-odyssey", env);
const uploadsDir = () => join(work, "uploads");
/** Strapi's uploads: a few files, one in a subdirectory, one large enough to be read in many chunks. */
function makeUploads() {
  mkdirSync(join(uploadsDir(), "2024", "06"), { recursive: true });
  writeFileSync(join(uploadsDir(), "hero.jpg"), randomBytes(3 * 1024 * 1024));
  writeFileSync(join(uploadsDir(), "2024", "06", "map.png"), randomBytes(2048));
  writeFileSync(join(uploadsDir(), "terms.pdf"), "terms");
}
const jobFor = (over: Partial<BackupJob> = {}): BackupJob => ({
  env: ENV,
  restic: { repository: repoFor(ENV), env: RESTIC_ENV },
  retention: defaults.retention,
  stagingRoot: join(work, "staging"),
  postgres: source,
  redis,
  uploadsDir: uploadsDir(),
  ...over,
});
const completeSnapshots = (repository = repoFor(ENV)) => new Restic({ repository, env: RESTIC_ENV }).snapshots(ENV, BACKUP_TAGS.complete);

/** Runs `fn` with an executable `name` (a shell script) first on PATH, standing in for the real tool. */
async function withShim(name: string, script: string, fn: () => Promise<void>): Promise<void> {
  const bin = join(work, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, name), script);
  chmodSync(join(bin, name), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    await fn();
  } finally {
    process.env.PATH = path;
  }
}

async function drill(over: { rpoHours?: number; now?: Date } = {}) {
  const target = await startPostgres("target-password-0000");
  stopLater.push(target);
  const started: LocalRedis[] = [];
  stopLater.push({ stop: async () => void (await Promise.all(started.map((r) => r.stop()))) });
  const result = await runDrill({ env: ENV, restic: { repository: repoFor(ENV), env: RESTIC_ENV }, target: localTarget(target, started), rpoHours: over.rpoHours ?? defaults.rpoHours, now: over.now });
  return { result, target };
}

test("a backup restored into a fresh server brings back every table's rows and the roles, and the drill passes", async () => {
  const { manifest } = await runBackup(jobFor());
  const expected = await liveCounts(source);
  const inManifest = Object.fromEntries(manifest.postgres.databases.flatMap((d) => d.tables.map((t) => [`${d.database}.${t.table}`, t.rows])));
  expect(inManifest).toEqual(expected);
  expect(manifest.postgres.databases.find((d) => d.database === "booking_service_qual")!.tables.find((t) => t.table === "bookings")!.newestRow).toBeDefined();

  const { result, target } = await drill();
  expect(result.problems).toEqual([]);
  expect(result.ok).toBe(true);
  expect(result.rtoSeconds).toBeGreaterThan(0);
  expect(result.newestRowAgeHours).toBeLessThan(1);
  const restored = { ...target, host: target.dir, password: "" };
  expect(await liveCounts(restored)).toEqual(expected);
  const roles = await query<{ rolname: string }>(restored, "postgres", `select rolname from pg_roles where rolname = '${ROLE}'`);
  expect(roles).toHaveLength(1);
  expect((await keyCounts(redis)).keys).toBe(manifest.redis!.keys);
  const uploads = await listUploads(uploadsDir());
  expect(manifest.uploads).toMatchObject({ files: uploads.length, bytes: uploads.reduce((n, e) => n + e.bytes, 0), digest: uploadsDigest(uploads) });
});

test("an upload that came back different, or not at all, fails the drill naming the first such path", async () => {
  await runBackup(
    jobFor({
      // After the listing, before restic reads the volume: what restic stores is no longer what the manifest lists.
      beforeUpload: async () => {
        writeFileSync(join(uploadsDir(), "2024", "06", "map.png"), randomBytes(2048));
        unlinkSync(join(uploadsDir(), "terms.pdf"));
      },
    }),
  );
  const { result } = await drill();
  expect(result.ok).toBe(false);
  const uploads = result.problems.filter((p) => p.startsWith("uploads:"));
  expect(uploads).toContain("uploads: 2 files restored, manifest says 3");
  expect(uploads).toContain("uploads: digest differs from the manifest; first difference: 2024/06/map.png: content differs from the backup (SHA-256)");
  expect(result.problems.filter((p) => !p.startsWith("uploads:"))).toEqual([]);
});

test("an upload missing from the restore is named as missing", async () => {
  await runBackup(jobFor({ beforeUpload: async () => unlinkSync(join(uploadsDir(), "terms.pdf")) }));
  const { result } = await drill();
  expect(result.problems).toContain("uploads: digest differs from the manifest; first difference: terms.pdf: missing after restore");
});

test("a wrong database password fails the job and no snapshot becomes complete", async () => {
  await runBackup(jobFor());
  const before = (await completeSnapshots()).map((s) => s.id);
  await expect(runBackup(jobFor({ postgres: { ...source, password: "wrong-password" } }))).rejects.toThrow(/password authentication failed/);
  expect((await completeSnapshots()).map((s) => s.id)).toEqual(before);
});

test("a pg_dump killed mid-dump fails the job and leaves no snapshot at all", async () => {
  // Starts the real pg_dump and kills it 50 ms in. Should the dump finish first on a fast machine, the shim still ends as
  // a killed process does (137), so the job meets a kill either way.
  const killedMidDump = `#!/bin/sh\n/usr/bin/pg_dump "$@" & pid=$!\nsleep 0.05\nkill -KILL $pid\nwait $pid\nexit 137\n`;
  await withShim("pg_dump", killedMidDump, () => expect(runBackup(jobFor())).rejects.toThrow(/pg_dump/));
  expect(await new Restic({ repository: repoFor(ENV), env: RESTIC_ENV }).allSnapshots()).toEqual([]);
});

test("a repository that runs out of space fails the job and no snapshot becomes complete", async () => {
  await runBackup(jobFor());
  const before = (await completeSnapshots()).map((s) => s.id);
  await query(source, "booking_service_qual", "insert into bookings (guest) select md5(g::text) from generate_series(1, 20000) g");
  // A full filesystem, as restic meets it: writes over 64 KiB fail (ulimit -f counts 1 KiB blocks in dash).
  const fullDisk = `#!/bin/sh\nulimit -f 64\nexec /usr/bin/restic "$@"\n`;
  try {
    await withShim("restic", fullDisk, () => expect(runBackup(jobFor())).rejects.toThrow(/restic/));
  } finally {
    await query(source, "booking_service_qual", "delete from bookings where id > 2500");
  }
  expect((await completeSnapshots()).map((s) => s.id)).toEqual(before);
});

test("a dump that silently lost a table's rows fails the drill, naming the table", async () => {
  await runBackup(
    jobFor({
      beforeUpload: async (stage, manifest) => {
        const db = manifest.postgres.databases.find((d) => d.database === "booking_service_qual")!;
        // What a pg_dump that missed a table's data would leave: a valid dump, consistent checksum, no rows.
        await run(["pg_dump", "--format=custom", "--exclude-table-data=rooms", "--file", join(stage, db.file), "--dbname", db.database], { env: libpqEnv(source) });
        manifest.files[db.file] = { sha256: await sha256File(join(stage, db.file)), bytes: statSync(join(stage, db.file)).size };
      },
    }),
  );
  const { result } = await drill();
  expect(result.ok).toBe(false);
  expect(result.problems.join("\n")).toMatch(/booking_service_qual\.public\.rooms: 0 rows restored, manifest says \d+/);
  expect(result.problems.join("\n")).not.toMatch(/bookings/);
});

test("a truncated dump in the repository fails the drill, naming the database's tables", async () => {
  await runBackup(
    jobFor({
      beforeUpload: async (stage, manifest) => {
        const db = manifest.postgres.databases.find((d) => d.database === "strapi_qual")!;
        truncateSync(join(stage, db.file), Math.floor(readFileSync(join(stage, db.file)).length / 2));
      },
    }),
  );
  const { result } = await drill();
  expect(result.ok).toBe(false);
  const text = result.problems.join("\n");
  expect(text).toMatch(/postgres\/strapi_qual\.dump: SHA-256 differs/);
  expect(text).toMatch(/strapi_qual\.public\.files/);
});

test("a backup older than the RPO fails the drill", async () => {
  await runBackup(jobFor());
  const later = new Date(Date.now() + (defaults.rpoHours + 1) * 3_600_000);
  const { result } = await drill({ now: later });
  expect(result.ok).toBe(false);
  expect(result.problems.join("\n")).toMatch(new RegExp(`over the RPO of ${defaults.rpoHours} h`));
});

test("a qual job refuses a repository that names prod, and one holding prod's snapshots", async () => {
  await expect(runBackup(jobFor({ restic: { repository: repoFor("prod"), env: RESTIC_ENV } }))).rejects.toThrow(RefusedError);
  expect(await new Restic({ repository: repoFor("prod"), env: RESTIC_ENV }).allSnapshots()).toEqual([]);

  // A repository whose path names qual but that prod's job wrote to.
  const shared = join(work, "shared", "qual");
  const prodJob = jobFor({ env: "prod", restic: { repository: shared, env: RESTIC_ENV } });
  await expect(runBackup(prodJob)).rejects.toThrow(/not environment prod's/);
  const restic = new Restic({ repository: shared, env: RESTIC_ENV });
  const dir = mkdtempSync(join(work, "x"));
  writeFileSync(join(dir, "f"), "prod data");
  await restic.ensureInitialised();
  await restic.backupStaging(dir, "prod");
  await expect(runBackup(jobFor({ restic: { repository: shared, env: RESTIC_ENV } }))).rejects.toThrow(/holds snapshots of env=prod/);
});

test("a run killed with SIGKILL mid-backup leaves restic's lock behind, and the next run still completes", async () => {
  await runBackup(jobFor());
  // The real restic, killed once it holds its lock and is reading the files: what an out-of-memory kill or a redeploy leaves.
  // restic's local backend writes the lock as `<id>-tmp-<n>` and renames it (internal/backend/local/local.go, Save), so
  // the kill waits for the renamed file: killed before the rename, restic would hold no lock, only a stray temporary.
  const killedMidBackup = [
    "#!/bin/sh",
    'if [ "$1" = backup ] || [ "$3" = backup ]; then',
    '  /usr/bin/restic "$@" & pid=$!',
    '  i=0; until ls "$RESTIC_REPOSITORY/locks" | grep -qv -- -tmp- || [ $i -ge 500 ]; do i=$((i+1)); sleep 0.01; done',
    "  kill -KILL $pid; wait $pid; exit 137",
    "fi",
    'exec /usr/bin/restic "$@"',
  ].join("\n");
  await withShim("restic", killedMidBackup, () => expect(runBackup(jobFor())).rejects.toThrow(/restic/));
  expect(readdirSync(join(repoFor(ENV), "locks"))).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
  const { snapshotId } = await runBackup(jobFor());
  expect((await completeSnapshots()).map((s) => s.id)).toContain(snapshotId);
  expect(readdirSync(join(repoFor(ENV), "locks"))).toEqual([]);
  // The killed run's staging directory is gone too.
  expect(readdirSync(join(work, "staging"))).toEqual([]);
});

test("a key written while the RDB is being taken is within what the drill accepts", async () => {
  // redis-cli as the backup runs it, with one more key written just before the RDB is taken (after the keys were counted).
  const writesFirst = `#!/bin/sh\nfor a in "$@"; do case "$a" in --rdb|bgsave) /usr/bin/redis-cli -h "$2" -p "$4" --no-auth-warning set "late-$$" v >/dev/null;; esac; done\nexec /usr/bin/redis-cli "$@"\n`;
  let keysBefore = 0;
  await withShim("redis-cli", writesFirst, async () => {
    keysBefore = (await keyCounts(redis)).keys;
    const { manifest } = await runBackup(jobFor());
    expect(manifest.redis!.keys).toBe(keysBefore);
    expect(manifest.redis!.keysAfter).toBe(keysBefore + 1);
  });
  const { result } = await drill();
  expect(result.problems).toEqual([]);
});
