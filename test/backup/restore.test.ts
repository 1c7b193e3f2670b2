/**
 * `npm run restore` for Redis and RabbitMQ against real servers (Debian's
 * redis-server and rabbitmq-server with the management plugin) and a real
 * restic repository: a backup is taken, the data is lost, the restore brings it
 * back; `--only` selects the part; prod and the confirmation prompt refuse.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import type Docker from "dockerode";
import { STORES } from "../../catalog/stores";
import { backupSchema } from "../../config/schema";
import { names } from "../../model/naming";
import { confirmOnTerminal, restoreCommand } from "../../backup/cli";
import { REPLACE_DIR_SCRIPT } from "../../backup/docker-restore";
import { backupElasticsearch, fetchApi, LIVE_SNAPSHOTS_KEPT, repositoryHolds, restoreFromCopy, restoreIntoLive } from "../../backup/elasticsearch";
import { run } from "../../backup/exec";
import { runBackup, type Manifest } from "../../backup/job";
import { importRabbitmqDefinitions, type RabbitmqConnection } from "../../backup/rabbitmq";
import { installRdb, keyCounts, type RedisConnection } from "../../backup/redis";
import { RestoreRefused, restore, type RestorePlan, type RestoreStores } from "../../backup/restore";
import { listUploads, uploadsDigest } from "../../backup/uploads";
import { freePort, waitFor } from "../../testing/servers/free-port";
import { startRabbitmq, type RunningRabbitmq } from "../../testing/servers/rabbitmq";
import { EsStandin, localRepositoryCopy, STANDIN_REPOSITORY_FILE } from "../../testing/servers/es-standin";
import { startPostgres, type LocalPostgres } from "./servers";
import { Client } from "pg";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { libpqEnv, type PostgresConnection } from "../../backup/postgres";

jest.setTimeout(180_000);

const ENV = "qual";
const RESTIC_ENV = { RESTIC_PASSWORD: "test-restic-password-0000" };
const defaults = backupSchema.parse({ repository: "/unused" });
const vhost = names.rabbitmqVhost(ENV);
const queue = "booking-events";
const ES_REPOSITORY = names.elasticsearchSnapshotRepository(ENV);
/** Snapshots of nights before the one the tests back up, oldest first: one more than the live repository keeps. */
const olderSnapshots = Array.from({ length: LIVE_SNAPSHOTS_KEPT }, (_, i) => `${ENV}-earlier-night-${i + 1}`);

/**
 * A Redis run as the catalog runs it (append-only on, a password from config,
 * not the command line) that can be stopped and started again on the same directory.
 */
class RestartableRedis {
  readonly dir = mkdtempSync(join(tmpdir(), "po-restore-redis-"));
  readonly password = randomBytes(12).toString("hex");
  port = 0;
  private child?: ChildProcess;
  get conn(): RedisConnection {
    return { host: "127.0.0.1", port: this.port, password: this.password };
  }
  async start() {
    this.port = this.port || (await freePort());
    const conf = join(this.dir, "redis.conf");
    writeFileSync(conf, `port ${this.port}\nbind 127.0.0.1\ndir ${this.dir}\nrequirepass ${this.password}\nappendonly yes\nsave ""\n`);
    this.child = spawn("redis-server", [conf], { stdio: "ignore" });
    await waitFor(`redis on ${this.port}`, () => this.cli("ping").then((o) => o.trim() === "PONG", () => false), 15_000);
  }
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  cli(...args: string[]) {
    return run(["redis-cli", "-p", String(this.port), "--no-auth-warning", ...args], { env: { ...process.env, REDISCLI_AUTH: this.password } });
  }
}

let work: string;
let pg: LocalPostgres;
let redis: RestartableRedis;
let rabbit: RunningRabbitmq;
let rabbitConn: RabbitmqConnection;
let manifest: Manifest;
let keysBacked: number;
const repo = () => ({ repository: join(work, "repositories", "portugal-odyssey", ENV), env: RESTIC_ENV });

const api = async (method: string, path: string) => {
  const res = await fetch(`${rabbitConn.api}${path}`, { method, headers: { authorization: `Basic ${Buffer.from(`${rabbitConn.user}:${rabbitConn.password}`).toString("base64")}`, "content-type": "application/json" }, body: method === "PUT" ? "{}" : undefined });
  return res.status;
};

const SERVICE_ROLE = names.serviceDatabase("booking-service", ENV);
const backupTimePasswords = { service: randomBytes(12).toString("hex") };

