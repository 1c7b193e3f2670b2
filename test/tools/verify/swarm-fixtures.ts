/**
 * A swarm that holds exactly what the program renders for `runtime: swarm`
 * stacks, as dockerode answers for it: the manager and the other nodes as
 * fake clients, every task running, each probe answering what the stack's
 * dependencies say it may reach. Tests break it one fault at a time.
 */
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { SWARM_TYPES } from "../../../testing/swarm/applier";
import { runProgram, type ProgramRun } from "../../harness/program";
import { parseOutputs, type StackOutputs } from "../../../tools/verify/outputs";

export const SWARM_CONFIG = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };

export async function swarmRun(stack: string): Promise<{ run: ProgramRun; outputs: StackOutputs }> {
  const run = await runProgram({ stack, config: SWARM_CONFIG });
  return { run, outputs: parseOutputs(run.outputs, `${stack} program`) };
}

const labelMap = (list: { label: string; value: string }[] | undefined) => Object.fromEntries((list ?? []).map((l) => [l.label, l.value]));

/** A registered swarm service's spec as the Engine returns it (only what verify reads). */
export function serviceSpecs(run: ProgramRun, outputs: StackOutputs) {
  const entryOf = new Map(Object.entries(outputs.containers).map(([entry, name]) => [name, entry]));
  return run.resources
    .filter((r) => r.type === SWARM_TYPES.service && entryOf.has(r.inputs.name))
    .map((r) => {
      const i = r.inputs as any;
      const entry = entryOf.get(i.name)!;
      return {
        ID: `svc-${i.name}`,
        Spec: {
          Name: i.name as string,
          Labels: labelMap(i.labels),
          TaskTemplate: {
            ContainerSpec: { Labels: labelMap(i.taskSpec.containerSpec.labels), Image: i.taskSpec.containerSpec.image, Mounts: (i.taskSpec.containerSpec.mounts ?? []).map((m: any) => ({ Type: m.type })) },
            // The Engine holds network IDs; the topology names the networks.
            Networks: outputs.topology[entry].networks.map((n) => ({ Target: `net-${n}` })),
          },
          Mode: { Replicated: { Replicas: i.mode.replicated.replicas as number } },
          EndpointSpec: { Mode: i.endpointSpec.mode as string },
        },
      };
    });
}

export interface FakeNode {
  id: string;
  hostname: string;
  docker: Docker;
  /** Targets probed from this node, per exec. */
  execs: string[][];
}

export interface FakeSwarm {
  manager: FakeNode;
  nodes: FakeNode[];
  services: ReturnType<typeof serviceSpecs>;
  /** Task ID → node ID. */
  placement: Map<string, string>;
  traefik: { name: string; networks: string[] } | undefined;
  /** Per service name: what a probe from its task connects to (its own dependencies, nothing of another environment). */
  reachable: Map<string, Set<string>>;
}

/** Docker's multiplexed stdout frame around `text`. */
const frame = (text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

function client(swarm: () => FakeSwarm, self: () => FakeNode, info: { NodeID: string; ControlAvailable: boolean }): Docker {
  const onThisNode = (taskId: string) => swarm().placement.get(taskId) === self().id;
  return {
    version: async () => ({ Version: "20.10.24" }),
    info: async () => ({ Swarm: info }),
    listNetworks: async () => [...new Set(swarm().services.flatMap((s) => s.Spec.TaskTemplate.Networks.map((n) => n.Target.replace(/^net-/, ""))))].map((name) => ({ Id: `net-${name}`, Name: name, Scope: "swarm" })),
    listNodes: async () => [swarm().manager, ...swarm().nodes].map((n) => ({ ID: n.id, Description: { Hostname: n.hostname } })),
    listServices: async ({ filters }: any) => swarm().services.filter((s) => filters.name.includes(s.Spec.Name)),
    listTasks: async ({ filters }: any) =>
      [...swarm().placement]
        .filter(([task]) => filters.service.includes(task.slice(0, task.lastIndexOf("."))))
        .map(([task, node]) => ({ ID: task, NodeID: node, Status: { State: "running" } })),
    listContainers: async ({ filters }: any) => {
      const task = String(filters.label[0]).split("=")[1];
      return onThisNode(task) ? [{ Id: `ctr-${task}` }] : [];
    },
    getContainer: (id: string) => ({
      inspect: async () => {
        const t = swarm().traefik;
        if (!t || id !== t.name) throw Object.assign(new Error(`no such container: ${id}`), { statusCode: 404 });
        return { NetworkSettings: { Networks: Object.fromEntries(t.networks.map((n) => [n, {}])) }, State: { Status: "running" } };
      },
      exec: async ({ Cmd }: any) => {
        const targets = [...String(Cmd[2]).matchAll(/echo "ok (\S+)"/g)].map((m) => m[1]);
        self().execs.push(targets);
        return {
          start: async () => {
            const stream = new PassThrough();
            const task = id.replace(/^ctr-/, "");
            const reachable = swarm().reachable.get(task.slice(0, task.lastIndexOf("."))) ?? new Set();
            const text = targets.map((t) => `${reachable.has(t) ? "ok" : "no"} ${t}\n`).join("");
            setImmediate(() => stream.end(frame(text)));
            return stream;
          },
          inspect: async () => ({ ExitCode: 0 }),
        };
      },
    }),
  } as unknown as Docker;
}

/**
 * The stacks' services on three nodes: whatever mounts a volume on the
 * manager (the stores' node), every other task on the other two in turn.
 */
export function fakeSwarm(stacks: { run: ProgramRun; outputs: StackOutputs }[]): FakeSwarm {
  // The clients read the swarm as the test has changed it by the time they are called.
  const holder: { swarm?: FakeSwarm } = {};
  const node = (id: string, hostname: string, manager: boolean): FakeNode => {
    const n: FakeNode = { id, hostname, execs: [], docker: undefined as unknown as Docker };
    n.docker = client(() => holder.swarm!, () => n, { NodeID: id, ControlAvailable: manager });
    return n;
  };
  const services = stacks.flatMap(({ run, outputs }) => serviceSpecs(run, outputs));
  const [a, b, c] = [node("node-id-a", "node-a", true), node("node-id-b", "node-b", true), node("node-id-c", "node-c", true)];
  const placement = new Map<string, string>();
  let turn = 0;
  for (const s of services) {
    const pinned = s.Spec.TaskTemplate.ContainerSpec.Mounts.some((m: { Type: string }) => m.Type === "volume");
    for (let slot = 1; slot <= s.Spec.Mode.Replicated.Replicas; slot++) placement.set(`${s.Spec.Name}.${slot}`, pinned ? a.id : [b.id, c.id][turn++ % 2]);
  }
  const reachable = new Map(stacks.flatMap(({ outputs }) => Object.entries(outputs.topology).map(([entry, t]) => [outputs.containers[entry], new Set(t.dependencies)])));
  const edge = stacks[0].outputs.edge;
  holder.swarm = { manager: a, nodes: [b, c], services, placement, traefik: { name: edge.traefikContainer, networks: [edge.traefikNetwork, ...stacks.map((s) => s.outputs.edge.network)] }, reachable };
  return holder.swarm;
}
