/**
 * The nightly backup and the drill the way they run: in the backup image (built
 * here from backup/Dockerfile on a local Debian base, .ci/backup-image.sh), in a
 * container created from exactly what the program registers for the backup
 * container (its user 1000:1000, read-only root, 16 MiB /tmp tmpfs, every
 * capability dropped, memory limit, env and mounts), on the real daemon, against
 * stores whose files have the official images' owners and modes
 * (testing/servers/backup-environment.ts): a dump.rdb that is 0600 to Redis's
 * uid 999, fresh named volumes for the staging area and the Elasticsearch
 * snapshots. The stores are reached over the host's network. The names are this
 * test's own, so it needs no e2e lock.
 *
 * Then the backup as `runtime: swarm` registers its service: the task spec's env,
 * with `<NAME>_FILE` for every credential and no credential itself, and its
 * Docker secrets as read-only root-owned 0444 files at /run/secrets
 * (testing/servers/backup-environment.ts says how that differs from Swarm's).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import { Client } from "pg";
import { STORES } from "../../catalog/stores";
import type { VolumeKey } from "../../catalog/types";
import type { DrillResult } from "../../backup/drill";
import type { Manifest } from "../../backup/job";
import { Restic } from "../../backup/restic";
import { BACKUP_IMAGE_DIRS, BACKUP_MOUNTS, BACKUP_STAGING, BACKUP_STATUS_FILE } from "../../model/backup";
import { planEnvironment } from "../../model/environment";
import { BACKUP_TAGS, names } from "../../model/naming";
import { secretFile } from "../../model/swarm";
import { BACKUP_ENVIRONMENT_LABEL, buildBackupImage, runToExit, startBackupEnvironment, type BackupEnvironment, type StoreFill } from "../../testing/servers/backup-environment";
import { startPostgres } from "../../testing/servers/postgres";
import { waitFor } from "../../testing/servers/free-port";
import { FIXTURE_PROJECT, settingsOf } from "../harness/stack-config";
import { dockerStatus } from "./host";

jest.setTimeout(900_000);

const ROOT = join(__dirname, "..", "..");
const docker = new Docker();
const status = dockerStatus();
const runId = `po-backup-e2e-${process.pid}-${Date.now().toString(36)}`;
/** Over 100 MB of uploads that do not compress: more than /tmp's 16 MiB holds of restic's pack files. */
const FILL: StoreFill = { rows: 5000, redisKeys: 40, uploadFiles: 12, uploadBytes: 10 * 1024 * 1024 };
const CLI = ["node_modules/.bin/tsx", "backup/cli.ts"];
let environment: BackupEnvironment;

beforeAll(async () => {
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
  environment = await startBackupEnvironment(docker, { runId, image: buildBackupImage(), fill: FILL, projectDir: FIXTURE_PROJECT });
}, 600_000);

afterAll(async () => {
  await environment?.cleanUp();
});

const restic = () => new Restic({ repository: environment.repository, env: { RESTIC_PASSWORD: environment.resticPassword } });
const backupStatus = () => JSON.parse(readFileSync(join(environment.volume("backup-staging").mountpoint, BACKUP_STATUS_FILE), "utf8")) as Record<string, string>;

/** The snapshot's manifest, read back from the repository, holds every store the test filled. */
async function expectWholeSnapshot(snapshotId: string) {
  const manifestFile = join(environment.volume("backup-staging").mountpoint, `manifest-readback-${snapshotId.slice(0, 8)}.json`);
  await restic().dumpFile(snapshotId, "/manifest.json", manifestFile);
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest;
  expect(manifest.redis).toMatchObject({ keys: FILL.redisKeys });
  expect(manifest.elasticsearch).toMatchObject({ indices: environment.es.indices });
  expect(manifest.uploads).toMatchObject({ files: FILL.uploadFiles, bytes: FILL.uploadFiles * FILL.uploadBytes });
  expect(manifest.postgres.databases.map((d) => d.database)).toEqual([names.serviceDatabase("booking-service", environment.env)]);
}

const mountKey = (path: string): VolumeKey => (path === BACKUP_STAGING ? "backup-staging" : (Object.entries(BACKUP_MOUNTS).find(([, p]) => p === path)![0] as VolumeKey));

