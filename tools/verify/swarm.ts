/**
 * `verify` for stacks with `runtime: swarm`: the checklist adapted to services
 * and their tasks. Read from the manager: every service of the topology exists,
 * runs its replicas (a task with a healthcheck only counts as running once
 * healthy), is attached to exactly its networks, carries the ownership labels,
 * its route on the service and `traefik.enable=false` on its tasks, runs the
 * release's digest, and, when it mounts a volume, has its tasks on one node.
 * Routers are unique and their definitions agree across every stack's services.
 * Each routed entry's route is checked as Traefik's swarm provider would build
 * it (swarm-routes.ts). Then, from inside one task of every service (docker
 * exec on the node that holds it, so a client per node is needed), each
 * dependency must connect and no name of another environment may.
 */
import type Docker from "dockerode";
import { LABELS, PROJECT } from "../../model/naming";
import { conflictingDefinitions } from "../../model/traefik";
import { HostKeyRefusedError } from "../../host/docker";
import { execIn } from "../../host/exec";
import { stackChecks, type CheckResult } from "./checks";
import type { StackOutputs } from "./outputs";
import { mapBounded } from "./snapshot";
import { checkSwarmRoute, type TraefikView } from "./swarm-routes";

export interface SwarmVerifyOptions {
  stacks: { stack: string; outputs: StackOutputs }[];
  /** A manager of the swarm. */
  manager: Docker;
  /** A client per node, by swarm node ID: the probes exec in tasks where they run. */
  nodes: Map<string, Docker>;
  /** Connect timeout of a probe, whole seconds. */
  timeoutSeconds?: number;
  /** Tasks probed at once. */
  concurrency?: number;
  /** `false` skips the probes from inside the tasks (every other check still runs). */
  probe?: boolean;
}

/** The swarm nodes' DOCKER_HOSTs, comma separated, when verify is given no --node (CI sets it per environment, docs/swarm.md). */
export const NODE_HOSTS_ENV = "PO_SWARM_NODE_HOSTS";

/** A swarm node's client could not be used: verify cannot run as asked. */
export class SwarmNodeError extends Error {}

/** How a node client is named to people: the flag (or variable) value it came from. */
export interface NodeClient {
  host: string;
  docker: Docker;
}

/**
 * The clients by swarm node ID: the manager's, and each of `nodes`, matched to its node by what its daemon says it is
 * (`info().Swarm.NodeID`). Throws when the manager is none, or a node's
 * daemon does not answer or is no node of this swarm.
 */
export async function swarmNodeClients(manager: NodeClient, nodes: NodeClient[]): Promise<Map<string, Docker>> {
  const swarmOf = async ({ host, docker }: NodeClient) => {
    try {
      return ((await docker.info()) as { Swarm?: { NodeID?: string; ControlAvailable?: boolean } }).Swarm ?? {};
    } catch (err) {
      if (err instanceof HostKeyRefusedError) throw new SwarmNodeError(`${host}: ${err.message}`);
      throw new SwarmNodeError(`no Docker daemon answers at ${host}: ${(err as Error).message}`);
    }
  };
  const own = await swarmOf(manager);
  if (!own.NodeID || !own.ControlAvailable) {
    throw new SwarmNodeError(`${manager.host} is ${own.NodeID ? "a swarm worker" : "not in a swarm"}; a runtime: swarm stack is read from a manager: point DOCKER_HOST at one (docs/swarm.md)`);
  }
  const known = new Map(((await manager.docker.listNodes()) as { ID: string; Description?: { Hostname?: string } }[]).map((n) => [n.ID, n.Description?.Hostname ?? n.ID]));
  const clients = new Map<string, Docker>([[own.NodeID, manager.docker]]);
  const found = await Promise.all(nodes.map(async (node) => ({ node, id: (await swarmOf(node)).NodeID })));
  for (const { node, id } of found) {
    if (!id) throw new SwarmNodeError(`swarm node ${node.host}: that daemon is not in a swarm`);
    if (!known.has(id)) throw new SwarmNodeError(`swarm node ${node.host}: its daemon is node ${id} of another swarm, not of the one ${manager.host} manages (nodes ${list([...known.values()])})`);
    // Two values naming one node (a name and an address) are one client too many, not an error.
    if (!clients.has(id)) clients.set(id, node.docker);
  }
  return clients;
}

interface ServiceView {
  name: string;
  labels: Record<string, string>;
  taskLabels: Record<string, string>;
  image: string;
  replicas: number;
  /** Each attachment's target: an ID, or a name when the spec was given one. */
  networkIds: string[];
  mountsVolume: boolean;
  endpointMode: string;
}

interface TaskView {
  id: string;
  node: string;
  state: string;
}

const list = (xs: string[]) => (xs.length === 0 ? "none" : xs.join(", "));
const same = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