async function sql(c: PostgresConnection, database: string, text: string): Promise<unknown[]> {
  const client = new Client({ ...c, database });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** psql and pg_restore next to the local server, as the restore runs them in the postgres container, connected as its superuser. */
const localPostgres = (argv: string[], stdinFile?: string) => run(argv, { env: libpqEnv(pg), stdinFile });

let es: EsStandin;
/** The node's path.repo: the snapshots volume. */
let snapshotsDir: string;
let uploads: string;

/** The stores as the local servers are reached: the same file steps, script and API calls the Docker restore makes. */
const localStores: RestoreStores = {
  redis: async (rdb) => {
    await redis.stop();
    await installRdb(redis.dir, rdb);
    await redis.start();
  },
  rabbitmq: (file) => importRabbitmqDefinitions(rabbitConn, file),
  elasticsearchHasSnapshot: (m) => repositoryHolds(fetchApi(es.url), m.repository!, m.snapshot),
  elasticsearch: (m, copy, log) =>
    copy ? restoreFromCopy(fetchApi(es.url), m, localRepositoryCopy(copy, snapshotsDir, ENV, m.snapshot), log) : restoreIntoLive(fetchApi(es.url), m, m.repository!, log),
  uploads: async (restoredDir) => {
    // What the archive upload leaves in the volume before the helper runs: the restored files in a subdirectory.
    await run(["cp", "-a", restoredDir, join(uploads, ".po-restore-test")]);
    await run(["sh", "-c", REPLACE_DIR_SCRIPT, "sh", uploads, ".po-restore-test"]);
  },
};
const noDocker = {} as Docker; // neither Redis nor RabbitMQ goes through Docker here, and no database is restored

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "po-restore-test-"));
  const user = String(STORES.rabbitmq.env.RABBITMQ_DEFAULT_USER);
  const password = randomBytes(12).toString("hex");
  [pg, rabbit] = await Promise.all([
    startPostgres(),
    startRabbitmq({ management: true, env: { RABBITMQ_DEFAULT_USER: user, RABBITMQ_DEFAULT_PASS: password, RABBITMQ_DEFAULT_VHOST: vhost } }),
  ]);
  rabbitConn = { api: rabbit.managementUrl!, user, password };
  redis = new RestartableRedis();
  await redis.start();
  for (let i = 0; i < 25; i++) await redis.cli("set", `session:${i}`, `v${i}`);
  await redis.cli("hset", "booking:1", "guest", "ana");
  keysBacked = (await keyCounts(redis.conn)).keys;
  expect(await api("PUT", `/api/queues/${encodeURIComponent(vhost)}/${queue}`)).toBe(201);
  es = await new EsStandin().start();
  es.indices = { experiences: 12, bookings: 4 };
  snapshotsDir = join(work, "es-snapshots");
  // The node writes its repository there, and restic stores it with the rest.
  es.pathRepo = snapshotsDir;
  uploads = join(work, "uploads");
  mkdirSync(join(uploads, "2024"), { recursive: true });
  writeFileSync(join(uploads, "hero.jpg"), randomBytes(4096));
  writeFileSync(join(uploads, "2024", "map.png"), randomBytes(1024));
  // A service's role and database, with the passwords of backup time.
  await sql(pg, "postgres", `create role ${SERVICE_ROLE} login password '${backupTimePasswords.service}'`);
  await sql(pg, "postgres", `create database ${SERVICE_ROLE} owner ${SERVICE_ROLE}`);
  await sql({ ...pg, user: SERVICE_ROLE, password: backupTimePasswords.service }, SERVICE_ROLE, "create table bookings as select g as id from generate_series(1, 30) g");
  const live = { url: es.url, repository: ES_REPOSITORY, location: ENV };
  // Earlier nights' snapshots: the backup keeps only the newest ones in the live repository.
  for (const name of olderSnapshots) await backupElasticsearch(live, name);
  ({ manifest } = await runBackup({
    env: ENV,
    restic: repo(),
    retention: defaults.retention,
    stagingRoot: join(work, "staging"),
    postgres: pg,
    redis: redis.conn,
    rabbitmq: rabbitConn,
    elasticsearch: { ...live, snapshotsDir },
    uploadsDir: uploads,
  }));
});

