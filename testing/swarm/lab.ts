/**
 * The lab swarm `.ci/swarm.sh up` starts: one dockerode client per node, and
 * helpers to wait on services and tasks. Tests never start or stop the swarm
 * themselves (that needs root and takes the machine's network namespaces);
 * `make test` brings it up before jest and down after.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import { execIn } from "../../host/exec";

const SCRIPT = join(__dirname, "..", "..", ".ci", "swarm.sh");
const NODES = Number(process.env.PO_SWARM_NODES ?? 3);
const STATE_DIR = process.env.PO_SWARM_ROOT ?? "/var/lib/po-swarm";
/** The network namespace of the lab's LAN, where its registry listens. */
const LAN_NAMESPACE = "/run/netns/po-swarm-lan";
/** The label `.ci/swarm.sh` puts on each node (`n1`…), the one a test pins or drains by. */
export const LAB_NODE_LABEL = "pt.portugalodyssey.lab-node";

export interface Lab {
  /** One client per node, node 1 (the first manager) first. */
  nodes: Docker[];
  manager: Docker;
}

/** Whether the lab swarm answers with every node ready, asked once when the suite is collected. */
export function labStatus(): { up: true } | { up: false; reason: string } {
  const res = spawnSync("bash", [SCRIPT, "status"], { encoding: "utf8", timeout: 30_000 });
  if (res.status === 0) return { up: true };
  return { up: false, reason: `the lab swarm is not up (${(res.stderr || "timed out").trim()}); run \`bash .ci/swarm.sh up\` as root, or \`make test\`` };
}

export function lab(): Lab {
  const nodes = Array.from({ length: NODES }, (_, i) => new Docker({ socketPath: `/run/po-swarm/n${i + 1}.sock` }));
  return { nodes, manager: nodes[0] };
}

/** Copies an image from the default daemon onto every node (`docker save | docker load`). */
export function loadImages(images: string[]) {
  const res = spawnSync("bash", [SCRIPT, "load", ...images], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`swarm.sh load failed: ${res.stderr}`);
}

/** The lab's registry, as `.ci/swarm.sh up` started it: plain HTTP on the lab LAN, an htpasswd login generated per lab. */
export interface LabRegistry {
  /** `host:port`, the registry part of an image reference. */
  address: string;
  username: string;
  password: string;
  /** Its log: one line per request, with the client's address and the status answered. */
  logFile: string;
}