/* eslint-disable @typescript-eslint/no-explicit-any -- dockerode types services and tasks as any */
async function readService(manager: Docker, name: string): Promise<ServiceView | undefined> {
  const found = (await manager.listServices({ filters: { name: [name] } })).find((s: any) => s.Spec.Name === name) as any;
  if (!found) return undefined;
  const spec = found.Spec;
  return {
    name,
    labels: spec.Labels ?? {},
    taskLabels: spec.TaskTemplate.ContainerSpec.Labels ?? {},
    image: spec.TaskTemplate.ContainerSpec.Image,
    replicas: spec.Mode?.Replicated?.Replicas ?? 0,
    networkIds: (spec.TaskTemplate.Networks ?? []).map((n: any) => n.Target),
    mountsVolume: (spec.TaskTemplate.ContainerSpec.Mounts ?? []).some((m: any) => m.Type === "volume"),
    // The Engine's default when a spec names none (api/types/swarm ResolutionModeVIP).
    endpointMode: spec.EndpointSpec?.Mode ?? "vip",
  };
}

/** The Traefik container on the manager and the networks it is on; no networks when there is no such container. */
async function readTraefik(manager: Docker, name: string): Promise<TraefikView> {
  try {
    const c = (await manager.getContainer(name).inspect()) as any;
    return { name, networks: Object.keys(c.NetworkSettings?.Networks ?? {}), state: c.State?.Status };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return { name };
    throw err;
  }
}

