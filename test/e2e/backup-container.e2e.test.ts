/**
 * The nightly backup and the drill the way they run: in the backup image (built
 * here from backup/Dockerfile on a local Debian base, .ci/backup-image.sh), in a
 * container created from exactly what the program registers for the backup
 * container (its user 1000:1000, read-only root, 16 MiB /tmp tmpfs, every
 * capability dropped, memory limit, env and mounts), on the real daemon, against
 * stores whose files have the official images' owners and modes: Redis run as
 * uid 999 under the umask 0077 of the redis image's entrypoint (its dump.rdb is
 * 0600 to 999), and fresh named volumes for the staging area and the
 * Elasticsearch snapshots. Two departures, both only about reaching the stores:
 * the container shares the host's network (the stores are Debian's servers and
 * the Elasticsearch stand-in on loopback), and their addresses and passwords
 * replace the plan's. Names are this test's own, so it needs no e2e lock.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { Client } from "pg";
import { VOLUME_KEYS } from "../../catalog/types";
import { BACKUP_IMAGE_DIRS, BACKUP_MOUNTS, BACKUP_STAGING, BACKUP_STATUS_FILE } from "../../model/backup";
import { BACKUP_TAGS, names } from "../../model/naming";
import { Restic } from "../../backup/restic";
import type { DrillResult } from "../../backup/drill";
import type { Manifest } from "../../backup/job";
import { freePort, waitFor } from "../../testing/servers/free-port";
import { startRabbitmq, type RunningRabbitmq } from "../../testing/servers/rabbitmq";
import { EsStandin } from "../backup/es-standin";
import { startPostgres, type LocalPostgres } from "../backup/servers";
import { runProgram, TYPES, type RegisteredResource } from "../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../harness/stack-config";
import { containerSpec, RUN_LABEL } from "./applier";
import { dockerStatus } from "./host";

jest.setTimeout(900_000);

const ROOT = join(__dirname, "..", "..");
const ENV = "qual";
const docker = new Docker();
const status = dockerStatus();
const runId = `po-backup-e2e-${process.pid}-${Date.now().toString(36)}`;
const labels = { [RUN_LABEL]: runId };
const PASSWORDS = { restic: randomBytes(12).toString("hex"), postgres: `pg-${randomBytes(8).toString("hex")}`, redis: randomBytes(12).toString("hex"), rabbitmq: randomBytes(12).toString("hex") };
/** Over 100 MB of uploads that do not compress: more than /tmp's 16 MiB holds of restic's pack files. */
const UPLOAD_FILES = 12;
const UPLOAD_BYTES = 10 * 1024 * 1024;
const REDIS_KEYS = 40;
const REDIS_UID = 999;

let work: string;
let image: string;
let registered: RegisteredResource;
let pg: LocalPostgres;
let rabbit: RunningRabbitmq;
let es: EsStandin;
let redis: ChildProcess;
let redisPort: number;
/** The plan's volume names → this test's fresh volumes, and where the daemon keeps each. */
const volumes = new Map<string, { name: string; mountpoint: string }>();
const created: string[] = [];

const repositoryLocation = () => join(work, "restic");
const repository = () => names.backupRepository(repositoryLocation(), ENV);
const volumeFor = (key: (typeof VOLUME_KEYS)[number]) => volumes.get(names.volume(key, ENV))!;

