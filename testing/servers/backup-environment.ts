/**
 * Stores filled with data for the backup container, on the real daemon: the
 * backup image built locally from backup/Dockerfile (.ci/backup-image.sh), the
 * container the program registers for `backup` (taken from the mock engine, so
 * its user, read-only root, tmpfs, capabilities, memory, env and mounts are the
 * ones that ship), fresh named volumes of this run's own names, and stores whose
 * files have the official images' owners and modes:
 *   - PostgreSQL (Debian's) with a service role and database;
 *   - Redis run as uid 999 under umask 0077, as the redis image's entrypoint runs
 *     it (docker-library/redis docker-entrypoint.sh), its dump.rdb copied into the
 *     redis-data volume with that owner and mode (0600 to 999);
 *   - RabbitMQ (Debian's) with the management API; the Elasticsearch stand-in,
 *     writing into the snapshots volume;
 *   - Strapi uploads that do not compress.
 * The container shares the host's network (the stores listen on loopback) and is
 * given their addresses and passwords in place of the plan's. Used by the
 * container e2e (test/e2e/backup-container.e2e.test.ts) and `npm run bench`.
 *
 * The same stack is also rendered with `runtime: swarm`, and `swarmTaskBody` makes
 * a plain container of the backup service's task spec: its env (`<NAME>_FILE` for
 * every credential), user, read-only root, tmpfs sizes, capabilities and limits,
 * with each of its Docker secrets materialised as the engine writes it for a task
 * (moby daemon/container_operations_unix.go setupSecretDir: the secret's exact
 * bytes, os.WriteFile with the reference's mode, then chown to its uid:gid, on a
 * tmpfs of the container's own). Where this differs from Swarm: the files sit in
 * one directory on the host's /dev/shm (a tmpfs too), bound read-only at
 * /run/secrets as a whole, where Swarm binds each file read-only at its own target
 * (container_unix.go SecretMounts); and the values are the test servers' passwords,
 * not the program's.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { Client } from "pg";
import { VOLUME_KEYS, type VolumeKey } from "../../catalog/types";
import { names } from "../../model/naming";
import { secretFile } from "../../model/swarm";
import { parseCpus } from "../../model/read-back";
import { runProgram, TYPES, type RegisteredResource } from "../mock-engine";
import { TEST_EXTERNAL_SECRETS } from "../stack-config";
import { EsStandin } from "./es-standin";
import { freePort, waitFor } from "./free-port";
import { startPostgres, type PostgresServer } from "./postgres";
import { startRabbitmq, type RunningRabbitmq } from "./rabbitmq";

const ROOT = join(__dirname, "..", "..");
/** The uid the official redis image runs as. */
export const REDIS_UID = 999;
/** The registered type of a swarm service. */
export const SWARM_SERVICE_TYPE = "docker:index/service:Service";
/** Enough of a swarm for the program to render the stack as services; the test host's budget is not what is tested. */
const SWARM_CONFIG = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
/** Marks what this module created on the daemon. */
export const BACKUP_ENVIRONMENT_LABEL = "pt.portugalodyssey.backup-environment";

export interface StoreFill {
  /** Rows of the service database's one table. */
  rows: number;
  redisKeys: number;
  uploadFiles: number;
  uploadBytes: number;
}

