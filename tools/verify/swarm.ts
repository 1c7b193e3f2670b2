/**
 * `verify` for stacks with `runtime: swarm`: the checklist adapted to services
 * and their tasks. Read from the manager: every service of the topology exists,
 * runs its replicas (a task with a healthcheck only counts as running once
 * healthy), is attached to exactly its networks, carries the ownership labels,
 * its route on the service and `traefik.enable=false` on its tasks, runs the
 * release's digest, and, when it mounts a volume, has its tasks on one node.
 * Routers are unique and their definitions agree across every stack's services.
 * Then, from inside one task of every service (docker exec on the node that
 * holds it, so a client per node is needed), each dependency must connect and
 * no name of another environment may.
 */
import type Docker from "dockerode";
import { LABELS, PROJECT } from "../../model/naming";
import { conflictingDefinitions } from "../../model/traefik";
import { execIn } from "../../host/exec";
import { stackChecks, type CheckResult } from "./checks";
import type { StackOutputs } from "./outputs";
import { mapBounded } from "./snapshot";

export interface SwarmVerifyOptions {
  stacks: { stack: string; outputs: StackOutputs }[];
  /** A manager of the swarm. */
  manager: Docker;
  /** A client per node, by swarm node ID: the probes exec in tasks where they run. */
  nodes: Map<string, Docker>;
  /** Connect timeout of a probe, whole seconds. */
  timeoutSeconds?: number;
}

interface ServiceView {
  name: string;
  labels: Record<string, string>;
  taskLabels: Record<string, string>;
  image: string;
  replicas: number;
  networkIds: string[];
  mountsVolume: boolean;
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
  };
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
  const networkNames = new Map(((await manager.listNetworks()) as { Id: string; Name: string }[]).map((n) => [n.Id, n.Name]));
  const checks: CheckResult[] = [];
  const allServices: ServiceView[] = [];
  const sources: { env: string; entry: string; task: TaskView; dependencies: string[] }[] = [];

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
      if (tasks[0]) sources.push({ env, entry, task: tasks[0], dependencies: spec.dependencies });
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
  const results = await mapBounded(sources, 4, async (s) => {
    const others = options.stacks
      .filter(({ outputs }) => outputs.environment !== s.env)
      .flatMap(({ outputs }) => Object.entries(outputs.topology).flatMap(([entry, t]) => [`${entry}-${outputs.environment}:${t.port}`, `${outputs.containers[entry]}:${t.port}`]));
    return { s, others, seen: await probe(nodes, s.task, [...s.dependencies, ...others], timeoutSeconds) };
  });
  for (const { s, others, seen } of results) {
    const check = stackChecks("isolation", s.env);
    const unreachable = s.dependencies.filter((d) => seen.get(d) !== true);
    const reached = others.filter((o) => seen.get(o) !== false);
    checks.push(check(`${s.entry}.dependencies`, `${s.entry} reaches every dependency`, unreachable.length === 0, unreachable.length ? `unreachable: ${list(unreachable)}` : `${s.dependencies.length} reached`));
    checks.push(check(`${s.entry}.cross-environment`, `${s.entry} reaches nothing of another environment`, reached.length === 0, reached.length ? `reached: ${list(reached)}` : `${others.length} refused`));
  }

  const failed = checks.filter((c) => !c.ok).map((c) => c.id);
  return { ok: failed.length === 0, checks, failed };
}
