/**
 * Taking over a Compose deployment on a real Docker engine, as docs/migrating-from-compose.md's
 * migration guide says: the host check refuses while the Compose container
 * still holds the name; once it is removed, the data written before the
 * takeover is there after it. The check also refuses a same-named volume that
 * was not mapped.
 */
import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { ConfigError } from "../../config/load";
import { readDockerInventory } from "../../host/inventory";
import { listVolume } from "../../host/volume-listing";
import { TYPES, runProgram, type ProgramRun } from "../harness/program";
import { Applier, RUN_LABEL, removeLabelled } from "./applier";
import { assertNotADeploymentHost, buildStandinImage, dockerStatus } from "./host";

jest.setTimeout(180_000);

const docker = new Docker();
const runId = `e2e-${process.pid}-${Date.now().toString(36)}`;
const composeVolume = `compose_postgres-data-prod-${randomBytes(3).toString("hex")}`;
// A suffix of its own, so this file can run beside the other e2e suite.
const SUFFIX = "adopt";
let image: string;

/** The real lister, with the stand-in image in place of the store's (no registry is reachable here). */
const listWithStandin = (volume: string) => listVolume(docker, volume, image);

/** Runs a throw-away stand-in container with the volume mounted at /data and returns its output. */
async function withVolume(volume: string, script: string): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ["sh", "-c", script],
    Labels: { [RUN_LABEL]: runId },
    HostConfig: { Mounts: [{ Type: "volume", Source: volume, Target: "/data" }] },
  });
  await container.start();
  await container.wait();
  const logs = (await container.logs({ stdout: true, stderr: true })).toString("utf8");
  await container.remove({ force: true });
  return logs;
}

// The Compose deployment's postgres: the same name as ours, its data on the Compose volume, stopped.
const composePostgres = `po-postgres-${SUFFIX}`;

beforeAll(async () => {
  const status = dockerStatus();
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
  await assertNotADeploymentHost(docker);
  // An aborted earlier run may have left its fixed-name objects (po-postgres-adopt, …); only those are removed.
  for (const problem of await removeLabelled(docker)) console.warn(`e2e: an earlier run's leftover stays: ${problem}`);
  image = buildStandinImage();
  await docker.createVolume({ Name: composeVolume, Labels: { [RUN_LABEL]: runId, "com.docker.compose.project": "compose" } });
  const compose = await docker.createContainer({
    name: composePostgres,
    Image: image,
    // The layout the program expects: the cluster (PG_VERSION) in PGDATA's pgdata/ subdirectory.
    Entrypoint: ["sh", "-c", "mkdir -p /var/lib/postgresql/data/pgdata && echo 16 > /var/lib/postgresql/data/pgdata/PG_VERSION && echo 'bookings written by compose' > /var/lib/postgresql/data/marker"],
    Labels: { [RUN_LABEL]: runId, "com.docker.compose.project": "compose", "com.docker.compose.service": "postgres" },
    HostConfig: { Mounts: [{ Type: "volume", Source: composeVolume, Target: "/var/lib/postgresql/data" }] },
  });
  await compose.start();
  await compose.wait();
});

afterAll(async () => {
  const problems = await removeLabelled(docker, runId);
  if (problems.length > 0) throw new Error(`cleanup left objects behind: ${problems.join("; ")}`);
});

