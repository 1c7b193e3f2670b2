/**
 * docs/swarm.md's move from one host to a swarm, with no data copy, on the lab
 * swarm's first manager (the host that becomes the stores' node): prod is
 * deployed there with `runtime: docker` as plain containers (test/e2e/applier.ts)
 * and every store writes into its volume; then the same stack with
 * `runtime: swarm` is applied in the order Pulumi's `up` takes for that diff
 * (testing/swarm/applier.ts): each network keeps its URN and is replaced
 * delete-first, so the containers on it go first (Pulumi deletes a delete-first
 * replacement's dependents before it: pkg/resource/deploy/step_generator.go);
 * the volumes and credentials keep their URNs and inputs, so nothing touches
 * them. Every store's task must then run on that host, on its old volume, with
 * the data. The stand-in image plays every image.
 */
import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { swarmNames } from "../../model/naming";
import { TYPES, runProgram, type ProgramRun, type RegisteredResource } from "../harness/program";
import { Applier, removeLabelled, runCommand } from "./applier";
import { buildStandinImage } from "./host";
import { SWARM_TYPES, SwarmApplier, removeSwarmLabelled } from "../../testing/swarm/applier";
import { execInTask, holdLab, lab, labStatus, running, setNodeLabels, tasksOf, type Lab } from "../../testing/swarm/lab";
import { execIn } from "../../host/exec";

jest.setTimeout(900_000);

