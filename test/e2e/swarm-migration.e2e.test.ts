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
import { LAB_NODE_LABEL, execInTask, holdLab, lab, labStatus, running, tasksOf, type Lab } from "../../testing/swarm/lab";

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

async function setStoresLabel(value: string | undefined) {
  const node = (await L.manager.listNodes()).find((n: any) => n.Spec.Labels?.[LAB_NODE_LABEL] === "n1") as any;
  const labels = { ...node.Spec.Labels, [swarmNames.storesNodeLabel(STACK)]: value };
  if (value === undefined) delete labels[swarmNames.storesNodeLabel(STACK)];
  await L.manager.getNode(node.ID).update({ version: node.Version.Index, ...node.Spec, Labels: labels });
}

/** The store containers of the docker run, with the volumes each mounts (name, path inside). */
const storeMounts = (run: ProgramRun) =>
  run.resources
    .filter((r) => r.type === TYPES.container && (r.inputs.volumes ?? []).length > 0)
    .map((r) => ({ container: r.inputs.name as string, volumes: (r.inputs.volumes as { volumeName: string; containerPath: string }[]).map((v) => ({ name: v.volumeName, path: v.containerPath })) }));

/** When Docker created the volume (dockerode's type omits the Engine API's CreatedAt). */
const createdAt = async (volume: string) => ((await host.getVolume(volume).inspect()) as unknown as { CreatedAt: string }).CreatedAt;

async function execIn(docker: Docker, container: string, script: string): Promise<string> {
  // As root: the stand-in's fresh volumes are root's, where the real store would own its data directory.
  const exec = await docker.getContainer(container).exec({ Cmd: ["bash", "-c", script], User: "0:0", AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  await new Promise((r) => stream.on("end", r));
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) throw new Error(`${container}: \`${script}\` exited ${ExitCode}: ${Buffer.concat(chunks).toString("latin1")}`);
  return Buffer.concat(chunks).toString("latin1");
}

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
      await execIn(host, container, `printf '%s' '${marker}' > '${v.path}/${MARKER}'`);
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
  await setStoresLabel(undefined).catch(() => undefined);
  release?.();
});

test("the two runtimes share every volume's URN and inputs, so the move plans no step for them", () => {
  const volumes = (run: ProgramRun) => run.resources.filter((r) => r.type === TYPES.volume).map((r) => ({ urn: r.urn, inputs: r.inputs, protect: r.options.protect }));
  expect(volumes(runs.swarm).length).toBeGreaterThanOrEqual(written.size);
  expect(volumes(runs.swarm)).toEqual(volumes(runs.docker));
});

test("after the move, every store runs as a task on the host that held it, on its old volume, with the data written before", async () => {
  // The docs' steps 1 and 2 are the lab's: the host is the swarm's first manager; label it as the stores' node.
  await setStoresLabel("true");
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
      // The output carries the exec stream's frame headers; the marker is random, so containing it is enough.
      expect(output).toContain(written.get(m.source)!.marker);
      // The same volume, not a new one of the same name.
      expect(await createdAt(m.source)).toBe(written.get(m.source)!.createdAt);
      checked++;
    }
  }
  expect(checked).toBe(written.size);
});