test("following the migration guide: refused while the stopped Compose container holds the name; once it is removed, the volume is taken over with its data", async () => {
  const config = { suffix: SUFFIX, data: { protect: true, retainOnDelete: true, volumes: { "postgres-data": composeVolume } } };
  const blocked = runProgram({ stack: "prod", config, inventory: await readDockerInventory(docker), volumeListings: listWithStandin });
  await expect(blocked).rejects.toBeInstanceOf(ConfigError);
  await expect(blocked).rejects.toThrow(`container ${composePostgres} already exists and belongs to Compose project "compose"`);

  // Step 2 of the guide: `docker compose rm --stop --force`, which leaves named volumes alone.
  await docker.getContainer(composePostgres).remove({ v: false });
  const run = await runProgram({ stack: "prod", config, inventory: await readDockerInventory(docker), volumeListings: listWithStandin });
  expect(run.outputs.volumes["postgres-data"]).toBe(composeVolume);
  // Only what postgres needs: its network, its volume and its container.
  const needed = (r: ProgramRun["resources"][number]) =>
    (r.type === TYPES.network && r.inputs.name === `po-postgres-network-${SUFFIX}`) ||
    (r.type === TYPES.volume && r.inputs.name === composeVolume) ||
    (r.type === TYPES.container && r.inputs.name === `po-postgres-${SUFFIX}`);
  const applier = new Applier(docker, runId, image);
  await applier.apply({ ...run, resources: run.resources.filter(needed) });
  await applier.waitHealthy(60_000);

  const volume = await docker.getVolume(composeVolume).inspect();
  expect(volume.Labels["com.docker.compose.project"]).toBe("compose");
  const postgres = await docker.getContainer(`po-postgres-${SUFFIX}`).inspect();
  expect(postgres.Mounts).toContainEqual(expect.objectContaining({ Name: composeVolume, Destination: "/var/lib/postgresql/data" }));
  await docker.getContainer(`po-postgres-${SUFFIX}`).remove({ force: true });
  expect(await withVolume(composeVolume, "cat /data/marker")).toContain("bookings written by compose");
});

test("a Compose volume whose cluster sits at its root (the image's default PGDATA) is listed on the real daemon and refused, naming the fix; the volume is untouched", async () => {
  const rootCluster = `compose_postgres-root-${randomBytes(3).toString("hex")}`;
  await docker.createVolume({ Name: rootCluster, Labels: { [RUN_LABEL]: runId } });
  await withVolume(rootCluster, "echo 16 > /data/PG_VERSION && mkdir /data/base && echo kept > /data/base/marker");
  const config = { suffix: SUFFIX, data: { protect: true, retainOnDelete: true, volumes: { "postgres-data": rootCluster } } };
  const registered: string[] = [];
  const attempt = runProgram({ stack: "prod", config, inventory: await readDockerInventory(docker), volumeListings: listWithStandin, onRegister: (r) => registered.push(r.type) });
  await expect(attempt).rejects.toBeInstanceOf(ConfigError);
  await expect(attempt).rejects.toThrow(`volume ${rootCluster} holds a PostgreSQL cluster at its root`);
  await expect(attempt).rejects.toThrow("pulumi config set --path data.postgresDataAtVolumeRoot true --stack prod");
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
  // withVolume's logs carry the Engine API's stream headers: only the printable text is compared.
  const after = (await withVolume(rootCluster, "ls -A /data; cat /data/base/marker")).replace(/[^\x20-\x7e\n]/g, "").split("\n").map((l) => l.trim()).filter(Boolean);
  expect(after).toEqual(["PG_VERSION", "base", "kept"]);
  // The one-shot lister leaves nothing behind.
  const leftovers = await docker.listContainers({ all: true, filters: { label: ["pt.portugalodyssey.project.volume-check"] } });
  expect(leftovers).toEqual([]);
});

test("the host check refuses an unmapped volume that already holds the name, before registering anything", async () => {
  await docker.createVolume({ Name: `redis-data-${SUFFIX}`, Labels: { [RUN_LABEL]: runId } });
  const registered: string[] = [];
  const attempt = runProgram({ stack: "prod", config: { suffix: SUFFIX }, inventory: await readDockerInventory(docker), onRegister: (r) => registered.push(r.type) });
  await expect(attempt).rejects.toBeInstanceOf(ConfigError);
  await expect(attempt).rejects.toThrow(`volume redis-data-${SUFFIX} already exists and it was not created by this project`);
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
});