beforeAll(async () => {
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
  image = execFileSync("bash", [join(ROOT, ".ci", "backup-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  work = mkdtempSync(join(tmpdir(), "po-backup-e2e-"));
  // Other users (Redis's 999, the backup's 1000) pass through it to their own directories.
  chmodSync(work, 0o711);
  const run = await runProgram({ stack: ENV, config: { backup: { repository: repositoryLocation() } }, secrets: TEST_EXTERNAL_SECRETS });
  registered = run.resources.find((r) => r.type === TYPES.container && r.inputs.name === names.backupContainer(ENV))!;
  expect(registered).toBeDefined();
  // A host directory the backup's user may write, as the operator prepares it (docs/backups.md).
  mkdirSync(repository(), { recursive: true });
  chownSync(repositoryLocation(), 1000, 1000);
  chownSync(repository(), 1000, 1000);

  for (const key of VOLUME_KEYS) {
    const name = `${runId}-${key}`;
    await docker.createVolume({ Name: name, Labels: labels });
    volumes.set(names.volume(key, ENV), { name, mountpoint: (await docker.getVolume(name).inspect()).Mountpoint });
  }

  // Redis as the official image runs it: its entrypoint chowns /data to redis (999) and sets umask 0077
  // (docker-library/redis docker-entrypoint.sh), so what it saves is 0600 to 999.
  // Its own directory (the daemon's volume root is not open to uid 999 here); what it saves is then copied into
  // the redis-data volume with its owner and mode, as the official container leaves it there.
  const redisData = join(work, "redis-data");
  mkdirSync(redisData, { mode: 0o700 });
  chownSync(redisData, REDIS_UID, REDIS_UID);
  redisPort = await freePort();
  redis = spawn("setpriv", [`--reuid=${REDIS_UID}`, `--regid=${REDIS_UID}`, "--clear-groups", "sh", "-c", 'umask 0077; exec redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --appendonly yes --requirepass "$3"', "sh", String(redisPort), redisData, PASSWORDS.redis], { stdio: "ignore" });
  const redisCli = (...args: string[]) => execFileSync("redis-cli", ["-p", String(redisPort), "--no-auth-warning", ...args], { env: { ...process.env, REDISCLI_AUTH: PASSWORDS.redis }, encoding: "utf8" });
  await waitFor("redis as uid 999", async () => redisCli("ping").trim() === "PONG", 15_000);
  for (let i = 0; i < REDIS_KEYS; i++) redisCli("set", `session:${i}`, "v");
  redisCli("save");
  execFileSync("cp", ["-a", join(redisData, "dump.rdb"), volumeFor("redis-data").mountpoint]);
  const rdb = statSync(join(volumeFor("redis-data").mountpoint, "dump.rdb"));
  expect({ uid: rdb.uid, mode: (rdb.mode & 0o777).toString(8) }).toEqual({ uid: REDIS_UID, mode: "600" });

  pg = await startPostgres(PASSWORDS.postgres);
  const sql = async (database: string, text: string) => {
    const c = new Client({ ...pg, database });
    await c.connect();
    await c.query(text).finally(() => c.end());
  };
  await sql("postgres", `create role booking_service_qual login password '${randomBytes(8).toString("hex")}'`);
  await sql("postgres", "create database booking_service_qual owner booking_service_qual");
  await sql("booking_service_qual", "create table bookings as select g as id, md5(g::text) as guest from generate_series(1, 5000) g");

  rabbit = await startRabbitmq({ management: true, env: { RABBITMQ_DEFAULT_USER: "portugal_odyssey", RABBITMQ_DEFAULT_PASS: PASSWORDS.rabbitmq, RABBITMQ_DEFAULT_VHOST: names.rabbitmqVhost(ENV) } });
  es = await new EsStandin().start();
  es.indices = { experiences: 12, bookings: 4 };
  es.pathRepo = volumeFor("elasticsearch-snapshots").mountpoint;

  const uploads = volumeFor("strapi-uploads").mountpoint;
  for (let i = 0; i < UPLOAD_FILES; i++) writeFileSync(join(uploads, `photo-${i}.jpg`), randomBytes(UPLOAD_BYTES));
}, 600_000);

afterAll(async () => {
  for (const name of created) await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
  for (const { name } of volumes.values()) await docker.getVolume(name).remove().catch(() => undefined);
  redis?.kill("SIGTERM");
  await Promise.all([pg?.stop(), rabbit?.stop(), es?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The registered container as the engine would create it, on this test's volumes and stores. */
function containerBody(name: string, cmd: string[], opts: { repositoryReadOnly?: boolean; env?: Record<string, string>; binds?: string[] } = {}): Docker.ContainerCreateOptions {
  const { body } = containerSpec(registered, image, runId);
  const registeredVolumes = registered.inputs.volumes as { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }[];
  const stores: Record<string, string> = {
    PGHOST: "127.0.0.1",
    PGPORT: String(pg.port),
    PGPASSWORD: PASSWORDS.postgres,
    REDIS_HOST: "127.0.0.1",
    REDIS_PORT: String(redisPort),
    REDISCLI_AUTH: PASSWORDS.redis,
    RABBITMQ_API: rabbit.managementUrl!,
    RABBITMQ_PASSWORD: PASSWORDS.rabbitmq,
    ELASTICSEARCH_URL: es.url,
    RESTIC_PASSWORD: PASSWORDS.restic,
    ...opts.env,
  };
  const env = (body.Env ?? []).map((e) => e.slice(0, e.indexOf("="))).filter((k) => !(k in stores));
  const planned = Object.fromEntries((body.Env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  return {
    ...body,
    name,
    Cmd: cmd,
    Env: [...env.map((k) => `${k}=${planned[k]}`), ...Object.entries(stores).map(([k, v]) => `${k}=${v}`)],
    Labels: { ...body.Labels, ...labels },
    NetworkingConfig: undefined,
    HostConfig: {
      ...body.HostConfig,
      NetworkMode: "host",
      Mounts: registeredVolumes.map((v) =>
        v.volumeName
          ? { Type: "volume" as const, Source: volumes.get(v.volumeName)!.name, Target: v.containerPath, ReadOnly: v.readOnly ?? false }
          : { Type: "bind" as const, Source: v.hostPath!, Target: v.containerPath, ReadOnly: opts.repositoryReadOnly ?? v.readOnly ?? false },
      ),
      Binds: opts.binds,
    },
  };
}

const CLI = ["node_modules/.bin/tsx", "backup/cli.ts"];

async function logsOf(name: string): Promise<string> {
  const raw = (await docker.getContainer(name).logs({ stdout: true, stderr: true })) as unknown as Buffer;
  return raw.toString("utf8").replace(/[\x00-\x08]/g, "");
}

test("the plan's container is the production spec this test runs: user, read-only root, tmpfs, capabilities, memory", () => {
  const { HostConfig, User } = containerSpec(registered, image, runId).body;
  expect(User).toBe("1000:1000");
  expect(HostConfig).toMatchObject({ ReadonlyRootfs: true, CapDrop: ["ALL"], Tmpfs: { "/tmp": expect.stringContaining("size=16m") } });
  expect(HostConfig!.Memory).toBeGreaterThan(0);
});

test("the nightly backup, killed with SIGKILL mid-backup and run again, completes in the production container", async () => {
  const name = `${runId}-backup`;
  const container = await docker.createContainer(containerBody(name, [...CLI, "backup", "run"]));
  created.push(name);
  // Docker gave the fresh volumes the owners of the image's mount points when it created the container.
  for (const dir of BACKUP_IMAGE_DIRS) {
    const key = Object.entries(BACKUP_MOUNTS).find(([, path]) => path === dir.path)?.[0] ?? (dir.path === BACKUP_STAGING ? "backup-staging" : undefined);
    const st = statSync(volumeFor(key as (typeof VOLUME_KEYS)[number]).mountpoint);
    expect({ path: dir.path, owner: `${st.uid}:${st.gid}`, mode: (st.mode & 0o7777).toString(8).padStart(4, "0") }).toEqual(dir);
  }
  // Elasticsearch's user (1000:0) can now create its repository in the snapshots volume, as PUT /_snapshot does.
  execFileSync("setpriv", ["--reuid=1000", "--regid=0", "--clear-groups", "mkdir", join(volumeFor("elasticsearch-snapshots").mountpoint, ENV)]);

  await container.start();
  // Killed once restic is sending the staged files and the uploads: its lock stays in the repository.
  await waitFor(
    "restic backup running in the container",
    async () => ((await container.top()) as { Processes: string[][] }).Processes.some((p) => /restic .*backup/.test(p.join(" "))),
    600_000,
  );
  await container.kill({ signal: "SIGKILL" });
  await container.wait();
  expect(execFileSync("ls", [join(repository(), "locks")], { encoding: "utf8" }).trim()).not.toBe("");

  await container.start();
  const exit = (await container.wait()) as { StatusCode: number };
  const logs = await logsOf(name);
  expect({ exit: exit.StatusCode, logs: logs.split("\n").slice(-5) }).toMatchObject({ exit: 0 });
  expect(logs).toMatch(/backup qual: snapshot [0-9a-f]{8} complete/);

  const restic = new Restic({ repository: repository(), env: { RESTIC_PASSWORD: PASSWORDS.restic } });
  const complete = await restic.snapshots(ENV, BACKUP_TAGS.complete);
  expect(complete).toHaveLength(1);
  const manifestFile = join(work, "manifest.json");
  await restic.dumpFile(complete[0].id, "/manifest.json", manifestFile);
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest;
  expect(manifest.redis).toMatchObject({ keys: REDIS_KEYS });
  expect(manifest.elasticsearch).toMatchObject({ indices: es.indices });
  expect(manifest.uploads).toMatchObject({ files: UPLOAD_FILES, bytes: UPLOAD_FILES * UPLOAD_BYTES });
  expect(manifest.postgres.databases.map((d) => d.database)).toEqual(["booking_service_qual"]);
  const status = JSON.parse(readFileSync(join(volumeFor("backup-staging").mountpoint, BACKUP_STATUS_FILE), "utf8")) as Record<string, string>;
  expect(status.lastSnapshot).toBe(complete[0].id);
  expect(Date.parse(status.lastSuccess)).toBeGreaterThan(Date.parse(status.lastFailure ?? "0"));
});

test("the drill passes in the same container spec, reading the repository mounted read-only", async () => {
  // An empty server for the restore; the backup's roles carry the source superuser's password, so it has the same one.
  const target = await startPostgres(PASSWORDS.postgres);
  try {
    const name = `${runId}-drill`;
    const body = containerBody(name, [...CLI.slice(0, 1), "test/e2e/backup-container/drill-in-container.ts"], {
      repositoryReadOnly: true,
      env: { DRILL_PGHOST: "127.0.0.1", DRILL_PGPORT: String(target.port), DRILL_PGUSER: target.user, DRILL_PGPASSWORD: target.password },
      // The drill's entry point is test code: bound in read-only beside the image's own program.
      binds: [`${join(ROOT, "test")}:/app/test:ro`],
    });
    const container = await docker.createContainer(body);
    created.push(name);
    await container.start();
    const exit = (await container.wait()) as { StatusCode: number };
    const logs = await logsOf(name);
    const line = logs.split("\n").find((l) => l.startsWith("{"));
    const result = line ? (JSON.parse(line) as DrillResult) : undefined;
    expect({ exit: exit.StatusCode, problems: result?.problems, logs: result ? "" : logs }).toEqual({ exit: 0, problems: [], logs: "" });
    const c = new Client({ ...target, database: "booking_service_qual" });
    await c.connect();
    const rows = await c.query<{ n: number }>("select count(*)::int as n from bookings").finally(() => c.end());
    expect(rows.rows[0].n).toBe(5000);
  } finally {
    await target.stop();
  }
});