const STACK = "prod";
const ROOMY = { host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
const status = labStatus();
const runId = `e2e-${process.pid}-${Date.now().toString(36)}`;
const MARKER = ".migration-marker";

let L: Lab;
let release: (() => void) | undefined;
let host: Docker;
let runs: { docker: ProgramRun; swarm: ProgramRun };
let traefik: Docker.Container | undefined;
/** The stand-in's image ID: every node has it (.ci/swarm.sh loads it), so no registry is asked. */
let standin: string;
/** Volume name → what its store wrote there before the move, and when Docker created the volume. */
const written = new Map<string, { marker: string; createdAt: string }>();

/** The store containers of the docker run, with the volumes each mounts (name, path inside). */
const storeMounts = (run: ProgramRun) =>
  run.resources
    .filter((r) => r.type === TYPES.container && (r.inputs.volumes ?? []).length > 0)
    .map((r) => ({ container: r.inputs.name as string, volumes: (r.inputs.volumes as { volumeName: string; containerPath: string }[]).map((v) => ({ name: v.volumeName, path: v.containerPath })) }));

/** When Docker created the volume (dockerode's type omits the Engine API's CreatedAt). */
const createdAt = async (volume: string) => ((await host.getVolume(volume).inspect()) as unknown as { CreatedAt: string }).CreatedAt;

beforeAll(async () => {
  if (!status.up) throw new Error(status.reason);
  L = lab();
  release = await holdLab("swarm-migration");
  host = L.nodes[0];
  await removeSwarmLabelled(L);
  await removeLabelled(host);
  standin = (await new Docker().getImage(buildStandinImage()).inspect()).Id;
  runs = {
    docker: await runProgram({ stack: STACK, config: ROOMY }),
    swarm: await runProgram({ stack: STACK, config: { ...ROOMY, runtime: "swarm", swarm: { nodes: L.nodes.length } } }),
  };
  // The existing Traefik on the host, which the edge's command attaches to the edge network.
  const applier = new Applier(host, runId, standin);
  traefik = await host.createContainer({ name: runs.docker.outputs.edge.traefikContainer, Image: standin, Labels: applier.labels });
  await traefik.start();
  process.env.DOCKER_HOST = `unix://${(host.modem as any).socketPath}`;
  await applier.apply(runs.docker);
  await applier.waitHealthy(180_000);
  for (const { container, volumes } of storeMounts(runs.docker)) {
    for (const v of volumes) {
      const marker = `${v.name} ${randomBytes(8).toString("hex")}`;
      // As root: the stand-in's fresh volumes are root's, where the real store would own its data directory.
      await execIn(host, container, ["bash", "-c", `printf '%s' '${marker}' > '${v.path}/${MARKER}'`], { user: "0:0" });
      written.set(v.name, { marker, createdAt: await createdAt(v.name) });
    }
  }
});

afterAll(async () => {
  if (!L) return;
  for (const c of runs?.swarm.resources.filter((r) => r.name.endsWith("-traefik-attachment")) ?? []) {
    try {
      runCommand(c, "delete");
    } catch {
      // Already detached, or the network is gone.
    }
  }
  delete process.env.DOCKER_HOST;
  await removeSwarmLabelled(L, runId);
  await removeLabelled(host, runId);
  await setNodeLabels(L, "n1", { [swarmNames.storesNodeLabel(STACK)]: undefined }).catch(() => undefined);
  release?.();
});

test("the two runtimes share every volume's URN and inputs, so the move plans no step for them", () => {
  const volumes = (run: ProgramRun) => run.resources.filter((r) => r.type === TYPES.volume).map((r) => ({ urn: r.urn, inputs: r.inputs, protect: r.options.protect }));
  expect(volumes(runs.swarm).length).toBeGreaterThanOrEqual(written.size);
  expect(volumes(runs.swarm)).toEqual(volumes(runs.docker));
});

test("after the move, every store runs as a task on the host that held it, on its old volume, with the data written before", async () => {
  // The docs' steps 1 and 2 are the lab's: the host is the swarm's first manager; label it as the stores' node.
  await setNodeLabels(L, "n1", { [swarmNames.storesNodeLabel(STACK)]: "true" });
  // Pulumi's order for this diff. A network or attachment the swarm program registers under the same URN is
  // replaced delete-first: it goes, with the containers on it, before anything is created. One under a URN
  // of its own would be created first and its predecessor deleted only at the end, as a removed resource.
  const dockerRun = runs.docker;
  const swarmUrns = new Set(runs.swarm.resources.map((r) => r.urn));
  const edgeCommands = (run: ProgramRun) => run.resources.filter((r) => r.type === TYPES.command && r.name.endsWith("-traefik-attachment"));
  const oldNetworks = dockerRun.resources.filter((r) => r.type === TYPES.network);
  for (const c of dockerRun.resources.filter((r) => r.type === TYPES.container)) await host.getContainer(c.inputs.name).remove({ force: true });
  for (const c of edgeCommands(dockerRun).filter((r) => swarmUrns.has(r.urn))) runCommand(c, "delete");
  for (const n of oldNetworks.filter((r) => swarmUrns.has(r.urn))) await host.getNetwork(n.inputs.name).remove();

  const swarm = new SwarmApplier(L, runId, () => standin);
  await swarm.apply(runs.swarm, { existingVolumes: true });
  for (const c of edgeCommands(dockerRun).filter((r) => !swarmUrns.has(r.urn))) runCommand(c, "delete");
  for (const n of oldNetworks.filter((r) => !swarmUrns.has(r.urn))) await host.getNetwork(n.inputs.name).remove();
  await swarm.waitConverged();

  const storesWithVolumes = runs.swarm.resources.filter(
    (r: RegisteredResource) => r.type === SWARM_TYPES.service && (r.inputs.taskSpec.containerSpec.mounts ?? []).some((m: { type: string }) => m.type === "volume"),
  );
  expect(storesWithVolumes.length).toBe(storeMounts(dockerRun).length);
  let checked = 0;
  for (const s of storesWithVolumes) {
    const [task, ...others] = running(await tasksOf(L.manager, s.inputs.name));
    expect(others).toEqual([]);
    expect(task.labNode).toBe("n1");
    for (const m of (s.inputs.taskSpec.containerSpec.mounts as { type: string; source: string; target: string }[]).filter((x) => x.type === "volume")) {
      const { code, output } = await execInTask(L, task, `cat '${m.target}/${MARKER}'`);
      expect(code).toBe(0);
      expect(output).toBe(written.get(m.source)!.marker);
      // The same volume, not a new one of the same name.
      expect(await createdAt(m.source)).toBe(written.get(m.source)!.createdAt);
      checked++;
    }
  }
  expect(checked).toBe(written.size);
});