test("the container this test runs is the production spec: user, read-only root, 16 MiB /tmp, no capability, a memory limit", () => {
  const i = environment.registered.inputs;
  expect({ user: i.user, readOnly: i.readOnly, tmpfs: i.tmpfs, drops: i.capabilities?.drops }).toEqual({
    user: "1000:1000",
    readOnly: true,
    tmpfs: { "/tmp": expect.stringContaining("size=16m") },
    drops: ["ALL"],
  });
  const body = environment.containerBody("unused", []);
  expect(body.HostConfig).toMatchObject({ ReadonlyRootfs: true, CapDrop: ["ALL"], Tmpfs: i.tmpfs, Memory: i.memory * 1024 * 1024 });
  expect(body.User).toBe(i.user);
});

test("the nightly backup, killed with SIGKILL mid-backup and run again, completes in the production container", async () => {
  const name = `${runId}-backup`;
  const container = await docker.createContainer(environment.containerBody(name, [...CLI, "backup", "run"]));
  // Docker gave the fresh volumes the owners and modes of the image's mount points when it created the container.
  for (const dir of BACKUP_IMAGE_DIRS) {
    const st = statSync(environment.volume(mountKey(dir.path)).mountpoint);
    expect({ path: dir.path, owner: `${st.uid}:${st.gid}`, mode: (st.mode & 0o7777).toString(8).padStart(4, "0") }).toEqual(dir);
  }
  // Elasticsearch's user (1000:0, the catalog's) can now create its repository there, as PUT /_snapshot does.
  const node = await docker.createContainer({
    name: `${runId}-es-user`,
    Image: environment.image,
    User: STORES.elasticsearch.user,
    Cmd: ["mkdir", `/es-snapshots/${environment.env}`],
    Labels: { [BACKUP_ENVIRONMENT_LABEL]: runId },
    HostConfig: { Mounts: [{ Type: "volume", Source: environment.volume("elasticsearch-snapshots").name, Target: "/es-snapshots" }] },
  });
  await node.start();
  expect(((await node.wait()) as { StatusCode: number }).StatusCode).toBe(0);
  await node.remove();

  await container.start();
  // Killed once restic is sending the staged files and the uploads: its lock stays in the repository.
  const locked = () => existsSync(join(environment.repository, "locks")) && readdirSync(join(environment.repository, "locks")).length > 0;
  const resticBackup = async () => ((await container.top()) as { Processes: string[][] }).Processes.some((p) => /restic( --retry-lock \S+)? backup /.test(p.join(" "))) && locked();
  await waitFor("restic backup running in the container, holding its lock", resticBackup, 600_000);
  await container.kill({ signal: "SIGKILL" });
  await container.wait();
  expect(readdirSync(join(environment.repository, "locks"))).not.toEqual([]);

  const second = await runToExit(docker, name);
  expect({ exit: second.exitCode, logs: second.logs.split("\n").slice(-6) }).toMatchObject({ exit: 0 });
  expect(second.logs).toMatch(new RegExp(`backup ${environment.env}: snapshot [0-9a-f]{8} complete`));

  const complete = await restic().snapshots(environment.env, BACKUP_TAGS.complete);
  expect(complete).toHaveLength(1);
  await expectWholeSnapshot(complete[0].id);
  const status = backupStatus();
  expect(status.lastSnapshot).toBe(complete[0].id);
  expect(Date.parse(status.lastSuccess)).toBeGreaterThan(Date.parse(status.lastFailure ?? "0"));
});