afterAll(async () => {
  await redis?.stop();
  await Promise.all([pg?.stop(), rabbit?.stop(), es?.stop()]);
  rmSync(redis.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

/** Loses what the backup holds: every Redis key (the AOF records the flush) and the declared queue. */
async function loseData() {
  await redis.cli("flushall");
  await api("DELETE", `/api/queues/${encodeURIComponent(vhost)}/${queue}`);
  expect((await keyCounts(redis.conn)).keys).toBe(0);
  expect(await api("GET", `/api/queues/${encodeURIComponent(vhost)}/${queue}`)).toBe(404);
}

const restoreOnly = (only: string, confirm: (p: RestorePlan) => Promise<boolean> = async () => true) =>
  restore({ docker: noDocker, repo: repo(), env: ENV, snapshot: "latest", only, stores: localStores, confirm, log: () => undefined });

describe("npm run restore: Redis and RabbitMQ", () => {
  it("--only redis brings every key of the backup back and leaves RabbitMQ alone", async () => {
    await loseData();
    let plan: RestorePlan | undefined;
    await restoreOnly("redis", async (p) => ((plan = p), true));
    expect(plan!.summary.join("\n")).toContain(`Redis ${names.container("redis", ENV)} is STOPPED`);
    expect(plan!.summary.join("\n")).not.toContain("RabbitMQ");
    expect(plan!.databases).toEqual([]);
    expect((await keyCounts(redis.conn)).keys).toBe(keysBacked);
    expect(manifest.redis!.keys).toBe(keysBacked);
    expect((await redis.cli("hget", "booking:1", "guest")).trim()).toBe("ana");
    expect(await api("GET", `/api/queues/${encodeURIComponent(vhost)}/${queue}`)).toBe(404);
  });

  it("--only rabbitmq imports the definitions through the management API: the queue is back, Redis untouched", async () => {
    await loseData();
    await restoreOnly("rabbitmq");
    expect(await api("GET", `/api/queues/${encodeURIComponent(vhost)}/${queue}`)).toBe(200);
    expect((await keyCounts(redis.conn)).keys).toBe(0);
  });

  it("a plan that is not confirmed changes nothing", async () => {
    await loseData();
    await expect(restoreOnly("redis", async () => false)).rejects.toThrow(new RestoreRefused("not confirmed; nothing was changed"));
    expect((await keyCounts(redis.conn)).keys).toBe(0);
  });

  it("refuses a part it does not know, and a store part without a way to reach it", async () => {
    await expect(restoreOnly("mongodb")).rejects.toThrow("--only expects postgres:<service or database>, redis, rabbitmq, elasticsearch, uploads, got mongodb");
    for (const only of ["redis", "elasticsearch", "uploads"]) {
      await expect(restore({ docker: noDocker, repo: repo(), env: ENV, snapshot: "latest", only, confirm: async () => true, log: () => undefined })).rejects.toThrow(
        "cannot reach the environment's stores and volumes",
      );
    }
  });
});

describe("npm run restore: Elasticsearch and the uploads", () => {
  it("the backup left its own snapshot and the newest earlier ones in the live repository, and deleted the rest", async () => {
    const listed = await fetchApi(es.url)<{ snapshots: { snapshot: string }[] }>("GET", `/_snapshot/${ES_REPOSITORY}/_all`);
    const newestEarlier = olderSnapshots.slice(-(LIVE_SNAPSHOTS_KEPT - 1));
    expect(listed.snapshots.map((s) => s.snapshot).sort()).toEqual([manifest.elasticsearch!.snapshot, ...newestEarlier].sort());
  });

  it("--only elasticsearch names every index it overwrites, closes them and restores the snapshot over them; nothing else changes", async () => {
    es.indices.experiences = 0; // documents lost since the backup
    es.indices.unrelated = 3;
    await redis.cli("set", "after-backup", "1");
    let plan: RestorePlan | undefined;
    const lines: string[] = [];
    await restore({ docker: noDocker, repo: repo(), env: ENV, snapshot: "latest", only: "elasticsearch", stores: localStores, confirm: async (p) => ((plan = p), true), log: (l) => lines.push(l) });
    const summary = plan!.summary.join("\n");
    for (const [index, n] of Object.entries(manifest.elasticsearch!.indices)) expect(summary).toContain(`  - ${index}: ${n} documents in the backup`);
    expect(summary).toContain(`Elasticsearch ${names.container("elasticsearch", ENV)}: these indices are CLOSED and OVERWRITTEN`);
    expect(summary).toContain(`Read from the live cluster's repository ${manifest.elasticsearch!.repository}`);
    expect(summary).not.toMatch(/Redis|RabbitMQ|uploads/);
    expect(es.indices).toEqual({ ...manifest.elasticsearch!.indices, unrelated: 3 });
    expect(lines.join("\n")).toContain("every index has the backup's document count");
    expect((await redis.cli("get", "after-backup")).trim()).toBe("1");
  });

  it("--only elasticsearch after the snapshots volume was lost: the plan names the copy it reads, the indices come back from it, and the live repository is not written", async () => {
    const es0 = manifest.elasticsearch!;
    const live = join(snapshotsDir, ENV);
    // A new, empty volume: the live repository is registered but holds nothing.
    rmSync(live, { recursive: true });
    mkdirSync(live);
    writeFileSync(join(live, STANDIN_REPOSITORY_FILE), "{}");
    es.indices.experiences = 0;
    es.calls = [];
    let plan: RestorePlan | undefined;
    await restore({ docker: noDocker, repo: repo(), env: ENV, snapshot: "latest", only: "elasticsearch", stores: localStores, confirm: async (p) => ((plan = p), true), log: () => undefined });
    const location = names.elasticsearchRestoreLocation(es0.snapshot);
    expect(plan!.summary.join("\n")).toContain(
      `Snapshot ${es0.snapshot} is NOT in the live cluster's repository ${es0.repository}: the backup's copy of that repository is put in ${STORES.elasticsearch.env["path.repo"]}/${location} on the volume ${names.volume("elasticsearch-snapshots", ENV)}, registered read-only as ${names.elasticsearchRestoreRepository(ENV)}`,
    );
    expect(es.indices).toMatchObject(es0.indices);
    expect(es.calls.filter((c) => c.path.includes("/_restore")).map((c) => c.path.split("/")[2])).toEqual([names.elasticsearchRestoreRepository(ENV)]);
    expect(Object.keys(es.repositories)).toEqual([es0.repository]);
    expect(readdirSync(snapshotsDir)).toEqual([ENV]);
    expect(readFileSync(join(live, STANDIN_REPOSITORY_FILE), "utf8")).toBe("{}");
  });

  it("--only uploads puts back exactly the backup's files: changed ones restored, deleted ones back, new ones gone", async () => {
    writeFileSync(join(uploads, "hero.jpg"), "overwritten");
    unlinkSync(join(uploads, "2024", "map.png"));
    writeFileSync(join(uploads, "uploaded-after.pdf"), "new");
    let plan: RestorePlan | undefined;
    await restore({ docker: noDocker, repo: repo(), env: ENV, snapshot: "latest", only: "uploads", stores: localStores, confirm: async (p) => ((plan = p), true), log: () => undefined });
    expect(plan!.summary.join("\n")).toContain(`the volume ${names.volume("strapi-uploads", ENV)} is EMPTIED and refilled with the backup's ${manifest.uploads!.files} files`);
    const back = await listUploads(uploads);
    expect(back.map((e) => e.path)).toEqual(["2024/map.png", "hero.jpg"]);
    expect(uploadsDigest(back)).toBe(manifest.uploads!.digest);
    expect(readFileSync(join(uploads, "hero.jpg")).length).toBe(4096);
  });

  it("refuses prod without --confirm-prod for elasticsearch and uploads too", async () => {
    for (const only of ["elasticsearch", "uploads"]) {
      await expect(restoreCommand(["--stack", "prod", "--snapshot", "latest", "--only", only, "--yes"])).rejects.toThrow(
        new RestoreRefused("refusing to restore into prod without --confirm-prod: it overwrites production data"),
      );
    }
  });
});

describe("npm run restore: refusals and the prompt", () => {
  it("refuses prod without --confirm-prod before it reads the repository or asks anything", async () => {
    let asked = false;
    // The prod stack file's suffix is prod: the name the refusal guards.
    await expect(restoreCommand(["--stack", "prod", "--snapshot", "latest", "--only", "redis", "--yes"], async () => (asked = true))).rejects.toThrow(
      new RestoreRefused("refusing to restore into prod without --confirm-prod: it overwrites production data"),
    );
    expect(asked).toBe(false);
  });

  it("refuses a stack on runtime: swarm before it reads the repository or asks anything, naming why", async () => {
    // The committed qual stack file, moved to a swarm.
    const project = mkdtempSync(join(tmpdir(), "po-restore-swarm-"));
    try {
      const root = join(__dirname, "..", "..");
      writeFileSync(join(project, "Pulumi.yaml"), readFileSync(join(root, "Pulumi.yaml")));
      const stackFile = parseYaml(readFileSync(join(root, "Pulumi.qual.yaml"), "utf8")) as { config: Record<string, unknown> };
      stackFile.config["portugal-odyssey:runtime"] = "swarm";
      writeFileSync(join(project, "Pulumi.qual.yaml"), stringifyYaml(stackFile));
      let asked = false;
      await expect(restoreCommand(["--stack", "qual", "--snapshot", "latest", "--only", "redis", "--yes"], async () => (asked = true), project)).rejects.toThrow(
        new RestoreRefused("stack qual runs on runtime: swarm, which npm run restore does not support yet; nothing was changed (docs/backups.md)"),
      );
      expect(asked).toBe(false);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  const plan = { env: ENV, summary: ["Restore snapshot abc of qual", "Redis po-redis-qual is STOPPED"] } as RestorePlan;
  const answer = async (typed: string, yes = false) => {
    const input = new PassThrough();
    let shown = "";
    const output = new Writable({ write: (c, _e, done) => ((shown += c), done()) });
    const pending = confirmOnTerminal(plan, yes, input, output);
    input.end(`${typed}\n`);
    return { ok: await pending, shown };
  };

  it("shows the plan, then goes on only when the environment's name is typed", async () => {
    const typedRight = await answer(ENV);
    expect(typedRight.ok).toBe(true);
    for (const line of plan.summary) expect(typedRight.shown).toContain(line);
    expect(typedRight.shown).toContain(`Type the environment name (${ENV}) to go on: `);
    expect((await answer("yes")).ok).toBe(false);
    expect((await answer(`${ENV}x`)).ok).toBe(false);
  });

  it("--yes shows the plan and does not ask", async () => {
    const skipped = await answer("", true);
    expect(skipped.ok).toBe(true);
    expect(skipped.shown).not.toContain("Type the environment name");
  });
});

describe("a restore after the passwords were rotated", () => {
  it("leaves every service able to connect with the passwords it holds now: PostgreSQL's superuser and service role, RabbitMQ's user, Redis", async () => {
    const rotated = { superuser: randomBytes(12).toString("hex"), service: randomBytes(12).toString("hex"), rabbitmq: randomBytes(12).toString("hex") };
    await sql(pg, "postgres", `alter role ${SERVICE_ROLE} password '${rotated.service}'`);
    await sql(pg, "postgres", `alter role ${pg.user} password '${rotated.superuser}'`);
    const backupTime = { superuser: pg.password, rabbitmq: rabbitConn.password };
    pg.password = rotated.superuser;
    const tags = ((await (await fetch(`${rabbitConn.api}/api/users/${rabbitConn.user}`, { headers: { authorization: `Basic ${Buffer.from(`${rabbitConn.user}:${rabbitConn.password}`).toString("base64")}` } })).json()) as { tags: string[] }).tags;
    const put = await fetch(`${rabbitConn.api}/api/users/${rabbitConn.user}`, {
      method: "PUT",
      headers: { authorization: `Basic ${Buffer.from(`${rabbitConn.user}:${rabbitConn.password}`).toString("base64")}`, "content-type": "application/json" },
      body: JSON.stringify({ password: rotated.rabbitmq, tags: tags.join(",") }),
    });
    expect(put.status).toBe(204);
    rabbitConn.password = rotated.rabbitmq;

    await restore({ docker: noDocker, repo: repo(), env: ENV, snapshot: "latest", stores: localStores, postgres: localPostgres, confirm: async () => true, log: () => undefined });

    // The data came back, and every service's current password still opens its store.
    expect(await sql({ ...pg, user: SERVICE_ROLE, password: rotated.service }, SERVICE_ROLE, "select count(*)::int as n from bookings")).toEqual([{ n: 30 }]);
    expect(await sql(pg, "postgres", "select 1 as ok")).toEqual([{ ok: 1 }]);
    expect(await api("GET", "/api/whoami")).toBe(200);
    expect((await redis.cli("ping")).trim()).toBe("PONG");
    // And the backup's passwords no longer do.
    await expect(sql({ ...pg, password: backupTime.superuser }, "postgres", "select 1")).rejects.toThrow(/password authentication failed/);
    await expect(sql({ ...pg, user: SERVICE_ROLE, password: backupTimePasswords.service }, SERVICE_ROLE, "select 1")).rejects.toThrow(/password authentication failed/);
    const old = await fetch(`${rabbitConn.api}/api/whoami`, { headers: { authorization: `Basic ${Buffer.from(`${rabbitConn.user}:${backupTime.rabbitmq}`).toString("base64")}` } });
    expect(old.status).toBe(401);
  });
});