async function runningTasks(manager: Docker, name: string): Promise<TaskView[]> {
  const tasks = (await manager.listTasks({ filters: { service: [name], "desired-state": ["running"] } })) as any[];
  return tasks.filter((t) => t.Status?.State === "running").map((t) => ({ id: t.ID, node: t.NodeID, state: t.Status.State }));
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** One exec in the task's container on its node: prints `ok <target>` or `no <target>` per target, all tried at once. */
async function probe(nodes: Map<string, Docker>, task: TaskView, targets: string[], timeoutSeconds: number): Promise<Map<string, boolean>> {
  const docker = nodes.get(task.node);
  if (!docker) throw new Error(`no client for node ${task.node}, which runs task ${task.id}`);
  const [container] = await docker.listContainers({ filters: { label: [`com.docker.swarm.task.id=${task.id}`] } });
  if (!container) throw new Error(`task ${task.id} has no container on node ${task.node}`);
  const script =
    targets
      .map((t) => {
        const [host, port] = [t.slice(0, t.lastIndexOf(":")), t.slice(t.lastIndexOf(":") + 1)];
        return `(timeout ${timeoutSeconds} bash -c 'exec 3<>"/dev/tcp/$0/$1"' ${host} ${port} 2>/dev/null && echo "ok ${t}" || echo "no ${t}") &`;
      })
      .join("\n") + "\nwait";
  const { output } = await execIn(docker, container.Id, ["bash", "-c", script], { allowFailure: true });
  const seen = new Map<string, boolean>();
  for (const line of output.split("\n")) {
    const m = /^(ok|no) (.+)$/.exec(line.trim());
    if (m) seen.set(m[2], m[1] === "ok");
  }
  return seen;
}

export async function verifySwarm(options: SwarmVerifyOptions): Promise<{ ok: boolean; checks: CheckResult[]; failed: string[] }> {
  const { manager, nodes } = options;
  const timeoutSeconds = options.timeoutSeconds ?? 2;
  const networkList = (await manager.listNetworks()) as { Id: string; Name: string; Scope?: string }[];
  const networkNames = new Map(networkList.map((n) => [n.Id, n.Name]));
  const networkScope = new Map(networkList.map((n) => [n.Name, n.Scope ?? "?"]));
  // Hostname and ID: nodes cloned from one image may share a hostname.
  const hostnames = new Map(((await manager.listNodes()) as { ID: string; Description?: { Hostname?: string } }[]).map((n) => [n.ID, `${n.Description?.Hostname ?? "?"} (node ${n.ID.slice(0, 12)})`]));
  const traefiks = new Map<string, TraefikView>();
  const checks: CheckResult[] = [];
  const allServices: ServiceView[] = [];
  /** One task of each service to probe from, or the nodes its tasks run on when verify has a client for none. */
  const sources: { env: string; entry: string; task?: TaskView; elsewhere: string[]; dependencies: string[] }[] = [];

  for (const { outputs } of options.stacks) {
    const env = outputs.environment;
    const check = stackChecks("service", env);
    for (const [entry, spec] of Object.entries(outputs.topology).sort(([a], [b]) => a.localeCompare(b))) {
      const name = outputs.containers[entry];
      const service = await readService(manager, name);
      checks.push(check(`${entry}.exists`, `${entry} exists as service ${name}`, service !== undefined, service ? `found ${name}` : `no service named ${name}`));
      if (!service) continue;
      allServices.push(service);
      const tasks = await runningTasks(manager, name);
      checks.push(check(`${entry}.replicas`, `${entry} runs its replicas`, tasks.length === service.replicas, `${tasks.length} of ${service.replicas} tasks running (healthy)`));
      const attached = service.networkIds.map((id) => networkNames.get(id) ?? id);
      checks.push(check(`${entry}.networks`, `${entry} is on exactly its networks`, same(attached, spec.networks), `on ${list(attached)}; expected ${list(spec.networks)}`));
      const owned = service.labels[LABELS.project] === PROJECT && service.labels[LABELS.environment] === env && service.labels[LABELS.service] === entry;
      const routed = spec.router !== undefined;
      const routeOk = routed
        ? service.labels["traefik.enable"] === "true" && service.labels[`traefik.http.routers.${spec.router}.rule`] === `Host(\`${spec.host}\`)`
        : service.labels["traefik.enable"] === "false";
      const tasksOptOut = service.taskLabels["traefik.enable"] === "false";
      checks.push(
        check(
          `${entry}.labels`,
          `${entry} carries its ownership labels, its route on the service and traefik.enable=false on its tasks`,
          owned && routeOk && tasksOptOut,
          `ownership ${owned ? "ok" : "wrong"}, route ${routed ? spec.router : "none"} ${routeOk ? "ok" : "wrong"}, tasks opt out: ${tasksOptOut}`,
        ),
      );
      const release = outputs.images[entry];
      if (release) checks.push(check(`${entry}.image`, `${entry} runs its release's digest`, service.image === release.image, `runs ${service.image}; the release pins ${release.image}`));
      if (service.mountsVolume) {
        const onNodes = [...new Set(tasks.map((t) => t.node))];
        checks.push(check(`${entry}.placement`, `${entry} runs beside its volume, on one node`, onNodes.length <= 1, `tasks on node(s) ${list(onNodes)}`));
      }
      if (spec.router) {
        const traefikName = outputs.edge.traefikContainer;
        if (!traefiks.has(traefikName)) traefiks.set(traefikName, await readTraefik(manager, traefikName));
        const networks = attached.map((n) => ({ name: n, scope: networkScope.get(n) ?? "?" }));
        checks.push(...checkSwarmRoute(env, entry, spec, { name, labels: service.labels, networks, endpointMode: service.endpointMode }, traefiks.get(traefikName)!));
      }
      if (tasks.length > 0) {
        const task = tasks.find((t) => nodes.has(t.node));
        const elsewhere = task ? [] : [...new Set(tasks.map((t) => hostnames.get(t.node) ?? t.node))].sort();
        sources.push({ env, entry, ...(task ? { task } : {}), elsewhere, dependencies: spec.dependencies });
      }
    }
  }

  const conflicts = conflictingDefinitions(allServices.map((s) => ({ name: s.name, labels: s.labels })));
  checks.push({
    id: "traefik.definitions-agree",
    title: "no router, middleware or service is defined differently by two swarm services",
    ok: conflicts.length === 0,
    evidence: conflicts.length === 0 ? `${allServices.length} services` : conflicts.map((c) => `${c.key}: ${c.holders.map((h) => h.container).join(", ")}`).join("; "),
  });

  // From one task of every service: its dependencies, and every name of the other environments.
  type Probed = { s: (typeof sources)[number]; others: string[]; seen?: Map<string, boolean>; failure?: string };
  const results = options.probe === false ? [] : await mapBounded(sources, options.concurrency ?? 4, async (s): Promise<Probed> => {
    const others = options.stacks
      .filter(({ outputs }) => outputs.environment !== s.env)
      .flatMap(({ outputs }) => Object.entries(outputs.topology).flatMap(([entry, t]) => [`${entry}-${outputs.environment}:${t.port}`, `${outputs.containers[entry]}:${t.port}`]));
    if (!s.task) {
      const nodesText = s.elsewhere.join(", ");
      return { s, others, failure: `no task runs on a node verify has a client for: its running task(s) are on ${nodesText}; pass --node <that node's DOCKER_HOST> (or list it in ${NODE_HOSTS_ENV})` };
    }
    try {
      return { s, others, seen: await probe(nodes, s.task, [...s.dependencies, ...others], timeoutSeconds) };
    } catch (err) {
      return { s, others, failure: `the probe from task ${s.task.id} on ${hostnames.get(s.task.node) ?? s.task.node} failed: ${(err as Error).message}` };
    }
  });
  for (const { s, others, seen, failure } of results) {
    const check = stackChecks("isolation", s.env);
    const unreachable = s.dependencies.filter((d) => seen?.get(d) !== true);
    const reached = others.filter((o) => seen?.get(o) !== false);
    const dependencies = failure ?? (unreachable.length ? `unreachable: ${list(unreachable)}` : `${s.dependencies.length} reached`);
    const crossEnvironment = failure ?? (reached.length ? `reached: ${list(reached)}` : `${others.length} refused`);
    checks.push(check(`${s.entry}.dependencies`, `${s.entry} reaches every dependency`, !failure && unreachable.length === 0, dependencies));
    checks.push(check(`${s.entry}.cross-environment`, `${s.entry} reaches nothing of another environment`, !failure && reached.length === 0, crossEnvironment));
  }

  const failed = checks.filter((c) => !c.ok).map((c) => c.id);
  return { ok: failed.length === 0, checks, failed };
}