/** The backup image for this machine's tests: built once per content hash, its tag printed by the script. */
export const buildBackupImage = (): string =>
  execFileSync("bash", [join(ROOT, ".ci", "backup-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();

export interface BackupEnvironment {
  env: string;
  image: string;
  /** The backup container as the program registers it. */
  registered: RegisteredResource;
  /** The local restic repository (a host directory owned by the backup's user, bind-mounted as the plan says). */
  repository: string;
  resticPassword: string;
  /** The source PostgreSQL's superuser password: a drill's empty server is given the same one (the roles restore it). */
  postgresPassword: string;
  es: EsStandin;
  fill: StoreFill;
  volume(key: VolumeKey): { name: string; mountpoint: string };
  /** The registered container's create body, on this environment's volumes and stores. */
  containerBody(name: string, cmd: string[], opts?: { repositoryReadOnly?: boolean; env?: Record<string, string>; binds?: string[] }): Docker.ContainerCreateOptions;
  /** The backup service the same stack registers with `runtime: swarm`. */
  registeredService: RegisteredResource;
  /** Its task spec as a plain container on this environment's volumes and stores, its secrets as files in `secretsDir`, bound at /run/secrets. */
  swarmTaskBody(name: string, cmd: string[]): Docker.ContainerCreateOptions;
  /** Where the task's secret files are on the host (one per secret reference, under its file name's base name). */
  secretsDir: string;
  cleanUp(): Promise<void>;
}

/** `projectDir`: the Pulumi project whose stack `env` (default qual) is planned: the tests' fixture project, or this one. */
export async function startBackupEnvironment(docker: Docker, opts: { runId: string; image: string; fill: StoreFill; projectDir: string; env?: string }): Promise<BackupEnvironment> {
  const env = opts.env ?? "qual";
  const labels = { [BACKUP_ENVIRONMENT_LABEL]: opts.runId };
  const work = mkdtempSync(join(tmpdir(), "po-backup-env-"));
  // Other users (Redis's 999, the backup's 1000) pass through it to their own directories.
  chmodSync(work, 0o711);
  const volumes = new Map<string, { name: string; mountpoint: string }>();
  const started: { stop(): Promise<void> }[] = [];
  let redis: ChildProcess | undefined;
  /** Directories outside `work` that this environment made. */
  const madeElsewhere: string[] = [];
  const cleanUp = async () => {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`${BACKUP_ENVIRONMENT_LABEL}=${opts.runId}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    for (const { name } of volumes.values()) await docker.getVolume(name).remove().catch(() => undefined);
    redis?.kill("SIGTERM");
    await Promise.all(started.map((s) => s.stop()));
    for (const dir of [work, ...madeElsewhere]) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const location = join(work, "restic");
    const repository = names.backupRepository(location, env);
    const run = await runProgram({ projectDir: opts.projectDir, stack: env, config: { backup: { repository: location } }, secrets: TEST_EXTERNAL_SECRETS });
    const registered = run.resources.find((r) => r.type === TYPES.container && r.inputs.name === names.backupContainer(env));
    if (!registered) throw new Error(`the program registered no backup container for ${env}`);
    const swarmRun = await runProgram({ projectDir: opts.projectDir, stack: env, config: { ...SWARM_CONFIG, backup: { repository: location } }, secrets: TEST_EXTERNAL_SECRETS });
    const registeredService = swarmRun.resources.find((r) => r.type === SWARM_SERVICE_TYPE && r.inputs.name === names.backupContainer(env));
    if (!registeredService) throw new Error(`the program registered no backup service for ${env} on swarm`);
    // The host directory of a local repository, writable by the backup's user, as docs/backups.md tells the operator.
    mkdirSync(repository, { recursive: true });
    for (const dir of [location, repository]) chownSync(dir, 1000, 1000);

    for (const key of VOLUME_KEYS) {
      const name = `${opts.runId}-${key}`;
      await docker.createVolume({ Name: name, Labels: labels });
      volumes.set(names.volume(key, env), { name, mountpoint: (await docker.getVolume(name).inspect()).Mountpoint });
    }
    const volume = (key: VolumeKey) => volumes.get(names.volume(key, env))!;
    const passwords = { restic: randomBytes(12).toString("hex"), redis: randomBytes(12).toString("hex"), rabbitmq: randomBytes(12).toString("hex") };

    // Redis in a directory of its own (the daemon's volume root is not open to uid 999).
    const redisDir = join(work, "redis-data");
    mkdirSync(redisDir, { mode: 0o700 });
    chownSync(redisDir, REDIS_UID, REDIS_UID);
    const redisPort = await freePort();
    const script = 'umask 0077; exec redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --appendonly yes --requirepass "$3"';
    redis = spawn("setpriv", [`--reuid=${REDIS_UID}`, `--regid=${REDIS_UID}`, "--clear-groups", "sh", "-c", script, "sh", String(redisPort), redisDir, passwords.redis], { stdio: "ignore" });
    const redisCli = (...args: string[]) => execFileSync("redis-cli", ["-p", String(redisPort), "--no-auth-warning", ...args], { env: { ...process.env, REDISCLI_AUTH: passwords.redis }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    await waitFor("redis as uid 999", async () => redisCli("ping").trim() === "PONG", 15_000);
    // One pipe of SETs, not one process per key.
    execFileSync("sh", ["-c", `i=0; while [ $i -lt ${opts.fill.redisKeys} ]; do echo "SET session:$i v$i"; i=$((i+1)); done | redis-cli -p ${redisPort} --no-auth-warning --pipe >/dev/null`], { env: { ...process.env, REDISCLI_AUTH: passwords.redis } });
    redisCli("save");
    execFileSync("cp", ["-a", join(redisDir, "dump.rdb"), volume("redis-data").mountpoint]);
    const rdb = statSync(join(volume("redis-data").mountpoint, "dump.rdb"));
    if (rdb.uid !== REDIS_UID || (rdb.mode & 0o777) !== 0o600) throw new Error(`dump.rdb is ${rdb.uid} ${(rdb.mode & 0o777).toString(8)}, not 999 0600`);

    const pg: PostgresServer = await startPostgres({ superuser: "portugal_odyssey" });
    started.push(pg);
    const sql = async (database: string, text: string) => {
      const c = new Client({ host: pg.host, port: pg.port, user: pg.superuser, password: pg.password, database });
      await c.connect();
      await c.query(text).finally(() => c.end());
    };
    const database = names.serviceDatabase("booking-service", env);
    await sql("postgres", `create role ${database} login password '${randomBytes(8).toString("hex")}'`);
    await sql("postgres", `create database ${database} owner ${database}`);
    await sql(database, `create table bookings as select g as id, md5(g::text) as guest, now() as updated_at from generate_series(1, ${opts.fill.rows}) g`);

    const rabbit: RunningRabbitmq = await startRabbitmq({ management: true, env: { RABBITMQ_DEFAULT_USER: "portugal_odyssey", RABBITMQ_DEFAULT_PASS: passwords.rabbitmq, RABBITMQ_DEFAULT_VHOST: names.rabbitmqVhost(env) } });
    started.push(rabbit);
    const es = await new EsStandin().start();
    started.push(es);
    es.indices = { experiences: 12, bookings: 4 };
    es.pathRepo = volume("elasticsearch-snapshots").mountpoint;

    for (let i = 0; i < opts.fill.uploadFiles; i++) writeFileSync(join(volume("strapi-uploads").mountpoint, `photo-${i}.jpg`), randomBytes(opts.fill.uploadBytes));

    const addresses: Record<string, string> = {
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      REDIS_HOST: "127.0.0.1",
      REDIS_PORT: String(redisPort),
      RABBITMQ_API: rabbit.managementUrl!,
      ELASTICSEARCH_URL: es.url,
    };
    const credentials: Record<string, string> = {
      PGPASSWORD: pg.password,
      REDISCLI_AUTH: passwords.redis,
      RABBITMQ_PASSWORD: passwords.rabbitmq,
      RESTIC_PASSWORD: passwords.restic,
    };
    const stores = { ...addresses, ...credentials };
    const MiB = 1024 * 1024;
    const hostMount = (v: { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }, repositoryReadOnly?: boolean) =>
      v.volumeName
        ? { Type: "volume" as const, Source: volumes.get(v.volumeName)!.name, Target: v.containerPath, ReadOnly: v.readOnly ?? false }
        : { Type: "bind" as const, Source: v.hostPath!, Target: v.containerPath, ReadOnly: repositoryReadOnly ?? v.readOnly ?? false };
    const containerBody: BackupEnvironment["containerBody"] = (name, cmd, more = {}) => {
      const i = registered.inputs;
      const given = { ...stores, ...more.env };
      const planned = ((i.envs ?? []) as string[]).filter((e) => !(e.slice(0, e.indexOf("=")) in given));
      return {
        name,
        Image: opts.image,
        Cmd: cmd,
        User: i.user,
        Env: [...planned, ...Object.entries(given).map(([k, v]) => `${k}=${v}`)],
        Labels: labels,
        HostConfig: {
          NetworkMode: "host",
          ReadonlyRootfs: i.readOnly,
          Tmpfs: i.tmpfs,
          CapDrop: i.capabilities?.drops,
          CapAdd: i.capabilities?.adds,
          SecurityOpt: i.securityOpts,
          Memory: i.memory * MiB,
          MemorySwap: i.memorySwap ? i.memorySwap * MiB : undefined,
          NanoCpus: i.cpus ? Number(parseCpus(i.cpus)) : undefined,
          Mounts: (i.volumes as { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }[]).map((v) => hostMount(v, more.repositoryReadOnly)),
          Binds: more.binds,
        },
      };
    };

    // The task's secrets, each as the engine writes it: the test server's password where the test has one, else
    // the program's own value (the provider's `data`, base64), with the reference's owner and mode.
    const secretsDir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : work, "po-backup-secrets-"));
    chmodSync(secretsDir, 0o755);
    madeElsewhere.push(secretsDir);
    const spec = registeredService.inputs.taskSpec.containerSpec;
    const secretData = new Map(swarmRun.resources.filter((r) => r.type === "docker:index/secret:Secret").map((r) => [r.inputs.name as string, Buffer.from(r.inputs.data as string, "base64")]));
    type SecretRef = { secretName: string; fileName: string; fileUid: string; fileGid: string; fileMode: number };
    for (const ref of (spec.secrets ?? []) as SecretRef[]) {
      const envName = ref.fileName.slice(secretFile("").length);
      const file = join(secretsDir, envName);
      writeFileSync(file, envName in credentials ? Buffer.from(credentials[envName], "utf8") : secretData.get(ref.secretName)!, { mode: ref.fileMode });
      chownSync(file, Number(ref.fileUid), Number(ref.fileGid));
      chmodSync(file, ref.fileMode);
    }
    const swarmTaskBody: BackupEnvironment["swarmTaskBody"] = (name, cmd) => {
      type SwarmMount = { type: "volume" | "bind" | "tmpfs"; source?: string; target: string; readOnly: boolean; tmpfsOptions?: { sizeBytes: number } };
      const limits = registeredService.inputs.taskSpec.resources.limits as { memoryBytes: number; nanoCpus: number };
      return {
        name,
        Image: opts.image,
        Cmd: cmd,
        User: spec.user,
        // The addresses of the test's servers replace the plan's; the credentials stay files.
        Env: Object.entries({ ...(spec.env as Record<string, string>), ...addresses }).map(([k, v]) => `${k}=${v}`),
        Labels: labels,
        HostConfig: {
          NetworkMode: "host",
          ReadonlyRootfs: spec.readOnly,
          CapDrop: spec.capDrops,
          CapAdd: spec.capAdds,
          Memory: limits.memoryBytes,
          NanoCpus: limits.nanoCpus,
          Mounts: [
            ...(spec.mounts as SwarmMount[]).map((m) =>
              m.type === "tmpfs"
                ? // As the task executor hands it to the engine (moby daemon/cluster/executor/container/container.go convertMount):
                  // the size, and mode 0, which is the engine's default; no source (daemon/volume/mounts/linux_parser.go refuses one).
                  { Type: "tmpfs" as const, Source: "", Target: m.target, TmpfsOptions: { SizeBytes: m.tmpfsOptions!.sizeBytes, Mode: 0 } }
                : hostMount(m.type === "volume" ? { volumeName: m.source, containerPath: m.target, readOnly: m.readOnly } : { hostPath: m.source, containerPath: m.target, readOnly: m.readOnly }),
            ),
            { Type: "bind" as const, Source: secretsDir, Target: secretFile("").replace(/\/$/, ""), ReadOnly: true },
          ],
        },
      };
    };
    return {
      env,
      image: opts.image,
      registered,
      registeredService,
      repository,
      resticPassword: passwords.restic,
      postgresPassword: pg.password,
      es,
      fill: opts.fill,
      volume,
      containerBody,
      swarmTaskBody,
      secretsDir,
      cleanUp,
    };
  } catch (e) {
    await cleanUp();
    throw e;
  }
}

/**
 * What one run of a container took: its exit code, wall time, memory limit, and peak memory as sampled
 * from the daemon's stats (about once a second): the working set (usage less the page cache it can drop,
 * as `docker stats` shows it), and the cgroup's max usage, page cache included (cgroup v1 only), which
 * the kernel reclaims before it kills anything.
 */
export interface ContainerRun {
  exitCode: number;
  wallSeconds: number;
  peakWorkingSetMb?: number;
  peakWithCacheMb?: number;
  limitMb: number;
  logs: string;
}

/** Starts a created container and waits for it, sampling the daemon's memory stats (max_usage on cgroup v1, usage otherwise). */
export async function runToExit(docker: Docker, name: string): Promise<ContainerRun> {
  const container = docker.getContainer(name);
  const limitMb = ((await container.inspect()).HostConfig.Memory ?? 0) / (1024 * 1024);
  let peakWorkingSet = 0;
  let peakWithCache = 0;
  const started = Date.now();
  await container.start();
  const stats = (await container.stats({ stream: true })) as unknown as NodeJS.ReadableStream;
  stats.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
      try {
        const m = (JSON.parse(line) as { memory_stats?: { usage?: number; max_usage?: number; stats?: Record<string, number> } }).memory_stats;
        if (!m?.usage) continue;
        // docker stats' own arithmetic: cgroup v1 subtracts total_inactive_file, v2 inactive_file (docker/cli calculateMemUsageUnixNoCache).
        const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
        peakWorkingSet = Math.max(peakWorkingSet, m.usage - cache);
        peakWithCache = Math.max(peakWithCache, m.max_usage ?? m.usage);
      } catch {
        // a line split across chunks
      }
    }
  });
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  const wallSeconds = (Date.now() - started) / 1000;
  (stats as unknown as { destroy?: () => void }).destroy?.();
  const logs = demux((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer);
  const mb = (bytes: number) => (bytes ? Math.round(bytes / (1024 * 1024)) : undefined);
  return { exitCode: StatusCode, wallSeconds, peakWorkingSetMb: mb(peakWorkingSet), peakWithCacheMb: mb(peakWithCache), limitMb, logs };
}

/** A container's logs without a TTY are frames: a stream byte, three zero bytes, a 4-byte big-endian length, the payload (Engine API, ContainerAttach). */
function demux(raw: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}