test("the drill passes in the same container spec, reading the repository mounted read-only", async () => {
  const target = await startPostgres({ superuser: "portugal_odyssey" });
  try {
    // The backup's roles carry the source superuser's password, which the drill's psql logins then need.
    const admin = new Client({ host: target.host, port: target.port, user: target.superuser, password: target.password, database: "postgres" });
    await admin.connect();
    await admin.query(`alter role portugal_odyssey password '${environment.postgresPassword}'`).finally(() => admin.end());
    const name = `${runId}-drill`;
    await docker.createContainer(
      environment.containerBody(name, [CLI[0], "test/e2e/backup-container/drill-in-container.ts"], {
        repositoryReadOnly: true,
        env: { DRILL_PGHOST: target.host, DRILL_PGPORT: String(target.port), DRILL_PGUSER: target.superuser, DRILL_PGPASSWORD: environment.postgresPassword },
        // The drill's entry point is test code: bound in read-only beside the image's own program.
        binds: [`${join(ROOT, "test")}:/app/test:ro`],
      }),
    );
    const drill = await runToExit(docker, name);
    const line = drill.logs.split("\n").find((l) => l.startsWith("{"));
    const result = line ? (JSON.parse(line) as DrillResult) : undefined;
    expect({ exit: drill.exitCode, problems: result?.problems, logs: result ? "" : drill.logs }).toEqual({ exit: 0, problems: [], logs: "" });
    const c = new Client({ host: target.host, port: target.port, user: target.superuser, password: environment.postgresPassword, database: names.serviceDatabase("booking-service", environment.env) });
    await c.connect();
    const rows = await c.query<{ n: number }>("select count(*)::int as n from bookings").finally(() => c.end());
    expect(rows.rows[0].n).toBe(FILL.rows);
  } finally {
    await target.stop();
  }
});

describe("on runtime: swarm", () => {
  /** The backup's credentials as the plan has them for a local repository, as here: what the swarm delivers as files. */
  const credentials = () =>
    planEnvironment(settingsOf(environment.env, { backup: { repository: environment.repository } }))
      .backup!.env.filter((v) => v.secret)
      .map((v) => v.name);
  const spec = () => environment.registeredService.inputs.taskSpec.containerSpec;

  test("the service's task is the production spec: credentials only as <NAME>_FILE, user, read-only root, 16 MiB /tmp, no capability", () => {
    expect(credentials().length).toBeGreaterThan(0);
    const env = spec().env as Record<string, string>;
    for (const name of credentials()) expect({ name, plain: env[name], file: env[`${name}_FILE`] }).toEqual({ name, plain: undefined, file: secretFile(name) });
    expect(spec().secrets).toEqual(credentials().map((name) => expect.objectContaining({ fileName: secretFile(name), fileMode: 0o444, fileUid: "0", fileGid: "0" })));
    const tmpfs = (spec().mounts as { type: string; target: string; tmpfsOptions?: { sizeBytes: number } }[]).filter((m) => m.type === "tmpfs");
    expect({ user: spec().user, readOnly: spec().readOnly, drops: spec().capDrops, tmpfs }).toEqual({
      user: "1000:1000",
      readOnly: true,
      drops: ["ALL"],
      tmpfs: [expect.objectContaining({ target: "/tmp", tmpfsOptions: { sizeBytes: 16 * 1024 * 1024 } })],
    });
    // Materialised as the engine writes a task's secret: root's, 0444.
    for (const name of credentials()) {
      const st = statSync(join(environment.secretsDir, name));
      expect({ name, owner: `${st.uid}:${st.gid}`, mode: (st.mode & 0o777).toString(8) }).toEqual({ name, owner: "0:0", mode: "444" });
    }
  });

  test("the nightly backup completes in the task's container, reading every credential from its secret file, with none in its env", async () => {
    const name = `${runId}-swarm-task`;
    await docker.createContainer(environment.swarmTaskBody(name, [...CLI, "backup", "run"]));
    const inspected = await docker.getContainer(name).inspect();
    const envNames = inspected.Config.Env.map((e) => e.slice(0, e.indexOf("=")));
    expect(credentials().filter((c) => envNames.includes(c))).toEqual([]);
    expect(credentials().filter((c) => !envNames.includes(`${c}_FILE`))).toEqual([]);
    expect(inspected.HostConfig).toMatchObject({ ReadonlyRootfs: true, CapDrop: ["ALL"] });
    expect(inspected.Config.User).toBe("1000:1000");

    const run = await runToExit(docker, name);
    // A failed run shows its last lines.
    expect({ exit: run.exitCode, tail: run.exitCode === 0 ? [] : run.logs.trim().split("\n").slice(-6) }).toEqual({ exit: 0, tail: [] });
    expect(run.logs).toMatch(new RegExp(`backup ${environment.env}: snapshot [0-9a-f]{8} complete`));
    const status = backupStatus();
    const complete = await restic().snapshots(environment.env, BACKUP_TAGS.complete);
    expect(complete.map((s) => s.id)).toContain(status.lastSnapshot);
    await expectWholeSnapshot(status.lastSnapshot);
  });
});