/** Reads the lab registry's address and login from the root-only file `.ci/swarm.sh` wrote. */
export function labRegistry(): LabRegistry {
  const dir = join(STATE_DIR, "registry");
  const fields = Object.fromEntries(
    readFileSync(join(dir, "credentials"), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  for (const key of ["address", "username", "password"]) if (!fields[key]) throw new Error(`${join(dir, "credentials")} has no ${key}; run \`bash .ci/swarm.sh up\` again`);
  return { address: fields.address, username: fields.username, password: fields.password, logFile: join(dir, "registry.log") };
}

/**
 * The HTTP status the lab registry answers a GET of `path` (from the LAN namespace, as a node would
 * ask), anonymously or with the lab's login. The login reaches curl on stdin, never on a command line.
 */
export function registryStatus(registry: LabRegistry, path: string, options: { login: boolean; accept?: string }): number {
  const args = ["--net=" + LAN_NAMESPACE, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-K", "-"];
  const config = [
    `url = "http://${registry.address}${path}"`,
    ...(options.accept ? [`header = "Accept: ${options.accept}"`] : []),
    ...(options.login ? [`user = "${registry.username}:${registry.password}"`] : []),
  ].join("\n");
  const res = spawnSync("nsenter", args, { input: config, encoding: "utf8", timeout: 20_000 });
  if (res.status !== 0) throw new Error(`asking the lab registry for ${path} failed: ${res.stderr || res.error}`);
  return Number(res.stdout);
}

export interface TaskView {
  id: string;
  service: string;
  slot?: number;
  node: string;
  /** The node's lab label (n1…). */
  labNode: string;
  state: string;
  desired: string;
  image: string;
  /** Overlay network ID → the task's address there (without prefix). */
  addresses: Record<string, string>;
  error?: string;
}

/** The tasks of a service (by name), with the node each runs on. */
export async function tasksOf(manager: Docker, service: string): Promise<TaskView[]> {
  const [tasks, nodes] = await Promise.all([manager.listTasks({ filters: { service: [service] } }), manager.listNodes()]);
  const labOf = new Map(nodes.map((n: any) => [n.ID, n.Spec?.Labels?.[LAB_NODE_LABEL] ?? n.Description?.Hostname]));
  return tasks.map((t: any) => ({
    id: t.ID,
    service,
    slot: t.Slot,
    node: t.NodeID,
    labNode: labOf.get(t.NodeID) ?? "?",
    state: t.Status?.State,
    desired: t.DesiredState,
    image: t.Spec?.ContainerSpec?.Image,
    error: t.Status?.Err,
    addresses: Object.fromEntries((t.NetworksAttachments ?? []).map((a: any) => [a.Network.ID, String(a.Addresses?.[0] ?? "").replace(/\/\d+$/, "")])),
  }));
}

/** Running tasks of a service that the swarm wants running. */
export const running = (tasks: TaskView[]) => tasks.filter((t) => t.desired === "running" && t.state === "running");

/** Polls `probe` every second until it returns a value, or throws `what` after `timeoutMs`. */
export async function until<T>(what: () => string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A running task's container, with the client of the node that holds it. */
export async function containerOfTask(lab: Lab, task: TaskView): Promise<{ docker: Docker; container: Docker.Container }> {
  const docker = lab.nodes[await nodeIndexOf(lab, task.node)];
  const [container] = await docker.listContainers({ filters: { label: [`com.docker.swarm.task.id=${task.id}`] } });
  if (!container) throw new Error(`task ${task.id} of ${task.service} has no container on ${task.labNode}`);
  return { docker, container: docker.getContainer(container.Id) };
}

/** Runs `bash -c script` in a running task's container, on the node that holds it; resolves to the exit code. */
export async function execInTask(lab: Lab, task: TaskView, script: string): Promise<{ code: number; output: string }> {
  const { docker, container } = await containerOfTask(lab, task);
  const { exitCode, output } = await execIn(docker, container.id, ["bash", "-c", script], { allowFailure: true });
  return { code: exitCode, output };
}

interface NodeView {
  ID: string;
  Version: { Index: number };
  Spec: { Labels?: Record<string, string>; Availability?: string };
}

/** Changes the spec of the lab node labelled `labNode` (n1…) through the manager. */
async function updateLabNode(lab: Lab, labNode: string, change: (spec: NodeView["Spec"]) => NodeView["Spec"]) {
  const target = ((await lab.manager.listNodes()) as NodeView[]).find((n) => n.Spec.Labels?.[LAB_NODE_LABEL] === labNode);
  if (!target) throw new Error(`no lab node labelled ${LAB_NODE_LABEL}=${labNode}`);
  await lab.manager.getNode(target.ID).update({ version: target.Version.Index, ...change(target.Spec) });
}

/** Sets node labels of a lab node; a label given as undefined is removed. */
export const setNodeLabels = (lab: Lab, labNode: string, labels: Record<string, string | undefined>) =>
  updateLabNode(lab, labNode, (spec) => {
    const merged: Record<string, string> = { ...spec.Labels };
    for (const [k, v] of Object.entries(labels)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
    return { ...spec, Labels: merged };
  });

/** Drains a lab node, or makes it active again. */
export const setAvailability = (lab: Lab, labNode: string, availability: "active" | "drain") => updateLabNode(lab, labNode, (spec) => ({ ...spec, Availability: availability }));

const nodeIds = new WeakMap<Docker, string>();
async function nodeIndexOf(lab: Lab, nodeId: string): Promise<number> {
  for (let i = 0; i < lab.nodes.length; i++) {
    if (!nodeIds.has(lab.nodes[i])) nodeIds.set(lab.nodes[i], ((await lab.nodes[i].info()) as any).Swarm.NodeID);
    if (nodeIds.get(lab.nodes[i]) === nodeId) return i;
  }
  throw new Error(`no lab node has swarm node ID ${nodeId}`);
}

const LAB_LOCK = "/run/po-swarm/tests.lock";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Holds the lab for one suite at a time: the suites share its node labels,
 * availability and fixed service names, and clear each other's leftovers, so
 * jest workers must not run two of them at once. The lock is a directory
 * (mkdir is atomic) holding its owner's pid; a dead owner's lock is taken over.
 * Resolves to the release.
 */
export async function holdLab(suite: string, timeoutMs = 3_600_000): Promise<() => void> {
  const owner = join(LAB_LOCK, "owner");
  return until(
    () => `the lab is held by ${readFileSync(owner, "utf8").trim()}`,
    async () => {
      try {
        mkdirSync(LAB_LOCK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        let pid = 0;
        try {
          pid = Number(readFileSync(owner, "utf8").split(" ")[0]);
        } catch {
          // Not written yet by an owner that has just taken it, or never by one that died at once.
        }
        const since = statSync(LAB_LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
        const stale = pid ? !alive(pid) : Date.now() - since > 10_000;
        if (stale) rmSync(LAB_LOCK, { recursive: true, force: true });
        return undefined;
      }
      writeFileSync(owner, `${process.pid} ${suite}`);
      return () => rmSync(LAB_LOCK, { recursive: true, force: true });
    },
    timeoutMs,
  );
}
